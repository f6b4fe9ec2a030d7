/*
 * Cluster mode: co-browsing across nodes. Every change of a session
 * (ngx_chatvisor_cobrowse_sessions.c) is published on a core NATS subject
 * (STREAM.cobrowse, not the stream: nothing of it is kept) with the
 * sending node's id; the other nodes apply it to their own table. One
 * worker of a node (worker 0) listens, so that a change is applied once
 * per node; its notices wake the polls of every worker.
 */


#include "ngx_chatvisor_cluster_impl.h"


/* NATS' default max_payload, when the server did not say (disconnected) */
#define NGX_CHATVISOR_CLUSTER_PAYLOAD_DEFAULT  (1024 * 1024)

#define NGX_CHATVISOR_CLUSTER_COBROWSE_HEAD                                   \
    (NGX_CHATVISOR_CLUSTER_NODE_LEN + sizeof(ngx_chatvisor_cobrowse_change_t))


size_t
ngx_chatvisor_cluster_cobrowse_max(void)
{
    int64_t                   max;
    natsConnection           *nc;
    ngx_chatvisor_cluster_t  *cl;

    cl = ngx_chatvisor_cluster;

    if (cl == NULL) {
        return 0;
    }

    nc = ngx_chatvisor_cluster_conn(cl, 0, NULL);
    max = nc ? natsConnection_GetMaxPayload(nc) : 0;

    if (max <= (int64_t) NGX_CHATVISOR_CLUSTER_COBROWSE_HEAD) {
        max = NGX_CHATVISOR_CLUSTER_PAYLOAD_DEFAULT;
    }

    return (size_t) max - NGX_CHATVISOR_CLUSTER_COBROWSE_HEAD;
}


void
ngx_chatvisor_cluster_cobrowse(ngx_chatvisor_cobrowse_change_t *ch,
    u_char *data, size_t len)
{
    /* like typing, a change is worth nothing later: the other nodes'
     * sessions end by themselves (agent_gone) when they miss too much */
    if (ngx_chatvisor_cluster) {
        ngx_chatvisor_cluster_tell(ngx_chatvisor_cluster,
                                   ngx_chatvisor_cluster->cobrowse_subject, ch,
                                   sizeof(ngx_chatvisor_cobrowse_change_t),
                                   data, len);
    }
}


/* a libnats thread: another node's change (node id, change, events) */
void
ngx_chatvisor_cluster_cobrowse_in(natsConnection *nc, natsSubscription *sub,
    natsMsg *msg, void *closure)
{
    ngx_chatvisor_cluster_heard(closure, msg, NGX_CHATVISOR_CLUSTER_COBROWSE,
                                sizeof(ngx_chatvisor_cobrowse_change_t),
                                (size_t) -1, 0);
}


/* the event loop: the change, to this node's sessions */
void
ngx_chatvisor_cluster_cobrowse_take(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_item_t *it)
{
    ngx_chatvisor_cobrowse_change_t  ch;

    /* a copy: the item's data need not be aligned for the struct */
    ngx_memcpy(&ch, it->data, sizeof(ngx_chatvisor_cobrowse_change_t));

    ch.conversation_id[CV_ID_MAX - 1] = '\0';
    ch.customer_id[CV_ID_MAX - 1] = '\0';
    ch.agent_id[CV_AGENT_ID_MAX] = '\0';
    ch.agent_name[CV_AGENT_NAME_MAX] = '\0';
    ch.recorder[NGX_CHATVISOR_COBROWSE_RECORDER_MAX] = '\0';

    ngx_chatvisor_cobrowse_apply(cl->cmcf, &ch,
                                 it->data
                                 + sizeof(ngx_chatvisor_cobrowse_change_t),
                                 it->len
                                 - sizeof(ngx_chatvisor_cobrowse_change_t));
}
