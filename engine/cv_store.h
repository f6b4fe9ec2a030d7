/*
 * The LMDB store shared by all nginx workers.
 *
 * Plain C11 + POSIX, no nginx headers: the module calls it, and so do the
 * unit tests and chatvisorctl. One environment per process: the nginx master
 * only prepares the store (cv_store_prepare) and never keeps it open across
 * fork; each worker opens its own handle.
 */
#ifndef CV_STORE_H
#define CV_STORE_H

#include "cv_status.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CV_STORE_SCHEMA_VERSION  3u
#define CV_STORE_DEFAULT_SIZE    ((size_t) 1 << 30)
#define CV_STORE_SECRET_LEN      32    /* bytes of the signing secret */

typedef struct cv_store  cv_store;
typedef struct cv_txn    cv_txn;

typedef struct {
    const char  *path;        /* environment directory */
    size_t       map_size;    /* bytes; 0 adopts the existing store's */
    int          sync;        /* 0: no fsync on commit (MDB_NOSYNC) */
} cv_store_options;

/*
 * Opening and preparing report why they failed in err (cv_status.h):
 * CV_INVALID for a path that is empty, too long or not a directory,
 * CV_CONFLICT for a store of another schema version (it is left as it
 * is), CV_ERROR (or CV_FULL) for what the system or LMDB refused.
 */

/* Creates the directory if missing, opens the environment, creates or
 * checks the schema version record, closes it again, and hands the
 * directory and its files to uid/gid (skipped when uid == (uid_t) -1). */
cv_status cv_store_prepare(const cv_store_options *opt, uid_t uid, gid_t gid,
    char *err, size_t errlen);

/* Opens the environment for this process, clears stale reader slots left
 * by crashed processes, and checks the schema version: a store of version
 * 2 is migrated to 3 (its indexes built, cv_index.h) before it opens. */
cv_status cv_store_open(cv_store **out, const cv_store_options *opt,
    char *err, size_t errlen);

/* Closes what cv_store_open() opened (NULL: nothing). */
void cv_store_close(cv_store *st);

/* Number of stale reader slots cleared at open. */
int cv_store_stale_readers_cleared(const cv_store *st);

/* The schema version the store records; CV_ERROR when the record is
 * missing or corrupt. */
cv_status cv_store_schema_version(cv_store *st, uint32_t *version,
    char *err, size_t errlen);

/* Transactions: one writer at a time across all processes; readers never
 * block. A write transaction groups several changes into one commit;
 * committing a read transaction ends it, and aborting one keeps it to be
 * renewed by the next cv_txn_begin(). */
cv_status cv_txn_begin(cv_store *st, int write, cv_txn **out);
cv_status cv_txn_commit(cv_txn *t);
void cv_txn_abort(cv_txn *t);

/* A compacted, consistent copy into an existing empty directory. */
cv_status cv_store_backup(cv_store *st, const char *dest_dir);

/* The store's secret for signing cookies, created once with the store;
 * CV_ERROR when the stored one is not CV_STORE_SECRET_LEN bytes. */
cv_status cv_store_secret(cv_store *st,
    unsigned char out[CV_STORE_SECRET_LEN]);

#endif /* CV_STORE_H */
