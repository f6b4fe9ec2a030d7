/* Unit tests of the verified-session cache (engine/cv_session_cache.c):
 * it must answer exactly what cv_session_agent() answers, whatever changed
 * in between. */
#define _POSIX_C_SOURCE 200809L

#include "cv_agents.h"
#include "cv_session_cache.h"
#include "cv_time.h"
#include "fixture.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static cv_store          *st;
static cv_session_cache  *cache;


/* the cache's answer, checked against the uncached one */
static cv_status
lookup(const char *session, const char **name)
{
    cv_txn       *t;
    const cJSON  *agent;
    cJSON        *plain;
    cv_status     s, s2;

    cv_txn_begin(st, 0, &t);
    s = cv_session_cache_agent(cache, t, session, &agent);
    s2 = cv_session_agent(t, session, &plain);

    if (s != s2) {
        diag("cache says %d, cv_session_agent says %d", (int) s, (int) s2);
        s = CV_ERROR;
    }

    if (s == CV_OK) {
        *name = cJSON_GetStringValue(cJSON_GetObjectItem(agent, "name"));
    }

    if (s2 == CV_OK) {
        cJSON_Delete(plain);
    }

    cv_txn_abort(t);
    return s;
}


static void
write_agent(const char *json)
{
    cv_txn  *t;
    cJSON   *fields;
    int      created;

    fields = cJSON_Parse(json);
    cv_txn_begin(st, 1, &t);
    cv_agent_put(t, "ann", fields, NULL, &created);
    cv_txn_commit(t);
    cJSON_Delete(fields);
}


int
main(void)
{
    cv_txn           *t;
    char              sess[CV_SECRET_STR], sess2[CV_SECRET_STR];
    const char       *name;
    int64_t           exp;
    int               i;

    st = fx_store_open(8u << 20);

    /* two slots: the two sessions below may share one */
    cache = cv_session_cache_create(2);

    write_agent("{\"name\":\"Ann\"}");

    cv_txn_begin(st, 1, &t);
    cv_session_create(t, "ann", 60000, sess, &exp);
    cv_session_create(t, "ann", 60000, sess2, &exp);
    cv_txn_commit(t);

    ok(lookup(sess, &name) == CV_OK && strcmp(name, "Ann") == 0,
       "a live session is found");
    ok(lookup(sess, &name) == CV_OK && strcmp(name, "Ann") == 0,
       "and found again (from the cache)");
    ok(lookup(sess2, &name) == CV_OK && lookup(sess, &name) == CV_OK,
       "two sessions in turn");
    ok(lookup("nosuchsession", &name) == CV_NOT_FOUND,
       "an unknown session is not");

    write_agent("{\"name\":\"Ann B.\"}");
    ok(lookup(sess, &name) == CV_OK && strcmp(name, "Ann B.") == 0,
       "a renamed agent is seen at once");

    write_agent("{\"enabled\":false}");
    ok(lookup(sess, &name) == CV_NOT_FOUND,
       "a disabled agent's session is refused at once");

    write_agent("{\"enabled\":true}");
    ok(lookup(sess, &name) == CV_NOT_FOUND,
       "disabling ended the sessions: enabling again does not revive them");

    cv_txn_begin(st, 1, &t);
    cv_session_create(t, "ann", 60000, sess, &exp);
    cv_session_create(t, "ann", 60000, sess2, &exp);
    cv_txn_commit(t);
    ok(lookup(sess, &name) == CV_OK && lookup(sess2, &name) == CV_OK,
       "new sessions work");

    cv_txn_begin(st, 1, &t);
    cv_session_delete(t, sess);
    cv_txn_commit(t);
    ok(lookup(sess, &name) == CV_NOT_FOUND, "a logged-out session is refused");
    ok(lookup(sess2, &name) == CV_OK, "the other session still works");

    cv_txn_begin(st, 1, &t);
    cv_agent_delete(t, "ann");
    cv_txn_commit(t);
    ok(lookup(sess2, &name) == CV_NOT_FOUND,
       "a deleted agent's session is refused");

    /* expiry: a session that lives 30 ms */
    write_agent("{\"name\":\"Ann\"}");
    cv_txn_begin(st, 1, &t);
    cv_session_create(t, "ann", 30, sess, &exp);
    cv_txn_commit(t);
    ok(lookup(sess, &name) == CV_OK, "a short session works");

    for (i = 0; i < 100 && cv_now_ms() <= exp; i++) {
        struct timespec  ts = { 0, 5000000 };
        nanosleep(&ts, NULL);
    }
    ok(lookup(sess, &name) == CV_NOT_FOUND, "and is refused once expired");

    cv_session_cache_destroy(cache);
    cv_store_close(st);

    return done_testing();
}
