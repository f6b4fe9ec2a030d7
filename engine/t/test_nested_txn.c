/*
 * Unit tests of nested write transactions (cv_txn_nest, engine/cv_store.c):
 * what the group commit gives each write, so a write that fails after
 * writing leaves nothing while the batch's others stay.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_chat.h"
#include "fixture.h"

#include <stdlib.h>
#include <string.h>


static cv_status
post(cv_txn *t, const char *cus, const char *text, uint64_t *seq)
{
    cv_author   a = { "customer", cus, NULL };
    cv_message  m;
    cv_status   st;

    st = cv_message_post(t, NULL, cus, &a, NULL, text, NULL, &m);
    *seq = m.seq;
    cv_message_clear(&m);

    return st;
}


/* the global log's seqs, in order, as text "1,2,3" */
static void
log_seqs(cv_store *st, char *out, size_t size)
{
    cv_txn    *t;
    cJSON     *items, *e;
    uint64_t   cursor;
    size_t     n;

    out[0] = '\0';
    n = 0;
    items = cJSON_CreateArray();

    if (cv_txn_begin(st, 0, &t) == CV_OK) {
        (void) cv_log_read(t, 0, 100, items, &cursor);
        cv_txn_abort(t);
    }

    cJSON_ArrayForEach(e, items) {
        n += snprintf(out + n, size - n, "%s%.0f", n ? "," : "",
                      num(e, "seq"));
    }

    cJSON_Delete(items);
}


int
main(void)
{
    cv_store  *st;
    cv_txn    *t, *c;
    cJSON     *rec;
    char       a[CV_ID_MAX], b[CV_ID_MAX], x[CV_ID_MAX], seqs[256];
    uint64_t   seq;

    st = fx_store_open(1u << 20);

    ok(cv_txn_begin(st, 1, &t) == CV_OK, "a batch's transaction");

    /* a write kept: committed into the batch */
    ok(cv_txn_nest(t, &c) == CV_OK, "nested transaction");
    ok(cv_customer_create(c, a) == CV_OK && post(c, a, "kept", &seq) == CV_OK,
       "customer a and a message, nested");
    ok(cv_txn_nest_commit(t, c) == CV_OK, "nested commit");

    /* a write that fails after writing: dropped whole */
    ok(cv_txn_nest(t, &c) == CV_OK, "second nested transaction");
    ok(cv_customer_create(c, x) == CV_OK && post(c, x, "dropped", &seq)
       == CV_OK, "customer x and a message, nested");
    cv_txn_abort(c);

    ok(cv_customer_get(t, x, &rec) == CV_NOT_FOUND,
       "the aborted customer is not in the batch");

    /* the log's end is the batch's, not the aborted child's */
    ok(cv_txn_nest(t, &c) == CV_OK, "third nested transaction");
    ok(cv_customer_create(c, b) == CV_OK && post(c, b, "after", &seq)
       == CV_OK, "customer b and a message after the dropped one");
    ok(cv_txn_nest_commit(t, c) == CV_OK, "nested commit");

    ok(cv_txn_commit(t) == CV_OK, "the batch commits");

    ok(cv_txn_begin(st, 0, &t) == CV_OK, "read");
    ok(cv_customer_get(t, a, &rec) == CV_OK, "customer a stored");
    cJSON_Delete(rec);
    ok(cv_customer_get(t, b, &rec) == CV_OK, "customer b stored");
    cJSON_Delete(rec);
    ok(cv_customer_get(t, x, &rec) == CV_NOT_FOUND, "customer x never was");
    cv_txn_abort(t);

    /* created (a), message (a), created (b), message (b): no gap, no
     * seq of the dropped write */
    log_seqs(st, seqs, sizeof(seqs));
    ok(strcmp(seqs, "1,2,3,4") == 0, "the log has no hole: %s", seqs);

    /* a read transaction has no children */
    ok(cv_txn_begin(st, 0, &t) == CV_OK && cv_txn_nest(t, &c) == CV_ERROR,
       "no nested transaction in a read");
    cv_txn_abort(t);

    cv_store_close(st);

    return done_testing();
}
