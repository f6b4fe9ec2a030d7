/* Unit tests of the chat model (engine/cv_chat.c). */
#define _POSIX_C_SOURCE 200809L

#include "cv_chat.h"
#include "cv_conv_record.h"
#include "fixture.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Posts through cv_message_post and returns the message parsed, checking
 * that the fields the caller gets beside the text agree with it.
 */
static cv_status
post(cv_txn *t, const char *conv, const char *cus, const cv_author *a,
    const char *cmid, const char *text, const char *url, cJSON **msg,
    int *dup)
{
    cv_message  m;
    cv_status   st;

    st = cv_message_post(t, conv, cus, a, cmid, text, url, &m);
    *msg = NULL;
    *dup = m.duplicate;

    if (st == CV_OK) {
        *msg = cJSON_ParseWithLength(m.json, m.len);

        if (*msg == NULL || m.len != strlen(m.json)
            || num(*msg, "seq") != (double) m.seq
            || strcmp(str(*msg, "conversation_id"), m.conversation_id) != 0
            || strncmp(m.customer_id, "cus_", 4) != 0)
        {
            diag("cv_message disagrees with its text: %s", m.json);
            st = CV_ERROR;
        }

    } else if (m.json != NULL) {
        diag("a failed post left a message");
        st = CV_ERROR;
    }

    cv_message_clear(&m);
    return st;
}


/* cv_log_read_text()'s entries against cv_log_read()'s, in order */
typedef struct {
    cJSON   *items;
    int      n, same, inside;
    int      stop_at;
} text_check;

static cv_status
each_text(void *data, const cv_log_text *e)
{
    text_check  *tc = data;
    char        *a, *b;
    cJSON       *parsed;

    if (tc->stop_at && tc->n == tc->stop_at) {
        return CV_CONFLICT;
    }

    parsed = cJSON_ParseWithLength(e->text, e->len);
    a = parsed ? cJSON_PrintUnformatted(parsed) : NULL;
    b = cJSON_PrintUnformatted(cJSON_GetArrayItem(tc->items, tc->n));
    tc->same += (a && b && strcmp(a, b) == 0);
    tc->inside += (!e->event || (e->event > e->text
                                 && e->event + e->event_len <= e->text + e->len))
                  && (!e->conv || (e->conv > e->text
                                   && e->conv + e->conv_len <= e->text + e->len));
    cJSON_free(a);
    cJSON_free(b);
    cJSON_Delete(parsed);
    tc->n++;

    return CV_OK;
}


int
main(void)
{
    cv_store         *st;
    cv_txn           *t;
    char              cus[CV_ID_MAX], cus2[CV_ID_MAX];
    char              conv[CV_ID_MAX], conv2[CV_ID_MAX];
    cJSON            *msg, *events, *c, *items;
    uint64_t          cursor, seq;
    int               dup, changed;
    cv_author         visitor = { "customer", NULL, NULL };
    cv_author         agent = { "agent", "ag-1", "Ann" };
    cv_author         agent2 = { "agent", "ag-2", "Bob" };

    st = fx_store_open(1u << 20);

    /* a customer's first message opens a conversation */
    cv_txn_begin(st, 1, &t);
    ok(cv_customer_create(t, cus) == CV_OK && strncmp(cus, "cus_", 4) == 0
       && strlen(cus) == 4 + 26, "customer id %s", cus);
    visitor.id = cus;

    ok(post(t, NULL, cus, &visitor, "c1", "Hello", "http://x/p",
                       &msg, &dup) == CV_OK && !dup, "first message posted");
    ok(msg && num(msg, "seq") == 1 && strncmp(str(msg, "id"), "msg_", 4) == 0
       && strcmp(str(msg, "text"), "Hello") == 0,
       "message has id, seq 1 and text");
    snprintf(conv, sizeof(conv), "%s", str(msg, "conversation_id"));
    ok(strncmp(conv, "conv_", 5) == 0, "conversation %s opened", conv);
    ok(strcmp(str(cJSON_GetObjectItem(msg, "author"), "type"), "customer")
       == 0, "author type customer");
    cJSON_Delete(msg);
    ok(cv_txn_commit(t) == CV_OK, "commit");

    /* the same client_msg_id again: the first message, nothing new */
    cv_txn_begin(st, 1, &t);
    ok(post(t, NULL, cus, &visitor, "c1", "Hello again", NULL,
                       &msg, &dup) == CV_OK && dup && num(msg, "seq") == 1
       && strcmp(str(msg, "text"), "Hello") == 0,
       "retry with the same client_msg_id returns the first message");
    cJSON_Delete(msg);

    ok(post(t, NULL, cus, &visitor, "c2", "Second", NULL, &msg,
                       &dup) == CV_OK && !dup && num(msg, "seq") == 2
       && strcmp(str(msg, "conversation_id"), conv) == 0,
       "second message goes to the same open conversation, seq 2");
    cJSON_Delete(msg);

    /* an agent's client_msg_id space is separate from the customer's */
    ok(post(t, conv, NULL, &agent, "c1", "Hi, Ann here", NULL,
                       &msg, &dup) == CV_OK && !dup && num(msg, "seq") == 3,
       "agent reply with the same client_msg_id is a new message");
    cJSON_Delete(msg);
    cv_txn_commit(t);

    /* events after a cursor */
    cv_txn_begin(st, 0, &t);
    events = cJSON_CreateArray();
    ok(cv_conversation_events(t, conv, 1, 100, events, &cursor) == CV_OK
       && cJSON_GetArraySize(events) == 2 && cursor == 3,
       "two events after seq 1, cursor 3");
    ok(strcmp(str(cJSON_GetArrayItem(events, 0), "type"), "message") == 0
       && num(cJSON_GetArrayItem(events, 0), "seq") == 2,
       "events come in order with their seq");
    cJSON_Delete(events);

    events = cJSON_CreateArray();
    ok(cv_conversation_events(t, conv, 3, 100, events, &cursor) == CV_OK
       && cJSON_GetArraySize(events) == 0 && cursor == 3,
       "nothing after the last seq; cursor unchanged");
    cJSON_Delete(events);

    events = cJSON_CreateArray();
    ok(cv_conversation_events(t, conv, 0, 2, events, &cursor) == CV_OK
       && cJSON_GetArraySize(events) == 2 && cursor == 2,
       "limit is honoured, cursor at the last returned");
    cJSON_Delete(events);

    events = cJSON_CreateArray();
    ok(cv_conversation_events(t, conv, UINT64_MAX, 10, events, &cursor)
       == CV_OK && cJSON_GetArraySize(events) == 0,
       "a huge cursor returns nothing");
    cJSON_Delete(events);

    /* the same as JSON text, made of the stored events: equal to the
     * parsed list printed, at every cursor and limit */
    {
        char     *json, *printed;
        size_t    len, count, after, limit;
        uint64_t  c2;
        int       same = 1;

        for (after = 0; after <= 4; after++) {
            for (limit = 1; limit <= 4; limit++) {
                events = cJSON_CreateArray();
                cv_conversation_events(t, conv, after, limit, events,
                                       &cursor);
                printed = cJSON_PrintUnformatted(events);

                if (cv_conversation_events_json(t, conv, after, limit, &json,
                                                &len, &count, &c2) != CV_OK
                    || strcmp(json, printed) != 0 || len != strlen(json)
                    || count != (size_t) cJSON_GetArraySize(events)
                    || c2 != cursor)
                {
                    diag("after %zu limit %zu: %s vs %s", after, limit,
                         printed, json ? json : "(none)");
                    same = 0;
                }

                free(json);
                cJSON_free(printed);
                cJSON_Delete(events);
            }
        }

        ok(same, "events as JSON text match the parsed events printed");

        ok(cv_conversation_events_json(t, conv, UINT64_MAX, 10, &json, &len,
                                       &count, &c2) == CV_OK
           && strcmp(json, "[]") == 0 && count == 0 && c2 == UINT64_MAX,
           "a huge cursor gives []");
        free(json);

        ok(cv_conversation_events_json(t, "conv_none", 0, 10, &json, &len,
                                       &count, &c2) == CV_OK
           && strcmp(json, "[]") == 0 && count == 0 && c2 == 0,
           "an unknown conversation gives []");
        free(json);
    }

    /* the global log saw: created, 3 messages */
    items = cJSON_CreateArray();
    ok(cv_log_read(t, 0, 100, items, &cursor) == CV_OK
       && cJSON_GetArraySize(items) == 4 && cursor == 4,
       "global log has 4 entries");
    ok(strcmp(str(cJSON_GetArrayItem(items, 0), "type"),
              "conversation.created") == 0
       && strcmp(str(cJSON_GetArrayItem(items, 3), "type"),
                 "message.created") == 0
       && strcmp(str(cJSON_GetArrayItem(items, 3), "customer_id"), cus) == 0,
       "log entries name type, conversation and customer");
    {
        text_check  tc = { items, 0, 0, 0, 0 };

        ok(cv_log_read_text(t, 0, 100, each_text, &tc, &cursor) == CV_OK
           && tc.n == 4 && tc.same == 4 && tc.inside == 4 && cursor == 4,
           "log as text: the same 4 entries, event and state inside each");
        tc.n = tc.same = 0;
        tc.stop_at = 2;
        ok(cv_log_read_text(t, 1, 100, each_text, &tc, &cursor) == CV_CONFLICT
           && tc.n == 2 && cursor == 3,
           "log as text: each() stops the read with its status; the cursor "
           "is the last entry handed over");
    }
    cJSON_Delete(items);
    ok(cv_log_last_seq(t, &seq) == CV_OK && seq == 4, "last log seq is 4");
    cv_txn_abort(t);

    /* assignment, reassignment, close */
    cv_txn_begin(st, 1, &t);
    ok(cv_conversation_assign(t, conv, &agent, &changed) == CV_OK && changed,
       "assign to Ann");
    ok(cv_conversation_assign(t, conv, &agent, &changed) == CV_OK && !changed,
       "assigning again changes nothing");
    ok(cv_conversation_assign(t, conv, &agent2, &changed) == CV_OK && changed,
       "reassign to Bob");
    cv_conversation_get(t, conv, &c);
    ok(strcmp(str(c, "assigned_agent_id"), "ag-2") == 0
       && num(c, "last_seq") == 6, "Bob assigned; left+joined events added");
    cJSON_Delete(c);

    /* an agent's reply, and its retry */
    ok(post(t, conv, NULL, &agent2, "p1", "From Bob", NULL, &msg, &dup)
       == CV_OK && !dup && num(msg, "seq") == 7,
       "Bob's reply: seq 7");
    cJSON_Delete(msg);
    ok(post(t, conv, NULL, &agent2, "p1", "From Bob", NULL, &msg, &dup)
       == CV_OK && dup && num(msg, "seq") == 7
       && strcmp(str(msg, "text"), "From Bob") == 0,
       "a retried client_msg_id returns the first message");
    cJSON_Delete(msg);
    cv_conversation_get(t, conv, &c);
    ok(num(c, "last_seq") == 7, "the retry added nothing");
    cJSON_Delete(c);

    /* the REST poll gives exactly the stored conversation, whether its
     * last change carries the state (assigned) or refers to it (message) */
    for (int round = 0; round < 2; round++) {
        uint64_t  last, next;
        cJSON    *entries, *since;
        char     *a, *b;

        if (round == 1) {
            cv_conversation_assign(t, conv, &agent, &changed);
        }

        cv_log_last_seq(t, &last);
        entries = cJSON_CreateArray();
        cv_log_read(t, last - 1, 1, entries, &cursor);
        since = fx_since(t, last - 1, 10, NULL, &next);
        cv_conversation_get(t, conv, &c);
        a = cJSON_PrintUnformatted(cJSON_GetArrayItem(since, 0));
        b = cJSON_PrintUnformatted(c);
        ok(a && b && strcmp(a, b) == 0 && next == last
           && cJSON_GetArraySize(since) == 1
           && num(cJSON_GetArrayItem(entries, 0), "seq") == (double) last
           && num(cJSON_GetArrayItem(entries, 0), "conversation_seq")
              == num(c, "last_seq")
           && strcmp(str(cJSON_GetArrayItem(entries, 0), "type"),
                     round ? "conversation.assigned" : "message.created")
              == 0
           && (cJSON_GetObjectItem(cJSON_GetArrayItem(entries, 0),
                                   "conversation") != NULL) == round,
           "%s: log entry seq, type, conversation_seq; the poll's state is "
           "the stored one", round ? "assigned" : "message");
        if (a && b && strcmp(a, b) != 0) {
            diag("%s vs %s", a, b);
        }
        cJSON_free(a);
        cJSON_free(b);
        cJSON_Delete(c);
        cJSON_Delete(entries);
        cJSON_Delete(since);
    }

    items = cJSON_CreateArray();
    ok(cv_conversation_list(t, "open", "ag-1", 10, items) == CV_OK
       && cJSON_GetArraySize(items) == 1, "listed as Ann's");
    cJSON_Delete(items);
    items = cJSON_CreateArray();
    ok(cv_conversation_list(t, NULL, "", 10, items) == CV_OK
       && cJSON_GetArraySize(items) == 0, "not listed as unassigned");
    cJSON_Delete(items);

    ok(cv_conversation_close(t, conv, &agent2, &changed) == CV_OK && changed,
       "close");
    ok(post(t, conv, NULL, &agent, NULL, "late", NULL, &msg, &dup)
       == CV_CONFLICT, "an agent cannot post into a closed conversation");
    ok(cv_conversation_assign(t, conv, &agent, &changed) == CV_CONFLICT,
       "a closed conversation cannot be assigned");

    ok(post(t, NULL, cus, &visitor, "c3", "Back again", NULL,
                       &msg, &dup) == CV_OK && num(msg, "seq") == 1
       && strcmp(str(msg, "conversation_id"), conv) != 0,
       "the customer's next message opens a new conversation");
    snprintf(conv2, sizeof(conv2), "%s", str(msg, "conversation_id"));
    cJSON_Delete(msg);
    cv_txn_commit(t);

    /* another customer never lands in the first one's conversation */
    cv_txn_begin(st, 1, &t);
    cv_customer_create(t, cus2);
    cv_author  v2 = { "customer", cus2, NULL };
    ok(post(t, NULL, cus2, &v2, "c1", "Hi", NULL, &msg, &dup)
       == CV_OK && !dup && strcmp(str(msg, "conversation_id"), conv) != 0
       && strcmp(str(msg, "conversation_id"), conv2) != 0,
       "customer 2 with the same client_msg_id gets a conversation of its "
       "own");
    cJSON_Delete(msg);
    ok(post(t, NULL, "cus_nonexistent", &v2, NULL, "Hi", NULL,
                       &msg, &dup) == CV_NOT_FOUND,
       "an unknown customer cannot post");
    cv_txn_commit(t);

    /* text validation */
    ok(cv_text_invalid("hello", 5) == NULL, "plain text is valid");
    ok(cv_text_invalid("  \n ", 4) != NULL, "blank text is refused");
    ok(cv_text_invalid("", 0) != NULL, "empty text is refused");
    ok(cv_text_invalid("a\xff", 2) != NULL, "invalid UTF-8 is refused");
    ok(cv_text_invalid("\xc0\xaf", 2) != NULL, "overlong UTF-8 is refused");
    ok(cv_text_invalid("\xed\xa0\x80", 3) != NULL, "surrogates are refused");
    ok(cv_text_invalid("a\x01", 2) != NULL, "control characters are refused");
    ok(cv_text_invalid("caf\xc3\xa9 \xf0\x9f\x91\x8b", 10) == NULL,
       "accents and emoji are valid");
    {
        char  *big = malloc(4097 * 2);

        for (int i = 0; i < 4096; i++) {
            big[2 * i] = (char) 0xc3;
            big[2 * i + 1] = (char) 0xa9;
        }
        ok(cv_text_invalid(big, 4096 * 2) == NULL,
           "4096 two-byte characters are fine");
        big[8192] = 'x';
        ok(cv_text_invalid(big, 8193) != NULL, "4097 characters are not");
        free(big);
    }

    /* text and names that need escaping come back as they were */
    {
        const char  *texts[] = { "say \"hi\" \\ back", "two\nlines\r\tend",
                                 "caf\xc3\xa9 \xf0\x9f\x91\x8b </script>",
                                 "\xe2\x80\xa8 and / slash", NULL };
        cv_author    odd = { "agent", "ag-1", "Ann \"the\" \\ O'Neil\n" };
        int          i, same = 1;

        cv_txn_begin(st, 1, &t);
        for (i = 0; texts[i]; i++) {
            if (post(t, conv2, NULL, &odd, NULL, texts[i], NULL, &msg, &dup)
                != CV_OK
                || strcmp(str(msg, "text"), texts[i]) != 0
                || strcmp(str(cJSON_GetObjectItem(msg, "author"), "name"),
                          odd.name) != 0)
            {
                diag("text %d came back as %s", i,
                     msg ? str(msg, "text") : "(none)");
                same = 0;
            }
            cJSON_Delete(msg);
        }
        ok(same, "quotes, backslashes, newlines and UTF-8 round-trip");

        /* the stored event is the same JSON the message answer was */
        events = cJSON_CreateArray();
        cv_conversation_events(t, conv2, 0, 100, events, &cursor);
        c = cJSON_GetObjectItem(cJSON_GetArrayItem(events,
                                    cJSON_GetArraySize(events) - 1),
                                "message");
        ok(c && strcmp(str(c, "text"), texts[3]) == 0
           && num(c, "seq") == (double) cursor,
           "the last event carries the last message");
        cJSON_Delete(events);
        cv_txn_commit(t);
    }

    /* a long conversation: paging walks the chain exactly */
    {
        char      text[32], *json, *printed;
        size_t    len, count;
        uint64_t  last, c2;
        int       more, good = 1, i;

        cv_txn_begin(st, 1, &t);
        cv_conversation_last_seq(t, conv2, &last);
        for (i = 0; i < 450; i++) {
            snprintf(text, sizeof(text), "n%d", i);
            if (post(t, conv2, NULL, &agent, NULL, text, NULL, &msg, &dup)
                != CV_OK)
            {
                good = 0;
            }
            cJSON_Delete(msg);
        }
        ok(good && cv_txn_commit(t) == CV_OK, "450 more messages");

        cv_txn_begin(st, 0, &t);
        events = cJSON_CreateArray();
        ok(cv_conversation_events(t, conv2, last, 200, events, &cursor)
           == CV_OK && cJSON_GetArraySize(events) == 200
           && cursor == last + 200
           && strcmp(str(cJSON_GetObjectItem(cJSON_GetArrayItem(events, 0),
                                             "message"), "text"), "n0") == 0
           && strcmp(str(cJSON_GetObjectItem(cJSON_GetArrayItem(events, 199),
                                             "message"), "text"), "n199")
              == 0,
           "the first 200 events after a cursor, oldest first");
        printed = cJSON_PrintUnformatted(events);
        ok(cv_conversation_events_json(t, conv2, last, 200, &json, &len,
                                       &count, &c2) == CV_OK
           && count == 200 && c2 == cursor && strcmp(json, printed) == 0,
           "the same as JSON text");
        free(json);
        cJSON_free(printed);
        cJSON_Delete(events);

        items = cJSON_CreateArray();
        ok(cv_conversation_messages(t, conv2, last + 440, 5, items, &more)
           == CV_OK && cJSON_GetArraySize(items) == 5 && more
           && strcmp(str(cJSON_GetArrayItem(items, 0), "text"), "n440") == 0,
           "messages: a page of 5 near the end, more to come");
        cJSON_Delete(items);
        items = cJSON_CreateArray();
        ok(cv_conversation_messages(t, conv2, last + 445, 5, items, &more)
           == CV_OK && cJSON_GetArraySize(items) == 5 && !more
           && strcmp(str(cJSON_GetArrayItem(items, 4), "text"), "n449") == 0,
           "messages: the last page, nothing more");
        cJSON_Delete(items);
        cv_txn_abort(t);
    }

    /* a reassignment logs the agent leaving and the next one joining */
    {
        cJSON     *entries;
        uint64_t   before;
        cv_author  v3 = { "customer", NULL, NULL };
        char       cus3[CV_ID_MAX], conv3[CV_ID_MAX];

        cv_txn_begin(st, 1, &t);
        cv_customer_create(t, cus3);
        v3.id = cus3;
        post(t, NULL, cus3, &v3, NULL, "hello", NULL, &msg, &dup);
        snprintf(conv3, sizeof(conv3), "%s", str(msg, "conversation_id"));
        cJSON_Delete(msg);
        cv_conversation_assign(t, conv3, &agent, &changed);
        cv_log_last_seq(t, &before);
        cv_conversation_assign(t, conv3, &agent2, &changed);

        entries = cJSON_CreateArray();
        cv_log_read(t, before, 10, entries, &cursor);
        ok(cJSON_GetArraySize(entries) == 2
           && strcmp(str(cJSON_GetArrayItem(entries, 0), "type"),
                     "conversation.unassigned") == 0
           && strcmp(str(cJSON_GetArrayItem(entries, 1), "type"),
                     "conversation.assigned") == 0
           && strcmp(str(cJSON_GetObjectItem(cJSON_GetArrayItem(entries, 1),
                                             "event"), "type"),
                     "agent_joined") == 0,
           "reassigning: an unassigned entry, then an assigned one");
        cJSON_Delete(entries);
        cv_txn_commit(t);
    }

    /* a listed conversation whose record does not decode fails the list
     * (it would be missing from it), and so does one whose JSON is broken
     * and one whose record is gone */
    {
        static const char  *broken[] = { "short", NULL };
        unsigned char       rec[CV_CONV_HDR + 9];
        char                victim[CV_ID_MAX];
        int                 i;

        memset(rec, 0, sizeof(rec));
        memcpy(rec + CV_CONV_HDR, "{not json", 9);
        broken[1] = (const char *) rec;

        cv_txn_begin(st, 0, &t);
        items = cJSON_CreateArray();
        cv_conversation_list(t, NULL, NULL, 1, items);
        snprintf(victim, sizeof(victim), "%s",
                 str(cJSON_GetArrayItem(items, 0), "id"));
        cJSON_Delete(items);
        cv_txn_abort(t);

        for (i = 0; i < 3; i++) {
            st = (i < 2) ? fx_plant(st, "conversations", victim, broken[i],
                                    i ? sizeof(rec) : 5)
                         : fx_unplant(st, "conversations", victim);

            cv_txn_begin(st, 0, &t);
            items = cJSON_CreateArray();
            ok(cv_conversation_list(t, NULL, NULL, 10, items) == CV_ERROR
               && cJSON_GetArraySize(items) == 0,
               "a listed conversation %s: the list fails, and is empty",
               i == 0 ? "too short for its header" : i == 1
               ? "with broken JSON" : "without its record");
            cJSON_Delete(items);
            cv_txn_abort(t);
        }
    }

    /* a full map refuses the write and keeps what was committed */
    {
        char       text[4001];
        cv_status  s = CV_OK;
        int        i, n;

        memset(text, 'x', 4000);
        text[4000] = '\0';

        for (n = 0; n < 1000 && s == CV_OK; n++) {
            cv_txn_begin(st, 1, &t);
            for (i = 0; i < 10 && s == CV_OK; i++) {
                s = post(t, NULL, cus2, &v2, NULL, text, NULL,
                                    &msg, &dup);
                cJSON_Delete(msg);
            }
            if (s == CV_OK) {
                s = cv_txn_commit(t);
            } else {
                cv_txn_abort(t);
            }
        }
        ok(s == CV_FULL, "a full store answers CV_FULL (after %d commits)", n);

        cv_txn_begin(st, 0, &t);
        ok(cv_log_last_seq(t, &seq) == CV_OK && seq > 4,
           "the store still reads after the full write (log at %llu)",
           (unsigned long long) seq);
        cv_txn_abort(t);
    }

    cv_store_close(st);
    return done_testing();
}
