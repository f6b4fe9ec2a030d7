/*
 * Cluster mode: what crosses nodes without being kept, on core NATS
 * subjects beside the stream: typing signals (STREAM.typing), each node's
 * agents online (STREAM.presence, every PRESENCE_EVERY ms) and co-browsing
 * changes (ngx_chatvisor_cluster_cobrowse.c), each told with the sending
 * node's id so that a node skips its own.
 */


#include "ngx_chatvisor_cluster_impl.h"


/*
 * A libnats thread: another node's message (ngx_chatvisor_cluster_tell():
 * its node id, then min to max bytes), into the inbox as kind, with the
 * node id when the loop needs to know who said it; this node's own, and
 * one of another size, are dropped.
 */
void
ngx_chatvisor_cluster_heard(ngx_chatvisor_cluster_t *cl, natsMsg *msg,
    ngx_uint_t kind, size_t min, size_t max, ngx_uint_t with_node)
{
    size_t                         len, skip;
    const u_char                  *data;
    ngx_chatvisor_cluster_item_t  *it;

    data = (const u_char *) natsMsg_GetData(msg);
    len = (size_t) natsMsg_GetDataLength(msg);

    if (len >= NGX_CHATVISOR_CLUSTER_NODE_LEN + min
        && len - NGX_CHATVISOR_CLUSTER_NODE_LEN <= max
        && ngx_memcmp(data, cl->cmcf->cluster.node,
                      NGX_CHATVISOR_CLUSTER_NODE_LEN)
           != 0)
    {
        skip = with_node ? 0 : NGX_CHATVISOR_CLUSTER_NODE_LEN;

        it = ngx_chatvisor_cluster_item(kind, data + skip, len - skip);
        if (it) {
            ngx_chatvisor_cluster_push(cl, it);
        }
    }

    natsMsg_Destroy(msg);
}


/* a libnats thread: another node's typing signal (a notice) */
void
ngx_chatvisor_cluster_typing_in(natsConnection *nc, natsSubscription *sub,
    natsMsg *msg, void *closure)
{
    ngx_chatvisor_cluster_heard(closure, msg, NGX_CHATVISOR_CLUSTER_TYPING,
                                sizeof(ngx_chatvisor_notice_t),
                                sizeof(ngx_chatvisor_notice_t), 0);
}


/* a libnats thread: another node's agents online (JSON; the loop keeps
 * them by node) */
void
ngx_chatvisor_cluster_presence_in(natsConnection *nc, natsSubscription *sub,
    natsMsg *msg, void *closure)
{
    ngx_chatvisor_cluster_heard(closure, msg, NGX_CHATVISOR_CLUSTER_PRESENCE,
                                1, (size_t) -1, 1);
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


/*
 * A core NATS message to the other nodes (typing, presence, co-browsing):
 * this node's id, head, body. Not sent while disconnected: worth nothing
 * later; connected is enough, it does not wait for the stream's reader.
 * Buffered for libnats' flusher: no wait here.
 */
void
ngx_chatvisor_cluster_tell(ngx_chatvisor_cluster_t *cl, u_char *subject,
    const void *head, size_t head_len, const void *body, size_t body_len)
{
    u_char          *msg, *p;
    size_t           len;
    natsConnection  *nc;

    nc = ngx_chatvisor_cluster_conn(cl, 0, NULL);
    if (nc == NULL) {
        return;
    }

    len = NGX_CHATVISOR_CLUSTER_NODE_LEN + head_len + body_len;

    msg = ngx_alloc(len, cl->log);
    if (msg == NULL) {
        return;
    }

    p = ngx_cpymem(msg, cl->cmcf->cluster.node,
                   NGX_CHATVISOR_CLUSTER_NODE_LEN);
    p = ngx_cpymem(p, head, head_len);

    if (body_len) {
        ngx_memcpy(p, body, body_len);
    }

    (void) natsConnection_Publish(nc, (const char *) subject, msg, (int) len);
    ngx_free(msg);
}


/* this node's agents online, to the others (every node, even with none:
 * what it says replaces what it said) */
void
ngx_chatvisor_cluster_presence_tell(ngx_event_t *ev)
{
    char                     *text;
    cJSON                    *told, *available, *away;
    ngx_chatvisor_cluster_t  *cl = ev->data;

    ngx_add_timer(ev, NGX_CHATVISOR_CLUSTER_PRESENCE_EVERY);

    /* the store's to-do of removals from the stream, tried again */
    ngx_chatvisor_cluster_erase_look(cl);

    if (ngx_chatvisor_cluster_conn(cl, 0, NULL) == NULL) {
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

    ngx_chatvisor_cluster_tell(cl, cl->presence_subject, text,
                               ngx_strlen(text), NULL, 0);
    cJSON_free(text);
}


void
ngx_chatvisor_cluster_typing(ngx_chatvisor_notice_t *n)
{
    if (ngx_chatvisor_cluster) {
        ngx_chatvisor_cluster_tell(ngx_chatvisor_cluster,
                                   ngx_chatvisor_cluster->typing_subject, n,
                                   sizeof(ngx_chatvisor_notice_t), NULL, 0);
    }
}
