/*
 * Webhook deliveries: made from the event log by the scan, handed to the
 * sender when due, recorded, listed, retried and pruned (cv_webhooks.h;
 * storage in cv_webhooks_impl.h). The sender's path (scan, due, record)
 * reads and writes binary records and index keys only: no JSON.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_webhooks_impl.h"
#include "cv_log_impl.h"
#include "cv_chat.h"
#include "cv_json_text.h"
#include "cv_json_scan.h"
#include "cv_time.h"
#include "cv_utf8.h"

#include <stdlib.h>
#include <string.h>

#define CV_EVENT_ID_PREFIX    "evt_"
#define CV_DELIVERY_PREFIX    "dlv_"

/* an event id: a tag of the store, then the log seq */
#define CV_EVENT_TAG_INPUT    "evt:"     /* hashed before the secret */
#define CV_EVENT_TAG_LEN      5
#define CV_EVENT_ID_BYTES     (CV_EVENT_TAG_LEN + CV_U64BE_LEN)

#define CV_PREFIX_LEN(p)      (sizeof(p) - 1)

_Static_assert(CV_PREFIX_LEN(CV_EVENT_ID_PREFIX)
               + CV_BASE32_LEN(CV_EVENT_ID_BYTES) < CV_WEBHOOK_EVENT_ID_MAX
               && CV_PREFIX_LEN(CV_EVENT_ID_PREFIX)
               + CV_BASE32_LEN(CV_ID_RANDOM) < CV_WEBHOOK_EVENT_ID_MAX,
               "an event id fits");

/* a delivery id's dseq: fixed width in base32hex, whose digits sort in
 * ASCII as their values do */
#define CV_DLV_BITS           5
#define CV_DLV_DIGITS         13         /* of 64 bits */
#define CV_DLV_MASK           ((1u << CV_DLV_BITS) - 1)
#define CV_DLV_FIRST_MAX      (1u << (64 - CV_DLV_BITS * (CV_DLV_DIGITS - 1)))

static const char  cv_base32hex[] = "0123456789abcdefghijklmnopqrstuv";

_Static_assert(CV_PREFIX_LEN(CV_DELIVERY_PREFIX) + CV_DLV_DIGITS + 1
               == CV_DELIVERY_ID_MAX, "a delivery id fits");

/* the longest log entry type ("conversation.unassigned"), with room */
#define CV_TYPE_NAME_MAX      32

/* a stored delivery at its largest */
#define CV_DLV_VALUE_MAX      (CV_DLV_HDR + CV_WEBHOOK_EVENT_ID_MAX           \
                               + CV_ID_MAX + CV_WEBHOOK_ERROR_MAX)

/* room for the text around a payload's parts */
#define CV_PAYLOAD_ROOM       256

#define CV_UTF8_CONT_MASK     0xc0u      /* 10xxxxxx: inside a character */
#define CV_UTF8_CONT          0x80u
#define CV_ASCII_MAX          0x7fu

static const char  *cv_dlv_status_names[] = { "pending", "delivered",
                                              "failed" };

/* a test's dseq: one of the values between two events' (cv_webhooks.h) */
#define CV_DLV_SUB_MASK       ((UINT64_C(1) << CV_DELIVERY_SEQ_SHIFT) - 1)

/* delivered ones looked at per endpoint and pruning: they follow the
 * pending and failed of old events, skipped */
#define CV_PRUNE_LOOK         4

static size_t cv_error_cut(const char *error, char out[CV_WEBHOOK_ERROR_MAX]);


/* ----------------------------------------------------------------- keys */

typedef struct {
    unsigned char  data[CV_WH_KEY_MAX];
    size_t         len;
} cv_wh_key;


/* the endpoint's part of a key (the id is checked: it fits) */
static void
cv_key_id(cv_wh_key *k, const char *id)
{
    size_t  n = strlen(id) + 1;

    memcpy(k->data + k->len, id, n);
    k->len += n;
}


static void
cv_key_u64(cv_wh_key *k, uint64_t v)
{
    cv_put_u64be(k->data + k->len, v);
    k->len += CV_U64BE_LEN;
}


static void
cv_key_start(cv_wh_key *k, const char *id)
{
    k->len = 0;
    cv_key_id(k, id);
}


static int
cv_key_has_prefix(const MDB_val *k, const cv_wh_key *prefix, size_t rest)
{
    return k->mv_size == prefix->len + rest
           && memcmp(k->mv_data, prefix->data, prefix->len) == 0;
}


static MDB_val
cv_key_val(const cv_wh_key *k)
{
    MDB_val  v = { .mv_size = k->len, .mv_data = (void *) k->data };

    return v;
}


/* ------------------------------------------------------------ event ids */

static cv_status
cv_event_tag(cv_txn *t, unsigned char tag[CV_EVENT_TAG_LEN])
{
    unsigned char  in[CV_PREFIX_LEN(CV_EVENT_TAG_INPUT) + CV_STORE_SECRET_LEN];
    unsigned char  md[CV_SHA256_LEN];
    cv_status      st;

    memcpy(in, CV_EVENT_TAG_INPUT, CV_PREFIX_LEN(CV_EVENT_TAG_INPUT));

    st = cv_txn_secret(t, in + CV_PREFIX_LEN(CV_EVENT_TAG_INPUT));

    if (st == CV_OK) {
        st = cv_sha256(in, sizeof(in), md);
    }

    if (st == CV_OK) {
        memcpy(tag, md, CV_EVENT_TAG_LEN);
    }

    memset(in, 0, sizeof(in));
    return st;
}


static void
cv_event_id_of(const unsigned char tag[CV_EVENT_TAG_LEN], uint64_t log_seq,
    char out[CV_WEBHOOK_EVENT_ID_MAX])
{
    unsigned char  b[CV_EVENT_ID_BYTES];

    memcpy(b, tag, CV_EVENT_TAG_LEN);
    cv_put_u64be(b + CV_EVENT_TAG_LEN, log_seq);

    memcpy(out, CV_EVENT_ID_PREFIX, CV_PREFIX_LEN(CV_EVENT_ID_PREFIX));
    cv_base32(b, sizeof(b), out + CV_PREFIX_LEN(CV_EVENT_ID_PREFIX));
}


cv_status
cv_webhook_event_id(cv_txn *t, uint64_t log_seq,
    char out[CV_WEBHOOK_EVENT_ID_MAX])
{
    unsigned char  tag[CV_EVENT_TAG_LEN];
    cv_status      st;

    st = cv_event_tag(t, tag);
    if (st == CV_OK) {
        cv_event_id_of(tag, log_seq, out);
    }

    return st;
}


/* --------------------------------------------------------- delivery ids */

static void
cv_delivery_id(uint64_t dseq, char out[CV_DELIVERY_ID_MAX])
{
    size_t  i, plen;

    plen = CV_PREFIX_LEN(CV_DELIVERY_PREFIX);
    memcpy(out, CV_DELIVERY_PREFIX, plen);

    for (i = 0; i < CV_DLV_DIGITS; i++) {
        out[plen + i] = cv_base32hex[(dseq >> (CV_DLV_BITS
                                               * (CV_DLV_DIGITS - 1 - i)))
                                     & CV_DLV_MASK];
    }

    out[plen + CV_DLV_DIGITS] = '\0';
}


cv_status
cv_delivery_id_parse(const char *delivery_id, uint64_t *dseq)
{
    const char  *p, *digit;
    uint64_t     v;
    size_t       i, plen;

    plen = CV_PREFIX_LEN(CV_DELIVERY_PREFIX);

    if (delivery_id == NULL
        || strlen(delivery_id) != plen + CV_DLV_DIGITS
        || memcmp(delivery_id, CV_DELIVERY_PREFIX, plen) != 0)
    {
        return CV_NOT_FOUND;
    }

    p = delivery_id + plen;
    v = 0;

    for (i = 0; i < CV_DLV_DIGITS; i++) {
        digit = p[i] ? strchr(cv_base32hex, p[i]) : NULL;

        /* the first digit holds the top 4 bits only */
        if (digit == NULL
            || (i == 0 && (unsigned) (digit - cv_base32hex)
                          >= CV_DLV_FIRST_MAX))
        {
            return CV_NOT_FOUND;
        }

        v = (v << CV_DLV_BITS) | (uint64_t) (digit - cv_base32hex);
    }

    /* dseqs start at 1 */
    if (v == 0) {
        return CV_NOT_FOUND;
    }

    *dseq = v;
    return CV_OK;
}


/* ----------------------------------------------------------- deliveries */

/* a delivery, decoded */
typedef struct {
    uint64_t     dseq;
    uint64_t     log_seq;
    uint64_t     conv_key;
    int64_t      created_ms;
    int64_t      next_ms;
    int64_t      last_ms;
    int64_t      finished_ms;
    int64_t      duration_ms;
    unsigned     type;
    unsigned     attempts;
    unsigned     status_code;
    int          status;
    int          queued;
    char         event_id[CV_WEBHOOK_EVENT_ID_MAX];
    char         conversation_id[CV_ID_MAX];
    const char  *error;          /* error_len bytes, in the map or the
                                    caller's: copied out on writing */
    size_t       error_len;
} cv_dlv;


static uint64_t
cv_time_key(int64_t ms)
{
    return ms > 0 ? (uint64_t) ms : 0;
}


static void
cv_dlv_key(cv_wh_key *k, const char *id, uint64_t dseq)
{
    cv_key_start(k, id);
    cv_key_u64(k, dseq);
}


static cv_status
cv_dlv_decode(const MDB_val *v, uint64_t dseq, cv_dlv *d)
{
    const unsigned char  *h;
    size_t                el, cl, rl;

    if (v->mv_size < CV_DLV_HDR) {
        return CV_ERROR;
    }

    h = v->mv_data;
    el = h[CV_DLV_OFF_EVENT_ID_LEN];
    cl = h[CV_DLV_OFF_CONV_ID_LEN];
    rl = ((size_t) h[CV_DLV_OFF_ERROR_LEN] << 8) | h[CV_DLV_OFF_ERROR_LEN + 1];

    if (el >= sizeof(d->event_id) || cl >= sizeof(d->conversation_id)
        || rl > CV_WEBHOOK_ERROR_MAX || v->mv_size != CV_DLV_HDR + el + cl + rl
        || h[CV_DLV_OFF_STATUS] > CV_DELIVERY_FAILED)
    {
        return CV_ERROR;
    }

    d->dseq = dseq;
    d->log_seq = cv_get_u64be(h + CV_DLV_OFF_LOG_SEQ);
    d->conv_key = cv_get_u64be(h + CV_DLV_OFF_CONV_KEY);
    d->created_ms = (int64_t) cv_get_u64be(h + CV_DLV_OFF_CREATED);
    d->next_ms = (int64_t) cv_get_u64be(h + CV_DLV_OFF_NEXT);
    d->last_ms = (int64_t) cv_get_u64be(h + CV_DLV_OFF_LAST);
    d->finished_ms = (int64_t) cv_get_u64be(h + CV_DLV_OFF_FINISHED);
    d->duration_ms = (int64_t) cv_get_u64be(h + CV_DLV_OFF_DURATION);
    d->type = cv_get_u32be(h + CV_DLV_OFF_TYPE);
    d->attempts = cv_get_u32be(h + CV_DLV_OFF_ATTEMPTS);
    d->status_code = cv_get_u32be(h + CV_DLV_OFF_STATUS_CODE);
    d->status = h[CV_DLV_OFF_STATUS];
    d->queued = h[CV_DLV_OFF_QUEUED];

    h += CV_DLV_HDR;
    memcpy(d->event_id, h, el);
    d->event_id[el] = '\0';
    memcpy(d->conversation_id, h + el, cl);
    d->conversation_id[cl] = '\0';
    d->error = (const char *) h + el + cl;
    d->error_len = rl;

    return CV_OK;
}


/* into out (CV_DLV_VALUE_MAX bytes); the length */
static size_t
cv_dlv_encode(const cv_dlv *d, unsigned char *out)
{
    size_t  el, cl;

    el = strlen(d->event_id);
    cl = strlen(d->conversation_id);

    memset(out, 0, CV_DLV_HDR);
    cv_put_u64be(out + CV_DLV_OFF_LOG_SEQ, d->log_seq);
    cv_put_u64be(out + CV_DLV_OFF_CONV_KEY, d->conv_key);
    cv_put_u64be(out + CV_DLV_OFF_CREATED, cv_time_key(d->created_ms));
    cv_put_u64be(out + CV_DLV_OFF_NEXT, cv_time_key(d->next_ms));
    cv_put_u64be(out + CV_DLV_OFF_LAST, cv_time_key(d->last_ms));
    cv_put_u64be(out + CV_DLV_OFF_FINISHED, cv_time_key(d->finished_ms));
    cv_put_u64be(out + CV_DLV_OFF_DURATION, cv_time_key(d->duration_ms));
    cv_put_u32be(out + CV_DLV_OFF_TYPE, d->type);
    cv_put_u32be(out + CV_DLV_OFF_ATTEMPTS, d->attempts);
    cv_put_u32be(out + CV_DLV_OFF_STATUS_CODE, d->status_code);
    out[CV_DLV_OFF_STATUS] = (unsigned char) d->status;
    out[CV_DLV_OFF_QUEUED] = (unsigned char) d->queued;
    out[CV_DLV_OFF_EVENT_ID_LEN] = (unsigned char) el;
    out[CV_DLV_OFF_CONV_ID_LEN] = (unsigned char) cl;
    out[CV_DLV_OFF_ERROR_LEN] = (unsigned char) (d->error_len >> 8);
    out[CV_DLV_OFF_ERROR_LEN + 1] = (unsigned char) d->error_len;

    memcpy(out + CV_DLV_HDR, d->event_id, el);
    memcpy(out + CV_DLV_HDR + el, d->conversation_id, cl);
    memcpy(out + CV_DLV_HDR + el + cl, d->error, d->error_len);

    return CV_DLV_HDR + el + cl + d->error_len;
}


static cv_status
cv_dlv_get(cv_txn *t, const char *id, uint64_t dseq, cv_dlv *d)
{
    MDB_val    v;
    cv_status  st;
    cv_wh_key  k;

    cv_dlv_key(&k, id, dseq);

    st = cv_raw_get(t, CV_DB_DELIVERIES, k.data, k.len, &v);
    if (st != CV_OK) {
        return st;
    }

    return cv_dlv_decode(&v, dseq, d);
}


/* the indexes, and whether d is in each (with its key there) */
static const int  cv_dlv_indexes[] = {
    CV_DB_DELIVERY_DUE, CV_DB_DELIVERY_QUEUE, CV_DB_DELIVERY_STATUS,
    CV_DB_DELIVERY_FINISHED
};


static int
cv_dlv_index_key(int db, const char *id, const cv_dlv *d, cv_wh_key *k)
{
    int  pending = (d->status == CV_DELIVERY_PENDING);

    k->len = 0;

    switch (db) {

    case CV_DB_DELIVERY_DUE:
        if (!pending || d->queued) {
            return 0;
        }
        cv_key_id(k, id);
        cv_key_u64(k, cv_time_key(d->next_ms));
        break;

    case CV_DB_DELIVERY_QUEUE:
        if (!pending || d->conv_key == 0) {
            return 0;
        }
        cv_key_id(k, id);
        cv_key_u64(k, d->conv_key);
        break;

    case CV_DB_DELIVERY_STATUS:
        if (d->status == CV_DELIVERY_DELIVERED) {
            return 0;
        }
        cv_key_id(k, id);
        k->data[k->len++] = (unsigned char) d->status;
        break;

    default:  /* CV_DB_DELIVERY_FINISHED */
        if (d->status != CV_DELIVERY_FAILED) {
            return 0;
        }
        cv_key_u64(k, cv_time_key(d->finished_ms));
        cv_key_id(k, id);
        break;
    }

    cv_key_u64(k, d->dseq);
    return 1;
}


/*
 * Stores d in place of old, each NULL for none (a new delivery, a deleted
 * one), and moves its index entries along: every change of a delivery
 * goes through here, so the indexes say what the records do. An entry
 * that should be there and is not is CV_ERROR.
 */
static cv_status
cv_dlv_put(cv_txn *t, const char *id, const cv_dlv *old, const cv_dlv *d)
{
    unsigned char  value[CV_DLV_VALUE_MAX];
    size_t         i, vlen;
    int            had, has, db, rc;
    MDB_val        k, v;
    cv_wh_key      ko, kn;

    /* first: d->error may point into the map, which the writes change */
    vlen = d ? cv_dlv_encode(d, value) : 0;

    for (i = 0; i < sizeof(cv_dlv_indexes) / sizeof(int); i++) {
        db = cv_dlv_indexes[i];
        had = old && cv_dlv_index_key(db, id, old, &ko);
        has = d && cv_dlv_index_key(db, id, d, &kn);

        if (had && has && ko.len == kn.len
            && memcmp(ko.data, kn.data, ko.len) == 0)
        {
            continue;
        }

        if (had) {
            k = cv_key_val(&ko);
            rc = mdb_del(t->txn, t->store->dbi[db], &k, NULL);
            if (rc != 0) {
                return rc == MDB_NOTFOUND ? CV_ERROR : cv_status_from_mdb(rc);
            }
        }

        if (has) {
            k = cv_key_val(&kn);
            v.mv_data = (void *) "";
            v.mv_size = 0;
            rc = mdb_put(t->txn, t->store->dbi[db], &k, &v, 0);
            if (rc != 0) {
                return cv_status_from_mdb(rc);
            }
        }
    }

    cv_dlv_key(&ko, id, d ? d->dseq : old->dseq);

    if (d == NULL) {
        return cv_record_del(t, CV_DB_DELIVERIES, ko.data, ko.len);
    }

    return cv_record_put_raw(t, CV_DB_DELIVERIES, ko.data, ko.len, value,
                             vlen);
}


/* the first key of db that starts with prefix and has rest more bytes:
 * *found, and the key in *k */
static cv_status
cv_key_first(cv_txn *t, int db, const cv_wh_key *prefix, size_t rest,
    MDB_val *k, int *found)
{
    MDB_cursor  *c;
    MDB_val      v;
    int          rc;

    rc = mdb_cursor_open(t->txn, t->store->dbi[db], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    *k = cv_key_val(prefix);
    rc = mdb_cursor_get(c, k, &v, MDB_SET_RANGE);
    mdb_cursor_close(c);

    *found = (rc == 0 && cv_key_has_prefix(k, prefix, rest));

    return (rc == 0 || rc == MDB_NOTFOUND) ? CV_OK : cv_status_from_mdb(rc);
}


/* the oldest pending delivery of a conversation: *dseq, 0 when none */
static cv_status
cv_queue_head(cv_txn *t, const char *id, uint64_t conv_key, uint64_t *dseq)
{
    MDB_val    k;
    int        found;
    cv_status  st;
    cv_wh_key  prefix;

    cv_key_start(&prefix, id);
    cv_key_u64(&prefix, conv_key);

    st = cv_key_first(t, CV_DB_DELIVERY_QUEUE, &prefix, CV_U64BE_LEN, &k,
                        &found);

    *dseq = (st == CV_OK && found)
            ? cv_get_u64be((unsigned char *) k.mv_data + prefix.len) : 0;

    return st;
}


/* a delivery of the conversation finished: its oldest pending one, when
 * queued, is due at now */
static cv_status
cv_queue_release(cv_txn *t, const char *id, uint64_t conv_key, int64_t now)
{
    uint64_t   head;
    cv_dlv     old, d;
    cv_status  st;

    st = cv_queue_head(t, id, conv_key, &head);
    if (st != CV_OK || head == 0) {
        return st;
    }

    st = cv_dlv_get(t, id, head, &old);
    if (st != CV_OK) {
        return st == CV_NOT_FOUND ? CV_ERROR : st;
    }

    if (!old.queued) {
        return CV_OK;
    }

    d = old;
    d.queued = 0;
    d.next_ms = now;

    return cv_dlv_put(t, id, &old, &d);
}


/* the endpoint's state, which every delivery function checks it by */
static cv_status
cv_endpoint_state(cv_txn *t, const char *id, cv_wh_state *s)
{
    if (cv_wh_id_len(id) == 0) {
        return CV_NOT_FOUND;
    }

    return cv_wh_state_get(t, id, s);
}


/* the same, and a cursor on db for it (the caller closes it) */
static cv_status
cv_endpoint_cursor(cv_txn *t, const char *id, int db, cv_wh_state *s,
    MDB_cursor **c)
{
    cv_status  st;

    st = cv_endpoint_state(t, id, s);
    if (st != CV_OK) {
        return st;
    }

    return cv_status_from_mdb(mdb_cursor_open(t->txn, t->store->dbi[db], c));
}


static unsigned
cv_type_bit(const char *name, size_t len)
{
    char  buf[CV_TYPE_NAME_MAX];

    if (len >= sizeof(buf)) {
        return 0;
    }

    memcpy(buf, name, len);
    buf[len] = '\0';

    return cv_webhook_event_bit(buf);
}


static uint64_t
cv_event_dseq(uint64_t log_seq)
{
    return log_seq << CV_DELIVERY_SEQ_SHIFT;
}


cv_status
cv_webhook_window(cv_txn *t, const char *id, uint64_t after, size_t max,
    cv_delivery *out, size_t *n, uint64_t *last, int *more)
{
    unsigned char   key[CV_U64BE_LEN], tag[CV_EVENT_TAG_LEN];
    MDB_cursor     *c;
    MDB_val         k, v;
    unsigned        type;
    size_t          looked;
    int             rc, tagged;
    cv_status       st;
    cv_delivery    *d;
    cv_wh_state     s;
    cv_log_entry    e;
    cv_log_names    names;

    *n = 0;
    *last = after;
    *more = 0;

    st = cv_endpoint_cursor(t, id, CV_DB_LOG, &s, &c);
    if (st != CV_OK) {
        return st;
    }

    tagged = 0;

    cv_put_u64be(key, after + 1);
    k.mv_data = key;
    k.mv_size = sizeof(key);

    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE), looked = 0;
         rc == 0 && looked < max;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), looked++)
    {
        st = cv_log_decode(&k, &v, &e);

        if (st == CV_OK) {
            st = cv_log_entry_names(&e, &names);
        }

        if (st != CV_OK) {
            break;
        }

        type = cv_type_bit(names.type, names.type_len) & s.events;

        if (type && !tagged) {
            st = cv_event_tag(t, tag);
            tagged = (st == CV_OK);
        }

        if (type && st == CV_OK
            && names.conversation_id_len >= sizeof(d->conversation_id))
        {
            st = CV_ERROR;
        }

        if (st != CV_OK) {
            break;
        }

        if (type) {
            d = &out[(*n)++];
            memset(d, 0, sizeof(cv_delivery));
            d->dseq = cv_event_dseq(e.seq);
            d->log_seq = e.seq;
            d->conv_key = e.conv_key;
            cv_delivery_id(d->dseq, d->id);
            cv_event_id_of(tag, e.seq, d->event_id);
            d->type = type;
            memcpy(d->conversation_id, names.conversation_id,
                   names.conversation_id_len);
            d->created_ms = e.created_ms;
        }

        *last = e.seq;
    }

    mdb_cursor_close(c);

    if (st != CV_OK) {
        return st;
    }

    if (rc != 0 && rc != MDB_NOTFOUND) {
        return cv_status_from_mdb(rc);
    }

    /* stopped at max on an entry not looked at */
    *more = (rc == 0);

    return CV_OK;
}


/* pending d waits (queued) when its conversation has an older pending
 * delivery, else it is due at due_ms */
static cv_status
cv_dlv_enqueue(cv_txn *t, const char *id, cv_dlv *d, int64_t due_ms)
{
    uint64_t   head;
    cv_status  st;

    head = 0;

    if (d->conv_key) {
        st = cv_queue_head(t, id, d->conv_key, &head);
        if (st != CV_OK) {
            return st;
        }
    }

    d->queued = (head != 0);
    d->next_ms = d->queued ? 0 : due_ms;

    return CV_OK;
}


/* an event of the window as a delivery record, unless there is one: *made */
static cv_status
cv_settle_one(cv_txn *t, const char *id, const cv_settle_item *it,
    int64_t now, int *made)
{
    char                       error[CV_WEBHOOK_ERROR_MAX];
    int64_t                    end;
    cv_dlv                     d;
    cv_status                  st;
    const cv_delivery         *w = &it->d;
    const cv_delivery_result  *r = it->r;

    *made = 0;

    if (w->log_seq == 0 || w->dseq != cv_event_dseq(w->log_seq)) {
        return CV_INVALID;
    }

    /* sent again (after a crash, or by a worker that lost the lease): the
     * first record stands */
    st = cv_dlv_get(t, id, w->dseq, &d);
    if (st != CV_NOT_FOUND) {
        return st;
    }

    memset(&d, 0, sizeof(d));
    d.dseq = w->dseq;
    d.log_seq = w->log_seq;
    d.conv_key = w->conv_key;
    d.created_ms = w->created_ms;
    d.type = w->type;
    d.status = CV_DELIVERY_PENDING;
    d.error = "";
    memcpy(d.event_id, w->event_id, sizeof(d.event_id));
    memcpy(d.conversation_id, w->conversation_id, sizeof(d.conversation_id));
    d.event_id[sizeof(d.event_id) - 1] = '\0';
    d.conversation_id[sizeof(d.conversation_id) - 1] = '\0';

    if (r == NULL) {
        st = cv_dlv_enqueue(t, id, &d, now);

    } else {
        end = r->attempt_ms + (r->duration_ms > 0 ? r->duration_ms : 0);

        d.attempts = 1;
        d.last_ms = r->attempt_ms;
        d.duration_ms = r->duration_ms;
        d.status_code = r->status_code;
        d.error = error;
        d.error_len = r->error ? cv_error_cut(r->error, error) : 0;

        if (r->delivered || r->next_attempt_ms <= 0) {
            d.status = r->delivered ? CV_DELIVERY_DELIVERED
                                    : CV_DELIVERY_FAILED;
            d.finished_ms = end;
            st = CV_OK;

        } else {
            st = cv_dlv_enqueue(t, id, &d, r->next_attempt_ms);
        }
    }

    if (st == CV_OK) {
        st = cv_dlv_put(t, id, NULL, &d);
        *made = (st == CV_OK);
    }

    return st;
}


cv_status
cv_webhook_settle(cv_txn *t, const char *id, const cv_settle_item *items,
    size_t n, uint64_t cursor, int64_t now)
{
    int          made;
    size_t       i;
    int64_t      failing;
    cv_status    st;
    cv_wh_state  s;

    st = cv_endpoint_state(t, id, &s);
    if (st != CV_OK) {
        return st;
    }

    failing = s.failing_since_ms;

    for (i = 0; i < n; i++) {
        st = cv_settle_one(t, id, &items[i], now, &made);
        if (st != CV_OK) {
            return st;
        }

        /* the failing clock: starts at a failure, stops at a success */
        if (items[i].r && items[i].r->delivered) {
            s.failing_since_ms = 0;

        } else if (items[i].r && s.failing_since_ms == 0) {
            s.failing_since_ms = items[i].r->attempt_ms > 0
                                 ? items[i].r->attempt_ms : 1;
        }
    }

    if (cursor <= s.cursor && failing == s.failing_since_ms) {
        return CV_OK;
    }

    if (cursor > s.cursor) {
        s.cursor = cursor;
    }

    return cv_wh_state_put(t, id, &s);
}


cv_status
cv_webhook_waiting(cv_txn *t, const char *id, uint64_t conv_key, int *waits)
{
    MDB_val      k;
    cv_status    st;
    cv_wh_key    prefix;
    cv_wh_state  s;

    *waits = 0;

    st = cv_endpoint_state(t, id, &s);
    if (st != CV_OK) {
        return st;
    }

    cv_key_start(&prefix, id);

    if (conv_key) {
        cv_key_u64(&prefix, conv_key);
    }

    return cv_key_first(t, CV_DB_DELIVERY_QUEUE, &prefix,
                        conv_key ? CV_U64BE_LEN : 2 * CV_U64BE_LEN, &k,
                        waits);
}


cv_status
cv_webhook_scan(cv_txn *t, const char *id, size_t max, int64_t now,
    size_t *made, int *more)
{
    int              one;
    size_t           i, n;
    uint64_t         last;
    cv_status        st;
    cv_wh_state      s;
    cv_delivery     *w;
    cv_settle_item   item;

    *made = 0;
    *more = 0;

    st = cv_endpoint_state(t, id, &s);
    if (st != CV_OK) {
        return st;
    }

    w = malloc((max ? max : 1) * sizeof(cv_delivery));
    if (w == NULL) {
        return CV_ERROR;
    }

    st = cv_webhook_window(t, id, s.cursor, max, w, &n, &last, more);

    for (i = 0; st == CV_OK && i < n; i++) {
        item.d = w[i];
        item.r = NULL;
        st = cv_settle_one(t, id, &item, now, &one);
        *made += one;
    }

    free(w);

    if (st == CV_OK && last > s.cursor) {
        s.cursor = last;
        st = cv_wh_state_put(t, id, &s);
    }

    return st;
}


/* log entries the oldest undelivered event is looked for past a cursor
 * (other types of entries are passed over) */
#define CV_OLDEST_LOOK  16

cv_status
cv_webhook_oldest_undelivered(cv_txn *t, int64_t *oldest_ms)
{
    int                   more, found;
    size_t                n, i, wn;
    MDB_val               k;
    uint64_t              last, dseq;
    cv_dlv                d;
    cv_status             st;
    cv_wh_key             prefix;
    cv_delivery           w[CV_OLDEST_LOOK];
    cv_webhook_endpoint  *eps;

    *oldest_ms = 0;

    st = cv_webhook_endpoints(t, &eps, &n);
    if (st != CV_OK) {
        return st;
    }

    for (i = 0; st == CV_OK && i < n; i++) {

        /* the first event after its cursor: not settled yet */
        st = cv_webhook_window(t, eps[i].id, eps[i].cursor, CV_OLDEST_LOOK,
                               w, &wn, &last, &more);

        if (st == CV_OK && wn
            && (*oldest_ms == 0 || w[0].created_ms < *oldest_ms))
        {
            *oldest_ms = w[0].created_ms;
        }

        /* its oldest pending delivery: the first of its status index */
        cv_key_start(&prefix, eps[i].id);
        prefix.data[prefix.len++] = (unsigned char) CV_DELIVERY_PENDING;

        if (st == CV_OK) {
            st = cv_key_first(t, CV_DB_DELIVERY_STATUS, &prefix,
                              CV_U64BE_LEN, &k, &found);
        }

        if (st != CV_OK || !found) {
            continue;
        }

        dseq = cv_get_u64be((unsigned char *) k.mv_data + prefix.len);

        st = cv_dlv_get(t, eps[i].id, dseq, &d);

        if (st == CV_NOT_FOUND) {
            st = CV_ERROR;      /* an index entry without its record */

        } else if (st == CV_OK
                   && (*oldest_ms == 0 || d.created_ms < *oldest_ms))
        {
            *oldest_ms = d.created_ms;
        }
    }

    free(eps);

    return st;
}


static void
cv_delivery_of(const cv_dlv *d, cv_delivery *out)
{
    out->dseq = d->dseq;
    out->log_seq = d->log_seq;
    out->conv_key = d->conv_key;
    cv_delivery_id(d->dseq, out->id);
    memcpy(out->event_id, d->event_id, sizeof(out->event_id));
    out->type = d->type;
    memcpy(out->conversation_id, d->conversation_id,
           sizeof(out->conversation_id));
    out->attempts = d->attempts;
    out->next_attempt_ms = d->next_ms;
    out->created_ms = d->created_ms;
}


static int
cv_skipped(const uint64_t *skip, size_t nskip, uint64_t dseq)
{
    size_t  i;

    for (i = 0; i < nskip; i++) {
        if (skip[i] == dseq) {
            return 1;
        }
    }

    return 0;
}


cv_status
cv_webhook_due(cv_txn *t, const char *id, int64_t now, const uint64_t *skip,
    size_t nskip, size_t max, cv_delivery *out, size_t *n,
    int64_t *next_due_ms)
{
    MDB_cursor    *c;
    MDB_val        k, v;
    uint64_t       due, dseq;
    cv_dlv         d;
    cv_status      st;
    cv_wh_key      prefix;
    cv_wh_state    s;
    int            rc;

    *n = 0;
    *next_due_ms = 0;

    st = cv_endpoint_cursor(t, id, CV_DB_DELIVERY_DUE, &s, &c);
    if (st != CV_OK) {
        return st;
    }

    cv_key_start(&prefix, id);
    k = cv_key_val(&prefix);

    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
         rc == 0 && cv_key_has_prefix(&k, &prefix, 2 * CV_U64BE_LEN);
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
    {
        due = cv_get_u64be((unsigned char *) k.mv_data + prefix.len);
        dseq = cv_get_u64be((unsigned char *) k.mv_data + prefix.len
                            + CV_U64BE_LEN);

        if (cv_skipped(skip, nskip, dseq)) {
            continue;
        }

        if (*n == max || due > (uint64_t) cv_time_key(now)) {
            *next_due_ms = (int64_t) due;
            break;
        }

        st = cv_dlv_get(t, id, dseq, &d);
        if (st != CV_OK) {
            st = st == CV_NOT_FOUND ? CV_ERROR : st;
            break;
        }

        cv_delivery_of(&d, &out[(*n)++]);
    }

    mdb_cursor_close(c);

    if (st == CV_OK && rc != 0 && rc != MDB_NOTFOUND) {
        st = cv_status_from_mdb(rc);
    }

    return st;
}


/* ------------------------------------------------------------- payloads */

/*
 * The conversation at the entry's change, with "seq", into b as text:
 * as the API shows it (cv_log_conv_text), then the entry's conversation
 * seq. No cJSON tree: this is made once per event and endpoint.
 */
static cv_status
cv_payload_conv(cv_txn *t, const cv_log_entry *e, cv_json_text *b,
    char customer_id[CV_ID_MAX])
{
    size_t         start, off, len;
    cv_log_entry   s;

    if (e->state == e->seq) {
        s = *e;

    } else if (cv_log_get(t, e->state, &s) != CV_OK) {
        return CV_ERROR;
    }

    start = b->len;

    if (cv_log_conv_text(s.conv, s.conv_len, e->state != e->seq,
                         e->conv_seq, e->created_ms, b)
        != CV_OK)
    {
        return CV_ERROR;
    }

    if (b->failed) {
        return CV_ERROR;
    }

    /* whose it is, for the customer beside it ("" when unreadable) */
    customer_id[0] = '\0';

    if (cv_json_member(s.conv, s.conv_len, "customer_id", &off, &len) == 0
        && len > 2 && len - 2 < CV_ID_MAX && s.conv[off] == '"')
    {
        memcpy(customer_id, s.conv + off + 1, len - 2);
        customer_id[len - 2] = '\0';
    }

    /* its closing brace gives way to "seq" */
    b->len--;
    cv_jt_lit(b, b->len - start > 1 ? ",\"seq\":" : "\"seq\":");
    cv_jt_u64(b, e->conv_seq);
    cv_jt_raw(b, "}", 1);

    return CV_OK;
}


/* {"id","type","created_at","data":{ */
static void
cv_payload_head(cv_json_text *b, const char *event_id, const char *type,
    size_t type_len, int64_t created_ms)
{
    cv_jt_lit(b, "{\"id\":");
    cv_jt_str(b, event_id);
    cv_jt_lit(b, ",\"type\":\"");
    cv_jt_raw(b, type, type_len);
    cv_jt_lit(b, "\",\"created_at\":");
    cv_jt_time(b, created_ms);
    cv_jt_lit(b, ",\"data\":{");
}


static cv_status
cv_payload_event(cv_txn *t, const cv_delivery *d, cv_json_text *b)
{
    char           customer_id[CV_ID_MAX];
    size_t         off, len;
    MDB_val        cus;
    cv_status      st;
    cv_log_entry   e;
    cv_log_names   names;

    st = cv_log_get(t, d->log_seq, &e);

    if (st == CV_OK) {
        st = cv_log_entry_names(&e, &names);
    }

    if (st != CV_OK || cv_type_bit(names.type, names.type_len) != d->type) {
        return st == CV_OK || st == CV_NOT_FOUND ? CV_ERROR : st;
    }

    cv_payload_head(b, d->event_id, names.type, names.type_len,
                    e.created_ms);
    cv_jt_lit(b, "\"conversation\":");

    st = cv_payload_conv(t, &e, b, customer_id);
    if (st != CV_OK) {
        return st;
    }

    /*
     * the customer as stored now (the email a visitor left in the pre-chat
     * form, the integrator's id and labels), as REST GET customers/{id}
     * answers it; null once erased
     */
    cv_jt_lit(b, ",\"customer\":");

    if (customer_id[0]
        && cv_raw_get(t, CV_DB_CUSTOMERS, customer_id, strlen(customer_id),
                      &cus) == CV_OK
        && cus.mv_size > 0)
    {
        cv_jt_raw(b, cus.mv_data, cus.mv_size);

    } else {
        cv_jt_lit(b, "null");
    }

    /* the event's message as it is stored */
    if (e.event
        && cv_json_member(e.event, e.event_len, "message", &off, &len) == 0)
    {
        cv_jt_lit(b, ",\"message\":");
        cv_jt_raw(b, e.event + off, len);
    }

    return b->failed ? CV_ERROR : CV_OK;
}


cv_status
cv_webhook_payload(cv_txn *t, const char *id, const cv_delivery *d,
    char **json, size_t *len)
{
    cv_status      st;
    cv_json_text   b;

    *json = NULL;
    *len = 0;

    cv_jt_init(&b, CV_PAYLOAD_ROOM);

    if (d->type == CV_WEBHOOK_TEST) {
        cv_payload_head(&b, d->event_id, CV_WEBHOOK_EV_TEST,
                        CV_PREFIX_LEN(CV_WEBHOOK_EV_TEST), d->created_ms);
        cv_jt_lit(&b, "\"webhook_id\":");
        cv_jt_str(&b, id);
        st = CV_OK;

    } else {
        st = cv_payload_event(t, d, &b);
    }

    cv_jt_lit(&b, "}}");

    if (st != CV_OK) {
        cv_jt_free(&b);
        return st;
    }

    *json = cv_jt_take(&b, len);
    return *json ? CV_OK : CV_ERROR;
}


cv_status
cv_webhook_event_present(cv_txn *t, const cv_delivery *d)
{
    cv_log_entry  e;

    if (d->type == CV_WEBHOOK_TEST || d->log_seq == 0) {
        return CV_OK;
    }

    return cv_log_get(t, d->log_seq, &e);
}


/* --------------------------------------------------------------- outcomes */

/* error cut to CV_WEBHOOK_ERROR_MAX bytes at a character's start, into
 * out; what is not UTF-8 of it keeps its ASCII, with '?' for the rest */
static size_t
cv_error_cut(const char *error, char out[CV_WEBHOOK_ERROR_MAX])
{
    size_t  n, i;

    n = strlen(error);

    if (n > CV_WEBHOOK_ERROR_MAX) {
        n = CV_WEBHOOK_ERROR_MAX;

        /* error[n] would be the first byte left out: step back to the
         * start of its character */
        while (n > 0 && ((unsigned char) error[n] & CV_UTF8_CONT_MASK)
                        == CV_UTF8_CONT)
        {
            n--;
        }
    }

    memcpy(out, error, n);

    if (cv_utf8_check(out, n, NULL) != CV_OK) {
        for (i = 0; i < n; i++) {
            if ((unsigned char) out[i] > CV_ASCII_MAX) {
                out[i] = '?';
            }
        }
    }

    return n;
}


/* the failing clock: starts at a failure, stops at a success */
static cv_status
cv_failing_clock(cv_txn *t, const char *id, int delivered, int64_t at)
{
    cv_status    st;
    cv_wh_state  s;

    st = cv_wh_state_get(t, id, &s);
    if (st != CV_OK) {
        return st == CV_NOT_FOUND ? CV_ERROR : st;
    }

    if (delivered == (s.failing_since_ms == 0)) {
        return CV_OK;
    }

    s.failing_since_ms = delivered ? 0 : (at > 0 ? at : 1);
    return cv_wh_state_put(t, id, &s);
}


cv_status
cv_webhook_record(cv_txn *t, const char *id, uint64_t dseq,
    const cv_delivery_result *r)
{
    char       error[CV_WEBHOOK_ERROR_MAX];
    int64_t    end;
    cv_dlv     old, d;
    cv_status  st;

    if (cv_wh_id_len(id) == 0) {
        return CV_NOT_FOUND;
    }

    st = cv_dlv_get(t, id, dseq, &old);
    if (st != CV_OK) {
        return st;
    }

    if (old.status != CV_DELIVERY_PENDING || old.queued) {
        return CV_CONFLICT;
    }

    end = r->attempt_ms + (r->duration_ms > 0 ? r->duration_ms : 0);

    d = old;
    d.attempts++;
    d.last_ms = r->attempt_ms;
    d.duration_ms = r->duration_ms;
    d.status_code = r->status_code;
    d.error = error;
    d.error_len = r->error ? cv_error_cut(r->error, error) : 0;

    if (r->delivered || r->next_attempt_ms <= 0) {
        d.status = r->delivered ? CV_DELIVERY_DELIVERED : CV_DELIVERY_FAILED;
        d.finished_ms = end;
        d.next_ms = 0;

    } else {
        d.next_ms = r->next_attempt_ms;
    }

    st = cv_dlv_put(t, id, &old, &d);

    if (st == CV_OK && d.status != CV_DELIVERY_PENDING && d.conv_key) {
        st = cv_queue_release(t, id, d.conv_key, end);
    }

    if (st == CV_OK) {
        st = cv_failing_clock(t, id, r->delivered, r->attempt_ms);
    }

    return st;
}


/* ------------------------------------------------------------- the API's */

static void
cv_item_time(cJSON *item, const char *name, int64_t ms, int set)
{
    char  stamp[CV_TIME_STR];

    if (!set) {
        cJSON_AddNullToObject(item, name);
        return;
    }

    cv_format_time(ms, stamp);
    cJSON_AddStringToObject(item, name, stamp);
}


static void
cv_item_number(cJSON *item, const char *name, double v, int set)
{
    if (set) {
        cJSON_AddNumberToObject(item, name, v);

    } else {
        cJSON_AddNullToObject(item, name);
    }
}


/* a delivery as the listing shows it */
static cJSON *
cv_dlv_item(const cv_dlv *d)
{
    char         id[CV_DELIVERY_ID_MAX];
    char         error[CV_WEBHOOK_ERROR_MAX + 1];
    cJSON       *item;
    const char  *type;
    int          tried;

    item = cJSON_CreateObject();
    type = cv_webhook_event_name(d->type);
    tried = d->attempts > 0;

    cv_delivery_id(d->dseq, id);
    memcpy(error, d->error, d->error_len);
    error[d->error_len] = '\0';

    cJSON_AddStringToObject(item, "id", id);
    cJSON_AddStringToObject(item, "event_id", d->event_id);
    cJSON_AddStringToObject(item, "event_type", type ? type : "");
    cJSON_AddStringToObject(item, "status", cv_dlv_status_names[d->status]);
    cJSON_AddNumberToObject(item, "attempts", d->attempts);
    cv_item_time(item, "last_attempt_at", d->last_ms, tried);
    cv_item_time(item, "next_attempt_at", d->next_ms,
                 d->status == CV_DELIVERY_PENDING && !d->queued);
    cv_item_number(item, "last_status_code", d->status_code,
                   tried && d->status_code);

    if (d->error_len) {
        cJSON_AddStringToObject(item, "last_error", error);

    } else {
        cJSON_AddNullToObject(item, "last_error");
    }

    cv_item_number(item, "duration_ms", (double) d->duration_ms, tried);
    cv_item_time(item, "created_at", d->created_ms, 1);

    return item;
}


static cv_status
cv_dlv_item_out(const cv_dlv *d, cJSON **out)
{
    if (out == NULL) {
        return CV_OK;
    }

    *out = cv_dlv_item(d);
    return *out ? CV_OK : CV_ERROR;
}


cv_status
cv_webhook_test(cv_txn *t, const char *id, int64_t now, cJSON **out)
{
    uint64_t     last;
    cv_dlv       d;
    cv_status    st;
    cv_wh_state  s;

    st = cv_endpoint_state(t, id, &s);
    if (st != CV_OK) {
        return st;
    }

    st = cv_log_last_seq(t, &last);
    if (st != CV_OK) {
        return st;
    }

    memset(&d, 0, sizeof(d));

    /* after the events so far, before the next one's */
    d.dseq = cv_event_dseq(last);
    d.dseq = (s.next_dseq > d.dseq ? s.next_dseq : d.dseq + 1);

    if ((d.dseq & CV_DLV_SUB_MASK) == 0) {
        d.dseq++;
    }

    s.next_dseq = d.dseq + 1;
    d.created_ms = now;
    d.next_ms = now;
    d.type = CV_WEBHOOK_TEST;
    d.status = CV_DELIVERY_PENDING;
    d.error = "";

    st = cv_random_id(d.event_id, sizeof(d.event_id), CV_EVENT_ID_PREFIX,
                      CV_ID_RANDOM);

    if (st == CV_OK) {
        st = cv_dlv_put(t, id, NULL, &d);
    }

    if (st == CV_OK) {
        st = cv_wh_state_put(t, id, &s);
    }

    return st == CV_OK ? cv_dlv_item_out(&d, out) : st;
}


/* the last key of c's database below prefix + u64be(bound): rc as LMDB's
 * (the caller checks that the key found starts with prefix) */
static int
cv_seek_below(MDB_cursor *c, const cv_wh_key *prefix, uint64_t bound,
    MDB_val *k)
{
    MDB_val    v;
    cv_wh_key  b;
    int        rc;

    b = *prefix;
    cv_key_u64(&b, bound);
    *k = cv_key_val(&b);

    rc = mdb_cursor_get(c, k, &v, MDB_SET_RANGE);

    if (rc == 0) {
        return mdb_cursor_get(c, k, &v, MDB_PREV);
    }

    return rc == MDB_NOTFOUND ? mdb_cursor_get(c, k, &v, MDB_LAST) : rc;
}


cv_status
cv_webhook_deliveries(cv_txn *t, const char *id, int status, uint64_t cursor,
    size_t limit, cJSON *items, uint64_t *next)
{
    MDB_cursor   *c;
    MDB_val       k, v;
    cJSON        *item;
    uint64_t      dseq;
    size_t        n, looked;
    int           db, rc, walk;
    cv_dlv        d;
    cv_status     st;
    cv_wh_key     prefix;
    cv_wh_state   s;

    *next = 0;

    st = cv_endpoint_state(t, id, &s);
    if (st != CV_OK) {
        return st;
    }

    if (status < -1 || status > CV_DELIVERY_FAILED) {
        return CV_INVALID;
    }

    /* any status, and delivered (no index): the deliveries themselves, in
     * dseq order */
    cv_key_start(&prefix, id);
    walk = (status == -1 || status == CV_DELIVERY_DELIVERED);
    db = CV_DB_DELIVERIES;

    if (!walk) {
        prefix.data[prefix.len++] = (unsigned char) status;
        db = CV_DB_DELIVERY_STATUS;
    }

    rc = mdb_cursor_open(t->txn, t->store->dbi[db], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    n = 0;
    looked = 0;
    dseq = 0;

    for (rc = cv_seek_below(c, &prefix, cursor ? cursor : UINT64_MAX, &k);
         rc == 0 && cv_key_has_prefix(&k, &prefix, CV_U64BE_LEN);
         rc = mdb_cursor_get(c, &k, &v, MDB_PREV))
    {
        /* a page ends with its limit, or (delivered) what it may look at */
        if (n == limit
            || (status == CV_DELIVERY_DELIVERED
                && looked == CV_DELIVERY_SCAN_MAX))
        {
            *next = dseq;
            break;
        }

        dseq = cv_get_u64be((unsigned char *) k.mv_data + prefix.len);
        looked++;

        if (walk) {
            st = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT) == 0
                 ? cv_dlv_decode(&v, dseq, &d) : CV_ERROR;

        } else {
            st = cv_dlv_get(t, id, dseq, &d);
        }

        if (st == CV_OK && status >= 0 && d.status != status) {
            continue;
        }

        item = (st == CV_OK) ? cv_dlv_item(&d) : NULL;

        if (item == NULL) {
            st = (st == CV_OK || st == CV_NOT_FOUND) ? CV_ERROR : st;
            break;
        }

        cJSON_AddItemToArray(items, item);
        n++;
    }

    mdb_cursor_close(c);

    if (st == CV_OK && rc != 0 && rc != MDB_NOTFOUND) {
        st = cv_status_from_mdb(rc);
    }

    return st;
}


cv_status
cv_webhook_retry(cv_txn *t, const char *id, const char *delivery_id,
    int64_t now, cJSON **out)
{
    uint64_t      dseq;
    cv_dlv        old, d;
    cv_status     st;
    cv_wh_state   s;
    cv_log_entry  e;

    st = cv_endpoint_state(t, id, &s);

    if (st == CV_OK) {
        st = cv_delivery_id_parse(delivery_id, &dseq);
    }

    if (st == CV_OK) {
        st = cv_dlv_get(t, id, dseq, &old);
    }

    if (st != CV_OK) {
        return st;
    }

    if (old.status == CV_DELIVERY_DELIVERED) {
        return CV_CONFLICT;
    }

    /* its event was purged (retention, an erased customer): there is
     * nothing to send, and it would be due for ever */
    if (old.log_seq && cv_log_get(t, old.log_seq, &e) == CV_NOT_FOUND) {
        return CV_CONFLICT;
    }

    d = old;

    if (old.status == CV_DELIVERY_FAILED) {
        d.status = CV_DELIVERY_PENDING;
        d.finished_ms = 0;
        d.queued = 0;
        d.next_ms = now;

    } else if (!old.queued) {
        d.next_ms = now;
    }

    st = cv_dlv_put(t, id, &old, &d);

    return st == CV_OK ? cv_dlv_item_out(&d, out) : st;
}


/* ------------------------------------------------------------ deleting */

cv_status
cv_wh_deliveries_drop(cv_txn *t, const char *id)
{
    MDB_val    k;
    int        found;
    cv_dlv     d;
    cv_status  st;
    cv_wh_key  prefix;

    cv_key_start(&prefix, id);

    /* each time the first that is left */
    for ( ;; ) {
        st = cv_key_first(t, CV_DB_DELIVERIES, &prefix, CV_U64BE_LEN, &k,
                            &found);
        if (st != CV_OK || !found) {
            return st;
        }

        st = cv_dlv_get(t, id,
                        cv_get_u64be((unsigned char *) k.mv_data + prefix.len),
                        &d);

        if (st == CV_OK) {
            st = cv_dlv_put(t, id, &d, NULL);
        }

        if (st != CV_OK) {
            return st == CV_NOT_FOUND ? CV_ERROR : st;
        }
    }
}


cv_status
cv_wh_forget_conversation(cv_txn *t, uint64_t conv_key, size_t *deleted)
{
    MDB_cursor  *c;
    MDB_val      k, v;
    char         id[CV_WEBHOOK_ID_MAX];
    uint64_t     dseq;
    cv_dlv       d;
    cv_status    st;
    int          rc;

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_WEBHOOK_STATE], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    st = CV_OK;

    /* every endpoint: its pending deliveries of the conversation, each
     * time the first that is left */
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
         rc == 0 && st == CV_OK;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
    {
        if (k.mv_size == 0 || k.mv_size >= sizeof(id)) {
            continue;
        }

        memcpy(id, k.mv_data, k.mv_size);
        id[k.mv_size] = '\0';

        for ( ;; ) {
            st = cv_queue_head(t, id, conv_key, &dseq);
            if (st != CV_OK || dseq == 0) {
                break;
            }

            st = cv_dlv_get(t, id, dseq, &d);

            if (st == CV_OK) {
                st = cv_dlv_put(t, id, &d, NULL);
            }

            if (st != CV_OK) {
                st = (st == CV_NOT_FOUND) ? CV_ERROR : st;
                break;
            }

            (*deleted)++;
        }
    }

    mdb_cursor_close(c);

    if (st == CV_OK && rc != 0 && rc != MDB_NOTFOUND) {
        st = cv_status_from_mdb(rc);
    }

    return st;
}


/* failed deliveries that finished before before_ms, oldest first (their
 * index) */
static cv_status
cv_prune_failed(cv_txn *t, int64_t before_ms, size_t max, size_t *pruned)
{
    char          id[CV_WEBHOOK_ID_MAX];
    MDB_cursor   *c;
    MDB_val       k, v;
    const char   *p, *nul;
    size_t        idlen;
    uint64_t      dseq;
    cv_dlv        d;
    cv_status     st;
    int           rc;

    while (*pruned < max) {
        rc = mdb_cursor_open(t->txn,
                             t->store->dbi[CV_DB_DELIVERY_FINISHED], &c);
        if (rc != 0) {
            return cv_status_from_mdb(rc);
        }

        rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
        mdb_cursor_close(c);

        if (rc != 0) {
            return rc == MDB_NOTFOUND ? CV_OK : cv_status_from_mdb(rc);
        }

        /* finished_ms id NUL dseq */
        if (k.mv_size < 2 * CV_U64BE_LEN + 1) {
            return CV_ERROR;
        }

        if (cv_get_u64be(k.mv_data) >= cv_time_key(before_ms)) {
            return CV_OK;
        }

        p = (const char *) k.mv_data + CV_U64BE_LEN;
        idlen = k.mv_size - 2 * CV_U64BE_LEN;
        nul = memchr(p, '\0', idlen);

        if (nul == NULL || (size_t) (nul - p) != idlen - 1
            || idlen > sizeof(id))
        {
            return CV_ERROR;
        }

        memcpy(id, p, idlen);
        dseq = cv_get_u64be((const unsigned char *) p + idlen);

        st = cv_dlv_get(t, id, dseq, &d);

        if (st == CV_OK) {
            st = cv_dlv_put(t, id, &d, NULL);
        }

        if (st != CV_OK) {
            return st == CV_NOT_FOUND ? CV_ERROR : st;
        }

        (*pruned)++;
    }

    return CV_OK;
}


/* one endpoint's delivered deliveries that finished before before_ms, in
 * its order (its oldest events first): until one that finished later, or
 * CV_PRUNE_LOOK * max looked at (the pending and failed between are
 * left); their dseqs into found */
static cv_status
cv_prune_delivered_of(cv_txn *t, const char *id, int64_t before_ms,
    size_t max, uint64_t *found, size_t *n)
{
    MDB_cursor   *c;
    MDB_val       k, v;
    size_t        looked;
    uint64_t      dseq;
    int           rc;
    cv_dlv        d;
    cv_status     st;
    cv_wh_key     prefix;

    *n = 0;
    st = CV_OK;

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_DELIVERIES], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    cv_key_start(&prefix, id);
    k = cv_key_val(&prefix);

    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE), looked = 0;
         rc == 0 && *n < max && looked < CV_PRUNE_LOOK * max
         && cv_key_has_prefix(&k, &prefix, CV_U64BE_LEN);
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), looked++)
    {
        dseq = cv_get_u64be((unsigned char *) k.mv_data + prefix.len);

        st = cv_dlv_decode(&v, dseq, &d);
        if (st != CV_OK) {
            break;
        }

        if (d.status != CV_DELIVERY_DELIVERED) {
            continue;
        }

        if (d.finished_ms >= before_ms) {
            break;
        }

        found[(*n)++] = dseq;
    }

    mdb_cursor_close(c);

    if (st == CV_OK && rc != 0 && rc != MDB_NOTFOUND) {
        st = cv_status_from_mdb(rc);
    }

    return st;
}


/* the delivered ones, endpoint by endpoint */
static cv_status
cv_prune_delivered(cv_txn *t, int64_t before_ms, size_t max, size_t *pruned)
{
    char          id[CV_WEBHOOK_ID_MAX];
    MDB_cursor   *c;
    MDB_val       k, v;
    uint64_t     *found;
    size_t        i, n;
    int           rc;
    cv_wh_key     key;
    cv_status     st;

    found = malloc((max ? max : 1) * sizeof(uint64_t));
    if (found == NULL) {
        return CV_ERROR;
    }

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_WEBHOOK_STATE], &c);
    if (rc != 0) {
        free(found);
        return cv_status_from_mdb(rc);
    }

    st = CV_OK;

    /* the endpoints' states are another database: deleting deliveries
     * leaves this cursor where it is */
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
         rc == 0 && *pruned < max;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
    {
        if (k.mv_size >= sizeof(id)) {
            continue;
        }

        memcpy(id, k.mv_data, k.mv_size);
        id[k.mv_size] = '\0';

        if (cv_wh_id_len(id) == 0) {
            continue;
        }

        st = cv_prune_delivered_of(t, id, before_ms, max - *pruned, found,
                                   &n);

        for (i = 0; st == CV_OK && i < n; i++) {
            cv_dlv_key(&key, id, found[i]);
            st = cv_record_del(t, CV_DB_DELIVERIES, key.data, key.len);
            *pruned += (st == CV_OK);
        }

        if (st != CV_OK) {
            break;
        }
    }

    mdb_cursor_close(c);
    free(found);

    if (st == CV_OK && rc != 0 && rc != MDB_NOTFOUND) {
        st = cv_status_from_mdb(rc);
    }

    return st;
}


cv_status
cv_webhook_prune(cv_txn *t, int64_t before_ms, size_t max, size_t *pruned)
{
    cv_status  st;

    *pruned = 0;

    st = cv_prune_failed(t, before_ms, max, pruned);

    if (st == CV_OK && *pruned < max) {
        st = cv_prune_delivered(t, before_ms, max, pruned);
    }

    return st;
}
