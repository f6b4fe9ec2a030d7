/*
 * Agents, console sessions and one-time login tokens.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_agents.h"
#include "cv_store_impl.h"
#include "cv_time.h"
#include "cv_chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int64_t
cv_int(const cJSON *o, const char *name, int64_t dflt)
{
    const cJSON  *i = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsNumber(i) ? (int64_t) i->valuedouble : dflt;
}


static void
cv_replace(cJSON *obj, const char *name, cJSON *value)
{
    if (cJSON_GetObjectItemCaseSensitive(obj, name)) {
        cJSON_ReplaceItemInObjectCaseSensitive(obj, name, value);

    } else {
        cJSON_AddItemToObject(obj, name, value);
    }
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


void
cv_agent_author(const cJSON *agent, cv_author *out)
{
    out->type = "agent";
    out->id = cJSON_GetStringValue(
                  cJSON_GetObjectItemCaseSensitive(agent, "id"));
    out->name = cJSON_GetStringValue(
                    cJSON_GetObjectItemCaseSensitive(agent, "name"));
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
        cJSON_AddNumberToObject(agent, "max_concurrent", 5);
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
            cv_replace(agent, copied[i], cJSON_Duplicate(f, 1));
        }
    }

    cv_format_time(cv_now_ms(), stamp);
    cv_replace(agent, "updated_at", cJSON_CreateString(stamp));

    st = cv_record_put(t, CV_DB_AGENTS, id, strlen(id), agent);

    if (st == CV_OK && !cJSON_IsTrue(cJSON_GetObjectItem(agent, "enabled"))) {
        st = cv_sessions_end_for(t, id);

        if (st == CV_OK) {
            st = cv_agent_release(t, id);
        }
    }

    if (st == CV_OK && out) {
        *out = agent;

    } else {
        cJSON_Delete(agent);
    }

    return st;
}


cv_status
cv_agent_get(cv_txn *t, const char *id, cJSON **out)
{
    return cv_record_get(t, CV_DB_AGENTS, id, strlen(id), out);
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
        if (a) {
            cJSON_AddItemToArray(items, a);
        }
    }

    mdb_cursor_close(c);

    return rc == MDB_NOTFOUND ? CV_OK : cv_status_from_mdb(rc);
}


/* a fresh secret: its text form for the user, its hash as the key */

static int
cv_new_secret(char secret[CV_SECRET_STR], unsigned char hash[CV_SHA256_LEN])
{
    unsigned char  raw[32];

    if (cv_random_bytes(raw, sizeof(raw)) != 0) {
        return -1;
    }

    cv_base64url(raw, sizeof(raw), secret);
    cv_sha256(secret, strlen(secret), hash);

    return 0;
}


cv_status
cv_agent_get_enabled(cv_txn *t, const char *id, cJSON **out)
{
    cJSON      *a;
    cv_status   st;

    st = cv_agent_get(t, id, &a);
    if (st != CV_OK) {
        return st;
    }

    if (!cJSON_IsTrue(cJSON_GetObjectItem(a, "enabled"))) {
        cJSON_Delete(a);
        return CV_CONFLICT;
    }

    if (out) {
        *out = a;

    } else {
        cJSON_Delete(a);
    }

    return CV_OK;
}


static int
cv_agent_enabled(cv_txn *t, const char *id, cJSON **agent)
{
    return cv_agent_get_enabled(t, id, agent) == CV_OK;
}


cv_status
cv_login_token_create(cv_txn *t, const char *agent_id,
    const char *conversation_id, int64_t ttl_ms, char token[CV_SECRET_STR],
    int64_t *expires_at)
{
    unsigned char  hash[CV_SHA256_LEN];
    cJSON         *rec;
    cv_status      st;

    if (ttl_ms == 0) {
        ttl_ms = CV_LOGIN_TTL_DEFAULT;
    }

    if (ttl_ms < 0 || ttl_ms > CV_LOGIN_TTL_MAX) {
        return CV_INVALID;
    }

    if (!cv_agent_enabled(t, agent_id, NULL)) {
        return CV_NOT_FOUND;
    }

    if (cv_new_secret(token, hash) != 0) {
        return CV_ERROR;
    }

    *expires_at = cv_now_ms() + ttl_ms;

    rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "agent_id", agent_id);
    if (conversation_id) {
        cJSON_AddStringToObject(rec, "conversation_id", conversation_id);
    }
    cJSON_AddNumberToObject(rec, "expires_at", (double) *expires_at);

    st = cv_record_put(t, CV_DB_LOGIN_TOKENS, hash, sizeof(hash), rec);
    cJSON_Delete(rec);

    return st;
}


cv_status
cv_login_token_redeem(cv_txn *t, const char *token, cJSON **agent,
    char conversation_id[CV_ID_MAX])
{
    unsigned char  hash[CV_SHA256_LEN];
    const cJSON   *item;
    cJSON         *rec;
    MDB_val        k;
    cv_status      st;
    int            ok;

    conversation_id[0] = '\0';

    cv_sha256(token, strlen(token), hash);

    st = cv_record_get(t, CV_DB_LOGIN_TOKENS, hash, sizeof(hash), &rec);
    if (st != CV_OK) {
        return st;
    }

    /* single use: gone whatever happens next */
    k.mv_data = hash;
    k.mv_size = sizeof(hash);
    st = cv_status_from_mdb(mdb_del(t->txn,
                                    t->store->dbi[CV_DB_LOGIN_TOKENS],
                                    &k, NULL));
    if (st != CV_OK) {
        cJSON_Delete(rec);
        return st;
    }

    ok = cv_int(rec, "expires_at", 0) > cv_now_ms();

    item = cJSON_GetObjectItemCaseSensitive(rec, "agent_id");
    ok = ok && cJSON_IsString(item)
         && cv_agent_enabled(t, item->valuestring, agent);

    item = cJSON_GetObjectItemCaseSensitive(rec, "conversation_id");
    if (ok && cJSON_IsString(item) && strlen(item->valuestring) < CV_ID_MAX) {
        strcpy(conversation_id, item->valuestring);
    }

    cJSON_Delete(rec);

    return ok ? CV_OK : CV_NOT_FOUND;
}


cv_status
cv_session_create(cv_txn *t, const char *agent_id, int64_t ttl_ms,
    char session[CV_SECRET_STR], int64_t *expires_at)
{
    unsigned char  hash[CV_SHA256_LEN];
    cJSON         *rec;
    cv_status      st;

    if (cv_new_secret(session, hash) != 0) {
        return CV_ERROR;
    }

    *expires_at = cv_now_ms() + ttl_ms;

    rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "agent_id", agent_id);
    cJSON_AddNumberToObject(rec, "expires_at", (double) *expires_at);

    st = cv_record_put(t, CV_DB_SESSIONS, hash, sizeof(hash), rec);
    cJSON_Delete(rec);

    return st;
}


cv_status
cv_session_agent(cv_txn *t, const char *session, cJSON **agent)
{
    unsigned char  hash[CV_SHA256_LEN];
    const cJSON   *item;
    cJSON         *rec;
    cv_status      st;

    cv_sha256(session, strlen(session), hash);

    st = cv_record_get(t, CV_DB_SESSIONS, hash, sizeof(hash), &rec);
    if (st != CV_OK) {
        return st;
    }

    item = cJSON_GetObjectItemCaseSensitive(rec, "agent_id");
    st = (cv_int(rec, "expires_at", 0) > cv_now_ms() && cJSON_IsString(item)
          && cv_agent_enabled(t, item->valuestring, agent))
         ? CV_OK : CV_NOT_FOUND;

    cJSON_Delete(rec);
    return st;
}


cv_status
cv_session_delete(cv_txn *t, const char *session)
{
    unsigned char  hash[CV_SHA256_LEN];
    MDB_val        k;
    int            rc;

    cv_sha256(session, strlen(session), hash);
    k.mv_data = hash;
    k.mv_size = sizeof(hash);

    rc = mdb_del(t->txn, t->store->dbi[CV_DB_SESSIONS], &k, NULL);

    return (rc == 0 || rc == MDB_NOTFOUND) ? CV_OK : cv_status_from_mdb(rc);
}


cv_status
cv_sessions_end_for(cv_txn *t, const char *agent_id)
{
    MDB_cursor   *c;
    MDB_val       k, v;
    cJSON        *rec;
    const cJSON  *item;
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
        item = cJSON_GetObjectItemCaseSensitive(rec, "agent_id");

        /* expired sessions of anybody go too */
        drop = rec == NULL
               || (cJSON_IsString(item)
                   && strcmp(item->valuestring, agent_id) == 0)
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


cv_status
cv_agents_sync(cv_txn *t, const cJSON *list, cJSON *items)
{
    const cJSON  *a, *id;
    cJSON        *all, *cur, *out, *off;
    cv_status     st;
    int           created, listed;

    /* first the listed ones */
    cJSON_ArrayForEach(a, list) {
        id = cJSON_GetObjectItemCaseSensitive(a, "id");

        st = cv_agent_put(t, id->valuestring, a, &out, &created);
        if (st != CV_OK) {
            return st;
        }

        cJSON_Delete(out);
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

        listed = 0;
        cJSON_ArrayForEach(a, list) {
            id = cJSON_GetObjectItemCaseSensitive(a, "id");
            if (strcmp(id->valuestring,
                       cJSON_GetStringValue(cJSON_GetObjectItem(cur, "id")))
                == 0)
            {
                listed = 1;
                break;
            }
        }

        if (!listed
            && cJSON_IsTrue(cJSON_GetObjectItem(cur, "enabled")))
        {
            st = cv_agent_put(t, cJSON_GetStringValue(
                                     cJSON_GetObjectItem(cur, "id")),
                              off, NULL, &created);
        }
    }

    cJSON_Delete(off);
    cJSON_Delete(all);

    if (st == CV_OK && items) {
        st = cv_agent_list(t, items);
    }

    return st;
}
