/*
 * The request context: one per chatvisor request, in parts by concern
 * (route and body, caller, its write, its long-poll, the endpoint's own
 * state).
 */


#include "ngx_chatvisor_http.h"


ngx_chatvisor_ctx_t *
ngx_chatvisor_ctx_create(ngx_http_request_t *r)
{
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_chatvisor_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->request = r;
    ngx_http_set_ctx(r, ctx, ngx_chatvisor_module);

    return ctx;
}


void *
ngx_chatvisor_ctx_data(ngx_chatvisor_ctx_t *ctx, size_t size)
{
    if (ctx->data == NULL) {
        ctx->data = ngx_pcalloc(ctx->request->pool, size);
    }

    return ctx->data;
}
