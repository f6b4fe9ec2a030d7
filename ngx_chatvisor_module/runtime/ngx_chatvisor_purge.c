/*
 * The background purge: closed conversations past chatvisor_retention,
 * and expired sessions, login tokens and API tokens (always). One worker
 * at a time purges (it holds the purge lease). Each step is one write
 * through the group commit, so it never races a writer and waits for the
 * disk in the thread pool like the chat's writes; a step does a bounded
 * amount of work (CV_PURGE_BUDGET keys, CV_PURGE_STEP_MS), and while work
 * is left the next one follows after a pause in which the other writes
 * go first.
 */


#include "ngx_chatvisor_runtime.h"
#include "cv_expiry.h"
#include "cv_time.h"


#define NGX_CHATVISOR_PURGE_LEASE_TTL  5000    /* ms */
#define NGX_CHATVISOR_PURGE_EVERY      1000    /* ms between idle steps */
#define NGX_CHATVISOR_PURGE_PAUSE      10      /* ms between busy steps */
#define NGX_CHATVISOR_PURGE_SIDE       64      /* backfill and sweep, per
                                                  step */

#define NGX_CHATVISOR_PURGE_FAIL_LOG   60      /* s between warnings */

#define NGX_CHATVISOR_US_PER_MS        1000


static struct {
    ngx_chatvisor_main_conf_t  *cmcf;
    ngx_event_t                 timer;
    ngx_chatvisor_op_t          op;
    cv_sweep_pos                sweep;
    cv_purge_stats              done;       /* the last step's */
    int64_t                     took_us;    /* the last step's run */
    time_t                      failed_logged;
    unsigned                    more:1;
    unsigned                    busy:1;
    unsigned                    owner:1;
} ngx_chatvisor_purge;


static int64_t
ngx_chatvisor_purge_mono_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


/* in the shared transaction (maybe in a pool thread, maybe twice) */
static cv_status
ngx_chatvisor_purge_run(ngx_chatvisor_op_t *op, cv_txn *t)
{
    int              more;
    int64_t          start, now;
    cv_status        st;
    cv_purge_stats   ret, sweep;

    start = ngx_chatvisor_purge_mono_us();
    now = cv_now_ms();

    ngx_memzero(&ngx_chatvisor_purge.done, sizeof(cv_purge_stats));
    ngx_memzero(&ret, sizeof(ret));

    /* conversations of a store from before the customers' index */
    st = cv_retention_backfill(t, NGX_CHATVISOR_PURGE_SIDE, &more);

    if (st == CV_OK && ngx_chatvisor_purge.cmcf->retention) {
        st = cv_retention_step(t, now - (int64_t)
                                   ngx_chatvisor_purge.cmcf->retention * 1000,
                               CV_PURGE_BUDGET, &ret);
    }

    if (st == CV_OK) {
        st = cv_expired_sweep(t, now, NGX_CHATVISOR_PURGE_SIDE,
                              &ngx_chatvisor_purge.sweep, &sweep);
    }

    if (st != CV_OK) {
        return st;
    }

    ngx_chatvisor_purge.done = ret;
    ngx_chatvisor_purge.done.keys += sweep.keys;

    /* an expired secret found: more may be there, go on soon */
    ngx_chatvisor_purge.more = more || ret.more || sweep.keys;
    ngx_chatvisor_purge.took_us = ngx_chatvisor_purge_mono_us() - start;

    return CV_OK;
}


static void
ngx_chatvisor_purge_done(ngx_chatvisor_op_t *op)
{
    ngx_msec_t       next;
    cv_purge_stats  *d;

    ngx_chatvisor_purge.busy = 0;
    d = &ngx_chatvisor_purge.done;
    next = NGX_CHATVISOR_PURGE_EVERY;

    if (op->status != CV_OK) {
        /* it tries again each second: said once a minute */
        if (ngx_time() - ngx_chatvisor_purge.failed_logged
            >= NGX_CHATVISOR_PURGE_FAIL_LOG)
        {
            ngx_chatvisor_purge.failed_logged = ngx_time();
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "chatvisor: purge step failed: %s",
                          cv_status_text(op->status));
        }

    } else {
        if (d->keys) {
            ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                          "chatvisor: purged %uz conversation(s), "
                          "%uz key(s), %uz log entries walked, in %.3f ms",
                          d->conversations, d->keys, d->walked,
                          (double) ngx_chatvisor_purge.took_us
                          / NGX_CHATVISOR_US_PER_MS);
        }

        if (ngx_chatvisor_purge.more) {
            next = NGX_CHATVISOR_PURGE_PAUSE;
        }
    }

    ngx_chatvisor_op_clear(op);

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (ngx_chatvisor_purge.timer.timer_set) {
        ngx_del_timer(&ngx_chatvisor_purge.timer);
    }

    ngx_add_timer(&ngx_chatvisor_purge.timer, next);
}


static void
ngx_chatvisor_purge_tick(ngx_event_t *ev)
{
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_chatvisor_purge.cmcf;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        ngx_chatvisor_lease_release(cmcf, NGX_CHATVISOR_LEASE_PURGE);
        return;
    }

    ngx_add_timer(ev, NGX_CHATVISOR_PURGE_EVERY);

    if (!ngx_chatvisor_lease_hold(cmcf, NGX_CHATVISOR_LEASE_PURGE,
                                  NGX_CHATVISOR_PURGE_LEASE_TTL))
    {
        ngx_chatvisor_purge.owner = 0;
        return;
    }

    if (!ngx_chatvisor_purge.owner) {
        ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                      "chatvisor: this worker purges the store");
        ngx_chatvisor_purge.owner = 1;
    }

    if (ngx_chatvisor_purge.busy) {
        return;
    }

    ngx_chatvisor_purge.op.run = ngx_chatvisor_purge_run;
    ngx_chatvisor_purge.op.done = ngx_chatvisor_purge_done;
    ngx_chatvisor_purge.op.background = 1;

    if (ngx_chatvisor_commit(cmcf, &ngx_chatvisor_purge.op) == NGX_OK) {
        ngx_chatvisor_purge.busy = 1;
    }
}


ngx_int_t
ngx_chatvisor_purge_init_process(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf)
{
    ngx_event_t  *ev;

    if (cmcf->store == NULL) {
        return NGX_OK;
    }

    ngx_memzero(&ngx_chatvisor_purge, sizeof(ngx_chatvisor_purge));
    ngx_chatvisor_purge.cmcf = cmcf;

    /* its timer never keeps an exiting worker alive */
    ev = &ngx_chatvisor_purge.timer;
    ev->handler = ngx_chatvisor_purge_tick;
    ev->log = cycle->log;
    ev->data = &ngx_chatvisor_purge;
    ev->cancelable = 1;

    ngx_add_timer(ev, NGX_CHATVISOR_PURGE_PAUSE);

    return NGX_OK;
}


void
ngx_chatvisor_purge_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_chatvisor_purge.cmcf == NULL) {
        return;
    }

    ngx_chatvisor_lease_release(ngx_chatvisor_purge.cmcf,
                                NGX_CHATVISOR_LEASE_PURGE);
}
