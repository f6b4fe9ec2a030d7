/*
 * Group commit: the writes that arrive in one turn of a worker's event loop
 * share one LMDB transaction, so one fsync acknowledges them all and a busy
 * worker is not stalled once per message. Nothing is answered before its
 * commit is durable.
 *
 * With sync=on the batch runs in nginx's thread pool: the commit holds
 * LMDB's writer lock through its fdatasync, and the other workers' commits
 * wait for that lock. In a thread, only that thread waits; the event loops
 * go on answering polls and gathering the next batch.
 *
 * Pipelined: a batch commits with its pages synced but its meta page not
 * (cv_txn_begin_unsynced_meta(): the lock is held through one fdatasync,
 * not two), then waits, "unsynced", for a sync of the file that started
 * after its commit (another task in the pool), or for a later commit of
 * any process (whose fdatasync carried its meta page to disk). Meanwhile
 * the next batch commits. Batches are answered in the order of their
 * commits, each only once it and everything it saw is durable.
 *
 * Late joiners: while a batch's thread waits for the writer lock (the
 * other workers' commits hold it through their fdatasync), the writes
 * that arrive join it ("late") instead of waiting for the next batch's
 * turn at the lock; the thread takes them once it holds the lock.
 */


#include "ngx_chatvisor_runtime.h"
#include "cv_time.h"


/* how often an exiting worker looks whether its batch was answered, ms */
#define NGX_CHATVISOR_COMMIT_GUARD     1000

/* notices sent after a batch in one call */
#define NGX_CHATVISOR_BATCH_NOTICES    64

/* a failing store is logged at most this often per worker, ms */
#define NGX_CHATVISOR_FAIL_LOG_EVERY   1000

/* the store holds 80% of its maximum: warned at most this often, ms */
#define NGX_CHATVISOR_FULL_WARN_PCT    80
#define NGX_CHATVISOR_FULL_WARN_EVERY  3600000
#define NGX_CHATVISOR_USAGE_EVERY      1000

#define NGX_CHATVISOR_MB               (1024 * 1024)


static void ngx_chatvisor_commit_flush(ngx_event_t *ev);
static void ngx_chatvisor_batch_run(void *data, ngx_log_t *log);
static void ngx_chatvisor_batch_done(ngx_event_t *ev);
static void ngx_chatvisor_answer(ngx_queue_t *batch);
static void ngx_chatvisor_commit_log_failure(ngx_log_t *log, cv_status st,
    int cause);


static ngx_queue_t   ngx_chatvisor_ops;        /* for the next batch */
static ngx_queue_t   ngx_chatvisor_batch;      /* being committed */

/*
 * Committed, not known durable yet (sync=on in the pool): the batches
 * since the last answered one, in order, answered together. need: the
 * highest write transaction id among them; gen: the commit count when the
 * last of them was committed. A sync that starts at commit count
 * sync_gen >= gen covers them.
 */
static ngx_queue_t   ngx_chatvisor_unsynced;
static uint64_t      ngx_chatvisor_unsynced_need;
static ngx_uint_t    ngx_chatvisor_unsynced_gen;
static ngx_uint_t    ngx_chatvisor_commit_gen;

/* the running batch's: committed without syncing its meta page, and its
 * last write transaction's id (set in the thread, read once it is done) */
static ngx_uint_t    ngx_chatvisor_batch_unsynced;
static uint64_t      ngx_chatvisor_batch_need;

static ngx_uint_t    ngx_chatvisor_sync_busy;
static ngx_uint_t    ngx_chatvisor_sync_gen;
static cv_status     ngx_chatvisor_sync_status;
static ngx_event_t   ngx_chatvisor_flush_event;
static ngx_uint_t    ngx_chatvisor_commit_ready;
static ngx_uint_t    ngx_chatvisor_commit_busy;
static ngx_uint_t    ngx_chatvisor_commit_changes_n; /* committed, with
                                                        a notice */
static uint64_t      ngx_chatvisor_batch_started;    /* us, for metrics */

/*
 * The map is grown where nothing of this worker is in a transaction: a
 * batch that did not fit asks for it (grow) and is run again once it is
 * done; at the maximum it runs without asking (nogrow), one by one, and
 * what does not fit is answered 507.
 */
static ngx_uint_t    ngx_chatvisor_commit_grow;
static ngx_uint_t    ngx_chatvisor_commit_nogrow;
static int64_t       ngx_chatvisor_commit_failed_log;
static int64_t       ngx_chatvisor_usage_checked;
static int64_t       ngx_chatvisor_usage_warned;

#if (NGX_THREADS)
static ngx_thread_task_t  *ngx_chatvisor_commit_task;
static ngx_thread_task_t  *ngx_chatvisor_sync_task;

/* writes for the batch in the thread, until it takes them (late_open
 * cleared): both changed under late_mutex, shared by the event loop and
 * the thread; late_open is also read without it, as a hint that the
 * locked look confirms (so it is nginx's atomic type) */
static ngx_thread_mutex_t     ngx_chatvisor_late_mutex;
static ngx_queue_t            ngx_chatvisor_late;
static volatile ngx_atomic_t  ngx_chatvisor_late_open;
static ngx_uint_t             ngx_chatvisor_late_ready;

/*
 * An exiting worker (reload) leaves once no timer is left, and a batch in
 * the thread has none: this one keeps the worker until the batch is
 * answered.
 */
static ngx_event_t         ngx_chatvisor_commit_guard;

static void
ngx_chatvisor_commit_guard_handler(ngx_event_t *ev)
{
    if (ngx_chatvisor_commit_busy || ngx_chatvisor_sync_busy
        || !ngx_queue_empty(&ngx_chatvisor_unsynced))
    {
        ngx_add_timer(ev, NGX_CHATVISOR_COMMIT_GUARD);
    }
}


static void
ngx_chatvisor_commit_guard_set(ngx_log_t *log)
{
    if (ngx_chatvisor_commit_guard.timer_set) {
        return;
    }

    ngx_chatvisor_commit_guard.handler = ngx_chatvisor_commit_guard_handler;
    ngx_chatvisor_commit_guard.log = log;
    ngx_add_timer(&ngx_chatvisor_commit_guard, NGX_CHATVISOR_COMMIT_GUARD);
}
#endif


/* nothing in flight any more: an exiting worker may go */
static void
ngx_chatvisor_commit_guard_clear(void)
{
#if (NGX_THREADS)
    if (ngx_chatvisor_commit_guard.timer_set && !ngx_chatvisor_commit_busy
        && !ngx_chatvisor_sync_busy
        && ngx_queue_empty(&ngx_chatvisor_unsynced))
    {
        ngx_del_timer(&ngx_chatvisor_commit_guard);
    }
#endif
}


static void
ngx_chatvisor_commit_setup(void)
{
    ngx_queue_init(&ngx_chatvisor_ops);
    ngx_queue_init(&ngx_chatvisor_batch);
    ngx_queue_init(&ngx_chatvisor_unsynced);

#if (NGX_THREADS)
    ngx_queue_init(&ngx_chatvisor_late);

    /* without it, writes wait for the next batch as before */
    ngx_chatvisor_late_ready =
        (ngx_thread_mutex_create(&ngx_chatvisor_late_mutex, ngx_cycle->log)
         == NGX_OK);
#endif

    ngx_memzero(&ngx_chatvisor_flush_event, sizeof(ngx_event_t));
    ngx_chatvisor_flush_event.handler = ngx_chatvisor_commit_flush;
    ngx_chatvisor_flush_event.log = ngx_cycle->log;
    ngx_chatvisor_flush_event.data = &ngx_chatvisor_ops;

    ngx_chatvisor_commit_ready = 1;
}


#if (NGX_THREADS)

/* in the event loop: the write joins the batch in the thread if that
 * has not taken the late ones yet */
static ngx_uint_t
ngx_chatvisor_late_join(ngx_chatvisor_op_t *op)
{
    ngx_uint_t  joined;

    if (ngx_thread_mutex_lock(&ngx_chatvisor_late_mutex, ngx_cycle->log)
        != NGX_OK)
    {
        return 0;
    }

    joined = ngx_chatvisor_late_open;

    if (joined) {
        ngx_queue_insert_tail(&ngx_chatvisor_late, &op->queue);
    }

    (void) ngx_thread_mutex_unlock(&ngx_chatvisor_late_mutex, ngx_cycle->log);

    return joined;
}


/* in the thread, once cv_txn_begin() returned (holding the writer lock,
 * or failed: then they fail with the batch): the late writes join the
 * batch, later ones wait for the next */
static void
ngx_chatvisor_late_take(ngx_log_t *log)
{
    if (!ngx_chatvisor_late_open
        || ngx_thread_mutex_lock(&ngx_chatvisor_late_mutex, log) != NGX_OK)
    {
        return;
    }

    ngx_chatvisor_late_open = 0;

    if (!ngx_queue_empty(&ngx_chatvisor_late)) {
        ngx_queue_add(&ngx_chatvisor_batch, &ngx_chatvisor_late);
        ngx_queue_init(&ngx_chatvisor_late);
    }

    (void) ngx_thread_mutex_unlock(&ngx_chatvisor_late_mutex, log);
}

#endif


ngx_int_t
ngx_chatvisor_commit(ngx_chatvisor_main_conf_t *cmcf, ngx_chatvisor_op_t *op)
{
    if (cmcf->store == NULL) {
        return NGX_DECLINED;
    }

    if (!ngx_chatvisor_commit_ready) {
        ngx_chatvisor_commit_setup();
    }

#if (NGX_THREADS)
    if (ngx_chatvisor_late_open && ngx_chatvisor_late_join(op)) {
        return NGX_OK;
    }
#endif

    ngx_queue_insert_tail(&ngx_chatvisor_ops, &op->queue);

    if (!ngx_chatvisor_commit_busy && !ngx_chatvisor_flush_event.posted) {
        ngx_post_event(&ngx_chatvisor_flush_event, &ngx_posted_events);
    }

    return NGX_OK;
}


ngx_uint_t
ngx_chatvisor_commit_changes(void)
{
    return ngx_chatvisor_commit_changes_n;
}


void
ngx_chatvisor_op_notice(ngx_chatvisor_op_t *op, ngx_uint_t kind,
    const char *customer_id, const char *conversation_id)
{
    op->notify = 1;
    ngx_chatvisor_notice_init(&op->notice, kind, customer_id,
                              conversation_id);
}


void
ngx_chatvisor_op_clear(ngx_chatvisor_op_t *op)
{
    cJSON_Delete(op->result);
    op->result = NULL;
    cv_message_clear(&op->message);
    op->ok_status = 0;
    op->why = NULL;
    op->notify = 0;
    op->author = NULL;
    op->opened = 0;
    op->closed = 0;
}


static void
ngx_chatvisor_commit_flush(ngx_event_t *ev)
{
    ngx_chatvisor_main_conf_t  *cmcf;

    if (ngx_chatvisor_commit_busy || ngx_queue_empty(&ngx_chatvisor_ops)) {
        return;
    }

    /* this batch; writes that arrive while it runs form the next one */
    ngx_chatvisor_batch = ngx_chatvisor_ops;
    ngx_chatvisor_batch.next->prev = &ngx_chatvisor_batch;
    ngx_chatvisor_batch.prev->next = &ngx_chatvisor_batch;
    ngx_queue_init(&ngx_chatvisor_ops);

    ngx_chatvisor_commit_busy = 1;
    ngx_chatvisor_batch_started = ngx_chatvisor_metrics_clock();

#if (NGX_THREADS)
    cmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_chatvisor_module);

    if (cmcf->thread_pool) {
        if (ngx_chatvisor_commit_task == NULL) {
            ngx_chatvisor_commit_task = ngx_thread_task_alloc(ngx_cycle->pool,
                                                              0);
        }

        if (ngx_chatvisor_commit_task) {
            ngx_chatvisor_commit_task->handler = ngx_chatvisor_batch_run;
            ngx_chatvisor_commit_task->event.handler =
                                                    ngx_chatvisor_batch_done;
            ngx_chatvisor_commit_task->event.data = ngx_chatvisor_commit_task;
            ngx_chatvisor_commit_task->event.log = ev->log;

            ngx_chatvisor_batch_unsynced = 1;

            /* the thread is not running yet: no lock needed to open it */
            ngx_chatvisor_late_open = ngx_chatvisor_late_ready;

            if (ngx_thread_task_post(cmcf->thread_pool,
                                     ngx_chatvisor_commit_task)
                == NGX_OK)
            {
                ngx_chatvisor_commit_guard_set(ev->log);
                return;
            }

            ngx_chatvisor_late_open = 0;
        }

        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "chatvisor: committing in the event loop, "
                      "the thread pool did not take the batch");
    }
#else
    (void) cmcf;
#endif

    ngx_chatvisor_batch_unsynced = 0;

    ngx_chatvisor_batch_run(NULL, ev->log);
    ngx_chatvisor_batch_done(ev);
}


/* ------------------------------------------------ durability (sync=on) */

#if (NGX_THREADS)

static void
ngx_chatvisor_sync_run(void *data, ngx_log_t *log)
{
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_chatvisor_module);

    ngx_chatvisor_sync_status = cv_store_sync(cmcf->store);
}

#endif


/* the unsynced batches are durable once a later transaction committed:
 * its fdatasync came after their meta page, and after what they saw */
static void
ngx_chatvisor_unsynced_check(void)
{
    ngx_chatvisor_main_conf_t  *cmcf;

    if (ngx_queue_empty(&ngx_chatvisor_unsynced)) {
        return;
    }

    cmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_chatvisor_module);

    if (cv_store_last_txn(cmcf->store) > ngx_chatvisor_unsynced_need) {
        ngx_chatvisor_answer(&ngx_chatvisor_unsynced);
    }
}


#if (NGX_THREADS)

/* the disk refused a sync: what it covered may not be durable, so no
 * write of it is acknowledged (LMDB's pages stay consistent: a meta page
 * is written only after its pages were synced) */
static void
ngx_chatvisor_unsynced_fail(ngx_log_t *log, cv_status st)
{
    ngx_queue_t         *q;
    ngx_chatvisor_op_t  *op;

    ngx_chatvisor_commit_log_failure(log, st, st == CV_FULL
                                              ? CV_FULL_DISK : 0);

    for (q = ngx_queue_head(&ngx_chatvisor_unsynced);
         q != ngx_queue_sentinel(&ngx_chatvisor_unsynced);
         q = ngx_queue_next(q))
    {
        op = ngx_queue_data(q, ngx_chatvisor_op_t, queue);

        if (op->status == CV_OK) {
            ngx_chatvisor_op_clear(op);
            op->status = CV_ERROR;
            op->why = "the store's disk failed to sync the write";
        }
    }

    ngx_chatvisor_answer(&ngx_chatvisor_unsynced);
}


static void ngx_chatvisor_sync_done(ngx_event_t *ev);


/* a sync of the file for the unsynced batches, unless one runs: it covers
 * what is committed when it starts, so what commits meanwhile waits for
 * the next one (or for a later commit) */
static void
ngx_chatvisor_sync_post(ngx_log_t *log)
{
    ngx_chatvisor_main_conf_t  *cmcf;

    if (ngx_chatvisor_sync_busy || ngx_queue_empty(&ngx_chatvisor_unsynced)) {
        return;
    }

    cmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_chatvisor_module);

    if (ngx_chatvisor_sync_task == NULL) {
        ngx_chatvisor_sync_task = ngx_thread_task_alloc(ngx_cycle->pool, 0);
    }

    if (ngx_chatvisor_sync_task) {
        ngx_chatvisor_sync_task->handler = ngx_chatvisor_sync_run;
        ngx_chatvisor_sync_task->event.handler = ngx_chatvisor_sync_done;
        ngx_chatvisor_sync_task->event.data = ngx_chatvisor_sync_task;
        ngx_chatvisor_sync_task->event.log = log;

        ngx_chatvisor_sync_gen = ngx_chatvisor_commit_gen;

        if (ngx_thread_task_post(cmcf->thread_pool, ngx_chatvisor_sync_task)
            == NGX_OK)
        {
            ngx_chatvisor_sync_busy = 1;
            ngx_chatvisor_commit_guard_set(log);
            return;
        }
    }

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "chatvisor: syncing in the event loop, "
                  "the thread pool did not take the sync");

    ngx_chatvisor_sync_status = cv_store_sync(cmcf->store);

    if (ngx_chatvisor_sync_status != CV_OK) {
        ngx_chatvisor_unsynced_fail(log, ngx_chatvisor_sync_status);

    } else {
        ngx_chatvisor_answer(&ngx_chatvisor_unsynced);
    }
}


static void
ngx_chatvisor_sync_done(ngx_event_t *ev)
{
    ngx_chatvisor_sync_busy = 0;

    if (ngx_queue_empty(&ngx_chatvisor_unsynced)) {
        /* a later commit made them durable first */

    } else if (ngx_chatvisor_sync_status != CV_OK) {
        /* the pages it lost may be those of the batches committed after
         * it started too, and a second sync would not say so */
        ngx_chatvisor_unsynced_fail(ev->log, ngx_chatvisor_sync_status);

    } else if (ngx_chatvisor_unsynced_gen <= ngx_chatvisor_sync_gen) {
        ngx_chatvisor_answer(&ngx_chatvisor_unsynced);

    } else {
        ngx_chatvisor_unsynced_check();
    }

    /* committed while it ran, and no commit under way to carry them */
    if (!ngx_chatvisor_commit_busy) {
        ngx_chatvisor_sync_post(ev->log);
    }

    ngx_chatvisor_commit_guard_clear();
}

#else

/* without threads every commit syncs its meta page: nothing waits */
static void
ngx_chatvisor_sync_post(ngx_log_t *log)
{
}

#endif


/*
 * Runs and commits the batch. In a pool thread with sync=on: it touches
 * only the store, cJSON and the batch's own requests, which wait (their
 * count held) and which the event loop leaves alone until the batch is
 * done.
 */

static cv_status
ngx_chatvisor_op_run(ngx_chatvisor_op_t *op, cv_txn *t)
{
    ngx_chatvisor_op_clear(op);
    op->status = op->run(op, t);

    return op->status;
}


/* why a write failed, in the error log: at most once a second (it may
 * be every write while the disk is full) */
static void
ngx_chatvisor_commit_log_failure(ngx_log_t *log, cv_status st, int cause)
{
    int64_t  now;

    now = cv_now_ms();

    if (now - ngx_chatvisor_commit_failed_log < NGX_CHATVISOR_FAIL_LOG_EVERY
        && now >= ngx_chatvisor_commit_failed_log)
    {
        return;
    }

    ngx_chatvisor_commit_failed_log = now;

    if (st == CV_FULL && cause == CV_FULL_DISK) {
        ngx_log_error(NGX_LOG_CRIT, log, 0,
                      "chatvisor: the store's disk is full (no space "
                      "left on device or quota): writes answer 507 "
                      "until there is space again");

    } else if (st == CV_FULL) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "chatvisor: a write does not fit into the store "
                      "(%s)", cause == CV_FULL_TXN ? "too large a "
                      "transaction" : "the map is at its size= maximum");

    } else {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "chatvisor: group commit failed: %s",
                      cv_status_text(st));
    }
}


static void
ngx_chatvisor_batch_run(void *data, ngx_log_t *log)
{
    int                         cause;
    cv_txn                     *t, *child;
    cv_status                   st;
    ngx_uint_t                  alone;
    ngx_queue_t                *q;
    ngx_chatvisor_op_t         *op;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_chatvisor_module);

    ngx_chatvisor_batch_need = 0;

    st = ngx_chatvisor_batch_unsynced
         ? cv_txn_begin_unsynced_meta(cmcf->store, &t)
         : cv_txn_begin(cmcf->store, 1, &t);

#if (NGX_THREADS)
    /* what came while it waited for the writer lock */
    ngx_chatvisor_late_take(log);
#endif

    /* a write alone in its batch (a paced chat's usual case) needs no
     * child: the batch's own abort drops what it did (a third of a
     * commit's CPU, docs/decisions.md) */
    alone = (ngx_queue_head(&ngx_chatvisor_batch)
             == ngx_queue_last(&ngx_chatvisor_batch));

    if (st == CV_OK && alone) {
        op = ngx_queue_data(ngx_queue_head(&ngx_chatvisor_batch),
                            ngx_chatvisor_op_t, queue);

        if (ngx_chatvisor_op_run(op, t) == CV_OK) {
            /* what must be durable before the answer (sync=on) */
            ngx_chatvisor_batch_need = cv_txn_id(t);
            st = cv_txn_commit(t);

        } else {
            /* as a failed write of a batch below: its own status (it
             * wrote nothing, so nothing waits for a sync) */
            cv_txn_abort(t);

            if (op->status == CV_FULL && !ngx_chatvisor_commit_nogrow) {
                cause = cv_full_cause();

                if (cause == CV_FULL_MAP || cause == CV_FULL_RESIZED) {
                    st = CV_FULL;
                    goto failed;
                }
            }

            if (op->status == CV_FULL || op->status == CV_ERROR) {
                st = op->status;
                ngx_chatvisor_op_clear(op);
                op->status = st;
            }

            st = CV_OK;
        }

        if (st == CV_OK) {
            ngx_chatvisor_commit_nogrow = 0;
            return;
        }

        goto failed;    /* the commit: as a batch's, below */
    }

    if (st == CV_OK) {
        ngx_chatvisor_batch_need = cv_txn_id(t);

        for (q = ngx_queue_head(&ngx_chatvisor_batch);
             q != ngx_queue_sentinel(&ngx_chatvisor_batch);
             q = ngx_queue_next(q))
        {
            op = ngx_queue_data(q, ngx_chatvisor_op_t, queue);

            /*
             * Each write in a transaction of its own inside the batch's:
             * what a write did before it failed is dropped with it, and
             * the others' stay.
             */
            st = cv_txn_nest(t, &child);
            if (st != CV_OK) {
                break;      /* the batch's transaction is unusable */
            }

            if (ngx_chatvisor_op_run(op, child) == CV_OK) {
                st = cv_txn_nest_commit(t, child);
                if (st != CV_OK) {
                    break;
                }

            } else {
                cv_txn_abort(child);

                /* a map that can grow: the whole batch runs again in a
                 * larger one (see below), no write fails for it */
                if (op->status == CV_FULL && !ngx_chatvisor_commit_nogrow) {
                    cause = cv_full_cause();

                    if (cause == CV_FULL_MAP || cause == CV_FULL_RESIZED) {
                        st = CV_FULL;
                        break;
                    }
                }

                if (op->status == CV_FULL || op->status == CV_ERROR) {
                    st = op->status;
                    ngx_chatvisor_op_clear(op);
                    op->status = st;
                }
            }

            st = CV_OK;     /* a failed write leaves the others be */
        }

        if (st == CV_OK) {
            st = cv_txn_commit(t);

        } else {
            cv_txn_abort(t);
        }
    }

    if (st == CV_OK) {
        ngx_chatvisor_commit_nogrow = 0;
        return;
    }

failed:

    cause = (st == CV_FULL) ? cv_full_cause() : CV_FULL_MAP;

    /* the map (this worker's, or one another grew): grown in the event
     * loop, then the batch runs again */
    if (st == CV_FULL && !ngx_chatvisor_commit_nogrow
        && (cause == CV_FULL_MAP || cause == CV_FULL_RESIZED))
    {
        ngx_chatvisor_commit_grow = 1;
        return;
    }

    ngx_chatvisor_commit_nogrow = 0;

    /*
     * One write failed the batch: retry each alone, so that only the
     * failing one fails (e.g. the one that does not fit any more).
     */

    ngx_chatvisor_commit_log_failure(log, st, cause);

    for (q = ngx_queue_head(&ngx_chatvisor_batch);
         q != ngx_queue_sentinel(&ngx_chatvisor_batch);
         q = ngx_queue_next(q))
    {
        op = ngx_queue_data(q, ngx_chatvisor_op_t, queue);

        st = cv_txn_begin(cmcf->store, 1, &t);
        if (st != CV_OK) {
            ngx_chatvisor_op_clear(op);
            op->status = st;
            continue;
        }

        ngx_chatvisor_batch_need = cv_txn_id(t);

        if (ngx_chatvisor_op_run(op, t) == CV_OK) {
            op->status = cv_txn_commit(t);

        } else {
            cv_txn_abort(t);
        }

        if (op->status == CV_FULL || op->status == CV_ERROR) {
            ngx_chatvisor_commit_log_failure(log, op->status,
                                             op->status == CV_FULL
                                             ? cv_full_cause() : 0);
            ngx_chatvisor_op_clear(op);
        }
    }
}


/*
 * In the event loop, with no batch in flight: grows the map (or adopts
 * the one another worker grew) and queues the batch again in front of
 * what came meanwhile; at the maximum, the batch's next run goes one by
 * one.
 */
static void
ngx_chatvisor_commit_regrow(ngx_event_t *ev)
{
    size_t                      map, used, max;
    cv_status                   st;
    ngx_queue_t                *q;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_chatvisor_module);

    ngx_chatvisor_commit_grow = 0;

    st = cv_store_grow(cmcf->store, &map);
    cv_store_usage(cmcf->store, &used, &map, &max);

    if (st == CV_OK) {
        ngx_log_error(NGX_LOG_NOTICE, ev->log, 0,
                      "chatvisor: the store's map is %uzM now "
                      "(at most %uzM, %uzM used)", map / NGX_CHATVISOR_MB,
                      max / NGX_CHATVISOR_MB, used / NGX_CHATVISOR_MB);

    } else {
        if (st != CV_FULL) {
            ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                          "chatvisor: the store's map cannot grow now: "
                          "a transaction of this worker is still open");
        }

        /* at the maximum: what fits goes in, the rest is answered 507 */
        ngx_chatvisor_commit_nogrow = 1;
    }

    /* the batch first, then what was queued meanwhile */
    while (!ngx_queue_empty(&ngx_chatvisor_batch)) {
        q = ngx_queue_last(&ngx_chatvisor_batch);
        ngx_queue_remove(q);
        ngx_queue_insert_head(&ngx_chatvisor_ops, q);
    }
}


/* a warning at NGX_CHATVISOR_FULL_WARN_PCT of the maximum, looked at
 * once a second at most */
static void
ngx_chatvisor_commit_usage(ngx_log_t *log)
{
    size_t                      used, map, max;
    int64_t                     now;
    ngx_chatvisor_main_conf_t  *cmcf;

    now = cv_now_ms();

    if (now - ngx_chatvisor_usage_checked < NGX_CHATVISOR_USAGE_EVERY
        && now >= ngx_chatvisor_usage_checked)
    {
        return;
    }

    ngx_chatvisor_usage_checked = now;

    cmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_chatvisor_module);

    cv_store_usage(cmcf->store, &used, &map, &max);

    if (max == 0 || used / NGX_CHATVISOR_FULL_WARN_PCT * 100 < max
        || (ngx_chatvisor_usage_warned
            && now - ngx_chatvisor_usage_warned
               < NGX_CHATVISOR_FULL_WARN_EVERY))
    {
        return;
    }

    ngx_chatvisor_usage_warned = now;

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "chatvisor: the store holds %uzM of its maximum %uzM "
                  "(%uz%%): raise chatvisor_store size=, or purge "
                  "(chatvisor_retention)", used / NGX_CHATVISOR_MB,
                  max / NGX_CHATVISOR_MB, used * 100 / max);
}


/*
 * Durable now: wake the polls that wait for it (first: a visitor sees an
 * agent's message sooner, and other workers answer theirs meanwhile), then
 * answer the writers.
 */

static void
ngx_chatvisor_answer(ngx_queue_t *batch)
{
    ngx_uint_t               n;
    ngx_queue_t             *q;
    ngx_chatvisor_op_t      *op;
    ngx_chatvisor_notice_t   notices[NGX_CHATVISOR_BATCH_NOTICES];

    n = 0;

    for (q = ngx_queue_head(batch);
         q != ngx_queue_sentinel(batch);
         q = ngx_queue_next(q))
    {
        op = ngx_queue_data(q, ngx_chatvisor_op_t, queue);

        if (!op->notify) {
            continue;
        }

        ngx_chatvisor_commit_changes_n++;

        if (n == sizeof(notices) / sizeof(notices[0])) {
            ngx_chatvisor_notify_many(notices, n);
            n = 0;
        }

        notices[n++] = op->notice;
    }

    if (n) {
        ngx_chatvisor_notify_many(notices, n);
    }

    while (!ngx_queue_empty(batch)) {
        q = ngx_queue_head(batch);
        ngx_queue_remove(q);

        op = ngx_queue_data(q, ngx_chatvisor_op_t, queue);

        if (op->status == CV_OK) {
            ngx_chatvisor_metric_op(op);
        }

        /* the op (a request's context with it) may be gone after this */
        op->done(op);
    }
}


/* an idle store's purge step each second would otherwise cost a sync of
 * the file (and a trip through the pool) each second */
static ngx_uint_t
ngx_chatvisor_batch_background(void)
{
    ngx_queue_t         *q;
    ngx_chatvisor_op_t  *op;

    for (q = ngx_queue_head(&ngx_chatvisor_batch);
         q != ngx_queue_sentinel(&ngx_chatvisor_batch);
         q = ngx_queue_next(q))
    {
        op = ngx_queue_data(q, ngx_chatvisor_op_t, queue);

        if (!op->background) {
            return 0;
        }
    }

    return 1;
}


/* the batch is committed (or failed): answered now if it is durable,
 * else put behind the unsynced batches; then the next batch goes */
static void
ngx_chatvisor_batch_done(ngx_event_t *ev)
{
    ngx_uint_t    carried;
    ngx_queue_t  *q;

    if (ngx_chatvisor_commit_grow) {
        ngx_chatvisor_commit_regrow(ev);
        goto next;
    }

    ngx_chatvisor_commit_usage(ev->log);

    /* from the flush to its commit (with sync=on, the durable answer may
     * wait one sync more, which chatvisor_commit_duration_seconds leaves out) */
    ngx_chatvisor_metric_commit(ngx_chatvisor_metrics_clock()
                                - ngx_chatvisor_batch_started);

    ngx_chatvisor_commit_gen++;

    if (!ngx_chatvisor_batch_unsynced
        && ngx_queue_empty(&ngx_chatvisor_unsynced))
    {
        /* synced in its commit (sync=on) or not meant to be (sync=off) */
        ngx_chatvisor_answer(&ngx_chatvisor_batch);
        goto next;
    }

    if (ngx_chatvisor_batch_background()) {
        /* telling no one: the next commit carries its meta page */
        ngx_chatvisor_answer(&ngx_chatvisor_batch);

        /* the batches before it may have counted on this commit to carry
         * them, and it may have written nothing */
        ngx_chatvisor_unsynced_check();
        ngx_chatvisor_sync_post(ev->log);
        goto next;
    }

    /* those before it may be durable by now, by this commit's sync */
    ngx_chatvisor_unsynced_check();

    carried = ngx_queue_empty(&ngx_chatvisor_unsynced);

    while (!ngx_queue_empty(&ngx_chatvisor_batch)) {
        q = ngx_queue_head(&ngx_chatvisor_batch);
        ngx_queue_remove(q);
        ngx_queue_insert_tail(&ngx_chatvisor_unsynced, q);
    }

    if (ngx_chatvisor_batch_need > ngx_chatvisor_unsynced_need) {
        ngx_chatvisor_unsynced_need = ngx_chatvisor_batch_need;
    }

    ngx_chatvisor_unsynced_gen = ngx_chatvisor_commit_gen;

    /* another process may have committed after it already */
    ngx_chatvisor_unsynced_check();

    /*
     * The next batch's commit carries this one's meta page to disk with
     * its own pages' sync, one fdatasync for both. A sync of its own when
     * nothing waits to be committed, or when this commit did not carry
     * the one before (it wrote nothing).
     */
    if (ngx_queue_empty(&ngx_chatvisor_ops) || !carried) {
        ngx_chatvisor_sync_post(ev->log);
    }

next:

    ngx_chatvisor_commit_busy = 0;

    ngx_chatvisor_commit_guard_clear();

    if (!ngx_queue_empty(&ngx_chatvisor_ops)
        && !ngx_chatvisor_flush_event.posted)
    {
        ngx_post_event(&ngx_chatvisor_flush_event, &ngx_posted_events);
    }
}
