/*
 * A request's write in cluster mode (docs/cluster.md): published as a
 * command, answered once this worker has applied it, with the outcome
 * the application left (the same answer as the write's own, from the
 * same ctx->op fields), or 503 when no quorum stored it.
 */


#include "ngx_chatvisor_http.h"


#define NGX_CHATVISOR_NO_QUORUM                                               \
    "the cluster did not store the write (no quorum): nothing was written; " \
    "try again"

#define NGX_CHATVISOR_NOT_APPLIED                                             \
    "the cluster stored the write but this node has not applied it yet; "   \
    "retry with the same client_msg_id"


static void
ngx_chatvisor_cluster_write_done(ngx_chatvisor_cluster_wait_t *w)
{
    ngx_int_t             rc;
    ngx_chatvisor_ctx_t  *ctx = w->data;
    ngx_http_request_t   *r;

    r = ctx->request;

    if (w->rc == NGX_DECLINED) {
        rc = ngx_chatvisor_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "no_quorum", NGX_CHATVISOR_NO_QUORUM);

    } else if (w->rc != NGX_OK) {
        rc = ngx_chatvisor_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                      "not_applied",
                                      NGX_CHATVISOR_NOT_APPLIED);

    } else {
        /* the outcome as a local write leaves it */
        ngx_chatvisor_op_clear(&ctx->op);
        ctx->op.status = w->res.status;
        ctx->op.message = w->res.message;
        ngx_memzero(&w->res.message, sizeof(cv_message));
        ctx->op.result = w->res.result;
        w->res.result = NULL;
        ctx->op.closed = w->res.closed;

        /* w->res stays until the answer is made */
        if (w->res.why[0]) {
            ctx->op.why = w->res.why;
        }

        if (w->res.customer_id[0] && ctx->caller.new_visitor) {
            ngx_cpystrn((u_char *) ctx->caller.customer_id,
                        (u_char *) w->res.customer_id, CV_ID_MAX);
        }

        rc = ctx->write_done(r, ctx->op.status);
        ngx_chatvisor_op_clear(&ctx->op);
    }

    cv_cluster_result_clear(&w->res);

    ngx_http_finalize_request(r, rc);
}


ngx_int_t
ngx_chatvisor_cluster_write(ngx_http_request_t *r, cJSON *cmd,
    ngx_chatvisor_write_done_pt done)
{
    ngx_int_t                   rc;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    ctx = ngx_chatvisor_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (cmd == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->write_done = done ? done : ngx_chatvisor_send_op;
    ctx->cluster.done = ngx_chatvisor_cluster_write_done;
    ctx->cluster.data = ctx;

    rc = ngx_chatvisor_cluster_publish(cmcf, cmd, &ctx->cluster);
    cJSON_Delete(cmd);

    if (rc == NGX_DECLINED) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "no_quorum",
                                        NGX_CHATVISOR_NO_QUORUM);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* answered once applied here */
    r->main->count++;

    return NGX_DONE;
}


ngx_int_t
ngx_chatvisor_cluster_settings_put(ngx_http_request_t *r, const char *name,
    cJSON *value, ngx_chatvisor_write_done_pt done)
{
    cJSON  *cmd;

    cmd = cJSON_CreateObject();
    if (cmd == NULL) {
        cJSON_Delete(value);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cJSON_AddStringToObject(cmd, "op", "api.settings_put");
    cJSON_AddStringToObject(cmd, "name", name);
    cJSON_AddItemToObject(cmd, "value", value);

    return ngx_chatvisor_cluster_write(r, cmd, done);
}


ngx_int_t
ngx_chatvisor_cluster_agent_status(ngx_http_request_t *r,
    const char *agent_id, const char *status, ngx_uint_t external,
    ngx_chatvisor_write_done_pt done)
{
    cJSON  *cmd;

    cmd = cJSON_CreateObject();
    if (cmd == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cJSON_AddStringToObject(cmd, "op", "agent.status");
    cJSON_AddStringToObject(cmd, "agent_id", agent_id);
    cJSON_AddStringToObject(cmd, "status", status);

    if (external) {
        cJSON_AddTrueToObject(cmd, "external");
    }

    return ngx_chatvisor_cluster_write(r, cmd, done);
}
