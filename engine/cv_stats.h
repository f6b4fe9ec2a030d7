/*
 * The store's counts and its oldest data, for chatvisorctl stats, and
 * the few the metrics read.
 */
#ifndef CV_STATS_H
#define CV_STATS_H

#include "cv_store.h"

#include <stddef.h>
#include <stdint.h>

/* What chatvisorctl stats shows: entries per kind and the oldest data. */
typedef struct {
    size_t    customers;
    size_t    conversations;
    size_t    log_entries;
    size_t    sessions;
    size_t    login_tokens;
    size_t    api_tokens;
    size_t    idempotency;
    size_t    deliveries;
    int64_t   oldest_ms;      /* the oldest log entry's time, 0: none */
    uint64_t  retention_cursor;
    int       indexed;        /* ret/indexed is set */
} cv_store_counts;

cv_status cv_store_count(cv_txn *t, cv_store_counts *out);

/* What the metrics read on every scrape, each in constant time or one
 * read per agent: open conversations (from the open counts, cv_index.h)
 * and agent records. */
cv_status cv_store_gauges(cv_txn *t, uint64_t *open_conversations,
    uint64_t *agents);

#endif
