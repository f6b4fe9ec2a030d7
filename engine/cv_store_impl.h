/*
 * The store's internals, for the engine's own model files only.
 */
#ifndef CV_STORE_IMPL_H
#define CV_STORE_IMPL_H

#include "cv_store.h"

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <cjson/cJSON.h>

/* one LMDB database per kind of record */
enum {
    CV_DB_META = 0,       /* schema version, counters, keys */
    CV_DB_LOG,            /* u64be global seq -> entry (cv_log_impl.h) */
    CV_DB_CUSTOMERS,      /* cus_... -> JSON */
    CV_DB_CONVERSATIONS,  /* conv_... -> header + JSON (cv_conv_record.h) */
    CV_DB_IDEMPOTENCY,    /* author id NUL client_msg_id -> u64be log seq */
    CV_DB_AGENTS,         /* integrator's agent id -> JSON */
    CV_DB_SESSIONS,       /* sha256(session secret) -> JSON */
    CV_DB_LOGIN_TOKENS,   /* sha256(token) -> JSON */
    CV_DB_CUSTOMER_IDS,   /* integrator's customer id (text) -> cus_... */
    CV_DB_API_TOKENS,     /* sha256(access token) -> JSON */
    /* webhooks: the endpoints, their deliveries and the deliveries'
     * indexes (keys and layouts in cv_webhooks_impl.h) */
    CV_DB_WEBHOOKS,       /* wh_... -> JSON */
    CV_DB_WEBHOOK_STATE,  /* wh_... -> log cursor and counters */
    CV_DB_DELIVERIES,     /* wh_... NUL u64be dseq -> header + text */
    CV_DB_DELIVERY_DUE,
    CV_DB_DELIVERY_QUEUE,
    CV_DB_DELIVERY_STATUS,
    CV_DB_DELIVERY_FINISHED,
    /* what answers a question without a scan: key prefixes, layouts and
     * who keeps them in cv_index.h */
    CV_DB_INDEX,
    CV_DB_N
};

/* LMDB's environment limits: named databases (CV_DB_N, with room) and
 * reader slots (every worker's and tool's read transactions) */
#define CV_STORE_MAX_DBS      32
#define CV_STORE_MAX_READERS  1024

_Static_assert(CV_DB_N <= CV_STORE_MAX_DBS, "room for every database");

struct cv_store {
    MDB_env  *env;
    MDB_dbi   dbi[CV_DB_N];
    int       stale_cleared;
    cv_txn   *spare;      /* a reset read transaction, renewed on demand */
    size_t    map_max;    /* 0: the map does not grow */

    /* the map may be changed only while no transaction of this process
     * is active (the commit may run in a thread): held by a write
     * transaction throughout, and by a resize; reads counts the active
     * read transactions */
    pthread_mutex_t  map_lock;
    atomic_int       reads;
    atomic_int       writing;     /* map_lock is held by a write ... */
    pthread_t        writer;      /* ... of this thread */

    /* sync on: the data file's size as last seen (it only grows), and
     * LMDB's page size; the file is kept ahead of the pages in use
     * (cv_store_ahead()) */
    size_t           file_size;
    size_t           page_size;
};

struct cv_txn {
    cv_store  *store;
    MDB_txn   *txn;
    int        write;
    int        unsynced_meta;  /* cv_txn_begin_unsynced_meta() */
    uint64_t   log_next;  /* the next log seq once known, else 0: a batch
                             of messages looks the log's end up once */
};

/* the schema version's record in CV_DB_META: a native uint32 */
#define CV_KEY_SCHEMA  "schema_version"

/* "": every conversation is in the customers' index (cv_retention.h); a
 * new store has it from the start, an older one once its backfill ran */
#define CV_KEY_RET_INDEXED  "ret/indexed"

/* a macro's value as a string literal, for messages that name a limit */
#define CV_STR_(x)  #x
#define CV_STR(x)   CV_STR_(x)

/* a u64 and a u32, big-endian: keys sort as numbers */
#define CV_U64BE_LEN  8
#define CV_U32BE_LEN  4

/* The store's secret (cv_store_secret()) read in t. */
cv_status cv_txn_secret(cv_txn *t, unsigned char out[CV_STORE_SECRET_LEN]);

/* The stored value under key, in the map (valid until the transaction
 * writes again or ends); CV_NOT_FOUND when there is none. */
cv_status cv_raw_get(cv_txn *t, int db, const void *key, size_t klen,
    MDB_val *value);

/* JSON records: get (parsed, caller frees) and put */
cv_status cv_record_get(cv_txn *t, int db, const void *key, size_t klen,
    cJSON **out);
cv_status cv_record_put(cv_txn *t, int db, const void *key, size_t klen,
    const cJSON *obj);
/* a value already in its stored form (JSON text built by the caller) */
cv_status cv_record_put_raw(cv_txn *t, int db, const void *key, size_t klen,
    const void *value, size_t vlen);
/* CV_NOT_FOUND when there was none */
cv_status cv_record_del(cv_txn *t, int db, const void *key, size_t klen);

/*
 * Ends a function that built or read obj: hands obj to the caller in *out
 * when st is CV_OK and out is not NULL, else frees it; returns st.
 */
cv_status cv_record_hand_over(cv_status st, cJSON *obj, cJSON **out);

/* obj[name] = value, replacing what it had (value is obj's now) */
void cv_json_set(cJSON *obj, const char *name, cJSON *value);

/* obj[name] when it is a string, else NULL */
const char *cv_json_string(const cJSON *obj, const char *name);

/* maps an LMDB return code to a cv_status */
cv_status cv_status_from_mdb(int rc);

/* big-endian integers of keys and headers; inline: a page of the REST
 * poll decodes a few hundred log entries' headers */

static inline void
cv_put_u64be(unsigned char out[CV_U64BE_LEN], uint64_t v)
{
    int  i;

    for (i = CV_U64BE_LEN - 1; i >= 0; i--) {
        out[i] = (unsigned char) (v & 0xff);
        v >>= 8;
    }
}


static inline uint64_t
cv_get_u64be(const unsigned char in[CV_U64BE_LEN])
{
    uint64_t  v;
    int       i;

    v = 0;
    for (i = 0; i < CV_U64BE_LEN; i++) {
        v = (v << 8) | in[i];
    }

    return v;
}


static inline void
cv_put_u32be(unsigned char out[CV_U32BE_LEN], uint32_t v)
{
    out[0] = (unsigned char) (v >> 24);
    out[1] = (unsigned char) (v >> 16);
    out[2] = (unsigned char) (v >> 8);
    out[3] = (unsigned char) v;
}


static inline uint32_t
cv_get_u32be(const unsigned char in[CV_U32BE_LEN])
{
    return ((uint32_t) in[0] << 24) | ((uint32_t) in[1] << 16)
           | ((uint32_t) in[2] << 8) | in[3];
}

#endif
