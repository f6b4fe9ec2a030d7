/*
 * LMDB environment lifecycle: prepare in the master, open per worker.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_store.h"

#include <dirent.h>
#include <errno.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CV_DB_META  "meta"
#define CV_KEY_SCHEMA  "schema_version"

struct cv_store {
    MDB_env  *env;
    MDB_dbi   meta;
    int       stale_cleared;
};


static int
cv_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    if (errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }

    return -1;
}


/* mkdir -p with mode 0700: the store holds sessions and tokens. */
static int
cv_mkdirs(const char *path, char *err, size_t errlen)
{
    char    buf[4096];
    size_t  len;
    char   *p;

    len = strlen(path);
    if (len == 0 || len >= sizeof(buf)) {
        return cv_fail(err, errlen, "store path \"%s\" is empty or too long",
                       path);
    }

    memcpy(buf, path, len + 1);

    for (p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char  c = *p;

            *p = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
                return cv_fail(err, errlen, "mkdir(\"%s\") failed: %s", buf,
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
        return cv_fail(err, errlen, "store path \"%s\" is not a directory",
                       path);
    }

    return 0;
}


static int
cv_chown_tree(const char *path, uid_t uid, gid_t gid, char *err,
    size_t errlen)
{
    DIR            *dir;
    struct dirent  *de;
    char            file[4096];

    if (chown(path, uid, gid) != 0) {
        return cv_fail(err, errlen, "chown(\"%s\") failed: %s", path,
                       strerror(errno));
    }

    dir = opendir(path);
    if (dir == NULL) {
        return cv_fail(err, errlen, "opendir(\"%s\") failed: %s", path,
                       strerror(errno));
    }

    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }

        snprintf(file, sizeof(file), "%s/%s", path, de->d_name);

        if (chown(file, uid, gid) != 0) {
            closedir(dir);
            return cv_fail(err, errlen, "chown(\"%s\") failed: %s", file,
                           strerror(errno));
        }
    }

    closedir(dir);
    return 0;
}


/* Creates the schema record in a fresh store, refuses a newer one. */
static int
cv_check_schema(cv_store *st, char *err, size_t errlen)
{
    MDB_txn   *txn;
    MDB_val    key, val;
    uint32_t   version;
    int        rc;

    rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    if (rc != 0) {
        return cv_fail(err, errlen, "mdb_txn_begin: %s", mdb_strerror(rc));
    }

    rc = mdb_dbi_open(txn, CV_DB_META, MDB_CREATE, &st->meta);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return cv_fail(err, errlen, "mdb_dbi_open(meta): %s",
                       mdb_strerror(rc));
    }

    key.mv_data = (void *) CV_KEY_SCHEMA;
    key.mv_size = sizeof(CV_KEY_SCHEMA) - 1;

    rc = mdb_get(txn, st->meta, &key, &val);

    if (rc == MDB_NOTFOUND) {
        version = CV_STORE_SCHEMA_VERSION;
        val.mv_data = &version;
        val.mv_size = sizeof(version);

        rc = mdb_put(txn, st->meta, &key, &val, 0);
        if (rc != 0) {
            mdb_txn_abort(txn);
            return cv_fail(err, errlen, "writing schema version: %s",
                           mdb_strerror(rc));
        }

    } else if (rc != 0) {
        mdb_txn_abort(txn);
        return cv_fail(err, errlen, "reading schema version: %s",
                       mdb_strerror(rc));

    } else if (val.mv_size != sizeof(version)) {
        mdb_txn_abort(txn);
        return cv_fail(err, errlen, "schema version record is corrupt");

    } else {
        memcpy(&version, val.mv_data, sizeof(version));

        if (version > CV_STORE_SCHEMA_VERSION) {
            mdb_txn_abort(txn);
            return cv_fail(err, errlen, "store schema version %u is newer "
                           "than this module's (%u)", (unsigned) version,
                           (unsigned) CV_STORE_SCHEMA_VERSION);
        }
    }

    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        return cv_fail(err, errlen, "mdb_txn_commit: %s", mdb_strerror(rc));
    }

    return 0;
}


int
cv_store_open(cv_store **out, const cv_store_options *opt, char *err,
    size_t errlen)
{
    cv_store      *st;
    unsigned int   flags;
    int            rc;

    st = calloc(1, sizeof(cv_store));
    if (st == NULL) {
        return cv_fail(err, errlen, "out of memory");
    }

    rc = mdb_env_create(&st->env);
    if (rc != 0) {
        free(st);
        return cv_fail(err, errlen, "mdb_env_create: %s", mdb_strerror(rc));
    }

    mdb_env_set_maxdbs(st->env, 32);
    mdb_env_set_maxreaders(st->env, 1024);

    rc = mdb_env_set_mapsize(st->env, opt->map_size ? opt->map_size
                                                    : CV_STORE_DEFAULT_SIZE);
    if (rc != 0) {
        cv_fail(err, errlen, "mdb_env_set_mapsize: %s", mdb_strerror(rc));
        goto failed;
    }

    /* MDB_NOTLS: read transactions may later move to nginx thread pools */
    flags = MDB_NOTLS | (opt->sync ? 0 : MDB_NOSYNC);

    rc = mdb_env_open(st->env, opt->path, flags, 0600);
    if (rc != 0) {
        cv_fail(err, errlen, "mdb_env_open(\"%s\"): %s", opt->path,
                mdb_strerror(rc));
        goto failed;
    }

    /* a worker killed by a signal leaves its reader slot taken */
    rc = mdb_reader_check(st->env, &st->stale_cleared);
    if (rc != 0) {
        cv_fail(err, errlen, "mdb_reader_check: %s", mdb_strerror(rc));
        goto failed;
    }

    if (cv_check_schema(st, err, errlen) != 0) {
        goto failed;
    }

    *out = st;
    return 0;

failed:

    mdb_env_close(st->env);
    free(st);
    return -1;
}


void
cv_store_close(cv_store *st)
{
    if (st == NULL) {
        return;
    }

    mdb_env_close(st->env);
    free(st);
}


int
cv_store_stale_readers_cleared(const cv_store *st)
{
    return st->stale_cleared;
}


int
cv_store_prepare(const cv_store_options *opt, uid_t uid, gid_t gid,
    char *err, size_t errlen)
{
    cv_store  *st;

    if (cv_mkdirs(opt->path, err, errlen) != 0) {
        return -1;
    }

    if (cv_store_open(&st, opt, err, errlen) != 0) {
        return -1;
    }

    cv_store_close(st);

    if (uid != (uid_t) -1) {
        return cv_chown_tree(opt->path, uid, gid, err, errlen);
    }

    return 0;
}


int
cv_store_schema_version(cv_store *st, uint32_t *version, char *err,
    size_t errlen)
{
    MDB_txn  *txn;
    MDB_val   key, val;
    int       rc;

    rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        return cv_fail(err, errlen, "mdb_txn_begin: %s", mdb_strerror(rc));
    }

    key.mv_data = (void *) CV_KEY_SCHEMA;
    key.mv_size = sizeof(CV_KEY_SCHEMA) - 1;

    rc = mdb_get(txn, st->meta, &key, &val);
    if (rc != 0 || val.mv_size != sizeof(*version)) {
        mdb_txn_abort(txn);
        return cv_fail(err, errlen, "schema version: %s",
                       rc ? mdb_strerror(rc) : "corrupt record");
    }

    memcpy(version, val.mv_data, sizeof(*version));
    mdb_txn_abort(txn);
    return 0;
}
