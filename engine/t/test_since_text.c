/*
 * The REST poll's text (cv_conversations_since): byte for byte what a
 * cJSON print of each conversation gives, the way the API showed it when
 * it parsed every state and printed the page. A page that reaches the
 * log's end shows each conversation as it is now, so cv_conversation_get()
 * printed is the reference; the conversations hold what a print escapes
 * (quotes, backslashes, controls, non-ASCII) and have each kind of last
 * change: its state (created, assigned, closed) or a message after it.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_chat.h"
#include "fixture.h"

#include <stdlib.h>
#include <string.h>

#define CONVS  6
#define ALL    (CONVS + 1)   /* and the one a message after a close opens */


static cv_status
message(cv_txn *t, const char *conv, const char *cus, const cv_author *a,
    const char *text, const char *url, char *conv_out)
{
    cv_message  m;
    cv_status   s;

    s = cv_message_post(t, conv, cus, a, NULL, text, url, &m);

    if (s == CV_OK && conv_out) {
        strcpy(conv_out, m.conversation_id);
    }

    cv_message_clear(&m);
    return s;
}


/* "[" each of ids printed by cJSON as cv_conversation_get() has it "]",
 * those of status only (NULL: all) */
static char *
expected(cv_txn *t, char ids[][CV_ID_MAX], size_t n, const char *status)
{
    cv_json_text   b;
    cJSON         *c;
    char          *p;
    size_t         i;
    int            first;

    cv_jt_init(&b, 0);
    cv_jt_raw(&b, "[", 1);
    first = 1;

    for (i = 0; i < n; i++) {
        if (cv_conversation_get(t, ids[i], &c) != CV_OK) {
            cv_jt_free(&b);
            return NULL;
        }

        if (status == NULL || strcmp(str(c, "status"), status) == 0) {
            p = cJSON_PrintUnformatted(c);
            if (!first) {
                cv_jt_raw(&b, ",", 1);
            }
            cv_jt_lit(&b, p);
            cJSON_free(p);
            first = 0;
        }

        cJSON_Delete(c);
    }

    cv_jt_raw(&b, "]", 1);
    return cv_jt_take(&b, NULL);
}


/* the poll's text from after, limit 50 */
static char *
since(cv_txn *t, uint64_t after, const char *status, uint64_t *next)
{
    cv_json_text  b;

    cv_jt_init(&b, 0);

    if (cv_conversations_since(t, after, 50, status, &b, next) != CV_OK) {
        cv_jt_free(&b);
        return NULL;
    }

    return cv_jt_take(&b, NULL);
}


static void
same(const char *got, const char *want, const char *what)
{
    ok(got && want && strcmp(got, want) == 0, "%s: the same bytes", what);

    if (got && want && strcmp(got, want) != 0) {
        diag("got  %s", got);
        diag("want %s", want);
    }
}


int
main(void)
{
    static const char  *urls[CONVS] = {
        "https://shop.example/\xc3\xa9t\xc3\xa9?q=\"quoted\"&x=\\back",
        "https://shop.example/tab\there/nl\nthere/\x01\x1f",
        "https://shop.example/\xf0\x9f\x98\x80/\xe2\x80\xa8",
        "https://shop.example/plain",
        NULL,
        "https://shop.example/</script>/\\u0041"
    };

    cv_store   *st;
    cv_txn     *t;
    cv_author   visitor = { "customer", NULL, NULL };
    cv_author   ann = { "agent", "ann", "Ann \"the\" \\Agent\\ \xc3\xa5" };
    cv_author   sys = { "system", NULL, NULL };
    char        cus[CONVS][CV_ID_MAX], ids[CONVS][CV_ID_MAX];
    char        order[ALL][CV_ID_MAX];
    char       *got, *want;
    cJSON      *items, *it;
    uint64_t    next, last, mid;
    int         changed, i, n, inorder;

    st = fx_store_open(1u << 22);

    cv_txn_begin(st, 1, &t);

    for (i = 0; i < CONVS; i++) {
        cv_customer_create(t, cus[i]);
        visitor.id = cus[i];
        ok(message(t, NULL, cus[i], &visitor, "hi \"there\" \xe2\x82\xac",
                   urls[i], ids[i]) == CV_OK, "conversation %d opened", i);
    }

    cv_log_last_seq(t, &mid);

    /* the last changes, in this order: 1 its state (assigned), 2 a message
     * after assigning, 3 closed, 4 a message after closing, 0 replies and
     * is assigned last, 5 only its creation (left first) */
    cv_conversation_assign(t, ids[1], &ann, &changed);
    cv_conversation_assign(t, ids[2], &ann, &changed);
    message(t, ids[2], NULL, &ann, "reply \\ \"q\"", NULL, NULL);
    cv_conversation_close(t, ids[3], &sys, &changed);
    cv_conversation_close(t, ids[4], &ann, &changed);
    visitor.id = cus[4];
    message(t, NULL, cus[4], &visitor, "again", urls[0], NULL);
    message(t, ids[0], NULL, &ann, "first reply", NULL, NULL);
    cv_conversation_assign(t, ids[0], &ann, &changed);

    cv_txn_commit(t);

    cv_txn_begin(st, 0, &t);
    cv_log_last_seq(t, &last);

    /* the order of their latest changes; visitor 4's message after the
     * close opened a new conversation, read from the page itself */
    strcpy(order[0], ids[5]);
    strcpy(order[1], ids[1]);
    strcpy(order[2], ids[2]);
    strcpy(order[3], ids[3]);
    strcpy(order[4], ids[4]);
    order[5][0] = '\0';
    strcpy(order[6], ids[0]);

    got = since(t, 0, NULL, &next);
    items = got ? cJSON_Parse(got) : NULL;
    n = 0;
    inorder = 1;

    cJSON_ArrayForEach(it, items) {
        if (n == 5 && strcmp(str(it, "customer_id"), cus[4]) == 0
            && strcmp(str(it, "id"), ids[4]) != 0)
        {
            strcpy(order[5], str(it, "id"));
        }

        if (n >= ALL || strcmp(str(it, "id"), order[n]) != 0) {
            inorder = 0;
        }

        n++;
    }

    ok(items && n == ALL && inorder && next == last,
       "all %d conversations at their latest change, in its order", ALL);
    cJSON_Delete(items);

    want = expected(t, order, ALL, NULL);
    same(got, want, "the whole log");
    free(got);
    free(want);

    got = since(t, 0, "open", &next);
    want = expected(t, order, ALL, "open");
    same(got, want, "status=open");
    free(got);
    free(want);

    got = since(t, 0, "closed", &next);
    want = expected(t, order, ALL, "closed");
    same(got, want, "status=closed");
    free(got);
    free(want);

    /* from the middle: conversation 5 had no change after it */
    got = since(t, mid, NULL, &next);
    want = expected(t, order + 1, ALL - 1, NULL);
    same(got, want, "a page from the middle of the log");
    free(got);
    free(want);

    /* nothing after the end: an empty array, the same cursor */
    got = since(t, last, NULL, &next);
    ok(got && strcmp(got, "[]") == 0 && next == last,
       "nothing new: [] and the same cursor");
    free(got);

    cv_txn_abort(t);
    cv_store_close(st);
    return done_testing();
}
