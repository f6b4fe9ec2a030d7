/* Which agent a new conversation goes to. */
#define _POSIX_C_SOURCE 200809L

#include "cv_routing.h"
#include "cv_chat.h"
#include "cv_store_impl.h"

#include <stdlib.h>
#include <string.h>

#define CV_KEY_RR  "routing_last"


cv_status
cv_agent_open_count(cv_txn *t, const char *agent_id, int *count)
{
    cJSON      *items;
    cv_status   st;

    items = cJSON_CreateArray();
    st = cv_conversation_list(t, "open", agent_id, (size_t) -1, items);
    *count = cJSON_GetArraySize(items);
    cJSON_Delete(items);

    return st;
}


static int
cv_by_string(const void *a, const void *b)
{
    return strcmp(*(char * const *) a, *(char * const *) b);
}


cv_status
cv_route_pick(cv_txn *t, cv_route_mode mode, const cJSON *ids,
    char agent_id[CV_AGENT_ID_MAX + 1])
{
    const cJSON  *id;
    cJSON        *agent;
    char        **cand, last[CV_AGENT_ID_MAX + 1];
    int          *load, n, i, best, max, count;
    MDB_val       k, v;
    cv_status     st;

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

    /* enabled agents under capacity */
    i = 0;
    cJSON_ArrayForEach(id, ids) {
        if (!cJSON_IsString(id) || cv_agent_get(t, id->valuestring, &agent)
                                   != CV_OK)
        {
            continue;
        }

        max = (int) cJSON_GetNumberValue(cJSON_GetObjectItem(agent,
                                                            "max_concurrent"));
        count = 0;

        if (cJSON_IsTrue(cJSON_GetObjectItem(agent, "enabled"))
            && cv_agent_open_count(t, id->valuestring, &count) == CV_OK
            && count < max)
        {
            cand[i] = id->valuestring;
            load[i] = count;
            i++;
        }

        cJSON_Delete(agent);
    }

    n = i;
    st = CV_NOT_FOUND;

    if (n == 0) {
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

        k.mv_data = (void *) CV_KEY_RR;
        k.mv_size = sizeof(CV_KEY_RR) - 1;
        last[0] = '\0';

        if (mdb_get(t->txn, t->store->dbi[CV_DB_META], &k, &v) == 0
            && v.mv_size < sizeof(last))
        {
            memcpy(last, v.mv_data, v.mv_size);
            last[v.mv_size] = '\0';
        }

        for (i = 0; i < n; i++) {
            if (strcmp(cand[i], last) > 0) {
                break;
            }
        }

        best = (i == n) ? 0 : i;

        v.mv_data = cand[best];
        v.mv_size = strlen(cand[best]);

        st = cv_status_from_mdb(mdb_put(t->txn, t->store->dbi[CV_DB_META],
                                        &k, &v, 0));
        if (st != CV_OK) {
            goto done;
        }
    }

    strcpy(agent_id, cand[best]);
    st = CV_OK;

done:

    free(cand);
    free(load);
    return st;
}
