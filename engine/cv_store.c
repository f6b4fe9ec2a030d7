/*
 * LMDB environment lifecycle: prepare in the master, open per worker.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_store_impl.h"
#include "cv_crypto.h"
#include "cv_index.h"

#include <dirent.h>
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define CV_KEY_SECRET  "secret"

#define CV_PATH_MAX         4096
#define CV_STORE_DIR_MODE   0700   /* it holds sessions and tokens */
#define CV_PARENT_DIR_MODE  0755   /* traversable for the worker user */
#define CV_STORE_FILE_MODE  0600

/* a file system with less room is full (cv_txn_commit()) */
#define CV_STORE_DISK_LOW   ((uint64_t) 1 << 20)

/*
 * With sync on, the data file is kept at least CV_STORE_AHEAD_LOW bytes
 * beyond the pages in use, extended with zeros CV_STORE_AHEAD at a time:
 * a commit that appends pages changes the file's size, and ext4's
 * fdatasync() then commits its journal (shared with every writer of the
 * file system) besides writing the pages; into blocks the file already
 * has, it only writes them. bench/chat, docs/performance.md.
 */
#define CV_STORE_AHEAD      ((size_t) 256 * 1024)
#define CV_STORE_AHEAD_LOW  ((size_t) 128 * 1024)
#define CV_STORE_ZEROS      ((size_t) 64 * 1024)

static const char  *cv_db_names[] = {
    "meta", "log", "customers", "conversations", "idempotency", "agents",
    "sessions", "login_tokens", "customer_ids", "api_tokens", "webhooks",
    "webhook_state", "deliveries", "delivery_due", "delivery_queue",
    "delivery_status", "delivery_finished", "indexes"
};

_Static_assert(sizeof(cv_db_names) / sizeof(cv_db_names[0]) == CV_DB_N,
               "a name for every database");


/* mkdir -p; the store itself CV_STORE_DIR_MODE */
static cv_status
cv_mkdirs(const char *path, char *err, size_t errlen)
{
    char    buf[CV_PATH_MAX];
    size_t  len;
    char   *p;

    len = strlen(path);
    if (len == 0 || len >= sizeof(buf)) {
        return cv_fail(CV_INVALID, err, errlen,
                       "store path \"%s\" is empty or too long", path);
    }

    memcpy(buf, path, len + 1);

    for (p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char  c = *p;

            *p = '\0';
            if (mkdir(buf, c == '\0' ? CV_STORE_DIR_MODE : CV_PARENT_DIR_MODE)
                != 0 && errno != EEXIST)
            {
                return cv_fail(CV_ERROR, err, errlen,
                               "mkdir(\"%s\") failed: %s", buf,
                               strerror(errno));
            }
            *p = c;

            if (c == '\0') {
                break;
            }
        }
    }

    struct stat  sb;

    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        return cv_fail(CV_INVALID, err, errlen,
                       "store path \"%s\" is not a directory", path);
    }

    return CV_OK;
}


static cv_status
cv_chown_tree(const char *path, uid_t uid, gid_t gid, char *err,
    size_t errlen)
{
    DIR            *dir;
    struct dirent  *de;
    char            file[CV_PATH_MAX];
    int             n;

    if (chown(path, uid, gid) != 0) {
        return cv_fail(CV_ERROR, err, errlen, "chown(\"%s\") failed: %s",
                       path, strerror(errno));
    }

    dir = opendir(path);
    if (dir == NULL) {
        return cv_fail(CV_ERROR, err, errlen, "opendir(\"%s\") failed: %s",
                       path, strerror(errno));
    }

    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }

        n = snprintf(file, sizeof(file), "%s/%s", path, de->d_name);

        if (n < 0 || (size_t) n >= sizeof(file)) {
            closedir(dir);
            return cv_fail(CV_INVALID, err, errlen,
                           "store path \"%s\" is too long", path);
        }

        if (chown(file, uid, gid) != 0) {
            closedir(dir);
            return cv_fail(CV_ERROR, err, errlen, "chown(\"%s\") failed: %s",
                           file, strerror(errno));
        }
    }

    closedir(dir);
    return CV_OK;
}


/* the last schema version a store is migrated from (older ones came
 * before the first release: nothing to carry) */
#define CV_STORE_SCHEMA_MIGRATED  2u


/* mdb_reader_list(): counts the reader slots of other processes (a
 * line per slot, "PID THREAD TXNID", after a header line) */
static int
cv_reader_other(const char *line, void *ctx)
{
    int  pid;

    if (sscanf(line, "%d", &pid) == 1 && pid > 0 && pid != (int) getpid()) {
        *(int *) ctx = pid;
    }

    return 0;
}

/*
 * The open count of unassigned conversations ('N' alone, cv_index.h) is
 * counted from their list when a store never had it, and again at every
 * start with no other process in the store: the workers of a module from
 * before it (a reload into this one) did not keep it. What is counted is
 * what is open now, not the history.
 */
static cv_status
cv_unassigned_count(cv_store *st, char *err, size_t errlen)
{
    int        other;
    MDB_val    v;
    cv_txn    *t;
    cv_status  s;

    s = cv_txn_begin(st, 1, &t);
    if (s != CV_OK) {
        return cv_fail(s, err, errlen, "counting open conversations: "
                       "no transaction");
    }

    s = cv_raw_get(t, CV_DB_META, CV_KEY_UNASSIGNED_COUNTED,
                   sizeof(CV_KEY_UNASSIGNED_COUNTED) - 1, &v);

    other = 0;

    if (s == CV_OK) {
        mdb_reader_list(st->env, cv_reader_other, &other);
    }

    if (s == CV_OK && other) {
        cv_txn_abort(t);
        return CV_OK;
    }

    s = cv_index_count_unassigned(t);

    if (s != CV_OK) {
        cv_txn_abort(t);
        return cv_fail(s, err, errlen, "counting open conversations: %s",
                       cv_status_text(s));
    }

    s = cv_txn_commit(t);

    return s == CV_OK ? CV_OK
                      : cv_fail(s, err, errlen, "counting open "
                                "conversations: commit failed");
}


/*
 * Opens every database (creating them in a fresh store), creates the schema
 * record and the signing secret, migrates a store of version 2, and
 * refuses a store of another schema.
 */
static cv_status
cv_init_dbs(cv_store *st, char *err, size_t errlen)
{
    MDB_txn        *txn;
    MDB_val         key, val;
    uint32_t        version;
    unsigned char   secret[CV_STORE_SECRET_LEN];
    int             rc, i;
    cv_status       s;

    rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    if (rc != 0) {
        return cv_fail(cv_status_from_mdb(rc), err, errlen,
                       "mdb_txn_begin: %s", mdb_strerror(rc));
    }

    for (i = 0; i < CV_DB_N; i++) {
        rc = mdb_dbi_open(txn, cv_db_names[i], MDB_CREATE, &st->dbi[i]);
        if (rc != 0) {
            mdb_txn_abort(txn);
            return cv_fail(cv_status_from_mdb(rc), err, errlen,
                           "mdb_dbi_open(%s): %s", cv_db_names[i],
                           mdb_strerror(rc));
        }
    }

    key.mv_data = (void *) CV_KEY_SECRET;
    key.mv_size = sizeof(CV_KEY_SECRET) - 1;

    rc = mdb_get(txn, st->dbi[CV_DB_META], &key, &val);
    if (rc == MDB_NOTFOUND) {
        if (cv_random_bytes(secret, sizeof(secret)) != CV_OK) {
            mdb_txn_abort(txn);
            return cv_fail(CV_ERROR, err, errlen,
                           "no randomness for the secret");
        }

        val.mv_data = secret;
        val.mv_size = sizeof(secret);
        rc = mdb_put(txn, st->dbi[CV_DB_META], &key, &val, 0);
    }

    if (rc != 0) {
        mdb_txn_abort(txn);
        return cv_fail(cv_status_from_mdb(rc), err, errlen,
                       "store secret: %s", mdb_strerror(rc));
    }

    key.mv_data = (void *) CV_KEY_SCHEMA;
    key.mv_size = sizeof(CV_KEY_SCHEMA) - 1;

    rc = mdb_get(txn, st->dbi[CV_DB_META], &key, &val);

    if (rc == MDB_NOTFOUND) {
        version = CV_STORE_SCHEMA_VERSION;
        val.mv_data = &version;
        val.mv_size = sizeof(version);

        rc = mdb_put(txn, st->dbi[CV_DB_META], &key, &val, 0);

        if (rc == 0) {
            /* a new store indexes every conversation as it is created:
             * there is nothing older for the backfill to walk */
            key.mv_data = (void *) CV_KEY_RET_INDEXED;
            key.mv_size = sizeof(CV_KEY_RET_INDEXED) - 1;
            val.mv_data = (void *) "";
            val.mv_size = 0;

            rc = mdb_put(txn, st->dbi[CV_DB_META], &key, &val, 0);
        }

        if (rc != 0) {
            mdb_txn_abort(txn);
            return cv_fail(cv_status_from_mdb(rc), err, errlen,
                           "writing schema version: %s", mdb_strerror(rc));
        }

    } else if (rc != 0) {
        mdb_txn_abort(txn);
        return cv_fail(cv_status_from_mdb(rc), err, errlen,
                       "reading schema version: %s", mdb_strerror(rc));

    } else if (val.mv_size != sizeof(version)) {
        mdb_txn_abort(txn);
        return cv_fail(CV_ERROR, err, errlen,
                       "schema version record is corrupt");

    } else {
        memcpy(&version, val.mv_data, sizeof(version));

        if (version > CV_STORE_SCHEMA_VERSION) {
            mdb_txn_abort(txn);
            return cv_fail(CV_CONFLICT, err, errlen, "store schema version "
                           "%u is newer than this module's (%u)",
                           (unsigned) version,
                           (unsigned) CV_STORE_SCHEMA_VERSION);
        }

        if (version < CV_STORE_SCHEMA_MIGRATED) {
            /* version 1 came before the first release: nothing to carry */
            mdb_txn_abort(txn);
            return cv_fail(CV_CONFLICT, err, errlen, "store schema version "
                           "%u is from a development version of chatvisor; "
                           "this one uses %u: move the store away and a new "
                           "one is created", (unsigned) version,
                           (unsigned) CV_STORE_SCHEMA_VERSION);
        }
    }

    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        return cv_fail(cv_status_from_mdb(rc), err, errlen,
                       "mdb_txn_commit: %s", mdb_strerror(rc));
    }

    if (version < CV_STORE_SCHEMA_VERSION) {
        /*
         * Version 2 (the one before) gets its indexes and becomes 3; but
         * not while a process of the version before has it open (the old
         * workers of a binary upgrade or a reload, nginx -t beside a
         * running nginx): what it wrote afterwards would be in no index.
         * Its reader slots say so (stale ones were cleared at open).
         */
        int  other = 0;

        mdb_reader_list(st->env, cv_reader_other, &other);

        if (other) {
            return cv_fail(CV_CONFLICT, err, errlen, "store schema version "
                           "%u is migrated to %u at start, and process %d "
                           "has it open: stop the nginx (or tool) that uses "
                           "it, then start this one (a reload or a binary "
                           "upgrade cannot migrate it)", (unsigned) version,
                           (unsigned) CV_STORE_SCHEMA_VERSION, other);
        }

        s = cv_index_build(st, err, errlen);
        if (s != CV_OK) {
            return s;
        }
    }

    return cv_unassigned_count(st, err, errlen);
}


cv_status
cv_store_open(cv_store **out, const cv_store_options *opt, char *err,
    size_t errlen)
{
    cv_store      *st;
    unsigned int   flags;
    cv_status      s;
    int            rc;

    st = calloc(1, sizeof(cv_store));
    if (st == NULL) {
        return cv_fail(CV_ERROR, err, errlen, "out of memory");
    }

    rc = mdb_env_create(&st->env);
    if (rc != 0) {
        free(st);
        return cv_fail(CV_ERROR, err, errlen, "mdb_env_create: %s",
                       mdb_strerror(rc));
    }

    rc = mdb_env_set_maxdbs(st->env, CV_STORE_MAX_DBS);
    if (rc == 0) {
        rc = mdb_env_set_maxreaders(st->env, CV_STORE_MAX_READERS);
    }

    if (rc != 0) {
        s = cv_fail(CV_ERROR, err, errlen, "mdb_env_set_maxdbs/readers: %s",
                    mdb_strerror(rc));
        goto failed;
    }

    st->map_max = opt->map_max;

    if (pthread_mutex_init(&st->map_lock, NULL) != 0) {
        mdb_env_close(st->env);
        free(st);
        return cv_fail(CV_ERROR, err, errlen, "pthread_mutex_init failed");
    }

    atomic_init(&st->reads, 0);
    atomic_init(&st->writing, 0);

    /* 0: adopt the size the store already has (tools beside nginx) */
    if (opt->map_size) {
        rc = mdb_env_set_mapsize(st->env, opt->map_size);
        if (rc != 0) {
            s = cv_fail(CV_ERROR, err, errlen, "mdb_env_set_mapsize: %s",
                        mdb_strerror(rc));
            goto failed;
        }
    }

    /* MDB_NOTLS: read transactions may later move to nginx thread pools */
    flags = MDB_NOTLS | (opt->sync ? 0 : MDB_NOSYNC);

    rc = mdb_env_open(st->env, opt->path, flags, CV_STORE_FILE_MODE);
    if (rc != 0) {
        s = cv_fail(cv_status_from_mdb(rc), err, errlen,
                    "mdb_env_open(\"%s\"): %s", opt->path, mdb_strerror(rc));
        goto failed;
    }

    /* a growing map starts where the store's record says it is (another
     * worker grew it), but not beyond the maximum unless it holds more */
    if (st->map_max) {
        MDB_envinfo  info;

        rc = mdb_env_set_mapsize(st->env, 0);

        if (rc == 0 && mdb_env_info(st->env, &info) == 0
            && info.me_mapsize > st->map_max)
        {
            rc = mdb_env_set_mapsize(st->env, st->map_max);
        }

        if (rc != 0) {
            s = cv_fail(CV_ERROR, err, errlen, "mdb_env_set_mapsize: %s",
                        mdb_strerror(rc));
            goto failed;
        }
    }

    /* a worker killed by a signal leaves its reader slot taken */
    rc = mdb_reader_check(st->env, &st->stale_cleared);
    if (rc != 0) {
        s = cv_fail(cv_status_from_mdb(rc), err, errlen,
                    "mdb_reader_check: %s", mdb_strerror(rc));
        goto failed;
    }

    s = cv_init_dbs(st, err, errlen);
    if (s != CV_OK) {
        goto failed;
    }

    if (opt->sync) {
        MDB_stat  ms;

        if (mdb_env_stat(st->env, &ms) == 0) {
            st->page_size = ms.ms_psize;
        }
    }

    *out = st;
    return CV_OK;

failed:

    mdb_env_close(st->env);
    pthread_mutex_destroy(&st->map_lock);
    free(st);
    return s;
}


void
cv_store_close(cv_store *st)
{
    if (st == NULL) {
        return;
    }

    if (st->spare) {
        mdb_txn_abort(st->spare->txn);
        free(st->spare);
    }

    mdb_env_close(st->env);
    pthread_mutex_destroy(&st->map_lock);
    free(st);
}


int
cv_store_stale_readers_cleared(const cv_store *st)
{
    return st->stale_cleared;
}


cv_status
cv_store_prepare(const cv_store_options *opt, uid_t uid, gid_t gid,
    char *err, size_t errlen)
{
    cv_store   *st;
    cv_status   s;

    s = cv_mkdirs(opt->path, err, errlen);
    if (s != CV_OK) {
        return s;
    }

    s = cv_store_open(&st, opt, err, errlen);
    if (s != CV_OK) {
        return s;
    }

    cv_store_close(st);

    if (uid != (uid_t) -1) {
        return cv_chown_tree(opt->path, uid, gid, err, errlen);
    }

    return CV_OK;
}


cv_status
cv_store_schema_version(cv_store *st, uint32_t *version, char *err,
    size_t errlen)
{
    MDB_txn  *txn;
    MDB_val   key, val;
    int       rc;

    rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        return cv_fail(cv_status_from_mdb(rc), err, errlen,
                       "mdb_txn_begin: %s", mdb_strerror(rc));
    }

    key.mv_data = (void *) CV_KEY_SCHEMA;
    key.mv_size = sizeof(CV_KEY_SCHEMA) - 1;

    /* every store has it: missing is as corrupt as the wrong size */
    rc = mdb_get(txn, st->dbi[CV_DB_META], &key, &val);
    if (rc != 0 || val.mv_size != sizeof(*version)) {
        mdb_txn_abort(txn);
        return cv_fail(CV_ERROR, err, errlen, "schema version: %s",
                       rc ? mdb_strerror(rc) : "corrupt record");
    }

    memcpy(version, val.mv_data, sizeof(*version));
    mdb_txn_abort(txn);
    return CV_OK;
}


/* why the last CV_FULL of this thread was full (CV_FULL_*) */
static _Thread_local int  cv_last_full;


int
cv_full_cause(void)
{
    return cv_last_full;
}


cv_status
cv_status_from_mdb(int rc)
{
    switch (rc) {
    case 0:
        return CV_OK;
    case MDB_NOTFOUND:
        return CV_NOT_FOUND;
    case MDB_MAP_FULL:
        cv_last_full = CV_FULL_MAP;
        return CV_FULL;
    case MDB_TXN_FULL:
        cv_last_full = CV_FULL_TXN;
        return CV_FULL;
    case ENOSPC:
    case EDQUOT:
        /* a full disk is a full store until there is space again */
        cv_last_full = CV_FULL_DISK;
        return CV_FULL;
    default:
        return CV_ERROR;
    }
}


/* the store's file system has less than CV_STORE_DISK_LOW bytes left */
static int
cv_store_disk_low(cv_store *st)
{
    const char      *path;
    struct statvfs   fs;

    if (mdb_env_get_path(st->env, &path) != 0 || statvfs(path, &fs) != 0) {
        return 0;
    }

    return (uint64_t) fs.f_bavail * fs.f_frsize < CV_STORE_DISK_LOW;
}


/* the bytes of pages in use (the file's high-water mark) */
static size_t
cv_store_used(cv_store *st, const MDB_envinfo *info)
{
    MDB_stat  s;

    if (mdb_env_stat(st->env, &s) != 0) {
        return 0;
    }

    return (info->me_last_pgno + 1) * (size_t) s.ms_psize;
}


/* the map's size again from the store's record (another process grew
 * it), when nothing of this process reads or writes; *map_size the new
 * size */
static cv_status
cv_store_adopt(cv_store *st, size_t *map_size)
{
    int          rc;
    MDB_envinfo  info;

    if (pthread_mutex_trylock(&st->map_lock) != 0) {
        /* a write is under way: in another thread (the commit's) it ends
         * soon, in this one it is ours and it cannot */
        if (atomic_load(&st->writing)
            && pthread_equal(st->writer, pthread_self()))
        {
            return CV_ERROR;
        }

        pthread_mutex_lock(&st->map_lock);
    }

    rc = atomic_load(&st->reads) == 0 ? mdb_env_set_mapsize(st->env, 0)
                                      : EBUSY;

    if (rc == 0) {
        rc = mdb_env_info(st->env, &info);
    }

    /* the record may say more than this maximum (a store from before it,
     * a maximum made smaller): more only when the data needs it */
    if (rc == 0 && st->map_max && info.me_mapsize > st->map_max
        && cv_store_used(st, &info) <= st->map_max)
    {
        rc = mdb_env_set_mapsize(st->env, st->map_max);

        if (rc == 0) {
            rc = mdb_env_info(st->env, &info);
        }
    }

    if (rc == 0) {
        *map_size = info.me_mapsize;
    }

    pthread_mutex_unlock(&st->map_lock);

    return rc == 0 ? CV_OK : CV_ERROR;
}


cv_status
cv_store_grow(cv_store *st, size_t *map_size)
{
    size_t       before, want;
    cv_status    s;
    MDB_envinfo  info;
    int          rc;

    if (mdb_env_info(st->env, &info) != 0) {
        return CV_ERROR;
    }

    before = info.me_mapsize;

    s = cv_store_adopt(st, map_size);
    if (s != CV_OK || *map_size > before) {
        return s;
    }

    if (st->map_max == 0 || before >= st->map_max) {
        return CV_FULL;
    }

    want = before < st->map_max / 2 ? before * 2 : st->map_max;

    if (pthread_mutex_trylock(&st->map_lock) != 0) {
        return CV_ERROR;
    }

    rc = atomic_load(&st->reads) == 0 ? mdb_env_set_mapsize(st->env, want)
                                      : EBUSY;

    pthread_mutex_unlock(&st->map_lock);

    if (rc != 0) {
        return CV_ERROR;
    }

    *map_size = want;
    return CV_OK;
}


void
cv_store_usage(cv_store *st, size_t *used, size_t *map_size, size_t *map_max)
{
    MDB_envinfo  info;

    *used = 0;
    *map_size = 0;

    if (mdb_env_info(st->env, &info) == 0) {
        *used = cv_store_used(st, &info);
        *map_size = info.me_mapsize;
    }

    *map_max = st->map_max ? st->map_max : *map_size;
}


/*
 * Read transactions are renewed from one kept reset: a fresh one costs a
 * malloc of LMDB's per-transaction tables and a reader slot, and a chat
 * message takes several.
 */

static cv_status
cv_txn_begin_read(cv_store *st, cv_txn **out)
{
    cv_txn  *t;
    size_t   map;
    int      rc;

    atomic_fetch_add(&st->reads, 1);

    if (st->spare) {
        t = st->spare;
        st->spare = NULL;

        rc = mdb_txn_renew(t->txn);
        if (rc == 0) {
            t->log_next = 0;
            *out = t;
            return CV_OK;
        }

        /* e.g. MDB_MAP_RESIZED: start over with a new one */
        mdb_txn_abort(t->txn);
        free(t);
    }

    t = malloc(sizeof(cv_txn));
    if (t == NULL) {
        atomic_fetch_sub(&st->reads, 1);
        return CV_ERROR;
    }

    rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &t->txn);

    if (rc == MDB_MAP_RESIZED) {
        /* another process grew the map: this one adopts it when nothing
         * else of this process is in a transaction (else this read fails,
         * and a later one adopts it) */
        atomic_fetch_sub(&st->reads, 1);

        if (cv_store_adopt(st, &map) == CV_OK) {
            atomic_fetch_add(&st->reads, 1);
            rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &t->txn);

        } else {
            free(t);
            return CV_ERROR;
        }
    }

    if (rc != 0) {
        atomic_fetch_sub(&st->reads, 1);
        free(t);
        return cv_status_from_mdb(rc);
    }

    t->store = st;
    t->write = 0;
    t->unsynced_meta = 0;
    t->log_next = 0;
    *out = t;

    return CV_OK;
}


static cv_status cv_txn_begin_write(cv_store *st, int unsynced_meta,
    cv_txn **out);


cv_status
cv_txn_begin(cv_store *st, int write, cv_txn **out)
{
    if (!write) {
        return cv_txn_begin_read(st, out);
    }

    return cv_txn_begin_write(st, 0, out);
}


cv_status
cv_txn_begin_unsynced_meta(cv_store *st, cv_txn **out)
{
    return cv_txn_begin_write(st, 1, out);
}


cv_status
cv_store_sync(cv_store *st)
{
    int  rc;

    /* force: an fdatasync() of the data file even with MDB_NOSYNC */
    rc = mdb_env_sync(st->env, 1);

    if (rc == EIO && cv_store_disk_low(st)) {
        rc = ENOSPC;
    }

    return cv_status_from_mdb(rc);
}


uint64_t
cv_txn_id(const cv_txn *t)
{
    return (uint64_t) mdb_txn_id(t->txn);
}


uint64_t
cv_store_last_txn(cv_store *st)
{
    cv_txn    *t;
    uint64_t   id;

    /* a read transaction's id is the last one whose meta page is written
     * (LMDB's lock file, set after the write); mdb_env_info() would read
     * the meta pages themselves, which may be half written */
    if (cv_txn_begin(st, 0, &t) != CV_OK) {
        return 0;
    }

    id = cv_txn_id(t);
    cv_txn_abort(t);

    return id;
}


static cv_status
cv_txn_begin_write(cv_store *st, int unsynced_meta, cv_txn **out)
{
    cv_txn  *t;
    int      rc;

    t = malloc(sizeof(cv_txn));
    if (t == NULL) {
        return CV_ERROR;
    }

    /* held until the commit or abort: the map does not move meanwhile */
    pthread_mutex_lock(&st->map_lock);
    st->writer = pthread_self();
    atomic_store(&st->writing, 1);

    rc = mdb_txn_begin(st->env, NULL, 0, &t->txn);

    if (rc != 0) {
        atomic_store(&st->writing, 0);
        pthread_mutex_unlock(&st->map_lock);
        free(t);

        if (rc == MDB_MAP_RESIZED) {
            /* another process grew the map: cv_store_grow() adopts it
             * where nothing else of this process is in a transaction */
            cv_last_full = CV_FULL_RESIZED;
            return CV_FULL;
        }

        return cv_status_from_mdb(rc);
    }

    t->store = st;
    t->write = 1;
    t->unsynced_meta = unsynced_meta;
    t->log_next = 0;
    *out = t;

    return CV_OK;
}


/*
 * Extends the data file with zeros when the pages in use come near its
 * end (see CV_STORE_AHEAD). Under the writer lock, so no process writes
 * pages meanwhile; only beyond the file's end, which no page in use
 * reaches (LMDB maps the file, a page beyond it could not be read), and
 * before this transaction's commit writes its own pages. A failed write
 * is left to the commit (which appends, as without this); the next try
 * comes CV_STORE_AHEAD later.
 */
static void
cv_store_ahead(cv_store *st)
{
    static const char  zeros[CV_STORE_ZEROS];

    MDB_envinfo        info;
    struct stat        sb;
    size_t             used, end;
    int                fd;

    if (st->page_size == 0 || mdb_env_info(st->env, &info) != 0) {
        return;
    }

    used = (info.me_last_pgno + 1) * st->page_size;

    if (used + CV_STORE_AHEAD_LOW <= st->file_size) {
        return;
    }

    if (mdb_env_get_fd(st->env, &fd) != 0 || fstat(fd, &sb) != 0) {
        return;
    }

    st->file_size = (size_t) sb.st_size;

    if (used + CV_STORE_AHEAD_LOW <= st->file_size) {
        return;     /* another process extended it */
    }

    end = used + CV_STORE_AHEAD;

    while (st->file_size < end) {
        if (pwrite(fd, zeros, CV_STORE_ZEROS, (off_t) st->file_size)
            != (ssize_t) CV_STORE_ZEROS)
        {
            /* a full disk: not again before AHEAD more is in use */
            st->file_size = end;
            return;
        }

        st->file_size += CV_STORE_ZEROS;
    }
}


cv_status
cv_txn_commit(cv_txn *t)
{
    int        rc;
    cv_store  *st;

    if (!t->write) {
        cv_txn_abort(t);
        return CV_OK;
    }

    st = t->store;

    /*
     * LMDB 0.9.24 takes MDB_NOMETASYNC from the environment only (not from
     * mdb_txn_begin()): set for this commit alone. The process's writes are
     * one at a time under map_lock, so no other commit sees it; readers
     * never look at the flag.
     */
    if (t->unsynced_meta) {
        cv_store_ahead(st);
        mdb_env_set_flags(st->env, MDB_NOMETASYNC, 1);
    }

    rc = mdb_txn_commit(t->txn);

    if (t->unsynced_meta) {
        mdb_env_set_flags(st->env, MDB_NOMETASYNC, 0);
    }

    free(t);

    atomic_store(&st->writing, 0);
    pthread_mutex_unlock(&st->map_lock);

    /* LMDB takes a short write for EIO: a disk with next to nothing left
     * is full, whatever the write said */
    if (rc == EIO && cv_store_disk_low(st)) {
        rc = ENOSPC;
    }

    return cv_status_from_mdb(rc);
}


void
cv_txn_abort(cv_txn *t)
{
    cv_store  *st;

    if (t == NULL) {
        return;
    }

    st = t->store;

    if (!t->write) {
        atomic_fetch_sub(&st->reads, 1);

        if (st->spare == NULL) {
            mdb_txn_reset(t->txn);
            st->spare = t;
            return;
        }
    }

    mdb_txn_abort(t->txn);

    if (t->write) {
        atomic_store(&st->writing, 0);
        pthread_mutex_unlock(&st->map_lock);
    }

    free(t);
}


cv_status
cv_txn_nest(cv_txn *parent, cv_txn **out)
{
    int      rc;
    cv_txn  *t;

    if (!parent->write) {
        return CV_ERROR;
    }

    t = malloc(sizeof(cv_txn));
    if (t == NULL) {
        return CV_ERROR;
    }

    rc = mdb_txn_begin(parent->store->env, parent->txn, 0, &t->txn);
    if (rc != 0) {
        free(t);
        return cv_status_from_mdb(rc);
    }

    t->store = parent->store;
    t->write = 1;
    t->unsynced_meta = 0;
    t->log_next = parent->log_next;
    *out = t;

    return CV_OK;
}


cv_status
cv_txn_nest_commit(cv_txn *parent, cv_txn *child)
{
    int  rc;

    /* the log's end moves with what the child appended, only if kept */
    parent->log_next = child->log_next;

    rc = mdb_txn_commit(child->txn);
    free(child);

    if (rc != 0) {
        /* LMDB has aborted the child; the parent is as it was before it */
        parent->log_next = 0;
    }

    return cv_status_from_mdb(rc);
}


cv_status
cv_txn_secret(cv_txn *t, unsigned char out[CV_STORE_SECRET_LEN])
{
    MDB_val    val;
    cv_status  s;

    s = cv_raw_get(t, CV_DB_META, CV_KEY_SECRET, sizeof(CV_KEY_SECRET) - 1,
                   &val);

    if (s == CV_OK && val.mv_size != CV_STORE_SECRET_LEN) {
        /* nothing to sign with: better no cookies than a wrong key */
        s = CV_ERROR;
    }

    if (s == CV_OK) {
        memcpy(out, val.mv_data, CV_STORE_SECRET_LEN);
    }

    return s;
}


cv_status
cv_store_secret(cv_store *st, unsigned char out[CV_STORE_SECRET_LEN])
{
    cv_txn     *t;
    cv_status   s;

    s = cv_txn_begin(st, 0, &t);
    if (s != CV_OK) {
        return s;
    }

    s = cv_txn_secret(t, out);
    cv_txn_abort(t);

    return s;
}


cv_status
cv_store_backup(cv_store *st, const char *dest_dir)
{
    /* a read transaction underneath: consistent while nginx writes */
    return cv_status_from_mdb(mdb_env_copy2(st->env, dest_dir,
                                            MDB_CP_COMPACT));
}


cv_status
cv_raw_get(cv_txn *t, int db, const void *key, size_t klen, MDB_val *value)
{
    MDB_val  k;

    k.mv_data = (void *) key;
    k.mv_size = klen;

    return cv_status_from_mdb(mdb_get(t->txn, t->store->dbi[db], &k, value));
}


cv_status
cv_record_get(cv_txn *t, int db, const void *key, size_t klen, cJSON **out)
{
    MDB_val    v;
    cv_status  s;

    s = cv_raw_get(t, db, key, klen, &v);
    if (s != CV_OK) {
        return s;
    }

    *out = cJSON_ParseWithLength(v.mv_data, v.mv_size);

    return *out ? CV_OK : CV_ERROR;
}


cv_status
cv_record_put(cv_txn *t, int db, const void *key, size_t klen,
    const cJSON *obj)
{
    char      *json;
    cv_status  st;

    json = cJSON_PrintUnformatted(obj);
    if (json == NULL) {
        return CV_ERROR;
    }

    st = cv_record_put_raw(t, db, key, klen, json, strlen(json));
    cJSON_free(json);

    return st;
}


cv_status
cv_record_put_raw(cv_txn *t, int db, const void *key, size_t klen,
    const void *value, size_t vlen)
{
    MDB_val  k, v;

    k.mv_data = (void *) key;
    k.mv_size = klen;
    v.mv_data = (void *) value;
    v.mv_size = vlen;

    return cv_status_from_mdb(mdb_put(t->txn, t->store->dbi[db], &k, &v, 0));
}


cv_status
cv_record_del(cv_txn *t, int db, const void *key, size_t klen)
{
    MDB_val  k;

    k.mv_data = (void *) key;
    k.mv_size = klen;

    return cv_status_from_mdb(mdb_del(t->txn, t->store->dbi[db], &k, NULL));
}


cv_status
cv_record_hand_over(cv_status st, cJSON *obj, cJSON **out)
{
    if (st == CV_OK && out) {
        *out = obj;

    } else {
        cJSON_Delete(obj);
    }

    return st;
}


void
cv_json_set(cJSON *obj, const char *name, cJSON *value)
{
    if (cJSON_GetObjectItemCaseSensitive(obj, name)) {
        cJSON_ReplaceItemInObjectCaseSensitive(obj, name, value);

    } else {
        cJSON_AddItemToObject(obj, name, value);
    }
}


const char *
cv_json_string(const cJSON *obj, const char *name)
{
    const cJSON  *item;

    item = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}
