/*
 * The chat model: customers, conversations, messages, event streams. A
 * conversation is its record (cv_conv_record.h) and its events in the
 * global log (cv_log_impl.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_chat.h"
#include "cv_agents.h"
#include "cv_conv_record.h"
#include "cv_index.h"
#include "cv_log_impl.h"
#include "cv_retention.h"
#include "cv_json_scan.h"
#include "cv_json_text.h"
#include "cv_time.h"
#include "cv_utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CV_CUSTOMER_PREFIX      "cus_"
#define CV_CONVERSATION_PREFIX  "conv_"
#define CV_MESSAGE_PREFIX       "msg_"

/* room for the text around what a log entry or an event carries, so that
 * the builder seldom grows (cv_json_text.h) */
#define CV_LOG_TEXT_ROOM      256
#define CV_EVENT_TEXT_ROOM    32
#define CV_MESSAGE_TEXT_ROOM  320
#define CV_EVENTS_TEXT_HINT   1024

/* the first allocation of a list that grows by doubling */
#define CV_LIST_FIRST         64

/* an idempotency key: the author's type, their id (an agent's is the
 * longest), the conversation id and the client_msg_id, with separators
 * and room to spare */
#define CV_AUTHOR_TYPE_MAX    16
#define CV_IDEM_KEY_MAX       (CV_AUTHOR_TYPE_MAX + CV_AGENT_ID_MAX          \
                               + 2 * CV_ID_MAX + CV_CLIENT_MSG_ID_MAX)

/* "{}": an object to which fields are added without a comma */
#define CV_EMPTY_OBJECT_LEN   (sizeof("{}") - 1)


static void
cv_set_string_or_null(cJSON *obj, const char *name, const char *value)
{
    cv_json_set(obj, name,
                value ? cJSON_CreateString(value) : cJSON_CreateNull());
}


/* the record as the API shows it: its JSON with updated_at and last_seq */
static cJSON *
cv_conv_rec_view(const cv_conv_rec *rec)
{
    char    stamp[CV_TIME_STR];
    cJSON  *conv;

    conv = cJSON_ParseWithLength(rec->json, rec->json_len);
    if (conv == NULL) {
        return NULL;
    }

    cv_format_time(rec->updated_ms, stamp);
    cJSON_AddStringToObject(conv, "updated_at", stamp);
    cJSON_AddNumberToObject(conv, "last_seq", (double) rec->last_seq);

    return conv;
}


/* the same as text, into b, not closed: the stored JSON with the two
 * fields added */
static void
cv_conv_rec_view_open(cv_json_text *b, const cv_conv_rec *rec)
{
    cv_jt_raw(b, rec->json, rec->json_len - 1);
    cv_jt_lit(b, rec->json_len > CV_EMPTY_OBJECT_LEN ? ",\"updated_at\":"
                                                     : "\"updated_at\":");
    cv_jt_time(b, rec->updated_ms);
    cv_jt_lit(b, ",\"last_seq\":");
    cv_jt_u64(b, rec->last_seq);
}


static void
cv_conv_rec_view_text(cv_json_text *b, const cv_conv_rec *rec)
{
    cv_conv_rec_view_open(b, rec);
    cv_jt_raw(b, "}", 1);
}


/*
 * A change of the conversation: event (its text, with seq last_seq + 1)
 * when it has one, and one log entry of type log_type. An entry carries
 * the conversation's state when the change is to the state (with_state:
 * created, assigned, closed); a message's entry refers to the last one
 * that does (the state is that one's with this entry's seq and time). rec
 * is updated and stored.
 */
static cv_status
cv_conv_change(cv_txn *t, const char *conv_id, cv_conv_rec *rec,
    const char *log_type, const char *event, size_t event_len,
    int with_state, int64_t now, uint64_t *log_seq)
{
    size_t         event_off, conv_off, conv_len;
    uint64_t       g, prev, seq;
    cv_status      st;
    cv_json_text   b;
    cv_log_entry   e;

    st = cv_log_next_seq(t, &g);
    if (st != CV_OK) {
        return st;
    }

    prev = rec->head;
    seq = 0;

    if (event) {
        seq = rec->last_seq + 1;
        rec->last_seq = seq;
        rec->head = g;
    }

    if (rec->key == 0) {
        rec->key = g;           /* its creation */
    }

    if (with_state) {
        rec->state_seq = g;
    }

    rec->updated_ms = now;

    /* ids and types are our own ASCII tokens */
    cv_jt_init(&b, CV_LOG_TEXT_ROOM + event_len + rec->json_len);
    cv_jt_lit(&b, CV_LOG_SEQ_PREFIX);
    cv_jt_u64(&b, g);
    cv_jt_lit(&b, CV_LOG_TYPE_FIELD);
    cv_jt_lit(&b, log_type);
    cv_jt_lit(&b, CV_LOG_CONV_FIELD);
    cv_jt_lit(&b, conv_id);
    cv_jt_lit(&b, "\",\"customer_id\":\"");
    cv_jt_lit(&b, rec->customer_id);
    cv_jt_lit(&b, "\",\"conversation_seq\":");
    cv_jt_u64(&b, rec->last_seq);
    cv_jt_lit(&b, ",\"created_at\":");
    cv_jt_time(&b, now);

    event_off = 0;
    if (event) {
        cv_jt_lit(&b, ",\"event\":");
        event_off = b.len;
        cv_jt_raw(&b, event, event_len);
    }

    conv_off = 0;
    conv_len = 0;
    if (with_state) {
        cv_jt_lit(&b, ",\"conversation\":");
        conv_off = b.len;
        cv_conv_rec_view_text(&b, rec);
        conv_len = b.len - conv_off;
    }

    cv_jt_raw(&b, "}", 1);

    if (b.failed) {
        cv_jt_free(&b);
        return CV_ERROR;
    }

    e.seq = g;
    e.prev = event ? prev : 0;
    e.conv_seq = seq;
    e.state = rec->state_seq;
    e.conv_key = rec->key;
    e.created_ms = now;
    e.text = b.data;
    e.len = b.len;
    e.event = event ? b.data + event_off : NULL;
    e.event_len = event ? event_len : 0;
    e.conv = with_state ? b.data + conv_off : NULL;
    e.conv_len = conv_len;

    st = cv_log_append_entry(t, &e);
    cv_jt_free(&b);

    if (st == CV_OK && event && seq % CV_IX_EVENTS_EVERY == 0) {
        st = cv_index_event_put(t, rec->key, seq, g);
    }

    if (st == CV_OK) {
        st = cv_conv_rec_put(t, conv_id, rec);
    }

    if (st == CV_OK && log_seq) {
        *log_seq = g;
    }

    return st;
}


/* an event other than a message: its fields from obj, seq first */
static cv_status
cv_conv_event(cv_txn *t, const char *conv_id, cv_conv_rec *rec,
    const char *log_type, cJSON *obj, int64_t now)
{
    char          *fields;
    size_t         n;
    cv_status      st;
    cv_json_text   b;

    fields = cJSON_PrintUnformatted(obj);
    if (fields == NULL) {
        return CV_ERROR;
    }

    n = strlen(fields);

    cv_jt_init(&b, n + CV_EVENT_TEXT_ROOM);
    cv_jt_lit(&b, "{\"seq\":");
    cv_jt_u64(&b, rec->last_seq + 1);
    if (n > CV_EMPTY_OBJECT_LEN) {
        cv_jt_raw(&b, ",", 1);
    }
    cv_jt_raw(&b, fields + 1, n - 1);
    cJSON_free(fields);

    if (b.failed) {
        cv_jt_free(&b);
        return CV_ERROR;
    }

    st = cv_conv_change(t, conv_id, rec, log_type, b.data, b.len, 1, now,
                        NULL);
    cv_jt_free(&b);

    return st;
}


/* ------------------------------------------------------------ customers */

cv_status
cv_customer_create(cv_txn *t, char id[CV_ID_MAX])
{
    char        stamp[CV_TIME_STR];
    cJSON      *c;
    cv_status   st;

    if (cv_random_id(id, CV_ID_MAX, CV_CUSTOMER_PREFIX, CV_ID_RANDOM)
        != CV_OK)
    {
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
    cv_format_time(cv_now_ms(), stamp);
    cJSON_AddStringToObject(c, "created_at", stamp);

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
cv_customer_conversation(cv_txn *t, const char *customer_id,
    char conv_id[CV_ID_MAX])
{
    size_t       off, vlen;
    cJSON       *cus;
    MDB_val      v;
    const char  *id;
    cv_status    st;

    /* the member found in the record's text: a visitor's every message
     * and poll asks, and parsing the whole record was a tenth of a
     * message's instructions; anything but a plain string (no escapes,
     * short enough) takes the parse below, which decides as before */
    st = cv_raw_get(t, CV_DB_CUSTOMERS, customer_id, strlen(customer_id),
                    &v);
    if (st != CV_OK) {
        return st;
    }

    if (cv_json_member(v.mv_data, v.mv_size, "conversation_id", &off, &vlen)
        == 0)
    {
        id = (const char *) v.mv_data + off;

        if (vlen >= 2 && vlen - 2 < CV_ID_MAX
            && id[0] == '"' && id[vlen - 1] == '"'
            && memchr(id, '\\', vlen) == NULL)
        {
            memcpy(conv_id, id + 1, vlen - 2);
            conv_id[vlen - 2] = '\0';
            return CV_OK;
        }
    }

    st = cv_customer_get(t, customer_id, &cus);
    if (st != CV_OK) {
        return st;
    }

    id = cv_json_string(cus, "conversation_id");

    if (id == NULL || strlen(id) >= CV_ID_MAX) {
        st = CV_NOT_FOUND;

    } else {
        strcpy(conv_id, id);
    }

    cJSON_Delete(cus);
    return st;
}


cv_status
cv_customer_open_conversation(cv_txn *t, const char *customer_id,
    char conv_id[CV_ID_MAX])
{
    cv_status      st;
    cv_conv_state  cs;

    st = cv_customer_conversation(t, customer_id, conv_id);

    if (st == CV_OK) {
        st = cv_conversation_state(t, conv_id, &cs);
    }

    if (st == CV_OK && !cs.open) {
        st = CV_NOT_FOUND;
    }

    if (st != CV_OK) {
        conv_id[0] = '\0';
    }

    return st;
}


static cv_status
cv_conversation_open(cv_txn *t, cJSON *customer, const char *page_url,
    int64_t now, char conv_id[CV_ID_MAX], cv_conv_rec *rec)
{
    char        stamp[CV_TIME_STR];
    const char *cus_id;
    cJSON      *conv;
    cv_status   st;

    if (cv_random_id(conv_id, CV_ID_MAX, CV_CONVERSATION_PREFIX,
                     CV_ID_RANDOM)
        != CV_OK)
    {
        return CV_ERROR;
    }

    cus_id = cv_json_string(customer, "customer_id");
    if (cus_id == NULL || strlen(cus_id) >= CV_ID_MAX) {
        return CV_ERROR;
    }

    cv_format_time(now, stamp);

    conv = cJSON_CreateObject();
    cJSON_AddStringToObject(conv, "id", conv_id);
    cJSON_AddStringToObject(conv, "customer_id", cus_id);
    cJSON_AddStringToObject(conv, "status", "open");
    cJSON_AddNullToObject(conv, "assigned_agent_id");
    cJSON_AddStringToObject(conv, "created_at", stamp);
    cv_set_string_or_null(conv, "page_url", page_url);

    memset(rec, 0, sizeof(*rec));
    strcpy(rec->customer_id, cus_id);

    st = cv_conv_rec_set_json(rec, conv);
    cJSON_Delete(conv);

    if (st == CV_OK) {
        st = cv_conv_change(t, conv_id, rec, CV_EV_CONVERSATION_CREATED,
                            NULL, 0, 1, now, NULL);
    }

    /* so that erasing the customer finds it (cv_retention.h) */
    if (st == CV_OK) {
        st = cv_retention_index(t, cus_id, conv_id);
    }

    if (st == CV_OK) {
        cv_json_set(customer, "conversation_id", cJSON_CreateString(conv_id));
        if (page_url) {
            cv_json_set(customer, "page_url", cJSON_CreateString(page_url));
        }
        st = cv_record_put(t, CV_DB_CUSTOMERS, cus_id, strlen(cus_id),
                           customer);
    }

    if (st != CV_OK) {
        cv_conv_rec_free(rec);
    }

    return st;
}


/* ------------------------------------------------------------- messages */

void
cv_message_clear(cv_message *m)
{
    free(m->json);
    memset(m, 0, sizeof(*m));
}


/* a customer's retries are theirs (their first message has no conversation
 * yet); an agent's or the system's are per conversation. CV_INVALID when
 * the key does not fit. */
cv_status
cv_idem_key(char *key, size_t size, size_t *len, const cv_author *author,
    const char *conv_id, const char *client_msg_id)
{
    int  n;

    n = snprintf(key, size, "%s:%s:%s%c%s", author->type,
                 author->id ? author->id : "",
                 strcmp(author->type, "customer") == 0 || conv_id == NULL
                 ? "" : conv_id, '\0', client_msg_id);

    if (n <= 0 || (size_t) n >= size) {
        return CV_INVALID;
    }

    *len = (size_t) n;
    return CV_OK;
}


/* the first message again, for a retried client_msg_id */
static cv_status
cv_message_replay(cv_txn *t, const MDB_val *v, cv_message *m)
{
    char          *text;
    cJSON         *entry, *msg;
    const char    *conv, *cus;
    cv_status      st;
    cv_log_entry   e;

    if (v->mv_size != CV_U64BE_LEN) {
        return CV_ERROR;
    }

    st = cv_log_get(t, cv_get_u64be(v->mv_data), &e);
    if (st != CV_OK) {
        return st == CV_NOT_FOUND ? CV_ERROR : st;
    }

    if (e.event == NULL) {
        return CV_ERROR;
    }

    entry = cJSON_ParseWithLength(e.text, e.len);
    conv = cv_json_string(entry, "conversation_id");
    cus = cv_json_string(entry, "customer_id");
    msg = cJSON_GetObjectItem(cJSON_GetObjectItem(entry, "event"), "message");

    if (conv == NULL || strlen(conv) >= CV_ID_MAX
        || cus == NULL || strlen(cus) >= CV_ID_MAX || msg == NULL)
    {
        cJSON_Delete(entry);
        return CV_ERROR;
    }

    strcpy(m->conversation_id, conv);
    strcpy(m->customer_id, cus);
    text = cJSON_PrintUnformatted(msg);
    cJSON_Delete(entry);

    /* a copy cv_message_clear() may free() */
    m->len = text ? strlen(text) : 0;
    m->json = text ? malloc(m->len + 1) : NULL;
    if (m->json) {
        memcpy(m->json, text, m->len + 1);
    }
    cJSON_free(text);

    if (m->json == NULL) {
        return CV_ERROR;
    }

    m->seq = e.conv_seq;
    m->duplicate = 1;

    return CV_OK;
}


/* a retried client_msg_id: the first message again (m->json set) */
static cv_status
cv_message_retried(cv_txn *t, const cv_author *author, const char *conv_id,
    const char *client_msg_id, char *idem, size_t size, size_t *idem_len,
    cv_message *m)
{
    MDB_val    v;
    cv_status  st;

    *idem_len = 0;

    if (client_msg_id == NULL || client_msg_id[0] == '\0') {
        return CV_OK;
    }

    st = cv_idem_key(idem, size, idem_len, author, conv_id, client_msg_id);
    if (st != CV_OK) {
        return st;
    }

    st = cv_raw_get(t, CV_DB_IDEMPOTENCY, idem, *idem_len, &v);
    if (st == CV_OK) {
        return cv_message_replay(t, &v, m);
    }

    return st == CV_NOT_FOUND ? CV_OK : st;
}


/* appends a new message to the conversation of rec */
static cv_status
cv_message_append(cv_txn *t, const char *conv_id, cv_conv_rec *rec,
    const cv_author *author, const char *client_msg_id, const char *idem,
    size_t idem_len, const char *text, int64_t now, cv_message *m)
{
    char            msg_id[CV_ID_MAX];
    unsigned char   ref[CV_U64BE_LEN];
    size_t          msg_off, event_len;
    uint64_t        seq, g;
    cv_status       st;
    cv_json_text    b;

    if (cv_random_id(msg_id, sizeof(msg_id), CV_MESSAGE_PREFIX, CV_ID_RANDOM)
        != CV_OK)
    {
        return CV_ERROR;
    }

    seq = rec->last_seq + 1;

    /* the event {"seq","type","message"}; the message is the answer too */
    cv_jt_init(&b, CV_MESSAGE_TEXT_ROOM + 2 * strlen(text));
    cv_jt_lit(&b, "{\"seq\":");
    cv_jt_u64(&b, seq);
    cv_jt_lit(&b, ",\"type\":\"message\",\"message\":");
    msg_off = b.len;
    cv_jt_lit(&b, "{\"id\":\"");
    cv_jt_lit(&b, msg_id);
    cv_jt_lit(&b, "\",\"conversation_id\":\"");
    cv_jt_lit(&b, conv_id);
    cv_jt_lit(&b, "\",\"seq\":");
    cv_jt_u64(&b, seq);
    cv_jt_lit(&b, ",\"author\":{\"type\":");
    cv_jt_str(&b, author->type);
    cv_jt_lit(&b, ",\"id\":");
    cv_jt_str(&b, author->id);
    cv_jt_lit(&b, ",\"name\":");
    cv_jt_str(&b, author->name);
    cv_jt_lit(&b, "},\"text\":");
    cv_jt_str(&b, text);
    cv_jt_lit(&b, ",\"created_at\":");
    cv_jt_time(&b, now);
    if (client_msg_id && client_msg_id[0]) {
        cv_jt_lit(&b, ",\"client_msg_id\":");
        cv_jt_str(&b, client_msg_id);
    }
    cv_jt_raw(&b, "}}", 2);

    if (b.failed) {
        cv_jt_free(&b);
        return CV_ERROR;
    }

    event_len = b.len;

    st = cv_conv_change(t, conv_id, rec, CV_EV_MESSAGE_CREATED, b.data,
                        event_len, 0, now, &g);

    if (st == CV_OK && idem_len) {
        cv_put_u64be(ref, g);
        st = cv_record_put_raw(t, CV_DB_IDEMPOTENCY, idem, idem_len, ref,
                               sizeof(ref));
    }

    if (st != CV_OK) {
        cv_jt_free(&b);
        return st;
    }

    /* the message, without the event around it */
    m->len = event_len - 1 - msg_off;
    memmove(b.data, b.data + msg_off, m->len);
    b.len = m->len;
    m->json = cv_jt_take(&b, NULL);
    m->seq = seq;
    strcpy(m->conversation_id, conv_id);
    strcpy(m->customer_id, rec->customer_id);

    return m->json ? CV_OK : CV_ERROR;
}


cv_status
cv_message_post(cv_txn *t, const char *conv_id, const char *customer_id,
    const cv_author *author, const char *client_msg_id, const char *text,
    const char *page_url, cv_message *m)
{
    char         idem[CV_IDEM_KEY_MAX], id[CV_ID_MAX];
    size_t       idem_len;
    int64_t      now;
    cJSON       *customer;
    cv_status    st;
    cv_conv_rec  rec;

    memset(m, 0, sizeof(*m));
    now = cv_now_ms();

    st = cv_message_retried(t, author, conv_id, client_msg_id, idem,
                            sizeof(idem), &idem_len, m);
    if (st != CV_OK || m->json) {
        if (st != CV_OK) {
            cv_message_clear(m);
        }
        return st;
    }

    rec.buf = NULL;

    if (conv_id == NULL) {
        /* a customer's message: their open conversation, or a new one */
        st = cv_customer_open_conversation(t, customer_id, id);

        if (st == CV_OK) {
            st = cv_conv_rec_get(t, id, &rec);

        } else if (st == CV_NOT_FOUND) {
            st = cv_customer_get(t, customer_id, &customer);
            if (st == CV_OK) {
                st = cv_conversation_open(t, customer, page_url, now, id,
                                          &rec);
                cJSON_Delete(customer);
            }
        }

    } else if (strlen(conv_id) >= CV_ID_MAX) {
        st = CV_NOT_FOUND;

    } else {
        strcpy(id, conv_id);
        st = cv_conv_rec_get(t, id, &rec);

        if (st == CV_OK && !(rec.flags & CV_CONV_OPEN)) {
            st = CV_CONFLICT;
        }
    }

    if (st == CV_OK) {
        st = cv_message_append(t, id, &rec, author, client_msg_id, idem,
                               idem_len, text, now, m);
    }

    cv_conv_rec_free(&rec);

    if (st != CV_OK) {
        cv_message_clear(m);
    }

    return st;
}


/* -------------------------------------------------------- conversations */

cv_status
cv_conversation_get(cv_txn *t, const char *id, cJSON **out)
{
    cv_status    st;
    cv_conv_rec  rec;

    st = cv_conv_rec_get(t, id, &rec);
    if (st != CV_OK) {
        return st;
    }

    *out = cv_conv_rec_view(&rec);
    cv_conv_rec_free(&rec);

    return *out ? CV_OK : CV_ERROR;
}


/* a conversation's record read in place: rec->json points into the map,
 * valid while t is open */
static cv_status
cv_conv_rec_peek(cv_txn *t, const char *id, cv_conv_rec *rec)
{
    MDB_val    v;
    cv_status  st;

    st = cv_raw_get(t, CV_DB_CONVERSATIONS, id, strlen(id), &v);
    if (st != CV_OK) {
        return st;
    }

    return cv_conv_rec_decode(v.mv_data, v.mv_size, rec);
}


cv_status
cv_conversation_console_text(cv_txn *t, const char *id, cv_json_text *b,
    uint64_t *last_seq)
{
    MDB_val      c;
    cv_status    st;
    cv_conv_rec  rec;

    st = cv_conv_rec_peek(t, id, &rec);
    if (st != CV_OK) {
        return st;
    }

    if (rec.json_len < CV_EMPTY_OBJECT_LEN) {
        return CV_ERROR;
    }

    cv_conv_rec_view_open(b, &rec);

    if (rec.customer_id[0]
        && cv_raw_get(t, CV_DB_CUSTOMERS, rec.customer_id,
                      strlen(rec.customer_id), &c)
           == CV_OK)
    {
        cv_jt_lit(b, ",\"customer\":");
        cv_jt_raw(b, c.mv_data, c.mv_size);
    }

    *last_seq = rec.last_seq;

    return CV_OK;
}


cv_status
cv_conversation_state(cv_txn *t, const char *id, cv_conv_state *out)
{
    cv_status    st;
    cv_conv_rec  rec;

    /* nothing of the record is kept */
    st = cv_conv_rec_peek(t, id, &rec);
    if (st != CV_OK) {
        return st;
    }

    out->last_seq = rec.last_seq;
    out->head = rec.head;
    out->updated_ms = rec.updated_ms;
    out->open = (rec.flags & CV_CONV_OPEN) != 0;
    out->assigned = (rec.flags & CV_CONV_ASSIGNED) != 0;
    memcpy(out->customer_id, rec.customer_id, sizeof(out->customer_id));
    out->key = rec.key;

    return CV_OK;
}


/* as cv_conversation_state; an unknown conversation has no events */
static cv_status
cv_conversation_state_or_none(cv_txn *t, const char *id, cv_conv_state *cs)
{
    cv_status  st;

    st = cv_conversation_state(t, id, cs);

    if (st == CV_NOT_FOUND) {
        memset(cs, 0, sizeof(*cs));
        st = CV_OK;
    }

    return st;
}


cv_status
cv_conversation_last_message(cv_txn *t, const char *conv_id, size_t window,
    cJSON **msg)
{
    cJSON          *ev;
    size_t          i;
    uint64_t        g;
    cv_status       st;
    cv_conv_state   cs;
    cv_log_entry    e;

    *msg = NULL;

    st = cv_conversation_state_or_none(t, conv_id, &cs);

    for (g = cs.head, i = 0; st == CV_OK && g != 0 && i < window; i++) {
        st = cv_log_get(t, g, &e);
        if (st != CV_OK || e.event == NULL || (e.prev && e.prev >= g)) {
            return CV_ERROR;
        }

        ev = cJSON_ParseWithLength(e.event, e.event_len);
        if (ev == NULL) {
            return CV_ERROR;
        }

        *msg = cJSON_DetachItemFromObjectCaseSensitive(ev, "message");
        cJSON_Delete(ev);

        if (*msg) {
            break;
        }

        g = e.prev;
    }

    return st;
}


cv_status
cv_conversation_last_seq(cv_txn *t, const char *conv_id, uint64_t *seq)
{
    cv_status      st;
    cv_conv_state  cs;

    st = cv_conversation_state(t, conv_id, &cs);
    if (st == CV_OK) {
        *seq = cs.last_seq;
    }

    return st;
}


/* what a walk does with each event: a failure ends the walk, and so does
 * CV_OK with *stop set */
typedef cv_status (*cv_event_pt)(void *data, const cv_log_entry *e,
    int *stop);


/* events a walk reads back at a time: the cost of a walk is what it
 * gives, plus fewer than CV_IX_EVENTS_EVERY more per this many */
#define CV_WALK_CHUNK  128


/* e: the event of seq s of the conversation cs, from the index's nearest
 * entry at or after s (or its last event), walking back along its chain */
static cv_status
cv_event_at(cv_txn *t, const cv_conv_state *cs, uint64_t s, cv_log_entry *e)
{
    uint64_t   at, g;
    cv_status  st;

    st = cv_index_event_find(t, cs->key, s, &at, &g);

    if (st == CV_NOT_FOUND || (st == CV_OK && at > cs->last_seq)) {
        at = cs->last_seq;
        g = cs->head;
        st = CV_OK;
    }

    while (st == CV_OK) {
        st = cv_log_get(t, g, e);

        /* the chain goes back one seq at a time */
        if (st != CV_OK || e->event == NULL || e->conv_seq != at
            || (at > 1 && (e->prev == 0 || e->prev >= g)))
        {
            return CV_ERROR;
        }

        if (at == s) {
            return CV_OK;
        }

        g = e->prev;
        at--;
    }

    return st == CV_NOT_FOUND ? CV_ERROR : st;
}


/*
 * each(data, entry) for the conversation's events after a seq, oldest
 * first, at most limit: CV_WALK_CHUNK at a time, each chunk read back from
 * its last event, which the index of events by seq finds within
 * CV_IX_EVENTS_EVERY steps; so a walk costs the events it gives, wherever
 * its cursor is.
 */
static cv_status
cv_conversation_walk(cv_txn *t, const cv_conv_state *cs, uint64_t after,
    size_t limit, cv_event_pt each, void *data)
{
    int            stop;
    size_t         n, i;
    uint64_t       lo;
    cv_status      st;
    cv_log_entry   es[CV_WALK_CHUNK];

    stop = 0;
    st = CV_OK;

    for (lo = after; st == CV_OK && !stop && lo < cs->last_seq && limit; ) {
        n = (cs->last_seq - lo < CV_WALK_CHUNK) ? cs->last_seq - lo
                                                : CV_WALK_CHUNK;
        n = (n < limit) ? n : limit;

        /* back from the chunk's last event to its first */
        st = cv_event_at(t, cs, lo + n, &es[n - 1]);

        for (i = n - 1; st == CV_OK && i > 0; i--) {
            st = cv_log_get(t, es[i].prev, &es[i - 1]);

            if (st != CV_OK || es[i - 1].event == NULL
                || es[i - 1].conv_seq != lo + i)
            {
                st = CV_ERROR;
            }
        }

        for (i = 0; st == CV_OK && !stop && i < n; i++) {
            st = each(data, &es[i], &stop);
        }

        lo += n;
        limit -= n;
    }

    return st;
}


typedef struct {
    cJSON         *items;
    uint64_t      *cursor;
    cv_json_text  *text;
    size_t         count;
    size_t         limit;    /* messages: how many */
    int           *more;
} cv_events_out;


static cv_status
cv_event_parsed(void *data, const cv_log_entry *e, int *stop)
{
    cv_events_out  *out = data;
    cJSON          *ev;

    (void) stop;

    ev = cJSON_ParseWithLength(e->event, e->event_len);
    if (ev == NULL) {
        return CV_ERROR;
    }

    cJSON_AddItemToArray(out->items, ev);
    *out->cursor = e->conv_seq;

    return CV_OK;
}


cv_status
cv_conversation_events(cv_txn *t, const char *conv_id, uint64_t after,
    size_t limit, cJSON *events, uint64_t *cursor)
{
    cv_status      st;
    cv_conv_state  cs;
    cv_events_out  out = { .items = events, .cursor = cursor };

    *cursor = after;

    st = cv_conversation_state_or_none(t, conv_id, &cs);
    if (st != CV_OK) {
        return st;
    }

    return cv_conversation_walk(t, &cs, after, limit, cv_event_parsed, &out);
}


cv_status
cv_conversation_events_json(cv_txn *t, const char *conv_id, uint64_t after,
    size_t limit, char **json, size_t *len, size_t *count, uint64_t *cursor)
{
    cv_status      st;
    cv_conv_state  cs;

    st = cv_conversation_state_or_none(t, conv_id, &cs);
    if (st != CV_OK) {
        return st;
    }

    return cv_conversation_state_events_json(t, &cs, after, limit, json, len,
                                             count, cursor);
}


static cv_status
cv_event_text(void *data, const cv_log_entry *e, int *stop)
{
    cv_events_out  *out = data;

    (void) stop;

    if (out->count++) {
        cv_jt_raw(out->text, ",", 1);
    }

    cv_jt_raw(out->text, e->event, e->event_len);
    *out->cursor = e->conv_seq;

    /* a failed allocation shows when the text is taken */
    return CV_OK;
}


cv_status
cv_conversation_state_events_json(cv_txn *t, const cv_conv_state *cs,
    uint64_t after, size_t limit, char **json, size_t *len, size_t *count,
    uint64_t *cursor)
{
    cv_status      st;
    cv_json_text   b;
    cv_events_out  out = { .text = &b, .cursor = cursor };

    *cursor = after;
    *count = 0;

    cv_jt_init(&b, CV_EVENTS_TEXT_HINT);
    cv_jt_raw(&b, "[", 1);

    st = cv_conversation_walk(t, cs, after, limit, cv_event_text, &out);

    cv_jt_raw(&b, "]", 1);

    if (st != CV_OK) {
        cv_jt_free(&b);
        return st;
    }

    *json = cv_jt_take(&b, len);
    *count = out.count;

    return *json ? CV_OK : CV_ERROR;
}


static cv_status
cv_event_message(void *data, const cv_log_entry *e, int *stop)
{
    cv_events_out  *out = data;
    cJSON          *ev, *msg;

    ev = cJSON_ParseWithLength(e->event, e->event_len);
    if (ev == NULL) {
        return CV_ERROR;
    }

    msg = cJSON_DetachItemFromObjectCaseSensitive(ev, "message");
    cJSON_Delete(ev);

    if (msg == NULL) {
        return CV_OK;
    }

    if (out->count == out->limit) {
        cJSON_Delete(msg);
        *out->more = 1;
        *stop = 1;
        return CV_OK;
    }

    cJSON_AddItemToArray(out->items, msg);
    out->count++;

    return CV_OK;
}


cv_status
cv_conversation_messages(cv_txn *t, const char *conv_id, uint64_t after,
    size_t limit, cJSON *items, int *more)
{
    cv_status      st;
    cv_conv_state  cs;
    cv_events_out  out = { .items = items, .limit = limit, .more = more };

    *more = 0;

    st = cv_conversation_state_or_none(t, conv_id, &cs);
    if (st != CV_OK) {
        return st;
    }

    /* every event after: only some are messages */
    return cv_conversation_walk(t, &cs, after, CV_LIMIT_NONE,
                                cv_event_message, &out);
}


cv_status
cv_conversation_assign(cv_txn *t, const char *conv_id,
    const cv_author *agent, int *changed)
{
    char         current[CV_AGENT_ID_MAX + 1];
    cJSON       *conv, *event, *who;
    const char  *cur;
    cv_status    st;
    int64_t      now;
    cv_conv_rec  rec;

    *changed = 0;

    st = cv_conv_rec_get(t, conv_id, &rec);
    if (st != CV_OK) {
        return st;
    }

    conv = cJSON_ParseWithLength(rec.json, rec.json_len);
    if (conv == NULL) {
        cv_conv_rec_free(&rec);
        return CV_ERROR;
    }

    if (!(rec.flags & CV_CONV_OPEN)) {
        st = CV_CONFLICT;
        goto done;
    }

    cur = cv_json_string(conv, "assigned_agent_id");

    if ((agent == NULL && cur == NULL)
        || (agent && cur && strcmp(agent->id, cur) == 0))
    {
        goto done;
    }

    now = cv_now_ms();

    if (cur) {
        /* the previous agent leaves first, in its own event */
        snprintf(current, sizeof(current), "%s", cur);
        cv_json_set(conv, "assigned_agent_id", cJSON_CreateNull());

        st = cv_conv_rec_set_json(&rec, conv);
        if (st != CV_OK) {
            goto done;
        }

        event = cJSON_CreateObject();
        cJSON_AddStringToObject(event, "type", "agent_left");
        who = cJSON_AddObjectToObject(event, "agent");
        cJSON_AddStringToObject(who, "id", current);

        st = cv_conv_event(t, conv_id, &rec, CV_EV_CONVERSATION_UNASSIGNED,
                           event, now);
        cJSON_Delete(event);

        if (st != CV_OK || agent == NULL) {
            *changed = (st == CV_OK);
            goto done;
        }
    }

    cv_json_set(conv, "assigned_agent_id", cJSON_CreateString(agent->id));

    st = cv_conv_rec_set_json(&rec, conv);
    if (st != CV_OK) {
        goto done;
    }

    event = cJSON_CreateObject();
    cJSON_AddStringToObject(event, "type", "agent_joined");
    who = cJSON_AddObjectToObject(event, "agent");
    cJSON_AddStringToObject(who, "id", agent->id);
    cv_set_string_or_null(who, "name", agent->name);

    st = cv_conv_event(t, conv_id, &rec, CV_EV_CONVERSATION_ASSIGNED, event,
                       now);
    cJSON_Delete(event);

    *changed = (st == CV_OK);

done:

    cJSON_Delete(conv);
    cv_conv_rec_free(&rec);

    return st;
}


cv_status
cv_conversation_close(cv_txn *t, const char *conv_id, const cv_author *by,
    int *changed)
{
    cJSON       *conv, *event, *who;
    cv_status    st;
    cv_conv_rec  rec;

    *changed = 0;

    st = cv_conv_rec_get(t, conv_id, &rec);
    if (st != CV_OK) {
        return st;
    }

    if (!(rec.flags & CV_CONV_OPEN)) {
        cv_conv_rec_free(&rec);
        return CV_OK;
    }

    conv = cJSON_ParseWithLength(rec.json, rec.json_len);
    if (conv == NULL) {
        cv_conv_rec_free(&rec);
        return CV_ERROR;
    }

    cv_json_set(conv, "status", cJSON_CreateString("closed"));
    st = cv_conv_rec_set_json(&rec, conv);
    cJSON_Delete(conv);

    if (st == CV_OK) {
        event = cJSON_CreateObject();
        cJSON_AddStringToObject(event, "type", "closed");
        who = cJSON_AddObjectToObject(event, "by");
        cJSON_AddStringToObject(who, "type", by->type);
        cv_set_string_or_null(who, "id", by->id);
        cv_set_string_or_null(who, "name", by->name);

        st = cv_conv_event(t, conv_id, &rec, CV_EV_CONVERSATION_CLOSED,
                           event, cv_now_ms());
        cJSON_Delete(event);
    }

    cv_conv_rec_free(&rec);

    *changed = (st == CV_OK);
    return st;
}


typedef struct {
    cv_txn   *t;
    cJSON    *items;
    size_t    left;
    uint64_t  last;     /* the order of the last one taken */
    int       peek;     /* look one beyond the page: is there more? */
    int       more;
} cv_list_ctx;


static cv_status
cv_list_one(void *data, const char *id, uint64_t order, int *stop)
{
    cv_list_ctx  *l = data;
    MDB_val       v;
    cJSON        *conv;
    cv_status     st;
    cv_conv_rec   rec;

    if (l->left == 0) {
        l->more = 1;
        *stop = 1;
        return CV_OK;
    }

    /* an entry without its record would say it is not there */
    st = cv_raw_get(l->t, CV_DB_CONVERSATIONS, id, strlen(id), &v);
    if (st != CV_OK) {
        return CV_ERROR;
    }

    conv = NULL;
    if (cv_conv_rec_decode(v.mv_data, v.mv_size, &rec) == CV_OK) {
        conv = cv_conv_rec_view(&rec);
    }

    if (conv == NULL) {
        return CV_ERROR;
    }

    cJSON_AddItemToArray(l->items, conv);
    l->last = order;

    if (--l->left == 0 && !l->peek) {
        *stop = 1;
    }

    return CV_OK;
}


cv_status
cv_conversation_list(cv_txn *t, const char *status,
    const char *assigned_agent_id, size_t limit, cJSON *items)
{
    return cv_conversation_page(t, status, assigned_agent_id, 0, limit,
                                items, NULL);
}


cv_status
cv_conversation_page(cv_txn *t, const char *status,
    const char *assigned_agent_id, uint64_t before, size_t limit,
    cJSON *items, uint64_t *next)
{
    cJSON        *got, *conv;
    cv_status     st;
    cv_list_ctx   l;

    if (next) {
        *next = 0;
    }

    if (limit == 0) {
        return CV_OK;
    }

    got = cJSON_CreateArray();
    if (got == NULL) {
        return CV_ERROR;
    }

    l.t = t;
    l.items = got;
    l.left = limit;
    l.last = 0;
    l.peek = (next != NULL);
    l.more = 0;

    st = cv_index_conversations(t, status, assigned_agent_id, before,
                                cv_list_one, &l);

    if (st == CV_OK && next && l.more) {
        *next = l.last;
    }

    /* all or nothing */
    while (st == CV_OK && got->child) {
        conv = cJSON_DetachItemViaPointer(got, got->child);
        cJSON_AddItemToArray(items, conv);
    }

    cJSON_Delete(got);

    return st;
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
        return "text is longer than " CV_STR(CV_TEXT_MAX) " characters";
    }

    return NULL;
}


static cv_status
cv_release_one(void *data, const char *id, uint64_t order, int *stop)
{
    (void) order;
    (void) stop;

    return cJSON_AddItemToArray(data, cJSON_CreateString(id)) ? CV_OK
                                                               : CV_ERROR;
}


cv_status
cv_agent_release(cv_txn *t, const char *agent_id)
{
    cJSON      *ids, *id;
    cv_status   st;
    int         changed;

    /* the ids first: unassigning moves the entries being read */
    ids = cJSON_CreateArray();
    if (ids == NULL) {
        return CV_ERROR;
    }

    st = cv_index_conversations(t, "open", agent_id, 0, cv_release_one, ids);

    cJSON_ArrayForEach(id, ids) {
        if (st != CV_OK) {
            break;
        }

        st = cv_conversation_assign(t, id->valuestring, NULL, &changed);
    }

    cJSON_Delete(ids);
    return st;
}
