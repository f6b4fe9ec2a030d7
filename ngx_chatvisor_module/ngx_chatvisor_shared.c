/*
 * State in a small shared-memory zone that every worker reads without
 * touching the store: agent presence, failed API logins per client (rate
 * limit), a copy of the runtime widget settings, and the per-worker
 * "missed notices" flags of the IPC pipes. An agent is online while a console of theirs
 * polls (or while an integrator says so), available when online, set to
 * available, and (checked by routing) under capacity.
 */


#include "ngx_chatvisor.h"
#include "cv_agents.h"
#include "cv_time.h"


#define NGX_CHATVISOR_PRESENCE_MAX  1024

#define NGX_CHATVISOR_AVAILABLE  1
#define NGX_CHATVISOR_AWAY       2
#define NGX_CHATVISOR_OFFLINE    3


typedef struct {
    char                      agent_id[CV_AGENT_ID_MAX + 1];
    uint8_t                   status;
    uint8_t                   external;     /* set by REST, no polling */
    int64_t                   online_until; /* ms, wall clock */
} ngx_chatvisor_presence_t;


#define NGX_CHATVISOR_RATE_MAX    64
#define NGX_CHATVISOR_RATE_FAILS  5
#define NGX_CHATVISOR_RATE_WINDOW 60000


typedef struct {
    char                      client[65];
    uint32_t                  failures;
    int64_t                   window_start;
} ngx_chatvisor_rate_t;


#define NGX_CHATVISOR_WIDGET_MAX  16384


struct ngx_chatvisor_shm_s {
    ngx_atomic_t              overflow[NGX_MAX_PROCESSES];
    ngx_uint_t                visibility_mode;
    int64_t                   visibility_until;   /* ms; 0: no end */
    ngx_uint_t                widget_generation;
    size_t                    widget_len;
    u_char                    widget[NGX_CHATVISOR_WIDGET_MAX];
    ngx_chatvisor_rate_t      rate[NGX_CHATVISOR_RATE_MAX];
    ngx_uint_t                n;
    ngx_chatvisor_presence_t  agents[NGX_CHATVISOR_PRESENCE_MAX];
};


static ngx_int_t
ngx_chatvisor_shm_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_chatvisor_main_conf_t  *old = data;

    ngx_slab_pool_t            *shpool;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = shm_zone->data;

    if (old) {
        /* a reload: the zone (who is online, overrides) lives on; data is
         * the previous cycle's configuration */
        cmcf->shm = old->shm;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        cmcf->shm = shpool->data;
        return NGX_OK;
    }

    cmcf->shm = ngx_slab_calloc(shpool, sizeof(ngx_chatvisor_shm_t));
    if (cmcf->shm == NULL) {
        return NGX_ERROR;
    }

    shpool->data = cmcf->shm;

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_presence_init_conf(ngx_conf_t *cf,
    ngx_chatvisor_main_conf_t *cmcf)
{
    ngx_str_t  name = ngx_string("chatvisor");

    cmcf->shm_zone = ngx_shared_memory_add(cf, &name,
                                           sizeof(ngx_chatvisor_shm_t)
                                           + 64 * ngx_pagesize,
                                           &ngx_chatvisor_module);
    if (cmcf->shm_zone == NULL) {
        return NGX_ERROR;
    }

    cmcf->shm_zone->init = ngx_chatvisor_shm_init;
    cmcf->shm_zone->data = cmcf;

    return NGX_OK;
}


static ngx_slab_pool_t *
ngx_chatvisor_shpool(ngx_chatvisor_main_conf_t *cmcf)
{
    return (ngx_slab_pool_t *) cmcf->shm_zone->shm.addr;
}


/* the entry of an agent; creates it when add; call under the lock */

static ngx_chatvisor_presence_t *
ngx_chatvisor_presence_find(ngx_chatvisor_shm_t *shm, const char *agent_id,
    ngx_uint_t add)
{
    ngx_uint_t                 i;
    ngx_chatvisor_presence_t  *p;

    for (i = 0; i < shm->n; i++) {
        if (ngx_strcmp(shm->agents[i].agent_id, agent_id) == 0) {
            return &shm->agents[i];
        }
    }

    if (!add || ngx_strlen(agent_id) > CV_AGENT_ID_MAX) {
        return NULL;
    }

    if (shm->n == NGX_CHATVISOR_PRESENCE_MAX) {
        /* reuse the slot of an agent long offline */
        for (i = 0; i < shm->n; i++) {
            p = &shm->agents[i];
            if (!p->external && p->online_until < cv_now_ms() - 3600000) {
                break;
            }
        }

        if (i == shm->n) {
            return NULL;
        }

    } else {
        i = shm->n++;
    }

    p = &shm->agents[i];
    ngx_memzero(p, sizeof(ngx_chatvisor_presence_t));
    ngx_cpystrn((u_char *) p->agent_id, (u_char *) agent_id,
                sizeof(p->agent_id));
    p->status = NGX_CHATVISOR_AVAILABLE;

    return p;
}


void
ngx_chatvisor_presence_seen(ngx_chatvisor_main_conf_t *cmcf,
    const char *agent_id, ngx_msec_t grace)
{
    ngx_slab_pool_t           *shpool;
    ngx_chatvisor_presence_t  *p;

    shpool = ngx_chatvisor_shpool(cmcf);

    ngx_shmtx_lock(&shpool->mutex);

    p = ngx_chatvisor_presence_find(cmcf->shm, agent_id, 1);
    if (p) {
        p->online_until = cv_now_ms() + (int64_t) grace;
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


ngx_int_t
ngx_chatvisor_presence_set(ngx_chatvisor_main_conf_t *cmcf,
    const char *agent_id, const char *status, ngx_uint_t external)
{
    uint8_t                    s;
    ngx_slab_pool_t           *shpool;
    ngx_chatvisor_presence_t  *p;

    if (ngx_strcmp(status, "available") == 0) {
        s = NGX_CHATVISOR_AVAILABLE;

    } else if (ngx_strcmp(status, "away") == 0) {
        s = NGX_CHATVISOR_AWAY;

    } else if (ngx_strcmp(status, "offline") == 0) {
        s = NGX_CHATVISOR_OFFLINE;

    } else {
        return NGX_DECLINED;
    }

    shpool = ngx_chatvisor_shpool(cmcf);

    ngx_shmtx_lock(&shpool->mutex);

    p = ngx_chatvisor_presence_find(cmcf->shm, agent_id, 1);
    if (p) {
        p->status = s;

        if (external) {
            p->external = (s != NGX_CHATVISOR_OFFLINE);
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return p ? NGX_OK : NGX_ERROR;
}


static const char *
ngx_chatvisor_presence_effective(ngx_chatvisor_presence_t *p, int64_t now)
{
    if (p == NULL || p->status == NGX_CHATVISOR_OFFLINE
        || (!p->external && p->online_until < now))
    {
        return "offline";
    }

    return p->status == NGX_CHATVISOR_AVAILABLE ? "available" : "away";
}


/* "available", "away" or "offline" */

const char *
ngx_chatvisor_presence_status(ngx_chatvisor_main_conf_t *cmcf,
    const char *agent_id)
{
    const char       *s;
    ngx_slab_pool_t  *shpool;

    shpool = ngx_chatvisor_shpool(cmcf);

    ngx_shmtx_lock(&shpool->mutex);
    s = ngx_chatvisor_presence_effective(
            ngx_chatvisor_presence_find(cmcf->shm, agent_id, 0), cv_now_ms());
    ngx_shmtx_unlock(&shpool->mutex);

    return s;
}


/* adds the ids of the available agents to ids; returns how many */

ngx_uint_t
ngx_chatvisor_presence_online(ngx_chatvisor_main_conf_t *cmcf, cJSON *ids)
{
    int64_t            now;
    ngx_uint_t         i, n;
    ngx_slab_pool_t   *shpool;

    shpool = ngx_chatvisor_shpool(cmcf);
    now = cv_now_ms();
    n = 0;

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < cmcf->shm->n; i++) {
        if (ngx_strcmp(ngx_chatvisor_presence_effective(&cmcf->shm->agents[i],
                                                        now),
                       "available")
            == 0)
        {
            cJSON_AddItemToArray(ids, cJSON_CreateString(
                                          cmcf->shm->agents[i].agent_id));
            n++;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return n;
}


void
ngx_chatvisor_ipc_overflow_set(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t worker)
{
    if (worker < NGX_MAX_PROCESSES) {
        ngx_atomic_cmp_set(&cmcf->shm->overflow[worker], 0, 1);
    }
}


ngx_uint_t
ngx_chatvisor_ipc_overflow_take(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t worker)
{
    return worker < NGX_MAX_PROCESSES
           && ngx_atomic_cmp_set(&cmcf->shm->overflow[worker], 1, 0);
}


/*
 * Failed token requests per client: after 5 in a minute, the client is
 * refused until the minute is over. failed: count one more failure.
 */

ngx_int_t
ngx_chatvisor_rate_check(ngx_chatvisor_main_conf_t *cmcf, ngx_str_t *client,
    ngx_uint_t failed, ngx_uint_t *retry_after)
{
    int64_t                now;
    ngx_int_t              rc;
    ngx_uint_t             i;
    ngx_slab_pool_t       *shpool;
    ngx_chatvisor_rate_t  *e, *free;

    if (client->len >= sizeof(e->client)) {
        return NGX_OK;
    }

    shpool = ngx_chatvisor_shpool(cmcf);
    now = cv_now_ms();
    e = NULL;
    free = NULL;
    rc = NGX_OK;

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < NGX_CHATVISOR_RATE_MAX; i++) {
        if (ngx_strlen(cmcf->shm->rate[i].client) == client->len
            && ngx_strncmp(cmcf->shm->rate[i].client, client->data,
                           client->len) == 0)
        {
            e = &cmcf->shm->rate[i];
            break;
        }

        if (free == NULL && (cmcf->shm->rate[i].client[0] == '\0'
                             || now - cmcf->shm->rate[i].window_start
                                > NGX_CHATVISOR_RATE_WINDOW))
        {
            free = &cmcf->shm->rate[i];
        }
    }

    if (e == NULL && failed && free) {
        e = free;
        ngx_memzero(e, sizeof(ngx_chatvisor_rate_t));
        ngx_memcpy(e->client, client->data, client->len);
        e->window_start = now;
    }

    if (e) {
        if (now - e->window_start > NGX_CHATVISOR_RATE_WINDOW) {
            e->window_start = now;
            e->failures = 0;
        }

        if (failed) {
            e->failures++;
        }

        if (e->failures >= NGX_CHATVISOR_RATE_FAILS) {
            *retry_after = (ngx_uint_t) ((NGX_CHATVISOR_RATE_WINDOW
                                          - (now - e->window_start)) / 1000
                                         + 1);
            rc = NGX_DECLINED;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}


/* the runtime widget settings (JSON), after a commit or at worker start */

ngx_int_t
ngx_chatvisor_shared_widget_set(ngx_chatvisor_main_conf_t *cmcf,
    cJSON *settings)
{
    char             *json;
    size_t            len;
    ngx_slab_pool_t  *shpool;

    json = cJSON_PrintUnformatted(settings);
    if (json == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(json);
    if (len > NGX_CHATVISOR_WIDGET_MAX) {
        cJSON_free(json);
        return NGX_ERROR;
    }

    shpool = ngx_chatvisor_shpool(cmcf);

    ngx_shmtx_lock(&shpool->mutex);
    ngx_memcpy(cmcf->shm->widget, json, len);
    cmcf->shm->widget_len = len;
    cmcf->shm->widget_generation++;
    ngx_shmtx_unlock(&shpool->mutex);

    cJSON_free(json);
    return NGX_OK;
}


/*
 * This worker's parsed copy, parsed again only when the generation moved;
 * NULL when never set. The caller must not free it.
 */

cJSON *
ngx_chatvisor_shared_widget_get(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t *generation)
{
    static cJSON       *cached;
    static ngx_uint_t   cached_generation;

    ngx_uint_t          gen;
    ngx_slab_pool_t    *shpool;

    if (cmcf->shm == NULL) {
        return NULL;
    }

    gen = cmcf->shm->widget_generation;   /* a word read: no lock needed */

    if (gen != cached_generation) {
        shpool = ngx_chatvisor_shpool(cmcf);

        ngx_shmtx_lock(&shpool->mutex);
        gen = cmcf->shm->widget_generation;
        cJSON_Delete(cached);
        cached = cJSON_ParseWithLength((char *) cmcf->shm->widget,
                                       cmcf->shm->widget_len);
        ngx_shmtx_unlock(&shpool->mutex);

        cached_generation = gen;
    }

    *generation = gen;

    return cached;
}


void
ngx_chatvisor_shared_visibility_set(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t mode, int64_t until)
{
    ngx_slab_pool_t  *shpool;

    shpool = ngx_chatvisor_shpool(cmcf);

    ngx_shmtx_lock(&shpool->mutex);
    cmcf->shm->visibility_mode = mode;
    cmcf->shm->visibility_until = until;
    ngx_shmtx_unlock(&shpool->mutex);
}


/* the REST override, read on every page: a lock-free read of two words is
 * enough, a torn read only mixes an old and a new setting for one page */

ngx_uint_t
ngx_chatvisor_shared_visibility_get(ngx_chatvisor_main_conf_t *cmcf,
    int64_t *until)
{
    if (cmcf->shm == NULL) {
        *until = 0;
        return NGX_CHATVISOR_MODE_AUTO;
    }

    *until = cmcf->shm->visibility_until;
    return cmcf->shm->visibility_mode;
}


/* any agent online (available: any available) */

ngx_uint_t
ngx_chatvisor_presence_any(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t available)
{
    int64_t           now;
    ngx_uint_t        i, found;
    const char       *s;
    ngx_slab_pool_t  *shpool;

    if (cmcf->shm == NULL) {
        return 0;
    }

    shpool = ngx_chatvisor_shpool(cmcf);
    now = cv_now_ms();
    found = 0;

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < cmcf->shm->n && !found; i++) {
        s = ngx_chatvisor_presence_effective(&cmcf->shm->agents[i], now);

        found = available ? ngx_strcmp(s, "available") == 0
                          : ngx_strcmp(s, "offline") != 0;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return found;
}


/* a disabled or deleted agent is nobody's presence any more */

void
ngx_chatvisor_presence_remove(ngx_chatvisor_main_conf_t *cmcf,
    const char *agent_id)
{
    ngx_slab_pool_t           *shpool;
    ngx_chatvisor_presence_t  *p;

    if (cmcf->shm == NULL) {
        return;
    }

    shpool = ngx_chatvisor_shpool(cmcf);

    ngx_shmtx_lock(&shpool->mutex);

    p = ngx_chatvisor_presence_find(cmcf->shm, agent_id, 0);
    if (p) {
        p->status = NGX_CHATVISOR_OFFLINE;
        p->external = 0;
        p->online_until = 0;
    }

    ngx_shmtx_unlock(&shpool->mutex);
}
