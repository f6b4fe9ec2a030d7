/*
 * The store's counts and its oldest data (cv_stats.h), for chatvisorctl
 * stats.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_stats.h"
#include "cv_log_impl.h"
#include "cv_retention.h"
#include "cv_index.h"

#include <string.h>

static size_t
cv_entries(cv_txn *t, int db)
{
    MDB_stat  s;

    if (mdb_stat(t->txn, t->store->dbi[db], &s) != 0) {
        return 0;
    }

    return s.ms_entries;
}


cv_status
cv_store_count(cv_txn *t, cv_store_counts *out)
{
    int           rc, yes;
    MDB_val       k, v;
    MDB_cursor   *c;
    cv_status     st;
    cv_log_entry  e;

    memset(out, 0, sizeof(*out));

    out->customers = cv_entries(t, CV_DB_CUSTOMERS);
    out->conversations = cv_entries(t, CV_DB_CONVERSATIONS);
    out->log_entries = cv_entries(t, CV_DB_LOG);
    out->sessions = cv_entries(t, CV_DB_SESSIONS);
    out->login_tokens = cv_entries(t, CV_DB_LOGIN_TOKENS);
    out->api_tokens = cv_entries(t, CV_DB_API_TOKENS);
    out->idempotency = cv_entries(t, CV_DB_IDEMPOTENCY);
    out->deliveries = cv_entries(t, CV_DB_DELIVERIES);

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_LOG], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    if (rc == 0 && cv_log_decode(&k, &v, &e) == CV_OK) {
        out->oldest_ms = e.created_ms;
    }

    mdb_cursor_close(c);

    st = cv_retention_position(t, &out->retention_cursor, &yes);
    out->indexed = yes;

    return st;
}


cv_status
cv_store_gauges(cv_txn *t, uint64_t *open_conversations, uint64_t *agents)
{
    *agents = cv_entries(t, CV_DB_AGENTS);

    return cv_index_open_total(t, open_conversations);
}
