/*
 * Agents, console sessions and one-time login tokens.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_agents.h"
#include "cv_store_impl.h"
#include "cv_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(CV_SECRET_STR >= CV_BASE64URL_BUF(CV_SECRET_BYTES),
               "a secret's text form fits in CV_SECRET_STR");


static int64_t
cv_int(const cJSON *o, const char *name, int64_t dflt)
{
    const cJSON  *i = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsNumber(i) ? (int64_t) i->valuedouble : dflt;
}


static int
cv_agent_is_enabled(const cJSON *agent)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(agent, "enabled"));
}


int
cv_agent_id_valid(const char *id)
{
    size_t  n;

    for (n = 0; id[n]; n++) {
        char  c = id[n];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '@'
              || c == '-'))
        {
            return 0;
        }
    }

    return n > 0 && n <= CV_AGENT_ID_MAX;
}


cv_status
cv_agent_put(cv_txn *t, const char *id, const cJSON *fields, cJSON **out,
    int *created)
{
    static const char  *copied[] = { "name", "email", "enabled",
                                     "max_concurrent" };
    cJSON       *agent, *f;
    cv_status    st;
    size_t       i;
    char         stamp[CV_TIME_STR];

    if (!cv_agent_id_valid(id)) {
        return CV_INVALID;
    }

    st = cv_agent_get(t, id, &agent);

    if (st == CV_NOT_FOUND) {
        *created = 1;
        agent = cJSON_CreateObject();
        cJSON_AddStringToObject(agent, "id", id);
        cJSON_AddNullToObject(agent, "email");
        cJSON_AddStringToObject(agent, "name", id);
        cJSON_AddTrueToObject(agent, "enabled");
        cJSON_AddNumberToObject(agent, "max_concurrent",
                                CV_AGENT_MAX_CONCURRENT_DEFAULT);
        cv_format_time(cv_now_ms(), stamp);
        cJSON_AddStringToObject(agent, "created_at", stamp);

    } else if (st == CV_OK) {
        *created = 0;

    } else {
        return st;
    }

    for (i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
        f = cJSON_GetObjectItemCaseSensitive(fields, copied[i]);
        if (f) {
            cv_json_set(agent, copied[i], cJSON_Duplicate(f, 1));
        }
    }

    cv_format_time(cv_now_ms(), stamp);
    cv_json_set(agent, "updated_at", cJSON_CreateString(stamp));

    st = cv_record_put(t, CV_DB_AGENTS, id, strlen(id), agent);

    if (st == CV_OK && !cv_agent_is_enabled(agent)) {
        st = cv_sessions_end_for(t, id);

        if (st == CV_OK) {
            st = cv_agent_release(t, id);
        }
    }

    return cv_record_hand_over(st, agent, out);
}


cv_status
cv_agent_get(cv_txn *t, const char *id, cJSON **out)
{
    return cv_record_get(t, CV_DB_AGENTS, id, strlen(id), out);
}


cv_status
cv_agent_get_enabled(cv_txn *t, const char *id, cJSON **out)
{
    cJSON      *agent;
    cv_status   st;

    st = cv_agent_get(t, id, &agent);
    if (st != CV_OK) {
        return st;
    }

    return cv_record_hand_over(cv_agent_is_enabled(agent) ? CV_OK
                                                           : CV_CONFLICT,
                               agent, out);
}


void
cv_agent_author(const cJSON *agent, cv_author *out)
{
    out->type = "agent";
    out->id = cv_json_string(agent, "id");
    out->name = cv_json_string(agent, "name");
}


cv_status
cv_agent_list(cv_txn *t, cJSON *items)
{
    MDB_cursor  *c;
    MDB_val      k, v;
    cJSON       *a;
    int          rc;

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_AGENTS], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
         rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
    {
        a = cJSON_ParseWithLength(v.mv_data, v.mv_size);
        if (a == NULL) {
            /* a list without it would say the agent is not there */
            mdb_cursor_close(c);
            return CV_ERROR;
        }

        cJSON_AddItemToArray(items, a);
    }

    mdb_cursor_close(c);

    return rc == MDB_NOTFOUND ? CV_OK : cv_status_from_mdb(rc);
}


/*
 * Login tokens and sessions are secrets of an agent: a record
 * {agent_id, [conversation_id,] expires_at} under the secret's hash.
 */

static cv_status
cv_secret_put_hash(cv_txn *t, int db, const char *agent_id,
    const char *conversation_id, int64_t ttl_ms,
    const unsigned char hash[CV_SHA256_LEN], int64_t *expires_at)
{
    cJSON         *rec;
    cv_status      st;

    *expires_at = cv_now_ms() + ttl_ms;

    rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "agent_id", agent_id);
    if (conversation_id) {
        cJSON_AddStringToObject(rec, "conversation_id", conversation_id);
    }
    cJSON_AddNumberToObject(rec, "expires_at", (double) *expires_at);

    st = cv_record_put(t, db, hash, CV_SHA256_LEN, rec);
    cJSON_Delete(rec);

    return st;
}


cv_status
cv_secret_new(char secret[CV_SECRET_STR], unsigned char hash[CV_SHA256_LEN])
{
    unsigned char  raw[CV_SECRET_BYTES];

    if (cv_random_bytes(raw, sizeof(raw)) != CV_OK) {
        return CV_ERROR;
    }

    cv_base64url(raw, sizeof(raw), secret);

    return cv_sha256(secret, strlen(secret), hash);
}


static cv_status
cv_secret_put(cv_txn *t, int db, const char *agent_id,
    const char *conversation_id, int64_t ttl_ms, char secret[CV_SECRET_STR],
    int64_t *expires_at)
{
    unsigned char  hash[CV_SHA256_LEN];

    if (cv_secret_new(secret, hash) != CV_OK) {
        return CV_ERROR;
    }

    return cv_secret_put_hash(t, db, agent_id, conversation_id, ttl_ms, hash,
                              expires_at);
}


/* the record of a secret, and its hash (its key) */
static cv_status
cv_secret_get(cv_txn *t, int db, const char *secret,
    unsigned char hash[CV_SHA256_LEN], cJSON **rec)
{
    if (cv_sha256(secret, strlen(secret), hash) != CV_OK) {
        return CV_ERROR;
    }

    return cv_record_get(t, db, hash, CV_SHA256_LEN, rec);
}


/* the agent a secret's record lets in: enabled, and not expired */
static cv_status
cv_secret_agent(cv_txn *t, const cJSON *rec, cJSON **agent)
{
    const char  *id;
    cv_status    st;

    id = cv_json_string(rec, "agent_id");

    if (id == NULL || cv_int(rec, "expires_at", 0) <= cv_now_ms()) {
        return CV_NOT_FOUND;
    }

    st = cv_agent_get_enabled(t, id, agent);

    /* a disabled agent's secret opens nothing, as an unknown one */
    return st == CV_CONFLICT ? CV_NOT_FOUND : st;
}


cv_status
cv_login_token_create_hash(cv_txn *t, const char *agent_id,
    const char *conversation_id, int64_t ttl_ms,
    const unsigned char hash[CV_SHA256_LEN], int64_t *expires_at)
{
    cv_status  st;

    if (ttl_ms == 0) {
        ttl_ms = CV_LOGIN_TTL_DEFAULT;
    }

    if (ttl_ms < 0 || ttl_ms > CV_LOGIN_TTL_MAX) {
        return CV_INVALID;
    }

    st = cv_agent_get_enabled(t, agent_id, NULL);
    if (st != CV_OK) {
        return st == CV_CONFLICT ? CV_NOT_FOUND : st;
    }

    return cv_secret_put_hash(t, CV_DB_LOGIN_TOKENS, agent_id,
                              conversation_id, ttl_ms, hash, expires_at);
}


cv_status
cv_login_token_create(cv_txn *t, const char *agent_id,
    const char *conversation_id, int64_t ttl_ms, char token[CV_SECRET_STR],
    int64_t *expires_at)
{
    unsigned char  hash[CV_SHA256_LEN];

    if (cv_secret_new(token, hash) != CV_OK) {
        return CV_ERROR;
    }

    return cv_login_token_create_hash(t, agent_id, conversation_id, ttl_ms,
                                      hash, expires_at);
}


cv_status
cv_login_token_redeem(cv_txn *t, const char *token, cJSON **agent,
    char conversation_id[CV_ID_MAX])
{
    unsigned char   hash[CV_SHA256_LEN];

    conversation_id[0] = '\0';

    if (cv_sha256(token, strlen(token), hash) != CV_OK) {
        return CV_ERROR;
    }

    return cv_login_token_redeem_hash(t, hash, agent, conversation_id);
}


cv_status
cv_login_token_redeem_hash(cv_txn *t, const unsigned char hash[CV_SHA256_LEN],
    cJSON **agent, char conversation_id[CV_ID_MAX])
{
    const char     *conv;
    cJSON          *rec;
    cv_status       st;

    conversation_id[0] = '\0';

    st = cv_record_get(t, CV_DB_LOGIN_TOKENS, hash, CV_SHA256_LEN, &rec);
    if (st != CV_OK) {
        return st;
    }

    /* single use: gone whatever happens next */
    st = cv_record_del(t, CV_DB_LOGIN_TOKENS, hash, CV_SHA256_LEN);

    if (st == CV_OK) {
        st = cv_secret_agent(t, rec, agent);
    }

    conv = cv_json_string(rec, "conversation_id");
    if (st == CV_OK && conv && strlen(conv) < CV_ID_MAX) {
        strcpy(conversation_id, conv);
    }

    cJSON_Delete(rec);
    return st;
}


cv_status
cv_session_create_hash(cv_txn *t, const char *agent_id, int64_t ttl_ms,
    const unsigned char hash[CV_SHA256_LEN], int64_t *expires_at)
{
    return cv_secret_put_hash(t, CV_DB_SESSIONS, agent_id, NULL, ttl_ms,
                              hash, expires_at);
}


cv_status
cv_session_create(cv_txn *t, const char *agent_id, int64_t ttl_ms,
    char session[CV_SECRET_STR], int64_t *expires_at)
{
    return cv_secret_put(t, CV_DB_SESSIONS, agent_id, NULL, ttl_ms, session,
                         expires_at);
}


cv_status
cv_session_agent(cv_txn *t, const char *session, cJSON **agent)
{
    unsigned char  hash[CV_SHA256_LEN];
    cJSON         *rec;
    cv_status      st;

    st = cv_secret_get(t, CV_DB_SESSIONS, session, hash, &rec);
    if (st != CV_OK) {
        return st;
    }

    st = cv_secret_agent(t, rec, agent);
    cJSON_Delete(rec);

    return st;
}


cv_status
cv_session_delete(cv_txn *t, const char *session)
{
    unsigned char  hash[CV_SHA256_LEN];

    if (cv_sha256(session, strlen(session), hash) != CV_OK) {
        return CV_ERROR;
    }

    return cv_session_delete_hash(t, hash);
}


cv_status
cv_session_delete_hash(cv_txn *t, const unsigned char hash[CV_SHA256_LEN])
{
    cv_status  st;

    st = cv_record_del(t, CV_DB_SESSIONS, hash, CV_SHA256_LEN);

    return st == CV_NOT_FOUND ? CV_OK : st;
}


cv_status
cv_sessions_end_for(cv_txn *t, const char *agent_id)
{
    MDB_cursor   *c;
    MDB_val       k, v;
    cJSON        *rec;
    const char   *id;
    int           rc, drop;

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_SESSIONS], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
         rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
    {
        rec = cJSON_ParseWithLength(v.mv_data, v.mv_size);
        id = cv_json_string(rec, "agent_id");

        /* expired sessions of anybody go too, and unreadable ones */
        drop = rec == NULL
               || (id && strcmp(id, agent_id) == 0)
               || cv_int(rec, "expires_at", 0) <= cv_now_ms();

        cJSON_Delete(rec);

        if (drop) {
            rc = mdb_cursor_del(c, 0);
            if (rc != 0) {
                break;
            }
        }
    }

    mdb_cursor_close(c);

    return rc == MDB_NOTFOUND ? CV_OK : cv_status_from_mdb(rc);
}


cv_status
cv_agent_delete(cv_txn *t, const char *id)
{
    cv_status  st;

    st = cv_record_del(t, CV_DB_AGENTS, id, strlen(id));

    if (st == CV_OK) {
        st = cv_sessions_end_for(t, id);
    }

    if (st == CV_OK) {
        st = cv_agent_release(t, id);
    }

    return st;
}


/* whether list (of agents checked by the caller) names id */
static int
cv_agent_listed(const cJSON *list, const char *id)
{
    const cJSON  *a;

    cJSON_ArrayForEach(a, list) {
        if (strcmp(cv_json_string(a, "id"), id) == 0) {
            return 1;
        }
    }

    return 0;
}


cv_status
cv_agents_sync(cv_txn *t, const cJSON *list, cJSON *items)
{
    const cJSON  *a;
    const char   *id;
    cJSON        *all, *cur, *off;
    cv_status     st;
    int           created;

    /* first the listed ones */
    cJSON_ArrayForEach(a, list) {
        st = cv_agent_put(t, cv_json_string(a, "id"), a, NULL, &created);
        if (st != CV_OK) {
            return st;
        }
    }

    /* then everybody else is disabled */
    all = cJSON_CreateArray();
    st = cv_agent_list(t, all);

    off = cJSON_CreateObject();
    cJSON_AddFalseToObject(off, "enabled");

    cJSON_ArrayForEach(cur, all) {
        if (st != CV_OK) {
            break;
        }

        id = cv_json_string(cur, "id");

        if (id && !cv_agent_listed(list, id) && cv_agent_is_enabled(cur)) {
            st = cv_agent_put(t, id, off, NULL, &created);
        }
    }

    cJSON_Delete(off);
    cJSON_Delete(all);

    if (st == CV_OK && items) {
        st = cv_agent_list(t, items);
    }

    return st;
}
