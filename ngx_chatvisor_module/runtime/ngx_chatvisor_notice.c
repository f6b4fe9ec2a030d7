/*
 * Notices: what a committed change or a typing signal tells the long-polls
 * of every worker. The other workers hear first, through their pipes, so
 * they wake and answer their polls while this one goes on with its own.
 */


#include "ngx_chatvisor_runtime.h"


#define NGX_CHATVISOR_LISTENERS_MAX  4


static ngx_chatvisor_notice_pt  ngx_chatvisor_listeners[
                                    NGX_CHATVISOR_LISTENERS_MAX];
static ngx_uint_t               ngx_chatvisor_nlisteners;


ngx_int_t
ngx_chatvisor_notice_listen(ngx_chatvisor_notice_pt handler)
{
    if (ngx_chatvisor_nlisteners == NGX_CHATVISOR_LISTENERS_MAX) {
        return NGX_ERROR;
    }

    ngx_chatvisor_listeners[ngx_chatvisor_nlisteners++] = handler;

    return NGX_OK;
}


void
ngx_chatvisor_notice_deliver(ngx_chatvisor_notice_t *n)
{
    ngx_uint_t  i;

    ngx_chatvisor_poll_notice(n);

    for (i = 0; i < ngx_chatvisor_nlisteners; i++) {
        ngx_chatvisor_listeners[i](n);
    }
}


void
ngx_chatvisor_notice_init(ngx_chatvisor_notice_t *n, ngx_uint_t kind,
    const char *customer_id, const char *conversation_id)
{
    ngx_memzero(n, sizeof(ngx_chatvisor_notice_t));
    n->kind = (uint8_t) kind;

    if (customer_id) {
        ngx_cpystrn((u_char *) n->customer_id, (u_char *) customer_id,
                    sizeof(n->customer_id));
    }

    if (conversation_id) {
        ngx_cpystrn((u_char *) n->conversation_id, (u_char *) conversation_id,
                    sizeof(n->conversation_id));
    }
}


void
ngx_chatvisor_notify_many(ngx_chatvisor_notice_t *n, ngx_uint_t count)
{
    ngx_uint_t  i;

    ngx_chatvisor_ipc_send(n, count);

    for (i = 0; i < count; i++) {
        ngx_chatvisor_notice_deliver(&n[i]);
    }
}


void
ngx_chatvisor_notify(ngx_chatvisor_notice_t *n)
{
    ngx_chatvisor_notify_many(n, 1);
}


void
ngx_chatvisor_notify_typing(const char *customer_id,
    const char *conversation_id, const char *agent_name)
{
    size_t                  len;
    ngx_chatvisor_notice_t  n;

    ngx_chatvisor_notice_init(&n, NGX_CHATVISOR_NOTICE_TYPING, customer_id,
                              conversation_id);

    if (agent_name) {
        n.agent = 1;

        /* a long name is cut where a UTF-8 character starts */
        len = ngx_min(ngx_strlen(agent_name), sizeof(n.name) - 1);

        while (len && ((u_char) agent_name[len] & 0xc0) == 0x80) {
            len--;
        }

        ngx_memcpy(n.name, agent_name, len);
        n.name[len] = '\0';
    }

    ngx_chatvisor_notify(&n);

    /* cluster mode: the polls of the other nodes */
    ngx_chatvisor_cluster_typing(&n);
}
