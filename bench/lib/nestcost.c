/*
 * nestcost — what a nested transaction per write costs the group commit
 * (docs/decisions.md, "Each write has a nested transaction"): BATCHES
 * write transactions of WRITES messages each (one customer, its
 * conversation), plain and with each message in its own cv_txn_nest(),
 * alternating, in one store with sync off (the disk is not what is
 * measured). Prints microseconds per message for both.
 *
 *   cc -O2 -Iengine -o build/nestcost bench/lib/nestcost.c engine/cv_*.c \
 *       -llmdb -lcjson -lcrypto -lm
 *   build/nestcost [BATCHES [WRITES]]        (defaults 400 32)
 */

#define _POSIX_C_SOURCE 200809L

#include "cv_chat.h"
#include "cv_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static int
post(cv_txn *t, const char *cus)
{
    cv_author   a = { "customer", cus, NULL };
    cv_message  m;
    cv_status   st;

    st = cv_message_post(t, NULL, cus, &a, NULL, "a message of a benchmark",
                         NULL, &m);
    cv_message_clear(&m);

    return st == CV_OK ? 0 : -1;
}


/* one batch; nest: each message in its own child */
static int
batch(cv_store *st, const char *cus, int writes, int nest)
{
    int      i;
    cv_txn  *t, *c;

    if (cv_txn_begin(st, 1, &t) != CV_OK) {
        return -1;
    }

    for (i = 0; i < writes; i++) {
        if (!nest) {
            if (post(t, cus) != 0) {
                goto failed;
            }
            continue;
        }

        if (cv_txn_nest(t, &c) != CV_OK) {
            goto failed;
        }

        if (post(c, cus) != 0 || cv_txn_nest_commit(t, c) != CV_OK) {
            goto failed;
        }
    }

    return cv_txn_commit(t) == CV_OK ? 0 : -1;

failed:

    cv_txn_abort(t);
    return -1;
}


int
main(int argc, char **argv)
{
    int               batches, writes, b, nest;
    char              dir[] = "/tmp/nestcost.XXXXXX", err[256];
    char              cus[CV_ID_MAX], cmd[300];
    double            t0, spent[2];
    cv_txn           *t;
    cv_store         *st;
    cv_store_options  opt;

    batches = argc > 1 ? atoi(argv[1]) : 400;
    writes = argc > 2 ? atoi(argv[2]) : 32;

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }

    memset(&opt, 0, sizeof(opt));
    opt.path = dir;
    opt.map_size = (size_t) 4 << 30;
    opt.sync = 0;

    if (cv_store_prepare(&opt, (uid_t) -1, (gid_t) -1, err, sizeof(err))
        != CV_OK
        || cv_store_open(&st, &opt, err, sizeof(err)) != CV_OK)
    {
        fprintf(stderr, "store: %s\n", err);
        return 1;
    }

    if (cv_txn_begin(st, 1, &t) != CV_OK || cv_customer_create(t, cus) != CV_OK
        || cv_txn_commit(t) != CV_OK)
    {
        fprintf(stderr, "customer\n");
        return 1;
    }

    spent[0] = spent[1] = 0;

    /* alternating, so both see the same store sizes */
    for (b = 0; b < 2 * batches; b++) {
        nest = b % 2;
        t0 = now();

        if (batch(st, cus, writes, nest) != 0) {
            fprintf(stderr, "batch %d failed\n", b);
            return 1;
        }

        spent[nest] += now() - t0;
    }

    printf("plain=%.2f nested=%.2f (us per message; %d batches of %d "
           "each)\n", spent[0] * 1e6 / (batches * writes),
           spent[1] * 1e6 / (batches * writes), batches, writes);

    cv_store_close(st);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
