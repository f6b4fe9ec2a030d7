/*
 * Route tables: each surface (visitor, agent, API) is a table of its
 * operations, and this is the one place that answers for all of them what
 * they have in common: who may call, 404, 405 with Allow, the path's ids,
 * the body and its fields. A new endpoint is a row in its surface's table.
 */


#include "ngx_chatvisor_http.h"


/* the kinds of id a path segment may take */
typedef struct {
    ngx_str_t                 name;        /* as written in a path */
    size_t                    max;         /* bytes */
    ngx_str_t                 prefix;      /* that it starts with, and more */
    ngx_uint_t                agent_id;    /* an integrator's agent id */
    const char               *not_found;
} ngx_chatvisor_param_kind_t;


static ngx_chatvisor_param_kind_t  ngx_chatvisor_param_kinds[] = {

    { ngx_string("{conversation}"), CV_ID_MAX - 1, ngx_null_string, 0,
      "no such conversation" },

    { ngx_string("{customer}"), CV_ID_MAX - 1, ngx_string("cus_"), 0,
      "no such customer" },

    { ngx_string("{agent}"), CV_AGENT_ID_MAX, ngx_null_string, 1,
      "no such agent" }
};


static ngx_int_t ngx_chatvisor_route_run(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);


/* the next "/"-separated segment at *p (end: *p past the last one) */

static void
ngx_chatvisor_segment(u_char **p, u_char *end, ngx_str_t *seg)
{
    seg->data = *p;

    while (*p < end && **p != '/') {
        (*p)++;
    }

    seg->len = *p - seg->data;
}


/* whether path has the pattern's segments, "{kind}" matching any but "";
 * params (when not NULL) get the "{kind}" segments */

static ngx_uint_t
ngx_chatvisor_route_match(const ngx_str_t *pattern, ngx_str_t *path,
    ngx_str_t *params)
{
    u_char     *p, *q, *pend, *qend;
    ngx_str_t   seg, want;
    ngx_uint_t  n;

    p = path->data;
    pend = path->data + path->len;
    q = pattern->data;
    qend = pattern->data + pattern->len;
    n = 0;

    for ( ;; ) {
        ngx_chatvisor_segment(&p, pend, &seg);
        ngx_chatvisor_segment(&q, qend, &want);

        if (seg.len == 0) {
            return 0;
        }

        if (want.data[0] == '{') {
            if (params && n < NGX_CHATVISOR_PARAMS_MAX) {
                params[n] = seg;
            }

            n++;

        } else if (want.len != seg.len
                   || ngx_strncmp(want.data, seg.data, seg.len) != 0)
        {
            return 0;
        }

        if (p == pend || q == qend) {
            return p == pend && q == qend;
        }

        p++;
        q++;
    }
}


static ngx_chatvisor_param_kind_t *
ngx_chatvisor_param_kind(ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 0; i < sizeof(ngx_chatvisor_param_kinds)
                    / sizeof(ngx_chatvisor_param_kinds[0]); i++)
    {
        if (ngx_chatvisor_param_kinds[i].name.len == name->len
            && ngx_strncmp(ngx_chatvisor_param_kinds[i].name.data,
                           name->data, name->len) == 0)
        {
            return &ngx_chatvisor_param_kinds[i];
        }
    }

    return NULL;
}


/* the path's ids into ctx->param[], each checked for its kind (404) */

static ngx_int_t
ngx_chatvisor_route_params(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx,
    const ngx_chatvisor_route_t *route, ngx_str_t *path,
    ngx_chatvisor_err_t *err)
{
    u_char                      *q, *qend;
    ngx_str_t                    params[NGX_CHATVISOR_PARAMS_MAX], want;
    ngx_uint_t                   n;
    ngx_chatvisor_param_kind_t  *kind;

    (void) ngx_chatvisor_route_match(&route->path, path, params);

    q = route->path.data;
    qend = route->path.data + route->path.len;
    n = 0;

    while (q < qend) {
        ngx_chatvisor_segment(&q, qend, &want);

        if (q < qend) {
            q++;
        }

        if (want.data[0] != '{') {
            continue;
        }

        kind = ngx_chatvisor_param_kind(&want);

        if (kind == NULL || n == NGX_CHATVISOR_PARAMS_MAX) {
            return NGX_ERROR;       /* a mistake in a route table */
        }

        if (params[n].len > kind->max
            || params[n].len <= kind->prefix.len
            || ngx_strncmp(params[n].data, kind->prefix.data,
                           kind->prefix.len) != 0)
        {
            return ngx_chatvisor_reject(err, NGX_HTTP_NOT_FOUND, "not_found",
                                        kind->not_found);
        }

        ctx->param[n] = ngx_pnalloc(r->pool, params[n].len + 1);
        if (ctx->param[n] == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(ctx->param[n], params[n].data, params[n].len);
        ctx->param[n][params[n].len] = '\0';

        if (kind->agent_id && !cv_agent_id_valid(ctx->param[n])) {
            return ngx_chatvisor_reject(err, NGX_HTTP_NOT_FOUND, "not_found",
                                        kind->not_found);
        }

        n++;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_chatvisor_route_caller(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx,
    ngx_chatvisor_surface_t *surface, ngx_uint_t caller,
    ngx_chatvisor_err_t *err)
{
    ngx_chatvisor_main_conf_t  *cmcf;

    switch (caller) {

    case NGX_CHATVISOR_CALLER_NONE:
        return NGX_OK;

    case NGX_CHATVISOR_CALLER_VISITOR:
        if (!(r->method & NGX_CHATVISOR_GET)
            && ngx_chatvisor_same_origin(r) != NGX_OK)
        {
            return ngx_chatvisor_reject(err, NGX_HTTP_FORBIDDEN, "forbidden",
                                        "cross-site requests are not "
                                        "allowed");
        }

        return NGX_OK;

    default:
        /* sessions and tokens are in the store */
        cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

        if (cmcf->store == NULL) {
            return ngx_chatvisor_reject(err, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "unavailable",
                                        NGX_CHATVISOR_UNAVAILABLE);
        }

        return surface->auth(r, ctx, caller, err);
    }
}


ngx_int_t
ngx_chatvisor_route(ngx_http_request_t *r, ngx_chatvisor_surface_t *surface,
    ngx_str_t *path)
{
    ngx_int_t                     rc;
    ngx_uint_t                    allowed, caller;
    ngx_chatvisor_ctx_t          *ctx;
    ngx_chatvisor_err_t           err;
    const ngx_chatvisor_route_t  *rt, *route, *matched;

    ctx = ngx_chatvisor_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    route = NULL;
    matched = NULL;
    allowed = 0;

    for (rt = surface->routes; rt->handler; rt++) {
        if (!ngx_chatvisor_route_match(&rt->path, path, NULL)) {
            continue;
        }

        if (matched == NULL) {
            matched = rt;
        }

        allowed |= rt->methods;

        if (route == NULL && (rt->methods & r->method)) {
            route = rt;
        }
    }

    /* who may call is checked first: strangers learn no paths */
    caller = route ? route->caller
                   : matched ? matched->caller : surface->caller;

    rc = ngx_chatvisor_route_caller(r, ctx, surface, caller, &err);

    if (rc == NGX_OK && matched == NULL) {
        rc = ngx_chatvisor_reject(&err, NGX_HTTP_NOT_FOUND, "not_found",
                                  surface->not_found);
    }

    if (rc == NGX_OK) {
        rc = ngx_chatvisor_route_params(r, ctx, matched, path, &err);
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        return ngx_chatvisor_send_err(r, &err);
    }

    if (route == NULL) {
        return ngx_chatvisor_send_method_not_allowed(r, allowed);
    }

    ctx->route = route;

    if (route->body == NGX_CHATVISOR_BODY_NONE) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return route->handler(r, ctx);
    }

    return ngx_chatvisor_body_read(r, ctx, ngx_chatvisor_route_run);
}


/* the body is in: its fields checked, the route's handler answers */

static ngx_int_t
ngx_chatvisor_route_run(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    ngx_chatvisor_err_t  err;

    if (ctx->route->fields && cJSON_IsObject(ctx->body)
        && ngx_chatvisor_fields_allowed(ctx->body, ctx->route->fields, &err)
           != NGX_OK)
    {
        return ngx_chatvisor_send_err(r, &err);
    }

    return ctx->route->handler(r, ctx);
}
