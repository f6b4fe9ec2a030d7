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


/* a libnats thread: another node's available agents (node id, JSON) */
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


/* another node's available agents replace what it said before */
void
ngx_chatvisor_cluster_presence_take(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_item_t *it)
{
    cJSON                         *ids;
    ngx_uint_t                     i;
    ngx_chatvisor_cluster_peer_t  *p, *free, *old;

    ids = cJSON_ParseWithLength((const char *) it->data
                                + NGX_CHATVISOR_CLUSTER_NODE_LEN,
                                it->len - NGX_CHATVISOR_CLUSTER_NODE_LEN);
    if (!cJSON_IsArray(ids)) {
        cJSON_Delete(ids);
        return;
    }

    p = NULL;
    free = NULL;
    old = &cl->peers[0];

    for (i = 0; i < NGX_CHATVISOR_CLUSTER_NODES_MAX; i++) {
        if (cl->peers[i].ids == NULL) {
            if (free == NULL) {
                free = &cl->peers[i];
            }
            continue;
        }

        if (ngx_memcmp(cl->peers[i].node, it->data,
                       NGX_CHATVISOR_CLUSTER_NODE_LEN) == 0)
        {
            p = &cl->peers[i];
            break;
        }

        if (cl->peers[i].at < old->at) {
            old = &cl->peers[i];
        }
    }

    if (p == NULL) {
        /* a new node (a full table forgets the one heard of longest ago) */
        p = free ? free : old;
        ngx_memcpy(p->node, it->data, NGX_CHATVISOR_CLUSTER_NODE_LEN);
    }

    cJSON_Delete(p->ids);
    p->ids = ids;
    p->at = ngx_current_msec;
}


/* this node's available agents, to the others */
void
ngx_chatvisor_cluster_presence_tell(ngx_event_t *ev)
{
    char                     *text;
    u_char                   *data;
    cJSON                    *ids;
    size_t                    len;
    ngx_uint_t                ready;
    ngx_chatvisor_cluster_t  *cl = ev->data;

    ngx_add_timer(ev, NGX_CHATVISOR_CLUSTER_PRESENCE_EVERY);

    /* the store's to-do of removals from the stream, tried again */
    ngx_chatvisor_cluster_erase_look(cl);

    pthread_mutex_lock(&cl->mu);
    ready = cl->ready;
    pthread_mutex_unlock(&cl->mu);

    if (!ready
        || natsConnection_Status(cl->nc) != NATS_CONN_STATUS_CONNECTED)
    {
        return;
    }

    ids = cJSON_CreateArray();
    if (ids == NULL) {
        return;
    }

    ngx_chatvisor_presence_available(cl->cmcf, ids);
    text = cJSON_PrintUnformatted(ids);
    cJSON_Delete(ids);

    if (text == NULL) {
        return;
    }

    len = ngx_strlen(text);
    data = ngx_alloc(NGX_CHATVISOR_CLUSTER_NODE_LEN + len, ev->log);

    if (data) {
        ngx_memcpy(data, cl->cmcf->cluster.node,
                   NGX_CHATVISOR_CLUSTER_NODE_LEN);
        ngx_memcpy(data + NGX_CHATVISOR_CLUSTER_NODE_LEN, text, len);

        (void) natsConnection_Publish(cl->nc,
                                (const char *) cl->presence_subject, data,
                                (int) (NGX_CHATVISOR_CLUSTER_NODE_LEN + len));
        ngx_free(data);
    }

    cJSON_free(text);
}


void
ngx_chatvisor_cluster_available(cJSON *ids)
{
    cJSON                    *id, *have;
    ngx_uint_t                i, known;
    ngx_chatvisor_cluster_t  *cl;

    cl = ngx_chatvisor_cluster;

    if (cl == NULL) {
        return;
    }

    for (i = 0; i < NGX_CHATVISOR_CLUSTER_NODES_MAX; i++) {
        if (cl->peers[i].ids == NULL
            || ngx_current_msec - cl->peers[i].at
               > NGX_CHATVISOR_CLUSTER_PRESENCE_EVERY
                 * NGX_CHATVISOR_CLUSTER_PRESENCE_KEEP)
        {
            continue;       /* not heard of lately: gone */
        }

        cJSON_ArrayForEach(id, cl->peers[i].ids) {
            if (!cJSON_IsString(id)) {
                continue;
            }

            known = 0;

            cJSON_ArrayForEach(have, ids) {
                if (cJSON_IsString(have)
                    && ngx_strcmp(have->valuestring, id->valuestring) == 0)
                {
                    known = 1;
                    break;
                }
            }

            if (!known) {
                cJSON_AddItemToArray(ids, cJSON_CreateString(id->valuestring));
            }
        }
    }
}


void
ngx_chatvisor_cluster_typing(ngx_chatvisor_notice_t *n)
{
    u_char                    data[sizeof(((ngx_chatvisor_cluster_conf_t *)
                                           0)->node)
                                   + sizeof(ngx_chatvisor_notice_t)];
    ngx_uint_t                ready;
    ngx_chatvisor_cluster_t  *cl;

    cl = ngx_chatvisor_cluster;

    if (cl == NULL) {
        return;
    }

    pthread_mutex_lock(&cl->mu);
    ready = cl->ready;
    pthread_mutex_unlock(&cl->mu);

    /* a signal is worth nothing later: not sent while disconnected */
    if (!ready
        || natsConnection_Status(cl->nc) != NATS_CONN_STATUS_CONNECTED)
    {
        return;
    }

    ngx_memcpy(data, cl->cmcf->cluster.node, sizeof(cl->cmcf->cluster.node));
    ngx_memcpy(data + sizeof(cl->cmcf->cluster.node), n,
               sizeof(ngx_chatvisor_notice_t));

    /* buffered for libnats' flusher: no wait here */
    (void) natsConnection_Publish(cl->nc,
                                  (const char *) cl->typing_subject,
                                  data, (int) sizeof(data));
}
