/*
 * Unit tests of cluster mode's webhook commands (engine/
 * cv_cluster_webhooks.c): two stores that apply the sender's settle and a
 * retry's outcome come out with the same deliveries and cursor; an
 * endpoint a store does not have is passed over; a delivery recorded
 * already stays as it is; the sender's commands make no notice (quiet);
 * the API's test and retry make the same delivery on both.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_cluster_webhooks.h"
#include "fixture.h"
#include "fixture_cluster.h"

#include <stdlib.h>
#include <string.h>

#define SEED    "00112233445566778899aabbccddeeff"
#define T0      1764547200000LL
#define SECRET  "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
#define HOOK    "wh_cfg_hooks"



/* a command of the sender, with what publishing adds: seed and time */
static char *
text_of(cJSON *cmd, int64_t now)
{
    char  *text;

    cJSON_AddStringToObject(cmd, "seed", SEED);
    cJSON_AddNumberToObject(cmd, "now", (double) now);
    text = cJSON_PrintUnformatted(cmd);
    cJSON_Delete(cmd);

    return text;
}


/* both stores apply seq: both CV_OK, with status want, quiet or not */
static int
apply_both(cv_store *a, cv_store *b, uint64_t seq, const char *cmd,
    cv_status want, int quiet)
{
    int                ok;
    cv_cluster_result  ra, rb;

    ok = apply(a, seq, cmd, &ra) == CV_OK && apply(b, seq, cmd, &rb) == CV_OK
         && ra.status == want && rb.status == want
         && !ra.quiet == !quiet && !rb.quiet == !quiet;

    cv_cluster_result_clear(&ra);
    cv_cluster_result_clear(&rb);

    return ok;
}


static char *
deliveries(cv_store *st)
{
    char      *text;
    cJSON     *items;
    cv_txn    *t;
    uint64_t   next;

    items = cJSON_CreateArray();
    cv_txn_begin(st, 0, &t);
    cv_webhook_deliveries(t, HOOK, -1, 0, 100, items, &next);
    cv_txn_abort(t);

    text = cJSON_PrintUnformatted(items);
    cJSON_Delete(items);

    return text;
}


static uint64_t
cursor_of(cv_store *st)
{
    size_t                n, i;
    cv_txn               *t;
    uint64_t              c;
    cv_webhook_endpoint  *list;

    c = 0;
    cv_txn_begin(st, 0, &t);

    if (cv_webhook_endpoints(t, &list, &n) == CV_OK) {
        for (i = 0; i < n; i++) {
            if (strcmp(list[i].id, HOOK) == 0) {
                c = list[i].cursor;
            }
        }

        free(list);
    }

    cv_txn_abort(t);

    return c;
}


int
main(void)
{
    int                 more;
    char               *cmd, *da, *db;
    char                msg[512];
    size_t              n;
    cJSON              *c;
    cv_txn             *t;
    uint64_t            last;
    cv_store           *a, *b, *s;
    cv_delivery         d[4];
    cv_settle_item      items[2];
    cv_webhook_spec     spec = { "https://example.com/h",
                                 CV_WEBHOOK_MESSAGE_CREATED, "hooks",
                                 SECRET };
    cv_delivery_result  ok200 = { 1, 200, NULL, T0 + 10, 5, 0 };
    cv_delivery_result  fail = { 0, 500, "boom", T0 + 11, 7, T0 + 60000 };
    int                 i;
    unsigned char       secret[CV_STORE_SECRET_LEN];

    a = fx_store_open(8u << 20);
    b = fx_store_open(8u << 20);

    /* the cluster's secret (the event ids come from it) and the same
     * endpoint from nginx.conf on both, then two messages */
    memset(secret, 7, sizeof(secret));

    for (i = 0; i < 2; i++) {
        s = i ? b : a;
        cv_txn_begin(s, 1, &t);
        cv_cluster_secret_set(t, secret);
        cv_webhook_config_sync(t, &spec, 1, T0);
        cv_txn_commit(t);
    }

    snprintf(msg, sizeof(msg),
             "{\"op\":\"visitor.message\",\"seed\":\"" SEED "\","
             "\"now\":%lld,\"client_msg_id\":\"c1\",\"text\":\"hello\"}",
             (long long) T0);
    ok(apply_both(a, b, 1, msg, CV_OK, 0), "a visitor's message applies, "
       "not quiet");

    cv_txn_begin(a, 0, &t);
    ok(cv_webhook_window(t, HOOK, 0, 4, d, &n, &last, &more) == CV_OK
       && n == 1, "its message.created is in the window");
    cv_txn_abort(t);

    /* a second conversation's message: another customer */
    snprintf(msg, sizeof(msg),
             "{\"op\":\"visitor.message\",\"seed\":"
             "\"ffeeddccbbaa99887766554433221100\",\"now\":%lld,"
             "\"client_msg_id\":\"c2\",\"text\":\"again\"}",
             (long long) T0 + 1);
    apply_both(a, b, 2, msg, CV_OK, 0);

    cv_txn_begin(a, 0, &t);
    ok(cv_webhook_window(t, HOOK, 0, 4, d, &n, &last, &more) == CV_OK
       && n == 2, "two events in the window");
    cv_txn_abort(t);

    /* the settle: the first delivered, the second failed once; a part of
     * an endpoint these stores do not have */
    items[0].d = d[0];
    items[0].r = &ok200;
    items[1].d = d[1];
    items[1].r = &fail;

    c = cv_cluster_webhook_settle_cmd();
    ok(c && cv_cluster_webhook_settle_part(c, HOOK, items, 2, d[1].log_seq,
                                           NULL) == CV_OK
       && cv_cluster_webhook_settle_part(c, "wh_nope", items, 1, 99, NULL)
          == CV_OK, "a settle command of two parts");
    cmd = text_of(c, T0 + 20);

    ok(apply_both(a, b, 3, cmd, CV_OK, 1), "the settle applies on both, "
       "quiet, the unknown endpoint passed over");
    free(cmd);

    da = deliveries(a);
    db = deliveries(b);
    ok(strcmp(da, db) == 0, "the same deliveries on both");
    ok(strstr(da, "\"status\":\"delivered\"") && strstr(da, "boom")
       && strstr(da, "\"status\":\"pending\""),
       "one delivered, one pending after its failure");
    ok(cursor_of(a) == d[1].log_seq && cursor_of(b) == d[1].log_seq,
       "the cursor moved on both");
    free(da);
    free(db);

    /* the retry delivered: recorded on both; once more: no change */
    c = cv_cluster_webhook_record_cmd(HOOK, d[1].dseq, &ok200, NULL);
    cmd = text_of(c, T0 + 60001);
    ok(apply_both(a, b, 4, cmd, CV_OK, 1), "a retry's outcome applies");
    da = deliveries(a);
    ok(apply_both(a, b, 5, cmd, CV_OK, 1), "again: nothing to record");
    free(cmd);
    db = deliveries(b);
    ok(strcmp(da, db) == 0 && strstr(da, "pending") == NULL,
       "both delivered, the same on both");
    free(da);
    free(db);

    /* a settle sent again (by a node that took over) changes nothing */
    items[1].r = NULL;
    c = cv_cluster_webhook_settle_cmd();
    cv_cluster_webhook_settle_part(c, HOOK, items, 2, d[0].log_seq, NULL);
    cmd = text_of(c, T0 + 70000);
    da = deliveries(a);
    ok(apply_both(a, b, 6, cmd, CV_OK, 1), "a settle of settled events");
    db = deliveries(a);
    ok(strcmp(da, db) == 0 && cursor_of(a) == d[1].log_seq,
       "leaves the deliveries and the cursor as they were");
    free(cmd);
    free(da);
    free(db);

    /* the API's test: the same delivery on both (its id and event id
     * from the command's seed), the sender told */
    c = cv_cluster_webhook_api_cmd(HOOK, NULL);
    cmd = text_of(c, T0 + 75000);
    {
        cv_cluster_result  ra, rb;

        ok(apply(a, 7, cmd, &ra) == CV_OK && apply(b, 7, cmd, &rb) == CV_OK
           && ra.status == CV_OK && ra.webhooks && !ra.quiet && ra.result
           && rb.result && strcmp(str(ra.result, "id"), str(rb.result, "id"))
              == 0
           && strcmp(str(ra.result, "event_id"), str(rb.result, "event_id"))
              == 0, "a test delivery: the same on both, the sender told");
        cv_cluster_result_clear(&ra);
        cv_cluster_result_clear(&rb);
    }
    free(cmd);

    /* the API's retry of a delivered one: refused, with its reason */
    {
        cv_cluster_result  ra;
        char               id[CV_DELIVERY_ID_MAX];

        memcpy(id, d[0].id, sizeof(id));
        c = cv_cluster_webhook_api_cmd(HOOK, id);
        cmd = text_of(c, T0 + 76000);
        ok(apply(a, 8, cmd, &ra) == CV_OK && ra.status == CV_CONFLICT
           && strcmp(ra.why, "this delivery was delivered") == 0,
           "a retry of a delivered one: 409 and why");
        apply(b, 8, cmd, &ra);
        free(cmd);
    }
    da = deliveries(a);
    db = deliveries(b);
    ok(strcmp(da, db) == 0, "the same deliveries on both, the test's too");
    free(da);
    free(db);

    /* a disable travels with its settle */
    c = cv_cluster_webhook_settle_cmd();
    cv_cluster_webhook_settle_part(c, HOOK, NULL, 0, d[1].log_seq, "gone");
    cmd = text_of(c, T0 + 80000);
    ok(apply_both(a, b, 9, cmd, CV_OK, 1), "a settle with a disable");
    free(cmd);
    ok(cursor_of(a) == 0 && cursor_of(b) == 0,
       "the endpoint is disabled on both (no longer listed)");

    c = cv_cluster_webhook_settle_cmd();
    cv_cluster_webhook_settle_part(c, HOOK, NULL, 0, 0, "bogus");
    cmd = text_of(c, T0 + 90000);
    ok(apply_both(a, b, 10, cmd, CV_INVALID, 1), "an unknown reason: refused");
    free(cmd);

    cv_store_close(a);
    cv_store_close(b);

    return done_testing();
}
