/*
 * The visitor's endpoints (SPEC 4): send, long-poll, typing. The visitor
 * is the customer named by the signed cv_visitor cookie, created with the
 * first message; nobody can read or write another visitor's conversation,
 * since the conversation is always the cookie's customer's own.
 */


#include "ngx_chatvisor_chat.h"
#include "cv_routing.h"


/* the page a message was sent from, bytes */
#define NGX_CHATVISOR_PAGE_URL_MAX  2048


static ngx_int_t ngx_chatvisor_visitor_post(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);


static const char  *ngx_chatvisor_post_fields[] = {
    "text", "client_msg_id", "page_url", NULL
};

static const char  *ngx_chatvisor_typing_fields[] = { "typing", NULL };

static const char  *ngx_chatvisor_contact_fields[] = { "email", "name",
                                                       NULL };


ngx_chatvisor_route_t  ngx_chatvisor_visitor_routes[] = {

    { NGX_HTTP_POST, ngx_string("messages"),
      NGX_CHATVISOR_CALLER_VISITOR, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_post_fields, ngx_chatvisor_visitor_post },

    { NGX_HTTP_POST, ngx_string("typing"),
      NGX_CHATVISOR_CALLER_VISITOR, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_typing_fields, ngx_chatvisor_visitor_typing },

    { NGX_CHATVISOR_GET, ngx_string("events"),
      NGX_CHATVISOR_CALLER_VISITOR, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_visitor_events },

    { NGX_HTTP_PUT, ngx_string("contact"),
      NGX_CHATVISOR_CALLER_VISITOR, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_contact_fields, ngx_chatvisor_visitor_contact },

    { NGX_CHATVISOR_GET, ngx_string("availability"),
      NGX_CHATVISOR_CALLER_VISITOR, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_visitor_availability },

    { 0, ngx_null_string, 0, 0, NULL, NULL }
};


static cv_status ngx_chatvisor_visitor_post_run(ngx_http_request_t *r,
    cv_txn *t);
static cJSON *ngx_chatvisor_visitor_post_cmd(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);


/*
 * What agents, the REST API and webhooks learn of the page: its origin and
 * path; the query and fragment (search terms, tokens in links, e-mail
 * addresses) only with "chatvisor_page_url full". Cut in the body itself.
 */

static void
ngx_chatvisor_visitor_page_url(ngx_http_request_t *r, char *url)
{
    ngx_chatvisor_srv_conf_t  *cscf;

    cscf = ngx_http_get_module_srv_conf(r, ngx_chatvisor_module);

    if (url == NULL || cscf->page_url_full) {
        return;
    }

    url[strcspn(url, "?#")] = '\0';
}


/*
 * Abuse limits, checked before anything is queued for the store: a flood
 * is answered from the shared zone and never reaches the writers.
 * NGX_DECLINED when within the limits, else the 429's rc.
 */

ngx_int_t
ngx_chatvisor_visitor_limit(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx,
    const char *limited)
{
    ngx_str_t                   key;
    ngx_uint_t                  retry;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (ctx->caller.new_visitor) {
        ngx_chatvisor_limit_addr(r->connection->sockaddr,
                                 r->connection->socklen, &key);

        if (ngx_chatvisor_limit(cmcf, NGX_CHATVISOR_LIMIT_NEW_VISITOR,
                                key.data, key.len,
                                &cmcf->limits.new_visitors, &retry)
            != NGX_OK)
        {
            return ngx_chatvisor_send_limited(r, retry,
                                         "too many new visitors from this "
                                         "address; try again later");
        }

        return NGX_DECLINED;
    }

    if (ngx_chatvisor_limit(cmcf, NGX_CHATVISOR_LIMIT_MESSAGE,
                            (u_char *) ctx->caller.customer_id,
                            ngx_strlen(ctx->caller.customer_id),
                            &cmcf->limits.messages, &retry)
        != NGX_OK)
    {
        return ngx_chatvisor_send_limited(r, retry, limited);
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_chatvisor_visitor_post(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    ngx_int_t             rc;
    const char           *text, *cmid, *page_url;
    ngx_chatvisor_err_t   err;

    if (ngx_chatvisor_message_fields(ctx->body, &text, &cmid, &err) != NGX_OK
        || ngx_chatvisor_field_string(ctx->body, "page_url",
                                      NGX_CHATVISOR_PAGE_URL_MAX, 0,
                                      &page_url, &err)
           != NGX_OK)
    {
        return ngx_chatvisor_send_err(r, &err);
    }

    ngx_chatvisor_visitor_page_url(r, (char *) page_url);

    ctx->caller.new_visitor =
             (ngx_chatvisor_visitor_cookie(r, ctx->caller.customer_id)
              != NGX_OK);

    rc = ngx_chatvisor_visitor_limit(r, ctx, NGX_CHATVISOR_TOO_MANY_MESSAGES);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (ngx_chatvisor_cluster_on(
            (ngx_chatvisor_main_conf_t *)
            ngx_http_get_module_main_conf(r, ngx_chatvisor_module)))
    {
        return ngx_chatvisor_cluster_write(r,
                                     ngx_chatvisor_visitor_post_cmd(r, ctx),
                                     ngx_chatvisor_visitor_write_done);
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_visitor_post_run,
                               ngx_chatvisor_visitor_write_done);
}


/*
 * Cluster mode: the message as a command (engine/cv_cluster.h), with what
 * only this node knows: the routing and the agents available here.
 */

static cJSON *
ngx_chatvisor_visitor_post_cmd(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    cJSON                      *cmd, *ids;
    const char                 *v;
    ngx_chatvisor_srv_conf_t   *cscf;
    ngx_chatvisor_main_conf_t  *cmcf;

    cscf = ngx_http_get_module_srv_conf(r, ngx_chatvisor_module);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    cmd = cJSON_CreateObject();
    if (cmd == NULL) {
        return NULL;
    }

    cJSON_AddStringToObject(cmd, "op", "visitor.message");

    if (!ctx->caller.new_visitor) {
        cJSON_AddStringToObject(cmd, "customer_id", ctx->caller.customer_id);
    }

    v = ngx_chatvisor_body_string(ctx->body, "client_msg_id");
    if (v) {
        cJSON_AddStringToObject(cmd, "client_msg_id", v);
    }

    cJSON_AddStringToObject(cmd, "text",
                            ngx_chatvisor_body_string(ctx->body, "text"));

    v = ngx_chatvisor_body_string(ctx->body, "page_url");
    if (v) {
        cJSON_AddStringToObject(cmd, "page_url", v);
    }

    cJSON_AddNumberToObject(cmd, "routing", (double) cscf->routing);

    ids = cJSON_AddArrayToObject(cmd, "available");

    if (ids && cscf->routing != NGX_CHATVISOR_ROUTING_MANUAL) {
        /* the agents available, on any node (the shared zone has the
         * other nodes' word) */
        ngx_chatvisor_presence_available(cmcf, ids);
    }

    return cmd;
}


/* a new conversation goes to an agent per chatvisor_routing */

static cv_status
ngx_chatvisor_visitor_route(ngx_http_request_t *r, cv_txn *t,
    const char *conv_id)
{
    cJSON                      *ids;
    cv_status                   st;
    ngx_chatvisor_srv_conf_t   *cscf;
    ngx_chatvisor_main_conf_t  *cmcf;

    cscf = ngx_http_get_module_srv_conf(r, ngx_chatvisor_module);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (cscf->routing == NGX_CHATVISOR_ROUTING_MANUAL) {
        return CV_OK;
    }

    ids = cJSON_CreateArray();
    ngx_chatvisor_presence_available(cmcf, ids);

    st = cv_route_assign(t, (cv_route_mode) cscf->routing, ids, conv_id);
    cJSON_Delete(ids);

    return st;
}


static cv_status
ngx_chatvisor_visitor_post_run(ngx_http_request_t *r, cv_txn *t)
{
    cv_author             author;
    cv_status             st;
    cv_message           *m;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);
    m = &ctx->op.message;

    if (ctx->caller.new_visitor) {
        st = cv_customer_create(t, ctx->caller.customer_id);
        if (st != CV_OK) {
            return st;
        }
    }

    author.type = "customer";
    author.id = ctx->caller.customer_id;
    author.name = NULL;

    st = cv_message_post(t, NULL, ctx->caller.customer_id, &author,
                         ngx_chatvisor_body_string(ctx->body,
                                                   "client_msg_id"),
                         ngx_chatvisor_body_string(ctx->body, "text"),
                         ngx_chatvisor_body_string(ctx->body, "page_url"),
                         m);
    if (st != CV_OK || m->duplicate) {
        return st;
    }

    ctx->op.author = "customer";
    ctx->op.opened = (m->seq == 1);

    if (m->seq == 1) {
        st = ngx_chatvisor_visitor_route(r, t, m->conversation_id);
        if (st != CV_OK) {
            return st;
        }
    }

    ngx_chatvisor_op_notice(&ctx->op, NGX_CHATVISOR_NOTICE_CHANGE,
                            ctx->caller.customer_id, m->conversation_id);

    return CV_OK;
}


ngx_int_t
ngx_chatvisor_visitor_write_done(ngx_http_request_t *r, cv_status st)
{
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);

    if (st == CV_NOT_FOUND) {
        /* a signed cookie whose customer is gone (store replaced) */
        return ngx_chatvisor_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                        "unknown visitor; reload the page");
    }

    if (st == CV_OK && ctx->caller.new_visitor
        && ngx_chatvisor_visitor_cookie_set(r, ctx->caller.customer_id)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_chatvisor_send_op(r, st);
}
