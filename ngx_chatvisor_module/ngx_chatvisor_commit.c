/*
 * Group commit: the writes that arrive in one turn of a worker's event loop
 * share one LMDB transaction, so one fsync acknowledges them all and a busy
 * worker is not stalled once per message. Nothing is answered before its
 * commit is durable.
 */


#include "ngx_chatvisor.h"


static void ngx_chatvisor_commit_flush(ngx_event_t *ev);


static ngx_queue_t   ngx_chatvisor_ops;
static ngx_event_t   ngx_chatvisor_flush_event;
static ngx_uint_t    ngx_chatvisor_commit_ready;


static void
ngx_chatvisor_commit_setup(void)
{
    ngx_queue_init(&ngx_chatvisor_ops);

    ngx_memzero(&ngx_chatvisor_flush_event, sizeof(ngx_event_t));
    ngx_chatvisor_flush_event.handler = ngx_chatvisor_commit_flush;
    ngx_chatvisor_flush_event.log = ngx_cycle->log;
    ngx_chatvisor_flush_event.data = &ngx_chatvisor_ops;

    ngx_chatvisor_commit_ready = 1;
}


/*
 * Queues the request's write: run() executes inside the shared transaction
 * (and may run twice, so it starts from scratch) and leaves its answer in
 * ctx->result; done() answers after the commit, taking ctx->result (set it
 * to NULL) if it sends it. Returns NGX_DONE: the request is finalized with
 * what done() returns.
 */

ngx_int_t
ngx_chatvisor_commit(ngx_http_request_t *r, ngx_chatvisor_op_run_pt run,
    ngx_chatvisor_op_done_pt done)
{
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (cmcf->store == NULL) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "unavailable",
                                        "the chat store is not available");
    }

    if (!ngx_chatvisor_commit_ready) {
        ngx_chatvisor_commit_setup();
    }

    ctx = ngx_chatvisor_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->op_run = run;
    ctx->op_done = done;

    ngx_queue_insert_tail(&ngx_chatvisor_ops, &ctx->op_queue);

    if (!ngx_chatvisor_flush_event.posted) {
        ngx_post_event(&ngx_chatvisor_flush_event, &ngx_posted_events);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_chatvisor_op_reset(ngx_chatvisor_ctx_t *ctx)
{
    cJSON_Delete(ctx->result);
    ctx->result = NULL;
    ctx->notify = 0;
}


static void
ngx_chatvisor_commit_flush(ngx_event_t *ev)
{
    cv_txn                     *t;
    cv_status                   st;
    ngx_int_t                   rc;
    ngx_uint_t                  notify;
    ngx_queue_t                 batch, *q;
    ngx_chatvisor_notice_t      notice;
    ngx_http_request_t         *r;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    if (ngx_queue_empty(&ngx_chatvisor_ops)) {
        return;
    }

    /* this batch; writes that arrive while it runs form the next one */
    batch = ngx_chatvisor_ops;
    batch.next->prev = &batch;
    batch.prev->next = &batch;
    ngx_queue_init(&ngx_chatvisor_ops);

    cmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_chatvisor_module);

    st = cv_txn_begin(cmcf->store, 1, &t);

    if (st == CV_OK) {
        for (q = ngx_queue_head(&batch);
             q != ngx_queue_sentinel(&batch);
             q = ngx_queue_next(q))
        {
            ctx = ngx_queue_data(q, ngx_chatvisor_ctx_t, op_queue);
            r = ctx->request;

            ngx_chatvisor_op_reset(ctx);
            ctx->result_status = ctx->op_run(r, t);

            if (ctx->result_status == CV_FULL
                || ctx->result_status == CV_ERROR)
            {
                /* the transaction is unusable now */
                st = ctx->result_status;
                break;
            }
        }

        if (st == CV_OK) {
            st = cv_txn_commit(t);

        } else {
            cv_txn_abort(t);
        }
    }

    if (st != CV_OK) {
        /*
         * One write failed the batch: retry each alone, so that only the
         * failing one fails (e.g. the one that does not fit any more).
         */

        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "chatvisor: group commit failed (%d), "
                      "committing one by one", (int) st);

        for (q = ngx_queue_head(&batch);
             q != ngx_queue_sentinel(&batch);
             q = ngx_queue_next(q))
        {
            ctx = ngx_queue_data(q, ngx_chatvisor_ctx_t, op_queue);
            r = ctx->request;

            ngx_chatvisor_op_reset(ctx);

            st = cv_txn_begin(cmcf->store, 1, &t);
            if (st != CV_OK) {
                ctx->result_status = st;
                continue;
            }

            ctx->result_status = ctx->op_run(r, t);

            if (ctx->result_status == CV_OK) {
                ctx->result_status = cv_txn_commit(t);

            } else {
                cv_txn_abort(t);
            }

            if (ctx->result_status == CV_FULL
                || ctx->result_status == CV_ERROR)
            {
                ngx_chatvisor_op_reset(ctx);
            }
        }
    }

    /* durable now: answer, then wake the polls that wait for it */

    while (!ngx_queue_empty(&batch)) {
        q = ngx_queue_head(&batch);
        ngx_queue_remove(q);

        ctx = ngx_queue_data(q, ngx_chatvisor_ctx_t, op_queue);
        r = ctx->request;

        notify = ctx->notify;
        notice = ctx->notice;

        rc = ctx->op_done(r, ctx->result_status);
        ngx_chatvisor_op_reset(ctx);

        /* the request (and ctx with it) may be gone after this */
        ngx_http_finalize_request(r, rc);

        if (notify) {
            ngx_chatvisor_notify(&notice);
        }
    }
}
