/*
 * Expired secrets: console sessions, one-time login tokens and API access
 * tokens past their expires_at are deleted in steps, in key order (their
 * keys are hashes: there is no time order), round and round.
 */
#ifndef CV_EXPIRY_H
#define CV_EXPIRY_H

#include "cv_retention.h"

/* One step of the sweep of expired sessions, login tokens and API tokens
 * (at now_ms), from where the last one stopped (pos, pos_len: a key of at
 * most CV_SWEEP_POS_MAX bytes kept by the caller; 0 to start). */
#define CV_SWEEP_POS_MAX  64

typedef struct {
    int            db;        /* the database the sweep is in; 0: first */
    unsigned char  key[CV_SWEEP_POS_MAX];
    size_t         len;       /* 0: from its first key */
} cv_sweep_pos;

cv_status cv_expired_sweep(cv_txn *t, int64_t now_ms, size_t budget,
    cv_sweep_pos *pos, cv_purge_stats *stats);

#endif
