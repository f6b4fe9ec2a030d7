/*
 * The indexes (keys in cv_index.h): keeping a conversation's entries with
 * its record, reading them in order, and building them for a store of
 * schema version 2.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_index.h"
#include "cv_log_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the longest key: 'L', status, agent, NUL, order, conversation id */
#define CV_IX_KEY_MAX  (2 + CV_AGENT_ID_MAX + 1 + CV_U64BE_LEN + CV_ID_MAX)

/* what one transaction of the migration does at most: conversations, and
 * events indexed (a long conversation is done whole, in its own) */
#define CV_IX_BUILD_CONVS   1000
#define CV_IX_BUILD_EVENTS  100000

/* the migration's progress in CV_DB_META: the last conversation id done */
#define CV_KEY_INDEX_BUILD  "index_build_after"

typedef struct {
    unsigned char  data[CV_IX_KEY_MAX];
    size_t         len;
} cv_ix_key;


static void
cv_ix_byte(cv_ix_key *k, unsigned char c)
{
    k->data[k->len++] = c;
}


static void
cv_ix_bytes(cv_ix_key *k, const void *p, size_t n)
{
    memcpy(k->data + k->len, p, n);
    k->len += n;
}


static void
cv_ix_u64(cv_ix_key *k, uint64_t v)
{
    cv_put_u64be(k->data + k->len, v);
    k->len += CV_U64BE_LEN;
}


static unsigned char
cv_ix_status(uint32_t flags)
{
    return (flags & CV_CONV_OPEN) ? CV_IX_OPEN : CV_IX_CLOSED;
}


/* the prefix of a list: 'S' status, or 'L' status agent NUL */
static void
cv_ix_list_prefix(cv_ix_key *k, unsigned char status, const char *agent)
{
    k->len = 0;

    if (agent == NULL) {
        cv_ix_byte(k, CV_IX_STATUS);
        cv_ix_byte(k, status);
        return;
    }

    cv_ix_byte(k, CV_IX_LIST);
    cv_ix_byte(k, status);
    cv_ix_bytes(k, agent, strlen(agent));
    cv_ix_byte(k, '\0');
}


static cv_status
cv_ix_put(cv_txn *t, const cv_ix_key *k, const void *value, size_t vlen)
{
    MDB_val  key, v;

    key.mv_data = (void *) k->data;
    key.mv_size = k->len;
    v.mv_data = (void *) value;
    v.mv_size = vlen;

    return cv_status_from_mdb(mdb_put(t->txn, t->store->dbi[CV_DB_INDEX],
                                      &key, &v, 0));
}


/* a missing entry is not an error: the index is as it should be after */
static cv_status
cv_ix_del(cv_txn *t, const cv_ix_key *k)
{
    MDB_val  key;
    int      rc;

    key.mv_data = (void *) k->data;
    key.mv_size = k->len;

    rc = mdb_del(t->txn, t->store->dbi[CV_DB_INDEX], &key, NULL);

    return rc == MDB_NOTFOUND ? CV_OK : cv_status_from_mdb(rc);
}


/* both list entries of a conversation as ix says it is: put or delete */
static cv_status
cv_ix_lists(cv_txn *t, const char *id, const cv_conv_indexed *ix, int put)
{
    int         i;
    cv_ix_key   k;
    cv_status   st;

    for (i = 0; i < 2; i++) {
        cv_ix_list_prefix(&k, cv_ix_status(ix->flags),
                          i ? ix->agent : NULL);
        cv_ix_u64(&k, UINT64_MAX - ix->order);
        cv_ix_bytes(&k, id, strlen(id));

        st = put ? cv_ix_put(t, &k, "", 0) : cv_ix_del(t, &k);
        if (st != CV_OK) {
            return st;
        }
    }

    return CV_OK;
}


static void
cv_ix_count_key(cv_ix_key *k, const char *agent)
{
    k->len = 0;
    cv_ix_byte(k, CV_IX_OPEN_COUNT);
    cv_ix_bytes(k, agent, strlen(agent));
}


cv_status
cv_index_open_count(cv_txn *t, const char *agent_id, uint32_t *count)
{
    MDB_val    v;
    cv_ix_key  k;
    cv_status  st;

    *count = 0;

    if (strlen(agent_id) > CV_AGENT_ID_MAX) {
        return CV_OK;
    }

    cv_ix_count_key(&k, agent_id);

    st = cv_raw_get(t, CV_DB_INDEX, k.data, k.len, &v);
    if (st == CV_NOT_FOUND) {
        return CV_OK;
    }

    if (st == CV_OK && v.mv_size != CV_U32BE_LEN) {
        return CV_ERROR;
    }

    if (st == CV_OK) {
        *count = cv_get_u32be(v.mv_data);
    }

    return st;
}


cv_status
cv_index_open_total(cv_txn *t, uint64_t *total)
{
    MDB_cursor     *c;
    MDB_val         key, v;
    unsigned char   prefix = CV_IX_OPEN_COUNT;
    cv_status       st;
    int             rc;

    *total = 0;

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_INDEX], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    key.mv_data = &prefix;
    key.mv_size = 1;
    st = CV_OK;

    /* one key per agent with open conversations, and one for none */
    for (rc = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE);
         rc == 0;
         rc = mdb_cursor_get(c, &key, &v, MDB_NEXT))
    {
        if (((unsigned char *) key.mv_data)[0] != CV_IX_OPEN_COUNT) {
            break;
        }

        if (v.mv_size != CV_U32BE_LEN) {
            st = CV_ERROR;
            break;
        }

        *total += cv_get_u32be(v.mv_data);
    }

    if (rc != 0 && rc != MDB_NOTFOUND) {
        st = cv_status_from_mdb(rc);
    }

    mdb_cursor_close(c);

    return st;
}


cv_status
cv_index_count_unassigned(cv_txn *t)
{
    MDB_cursor     *c;
    MDB_val         key, v;
    uint32_t        n;
    cv_ix_key       k, prefix;
    unsigned char   be[CV_U32BE_LEN];
    cv_status       st;
    int             rc;

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_INDEX], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    cv_ix_list_prefix(&prefix, CV_IX_OPEN, "");
    key.mv_data = prefix.data;
    key.mv_size = prefix.len;
    n = 0;

    for (rc = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE);
         rc == 0;
         rc = mdb_cursor_get(c, &key, &v, MDB_NEXT))
    {
        if (key.mv_size < prefix.len
            || memcmp(key.mv_data, prefix.data, prefix.len) != 0)
        {
            break;
        }

        n++;
    }

    mdb_cursor_close(c);

    if (rc != 0 && rc != MDB_NOTFOUND) {
        return cv_status_from_mdb(rc);
    }

    cv_ix_count_key(&k, "");

    if (n == 0) {
        st = cv_ix_del(t, &k);

    } else {
        cv_put_u32be(be, n);
        st = cv_ix_put(t, &k, be, sizeof(be));
    }

    if (st == CV_OK) {
        st = cv_record_put_raw(t, CV_DB_META, CV_KEY_UNASSIGNED_COUNTED,
                               sizeof(CV_KEY_UNASSIGNED_COUNTED) - 1, "1", 1);
    }

    return st;
}


/* an agent's count plus delta (+1 or -1); 0 is no key */
static cv_status
cv_ix_count_add(cv_txn *t, const char *agent, int delta)
{
    unsigned char  be[CV_U32BE_LEN];
    uint32_t       n;
    cv_ix_key      k;
    cv_status      st;

    st = cv_index_open_count(t, agent, &n);
    if (st != CV_OK) {
        return st;
    }

    n = (delta < 0) ? (n ? n - 1 : 0) : n + 1;

    cv_ix_count_key(&k, agent);

    if (n == 0) {
        return cv_ix_del(t, &k);
    }

    cv_put_u32be(be, n);
    return cv_ix_put(t, &k, be, sizeof(be));
}


/* whether an indexed state counts for its agent ("": the unassigned
 * ones, counted under the key 'N' alone, for the open total) */
static int
cv_ix_counted(const cv_conv_indexed *ix)
{
    return ix->order && (ix->flags & CV_CONV_OPEN);
}


cv_status
cv_conv_index_move(cv_txn *t, const char *id, cv_conv_rec *rec)
{
    cv_status        st;
    cv_conv_indexed  now, *old;

    old = &rec->indexed;

    now.order = cv_conv_rec_order(rec);
    now.flags = rec->flags & CV_CONV_OPEN;
    memcpy(now.agent, rec->agent, sizeof(now.agent));

    if (old->order == now.order && (old->flags & CV_CONV_OPEN) == now.flags
        && strcmp(old->agent, now.agent) == 0)
    {
        return CV_OK;
    }

    st = CV_OK;

    if (old->order) {
        st = cv_ix_lists(t, id, old, 0);
    }

    if (st == CV_OK) {
        st = cv_ix_lists(t, id, &now, 1);
    }

    if (st == CV_OK && cv_ix_counted(old)
        && !(cv_ix_counted(&now) && strcmp(old->agent, now.agent) == 0))
    {
        st = cv_ix_count_add(t, old->agent, -1);

        if (st == CV_OK && cv_ix_counted(&now)) {
            st = cv_ix_count_add(t, now.agent, 1);
        }

    } else if (st == CV_OK && !cv_ix_counted(old) && cv_ix_counted(&now)) {
        st = cv_ix_count_add(t, now.agent, 1);
    }

    if (st == CV_OK) {
        rec->indexed = now;
    }

    return st;
}


static void
cv_ix_event_key(cv_ix_key *k, uint64_t conv_key, uint64_t seq)
{
    k->len = 0;
    cv_ix_byte(k, CV_IX_EVENTS);
    cv_ix_u64(k, conv_key);
    cv_ix_u64(k, seq);
}


cv_status
cv_index_event_put(cv_txn *t, uint64_t conv_key, uint64_t seq, uint64_t g)
{
    unsigned char  be[CV_U64BE_LEN];
    cv_ix_key      k;

    cv_ix_event_key(&k, conv_key, seq);
    cv_put_u64be(be, g);

    return cv_ix_put(t, &k, be, sizeof(be));
}


cv_status
cv_index_event_find(cv_txn *t, uint64_t conv_key, uint64_t from,
    uint64_t *seq, uint64_t *g)
{
    MDB_cursor  *c;
    MDB_val      key, v;
    cv_ix_key    k;
    cv_status    st;
    int          rc;

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_INDEX], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    cv_ix_event_key(&k, conv_key, from);
    key.mv_data = k.data;
    key.mv_size = k.len;

    rc = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE);

    if (rc != 0) {
        st = cv_status_from_mdb(rc);

    } else if (key.mv_size != k.len
               || memcmp(key.mv_data, k.data, 1 + CV_U64BE_LEN) != 0)
    {
        /* the next conversation's, or another index's */
        st = CV_NOT_FOUND;

    } else if (v.mv_size != CV_U64BE_LEN) {
        st = CV_ERROR;

    } else {
        *seq = cv_get_u64be((unsigned char *) key.mv_data + 1
                            + CV_U64BE_LEN);
        *g = cv_get_u64be(v.mv_data);
        st = CV_OK;
    }

    mdb_cursor_close(c);

    return st;
}


cv_status
cv_conv_index_remove(cv_txn *t, const char *id, const cv_conv_rec *rec)
{
    MDB_cursor  *c;
    MDB_val      key, v;
    cv_ix_key    k;
    cv_status    st;
    int          rc;

    if (rec->indexed.order) {
        st = cv_ix_lists(t, id, &rec->indexed, 0);

        if (st == CV_OK && cv_ix_counted(&rec->indexed)) {
            st = cv_ix_count_add(t, rec->indexed.agent, -1);
        }

        if (st != CV_OK) {
            return st;
        }
    }

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_INDEX], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    cv_ix_event_key(&k, rec->key, 0);
    key.mv_data = k.data;
    key.mv_size = k.len;

    for (rc = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE);
         rc == 0;
         rc = mdb_cursor_get(c, &key, &v, MDB_GET_CURRENT))
    {
        if (key.mv_size != k.len
            || memcmp(key.mv_data, k.data, 1 + CV_U64BE_LEN) != 0)
        {
            break;
        }

        /* the cursor stays on the entry after the one deleted */
        rc = mdb_cursor_del(c, 0);
        if (rc != 0) {
            break;
        }
    }

    mdb_cursor_close(c);

    return (rc == 0 || rc == MDB_NOTFOUND) ? CV_OK : cv_status_from_mdb(rc);
}


/* ---------------------------------------------------------------- lists */

/* one list read in order: its cursor and the entry it is at */
typedef struct {
    MDB_cursor  *c;
    cv_ix_key    prefix;
    int          at;          /* an entry of the list is current */
    uint64_t     order;
    char         id[CV_ID_MAX];
} cv_ix_stream;


/* reads the current entry of s (rc from its cursor); CV_ERROR when it is
 * not one a list could hold */
static cv_status
cv_ix_stream_read(cv_ix_stream *s, int rc, const MDB_val *key)
{
    size_t  n;

    s->at = 0;

    if (rc == MDB_NOTFOUND) {
        return CV_OK;
    }

    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    if (key->mv_size < s->prefix.len
        || memcmp(key->mv_data, s->prefix.data, s->prefix.len) != 0)
    {
        return CV_OK;
    }

    n = key->mv_size - s->prefix.len;
    if (n <= CV_U64BE_LEN || n - CV_U64BE_LEN >= CV_ID_MAX) {
        return CV_ERROR;
    }

    s->order = UINT64_MAX
               - cv_get_u64be((unsigned char *) key->mv_data + s->prefix.len);
    memcpy(s->id, (unsigned char *) key->mv_data + s->prefix.len
                  + CV_U64BE_LEN, n - CV_U64BE_LEN);
    s->id[n - CV_U64BE_LEN] = '\0';
    s->at = 1;

    return CV_OK;
}


static cv_status
cv_ix_stream_open(cv_txn *t, cv_ix_stream *s, unsigned char status,
    const char *agent, uint64_t before)
{
    MDB_val    key, v;
    cv_ix_key  k;
    int        rc;

    s->at = 0;

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_INDEX], &s->c);
    if (rc != 0) {
        s->c = NULL;
        return cv_status_from_mdb(rc);
    }

    cv_ix_list_prefix(&s->prefix, status, agent);

    /* order < before: UINT64_MAX - order >= UINT64_MAX - before + 1 */
    k = s->prefix;
    if (before) {
        cv_ix_u64(&k, UINT64_MAX - before + 1);
    }

    key.mv_data = k.data;
    key.mv_size = k.len;

    rc = mdb_cursor_get(s->c, &key, &v, MDB_SET_RANGE);

    return cv_ix_stream_read(s, rc, &key);
}


static cv_status
cv_ix_stream_next(cv_ix_stream *s)
{
    MDB_val  key, v;
    int      rc;

    rc = mdb_cursor_get(s->c, &key, &v, MDB_NEXT);

    return cv_ix_stream_read(s, rc, &key);
}


cv_status
cv_index_conversations(cv_txn *t, const char *status, const char *agent_id,
    uint64_t before, cv_index_conv_pt each, void *data)
{
    int            n, i, best, stop;
    cv_status      st;
    cv_ix_stream   s[2];

    if (agent_id && strlen(agent_id) > CV_AGENT_ID_MAX) {
        return CV_OK;
    }

    /* one list, or the open and the closed ones merged */
    n = 0;
    st = CV_OK;

    if (status == NULL || strcmp(status, "open") == 0) {
        st = cv_ix_stream_open(t, &s[n++], CV_IX_OPEN, agent_id, before);
    }

    if (st == CV_OK && (status == NULL || strcmp(status, "closed") == 0)) {
        st = cv_ix_stream_open(t, &s[n++], CV_IX_CLOSED, agent_id, before);
    }

    stop = 0;

    while (st == CV_OK && !stop) {
        best = -1;

        for (i = 0; i < n; i++) {
            if (s[i].at && (best < 0 || s[i].order > s[best].order)) {
                best = i;
            }
        }

        if (best < 0) {
            break;
        }

        st = each(data, s[best].id, s[best].order, &stop);

        if (st == CV_OK && !stop) {
            st = cv_ix_stream_next(&s[best]);
        }
    }

    for (i = 0; i < n; i++) {
        if (s[i].c) {
            mdb_cursor_close(s[i].c);
        }
    }

    return st;
}


/* ------------------------------------------------------------ migration */

/* the events of a conversation, from its chain (cv_log_impl.h) */
static cv_status
cv_ix_build_events(cv_txn *t, const cv_conv_rec *rec, size_t *events)
{
    uint64_t       g;
    cv_status      st;
    cv_log_entry   e;

    for (g = rec->head; g != 0; g = e.prev) {
        st = cv_log_get(t, g, &e);
        if (st != CV_OK) {
            return st == CV_NOT_FOUND ? CV_ERROR : st;
        }

        if (e.conv_seq == 0 || (e.prev && e.prev >= g)) {
            return CV_ERROR;      /* a chain of events that goes back */
        }

        if (e.conv_seq % CV_IX_EVENTS_EVERY == 0) {
            st = cv_index_event_put(t, rec->key, e.conv_seq, g);
            if (st != CV_OK) {
                return st;
            }
        }

        (*events)++;
    }

    return CV_OK;
}


/* one conversation of version 2: its agent into the header, its entries
 * into the indexes */
static cv_status
cv_ix_build_conv(cv_txn *t, const char *id, size_t *events)
{
    cJSON        *conv;
    cv_status     st;
    cv_conv_rec   rec;

    st = cv_conv_rec_get(t, id, &rec);
    if (st != CV_OK) {
        return st;
    }

    conv = cJSON_ParseWithLength(rec.json, rec.json_len);

    /* the JSON again, which sets the flags and the agent from it */
    st = conv ? cv_conv_rec_set_json(&rec, conv) : CV_ERROR;
    cJSON_Delete(conv);

    if (st == CV_OK) {
        memset(&rec.indexed, 0, sizeof(rec.indexed));
        st = cv_conv_rec_put(t, id, &rec);
    }

    if (st == CV_OK) {
        st = cv_ix_build_events(t, &rec, events);
    }

    cv_conv_rec_free(&rec);
    return st;
}


/*
 * One transaction of the migration: the conversations after the last one
 * done, CV_IX_BUILD_CONVS or CV_IX_BUILD_EVENTS at most; *done when there
 * were no more and the version is 3.
 */
static cv_status
cv_ix_build_step(cv_store *store, int *done, char *err, size_t errlen)
{
    char        (*ids)[CV_ID_MAX], after[CV_ID_MAX];
    uint32_t      version;
    size_t        n, i, events;
    MDB_val       k, v;
    MDB_cursor   *c;
    cv_txn       *t;
    cv_status     st;
    int           rc;

    *done = 0;

    st = cv_txn_begin(store, 1, &t);
    if (st != CV_OK) {
        return cv_fail(st, err, errlen, "index build: no transaction");
    }

    /* another process may have done it meanwhile */
    st = cv_raw_get(t, CV_DB_META, CV_KEY_SCHEMA, sizeof(CV_KEY_SCHEMA) - 1,
                    &v);
    if (st != CV_OK || v.mv_size != sizeof(version)) {
        cv_txn_abort(t);
        return cv_fail(CV_ERROR, err, errlen, "index build: no version");
    }

    memcpy(&version, v.mv_data, sizeof(version));
    if (version != 2) {
        cv_txn_abort(t);
        *done = 1;
        return CV_OK;
    }

    ids = malloc(CV_IX_BUILD_CONVS * sizeof(*ids));
    if (ids == NULL) {
        cv_txn_abort(t);
        return cv_fail(CV_ERROR, err, errlen, "index build: out of memory");
    }

    st = cv_raw_get(t, CV_DB_META, CV_KEY_INDEX_BUILD,
                    sizeof(CV_KEY_INDEX_BUILD) - 1, &v);
    after[0] = '\0';

    if (st == CV_NOT_FOUND) {
        /* the first step: nothing is indexed yet */
        st = cv_status_from_mdb(mdb_drop(t->txn, t->store->dbi[CV_DB_INDEX],
                                         0));

    } else if (st == CV_OK && (v.mv_size == 0 || v.mv_size >= CV_ID_MAX)) {
        st = CV_ERROR;

    } else if (st == CV_OK) {
        memcpy(after, v.mv_data, v.mv_size);
        after[v.mv_size] = '\0';
    }

    /* the ids of this step, read first: their records are rewritten */
    n = 0;
    rc = 0;

    if (st == CV_OK) {
        rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_CONVERSATIONS], &c);
        st = cv_status_from_mdb(rc);
    }

    if (st == CV_OK) {
        k.mv_data = after;
        k.mv_size = strlen(after);

        rc = mdb_cursor_get(c, &k, &v, after[0] ? MDB_SET_RANGE : MDB_FIRST);

        /* after the last one done, not at it */
        if (rc == 0 && after[0] && k.mv_size == strlen(after)
            && memcmp(k.mv_data, after, k.mv_size) == 0)
        {
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        }

        for ( ; rc == 0 && n < CV_IX_BUILD_CONVS;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
        {
            if (k.mv_size >= CV_ID_MAX) {
                rc = MDB_CORRUPTED;
                break;
            }

            memcpy(ids[n], k.mv_data, k.mv_size);
            ids[n++][k.mv_size] = '\0';
        }

        mdb_cursor_close(c);

        if (rc != 0 && rc != MDB_NOTFOUND) {
            st = cv_status_from_mdb(rc);
        }
    }

    events = 0;

    for (i = 0; st == CV_OK && i < n; i++) {
        st = cv_ix_build_conv(t, ids[i], &events);

        if (st != CV_OK) {
            st = cv_fail(st, err, errlen, "index build: conversation %s",
                         ids[i]);
            break;
        }

        if (events >= CV_IX_BUILD_EVENTS) {
            n = i + 1;
            rc = 0;       /* more may follow */
        }
    }

    if (st == CV_OK && n) {
        st = cv_record_put_raw(t, CV_DB_META, CV_KEY_INDEX_BUILD,
                               sizeof(CV_KEY_INDEX_BUILD) - 1, ids[n - 1],
                               strlen(ids[n - 1]));
    }

    if (st == CV_OK && rc == MDB_NOTFOUND) {
        /* every conversation is done */
        version = CV_STORE_SCHEMA_VERSION;
        st = cv_record_put_raw(t, CV_DB_META, CV_KEY_SCHEMA,
                               sizeof(CV_KEY_SCHEMA) - 1, &version,
                               sizeof(version));
        if (st == CV_OK) {
            st = cv_record_del(t, CV_DB_META, CV_KEY_INDEX_BUILD,
                               sizeof(CV_KEY_INDEX_BUILD) - 1);
            st = (st == CV_NOT_FOUND) ? CV_OK : st;
        }

        *done = (st == CV_OK);
    }

    free(ids);

    if (st != CV_OK) {
        cv_txn_abort(t);
        return (err && err[0]) ? st
                               : cv_fail(st, err, errlen, "index build "
                                         "failed");
    }

    st = cv_txn_commit(t);
    if (st != CV_OK) {
        *done = 0;
        return cv_fail(st, err, errlen, "index build: commit failed");
    }

    return CV_OK;
}


cv_status
cv_index_build(cv_store *st, char *err, size_t errlen)
{
    int        done;
    cv_status  s;

    if (err && errlen) {
        err[0] = '\0';
    }

    do {
        s = cv_ix_build_step(st, &done, err, errlen);
    } while (s == CV_OK && !done);

    return s;
}
