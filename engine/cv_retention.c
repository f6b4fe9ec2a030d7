/*
 * Retention and erasure (cv_retention.h): purging conversations with every
 * key that holds their text, the retention walk over the log, the sweep of
 * expired secrets, and erasing a customer.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_retention.h"
#include "cv_index.h"
#include "cv_chat.h"
#include "cv_conv_record.h"
#include "cv_customers.h"
#include "cv_log_impl.h"
#include "cv_webhooks_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CV_RET_CURSOR     "ret/cursor"
#define CV_RET_CURRENT    "ret/current"
#define CV_RET_CUS        "ret/cus/"
#define CV_RET_INDEXED    CV_KEY_RET_INDEXED
#define CV_RET_BACKFILL   "ret/backfill"
#define CV_RET_ERASED     "ret/erased/"

#define CV_LIT_LEN(s)     (sizeof(s) - 1)

/* a meta key of a prefix and an id or two: the longest, with room */
#define CV_RET_KEY_MAX    (CV_LIT_LEN(CV_RET_ERASED) + 2 * CV_ID_MAX + 2)

/* the clock is read every this many keys + 1 */
#define CV_PURGE_CLOCK_MASK  15

/* an idempotency key (cv_chat.c makes them): author type and id, the
 * conversation id and a client_msg_id, with room */
#define CV_RET_IDEM_MAX   1024



static int64_t
cv_mono_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


/* ret/cus/CUS NUL CONV (conv NULL: the customer's prefix, with its NUL) */
static size_t
cv_cus_key(char key[CV_RET_KEY_MAX], const char *cus, const char *conv)
{
    size_t  n, c;

    n = CV_LIT_LEN(CV_RET_CUS);
    memcpy(key, CV_RET_CUS, n);
    c = strnlen(cus, CV_ID_MAX - 1);
    memcpy(key + n, cus, c);
    n += c;
    key[n++] = '\0';

    if (conv) {
        c = strnlen(conv, CV_ID_MAX - 1);
        memcpy(key + n, conv, c);
        n += c;
    }

    return n;
}


static size_t
cv_erased_key(char key[CV_RET_KEY_MAX], const char *cus)
{
    size_t  n, c;

    n = CV_LIT_LEN(CV_RET_ERASED);
    memcpy(key, CV_RET_ERASED, n);
    c = strnlen(cus, CV_ID_MAX - 1);
    memcpy(key + n, cus, c);

    return n + c;
}


static cv_status
cv_meta_del(cv_txn *t, const void *key, size_t len)
{
    cv_status  st;

    st = cv_record_del(t, CV_DB_META, key, len);
    return st == CV_NOT_FOUND ? CV_OK : st;
}


static cv_status
cv_meta_u64(cv_txn *t, const char *key, uint64_t *v)
{
    MDB_val    val;
    cv_status  st;

    *v = 0;

    st = cv_raw_get(t, CV_DB_META, key, strlen(key), &val);
    if (st == CV_NOT_FOUND) {
        return CV_OK;
    }

    if (st == CV_OK) {
        if (val.mv_size != CV_U64BE_LEN) {
            return CV_ERROR;
        }
        *v = cv_get_u64be(val.mv_data);
    }

    return st;
}


static cv_status
cv_meta_put_u64(cv_txn *t, const char *key, uint64_t v)
{
    unsigned char  b[CV_U64BE_LEN];

    cv_put_u64be(b, v);
    return cv_record_put_raw(t, CV_DB_META, key, strlen(key), b, sizeof(b));
}


/* the log's last key itself (cv_log_last_seq() also counts ret/log_last) */
static cv_status
cv_log_last_key(cv_txn *t, uint64_t *seq)
{
    MDB_cursor  *c;
    MDB_val      k, v;
    int          rc;

    *seq = 0;

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_LOG], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);

    if (rc == 0 && k.mv_size == CV_U64BE_LEN) {
        *seq = cv_get_u64be(k.mv_data);
    }

    return (rc == 0 || rc == MDB_NOTFOUND) ? CV_OK : cv_status_from_mdb(rc);
}


cv_status
cv_retention_index(cv_txn *t, const char *customer_id, const char *conv_id)
{
    char    key[CV_RET_KEY_MAX];
    size_t  n;

    n = cv_cus_key(key, customer_id, conv_id);
    return cv_record_put_raw(t, CV_DB_META, key, n, "", 0);
}


/* the idempotency key of the message an event carries, when it had a
 * client_msg_id and still names this entry */
static cv_status
cv_purge_idem(cv_txn *t, const char *conv_id, const cv_log_entry *e,
    cv_purge_stats *stats)
{
    char           key[CV_RET_IDEM_MAX];
    size_t         n;
    cJSON         *ev, *msg, *author;
    MDB_val        v;
    cv_author      a;
    cv_status      st;
    const char    *cmid;

    ev = cJSON_ParseWithLength(e->event, e->event_len);
    if (ev == NULL) {
        return CV_ERROR;        /* the key could not be known */
    }

    msg = cJSON_GetObjectItemCaseSensitive(ev, "message");
    author = cJSON_GetObjectItemCaseSensitive(msg, "author");
    cmid = cv_json_string(msg, "client_msg_id");

    a.type = cv_json_string(author, "type");
    a.id = cv_json_string(author, "id");
    a.name = NULL;

    st = CV_OK;

    if (cmid && a.type
        && cv_idem_key(key, sizeof(key), &n, &a, conv_id, cmid) == CV_OK
        && cv_raw_get(t, CV_DB_IDEMPOTENCY, key, n, &v) == CV_OK
        && v.mv_size == CV_U64BE_LEN && cv_get_u64be(v.mv_data) == e->seq)
    {
        st = cv_record_del(t, CV_DB_IDEMPOTENCY, key, n);
        stats->keys++;
    }

    cJSON_Delete(ev);
    return st;
}


static cv_status
cv_log_del(cv_txn *t, uint64_t seq)
{
    unsigned char  key[CV_U64BE_LEN];
    cv_status      st;

    cv_put_u64be(key, seq);
    st = cv_record_del(t, CV_DB_LOG, key, sizeof(key));

    return st == CV_NOT_FOUND ? CV_OK : st;
}


/* until_us: a CLOCK_MONOTONIC time at which to stop as at the budget's
 * end (0: none) */
static cv_status
cv_purge(cv_txn *t, const char *conv_id, size_t *budget, int64_t until_us,
    int *done, cv_purge_stats *stats)
{
    char          key[CV_RET_KEY_MAX];
    size_t        n;
    uint64_t      g, last_before, last_after, floor;
    cv_status     st;
    cv_conv_rec   rec;
    cv_log_entry  e;

    *done = 0;

    if (strlen(conv_id) >= CV_ID_MAX) {
        return CV_NOT_FOUND;
    }

    st = cv_conv_rec_get(t, conv_id, &rec);
    if (st != CV_OK) {
        return st;
    }

    /* out of the indexes first: none may point at an event that goes
     * (a purge cut short puts the record back, listed as a new one, its
     * events found along their chain) */
    st = cv_conv_index_remove(t, conv_id, &rec);

    if (st == CV_OK) {
        memset(&rec.indexed, 0, sizeof(rec.indexed));
        st = cv_log_last_key(t, &last_before);
    }

    /* its deliveries first: one whose event is gone would be due for
     * ever (a purge cut short goes on at the next step) */
    if (st == CV_OK && rec.key) {
        st = cv_wh_forget_conversation(t, rec.key, &stats->keys);
    }

    /* newest first: what is left is a shorter chain, still whole */
    for (g = rec.head; st == CV_OK && g != 0 && *budget > 0; ) {

        if (until_us && (stats->keys & CV_PURGE_CLOCK_MASK) == 0
            && cv_mono_us() >= until_us)
        {
            break;
        }
        st = cv_log_get(t, g, &e);

        if (st == CV_NOT_FOUND) {
            st = CV_OK;
            g = 0;
            break;
        }

        if (st != CV_OK) {
            break;
        }

        if (e.prev >= g) {
            st = CV_ERROR;      /* a chain goes back */
            break;
        }

        if (e.event) {
            n = stats->keys;
            st = cv_purge_idem(t, conv_id, &e, stats);

            if (stats->keys != n && *budget > 1) {
                (*budget)--;
            }
        }

        if (st == CV_OK) {
            g = e.prev;
            st = cv_log_del(t, e.seq);
            stats->keys++;
            (*budget)--;
        }
    }

    if (st == CV_OK && g != 0) {
        /* what is left ends at g: readers walk back from its seq */
        st = cv_log_get(t, g, &e);

        if (st == CV_OK && e.event) {
            rec.last_seq = e.conv_seq;
        }

        if (st == CV_OK) {
            rec.head = g;
            st = cv_conv_rec_put(t, conv_id, &rec);
        }

    } else if (st == CV_OK) {
        /* its creation, its index entries, its record */
        if (rec.key) {
            st = cv_log_del(t, rec.key);
            stats->keys++;
        }

        if (st == CV_OK) {
            n = cv_cus_key(key, rec.customer_id, conv_id);
            st = cv_meta_del(t, key, n);
        }

        if (st == CV_OK) {
            st = cv_record_del(t, CV_DB_CONVERSATIONS, conv_id,
                               strlen(conv_id));
            stats->keys++;
        }

        if (st == CV_OK) {
            *done = 1;
            stats->conversations++;
        }
    }

    cv_conv_rec_free(&rec);

    /* the last entries went: their seqs stay taken */
    if (st == CV_OK) {
        st = cv_log_last_key(t, &last_after);
    }

    if (st == CV_OK && last_after < last_before) {
        st = cv_meta_u64(t, CV_LOG_LAST_KEY, &floor);
        if (st == CV_OK && floor < last_before) {
            st = cv_meta_put_u64(t, CV_LOG_LAST_KEY, last_before);
        }
    }

    return st;
}


cv_status
cv_conversation_purge(cv_txn *t, const char *conv_id, size_t *budget,
    int *done)
{
    cv_purge_stats  stats;

    memset(&stats, 0, sizeof(stats));
    return cv_purge(t, conv_id, budget, 0, done, &stats);
}


/* ------------------------------------------------------------ retention */

cv_status
cv_retention_step(cv_txn *t, int64_t cutoff_ms, size_t budget,
    cv_purge_stats *stats)
{
    char            conv[CV_ID_MAX];
    int64_t         until;
    uint64_t        cursor, passed;
    int             done, rc;
    MDB_val         k, v;
    MDB_cursor     *c;
    cv_status       st;
    cv_log_entry    e;
    cv_log_names    names;
    cv_conv_state   cs;
    unsigned char   key[CV_U64BE_LEN];

    memset(stats, 0, sizeof(*stats));
    until = cv_mono_us() + CV_PURGE_STEP_MS * 1000;

    /* first the conversation the last step left in part */
    st = cv_raw_get(t, CV_DB_META, CV_RET_CURRENT,
                    CV_LIT_LEN(CV_RET_CURRENT), &v);

    if (st == CV_OK) {
        if (v.mv_size == 0 || v.mv_size >= sizeof(conv)) {
            return CV_ERROR;
        }

        memcpy(conv, v.mv_data, v.mv_size);
        conv[v.mv_size] = '\0';

        st = cv_purge(t, conv, &budget, until, &done, stats);

        if (st == CV_NOT_FOUND) {
            st = CV_OK;
            done = 1;
        }

        if (st != CV_OK) {
            return st;
        }

        if (!done) {
            stats->more = 1;
            return CV_OK;
        }

        st = cv_meta_del(t, CV_RET_CURRENT, CV_LIT_LEN(CV_RET_CURRENT));
    }

    if (st == CV_NOT_FOUND) {
        st = CV_OK;
    }

    if (st == CV_OK) {
        st = cv_meta_u64(t, CV_RET_CURSOR, &cursor);
    }

    if (st != CV_OK) {
        return st;
    }

    passed = cursor;

    for ( ;; ) {
        if (budget == 0 || cv_mono_us() >= until) {
            stats->more = 1;
            break;
        }

        rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_LOG], &c);
        if (rc != 0) {
            return cv_status_from_mdb(rc);
        }

        cv_put_u64be(key, passed + 1);
        k.mv_data = key;
        k.mv_size = sizeof(key);

        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);

        /* the conversation's id before the map changes under the entry */
        st = CV_OK;
        conv[0] = '\0';

        if (rc == 0) {
            st = cv_log_decode(&k, &v, &e);
        }

        if (rc == 0 && st == CV_OK && e.created_ms <= cutoff_ms) {
            st = cv_log_entry_names(&e, &names);

            if (st == CV_OK
                && names.type_len == CV_LIT_LEN(CV_EV_CONVERSATION_CLOSED)
                && memcmp(names.type, CV_EV_CONVERSATION_CLOSED,
                          names.type_len) == 0
                && names.conversation_id_len < sizeof(conv))
            {
                memcpy(conv, names.conversation_id,
                       names.conversation_id_len);
                conv[names.conversation_id_len] = '\0';
            }
        }

        mdb_cursor_close(c);

        if (rc == MDB_NOTFOUND) {
            break;
        }

        if (rc != 0) {
            return cv_status_from_mdb(rc);
        }

        if (st != CV_OK) {
            return st;
        }

        if (e.created_ms > cutoff_ms) {
            break;          /* the rest is newer */
        }

        passed = e.seq;
        stats->walked++;
        budget--;

        if (conv[0] == '\0') {
            continue;
        }

        /* closed is for good; an open one would be a bug to leave be */
        st = cv_conversation_state(t, conv, &cs);

        if (st == CV_OK && !cs.open) {
            st = cv_purge(t, conv, &budget, until, &done, stats);

            if (st == CV_OK && !done) {
                st = cv_record_put_raw(t, CV_DB_META, CV_RET_CURRENT,
                                       CV_LIT_LEN(CV_RET_CURRENT), conv,
                                       strlen(conv));
                stats->more = 1;
                break;
            }
        }

        if (st == CV_NOT_FOUND) {
            st = CV_OK;     /* erased meanwhile */
        }

        if (st != CV_OK) {
            return st;
        }
    }

    if (st == CV_OK && passed != cursor) {
        st = cv_meta_put_u64(t, CV_RET_CURSOR, passed);
    }

    return st;
}


/* ---------------------------------------------------- customers' index */

static cv_status
cv_meta_exists(cv_txn *t, const void *key, size_t len, int *yes)
{
    MDB_val    v;
    cv_status  st;

    st = cv_raw_get(t, CV_DB_META, key, len, &v);
    *yes = (st == CV_OK);

    return st == CV_NOT_FOUND ? CV_OK : st;
}


/* deletes the keys of db that start with prefix; how many in *n */
static cv_status
cv_del_prefix(cv_txn *t, int db, const void *prefix, size_t len, size_t *n)
{
    int          rc;
    MDB_val      k, v;
    MDB_cursor  *c;

    rc = mdb_cursor_open(t->txn, t->store->dbi[db], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    /* each time the first that is left */
    for ( ;; ) {
        k.mv_data = (void *) prefix;
        k.mv_size = len;

        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc != 0 || k.mv_size < len || memcmp(k.mv_data, prefix, len) != 0)
        {
            break;
        }

        rc = mdb_cursor_del(c, 0);
        if (rc != 0) {
            break;
        }

        (*n)++;
    }

    mdb_cursor_close(c);

    return (rc == 0 || rc == MDB_NOTFOUND) ? CV_OK : cv_status_from_mdb(rc);
}


cv_status
cv_retention_backfill(cv_txn *t, size_t budget, int *more)
{
    char            key[CV_RET_KEY_MAX], conv[CV_ID_MAX];
    char            after[CV_ID_MAX];
    size_t          n, unlimited, erased;
    int             rc, yes, done;
    MDB_val         k, v;
    MDB_cursor     *c;
    cv_status       st;
    cv_conv_rec     rec;
    cv_purge_stats  stats;

    *more = 0;

    st = cv_meta_exists(t, CV_RET_INDEXED, CV_LIT_LEN(CV_RET_INDEXED), &yes);
    if (st != CV_OK || yes) {
        return st;
    }

    after[0] = '\0';

    st = cv_raw_get(t, CV_DB_META, CV_RET_BACKFILL,
                    CV_LIT_LEN(CV_RET_BACKFILL), &v);

    if (st == CV_OK && v.mv_size < sizeof(after)) {
        memcpy(after, v.mv_data, v.mv_size);
        after[v.mv_size] = '\0';

    } else if (st != CV_NOT_FOUND && st != CV_OK) {
        return st;
    }

    memset(&stats, 0, sizeof(stats));

    while (budget > 0) {
        rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_CONVERSATIONS], &c);
        if (rc != 0) {
            return cv_status_from_mdb(rc);
        }

        k.mv_data = after;
        k.mv_size = strlen(after);

        rc = k.mv_size ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE)
                       : mdb_cursor_get(c, &k, &v, MDB_FIRST);

        if (rc == 0 && k.mv_size == strlen(after)
            && memcmp(k.mv_data, after, k.mv_size) == 0)
        {
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        }

        st = CV_OK;

        if (rc == 0) {
            if (k.mv_size >= sizeof(conv)) {
                st = CV_ERROR;

            } else {
                memcpy(conv, k.mv_data, k.mv_size);
                conv[k.mv_size] = '\0';
                st = cv_conv_rec_decode(v.mv_data, v.mv_size, &rec);
            }
        }

        mdb_cursor_close(c);

        if (rc == MDB_NOTFOUND) {
            break;
        }

        if (rc != 0 || st != CV_OK) {
            return rc ? cv_status_from_mdb(rc) : st;
        }

        budget--;
        strcpy(after, conv);

        /* rec.customer_id is a copy in rec, which the map does not hold */
        n = cv_erased_key(key, rec.customer_id);
        st = cv_meta_exists(t, key, n, &yes);

        if (st == CV_OK && yes) {
            unlimited = (size_t) -1;
            st = cv_purge(t, conv, &unlimited, 0, &done, &stats);

        } else if (st == CV_OK) {
            st = cv_retention_index(t, rec.customer_id, conv);
        }

        if (st != CV_OK) {
            return st;
        }
    }

    if (budget > 0) {
        /* every conversation is indexed now: erasing needs no tombstones */
        erased = 0;
        st = cv_record_put_raw(t, CV_DB_META, CV_RET_INDEXED,
                               CV_LIT_LEN(CV_RET_INDEXED), "", 0);

        if (st == CV_OK) {
            st = cv_meta_del(t, CV_RET_BACKFILL, CV_LIT_LEN(CV_RET_BACKFILL));
        }

        if (st == CV_OK) {
            st = cv_del_prefix(t, CV_DB_META, CV_RET_ERASED,
                               CV_LIT_LEN(CV_RET_ERASED), &erased);
        }

        return st;
    }

    *more = 1;
    return cv_record_put_raw(t, CV_DB_META, CV_RET_BACKFILL,
                             CV_LIT_LEN(CV_RET_BACKFILL), after,
                             strlen(after));
}


/* ---------------------------------------------------------------- erase */

cv_status
cv_customer_erase(cv_txn *t, const char *customer_id, cv_purge_stats *stats)
{
    char          key[CV_RET_KEY_MAX], conv[CV_ID_MAX];
    char          idem[CV_RET_IDEM_MAX], ext[CV_CUSTOMER_EXT_ID_MAX + 2];
    size_t        n, plen, unlimited;
    int           rc, done, yes;
    cJSON        *cus;
    MDB_val       k, v;
    MDB_cursor   *c;
    cv_author     a;
    cv_status     st;
    const char   *latest;

    memset(stats, 0, sizeof(stats[0]));

    if (strlen(customer_id) >= CV_ID_MAX) {
        return CV_NOT_FOUND;
    }

    st = cv_customer_get(t, customer_id, &cus);
    if (st != CV_OK) {
        return st;
    }

    unlimited = (size_t) -1;
    plen = cv_cus_key(key, customer_id, NULL);

    /* every conversation in the index; each purge takes its entry */
    for ( ;; ) {
        rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_META], &c);
        if (rc != 0) {
            st = cv_status_from_mdb(rc);
            break;
        }

        k.mv_data = key;
        k.mv_size = plen;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);

        conv[0] = '\0';
        if (rc == 0 && k.mv_size > plen && k.mv_size - plen < sizeof(conv)
            && memcmp(k.mv_data, key, plen) == 0)
        {
            memcpy(conv, (char *) k.mv_data + plen, k.mv_size - plen);
            conv[k.mv_size - plen] = '\0';
        }

        mdb_cursor_close(c);

        if (rc != 0 && rc != MDB_NOTFOUND) {
            st = cv_status_from_mdb(rc);
            break;
        }

        if (conv[0] == '\0') {
            break;
        }

        st = cv_purge(t, conv, &unlimited, 0, &done, stats);

        if (st == CV_NOT_FOUND) {
            /* an entry without its conversation */
            n = cv_cus_key(key, customer_id, conv);
            st = cv_meta_del(t, key, n);
            plen = cv_cus_key(key, customer_id, NULL);
        }

        if (st != CV_OK) {
            break;
        }
    }

    /* the latest, which a store from before the index may not have in it */
    latest = cv_json_string(cus, "conversation_id");

    if (st == CV_OK && latest) {
        st = cv_purge(t, latest, &unlimited, 0, &done, stats);
        if (st == CV_NOT_FOUND) {
            st = CV_OK;
        }
    }

    /* the customer's own retries: "customer:ID:" NUL ... */
    a.type = "customer";
    a.id = customer_id;
    a.name = NULL;

    if (st == CV_OK
        && cv_idem_key(idem, sizeof(idem), &n, &a, NULL, "") == CV_OK)
    {
        st = cv_del_prefix(t, CV_DB_IDEMPOTENCY, idem, n + 1, &stats->keys);
    }

    if (st == CV_OK
        && cv_customer_ext_id(cJSON_GetObjectItemCaseSensitive(cus, "id"),
                              ext, sizeof(ext))
           == CV_OK)
    {
        st = cv_record_del(t, CV_DB_CUSTOMER_IDS, ext, strlen(ext));
        if (st == CV_NOT_FOUND) {
            st = CV_OK;
        }
    }

    if (st == CV_OK) {
        st = cv_record_del(t, CV_DB_CUSTOMERS, customer_id,
                           strlen(customer_id));
        stats->keys++;
    }

    /* older conversations may wait for the backfill to find them */
    if (st == CV_OK) {
        st = cv_meta_exists(t, CV_RET_INDEXED, CV_LIT_LEN(CV_RET_INDEXED),
                            &yes);
    }

    if (st == CV_OK && !yes) {
        n = cv_erased_key(key, customer_id);
        st = cv_record_put_raw(t, CV_DB_META, key, n, "", 0);
    }

    cJSON_Delete(cus);
    return st;
}


cv_status
cv_retention_position(cv_txn *t, uint64_t *cursor, int *indexed)
{
    cv_status  st;

    st = cv_meta_u64(t, CV_RET_CURSOR, cursor);

    if (st == CV_OK) {
        st = cv_meta_exists(t, CV_RET_INDEXED, CV_LIT_LEN(CV_RET_INDEXED),
                            indexed);
    }

    return st;
}
