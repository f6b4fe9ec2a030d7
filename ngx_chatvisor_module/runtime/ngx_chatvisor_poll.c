/*
 * Long-polls. A poll that has nothing to return yet waits here, in its
 * worker, until a notice says its data may have changed (then it checks the
 * store again), a typing signal arrives, its timeout passes, or the worker
 * shuts down (reload): then it is answered at once with its cursor, so old
 * workers exit within a fraction of a second and clients reconnect to the
 * new ones. A visitor's poll waits in its customer's bucket, and so does
 * an agent's co-browsing poll of that customer's conversation; the
 * console's polls wait in one list.
 */


#include "ngx_chatvisor_runtime.h"


/* how often a worker looks whether it is shutting down, ms */
#define NGX_CHATVISOR_EXIT_CHECK  100

/* how long a worker keeps hearing the notices of a queue of polls after
 * its last poll went, ms: a client polls again right after an answer, and
 * a queue that empties and fills at every message would otherwise pay two
 * locked writes to the shared bitmap and a second look at the store for
 * each poll (the saturated chat: 2,700 instructions a message more) */
#define NGX_CHATVISOR_HEAR_LINGER  1000


static void ngx_chatvisor_poll_timeout(ngx_event_t *ev);
static void ngx_chatvisor_poll_unlink(ngx_chatvisor_wait_t *w);
static void ngx_chatvisor_poll_cleanup(void *data);
static void ngx_chatvisor_poll_exit_check(ngx_event_t *ev);
static void ngx_chatvisor_poll_idle(ngx_uint_t slot);
static void ngx_chatvisor_poll_unhear(void);


/* visitor polls by customer, agent polls in one list */
static ngx_queue_t  ngx_chatvisor_visitor_polls[NGX_CHATVISOR_BUCKETS];
static ngx_queue_t  ngx_chatvisor_agent_polls;
static ngx_event_t  ngx_chatvisor_exit_event;

/* the queues whose last poll went, still heard until their linger ends:
 * their slots, whether listed, and since when */
static ngx_uint_t   ngx_chatvisor_idle[NGX_CHATVISOR_HEAR_SLOTS];
static ngx_uint_t   ngx_chatvisor_nidle;
static u_char       ngx_chatvisor_idle_listed[NGX_CHATVISOR_HEAR_SLOTS];
static ngx_msec_t   ngx_chatvisor_idle_since[NGX_CHATVISOR_HEAR_SLOTS];


ngx_int_t
ngx_chatvisor_poll_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_CHATVISOR_BUCKETS; i++) {
        ngx_queue_init(&ngx_chatvisor_visitor_polls[i]);
    }

    ngx_queue_init(&ngx_chatvisor_agent_polls);

    /* nginx has no shutdown hook for modules: look every 100 ms; the timer
     * is cancelable, so it never keeps an exiting worker alive itself */
    ngx_memzero(&ngx_chatvisor_exit_event, sizeof(ngx_event_t));
    ngx_chatvisor_exit_event.handler = ngx_chatvisor_poll_exit_check;
    ngx_chatvisor_exit_event.log = cycle->log;
    ngx_chatvisor_exit_event.data = cycle;
    ngx_chatvisor_exit_event.cancelable = 1;

    ngx_add_timer(&ngx_chatvisor_exit_event, NGX_CHATVISOR_EXIT_CHECK);

    return NGX_OK;
}


ngx_uint_t
ngx_chatvisor_poll_bucket(const char *customer_id)
{
    /* ids are random: nginx's plain string hash spreads them well, and
     * costs a tenth of a CRC */
    return ngx_hash_key((u_char *) customer_id, ngx_strlen(customer_id))
           % NGX_CHATVISOR_BUCKETS;
}


static ngx_queue_t *
ngx_chatvisor_bucket(const char *customer_id)
{
    return &ngx_chatvisor_visitor_polls[ngx_chatvisor_poll_bucket(
                                                               customer_id)];
}


/* what the other workers look up for a queue of polls */

static ngx_uint_t
ngx_chatvisor_poll_slot(ngx_queue_t *polls)
{
    if (polls == &ngx_chatvisor_agent_polls) {
        return NGX_CHATVISOR_HEAR_CONSOLE;
    }

    return NGX_CHATVISOR_HEAR_BUCKET + (polls - ngx_chatvisor_visitor_polls);
}


ngx_int_t
ngx_chatvisor_poll_wait(ngx_http_request_t *r, ngx_chatvisor_wait_t *w,
    const char *customer_id, ngx_msec_t timeout,
    ngx_chatvisor_poll_check_pt check)
{
    ngx_int_t            rc;
    ngx_queue_t         *polls;
    ngx_http_cleanup_t  *cln;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return check(r, 1);
    }

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_chatvisor_poll_cleanup;
    cln->data = w;

    w->request = r;
    w->check = check;
    w->customer_id = customer_id;
    w->waiting = 1;
    ngx_chatvisor_metric_polls(1);

    polls = customer_id ? ngx_chatvisor_bucket(customer_id)
                        : &ngx_chatvisor_agent_polls;

    if (ngx_queue_empty(polls)) {
        ngx_queue_insert_tail(polls, &w->queue);

        /* the other workers start waking this one for these polls now: a
         * commit between the check and this may not have (when it still
         * heard them from a poll before, lingering, nothing was missed) */
        if (ngx_chatvisor_ipc_hear(ngx_chatvisor_poll_slot(polls), 1)) {
            rc = check(r, 0);

            if (rc != NGX_AGAIN) {
                w->waiting = 1;
                ngx_chatvisor_poll_unlink(w);
                return rc;
            }
        }

    } else {
        ngx_queue_insert_tail(polls, &w->queue);
    }

    w->timer.handler = ngx_chatvisor_poll_timeout;
    w->timer.data = w;
    w->timer.log = r->connection->log;
    ngx_add_timer(&w->timer, timeout);

    /* notices the client going away while we wait */
    r->read_event_handler = ngx_http_test_reading;

    r->main->count++;

    return NGX_DONE;
}


ngx_int_t
ngx_chatvisor_poll_wait_cobrowse(ngx_http_request_t *r,
    ngx_chatvisor_wait_t *w, const char *customer_id,
    const char *conversation_id, const char *agent_id, ngx_msec_t timeout,
    ngx_chatvisor_poll_check_pt check)
{
    w->cobrowse = 1;
    w->conversation_id = conversation_id;
    w->agent_id = agent_id;

    return ngx_chatvisor_poll_wait(r, w, customer_id, timeout, check);
}


void
ngx_chatvisor_poll_cobrowse_each(ngx_chatvisor_poll_each_pt handler,
    void *data)
{
    ngx_uint_t             i;
    ngx_queue_t           *q, *polls;
    ngx_chatvisor_wait_t  *w;

    if (ngx_chatvisor_agent_polls.next == NULL) {
        return;     /* not a worker that polls */
    }

    for (i = 0; i < NGX_CHATVISOR_BUCKETS; i++) {
        polls = &ngx_chatvisor_visitor_polls[i];

        for (q = ngx_queue_head(polls);
             q != ngx_queue_sentinel(polls);
             q = ngx_queue_next(q))
        {
            w = ngx_queue_data(q, ngx_chatvisor_wait_t, queue);

            if (w->cobrowse) {
                handler(w, data);
            }
        }
    }
}


ngx_chatvisor_notice_t *
ngx_chatvisor_poll_typing(ngx_chatvisor_wait_t *w)
{
    if (!w->has_typing) {
        return NULL;
    }

    w->has_typing = 0;

    return &w->typing;
}


static void
ngx_chatvisor_poll_unlink(ngx_chatvisor_wait_t *w)
{
    ngx_queue_t  *q;

    if (!w->waiting) {
        return;
    }

    w->waiting = 0;
    ngx_chatvisor_metric_polls(-1);
    q = ngx_queue_next(&w->queue);
    ngx_queue_remove(&w->queue);

    /* the last poll of its queue: no more notices for it, after a while */
    if (ngx_queue_empty(q)) {
        ngx_chatvisor_poll_idle(ngx_chatvisor_poll_slot(q));
    }

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }
}


static void
ngx_chatvisor_poll_cleanup(void *data)
{
    ngx_chatvisor_poll_unlink(data);
}


static void
ngx_chatvisor_poll_answer(ngx_chatvisor_wait_t *w, ngx_uint_t final)
{
    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = w->request;

    rc = w->check(r, final);

    if (rc == NGX_AGAIN && !final) {
        return;
    }

    ngx_chatvisor_poll_unlink(w);
    ngx_http_finalize_request(r, rc == NGX_AGAIN ? NGX_ERROR : rc);
}


static void
ngx_chatvisor_poll_timeout(ngx_event_t *ev)
{
    ngx_chatvisor_poll_answer(ev->data, 1);
}


/* whether a poll waits for the notice: a chat poll for every one about
 * its customer but new co-browsing events; a co-browsing poll for the
 * co-browsing ones of its conversation */

static ngx_uint_t
ngx_chatvisor_poll_hears(ngx_chatvisor_wait_t *w, ngx_chatvisor_notice_t *n)
{
    if (!w->cobrowse) {
        return n->kind != NGX_CHATVISOR_NOTICE_COBROWSE_DATA;
    }

    return (n->kind == NGX_CHATVISOR_NOTICE_COBROWSE
            || n->kind == NGX_CHATVISOR_NOTICE_COBROWSE_DATA)
           && ngx_strcmp(w->conversation_id, n->conversation_id) == 0;
}


static void
ngx_chatvisor_poll_wake(ngx_queue_t *polls, ngx_chatvisor_notice_t *n,
    ngx_uint_t final)
{
    ngx_queue_t           *q, *next;
    ngx_chatvisor_wait_t  *w;

    for (q = ngx_queue_head(polls);
         q != ngx_queue_sentinel(polls);
         q = next)
    {
        next = ngx_queue_next(q);
        w = ngx_queue_data(q, ngx_chatvisor_wait_t, queue);

        /* a bucket holds other customers' polls too */
        if (n && w->customer_id
            && (ngx_strcmp(w->customer_id, n->customer_id) != 0
                || !ngx_chatvisor_poll_hears(w, n)))
        {
            continue;
        }

        if (n && n->kind == NGX_CHATVISOR_NOTICE_TYPING) {
            w->typing = *n;
            w->has_typing = 1;
        }

        ngx_chatvisor_poll_answer(w, final);
    }
}


void
ngx_chatvisor_poll_notice(ngx_chatvisor_notice_t *n)
{
    ngx_uint_t  i;

    if (ngx_chatvisor_agent_polls.next == NULL) {
        return;     /* not a worker that polls */
    }

    switch (n->kind) {

    case NGX_CHATVISOR_NOTICE_CHANGE:
        ngx_chatvisor_poll_wake(ngx_chatvisor_bucket(n->customer_id), n, 0);
        ngx_chatvisor_poll_wake(&ngx_chatvisor_agent_polls, n, 0);
        break;

    case NGX_CHATVISOR_NOTICE_TYPING:
        if (n->agent) {
            ngx_chatvisor_poll_wake(ngx_chatvisor_bucket(n->customer_id), n,
                                    0);
        } else {
            ngx_chatvisor_poll_wake(&ngx_chatvisor_agent_polls, n, 0);
        }
        break;

    case NGX_CHATVISOR_NOTICE_COBROWSE:
    case NGX_CHATVISOR_NOTICE_COBROWSE_DATA:
        ngx_chatvisor_poll_wake(ngx_chatvisor_bucket(n->customer_id), n, 0);
        break;

    case NGX_CHATVISOR_NOTICE_ALL:
        for (i = 0; i < NGX_CHATVISOR_BUCKETS; i++) {
            ngx_chatvisor_poll_wake(&ngx_chatvisor_visitor_polls[i], NULL, 0);
        }
        ngx_chatvisor_poll_wake(&ngx_chatvisor_agent_polls, NULL, 0);
        break;

    default:
        break;   /* not a poll's business */
    }
}


/* a queue of polls went empty: it stops hearing its notices once it has
 * stayed empty for NGX_CHATVISOR_HEAR_LINGER */

static void
ngx_chatvisor_poll_idle(ngx_uint_t slot)
{
    ngx_chatvisor_idle_since[slot] = ngx_current_msec;

    if (!ngx_chatvisor_idle_listed[slot]) {
        ngx_chatvisor_idle_listed[slot] = 1;
        ngx_chatvisor_idle[ngx_chatvisor_nidle++] = slot;
    }
}


/* the queues still empty after their linger stop hearing; those that
 * have polls again are dropped from the list */

static void
ngx_chatvisor_poll_unhear(void)
{
    ngx_uint_t    i, k, slot;
    ngx_queue_t  *polls;

    for (i = 0, k = 0; i < ngx_chatvisor_nidle; i++) {
        slot = ngx_chatvisor_idle[i];
        polls = (slot == NGX_CHATVISOR_HEAR_CONSOLE)
                ? &ngx_chatvisor_agent_polls
                : &ngx_chatvisor_visitor_polls[slot
                                               - NGX_CHATVISOR_HEAR_BUCKET];

        if (!ngx_queue_empty(polls)) {
            ngx_chatvisor_idle_listed[slot] = 0;
            continue;
        }

        if (ngx_current_msec - ngx_chatvisor_idle_since[slot]
            >= NGX_CHATVISOR_HEAR_LINGER)
        {
            ngx_chatvisor_idle_listed[slot] = 0;
            (void) ngx_chatvisor_ipc_hear(slot, 0);
            continue;
        }

        ngx_chatvisor_idle[k++] = slot;
    }

    ngx_chatvisor_nidle = k;
}


static void
ngx_chatvisor_poll_exit_check(ngx_event_t *ev)
{
    ngx_uint_t  i;

    ngx_chatvisor_poll_unhear();

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        for (i = 0; i < NGX_CHATVISOR_BUCKETS; i++) {
            ngx_chatvisor_poll_wake(&ngx_chatvisor_visitor_polls[i], NULL, 1);
        }

        ngx_chatvisor_poll_wake(&ngx_chatvisor_agent_polls, NULL, 1);
        return;
    }

    ngx_add_timer(ev, NGX_CHATVISOR_EXIT_CHECK);
}
