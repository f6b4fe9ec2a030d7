/*
 * Co-browsing sessions, in a slab zone of their own ("chatvisor_cobrowse",
 * chatvisor_cobrowse_memory) shared by the workers: a fixed table of
 * sessions and, in the slab, each session's chunks of recorded events.
 * A visitor's POST in one worker and the agent's poll in another meet
 * here; the notices tell the polls to look. Not in the store: the events
 * are worth something only while both sides are there, and megabytes of
 * DOM a second do not belong in a durable log.
 *
 * The table has room for the live sessions and as many ended ones, whose
 * state (a few hundred bytes) is kept a minute so both sides can read why
 * it ended; a session's chunks are freed the moment it ends.
 */


#include "ngx_chatvisor_runtime.h"
#include "cv_chunk_order.h"
#include "cv_time.h"


/* live sessions, and as many ended ones kept for a while */
#define NGX_CHATVISOR_COBROWSE_SLOTS  (2 * NGX_CHATVISOR_COBROWSE_SESSIONS_MAX)

/* notices one call sends at most: a state change and new events */
#define NGX_CHATVISOR_COBROWSE_NOTICES  2

/* new events' notices held for the relay (ngx_chatvisor_cobrowse_relay):
 * more in one turn of the event loop are sent at once */
#define NGX_CHATVISOR_COBROWSE_RELAY_MAX    64

/* turns the relay gives way to other work at most, one after another */
#define NGX_CHATVISOR_COBROWSE_RELAY_YIELD  4

/* how often (ms) the worker that applies other nodes' chunks looks for a
 * gap held too long (cv_chunk_order.h: CV_ORDER_HOLD_MS), while one is */
#define NGX_CHATVISOR_COBROWSE_ORDER_TICK   100


typedef struct ngx_chatvisor_cobrowse_chunk_s  ngx_chatvisor_cobrowse_chunk_t;

/* one POST of the recorder: the elements of its JSON array */
struct ngx_chatvisor_cobrowse_chunk_s {
    ngx_chatvisor_cobrowse_chunk_t  *next;
    ngx_chatvisor_cobrowse_chunk_t  *prev;
    uint64_t                         seq;
    size_t                           len;
    ngx_uint_t                       full;      /* starts with a full
                                                   snapshot */
    u_char                           data[1];
};


typedef struct {
    ngx_chatvisor_cobrowse_view_t    v;         /* what callers see */
    char                             conversation_id[CV_ID_MAX];
    ngx_uint_t                       hash;
    ngx_uint_t                       used;
    int64_t                          ended_ms;
    int64_t                          agent_seen_ms;
    int64_t                          agent_here_ms;  /* seen by this node
                                                   itself: told to the
                                                   others (cluster) */

    /* oldest first; every chunk before a full snapshot is dropped */
    ngx_chatvisor_cobrowse_chunk_t  *first;
    ngx_chatvisor_cobrowse_chunk_t  *last;
    size_t                           buffered;  /* bytes of the chunks */

    /* cluster: other nodes' chunks put in order, in the slab; NULL until
     * the first comes, freed with the chunks it holds when it ends */
    cv_chunk_order                  *order;

    /* token buckets: incremental bytes, full snapshots (in ms of refill) */
    int64_t                          rate_ms;
    size_t                           rate_tokens;
    int64_t                          full_ms;
    int64_t                          full_tokens;
} ngx_chatvisor_cobrowse_session_t;


struct ngx_chatvisor_cobrowse_zone_s {
    ngx_atomic_t                      used;     /* slots in use: polls read
                                                   it without the lock */
    ngx_uint_t                        live;     /* requested or active */
    uint64_t                          generation;  /* one counter for all,
                                                   so a new session of a
                                                   conversation always
                                                   counts past its old one */
    uint64_t                          pointer;
    ngx_chatvisor_cobrowse_session_t  slots[NGX_CHATVISOR_COBROWSE_SLOTS];
};


static ngx_str_t  ngx_chatvisor_cobrowse_states[] = {
    ngx_string("none"),
    ngx_string("requested"),
    ngx_string("active"),
    ngx_string("declined"),
    ngx_string("ended")
};

static ngx_str_t  ngx_chatvisor_cobrowse_reasons[] = {
    ngx_null_string,
    ngx_string("visitor"),
    ngx_string("agent"),
    ngx_string("closed"),
    ngx_string("agent_gone"),
    ngx_string("max_duration"),
    ngx_string("too_large"),
    ngx_string("declined")
};


/* this worker's: the sweep's timer, what it tells and what it checks */
static ngx_event_t                 ngx_chatvisor_cobrowse_sweep_event;

/* this worker's: the new events' notices not sent yet, and their event */
static ngx_event_t                 ngx_chatvisor_cobrowse_relay_event;
static ngx_chatvisor_notice_t      ngx_chatvisor_cobrowse_relayed[
                                       NGX_CHATVISOR_COBROWSE_RELAY_MAX];
static ngx_uint_t                  ngx_chatvisor_cobrowse_nrelayed;
static ngx_uint_t                  ngx_chatvisor_cobrowse_yielded;
static ngx_chatvisor_notice_t      ngx_chatvisor_cobrowse_ended[
                                       NGX_CHATVISOR_COBROWSE_SLOTS];
static char                        ngx_chatvisor_cobrowse_open[
                                       NGX_CHATVISOR_COBROWSE_SESSIONS_MAX]
                                       [CV_ID_MAX];

/* this worker's: the sessions whose agent this node saw since the last
 * sweep, told to the other nodes (cluster) */
static ngx_chatvisor_cobrowse_change_t  ngx_chatvisor_cobrowse_touched[
                                       NGX_CHATVISOR_COBROWSE_SESSIONS_MAX];

/* the worker that applies other nodes' chunks (cluster): the timer of
 * their gaps, and the snapshots it asks for in one go */
static ngx_event_t                 ngx_chatvisor_cobrowse_order_event;
static ngx_chatvisor_cobrowse_change_t  ngx_chatvisor_cobrowse_asked[
                                       NGX_CHATVISOR_COBROWSE_SESSIONS_MAX];
static ngx_chatvisor_notice_t      ngx_chatvisor_cobrowse_asked_notice[
                                       NGX_CHATVISOR_COBROWSE_SESSIONS_MAX];


static void ngx_chatvisor_cobrowse_order_free(ngx_slab_pool_t *shpool,
    ngx_chatvisor_cobrowse_session_t *s);


ngx_uint_t
ngx_chatvisor_cobrowse_live_count(ngx_chatvisor_main_conf_t *cmcf)
{
    ngx_uint_t                      n;
    ngx_slab_pool_t                *shpool;
    ngx_chatvisor_cobrowse_zone_t  *zone;

    zone = cmcf->cobrowse;

    if (zone == NULL) {
        return 0;
    }

    shpool = (ngx_slab_pool_t *) cmcf->cobrowse_zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);
    n = zone->live;
    ngx_shmtx_unlock(&shpool->mutex);

    return n;
}


const char *
ngx_chatvisor_cobrowse_state_name(ngx_uint_t state)
{
    if (state > NGX_CHATVISOR_COBROWSE_ENDED) {
        state = NGX_CHATVISOR_COBROWSE_NONE;
    }

    return (const char *) ngx_chatvisor_cobrowse_states[state].data;
}


const char *
ngx_chatvisor_cobrowse_reason_name(ngx_uint_t reason)
{
    if (reason > NGX_CHATVISOR_COBROWSE_DECLINED_BY) {
        reason = 0;
    }

    return (const char *) ngx_chatvisor_cobrowse_reasons[reason].data;
}


/* ------------------------------------------------------------ the zone */

static ngx_int_t
ngx_chatvisor_cobrowse_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_chatvisor_main_conf_t  *old = data;

    ngx_slab_pool_t            *shpool;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = shm_zone->data;

    if (old) {
        /* a reload with the same size: the sessions go on */
        cmcf->cobrowse = old->cobrowse;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        cmcf->cobrowse = shpool->data;
        return NGX_OK;
    }

    /* a full zone is a bound the sessions handle, not an error to log */
    shpool->log_nomem = 0;

    cmcf->cobrowse = ngx_slab_calloc(shpool,
                                     sizeof(ngx_chatvisor_cobrowse_zone_t));
    if (cmcf->cobrowse == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "chatvisor_cobrowse_memory is too small for the "
                      "sessions' table");
        return NGX_ERROR;
    }

    shpool->data = cmcf->cobrowse;

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_cobrowse_zone_add(ngx_conf_t *cf,
    ngx_chatvisor_main_conf_t *cmcf)
{
    ngx_str_t  name = ngx_string("chatvisor_cobrowse");

    cmcf->cobrowse_zone = ngx_shared_memory_add(cf, &name,
                                                cmcf->cobrowse_memory,
                                                &ngx_chatvisor_module);
    if (cmcf->cobrowse_zone == NULL) {
        return NGX_ERROR;
    }

    cmcf->cobrowse_zone->init = ngx_chatvisor_cobrowse_zone_init;
    cmcf->cobrowse_zone->data = cmcf;

    return NGX_OK;
}


static ngx_slab_pool_t *
ngx_chatvisor_cobrowse_pool(ngx_chatvisor_main_conf_t *cmcf)
{
    return (ngx_slab_pool_t *) cmcf->cobrowse_zone->shm.addr;
}


/* ------------------------------------------------- under the zone's lock */

static ngx_chatvisor_cobrowse_session_t *
ngx_chatvisor_cobrowse_find(ngx_chatvisor_cobrowse_zone_t *zone,
    const char *conversation_id)
{
    ngx_uint_t                         i, hash;
    ngx_chatvisor_cobrowse_session_t  *s;

    hash = ngx_hash_key((u_char *) conversation_id,
                        ngx_strlen(conversation_id));

    for (i = 0; i < NGX_CHATVISOR_COBROWSE_SLOTS; i++) {
        s = &zone->slots[i];

        if (s->used && s->hash == hash
            && ngx_strcmp(s->conversation_id, conversation_id) == 0)
        {
            return s;
        }
    }

    return NULL;
}


static ngx_uint_t
ngx_chatvisor_cobrowse_live(ngx_chatvisor_cobrowse_session_t *s)
{
    return s->v.state == NGX_CHATVISOR_COBROWSE_REQUESTED
           || s->v.state == NGX_CHATVISOR_COBROWSE_ACTIVE;
}


static void
ngx_chatvisor_cobrowse_bump(ngx_chatvisor_cobrowse_zone_t *zone,
    ngx_chatvisor_cobrowse_session_t *s)
{
    s->v.generation = ++zone->generation;
}


static void
ngx_chatvisor_cobrowse_drop(ngx_slab_pool_t *shpool,
    ngx_chatvisor_cobrowse_session_t *s)
{
    ngx_chatvisor_cobrowse_chunk_t  *c, *next;

    for (c = s->first; c; c = next) {
        next = c->next;
        ngx_slab_free_locked(shpool, c);
    }

    s->first = NULL;
    s->last = NULL;
    s->buffered = 0;
}


static void
ngx_chatvisor_cobrowse_end_locked(ngx_slab_pool_t *shpool,
    ngx_chatvisor_cobrowse_zone_t *zone, ngx_chatvisor_cobrowse_session_t *s,
    ngx_uint_t reason)
{
    ngx_chatvisor_cobrowse_drop(shpool, s);
    ngx_chatvisor_cobrowse_order_free(shpool, s);

    s->v.state = (reason == NGX_CHATVISOR_COBROWSE_DECLINED_BY)
                 ? NGX_CHATVISOR_COBROWSE_DECLINED
                 : NGX_CHATVISOR_COBROWSE_ENDED;
    s->v.reason = reason;
    s->v.snapshot = 0;
    s->v.recorder[0] = '\0';
    s->ended_ms = cv_now_ms();

    ngx_chatvisor_cobrowse_bump(zone, s);
    zone->live--;
}


/* a full snapshot is wanted (once: asking again changes nothing) */

static ngx_uint_t
ngx_chatvisor_cobrowse_ask_snapshot(ngx_chatvisor_cobrowse_zone_t *zone,
    ngx_chatvisor_cobrowse_session_t *s)
{
    if (s->v.snapshot || s->v.state != NGX_CHATVISOR_COBROWSE_ACTIVE) {
        return 0;
    }

    s->v.snapshot = 1;
    ngx_chatvisor_cobrowse_bump(zone, s);

    return 1;
}


/* why a live session is over by now (0: it is not) */

static ngx_uint_t
ngx_chatvisor_cobrowse_expired(ngx_chatvisor_main_conf_t *cmcf,
    ngx_chatvisor_cobrowse_session_t *s, int64_t now)
{
    if (!ngx_chatvisor_cobrowse_live(s)) {
        return 0;
    }

    if (now - s->v.requested_ms >= (int64_t) cmcf->cobrowse_max_duration) {
        return NGX_CHATVISOR_COBROWSE_MAX_DURATION;
    }

    if (now - s->agent_seen_ms > NGX_CHATVISOR_COBROWSE_AGENT_TIMEOUT) {
        return NGX_CHATVISOR_COBROWSE_AGENT_GONE;
    }

    return 0;
}


static void
ngx_chatvisor_cobrowse_notice(ngx_chatvisor_notice_t *n, ngx_uint_t *count,
    ngx_uint_t kind, ngx_chatvisor_cobrowse_session_t *s)
{
    ngx_chatvisor_notice_init(&n[(*count)++], kind, s->v.customer_id,
                              s->conversation_id);
}


static void
ngx_chatvisor_cobrowse_lock(ngx_chatvisor_main_conf_t *cmcf)
{
    ngx_shmtx_lock(&ngx_chatvisor_cobrowse_pool(cmcf)->mutex);
}


static void
ngx_chatvisor_cobrowse_unlock(ngx_chatvisor_main_conf_t *cmcf)
{
    ngx_shmtx_unlock(&ngx_chatvisor_cobrowse_pool(cmcf)->mutex);
}


/* the lock is let go before the notices go out: a notice may write to
 * another worker's pipe, which must not be done holding the zone */
static void
ngx_chatvisor_cobrowse_unlock_notify(ngx_chatvisor_main_conf_t *cmcf,
    ngx_chatvisor_notice_t *notice, ngx_uint_t n)
{
    ngx_chatvisor_cobrowse_unlock(cmcf);

    if (n) {
        ngx_chatvisor_notify_many(notice, n);
    }
}


/* ----------------------------------------------- the other nodes (cluster) */

/* under the lock: the change to tell the other nodes after it */

static void
ngx_chatvisor_cobrowse_change(ngx_chatvisor_main_conf_t *cmcf,
    ngx_chatvisor_cobrowse_change_t *ch, ngx_uint_t op, ngx_uint_t flag,
    ngx_chatvisor_cobrowse_session_t *s)
{
    if (cmcf->cluster.servers.len == 0) {
        return;
    }

    ngx_memzero(ch, sizeof(ngx_chatvisor_cobrowse_change_t));
    ch->op = op;
    ch->flag = flag;
    ngx_memcpy(ch->conversation_id, s->conversation_id, CV_ID_MAX);
    ngx_memcpy(ch->customer_id, s->v.customer_id, CV_ID_MAX);
    ngx_memcpy(ch->agent_id, s->v.agent_id, sizeof(ch->agent_id));
    ngx_memcpy(ch->agent_name, s->v.agent_name, sizeof(ch->agent_name));
}


/* after the lock: the change (op 0: none) to the other nodes */

static void
ngx_chatvisor_cobrowse_tell(ngx_chatvisor_cobrowse_change_t *ch,
    u_char *data, size_t len)
{
    if (ch->op) {
        ngx_chatvisor_cluster_cobrowse(ch, data, len);
    }
}


/* --------------------------------------------------------- the callers */

ngx_int_t
ngx_chatvisor_cobrowse_get(ngx_chatvisor_main_conf_t *cmcf,
    const char *conversation_id, ngx_chatvisor_cobrowse_view_t *view)
{
    ngx_chatvisor_cobrowse_session_t  *s;

    view->state = NGX_CHATVISOR_COBROWSE_NONE;

    /* where nobody co-browses, a chat poll pays no lock */
    if (cmcf->cobrowse == NULL || cmcf->cobrowse->used == 0) {
        return NGX_DECLINED;
    }

    ngx_chatvisor_cobrowse_lock(cmcf);

    s = ngx_chatvisor_cobrowse_find(cmcf->cobrowse, conversation_id);
    if (s) {
        *view = s->v;
    }

    ngx_chatvisor_cobrowse_unlock(cmcf);

    return s ? NGX_OK : NGX_DECLINED;
}


void
ngx_chatvisor_cobrowse_settle(ngx_chatvisor_main_conf_t *cmcf,
    const char *conversation_id)
{
    ngx_uint_t                         reason, n;
    ngx_chatvisor_notice_t             notice[NGX_CHATVISOR_COBROWSE_NOTICES];
    ngx_chatvisor_cobrowse_session_t  *s;

    if (cmcf->cobrowse == NULL || cmcf->cobrowse->used == 0) {
        return;
    }

    n = 0;

    ngx_chatvisor_cobrowse_lock(cmcf);

    s = ngx_chatvisor_cobrowse_find(cmcf->cobrowse, conversation_id);

    if (s) {
        reason = ngx_chatvisor_cobrowse_expired(cmcf, s, cv_now_ms());

        if (reason) {
            ngx_chatvisor_cobrowse_end_locked(ngx_chatvisor_cobrowse_pool(cmcf),
                                              cmcf->cobrowse, s, reason);
            ngx_chatvisor_cobrowse_notice(notice, &n,
                                          NGX_CHATVISOR_NOTICE_COBROWSE, s);
        }
    }

    ngx_chatvisor_cobrowse_unlock_notify(cmcf, notice, n);
}


/* a slot for a new session: a free one, or the one ended longest ago */

static ngx_chatvisor_cobrowse_session_t *
ngx_chatvisor_cobrowse_slot(ngx_chatvisor_cobrowse_zone_t *zone)
{
    ngx_uint_t                         i;
    ngx_chatvisor_cobrowse_session_t  *s, *oldest;

    oldest = NULL;

    for (i = 0; i < NGX_CHATVISOR_COBROWSE_SLOTS; i++) {
        s = &zone->slots[i];

        if (!s->used) {
            ngx_atomic_fetch_add(&zone->used, 1);
            return s;
        }

        if (!ngx_chatvisor_cobrowse_live(s)
            && (oldest == NULL || s->ended_ms < oldest->ended_ms))
        {
            oldest = s;
        }
    }

    /* fewer than half the slots are live: one has ended */
    return oldest;
}


/*
 * A session asked for (here, or on another node: the same state): its
 * bounds start full. Under the zone's lock; the strings may come from
 * another node's message, so each is cut to its field.
 */
static void
ngx_chatvisor_cobrowse_begin(ngx_chatvisor_cobrowse_zone_t *zone,
    ngx_chatvisor_cobrowse_session_t *s, const char *conversation_id,
    const char *customer_id, const char *agent_id, const char *agent_name,
    int64_t now)
{
    ngx_memzero(s, sizeof(ngx_chatvisor_cobrowse_session_t));

    s->used = 1;
    ngx_cpystrn((u_char *) s->conversation_id, (u_char *) conversation_id,
                sizeof(s->conversation_id));
    s->hash = ngx_hash_key((u_char *) s->conversation_id,
                           ngx_strlen(s->conversation_id));
    ngx_cpystrn((u_char *) s->v.customer_id, (u_char *) customer_id,
                sizeof(s->v.customer_id));
    ngx_cpystrn((u_char *) s->v.agent_id, (u_char *) agent_id,
                sizeof(s->v.agent_id));
    ngx_cpystrn((u_char *) s->v.agent_name, (u_char *) agent_name,
                sizeof(s->v.agent_name));

    s->v.state = NGX_CHATVISOR_COBROWSE_REQUESTED;
    s->v.requested_ms = now;
    s->agent_seen_ms = now;
    s->rate_ms = now;
    s->rate_tokens = NGX_CHATVISOR_COBROWSE_RATE
                     / 1000 * NGX_CHATVISOR_COBROWSE_RATE_WINDOW;
    s->full_ms = now;
    s->full_tokens = NGX_CHATVISOR_COBROWSE_FULL_BURST
                     * NGX_CHATVISOR_COBROWSE_FULL_EVERY;

    ngx_chatvisor_cobrowse_bump(zone, s);
    zone->live++;
}



ngx_chatvisor_cobrowse_rc_e
ngx_chatvisor_cobrowse_start(ngx_chatvisor_main_conf_t *cmcf,
    const char *conversation_id, const char *customer_id,
    const char *agent_id, const char *agent_name, ngx_uint_t *created,
    ngx_chatvisor_cobrowse_view_t *view)
{
    int64_t                             now;
    ngx_uint_t                          n;
    ngx_chatvisor_notice_t              notice[NGX_CHATVISOR_COBROWSE_NOTICES];
    ngx_chatvisor_cobrowse_rc_e         rc;
    ngx_chatvisor_cobrowse_zone_t      *zone;
    ngx_chatvisor_cobrowse_change_t     ch;
    ngx_chatvisor_cobrowse_session_t   *s;

    zone = cmcf->cobrowse;
    now = cv_now_ms();
    *created = 0;
    n = 0;
    ch.op = 0;
    rc = NGX_CHATVISOR_COBROWSE_OK;

    ngx_chatvisor_cobrowse_lock(cmcf);

    s = ngx_chatvisor_cobrowse_find(zone, conversation_id);

    if (s && ngx_chatvisor_cobrowse_live(s)) {
        if (ngx_strcmp(s->v.agent_id, agent_id) != 0) {
            rc = NGX_CHATVISOR_COBROWSE_BUSY;

        } else {
            s->agent_seen_ms = now;
            s->agent_here_ms = now;
        }

        goto done;
    }

    if (zone->live >= NGX_CHATVISOR_COBROWSE_SESSIONS_MAX) {
        rc = NGX_CHATVISOR_COBROWSE_LIMIT;
        ngx_chatvisor_metric_add(NGX_CHATVISOR_METRIC_LIMIT_CB_SESSIONS);
        goto done;
    }

    if (s == NULL) {
        s = ngx_chatvisor_cobrowse_slot(zone);

        if (s == NULL) {
            rc = NGX_CHATVISOR_COBROWSE_LIMIT;
            goto done;
        }
    }

    ngx_chatvisor_cobrowse_begin(zone, s, conversation_id, customer_id,
                                 agent_id, agent_name, now);
    s->agent_here_ms = now;
    *created = 1;

    ngx_chatvisor_cobrowse_notice(notice, &n, NGX_CHATVISOR_NOTICE_COBROWSE,
                                  s);
    ngx_chatvisor_cobrowse_change(cmcf, &ch, NGX_CHATVISOR_COBROWSE_OP_START,
                                  0, s);

done:

    if (s) {
        *view = s->v;
    }

    ngx_chatvisor_cobrowse_unlock_notify(cmcf, notice, n);
    ngx_chatvisor_cobrowse_tell(&ch, NULL, 0);

    return rc;
}


ngx_chatvisor_cobrowse_rc_e
ngx_chatvisor_cobrowse_decide(ngx_chatvisor_main_conf_t *cmcf,
    const char *conversation_id, ngx_uint_t allow,
    ngx_chatvisor_cobrowse_view_t *view)
{
    ngx_uint_t                         n;
    ngx_chatvisor_notice_t             notice[NGX_CHATVISOR_COBROWSE_NOTICES];
    ngx_chatvisor_cobrowse_rc_e        rc;
    ngx_chatvisor_cobrowse_change_t    ch;
    ngx_chatvisor_cobrowse_session_t  *s;

    n = 0;
    rc = NGX_CHATVISOR_COBROWSE_OK;
    ch.op = 0;

    ngx_chatvisor_cobrowse_lock(cmcf);

    s = ngx_chatvisor_cobrowse_find(cmcf->cobrowse, conversation_id);

    if (s == NULL) {
        rc = NGX_CHATVISOR_COBROWSE_NO_SESSION;

    } else if (!ngx_chatvisor_cobrowse_live(s)) {
        rc = NGX_CHATVISOR_COBROWSE_OVER;

    } else if (s->v.state == NGX_CHATVISOR_COBROWSE_ACTIVE) {
        /* a second tab allowing it too changes nothing */
        rc = allow ? NGX_CHATVISOR_COBROWSE_OK
                   : NGX_CHATVISOR_COBROWSE_NOT_PENDING;

    } else if (allow) {
        s->v.state = NGX_CHATVISOR_COBROWSE_ACTIVE;
        s->v.snapshot = 1;
        ngx_chatvisor_cobrowse_bump(cmcf->cobrowse, s);
        ngx_chatvisor_cobrowse_notice(notice, &n,
                                      NGX_CHATVISOR_NOTICE_COBROWSE, s);
        ngx_chatvisor_cobrowse_change(cmcf, &ch,
                                      NGX_CHATVISOR_COBROWSE_OP_ALLOW, 0, s);

    } else {
        ngx_chatvisor_cobrowse_end_locked(ngx_chatvisor_cobrowse_pool(cmcf),
                                          cmcf->cobrowse, s,
                                          NGX_CHATVISOR_COBROWSE_DECLINED_BY);
        ngx_chatvisor_cobrowse_notice(notice, &n,
                                      NGX_CHATVISOR_NOTICE_COBROWSE, s);
        ngx_chatvisor_cobrowse_change(cmcf, &ch,
                                      NGX_CHATVISOR_COBROWSE_OP_END,
                                      NGX_CHATVISOR_COBROWSE_DECLINED_BY, s);
    }

    if (s) {
        *view = s->v;
    }

    ngx_chatvisor_cobrowse_unlock_notify(cmcf, notice, n);
    ngx_chatvisor_cobrowse_tell(&ch, NULL, 0);

    return rc;
}


ngx_chatvisor_cobrowse_rc_e
ngx_chatvisor_cobrowse_end(ngx_chatvisor_main_conf_t *cmcf,
    const char *conversation_id, const char *agent_id, ngx_uint_t reason,
    ngx_chatvisor_cobrowse_view_t *view)
{
    ngx_uint_t                         n;
    ngx_chatvisor_notice_t             notice[NGX_CHATVISOR_COBROWSE_NOTICES];
    ngx_chatvisor_cobrowse_rc_e        rc;
    ngx_chatvisor_cobrowse_change_t    ch;
    ngx_chatvisor_cobrowse_session_t  *s;

    n = 0;
    rc = NGX_CHATVISOR_COBROWSE_OK;
    ch.op = 0;

    ngx_chatvisor_cobrowse_lock(cmcf);

    s = ngx_chatvisor_cobrowse_find(cmcf->cobrowse, conversation_id);

    if (s == NULL) {
        rc = NGX_CHATVISOR_COBROWSE_NO_SESSION;

    } else if (agent_id && ngx_strcmp(s->v.agent_id, agent_id) != 0) {
        rc = NGX_CHATVISOR_COBROWSE_NOT_YOURS;
        s = NULL;

    } else if (ngx_chatvisor_cobrowse_live(s)) {
        ngx_chatvisor_cobrowse_end_locked(ngx_chatvisor_cobrowse_pool(cmcf),
                                          cmcf->cobrowse, s, reason);
        ngx_chatvisor_cobrowse_notice(notice, &n,
                                      NGX_CHATVISOR_NOTICE_COBROWSE, s);
        ngx_chatvisor_cobrowse_change(cmcf, &ch,
                                      NGX_CHATVISOR_COBROWSE_OP_END, reason,
                                      s);
    }

    if (s && view) {
        *view = s->v;
    }

    ngx_chatvisor_cobrowse_unlock_notify(cmcf, notice, n);
    ngx_chatvisor_cobrowse_tell(&ch, NULL, 0);

    return rc;
}


void
ngx_chatvisor_cobrowse_closed(ngx_chatvisor_main_conf_t *cmcf,
    const char *conversation_id)
{
    if (cmcf->cobrowse == NULL || cmcf->cobrowse->used == 0) {
        return;
    }

    (void) ngx_chatvisor_cobrowse_end(cmcf, conversation_id, NULL,
                                      NGX_CHATVISOR_COBROWSE_CLOSED, NULL);
}


/* ------------------------------------------------------------ events */

/*
 * Token buckets: incremental bytes refill at RATE a second up to RATE_
 * WINDOW's worth (the rate averaged over the window); full snapshots one
 * every FULL_EVERY ms up to FULL_BURST. NGX_OK, or NGX_DECLINED with the
 * seconds until it would fit.
 */

static ngx_int_t
ngx_chatvisor_cobrowse_rate(ngx_chatvisor_cobrowse_session_t *s,
    ngx_uint_t full, size_t len, int64_t now, ngx_uint_t *retry_after)
{
    size_t   cap, want, need;
    int64_t  cap_ms, elapsed;

    if (full) {
        cap_ms = (int64_t) NGX_CHATVISOR_COBROWSE_FULL_BURST
                 * NGX_CHATVISOR_COBROWSE_FULL_EVERY;
        elapsed = ngx_max(now - s->full_ms, 0);

        s->full_tokens = ngx_min(cap_ms, s->full_tokens + elapsed);
        s->full_ms = now;

        if (s->full_tokens < NGX_CHATVISOR_COBROWSE_FULL_EVERY) {
            *retry_after = (NGX_CHATVISOR_COBROWSE_FULL_EVERY - s->full_tokens
                            + 999) / 1000;
            return NGX_DECLINED;
        }

        s->full_tokens -= NGX_CHATVISOR_COBROWSE_FULL_EVERY;

        return NGX_OK;
    }

    cap = (size_t) NGX_CHATVISOR_COBROWSE_RATE / 1000
          * NGX_CHATVISOR_COBROWSE_RATE_WINDOW;
    elapsed = ngx_max(now - s->rate_ms, 0);

    s->rate_tokens = ngx_min(cap, s->rate_tokens
                                  + (size_t) elapsed
                                    * (NGX_CHATVISOR_COBROWSE_RATE / 1000));
    s->rate_ms = now;

    if (s->rate_tokens < len) {
        /* more than the window holds never fits: the recorder starts
         * again with a full snapshot, which is not counted */
        want = ngx_min(len, cap);
        need = want - ngx_min(s->rate_tokens, want);
        *retry_after = ngx_max(1, (need + NGX_CHATVISOR_COBROWSE_RATE - 1)
                                  / NGX_CHATVISOR_COBROWSE_RATE);
        return NGX_DECLINED;
    }

    s->rate_tokens -= len;

    return NGX_OK;
}


static ngx_chatvisor_cobrowse_chunk_t *
ngx_chatvisor_cobrowse_chunk(ngx_slab_pool_t *shpool, u_char *data,
    size_t len, ngx_uint_t full)
{
    ngx_chatvisor_cobrowse_chunk_t  *c;

    c = ngx_slab_alloc_locked(shpool,
                              offsetof(ngx_chatvisor_cobrowse_chunk_t, data)
                              + len);
    if (c == NULL) {
        return NULL;
    }

    c->next = NULL;
    c->prev = NULL;
    c->len = len;
    c->full = full;
    ngx_memcpy(c->data, data, len);

    return c;
}


/*
 * The relay: a chunk's notice (its agent's poll, in this worker or
 * another, answers it) goes out after the visitor's POST is answered, in
 * a later turn of the event loop, after the I/O that is ready by then:
 * a chat message that arrives meanwhile is not queued behind the agent's
 * answer (bench/cobrowse: the chat's latency beside 50 sessions). While
 * other posted work waits behind it (a group commit, say), the relay
 * gives way, a few turns at most, so the lag grows by no more than those
 * turns. The notices of one turn share one write to each worker.
 */

static void
ngx_chatvisor_cobrowse_relay(ngx_event_t *ev)
{
    ngx_uint_t  n;

    if (!ngx_queue_empty(&ngx_posted_events)
        && ngx_chatvisor_cobrowse_yielded < NGX_CHATVISOR_COBROWSE_RELAY_YIELD)
    {
        ngx_chatvisor_cobrowse_yielded++;
        ngx_post_event(ev, &ngx_posted_next_events);
        return;
    }

    ngx_chatvisor_cobrowse_yielded = 0;
    n = ngx_chatvisor_cobrowse_nrelayed;
    ngx_chatvisor_cobrowse_nrelayed = 0;

    if (n) {
        ngx_chatvisor_notify_many(ngx_chatvisor_cobrowse_relayed, n);
    }
}


static void
ngx_chatvisor_cobrowse_relay_add(ngx_chatvisor_notice_t *notice)
{
    ngx_uint_t               i;
    ngx_chatvisor_notice_t  *n;

    if (ngx_chatvisor_cobrowse_relay_event.handler == NULL) {
        ngx_chatvisor_notify(notice);   /* not a worker */
        return;
    }

    for (i = 0; i < ngx_chatvisor_cobrowse_nrelayed; i++) {
        n = &ngx_chatvisor_cobrowse_relayed[i];

        if (ngx_strcmp(n->conversation_id, notice->conversation_id) == 0) {
            return;     /* one notice says it: the poll reads them all */
        }
    }

    if (ngx_chatvisor_cobrowse_nrelayed == NGX_CHATVISOR_COBROWSE_RELAY_MAX) {
        ngx_chatvisor_notify_many(ngx_chatvisor_cobrowse_relayed,
                                  ngx_chatvisor_cobrowse_nrelayed);
        ngx_chatvisor_cobrowse_nrelayed = 0;
    }

    ngx_chatvisor_cobrowse_relayed[ngx_chatvisor_cobrowse_nrelayed++] =
                                                                    *notice;

    if (!ngx_chatvisor_cobrowse_relay_event.posted) {
        ngx_post_event(&ngx_chatvisor_cobrowse_relay_event,
                       &ngx_posted_next_events);
    }
}


ngx_chatvisor_cobrowse_rc_e
ngx_chatvisor_cobrowse_events(ngx_chatvisor_main_conf_t *cmcf,
    const char *conversation_id, const char *recorder, ngx_uint_t full,
    u_char *data, size_t len, ngx_uint_t *retry_after)
{
    int64_t                            now;
    size_t                             cluster_max;
    ngx_uint_t                         n, takeover, relay;
    ngx_slab_pool_t                   *shpool;
    ngx_chatvisor_notice_t             notice[NGX_CHATVISOR_COBROWSE_NOTICES];
    ngx_chatvisor_notice_t             news;
    ngx_chatvisor_cobrowse_rc_e        rc;
    ngx_chatvisor_cobrowse_zone_t     *zone;
    ngx_chatvisor_cobrowse_chunk_t    *c;
    ngx_chatvisor_cobrowse_change_t    ch;
    ngx_chatvisor_cobrowse_session_t  *s;

    shpool = ngx_chatvisor_cobrowse_pool(cmcf);
    zone = cmcf->cobrowse;
    now = cv_now_ms();
    n = 0;
    relay = 0;
    rc = NGX_CHATVISOR_COBROWSE_OK;
    ch.op = 0;

    /* in a cluster, a chunk must fit in one NATS message to the others */
    cluster_max = ngx_chatvisor_cluster_cobrowse_max();

    ngx_shmtx_lock(&shpool->mutex);

    s = ngx_chatvisor_cobrowse_find(zone, conversation_id);

    if (s == NULL) {
        rc = NGX_CHATVISOR_COBROWSE_NO_SESSION;
        goto done;
    }

    if (!ngx_chatvisor_cobrowse_live(s)) {
        rc = NGX_CHATVISOR_COBROWSE_OVER;
        goto done;
    }

    if (s->v.state != NGX_CHATVISOR_COBROWSE_ACTIVE) {
        rc = NGX_CHATVISOR_COBROWSE_NOT_ACTIVE;
        goto done;
    }

    if (len > NGX_CHATVISOR_COBROWSE_CHUNK_MAX
        || (cluster_max && len > cluster_max))
    {
        goto too_large;
    }

    takeover = ngx_strcmp(s->v.recorder, recorder) != 0;

    if (!full && takeover) {
        rc = NGX_CHATVISOR_COBROWSE_SUPERSEDED;
        goto done;
    }

    if (ngx_chatvisor_cobrowse_rate(s, full, len, now, retry_after)
        != NGX_OK)
    {
        rc = NGX_CHATVISOR_COBROWSE_RATE_LIMITED;
        ngx_chatvisor_metric_add(NGX_CHATVISOR_METRIC_LIMIT_CB_RATE);
        goto done;
    }

    if (full) {
        /* what came before the snapshot is no longer needed */
        ngx_chatvisor_cobrowse_drop(shpool, s);

        c = ngx_chatvisor_cobrowse_chunk(shpool, data, len, 1);
        if (c == NULL) {
            goto too_large;     /* the snapshot alone does not fit */
        }

        s->v.snapshot = 0;

        /* the recorder posts here now: what another node's order held
         * or awaited is behind this snapshot */
        ngx_chatvisor_cobrowse_order_free(shpool, s);

        if (takeover) {
            /* the visitor's other tabs learn that they stopped recording */
            ngx_cpystrn((u_char *) s->v.recorder, (u_char *) recorder,
                        sizeof(s->v.recorder));
            ngx_chatvisor_cobrowse_bump(zone, s);
            ngx_chatvisor_cobrowse_notice(notice, &n,
                                          NGX_CHATVISOR_NOTICE_COBROWSE, s);
        }

    } else {
        if (s->buffered + len > NGX_CHATVISOR_COBROWSE_BUFFER_MAX) {
            ngx_chatvisor_cobrowse_drop(shpool, s);
        }

        c = ngx_chatvisor_cobrowse_chunk(shpool, data, len, 0);

        if (c == NULL && s->first) {
            /* the zone is full: this session's older events go */
            ngx_chatvisor_cobrowse_drop(shpool, s);
            c = ngx_chatvisor_cobrowse_chunk(shpool, data, len, 0);
        }

        if (c == NULL || s->first == NULL) {
            /* without what came before, a new view needs a snapshot */
            if (ngx_chatvisor_cobrowse_ask_snapshot(zone, s)) {
                ngx_chatvisor_cobrowse_notice(notice, &n,
                                              NGX_CHATVISOR_NOTICE_COBROWSE,
                                              s);
            }
        }

        if (c == NULL) {
            goto done;          /* these events are lost, not the session */
        }
    }

    c->seq = ++s->v.last_seq;
    c->prev = s->last;

    if (s->last) {
        s->last->next = c;

    } else {
        s->first = c;
    }

    s->last = c;
    s->buffered += len;

    /* a long session's changes outgrow its page: a fresh full snapshot
     * lets them go, and a view that (re)opens reads less */
    if (!full && s->first->full
        && s->buffered - s->first->len
           > ngx_max(NGX_CHATVISOR_COBROWSE_COMPACT_MIN,
                     NGX_CHATVISOR_COBROWSE_COMPACT_RATIO * s->first->len)
        && ngx_chatvisor_cobrowse_ask_snapshot(zone, s))
    {
        ngx_chatvisor_cobrowse_notice(notice, &n,
                                      NGX_CHATVISOR_NOTICE_COBROWSE, s);
    }

    /* the new events' notice goes with the relay, after the answer */
    ngx_chatvisor_notice_init(&news, NGX_CHATVISOR_NOTICE_COBROWSE_DATA,
                              s->v.customer_id, s->conversation_id);
    relay = 1;

    ngx_chatvisor_cobrowse_change(cmcf, &ch, NGX_CHATVISOR_COBROWSE_OP_EVENTS,
                                  full, s);
    if (ch.op) {
        ch.seq = c->seq;
        ngx_memcpy(ch.recorder, s->v.recorder, sizeof(ch.recorder));
    }

    goto done;

too_large:

    ngx_chatvisor_cobrowse_end_locked(shpool, zone, s,
                                      NGX_CHATVISOR_COBROWSE_TOO_LARGE);
    ngx_chatvisor_cobrowse_notice(notice, &n, NGX_CHATVISOR_NOTICE_COBROWSE,
                                  s);
    ngx_chatvisor_cobrowse_change(cmcf, &ch, NGX_CHATVISOR_COBROWSE_OP_END,
                                  NGX_CHATVISOR_COBROWSE_TOO_LARGE, s);
    rc = NGX_CHATVISOR_COBROWSE_ENDED_TOO_LARGE;

done:

    ngx_shmtx_unlock(&shpool->mutex);

    if (n) {
        ngx_chatvisor_notify_many(notice, n);
    }

    if (relay) {
        ngx_chatvisor_cobrowse_relay_add(&news);
    }

    /* the events sent are the caller's, still there */
    ngx_chatvisor_cobrowse_tell(&ch, data,
                                (ch.op == NGX_CHATVISOR_COBROWSE_OP_EVENTS)
                                ? len : 0);

    return rc;
}


static void
ngx_chatvisor_cobrowse_point(ngx_chatvisor_cobrowse_zone_t *zone,
    ngx_chatvisor_cobrowse_session_t *s, int32_t x, int32_t y,
    ngx_uint_t click)
{
    s->v.pointer = ++zone->pointer;
    s->v.x = x;
    s->v.y = y;

    if (click) {
        s->v.click = s->v.pointer;
        s->v.click_x = x;
        s->v.click_y = y;
    }
}


ngx_chatvisor_cobrowse_rc_e
ngx_chatvisor_cobrowse_pointer(ngx_chatvisor_main_conf_t *cmcf,
    const char *conversation_id, const char *agent_id, int32_t x, int32_t y,
    ngx_uint_t click)
{
    ngx_uint_t                         n;
    ngx_chatvisor_notice_t             notice[NGX_CHATVISOR_COBROWSE_NOTICES];
    ngx_chatvisor_cobrowse_rc_e        rc;
    ngx_chatvisor_cobrowse_change_t    ch;
    ngx_chatvisor_cobrowse_session_t  *s;

    n = 0;
    rc = NGX_CHATVISOR_COBROWSE_OK;
    ch.op = 0;

    ngx_chatvisor_cobrowse_lock(cmcf);

    s = ngx_chatvisor_cobrowse_find(cmcf->cobrowse, conversation_id);

    if (s == NULL) {
        rc = NGX_CHATVISOR_COBROWSE_NO_SESSION;

    } else if (ngx_strcmp(s->v.agent_id, agent_id) != 0) {
        rc = NGX_CHATVISOR_COBROWSE_NOT_YOURS;

    } else if (!ngx_chatvisor_cobrowse_live(s)) {
        rc = NGX_CHATVISOR_COBROWSE_OVER;

    } else if (s->v.state != NGX_CHATVISOR_COBROWSE_ACTIVE) {
        rc = NGX_CHATVISOR_COBROWSE_NOT_ACTIVE;

    } else {
        ngx_chatvisor_cobrowse_point(cmcf->cobrowse, s, x, y, click);
        ngx_chatvisor_cobrowse_notice(notice, &n,
                                      NGX_CHATVISOR_NOTICE_COBROWSE, s);
        ngx_chatvisor_cobrowse_change(cmcf, &ch,
                                      NGX_CHATVISOR_COBROWSE_OP_POINTER,
                                      click, s);
        ch.x = x;
        ch.y = y;
    }

    ngx_chatvisor_cobrowse_unlock_notify(cmcf, notice, n);
    ngx_chatvisor_cobrowse_tell(&ch, NULL, 0);

    return rc;
}


void
ngx_chatvisor_cobrowse_want_snapshot(ngx_chatvisor_main_conf_t *cmcf,
    const char *conversation_id, const char *agent_id)
{
    ngx_uint_t                         n;
    ngx_chatvisor_notice_t             notice[NGX_CHATVISOR_COBROWSE_NOTICES];
    ngx_chatvisor_cobrowse_change_t    ch;
    ngx_chatvisor_cobrowse_session_t  *s;

    n = 0;
    ch.op = 0;

    ngx_chatvisor_cobrowse_lock(cmcf);

    s = ngx_chatvisor_cobrowse_find(cmcf->cobrowse, conversation_id);

    if (s && ngx_strcmp(s->v.agent_id, agent_id) == 0
        && s->v.state == NGX_CHATVISOR_COBROWSE_ACTIVE)
    {
        if (ngx_chatvisor_cobrowse_ask_snapshot(cmcf->cobrowse, s)) {
            ngx_chatvisor_cobrowse_notice(notice, &n,
                                          NGX_CHATVISOR_NOTICE_COBROWSE, s);
        }

        /* the recorder may be on another node, which may not know yet */
        ngx_chatvisor_cobrowse_change(cmcf, &ch,
                                      NGX_CHATVISOR_COBROWSE_OP_SNAPSHOT, 0,
                                      s);
    }

    ngx_chatvisor_cobrowse_unlock_notify(cmcf, notice, n);
    ngx_chatvisor_cobrowse_tell(&ch, NULL, 0);
}


/* ------------------------------------------ another node's change (cluster) */

/* what applying another node's change tells: COBROWSE_TOLD_* */

#define NGX_CHATVISOR_COBROWSE_TOLD_STATE     1   /* a state change */
#define NGX_CHATVISOR_COBROWSE_TOLD_DATA      2   /* new events */
#define NGX_CHATVISOR_COBROWSE_TOLD_SNAPSHOT  4   /* the recorder's node
                                                     is asked for one */

/* the order's callbacks (cv_chunk_order.h), under the zone's lock */
typedef struct {
    ngx_slab_pool_t                   *shpool;
    ngx_chatvisor_cobrowse_session_t  *s;
    ngx_uint_t                         told;
} ngx_chatvisor_cobrowse_order_ctx_t;


/* a chunk next in order: to the session's chunks, as where it was posted */
static void
ngx_chatvisor_cobrowse_order_apply(void *data, const cv_order_chunk *oc)
{
    ngx_chatvisor_cobrowse_order_ctx_t *ctx = data;

    ngx_chatvisor_cobrowse_chunk_t    *c;
    ngx_chatvisor_cobrowse_session_t  *s;

    s = ctx->s;
    c = oc->data;

    if (c->full) {
        ngx_chatvisor_cobrowse_drop(ctx->shpool, s);
        s->v.snapshot = 0;

    } else if (s->buffered + c->len > NGX_CHATVISOR_COBROWSE_BUFFER_MAX) {
        ngx_chatvisor_cobrowse_drop(ctx->shpool, s);
    }

    c->prev = s->last;
    c->next = NULL;

    if (s->last) {
        s->last->next = c;

    } else {
        s->first = c;
    }

    s->last = c;
    s->buffered += c->len;
    s->v.last_seq = c->seq;

    ctx->told |= NGX_CHATVISOR_COBROWSE_TOLD_DATA;
}


static void
ngx_chatvisor_cobrowse_order_discard(void *data, const cv_order_chunk *oc)
{
    ngx_chatvisor_cobrowse_order_ctx_t *ctx = data;

    ngx_slab_free_locked(ctx->shpool, oc->data);
}


static void
ngx_chatvisor_cobrowse_order_ops(ngx_chatvisor_cobrowse_order_ctx_t *ctx,
    cv_order_ops *ops, ngx_slab_pool_t *shpool,
    ngx_chatvisor_cobrowse_session_t *s)
{
    ctx->shpool = shpool;
    ctx->s = s;
    ctx->told = 0;

    ops->apply = ngx_chatvisor_cobrowse_order_apply;
    ops->discard = ngx_chatvisor_cobrowse_order_discard;
    ops->ctx = ctx;
}


static void
ngx_chatvisor_cobrowse_order_free(ngx_slab_pool_t *shpool,
    ngx_chatvisor_cobrowse_session_t *s)
{
    cv_order_ops                        ops;
    ngx_chatvisor_cobrowse_order_ctx_t  ctx;

    if (s->order == NULL) {
        return;
    }

    ngx_chatvisor_cobrowse_order_ops(&ctx, &ops, shpool, s);
    cv_order_clear(s->order, &ops);
    ngx_slab_free_locked(shpool, s->order);
    s->order = NULL;
}


/*
 * A gap that did not fill: the chunks kept go, so that a view reads a
 * reset, not events with a hole, and a full snapshot is asked for, here
 * and where the recorder is (NGX_CHATVISOR_COBROWSE_TOLD_SNAPSHOT).
 */
static ngx_uint_t
ngx_chatvisor_cobrowse_order_lost(ngx_chatvisor_main_conf_t *cmcf,
    ngx_chatvisor_cobrowse_session_t *s)
{
    ngx_uint_t  told;

    ngx_chatvisor_metric_add(NGX_CHATVISOR_METRIC_CB_LOST);
    ngx_chatvisor_cobrowse_drop(ngx_chatvisor_cobrowse_pool(cmcf), s);

    told = NGX_CHATVISOR_COBROWSE_TOLD_SNAPSHOT;

    if (ngx_chatvisor_cobrowse_ask_snapshot(cmcf->cobrowse, s)) {
        told |= NGX_CHATVISOR_COBROWSE_TOLD_STATE;
    }

    return told;
}


/*
 * Another node's chunk (seq: its number there, the same here), applied in
 * the order of those numbers: the sender's workers publish on their own
 * connections, so one may come ahead of another (cv_chunk_order.h). Its
 * bounds were applied where it was sent.
 */
static ngx_uint_t
ngx_chatvisor_cobrowse_apply_events(ngx_chatvisor_main_conf_t *cmcf,
    ngx_chatvisor_cobrowse_session_t *s, ngx_chatvisor_cobrowse_change_t *ch,
    u_char *data, size_t len)
{
    int                                  rc;
    ngx_uint_t                           changed;
    cv_order_ops                         ops;
    cv_order_chunk                       oc;
    ngx_slab_pool_t                     *shpool;
    ngx_chatvisor_cobrowse_chunk_t      *c;
    ngx_chatvisor_cobrowse_order_ctx_t   ctx;

    shpool = ngx_chatvisor_cobrowse_pool(cmcf);
    changed = 0;

    if (ch->seq <= s->v.last_seq) {
        /* one applied already, or of an older epoch: not even copied
         * (the copy could push the session's chunks out of a full zone) */
        return 0;
    }

    if (s->v.state == NGX_CHATVISOR_COBROWSE_REQUESTED) {
        /* events say it was allowed: the allow went another way (another
         * worker's connection there) and may come after them */
        s->v.state = NGX_CHATVISOR_COBROWSE_ACTIVE;
        changed = NGX_CHATVISOR_COBROWSE_TOLD_STATE;
    }

    if (s->order == NULL) {
        s->order = ngx_slab_alloc_locked(shpool, sizeof(cv_chunk_order));

        if (s->order == NULL) {
            return changed;     /* the zone is full: lost, as below */
        }

        cv_order_init(s->order, s->v.last_seq);
    }

    c = ngx_chatvisor_cobrowse_chunk(shpool, data, len, ch->flag ? 1 : 0);

    if (c == NULL && s->first) {
        /* the zone is full: this session's older events go */
        ngx_chatvisor_cobrowse_drop(shpool, s);
        c = ngx_chatvisor_cobrowse_chunk(shpool, data, len,
                                         ch->flag ? 1 : 0);
    }

    if (c == NULL) {
        /* no room here: a gap, which the order takes for a loss */
        return changed;
    }

    c->seq = ch->seq;

    ngx_memzero(&oc, sizeof(cv_order_chunk));
    oc.seq = ch->seq;
    oc.len = len;
    oc.full = ch->flag ? 1 : 0;
    oc.data = c;

    ngx_chatvisor_cobrowse_order_ops(&ctx, &ops, shpool, s);

    rc = cv_order_offer(s->order, s->v.last_seq, &oc, cv_now_ms(), &ops);

    changed |= ctx.told;

    if (rc & CV_ORDER_HELD) {
        ngx_chatvisor_metric_add(NGX_CHATVISOR_METRIC_CB_WAITED);
    }

    if (rc & CV_ORDER_RESET) {
        changed |= ngx_chatvisor_cobrowse_order_lost(cmcf, s);
    }

    if (ch->flag && (rc & CV_ORDER_APPLIED)
        && ngx_strcmp(s->v.recorder, ch->recorder) != 0)
    {
        ngx_cpystrn((u_char *) s->v.recorder, (u_char *) ch->recorder,
                    sizeof(s->v.recorder));
        changed |= NGX_CHATVISOR_COBROWSE_TOLD_STATE;
    }

    if (changed & NGX_CHATVISOR_COBROWSE_TOLD_STATE) {
        ngx_chatvisor_cobrowse_bump(cmcf->cobrowse, s);
    }

    return changed;
}


/* the gaps held too long, in every session: the order's timer, in the
 * worker that applies other nodes' changes */

static void
ngx_chatvisor_cobrowse_order_tick(ngx_event_t *ev)
{
    ngx_chatvisor_main_conf_t *cmcf = ev->data;

    int                                rc;
    int64_t                            now;
    ngx_uint_t                         i, n, nasked, pending, told;
    ngx_slab_pool_t                   *shpool;
    ngx_chatvisor_cobrowse_zone_t     *zone;
    ngx_chatvisor_cobrowse_session_t  *s;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    zone = cmcf->cobrowse;
    shpool = ngx_chatvisor_cobrowse_pool(cmcf);
    now = cv_now_ms();
    n = 0;
    nasked = 0;
    pending = 0;

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < NGX_CHATVISOR_COBROWSE_SLOTS; i++) {
        s = &zone->slots[i];

        if (!s->used || s->order == NULL || !ngx_chatvisor_cobrowse_live(s)) {
            continue;
        }

        rc = cv_order_tick(s->order, now);
        told = 0;

        if (rc & CV_ORDER_RESET) {
            told = ngx_chatvisor_cobrowse_order_lost(cmcf, s);

        } else if (rc & CV_ORDER_ASK) {
            told = NGX_CHATVISOR_COBROWSE_TOLD_SNAPSHOT;
        }

        if ((told & NGX_CHATVISOR_COBROWSE_TOLD_STATE)
            && n < NGX_CHATVISOR_COBROWSE_SESSIONS_MAX)
        {
            ngx_chatvisor_cobrowse_notice(ngx_chatvisor_cobrowse_asked_notice,
                                          &n, NGX_CHATVISOR_NOTICE_COBROWSE,
                                          s);
        }

        if ((told & NGX_CHATVISOR_COBROWSE_TOLD_SNAPSHOT)
            && nasked < NGX_CHATVISOR_COBROWSE_SESSIONS_MAX)
        {
            ngx_chatvisor_cobrowse_change(cmcf,
                                &ngx_chatvisor_cobrowse_asked[nasked++],
                                NGX_CHATVISOR_COBROWSE_OP_SNAPSHOT, 0, s);
        }

        if (cv_order_deadline(s->order) >= 0) {
            pending = 1;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (n) {
        ngx_chatvisor_notify_many(ngx_chatvisor_cobrowse_asked_notice, n);
    }

    for (i = 0; i < nasked; i++) {
        ngx_chatvisor_cobrowse_tell(&ngx_chatvisor_cobrowse_asked[i], NULL, 0);
    }

    if (pending) {
        ngx_add_timer(ev, NGX_CHATVISOR_COBROWSE_ORDER_TICK);
    }
}


void
ngx_chatvisor_cobrowse_apply(ngx_chatvisor_main_conf_t *cmcf,
    ngx_chatvisor_cobrowse_change_t *ch, u_char *data, size_t len)
{
    int64_t                            now;
    ngx_uint_t                         n, told, wait;
    ngx_chatvisor_notice_t             notice[NGX_CHATVISOR_COBROWSE_NOTICES];
    ngx_chatvisor_cobrowse_zone_t     *zone;
    ngx_chatvisor_cobrowse_session_t  *s;

    zone = cmcf->cobrowse;

    if (zone == NULL) {
        return;         /* no location here offers co-browsing */
    }

    now = cv_now_ms();
    n = 0;
    told = 0;
    wait = 0;

    ngx_chatvisor_cobrowse_lock(cmcf);

    s = ngx_chatvisor_cobrowse_find(zone, ch->conversation_id);

    if (s && ch->op != NGX_CHATVISOR_COBROWSE_OP_START
        && ngx_strcmp(s->v.agent_id, ch->agent_id) != 0)
    {
        /* another agent's session: two agents asked on two nodes at once;
         * each node keeps the one asked there until it ends */
        s = NULL;
    }

    switch (ch->op) {

    case NGX_CHATVISOR_COBROWSE_OP_START:
        if (s && ngx_chatvisor_cobrowse_live(s)) {
            if (ngx_strcmp(s->v.agent_id, ch->agent_id) == 0) {
                s->agent_seen_ms = now;
            }

            break;      /* another agent's, asked here at the same time */
        }

        if (zone->live >= NGX_CHATVISOR_COBROWSE_SESSIONS_MAX) {
            break;
        }

        if (s == NULL) {
            s = ngx_chatvisor_cobrowse_slot(zone);

            if (s == NULL) {
                break;
            }
        }

        /* the visitor may post here: the bounds start full, as there */
        ngx_chatvisor_cobrowse_begin(zone, s, ch->conversation_id,
                                     ch->customer_id, ch->agent_id,
                                     ch->agent_name, now);
        told = 1;
        break;

    case NGX_CHATVISOR_COBROWSE_OP_ALLOW:
        if (s && s->v.state == NGX_CHATVISOR_COBROWSE_REQUESTED) {
            s->v.state = NGX_CHATVISOR_COBROWSE_ACTIVE;
            s->v.snapshot = 1;
            ngx_chatvisor_cobrowse_bump(zone, s);
            told = 1;
        }
        break;

    case NGX_CHATVISOR_COBROWSE_OP_END:
        if (s && ngx_chatvisor_cobrowse_live(s)
            && ch->flag >= NGX_CHATVISOR_COBROWSE_BY_VISITOR
            && ch->flag <= NGX_CHATVISOR_COBROWSE_DECLINED_BY)
        {
            ngx_chatvisor_cobrowse_end_locked(
                                   ngx_chatvisor_cobrowse_pool(cmcf), zone, s,
                                   ch->flag);
            told = 1;
        }
        break;

    case NGX_CHATVISOR_COBROWSE_OP_EVENTS:
        if (s && ngx_chatvisor_cobrowse_live(s)) {
            told = ngx_chatvisor_cobrowse_apply_events(cmcf, s, ch, data,
                                                       len);
            wait = (s->order && cv_order_deadline(s->order) >= 0);
        }
        break;

    case NGX_CHATVISOR_COBROWSE_OP_POINTER:
        if (s && s->v.state == NGX_CHATVISOR_COBROWSE_ACTIVE) {
            ngx_chatvisor_cobrowse_point(zone, s, ch->x, ch->y, ch->flag);
            told = 1;
        }
        break;

    case NGX_CHATVISOR_COBROWSE_OP_SNAPSHOT:
        if (s) {
            told = ngx_chatvisor_cobrowse_ask_snapshot(zone, s);
        }
        break;

    case NGX_CHATVISOR_COBROWSE_OP_TOUCH:
        if (s && ngx_chatvisor_cobrowse_live(s)) {
            s->agent_seen_ms = now;
        }
        break;

    default:
        break;
    }

    if (told & NGX_CHATVISOR_COBROWSE_TOLD_STATE) {
        ngx_chatvisor_cobrowse_notice(notice, &n,
                                      NGX_CHATVISOR_NOTICE_COBROWSE, s);
    }

    if (told & NGX_CHATVISOR_COBROWSE_TOLD_DATA) {
        ngx_chatvisor_cobrowse_notice(notice, &n,
                                      NGX_CHATVISOR_NOTICE_COBROWSE_DATA, s);
    }

    ngx_chatvisor_cobrowse_unlock_notify(cmcf, notice, n);

    if (wait && !ngx_chatvisor_cobrowse_order_event.timer_set
        && ngx_chatvisor_cobrowse_order_event.handler)
    {
        ngx_add_timer(&ngx_chatvisor_cobrowse_order_event,
                      NGX_CHATVISOR_COBROWSE_ORDER_TICK);
    }

    if (told & NGX_CHATVISOR_COBROWSE_TOLD_SNAPSHOT) {
        /* this node's own want, not the change told again */
        ch->op = NGX_CHATVISOR_COBROWSE_OP_SNAPSHOT;
        ngx_chatvisor_cobrowse_tell(ch, NULL, 0);
    }
}


/* ------------------------------------------------------- the agent's view */

/* the chunks from c on, their elements joined with commas, into pool */

static ngx_int_t
ngx_chatvisor_cobrowse_copy(ngx_chatvisor_cobrowse_chunk_t *from,
    ngx_pool_t *pool, ngx_str_t *out)
{
    u_char                          *p;
    size_t                           len;
    ngx_chatvisor_cobrowse_chunk_t  *c;

    len = 0;

    for (c = from; c; c = c->next) {
        len += c->len + 1;
    }

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;

    for (c = from; c; c = c->next) {
        if (c != from) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, c->data, c->len);
    }

    out->len = p - out->data;

    return NGX_OK;
}


ngx_chatvisor_cobrowse_rc_e
ngx_chatvisor_cobrowse_read(ngx_chatvisor_main_conf_t *cmcf,
    const char *conversation_id, const char *agent_id, uint64_t after,
    ngx_pool_t *pool, ngx_chatvisor_cobrowse_read_t *read)
{
    uint64_t                           last;
    ngx_chatvisor_cobrowse_rc_e        rc;
    ngx_chatvisor_cobrowse_chunk_t    *from, *c;
    ngx_chatvisor_cobrowse_session_t  *s;

    ngx_memzero(read, sizeof(ngx_chatvisor_cobrowse_read_t));
    read->cursor = after;
    rc = NGX_CHATVISOR_COBROWSE_OK;
    from = NULL;

    ngx_chatvisor_cobrowse_lock(cmcf);

    s = ngx_chatvisor_cobrowse_find(cmcf->cobrowse, conversation_id);

    if (s == NULL) {
        rc = NGX_CHATVISOR_COBROWSE_NO_SESSION;
        goto done;
    }

    if (ngx_strcmp(s->v.agent_id, agent_id) != 0) {
        rc = NGX_CHATVISOR_COBROWSE_NOT_YOURS;
        goto done;
    }

    read->view = s->v;
    last = s->v.last_seq;

    if (ngx_chatvisor_cobrowse_live(s)) {
        s->agent_seen_ms = cv_now_ms();
        s->agent_here_ms = s->agent_seen_ms;
    }

    if (s->v.state != NGX_CHATVISOR_COBROWSE_ACTIVE || after == last) {
        goto done;
    }

    if (after == 0 || after > last
        || s->first == NULL || s->first->seq > after + 1)
    {
        /* a new view, or what followed after is gone: from the last full
         * snapshot, or (none yet) an empty reset past the lost events */
        if (s->first && s->first->full) {
            from = s->first;

        } else if (after != 0 && after < last) {
            read->cursor = last;
        }

        read->reset = (from != NULL || read->cursor != after);

    } else {
        /* the chunks after it, found from the newest back */
        for (c = s->last; c && c->seq > after; c = c->prev) {
            from = c;
        }

        read->reset = from->full;
    }

    if (from) {
        if (ngx_chatvisor_cobrowse_copy(from, pool, &read->events)
            != NGX_OK)
        {
            rc = NGX_CHATVISOR_COBROWSE_ERROR;
            goto done;
        }

        read->cursor = last;
    }

done:

    ngx_chatvisor_cobrowse_unlock(cmcf);

    return rc;
}


/* ------------------------------------------------------------ the sweep */

static void
ngx_chatvisor_cobrowse_touch(ngx_chatvisor_wait_t *w, void *data)
{
    ngx_chatvisor_main_conf_t  *cmcf = data;

    int64_t                            now;
    ngx_chatvisor_cobrowse_session_t  *s;

    now = cv_now_ms();

    s = ngx_chatvisor_cobrowse_find(cmcf->cobrowse, w->conversation_id);

    if (s && ngx_chatvisor_cobrowse_live(s)
        && ngx_strcmp(s->v.agent_id, w->agent_id) == 0)
    {
        s->agent_seen_ms = now;
        s->agent_here_ms = now;
    }
}


static void
ngx_chatvisor_cobrowse_sweep(ngx_event_t *ev)
{
    ngx_chatvisor_main_conf_t *cmcf = ev->data;

    cv_txn                            *t;
    int64_t                            now;
    cv_status                          st;
    ngx_uint_t                         i, n, nopen, reason;
    cv_conv_state                      cs;
    ngx_uint_t                         ntouched;
    ngx_slab_pool_t                   *shpool;
    ngx_chatvisor_cobrowse_zone_t     *zone;
    ngx_chatvisor_cobrowse_session_t  *s;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(ev, NGX_CHATVISOR_COBROWSE_SWEEP);

    zone = cmcf->cobrowse;

    if (zone->used == 0) {
        return;
    }

    shpool = ngx_chatvisor_cobrowse_pool(cmcf);
    now = cv_now_ms();
    n = 0;
    nopen = 0;
    ntouched = 0;

    ngx_shmtx_lock(&shpool->mutex);

    /* a poll held in this worker is an agent still there */
    ngx_chatvisor_poll_cobrowse_each(ngx_chatvisor_cobrowse_touch, cmcf);

    for (i = 0; i < NGX_CHATVISOR_COBROWSE_SLOTS; i++) {
        s = &zone->slots[i];

        if (!s->used) {
            continue;
        }

        reason = ngx_chatvisor_cobrowse_expired(cmcf, s, now);

        if (reason) {
            ngx_chatvisor_cobrowse_end_locked(shpool, zone, s, reason);
            ngx_chatvisor_cobrowse_notice(ngx_chatvisor_cobrowse_ended, &n,
                                          NGX_CHATVISOR_NOTICE_COBROWSE, s);
            continue;
        }

        if (ngx_chatvisor_cobrowse_live(s)) {
            ngx_memcpy(ngx_chatvisor_cobrowse_open[nopen++],
                       s->conversation_id, CV_ID_MAX);

            /* the other nodes' sessions would end agent_gone without */
            if (cmcf->cluster.servers.len
                && now - s->agent_here_ms <= NGX_CHATVISOR_COBROWSE_SWEEP
                && ntouched < NGX_CHATVISOR_COBROWSE_SESSIONS_MAX)
            {
                ngx_chatvisor_cobrowse_change(cmcf,
                                &ngx_chatvisor_cobrowse_touched[ntouched++],
                                NGX_CHATVISOR_COBROWSE_OP_TOUCH, 0, s);
            }

            continue;
        }

        if (now - s->ended_ms > NGX_CHATVISOR_COBROWSE_KEEP_ENDED) {
            s->used = 0;
            ngx_atomic_fetch_add(&zone->used, -1);
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (n) {
        ngx_chatvisor_notify_many(ngx_chatvisor_cobrowse_ended, n);
    }

    for (i = 0; i < ntouched; i++) {
        ngx_chatvisor_cobrowse_tell(&ngx_chatvisor_cobrowse_touched[i],
                                    NULL, 0);
    }

    /* a conversation closed elsewhere than in this nginx (chatvisorctl)
     * ends its session too */
    if (nopen == 0 || cmcf->store == NULL
        || cv_txn_begin(cmcf->store, 0, &t) != CV_OK)
    {
        return;
    }

    n = 0;

    for (i = 0; i < nopen; i++) {
        st = cv_conversation_state(t, ngx_chatvisor_cobrowse_open[i], &cs);

        if (st == CV_NOT_FOUND || (st == CV_OK && !cs.open)) {
            ngx_memcpy(ngx_chatvisor_cobrowse_open[n++],
                       ngx_chatvisor_cobrowse_open[i], CV_ID_MAX);
        }
    }

    cv_txn_abort(t);

    for (i = 0; i < n; i++) {
        ngx_chatvisor_cobrowse_closed(cmcf, ngx_chatvisor_cobrowse_open[i]);
    }
}


ngx_int_t
ngx_chatvisor_cobrowse_init_process(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf)
{
    ngx_event_t  *ev;

    if (cmcf->cobrowse == NULL) {
        return NGX_OK;
    }

    ev = &ngx_chatvisor_cobrowse_sweep_event;

    ngx_memzero(ev, sizeof(ngx_event_t));
    ev->handler = ngx_chatvisor_cobrowse_sweep;
    ev->log = cycle->log;
    ev->data = cmcf;

    /* the sweep never keeps an exiting worker alive */
    ev->cancelable = 1;

    ngx_add_timer(ev, NGX_CHATVISOR_COBROWSE_SWEEP);

    ev = &ngx_chatvisor_cobrowse_relay_event;

    ngx_memzero(ev, sizeof(ngx_event_t));
    ev->handler = ngx_chatvisor_cobrowse_relay;
    ev->log = cycle->log;
    ev->data = cmcf;

    ev = &ngx_chatvisor_cobrowse_order_event;

    ngx_memzero(ev, sizeof(ngx_event_t));
    ev->handler = ngx_chatvisor_cobrowse_order_tick;
    ev->log = cycle->log;
    ev->data = cmcf;
    ev->cancelable = 1;

    return NGX_OK;
}
