/* Unit tests of retention, erasure and growth (engine/cv_retention.c,
 * engine/cv_store.c). */
#define _POSIX_C_SOURCE 200809L

#include "cv_chat.h"
#include "cv_agents.h"
#include "cv_api_tokens.h"
#include "cv_expiry.h"
#include "cv_stats.h"
#include "cv_index.h"
#include "cv_webhooks.h"
#include "cv_time.h"
#include "cv_store_impl.h"
#include "fixture.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define BIG_MESSAGES  3000      /* one conversation purged in many steps */


static cv_txn *
wtxn(cv_store *st)
{
    cv_txn  *t;

    if (cv_txn_begin(st, 1, &t) != CV_OK) {
        printf("Bail out! no write transaction\n");
        exit(1);
    }

    return t;
}


static double
mono_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}


/* a customer's message: its conversation id into conv */
static cv_status
say(cv_txn *t, const char *cus, const char *cmid, const char *text,
    char conv[CV_ID_MAX], int *dup)
{
    cv_message  m;
    cv_status   s;
    cv_author   a = { "customer", NULL, NULL };

    a.id = cus;
    s = cv_message_post(t, NULL, cus, &a, cmid, text, NULL, &m);

    if (s == CV_OK) {
        strcpy(conv, m.conversation_id);
        if (dup) {
            *dup = m.duplicate;
        }
    }

    cv_message_clear(&m);
    return s;
}


/* log entries that name conv */
static size_t
log_entries_of(cv_txn *t, const char *conv)
{
    cJSON     *items, *e;
    uint64_t   cursor;
    size_t     n;

    items = cJSON_CreateArray();
    cv_log_read(t, 0, CV_LIMIT_NONE, items, &cursor);

    n = 0;
    cJSON_ArrayForEach(e, items) {
        if (str(e, "conversation_id") && strcmp(str(e, "conversation_id"),
                                                conv) == 0)
        {
            n++;
        }
    }

    cJSON_Delete(items);
    return n;
}


/* a directory for another store, in the test's own (removed at exit) */
static const char *
subdir(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tap_root, name);

    if (mkdir(buf, 0700) != 0) {
        printf("Bail out! mkdir %s failed\n", buf);
        exit(1);
    }

    return buf;
}


/* retention steps until one says there is no more (a step stops early
 * when it ran out of time, as on a loaded machine): their sums */
static cv_status
retention_all(cv_txn *t, int64_t cutoff, cv_purge_stats *sum)
{
    int             i;
    cv_status       s;
    cv_purge_stats  ps;

    memset(sum, 0, sizeof(*sum));

    for (i = 0; i < 100; i++) {
        s = cv_retention_step(t, cutoff, CV_PURGE_BUDGET, &ps);
        if (s != CV_OK) {
            return s;
        }

        sum->conversations += ps.conversations;
        sum->keys += ps.keys;
        sum->walked += ps.walked;

        if (!ps.more) {
            return CV_OK;
        }
    }

    sum->more = 1;
    return CV_OK;
}


static int
by_value(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


int
main(void)
{
    cv_store         *st;
    cv_txn           *t;
    char              c1[CV_ID_MAX], c2[CV_ID_MAX], c3[CV_ID_MAX];
    char              conv1[CV_ID_MAX], conv1b[CV_ID_MAX], conv2[CV_ID_MAX];
    char              big[CV_ID_MAX], x[CV_ID_MAX];
    char              text[64], cmid[32], secret[CV_SECRET_STR];
    char              grow_dir[512], big_dir[512];
    char              token[CV_API_TOKEN_STR];
    cJSON            *o, *agent, *fields;
    uint64_t          last, seq;
    int64_t           exp;
    int               dup, changed, i, created, partial;
    size_t            steps, max_keys, map, used, max, n;
    double            t0, took, worst, total = 0, times[1000];
    cv_status         s;
    cv_purge_stats    ps;
    cv_sweep_pos      pos;
    cv_store_counts   counts;
    cv_delivery       due[8];
    int64_t           next_due;
    cv_webhook_spec   spec = { "https://example.com/hook", 0, NULL, NULL };
    cv_author         ann = { "agent", "ann", "Ann" };
    cv_message        m;

    st = fx_store_open((size_t) 64 << 20);

    /* ------------------------------------------------ retention step */

    t = wtxn(st);
    ok(cv_webhook_create(t, &spec, cv_now_ms(), &o) == CV_OK,
       "a webhook endpoint");
    char wh[64];
    snprintf(wh, sizeof(wh), "%s", str(o, "id"));
    cJSON_Delete(o);

    fields = cJSON_Parse("{\"name\":\"Ann\"}");
    ok(cv_agent_put(t, "ann", fields, &agent, &created) == CV_OK, "agent");
    cJSON_Delete(fields);
    cJSON_Delete(agent);

    cv_customer_create(t, c1);
    cv_customer_create(t, c2);
    cv_customer_create(t, c3);

    ok(say(t, c1, "c-1", "first secret text", conv1, NULL) == CV_OK
       && say(t, c1, "c-2", "second", conv1, NULL) == CV_OK,
       "c1 writes twice into a conversation");
    ok(cv_message_post(t, conv1, NULL, &ann, "a-1", "an answer", NULL, &m)
       == CV_OK, "ann answers with a client_msg_id");
    cv_message_clear(&m);
    ok(cv_conversation_close(t, conv1, &ann, &changed) == CV_OK && changed,
       "closed");
    ok(say(t, c2, "d-1", "other customer", conv2, NULL) == CV_OK,
       "c2 writes");
    ok(cv_conversation_close(t, conv2, &ann, &changed) == CV_OK, "closed");
    ok(say(t, c1, "c-3", "a new one, open", conv1b, NULL) == CV_OK
       && strcmp(conv1, conv1b) != 0, "c1's next message opens another");
    ok(cv_webhook_scan(t, wh, 100, cv_now_ms(), &n, &i) == CV_OK && n > 4,
       "deliveries made (%zu)", n);
    ok(cv_txn_commit(t) == CV_OK, "committed");

    t = wtxn(st);
    ok(retention_all(t, cv_now_ms() - 3600000, &ps)
       == CV_OK && ps.conversations == 0 && ps.walked == 0,
       "nothing is older than an hour");
    ok(retention_all(t, cv_now_ms() + 1, &ps) == CV_OK
       && ps.conversations == 2 && !ps.more,
       "the two closed conversations are purged (%zu keys)", ps.keys);
    ok(cv_conversation_get(t, conv1, &o) == CV_NOT_FOUND
       && cv_conversation_get(t, conv2, &o) == CV_NOT_FOUND,
       "they are gone");
    ok(cv_conversation_get(t, conv1b, &o) == CV_OK, "the open one is kept");
    cJSON_Delete(o);
    ok(log_entries_of(t, conv1) == 0 && log_entries_of(t, conv2) == 0
       && log_entries_of(t, conv1b) == 2, "and so are their log entries");
    ok(cv_webhook_due(t, wh, cv_now_ms() + 1, NULL, 0, 8, due, &n,
                      &next_due) == CV_OK && n == 1,
       "one conversation's deliveries are due: the open one's");
    ok(say(t, c1, "c-1", "first secret text", x, &dup) == CV_OK && !dup
       && strcmp(x, conv1b) == 0,
       "c-1 again is a new message: its idempotency key went");
    ok(say(t, c1, "c-3", "a new one, open", x, &dup) == CV_OK && dup,
       "c-3 (of the open one) is still a retry");
    ok(retention_all(t, cv_now_ms() + 1, &ps) == CV_OK
       && ps.conversations == 0 && ps.walked == 1,
       "the next step starts after what the last one passed: one new "
       "entry (%zu)", ps.walked);
    ok(cv_txn_commit(t) == CV_OK, "committed");

    /* a failed delivery of a purged conversation cannot be retried */
    t = wtxn(st);
    {
        char                c4[CV_ID_MAX], conv4[CV_ID_MAX];
        cv_delivery_result  res = { 0, 500, "down", 0, 1, 0 };

        cv_customer_create(t, c4);
        cv_webhook_scan(t, wh, 100, cv_now_ms(), &n, &i);
        ok(say(t, c4, NULL, "doomed", conv4, NULL) == CV_OK
           && cv_webhook_scan(t, wh, 100, cv_now_ms(), &n, &i) == CV_OK
           && n == 2, "c4 writes: 2 deliveries");
        ok(cv_webhook_due(t, wh, cv_now_ms() + 1, NULL, 0, 8, due, &n,
                          &next_due) == CV_OK && n >= 1,
           "due (%zu)", n);
        res.attempt_ms = cv_now_ms();
        for (size_t k = 0; k < n; k++) {
            if (strcmp(due[k].conversation_id, conv4) == 0) {
                ok(cv_webhook_record(t, wh, due[k].dseq, &res) == CV_OK,
                   "its first delivery failed for good");
                snprintf(x, sizeof(x), "%s", due[k].id);
            }
        }
        cv_conversation_close(t, conv4, &ann, &changed);
        ok(retention_all(t, cv_now_ms() + 1, &ps) == CV_OK
           && ps.conversations == 1, "c4's conversation is purged");
        ok(cv_webhook_retry(t, wh, x, cv_now_ms(), NULL) == CV_CONFLICT,
           "retrying its failed delivery: CV_CONFLICT, its event is gone");
    }
    ok(cv_txn_commit(t) == CV_OK, "committed");

    /* --------------------------------------------------------- erase */

    t = wtxn(st);
    {
        uint32_t  open_before, open_after;
        int       assigned;

        ok(cv_conversation_assign(t, conv1b, &ann, &assigned) == CV_OK
           && cv_index_open_count(t, "ann", &open_before) == CV_OK
           && open_before >= 1, "c1's open conversation is ann's (%u open)",
           open_before);
        cv_log_last_seq(t, &last);
        ok(cv_customer_erase(t, c1, &ps) == CV_OK && ps.conversations == 1,
           "c1 is erased with their open conversation");
        ok(cv_index_open_count(t, "ann", &open_after) == CV_OK
           && open_after == open_before - 1,
           "and ann's open count follows (%u)", open_after);
    }
    ok(cv_customer_get(t, c1, &o) == CV_NOT_FOUND
       && cv_conversation_get(t, conv1b, &o) == CV_NOT_FOUND
       && log_entries_of(t, conv1b) == 0, "nothing of theirs is left");
    ok(cv_log_last_seq(t, &seq) == CV_OK && seq == last,
       "the log's last seq stays (%llu) though its last entries went",
       (unsigned long long) seq);
    ok(say(t, c3, NULL, "after", x, NULL) == CV_OK, "c3 writes");
    ok(cv_log_last_seq(t, &seq) == CV_OK && seq == last + 2,
       "and gets seqs after it");
    ok(cv_customer_erase(t, c1, &ps) == CV_NOT_FOUND, "erased twice: 404");
    ok(cv_webhook_due(t, wh, cv_now_ms() + 1, NULL, 0, 8, due, &n,
                      &next_due) == CV_OK && n == 0,
       "c1's pending deliveries went");
    ok(cv_webhook_scan(t, wh, 100, cv_now_ms(), &n, &i) == CV_OK && n == 2
       && cv_webhook_due(t, wh, cv_now_ms() + 1, NULL, 0, 8, due, &n,
                         &next_due) == CV_OK && n == 1,
       "c3's are made, the first of them due");
    ok(cv_txn_commit(t) == CV_OK, "committed");

    /* ------------------------------------- a long one, in small steps */

    t = wtxn(st);
    for (i = 0; i < BIG_MESSAGES; i++) {
        snprintf(text, sizeof(text), "message %d", i);
        snprintf(cmid, sizeof(cmid), "b-%d", i);
        if (say(t, c2, cmid, text, big, NULL) != CV_OK) {
            break;
        }
    }
    ok(i == BIG_MESSAGES, "%d messages in one conversation", i);
    cv_conversation_close(t, big, &ann, &changed);
    ok(cv_txn_commit(t) == CV_OK, "committed");

    steps = 0;
    partial = 0;
    max_keys = 0;
    worst = 0;

    do {
        t = wtxn(st);
        t0 = mono_ms();
        s = cv_retention_step(t, cv_now_ms() + 1, CV_PURGE_BUDGET, &ps);
        took = mono_ms() - t0;
        cv_txn_commit(t);

        worst = took > worst ? took : worst;
        total += took;
        if (steps < sizeof(times) / sizeof(times[0])) {
            times[steps] = took;
        }
        max_keys = ps.keys > max_keys ? ps.keys : max_keys;
        steps++;

        if (s == CV_OK && ps.more && ps.conversations == 0 && ps.keys
            && !partial)
        {
            cJSON     *ev = cJSON_CreateArray();
            uint64_t   cur;

            t = wtxn(st);
            ok(cv_conversation_events(t, big, 0, CV_LIMIT_NONE, ev, &cur)
               == CV_OK && cJSON_GetArraySize(ev) > 0
               && cJSON_GetArraySize(ev) < BIG_MESSAGES,
               "a conversation purged in part reads whole (%d events left)",
               cJSON_GetArraySize(ev));
            cv_txn_abort(t);
            cJSON_Delete(ev);
            partial = 1;
        }
    } while (s == CV_OK && ps.more && steps < 1000);

    ok(s == CV_OK && !ps.more && partial, "purged in %zu steps", steps);
    ok(max_keys <= CV_PURGE_BUDGET + 8,
       "no step deleted more than its budget (%zu keys at most)", max_keys);
    qsort(times, steps, sizeof(double), by_value);
    diag("steps of %d keys: median %.2f ms, 90%% %.2f ms, longest %.2f ms "
         "(all %zu: %.1f ms)", CV_PURGE_BUDGET, times[steps / 2],
         times[steps * 9 / 10], worst, steps, total);
    ok(times[steps / 2] < 50, "steps are short: the median is under 50 ms "
       "under ASan on a shared machine (-O2 alone: 0.3 ms; the longest "
       "includes the machine's other work)");

    t = wtxn(st);
    ok(cv_conversation_get(t, big, &o) == CV_NOT_FOUND
       && log_entries_of(t, big) == 0, "the long one is gone");
    ok(cv_store_count(t, &counts) == CV_OK && counts.conversations == 1
       && counts.idempotency == 0, "one conversation is left (c3's), and "
       "no idempotency key (%zu)", counts.idempotency);
    cv_txn_abort(t);

    /* ------------------------------------------------- expired secrets */

    t = wtxn(st);
    ok(cv_session_create(t, "ann", 1, secret, &exp) == CV_OK
       && cv_session_create(t, "ann", 3600000, secret, &exp) == CV_OK
       && cv_login_token_create(t, "ann", NULL, 1, secret, &exp) == CV_OK
       && cv_api_token_create(t, "crm", "0123456789abcdef", 1, token)
          == CV_OK
       && cv_api_token_create(t, "crm", "0123456789abcdef", 3600000, token)
          == CV_OK, "sessions and tokens, some expiring at once");
    ok(cv_txn_commit(t) == CV_OK, "committed");

    memset(&pos, 0, sizeof(pos));
    t = wtxn(st);
    ok(cv_expired_sweep(t, cv_now_ms() + 10, 2, &pos, &ps) == CV_OK
       && ps.more, "a sweep of 2 keys stops before it is round");
    n = ps.keys;
    ok(cv_expired_sweep(t, cv_now_ms() + 10, 100, &pos, &ps) == CV_OK
       && !ps.more && n + ps.keys == 3, "and goes on: 3 expired went");
    ok(cv_store_count(t, &counts) == CV_OK && counts.sessions == 1
       && counts.login_tokens == 0 && counts.api_tokens == 1,
       "the live ones are kept");
    ok(cv_txn_commit(t) == CV_OK, "committed");

    /* --------------------------------------------------------- backfill */

    t = wtxn(st);
    ok(cv_store_count(t, &counts) == CV_OK && counts.indexed,
       "a new store is indexed from the start");

    /* as a store from before the customers' index: not known indexed */
    ok(cv_record_del(t, CV_DB_META, CV_KEY_RET_INDEXED,
                     sizeof(CV_KEY_RET_INDEXED) - 1) == CV_OK
       && cv_store_count(t, &counts) == CV_OK && !counts.indexed,
       "a store that never backfilled is not known to be indexed");
    ok(cv_customer_erase(t, c3, &ps) == CV_OK, "an erase meanwhile");
    ok(cv_retention_backfill(t, 64, &i) == CV_OK && !i
       && cv_store_count(t, &counts) == CV_OK && counts.indexed,
       "the backfill runs through");
    ok(cv_retention_backfill(t, 64, &i) == CV_OK && !i,
       "and then has nothing to do");
    ok(cv_txn_commit(t) == CV_OK, "committed");

    cv_store_close(st);

    /* ----------------------------------------------------------- growth */

    memset(&fx_opt, 0, sizeof(fx_opt));
    fx_opt.path = subdir(grow_dir, sizeof(grow_dir), "grow");
    fx_opt.map_size = (size_t) 1 << 20;
    fx_opt.map_max = (size_t) 4 << 20;
    st = fx_store_reopen();

    cv_store_usage(st, &used, &map, &max);
    ok(map == (size_t) 1 << 20 && max == (size_t) 4 << 20,
       "the map starts at 1 MB of at most 4");

    t = wtxn(st);
    cv_customer_create(t, c1);
    cv_txn_commit(t);

    n = 0;
    for (i = 0; i < 100000; i++) {
        t = wtxn(st);
        snprintf(cmid, sizeof(cmid), "g-%d", i);
        s = say(t, c1, cmid, "a message that takes a little room, more "
                "than the others, so that the map fills", x, NULL);
        s = s == CV_OK ? cv_txn_commit(t) : (cv_txn_abort(t), s);

        if (s == CV_FULL) {
            ok(cv_full_cause() == CV_FULL_MAP, "full: the map");
            s = cv_store_grow(st, &map);
            if (s != CV_OK) {
                break;
            }
            n++;
            diag("grown to %zu bytes after %d messages", map, i);
        }
    }

    ok(s == CV_FULL && n == 2, "grown twice (2, 4 MB), then full (%d "
       "messages)", i);
    cv_store_usage(st, &used, &map, &max);
    ok(map == max && used > max / 2, "at the maximum");

    cv_store_close(st);
    st = fx_store_reopen();
    cv_store_usage(st, &used, &map, &max);
    ok(map == (size_t) 4 << 20, "opened again, it starts at the size it "
       "grew to");
    cv_store_close(st);

    /* a store whose record says more than the maximum (made before it) */
    memset(&fx_opt, 0, sizeof(fx_opt));
    fx_opt.path = subdir(big_dir, sizeof(big_dir), "recorded-big");
    fx_opt.map_size = (size_t) 8 << 20;
    st = fx_store_reopen();
    t = wtxn(st);
    cv_customer_create(t, c1);
    cv_txn_commit(t);
    cv_store_close(st);

    fx_opt.map_size = (size_t) 1 << 20;
    fx_opt.map_max = (size_t) 2 << 20;
    st = fx_store_reopen();
    cv_store_usage(st, &used, &map, &max);
    ok(map == (size_t) 2 << 20, "a record of 8 MB opens at the maximum, 2 MB");
    ok(cv_store_grow(st, &map) == CV_FULL && map == (size_t) 2 << 20,
       "and does not grow beyond it");
    cv_store_close(st);

    return done_testing();
}
