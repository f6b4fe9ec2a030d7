/* Unit tests of routing (engine/cv_routing.c). */
#define _POSIX_C_SOURCE 200809L

#include "cv_routing.h"
#include "cv_chat.h"
#include "fixture.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
open_conversation_for(cv_txn *t, const char *agent_id)
{
    char       cus[CV_ID_MAX];
    cv_message m;
    int        changed;
    cv_author  v = { "customer", NULL, NULL };
    cv_author  a = { "agent", agent_id, agent_id };

    cv_customer_create(t, cus);
    v.id = cus;
    cv_message_post(t, NULL, cus, &v, NULL, "hi", NULL, &m);
    cv_conversation_assign(t, m.conversation_id, &a, &changed);
    cv_message_clear(&m);
}


int
main(void)
{
    cv_store         *st;
    cv_txn           *t;
    cJSON            *ids, *f;
    char              picked[CV_AGENT_ID_MAX + 1];
    int               created, count;

    st = fx_store_open(8u << 20);

    cv_txn_begin(st, 1, &t);

    f = cJSON_Parse("{\"max_concurrent\":2}");
    cv_agent_put(t, "ann", f, NULL, &created);
    cv_agent_put(t, "bob", f, NULL, &created);
    cv_agent_put(t, "cat", f, NULL, &created);
    cJSON_Delete(f);
    f = cJSON_Parse("{\"enabled\":false}");
    cv_agent_put(t, "dan", f, NULL, &created);
    cJSON_Delete(f);

    ids = cJSON_Parse("[\"cat\",\"ann\",\"bob\",\"dan\",\"ghost\"]");

    ok(cv_route_pick(t, CV_ROUTE_MANUAL, ids, picked) == CV_NOT_FOUND,
       "manual routing picks nobody");

    ok(cv_route_pick(t, CV_ROUTE_ROUND_ROBIN, ids, picked) == CV_OK
       && strcmp(picked, "ann") == 0, "round robin starts with ann");
    ok(cv_route_pick(t, CV_ROUTE_ROUND_ROBIN, ids, picked) == CV_OK
       && strcmp(picked, "bob") == 0, "then bob");
    ok(cv_route_pick(t, CV_ROUTE_ROUND_ROBIN, ids, picked) == CV_OK
       && strcmp(picked, "cat") == 0, "then cat (dan disabled, ghost "
       "unknown)");
    ok(cv_route_pick(t, CV_ROUTE_ROUND_ROBIN, ids, picked) == CV_OK
       && strcmp(picked, "ann") == 0, "and around again");

    open_conversation_for(t, "ann");
    open_conversation_for(t, "bob");
    open_conversation_for(t, "bob");
    ok(cv_agent_open_count(t, "bob", &count) == CV_OK && count == 2,
       "bob has 2 open conversations");

    ok(cv_route_pick(t, CV_ROUTE_LEAST_BUSY, ids, picked) == CV_OK
       && strcmp(picked, "cat") == 0, "least busy picks cat (0 open)");

    open_conversation_for(t, "cat");
    ok(cv_route_pick(t, CV_ROUTE_LEAST_BUSY, ids, picked) == CV_OK
       && strcmp(picked, "ann") == 0, "ties go by id: ann (1 open)");

    open_conversation_for(t, "ann");
    open_conversation_for(t, "cat");
    ok(cv_route_pick(t, CV_ROUTE_LEAST_BUSY, ids, picked) == CV_NOT_FOUND,
       "everybody at capacity: nobody");
    ok(cv_route_pick(t, CV_ROUTE_ROUND_ROBIN, ids, picked) == CV_NOT_FOUND,
       "round robin also honours capacity");

    cJSON_Delete(ids);
    cv_txn_abort(t);

    /* an agent that cannot be read fails the pick: it is not "nobody" */
    st = fx_plant(st, "agents", "eve", "{not json", 9);
    cv_txn_begin(st, 1, &t);
    ids = cJSON_Parse("[\"eve\",\"ann\"]");
    ok(cv_route_pick(t, CV_ROUTE_LEAST_BUSY, ids, picked) == CV_ERROR,
       "a corrupt agent record is an error, not passed over");
    cJSON_Delete(ids);
    cv_txn_abort(t);

    cv_store_close(st);
    return done_testing();
}
