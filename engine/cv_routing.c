/* Which agent a new conversation goes to. */
#define _POSIX_C_SOURCE 200809L

#include "cv_routing.h"
#include "cv_chat.h"
#include "cv_index.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CV_KEY_RR  "routing_last"


cv_status
cv_agent_open_count(cv_txn *t, const char *agent_id, int *count)
{
    uint32_t   n;
    cv_status  st;

    /* kept with every assignment and close: no conversation is read */
    st = cv_index_open_count(t, agent_id, &n);
    *count = (n > INT32_MAX) ? INT32_MAX : (int) n;

    return st;
}


static int
cv_by_string(const void *a, const void *b)
{
    return strcmp(*(char * const *) a, *(char * const *) b);
}


cv_status
cv_agent_room(cv_txn *t, const char *agent_id, int *room, int *open)
{
    int         max;
    cJSON      *agent;
    cv_status   st;

    *room = 0;
    *open = 0;

    st = cv_agent_get_enabled(t, agent_id, &agent);
    if (st == CV_NOT_FOUND || st == CV_CONFLICT) {
        return CV_OK;
    }

    if (st != CV_OK) {
        return st;
    }

    max = (int) cJSON_GetNumberValue(
                    cJSON_GetObjectItemCaseSensitive(agent, "max_concurrent"));
    cJSON_Delete(agent);

    st = cv_agent_open_count(t, agent_id, open);

    *room = (st == CV_OK && *open < max);

    return st;
}


/*
 * The agents of ids that can take a conversation: enabled and under their
 * max_concurrent; unknown and disabled ones are passed over, a store that
 * fails is not. A lookup or two per agent: O(agents).
 */
static cv_status
cv_route_candidates(cv_txn *t, const cJSON *ids, char **cand, int *load,
    int *n)
{
    const cJSON  *id;
    cv_status     st;
    int           room, count;

    *n = 0;

    cJSON_ArrayForEach(id, ids) {
        if (!cJSON_IsString(id)) {
            continue;
        }

        st = cv_agent_room(t, id->valuestring, &room, &count);
        if (st != CV_OK) {
            return st;
        }

        if (room) {
            cand[*n] = id->valuestring;
            load[*n] = count;
            (*n)++;
        }
    }

    return CV_OK;
}


/* round robin: the first of cand (sorted) after the last one picked,
 * remembered in the store */
static cv_status
cv_route_next(cv_txn *t, char **cand, int n, int *best)
{
    char       last[CV_AGENT_ID_MAX + 1];
    MDB_val    k, v;
    cv_status  st;
    int        i;

    st = cv_raw_get(t, CV_DB_META, CV_KEY_RR, sizeof(CV_KEY_RR) - 1, &v);

    if (st == CV_NOT_FOUND) {
        last[0] = '\0';

    } else if (st != CV_OK) {
        return st;

    } else if (v.mv_size >= sizeof(last)) {
        return CV_ERROR;

    } else {
        memcpy(last, v.mv_data, v.mv_size);
        last[v.mv_size] = '\0';
    }

    for (i = 0; i < n; i++) {
        if (strcmp(cand[i], last) > 0) {
            break;
        }
    }

    *best = (i == n) ? 0 : i;

    k.mv_data = (void *) CV_KEY_RR;
    k.mv_size = sizeof(CV_KEY_RR) - 1;
    v.mv_data = cand[*best];
    v.mv_size = strlen(cand[*best]);

    return cv_status_from_mdb(mdb_put(t->txn, t->store->dbi[CV_DB_META],
                                      &k, &v, 0));
}


cv_status
cv_route_pick(cv_txn *t, cv_route_mode mode, const cJSON *ids,
    char agent_id[CV_AGENT_ID_MAX + 1])
{
    char       **cand;
    int         *load, n, i, best;
    cv_status    st;

    if (mode == CV_ROUTE_MANUAL) {
        return CV_NOT_FOUND;
    }

    n = cJSON_GetArraySize(ids);
    cand = calloc((size_t) n + 1, sizeof(char *));
    load = calloc((size_t) n + 1, sizeof(int));
    if (cand == NULL || load == NULL) {
        free(cand);
        free(load);
        return CV_ERROR;
    }

    st = cv_route_candidates(t, ids, cand, load, &n);

    if (st == CV_OK && n == 0) {
        st = CV_NOT_FOUND;
    }

    if (st != CV_OK) {
        goto done;
    }

    best = 0;

    if (mode == CV_ROUTE_LEAST_BUSY) {
        for (i = 1; i < n; i++) {
            if (load[i] < load[best]
                || (load[i] == load[best] && strcmp(cand[i], cand[best]) < 0))
            {
                best = i;
            }
        }

    } else {
        /* round robin over the ids in order, after the last one picked */
        qsort(cand, (size_t) n, sizeof(char *), cv_by_string);

        st = cv_route_next(t, cand, n, &best);
        if (st != CV_OK) {
            goto done;
        }
    }

    strcpy(agent_id, cand[best]);

done:

    free(cand);
    free(load);
    return st;
}


cv_status
cv_route_assign(cv_txn *t, cv_route_mode mode, const cJSON *ids,
    const char *conv_id)
{
    char        agent_id[CV_AGENT_ID_MAX + 1];
    int         changed;
    cJSON      *agent;
    cv_author   who;
    cv_status   st;

    if (mode == CV_ROUTE_MANUAL) {
        return CV_OK;
    }

    st = cv_route_pick(t, mode, ids, agent_id);

    if (st == CV_NOT_FOUND) {
        return CV_OK;     /* nobody free: it waits unassigned */
    }

    if (st == CV_OK) {
        st = cv_agent_get(t, agent_id, &agent);
    }

    if (st != CV_OK) {
        return st == CV_NOT_FOUND ? CV_ERROR : st;
    }

    cv_agent_author(agent, &who);

    st = cv_conversation_assign(t, conv_id, &who, &changed);
    cJSON_Delete(agent);

    return st;
}
