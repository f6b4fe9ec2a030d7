/*
 * Retention and erasure: what is purged from the store, and when.
 *
 * - A conversation is purged with everything that holds its text: its log
 *   entries, the idempotency keys of its messages, its pending webhook
 *   deliveries and its index entries (cv_conversation_purge(), the one
 *   place that knows every key a conversation has).
 * - Closed conversations older than a retention time are found through a
 *   cursor over the global log (its entries are in time order; a
 *   conversation is closed once and never changes after), kept in the
 *   store, so each purge step reads on from where the last stopped and
 *   nothing is scanned twice. Each step does at most a budget of work, so
 *   a step is a small transaction.
 * - A customer is erased with all their conversations (open ones too).
 * - Expired sessions, login tokens and API tokens: cv_expiry.h.
 *
 * Keys of this file, all in the meta database (CV_DB_META), with the
 * prefix "ret/" (none of them exists in a store that never purged; every
 * function works without them):
 *
 *   ret/cursor              u64be: the log seq the retention walk passed
 *   ret/current             the conversation id a step purged in part
 *   ret/cus/CUS NUL CONV    "": the customer's conversations (written when
 *                           a conversation is opened)
 *   ret/indexed             "": every older conversation is in ret/cus/
 *   ret/backfill            the last conversation id the backfill indexed
 *   ret/erased/CUS          "": erased before the backfill was done (the
 *                           backfill purges what it finds of theirs)
 *   ret/log_last            u64be: the log's last seq when a purge took
 *                           the last entry (seqs are never used again)
 */
#ifndef CV_RETENTION_H
#define CV_RETENTION_H

#include "cv_store.h"

#include <stdint.h>

/* what a step may do: keys deleted (and entries walked); a step also stops
 * after CV_PURGE_STEP_MS of work, whichever comes first */
#define CV_PURGE_BUDGET       256
#define CV_PURGE_STEP_MS      4

typedef struct {
    size_t    conversations;  /* purged whole */
    size_t    keys;           /* deleted */
    size_t    walked;         /* log entries looked at */
    int       more;           /* stopped at the budget: go on soon */
} cv_purge_stats;

/*
 * Purges the conversation: at most *budget keys (*budget is what is left);
 * *done is 0 when it stopped at the budget, having left the conversation
 * shorter but consistent (its newest events went first). CV_NOT_FOUND
 * when there is no such conversation.
 */
cv_status cv_conversation_purge(cv_txn *t, const char *conv_id,
    size_t *budget, int *done);

/* One step of retention: closed conversations whose close is at or
 * before cutoff_ms (UTC ms) are purged. */
cv_status cv_retention_step(cv_txn *t, int64_t cutoff_ms, size_t budget,
    cv_purge_stats *stats);


/* One step of indexing the conversations of a store from before ret/cus/
 * (*more: steps are left). */
cv_status cv_retention_backfill(cv_txn *t, size_t budget, int *more);

/*
 * Erases a customer: their record, integrator id, idempotency keys and
 * every conversation of theirs, open or closed, in this transaction. What
 * it costs is what the customer has. CV_NOT_FOUND for no such customer.
 */
cv_status cv_customer_erase(cv_txn *t, const char *customer_id,
    cv_purge_stats *stats);

/* Where retention is: the log seq its walk passed (0: none yet), and
 * whether every conversation is in the customers' index. */
cv_status cv_retention_position(cv_txn *t, uint64_t *cursor, int *indexed);

/* A new conversation of a customer, for cv_customer_erase() (called when
 * the conversation is opened). */
cv_status cv_retention_index(cv_txn *t, const char *customer_id,
    const char *conv_id);


#endif
