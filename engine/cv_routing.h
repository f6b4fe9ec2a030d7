/* Which agent a new conversation goes to (chatvisor_routing). */
#ifndef CV_ROUTING_H
#define CV_ROUTING_H

#include "cv_store.h"
#include "cv_agents.h"

#include <cjson/cJSON.h>

typedef enum {
    CV_ROUTE_MANUAL = 0,
    CV_ROUTE_ROUND_ROBIN,
    CV_ROUTE_LEAST_BUSY
} cv_route_mode;

/*
 * Picks one of the available agents (ids, from presence) that is enabled
 * and under its max_concurrent open conversations. round_robin takes the
 * next after the last one picked (remembered in the store), least_busy the
 * one with the fewest open conversations. CV_NOT_FOUND: nobody can take it
 * (unknown and disabled agents are passed over; a failing store is
 * CV_ERROR, not nobody).
 */
cv_status cv_route_pick(cv_txn *t, cv_route_mode mode, const cJSON *ids,
    char agent_id[CV_AGENT_ID_MAX + 1]);

/*
 * A new conversation (conv_id) goes to the agent cv_route_pick() picks
 * among ids; nobody free (or manual routing): it waits unassigned, CV_OK.
 */
cv_status cv_route_assign(cv_txn *t, cv_route_mode mode, const cJSON *ids,
    const char *conv_id);

/* open conversations assigned to an agent (from the count kept with
 * every assignment and close: nothing is scanned) */
cv_status cv_agent_open_count(cv_txn *t, const char *agent_id, int *count);

/* Whether an agent can take one more conversation: *room is 1 when it is
 * enabled and under its max_concurrent, else 0 (unknown agents too);
 * *open is its open count. CV_ERROR only when the store fails. */
cv_status cv_agent_room(cv_txn *t, const char *agent_id, int *room,
    int *open);

#endif
