/*
 * Metrics: counters in the shared zone, each process adding to its own
 * slot with one atomic add and no lock (a request path pays that add, on
 * a cache line no other worker writes, and nothing more), and what
 * chatvisor_status reads beside them when it is asked: the slots summed,
 * presence, co-browsing sessions, and a read transaction of the store for
 * the open conversations, the agents and the webhooks' backlog, each a
 * lookup or one per agent or endpoint, never a scan.
 */


#include "ngx_chatvisor_shm.h"
#include "cv_stats.h"
#include "cv_webhooks.h"

#include <time.h>


#define NGX_CHATVISOR_USEC_PER_SEC   1000000
#define NGX_CHATVISOR_NSEC_PER_USEC  1000


/* a slot's counters fit its room */
typedef char  ngx_chatvisor_metrics_slot_fits[
    sizeof(ngx_chatvisor_metrics_slot_t) <= NGX_CHATVISOR_METRICS_SLOT_SIZE
    ? 1 : -1];


const uint64_t  ngx_chatvisor_commit_bounds[] = {
    NGX_CHATVISOR_COMMIT_BUCKETS
};

/* this process's slot of the zone: from its own cycle at its start (a
 * pointer the master kept could name the zone of a reload that failed) */
static ngx_chatvisor_metrics_slot_t  *ngx_chatvisor_metrics;

/* the polls this worker holds, written to its slot */
static ngx_atomic_int_t               ngx_chatvisor_metrics_polls;


void
ngx_chatvisor_metrics_init_process(ngx_chatvisor_main_conf_t *cmcf)
{
    ngx_chatvisor_metrics = NULL;
    ngx_chatvisor_metrics_polls = 0;

    if (cmcf->shm && ngx_process_slot >= 0
        && ngx_process_slot < NGX_MAX_PROCESSES)
    {
        /* what a process of this slot counted before stays: only the
         * polls a dead one held are gone */
        ngx_chatvisor_metrics = &cmcf->shm->metrics.slot[ngx_process_slot].s;
        ngx_chatvisor_metrics->polls = 0;
    }
}


void
ngx_chatvisor_metrics_exit_process(void)
{
    if (ngx_chatvisor_metrics) {
        ngx_chatvisor_metrics->polls = 0;
    }
}


void
ngx_chatvisor_metric_add(ngx_chatvisor_metric_e metric)
{
    if (ngx_chatvisor_metrics) {
        (void) ngx_atomic_fetch_add(&ngx_chatvisor_metrics->counter[metric],
                                    1);
    }
}


void
ngx_chatvisor_metric_op(ngx_chatvisor_op_t *op)
{
    if (op->author) {
        if (ngx_strcmp(op->author, "customer") == 0) {
            ngx_chatvisor_metric_add(NGX_CHATVISOR_METRIC_MSG_VISITOR);

        } else if (ngx_strcmp(op->author, "agent") == 0) {
            ngx_chatvisor_metric_add(NGX_CHATVISOR_METRIC_MSG_AGENT);

        } else {
            ngx_chatvisor_metric_add(NGX_CHATVISOR_METRIC_MSG_SYSTEM);
        }
    }

    if (op->opened) {
        ngx_chatvisor_metric_add(NGX_CHATVISOR_METRIC_CONV_OPENED);
    }

    if (op->closed) {
        ngx_chatvisor_metric_add(NGX_CHATVISOR_METRIC_CONV_CLOSED);
    }
}


void
ngx_chatvisor_metric_limit(ngx_uint_t kind)
{
    if (kind >= NGX_CHATVISOR_LIMIT_NEW_VISITOR
        && kind <= NGX_CHATVISOR_LIMIT_API_LOGIN)
    {
        ngx_chatvisor_metric_add(NGX_CHATVISOR_METRIC_LIMIT_NEW_VISITORS
                                 + kind - NGX_CHATVISOR_LIMIT_NEW_VISITOR);
    }
}


uint64_t
ngx_chatvisor_metrics_clock(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * NGX_CHATVISOR_USEC_PER_SEC
           + (uint64_t) ts.tv_nsec / NGX_CHATVISOR_NSEC_PER_USEC;
}


void
ngx_chatvisor_metric_commit(uint64_t us)
{
    ngx_uint_t  i;

    if (ngx_chatvisor_metrics == NULL) {
        return;
    }

    /* the first bucket it fits in; the count is the buckets' sum */
    for (i = 0; i < NGX_CHATVISOR_COMMIT_BUCKETS_N; i++) {
        if (us <= ngx_chatvisor_commit_bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&ngx_chatvisor_metrics->commit_le[i], 1);
    (void) ngx_atomic_fetch_add(&ngx_chatvisor_metrics->commit_us,
                                (ngx_atomic_int_t) us);
}


void
ngx_chatvisor_metric_polls(ngx_int_t delta)
{
    ngx_chatvisor_metrics_polls += delta;

    /* only this process writes its slot: a plain store */
    if (ngx_chatvisor_metrics) {
        ngx_chatvisor_metrics->polls = (ngx_atomic_uint_t)
                                       ngx_chatvisor_metrics_polls;
    }
}


static void
ngx_chatvisor_metrics_store(ngx_chatvisor_main_conf_t *cmcf,
    ngx_chatvisor_metrics_read_t *out)
{
    size_t      map;
    cv_txn     *t;
    cv_status   st;

    if (cmcf->store == NULL) {
        return;
    }

    cv_store_usage(cmcf->store, &out->store_used, &map, &out->store_max);

    if (cv_txn_begin(cmcf->store, 0, &t) != CV_OK) {
        return;
    }

    st = cv_store_gauges(t, &out->open_conversations, &out->agents);

    if (st == CV_OK) {
        st = cv_webhook_oldest_undelivered(t, &out->oldest_undelivered_ms);
    }

    cv_txn_abort(t);

    out->store = (st == CV_OK);
}


void
ngx_chatvisor_metrics_read(ngx_chatvisor_main_conf_t *cmcf,
    ngx_chatvisor_metrics_read_t *out)
{
    ngx_uint_t                     i, k;
    ngx_chatvisor_metrics_t       *m;
    ngx_chatvisor_metrics_slot_t  *s;

    ngx_memzero(out, sizeof(ngx_chatvisor_metrics_read_t));

    m = cmcf->shm ? &cmcf->shm->metrics : NULL;

    /* every slot: a process that exited (a reload's old workers, one
     * that died) leaves its counts for the sum */
    for (k = 0; m && k < NGX_MAX_PROCESSES; k++) {
        s = &m->slot[k].s;

        for (i = 0; i < NGX_CHATVISOR_METRIC_N; i++) {
            out->counter[i] += s->counter[i];
        }

        for (i = 0; i <= NGX_CHATVISOR_COMMIT_BUCKETS_N; i++) {
            out->commit_le[i] += s->commit_le[i];
        }

        out->commit_us += s->commit_us;
        out->polls += s->polls;
    }

    ngx_chatvisor_presence_count(cmcf, &out->available, &out->away);
    out->cobrowse_live = ngx_chatvisor_cobrowse_live_count(cmcf);

    ngx_chatvisor_metrics_store(cmcf, out);
}
