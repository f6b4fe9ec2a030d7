/*
 * The chat model: customers, conversations, messages, event streams.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_chat.h"
#include "cv_store_impl.h"
#include "cv_time.h"
#include "cv_utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static cJSON *
cv_add_time(cJSON *obj, const char *name, int64_t ms)
{
    char  buf[CV_TIME_STR];

    cv_format_time(ms, buf);
    return cJSON_AddStringToObject(obj, name, buf);
}


static void
cv_set(cJSON *obj, const char *name, cJSON *value)
{
    if (cJSON_GetObjectItemCaseSensitive(obj, name)) {
        cJSON_ReplaceItemInObjectCaseSensitive(obj, name, value);

    } else {
        cJSON_AddItemToObject(obj, name, value);
    }
}


static void
cv_set_string_or_null(cJSON *obj, const char *name, const char *value)
{
    cv_set(obj, name, value ? cJSON_CreateString(value) : cJSON_CreateNull());
}


static const char *
cv_string(const cJSON *obj, const char *name)
{
    const cJSON  *item;

    item = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}


static uint64_t
cv_u64(const cJSON *obj, const char *name)
{
    const cJSON  *item;

    item = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsNumber(item) && item->valuedouble > 0
           ? (uint64_t) item->valuedouble : 0;
}


/* the global log: u64be seq -> {"seq","type","conversation_id",...} */

static cv_status
cv_log_append(cv_txn *t, const char *type, const cJSON *conv,
    const char *conv_json, size_t conv_len, uint64_t conv_seq, int64_t now)
{
    MDB_cursor     *c;
    MDB_val         k, v;
    unsigned char   key[8];
    char            stamp[CV_TIME_STR], *ev;
    uint64_t        seq;
    cv_status       st;
    size_t          size;
    int             rc, n;

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_LOG], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);

    if (rc == 0 && k.mv_size == 8) {
        seq = cv_get_u64be(k.mv_data) + 1;

    } else if (rc == MDB_NOTFOUND) {
        seq = 1;

    } else {
        return rc ? cv_status_from_mdb(rc) : CV_ERROR;
    }

    /*
     * The conversation as this change left it, so pollers and webhooks get
     * a state that matches their cursor exactly. Its JSON text was just
     * printed for its own record: the entry is put together around it
     * rather than printed again. Ids and types are our own ASCII tokens.
     */

    cv_format_time(now, stamp);

    size = conv_len + 3 * CV_ID_MAX + 256;
    ev = malloc(size);
    if (ev == NULL) {
        return CV_ERROR;
    }

    n = snprintf(ev, size, "{\"seq\":%llu,\"type\":\"%s\","
                 "\"conversation_id\":\"%s\",\"customer_id\":\"%s\","
                 "\"conversation_seq\":%llu,\"created_at\":\"%s\","
                 "\"conversation\":",
                 (unsigned long long) seq, type, cv_string(conv, "id"),
                 cv_string(conv, "customer_id"),
                 (unsigned long long) conv_seq, stamp);

    if (n < 0 || (size_t) n + conv_len + 2 > size) {
        free(ev);
        return CV_ERROR;
    }

    memcpy(ev + n, conv_json, conv_len);
    ev[n + conv_len] = '}';

    cv_put_u64be(key, seq);
    st = cv_record_put_raw(t, CV_DB_LOG, key, 8, ev, n + conv_len + 1);
    free(ev);

    return st;
}


/* stores the conversation and logs the change with its new state */

static cv_status
cv_conv_store(cv_txn *t, const cJSON *conv, const char *log_type,
    uint64_t conv_seq, int64_t now)
{
    const char  *id;
    char        *json;
    size_t       len;
    cv_status    st;

    json = cJSON_PrintUnformatted(conv);
    if (json == NULL) {
        return CV_ERROR;
    }

    len = strlen(json);
    id = cv_string(conv, "id");

    st = cv_record_put_raw(t, CV_DB_CONVERSATIONS, id, strlen(id), json, len);

    if (st == CV_OK && log_type) {
        st = cv_log_append(t, log_type, conv, json, len, conv_seq, now);
    }

    cJSON_free(json);
    return st;
}


/* a conversation's stream: "conv_id" NUL u64be seq -> event */

static size_t
cv_conv_key(unsigned char *key, const char *conv_id, uint64_t seq)
{
    size_t  n;

    n = strlen(conv_id);
    memcpy(key, conv_id, n);
    key[n] = '\0';
    cv_put_u64be(key + n + 1, seq);

    return n + 9;
}


/* Appends event to the conversation's stream and the global log, and
 * stores the conversation with its new last_seq. */

static cv_status
cv_conv_append(cv_txn *t, cJSON *conv, cJSON *event, const char *log_type,
    int64_t now, uint64_t *seq_out)
{
    unsigned char   key[CV_ID_MAX + 9];
    char            stamp[CV_TIME_STR];
    const char     *id;
    uint64_t        seq;
    size_t          klen;
    cJSON          *msg;
    cv_status       st;

    id = cv_string(conv, "id");
    seq = cv_u64(conv, "last_seq") + 1;

    cv_set(event, "seq", cJSON_CreateNumber((double) seq));
    msg = cJSON_GetObjectItemCaseSensitive(event, "message");
    if (msg) {
        cv_set(msg, "seq", cJSON_CreateNumber((double) seq));
    }

    klen = cv_conv_key(key, id, seq);
    st = cv_record_put(t, CV_DB_CONV_EVENTS, key, klen, event);
    if (st != CV_OK) {
        return st;
    }

    cv_format_time(now, stamp);
    cv_set(conv, "last_seq", cJSON_CreateNumber((double) seq));
    cv_set(conv, "updated_at", cJSON_CreateString(stamp));

    st = cv_conv_store(t, conv, log_type, seq, now);
    if (st != CV_OK) {
        return st;
    }

    if (seq_out) {
        *seq_out = seq;
    }

    return CV_OK;
}


cv_status
cv_customer_create(cv_txn *t, char id[CV_ID_MAX])
{
    cJSON      *c;
    cv_status   st;

    if (cv_random_id(id, CV_ID_MAX, "cus_", 16) != 0) {
        return CV_ERROR;
    }

    c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "customer_id", id);
    cJSON_AddNullToObject(c, "id");
    cJSON_AddNullToObject(c, "email");
    cJSON_AddNullToObject(c, "firstname");
    cJSON_AddNullToObject(c, "lastname");
    cJSON_AddArrayToObject(c, "labels");
    cJSON_AddNullToObject(c, "conversation_id");
    cJSON_AddNullToObject(c, "page_url");
    cv_add_time(c, "created_at", cv_now_ms());

    st = cv_record_put(t, CV_DB_CUSTOMERS, id, strlen(id), c);
    cJSON_Delete(c);

    return st;
}


cv_status
cv_customer_get(cv_txn *t, const char *id, cJSON **out)
{
    return cv_record_get(t, CV_DB_CUSTOMERS, id, strlen(id), out);
}


cv_status
cv_customer_open_conversation(cv_txn *t, const char *customer_id,
    char conv_id[CV_ID_MAX])
{
    cJSON       *cus, *conv;
    const char  *id, *status;
    cv_status    st;

    st = cv_customer_get(t, customer_id, &cus);
    if (st != CV_OK) {
        return st;
    }

    id = cv_string(cus, "conversation_id");
    if (id == NULL || strlen(id) >= CV_ID_MAX) {
        cJSON_Delete(cus);
        return CV_NOT_FOUND;
    }

    st = cv_conversation_get(t, id, &conv);
    if (st == CV_OK) {
        status = cv_string(conv, "status");
        st = (status && strcmp(status, "open") == 0) ? CV_OK : CV_NOT_FOUND;
        cJSON_Delete(conv);
    }

    if (st == CV_OK) {
        strcpy(conv_id, id);
    }

    cJSON_Delete(cus);
    return st;
}


static cv_status
cv_conversation_open(cv_txn *t, cJSON *customer, const char *page_url,
    int64_t now, cJSON **out)
{
    char        id[CV_ID_MAX];
    const char *cus_id;
    cJSON      *conv;
    cv_status   st;

    if (cv_random_id(id, sizeof(id), "conv_", 16) != 0) {
        return CV_ERROR;
    }

    cus_id = cv_string(customer, "customer_id");

    conv = cJSON_CreateObject();
    cJSON_AddStringToObject(conv, "id", id);
    cJSON_AddStringToObject(conv, "customer_id", cus_id);
    cJSON_AddStringToObject(conv, "status", "open");
    cJSON_AddNullToObject(conv, "assigned_agent_id");
    cv_add_time(conv, "created_at", now);
    cv_add_time(conv, "updated_at", now);
    cJSON_AddNumberToObject(conv, "last_seq", 0);
    cv_set_string_or_null(conv, "page_url", page_url);

    st = cv_conv_store(t, conv, CV_EV_CONVERSATION_CREATED, 0, now);

    if (st == CV_OK) {
        cv_set(customer, "conversation_id", cJSON_CreateString(id));
        if (page_url) {
            cv_set(customer, "page_url", cJSON_CreateString(page_url));
        }
        st = cv_record_put(t, CV_DB_CUSTOMERS, cus_id, strlen(cus_id),
                         customer);
    }

    if (st != CV_OK) {
        cJSON_Delete(conv);
        return st;
    }

    *out = conv;
    return CV_OK;
}


/* a customer's retries are theirs (their first message has no conversation
 * yet); an agent's or the system's are per conversation */
static size_t
cv_idem_key(char *key, size_t size, const cv_author *author,
    const char *conv_id, const char *client_msg_id)
{
    int  n;

    n = snprintf(key, size, "%s:%s:%s%c%s", author->type,
                 author->id ? author->id : "",
                 strcmp(author->type, "customer") == 0 || conv_id == NULL
                 ? "" : conv_id, '\0', client_msg_id);

    return (n > 0 && (size_t) n < size) ? (size_t) n : 0;
}


static cv_status
cv_event_get(cv_txn *t, const char *conv_id, uint64_t seq, cJSON **out)
{
    unsigned char  key[CV_ID_MAX + 9];
    size_t         klen;

    klen = cv_conv_key(key, conv_id, seq);
    return cv_record_get(t, CV_DB_CONV_EVENTS, key, klen, out);
}


/* the first message again, for a retried client_msg_id */

static cv_status
cv_message_replay(cv_txn *t, MDB_val *v, cJSON **message)
{
    char      conv_id[CV_ID_MAX];
    cJSON    *ev, *msg;
    size_t    n;
    cv_status st;

    n = strnlen(v->mv_data, v->mv_size);
    if (n >= CV_ID_MAX || v->mv_size != n + 9) {
        return CV_ERROR;
    }

    memcpy(conv_id, v->mv_data, n);
    conv_id[n] = '\0';

    st = cv_event_get(t, conv_id,
                      cv_get_u64be((unsigned char *) v->mv_data + n + 1),
                      &ev);
    if (st != CV_OK) {
        return st;
    }

    msg = cJSON_DetachItemFromObjectCaseSensitive(ev, "message");
    cJSON_Delete(ev);

    if (msg == NULL) {
        return CV_ERROR;
    }

    *message = msg;
    return CV_OK;
}


/* a retried client_msg_id: the first message again (*message set) */

static cv_status
cv_message_retried(cv_txn *t, const cv_author *author, const char *conv_id,
    const char *client_msg_id, char *idem, size_t size, size_t *idem_len,
    cJSON **message)
{
    MDB_val  k, v;
    int      rc;

    *idem_len = 0;

    if (client_msg_id == NULL || client_msg_id[0] == '\0') {
        return CV_OK;
    }

    *idem_len = cv_idem_key(idem, size, author, conv_id, client_msg_id);
    if (*idem_len == 0) {
        return CV_INVALID;
    }

    k.mv_data = idem;
    k.mv_size = *idem_len;

    rc = mdb_get(t->txn, t->store->dbi[CV_DB_IDEMPOTENCY], &k, &v);
    if (rc == 0) {
        return cv_message_replay(t, &v, message);
    }

    return rc == MDB_NOTFOUND ? CV_OK : cv_status_from_mdb(rc);
}


/* appends a new message to conv (updated in place) */

static cv_status
cv_message_append(cv_txn *t, cJSON *conv, const cv_author *author,
    const char *client_msg_id, const char *idem, size_t idem_len,
    const char *text, int64_t now, cJSON **message)
{
    char            msg_id[CV_ID_MAX];
    unsigned char   ref[CV_ID_MAX + 9];
    size_t          ref_len;
    uint64_t        seq;
    cJSON          *event, *msg, *a;
    cv_status       st;

    if (cv_random_id(msg_id, sizeof(msg_id), "msg_", 16) != 0) {
        return CV_ERROR;
    }

    msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "id", msg_id);
    cJSON_AddStringToObject(msg, "conversation_id", cv_string(conv, "id"));
    cJSON_AddNumberToObject(msg, "seq", 0);
    a = cJSON_AddObjectToObject(msg, "author");
    cJSON_AddStringToObject(a, "type", author->type);
    cv_set_string_or_null(a, "id", author->id);
    cv_set_string_or_null(a, "name", author->name);
    cJSON_AddStringToObject(msg, "text", text);
    cv_add_time(msg, "created_at", now);
    if (client_msg_id && client_msg_id[0]) {
        cJSON_AddStringToObject(msg, "client_msg_id", client_msg_id);
    }

    event = cJSON_CreateObject();
    cJSON_AddNumberToObject(event, "seq", 0);
    cJSON_AddStringToObject(event, "type", "message");
    cJSON_AddItemToObject(event, "message", msg);

    st = cv_conv_append(t, conv, event, CV_EV_MESSAGE_CREATED, now, &seq);

    if (st == CV_OK && idem_len) {
        ref_len = cv_conv_key(ref, cv_string(conv, "id"), seq);
        st = cv_record_put_raw(t, CV_DB_IDEMPOTENCY, idem, idem_len, ref,
                               ref_len);
    }

    if (st != CV_OK) {
        cJSON_Delete(event);
        return st;
    }

    *message = cJSON_DetachItemFromObjectCaseSensitive(event, "message");
    cJSON_Delete(event);

    return CV_OK;
}


#define CV_IDEM_KEY_MAX  (2 * CV_ID_MAX + 128 + CV_CLIENT_MSG_ID_MAX + 16)


cv_status
cv_message_post(cv_txn *t, const char *conv_id, const char *customer_id,
    const cv_author *author, const char *client_msg_id, const char *text,
    const char *page_url, cJSON **message, int *duplicate)
{
    char        idem[CV_IDEM_KEY_MAX];
    size_t      idem_len;
    int64_t     now;
    cJSON      *conv, *customer;
    cv_status   st;

    *duplicate = 0;
    *message = NULL;
    now = cv_now_ms();

    st = cv_message_retried(t, author, conv_id, client_msg_id, idem,
                            sizeof(idem), &idem_len, message);
    if (st != CV_OK || *message) {
        *duplicate = (*message != NULL);
        return st;
    }

    conv = NULL;
    customer = NULL;

    if (conv_id == NULL) {
        /* a customer's message: their open conversation, or a new one */
        char  open_id[CV_ID_MAX];

        st = cv_customer_open_conversation(t, customer_id, open_id);

        if (st == CV_OK) {
            st = cv_conversation_get(t, open_id, &conv);

        } else if (st == CV_NOT_FOUND) {
            st = cv_customer_get(t, customer_id, &customer);
            if (st == CV_OK) {
                st = cv_conversation_open(t, customer, page_url, now, &conv);
            }
        }

    } else {
        st = cv_conversation_get(t, conv_id, &conv);

        if (st == CV_OK && strcmp(cv_string(conv, "status"), "open") != 0) {
            st = CV_CONFLICT;
        }
    }

    cJSON_Delete(customer);

    if (st == CV_OK) {
        st = cv_message_append(t, conv, author, client_msg_id, idem,
                               idem_len, text, now, message);
    }

    cJSON_Delete(conv);
    return st;
}


cv_status
cv_message_post_to(cv_txn *t, cJSON *conv, const cv_author *author,
    const char *client_msg_id, const char *text, cJSON **message,
    int *duplicate)
{
    char        idem[CV_IDEM_KEY_MAX];
    size_t      idem_len;
    cv_status   st;

    *duplicate = 0;
    *message = NULL;

    st = cv_message_retried(t, author, cv_string(conv, "id"), client_msg_id,
                            idem, sizeof(idem), &idem_len, message);
    if (st != CV_OK || *message) {
        *duplicate = (*message != NULL);
        return st;
    }

    if (strcmp(cv_string(conv, "status"), "open") != 0) {
        return CV_CONFLICT;
    }

    return cv_message_append(t, conv, author, client_msg_id, idem, idem_len,
                             text, cv_now_ms(), message);
}


cv_status
cv_conversation_get(cv_txn *t, const char *id, cJSON **out)
{
    return cv_record_get(t, CV_DB_CONVERSATIONS, id, strlen(id), out);
}


cv_status
cv_conversation_last_seq(cv_txn *t, const char *conv_id, uint64_t *seq)
{
    cJSON     *conv;
    cv_status  st;

    st = cv_conversation_get(t, conv_id, &conv);
    if (st == CV_OK) {
        *seq = cv_u64(conv, "last_seq");
        cJSON_Delete(conv);
    }

    return st;
}


cv_status
cv_conversation_events(cv_txn *t, const char *conv_id, uint64_t after,
    size_t limit, cJSON *events, uint64_t *cursor)
{
    unsigned char   key[CV_ID_MAX + 9];
    size_t          klen, idlen, n;
    MDB_cursor     *c;
    MDB_val         k, v;
    cJSON          *ev;
    int             rc;

    *cursor = after;

    if (after == UINT64_MAX) {
        return CV_OK;
    }

    idlen = strlen(conv_id);
    klen = cv_conv_key(key, conv_id, after + 1);

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_CONV_EVENTS], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    k.mv_data = key;
    k.mv_size = klen;

    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);

    for (n = 0; rc == 0 && n < limit; n++) {
        if (k.mv_size != idlen + 9
            || memcmp(k.mv_data, conv_id, idlen) != 0
            || ((unsigned char *) k.mv_data)[idlen] != '\0')
        {
            break;
        }

        ev = cJSON_ParseWithLength(v.mv_data, v.mv_size);
        if (ev == NULL) {
            mdb_cursor_close(c);
            return CV_ERROR;
        }

        cJSON_AddItemToArray(events, ev);
        *cursor = cv_get_u64be((unsigned char *) k.mv_data + idlen + 1);

        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }

    mdb_cursor_close(c);

    return (rc == 0 || rc == MDB_NOTFOUND) ? CV_OK : cv_status_from_mdb(rc);
}


cv_status
cv_conversation_events_json(cv_txn *t, const char *conv_id, uint64_t after,
    size_t limit, char **json, size_t *len, size_t *count, uint64_t *cursor)
{
    unsigned char   key[CV_ID_MAX + 9];
    size_t          klen, idlen, used, cap;
    MDB_cursor     *c;
    MDB_val         k, v;
    char           *buf, *grown;
    int             rc;

    *cursor = after;
    *count = 0;

    cap = 4096;
    buf = malloc(cap);
    if (buf == NULL) {
        return CV_ERROR;
    }

    buf[0] = '[';
    used = 1;
    rc = MDB_NOTFOUND;

    if (after != UINT64_MAX) {
        idlen = strlen(conv_id);
        klen = cv_conv_key(key, conv_id, after + 1);

        rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_CONV_EVENTS], &c);
        if (rc != 0) {
            free(buf);
            return cv_status_from_mdb(rc);
        }

        k.mv_data = key;
        k.mv_size = klen;

        for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
             rc == 0 && *count < limit;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
        {
            if (k.mv_size != idlen + 9
                || memcmp(k.mv_data, conv_id, idlen) != 0
                || ((unsigned char *) k.mv_data)[idlen] != '\0')
            {
                break;
            }

            if (used + v.mv_size + 2 > cap) {
                cap = (used + v.mv_size + 2) * 2;
                grown = realloc(buf, cap);
                if (grown == NULL) {
                    mdb_cursor_close(c);
                    free(buf);
                    return CV_ERROR;
                }
                buf = grown;
            }

            if (*count) {
                buf[used++] = ',';
            }

            memcpy(buf + used, v.mv_data, v.mv_size);
            used += v.mv_size;
            (*count)++;
            *cursor = cv_get_u64be((unsigned char *) k.mv_data + idlen + 1);
        }

        mdb_cursor_close(c);
    }

    if (rc != 0 && rc != MDB_NOTFOUND) {
        free(buf);
        return cv_status_from_mdb(rc);
    }

    buf[used++] = ']';
    buf[used] = '\0';

    *json = buf;
    *len = used;

    return CV_OK;
}


cv_status
cv_conversation_assign(cv_txn *t, const char *conv_id,
    const cv_author *agent, int *changed)
{
    const char  *current;
    cJSON       *conv, *event, *who;
    cv_status    st;
    int64_t      now;

    *changed = 0;

    st = cv_conversation_get(t, conv_id, &conv);
    if (st != CV_OK) {
        return st;
    }

    if (strcmp(cv_string(conv, "status"), "open") != 0) {
        cJSON_Delete(conv);
        return CV_CONFLICT;
    }

    current = cv_string(conv, "assigned_agent_id");

    if ((agent == NULL && current == NULL)
        || (agent && current && strcmp(agent->id, current) == 0))
    {
        cJSON_Delete(conv);
        return CV_OK;
    }

    now = cv_now_ms();
    event = cJSON_CreateObject();

    if (current) {
        /* the previous agent leaves first, in its own event */
        cJSON_AddStringToObject(event, "type", "agent_left");
        who = cJSON_AddObjectToObject(event, "agent");
        cJSON_AddStringToObject(who, "id", current);
        cv_set(conv, "assigned_agent_id", cJSON_CreateNull());

        st = cv_conv_append(t, conv, event,
                            agent ? NULL : CV_EV_CONVERSATION_UNASSIGNED,
                            now, NULL);
        cJSON_Delete(event);
        event = NULL;

        if (st != CV_OK || agent == NULL) {
            cJSON_Delete(conv);
            *changed = (st == CV_OK);
            return st;
        }

        event = cJSON_CreateObject();
    }

    cJSON_AddStringToObject(event, "type", "agent_joined");
    who = cJSON_AddObjectToObject(event, "agent");
    cJSON_AddStringToObject(who, "id", agent->id);
    cv_set_string_or_null(who, "name", agent->name);
    cv_set(conv, "assigned_agent_id", cJSON_CreateString(agent->id));

    st = cv_conv_append(t, conv, event, CV_EV_CONVERSATION_ASSIGNED, now,
                        NULL);

    cJSON_Delete(event);
    cJSON_Delete(conv);

    *changed = (st == CV_OK);
    return st;
}


cv_status
cv_conversation_close(cv_txn *t, const char *conv_id, const cv_author *by,
    int *changed)
{
    cJSON      *conv, *event, *who;
    cv_status   st;

    *changed = 0;

    st = cv_conversation_get(t, conv_id, &conv);
    if (st != CV_OK) {
        return st;
    }

    if (strcmp(cv_string(conv, "status"), "closed") == 0) {
        cJSON_Delete(conv);
        return CV_OK;
    }

    cv_set(conv, "status", cJSON_CreateString("closed"));

    event = cJSON_CreateObject();
    cJSON_AddStringToObject(event, "type", "closed");
    who = cJSON_AddObjectToObject(event, "by");
    cJSON_AddStringToObject(who, "type", by->type);
    cv_set_string_or_null(who, "id", by->id);
    cv_set_string_or_null(who, "name", by->name);

    st = cv_conv_append(t, conv, event, CV_EV_CONVERSATION_CLOSED,
                        cv_now_ms(), NULL);

    cJSON_Delete(event);
    cJSON_Delete(conv);

    *changed = (st == CV_OK);
    return st;
}


static int
cv_by_updated_desc(const void *a, const void *b)
{
    const cJSON  *x = *(const cJSON * const *) a;
    const cJSON  *y = *(const cJSON * const *) b;

    /* RFC 3339 UTC with fixed width sorts as text */
    return strcmp(cv_string(y, "updated_at"), cv_string(x, "updated_at"));
}


cv_status
cv_conversation_list(cv_txn *t, const char *status,
    const char *assigned_agent_id, size_t limit, cJSON *items)
{
    MDB_cursor   *c;
    MDB_val       k, v;
    cJSON        *conv, **all, **grown;
    const char   *s, *a;
    size_t        n, cap, i;
    int           rc;

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_CONVERSATIONS], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    all = NULL;
    n = 0;
    cap = 0;

    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
         rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
    {
        conv = cJSON_ParseWithLength(v.mv_data, v.mv_size);
        if (conv == NULL) {
            continue;
        }

        s = cv_string(conv, "status");
        a = cv_string(conv, "assigned_agent_id");

        if ((status && (s == NULL || strcmp(s, status) != 0))
            || (assigned_agent_id && assigned_agent_id[0] == '\0' && a)
            || (assigned_agent_id && assigned_agent_id[0]
                && (a == NULL || strcmp(a, assigned_agent_id) != 0)))
        {
            cJSON_Delete(conv);
            continue;
        }

        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            grown = realloc(all, cap * sizeof(cJSON *));
            if (grown == NULL) {
                cJSON_Delete(conv);
                break;
            }
            all = grown;
        }

        all[n++] = conv;
    }

    mdb_cursor_close(c);

    if (n > 1) {
        qsort(all, n, sizeof(cJSON *), cv_by_updated_desc);
    }

    for (i = 0; i < n; i++) {
        if (i < limit) {
            cJSON_AddItemToArray(items, all[i]);

        } else {
            cJSON_Delete(all[i]);
        }
    }

    free(all);

    return (rc == 0 || rc == MDB_NOTFOUND) ? CV_OK : cv_status_from_mdb(rc);
}


cv_status
cv_log_read(cv_txn *t, uint64_t after, size_t limit, cJSON *items,
    uint64_t *cursor)
{
    unsigned char   key[8];
    MDB_cursor     *c;
    MDB_val         k, v;
    cJSON          *ev;
    size_t          n;
    int             rc;

    *cursor = after;

    if (after == UINT64_MAX) {
        return CV_OK;
    }

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_LOG], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    cv_put_u64be(key, after + 1);
    k.mv_data = key;
    k.mv_size = 8;

    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);

    for (n = 0; rc == 0 && n < limit; n++) {
        ev = cJSON_ParseWithLength(v.mv_data, v.mv_size);
        if (ev == NULL || k.mv_size != 8) {
            cJSON_Delete(ev);
            mdb_cursor_close(c);
            return CV_ERROR;
        }

        cJSON_AddItemToArray(items, ev);
        *cursor = cv_get_u64be(k.mv_data);

        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }

    mdb_cursor_close(c);

    return (rc == 0 || rc == MDB_NOTFOUND) ? CV_OK : cv_status_from_mdb(rc);
}


cv_status
cv_log_last_seq(cv_txn *t, uint64_t *seq)
{
    MDB_cursor  *c;
    MDB_val      k, v;
    int          rc;

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_LOG], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);

    if (rc == MDB_NOTFOUND) {
        *seq = 0;
        return CV_OK;
    }

    if (rc != 0 || k.mv_size != 8) {
        return rc ? cv_status_from_mdb(rc) : CV_ERROR;
    }

    *seq = cv_get_u64be(k.mv_data);
    return CV_OK;
}


const char *
cv_text_invalid(const char *text, size_t len)
{
    size_t  i, chars, blank;

    if (cv_utf8_check(text, len, &chars) != 0) {
        return "text is not valid UTF-8";
    }

    blank = 0;

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) text[i];

        if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7f) {
            return "text contains a control character";
        }

        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            blank++;
        }
    }

    if (chars == blank) {
        return "text is empty";
    }

    if (chars > CV_TEXT_MAX) {
        return "text is longer than 4096 characters";
    }

    return NULL;
}


cv_status
cv_agent_release(cv_txn *t, const char *agent_id)
{
    cJSON      *items, *conv;
    cv_status   st;
    int         changed;

    items = cJSON_CreateArray();
    st = cv_conversation_list(t, "open", agent_id, (size_t) -1, items);

    cJSON_ArrayForEach(conv, items) {
        if (st != CV_OK) {
            break;
        }

        st = cv_conversation_assign(t, cJSON_GetStringValue(
                                           cJSON_GetObjectItem(conv, "id")),
                                    NULL, &changed);
    }

    cJSON_Delete(items);
    return st;
}


cv_status
cv_conversations_since(cv_txn *t, uint64_t after, size_t limit,
    const char *status, cJSON *items, uint64_t *next)
{
    unsigned char   key[8];
    MDB_cursor     *c;
    MDB_val         k, v;
    cJSON          *ev, *snap, *order, *item;
    const char     *id, *s;
    size_t          scanned, n;
    uint64_t        seq;
    int             rc;

    *next = after;

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_LOG], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    /* each conversation's state at its latest change in this page, in the
     * order of those changes */
    order = cJSON_CreateArray();
    n = 0;

    cv_put_u64be(key, after + 1);
    k.mv_data = key;
    k.mv_size = 8;

    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE), scanned = 0;
         rc == 0 && scanned < 10000;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), scanned++)
    {
        if (k.mv_size != 8) {
            rc = MDB_CORRUPTED;
            break;
        }

        seq = cv_get_u64be(k.mv_data);

        ev = cJSON_ParseWithLength(v.mv_data, v.mv_size);
        snap = cJSON_DetachItemFromObjectCaseSensitive(ev, "conversation");
        id = cJSON_GetStringValue(cJSON_GetObjectItem(snap, "id"));

        if (id == NULL) {
            cJSON_Delete(snap);
            cJSON_Delete(ev);
            *next = seq;
            continue;
        }

        /* one walk of the list: at most limit entries */
        cJSON_ArrayForEach(item, order) {
            if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(item, "id")),
                       id) == 0)
            {
                break;
            }
        }

        if (item) {
            cJSON_Delete(cJSON_DetachItemViaPointer(order, item));

        } else if (n == limit) {
            /* a new conversation would exceed the page: stop before it */
            cJSON_Delete(snap);
            cJSON_Delete(ev);
            break;

        } else {
            n++;
        }

        cJSON_AddItemToArray(order, snap);
        cJSON_Delete(ev);
        *next = seq;
    }

    mdb_cursor_close(c);

    if (rc != 0 && rc != MDB_NOTFOUND) {
        cJSON_Delete(order);
        return cv_status_from_mdb(rc);
    }

    while (order->child) {
        item = cJSON_DetachItemViaPointer(order, order->child);
        s = cJSON_GetStringValue(cJSON_GetObjectItem(item, "status"));

        if (status && (s == NULL || strcmp(s, status) != 0)) {
            cJSON_Delete(item);
            continue;
        }

        cJSON_AddItemToArray(items, item);
    }

    cJSON_Delete(order);
    return CV_OK;
}


cv_status
cv_conversation_messages(cv_txn *t, const char *conv_id, uint64_t after,
    size_t limit, cJSON *items, int *more)
{
    cJSON      *events, *ev, *msg;
    uint64_t    cursor;
    cv_status   st;

    *more = 0;

    for ( ;; ) {
        events = cJSON_CreateArray();
        st = cv_conversation_events(t, conv_id, after, 200, events, &cursor);

        if (st != CV_OK || cJSON_GetArraySize(events) == 0) {
            cJSON_Delete(events);
            return st;
        }

        cJSON_ArrayForEach(ev, events) {
            msg = cJSON_GetObjectItem(ev, "message");
            if (msg == NULL) {
                continue;
            }

            if ((size_t) cJSON_GetArraySize(items) == limit) {
                *more = 1;
                cJSON_Delete(events);
                return CV_OK;
            }

            cJSON_AddItemToArray(items, cJSON_Duplicate(msg, 1));
        }

        cJSON_Delete(events);
        after = cursor;
    }
}
