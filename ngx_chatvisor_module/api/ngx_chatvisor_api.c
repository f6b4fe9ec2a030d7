/*
 * The REST API's operations, one row each (docs/openapi.json lists the
 * same ones: t/16-openapi-routes.t holds them to it), and its bearer
 * tokens.
 */


#include "ngx_chatvisor_api.h"


static ngx_int_t ngx_chatvisor_api_spec(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);


static const char  *ngx_chatvisor_no_fields[] = { NULL };
static const char  *ngx_chatvisor_token_fields[] = {
    "grant_type", "client_id", "client_secret", "scope", NULL
};
static const char  *ngx_chatvisor_status_fields[] = { "status", NULL };
static const char  *ngx_chatvisor_login_url_fields[] = {
    "ttl_seconds", NULL
};
static const char  *ngx_chatvisor_agent_url_fields[] = {
    "agent_id", "ttl_seconds", NULL
};
static const char  *ngx_chatvisor_message_fields_allowed[] = {
    "text", "agent_id", "client_msg_id", NULL
};
static const char  *ngx_chatvisor_assign_fields[] = { "agent_id", NULL };
static const char  *ngx_chatvisor_visibility_fields[] = {
    "mode", "until", NULL
};
static const char  *ngx_chatvisor_webhook_fields[] = {
    "url", "events", "status", NULL
};
static const char  *ngx_chatvisor_webhook_create_fields[] = {
    "url", "events", NULL
};


ngx_chatvisor_route_t  ngx_chatvisor_api_routes[] = {

    { NGX_CHATVISOR_GET, ngx_string("openapi.json"),
      NGX_CHATVISOR_CALLER_NONE, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_api_spec },

    { NGX_HTTP_POST, ngx_string("auth/token"),
      NGX_CHATVISOR_CALLER_NONE, NGX_CHATVISOR_BODY_FORM,
      ngx_chatvisor_token_fields, ngx_chatvisor_api_token },

    { NGX_CHATVISOR_GET, ngx_string("agents"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_api_agent_list },

    { NGX_HTTP_PUT, ngx_string("agents"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_ARRAY,
      NULL, ngx_chatvisor_api_agent_sync },

    { NGX_CHATVISOR_GET, ngx_string("agents/{agent}"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_api_agent_get },

    { NGX_HTTP_PUT, ngx_string("agents/{agent}"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_OBJECT,
      NULL, ngx_chatvisor_api_agent_put },

    { NGX_HTTP_DELETE, ngx_string("agents/{agent}"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_api_agent_delete },

    { NGX_HTTP_PUT, ngx_string("agents/{agent}/status"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_status_fields, ngx_chatvisor_api_agent_status },

    { NGX_HTTP_POST, ngx_string("agents/{agent}/login-url"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_login_url_fields, ngx_chatvisor_api_agent_login_url },

    { NGX_CHATVISOR_GET, ngx_string("customers"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_api_customer_find },

    { NGX_CHATVISOR_GET, ngx_string("customers/{customer}"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_api_customer_get },

    { NGX_HTTP_PUT|NGX_HTTP_PATCH, ngx_string("customers/{customer}"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_OBJECT,
      NULL, ngx_chatvisor_api_customer_put },

    { NGX_HTTP_DELETE, ngx_string("customers/{customer}"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_api_customer_erase },

    { NGX_HTTP_POST, ngx_string("customers/{customer}/agent-url"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_agent_url_fields, ngx_chatvisor_api_customer_agent_url },

    { NGX_CHATVISOR_GET, ngx_string("conversations"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_api_conversation_poll },

    { NGX_CHATVISOR_GET, ngx_string("conversations/{conversation}"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_api_conversation_get },

    { NGX_CHATVISOR_GET, ngx_string("conversations/{conversation}/messages"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_api_messages },

    { NGX_HTTP_POST, ngx_string("conversations/{conversation}/messages"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_message_fields_allowed, ngx_chatvisor_api_message_post },

    { NGX_HTTP_POST, ngx_string("conversations/{conversation}/assign"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_assign_fields, ngx_chatvisor_api_conversation_assign },

    { NGX_HTTP_POST, ngx_string("conversations/{conversation}/close"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_no_fields, ngx_chatvisor_api_conversation_close },

    { NGX_CHATVISOR_GET, ngx_string("visibility"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_api_visibility_get },

    { NGX_HTTP_PUT, ngx_string("visibility"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_visibility_fields, ngx_chatvisor_api_visibility_put },

    { NGX_CHATVISOR_GET, ngx_string("settings/widget"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_api_widget_get },

    { NGX_HTTP_PUT, ngx_string("settings/widget"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_OBJECT,
      NULL, ngx_chatvisor_api_widget_put },

    { NGX_HTTP_POST, ngx_string("webhooks"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_webhook_create_fields, ngx_chatvisor_api_webhook_create },

    { NGX_CHATVISOR_GET, ngx_string("webhooks"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_api_webhook_list },

    { NGX_CHATVISOR_GET, ngx_string("webhooks/{webhook}"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_api_webhook_get },

    { NGX_HTTP_PATCH, ngx_string("webhooks/{webhook}"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_webhook_fields, ngx_chatvisor_api_webhook_update },

    { NGX_HTTP_DELETE, ngx_string("webhooks/{webhook}"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_api_webhook_delete },

    { NGX_HTTP_POST, ngx_string("webhooks/{webhook}/rotate-secret"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_no_fields, ngx_chatvisor_api_webhook_rotate },

    { NGX_HTTP_POST, ngx_string("webhooks/{webhook}/test"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_no_fields, ngx_chatvisor_api_webhook_test },

    { NGX_CHATVISOR_GET, ngx_string("webhooks/{webhook}/deliveries"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_api_webhook_deliveries },

    { NGX_HTTP_POST,
      ngx_string("webhooks/{webhook}/deliveries/{delivery}/retry"),
      NGX_CHATVISOR_CALLER_API, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_no_fields, ngx_chatvisor_api_webhook_retry },

    { 0, ngx_null_string, 0, 0, NULL, NULL }
};


/* GET api/v1/openapi.json: the spec this build was made with */

static ngx_int_t
ngx_chatvisor_api_spec(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    ngx_chatvisor_asset_t  *spec;

    spec = ngx_chatvisor_asset_find((u_char *) "api/v1/openapi.json",
                                    sizeof("api/v1/openapi.json") - 1);
    if (spec == NULL) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "built without the API spec");
    }

    return ngx_chatvisor_asset_send(r, spec, NULL);
}


/* Authorization: Bearer TOKEN, a live token of a configured client */

#define NGX_CHATVISOR_BEARER  "Bearer "


static ngx_int_t
ngx_chatvisor_api_unauthorized(ngx_http_request_t *r, ngx_uint_t presented,
    ngx_chatvisor_err_t *err)
{
    static u_char  plain[] = "Bearer";
    static u_char  invalid[] = "Bearer error=\"invalid_token\"";

    if (ngx_chatvisor_header_add(r, "WWW-Authenticate",
                                 presented ? invalid : plain,
                                 presented ? sizeof(invalid) - 1
                                           : sizeof(plain) - 1)
        == NULL)
    {
        return NGX_ERROR;
    }

    return ngx_chatvisor_reject(err, NGX_HTTP_UNAUTHORIZED, "unauthorized",
                                presented
                                ? "the access token is not valid or has "
                                  "expired"
                                : "an access token is required: "
                                  "Authorization: Bearer TOKEN");
}


ngx_int_t
ngx_chatvisor_api_auth(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx,
    ngx_uint_t caller, ngx_chatvisor_err_t *err)
{
    char                        token[CV_API_TOKEN_STR + 1];
    size_t                      len;
    cv_txn                     *t;
    ngx_str_t                  *auth;
    cv_status                   st;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (r->headers_in.authorization == NULL) {
        return ngx_chatvisor_api_unauthorized(r, 0, err);
    }

    auth = &r->headers_in.authorization->value;
    len = auth->len - (sizeof(NGX_CHATVISOR_BEARER) - 1);

    if (auth->len <= sizeof(NGX_CHATVISOR_BEARER) - 1
        || ngx_strncasecmp(auth->data, (u_char *) NGX_CHATVISOR_BEARER,
                           sizeof(NGX_CHATVISOR_BEARER) - 1) != 0
        || len >= sizeof(token))
    {
        return ngx_chatvisor_api_unauthorized(r, 1, err);
    }

    ngx_cpystrn((u_char *) token,
                auth->data + sizeof(NGX_CHATVISOR_BEARER) - 1, len + 1);

    st = cv_txn_begin(cmcf->store, 0, &t);

    if (st == CV_OK) {
        st = cv_api_token_check(t, token, ngx_chatvisor_api_fingerprint,
                                cmcf, ctx->caller.api_client);
        cv_txn_abort(t);
    }

    if (st == CV_NOT_FOUND) {
        return ngx_chatvisor_api_unauthorized(r, 1, err);
    }

    if (st != CV_OK) {
        return ngx_chatvisor_reject(err, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                    "internal_error", "the store failed");
    }

    return NGX_OK;
}
