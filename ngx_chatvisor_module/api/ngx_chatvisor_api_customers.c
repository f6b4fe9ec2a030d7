/*
 * REST: customers. Label one with the integrator's id, names, email and
 * labels; find it again by that id; one-time agent URLs that open its
 * conversation.
 */


#include "ngx_chatvisor_api.h"
#include "cv_customers.h"
#include "cv_retention.h"


/* GET customers?id=EXTERNAL_ID */

ngx_int_t
ngx_chatvisor_api_customer_find(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    u_char                     *dst, *src;
    char                        ext[CV_CUSTOMER_EXT_ID_MAX + 2];
    cJSON                      *cus, *items;
    cv_txn                     *t;
    ngx_str_t                   v;
    cv_status                   st;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (ngx_chatvisor_arg(r, "id", &v) != NGX_OK || v.len == 0
        || v.len >= sizeof(ext))
    {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "give the customer's id: "
                                        "customers?id=...");
    }

    /* the id may be percent-encoded: unescaping only shortens it */
    dst = (u_char *) ext;
    src = v.data;
    ngx_unescape_uri(&dst, &src, v.len, 0);
    *dst = '\0';

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    items = cJSON_CreateArray();
    st = cv_customer_find(t, ext, &cus);
    cv_txn_abort(t);

    if (st == CV_OK) {
        cJSON_AddItemToArray(items, cus);

    } else if (st != CV_NOT_FOUND) {
        cJSON_Delete(items);
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK,
                                   ngx_chatvisor_page(items, NULL));
}


ngx_int_t
ngx_chatvisor_api_customer_get(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    cJSON                      *cus;
    cv_status                   st;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    st = ngx_chatvisor_store_read(cmcf, cv_customer_get, ctx->param[0], &cus);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, cus);
}


/* cluster mode: an erased customer is 204, as without a cluster */

static ngx_int_t
ngx_chatvisor_api_customer_cluster_done(ngx_http_request_t *r, cv_status st)
{
    if (st == CV_OK && ngx_chatvisor_ctx(r)->cluster.res.deleted) {
        ngx_chatvisor_ctx(r)->op.ok_status = NGX_HTTP_NO_CONTENT;
    }

    return ngx_chatvisor_send_op(r, st);
}


/* PUT (absent fields are cleared) or PATCH (they are kept) */

static cv_status
ngx_chatvisor_api_customer_put_run(ngx_http_request_t *r, cv_txn *t)
{
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);

    return cv_customer_update(t, ctx->param[0], ctx->body,
                              r->method == NGX_HTTP_PUT, &ctx->op.result,
                              &ctx->op.why);
}


/* cluster mode: a customers' write as a command (engine/cv_cluster.h) */

static ngx_int_t
ngx_chatvisor_api_customer_cluster(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, const char *op)
{
    cJSON       *cmd;
    const char  *why;

    /* bad fields are refused before anything is published */
    why = ctx->body ? cv_customer_check(ctx->body) : NULL;
    if (why) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request", why);
    }

    cmd = cJSON_CreateObject();
    if (cmd == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cJSON_AddStringToObject(cmd, "op", op);
    cJSON_AddStringToObject(cmd, "customer_id", ctx->param[0]);

    if (ctx->body) {
        cJSON_AddItemReferenceToObject(cmd, "fields", ctx->body);
        cJSON_AddBoolToObject(cmd, "replace", r->method == NGX_HTTP_PUT);
    }

    return ngx_chatvisor_cluster_write(r, cmd,
                                       ngx_chatvisor_api_customer_cluster_done);
}


ngx_int_t
ngx_chatvisor_api_customer_put(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    if (ngx_chatvisor_cluster_on(
            (ngx_chatvisor_main_conf_t *)
            ngx_http_get_module_main_conf(r, ngx_chatvisor_module)))
    {
        return ngx_chatvisor_api_customer_cluster(r, ctx,
                                                  "api.customer_put");
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_api_customer_put_run, NULL);
}


/*
 * DELETE customers/ID: the customer is erased with every conversation and
 * message of theirs (docs/decisions.md, "Erasing a customer"): nothing
 * that held their text is left, and nothing new is written about them.
 */

static cv_status
ngx_chatvisor_api_customer_erase_run(ngx_http_request_t *r, cv_txn *t)
{
    cv_status             st;
    cv_purge_stats        stats;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);

    st = cv_customer_erase(t, ctx->param[0], &stats);
    if (st != CV_OK) {
        return st;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "chatvisor: erased customer %s: %uz conversation(s), "
                  "%uz key(s)", ctx->param[0], stats.conversations,
                  stats.keys);

    ctx->op.ok_status = NGX_HTTP_NO_CONTENT;

    /* the consoles and the customer's own polls look again */
    ngx_chatvisor_op_notice(&ctx->op, NGX_CHATVISOR_NOTICE_ALL, NULL, NULL);

    return CV_OK;
}


ngx_int_t
ngx_chatvisor_api_customer_erase(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    if (ngx_chatvisor_cluster_on(
            (ngx_chatvisor_main_conf_t *)
            ngx_http_get_module_main_conf(r, ngx_chatvisor_module)))
    {
        return ngx_chatvisor_api_customer_cluster(r, ctx,
                                                  "api.customer_erase");
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_api_customer_erase_run,
                               NULL);
}


/* POST customers/ID/agent-url: a login URL that opens its conversation */

static cv_status
ngx_chatvisor_api_customer_agent_url_run(ngx_http_request_t *r, cv_txn *t)
{
    char                  conv[CV_ID_MAX];
    cJSON                *cus;
    cv_status             st;
    const char           *id;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);

    /* the URL opens the customer's latest conversation, if any */
    st = cv_customer_get(t, ctx->param[0], &cus);
    if (st != CV_OK) {
        return st;
    }

    id = ngx_chatvisor_body_string(cus, "conversation_id");
    conv[0] = '\0';

    if (id && ngx_strlen(id) < CV_ID_MAX) {
        ngx_cpystrn((u_char *) conv, (u_char *) id, CV_ID_MAX);
    }

    cJSON_Delete(cus);

    st = ngx_chatvisor_api_login_url(r, t,
                                     ngx_chatvisor_body_string(ctx->body,
                                                               "agent_id"),
                                     conv[0] ? conv : NULL,
                                     ngx_chatvisor_api_ttl_ms(ctx), &ctx->op);

    if (st == CV_NOT_FOUND) {
        ctx->op.why = "no such enabled agent";
    }

    return st;
}


ngx_int_t
ngx_chatvisor_api_customer_agent_url(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    const char           *agent_id;
    ngx_chatvisor_err_t   err;

    if (ngx_chatvisor_api_ttl(ctx, &err) != NGX_OK) {
        return ngx_chatvisor_send_err(r, &err);
    }

    agent_id = ngx_chatvisor_body_string(ctx->body, "agent_id");

    if (agent_id == NULL || agent_id[0] == '\0'
        || ngx_strlen(agent_id) > CV_AGENT_ID_MAX)
    {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "\"agent_id\" is required");
    }

    if (ngx_chatvisor_cluster_on(
            (ngx_chatvisor_main_conf_t *)
            ngx_http_get_module_main_conf(r, ngx_chatvisor_module)))
    {
        return ngx_chatvisor_api_login_url_cluster(r, ctx, agent_id,
                                                   ctx->param[0]);
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_api_customer_agent_url_run,
                               NULL);
}
