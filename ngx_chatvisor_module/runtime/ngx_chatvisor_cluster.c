/*
 * Cluster mode (chatvisor_cluster, docs/cluster.md "Design"): state
 * machine replication on NATS JetStream's total order. JetStream is the
 * consensus; nothing here elects or votes.
 *
 * Each worker has a connection of its own, driven by libnats' threads and
 * one thread of ours that connects, makes the stream when it is missing
 * and (re)starts the stream's consumer: everything that may block
 * on the network happens there, never in the event loop. What those
 * threads learn (a publish acknowledged or refused, a command read from
 * the stream) goes into an inbox under a mutex, and a byte into a pipe
 * that the event loop watches (ngx_notify is the thread pool's).
 *
 * Every worker reads the whole stream and queues each command into the
 * group commit; cv_cluster_apply_after() applies it once per store (the stream
 * seq applied is kept in the same transaction), so the first worker to
 * commit it applies it and the others skip it. A writer is answered by
 * its own worker once that worker's reader got past its command's seq,
 * with the outcome the store kept for that seq.
 *
 * Beside the stream, two core NATS subjects carry what is not kept:
 * typing signals (STREAM.typing) and each node's available agents for
 * routing (STREAM.presence, every 2 s), each with the sending node's id so
 * that a node skips its own.
 *
 * The webhooks are sent by one node at a time: our thread keeps the lease
 * in the key-value bucket for the worker that would send
 * (ngx_chatvisor_cluster_lease.c, ngx_chatvisor_cluster_webhooks()).
 *
 * The parts: this file (the process's start and exit, the writers'
 * publish and answer), _inbox.c (libnats' threads to the event loop),
 * _thread.c (our thread), _apply.c (applying the stream), _signals.c
 * (typing and presence), _lease.c (the webhooks' lease), _conf.c (the
 * directive); _impl.h is what they share.
 */


#include "ngx_chatvisor_cluster_impl.h"

#include <dlfcn.h>


ngx_chatvisor_cluster_t  *ngx_chatvisor_cluster;


uint64_t
ngx_chatvisor_cluster_applied(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t *secret_kept, int64_t *at)
{
    cv_txn    *t;
    int64_t    when;
    uint64_t   seq;

    seq = 0;
    when = 0;

    if (cmcf->store && cv_txn_begin(cmcf->store, 0, &t) == CV_OK) {
        (void) cv_cluster_applied_at(t, &seq, &when);

        if (secret_kept) {
            *secret_kept = cv_cluster_secret_kept(t);
        }

        cv_txn_abort(t);
    }

    if (at) {
        *at = when;
    }

    return seq;
}


/*
 * An exiting worker unloads this module (the cycle pool's cleanup,
 * dlclose) and with it libnats, before exit(). A thread of libnats that
 * let nats_CloseAndWait() go on may still be returning through libnats'
 * code then, or calling ours: it ran into unmapped memory (SIGSEGV, one
 * run in about 20 of t/127; the core had neither library mapped). Both
 * stay loaded in a worker that used the cluster: the process's end
 * unmaps them.
 */
static void
ngx_chatvisor_cluster_pin(ngx_log_t *log)
{
    void        *h;
    ngx_uint_t   i;
    Dl_info      info;
    void        *in[2];

    in[0] = (void *) ngx_chatvisor_cluster_pin;
    in[1] = (void *) nats_Now;

    for (i = 0; i < 2; i++) {
        if (dladdr(in[i], &info) == 0 || info.dli_fname == NULL) {
            continue;
        }

        h = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);

        if (h == NULL) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "chatvisor: cluster: cannot keep \"%s\" loaded "
                          "until exit", info.dli_fname);
        }
    }
}


ngx_int_t
ngx_chatvisor_cluster_init_process(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf)
{
    ngx_connection_t         *c;
    ngx_chatvisor_cluster_t  *cl;

    if (!ngx_chatvisor_cluster_on(cmcf) || cmcf->store == NULL) {
        return NGX_OK;
    }

    ngx_chatvisor_cluster_pin(cycle->log);

    /* not in the cycle's pool: libnats' threads may outlive the pool by
     * a moment at exit; the process's end frees it */
    cl = ngx_calloc(sizeof(ngx_chatvisor_cluster_t), cycle->log);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->cmcf = cmcf;
    cl->log = cycle->log;
    ngx_queue_init(&cl->waiting);
    ngx_chatvisor_cluster_lease_init(&cl->lease, cmcf->cluster.node,
                                     sizeof(cmcf->cluster.node));

    (void) ngx_snprintf(cl->typing_subject, sizeof(cl->typing_subject) - 1,
                        "%s%s%Z", cmcf->cluster.stream.data,
                        NGX_CHATVISOR_CLUSTER_TYPING_SUFFIX);
    (void) ngx_snprintf(cl->presence_subject,
                        sizeof(cl->presence_subject) - 1, "%s%s%Z",
                        cmcf->cluster.stream.data,
                        NGX_CHATVISOR_CLUSTER_PRESENCE_SUFFIX);
    (void) ngx_snprintf(cl->cobrowse_subject,
                        sizeof(cl->cobrowse_subject) - 1, "%s%s%Z",
                        cmcf->cluster.stream.data,
                        NGX_CHATVISOR_CLUSTER_COBROWSE_SUFFIX);

    cl->presence_timer.handler = ngx_chatvisor_cluster_presence_tell;
    cl->presence_timer.data = cl;
    cl->presence_timer.log = cycle->log;
    cl->presence_timer.cancelable = 1;    /* an exiting worker goes */
    ngx_add_timer(&cl->presence_timer, NGX_CHATVISOR_CLUSTER_PRESENCE_EVERY);

    if (pipe(cl->pipe) == -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      "chatvisor: cluster: pipe() failed");
        return NGX_ERROR;
    }

    if (ngx_nonblocking(cl->pipe[0]) == -1
        || ngx_nonblocking(cl->pipe[1]) == -1)
    {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      "chatvisor: cluster: " ngx_nonblocking_n " failed");
        close(cl->pipe[0]);
        close(cl->pipe[1]);
        return NGX_ERROR;
    }

    c = ngx_get_connection(cl->pipe[0], cycle->log);
    if (c == NULL) {
        close(cl->pipe[0]);
        close(cl->pipe[1]);
        return NGX_ERROR;
    }

    c->data = cl;
    c->read->handler = ngx_chatvisor_cluster_read;
    c->read->log = cycle->log;
    c->read->channel = 1;     /* not a client: shutdown does not wait */
    cl->conn = c;

    if (ngx_add_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
        ngx_free_connection(c);
        close(cl->pipe[0]);
        close(cl->pipe[1]);
        return NGX_ERROR;
    }

    pthread_mutex_init(&cl->mu, NULL);
    pthread_cond_init(&cl->cond, NULL);
    pthread_cond_init(&cl->room, NULL);

    /* the reader starts after what this store applied; the store may
     * hold the cluster's secret already (cmcf->secret is it then) */
    cl->seen = ngx_chatvisor_cluster_applied(cmcf, &cl->secret_ok,
                                             &cl->want_from_at);
    cl->want_from = cl->seen + 1;
    cl->want_gen = 1;
    cl->gen = 1;

    if (pthread_create(&cl->thread, NULL, ngx_chatvisor_cluster_thread, cl)
        != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "chatvisor: cluster: cannot start its thread");
        return NGX_ERROR;
    }

    cl->thread_started = 1;
    ngx_chatvisor_cluster = cl;

    return NGX_OK;
}


void
ngx_chatvisor_cluster_exit_process(ngx_cycle_t *cycle)
{
    ngx_chatvisor_cluster_t       *cl;
    ngx_chatvisor_cluster_item_t  *it, *next;

    cl = ngx_chatvisor_cluster;

    if (cl == NULL) {
        return;
    }

    ngx_chatvisor_cluster = NULL;

    if (cl->thread_started) {
        pthread_mutex_lock(&cl->mu);
        cl->stop = 1;
        pthread_cond_signal(&cl->cond);
        pthread_cond_broadcast(&cl->room);
        pthread_mutex_unlock(&cl->mu);

        /* it closes the connection: libnats' threads are gone after */
        pthread_join(cl->thread, NULL);
    }

    for (it = cl->head; it; it = next) {
        next = it->next;
        free(it);
    }

    cl->head = NULL;
    cl->tail = NULL;

    if (cl->conn) {
        /* its read end; the write end stays for libnats' last calls */
        ngx_close_connection(cl->conn);
        cl->conn = NULL;
    }
}


/*
 * The connection a publish from the event loop may use now, NULL when not
 * connected (or, with reading, when this worker's reader does not run).
 * Read under the mutex: our thread makes a new connection when libnats
 * closed one for good, and hands the old one to this loop to destroy
 * (NGX_CHATVISOR_CLUSTER_HUNG_UP), so what this returns stays good for the
 * rest of the loop's turn.
 */
natsConnection *
ngx_chatvisor_cluster_conn(ngx_chatvisor_cluster_t *cl, ngx_uint_t reading,
    jsCtx **js)
{
    natsConnection  *nc;

    pthread_mutex_lock(&cl->mu);

    nc = (reading ? cl->ready : cl->linked) ? cl->nc : NULL;

    if (js) {
        *js = nc ? cl->js : NULL;
    }

    pthread_mutex_unlock(&cl->mu);

    if (nc && natsConnection_Status(nc) != NATS_CONN_STATUS_CONNECTED) {
        return NULL;
    }

    return nc;
}


/* a writer's answer: its outcome from the store */
void
ngx_chatvisor_cluster_answer(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_wait_t *w, ngx_int_t rc)
{
    cv_txn     *t;
    cv_status   st;

    ngx_queue_remove(&w->queue);

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

    if (rc == NGX_OK) {
        st = cv_txn_begin(cl->cmcf->store, 0, &t);

        if (st == CV_OK) {
            st = cv_cluster_result_get(t, w->seq, &w->res);
            cv_txn_abort(t);
        }

        if (st != CV_OK) {
            ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                          "chatvisor: cluster: no outcome kept for "
                          "seq %uL", w->seq);
            rc = NGX_ERROR;
        }
    }

    w->rc = rc;
    w->done(w);
}


/* the writers whose command this worker's reader got past */
void
ngx_chatvisor_cluster_wake(ngx_chatvisor_cluster_t *cl)
{
    ngx_queue_t                   *q, *next;
    ngx_chatvisor_cluster_wait_t  *w;

    for (q = ngx_queue_head(&cl->waiting);
         q != ngx_queue_sentinel(&cl->waiting);
         q = next)
    {
        next = ngx_queue_next(q);
        w = ngx_queue_data(q, ngx_chatvisor_cluster_wait_t, queue);

        if (w->seq && w->seq <= cl->seen) {
            ngx_chatvisor_cluster_answer(cl, w, NGX_OK);

            /* done() may have finished other writers' requests: look
             * from the start again */
            next = ngx_queue_head(&cl->waiting);
        }
    }
}


ngx_chatvisor_cluster_wait_t *
ngx_chatvisor_cluster_find(ngx_chatvisor_cluster_t *cl, uint64_t id)
{
    ngx_queue_t                   *q;
    ngx_chatvisor_cluster_wait_t  *w;

    for (q = ngx_queue_head(&cl->waiting);
         q != ngx_queue_sentinel(&cl->waiting);
         q = ngx_queue_next(q))
    {
        w = ngx_queue_data(q, ngx_chatvisor_cluster_wait_t, queue);

        if (w->id == id) {
            return w;
        }
    }

    return NULL;
}


static void
ngx_chatvisor_cluster_timeout(ngx_event_t *ev)
{
    ngx_chatvisor_cluster_wait_t  *w = ev->data;

    if (ngx_chatvisor_cluster == NULL) {
        return;
    }

    if (w->seq) {
        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "chatvisor: cluster: seq %uL not applied here in time",
                      w->seq);

    } else {
        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "chatvisor: cluster: no acknowledgment in time");
    }

    ngx_chatvisor_cluster_answer(ngx_chatvisor_cluster, w,
                                 w->seq ? NGX_ERROR : NGX_DECLINED);
}


ngx_int_t
ngx_chatvisor_cluster_publish(ngx_chatvisor_main_conf_t *cmcf, cJSON *cmd,
    ngx_chatvisor_cluster_wait_t *w)
{
    char                      *text;
    u_char                     seed[CV_DET_SEED];
    u_char                     hex[NGX_CHATVISOR_CLUSTER_SEED_HEX + 1];
    u_char                     id[NGX_CHATVISOR_CLUSTER_ID_LEN + 1];
    jsCtx                     *js;
    natsMsg                   *msg;
    natsStatus                 s;
    jsPubOptions               po;
    ngx_chatvisor_cluster_t   *cl;

    cl = ngx_chatvisor_cluster;

    if (cl == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_chatvisor_cluster_conn(cl, 1, &js) == NULL) {
        return NGX_DECLINED;
    }

    /* the ids this command makes, the same on every node (cv_det.h) */
    if (cv_random_bytes(seed, sizeof(seed)) != CV_OK) {
        return NGX_ERROR;
    }

    *ngx_hex_dump(hex, seed, sizeof(seed)) = '\0';

    cJSON_DeleteItemFromObjectCaseSensitive(cmd, "seed");
    cJSON_DeleteItemFromObjectCaseSensitive(cmd, "now");
    cJSON_AddStringToObject(cmd, "seed", (char *) hex);
    cJSON_AddNumberToObject(cmd, "now", (double) cv_now_ms());

    text = cJSON_PrintUnformatted(cmd);
    if (text == NULL) {
        return NGX_ERROR;
    }

    s = natsMsg_Create(&msg, (const char *) cmcf->cluster.subject.data,
                       NULL, text, (int) ngx_strlen(text));
    cJSON_free(text);

    if (s != NATS_OK) {
        return NGX_ERROR;
    }

    w->id = ++cl->next_id;
    w->seq = 0;
    w->rc = NGX_DECLINED;
    ngx_memzero(&w->res, sizeof(cv_cluster_result));

    *ngx_sprintf(id, "%uL", w->id) = '\0';

    s = natsMsgHeader_Set(msg, NGX_CHATVISOR_CLUSTER_ID_HEADER,
                          (const char *) id);

    if (s == NATS_OK) {
        jsPubOptions_Init(&po);
        po.MaxWait = NGX_CHATVISOR_CLUSTER_ACK_WAIT;

        /* buffered for libnats' flusher: it does not wait for the
         * network (MaxPending keeps it from stalling) */
        s = js_PublishMsgAsync(js, &msg, &po);
    }

    if (s != NATS_OK) {
        natsMsg_Destroy(msg);
        return NGX_DECLINED;
    }

    ngx_queue_insert_tail(&cl->waiting, &w->queue);

    ngx_memzero(&w->timer, sizeof(ngx_event_t));
    w->timer.handler = ngx_chatvisor_cluster_timeout;
    w->timer.data = w;
    w->timer.log = cl->log;
    ngx_add_timer(&w->timer, NGX_CHATVISOR_CLUSTER_ACK_GUARD);

    return NGX_OK;
}


ngx_uint_t
ngx_chatvisor_cluster_webhooks(ngx_uint_t want)
{
    ngx_uint_t                held, asked;
    ngx_chatvisor_cluster_t  *cl;

    cl = ngx_chatvisor_cluster;

    if (cl == NULL) {
        return 0;
    }

    held = ngx_chatvisor_cluster_lease_held(&cl->lease, want, cl->seen,
                                            &asked);

    if (asked) {
        /* our thread asks for the lease now, not at its next tick */
        pthread_mutex_lock(&cl->mu);
        pthread_cond_signal(&cl->cond);
        pthread_mutex_unlock(&cl->mu);
    }

    return held;
}
