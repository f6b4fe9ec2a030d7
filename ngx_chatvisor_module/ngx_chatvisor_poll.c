/*
 * Long-polls. A poll that has nothing to return yet waits here, in its
 * worker, until a notice says its data may have changed (then it checks the
 * store again), a typing signal arrives, its timeout passes, or the worker
 * shuts down (reload): then it is answered at once with its cursor, so old
 * workers exit within a fraction of a second and clients reconnect to the
 * new ones.
 */


#include "ngx_chatvisor.h"


#define NGX_CHATVISOR_BUCKETS  1024


static void ngx_chatvisor_poll_timeout(ngx_event_t *ev);
static void ngx_chatvisor_poll_cleanup(void *data);
static void ngx_chatvisor_poll_exit_check(ngx_event_t *ev);


/* visitor polls by customer, agent polls in one list */
static ngx_queue_t  ngx_chatvisor_visitor_polls[NGX_CHATVISOR_BUCKETS];
static ngx_queue_t  ngx_chatvisor_agent_polls;
static ngx_event_t  ngx_chatvisor_exit_event;


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

    ngx_add_timer(&ngx_chatvisor_exit_event, 100);

    return NGX_OK;
}


static ngx_queue_t *
ngx_chatvisor_bucket(const char *customer_id)
{
    /* ids are random: nginx's plain string hash spreads them well, and
     * costs a tenth of a CRC */
    return &ngx_chatvisor_visitor_polls[
               ngx_hash_key((u_char *) customer_id, ngx_strlen(customer_id))
               % NGX_CHATVISOR_BUCKETS];
}


/*
 * check(r, 0) answers the request if it has something to say and returns
 * the rc to finalize with, or NGX_AGAIN to go on waiting; check(r, 1) must
 * answer.
 */

ngx_int_t
ngx_chatvisor_poll_wait(ngx_http_request_t *r,
    ngx_chatvisor_poll_check_pt check)
{
    ngx_msec_t                 timeout;
    ngx_chatvisor_ctx_t       *ctx;
    ngx_http_cleanup_t        *cln;
    ngx_chatvisor_loc_conf_t  *clcf;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return check(r, 1);
    }

    ctx = ngx_chatvisor_get_ctx(r);
    cln = ngx_http_cleanup_add(r, 0);

    if (ctx == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_chatvisor_poll_cleanup;
    cln->data = ctx;

    clcf = ngx_http_get_module_loc_conf(r, ngx_chatvisor_module);
    timeout = clcf->poll_timeout;

    ctx->poll_check = check;
    ctx->waiting = 1;

    ngx_queue_insert_tail(ctx->agent_poll
                          ? &ngx_chatvisor_agent_polls
                          : ngx_chatvisor_bucket(ctx->customer_id),
                          &ctx->wait_queue);

    ctx->wait_timer.handler = ngx_chatvisor_poll_timeout;
    ctx->wait_timer.data = ctx;
    ctx->wait_timer.log = r->connection->log;
    ngx_add_timer(&ctx->wait_timer, timeout);

    /* notices the client going away while we wait */
    r->read_event_handler = ngx_http_test_reading;

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_chatvisor_poll_unlink(ngx_chatvisor_ctx_t *ctx)
{
    if (!ctx->waiting) {
        return;
    }

    ctx->waiting = 0;
    ngx_queue_remove(&ctx->wait_queue);

    if (ctx->wait_timer.timer_set) {
        ngx_del_timer(&ctx->wait_timer);
    }
}


static void
ngx_chatvisor_poll_cleanup(void *data)
{
    ngx_chatvisor_poll_unlink(data);
}


static void
ngx_chatvisor_poll_answer(ngx_chatvisor_ctx_t *ctx, ngx_uint_t final)
{
    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = ctx->request;

    rc = ctx->poll_check(r, final);

    if (rc == NGX_AGAIN && !final) {
        return;
    }

    ngx_chatvisor_poll_unlink(ctx);
    ngx_http_finalize_request(r, rc == NGX_AGAIN ? NGX_ERROR : rc);
}


static void
ngx_chatvisor_poll_timeout(ngx_event_t *ev)
{
    ngx_chatvisor_poll_answer(ev->data, 1);
}


static void
ngx_chatvisor_poll_wake(ngx_queue_t *polls, ngx_chatvisor_notice_t *n,
    ngx_uint_t final)
{
    ngx_queue_t          *q, *next;
    ngx_chatvisor_ctx_t  *ctx;

    for (q = ngx_queue_head(polls);
         q != ngx_queue_sentinel(polls);
         q = next)
    {
        next = ngx_queue_next(q);
        ctx = ngx_queue_data(q, ngx_chatvisor_ctx_t, wait_queue);

        if (n && !ctx->agent_poll
            && ngx_strcmp(ctx->customer_id, n->customer_id) != 0)
        {
            continue;
        }

        if (n && n->kind == NGX_CHATVISOR_NOTICE_TYPING) {
            ctx->typing = *n;
            ctx->has_typing = 1;
        }

        ngx_chatvisor_poll_answer(ctx, final);
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

    default:
        for (i = 0; i < NGX_CHATVISOR_BUCKETS; i++) {
            ngx_chatvisor_poll_wake(&ngx_chatvisor_visitor_polls[i], NULL, 0);
        }
        ngx_chatvisor_poll_wake(&ngx_chatvisor_agent_polls, NULL, 0);
    }
}


static void
ngx_chatvisor_poll_exit_check(ngx_event_t *ev)
{
    ngx_uint_t  i;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        for (i = 0; i < NGX_CHATVISOR_BUCKETS; i++) {
            ngx_chatvisor_poll_wake(&ngx_chatvisor_visitor_polls[i], NULL, 1);
        }

        ngx_chatvisor_poll_wake(&ngx_chatvisor_agent_polls, NULL, 1);
        return;
    }

    ngx_add_timer(ev, 100);
}
