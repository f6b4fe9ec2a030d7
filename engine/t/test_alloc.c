/*
 * Allocation failures in the engine: each allocation an operation makes is
 * made to fail in turn, and the operation must then report a failure, never
 * success with a part of its answer (and leak nothing: LeakSanitizer checks
 * at exit). The engine's own calls to malloc, calloc and realloc come to
 * the wrappers below (the Makefile links this test with --wrap); those of
 * cJSON and LMDB, libraries of their own, do not.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_agents.h"
#include "cv_chat.h"
#include "cv_retention.h"
#include "cv_routing.h"
#include "cv_session_cache.h"
#include "cv_time.h"
#include "cv_tz.h"
#include "cv_webhooks.h"
#include "fixture.h"

#include <stdlib.h>
#include <string.h>

#define CONVERSATIONS  70      /* the list grows its array twice */
#define ALLOCS_MAX     1000    /* more in one operation is a runaway */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);

static long  fail_at = -1;      /* which allocation fails, from 0; -1 none */
static long  calls;


static int
failing(void)
{
    return fail_at >= 0 && calls++ == fail_at;
}


void *
__wrap_malloc(size_t n)
{
    return failing() ? NULL : __real_malloc(n);
}


void *
__wrap_calloc(size_t n, size_t size)
{
    return failing() ? NULL : __real_calloc(n, size);
}


void *
__wrap_realloc(void *p, size_t n)
{
    return failing() ? NULL : __real_realloc(p, n);
}


static cv_store          *st;
static char               conv[CV_ID_MAX];
static char               fresh[CV_ID_MAX];   /* a customer who never wrote */
static cv_session_cache  *cache;
static char               session[CV_SECRET_STR];
static char               webhook[CV_WEBHOOK_ID_MAX];
static cv_delivery        reply;              /* of Ann's reply */
static char               erasable[CV_ID_MAX]; /* a customer with a closed
                                                  conversation of 3 messages */

/* an operation in a transaction: its status, and in *whole whether its
 * answer is all there */
typedef cv_status (*op_pt)(cv_txn *t, int *whole);


/*
 * Runs op with its first allocation failing, then its second, and so on,
 * until a run in which none failed; that one must succeed whole, and every
 * other fail. At least one allocation must have been made to fail (unless
 * none: an operation that allocates only through cJSON, which is not
 * wrapped). Each run has a transaction of its own, aborted after it:
 * nothing is kept.
 */
static int
each_allocation_fails_or_none(const char *what, int write, op_pt op,
    int none)
{
    cv_txn    *t;
    cv_status  s;
    long       n;
    int        whole, failed, good;

    good = 1;

    for (n = 0; n < ALLOCS_MAX; n++) {
        if (cv_txn_begin(st, write, &t) != CV_OK) {
            diag("%s: no transaction", what);
            return 0;
        }

        calls = 0;
        fail_at = n;
        whole = 0;

        s = op(t, &whole);

        failed = calls > n;
        fail_at = -1;
        cv_txn_abort(t);

        if (failed && s == CV_OK) {
            diag("%s: allocation %ld failed, and it said CV_OK", what, n);
            good = 0;
        }

        if (!failed) {
            if (s != CV_OK || !whole) {
                diag("%s: no allocation failed, and it said %s%s", what,
                     cv_status_text(s), whole ? "" : " (not whole)");
                good = 0;
            }

            diag("%s: %ld allocations", what, n);
            return good && (n > 0 || none);
        }
    }

    diag("%s: more than %d allocations", what, ALLOCS_MAX);
    return 0;
}


static int
each_allocation_fails(const char *what, int write, op_pt op)
{
    return each_allocation_fails_or_none(what, write, op, 0);
}


static cv_status
op_list(cv_txn *t, int *whole)
{
    cJSON      *items;
    cv_status   s;

    items = cJSON_CreateArray();

    s = cv_conversation_list(t, NULL, NULL, CV_LIMIT_NONE, items);
    *whole = cJSON_GetArraySize(items) == CONVERSATIONS;

    if (s != CV_OK && cJSON_GetArraySize(items) != 0) {
        diag("a failed list left %d items", cJSON_GetArraySize(items));
        s = CV_OK;
    }

    cJSON_Delete(items);
    return s;
}


/* a customer's first message: it opens a conversation */
static cv_status
op_post(cv_txn *t, int *whole)
{
    cv_status    s;
    cv_message   m;
    cv_author    who = { "customer", fresh, NULL };

    s = cv_message_post(t, NULL, fresh, &who, "c1", "hello", NULL, &m);
    *whole = m.json != NULL && m.seq == 1;

    if (s != CV_OK && m.json != NULL) {
        diag("a failed post left a message");
        s = CV_OK;
    }

    cv_message_clear(&m);
    return s;
}


static cv_status
op_events(cv_txn *t, int *whole)
{
    cv_status   s;
    char       *json;
    size_t      len, count;
    uint64_t    cursor;

    json = NULL;

    s = cv_conversation_events_json(t, conv, 0, 100, &json, &len, &count,
                                    &cursor);
    *whole = json && count == 3;

    free(json);
    return s;
}


static cv_status
op_since(cv_txn *t, int *whole)
{
    cJSON         *items;
    cv_status      s;
    uint64_t       next;
    cv_json_text   b;

    cv_jt_init(&b, 0);

    s = cv_conversations_since(t, 0, 500, NULL, &b, &next);

    /* cJSON's own allocations are not wrapped */
    items = s == CV_OK ? cJSON_ParseWithLength(b.data, b.len) : NULL;
    *whole = cJSON_GetArraySize(items) == CONVERSATIONS;

    cJSON_Delete(items);
    cv_jt_free(&b);
    return s;
}


static cv_status
op_route(cv_txn *t, int *whole)
{
    cJSON      *ids;
    cv_status   s;
    char        picked[CV_AGENT_ID_MAX + 1];

    ids = cJSON_Parse("[\"ann\"]");

    s = cv_route_pick(t, CV_ROUTE_LEAST_BUSY, ids, picked);
    *whole = s == CV_OK && strcmp(picked, "ann") == 0;

    cJSON_Delete(ids);
    return s;
}


static cv_status
op_session(cv_txn *t, int *whole)
{
    const cJSON  *agent;
    cv_status     s;

    s = cv_session_cache_agent(cache, t, session, &agent);
    *whole = s == CV_OK
             && strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(agent,
                                                                "id")),
                       "ann") == 0;

    /* forgotten again, so that the next run verifies from the start */
    fail_at = -1;
    cv_session_cache_destroy(cache);
    cache = cv_session_cache_create(1);

    return s;
}


static cv_status
op_tz(cv_txn *t, int *whole)
{
    cv_tz      *tz;
    cv_status   s;
    char        err[256];

    (void) t;

    tz = NULL;
    s = cv_tz_load(&tz, "Europe/Madrid", NULL, err, sizeof(err));
    *whole = tz != NULL;

    if (s != CV_OK && tz != NULL) {
        diag("a failed load left a zone");
        s = CV_OK;
    }

    cv_tz_free(tz);
    return s;
}


static cv_status
op_payload(cv_txn *t, int *whole)
{
    char       *json;
    size_t      len;
    cv_status   s;

    json = NULL;

    s = cv_webhook_payload(t, webhook, &reply, &json, &len);
    *whole = json && strstr(json, "\"author\"") && len == strlen(json);

    free(json);
    return s;
}


static cv_status
op_endpoints(cv_txn *t, int *whole)
{
    cv_webhook_endpoint  *list;
    size_t                n;
    cv_status             s;

    list = NULL;

    s = cv_webhook_endpoints(t, &list, &n);
    *whole = list && n == 1 && strcmp(list[0].id, webhook) == 0;

    if (s != CV_OK && list != NULL) {
        diag("a failed list of endpoints left one");
        s = CV_OK;
    }

    free(list);
    return s;
}


static cv_status
op_erase(cv_txn *t, int *whole)
{
    cJSON          *cus;
    cv_status       s;
    cv_purge_stats  ps;

    s = cv_customer_erase(t, erasable, &ps);
    *whole = ps.conversations == 1 && cv_customer_get(t, erasable, &cus)
                                      == CV_NOT_FOUND;
    return s;
}


static cv_status
op_retention(cv_txn *t, int *whole)
{
    int             i;
    size_t          purged;
    cv_status       s;
    cv_purge_stats  ps;

    /* a step may stop early when it runs out of time (a loaded machine) */
    purged = 0;
    for (i = 0; i < 100; i++) {
        s = cv_retention_step(t, cv_now_ms() + 1, CV_PURGE_BUDGET, &ps);
        purged += ps.conversations;
        if (s != CV_OK || !ps.more) {
            break;
        }
    }

    *whole = purged == 1;
    return s;
}


int
main(void)
{
    cv_txn           *t;
    cJSON            *hook;
    cv_message        m;
    char              cus[CV_ID_MAX];
    cv_author         who = { "customer", NULL, NULL };
    cv_author         ann = { "agent", "ann", "Ann" };
    cv_webhook_spec   spec = { "https://hooks.example/", 0, NULL, NULL };
    char              cmid[16], closed[CV_ID_MAX];
    int64_t           exp;
    int               i, created;

    st = fx_store_open(8u << 20);

    cv_txn_begin(st, 1, &t);
    cv_webhook_create(t, &spec, cv_now_ms(), &hook);
    snprintf(webhook, sizeof(webhook), "%s",
             cJSON_GetStringValue(cJSON_GetObjectItem(hook, "id")));
    cJSON_Delete(hook);
    cv_agent_put(t, "ann", NULL, NULL, &created);
    cv_session_create(t, "ann", 60000, session, &exp);

    for (i = 0; i < CONVERSATIONS; i++) {
        cv_customer_create(t, cus);
        who.id = cus;
        cv_message_post(t, NULL, cus, &who, NULL, "hi", NULL, &m);
        snprintf(conv, sizeof(conv), "%s", m.conversation_id);
        cv_message_clear(&m);
    }

    /* the last one has 3 events: the first message, Ann joins, a reply */
    cv_conversation_assign(t, conv, &ann, &created);
    cv_message_post(t, conv, NULL, &ann, NULL, "hello", NULL, &m);
    cv_message_clear(&m);
    cv_customer_create(t, fresh);


    /* the reply's delivery, as the sender would have it */
    cv_log_last_seq(t, &reply.log_seq);
    reply.type = CV_WEBHOOK_MESSAGE_CREATED;
    cv_webhook_event_id(t, reply.log_seq, reply.event_id);
    cv_txn_commit(t);

    cache = cv_session_cache_create(1);

    /* read from the indexes: its only allocations are cJSON's */
    ok(each_allocation_fails_or_none("cv_conversation_list", 0, op_list, 1),
       "listing conversations: whole, and a failed allocation is a failure");
    ok(each_allocation_fails("cv_message_post", 1, op_post),
       "posting a message");
    ok(each_allocation_fails("cv_conversation_events_json", 0, op_events),
       "a conversation's events as text");
    ok(each_allocation_fails("cv_conversations_since", 0, op_since),
       "the conversations changed since a position");
    ok(each_allocation_fails("cv_route_pick", 1, op_route), "routing");
    ok(each_allocation_fails("cv_session_cache_agent", 0, op_session),
       "verifying a session into the cache");
    ok(each_allocation_fails("cv_tz_load", 0, op_tz),
       "loading a time zone");
    ok(each_allocation_fails("cv_webhook_payload", 0, op_payload),
       "a webhook's payload");
    ok(each_allocation_fails("cv_webhook_endpoints", 0, op_endpoints),
       "the webhook endpoints the sender reads");
    /* a customer with a closed conversation of 3 messages */
    cv_txn_begin(st, 1, &t);
    cv_customer_create(t, erasable);
    who.id = erasable;
    for (i = 0; i < 3; i++) {
        snprintf(cmid, sizeof(cmid), "e-%d", i);
        cv_message_post(t, NULL, erasable, &who, cmid, "forget me", NULL, &m);
        snprintf(closed, sizeof(closed), "%s", m.conversation_id);
        cv_message_clear(&m);
    }
    cv_conversation_close(t, closed, &ann, &created);
    cv_txn_commit(t);

    ok(each_allocation_fails("cv_customer_erase", 1, op_erase),
       "erasing a customer");
    ok(each_allocation_fails("cv_retention_step", 1, op_retention),
       "a step of retention");

    cv_session_cache_destroy(cache);
    cv_store_close(st);

    return done_testing();
}
