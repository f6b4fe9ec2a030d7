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
    size_t       map_max;     /* bytes the map may grow to (cv_store_grow);
                                 0: map_size is all it gets */
} cv_store_options;

/* the map a growing store starts with (at most its maximum), and at
 * least what it already holds */
#define CV_STORE_GROW_FIRST      ((size_t) 1 << 20)

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

/*
 * A write transaction whose commit writes and syncs its pages, then writes
 * the meta page that makes them current without syncing it (LMDB's
 * MDB_NOMETASYNC for this transaction only): the commit holds LMDB's
 * writer lock through one fdatasync instead of two. Consistent after a
 * power loss, but only durable once cv_store_sync() returned, or once a
 * later write transaction of any process committed (its fdatasync carries
 * this meta page to disk before it writes a meta page of its own).
 */
cv_status cv_txn_begin_unsynced_meta(cv_store *st, cv_txn **out);

/* fdatasync() of the store's data file, pages and meta page alike (also
 * with sync off); outside any transaction, any thread: CV_OK, or CV_FULL /
 * CV_ERROR when the disk refused, and then what was committed since the
 * last sync may not be durable. */
cv_status cv_store_sync(cv_store *st);

/* The transaction's id: a write's is one more than the last committed
 * one's when it began (whether it writes anything or not). */
uint64_t cv_txn_id(const cv_txn *t);

/* The id of the last transaction committed by any process (0: unknown).
 * Once it is above a write transaction's id, a later commit synced the
 * file after that transaction's meta page was written: with every writer
 * syncing its pages (sync=on), what that transaction saw and wrote is on
 * disk. */
uint64_t cv_store_last_txn(cv_store *st);

/* A write transaction inside another: what it wrote reaches the parent
 * only by cv_txn_nest_commit(); cv_txn_abort() drops it and leaves the
 * parent as it was. The parent is not used until the child ends. */
cv_status cv_txn_nest(cv_txn *parent, cv_txn **out);
cv_status cv_txn_nest_commit(cv_txn *parent, cv_txn *child);

/*
 * Growth. A write that does not fit fails with CV_FULL; cv_full_cause()
 * then says why (in the thread that saw it): the map (grow it), the disk
 * (ENOSPC, EDQUOT: wait for space), a transaction too large, or another
 * process grew the map (adopt it: cv_store_grow() does).
 */
#define CV_FULL_MAP      0
#define CV_FULL_DISK     1
#define CV_FULL_TXN      2
#define CV_FULL_RESIZED  3

int cv_full_cause(void);

/* Grows the map a step (doubling, up to map_max), or adopts the larger
 * map another process set: CV_OK, or CV_FULL at the maximum. Only while
 * this process has no transaction (CV_ERROR when it has). */
cv_status cv_store_grow(cv_store *st, size_t *map_size);

/* The pages in use (the file's high-water mark), the map and its
 * maximum (the map when it does not grow), in bytes. */
void cv_store_usage(cv_store *st, size_t *used, size_t *map_size,
    size_t *map_max);

/* A compacted, consistent copy into an existing empty directory. */
cv_status cv_store_backup(cv_store *st, const char *dest_dir);

/* The store's secret for signing cookies, created once with the store;
 * CV_ERROR when the stored one is not CV_STORE_SECRET_LEN bytes. */
cv_status cv_store_secret(cv_store *st,
    unsigned char out[CV_STORE_SECRET_LEN]);

#endif /* CV_STORE_H */
