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
 *
 * Cluster mode: the other nodes tell their own agents online every 2 s
 * (ngx_chatvisor_cluster_signals.c); each agent keeps a bit per node that
 * said it is online there, and a node's bits count while what it said
 * holds. So an agent is online on every node while a console of theirs
 * polls any one, with no store read and no network call on a request.
 */


#include "ngx_chatvisor_shm.h"
#include "cv_routing.h"
#include "cv_time.h"


#define NGX_CHATVISOR_STATUS_AVAILABLE  1
#define NGX_CHATVISOR_STATUS_AWAY       2
#define NGX_CHATVISOR_STATUS_OFFLINE    3

/* a full table reuses the slot of an agent offline this long, ms */
#define NGX_CHATVISOR_PRESENCE_STALE    3600000

/* the smallest hash of agent ids heard from a node, slots */
#define NGX_CHATVISOR_PRESENCE_HASH_MIN 16

/* how long the agents' room, as read from the store, holds, ms: the
 * widget shows or hides this much after an agent fills up or frees one */
#define NGX_CHATVISOR_ROOM_REFRESH      500


static ngx_str_t  ngx_chatvisor_status_names[] = {
    ngx_null_string,
    ngx_string(NGX_CHATVISOR_PRESENCE_AVAILABLE),
    ngx_string(NGX_CHATVISOR_PRESENCE_AWAY),
    ngx_string(NGX_CHATVISOR_PRESENCE_OFFLINE)
};


/* the other nodes whose word holds now: their bits; under the lock */

static uint32_t
ngx_chatvisor_presence_fresh(ngx_chatvisor_presence_table_t *tab, int64_t now)
{
    uint32_t    fresh;
    ngx_uint_t  i;

    fresh = 0;

    for (i = 0; i < NGX_CHATVISOR_PRESENCE_NODES; i++) {
        if (tab->nodes[i].until >= now) {
            fresh |= (uint32_t) 1 << i;
        }
    }

    return fresh;
}


/* a new entry for an agent not in the table; under the lock */

static ngx_chatvisor_presence_t *
ngx_chatvisor_presence_new(ngx_chatvisor_presence_table_t *tab,
    const char *agent_id)
{
    int64_t                    now;
    uint32_t                   fresh;
    ngx_uint_t                 i;
    ngx_chatvisor_presence_t  *p;

    if (ngx_strlen(agent_id) > CV_AGENT_ID_MAX) {
        return NULL;
    }

    if (tab->n == NGX_CHATVISOR_PRESENCE_MAX) {
        now = cv_now_ms();
        fresh = ngx_chatvisor_presence_fresh(tab, now);

        for (i = 0; i < tab->n; i++) {
            p = &tab->agents[i];
            if (!p->external && !(p->nodes & fresh)
                && p->online_until < now - NGX_CHATVISOR_PRESENCE_STALE)
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


/* the entry of an agent; creates it when add; call under the lock */

static ngx_chatvisor_presence_t *
ngx_chatvisor_presence_find(ngx_chatvisor_presence_table_t *tab,
    const char *agent_id, ngx_uint_t add)
{
    ngx_uint_t  i;

    for (i = 0; i < tab->n; i++) {
        if (ngx_strcmp(tab->agents[i].agent_id, agent_id) == 0) {
            return &tab->agents[i];
        }
    }

    return add ? ngx_chatvisor_presence_new(tab, agent_id) : NULL;
}


/* online by this node's own knowledge: a console polls here, or the
 * integrator said so */

static ngx_uint_t
ngx_chatvisor_presence_here(ngx_chatvisor_presence_t *p, int64_t now)
{
    return p->external || p->online_until >= now;
}


/* fresh: ngx_chatvisor_presence_fresh()'s, the other nodes that count */

static ngx_uint_t
ngx_chatvisor_presence_effective(ngx_chatvisor_presence_t *p, int64_t now,
    uint32_t fresh)
{
    if (p == NULL || p->status == NGX_CHATVISOR_STATUS_OFFLINE
        || (!ngx_chatvisor_presence_here(p, now) && !(p->nodes & fresh)))
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
    int64_t                          now;
    ngx_uint_t                       s;
    ngx_shmtx_t                     *mutex;
    ngx_chatvisor_presence_table_t  *tab;

    mutex = ngx_chatvisor_shm_mutex(cmcf);
    tab = &cmcf->shm->presence;
    now = cv_now_ms();

    ngx_shmtx_lock(mutex);
    s = ngx_chatvisor_presence_effective(
            ngx_chatvisor_presence_find(tab, agent_id, 0), now,
            ngx_chatvisor_presence_fresh(tab, now));
    ngx_shmtx_unlock(mutex);

    return (const char *) ngx_chatvisor_status_names[s].data;
}


void
ngx_chatvisor_presence_count(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t *available, ngx_uint_t *away)
{
    int64_t                          now;
    uint32_t                         fresh;
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

    fresh = ngx_chatvisor_presence_fresh(tab, now);

    for (i = 0; i < tab->n; i++) {
        s = ngx_chatvisor_presence_effective(&tab->agents[i], now, fresh);

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
    uint32_t                         fresh;
    ngx_uint_t                       i, n;
    ngx_shmtx_t                     *mutex;
    ngx_chatvisor_presence_table_t  *tab;

    mutex = ngx_chatvisor_shm_mutex(cmcf);
    tab = &cmcf->shm->presence;
    now = cv_now_ms();
    n = 0;

    ngx_shmtx_lock(mutex);

    fresh = ngx_chatvisor_presence_fresh(tab, now);

    for (i = 0; i < tab->n; i++) {
        if (ngx_chatvisor_presence_effective(&tab->agents[i], now, fresh)
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
    uint32_t                         fresh;
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
    fresh = ngx_chatvisor_presence_fresh(tab, now);

    ids = ngx_alloc(tab->n * (sizeof(*ids) + sizeof(int)) + 1,
                    ngx_cycle->log);
    n = 0;

    for (i = 0; ids && i < tab->n; i++) {
        if (ngx_chatvisor_presence_effective(&tab->agents[i], now, fresh)
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
    uint32_t                         fresh;
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

    fresh = ngx_chatvisor_presence_fresh(tab, now);

    for (i = 0; i < tab->n && !found; i++) {
        s = ngx_chatvisor_presence_effective(&tab->agents[i], now, fresh);

        /* available: and with room for a conversation */
        found = available ? s == NGX_CHATVISOR_STATUS_AVAILABLE
                            && tab->agents[i].room
                          : s != NGX_CHATVISOR_STATUS_OFFLINE;
    }

    ngx_shmtx_unlock(mutex);

    return found;
}


void
ngx_chatvisor_presence_local(ngx_chatvisor_main_conf_t *cmcf,
    cJSON *available, cJSON *away)
{
    int64_t                          now;
    ngx_uint_t                       i;
    ngx_shmtx_t                     *mutex;
    ngx_chatvisor_presence_t        *p;
    ngx_chatvisor_presence_table_t  *tab;

    if (cmcf->shm == NULL) {
        return;
    }

    mutex = ngx_chatvisor_shm_mutex(cmcf);
    tab = &cmcf->shm->presence;
    now = cv_now_ms();

    ngx_shmtx_lock(mutex);

    /* only what this node knows itself: what others told it goes back to
     * nobody, or an agent would stay online by the nodes' echo */
    for (i = 0; i < tab->n; i++) {
        p = &tab->agents[i];

        if (!ngx_chatvisor_presence_here(p, now)) {
            continue;
        }

        if (p->status == NGX_CHATVISOR_STATUS_AVAILABLE) {
            cJSON_AddItemToArray(available, cJSON_CreateString(p->agent_id));

        } else if (p->status == NGX_CHATVISOR_STATUS_AWAY) {
            cJSON_AddItemToArray(away, cJSON_CreateString(p->agent_id));
        }
    }

    ngx_shmtx_unlock(mutex);
}


/* an agent id heard from a node, in a small open-addressing hash */
typedef struct {
    const char                *id;
    ngx_uint_t                 key;
    ngx_uint_t                 status;
    ngx_uint_t                 found;
} ngx_chatvisor_presence_told_t;


static ngx_chatvisor_presence_told_t *
ngx_chatvisor_presence_told(ngx_chatvisor_presence_told_t *hash,
    ngx_uint_t size, const char *id, ngx_uint_t key)
{
    ngx_uint_t  i;

    /* size is a power of two, at least twice the ids: a free slot ends
     * every probe */
    for (i = key & (size - 1); hash[i].id; i = (i + 1) & (size - 1)) {
        if (hash[i].key == key && ngx_strcmp(hash[i].id, id) == 0) {
            break;
        }
    }

    return &hash[i];
}


/* the node's slot (a new node takes a free or expired one, else the one
 * heard of longest ago); under the lock */

static ngx_uint_t
ngx_chatvisor_presence_node(ngx_chatvisor_presence_table_t *tab,
    const u_char *node)
{
    ngx_uint_t  i, k;

    k = 0;

    for (i = 0; i < NGX_CHATVISOR_PRESENCE_NODES; i++) {
        if (tab->nodes[i].until != 0
            && ngx_memcmp(tab->nodes[i].id, node, NGX_CHATVISOR_NODE_ID_LEN)
               == 0)
        {
            return i;
        }

        if (tab->nodes[i].until < tab->nodes[k].until) {
            k = i;
        }
    }

    /* its bits from the node that had it are cleared by the caller */
    ngx_memcpy(tab->nodes[k].id, node, NGX_CHATVISOR_NODE_ID_LEN);

    return k;
}


void
ngx_chatvisor_presence_heard(ngx_chatvisor_main_conf_t *cmcf,
    const u_char *node, cJSON *available, cJSON *away, ngx_msec_t keep)
{
    cJSON                           *list[2], *id;
    int64_t                          now;
    uint32_t                         bit;
    ngx_uint_t                       i, j, k, m, size, key, status[2];
    ngx_shmtx_t                     *mutex;
    ngx_chatvisor_presence_t        *p;
    ngx_chatvisor_presence_told_t   *hash, *e;
    ngx_chatvisor_presence_table_t  *tab;

    if (cmcf->shm == NULL) {
        return;
    }

    list[0] = available;
    list[1] = away;
    status[0] = NGX_CHATVISOR_STATUS_AVAILABLE;
    status[1] = NGX_CHATVISOR_STATUS_AWAY;

    m = 0;
    for (j = 0; j < 2; j++) {
        m += cJSON_IsArray(list[j]) ? (ngx_uint_t) cJSON_GetArraySize(list[j])
                                    : 0;
    }

    /* hashed before the lock, so that the table is walked once under it
     * (a node with many agents online does not hold every request up) */
    for (size = NGX_CHATVISOR_PRESENCE_HASH_MIN; size < 2 * m; size <<= 1) {
        /* void */
    }

    hash = ngx_calloc(size * sizeof(ngx_chatvisor_presence_told_t),
                      ngx_cycle->log);
    if (hash == NULL) {
        return;
    }

    for (j = 0; j < 2; j++) {
        if (!cJSON_IsArray(list[j])) {
            continue;
        }

        cJSON_ArrayForEach(id, list[j]) {
            if (!cJSON_IsString(id)
                || ngx_strlen(id->valuestring) > CV_AGENT_ID_MAX)
            {
                continue;
            }

            key = ngx_hash_key((u_char *) id->valuestring,
                               ngx_strlen(id->valuestring));
            e = ngx_chatvisor_presence_told(hash, size, id->valuestring, key);

            if (e->id == NULL) {
                e->id = id->valuestring;
                e->key = key;
                e->status = status[j];
            }
        }
    }

    mutex = ngx_chatvisor_shm_mutex(cmcf);
    tab = &cmcf->shm->presence;
    now = cv_now_ms();

    ngx_shmtx_lock(mutex);

    k = ngx_chatvisor_presence_node(tab, node);
    bit = (uint32_t) 1 << k;

    /* what the node says replaces what it said */
    for (i = 0; i < tab->n; i++) {
        p = &tab->agents[i];
        e = ngx_chatvisor_presence_told(hash, size, p->agent_id,
                                        ngx_hash_key((u_char *) p->agent_id,
                                                     ngx_strlen(p->agent_id)));
        if (e->id) {
            p->nodes |= bit;
            e->found = 1;

        } else {
            p->nodes &= ~bit;
        }
    }

    /* an agent this node has not heard of yet: with the status told (a
     * node that started after the agent set it did not apply that) */
    for (i = 0; i < size; i++) {
        if (hash[i].id == NULL || hash[i].found) {
            continue;
        }

        p = ngx_chatvisor_presence_new(tab, hash[i].id);
        if (p == NULL) {
            break;              /* the table is full */
        }

        p->status = (uint8_t) hash[i].status;
        p->nodes = bit;
    }

    tab->nodes[k].until = now + (int64_t) keep;

    ngx_shmtx_unlock(mutex);

    ngx_free(hash);
}
