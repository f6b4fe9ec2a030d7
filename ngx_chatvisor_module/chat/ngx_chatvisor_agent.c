/*
 * The agent console's endpoints (SPEC 5), behind its session: who am I,
 * my status, logging in and out, conversations and the long-poll that
 * keeps a console live. The handlers live in the files named for them.
 */


#include "ngx_chatvisor_chat.h"


static ngx_int_t ngx_chatvisor_agent_me(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
static ngx_int_t ngx_chatvisor_agent_status(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);


static const char  *ngx_chatvisor_no_fields[] = { NULL };
static const char  *ngx_chatvisor_token_fields[] = { "token", NULL };
static const char  *ngx_chatvisor_status_fields[] = { "status", NULL };
static const char  *ngx_chatvisor_message_fields_allowed[] = {
    "text", "client_msg_id", NULL
};
static const char  *ngx_chatvisor_typing_fields[] = { "typing", NULL };
static const char  *ngx_chatvisor_assign_fields[] = { "agent_id", NULL };


ngx_chatvisor_route_t  ngx_chatvisor_agent_routes[] = {

    { NGX_HTTP_POST, ngx_string("join"),
      NGX_CHATVISOR_CALLER_VISITOR, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_token_fields, ngx_chatvisor_agent_join },

    { NGX_CHATVISOR_GET, ngx_string("me"),
      NGX_CHATVISOR_CALLER_AGENT, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_agent_me },

    { NGX_HTTP_PUT, ngx_string("status"),
      NGX_CHATVISOR_CALLER_AGENT, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_status_fields, ngx_chatvisor_agent_status },

    { NGX_HTTP_POST, ngx_string("logout"),
      NGX_CHATVISOR_CALLER_AGENT, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_no_fields, ngx_chatvisor_agent_logout },

    { NGX_CHATVISOR_GET, ngx_string("events"),
      NGX_CHATVISOR_CALLER_AGENT, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_agent_events },

    { NGX_CHATVISOR_GET, ngx_string("conversations"),
      NGX_CHATVISOR_CALLER_AGENT, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_agent_list },

    { NGX_CHATVISOR_GET, ngx_string("conversations/{conversation}"),
      NGX_CHATVISOR_CALLER_AGENT, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_agent_conversation },

    { NGX_CHATVISOR_GET, ngx_string("conversations/{conversation}/events"),
      NGX_CHATVISOR_CALLER_AGENT, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_agent_history },

    { NGX_HTTP_POST, ngx_string("conversations/{conversation}/messages"),
      NGX_CHATVISOR_CALLER_AGENT, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_message_fields_allowed, ngx_chatvisor_agent_reply },

    { NGX_HTTP_POST, ngx_string("conversations/{conversation}/typing"),
      NGX_CHATVISOR_CALLER_AGENT, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_typing_fields, ngx_chatvisor_agent_typing },

    { NGX_HTTP_POST, ngx_string("conversations/{conversation}/assign"),
      NGX_CHATVISOR_CALLER_AGENT, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_assign_fields, ngx_chatvisor_agent_assign },

    { NGX_HTTP_POST, ngx_string("conversations/{conversation}/close"),
      NGX_CHATVISOR_CALLER_AGENT, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_no_fields, ngx_chatvisor_agent_close },

    { 0, ngx_null_string, 0, 0, NULL, NULL }
};


ngx_int_t
ngx_chatvisor_agent_auth(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx,
    ngx_uint_t caller, ngx_chatvisor_err_t *err)
{
    return ngx_chatvisor_agent_session(r, ctx,
                                       !(r->method & NGX_CHATVISOR_GET), err);
}


static ngx_int_t
ngx_chatvisor_agent_me(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    cJSON                      *out;
    cv_txn                     *t;
    uint64_t                    seq;
    cv_status                   st;
    ngx_str_t                   csrf;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st == CV_OK) {
        st = cv_log_last_seq(t, &seq);
        cv_txn_abort(t);
    }

    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    if (ngx_chatvisor_agent_csrf(r, ctx, &csrf) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "agent",
                          cJSON_Duplicate(ctx->caller.agent, 1));
    cJSON_AddStringToObject(out, "status",
                            ngx_chatvisor_presence_status(cmcf,
                                                    ctx->caller.agent_id));
    /* ngx_chatvisor_sign() leaves the token NUL-terminated */
    cJSON_AddStringToObject(out, "csrf_token", (char *) csrf.data);
    cJSON_AddNumberToObject(out, "cursor", (double) seq);

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, out);
}


/*
 * Cluster mode: the status as a command (engine/cv_cluster_writes.h), so
 * that every node has it: a console that polls another node next (the
 * load balancer's choice) keeps it. Answered as locally.
 */

static ngx_int_t
ngx_chatvisor_agent_status_done(ngx_http_request_t *r, cv_status st)
{
    cJSON  *out;

    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "status",
                            ngx_chatvisor_body_string(ngx_chatvisor_ctx(r)
                                                          ->body,
                                                      "status"));

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, out);
}


static ngx_int_t
ngx_chatvisor_agent_status_cluster(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, const char *status)
{
    return ngx_chatvisor_cluster_agent_status(r, ctx->caller.agent_id, status,
                                       0, ngx_chatvisor_agent_status_done);
}


static ngx_int_t
ngx_chatvisor_agent_status(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    cJSON                      *out;
    const char                 *status;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    status = ngx_chatvisor_body_string(ctx->body, "status");

    /* offline is what a console that stops polling becomes by itself */
    if (status == NULL
        || (ngx_strcmp(status, NGX_CHATVISOR_PRESENCE_AVAILABLE) != 0
            && ngx_strcmp(status, NGX_CHATVISOR_PRESENCE_AWAY) != 0))
    {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "\"status\" must be \"available\" or "
                                        "\"away\"");
    }

    if (ngx_chatvisor_cluster_on(cmcf)) {
        return ngx_chatvisor_agent_status_cluster(r, ctx, status);
    }

    if (ngx_chatvisor_presence_set(cmcf, ctx->caller.agent_id, status, 0)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "status", status);

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, out);
}
