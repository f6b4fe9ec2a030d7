/*
 * The REST API for integrators (SPEC 6), PREFIX api/v1/: one route table
 * (ngx_chatvisor_api.c) over one file per resource.
 */

#ifndef _NGX_CHATVISOR_API_H_INCLUDED_
#define _NGX_CHATVISOR_API_H_INCLUDED_


#include "ngx_chatvisor_http.h"


/* a page of a list: ?limit= */
#define NGX_CHATVISOR_API_LIMIT_DEFAULT  50
#define NGX_CHATVISOR_API_LIMIT_MAX      200


/* the API's operations (the wiring makes them the surface api/v1/), and
 * its caller check: a bearer token */
extern ngx_chatvisor_route_t  ngx_chatvisor_api_routes[];

ngx_int_t ngx_chatvisor_api_auth(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, ngx_uint_t caller, ngx_chatvisor_err_t *err);


/* ngx_chatvisor_api_token.c: clients and their access tokens */
char *ngx_chatvisor_api_client(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
const char *ngx_chatvisor_api_fingerprint(const char *client, void *data);
ngx_int_t ngx_chatvisor_api_token(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);

/* ngx_chatvisor_api_agents.c */
ngx_int_t ngx_chatvisor_api_agent_list(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_agent_sync(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_agent_get(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_agent_put(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_agent_delete(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_agent_status(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_agent_login_url(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);

/* ngx_chatvisor_api_customers.c */
ngx_int_t ngx_chatvisor_api_customer_find(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_customer_get(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_customer_put(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_customer_erase(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_customer_agent_url(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);

/* ngx_chatvisor_api_conversations.c */
ngx_int_t ngx_chatvisor_api_conversation_poll(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_conversation_get(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_messages(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_message_post(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_conversation_assign(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_conversation_close(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);

/* ngx_chatvisor_api_visibility.c */
ngx_int_t ngx_chatvisor_api_visibility_get(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_visibility_put(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);

/* ngx_chatvisor_api_settings.c */
ngx_int_t ngx_chatvisor_api_widget_get(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_widget_put(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);

/* ngx_chatvisor_api_webhooks.c */
ngx_int_t ngx_chatvisor_api_webhook_create(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_webhook_list(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_webhook_get(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_webhook_update(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_webhook_delete(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_webhook_rotate(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_webhook_test(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_webhook_deliveries(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_api_webhook_retry(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);

/* ngx_chatvisor_api_login_url.c: one-time console login URLs */

/* the body's "ttl_seconds" (1 .. a day), checked and kept in ctx->data,
 * where ngx_chatvisor_api_ttl_ms finds it in ms (0: the default) */
ngx_int_t ngx_chatvisor_api_ttl(ngx_chatvisor_ctx_t *ctx,
    ngx_chatvisor_err_t *err);
int64_t ngx_chatvisor_api_ttl_ms(ngx_chatvisor_ctx_t *ctx);

/* a URL for agent_id (opening conversation_id when not NULL) into
 * op->result, 201 */
cv_status ngx_chatvisor_api_login_url(ngx_http_request_t *r, cv_txn *t,
    const char *agent_id, const char *conversation_id, int64_t ttl_ms,
    ngx_chatvisor_op_t *op);

/* cluster mode: the same through the stream; customer_id (NULL: none):
 * the URL opens that customer's latest conversation */
ngx_int_t ngx_chatvisor_api_login_url_cluster(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, const char *agent_id, const char *customer_id);


#endif /* _NGX_CHATVISOR_API_H_INCLUDED_ */
