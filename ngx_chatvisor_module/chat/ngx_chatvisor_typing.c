/*
 * Typing: a visitor or an agent says they are typing, and the other
 * side's polls hear it at once. Nothing is stored: a notice wakes the
 * polls, which answer with a typing event if they have nothing newer.
 */


#include "ngx_chatvisor_chat.h"


/* the side that types, in a typing limit's key: each side has its own */
#define NGX_CHATVISOR_TYPING_VISITOR  'v'
#define NGX_CHATVISOR_TYPING_AGENT    'a'


/*
 * One notice every 2 s per conversation and side, for every worker. More
 * are answered 204 and dropped, not refused: both sides send one every
 * 2 s while typing, the network's jitter brings some a little sooner, and
 * the other side shows "typing" for 4 s after the last.
 */

static ngx_int_t
ngx_chatvisor_typing_limit(ngx_http_request_t *r, u_char side,
    const char *id)
{
    u_char                      key[1 + CV_ID_MAX];
    size_t                      len;
    ngx_uint_t                  retry;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    len = ngx_min(ngx_strlen(id), CV_ID_MAX);
    key[0] = side;
    ngx_memcpy(key + 1, id, len);

    return ngx_chatvisor_limit(cmcf, NGX_CHATVISOR_LIMIT_TYPING, key, 1 + len,
                               &cmcf->limits.typing, &retry);
}


ngx_int_t
ngx_chatvisor_visitor_typing(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    char                        conv_id[CV_ID_MAX];
    cv_txn                     *t;
    ngx_uint_t                  typing;
    ngx_chatvisor_err_t         err;
    ngx_chatvisor_main_conf_t  *cmcf;

    if (ngx_chatvisor_field_flag(ctx->body, "typing", &typing, &err)
        != NGX_OK)
    {
        return ngx_chatvisor_send_err(r, &err);
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (!typing || cmcf->store == NULL
        || ngx_chatvisor_visitor_cookie(r, ctx->caller.customer_id) != NGX_OK)
    {
        /* a stranger types to nobody */
        return ngx_chatvisor_send_json(r, NGX_HTTP_NO_CONTENT, NULL);
    }

    /* the customer has one open conversation: their id stands for it */
    if (ngx_chatvisor_typing_limit(r, NGX_CHATVISOR_TYPING_VISITOR,
                                   ctx->caller.customer_id)
        != NGX_OK)
    {
        return ngx_chatvisor_send_json(r, NGX_HTTP_NO_CONTENT, NULL);
    }

    /* one with no open conversation types to nobody */
    if (cv_txn_begin(cmcf->store, 0, &t) == CV_OK) {
        if (cv_customer_open_conversation(t, ctx->caller.customer_id,
                                          conv_id)
            == CV_OK)
        {
            ngx_chatvisor_notify_typing(ctx->caller.customer_id, conv_id,
                                        NULL);
        }

        cv_txn_abort(t);
    }

    return ngx_chatvisor_send_json(r, NGX_HTTP_NO_CONTENT, NULL);
}


ngx_int_t
ngx_chatvisor_agent_typing(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    cJSON                      *conv;
    cv_status                   st;
    ngx_uint_t                  typing;
    ngx_chatvisor_err_t         err;
    ngx_chatvisor_main_conf_t  *cmcf;

    if (ngx_chatvisor_field_flag(ctx->body, "typing", &typing, &err)
        != NGX_OK)
    {
        return ngx_chatvisor_send_err(r, &err);
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    st = ngx_chatvisor_store_read(cmcf, cv_conversation_get, ctx->param[0],
                                  &conv);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    if (typing
        && ngx_chatvisor_typing_limit(r, NGX_CHATVISOR_TYPING_AGENT,
                                      ctx->param[0])
           == NGX_OK)
    {
        ngx_chatvisor_notify_typing(cJSON_GetStringValue(
                                        cJSON_GetObjectItem(conv,
                                                            "customer_id")),
                                    ctx->param[0], ctx->caller.agent_name);
    }

    cJSON_Delete(conv);

    return ngx_chatvisor_send_json(r, NGX_HTTP_NO_CONTENT, NULL);
}


cJSON *
ngx_chatvisor_typing_event(ngx_chatvisor_notice_t *n, uint64_t seq)
{
    cJSON  *ev, *author;

    ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "type", "typing");

    if (n->agent) {
        cJSON_AddNumberToObject(ev, "seq", (double) seq);

    } else {
        cJSON_AddStringToObject(ev, "conversation_id", n->conversation_id);
        cJSON_AddStringToObject(ev, "customer_id", n->customer_id);
    }

    author = cJSON_AddObjectToObject(ev, "author");

    if (n->agent) {
        cJSON_AddStringToObject(author, "type", "agent");
        cJSON_AddStringToObject(author, "name", n->name);

    } else {
        cJSON_AddStringToObject(author, "type", "customer");
        cJSON_AddStringToObject(author, "id", n->customer_id);
    }

    return ev;
}
