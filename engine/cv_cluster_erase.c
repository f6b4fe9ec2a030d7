/*
 * Cluster mode's erasure from the stream (cv_cluster_erase.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_cluster_erase.h"
#include "cv_cluster.h"
#include "cv_store_impl.h"

#include <string.h>

#define CV_ERASE_CUS        "cluster/cus/"
#define CV_ERASE_TODO       "cluster/erase/"
#define CV_ERASE_LIT(s)     (sizeof(s) - 1)
#define CV_ERASE_KEY_MAX    (CV_ERASE_LIT(CV_ERASE_CUS) + CV_ID_MAX \
                             + CV_U64BE_LEN)

#define CV_ERASE_DATA       'd'
#define CV_ERASE_OUTCOME    'o'


int
cv_cluster_op_carries_data(const char *op)
{
    static const char  *ops[] = {
        "visitor.message", "agent.reply", "api.message", "api.customer_put",
        "visitor.contact", "visitor.identify"
    };

    size_t  i;

    for (i = 0; op && i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (strcmp(op, ops[i]) == 0) {
            return 1;
        }
    }

    return 0;
}


/* cluster/cus/CUS NUL (seq: and seq) */
static size_t
cv_erase_cus_key(unsigned char key[CV_ERASE_KEY_MAX], const char *cus,
    const uint64_t *seq)
{
    size_t  n, c;

    n = CV_ERASE_LIT(CV_ERASE_CUS);
    memcpy(key, CV_ERASE_CUS, n);
    c = strnlen(cus, CV_ID_MAX - 1);
    memcpy(key + n, cus, c);
    n += c;
    key[n++] = '\0';

    if (seq) {
        cv_put_u64be(key + n, *seq);
        n += CV_U64BE_LEN;
    }

    return n;
}


static size_t
cv_erase_todo_key(unsigned char key[CV_ERASE_KEY_MAX], uint64_t seq)
{
    memcpy(key, CV_ERASE_TODO, CV_ERASE_LIT(CV_ERASE_TODO));
    cv_put_u64be(key + CV_ERASE_LIT(CV_ERASE_TODO), seq);

    return CV_ERASE_LIT(CV_ERASE_TODO) + CV_U64BE_LEN;
}


cv_status
cv_cluster_erase_note(cv_txn *t, const char *customer_id, uint64_t seq,
    int data)
{
    unsigned char  key[CV_ERASE_KEY_MAX];
    unsigned char  flag;

    if (customer_id[0] == '\0' || strlen(customer_id) >= CV_ID_MAX) {
        return CV_OK;
    }

    flag = data ? CV_ERASE_DATA : CV_ERASE_OUTCOME;

    return cv_record_put_raw(t, CV_DB_META, key,
                             cv_erase_cus_key(key, customer_id, &seq),
                             &flag, 1);
}


cv_status
cv_cluster_erase_add(cv_txn *t, uint64_t seq)
{
    unsigned char  key[CV_ERASE_KEY_MAX];

    return cv_record_put_raw(t, CV_DB_META, key,
                             cv_erase_todo_key(key, seq), "", 0);
}


cv_status
cv_cluster_erase_customer(cv_txn *t, const char *customer_id, size_t *added)
{
    int            rc, data;
    size_t         plen;
    MDB_val        k, v;
    uint64_t       seq;
    cv_status      st;
    MDB_cursor    *c;
    unsigned char  key[CV_ERASE_KEY_MAX];

    *added = 0;

    if (customer_id[0] == '\0' || strlen(customer_id) >= CV_ID_MAX) {
        return CV_OK;
    }

    plen = cv_erase_cus_key(key, customer_id, NULL);

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_META], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    st = CV_OK;

    /* each time the first entry that is left */
    for ( ;; ) {
        k.mv_data = key;
        k.mv_size = plen;

        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc != 0 || k.mv_size != plen + CV_U64BE_LEN
            || memcmp(k.mv_data, key, plen) != 0)
        {
            break;
        }

        seq = cv_get_u64be((unsigned char *) k.mv_data + plen);
        data = (v.mv_size == 1
                && *(unsigned char *) v.mv_data == CV_ERASE_DATA);

        rc = mdb_cursor_del(c, 0);
        if (rc != 0) {
            break;
        }

        /* the cursor is not used across these writes: it looks again */
        st = cv_cluster_result_del(t, seq);

        if (st == CV_OK && data) {
            st = cv_cluster_erase_add(t, seq);
            (*added)++;
        }

        if (st != CV_OK) {
            break;
        }
    }

    mdb_cursor_close(c);

    if (st != CV_OK) {
        return st;
    }

    return (rc == 0 || rc == MDB_NOTFOUND) ? CV_OK : cv_status_from_mdb(rc);
}


cv_status
cv_cluster_erase_todo(cv_txn *t, uint64_t *seqs, size_t max, size_t *n)
{
    int            rc;
    size_t         plen;
    MDB_val        k, v;
    MDB_cursor    *c;
    unsigned char  key[CV_ERASE_KEY_MAX];

    *n = 0;
    plen = CV_ERASE_LIT(CV_ERASE_TODO);
    memcpy(key, CV_ERASE_TODO, plen);

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_META], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    k.mv_data = key;
    k.mv_size = plen;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);

    while (rc == 0 && *n < max && k.mv_size == plen + CV_U64BE_LEN
           && memcmp(k.mv_data, key, plen) == 0)
    {
        seqs[(*n)++] = cv_get_u64be((unsigned char *) k.mv_data + plen);
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }

    mdb_cursor_close(c);

    return (rc == 0 || rc == MDB_NOTFOUND) ? CV_OK : cv_status_from_mdb(rc);
}


cv_status
cv_cluster_erase_done(cv_txn *t, uint64_t seq)
{
    cv_status      st;
    unsigned char  key[CV_ERASE_KEY_MAX];

    st = cv_record_del(t, CV_DB_META, key, cv_erase_todo_key(key, seq));

    return st == CV_NOT_FOUND ? CV_OK : st;
}
