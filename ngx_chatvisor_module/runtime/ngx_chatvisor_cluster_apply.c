/*
 * Cluster mode: applying the stream in the event loop. Each command read
 * goes into the group commit (cv_cluster_apply_after() applies it once
 * per store); its outcome wakes the polls and this worker's writers, a
 * gap makes the reader start again from the store's seq, and a command
 * this node does not know stops it. Also the signing secret kept in the
 * store, and the erased customers' commands taken off the to-do once the
 * stream lost them.
 */


#include "ngx_chatvisor_cluster_impl.h"


static void ngx_chatvisor_cluster_resync(ngx_chatvisor_cluster_t *cl);


static cv_status
ngx_chatvisor_cluster_apply_run(ngx_chatvisor_op_t *op, cv_txn *t)
{
    cv_status                       st;
    ngx_chatvisor_cluster_apply_t  *a = op->data;

    cv_cluster_result_clear(&a->res);

    st = cv_cluster_apply_after(t, a->seq, a->prev,
                                (const char *) a->data, a->len, &a->res);

    if (st != CV_OK || a->res.skipped || a->res.status != CV_OK
        || a->res.quiet)
    {
        return st;
    }

    if (a->res.message.json && !a->res.message.duplicate) {
        op->author = a->res.author;
    }

    op->opened = a->res.opened;
    op->closed = a->res.closed;

    if (a->res.webhooks) {
        /* endpoints changed: the node's sender looks again */
        ngx_chatvisor_op_notice(op, NGX_CHATVISOR_NOTICE_WEBHOOKS, NULL,
                                NULL);
        return CV_OK;
    }

    if (a->res.settings || a->res.presence) {
        return CV_OK;       /* no poll has news: mirrored once committed */
    }

    if (a->res.conversation_id[0] == '\0') {
        /* an agent's record: a disabled one's conversations went back to
         * the queue, and every console looks */
        ngx_chatvisor_op_notice(op, NGX_CHATVISOR_NOTICE_ALL, NULL, NULL);
        return CV_OK;
    }

    ngx_chatvisor_op_notice(op, NGX_CHATVISOR_NOTICE_CHANGE,
                            a->res.customer_id[0] ? a->res.customer_id
                                                  : NULL,
                            a->res.conversation_id);

    return CV_OK;
}


/*
 * A command of an op this node does not know: a newer node wrote it.
 * Applying it as nothing would make this store differ from the others
 * for good, so the worker stops there (reads stay, writes answer 503)
 * until the node runs a version that knows it: a reload or restart then
 * reads on from this seq.
 */
static void
ngx_chatvisor_cluster_stuck(ngx_chatvisor_cluster_t *cl, uint64_t seq,
    const char *op)
{
    pthread_mutex_lock(&cl->mu);

    if (cl->stuck) {
        pthread_mutex_unlock(&cl->mu);
        return;
    }

    cl->stuck = 1;
    cl->ready = 0;
    pthread_cond_signal(&cl->cond);
    pthread_mutex_unlock(&cl->mu);

    cl->halted = 1;

    ngx_log_error(NGX_LOG_CRIT, cl->log, 0,
                  "chatvisor: cluster: seq %uL is a command this node does "
                  "not know (op \"%s\"), written by a newer node: this "
                  "worker applies nothing more and refuses writes until "
                  "the node is upgraded", seq, op);
}


/* settings a command replaced, committed by this worker: the node's
 * shared memory mirrors them for the edge (as after a local PUT) */

static void
ngx_chatvisor_cluster_settings(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_apply_t *a)
{
    if (a->res.settings == NULL || a->res.skipped
        || a->res.status != CV_OK || a->res.result == NULL)
    {
        return;
    }

    if (ngx_strcmp(a->res.settings, "visibility") == 0) {
        ngx_chatvisor_settings_visibility_set(cl->cmcf, a->res.result);

    } else if (ngx_chatvisor_settings_widget_set(cl->cmcf, a->res.result)
               != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, cl->log, 0,
                      "chatvisor: cluster: runtime widget settings of seq "
                      "%uL too large", a->seq);
    }
}


/* an agent's status a command set, committed by this worker: into the
 * node's presence (whether the agent is online comes from the nodes'
 * presence subject, ngx_chatvisor_cluster_signals.c) */

static void
ngx_chatvisor_cluster_presence(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_apply_t *a)
{
    const char  *id;

    if (a->res.presence == NULL || a->res.skipped
        || a->res.status != CV_OK)
    {
        return;
    }

    id = cJSON_GetStringValue(cJSON_GetObjectItem(a->res.result, "id"));

    if (id == NULL
        || ngx_chatvisor_presence_set(cl->cmcf, id, a->res.presence,
                                      a->res.presence_external)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                      "chatvisor: cluster: the agent status of seq %uL "
                      "does not fit in the presence table", a->seq);
    }
}


/*
 * Agents a command disabled or deleted stop counting as online on this
 * node at once, as on the node that took the request (its API does the
 * same after a local write): otherwise a console that polled here would
 * keep telling the other nodes about a disabled agent until it timed out.
 */

static void
ngx_chatvisor_cluster_agent_offline(ngx_chatvisor_cluster_t *cl,
    cJSON *agent)
{
    const char  *id;

    if (cJSON_IsFalse(cJSON_GetObjectItem(agent, "enabled"))) {
        id = cJSON_GetStringValue(cJSON_GetObjectItem(agent, "id"));

        if (id) {
            ngx_chatvisor_presence_remove(cl->cmcf, id);
        }
    }
}


static void
ngx_chatvisor_cluster_agents_offline(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_apply_t *a)
{
    cJSON  *items, *agent;

    if (!a->res.agents || a->res.skipped || a->res.status != CV_OK) {
        return;
    }

    if (a->res.agent_deleted[0]) {
        ngx_chatvisor_presence_remove(cl->cmcf, a->res.agent_deleted);
        return;
    }

    items = cJSON_GetObjectItem(a->res.result, "items");

    if (items == NULL) {
        ngx_chatvisor_cluster_agent_offline(cl, a->res.result);
        return;
    }

    cJSON_ArrayForEach(agent, items) {
        ngx_chatvisor_cluster_agent_offline(cl, agent);
    }
}


static void
ngx_chatvisor_cluster_apply_done(ngx_chatvisor_op_t *op)
{
    ngx_chatvisor_cluster_t        *cl;
    ngx_chatvisor_cluster_apply_t  *a = op->data;

    cl = ngx_chatvisor_cluster;

    if (cl) {
        ngx_chatvisor_cluster_cmd_left(cl);
    }

    if (cl && a->gen == cl->gen && op->status == CV_OK && a->res.unknown) {
        ngx_chatvisor_cluster_stuck(cl, a->seq, a->res.why);

    } else if (cl && a->gen == cl->gen && !cl->halted) {

        if (op->status == CV_OK) {
            if (a->res.erase_todo) {
                ngx_chatvisor_cluster_erase_look(cl);
            }
            ngx_chatvisor_cluster_settings(cl, a);
            ngx_chatvisor_cluster_presence(cl, a);
            ngx_chatvisor_cluster_agents_offline(cl, a);

            if (a->seq > cl->seen) {
                cl->seen = a->seq;

                /* a reader that libnats could not keep (the cluster was
                 * gone for long) is made again from here */
                pthread_mutex_lock(&cl->mu);
                cl->want_from = cl->seen + 1;
                cl->want_from_at = a->res.applied_at;

                pthread_mutex_unlock(&cl->mu);
            }

            ngx_chatvisor_cluster_wake(cl);

        } else {
            /* a gap (CV_CONFLICT) or a failing store: read the stream
             * again after what the store has */
            ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                          "chatvisor: cluster: seq %uL not applied (%s), "
                          "reading the stream again", a->seq,
                          cv_status_text(op->status));
            ngx_chatvisor_cluster_resync(cl);
        }
    }

    ngx_chatvisor_op_clear(op);
    cv_cluster_result_clear(&a->res);
    ngx_free(a);
}


static void
ngx_chatvisor_cluster_resync(ngx_chatvisor_cluster_t *cl)
{
    int64_t   at;
    uint64_t  applied;

    applied = ngx_chatvisor_cluster_applied(cl->cmcf, NULL, &at);

    if (applied > cl->seen) {
        cl->seen = applied;
    }

    cl->gen++;

    pthread_mutex_lock(&cl->mu);
    cl->want_from = applied + 1;
    cl->want_from_at = at;
    cl->want_gen = cl->gen;
    pthread_cond_signal(&cl->cond);
    pthread_mutex_unlock(&cl->mu);

    ngx_chatvisor_cluster_wake(cl);
}


void
ngx_chatvisor_cluster_apply(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_item_t *it)
{
    ngx_chatvisor_cluster_apply_t  *a;

    if (it->gen != cl->gen || cl->halted) {
        ngx_chatvisor_cluster_cmd_left(cl);
        return;             /* a reader we replaced, or we stopped */
    }

    if (it->seq <= cl->seen) {
        ngx_chatvisor_cluster_cmd_left(cl);
        return;             /* applied here before (a reader's restart) */
    }

    a = ngx_alloc(sizeof(ngx_chatvisor_cluster_apply_t) + it->len, cl->log);
    if (a == NULL) {
        ngx_chatvisor_cluster_cmd_left(cl);
        ngx_chatvisor_cluster_resync(cl);
        return;
    }

    ngx_memzero(a, sizeof(ngx_chatvisor_cluster_apply_t));
    a->seq = it->seq;
    a->prev = it->prev;
    a->gen = it->gen;
    a->len = it->len;
    ngx_memcpy(a->data, it->data, it->len);

    a->op.run = ngx_chatvisor_cluster_apply_run;
    a->op.done = ngx_chatvisor_cluster_apply_done;
    a->op.data = a;

    if (ngx_chatvisor_commit(cl->cmcf, &a->op) != NGX_OK) {
        ngx_chatvisor_cluster_cmd_left(cl);
        ngx_free(a);
    }
}


static cv_status
ngx_chatvisor_cluster_secret_run(ngx_chatvisor_op_t *op, cv_txn *t)
{
    ngx_chatvisor_cluster_t  *cl = op->data;

    return cv_cluster_secret_set(t, cl->cmcf->secret);
}


static void
ngx_chatvisor_cluster_secret_done(ngx_chatvisor_op_t *op)
{
    ngx_chatvisor_cluster_t  *cl = op->data;

    if (op->status != CV_OK) {
        ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                      "chatvisor: cluster: the shared secret is not kept "
                      "in the store (%s)", cv_status_text(op->status));
    }

    ngx_chatvisor_op_clear(op);
}


/*
 * The cluster's signing secret: this worker signs and checks with it from
 * now on, and the store keeps it for the next start (so that a node that
 * starts without the cluster checks cookies as the others do).
 */
void
ngx_chatvisor_cluster_secret_take(ngx_chatvisor_cluster_t *cl,
    u_char *secret)
{
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = cl->cmcf;

    if (ngx_memcmp(cmcf->secret, secret, CV_STORE_SECRET_LEN) != 0) {
        ngx_memcpy(cmcf->secret, secret, CV_STORE_SECRET_LEN);
        cmcf->secret_gen++;
    }

    ngx_memzero(&cl->secret_op, sizeof(ngx_chatvisor_op_t));
    cl->secret_op.run = ngx_chatvisor_cluster_secret_run;
    cl->secret_op.done = ngx_chatvisor_cluster_secret_done;
    cl->secret_op.data = cl;

    if (ngx_chatvisor_commit(cmcf, &cl->secret_op) != NGX_OK) {
        ngx_chatvisor_cluster_secret_done(&cl->secret_op);
    }
}


/* ------------------------------------ erasure from the stream (loop) */

/* the next batch of the store's to-do goes to our thread (one at a time) */
void
ngx_chatvisor_cluster_erase_look(ngx_chatvisor_cluster_t *cl)
{
    size_t     n;
    cv_txn    *t;
    uint64_t   seqs[CV_CLUSTER_ERASE_BATCH];

    if (cl->erasing || cl->cmcf->store == NULL) {
        return;
    }

    n = 0;

    if (cv_txn_begin(cl->cmcf->store, 0, &t) != CV_OK) {
        return;
    }

    (void) cv_cluster_erase_todo(t, seqs, CV_CLUSTER_ERASE_BATCH, &n);
    cv_txn_abort(t);

    if (n == 0) {
        return;
    }

    cl->erasing = 1;

    pthread_mutex_lock(&cl->mu);
    ngx_memcpy(cl->erase, seqs, n * sizeof(uint64_t));
    cl->nerase = n;
    pthread_cond_signal(&cl->cond);
    pthread_mutex_unlock(&cl->mu);
}


static cv_status
ngx_chatvisor_cluster_erased_run(ngx_chatvisor_op_t *op, cv_txn *t)
{
    size_t                           i;
    cv_status                        st;
    ngx_chatvisor_cluster_erased_t  *e = op->data;

    st = CV_OK;

    for (i = 0; i < e->n && st == CV_OK; i++) {
        st = cv_cluster_erase_done(t, e->seqs[i]);
    }

    return st;
}


static void
ngx_chatvisor_cluster_erased_done(ngx_chatvisor_op_t *op)
{
    ngx_chatvisor_cluster_t  *cl;

    cl = ngx_chatvisor_cluster;

    ngx_chatvisor_op_clear(op);

    if (cl == NULL) {
        return;             /* the worker exits */
    }

    cl->erasing = 0;

    if (op->status == CV_OK && cl->erased.n == CV_CLUSTER_ERASE_BATCH) {
        ngx_chatvisor_cluster_erase_look(cl);     /* more may be left */
    }
}


/* our thread removed these seqs from the stream: off the to-do */
void
ngx_chatvisor_cluster_erased_take(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_item_t *it)
{
    ngx_chatvisor_cluster_erased_t  *e;

    e = &cl->erased;
    e->n = ngx_min(it->len / sizeof(uint64_t), CV_CLUSTER_ERASE_BATCH);

    if (e->n == 0) {
        cl->erasing = 0;    /* none this time: the timer tries again */
        return;
    }

    ngx_memcpy(e->seqs, it->data, e->n * sizeof(uint64_t));

    ngx_memzero(&e->op, sizeof(ngx_chatvisor_op_t));
    e->op.run = ngx_chatvisor_cluster_erased_run;
    e->op.done = ngx_chatvisor_cluster_erased_done;
    e->op.data = e;

    if (ngx_chatvisor_commit(cl->cmcf, &e->op) != NGX_OK) {
        cl->erasing = 0;
    }
}
