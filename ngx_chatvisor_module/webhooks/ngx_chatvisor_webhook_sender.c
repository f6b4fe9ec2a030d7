/*
 * The webhook sender. One worker at a time sends (it holds the webhooks
 * lease, renewed every NGX_CHATVISOR_LEASE_RENEW ms; when that worker dies
 * or hangs another takes over within a second, and one that exits gives
 * the lease up at once). The owner turns new log entries into deliveries
 * (the endpoint's cursor moves in the same transaction), sends what is due
 * on its event loop, at most chatvisor_webhook_concurrency per endpoint and
 * one per conversation, and records each outcome. Its writes go through
 * the same group commit as the chat's, so they never wait for the disk in
 * the event loop. It wakes on the notices that follow every commit.
 *
 * At least once: a delivery is recorded as done only after the receiver's
 * 2xx; whatever was in flight when a worker died is due again for the next
 * owner, with the same webhook-id.
 */


#include "ngx_chatvisor_webhooks.h"
#include "ngx_chatvisor_webhook_client.h"
#include "cv_time.h"
#include "cv_webhooks.h"


#define NGX_CHATVISOR_LEASE_TTL         1000      /* ms */
#define NGX_CHATVISOR_LEASE_RENEW       250       /* ms */
#define NGX_CHATVISOR_SCAN_BATCH        256       /* log entries a scan reads */
#define NGX_CHATVISOR_FAILING_MAX       (5LL * 86400000)  /* then disabled */
#define NGX_CHATVISOR_KEEP_FINISHED     (7LL * 86400000)  /* then pruned */
#define NGX_CHATVISOR_PRUNE_EVERY       60000     /* ms */
#define NGX_CHATVISOR_PRUNE_BATCH       500
#define NGX_CHATVISOR_JITTER            10        /* +-% of a retry delay */
#define NGX_CHATVISOR_KEEPALIVE         60000     /* ms an idle connection */
#define NGX_CHATVISOR_IDLE_MAX          16        /* idle connections kept */

/* webhook-id, -timestamp and two signatures (during a rotation) */
#define NGX_CHATVISOR_WEBHOOK_HEADERS_MAX  512

#define NGX_CHATVISOR_HTTP_GONE         410


typedef struct ngx_chatvisor_endpoint_s  ngx_chatvisor_endpoint_t;


/* one attempt of a delivery, from its send to its recorded outcome */
typedef struct {
    ngx_queue_t                        queue;     /* in its endpoint's */
    ngx_chatvisor_endpoint_t          *ep;
    uint64_t                           dseq;
    unsigned                           attempts;  /* before this one */
    int64_t                            started_ms;
    ngx_chatvisor_client_request_t    *request;   /* NULL once answered */
    ngx_chatvisor_op_t                 op;        /* recording the outcome */
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
    u_char                             key[CV_WEBHOOK_SECRET_MAX_BYTES];
    size_t                             key_len;
    u_char                             prev_key[CV_WEBHOOK_SECRET_MAX_BYTES];
    size_t                             prev_key_len;
    ngx_chatvisor_op_t                 scan_op;
    size_t                             scan_made;
    int                                scan_more;
    int64_t                            next_due_ms;
    unsigned                           scanning:1;
    unsigned                           scan_again:1;
    unsigned                           seen:1;    /* in the last reload */
    unsigned                           removed:1; /* freed once idle */
};


static struct {
    ngx_chatvisor_main_conf_t         *cmcf;
    ngx_queue_t                        endpoints;
    ngx_event_t                        lease_event;
    ngx_event_t                        work_event;
    ngx_chatvisor_op_t                 prune_op;
    size_t                             pruned;
    int64_t                            prune_at;
    unsigned                           owner:1;
    unsigned                           reload:1;
    unsigned                           scan:1;
    unsigned                           pruning:1;
} ngx_chatvisor_sender;


static void ngx_chatvisor_sender_work(ngx_event_t *ev);
static void ngx_chatvisor_sender_answered(ngx_chatvisor_client_result_t *res,
    void *data);


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
ngx_chatvisor_endpoint_free_if_idle(ngx_chatvisor_endpoint_t *ep)
{
    if (ep->removed && ep->in_flight == 0 && !ep->scanning) {
        ngx_queue_remove(&ep->queue);
        ngx_free(ep);
    }
}


static ngx_int_t
ngx_chatvisor_endpoint_set(ngx_chatvisor_endpoint_t *ep,
    cv_webhook_endpoint *rec, ngx_log_t *log)
{
    ngx_str_t                       url, err;
    ngx_chatvisor_webhooks_conf_t  *wc;
    static ngx_chatvisor_client_conf_t  conf;

    wc = &ngx_chatvisor_sender.cmcf->webhooks;

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

    if (cv_webhook_secret_key(rec->secret, ep->key, &ep->key_len) != CV_OK) {
        return NGX_ERROR;
    }

    ep->prev_key_len = 0;

    if (rec->previous_secret[0]
        && cv_webhook_secret_key(rec->previous_secret, ep->prev_key,
                                 &ep->prev_key_len)
           != CV_OK)
    {
        ep->prev_key_len = 0;
    }

    return NGX_OK;
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

            ngx_queue_init(&ep->flying);
            ngx_queue_insert_tail(&ngx_chatvisor_sender.endpoints,
                                  &ep->queue);
            ep->scan_again = 1;

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


/* --------------------------------------------------------------- scans */

static cv_status
ngx_chatvisor_scan_run(ngx_chatvisor_op_t *op, cv_txn *t)
{
    ngx_chatvisor_endpoint_t  *ep = op->data;

    return cv_webhook_scan(t, ep->rec.id, NGX_CHATVISOR_SCAN_BATCH,
                           cv_now_ms(), &ep->scan_made, &ep->scan_more);
}


static void
ngx_chatvisor_scan_done(ngx_chatvisor_op_t *op)
{
    ngx_chatvisor_endpoint_t  *ep = op->data;

    ngx_chatvisor_op_clear(op);
    ep->scanning = 0;

    if (op->status == CV_NOT_FOUND) {
        /* deleted meanwhile: the notice of that rereads the endpoints */
        ngx_chatvisor_sender.reload = 1;

    } else if (op->status != CV_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "chatvisor: webhook %s: reading the log failed (%s)",
                      ep->rec.id, cv_status_text(op->status));

    } else if (ep->scan_more) {
        ep->scan_again = 1;
    }

    if (ep->removed) {
        ngx_chatvisor_endpoint_free_if_idle(ep);
        return;
    }

    ngx_chatvisor_sender_wake();
}


static void
ngx_chatvisor_endpoint_scan(ngx_chatvisor_endpoint_t *ep)
{
    if (ep->scanning) {
        ep->scan_again = 1;
        return;
    }

    ep->scan_again = 0;
    ep->scan_op.run = ngx_chatvisor_scan_run;
    ep->scan_op.done = ngx_chatvisor_scan_done;
    ep->scan_op.data = ep;

    if (ngx_chatvisor_commit(ngx_chatvisor_sender.cmcf, &ep->scan_op)
        == NGX_OK)
    {
        ep->scanning = 1;
    }
}


/* ------------------------------------------------------------ attempts */

/* "v1,BASE64(HMAC-SHA256(key, id.timestamp.body))" into p */

static u_char *
ngx_chatvisor_sender_sign(u_char *p, u_char *key, size_t key_len,
    ngx_str_t *id, time_t ts, ngx_str_t *body)
{
    u_char      mac[CV_SHA256_LEN], *msg, *m;
    size_t      len;
    ngx_str_t   src, dst;

    len = id->len + 1 + NGX_TIME_T_LEN + 1 + body->len;

    msg = ngx_alloc(len, ngx_cycle->log);
    if (msg == NULL) {
        return NULL;
    }

    m = ngx_sprintf(msg, "%V.%T.", id, ts);
    m = ngx_cpymem(m, body->data, body->len);

    if (cv_hmac_sha256(key, key_len, msg, m - msg, mac) != CV_OK) {
        ngx_free(msg);
        return NULL;
    }

    ngx_free(msg);

    src.data = mac;
    src.len = sizeof(mac);
    dst.data = ngx_cpymem(p, "v1,", 3);

    ngx_encode_base64(&dst, &src);

    return dst.data + dst.len;
}


static void
ngx_chatvisor_endpoint_send(ngx_chatvisor_endpoint_t *ep, cv_delivery *d,
    char *json, size_t len)
{
    u_char                   *p, *headers;
    time_t                    ts;
    ngx_str_t                 id, body, hs;
    ngx_chatvisor_attempt_t  *a;

    a = ngx_calloc(sizeof(ngx_chatvisor_attempt_t), ngx_cycle->log);
    headers = ngx_alloc(NGX_CHATVISOR_WEBHOOK_HEADERS_MAX, ngx_cycle->log);

    if (a == NULL || headers == NULL) {
        ngx_free(a);
        ngx_free(headers);
        return;
    }

    ts = ngx_time();
    id.data = (u_char *) d->event_id;
    id.len = ngx_strlen(d->event_id);
    body.data = (u_char *) json;
    body.len = len;

    p = ngx_sprintf(headers, "webhook-id: %V\r\nwebhook-timestamp: %T\r\n"
                    "webhook-signature: ", &id, ts);

    p = ngx_chatvisor_sender_sign(p, ep->key, ep->key_len, &id, ts, &body);

    /* while a rotated secret overlaps, both sign */
    if (p && ep->prev_key_len && ep->rec.previous_until_ms > cv_now_ms()) {
        *p++ = ' ';
        p = ngx_chatvisor_sender_sign(p, ep->prev_key, ep->prev_key_len, &id,
                                      ts, &body);
    }

    if (p == NULL) {
        ngx_free(a);
        ngx_free(headers);
        return;
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
    ngx_free(headers);

    if (a->request == NULL) {
        ngx_free(a);
        return;
    }

    ngx_queue_insert_tail(&ep->flying, &a->queue);
    ep->in_flight++;
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
ngx_chatvisor_attempt_done(ngx_chatvisor_op_t *op)
{
    ngx_chatvisor_attempt_t   *a = op->data;
    ngx_chatvisor_endpoint_t  *ep;

    ngx_chatvisor_op_clear(op);

    ep = a->ep;

    if (op->status != CV_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "chatvisor: webhook %s: recording a delivery failed "
                      "(%s); it is sent again", ep->rec.id,
                      cv_status_text(op->status));
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

    a->op.run = ngx_chatvisor_attempt_run;
    a->op.done = ngx_chatvisor_attempt_done;
    a->op.data = a;

    if (ngx_chatvisor_commit(ngx_chatvisor_sender.cmcf, &a->op) != NGX_OK) {
        ngx_queue_remove(&a->queue);
        ep->in_flight--;
        ngx_free(a);
    }
}


/* what is due of an endpoint, sent */

static int64_t
ngx_chatvisor_endpoint_due(ngx_chatvisor_endpoint_t *ep, cv_txn *t,
    int64_t now)
{
    char                     *json;
    size_t                    i, n, len, k, room;
    int64_t                   next_due;
    uint64_t                  skip[NGX_CHATVISOR_WEBHOOK_CONCURRENCY_MAX];
    cv_status                 st;
    cv_delivery               due[NGX_CHATVISOR_WEBHOOK_CONCURRENCY_MAX];
    ngx_queue_t              *q;
    ngx_chatvisor_attempt_t  *a;

    room = ngx_chatvisor_sender.cmcf->webhooks.concurrency;

    if (ep->client == NULL || ep->in_flight >= room) {
        return 0;
    }

    room -= ep->in_flight;

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
        if (cv_webhook_payload(t, ep->rec.id, &due[i], &json, &len) != CV_OK)
        {
            continue;
        }

        ngx_chatvisor_endpoint_send(ep, &due[i], json, len);
        free(json);
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


static void
ngx_chatvisor_sender_work(ngx_event_t *ev)
{
    int64_t                    now, next, due;
    cv_txn                    *t;
    ngx_queue_t               *q;
    ngx_chatvisor_endpoint_t  *ep;

    if (!ngx_chatvisor_sender.owner || ngx_exiting || ngx_quit
        || ngx_terminate)
    {
        return;
    }

    if (ngx_chatvisor_sender.reload) {
        ngx_chatvisor_sender_reload(ev->log);
    }

    now = cv_now_ms();
    next = 0;

    for (q = ngx_queue_head(&ngx_chatvisor_sender.endpoints);
         q != ngx_queue_sentinel(&ngx_chatvisor_sender.endpoints);
         q = ngx_queue_next(q))
    {
        ep = ngx_queue_data(q, ngx_chatvisor_endpoint_t, queue);

        if (!ep->removed && (ep->scan_again || ngx_chatvisor_sender.scan)) {
            ngx_chatvisor_endpoint_scan(ep);
        }
    }

    ngx_chatvisor_sender.scan = 0;

    if (cv_txn_begin(ngx_chatvisor_sender.cmcf->store, 0, &t) == CV_OK) {

        for (q = ngx_queue_head(&ngx_chatvisor_sender.endpoints);
             q != ngx_queue_sentinel(&ngx_chatvisor_sender.endpoints);
             q = ngx_queue_next(q))
        {
            ep = ngx_queue_data(q, ngx_chatvisor_endpoint_t, queue);

            if (ep->removed) {
                continue;
            }

            due = ngx_chatvisor_endpoint_due(ep, t, now);

            if (due && (next == 0 || due < next)) {
                next = due;
            }
        }

        cv_txn_abort(t);
    }

    if (!ngx_chatvisor_sender.pruning && now >= ngx_chatvisor_sender.prune_at)
    {
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

static void
ngx_chatvisor_sender_stop(void)
{
    ngx_queue_t               *q, *next;
    ngx_chatvisor_endpoint_t  *ep;

    ngx_chatvisor_sender.owner = 0;

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
ngx_chatvisor_sender_lease(ngx_event_t *ev)
{
    ngx_uint_t  held;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        /* leaving: what is in flight is sent again by the next owner */
        ngx_chatvisor_sender_stop();
        ngx_chatvisor_lease_release(ngx_chatvisor_sender.cmcf,
                                    NGX_CHATVISOR_LEASE_WEBHOOKS);
        return;
    }

    held = ngx_chatvisor_lease_hold(ngx_chatvisor_sender.cmcf,
                                    NGX_CHATVISOR_LEASE_WEBHOOKS,
                                    NGX_CHATVISOR_LEASE_TTL);

    if (held && !ngx_chatvisor_sender.owner) {
        ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                      "chatvisor: this worker sends the webhooks");
        ngx_chatvisor_sender.owner = 1;
        ngx_chatvisor_sender.reload = 1;
        ngx_chatvisor_sender.scan = 1;
        ngx_chatvisor_sender_wake();

    } else if (!held && ngx_chatvisor_sender.owner) {
        /* another worker took over (this one was too late to renew) */
        ngx_chatvisor_sender_stop();
    }

    ngx_add_timer(ev, NGX_CHATVISOR_LEASE_RENEW);
}


static void
ngx_chatvisor_sender_notice(ngx_chatvisor_notice_t *n)
{
    if (!ngx_chatvisor_sender.owner) {
        return;
    }

    switch (n->kind) {

    case NGX_CHATVISOR_NOTICE_CHANGE:
        ngx_chatvisor_sender.scan = 1;
        break;

    case NGX_CHATVISOR_NOTICE_WEBHOOKS:
    case NGX_CHATVISOR_NOTICE_ALL:
        ngx_chatvisor_sender.reload = 1;
        ngx_chatvisor_sender.scan = 1;
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
}
