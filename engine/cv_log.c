/*
 * The global event log: its entries (format in cv_log_impl.h), reading it
 * in order, and the REST poll of conversations changed since a position.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_chat.h"
#include "cv_log_impl.h"

#include <stdlib.h>
#include <string.h>


static uint32_t
cv_get_u32be(const unsigned char *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | p[3];
}


static void
cv_put_u32be(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
}


static cv_status
cv_log_decode(const MDB_val *k, const MDB_val *v, cv_log_entry *e)
{
    const unsigned char  *h;
    size_t                eo, el, co, cl;

    if (k->mv_size != 8 || v->mv_size < CV_LOG_HDR) {
        return CV_ERROR;
    }

    h = v->mv_data;

    e->seq = cv_get_u64be(k->mv_data);
    e->prev = cv_get_u64be(h);
    e->conv_seq = cv_get_u64be(h + 8);
    e->text = (const char *) h + CV_LOG_HDR;
    e->len = v->mv_size - CV_LOG_HDR;

    eo = cv_get_u32be(h + 16);
    el = cv_get_u32be(h + 20);
    co = cv_get_u32be(h + 24);
    cl = cv_get_u32be(h + 28);

    if (eo > e->len || el > e->len - eo || co > e->len || cl > e->len - co) {
        return CV_ERROR;
    }

    e->event = el ? e->text + eo : NULL;
    e->event_len = el;
    e->conv = cl ? e->text + co : NULL;
    e->conv_len = cl;

    return CV_OK;
}


cv_status
cv_log_get(cv_txn *t, uint64_t seq, cv_log_entry *e)
{
    unsigned char  key[8];
    MDB_val        k, v;
    int            rc;

    cv_put_u64be(key, seq);
    k.mv_data = key;
    k.mv_size = 8;

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

    st = cv_log_last_seq(t, seq);
    if (st == CV_OK) {
        (*seq)++;
    }

    return st;
}


cv_status
cv_log_append_entry(cv_txn *t, uint64_t seq, uint64_t prev,
    uint64_t conv_seq, const char *text, size_t len, size_t event_off,
    size_t event_len, size_t conv_off, size_t conv_len)
{
    unsigned char  key[8], *h;
    MDB_val        k, v;
    int            rc;

    if (len > UINT32_MAX) {
        return CV_INVALID;
    }

    cv_put_u64be(key, seq);
    k.mv_data = key;
    k.mv_size = 8;
    v.mv_data = NULL;
    v.mv_size = CV_LOG_HDR + len;

    /* MDB_RESERVE: the value is written in place, not copied in; and
     * MDB_APPEND: the key is the largest, so no search and full pages */
    rc = mdb_put(t->txn, t->store->dbi[CV_DB_LOG], &k, &v,
                 MDB_APPEND | MDB_RESERVE);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    h = v.mv_data;
    cv_put_u64be(h, prev);
    cv_put_u64be(h + 8, conv_seq);
    cv_put_u32be(h + 16, (uint32_t) event_off);
    cv_put_u32be(h + 20, (uint32_t) event_len);
    cv_put_u32be(h + 24, (uint32_t) conv_off);
    cv_put_u32be(h + 28, (uint32_t) conv_len);
    memcpy(h + CV_LOG_HDR, text, len);

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


/* entries after a position, in order, as JSON (without their event) */

cv_status
cv_log_read(cv_txn *t, uint64_t after, size_t limit, cJSON *items,
    uint64_t *cursor)
{
    unsigned char   key[8];
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

    cv_put_u64be(key, after + 1);
    k.mv_data = key;
    k.mv_size = 8;

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
cv_conversations_since(cv_txn *t, uint64_t after, size_t limit,
    const char *status, cJSON *items, uint64_t *next)
{
    unsigned char   key[8];
    MDB_cursor     *c;
    MDB_val         k, v;
    cJSON          *snap, *order, *item;
    cv_log_entry    e;
    const char     *id, *s;
    size_t          scanned, n;
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
        if (cv_log_decode(&k, &v, &e) != CV_OK) {
            rc = MDB_CORRUPTED;
            break;
        }

        /* only the state is parsed, not the whole entry */
        snap = e.conv ? cJSON_ParseWithLength(e.conv, e.conv_len) : NULL;
        id = cJSON_GetStringValue(cJSON_GetObjectItem(snap, "id"));

        if (id == NULL) {
            cJSON_Delete(snap);
            *next = e.seq;
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
            break;

        } else {
            n++;
        }

        cJSON_AddItemToArray(order, snap);
        *next = e.seq;
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
