/*
 * The global event log: its entries (format in cv_log_impl.h), reading it
 * in order, and the REST poll of conversations changed since a position.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_chat.h"
#include "cv_log_impl.h"
#include "cv_time.h"
#include "cv_json_scan.h"

#include <stdlib.h>
#include <string.h>

/* log entries one page of the REST poll reads at most: a page of few
 * conversations with many messages each ends early, and says where */
#define CV_SINCE_SCAN_MAX  10000


cv_status
cv_log_decode(const MDB_val *k, const MDB_val *v, cv_log_entry *e)
{
    const unsigned char  *h;
    size_t                eo, el, co, cl;

    if (k->mv_size != CV_U64BE_LEN || v->mv_size < CV_LOG_HDR) {
        return CV_ERROR;
    }

    h = v->mv_data;

    e->seq = cv_get_u64be(k->mv_data);
    e->prev = cv_get_u64be(h + CV_LOG_OFF_PREV);
    e->conv_seq = cv_get_u64be(h + CV_LOG_OFF_CONV_SEQ);
    e->state = cv_get_u64be(h + CV_LOG_OFF_STATE);
    e->conv_key = cv_get_u64be(h + CV_LOG_OFF_CONV_KEY);
    e->created_ms = (int64_t) cv_get_u64be(h + CV_LOG_OFF_CREATED);
    e->text = (const char *) h + CV_LOG_HDR;
    e->len = v->mv_size - CV_LOG_HDR;

    eo = cv_get_u32be(h + CV_LOG_OFF_EVENT_OFF);
    el = cv_get_u32be(h + CV_LOG_OFF_EVENT_LEN);
    co = cv_get_u32be(h + CV_LOG_OFF_CONV_OFF);
    cl = cv_get_u32be(h + CV_LOG_OFF_CONV_LEN);

    if (eo > e->len || el > e->len - eo || co > e->len || cl > e->len - co) {
        return CV_ERROR;
    }

    e->event = el ? e->text + eo : NULL;
    e->event_len = el;
    e->conv = cl ? e->text + co : NULL;
    e->conv_len = cl;

    return CV_OK;
}


static void
cv_log_encode(unsigned char *h, const cv_log_entry *e)
{
    size_t  eo, co;

    eo = e->event ? (size_t) (e->event - e->text) : 0;
    co = e->conv ? (size_t) (e->conv - e->text) : 0;

    cv_put_u64be(h + CV_LOG_OFF_PREV, e->prev);
    cv_put_u64be(h + CV_LOG_OFF_CONV_SEQ, e->conv_seq);
    cv_put_u32be(h + CV_LOG_OFF_EVENT_OFF, (uint32_t) eo);
    cv_put_u32be(h + CV_LOG_OFF_EVENT_LEN, (uint32_t) e->event_len);
    cv_put_u32be(h + CV_LOG_OFF_CONV_OFF, (uint32_t) co);
    cv_put_u32be(h + CV_LOG_OFF_CONV_LEN, (uint32_t) e->conv_len);
    cv_put_u64be(h + CV_LOG_OFF_STATE, e->state);
    cv_put_u64be(h + CV_LOG_OFF_CONV_KEY, e->conv_key);
    cv_put_u64be(h + CV_LOG_OFF_CREATED, (uint64_t) e->created_ms);
}


/*
 * The text of an entry starts {"seq":G,"type":"T","conversation_id":"C",
 * (cv_conv_change() writes it so, with our own ASCII tokens for T and C,
 * which never hold a quote): at p, what comes before a token (name, its
 * opening quote included), then the token, up to the next quote.
 */
static const char *
cv_log_token(const char *p, const char *end, const char *name, size_t *len)
{
    size_t       n;
    const char  *q;

    n = strlen(name);
    if ((size_t) (end - p) < n || memcmp(p, name, n) != 0) {
        return NULL;
    }

    p += n;
    q = memchr(p, '"', (size_t) (end - p));
    if (q == NULL || q == p) {
        return NULL;
    }

    *len = (size_t) (q - p);
    return p;
}


cv_status
cv_log_entry_names(const cv_log_entry *e, cv_log_names *out)
{
    const char  *p, *end;

    if (e->len < CV_LOG_SEQ_PREFIX_LEN
        || memcmp(e->text, CV_LOG_SEQ_PREFIX, CV_LOG_SEQ_PREFIX_LEN) != 0)
    {
        return CV_ERROR;
    }

    end = e->text + e->len;
    p = e->text + CV_LOG_SEQ_PREFIX_LEN;

    while (p < end && *p >= '0' && *p <= '9') {
        p++;
    }

    out->type = cv_log_token(p, end, CV_LOG_TYPE_FIELD, &out->type_len);
    if (out->type == NULL) {
        return CV_ERROR;
    }

    p = out->type + out->type_len;
    out->conversation_id = cv_log_token(p, end, CV_LOG_CONV_FIELD,
                                        &out->conversation_id_len);

    return out->conversation_id ? CV_OK : CV_ERROR;
}


/* the cursor's key for a log seq */
static void
cv_log_key(MDB_val *k, unsigned char key[CV_U64BE_LEN], uint64_t seq)
{
    cv_put_u64be(key, seq);
    k->mv_data = key;
    k->mv_size = CV_U64BE_LEN;
}


cv_status
cv_log_get(cv_txn *t, uint64_t seq, cv_log_entry *e)
{
    unsigned char  key[CV_U64BE_LEN];
    MDB_val        k, v;
    int            rc;

    cv_log_key(&k, key, seq);

    rc = mdb_get(t->txn, t->store->dbi[CV_DB_LOG], &k, &v);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    return cv_log_decode(&k, &v, e);
}


cv_status
cv_log_next_seq(cv_txn *t, uint64_t *seq)
{
    cv_status  st;

    if (t->log_next) {
        *seq = t->log_next;
        return CV_OK;
    }

    st = cv_log_last_seq(t, seq);
    if (st == CV_OK) {
        (*seq)++;
        t->log_next = *seq;
    }

    return st;
}


cv_status
cv_log_append_entry(cv_txn *t, const cv_log_entry *e)
{
    unsigned char  key[CV_U64BE_LEN];
    MDB_val        k, v;
    int            rc;

    /* the header's offsets and lengths are u32 */
    if (e->len > UINT32_MAX) {
        return CV_INVALID;
    }

    cv_log_key(&k, key, e->seq);
    v.mv_data = NULL;
    v.mv_size = CV_LOG_HDR + e->len;

    /* MDB_RESERVE: the value is written in place, not copied in; and
     * MDB_APPEND: the key is the largest, so no search and full pages */
    rc = mdb_put(t->txn, t->store->dbi[CV_DB_LOG], &k, &v,
                 MDB_APPEND | MDB_RESERVE);
    if (rc != 0) {
        t->log_next = 0;
        return cv_status_from_mdb(rc);
    }

    t->log_next = e->seq + 1;

    cv_log_encode(v.mv_data, e);
    memcpy((unsigned char *) v.mv_data + CV_LOG_HDR, e->text, e->len);

    return CV_OK;
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

    *seq = 0;

    if (rc != 0 && rc != MDB_NOTFOUND) {
        return cv_status_from_mdb(rc);
    }

    if (rc == 0) {
        if (k.mv_size != CV_U64BE_LEN) {
            return CV_ERROR;
        }

        *seq = cv_get_u64be(k.mv_data);
    }

    /* a purge that took the last entries leaves their seq behind: a seq
     * is never used twice (cursors and event ids name them) */
    k.mv_data = (void *) CV_LOG_LAST_KEY;
    k.mv_size = sizeof(CV_LOG_LAST_KEY) - 1;

    rc = mdb_get(t->txn, t->store->dbi[CV_DB_META], &k, &v);

    if (rc == 0 && v.mv_size == CV_U64BE_LEN
        && cv_get_u64be(v.mv_data) > *seq)
    {
        *seq = cv_get_u64be(v.mv_data);
    }

    return (rc == 0 || rc == MDB_NOTFOUND) ? CV_OK : cv_status_from_mdb(rc);
}


/* entries after a position, in order, as JSON */

cv_status
cv_log_read(cv_txn *t, uint64_t after, size_t limit, cJSON *items,
    uint64_t *cursor)
{
    unsigned char   key[CV_U64BE_LEN];
    MDB_cursor     *c;
    MDB_val         k, v;
    cJSON          *ev;
    cv_log_entry    e;
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

    cv_log_key(&k, key, after + 1);

    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);

    for (n = 0; rc == 0 && n < limit; n++) {
        ev = NULL;

        if (cv_log_decode(&k, &v, &e) == CV_OK) {
            ev = cJSON_ParseWithLength(e.text, e.len);
        }

        if (ev == NULL) {
            mdb_cursor_close(c);
            return CV_ERROR;
        }

        cJSON_AddItemToArray(items, ev);
        *cursor = e.seq;

        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }

    mdb_cursor_close(c);

    return (rc == 0 || rc == MDB_NOTFOUND) ? CV_OK : cv_status_from_mdb(rc);
}


cv_status
cv_log_read_text(cv_txn *t, uint64_t after, size_t limit,
    cv_log_text_pt each, void *data, uint64_t *cursor)
{
    unsigned char   key[CV_U64BE_LEN];
    MDB_cursor     *c;
    MDB_val         k, v;
    cv_status       st;
    cv_log_text     x;
    cv_log_entry    e;
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

    cv_log_key(&k, key, after + 1);

    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    st = CV_OK;

    for (n = 0; rc == 0 && n < limit; n++) {
        st = cv_log_decode(&k, &v, &e);
        if (st != CV_OK) {
            break;
        }

        x.seq = e.seq;
        x.conv_seq = e.conv_seq;
        x.text = e.text;
        x.len = e.len;
        x.event = e.event;
        x.event_len = e.event_len;
        x.conv = e.conv;
        x.conv_len = e.conv_len;

        st = each(data, &x);
        if (st != CV_OK) {
            break;
        }

        *cursor = e.seq;

        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }

    mdb_cursor_close(c);

    if (st != CV_OK) {
        return st;
    }

    return (rc == 0 || rc == MDB_NOTFOUND) ? CV_OK : cv_status_from_mdb(rc);
}


/* a conversation's latest change in a page of the REST poll */
typedef struct {
    uint64_t     key;
    uint64_t     seq;
    uint64_t     state;
    uint64_t     conv_seq;
    int64_t      created_ms;
    /* the latest entry of the page that held its state, in the map (so
     * that a state met in the walk is not looked up again) */
    uint64_t     met_seq;
    const char  *met;
    size_t       met_len;
} cv_since_item;


/* how a conversation's text ends (cv_chat.c writes them last), and the
 * length of its time stamp, quoted (cv_jt_time) */
#define CV_UPDATED_AT_FIELD  "\"updated_at\":"
#define CV_LAST_SEQ_FIELD    ",\"last_seq\":"
#define CV_STAMP_LEN         (sizeof("\"2026-11-23T10:00:00.123Z\"") - 1)


cv_status
cv_log_conv_text(const char *conv, size_t conv_len, int message,
    uint64_t conv_seq, int64_t created_ms, cv_json_text *b)
{
    size_t  n, fl;

    if (conv == NULL || conv_len < 2 || conv[conv_len - 1] != '}') {
        return CV_ERROR;
    }

    if (!message) {
        cv_jt_raw(b, conv, conv_len);
        return CV_OK;
    }

    /* the text ends "updated_at":"<stamp>","last_seq":N}: found from the
     * end, the stamp being of fixed length */
    n = conv_len - 1;

    while (n > 0 && conv[n - 1] >= '0' && conv[n - 1] <= '9') {
        n--;
    }

    fl = sizeof(CV_LAST_SEQ_FIELD) - 1;

    if (n >= fl + CV_STAMP_LEN + sizeof(CV_UPDATED_AT_FIELD) - 1
        && memcmp(conv + n - fl, CV_LAST_SEQ_FIELD, fl) == 0)
    {
        n -= fl + CV_STAMP_LEN;

        if (conv[n] == '"' && conv[n + CV_STAMP_LEN - 1] == '"') {
            fl = sizeof(CV_UPDATED_AT_FIELD) - 1;

            if (memcmp(conv + n - fl, CV_UPDATED_AT_FIELD, fl) == 0) {
                cv_jt_raw(b, conv, n);
                cv_jt_time(b, created_ms);
                cv_jt_lit(b, CV_LAST_SEQ_FIELD);
                cv_jt_u64(b, conv_seq);
                cv_jt_raw(b, "}", 1);
                return CV_OK;
            }
        }
    }

    return CV_ERROR;
}


/* the item's conversation text into b, unless its status is not status */
static cv_status
cv_since_item_text(cv_txn *t, const cv_since_item *it, const char *status,
    int *first, cv_json_text *b)
{
    size_t         off, len, sl;
    const char    *conv;
    size_t         conv_len;
    cv_status      st;
    cv_log_entry   s;

    if (it->met != NULL && it->met_seq == it->state) {
        conv = it->met;
        conv_len = it->met_len;

    } else {
        st = cv_log_get(t, it->state, &s);
        if (st != CV_OK || s.conv == NULL) {
            return CV_ERROR;
        }

        conv = s.conv;
        conv_len = s.conv_len;
    }

    if (status) {
        /* "status" is the record's own token: "open" or "closed", quoted */
        if (cv_json_member(conv, conv_len, "status", &off, &len) != 0) {
            return CV_ERROR;
        }

        sl = strlen(status);

        if (len != sl + 2 || memcmp(conv + off + 1, status, sl) != 0) {
            return CV_OK;
        }
    }

    if (!*first) {
        cv_jt_raw(b, ",", 1);
    }

    *first = 0;

    return cv_log_conv_text(conv, conv_len, it->state != it->seq,
                            it->conv_seq, it->created_ms, b);
}


/* by their latest change */
static int
cv_since_cmp(const void *a, const void *b)
{
    const cv_since_item  *x = a, *y = b;

    return x->seq < y->seq ? -1 : x->seq > y->seq;
}


/*
 * The page's conversations, found by key in an open-addressing table of
 * indexes into the items (0: empty), twice as many slots as a page holds
 * at most: each of the few hundred entries a page reads finds its
 * conversation at once, where a walk of the items took 50 steps.
 */
typedef struct {
    cv_since_item  *items;
    uint32_t       *slots;
    size_t          mask;
} cv_since_page;


#define CV_FIB_HASH  0x9E3779B97F4A7C15ull   /* 2^64 / the golden ratio */


static cv_status
cv_since_page_init(cv_since_page *p, size_t limit)
{
    size_t  n;

    for (n = 2; n < 2 * limit; n *= 2) {
        /* void */
    }

    p->mask = n - 1;
    p->items = malloc(limit * sizeof(cv_since_item));
    p->slots = calloc(n, sizeof(uint32_t));

    if (p->items == NULL || p->slots == NULL) {
        free(p->items);
        free(p->slots);
        return CV_ERROR;
    }

    return CV_OK;
}


/* the slot of key: its item's, or the empty one where it would go */
static uint32_t *
cv_since_slot(cv_since_page *p, uint64_t key)
{
    size_t  i;

    for (i = (size_t) (key * CV_FIB_HASH) & p->mask;
         p->slots[i] != 0 && p->items[p->slots[i] - 1].key != key;
         i = (i + 1) & p->mask)
    {
        /* void */
    }

    return &p->slots[i];
}


cv_status
cv_conversations_since(cv_txn *t, uint64_t after, size_t limit,
    const char *status, cv_json_text *b, uint64_t *next)
{
    unsigned char   key[CV_U64BE_LEN];
    MDB_cursor     *c;
    MDB_val         k, v;
    cv_log_entry    e;
    cv_since_item  *it;
    cv_since_page   page;
    uint32_t       *slot;
    size_t          scanned, n, i;
    cv_status       st;
    int             rc, first;

    *next = after;

    cv_jt_raw(b, "[", 1);

    if (after == UINT64_MAX || limit == 0) {
        cv_jt_raw(b, "]", 1);
        return b->failed ? CV_ERROR : CV_OK;
    }

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_LOG], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    /* each conversation's latest change in this page */
    if (cv_since_page_init(&page, limit) != CV_OK) {
        mdb_cursor_close(c);
        return CV_ERROR;
    }

    n = 0;
    st = CV_OK;

    cv_log_key(&k, key, after + 1);

    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE), scanned = 0;
         rc == 0 && scanned < CV_SINCE_SCAN_MAX;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), scanned++)
    {
        st = cv_log_decode(&k, &v, &e);
        if (st != CV_OK) {
            break;
        }

        slot = cv_since_slot(&page, e.conv_key);

        if (*slot == 0) {
            if (n == limit) {
                /* a new conversation would exceed the page: stop before
                 * it */
                break;
            }

            it = &page.items[n++];
            *slot = (uint32_t) n;

            it->key = e.conv_key;
            it->met = NULL;
            it->met_len = 0;
            it->met_seq = 0;

        } else {
            it = &page.items[*slot - 1];
        }

        it->seq = e.seq;
        it->state = e.state;
        it->conv_seq = e.conv_seq;
        it->created_ms = e.created_ms;

        if (e.conv != NULL) {
            it->met = e.conv;
            it->met_len = e.conv_len;
            it->met_seq = e.seq;
        }

        *next = e.seq;
    }

    mdb_cursor_close(c);

    if (st == CV_OK && rc != 0 && rc != MDB_NOTFOUND) {
        st = cv_status_from_mdb(rc);
    }

    /* in order of their latest change in the page */
    qsort(page.items, n, sizeof(cv_since_item), cv_since_cmp);

    first = 1;

    for (i = 0; st == CV_OK && i < n; i++) {
        st = cv_since_item_text(t, &page.items[i], status, &first, b);
    }

    free(page.items);
    free(page.slots);

    cv_jt_raw(b, "]", 1);

    return st == CV_OK && b->failed ? CV_ERROR : st;
}
