/*
 * The webhook sender. One worker at a time sends (it holds the webhooks
 * lease, renewed every NGX_CHATVISOR_LEASE_RENEW ms; when that worker dies
 * or hangs another takes over within a second, and one that exits gives
 * the lease up at once). It wakes on the notices that follow every commit.
 *
 * Each endpoint has a window: the log's events after the endpoint's
 * cursor, read into memory (a read transaction, no write). First attempts
 * go straight from it, at most chatvisor_webhook_concurrency per endpoint
 * and one per conversation, in log order per conversation. Their outcomes
 * are settled in batches, one write for every endpoint's (the same group
 * commit as the chat's, so it never waits for the disk in the event loop):
 * a 2xx becomes a delivered record, a failure a pending delivery in the
 * store, and so do the later events of its conversation, which wait
 * behind it; the cursor moves to the first event not settled. Retries
 * (and tests) are sent from the store when due, and each outcome recorded.
 * An attempt holds its slot until its outcome is settled or recorded: the
 * sender never gets further ahead of the store than its concurrency.
 *
 * At least once: an event is settled only after the receiver's answer,
 * and the cursor never passes an event not settled; whatever was in
 * flight or answered but not settled when a worker died is sent again by
 * the next owner, with the same webhook-id.
 *
 * In cluster mode (docs/cluster.md "Webhooks") one node sends: the owner
 * worker sends only while its node holds the cluster's webhooks lease
 * (ngx_chatvisor_cluster_webhooks()), and its settles and retries'
 * outcomes are commands of the stream, applied by every node, instead of
 * writes of its own store: the node that takes over goes on from the same
 * cursor and pending deliveries.
 */


#include "ngx_chatvisor_webhooks.h"
#include "ngx_chatvisor_webhook_client.h"
#include "cv_time.h"
#include "cv_webhooks.h"
#include "cv_cluster_webhooks.h"


#define NGX_CHATVISOR_LEASE_TTL         1000      /* ms */
#define NGX_CHATVISOR_LEASE_RENEW       250       /* ms */
#define NGX_CHATVISOR_WINDOW_MAX        4096      /* events read ahead, per
                                                     endpoint */
#define NGX_CHATVISOR_WINDOW_READ       256       /* log entries a read looks
                                                     at */
#define NGX_CHATVISOR_CONV_SLOTS        8192      /* a pass's conversations:
                                                     a power of 2, twice the
                                                     window */
#define NGX_CHATVISOR_CONV_BITS         13
#define NGX_CHATVISOR_BODY_CACHE        4096      /* bodies kept for the other
                                                     endpoints of an event, by
                                                     log seq: as far as
                                                     endpoints drift apart */
/*
 * The budget while the chat keeps this worker saturated (its event loop
 * hardly ever idle while the chat writes fast, ngx_chatvisor_chat_busy()):
 * first attempts in flight or waiting for their settle, all endpoints
 * together, at most NGX_CHATVISOR_BUSY_SLOTS (at least one per endpoint),
 * and at most NGX_CHATVISOR_BUSY_RATE started per second, shared by the
 * endpoints (at least NGX_CHATVISOR_BUSY_MIN_RATE each, so none starves).
 * A request costs its worker about 20-30 us and the receiver's side as
 * much again on the same machine: the webhooks fall behind while the
 * chat is saturated and catch up, at full speed, when it calms.
 */
#define NGX_CHATVISOR_BUSY_SLOTS        4
#define NGX_CHATVISOR_BUSY_RATE         2000      /* first attempts/s */
#define NGX_CHATVISOR_BUSY_MIN_RATE     100       /* the same, per endpoint */
#define NGX_CHATVISOR_BUSY_BURST        8         /* saved up, per endpoint */
#define NGX_CHATVISOR_BUSY_TICK         10        /* ms: a look again when
                                                     out of budget */
#define NGX_CHATVISOR_MILLI             1000
#define NGX_CHATVISOR_SETTLE_LOG_EVERY  120       /* failed settles in a row
                                                     between two logs (about
                                                     a minute) */
#define NGX_CHATVISOR_FAILING_MAX       (5LL * 86400000)  /* then disabled */
#define NGX_CHATVISOR_KEEP_FINISHED     (7LL * 86400000)  /* then pruned */
#define NGX_CHATVISOR_PRUNE_EVERY       60000     /* ms */
#define NGX_CHATVISOR_PRUNE_BATCH       500
#define NGX_CHATVISOR_JITTER            10        /* +-% of a retry delay */
#define NGX_CHATVISOR_KEEPALIVE         60000     /* ms an idle connection */
#define NGX_CHATVISOR_SETTLE_AGAIN      500       /* ms: a settle the cluster
                                                     did not take, again */
#define NGX_CHATVISOR_IDLE_MAX          16        /* idle connections kept */

/* webhook-id, -timestamp and two signatures (during a rotation) */
#define NGX_CHATVISOR_WEBHOOK_HEADERS_MAX  512

#define NGX_CHATVISOR_HTTP_GONE         410


typedef struct ngx_chatvisor_endpoint_s  ngx_chatvisor_endpoint_t;


/* an event of an endpoint's window, from its read to its settling */
enum {
    NGX_CHATVISOR_W_WAITING = 0,    /* not sent yet */
    NGX_CHATVISOR_W_FLYING,         /* its first attempt on the wire */
    NGX_CHATVISOR_W_DONE,           /* answered: its outcome to settle */
    NGX_CHATVISOR_W_BLOCKED,        /* behind a failed one of its
                                       conversation: settled pending */
    NGX_CHATVISOR_W_SETTLING,       /* in the settle being committed */
    NGX_CHATVISOR_W_SETTLED
};

typedef struct {
    cv_delivery                        d;
    cv_delivery_result                 result;
    char                              *error;     /* the result's, malloc'd */
    ngx_uint_t                         state;
    unsigned                           answered:1;
} ngx_chatvisor_wevent_t;

/* what a pass knows of a conversation from the window's earlier events */
#define NGX_CHATVISOR_CONV_WAIT         1         /* one is on its way */
#define NGX_CHATVISOR_CONV_BLOCK        2         /* one failed: the rest
                                                     wait in the store */


/* one attempt of a delivery, from its send to its recorded outcome */
typedef struct {
    ngx_queue_t                        queue;     /* in its endpoint's */
    ngx_chatvisor_endpoint_t          *ep;
    ngx_chatvisor_wevent_t            *w;         /* a first attempt from the
                                                     window; NULL: a delivery
                                                     of the store */
    uint64_t                           dseq;
    unsigned                           attempts;  /* before this one */
    int64_t                            started_ms;
    ngx_chatvisor_client_request_t    *request;   /* NULL once answered */
    ngx_chatvisor_op_t                 op;        /* recording the outcome */
    ngx_chatvisor_cluster_wait_t       cw;        /* the same, in cluster
                                                     mode */
    cv_delivery_result                 result;
    char                               error[CV_WEBHOOK_ERROR_MAX + 1];
    const char                        *disable;   /* "gone", "failing" */
} ngx_chatvisor_attempt_t;


struct ngx_chatvisor_endpoint_s {
    ngx_queue_t                        queue;     /* in the sender's */
    cv_webhook_endpoint                rec;
    ngx_chatvisor_client_t            *client;
    ngx_queue_t                        flying;    /* attempts */
    ngx_uint_t                         in_flight;
    cv_hmac_key                       *key;
    cv_hmac_key                       *prev_key;  /* NULL: none */
    ngx_chatvisor_wevent_t            *window;    /* a ring */
    ngx_uint_t                         w_head;
    ngx_uint_t                         w_len;
    uint64_t                           read_seq;  /* the log read up to */
    uint64_t                           cursor;    /* settled up to */
    ngx_uint_t                         held;      /* answered, not settled */
    ngx_uint_t                         to_settle; /* done and blocked */
    const char                        *disable;   /* settled with them */
    ngx_uint_t                         room;      /* first attempts this
                                                     pass may start */
    int64_t                            budget;    /* while busy, in
                                                     thousandths of one */
    int64_t                            budget_at; /* ms, last refilled */
    unsigned                           read_more:1;
    unsigned                           settling:1;
    unsigned                           seen:1;    /* in the last reload */
    unsigned                           removed:1; /* freed once idle */
    unsigned                           disabling:1; /* answered 410 (or
                                                     failing too long):
                                                     nothing more is sent
                                                     until the disable is
                                                     written and reloaded */
};


/* one endpoint's part of a settle */
typedef struct {
    ngx_chatvisor_endpoint_t          *ep;
    char                               id[CV_WEBHOOK_ID_MAX];
    cv_settle_item                    *items;
    ngx_chatvisor_wevent_t           **slots;     /* the items' */
    size_t                             n;
    uint64_t                           cursor;
    const char                        *disable;
} ngx_chatvisor_settle_part_t;


static struct {
    ngx_chatvisor_main_conf_t         *cmcf;
    ngx_queue_t                        endpoints;
    ngx_event_t                        lease_event;
    ngx_event_t                        work_event;
    ngx_chatvisor_op_t                 prune_op;
    size_t                             pruned;
    int64_t                            prune_at;
    ngx_chatvisor_op_t                 settle_op;
    ngx_chatvisor_cluster_wait_t       settle_wait;   /* cluster mode */
    int64_t                            settle_again;  /* ms: not before */
    ngx_uint_t                         settle_failed; /* in a row */
    ngx_chatvisor_settle_part_t       *parts;
    ngx_uint_t                         nparts;
    ngx_uint_t                         nparts_cap;
    unsigned                           owner:1;
    unsigned                           sending:1; /* owner, and its node
                                                     holds the cluster's
                                                     lease (always without
                                                     a cluster) */
    unsigned                           reload:1;
    unsigned                           read:1;
    unsigned                           pruning:1;
    unsigned                           settling:1;
} ngx_chatvisor_sender;


/* a pass's conversations: a table whose entries of other passes are empty */
static struct {
    uint64_t                           key[NGX_CHATVISOR_CONV_SLOTS];
    uint32_t                           pass[NGX_CHATVISOR_CONV_SLOTS];
    u_char                             mark[NGX_CHATVISOR_CONV_SLOTS];
    uint32_t                           now;
} ngx_chatvisor_convs;


/* the last bodies made, each in the place of its log seq: an event goes
 * to every endpoint with one body */
static struct {
    uint64_t                           log_seq;
    char                              *json;
    size_t                             len;
} ngx_chatvisor_bodies[NGX_CHATVISOR_BODY_CACHE];


static void ngx_chatvisor_sender_work(ngx_event_t *ev);
static void ngx_chatvisor_sender_answered(ngx_chatvisor_client_result_t *res,
    void *data);
static void ngx_chatvisor_window_answered(ngx_chatvisor_attempt_t *a);


static void
ngx_chatvisor_sender_wake(void)
{
    if (!ngx_chatvisor_sender.work_event.posted) {
        ngx_post_event(&ngx_chatvisor_sender.work_event, &ngx_posted_events);
    }
}


/* ---------------------------------------------------------- endpoints */

static void
ngx_chatvisor_attempt_cancel(ngx_chatvisor_attempt_t *a)
{
    ngx_queue_remove(&a->queue);
    a->ep->in_flight--;

    /* sent again */
    if (a->w) {
        a->w->state = NGX_CHATVISOR_W_WAITING;
    }

    if (a->request) {
        ngx_chatvisor_client_cancel(a->request);
    }

    ngx_free(a);
}


/*
 * Stops an endpoint's attempts that are still on the wire (their
 * deliveries stay due: sent again, with the same webhook-id) and its
 * connections. Attempts whose outcome is being recorded finish that.
 */

static void
ngx_chatvisor_endpoint_stop(ngx_chatvisor_endpoint_t *ep)
{
    ngx_queue_t              *q, *next;
    ngx_chatvisor_attempt_t  *a;

    for (q = ngx_queue_head(&ep->flying);
         q != ngx_queue_sentinel(&ep->flying);
         q = next)
    {
        next = ngx_queue_next(q);
        a = ngx_queue_data(q, ngx_chatvisor_attempt_t, queue);

        if (a->request) {
            ngx_chatvisor_attempt_cancel(a);
        }
    }

    if (ep->client) {
        ngx_chatvisor_client_destroy(ep->client);
        ep->client = NULL;
    }
}


static void
ngx_chatvisor_endpoint_keys_free(ngx_chatvisor_endpoint_t *ep)
{
    cv_hmac_key_free(ep->key);
    cv_hmac_key_free(ep->prev_key);
    ep->key = NULL;
    ep->prev_key = NULL;
}


static ngx_chatvisor_wevent_t *
ngx_chatvisor_window_at(ngx_chatvisor_endpoint_t *ep, ngx_uint_t i)
{
    return &ep->window[(ep->w_head + i) % NGX_CHATVISOR_WINDOW_MAX];
}


static void
ngx_chatvisor_endpoint_free_if_idle(ngx_chatvisor_endpoint_t *ep)
{
    ngx_uint_t  i;

    if (ep->removed && ep->in_flight == 0 && !ep->settling) {
        for (i = 0; i < ep->w_len; i++) {
            ngx_free(ngx_chatvisor_window_at(ep, i)->error);
        }

        ngx_queue_remove(&ep->queue);
        ngx_chatvisor_endpoint_keys_free(ep);
        ngx_free(ep->window);
        ngx_free(ep);
    }
}


static ngx_int_t
ngx_chatvisor_endpoint_set(ngx_chatvisor_endpoint_t *ep,
    cv_webhook_endpoint *rec, ngx_log_t *log)
{
    u_char                          key[CV_WEBHOOK_SECRET_MAX_BYTES];
    size_t                          len;
    ngx_str_t                       url, err;
    ngx_chatvisor_webhooks_conf_t  *wc;
    static ngx_chatvisor_client_conf_t  conf;

    wc = &ngx_chatvisor_sender.cmcf->webhooks;

    /* listed, so enabled: enabled again before the disable was reloaded */
    ep->disabling = 0;

    if (ep->client == NULL || ngx_strcmp(ep->rec.url, rec->url) != 0) {
        ngx_chatvisor_endpoint_stop(ep);

        /* one conf for every client: the directives are the same for all */
    #if (NGX_SSL)
        conf.ssl = wc->ssl;
#endif
        conf.verify = wc->verify;
        conf.resolver = wc->resolver;
        conf.resolver_timeout = wc->resolver_timeout;
        conf.timeout = wc->timeout;
        conf.keepalive_timeout = NGX_CHATVISOR_KEEPALIVE;
        conf.max_idle = ngx_max(wc->concurrency, NGX_CHATVISOR_IDLE_MAX);
        conf.allow_private = wc->allow_private;
        conf.log = ngx_cycle->log;

        url.data = (u_char *) rec->url;
        url.len = ngx_strlen(rec->url);

        ep->client = ngx_chatvisor_client_create(&conf, &url, &err);
        if (ep->client == NULL) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "chatvisor: webhook %s: %V", rec->id, &err);
            return NGX_ERROR;
        }
    }

    ep->rec = *rec;

    ngx_chatvisor_endpoint_keys_free(ep);

    if (cv_webhook_secret_key(rec->secret, key, &len) != CV_OK) {
        return NGX_ERROR;
    }

    ep->key = cv_hmac_key_new(key, len);

    if (rec->previous_secret[0]
        && cv_webhook_secret_key(rec->previous_secret, key, &len) == CV_OK)
    {
        ep->prev_key = cv_hmac_key_new(key, len);
    }

    ngx_explicit_memzero(key, sizeof(key));

    return ep->key ? NGX_OK : NGX_ERROR;
}


static ngx_chatvisor_endpoint_t *
ngx_chatvisor_endpoint_find(const char *id)
{
    ngx_queue_t               *q;
    ngx_chatvisor_endpoint_t  *ep;

    for (q = ngx_queue_head(&ngx_chatvisor_sender.endpoints);
         q != ngx_queue_sentinel(&ngx_chatvisor_sender.endpoints);
         q = ngx_queue_next(q))
    {
        ep = ngx_queue_data(q, ngx_chatvisor_endpoint_t, queue);

        if (!ep->removed && ngx_strcmp(ep->rec.id, id) == 0) {
            return ep;
        }
    }

    return NULL;
}


static void
ngx_chatvisor_endpoint_remove(ngx_chatvisor_endpoint_t *ep)
{
    ngx_chatvisor_endpoint_stop(ep);
    ep->removed = 1;
    ngx_chatvisor_endpoint_free_if_idle(ep);
}


/* the enabled endpoints of the store, kept in step with it */

static void
ngx_chatvisor_sender_reload(ngx_log_t *log)
{
    size_t                      n, i;
    cv_txn                     *t;
    cv_status                   st;
    ngx_queue_t                *q, *next;
    cv_webhook_endpoint        *list;
    ngx_chatvisor_endpoint_t   *ep;

    st = cv_txn_begin(ngx_chatvisor_sender.cmcf->store, 0, &t);
    if (st != CV_OK) {
        return;
    }

    st = cv_webhook_endpoints(t, &list, &n);
    cv_txn_abort(t);

    if (st != CV_OK) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "chatvisor: the webhook endpoints could not be read "
                      "(%s)", cv_status_text(st));
        return;
    }

    ngx_chatvisor_sender.reload = 0;

    for (q = ngx_queue_head(&ngx_chatvisor_sender.endpoints);
         q != ngx_queue_sentinel(&ngx_chatvisor_sender.endpoints);
         q = ngx_queue_next(q))
    {
        ep = ngx_queue_data(q, ngx_chatvisor_endpoint_t, queue);
        ep->seen = 0;
    }

    for (i = 0; i < n; i++) {
        ep = ngx_chatvisor_endpoint_find(list[i].id);

        if (ep == NULL) {
            ep = ngx_calloc(sizeof(ngx_chatvisor_endpoint_t), log);
            if (ep == NULL) {
                break;
            }

            ep->window = ngx_alloc(NGX_CHATVISOR_WINDOW_MAX
                                   * sizeof(ngx_chatvisor_wevent_t), log);
            if (ep->window == NULL) {
                ngx_free(ep);
                break;
            }

            ngx_queue_init(&ep->flying);
            ngx_queue_insert_tail(&ngx_chatvisor_sender.endpoints,
                                  &ep->queue);

            /* the window starts where the store says everything is
             * settled */
            ep->read_seq = list[i].cursor;
            ep->cursor = list[i].cursor;
            ep->read_more = 1;

        } else if (ep->rec.generation == list[i].generation) {
            ep->seen = 1;
            continue;
        }

        ep->seen = 1;

        if (ngx_chatvisor_endpoint_set(ep, &list[i], log) != NGX_OK) {
            ep->seen = 0;
        }
    }

    free(list);

    /* disabled, deleted, or with a URL no client takes */
    for (q = ngx_queue_head(&ngx_chatvisor_sender.endpoints);
         q != ngx_queue_sentinel(&ngx_chatvisor_sender.endpoints);
         q = next)
    {
        next = ngx_queue_next(q);
        ep = ngx_queue_data(q, ngx_chatvisor_endpoint_t, queue);

        if (!ep->seen && !ep->removed) {
            ngx_chatvisor_endpoint_remove(ep);
        }
    }
}


/* ------------------------------------------------------------ attempts */

/* "v1,BASE64(HMAC-SHA256(key, id.timestamp.body))" into p */

static u_char *
ngx_chatvisor_sender_sign(u_char *p, cv_hmac_key *key, ngx_str_t *id,
    time_t ts, ngx_str_t *body)
{
    u_char       mac[CV_SHA256_LEN], head[NGX_TIME_T_LEN + 2];
    size_t       lens[3];
    ngx_str_t    src, dst;
    const void  *parts[3];

    /* id "." timestamp "." body, without copying the body */
    parts[0] = id->data;
    lens[0] = id->len;
    parts[1] = head;
    lens[1] = ngx_sprintf(head, ".%T.", ts) - head;
    parts[2] = body->data;
    lens[2] = body->len;

    if (cv_hmac_key_sign(key, parts, lens, 3, mac) != CV_OK) {
        return NULL;
    }

    src.data = mac;
    src.len = sizeof(mac);
    dst.data = ngx_cpymem(p, "v1,", 3);

    ngx_encode_base64(&dst, &src);

    return dst.data + dst.len;
}


static ngx_chatvisor_attempt_t *
ngx_chatvisor_endpoint_send(ngx_chatvisor_endpoint_t *ep, cv_delivery *d,
    char *json, size_t len)
{
    u_char                   *p;
    time_t                    ts;
    ngx_str_t                 id, body, hs;
    ngx_chatvisor_attempt_t  *a;

    /* the client copies them into its request */
    u_char                    headers[NGX_CHATVISOR_WEBHOOK_HEADERS_MAX];

    a = ngx_calloc(sizeof(ngx_chatvisor_attempt_t), ngx_cycle->log);
    if (a == NULL) {
        return NULL;
    }

    ts = ngx_time();
    id.data = (u_char *) d->event_id;
    id.len = ngx_strlen(d->event_id);
    body.data = (u_char *) json;
    body.len = len;

    p = ngx_sprintf(headers, "webhook-id: %V\r\nwebhook-timestamp: %T\r\n"
                    "webhook-signature: ", &id, ts);

    p = ngx_chatvisor_sender_sign(p, ep->key, &id, ts, &body);

    /* while a rotated secret overlaps, both sign */
    if (p && ep->prev_key && ep->rec.previous_until_ms > cv_now_ms()) {
        *p++ = ' ';
        p = ngx_chatvisor_sender_sign(p, ep->prev_key, &id, ts, &body);
    }

    if (p == NULL) {
        ngx_free(a);
        return NULL;
    }

    p = ngx_cpymem(p, CRLF, 2);

    hs.data = headers;
    hs.len = p - headers;

    a->ep = ep;
    a->dseq = d->dseq;
    a->attempts = d->attempts;
    a->started_ms = cv_now_ms();

    a->request = ngx_chatvisor_client_post(ep->client, &hs, &body,
                                           ngx_chatvisor_sender_answered, a);

    if (a->request == NULL) {
        ngx_free(a);
        return NULL;
    }

    ngx_queue_insert_tail(&ep->flying, &a->queue);
    ep->in_flight++;

    return a;
}


/* the delay before attempt number n + 1 (n made), 0 when none is left */

static ngx_int_t
ngx_chatvisor_sender_next(unsigned made, time_t retry_after, int64_t *delay)
{
    int64_t                         d, spread;
    ngx_msec_t                     *schedule;
    ngx_chatvisor_webhooks_conf_t  *wc;

    wc = &ngx_chatvisor_sender.cmcf->webhooks;
    schedule = wc->schedule->elts;

    /* the schedule's first entry is the first attempt's */
    if (made >= wc->schedule->nelts) {
        return NGX_DECLINED;
    }

    d = (int64_t) schedule[made];
    spread = d * NGX_CHATVISOR_JITTER / 100;

    if (spread) {
        d += (int64_t) (ngx_random() % (2 * spread + 1)) - spread;
    }

    if ((int64_t) retry_after * 1000 > d) {
        d = (int64_t) retry_after * 1000;
    }

    *delay = d;

    return NGX_OK;
}


static cv_status
ngx_chatvisor_attempt_run(ngx_chatvisor_op_t *op, cv_txn *t)
{
    cv_status                 st;
    ngx_chatvisor_attempt_t  *a = op->data;

    st = cv_webhook_record(t, a->ep->rec.id, a->dseq, &a->result);

    if (st == CV_OK && a->disable) {
        st = cv_webhook_disable(t, a->ep->rec.id, a->disable);
    }

    /* a delivery or endpoint deleted meanwhile, or recorded already (a
     * worker that lost the lease while sending): nothing to record */
    return (st == CV_NOT_FOUND || st == CV_CONFLICT) ? CV_OK : st;
}


static void
ngx_chatvisor_attempt_finish(ngx_chatvisor_attempt_t *a, cv_status status)
{
    ngx_chatvisor_endpoint_t  *ep;

    ep = a->ep;

    if (status != CV_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "chatvisor: webhook %s: recording a delivery failed "
                      "(%s); it is sent again", ep->rec.id,
                      cv_status_text(status));
    }

    if (a->disable) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "chatvisor: webhook %s disabled (%s)", ep->rec.id,
                      a->disable);
        ngx_chatvisor_sender.reload = 1;
    }

    ngx_queue_remove(&a->queue);
    ep->in_flight--;
    ngx_free(a);

    if (ep->removed) {
        ngx_chatvisor_endpoint_free_if_idle(ep);
    }

    ngx_chatvisor_sender_wake();
}


static void
ngx_chatvisor_attempt_done(ngx_chatvisor_op_t *op)
{
    ngx_chatvisor_op_clear(op);
    ngx_chatvisor_attempt_finish(op->data, op->status);
}


/* cluster mode: the outcome's command applied on this node, or not */
static void
ngx_chatvisor_attempt_recorded(ngx_chatvisor_cluster_wait_t *w)
{
    cv_status  status;

    status = (w->rc == NGX_OK) ? w->res.status : CV_ERROR;
    cv_cluster_result_clear(&w->res);

    ngx_chatvisor_attempt_finish(w->data, status);
}


/* the outcome of an attempt from the store into the store, or into the
 * stream in cluster mode: NGX_OK when its done follows */
static ngx_int_t
ngx_chatvisor_attempt_record(ngx_chatvisor_attempt_t *a)
{
    cJSON      *cmd;
    ngx_int_t   rc;

    if (!ngx_chatvisor_cluster_on(ngx_chatvisor_sender.cmcf)) {
        a->op.run = ngx_chatvisor_attempt_run;
        a->op.done = ngx_chatvisor_attempt_done;
        a->op.data = a;

        return ngx_chatvisor_commit(ngx_chatvisor_sender.cmcf, &a->op);
    }

    cmd = cv_cluster_webhook_record_cmd(a->ep->rec.id, a->dseq, &a->result,
                                        a->disable);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    a->cw.done = ngx_chatvisor_attempt_recorded;
    a->cw.data = a;

    rc = ngx_chatvisor_cluster_publish(ngx_chatvisor_sender.cmcf, cmd,
                                       &a->cw);
    cJSON_Delete(cmd);

    return rc == NGX_OK ? NGX_OK : NGX_ERROR;
}


/* the answers whose Retry-After slows the next attempt down (SPEC 7) */

static ngx_uint_t
ngx_chatvisor_sender_slow_down(ngx_uint_t code)
{
    return code == NGX_HTTP_TOO_MANY_REQUESTS
           || code == NGX_HTTP_BAD_GATEWAY
           || code == NGX_HTTP_SERVICE_UNAVAILABLE
           || code == NGX_HTTP_GATEWAY_TIME_OUT;
}


static void
ngx_chatvisor_sender_answered(ngx_chatvisor_client_result_t *res, void *data)
{
    int64_t                    now, delay;
    ngx_uint_t                 code;
    ngx_chatvisor_attempt_t   *a = data;
    ngx_chatvisor_endpoint_t  *ep;

    ep = a->ep;
    a->request = NULL;

    now = cv_now_ms();
    code = res->status;

    a->result.attempt_ms = a->started_ms;
    a->result.duration_ms = now - a->started_ms;
    a->result.status_code = (unsigned) code;
    a->result.delivered = (code >= 200 && code < 300);
    a->result.error = NULL;
    a->result.next_attempt_ms = 0;

    if (!a->result.delivered) {
        if (code >= 300 && code < 400) {
            ngx_snprintf((u_char *) a->error, CV_WEBHOOK_ERROR_MAX,
                         "redirect to \"%V\" not followed%Z", &res->location);

        } else {
            ngx_snprintf((u_char *) a->error, CV_WEBHOOK_ERROR_MAX, "%V%Z",
                         &res->error);
        }

        a->error[CV_WEBHOOK_ERROR_MAX] = '\0';
        a->result.error = a->error;

        if (code == NGX_CHATVISOR_HTTP_GONE) {
            a->disable = "gone";

        } else if (ngx_chatvisor_sender_next(a->attempts + 1,
                       ngx_chatvisor_sender_slow_down(code)
                       ? res->retry_after : 0, &delay)
                   == NGX_OK)
        {
            a->result.next_attempt_ms = now + delay;
        }

        if (ep->rec.failing_since_ms == 0) {
            ep->rec.failing_since_ms = now;

        } else if (a->disable == NULL
                   && now - ep->rec.failing_since_ms
                      >= NGX_CHATVISOR_FAILING_MAX)
        {
            a->disable = "failing";
        }

    } else {
        ep->rec.failing_since_ms = 0;
    }

    /* "at once": the next events (another of this conversation, in a
     * window pass before the settle writes the disable) stay in the store
     * for when the endpoint is enabled again */
    if (a->disable) {
        ep->disabling = 1;
    }

    ngx_chatvisor_metric_add(a->result.delivered
                             ? NGX_CHATVISOR_METRIC_WH_DELIVERED
                             : a->result.next_attempt_ms
                               ? NGX_CHATVISOR_METRIC_WH_RETRIED
                               : NGX_CHATVISOR_METRIC_WH_FAILED);

    if (a->w) {
        ngx_chatvisor_window_answered(a);
        return;
    }

    if (ngx_chatvisor_attempt_record(a) != NGX_OK) {
        /* still due in the store: sent again */
        ngx_queue_remove(&a->queue);
        ep->in_flight--;
        ngx_free(a);
    }
}


/* -------------------------------------------------------------- window */

/* the body of an event (the same for every endpoint): from the cache, or
 * made and kept there; a test's is made for it, and *own is set to free */

static ngx_int_t
ngx_chatvisor_sender_body(ngx_chatvisor_endpoint_t *ep, cv_txn *t,
    cv_delivery *d, char **json, size_t *len, char **own)
{
    ngx_uint_t  i;

    *own = NULL;
    i = d->log_seq % NGX_CHATVISOR_BODY_CACHE;

    if (d->log_seq && ngx_chatvisor_bodies[i].log_seq == d->log_seq
        && ngx_chatvisor_bodies[i].json)
    {
        /* erased or purged since it was cached: its text goes nowhere */
        if (cv_webhook_event_present(t, d) != CV_OK) {
            free(ngx_chatvisor_bodies[i].json);
            ngx_chatvisor_bodies[i].json = NULL;
            ngx_chatvisor_bodies[i].log_seq = 0;
            return NGX_ERROR;
        }

        *json = ngx_chatvisor_bodies[i].json;
        *len = ngx_chatvisor_bodies[i].len;
        return NGX_OK;
    }

    if (cv_webhook_payload(t, ep->rec.id, d, json, len) != CV_OK) {
        return NGX_ERROR;
    }

    if (d->log_seq == 0) {
        *own = *json;
        return NGX_OK;
    }

    free(ngx_chatvisor_bodies[i].json);
    ngx_chatvisor_bodies[i].log_seq = d->log_seq;
    ngx_chatvisor_bodies[i].json = *json;
    ngx_chatvisor_bodies[i].len = *len;

    return NGX_OK;
}


static void
ngx_chatvisor_bodies_free(void)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_CHATVISOR_BODY_CACHE; i++) {
        free(ngx_chatvisor_bodies[i].json);
        ngx_chatvisor_bodies[i].json = NULL;
        ngx_chatvisor_bodies[i].log_seq = 0;
    }
}


/* the log's new events read into the window, as far as it has room */

static void
ngx_chatvisor_window_read(ngx_chatvisor_endpoint_t *ep, cv_txn *t)
{
    int                      more;
    size_t                   n, i, room;
    uint64_t                 last;
    cv_status                st;
    ngx_chatvisor_wevent_t  *w;
    static cv_delivery       got[NGX_CHATVISOR_WINDOW_READ];

    while (ep->read_more) {
        room = NGX_CHATVISOR_WINDOW_MAX - ep->w_len;

        /* full: read on once settles have made room */
        if (room == 0) {
            return;
        }

        st = cv_webhook_window(t, ep->rec.id, ep->read_seq,
                               ngx_min(room, NGX_CHATVISOR_WINDOW_READ), got,
                               &n, &last, &more);

        if (st != CV_OK) {
            ep->read_more = 0;

            if (st == CV_NOT_FOUND) {
                /* deleted meanwhile: the notice of that rereads them */
                ngx_chatvisor_sender.reload = 1;
                return;
            }

            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "chatvisor: webhook %s: reading the log failed "
                          "(%s)", ep->rec.id, cv_status_text(st));
            return;
        }

        for (i = 0; i < n; i++) {
            w = ngx_chatvisor_window_at(ep, ep->w_len++);
            ngx_memzero(w, sizeof(ngx_chatvisor_wevent_t));
            w->d = got[i];
            w->state = NGX_CHATVISOR_W_WAITING;
        }

        ep->read_seq = last;
        ep->read_more = more;
    }
}


/* the pass's entry of a conversation */

static ngx_uint_t
ngx_chatvisor_conv_slot(uint64_t key)
{
    ngx_uint_t  i;

    i = (ngx_uint_t) ((key * 0x9e3779b97f4a7c15ULL)
                      >> (64 - NGX_CHATVISOR_CONV_BITS));

    /* the table has twice the room of a window: never full */
    while (ngx_chatvisor_convs.pass[i] == ngx_chatvisor_convs.now
           && ngx_chatvisor_convs.key[i] != key)
    {
        i = (i + 1) & (NGX_CHATVISOR_CONV_SLOTS - 1);
    }

    return i;
}


static ngx_uint_t
ngx_chatvisor_conv_mark(uint64_t key)
{
    ngx_uint_t  i;

    i = ngx_chatvisor_conv_slot(key);

    return ngx_chatvisor_convs.pass[i] == ngx_chatvisor_convs.now
           ? ngx_chatvisor_convs.mark[i] : 0;
}


static void
ngx_chatvisor_conv_set(uint64_t key, ngx_uint_t mark)
{
    ngx_uint_t  i;

    i = ngx_chatvisor_conv_slot(key);

    if (ngx_chatvisor_convs.pass[i] != ngx_chatvisor_convs.now) {
        ngx_chatvisor_convs.pass[i] = ngx_chatvisor_convs.now;
        ngx_chatvisor_convs.key[i] = key;
        ngx_chatvisor_convs.mark[i] = (u_char) mark;

    } else if (mark > ngx_chatvisor_convs.mark[i]) {
        ngx_chatvisor_convs.mark[i] = (u_char) mark;
    }
}


static void
ngx_chatvisor_conv_pass(void)
{
    /* a wrap would make entries of an old pass look current */
    if (++ngx_chatvisor_convs.now == 0) {
        ngx_memzero(ngx_chatvisor_convs.pass,
                    sizeof(ngx_chatvisor_convs.pass));
        ngx_chatvisor_convs.now = 1;
    }
}


static ngx_int_t
ngx_chatvisor_window_send_one(ngx_chatvisor_endpoint_t *ep,
    ngx_chatvisor_wevent_t *w, cv_txn *t)
{
    char                     *json, *own;
    size_t                    len;
    ngx_chatvisor_attempt_t  *a;

    if (ngx_chatvisor_sender_body(ep, t, &w->d, &json, &len, &own) != NGX_OK)
    {
        return NGX_ERROR;
    }

    a = ngx_chatvisor_endpoint_send(ep, &w->d, json, len);
    free(own);

    if (a == NULL) {
        return NGX_ERROR;
    }

    a->w = w;
    w->state = NGX_CHATVISOR_W_FLYING;

    return NGX_OK;
}


/*
 * First attempts of the window's events, room at most, in log order: an
 * event goes when no earlier one of its conversation is on its way or
 * failed, in the window or in the store. One behind a failure is blocked:
 * the settle makes it a pending delivery, queued behind that one.
 */

static ngx_uint_t
ngx_chatvisor_window_send(ngx_chatvisor_endpoint_t *ep, cv_txn *t,
    ngx_uint_t room)
{
    int                      any, waits;
    uint64_t                 conv;
    ngx_uint_t               i, mark;
    ngx_uint_t               room0;
    ngx_chatvisor_wevent_t  *w;

    room0 = room;

    if (room == 0 || ep->w_len == 0 || ep->client == NULL || ep->disabling) {
        return 0;
    }

    /* conversations with pending deliveries in the store: rare, so asked
     * one by one only when there are any */
    if (cv_webhook_waiting(t, ep->rec.id, 0, &any) != CV_OK) {
        return 0;
    }

    ngx_chatvisor_conv_pass();

    for (i = 0; i < ep->w_len && room; i++) {
        w = ngx_chatvisor_window_at(ep, i);
        conv = w->d.conv_key;

        switch (w->state) {

        case NGX_CHATVISOR_W_WAITING:
            mark = ngx_chatvisor_conv_mark(conv);

            if (mark == NGX_CHATVISOR_CONV_WAIT) {
                break;
            }

            waits = 0;

            if (mark == 0 && any
                && cv_webhook_waiting(t, ep->rec.id, conv, &waits) != CV_OK)
            {
                return room0 - room;
            }

            if (mark == NGX_CHATVISOR_CONV_BLOCK || waits) {
                w->state = NGX_CHATVISOR_W_BLOCKED;
                ep->to_settle++;
                ngx_chatvisor_conv_set(conv, NGX_CHATVISOR_CONV_BLOCK);
                break;
            }

            /* one that could not go keeps its place, and its later ones
             * wait for it */
            if (ngx_chatvisor_window_send_one(ep, w, t) == NGX_OK) {
                room--;
            }

            ngx_chatvisor_conv_set(conv, NGX_CHATVISOR_CONV_WAIT);
            break;

        case NGX_CHATVISOR_W_FLYING:
            ngx_chatvisor_conv_set(conv, NGX_CHATVISOR_CONV_WAIT);
            break;

        case NGX_CHATVISOR_W_DONE:
        case NGX_CHATVISOR_W_SETTLING:
            if (w->answered && !w->result.delivered
                && w->result.next_attempt_ms > 0)
            {
                ngx_chatvisor_conv_set(conv, NGX_CHATVISOR_CONV_BLOCK);
            }
            break;

        case NGX_CHATVISOR_W_BLOCKED:
            ngx_chatvisor_conv_set(conv, NGX_CHATVISOR_CONV_BLOCK);
            break;

        default:   /* settled */
            break;
        }
    }

    return room0 - room;
}


/* a first attempt answered: its outcome waits for the next settle, and
 * holds its slot until then */

static void
ngx_chatvisor_window_answered(ngx_chatvisor_attempt_t *a)
{
    size_t                     len;
    ngx_chatvisor_wevent_t    *w = a->w;
    ngx_chatvisor_endpoint_t  *ep = a->ep;

    w->result = a->result;
    w->result.error = NULL;

    if (a->result.error) {
        len = ngx_strlen(a->result.error);
        w->error = ngx_alloc(len + 1, ngx_cycle->log);

        if (w->error) {
            ngx_memcpy(w->error, a->result.error, len + 1);
        }

        w->result.error = w->error;
    }

    w->state = NGX_CHATVISOR_W_DONE;
    w->answered = 1;
    ep->held++;
    ep->to_settle++;

    if (a->disable) {
        ep->disable = a->disable;
    }

    ngx_queue_remove(&a->queue);
    ep->in_flight--;
    ngx_free(a);

    ngx_chatvisor_sender_wake();
}


/* ------------------------------------------------------------- settles */

static cv_status
ngx_chatvisor_settle_run(ngx_chatvisor_op_t *op, cv_txn *t)
{
    cv_status                     st;
    ngx_uint_t                    i;
    ngx_chatvisor_settle_part_t  *part;

    for (i = 0; i < ngx_chatvisor_sender.nparts; i++) {
        part = &ngx_chatvisor_sender.parts[i];

        st = cv_webhook_settle(t, part->id, part->items, part->n,
                               part->cursor, cv_now_ms());

        if (st == CV_OK && part->disable) {
            st = cv_webhook_disable(t, part->id, part->disable);
        }

        /* an endpoint deleted meanwhile: nothing to settle */
        if (st != CV_OK && st != CV_NOT_FOUND) {
            return st;
        }
    }

    return CV_OK;
}


static void
ngx_chatvisor_settle_finish(cv_status status)
{
    ngx_uint_t                    i, k, settled;
    ngx_chatvisor_wevent_t       *w;
    ngx_chatvisor_endpoint_t     *ep;
    ngx_chatvisor_settle_part_t  *part;

    ngx_chatvisor_sender.settling = 0;

    settled = (status == CV_OK);

    /* a settle is tried again every few hundred ms while it fails (no
     * quorum in cluster mode): the log says it once, every
     * NGX_CHATVISOR_SETTLE_LOG_EVERY failures after, and when it works */
    if (!settled) {
        if (ngx_chatvisor_sender.settle_failed++
            % NGX_CHATVISOR_SETTLE_LOG_EVERY == 0)
        {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "chatvisor: settling webhook deliveries failed "
                          "(%s, %ui time(s) in a row); they are settled "
                          "again", cv_status_text(status),
                          ngx_chatvisor_sender.settle_failed);
        }

    } else if (ngx_chatvisor_sender.settle_failed) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "chatvisor: webhook deliveries settled again after "
                      "%ui failure(s)", ngx_chatvisor_sender.settle_failed);
        ngx_chatvisor_sender.settle_failed = 0;
    }

    for (i = 0; i < ngx_chatvisor_sender.nparts; i++) {
        part = &ngx_chatvisor_sender.parts[i];
        ep = part->ep;
        ep->settling = 0;

        for (k = 0; k < part->n; k++) {
            w = part->slots[k];

            if (!settled) {
                w->state = w->answered ? NGX_CHATVISOR_W_DONE
                                       : NGX_CHATVISOR_W_BLOCKED;
                ep->to_settle++;
                continue;
            }

            w->state = NGX_CHATVISOR_W_SETTLED;

            if (w->answered) {
                ep->held--;
                ngx_free(w->error);
                w->error = NULL;
            }
        }

        /* the window moves past what is settled */
        while (ep->w_len
               && ngx_chatvisor_window_at(ep, 0)->state
                  == NGX_CHATVISOR_W_SETTLED)
        {
            ep->w_head = (ep->w_head + 1) % NGX_CHATVISOR_WINDOW_MAX;
            ep->w_len--;
        }

        if (settled) {
            ep->cursor = ngx_max(ep->cursor, part->cursor);

            if (part->disable) {
                ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                              "chatvisor: webhook %s disabled (%s)",
                              part->id, part->disable);
                ngx_chatvisor_sender.reload = 1;
            }

        } else if (ep->disable == NULL) {
            ep->disable = part->disable;
        }

        ngx_free(part->items);
        part->items = NULL;
        part->slots = NULL;

        if (ep->removed) {
            ngx_chatvisor_endpoint_free_if_idle(ep);
        }
    }

    ngx_chatvisor_sender.nparts = 0;

    ngx_chatvisor_sender_wake();
}


static void
ngx_chatvisor_settle_done(ngx_chatvisor_op_t *op)
{
    ngx_chatvisor_op_clear(op);
    ngx_chatvisor_settle_finish(op->status);
}


/* cluster mode: the settle's command applied on this node, or not (then
 * settled again a little later: the cluster may be away a while) */
static void
ngx_chatvisor_settle_applied(ngx_chatvisor_cluster_wait_t *w)
{
    cv_status  status;

    status = (w->rc == NGX_OK) ? w->res.status : CV_ERROR;
    cv_cluster_result_clear(&w->res);

    if (status != CV_OK) {
        ngx_chatvisor_sender.settle_again = cv_now_ms()
                                            + NGX_CHATVISOR_SETTLE_AGAIN;
    }

    ngx_chatvisor_settle_finish(status);
}


/* cluster mode: the settle's parts as one command of the stream */
static ngx_int_t
ngx_chatvisor_settle_publish(void)
{
    cJSON                        *cmd;
    ngx_int_t                     rc;
    ngx_uint_t                    i;
    ngx_chatvisor_settle_part_t  *part;

    cmd = cv_cluster_webhook_settle_cmd();
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < ngx_chatvisor_sender.nparts; i++) {
        part = &ngx_chatvisor_sender.parts[i];

        if (cv_cluster_webhook_settle_part(cmd, part->id, part->items,
                                           part->n, part->cursor,
                                           part->disable)
            != CV_OK)
        {
            cJSON_Delete(cmd);
            return NGX_ERROR;
        }
    }

    ngx_chatvisor_sender.settle_wait.done = ngx_chatvisor_settle_applied;
    ngx_chatvisor_sender.settle_wait.data = NULL;

    rc = ngx_chatvisor_cluster_publish(ngx_chatvisor_sender.cmcf, cmd,
                                       &ngx_chatvisor_sender.settle_wait);
    cJSON_Delete(cmd);

    return rc == NGX_OK ? NGX_OK : NGX_ERROR;
}


/* the log seq up to which every event of the window is settled or being
 * settled: the cursor that settle may write */

static uint64_t
ngx_chatvisor_window_settled_to(ngx_chatvisor_endpoint_t *ep)
{
    ngx_uint_t               i;
    ngx_chatvisor_wevent_t  *w;

    for (i = 0; i < ep->w_len; i++) {
        w = ngx_chatvisor_window_at(ep, i);

        if (w->state != NGX_CHATVISOR_W_SETTLED
            && w->state != NGX_CHATVISOR_W_SETTLING)
        {
            return w->d.log_seq - 1;
        }
    }

    return ep->read_seq;
}


/* one endpoint's outcomes and blocked events into part: NGX_DECLINED when
 * it has nothing to settle */

static ngx_int_t
ngx_chatvisor_settle_part(ngx_chatvisor_endpoint_t *ep,
    ngx_chatvisor_settle_part_t *part)
{
    size_t                   n;
    ngx_uint_t               i;
    ngx_chatvisor_wevent_t  *w;

    if (ep->removed || ep->settling
        || (ep->to_settle == 0 && ep->disable == NULL
            && ngx_chatvisor_window_settled_to(ep) <= ep->cursor))
    {
        return NGX_DECLINED;
    }

    part->items = NULL;
    part->slots = NULL;

    /* the items, then their slots, in one allocation */
    if (ep->to_settle) {
        part->items = ngx_alloc(ep->to_settle * (sizeof(cv_settle_item)
                                         + sizeof(ngx_chatvisor_wevent_t *)),
                                ngx_cycle->log);
        if (part->items == NULL) {
            return NGX_DECLINED;
        }

        part->slots = (ngx_chatvisor_wevent_t **) (part->items
                                                    + ep->to_settle);
    }

    n = 0;

    /* in log order: a conversation's failure before the events behind it */
    for (i = 0; i < ep->w_len && n < ep->to_settle; i++) {
        w = ngx_chatvisor_window_at(ep, i);

        if (w->state != NGX_CHATVISOR_W_DONE
            && w->state != NGX_CHATVISOR_W_BLOCKED)
        {
            continue;
        }

        part->items[n].d = w->d;
        part->items[n].r = w->answered ? &w->result : NULL;
        part->slots[n] = w;
        n++;

        w->state = NGX_CHATVISOR_W_SETTLING;
    }

    part->ep = ep;
    ngx_memcpy(part->id, ep->rec.id, sizeof(part->id));
    part->n = n;
    part->cursor = ngx_chatvisor_window_settled_to(ep);
    part->disable = ep->disable;

    ep->to_settle = 0;
    ep->disable = NULL;
    ep->settling = 1;

    return NGX_OK;
}


/* every endpoint's outcomes so far, in one write */

static void
ngx_chatvisor_settle(void)
{
    ngx_uint_t                 n;
    ngx_queue_t               *q;
    ngx_chatvisor_endpoint_t  *ep;

    if (ngx_chatvisor_sender.settling
        || cv_now_ms() < ngx_chatvisor_sender.settle_again)
    {
        return;
    }

    n = 0;

    for (q = ngx_queue_head(&ngx_chatvisor_sender.endpoints);
         q != ngx_queue_sentinel(&ngx_chatvisor_sender.endpoints);
         q = ngx_queue_next(q))
    {
        n++;
    }

    if (n > ngx_chatvisor_sender.nparts_cap) {
        ngx_free(ngx_chatvisor_sender.parts);
        ngx_chatvisor_sender.nparts_cap = 0;

        ngx_chatvisor_sender.parts = ngx_alloc(
                          n * sizeof(ngx_chatvisor_settle_part_t),
                          ngx_cycle->log);
        if (ngx_chatvisor_sender.parts == NULL) {
            return;
        }

        ngx_chatvisor_sender.nparts_cap = n;
    }

    n = 0;

    for (q = ngx_queue_head(&ngx_chatvisor_sender.endpoints);
         q != ngx_queue_sentinel(&ngx_chatvisor_sender.endpoints);
         q = ngx_queue_next(q))
    {
        ep = ngx_queue_data(q, ngx_chatvisor_endpoint_t, queue);

        if (ngx_chatvisor_settle_part(ep, &ngx_chatvisor_sender.parts[n])
            == NGX_OK)
        {
            n++;
        }
    }

    if (n == 0) {
        return;
    }

    ngx_chatvisor_sender.nparts = n;

    if (ngx_chatvisor_cluster_on(ngx_chatvisor_sender.cmcf)) {
        if (ngx_chatvisor_settle_publish() == NGX_OK) {
            ngx_chatvisor_sender.settling = 1;
            return;
        }

        /* no quorum now: as if it had failed, again a little later */
        ngx_chatvisor_sender.settle_again = cv_now_ms()
                                            + NGX_CHATVISOR_SETTLE_AGAIN;
        ngx_chatvisor_settle_finish(CV_ERROR);
        return;
    }

    ngx_chatvisor_sender.settle_op.run = ngx_chatvisor_settle_run;
    ngx_chatvisor_sender.settle_op.done = ngx_chatvisor_settle_done;

    if (ngx_chatvisor_commit(ngx_chatvisor_sender.cmcf,
                             &ngx_chatvisor_sender.settle_op)
        == NGX_OK)
    {
        ngx_chatvisor_sender.settling = 1;
        return;
    }

    /* not queued: as if it had failed */
    ngx_chatvisor_sender.settle_op.status = CV_ERROR;
    ngx_chatvisor_settle_done(&ngx_chatvisor_sender.settle_op);
}


/* what is due of an endpoint (retries and tests), sent */

static int64_t
ngx_chatvisor_endpoint_due(ngx_chatvisor_endpoint_t *ep, cv_txn *t,
    int64_t now)
{
    char                     *json, *own;
    size_t                    i, n, len, k, room;
    int64_t                   next_due;
    uint64_t                  skip[NGX_CHATVISOR_WEBHOOK_CONCURRENCY_MAX];
    cv_status                 st;
    cv_delivery               due[NGX_CHATVISOR_WEBHOOK_CONCURRENCY_MAX];
    ngx_queue_t              *q;
    ngx_chatvisor_attempt_t  *a;

    room = ngx_chatvisor_sender.cmcf->webhooks.concurrency;

    if (ep->client == NULL || ep->disabling
        || ep->in_flight + ep->held >= room)
    {
        return 0;
    }

    room -= ep->in_flight + ep->held;

    /* in flight: still due in the store until their outcome is */
    k = 0;
    for (q = ngx_queue_head(&ep->flying);
         q != ngx_queue_sentinel(&ep->flying);
         q = ngx_queue_next(q))
    {
        a = ngx_queue_data(q, ngx_chatvisor_attempt_t, queue);
        skip[k++] = a->dseq;
    }

    st = cv_webhook_due(t, ep->rec.id, now, skip, k, room, due, &n,
                        &next_due);
    if (st != CV_OK) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (ngx_chatvisor_sender_body(ep, t, &due[i], &json, &len, &own)
            != NGX_OK)
        {
            continue;
        }

        (void) ngx_chatvisor_endpoint_send(ep, &due[i], json, len);
        free(own);
    }

    return next_due;
}


static void
ngx_chatvisor_prune_run_done(ngx_chatvisor_op_t *op)
{
    ngx_chatvisor_op_clear(op);
    ngx_chatvisor_sender.pruning = 0;

    /* a full batch: more are old enough, go on soon */
    if (op->status == CV_OK
        && ngx_chatvisor_sender.pruned == NGX_CHATVISOR_PRUNE_BATCH)
    {
        ngx_chatvisor_sender.prune_at = 0;
        ngx_chatvisor_sender_wake();
    }
}


static cv_status
ngx_chatvisor_prune_run(ngx_chatvisor_op_t *op, cv_txn *t)
{
    return cv_webhook_prune(t, cv_now_ms() - NGX_CHATVISOR_KEEP_FINISHED,
                            NGX_CHATVISOR_PRUNE_BATCH,
                            &ngx_chatvisor_sender.pruned);
}


/* finished deliveries older than NGX_CHATVISOR_KEEP_FINISHED deleted,
 * now and then (in cluster mode by each node from its own store, as the
 * retention purge) */

static void
ngx_chatvisor_sender_prune(int64_t now)
{
    if (ngx_chatvisor_sender.pruning || now < ngx_chatvisor_sender.prune_at)
    {
        return;
    }

    ngx_chatvisor_sender.prune_at = now + NGX_CHATVISOR_PRUNE_EVERY;
    ngx_chatvisor_sender.prune_op.run = ngx_chatvisor_prune_run;
    ngx_chatvisor_sender.prune_op.done = ngx_chatvisor_prune_run_done;

    if (ngx_chatvisor_commit(ngx_chatvisor_sender.cmcf,
                             &ngx_chatvisor_sender.prune_op)
        == NGX_OK)
    {
        ngx_chatvisor_sender.pruning = 1;
    }
}


/* each endpoint's room for first attempts in this pass: its free slots,
 * and while the chat keeps this worker busy its share of the budget; 0
 * when the chat is busy and no endpoint has any */

static ngx_uint_t
ngx_chatvisor_sender_budget(int64_t now)
{
    int64_t                    rate, full;
    ngx_uint_t                 n, cap, used, any, busy;
    ngx_queue_t               *q;
    ngx_chatvisor_endpoint_t  *ep;

    busy = ngx_chatvisor_chat_busy();
    cap = ngx_chatvisor_sender.cmcf->webhooks.concurrency;
    n = 0;

    for (q = ngx_queue_head(&ngx_chatvisor_sender.endpoints);
         q != ngx_queue_sentinel(&ngx_chatvisor_sender.endpoints);
         q = ngx_queue_next(q))
    {
        ep = ngx_queue_data(q, ngx_chatvisor_endpoint_t, queue);
        n += !ep->removed;
    }

    if (n == 0) {
        return 1;
    }

    rate = ngx_max(NGX_CHATVISOR_BUSY_RATE / (int64_t) n,
                   NGX_CHATVISOR_BUSY_MIN_RATE);
    full = (int64_t) NGX_CHATVISOR_BUSY_BURST * NGX_CHATVISOR_MILLI;

    if (busy) {
        cap = ngx_min(cap, ngx_max(1, NGX_CHATVISOR_BUSY_SLOTS / n));
    }

    any = 0;

    for (q = ngx_queue_head(&ngx_chatvisor_sender.endpoints);
         q != ngx_queue_sentinel(&ngx_chatvisor_sender.endpoints);
         q = ngx_queue_next(q))
    {
        ep = ngx_queue_data(q, ngx_chatvisor_endpoint_t, queue);

        if (ep->removed) {
            continue;
        }

        used = ep->in_flight + ep->held;
        ep->room = used < cap ? cap - used : 0;

        if (!busy) {
            ep->budget = full;

        } else {
            /* rate is per second, now in ms: thousandths of an attempt */
            if (now > ep->budget_at) {
                ep->budget += ngx_min(now - ep->budget_at, 1000) * rate;
            }

            ep->budget = ngx_min(ep->budget, full);
            ep->room = ngx_min(ep->room,
                               (ngx_uint_t) ngx_max(ep->budget, 0)
                               / NGX_CHATVISOR_MILLI);
        }

        ep->budget_at = now;
        any |= ep->room > 0;
    }

    return any || !busy;
}


static void
ngx_chatvisor_sender_work(ngx_event_t *ev)
{
    int64_t                    now, next, due;
    ngx_uint_t                 sent;
    cv_txn                    *t;
    ngx_queue_t               *q;
    ngx_chatvisor_endpoint_t  *ep;

    if (!ngx_chatvisor_sender.sending || ngx_exiting || ngx_quit
        || ngx_terminate)
    {
        return;
    }

    if (ngx_chatvisor_sender.reload) {
        ngx_chatvisor_sender_reload(ev->log);
    }

    now = cv_now_ms();
    next = 0;

    if (!ngx_chatvisor_sender_budget(now)) {
        /* every endpoint at its budget: no pass over the store (one per
         * commit's notice would cost the chat more than the sends) */
        ngx_chatvisor_settle();

        if (!ngx_chatvisor_sender.work_event.timer_set) {
            ngx_add_timer(&ngx_chatvisor_sender.work_event,
                          NGX_CHATVISOR_BUSY_TICK);
        }

        return;
    }

    if (cv_txn_begin(ngx_chatvisor_sender.cmcf->store, 0, &t) == CV_OK) {

        for (q = ngx_queue_head(&ngx_chatvisor_sender.endpoints);
             q != ngx_queue_sentinel(&ngx_chatvisor_sender.endpoints);
             q = ngx_queue_next(q))
        {
            ep = ngx_queue_data(q, ngx_chatvisor_endpoint_t, queue);

            if (ep->removed) {
                continue;
            }

            /* retries first: a busy window must not hold them up */
            due = ngx_chatvisor_endpoint_due(ep, t, now);

            if (due && (next == 0 || due < next)) {
                next = due;
            }

            if (ngx_chatvisor_sender.read) {
                ep->read_more = 1;
            }

            ngx_chatvisor_window_read(ep, t);

            sent = ngx_chatvisor_window_send(ep, t, ep->room);
            ep->budget -= (int64_t) sent * NGX_CHATVISOR_MILLI;
        }

        ngx_chatvisor_sender.read = 0;
        cv_txn_abort(t);
    }

    ngx_chatvisor_settle();
    ngx_chatvisor_sender_prune(now);

    /* a settle the cluster did not take goes again then */
    if (ngx_chatvisor_sender.settle_again > now
        && (next == 0 || ngx_chatvisor_sender.settle_again < next))
    {
        next = ngx_chatvisor_sender.settle_again;
    }

    /* look again when the next delivery is due (the answers of what is in
     * flight and the notices of new entries wake it before that) */
    if (ngx_chatvisor_sender.work_event.timer_set) {
        ngx_del_timer(&ngx_chatvisor_sender.work_event);
    }

    if (next) {
        ngx_add_timer(&ngx_chatvisor_sender.work_event,
                      (ngx_msec_t) ngx_max(next - now, 1));
    }
}


/* ----------------------------------------------------- lease, notices */

/* nothing more is sent: what is in flight is sent again by the next
 * sender (this worker, another, or in cluster mode another node) */

static void
ngx_chatvisor_sender_drop(void)
{
    ngx_queue_t               *q, *next;
    ngx_chatvisor_endpoint_t  *ep;

    ngx_chatvisor_sender.sending = 0;

    for (q = ngx_queue_head(&ngx_chatvisor_sender.endpoints);
         q != ngx_queue_sentinel(&ngx_chatvisor_sender.endpoints);
         q = next)
    {
        next = ngx_queue_next(q);
        ep = ngx_queue_data(q, ngx_chatvisor_endpoint_t, queue);

        if (!ep->removed) {
            ngx_chatvisor_endpoint_remove(ep);
        }
    }

    if (ngx_chatvisor_sender.work_event.timer_set) {
        ngx_del_timer(&ngx_chatvisor_sender.work_event);
    }
}


static void
ngx_chatvisor_sender_stop(void)
{
    ngx_chatvisor_sender.owner = 0;
    ngx_chatvisor_sender_drop();
}


/* cluster mode: 1 when the store has an enabled endpoint (a node with
 * none does not ask for the cluster's lease: it would send nothing) */

static ngx_uint_t
ngx_chatvisor_sender_endpoints_any(void)
{
    size_t                n;
    cv_txn               *t;
    cv_status             st;
    cv_webhook_endpoint  *list;

    if (!ngx_queue_empty(&ngx_chatvisor_sender.endpoints)) {
        return 1;
    }

    if (cv_txn_begin(ngx_chatvisor_sender.cmcf->store, 0, &t) != CV_OK) {
        return 0;
    }

    st = cv_webhook_endpoints(t, &list, &n);
    cv_txn_abort(t);

    if (st != CV_OK) {
        return 0;
    }

    free(list);

    return n > 0;
}


/* whether this worker sends: it is the owner, and in cluster mode its
 * node holds the cluster's lease */

static void
ngx_chatvisor_sender_cluster(void)
{
    ngx_uint_t  sending;

    sending = ngx_chatvisor_sender.owner;

    if (ngx_chatvisor_cluster_on(ngx_chatvisor_sender.cmcf)) {
        sending = ngx_chatvisor_cluster_webhooks(sending
                                       && ngx_chatvisor_sender_endpoints_any());
    }

    if (sending && !ngx_chatvisor_sender.sending) {
        /* from the store's cursors and pending deliveries, which the
         * node that sent before left there */
        ngx_chatvisor_sender.sending = 1;
        ngx_chatvisor_sender.reload = 1;
        ngx_chatvisor_sender.read = 1;
        ngx_chatvisor_sender_wake();

    } else if (!sending && ngx_chatvisor_sender.sending) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "chatvisor: this worker stops sending the webhooks");
        ngx_chatvisor_sender_drop();
    }

    if (ngx_chatvisor_sender.owner && !sending) {
        ngx_chatvisor_sender_prune(cv_now_ms());
    }
}


static void
ngx_chatvisor_sender_lease(ngx_event_t *ev)
{
    ngx_uint_t  held;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        /* leaving: what is in flight is sent again by the next owner */
        ngx_chatvisor_sender_stop();
        ngx_chatvisor_lease_release(ngx_chatvisor_sender.cmcf,
                                    NGX_CHATVISOR_LEASE_WEBHOOKS);
        (void) ngx_chatvisor_ipc_hear(NGX_CHATVISOR_HEAR_ALL, 0);

        if (ngx_chatvisor_cluster_on(ngx_chatvisor_sender.cmcf)) {
            (void) ngx_chatvisor_cluster_webhooks(0);
        }

        return;
    }

    held = ngx_chatvisor_lease_hold(ngx_chatvisor_sender.cmcf,
                                    NGX_CHATVISOR_LEASE_WEBHOOKS,
                                    NGX_CHATVISOR_LEASE_TTL);

    /*
     * The sender hears every change, from every worker, while it has
     * endpoints (none: a message wakes one worker less). When it starts
     * to hear, it reads the log once more: a change committed before
     * that did not tell it.
     */
    if (ngx_chatvisor_ipc_hear(NGX_CHATVISOR_HEAR_ALL,
                               held && !ngx_queue_empty(
                                           &ngx_chatvisor_sender.endpoints))
        && ngx_chatvisor_sender.owner)
    {
        ngx_chatvisor_sender.read = 1;
        ngx_chatvisor_sender_wake();
    }

    if (held && !ngx_chatvisor_sender.owner) {
        ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                      "chatvisor: this worker sends the webhooks");
        ngx_chatvisor_sender.owner = 1;
        ngx_chatvisor_sender.reload = 1;
        ngx_chatvisor_sender.read = 1;
        ngx_chatvisor_sender_wake();

    } else if (!held && ngx_chatvisor_sender.owner) {
        /* another worker took over (this one was too late to renew) */
        ngx_chatvisor_sender_stop();
    }

    ngx_chatvisor_sender_cluster();

    ngx_add_timer(ev, NGX_CHATVISOR_LEASE_RENEW);
}


static void
ngx_chatvisor_sender_notice(ngx_chatvisor_notice_t *n)
{
    if (!ngx_chatvisor_sender.sending) {
        return;
    }

    switch (n->kind) {

    case NGX_CHATVISOR_NOTICE_CHANGE:
        ngx_chatvisor_sender.read = 1;
        break;

    case NGX_CHATVISOR_NOTICE_WEBHOOKS:
    case NGX_CHATVISOR_NOTICE_ALL:
        ngx_chatvisor_sender.reload = 1;
        ngx_chatvisor_sender.read = 1;
        break;

    default:
        return;     /* typing */
    }

    ngx_chatvisor_sender_wake();
}


ngx_int_t
ngx_chatvisor_webhooks_init_process(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf)
{
    ngx_event_t  *ev;

    if (cmcf->store == NULL) {
        return NGX_OK;
    }

    ngx_memzero(&ngx_chatvisor_sender, sizeof(ngx_chatvisor_sender));
    ngx_chatvisor_sender.cmcf = cmcf;
    ngx_queue_init(&ngx_chatvisor_sender.endpoints);

    ev = &ngx_chatvisor_sender.work_event;
    ev->handler = ngx_chatvisor_sender_work;
    ev->log = cycle->log;
    ev->data = &ngx_chatvisor_sender;
    ev->cancelable = 1;

    /* the lease's timer never keeps an exiting worker alive */
    ev = &ngx_chatvisor_sender.lease_event;
    ev->handler = ngx_chatvisor_sender_lease;
    ev->log = cycle->log;
    ev->data = &ngx_chatvisor_sender;
    ev->cancelable = 1;

    ngx_add_timer(ev, NGX_CHATVISOR_LEASE_RENEW);

    return ngx_chatvisor_notice_listen(ngx_chatvisor_sender_notice);
}


void
ngx_chatvisor_webhooks_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_chatvisor_sender.cmcf == NULL) {
        return;
    }

    ngx_chatvisor_sender_stop();
    ngx_chatvisor_lease_release(ngx_chatvisor_sender.cmcf,
                                NGX_CHATVISOR_LEASE_WEBHOOKS);
    ngx_chatvisor_bodies_free();
}
