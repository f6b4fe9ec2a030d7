/*
 * Unit tests of the indexes (engine/cv_index.c): the open count per agent
 * through assignments, reassignments, closes, releases, disabling and
 * deleting; the lists by status and agent, newest first, untouched by
 * messages;
 * a conversation's events from any cursor (the index of every 64th seq
 * and the chain back from it); removing a
 * conversation's entries; and the migration of a store of schema version
 * 2, made here from a version 3 one by taking out what version 3 added.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_index.h"
#include "cv_log_impl.h"
#include "cv_routing.h"
#include "cv_chat.h"
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* more conversations than one step of the migration takes */
#define MIGRATED_CONVS  2100

static cv_author  ann = { "agent", "ann", "Ann" };
static cv_author  bob = { "agent", "bob", "Bob" };
static cv_author  sys = { "system", NULL, NULL };


static int
count_of(cv_txn *t, const char *agent)
{
    int  n;

    if (cv_agent_open_count(t, agent, &n) != CV_OK) {
        return -1;
    }

    return n;
}


/* a new customer's conversation with a first message; its id in conv */
static void
new_conversation(cv_txn *t, char conv[CV_ID_MAX])
{
    char        cus[CV_ID_MAX];
    cv_message  m;
    cv_author   v = { "customer", NULL, NULL };

    cv_customer_create(t, cus);
    v.id = cus;
    cv_message_post(t, NULL, cus, &v, NULL, "hi", NULL, &m);
    snprintf(conv, CV_ID_MAX, "%s", m.conversation_id);
    cv_message_clear(&m);
}


/* the ids of a list, joined by spaces, into out */
static void
list_ids(cv_txn *t, const char *status, const char *agent, size_t limit,
    char *out, size_t size)
{
    cJSON   *items, *c;
    size_t   n;

    out[0] = '\0';
    n = 0;
    items = cJSON_CreateArray();

    if (cv_conversation_list(t, status, agent, limit, items) != CV_OK) {
        snprintf(out, size, "error");
    }

    cJSON_ArrayForEach(c, items) {
        n += snprintf(out + n, size - n, "%s%s", n ? " " : "", str(c, "id"));
    }

    cJSON_Delete(items);
}


static void
test_counts(cv_store *st)
{
    char     c1[CV_ID_MAX], c2[CV_ID_MAX], c3[CV_ID_MAX];
    cv_txn  *t;
    cJSON   *f;
    int      changed, created;

    cv_txn_begin(st, 1, &t);
    cv_agent_put(t, "ann", NULL, NULL, &created);
    cv_agent_put(t, "bob", NULL, NULL, &created);

    new_conversation(t, c1);
    new_conversation(t, c2);
    new_conversation(t, c3);

    ok(count_of(t, "ann") == 0 && count_of(t, "bob") == 0
       && count_of(t, "nobody") == 0, "counts start at 0");

    cv_conversation_assign(t, c1, &ann, &changed);
    cv_conversation_assign(t, c2, &ann, &changed);
    cv_conversation_assign(t, c3, &bob, &changed);
    ok(count_of(t, "ann") == 2 && count_of(t, "bob") == 1,
       "assigning counts: ann 2, bob 1");

    cv_conversation_assign(t, c1, &ann, &changed);
    ok(!changed && count_of(t, "ann") == 2,
       "assigning to the same agent again changes nothing");

    cv_conversation_assign(t, c2, &bob, &changed);
    ok(changed && count_of(t, "ann") == 1 && count_of(t, "bob") == 2,
       "reassigning moves one from ann to bob");

    cv_conversation_assign(t, c2, NULL, &changed);
    ok(count_of(t, "bob") == 1, "unassigning takes one off");

    cv_conversation_close(t, c3, &sys, &changed);
    ok(count_of(t, "bob") == 0, "closing takes one off");

    cv_conversation_close(t, c3, &sys, &changed);
    ok(!changed && count_of(t, "bob") == 0, "closing again changes nothing");

    ok(cv_conversation_assign(t, c3, &ann, &changed) == CV_CONFLICT
       && count_of(t, "ann") == 1, "a closed conversation is not assigned");

    /* a message moves the lists' entries, never the counts */
    {
        cv_message  m;

        cv_message_post(t, c1, NULL, &ann, NULL, "hello", NULL, &m);
        cv_message_clear(&m);
        ok(count_of(t, "ann") == 1, "a message leaves the count as it is");
    }

    cv_conversation_assign(t, c2, &ann, &changed);
    ok(count_of(t, "ann") == 2, "ann has c1 and c2");

    f = cJSON_Parse("{\"enabled\":false}");
    cv_agent_put(t, "ann", f, NULL, &created);
    cJSON_Delete(f);

    {
        char  ids[256];

        list_ids(t, "open", "", 10, ids, sizeof(ids));
        ok(count_of(t, "ann") == 0 && strstr(ids, c1) && strstr(ids, c2),
           "disabling ann releases both: unassigned now");
    }

    cv_conversation_assign(t, c1, &bob, &changed);
    ok(count_of(t, "bob") == 1, "bob takes c1");
    cv_agent_delete(t, "bob");
    ok(count_of(t, "bob") == 0, "deleting bob releases it");

    cv_txn_commit(t);
}


static void test_pages(cv_txn *t, char c[4][CV_ID_MAX]);


static void
test_lists(cv_store *st)
{
    char         c[4][CV_ID_MAX], want[512], got[512];
    cv_txn      *t;
    cv_message   m;
    int          changed, i, created;

    cv_txn_begin(st, 1, &t);
    cv_agent_put(t, "cat", NULL, NULL, &created);
    cv_author    cat = { "agent", "cat", "Cat" };

    for (i = 0; i < 4; i++) {
        new_conversation(t, c[i]);
    }

    /* newest first; a message to an older one changes nothing */
    cv_message_post(t, c[0], NULL, &sys, NULL, "news", NULL, &m);
    cv_message_clear(&m);

    list_ids(t, "open", NULL, 3, got, sizeof(got));
    snprintf(want, sizeof(want), "%s %s %s", c[3], c[2], c[1]);
    ok(strcmp(got, want) == 0, "open, newest first, at most 3");

    cv_conversation_assign(t, c[1], &cat, &changed);
    cv_conversation_assign(t, c[2], &cat, &changed);
    cv_conversation_close(t, c[2], &sys, &changed);

    list_ids(t, "open", "cat", 10, got, sizeof(got));
    ok(strcmp(got, c[1]) == 0, "cat's open ones: c1");

    list_ids(t, "closed", "cat", 10, got, sizeof(got));
    ok(strcmp(got, c[2]) == 0, "cat's closed ones: c2");

    list_ids(t, NULL, "cat", 10, got, sizeof(got));
    snprintf(want, sizeof(want), "%s %s", c[2], c[1]);
    ok(strcmp(got, want) == 0, "cat's of any status, merged: c2 then c1");

    list_ids(t, NULL, NULL, 4, got, sizeof(got));
    snprintf(want, sizeof(want), "%s %s %s %s", c[3], c[2], c[1], c[0]);
    ok(strcmp(got, want) == 0, "all, open and closed merged, newest first");

    list_ids(t, "open", "", 100, got, sizeof(got));
    ok(strstr(got, c[0]) && strstr(got, c[3]) && !strstr(got, c[1])
       && !strstr(got, c[2]), "unassigned open ones: c0 and c3");

    list_ids(t, "open", "nobody", 10, got, sizeof(got));
    ok(got[0] == '\0', "an agent without conversations: none");

    list_ids(t, "closed", NULL, 0, got, sizeof(got));
    ok(got[0] == '\0', "a limit of 0: none");

    test_pages(t, c);

    cv_txn_commit(t);
}


/* the same list a page at a time: each once, newest first, and no
 * cursor after the last page (the store holds earlier tests' ones too) */
static void
test_pages(cv_txn *t, char c[4][CV_ID_MAX])
{
    char       all[2048], got[2048];
    cJSON     *page, *conv;
    uint64_t   before, next;
    size_t     n, total, pages;
    int        good;

    list_ids(t, NULL, NULL, 1000, all, sizeof(all));
    ok(strstr(all, c[0]) && strstr(all, c[3]), "the whole list holds c0..c3");

    got[0] = '\0';
    n = 0;
    total = 0;
    pages = 0;
    before = 0;
    good = 1;

    do {
        page = cJSON_CreateArray();
        good = good && cv_conversation_page(t, NULL, NULL, before, 2, page,
                                            &next) == CV_OK;
        pages++;
        total += cJSON_GetArraySize(page);

        cJSON_ArrayForEach(conv, page) {
            n += snprintf(got + n, sizeof(got) - n, "%s%s", n ? " " : "",
                          str(conv, "id"));
        }

        good = good && (next == 0 || cJSON_GetArraySize(page) == 2);
        cJSON_Delete(page);
        before = next;

    } while (next && pages < 100);

    ok(good && strcmp(got, all) == 0, "pages of 2, one after the other: the "
       "whole list, newest first, each once");
    ok(pages == (total + 1) / 2, "as many pages as it takes, no empty one "
       "after the last (it looked one beyond)");

    page = cJSON_CreateArray();
    ok(cv_conversation_page(t, NULL, NULL, 0, total, page, &next) == CV_OK
       && (size_t) cJSON_GetArraySize(page) == total && next == 0,
       "a page that holds them all: no cursor");
    cJSON_Delete(page);

    page = cJSON_CreateArray();
    ok(cv_conversation_page(t, NULL, NULL, 0, total - 1, page, &next) == CV_OK
       && (size_t) cJSON_GetArraySize(page) == total - 1 && next != 0,
       "one short of them all: a cursor");
    cJSON_Delete(page);

    page = cJSON_CreateArray();
    ok(cv_conversation_page(t, "open", "cat", 0, 1, page, &next) == CV_OK
       && cJSON_GetArraySize(page) == 1
       && strcmp(str(page->child, "id"), c[1]) == 0 && next == 0,
       "cat's open ones by 1: c1 and no cursor");
    cJSON_Delete(page);
}


static void
test_events(cv_store *st)
{
    char           conv[CV_ID_MAX];
    cv_txn        *t;
    cv_message     m;
    cJSON         *events;
    uint64_t       cursor;
    uint64_t       at, g;
    cv_conv_rec    rec;
    cv_conv_state  cs;
    cv_log_entry   e;
    int            i;

    cv_txn_begin(st, 1, &t);
    new_conversation(t, conv);

    for (i = 0; i < 499; i++) {
        cv_message_post(t, conv, NULL, &sys, NULL, "more", NULL, &m);
        cv_message_clear(&m);
    }

    cv_conversation_state(t, conv, &cs);
    ok(cs.last_seq == 500, "a conversation of 500 events");

    ok(cv_index_event_find(t, cs.key, 200, &at, &g) == CV_OK && at == 256
       && cv_log_get(t, g, &e) == CV_OK && e.conv_seq == 256,
       "the index's entry at or after 200: the event of seq 256");
    ok(cv_index_event_find(t, cs.key, 385, &at, &g) == CV_OK && at == 448,
       "at or after 385: 448 (every %d-th is there)", CV_IX_EVENTS_EVERY);
    ok(cv_index_event_find(t, cs.key, 449, &at, &g) == CV_NOT_FOUND,
       "after its last one: none (the walk starts from the last event)");

    for (i = 0; i < 3; i++) {
        static const uint64_t  from[] = { 200, 62, 497 };
        static const size_t    take[] = { 3, 150, 10 };

        events = cJSON_CreateArray();
        ok(cv_conversation_events(t, conv, from[i], take[i], events, &cursor)
           == CV_OK
           && (size_t) cJSON_GetArraySize(events)
              == (from[i] + take[i] > 500 ? 500 - from[i] : take[i])
           && num(cJSON_GetArrayItem(events, 0), "seq") == from[i] + 1
           && num(cJSON_GetArrayItem(events, cJSON_GetArraySize(events) - 1),
                  "seq") == cursor,
           "events after %llu, at most %zu: from %llu on, in order to %llu",
           (unsigned long long) from[i], take[i],
           (unsigned long long) from[i] + 1, (unsigned long long) cursor);
        cJSON_Delete(events);
    }

    events = cJSON_CreateArray();
    ok(cv_conversation_events(t, conv, 0, 200, events, &cursor) == CV_OK
       && cJSON_GetArraySize(events) == 200 && cursor == 200
       && num(cJSON_GetArrayItem(events, 0), "seq") == 1,
       "events after 0, at most 200: 1 to 200");
    cJSON_Delete(events);

    events = cJSON_CreateArray();
    ok(cv_conversation_events(t, conv, 495, 200, events, &cursor) == CV_OK
       && cJSON_GetArraySize(events) == 5 && cursor == 500,
       "a poll at the end: the last 5");
    cJSON_Delete(events);

    /* the last message, read back from the last event */
    {
        cJSON  *msg;
        int     changed;

        ok(cv_conversation_last_message(t, conv, 8, &msg) == CV_OK && msg
           && num(msg, "seq") == 500, "the last message: seq 500");
        cJSON_Delete(msg);

        cv_conversation_assign(t, conv, &ann, &changed);
        ok(cv_conversation_last_message(t, conv, 8, &msg) == CV_OK && msg
           && num(msg, "seq") == 500, "after ann joins (501): still 500");
        cJSON_Delete(msg);

        ok(cv_conversation_last_message(t, conv, 1, &msg) == CV_OK
           && msg == NULL, "none among the last event alone");
        ok(cv_conversation_last_message(t, "conv_none", 8, &msg) == CV_OK
           && msg == NULL, "none of an unknown conversation");
    }

    /* taking its entries out: lists and events know it no more */
    cv_conv_rec_get(t, conv, &rec);
    ok(cv_conv_index_remove(t, conv, &rec) == CV_OK,
       "a conversation's entries are removed");

    {
        char  got[4096];

        list_ids(t, NULL, NULL, 1000, got, sizeof(got));
        ok(cv_index_event_find(t, rec.key, 0, &at, &g) == CV_NOT_FOUND
           && strstr(got, conv) == NULL,
           "neither the index of its events nor the lists have it");
    }
    cv_conv_rec_free(&rec);

    cv_txn_abort(t);
}


/*
 * The store at path as version 2 wrote it: conversation records without
 * the agent in the header, no indexes, version 2.
 */
static int
make_version_2(const char *path)
{
    MDB_env     *env;
    MDB_txn     *txn;
    MDB_dbi      convs, ix, meta;
    MDB_cursor  *c;
    MDB_val      k, v, nv;
    uint32_t     alen, two = 2;
    int          rc, n;
    unsigned char buf[4096];
    char         key[CV_ID_MAX];

    rc = mdb_env_create(&env);
    mdb_env_set_maxdbs(env, CV_STORE_MAX_DBS);
    rc = rc ? rc : mdb_env_open(env, path, MDB_NOTLS, 0600);
    rc = rc ? rc : mdb_txn_begin(env, NULL, 0, &txn);
    rc = rc ? rc : mdb_dbi_open(txn, "conversations", 0, &convs);
    rc = rc ? rc : mdb_dbi_open(txn, "indexes", 0, &ix);
    rc = rc ? rc : mdb_dbi_open(txn, "meta", 0, &meta);
    rc = rc ? rc : mdb_drop(txn, ix, 1);
    rc = rc ? rc : mdb_cursor_open(txn, convs, &c);

    n = 0;

    while (rc == 0
           && (rc = mdb_cursor_get(c, &k, &v, n++ ? MDB_NEXT : MDB_FIRST))
              == 0)
    {
        alen = cv_get_u32be((unsigned char *) v.mv_data
                            + CV_CONV_OFF_AGENT_LEN);
        if (v.mv_size - alen > sizeof(buf)) {
            rc = MDB_BAD_VALSIZE;
            break;
        }

        memcpy(buf, v.mv_data, CV_CONV_HDR);
        memset(buf + CV_CONV_OFF_AGENT_LEN, 0, CV_U32BE_LEN);
        memcpy(buf + CV_CONV_HDR,
               (unsigned char *) v.mv_data + CV_CONV_HDR + alen,
               v.mv_size - CV_CONV_HDR - alen);
        nv.mv_data = buf;
        nv.mv_size = v.mv_size - alen;

        /* the key out of the page the put rewrites */
        memcpy(key, k.mv_data, k.mv_size);
        k.mv_data = key;

        rc = mdb_cursor_put(c, &k, &nv, MDB_CURRENT);
    }

    if (rc == MDB_NOTFOUND) {
        k.mv_data = (void *) CV_KEY_SCHEMA;
        k.mv_size = sizeof(CV_KEY_SCHEMA) - 1;
        v.mv_data = &two;
        v.mv_size = sizeof(two);
        rc = mdb_put(txn, meta, &k, &v, 0);
    }

    rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    mdb_env_close(env);

    return rc;
}


static void
test_migration(cv_store *st)
{
    char            first[CV_ID_MAX], before[3][65536], after[3][65536];
    char            err[512];
    cv_txn         *t;
    cv_message      m;
    cJSON          *events;
    uint64_t        cursor;
    uint32_t        v32;
    cv_conv_state   cs;
    int             i, changed, counts[2], created;
    const char     *agents[] = { "dan", "eve" };

    cv_txn_begin(st, 1, &t);
    cv_agent_put(t, "dan", NULL, NULL, &created);
    cv_agent_put(t, "eve", NULL, NULL, &created);
    cv_author    dan = { "agent", "dan", "Dan" };
    cv_author    eve = { "agent", "eve", "Eve" };

    new_conversation(t, first);

    for (i = 0; i < 300; i++) {
        cv_message_post(t, first, NULL, &sys, NULL, "long", NULL, &m);
        cv_message_clear(&m);
    }

    cv_conversation_assign(t, first, &dan, &changed);

    for (i = 0; i < MIGRATED_CONVS; i++) {
        char  c[CV_ID_MAX];

        new_conversation(t, c);

        if (i % 3 == 0) {
            cv_conversation_assign(t, c, i % 2 ? &dan : &eve, &changed);
        }

        if (i % 5 == 0) {
            cv_conversation_close(t, c, &sys, &changed);
        }
    }

    cv_txn_commit(t);

    cv_txn_begin(st, 0, &t);
    list_ids(t, "open", "dan", 60, before[0], sizeof(before[0]));
    list_ids(t, NULL, NULL, 200, before[1], sizeof(before[1]));
    list_ids(t, "closed", "", 200, before[2], sizeof(before[2]));
    for (i = 0; i < 2; i++) {
        counts[i] = count_of(t, agents[i]);
    }
    cv_txn_abort(t);

    cv_store_close(st);
    ok(make_version_2(fx_opt.path) == 0, "the store is made a version 2 one");

    /* another process (the version before's worker) reads it meanwhile */
    {
        int    ready[2], done[2];
        char   c;
        pid_t  child;

        if (pipe(ready) != 0 || pipe(done) != 0) {
            printf("Bail out! pipe\n");
            exit(1);
        }

        child = fork();

        if (child == 0) {
            MDB_env  *env;
            MDB_txn  *txn;

            mdb_env_create(&env);
            mdb_env_set_maxdbs(env, CV_STORE_MAX_DBS);
            if (mdb_env_open(env, fx_opt.path, MDB_NOTLS, 0600) == 0
                && mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0)
            {
                c = 'r';
                (void) !write(ready[1], &c, 1);
                (void) !read(done[0], &c, 1);
                mdb_txn_abort(txn);
            }
            _exit(0);
        }

        (void) !read(ready[0], &c, 1);

        err[0] = '\0';
        ok(cv_store_open(&st, &fx_opt, err, sizeof(err)) == CV_CONFLICT
           && strstr(err, "has it open") != NULL,
           "not migrated while another process has it open: %s", err);

        c = 'd';
        (void) !write(done[1], &c, 1);
        waitpid(child, NULL, 0);
        close(ready[0]);
        close(ready[1]);
        close(done[0]);
        close(done[1]);
    }

    st = fx_store_reopen();
    ok(cv_store_schema_version(st, &v32, err, sizeof(err)) == CV_OK
       && v32 == CV_STORE_SCHEMA_VERSION,
       "opening migrates it to version %u", (unsigned) v32);

    cv_txn_begin(st, 0, &t);
    list_ids(t, "open", "dan", 60, after[0], sizeof(after[0]));
    list_ids(t, NULL, NULL, 200, after[1], sizeof(after[1]));
    list_ids(t, "closed", "", 200, after[2], sizeof(after[2]));

    ok(strlen(before[0]) > 100 && strcmp(before[0], after[0]) == 0,
       "dan's open ones are as before");
    ok(strlen(before[1]) > 100 && strcmp(before[1], after[1]) == 0,
       "all, in order, as before");
    ok(strlen(before[2]) > 100 && strcmp(before[2], after[2]) == 0,
       "the closed unassigned ones as before");
    ok(counts[0] > 200 && counts[0] == count_of(t, "dan")
       && counts[1] > 200 && counts[1] == count_of(t, "eve"),
       "the counts as before: dan %d, eve %d", counts[0], counts[1]);

    cv_conversation_state(t, first, &cs);
    events = cJSON_CreateArray();
    ok(cv_conversation_events(t, first, 290, 5, events, &cursor) == CV_OK
       && cJSON_GetArraySize(events) == 5 && cursor == 295
       && num(cJSON_GetArrayItem(events, 0), "seq") == 291,
       "a long conversation's events by seq: 291 to 295 of %llu",
       (unsigned long long) cs.last_seq);
    cJSON_Delete(events);
    cv_txn_abort(t);

    /* and it goes on as a version 3 store */
    cv_txn_begin(st, 1, &t);
    cv_conversation_close(t, first, &sys, &changed);
    ok(changed && count_of(t, "dan") == counts[0] - 1,
       "closing one of dan's after the migration counts");
    cv_txn_abort(t);

    cv_store_close(st);
}


/* open conversations as the list says: what the total must be */
static uint64_t
listed_open(cv_txn *t)
{
    cJSON     *items;
    uint64_t   n;

    items = cJSON_CreateArray();
    cv_conversation_list(t, "open", NULL, 10000, items);
    n = (uint64_t) cJSON_GetArraySize(items);
    cJSON_Delete(items);

    return n;
}


static uint64_t
open_total(cv_txn *t)
{
    uint64_t  n;

    return cv_index_open_total(t, &n) == CV_OK ? n : UINT64_MAX;
}


/* the open total (metrics): unassigned ones counted under 'N' alone,
 * through opening, assigning, unassigning and closing; counted again from
 * the list when the key is lost */
static void
test_open_total(void)
{
    char       c1[CV_ID_MAX], c2[CV_ID_MAX], c3[CV_ID_MAX];
    int        changed, created;
    cv_txn    *t;
    uint32_t   unassigned;
    cv_store  *st;

    st = fx_store_open(64u << 20);

    cv_txn_begin(st, 1, &t);
    ok(open_total(t) == 0, "open total: 0 in a new store");

    cv_agent_put(t, "ann", NULL, NULL, &created);
    new_conversation(t, c1);
    new_conversation(t, c2);
    new_conversation(t, c3);
    ok(open_total(t) == 3 && listed_open(t) == 3,
       "three new ones, unassigned: open total 3");

    cv_index_open_count(t, "", &unassigned);
    ok(unassigned == 3, "the unassigned count is 3");

    cv_conversation_assign(t, c1, &ann, &changed);
    cv_index_open_count(t, "", &unassigned);
    ok(open_total(t) == 3 && unassigned == 2,
       "assigning one: total 3, unassigned 2");

    cv_conversation_close(t, c2, &sys, &changed);
    cv_conversation_close(t, c1, &sys, &changed);
    ok(open_total(t) == 1 && listed_open(t) == 1,
       "closing an assigned and an unassigned one: total 1");

    cv_conversation_assign(t, c3, &ann, &changed);
    cv_conversation_assign(t, c3, NULL, &changed);
    cv_index_open_count(t, "", &unassigned);
    ok(open_total(t) == 1 && unassigned == 1,
       "assigned and unassigned again: total 1, unassigned 1");

    /* a key lost (a store from before it was kept): counted again */
    ok(cv_record_del(t, CV_DB_INDEX, "N", 1) == CV_OK && open_total(t) == 0,
       "without the unassigned key the total misses it");
    ok(cv_index_count_unassigned(t) == CV_OK && open_total(t) == 1,
       "counting the unassigned again from the list gives it back");

    cv_txn_commit(t);
    cv_store_close(st);
}


int
main(void)
{
    cv_store  *st;

    st = fx_store_open(64u << 20);

    test_counts(st);
    test_lists(st);
    test_events(st);

    cv_store_close(st);
    test_open_total();
    st = fx_store_open(256u << 20);
    test_migration(st);

    return done_testing();
}
