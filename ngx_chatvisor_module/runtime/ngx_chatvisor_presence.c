/*
 * Agent presence, in the shared zone: an agent is online while a console
 * of theirs polls (or while an integrator says so), available when online
 * and set to available. Routing and the edge's rules read it on every
 * conversation and page. Beside it, whether each available agent has room
 * for one more conversation (enabled, under max_concurrent): read from the
 * store's count of open conversations per agent (cv_routing.h), at most
 * every NGX_CHATVISOR_ROOM_REFRESH ms and by one worker at a time, so that
 * the edge's any_agent_available respects capacity without a store read
 * per page.
 */


#include "ngx_chatvisor_shm.h"
#include "cv_routing.h"
#include "cv_time.h"


#define NGX_CHATVISOR_STATUS_AVAILABLE  1
#define NGX_CHATVISOR_STATUS_AWAY       2
#define NGX_CHATVISOR_STATUS_OFFLINE    3

/* a full table reuses the slot of an agent offline this long, ms */
#define NGX_CHATVISOR_PRESENCE_STALE    3600000

/* how long the agents' room, as read from the store, holds, ms: the
 * widget shows or hides this much after an agent fills up or frees one */
#define NGX_CHATVISOR_ROOM_REFRESH      500


static ngx_str_t  ngx_chatvisor_status_names[] = {
    ngx_null_string,
    ngx_string(NGX_CHATVISOR_PRESENCE_AVAILABLE),
    ngx_string(NGX_CHATVISOR_PRESENCE_AWAY),
    ngx_string(NGX_CHATVISOR_PRESENCE_OFFLINE)
};


/* the entry of an agent; creates it when add; call under the lock */

static ngx_chatvisor_presence_t *
ngx_chatvisor_presence_find(ngx_chatvisor_presence_table_t *tab,
    const char *agent_id, ngx_uint_t add)
{
    ngx_uint_t                 i;
    ngx_chatvisor_presence_t  *p;

    for (i = 0; i < tab->n; i++) {
        if (ngx_strcmp(tab->agents[i].agent_id, agent_id) == 0) {
            return &tab->agents[i];
        }
    }

    if (!add || ngx_strlen(agent_id) > CV_AGENT_ID_MAX) {
        return NULL;
    }

    if (tab->n == NGX_CHATVISOR_PRESENCE_MAX) {
        for (i = 0; i < tab->n; i++) {
            p = &tab->agents[i];
            if (!p->external
                && p->online_until < cv_now_ms() - NGX_CHATVISOR_PRESENCE_STALE)
            {
                break;
            }
        }

        if (i == tab->n) {
            return NULL;
        }

    } else {
        i = tab->n++;
    }

    p = &tab->agents[i];
    ngx_memzero(p, sizeof(ngx_chatvisor_presence_t));
    ngx_cpystrn((u_char *) p->agent_id, (u_char *) agent_id,
                sizeof(p->agent_id));
    p->status = NGX_CHATVISOR_STATUS_AVAILABLE;
    p->room = 1;                /* until the store says otherwise */

    return p;
}


static ngx_uint_t
ngx_chatvisor_presence_effective(ngx_chatvisor_presence_t *p, int64_t now)
{
    if (p == NULL || p->status == NGX_CHATVISOR_STATUS_OFFLINE
        || (!p->external && p->online_until < now))
    {
        return NGX_CHATVISOR_STATUS_OFFLINE;
    }

    return p->status;
}


void
ngx_chatvisor_presence_seen(ngx_chatvisor_main_conf_t *cmcf,
    const char *agent_id, ngx_msec_t grace)
{
    ngx_shmtx_t               *mutex;
    ngx_chatvisor_presence_t  *p;

    mutex = ngx_chatvisor_shm_mutex(cmcf);

    ngx_shmtx_lock(mutex);

    p = ngx_chatvisor_presence_find(&cmcf->shm->presence, agent_id, 1);
    if (p) {
        p->online_until = cv_now_ms() + (int64_t) grace;
    }

    ngx_shmtx_unlock(mutex);
}


ngx_int_t
ngx_chatvisor_presence_set(ngx_chatvisor_main_conf_t *cmcf,
    const char *agent_id, const char *status, ngx_uint_t external)
{
    ngx_uint_t                 s;
    ngx_shmtx_t               *mutex;
    ngx_chatvisor_presence_t  *p;

    for (s = NGX_CHATVISOR_STATUS_AVAILABLE;
         s <= NGX_CHATVISOR_STATUS_OFFLINE;
         s++)
    {
        if (ngx_strcmp(status, ngx_chatvisor_status_names[s].data) == 0) {
            break;
        }
    }

    if (s > NGX_CHATVISOR_STATUS_OFFLINE) {
        return NGX_DECLINED;
    }

    mutex = ngx_chatvisor_shm_mutex(cmcf);

    ngx_shmtx_lock(mutex);

    p = ngx_chatvisor_presence_find(&cmcf->shm->presence, agent_id, 1);
    if (p) {
        p->status = (uint8_t) s;

        if (external) {
            p->external = (s != NGX_CHATVISOR_STATUS_OFFLINE);
        }
    }

    ngx_shmtx_unlock(mutex);

    return p ? NGX_OK : NGX_ERROR;
}


void
ngx_chatvisor_presence_remove(ngx_chatvisor_main_conf_t *cmcf,
    const char *agent_id)
{
    ngx_shmtx_t               *mutex;
    ngx_chatvisor_presence_t  *p;

    if (cmcf->shm == NULL) {
        return;
    }

    mutex = ngx_chatvisor_shm_mutex(cmcf);

    ngx_shmtx_lock(mutex);

    p = ngx_chatvisor_presence_find(&cmcf->shm->presence, agent_id, 0);
    if (p) {
        p->status = NGX_CHATVISOR_STATUS_OFFLINE;
        p->external = 0;
        p->online_until = 0;
    }

    ngx_shmtx_unlock(mutex);
}


const char *
ngx_chatvisor_presence_status(ngx_chatvisor_main_conf_t *cmcf,
    const char *agent_id)
{
    ngx_uint_t    s;
    ngx_shmtx_t  *mutex;

    mutex = ngx_chatvisor_shm_mutex(cmcf);

    ngx_shmtx_lock(mutex);
    s = ngx_chatvisor_presence_effective(
            ngx_chatvisor_presence_find(&cmcf->shm->presence, agent_id, 0),
            cv_now_ms());
    ngx_shmtx_unlock(mutex);

    return (const char *) ngx_chatvisor_status_names[s].data;
}


void
ngx_chatvisor_presence_count(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t *available, ngx_uint_t *away)
{
    int64_t                          now;
    ngx_uint_t                       i, s;
    ngx_shmtx_t                     *mutex;
    ngx_chatvisor_presence_table_t  *tab;

    *available = 0;
    *away = 0;

    if (cmcf->shm == NULL) {
        return;
    }

    mutex = ngx_chatvisor_shm_mutex(cmcf);
    tab = &cmcf->shm->presence;
    now = cv_now_ms();

    ngx_shmtx_lock(mutex);

    for (i = 0; i < tab->n; i++) {
        s = ngx_chatvisor_presence_effective(&tab->agents[i], now);

        if (s == NGX_CHATVISOR_STATUS_AVAILABLE) {
            (*available)++;

        } else if (s == NGX_CHATVISOR_STATUS_AWAY) {
            (*away)++;
        }
    }

    ngx_shmtx_unlock(mutex);
}


ngx_uint_t
ngx_chatvisor_presence_available(ngx_chatvisor_main_conf_t *cmcf,
    cJSON *ids)
{
    int64_t                          now;
    ngx_uint_t                       i, n;
    ngx_shmtx_t                     *mutex;
    ngx_chatvisor_presence_table_t  *tab;

    mutex = ngx_chatvisor_shm_mutex(cmcf);
    tab = &cmcf->shm->presence;
    now = cv_now_ms();
    n = 0;

    ngx_shmtx_lock(mutex);

    for (i = 0; i < tab->n; i++) {
        if (ngx_chatvisor_presence_effective(&tab->agents[i], now)
            == NGX_CHATVISOR_STATUS_AVAILABLE)
        {
            cJSON_AddItemToArray(ids,
                                 cJSON_CreateString(tab->agents[i].agent_id));
            n++;
        }
    }

    ngx_shmtx_unlock(mutex);

    return n;
}


/*
 * Reads the room of every available agent from the store when the last
 * reading is older than NGX_CHATVISOR_ROOM_REFRESH: O(available agents),
 * by the first worker to find it old (the others go on with the old one
 * meanwhile).
 */

static void
ngx_chatvisor_presence_room_refresh(ngx_chatvisor_main_conf_t *cmcf,
    int64_t now)
{
    int                              open, *room;
    char                           (*ids)[CV_AGENT_ID_MAX + 1];
    cv_txn                          *t;
    cv_status                        st;
    ngx_uint_t                       i, n;
    ngx_shmtx_t                     *mutex;
    ngx_chatvisor_presence_t        *p;
    ngx_chatvisor_presence_table_t  *tab;

    if (cmcf->store == NULL) {
        return;
    }

    mutex = ngx_chatvisor_shm_mutex(cmcf);
    tab = &cmcf->shm->presence;

    ngx_shmtx_lock(mutex);

    /* a clock that went back reads again too */
    if (tab->room_at <= now && now - tab->room_at < NGX_CHATVISOR_ROOM_REFRESH)
    {
        ngx_shmtx_unlock(mutex);
        return;
    }

    tab->room_at = now;

    ids = ngx_alloc(tab->n * (sizeof(*ids) + sizeof(int)) + 1,
                    ngx_cycle->log);
    n = 0;

    for (i = 0; ids && i < tab->n; i++) {
        if (ngx_chatvisor_presence_effective(&tab->agents[i], now)
            == NGX_CHATVISOR_STATUS_AVAILABLE)
        {
            ngx_memcpy(ids[n++], tab->agents[i].agent_id, sizeof(*ids));
        }
    }

    ngx_shmtx_unlock(mutex);

    if (ids == NULL) {
        return;
    }

    room = (int *) (ids + n);

    st = n ? cv_txn_begin(cmcf->store, 0, &t) : CV_NOT_FOUND;

    if (st == CV_OK) {
        for (i = 0; st == CV_OK && i < n; i++) {
            st = cv_agent_room(t, ids[i], &room[i], &open);
        }

        cv_txn_abort(t);
    }

    if (st == CV_OK) {
        ngx_shmtx_lock(mutex);

        for (i = 0; i < n; i++) {
            p = ngx_chatvisor_presence_find(tab, ids[i], 0);
            if (p) {
                p->room = (uint8_t) room[i];
            }
        }

        ngx_shmtx_unlock(mutex);
    }

    ngx_free(ids);
}


ngx_uint_t
ngx_chatvisor_presence_any(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t available)
{
    int64_t                          now;
    ngx_uint_t                       i, s, found;
    ngx_shmtx_t                     *mutex;
    ngx_chatvisor_presence_table_t  *tab;

    if (cmcf->shm == NULL) {
        return 0;
    }

    mutex = ngx_chatvisor_shm_mutex(cmcf);
    tab = &cmcf->shm->presence;
    now = cv_now_ms();
    found = 0;

    if (available) {
        ngx_chatvisor_presence_room_refresh(cmcf, now);
    }

    ngx_shmtx_lock(mutex);

    for (i = 0; i < tab->n && !found; i++) {
        s = ngx_chatvisor_presence_effective(&tab->agents[i], now);

        /* available: and with room for a conversation */
        found = available ? s == NGX_CHATVISOR_STATUS_AVAILABLE
                            && tab->agents[i].room
                          : s != NGX_CHATVISOR_STATUS_OFFLINE;
    }

    ngx_shmtx_unlock(mutex);

    return found;
}
