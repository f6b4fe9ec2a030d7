/* Unit tests of agents, sessions and login tokens (engine/cv_agents.c). */
#define _POSIX_C_SOURCE 200809L

#include "cv_agents.h"
#include "fixture.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int
main(void)
{
    cv_store         *st;
    cv_txn           *t;
    cJSON            *fields, *agent;
    char              token[CV_SECRET_STR], token2[CV_SECRET_STR];
    char              sess[CV_SECRET_STR], conv[CV_ID_MAX];
    int64_t           exp;
    int               created;

    st = fx_store_open(8u << 20);

    cv_txn_begin(st, 1, &t);

    fields = cJSON_Parse("{\"name\":\"Ann\",\"email\":\"ann@example.com\"}");
    ok(cv_agent_put(t, "ann", fields, &agent, &created) == CV_OK && created,
       "agent created");
    ok(strcmp(cJSON_GetObjectItem(agent, "name")->valuestring, "Ann") == 0
       && cJSON_IsTrue(cJSON_GetObjectItem(agent, "enabled"))
       && cJSON_GetObjectItem(agent, "max_concurrent")->valuedouble == 5,
       "defaults: enabled, max_concurrent 5");
    cJSON_Delete(agent);
    cJSON_Delete(fields);

    fields = cJSON_Parse("{\"max_concurrent\":2}");
    ok(cv_agent_put(t, "ann", fields, &agent, &created) == CV_OK && !created
       && strcmp(cJSON_GetObjectItem(agent, "email")->valuestring,
                 "ann@example.com") == 0
       && cJSON_GetObjectItem(agent, "max_concurrent")->valuedouble == 2,
       "update keeps the fields it does not name");
    cJSON_Delete(agent);
    cJSON_Delete(fields);

    ok(cv_agent_put(t, "bad id", NULL, NULL, &created) == CV_INVALID,
       "an id with a space is invalid");

    /* login tokens */
    ok(cv_login_token_create(t, "ann", "conv_x", 0, token, &exp) == CV_OK
       && strlen(token) == 43, "token is 43 base64url chars (256 bits)");
    ok(cv_login_token_create(t, "nobody", NULL, 0, token2, &exp)
       == CV_NOT_FOUND, "no token for an unknown agent");
    ok(cv_login_token_create(t, "ann", NULL, 25LL * 3600 * 1000, token2, &exp)
       == CV_INVALID, "ttl over 24 hours refused");

    ok(cv_login_token_redeem(t, token, &agent, conv) == CV_OK
       && strcmp(conv, "conv_x") == 0, "token redeemed, bound conversation");
    cJSON_Delete(agent);
    ok(cv_login_token_redeem(t, token, &agent, conv) == CV_NOT_FOUND,
       "a used token is refused");
    ok(cv_login_token_redeem(t, "forged", &agent, conv) == CV_NOT_FOUND,
       "a forged token is refused");

    ok(cv_login_token_create(t, "ann", NULL, 1, token2, &exp) == CV_OK,
       "a token with a 1 ms ttl");
    nanosleep(&(struct timespec) { 0, 5000000 }, NULL);
    ok(cv_login_token_redeem(t, token2, &agent, conv) == CV_NOT_FOUND,
       "an expired token is refused");

    /* sessions */
    ok(cv_session_create(t, "ann", 60000, sess, &exp) == CV_OK,
       "session created");
    ok(cv_session_agent(t, sess, &agent) == CV_OK, "session is live");
    cJSON_Delete(agent);
    ok(cv_session_agent(t, "nope", &agent) == CV_NOT_FOUND,
       "unknown session refused");

    fields = cJSON_Parse("{\"enabled\":false}");
    cv_login_token_create(t, "ann", NULL, 0, token2, &exp);
    ok(cv_agent_put(t, "ann", fields, NULL, &created) == CV_OK,
       "agent disabled");
    cJSON_Delete(fields);
    ok(cv_session_agent(t, sess, &agent) == CV_NOT_FOUND,
       "a disabled agent's session has ended");
    ok(cv_login_token_redeem(t, token2, &agent, conv) == CV_NOT_FOUND,
       "a disabled agent cannot use a login token");

    /* the enabled-agent lookup and the author of an agent */
    {
        cv_author  who;

        ok(cv_agent_get_enabled(t, "ann", &agent) == CV_CONFLICT
           && cv_agent_get_enabled(t, "ann", NULL) == CV_CONFLICT,
           "a disabled agent is a conflict");
        ok(cv_agent_get_enabled(t, "nobody", &agent) == CV_NOT_FOUND,
           "an unknown agent is not found");
        ok(cv_login_token_create(t, "ann", NULL, 0, token2, &exp)
           == CV_NOT_FOUND, "no login token for a disabled agent either");

        fields = cJSON_Parse("{\"enabled\":true}");
        cv_agent_put(t, "ann", fields, NULL, &created);
        cJSON_Delete(fields);

        agent = NULL;
        ok(cv_agent_get_enabled(t, "ann", &agent) == CV_OK && agent
           && cv_agent_get_enabled(t, "ann", NULL) == CV_OK,
           "an enabled agent is found, with or without its record");

        cv_agent_author(agent, &who);
        ok(strcmp(who.type, "agent") == 0 && strcmp(who.id, "ann") == 0
           && strcmp(who.name, "Ann") == 0,
           "the author of an agent record: agent, its id and name");
        cJSON_Delete(agent);
    }

    cv_txn_commit(t);

    /* a record that does not parse is an error, not an absent agent */
    {
        cJSON  *items;

        st = fx_plant(st, "agents", "broken", "{not json", 9);

        cv_txn_begin(st, 0, &t);
        items = cJSON_CreateArray();
        ok(cv_agent_list(t, items) == CV_ERROR,
           "listing agents with a corrupt record fails");
        ok(cv_agent_get_enabled(t, "broken", NULL) == CV_ERROR,
           "and looking it up is an error");
        cJSON_Delete(items);
        cv_txn_abort(t);
    }

    cv_store_close(st);
    return done_testing();
}
