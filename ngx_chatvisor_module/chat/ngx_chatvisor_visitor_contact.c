/*
 * The pre-chat form's endpoints (chatvisor_prechat, docs/chat-endpoints.md):
 * the visitor leaves an email (and a name) on their own customer, so that
 * the integrator can answer by mail when nobody was there; and whether an
 * agent is available, which decides if the widget says it is offline.
 */


#include "ngx_chatvisor_chat.h"
#include "cv_customers.h"


/* the longest email and name a visitor may give, characters (the engine
 * checks them again) */
#define NGX_CHATVISOR_CONTACT_EMAIL_MAX  254
#define NGX_CHATVISOR_CONTACT_NAME_MAX   128


static cv_status ngx_chatvisor_visitor_contact_run(ngx_http_request_t *r,
    cv_txn *t);
static cJSON *ngx_chatvisor_visitor_contact_cmd(ngx_chatvisor_ctx_t *ctx,
    const char *email, const char *name);


/* PUT v1/visitor/contact {"email", "name"?}: before the first message too,
 * so a new visitor gets their customer and cookie here */

ngx_int_t
ngx_chatvisor_visitor_contact(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    ngx_int_t             rc;
    const char           *email, *name;
    ngx_chatvisor_err_t   err;

    if (ngx_chatvisor_field_string(ctx->body, "email",
                                   NGX_CHATVISOR_CONTACT_EMAIL_MAX, 1,
                                   &email, &err)
        != NGX_OK
        || ngx_chatvisor_field_string(ctx->body, "name",
                                      NGX_CHATVISOR_CONTACT_NAME_MAX, 0,
                                      &name, &err)
           != NGX_OK)
    {
        return ngx_chatvisor_send_err(r, &err);
    }

    /* refused before anything is queued: a bad address changes nothing */
    if (!cv_email_valid(email)) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "\"email\" must be an email address");
    }

    if (name && name[0] == '\0') {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "\"name\" must not be empty");
    }

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
                   ngx_chatvisor_visitor_contact_cmd(ctx, email, name),
                   ngx_chatvisor_visitor_write_done);
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_visitor_contact_run,
                               ngx_chatvisor_visitor_write_done);
}


/*
 * Cluster mode: the contact as a command (engine/cv_cluster_writes.h), so
 * that every node's customer has it; a new visitor's customer is made
 * from the command's seed, the same on every node, and its cookie signed
 * here once applied.
 */

static cJSON *
ngx_chatvisor_visitor_contact_cmd(ngx_chatvisor_ctx_t *ctx,
    const char *email, const char *name)
{
    cJSON  *cmd;

    cmd = cJSON_CreateObject();
    if (cmd == NULL) {
        return NULL;
    }

    cJSON_AddStringToObject(cmd, "op", "visitor.contact");

    if (!ctx->caller.new_visitor) {
        cJSON_AddStringToObject(cmd, "customer_id", ctx->caller.customer_id);
    }

    cJSON_AddStringToObject(cmd, "email", email);

    if (name) {
        cJSON_AddStringToObject(cmd, "name", name);
    }

    return cmd;
}


static cv_status
ngx_chatvisor_visitor_contact_run(ngx_http_request_t *r, cv_txn *t)
{
    cv_status             st;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);

    if (ctx->caller.new_visitor) {
        st = cv_customer_create(t, ctx->caller.customer_id);
        if (st != CV_OK) {
            return st;
        }
    }

    return cv_customer_contact(t, ctx->caller.customer_id,
                               ngx_chatvisor_body_string(ctx->body, "email"),
                               ngx_chatvisor_body_string(ctx->body, "name"),
                               &ctx->op.result, &ctx->op.why);
}


/* GET v1/visitor/availability: {"agents_available": BOOL}, from the
 * shared zone's presence (no store read) */

ngx_int_t
ngx_chatvisor_visitor_availability(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    cJSON                      *out;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    out = cJSON_CreateObject();
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cJSON_AddBoolToObject(out, "agents_available",
                          ngx_chatvisor_presence_any(cmcf, 1) != 0);

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, out);
}
