/*
 * Unit tests of cluster mode's commands (engine/cv_cluster.c): two stores
 * that apply the same commands in the same order come out the same (ids,
 * times, log seqs), each seq applies once, a gap is refused, a refused or
 * unreadable command is applied as nothing, an unknown op is not applied
 * at all, outcomes are kept by seq.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_cluster.h"
#include "fixture.h"
#include "fixture_cluster.h"
#include "cv_agents.h"
#include "cv_time.h"

#include <stdlib.h>
#include <string.h>

#define SEED_A  "00112233445566778899aabbccddeeff"
#define SEED_B  "ffeeddccbbaa99887766554433221100"



static char *
log_text(cv_store *st)
{
    char       *text;
    cJSON      *items;
    cv_txn     *t;
    uint64_t    cursor;

    items = cJSON_CreateArray();
    cv_txn_begin(st, 0, &t);
    cv_log_read(t, 0, 100, items, &cursor);
    cv_txn_abort(t);

    text = cJSON_PrintUnformatted(items);
    cJSON_Delete(items);

    return text;
}


int
main(void)
{
    char               cmd[1024], *la, *lb;
    char               cus[CV_ID_MAX], conv[CV_ID_MAX];
    cv_txn            *t;
    cv_store          *a, *b;
    int64_t            at;
    uint64_t           applied;
    cv_cluster_result  ra, rb;

    a = fx_store_open(8u << 20);
    b = fx_store_open(8u << 20);

    snprintf(cmd, sizeof(cmd),
             "{\"op\":\"visitor.message\",\"seed\":\"" SEED_A "\","
             "\"now\":1764547200000,\"client_msg_id\":\"c1\","
             "\"text\":\"hello\",\"routing\":0,\"available\":[]}");

    ok(apply(a, 1, cmd, &ra) == CV_OK && ra.status == CV_OK
       && ra.opened && ra.message.json, "a new visitor's message applies");
    ok(apply(b, 1, cmd, &rb) == CV_OK && rb.status == CV_OK,
       "on the other store too");
    ok(strcmp(ra.customer_id, rb.customer_id) == 0
       && strcmp(ra.conversation_id, rb.conversation_id) == 0
       && ra.message.len == rb.message.len
       && memcmp(ra.message.json, rb.message.json, ra.message.len) == 0,
       "the same customer, conversation and message on both");
    ok(strstr(ra.message.json, "2025-12-01T00:00:00.000Z") != NULL,
       "the message has the command's time");

    strcpy(cus, ra.customer_id);
    strcpy(conv, ra.conversation_id);
    cv_cluster_result_clear(&ra);
    cv_cluster_result_clear(&rb);

    ok(apply(a, 1, cmd, &ra) == CV_OK && ra.skipped,
       "a seq applied before is skipped");
    ok(apply(a, 3, cmd, &ra) == CV_CONFLICT, "a gap is refused");

    snprintf(cmd, sizeof(cmd),
             "{\"op\":\"agent.reply\",\"seed\":\"" SEED_B "\","
             "\"now\":1764547201000,\"conversation_id\":\"%s\","
             "\"agent_id\":\"ann\",\"agent_name\":\"Ann\","
             "\"client_msg_id\":\"r1\",\"text\":\"hi there\"}", conv);

    ok(apply(a, 2, cmd, &ra) == CV_OK && ra.status == CV_OK
       && strcmp(ra.customer_id, cus) == 0, "an agent's reply applies");
    ok(apply(b, 2, cmd, &rb) == CV_OK && rb.status == CV_OK
       && memcmp(ra.message.json, rb.message.json, ra.message.len) == 0,
       "the same reply on both");
    cv_cluster_result_clear(&ra);
    cv_cluster_result_clear(&rb);

    snprintf(cmd, sizeof(cmd),
             "{\"op\":\"agent.reply\",\"seed\":\"" SEED_B "\","
             "\"now\":1764547202000,\"conversation_id\":\"conv_nope\","
             "\"agent_id\":\"ann\",\"text\":\"lost\"}");
    ok(apply(a, 3, cmd, &ra) == CV_OK && ra.status == CV_NOT_FOUND
       && ra.message.json == NULL, "a reply to no conversation: refused");
    ok(apply(a, 4, "not json", &ra) == CV_OK && ra.status == CV_INVALID,
       "an unreadable command is applied as nothing");

    cv_txn_begin(a, 0, &t);
    ok(cv_cluster_applied_at(t, &applied, &at) == CV_OK && applied == 4
       && at == 1764547202000, "a command without a time keeps the time "
       "of the one before (seq 3's, refused but applied)");
    cv_txn_abort(t);

    /* the same visitor's retry (same client_msg_id, another seed) */
    snprintf(cmd, sizeof(cmd),
             "{\"op\":\"visitor.message\",\"seed\":\"" SEED_B "\","
             "\"now\":1764547203000,\"customer_id\":\"%s\","
             "\"client_msg_id\":\"c1\",\"text\":\"hello\"}", cus);
    ok(apply(a, 5, cmd, &ra) == CV_OK && ra.status == CV_OK
       && ra.message.duplicate, "a retried client_msg_id is the first one");
    cv_cluster_result_clear(&ra);

    cv_txn_begin(a, 0, &t);
    ok(cv_cluster_applied(t, &applied) == CV_OK && applied == 5,
       "applied up to 5");
    ok(cv_cluster_applied_at(t, &applied, &at) == CV_OK && applied == 5
       && at == 1764547203000, "at seq 5's time");
    ok(cv_cluster_result_get(t, 2, &ra) == CV_OK && ra.status == CV_OK
       && ra.message.json && strstr(ra.message.json, "hi there")
       && strcmp(ra.conversation_id, conv) == 0, "seq 2's outcome is kept");
    cv_cluster_result_clear(&ra);
    ok(cv_cluster_result_get(t, 3, &ra) == CV_OK
       && ra.status == CV_NOT_FOUND, "and seq 3's refusal");
    ok(cv_cluster_result_get(t, 9, &ra) == CV_NOT_FOUND, "no seq 9 yet");
    cv_txn_abort(t);

    /* b applies 3, 4, 5 too: both logs are the same, entry by entry */
    apply(b, 3, "{\"op\":\"agent.reply\",\"seed\":\"" SEED_B "\","
                "\"now\":1764547202000,\"conversation_id\":\"conv_nope\","
                "\"agent_id\":\"ann\",\"text\":\"lost\"}", &rb);
    apply(b, 4, "not json", &rb);
    apply(b, 5, cmd, &rb);
    cv_cluster_result_clear(&rb);

    /* the console and the REST API: assign, close, a message after it */
    {
        const char  *tmpl[] = {
            "{\"op\":\"api.assign\",\"seed\":\"" SEED_A "\","
            "\"now\":1764547204000,\"conversation_id\":\"%s\","
            "\"agent_id\":\"nobody\"}",
            "{\"op\":\"agent.close\",\"seed\":\"" SEED_A "\","
            "\"now\":1764547205000,\"conversation_id\":\"%s\","
            "\"agent_id\":\"ann\",\"agent_name\":\"Ann\"}",
            "{\"op\":\"api.message\",\"seed\":\"" SEED_A "\","
            "\"now\":1764547206000,\"conversation_id\":\"%s\","
            "\"text\":\"too late\"}",
            "{\"op\":\"agent.assign\",\"seed\":\"" SEED_A "\","
            "\"now\":1764547207000,\"conversation_id\":\"%s\","
            "\"agent_id\":\"ann\",\"agent_name\":\"Ann\"}"
        };
        cv_status  want[] = { CV_NOT_FOUND, CV_OK, CV_CONFLICT,
                              CV_CONFLICT };
        size_t     i;

        for (i = 0; i < sizeof(tmpl) / sizeof(tmpl[0]); i++) {
            snprintf(cmd, sizeof(cmd), tmpl[i], conv);
            apply(a, 6 + i, cmd, &ra);
            apply(b, 6 + i, cmd, &rb);

            ok(ra.status == want[i] && rb.status == want[i],
               "command %zu: %s on both", i + 1, cv_status_text(want[i]));

            if (i == 0) {
                ok(strcmp(ra.why, "no such agent") == 0,
                   "an unknown agent: its reason");
            }

            if (i == 1) {
                ok(ra.closed && ra.result
                   && strcmp(str(ra.result, "status"), "closed") == 0,
                   "closed: the conversation is the answer");
            }

            if (i == 2) {
                ok(strcmp(ra.why, "the conversation is closed") == 0,
                   "a message to a closed one: its reason");
            }

            cv_cluster_result_clear(&ra);
            cv_cluster_result_clear(&rb);
        }

        snprintf(cmd, sizeof(cmd),
                 "{\"op\":\"api.agent_put\",\"seed\":\"" SEED_A "\","
                 "\"now\":1764547208000,\"agent_id\":\"bob\","
                 "\"fields\":{\"name\":\"Bob\",\"max_concurrent\":2}}");
        apply(a, 10, cmd, &ra);
        apply(b, 10, cmd, &rb);
        ok(ra.status == CV_OK && ra.created && rb.created && ra.result
           && strcmp(str(ra.result, "name"), "Bob") == 0,
           "an agent made through a command, on both");
        cv_cluster_result_clear(&ra);
        cv_cluster_result_clear(&rb);

        /* a login token by its hash, used once, its session on both */
        {
            char           tok[CV_SECRET_STR], ses[CV_SECRET_STR];
            char           th[CV_SHA256_HEX], sh[CV_SHA256_HEX];
            cJSON         *who;
            unsigned char  h[CV_SHA256_LEN];

            cv_secret_new(tok, h);
            cv_sha256_hex(tok, strlen(tok), th);
            cv_secret_new(ses, h);
            cv_sha256_hex(ses, strlen(ses), sh);

            snprintf(cmd, sizeof(cmd),
                     "{\"op\":\"login.create\",\"seed\":\"" SEED_A "\","
                     "\"now\":%lld,\"agent_id\":\"bob\","
                     "\"token_hash\":\"%s\"}", (long long) cv_now_ms(), th);
            apply(a, 11, cmd, &ra);
            apply(b, 11, cmd, &rb);
            ok(ra.status == CV_OK && rb.status == CV_OK && ra.result
               && num(ra.result, "expires_at") > 0,
               "a login token made by its hash, on both");
            cv_cluster_result_clear(&ra);
            cv_cluster_result_clear(&rb);

            snprintf(cmd, sizeof(cmd),
                     "{\"op\":\"agent.join\",\"seed\":\"" SEED_A "\","
                     "\"now\":%lld,\"token_hash\":\"%s\","
                     "\"session_hash\":\"%s\",\"ttl_ms\":60000}",
                     (long long) cv_now_ms(), th, sh);
            apply(a, 12, cmd, &ra);
            apply(b, 12, cmd, &rb);
            ok(ra.status == CV_OK && ra.result && rb.result,
               "the token opens a session, on both");
            cv_cluster_result_clear(&ra);
            cv_cluster_result_clear(&rb);

            apply(a, 13, cmd, &ra);
            ok(ra.status == CV_OK && ra.result == NULL,
               "used again: nothing (a 403)");
            cv_cluster_result_clear(&ra);

            cv_txn_begin(b, 0, &t);
            ok(cv_session_agent(t, ses, &who) == CV_OK
               && strcmp(str(who, "id"), "bob") == 0,
               "the session works on the other store");
            cJSON_Delete(who);
            cv_txn_abort(t);
        }

        /* a refusal whose reason quotes a field: kept as it was said */
        snprintf(cmd, sizeof(cmd),
                 "{\"op\":\"api.customer_put\",\"seed\":\"" SEED_A "\","
                 "\"now\":1764547209000,\"customer_id\":\"%s\","
                 "\"fields\":{\"email\":12},\"replace\":true}", cus);
        ok(apply(a, 14, cmd, &ra) == CV_OK && ra.status == CV_INVALID
           && ra.why[0], "a bad customer field is refused: %s", ra.why);
        cv_cluster_result_clear(&ra);
        cv_txn_begin(a, 0, &t);
        ok(cv_cluster_result_get(t, 14, &ra) == CV_OK
           && ra.status == CV_INVALID && strchr(ra.why, ' '),
           "its reason is kept: %s", ra.why);
        cv_cluster_result_clear(&ra);
        cv_txn_abort(t);

        /* a newer node's op: nothing applied, not even its seq; the
         * same seq applies once the node knows the op */
        snprintf(cmd, sizeof(cmd),
                 "{\"op\":\"future.op\",\"seed\":\"" SEED_A "\","
                 "\"now\":1764547210000}");
        ok(apply(a, 15, cmd, &ra) == CV_OK && ra.unknown
           && strcmp(ra.why, "future.op") == 0,
           "an unknown op is not applied: %s", ra.why);
        cv_cluster_result_clear(&ra);
        cv_txn_begin(a, 0, &t);
        ok(cv_cluster_applied(t, &applied) == CV_OK && applied == 14,
           "its seq is not applied either");
        cv_txn_abort(t);
        snprintf(cmd, sizeof(cmd),
                 "{\"seed\":\"" SEED_A "\",\"now\":1764547210000}");
        ok(apply(a, 15, cmd, &ra) == CV_OK && !ra.unknown
           && ra.status == CV_INVALID,
           "a command without an op is applied as nothing");
        cv_cluster_result_clear(&ra);

        cv_txn_begin(a, 0, &t);
        ok(cv_cluster_result_get(t, 7, &ra) == CV_OK && ra.closed
           && ra.result && strcmp(str(ra.result, "id"), conv) == 0,
           "the close's outcome is kept with its conversation");
        cv_cluster_result_clear(&ra);
        ok(cv_cluster_result_get(t, 6, &ra) == CV_OK
           && strcmp(ra.why, "no such agent") == 0,
           "and the refusal's reason");
        cv_cluster_result_clear(&ra);
        cv_txn_abort(t);
    }

    la = log_text(a);
    lb = log_text(b);
    ok(la && lb && strcmp(la, lb) == 0, "both logs are the same");
    free(la);
    free(lb);

    cv_store_close(a);
    cv_store_close(b);

    return done_testing();
}
