/*
 * Cluster mode: what crosses nodes without being kept, on core NATS
 * subjects beside the stream: typing signals (STREAM.typing) and each
 * node's available agents for routing (STREAM.presence, every
 * PRESENCE_EVERY ms), each with the sending node's id so that a node
 * skips its own.
 */


#include "ngx_chatvisor_cluster_impl.h"


/* a libnats thread: another node's typing signal (node id, notice) */
void
ngx_chatvisor_cluster_typing_in(natsConnection *nc, natsSubscription *sub,
    natsMsg *msg, void *closure)
{
    ngx_chatvisor_cluster_t *cl = closure;

    const u_char                  *data;
    ngx_chatvisor_cluster_item_t  *it;

    data = (const u_char *) natsMsg_GetData(msg);

    if (natsMsg_GetDataLength(msg) == (int) (sizeof(cl->cmcf->cluster.node)
                                         + sizeof(ngx_chatvisor_notice_t))
        && ngx_memcmp(data, cl->cmcf->cluster.node,
                      sizeof(cl->cmcf->cluster.node))
           != 0)
    {
        it = ngx_chatvisor_cluster_item(NGX_CHATVISOR_CLUSTER_TYPING,
                                        data + sizeof(cl->cmcf->cluster.node),
                                        sizeof(ngx_chatvisor_notice_t));
        if (it) {
            ngx_chatvisor_cluster_push(cl, it);
        }
    }

    natsMsg_Destroy(msg);
}


/* a libnats thread: another node's agents online (node id, JSON) */
void
ngx_chatvisor_cluster_presence_in(natsConnection *nc, natsSubscription *sub,
    natsMsg *msg, void *closure)
{
    ngx_chatvisor_cluster_t *cl = closure;

    int                            len;
    const u_char                  *data;
    ngx_chatvisor_cluster_item_t  *it;

    data = (const u_char *) natsMsg_GetData(msg);
    len = natsMsg_GetDataLength(msg);

    if (len > NGX_CHATVISOR_CLUSTER_NODE_LEN
        && ngx_memcmp(data, cl->cmcf->cluster.node,
                      NGX_CHATVISOR_CLUSTER_NODE_LEN)
           != 0)
    {
        it = ngx_chatvisor_cluster_item(NGX_CHATVISOR_CLUSTER_PRESENCE,
                                        data, (size_t) len);
        if (it) {
            ngx_chatvisor_cluster_push(cl, it);
        }
    }

    natsMsg_Destroy(msg);
}


/*
 * Another node's agents online, into the shared zone where every request
 * reads presence. {"available": [ids], "away": [ids]}; a bare array is a
 * node of the version before (its available agents only).
 */
void
ngx_chatvisor_cluster_presence_take(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_item_t *it)
{
    cJSON  *told, *available, *away;

    told = cJSON_ParseWithLength((const char *) it->data
                                 + NGX_CHATVISOR_CLUSTER_NODE_LEN,
                                 it->len - NGX_CHATVISOR_CLUSTER_NODE_LEN);

    if (cJSON_IsArray(told)) {
        available = told;
        away = NULL;

    } else if (cJSON_IsObject(told)) {
        available = cJSON_GetObjectItemCaseSensitive(told,
                                     NGX_CHATVISOR_PRESENCE_AVAILABLE);
        away = cJSON_GetObjectItemCaseSensitive(told,
                                     NGX_CHATVISOR_PRESENCE_AWAY);

    } else {
        cJSON_Delete(told);
        return;
    }

    ngx_chatvisor_presence_heard(cl->cmcf, it->data, available, away,
                                 NGX_CHATVISOR_CLUSTER_PRESENCE_EVERY
                                 * NGX_CHATVISOR_CLUSTER_PRESENCE_KEEP);
    cJSON_Delete(told);
}


/* this node's agents online, to the others (every node, even with none:
 * what it says replaces what it said) */
void
ngx_chatvisor_cluster_presence_tell(ngx_event_t *ev)
{
    char                     *text;
    u_char                   *data;
    cJSON                    *told, *available, *away;
    size_t                    len;
    natsConnection           *nc;
    ngx_chatvisor_cluster_t  *cl = ev->data;

    ngx_add_timer(ev, NGX_CHATVISOR_CLUSTER_PRESENCE_EVERY);

    /* the store's to-do of removals from the stream, tried again */
    ngx_chatvisor_cluster_erase_look(cl);

    nc = ngx_chatvisor_cluster_conn(cl, 0, NULL);
    if (nc == NULL) {
        return;
    }

    told = cJSON_CreateObject();
    available = cJSON_AddArrayToObject(told, NGX_CHATVISOR_PRESENCE_AVAILABLE);
    away = cJSON_AddArrayToObject(told, NGX_CHATVISOR_PRESENCE_AWAY);

    if (available == NULL || away == NULL) {
        cJSON_Delete(told);
        return;
    }

    ngx_chatvisor_presence_local(cl->cmcf, available, away);
    text = cJSON_PrintUnformatted(told);
    cJSON_Delete(told);

    if (text == NULL) {
        return;
    }

    len = ngx_strlen(text);
    data = ngx_alloc(NGX_CHATVISOR_CLUSTER_NODE_LEN + len, ev->log);

    if (data) {
        ngx_memcpy(data, cl->cmcf->cluster.node,
                   NGX_CHATVISOR_CLUSTER_NODE_LEN);
        ngx_memcpy(data + NGX_CHATVISOR_CLUSTER_NODE_LEN, text, len);

        (void) natsConnection_Publish(nc,
                                (const char *) cl->presence_subject, data,
                                (int) (NGX_CHATVISOR_CLUSTER_NODE_LEN + len));
        ngx_free(data);
    }

    cJSON_free(text);
}


void
ngx_chatvisor_cluster_typing(ngx_chatvisor_notice_t *n)
{
    u_char                    data[sizeof(((ngx_chatvisor_cluster_conf_t *)
                                           0)->node)
                                   + sizeof(ngx_chatvisor_notice_t)];
    natsConnection           *nc;
    ngx_chatvisor_cluster_t  *cl;

    cl = ngx_chatvisor_cluster;

    if (cl == NULL) {
        return;
    }

    /* a signal is worth nothing later: not sent while disconnected; a
     * core NATS message, it does not wait for the stream's reader */
    nc = ngx_chatvisor_cluster_conn(cl, 0, NULL);
    if (nc == NULL) {
        return;
    }

    ngx_memcpy(data, cl->cmcf->cluster.node, sizeof(cl->cmcf->cluster.node));
    ngx_memcpy(data + sizeof(cl->cmcf->cluster.node), n,
               sizeof(ngx_chatvisor_notice_t));

    /* buffered for libnats' flusher: no wait here */
    (void) natsConnection_Publish(nc,
                                  (const char *) cl->typing_subject,
                                  data, (int) sizeof(data));
}
