/*
 * scalefill: fills a chatvisor store through the engine, fast, for
 * bench/scale (not a product tool). It may run while nginx serves the
 * store (LMDB: one writer at a time, across processes).
 *
 *   scalefill STORE CONVERSATIONS [LONG_CONV_ID LONG_MESSAGES]
 *
 * Makes agents ann, bob and cat (max_concurrent 1000000) and d000..d049
 * (the agents bench/scale disables), then CONVERSATIONS conversations of
 * a new customer each: the customer's message, an agent joins and
 * replies, and it is closed, the agents in turn; but every tenth stays
 * open and unassigned (a store where many wait), and the first five of
 * each d agent stay open and theirs. Then LONG_MESSAGES messages into
 * LONG_CONV_ID (a conversation a visitor opened through nginx), the
 * customer and ann in turn. Prints "log_last=SEQ" (the log's last entry)
 * and "conversations=N". Transactions are small, as nginx's group commits
 * make them: a store filled in large ones keeps a free list of thousands
 * of pages that every later commit loads and saves again, and its writes
 * then cost what no store nginx filled would.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_agents.h"
#include "cv_chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILL_BATCH        50       /* conversations per transaction */
#define FILL_LONG_BATCH   100      /* messages per transaction */
#define FILL_DISABLED     50       /* agents d000.. */
#define FILL_D_OPEN       5        /* open conversations of each */
#define FILL_MAX          1000000  /* max_concurrent of every agent */
#define FILL_OPEN_EVERY   10       /* 1 in this many waits, unassigned */
#define FILL_MAP          ((size_t) 4 << 30)   /* as bench/scale's size=4g */


static int
fail(const char *what, cv_status st)
{
    fprintf(stderr, "scalefill: %s: %s\n", what, cv_status_text(st));
    return 1;
}


static cv_status
agents(cv_txn *t, char names[][8], int n)
{
    int         i, created;
    cJSON      *f;
    cv_status   st;

    f = cJSON_CreateObject();
    cJSON_AddNumberToObject(f, "max_concurrent", FILL_MAX);
    cJSON_AddTrueToObject(f, "enabled");

    st = CV_OK;
    for (i = 0; st == CV_OK && i < n; i++) {
        st = cv_agent_put(t, names[i], f, NULL, &created);
    }

    cJSON_Delete(f);
    return st;
}


/* conversation i of the fill */
static cv_status
one(cv_txn *t, long i, char names[][8], int n, int *d_open)
{
    char        cus[CV_ID_MAX], conv[CV_ID_MAX];
    int         a, changed;
    cv_status   st;
    cv_message  m;
    cv_author   who = { "customer", NULL, NULL };
    cv_author   agent = { "agent", NULL, NULL };

    st = cv_customer_create(t, cus);
    if (st != CV_OK) {
        return st;
    }

    who.id = cus;
    st = cv_message_post(t, NULL, cus, &who, NULL,
                         "Hello, I have a question about my order", NULL,
                         &m);
    if (st != CV_OK) {
        return st;
    }

    snprintf(conv, sizeof(conv), "%s", m.conversation_id);
    cv_message_clear(&m);

    if (i % FILL_OPEN_EVERY == FILL_OPEN_EVERY - 1) {
        return CV_OK;       /* it waits */
    }

    a = (int) (i % n);
    agent.id = names[a];
    agent.name = names[a];

    st = cv_conversation_assign(t, conv, &agent, &changed);
    if (st == CV_OK) {
        st = cv_message_post(t, conv, NULL, &agent, NULL,
                             "Thanks for asking; here is the answer", NULL,
                             &m);
        cv_message_clear(&m);
    }

    /* the first few of each d agent stay open: what disabling releases */
    if (st == CV_OK && names[a][0] == 'd' && d_open[a] < FILL_D_OPEN) {
        d_open[a]++;
        return CV_OK;
    }

    if (st == CV_OK) {
        st = cv_conversation_close(t, conv, &agent, &changed);
    }

    return st;
}


int
main(int argc, char **argv)
{
    char               names[3 + FILL_DISABLED][8], err[512];
    int                n, d_open[3 + FILL_DISABLED];
    long               total, i, long_n;
    uint64_t           last;
    cv_txn            *t;
    cv_store          *store;
    cv_status          st;
    cv_message         m;
    cv_conv_state      cs;
    cv_store_options   opt;

    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: scalefill STORE CONVERSATIONS "
                "[LONG_CONV_ID LONG_MESSAGES]\n");
        return 2;
    }

    total = atol(argv[2]);
    long_n = (argc == 5) ? atol(argv[4]) : 0;

    memset(&opt, 0, sizeof(opt));
    opt.path = argv[1];
    opt.map_size = FILL_MAP;
    opt.sync = 0;           /* a fill: a crash means filling again */

    if (cv_store_open(&store, &opt, err, sizeof(err)) != CV_OK) {
        fprintf(stderr, "scalefill: %s\n", err);
        return 1;
    }

    n = 0;
    strcpy(names[n++], "ann");
    strcpy(names[n++], "bob");
    strcpy(names[n++], "cat");
    for (i = 0; i < FILL_DISABLED; i++) {
        snprintf(names[n++], sizeof(names[0]), "d%03ld", i);
    }
    memset(d_open, 0, sizeof(d_open));

    st = cv_txn_begin(store, 1, &t);
    if (st == CV_OK) {
        st = agents(t, names, n);
    }

    for (i = 0; st == CV_OK && i < total; i++) {
        st = one(t, i, names, n, d_open);

        if (st == CV_OK && (i + 1) % FILL_BATCH == 0) {
            st = cv_txn_commit(t);
            t = NULL;
            if (st == CV_OK) {
                st = cv_txn_begin(store, 1, &t);
            }
        }
    }

    if (st != CV_OK) {
        return fail("conversations", st);
    }

    if (long_n) {
        cv_author  who = { "customer", NULL, NULL };
        cv_author  ann = { "agent", "ann", "ann" };
        int        changed;

        st = cv_conversation_state(t, argv[3], &cs);
        if (st != CV_OK) {
            return fail(argv[3], st);
        }

        who.id = cs.customer_id;
        st = cv_conversation_assign(t, argv[3], &ann, &changed);

        for (i = 0; st == CV_OK && i < long_n; i++) {
            st = cv_message_post(t, argv[3], NULL, i % 2 ? &ann : &who, NULL,
                                 i % 2 ? "an answer from ann"
                                       : "one more question", NULL, &m);
            cv_message_clear(&m);

            if (st == CV_OK && (i + 1) % FILL_LONG_BATCH == 0) {
                st = cv_txn_commit(t);
                t = NULL;
                if (st == CV_OK) {
                    st = cv_txn_begin(store, 1, &t);
                }
            }
        }

        if (st != CV_OK) {
            return fail("the long conversation", st);
        }
    }

    st = cv_log_last_seq(t, &last);
    if (st == CV_OK) {
        st = cv_txn_commit(t);
    }

    if (st != CV_OK) {
        return fail("commit", st);
    }

    printf("log_last=%llu\nconversations=%ld\n", (unsigned long long) last,
           total);

    cv_store_close(store);
    return 0;
}
