/*
 * Unit tests of cluster mode's erasure from the stream
 * (engine/cv_cluster_erase.c) and of the gap rule it needs
 * (cv_cluster_apply_after()'s prev): a customer's commands are noted under
 * them, their erasure turns the ones that carried data into the to-do and
 * drops every outcome kept for them; a refused command that carries data
 * for nobody goes to the to-do at once; a store that replays the stream
 * without the removed commands accepts the jumps only when its reader
 * delivered nothing in between, and comes out with the same log, seqs
 * included.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_cluster.h"
#include "cv_cluster_erase.h"
#include "fixture.h"

#include <stdlib.h>
#include <string.h>

#define SEED_A  "00112233445566778899aabbccddeeff"
#define SEED_B  "ffeeddccbbaa99887766554433221100"
#define SEED_C  "0123456789abcdef0123456789abcdef"

#define CMDS_MAX  16


static cv_status
apply(cv_store *st, uint64_t seq, uint64_t prev, const char *cmd,
    cv_cluster_result *res)
{
    cv_txn     *t;
    cv_status   s;

    cv_txn_begin(st, 1, &t);
    s = cv_cluster_apply_after(t, seq, prev, cmd, strlen(cmd), res);

    if (s == CV_OK) {
        cv_txn_commit(t);

    } else {
        cv_txn_abort(t);
    }

    return s;
}


/* the to-do as "1,3,4" */
static void
todo(cv_store *st, char *out, size_t size)
{
    size_t     i, n, used;
    cv_txn    *t;
    uint64_t   seqs[CV_CLUSTER_ERASE_BATCH];

    cv_txn_begin(st, 0, &t);
    n = 0;
    cv_cluster_erase_todo(t, seqs, CV_CLUSTER_ERASE_BATCH, &n);
    cv_txn_abort(t);

    out[0] = '\0';
    used = 0;

    for (i = 0; i < n && used < size; i++) {
        used += (size_t) snprintf(out + used, size - used, "%s%llu",
                                  i ? "," : "", (unsigned long long) seqs[i]);
    }
}


static int
kept(cv_store *st, uint64_t seq)
{
    int                found;
    cv_txn            *t;
    cv_cluster_result  r;

    cv_txn_begin(st, 0, &t);
    found = (cv_cluster_result_get(t, seq, &r) == CV_OK);
    cv_cluster_result_clear(&r);
    cv_txn_abort(t);

    return found;
}


static char *
log_text(cv_store *st, uint64_t *cursor)
{
    char       *text;
    cJSON      *items;
    cv_txn     *t;

    items = cJSON_CreateArray();
    cv_txn_begin(st, 0, &t);
    cv_log_read(t, 0, 100, items, cursor);
    cv_txn_abort(t);

    text = cJSON_PrintUnformatted(items);
    cJSON_Delete(items);

    return text;
}


int
main(void)
{
    char               *cmds[CMDS_MAX], buf[256], *la, *lb;
    char                cus[CV_ID_MAX], conv[CV_ID_MAX], other[CV_ID_MAX];
    size_t              i;
    cv_txn             *t;
    cv_store           *a, *b;
    uint64_t            applied, ca, cb;
    cv_cluster_result   r;

    a = fx_store_open(8u << 20);
    b = fx_store_open(8u << 20);

    for (i = 0; i < CMDS_MAX; i++) {
        cmds[i] = calloc(1, 1024);
    }

    /* 1: X's first message (a new visitor) */
    snprintf(cmds[1], 1024,
             "{\"op\":\"visitor.message\",\"seed\":\"" SEED_A "\","
             "\"now\":1764547200000,\"client_msg_id\":\"x1\","
             "\"text\":\"secret of x\",\"routing\":0,\"available\":[]}");
    ok(apply(a, 1, 0, cmds[1], &r) == CV_OK && r.status == CV_OK,
       "X writes");
    strcpy(cus, r.customer_id);
    strcpy(conv, r.conversation_id);
    cv_cluster_result_clear(&r);

    /* 2: Y's first message */
    snprintf(cmds[2], 1024,
             "{\"op\":\"visitor.message\",\"seed\":\"" SEED_B "\","
             "\"now\":1764547201000,\"client_msg_id\":\"y1\","
             "\"text\":\"hello from y\",\"routing\":0,\"available\":[]}");
    ok(apply(a, 2, 1, cmds[2], &r) == CV_OK && r.status == CV_OK,
       "Y writes");
    strcpy(other, r.customer_id);
    cv_cluster_result_clear(&r);

    /* 3: a reply to X, 4: X's fields, 5: X's conversation closed */
    snprintf(cmds[3], 1024,
             "{\"op\":\"agent.reply\",\"seed\":\"" SEED_C "\","
             "\"now\":1764547202000,\"conversation_id\":\"%s\","
             "\"agent_id\":\"ann\",\"agent_name\":\"Ann\","
             "\"text\":\"answer to x\"}", conv);
    snprintf(cmds[4], 1024,
             "{\"op\":\"api.customer_put\",\"seed\":\"" SEED_C "\","
             "\"now\":1764547203000,\"customer_id\":\"%s\","
             "\"fields\":{\"email\":\"x@example.com\"},\"replace\":false}",
             cus);
    snprintf(cmds[5], 1024,
             "{\"op\":\"api.close\",\"seed\":\"" SEED_C "\","
             "\"now\":1764547204000,\"conversation_id\":\"%s\"}", conv);
    /* 6: a reply to a conversation that is not there: data for nobody */
    snprintf(cmds[6], 1024,
             "{\"op\":\"api.message\",\"seed\":\"" SEED_C "\","
             "\"now\":1764547205000,\"conversation_id\":\"conv_gone\","
             "\"text\":\"to nobody\"}");
    /* 7: Y writes again, 8: X is erased, 9: Y once more */
    snprintf(cmds[7], 1024,
             "{\"op\":\"visitor.message\",\"seed\":\"" SEED_A "\","
             "\"now\":1764547206000,\"customer_id\":\"%s\","
             "\"client_msg_id\":\"y2\",\"text\":\"again from y\"}", other);
    snprintf(cmds[8], 1024,
             "{\"op\":\"api.customer_erase\",\"seed\":\"" SEED_B "\","
             "\"now\":1764547207000,\"customer_id\":\"%s\"}", cus);
    snprintf(cmds[9], 1024,
             "{\"op\":\"visitor.message\",\"seed\":\"" SEED_C "\","
             "\"now\":1764547208000,\"customer_id\":\"%s\","
             "\"client_msg_id\":\"y3\",\"text\":\"last from y\"}", other);

    for (i = 3; i <= 7; i++) {
        ok(apply(a, i, i - 1, cmds[i], &r) == CV_OK, "seq %zu applies", i);

        if (i == 6) {
            ok(r.status == CV_NOT_FOUND && r.erase_todo == 1,
               "a message to no conversation: refused, to be removed");
        }

        cv_cluster_result_clear(&r);
    }

    todo(a, buf, sizeof(buf));
    ok(strcmp(buf, "6") == 0, "the to-do before the erasure: %s", buf);
    ok(kept(a, 1) && kept(a, 3) && kept(a, 4) && kept(a, 5),
       "X's outcomes are kept meanwhile");

    ok(apply(a, 8, 7, cmds[8], &r) == CV_OK && r.status == CV_OK
       && r.erase_todo == 3, "X's erasure: 3 commands carried X's data");
    cv_cluster_result_clear(&r);

    todo(a, buf, sizeof(buf));
    ok(strcmp(buf, "1,3,4,6") == 0, "the to-do: %s", buf);
    ok(!kept(a, 1) && !kept(a, 3) && !kept(a, 4) && !kept(a, 5),
       "X's outcomes (the message, the reply, the email, the close) went");
    ok(kept(a, 2) && kept(a, 7) && kept(a, 8), "the others' stay");

    ok(apply(a, 9, 8, cmds[9], &r) == CV_OK && r.status == CV_OK,
       "Y after it");
    cv_cluster_result_clear(&r);

    /* the erasure once more (a retried DELETE): nothing left to add */
    snprintf(cmds[10], 1024,
             "{\"op\":\"api.customer_erase\",\"seed\":\"" SEED_C "\","
             "\"now\":1764547209000,\"customer_id\":\"%s\"}", cus);
    ok(apply(a, 10, 9, cmds[10], &r) == CV_OK && r.status == CV_NOT_FOUND
       && r.erase_todo == 0, "erased again: no such customer, no to-do");
    cv_cluster_result_clear(&r);

    cv_txn_begin(a, 1, &t);
    ok(cv_cluster_erase_done(t, 1) == CV_OK
       && cv_cluster_erase_done(t, 1) == CV_OK
       && cv_txn_commit(t) == CV_OK, "seq 1 is out of the stream (twice)");
    todo(a, buf, sizeof(buf));
    ok(strcmp(buf, "3,4,6") == 0, "the to-do after it: %s", buf);

    /* ---- the gap rule: b replays the stream without 1, 3, 4, 6 ---- */

    ok(apply(b, 2, 1, cmds[2], &r) == CV_CONFLICT,
       "seq 2 after a reader that lost seq 1 (prev 1): a gap");
    ok(apply(b, 2, 0, cmds[2], &r) == CV_OK && r.status == CV_OK,
       "seq 2 as the reader's first from seq 1 (prev 0): applies");
    cv_cluster_result_clear(&r);
    ok(apply(b, 5, 4, cmds[5], &r) == CV_CONFLICT,
       "seq 5 when the reader cannot vouch for 3 and 4: a gap");
    ok(apply(b, 5, 2, cmds[5], &r) == CV_OK && r.status == CV_NOT_FOUND,
       "seq 5 right after 2 from the same reader: applies (refused: "
       "no such conversation here)");
    cv_cluster_result_clear(&r);
    ok(apply(b, 7, 5, cmds[7], &r) == CV_OK && r.status == CV_OK,
       "seq 7 after 5");
    cv_cluster_result_clear(&r);
    ok(apply(b, 7, 5, cmds[7], &r) == CV_OK && r.skipped,
       "seq 7 again: skipped");
    ok(apply(b, 9, 8, cmds[9], &r) == CV_CONFLICT,
       "seq 9 after 8, which this store has not applied: a gap");
    ok(apply(b, 8, 7, cmds[8], &r) == CV_OK && r.status == CV_NOT_FOUND
       && r.erase_todo == 0, "the erasure: nothing of X here");
    cv_cluster_result_clear(&r);
    ok(apply(b, 9, 8, cmds[9], &r) == CV_OK && r.status == CV_OK,
       "Y's last");
    cv_cluster_result_clear(&r);
    ok(apply(b, 10, 9, cmds[10], &r) == CV_OK, "and the second erasure");
    cv_cluster_result_clear(&r);

    cv_txn_begin(b, 0, &t);
    ok(cv_cluster_applied(t, &applied) == CV_OK && applied == 10,
       "b applied up to 10");
    cv_txn_abort(t);

    la = log_text(a, &ca);
    lb = log_text(b, &cb);
    ok(la && lb && strcmp(la, lb) == 0 && ca == cb,
       "both logs are the same, seqs and cursor (%llu) included",
       (unsigned long long) cb);
    ok(la && strstr(la, "last from y") && !strstr(la, "secret of x")
       && !strstr(la, "answer to x"), "with Y's messages and none of X's");
    ok(ca >= 9 * 256 && ca < 10 * 256,
       "a command's entries start at its seq * 256: %llu",
       (unsigned long long) ca);
    free(la);
    free(lb);

    todo(b, buf, sizeof(buf));
    ok(strcmp(buf, "") == 0, "b has nothing to remove: '%s'", buf);

    /* ---- a visitor's contact and identify carry data too ---- */

    snprintf(cmds[11], 1024,
             "{\"op\":\"visitor.contact\",\"seed\":\"" SEED_A "\","
             "\"now\":1764547210000,\"email\":\"z@example.com\","
             "\"name\":\"Zed\"}");
    ok(apply(a, 11, 10, cmds[11], &r) == CV_OK && r.status == CV_OK
       && r.customer_id[0], "a new visitor Z leaves an email");
    strcpy(cus, r.customer_id);
    cv_cluster_result_clear(&r);

    snprintf(cmds[12], 1024,
             "{\"op\":\"visitor.identify\",\"seed\":\"" SEED_B "\","
             "\"now\":1764547211000,\"customer_id\":\"%s\","
             "\"ext\":\"crm-z\",\"fields\":{\"lastname\":\"Zz\"}}", cus);
    ok(apply(a, 12, 11, cmds[12], &r) == CV_OK && r.status == CV_OK
       && strcmp(r.customer_id, cus) == 0, "Z identifies as crm-z");
    cv_cluster_result_clear(&r);

    snprintf(cmds[13], 1024,
             "{\"op\":\"api.customer_erase\",\"seed\":\"" SEED_C "\","
             "\"now\":1764547212000,\"customer_id\":\"%s\"}", cus);
    ok(apply(a, 13, 12, cmds[13], &r) == CV_OK && r.status == CV_OK
       && r.erase_todo == 2, "Z's erasure: the contact and the identify");
    cv_cluster_result_clear(&r);

    todo(a, buf, sizeof(buf));
    ok(strcmp(buf, "3,4,6,11,12") == 0, "the to-do: %s", buf);

    for (i = 0; i < CMDS_MAX; i++) {
        free(cmds[i]);
    }

    cv_store_close(a);
    cv_store_close(b);

    return done_testing();
}
