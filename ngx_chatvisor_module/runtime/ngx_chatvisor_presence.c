/*
 * Agent presence, in the shared zone: an agent is online while a console
 * of theirs polls (or while an integrator says so), available when online
 * and set to available. Routing and the edge's rules read it on every
 * conversation and page, so it never touches the store.
 */


#include "ngx_chatvisor_shm.h"
#include "cv_time.h"


#define NGX_CHATVISOR_STATUS_AVAILABLE  1
#define NGX_CHATVISOR_STATUS_AWAY       2
#define NGX_CHATVISOR_STATUS_OFFLINE    3

/* a full table reuses the slot of an agent offline this long, ms */
#define NGX_CHATVISOR_PRESENCE_STALE    3600000


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

    ngx_shmtx_lock(mutex);

    for (i = 0; i < tab->n && !found; i++) {
        s = ngx_chatvisor_presence_effective(&tab->agents[i], now);

        found = available ? s == NGX_CHATVISOR_STATUS_AVAILABLE
                          : s != NGX_CHATVISOR_STATUS_OFFLINE;
    }

    ngx_shmtx_unlock(mutex);

    return found;
}
