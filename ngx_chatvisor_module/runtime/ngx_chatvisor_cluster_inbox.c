/*
 * Cluster mode: from libnats' threads to the event loop. What libnats'
 * threads learn (a publish acknowledged or refused, a command read from
 * the stream, a note for the log) goes into the worker's inbox under a
 * mutex, and a byte into a pipe that the event loop watches
 * (ngx_chatvisor_cluster_read() takes everything there is). The reader's
 * callback waits while the loop has CMDS_MAX commands to apply.
 */


#include "ngx_chatvisor_cluster_impl.h"


/* under cl->mu or not: pushes an item and wakes the event loop */
void
ngx_chatvisor_cluster_push(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_item_t *it)
{
    u_char      byte;
    ngx_uint_t  was_empty;

    it->next = NULL;

    pthread_mutex_lock(&cl->mu);

    was_empty = (cl->head == NULL);

    if (cl->tail) {
        cl->tail->next = it;

    } else {
        cl->head = it;
    }

    cl->tail = it;

    pthread_mutex_unlock(&cl->mu);

    if (was_empty) {
        /* a full pipe already says it: the loop takes everything */
        byte = 0;

        if (write(cl->pipe[1], &byte, 1) == -1) {
            /* EAGAIN: a full pipe wakes the loop all the same */
        }
    }
}


ngx_chatvisor_cluster_item_t *
ngx_chatvisor_cluster_item(ngx_uint_t kind, const void *data, size_t len)
{
    ngx_chatvisor_cluster_item_t  *it;

    it = malloc(sizeof(ngx_chatvisor_cluster_item_t) + len);
    if (it == NULL) {
        return NULL;
    }

    ngx_memzero(it, sizeof(ngx_chatvisor_cluster_item_t));
    it->kind = kind;
    it->len = len;

    if (len) {
        ngx_memcpy(it->data, data, len);
    }

    it->data[len] = '\0';

    return it;
}


void
ngx_chatvisor_cluster_note(ngx_chatvisor_cluster_t *cl, const char *what,
    natsStatus s)
{
    char                           text[NGX_MAX_ERROR_STR];
    int                            n;
    ngx_chatvisor_cluster_item_t  *it;

    n = snprintf(text, sizeof(text), "%s%s%s", what,
                 s == NATS_OK ? "" : ": ",
                 s == NATS_OK ? "" : natsStatus_GetText(s));
    if (n < 0) {
        return;
    }

    it = ngx_chatvisor_cluster_item(NGX_CHATVISOR_CLUSTER_NOTE, text,
                                    ngx_min((size_t) n, sizeof(text) - 1));
    if (it) {
        ngx_chatvisor_cluster_push(cl, it);
    }
}


/* a libnats thread: JetStream's answer to a publish */
void
ngx_chatvisor_cluster_acked(jsCtx *js, natsMsg *msg, jsPubAck *pa,
    jsPubAckErr *pae, void *closure)
{
    ngx_chatvisor_cluster_t *cl = closure;

    const char                    *id;
    ngx_chatvisor_cluster_item_t  *it;

    if (natsMsgHeader_Get(msg, NGX_CHATVISOR_CLUSTER_ID_HEADER, &id)
        != NATS_OK)
    {
        natsMsg_Destroy(msg);
        return;
    }

    it = ngx_chatvisor_cluster_item(pa ? NGX_CHATVISOR_CLUSTER_ACK
                                       : NGX_CHATVISOR_CLUSTER_NACK,
                                    NULL, 0);
    if (it) {
        it->id = strtoull(id, NULL, 10);
        it->seq = pa ? pa->Sequence : 0;
        ngx_chatvisor_cluster_push(cl, it);
    }

    natsMsg_Destroy(msg);
}


/* a libnats thread: waits while the loop has CMDS_MAX commands to apply;
 * 0 when the worker exits */
static ngx_uint_t
ngx_chatvisor_cluster_room(ngx_chatvisor_cluster_t *cl)
{
    ngx_uint_t       go;
    struct timespec  ts;

    pthread_mutex_lock(&cl->mu);

    while (cl->cmds >= NGX_CHATVISOR_CLUSTER_CMDS_MAX && !cl->stop) {
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += NGX_CHATVISOR_CLUSTER_CMDS_WAIT * 1000000L;

        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }

        (void) pthread_cond_timedwait(&cl->room, &cl->mu, &ts);
    }

    go = !cl->stop;

    if (go) {
        cl->cmds++;
    }

    pthread_mutex_unlock(&cl->mu);

    return go;
}


/* any thread: a command read is applied or dropped */
void
ngx_chatvisor_cluster_cmd_left(ngx_chatvisor_cluster_t *cl)
{
    pthread_mutex_lock(&cl->mu);

    if (cl->cmds > 0 && cl->cmds-- == NGX_CHATVISOR_CLUSTER_CMDS_MAX) {
        pthread_cond_signal(&cl->room);
    }

    pthread_mutex_unlock(&cl->mu);
}


/* a libnats thread: the next command of the stream */
void
ngx_chatvisor_cluster_cmd(natsConnection *nc, natsSubscription *sub,
    natsMsg *msg, void *closure)
{
    ngx_chatvisor_cluster_reader_t *r = closure;

    uint64_t                       seq, prev;
    jsMsgMetaData                 *meta;
    ngx_chatvisor_cluster_t       *cl;
    ngx_chatvisor_cluster_item_t  *it;

    cl = r->cl;

    if (!ngx_chatvisor_cluster_room(cl)) {
        natsMsg_Destroy(msg);
        return;
    }

    if (natsMsg_GetMetaData(&meta, msg) != NATS_OK) {
        ngx_chatvisor_cluster_cmd_left(cl);
        natsMsg_Destroy(msg);
        return;
    }

    /*
     * The consumer's delivery seq counts what it delivered, the stream's
     * skips what was removed (an erasure): one more than the last
     * delivery says nothing was lost since the last stream seq, so a jump
     * of the stream seq is a removal; otherwise (libnats dropped messages
     * for a slow reader) only the next seq may apply (cv_cluster.h).
     * libnats calls a subscription's handler one message at a time.
     */
    seq = meta->Sequence.Stream;
    prev = (meta->Sequence.Consumer == r->consumer + 1) ? r->stream
                                                        : seq - 1;
    r->stream = seq;
    r->consumer = meta->Sequence.Consumer;

    it = ngx_chatvisor_cluster_item(NGX_CHATVISOR_CLUSTER_CMD,
                                    natsMsg_GetData(msg),
                                    natsMsg_GetDataLength(msg));
    if (it) {
        it->seq = seq;
        it->prev = prev;
        it->gen = r->gen;
        ngx_chatvisor_cluster_push(cl, it);

    } else {
        /* lost: the next one's prev is this seq, a gap to the loop */
        ngx_chatvisor_cluster_cmd_left(cl);
    }

    jsMsgMetaData_Destroy(meta);
    natsMsg_Destroy(msg);
}


/* a libnats thread: a reader's subscription is closed, its handler done */
void
ngx_chatvisor_cluster_reader_free(void *closure)
{
    free(closure);
}


void
ngx_chatvisor_cluster_read(ngx_event_t *ev)
{
    u_char                         buf[64];
    ssize_t                        n;
    ngx_connection_t              *c;
    ngx_chatvisor_cluster_t       *cl;
    ngx_chatvisor_cluster_wait_t  *w;
    ngx_chatvisor_cluster_item_t  *it, *next;

    c = ev->data;
    cl = c->data;

    do {
        n = read(cl->pipe[0], buf, sizeof(buf));
    } while (n > 0);

    pthread_mutex_lock(&cl->mu);
    it = cl->head;
    cl->head = NULL;
    cl->tail = NULL;
    pthread_mutex_unlock(&cl->mu);

    for ( /* void */ ; it; it = next) {
        next = it->next;

        switch (it->kind) {

        case NGX_CHATVISOR_CLUSTER_CMD:
            ngx_chatvisor_cluster_apply(cl, it);
            break;

        case NGX_CHATVISOR_CLUSTER_ACK:
            w = ngx_chatvisor_cluster_find(cl, it->id);
            if (w == NULL) {
                break;      /* answered already (our guard's timeout) */
            }

            w->seq = it->seq;

            if (w->seq <= cl->seen) {
                ngx_chatvisor_cluster_answer(cl, w, NGX_OK);
                break;
            }

            /* stored by a quorum: now it waits for this node to apply */
            ngx_add_timer(&w->timer, NGX_CHATVISOR_CLUSTER_APPLY_WAIT);
            break;

        case NGX_CHATVISOR_CLUSTER_NACK:
            w = ngx_chatvisor_cluster_find(cl, it->id);
            if (w) {
                ngx_chatvisor_cluster_answer(cl, w, NGX_DECLINED);
            }
            break;

        case NGX_CHATVISOR_CLUSTER_TYPING:
            /* this worker's polls (every worker hears the subject) */
            ngx_chatvisor_notice_deliver(
                                   (ngx_chatvisor_notice_t *) it->data);
            break;

        case NGX_CHATVISOR_CLUSTER_PRESENCE:
            ngx_chatvisor_cluster_presence_take(cl, it);
            break;

        case NGX_CHATVISOR_CLUSTER_SECRET:
            ngx_chatvisor_cluster_secret_take(cl, it->data);
            break;

        case NGX_CHATVISOR_CLUSTER_COBROWSE:
            ngx_chatvisor_cluster_cobrowse_take(cl, it);
            break;

        case NGX_CHATVISOR_CLUSTER_ERASED:
            ngx_chatvisor_cluster_erased_take(cl, it);
            break;

        case NGX_CHATVISOR_CLUSTER_BEHIND:
            /* our thread stopped reading (cl->stuck): as for an op this
             * node does not know, reads stay and writes are refused */
            cl->halted = 1;
            ngx_log_error(NGX_LOG_CRIT, cl->log, 0,
                          "chatvisor: cluster: %s", it->data);
            break;

        case NGX_CHATVISOR_CLUSTER_HUNG_UP:
            /* no publish of this loop uses them any more */
            if (it->js) {
                jsCtx_Destroy(it->js);
            }

            natsConnection_Destroy(it->nc);
            break;

        case NGX_CHATVISOR_CLUSTER_NOTE_ERR:
            ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                          "chatvisor: cluster: %s", it->data);
            break;

        default: /* NGX_CHATVISOR_CLUSTER_NOTE */
            ngx_log_error(NGX_LOG_NOTICE, cl->log, 0,
                          "chatvisor: cluster: %s", it->data);
            break;
        }

        free(it);
    }

    if (ngx_handle_read_event(ev, 0) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                      "chatvisor: cluster: cannot watch its pipe");
    }
}
