/*
 * Route tables: each surface (visitor, agent, API) is the operations of
 * the features' tables that serve under its base, and this is the one
 * place that answers for all of them what they have in common: who may
 * call, 404, 405 with Allow, the path's ids, the body and its fields. A
 * new endpoint is a row in its feature's table.
 */


#include "ngx_chatvisor_http.h"


/* the kinds of id a path segment may take */
struct ngx_chatvisor_param_kind_s {
    ngx_str_t                 name;        /* as written in a path */
    size_t                    max;         /* bytes */
    ngx_str_t                 prefix;      /* that it starts with, and more */
    ngx_uint_t                agent_id;    /* an integrator's agent id */
    const char               *not_found;
};


static ngx_chatvisor_param_kind_t  ngx_chatvisor_param_kinds[] = {

    { ngx_string("{conversation}"), CV_ID_MAX - 1, ngx_null_string, 0,
      "no such conversation" },

    { ngx_string("{customer}"), CV_ID_MAX - 1, ngx_string("cus_"), 0,
      "no such customer" },

    { ngx_string("{agent}"), CV_AGENT_ID_MAX, ngx_null_string, 1,
      "no such agent" },

    { ngx_string("{webhook}"), CV_WEBHOOK_ID_MAX - 1, ngx_string("wh_"), 0,
      "no such webhook" },

    { ngx_string("{delivery}"), CV_DELIVERY_ID_MAX - 1, ngx_string("dlv_"), 0,
      "no such delivery" }
};


static ngx_int_t ngx_chatvisor_route_run(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);


/*
 * path's "/"-separated segments into seg[]; NGX_DECLINED for a path no
 * route can have (an empty segment, too many)
 */

static ngx_int_t
ngx_chatvisor_route_split(ngx_str_t *path, ngx_str_t *seg, ngx_uint_t *n)
{
    u_char  *p, *end;

    p = path->data;
    end = path->data + path->len;
    *n = 0;

    for ( ;; ) {
        if (*n == NGX_CHATVISOR_SEGMENTS_MAX) {
            return NGX_DECLINED;
        }

        seg[*n].data = p;

        while (p < end && *p != '/') {
            p++;
        }

        seg[*n].len = p - seg[*n].data;

        if (seg[*n].len == 0) {
            return NGX_DECLINED;
        }

        (*n)++;

        if (p == end) {
            return NGX_OK;
        }

        p++;
    }
}


/* the surface's tables, one after another in one array */

static ngx_int_t
ngx_chatvisor_route_join(ngx_conf_t *cf, ngx_chatvisor_surface_t *surface,
    ngx_uint_t *count)
{
    ngx_uint_t               n, i, k;
    ngx_chatvisor_route_t  **table, *rt;

    n = 0;

    for (table = surface->tables; *table; table++) {
        for (rt = *table; rt->handler; rt++) {
            n++;
        }
    }

    /* the sentinel row at the end is zeroed */
    surface->routes = ngx_pcalloc(cf->pool,
                                  (n + 1) * sizeof(ngx_chatvisor_route_t));
    if (surface->routes == NULL) {
        return NGX_ERROR;
    }

    i = 0;

    for (table = surface->tables; *table; table++) {
        for (rt = *table; rt->handler; rt++) {

            for (k = 0; k < i; k++) {
                if ((surface->routes[k].methods & rt->methods)
                    && surface->routes[k].path.len == rt->path.len
                    && ngx_strncmp(surface->routes[k].path.data,
                                   rt->path.data, rt->path.len) == 0)
                {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "chatvisor: route \"%V%V\" is in "
                                       "two tables", &surface->base,
                                       &rt->path);
                    return NGX_ERROR;
                }
            }

            surface->routes[i++] = *rt;
        }
    }

    *count = n;

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_route_init(ngx_conf_t *cf, ngx_chatvisor_surface_t *surface)
{
    ngx_uint_t                   n, i, k, j, params;
    ngx_chatvisor_route_t       *rt;
    ngx_chatvisor_route_path_t  *p;

    if (ngx_chatvisor_route_join(cf, surface, &n) != NGX_OK) {
        return NGX_ERROR;
    }

    surface->paths = ngx_pcalloc(cf->pool,
                                 n * sizeof(ngx_chatvisor_route_path_t));
    if (surface->paths == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        rt = &surface->routes[i];
        p = &surface->paths[i];
        params = 0;

        if (ngx_chatvisor_route_split(&rt->path, p->seg, &p->n) != NGX_OK) {
            goto invalid;
        }

        for (j = 0; j < p->n; j++) {
            if (p->seg[j].data[0] != '{') {
                continue;
            }

            for (k = 0; k < sizeof(ngx_chatvisor_param_kinds)
                            / sizeof(ngx_chatvisor_param_kinds[0]); k++)
            {
                if (ngx_chatvisor_param_kinds[k].name.len == p->seg[j].len
                    && ngx_strncmp(ngx_chatvisor_param_kinds[k].name.data,
                                   p->seg[j].data, p->seg[j].len) == 0)
                {
                    p->kind[j] = &ngx_chatvisor_param_kinds[k];
                }
            }

            if (p->kind[j] == NULL || ++params > NGX_CHATVISOR_PARAMS_MAX) {
                goto invalid;
            }
        }
    }

    return NGX_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "chatvisor: malformed route \"%V%V\"",
                       &surface->base, &rt->path);
    return NGX_ERROR;
}


/* whether the path's segments are the route's */

static ngx_uint_t
ngx_chatvisor_route_match(ngx_chatvisor_route_path_t *p, ngx_str_t *seg,
    ngx_uint_t n)
{
    ngx_uint_t  i;

    if (p->n != n) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (p->kind[i] == NULL
            && (p->seg[i].len != seg[i].len
                || ngx_memcmp(p->seg[i].data, seg[i].data, seg[i].len) != 0))
        {
            return 0;
        }
    }

    return 1;
}


/* the path's ids into ctx->param[], each checked for its kind (404) */

static ngx_int_t
ngx_chatvisor_route_params(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx,
    ngx_chatvisor_route_path_t *p, ngx_str_t *seg,
    ngx_chatvisor_err_t *err)
{
    ngx_uint_t                   i, n;
    ngx_chatvisor_param_kind_t  *kind;

    n = 0;

    for (i = 0; i < p->n; i++) {
        kind = p->kind[i];

        if (kind == NULL) {
            continue;
        }

        if (seg[i].len > kind->max
            || seg[i].len <= kind->prefix.len
            || ngx_strncmp(seg[i].data, kind->prefix.data, kind->prefix.len)
               != 0)
        {
            return ngx_chatvisor_reject(err, NGX_HTTP_NOT_FOUND, "not_found",
                                        kind->not_found);
        }

        ctx->param[n] = ngx_pnalloc(r->pool, seg[i].len + 1);
        if (ctx->param[n] == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(ctx->param[n], seg[i].data, seg[i].len);
        ctx->param[n][seg[i].len] = '\0';

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
    ngx_int_t                     rc, discarded;
    ngx_str_t                     seg[NGX_CHATVISOR_SEGMENTS_MAX];
    ngx_uint_t                    i, n, allowed, caller;
    ngx_chatvisor_ctx_t          *ctx;
    ngx_chatvisor_err_t           err;
    ngx_chatvisor_route_t        *rt, *route, *matched;
    ngx_chatvisor_route_path_t   *p;

    ctx = ngx_chatvisor_ctx_create(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    route = NULL;
    matched = NULL;
    p = NULL;
    allowed = 0;

    if (ngx_chatvisor_route_split(path, seg, &n) == NGX_OK) {

        for (i = 0, rt = surface->routes; rt->handler; i++, rt++) {
            if (!ngx_chatvisor_route_match(&surface->paths[i], seg, n)) {
                continue;
            }

            if (matched == NULL) {
                matched = rt;
                p = &surface->paths[i];
            }

            allowed |= rt->methods;

            if (route == NULL && (rt->methods & r->method)) {
                route = rt;
            }
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
        rc = ngx_chatvisor_route_params(r, ctx, p, seg, &err);
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK || route == NULL || route->body == NGX_CHATVISOR_BODY_NONE)
    {
        /* a body that will not be read is read and dropped */
        discarded = ngx_http_discard_request_body(r);
        if (discarded != NGX_OK) {
            return discarded;
        }
    }

    if (rc != NGX_OK) {
        return ngx_chatvisor_send_err(r, &err);
    }

    if (route == NULL) {
        return ngx_chatvisor_send_method_not_allowed(r, allowed);
    }

    ctx->route = route;

    switch (route->body) {

    case NGX_CHATVISOR_BODY_NONE:
    case NGX_CHATVISOR_BODY_RAW:     /* its handler reads it */
        return route->handler(r, ctx);

    default:
        return ngx_chatvisor_body_read(r, ctx, ngx_chatvisor_route_run);
    }
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
