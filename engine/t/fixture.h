/*
 * What the engine's unit tests share: a fresh store in a temporary
 * directory, writes around the engine (LMDB directly) that plant records
 * the engine would never write itself, and reading JSON fields.
 */
#ifndef CV_FIXTURE_H
#define CV_FIXTURE_H

#include "cv_store_impl.h"
#include "cv_chat.h"
#include "tap.h"

#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

static cv_store_options  fx_opt;


/* obj[name] when it is a string, else NULL */
static inline const char *
str(const cJSON *o, const char *name)
{
    const cJSON  *i = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsString(i) ? i->valuestring : NULL;
}


/* obj[name] when it is a number, else -1 */
static inline double
num(const cJSON *o, const char *name)
{
    const cJSON  *i = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsNumber(i) ? i->valuedouble : -1;
}


static inline cv_store *
fx_store_reopen(void)
{
    cv_store  *st;
    char       err[512];

    if (cv_store_open(&st, &fx_opt, err, sizeof(err)) != CV_OK) {
        printf("Bail out! %s\n", err);
        exit(1);
    }

    return st;
}


/* the test's store, new, of map_size bytes (no fsync: tests only) */
static inline cv_store *
fx_store_open(size_t map_size)
{
    memset(&fx_opt, 0, sizeof(fx_opt));
    fx_opt.path = tap_tmpdir();
    fx_opt.map_size = map_size;

    return fx_store_reopen();
}


/*
 * Writes key -> value (no value: deletes key) into the database named db
 * of the store at path, with LMDB; 0 or LMDB's error. Nothing of this process may have the store
 * open meanwhile (one environment per process).
 */
static inline int
fx_raw_put(const char *path, const char *db, const void *key, size_t klen,
    const void *value, size_t vlen)
{
    MDB_env  *env;
    MDB_txn  *txn;
    MDB_dbi   dbi;
    MDB_val   k, v;
    int       rc;

    rc = mdb_env_create(&env);
    if (rc != 0) {
        return rc;
    }

    rc = mdb_env_set_maxdbs(env, CV_STORE_MAX_DBS);

    if (rc == 0) {
        rc = mdb_env_open(env, path, MDB_NOTLS, 0600);
    }

    if (rc == 0) {
        rc = mdb_txn_begin(env, NULL, 0, &txn);
    }

    if (rc == 0) {
        k.mv_data = (void *) key;
        k.mv_size = klen;
        v.mv_data = (void *) value;
        v.mv_size = vlen;

        rc = mdb_dbi_open(txn, db, 0, &dbi);

        if (rc == 0) {
            /* no value: the key goes */
            rc = value ? mdb_put(txn, dbi, &k, &v, 0)
                       : mdb_del(txn, dbi, &k, NULL);
        }

        if (rc == 0) {
            rc = mdb_txn_commit(txn);

        } else {
            mdb_txn_abort(txn);
        }
    }

    mdb_env_close(env);
    return rc;
}


/* the same into the test's store, which is closed and opened again */
static inline cv_store *
fx_plant(cv_store *st, const char *db, const char *key, const void *value,
    size_t vlen)
{
    int  rc;

    cv_store_close(st);

    rc = fx_raw_put(fx_opt.path, db, key, strlen(key), value, vlen);
    if (rc != 0) {
        printf("Bail out! planting %s in %s: %s\n", key, db,
               mdb_strerror(rc));
        exit(1);
    }

    return fx_store_reopen();
}


/* the key taken out of db of the test's store, closed and opened again */
static inline cv_store *
fx_unplant(cv_store *st, const char *db, const char *key)
{
    return fx_plant(st, db, key, NULL, 0);
}

/* cv_conversations_since()'s text, parsed: a cJSON array; NULL when it
 * failed or its text is not JSON */
static inline cJSON *
fx_since(cv_txn *t, uint64_t after, size_t limit, const char *status,
    uint64_t *next)
{
    cv_json_text   b;
    cJSON         *items;

    cv_jt_init(&b, 0);
    items = NULL;

    if (cv_conversations_since(t, after, limit, status, &b, next) == CV_OK) {
        items = cJSON_ParseWithLength(b.data, b.len);
    }

    cv_jt_free(&b);
    return items;
}


#endif
