/*
 * Verified agent sessions, remembered with the exact records they were
 * verified against.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_session_cache.h"
#include "cv_agents.h"
#include "cv_store_impl.h"
#include "cv_time.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* 32-bit FNV-1a */
#define CV_FNV_OFFSET  2166136261u
#define CV_FNV_PRIME   16777619u

typedef struct {
    MDB_val  key;      /* owned copies */
    MDB_val  value;
} cv_raw;

typedef struct {
    char            session[CV_SECRET_STR];   /* "" when empty */
    int64_t         expires_at;
    cv_raw          session_rec;
    cv_raw          agent_rec;
    cJSON          *agent;
} cv_session_entry;

struct cv_session_cache {
    size_t            slots;
    cv_session_entry  entries[];
};


cv_session_cache *
cv_session_cache_create(size_t slots)
{
    cv_session_cache  *c;

    c = calloc(1, sizeof(cv_session_cache) + slots * sizeof(cv_session_entry));
    if (c != NULL) {
        c->slots = slots;
    }

    return c;
}


static void
cv_entry_clear(cv_session_entry *e)
{
    free(e->session_rec.key.mv_data);
    free(e->session_rec.value.mv_data);
    free(e->agent_rec.key.mv_data);
    free(e->agent_rec.value.mv_data);
    cJSON_Delete(e->agent);
    memset(e, 0, sizeof(*e));
}


void
cv_session_cache_destroy(cv_session_cache *c)
{
    size_t  i;

    if (c == NULL) {
        return;
    }

    for (i = 0; i < c->slots; i++) {
        cv_entry_clear(&c->entries[i]);
    }

    free(c);
}


/* the record stored under raw's key is still raw's value */
static int
cv_raw_same(cv_txn *t, int db, const cv_raw *raw)
{
    MDB_val  v;

    return cv_raw_get(t, db, raw->key.mv_data, raw->key.mv_size, &v) == CV_OK
           && v.mv_size == raw->value.mv_size
           && memcmp(v.mv_data, raw->value.mv_data, v.mv_size) == 0;
}


/* keeps a copy of the record stored under key, to compare with later */
static cv_status
cv_raw_keep(cv_raw *raw, cv_txn *t, int db, const void *key, size_t klen)
{
    MDB_val    v;
    cv_status  st;

    st = cv_raw_get(t, db, key, klen, &v);
    if (st != CV_OK) {
        return st;
    }

    raw->key.mv_data = malloc(klen);
    raw->value.mv_data = malloc(v.mv_size ? v.mv_size : 1);

    if (raw->key.mv_data == NULL || raw->value.mv_data == NULL) {
        return CV_ERROR;
    }

    memcpy(raw->key.mv_data, key, klen);
    raw->key.mv_size = klen;
    memcpy(raw->value.mv_data, v.mv_data, v.mv_size);
    raw->value.mv_size = v.mv_size;

    return CV_OK;
}


/* what cv_session_agent() checks, on the records it keeps */
static cv_status
cv_session_verify(cv_session_entry *e, cv_txn *t, const char *session)
{
    unsigned char   hash[CV_SHA256_LEN];
    cJSON          *rec;
    const cJSON    *exp;
    const char     *id;
    char            agent_id[CV_AGENT_ID_MAX + 1];
    cv_status       st;

    if (cv_sha256(session, strlen(session), hash) != CV_OK) {
        return CV_ERROR;
    }

    st = cv_raw_keep(&e->session_rec, t, CV_DB_SESSIONS, hash, sizeof(hash));
    if (st != CV_OK) {
        return st;
    }

    rec = cJSON_ParseWithLength(e->session_rec.value.mv_data,
                                e->session_rec.value.mv_size);
    if (rec == NULL) {
        return CV_ERROR;
    }

    id = cv_json_string(rec, "agent_id");
    exp = cJSON_GetObjectItemCaseSensitive(rec, "expires_at");

    if (id == NULL || !cJSON_IsNumber(exp) || strlen(id) > CV_AGENT_ID_MAX
        || (int64_t) exp->valuedouble <= cv_now_ms())
    {
        cJSON_Delete(rec);
        return CV_NOT_FOUND;
    }

    strcpy(agent_id, id);
    e->expires_at = (int64_t) exp->valuedouble;
    cJSON_Delete(rec);

    st = cv_agent_get_enabled(t, agent_id, &e->agent);
    if (st != CV_OK) {
        return st == CV_CONFLICT ? CV_NOT_FOUND : st;
    }

    st = cv_raw_keep(&e->agent_rec, t, CV_DB_AGENTS, agent_id,
                     strlen(agent_id));
    if (st != CV_OK) {
        return st;
    }

    strcpy(e->session, session);
    return CV_OK;
}


cv_status
cv_session_cache_agent(cv_session_cache *c, cv_txn *t, const char *session,
    const cJSON **agent)
{
    cv_session_entry  *e;
    const char        *p;
    uint32_t           h;
    cv_status          st;

    if (strlen(session) >= CV_SECRET_STR) {
        return CV_NOT_FOUND;
    }

    /* FNV-1a: the session is random already */
    h = CV_FNV_OFFSET;
    for (p = session; *p; p++) {
        h = (h ^ (unsigned char) *p) * CV_FNV_PRIME;
    }

    e = &c->entries[h % c->slots];

    if (e->session[0] && strcmp(e->session, session) == 0
        && e->expires_at > cv_now_ms()
        && cv_raw_same(t, CV_DB_SESSIONS, &e->session_rec)
        && cv_raw_same(t, CV_DB_AGENTS, &e->agent_rec))
    {
        *agent = e->agent;
        return CV_OK;
    }

    cv_entry_clear(e);

    st = cv_session_verify(e, t, session);
    if (st != CV_OK) {
        cv_entry_clear(e);
        return st;
    }

    *agent = e->agent;
    return CV_OK;
}
