/*
 * The store's internals, for the engine's own model files only.
 */
#ifndef CV_STORE_IMPL_H
#define CV_STORE_IMPL_H

#include "cv_store.h"

#include <lmdb.h>
#include <cjson/cJSON.h>

/* one LMDB database per kind of record */
enum {
    CV_DB_META = 0,       /* schema version, counters, keys */
    CV_DB_LOG,            /* u64be global seq -> entry (cv_log_impl.h) */
    CV_DB_CUSTOMERS,      /* cus_... -> JSON */
    CV_DB_CONVERSATIONS,  /* conv_... -> header + JSON (cv_chat.c) */
    CV_DB_IDEMPOTENCY,    /* author id NUL client_msg_id -> u64be log seq */
    CV_DB_AGENTS,         /* integrator's agent id -> JSON */
    CV_DB_SESSIONS,       /* sha256(session secret) -> JSON */
    CV_DB_LOGIN_TOKENS,   /* sha256(token) -> JSON */
    CV_DB_CUSTOMER_IDS,   /* integrator's customer id (text) -> cus_... */
    CV_DB_API_TOKENS,     /* sha256(access token) -> JSON */
    CV_DB_N
};

struct cv_store {
    MDB_env  *env;
    MDB_dbi   dbi[CV_DB_N];
    int       stale_cleared;
    cv_txn   *spare;      /* a reset read transaction, renewed on demand */
};

struct cv_txn {
    cv_store  *store;
    MDB_txn   *txn;
    int        write;
    uint64_t   log_next;  /* the next log seq once known, else 0: a batch
                             of messages looks the log's end up once */
};

/* JSON records: get (parsed, caller frees) and put */
cv_status cv_record_get(cv_txn *t, int db, const void *key, size_t klen,
    cJSON **out);
cv_status cv_record_put(cv_txn *t, int db, const void *key, size_t klen,
    const cJSON *obj);
/* a value already in its stored form (JSON text built by the caller) */
cv_status cv_record_put_raw(cv_txn *t, int db, const void *key, size_t klen,
    const void *value, size_t vlen);
cv_status cv_record_del(cv_txn *t, int db, const void *key, size_t klen);

/* maps an LMDB return code to a cv_status */
int cv_status_from_mdb(int rc);

void cv_put_u64be(unsigned char out[8], uint64_t v);
uint64_t cv_get_u64be(const unsigned char in[8]);
void cv_put_u32be(unsigned char out[4], uint32_t v);
uint32_t cv_get_u32be(const unsigned char in[4]);

#endif
