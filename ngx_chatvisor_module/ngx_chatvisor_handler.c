/*
 * The content handler of "chatvisor on" locations: one place that maps
 * PREFIX paths to the files and endpoints that serve them.
 */


#include "ngx_chatvisor.h"


#define NGX_CHATVISOR_PAGE_CSP                                               \
    "default-src 'self'; img-src 'self' data:; style-src 'self'; "            \
    "script-src 'self'; connect-src 'self'; frame-src 'self'; "               \
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"


static ngx_uint_t
ngx_chatvisor_starts(ngx_str_t *s, const char *lit, ngx_str_t *rest)
{
    size_t  len = ngx_strlen(lit);

    if (s->len < len || ngx_strncmp(s->data, lit, len) != 0) {
        return 0;
    }

    rest->data = s->data + len;
    rest->len = s->len - len;

    return 1;
}


/* the console and the join page: strict CSP, never cached with a token */

static ngx_int_t
ngx_chatvisor_send_page(ngx_http_request_t *r, ngx_chatvisor_asset_t *asset,
    ngx_uint_t join)
{
    if (ngx_chatvisor_add_header(r, "Content-Security-Policy",
                                 (u_char *) NGX_CHATVISOR_PAGE_CSP,
                                 sizeof(NGX_CHATVISOR_PAGE_CSP) - 1)
        == NULL
        || ngx_chatvisor_add_header(r, "Referrer-Policy",
                                    (u_char *) "no-referrer",
                                    sizeof("no-referrer") - 1)
           == NULL
        || ngx_chatvisor_add_header(r, "X-Frame-Options", (u_char *) "DENY",
                                    sizeof("DENY") - 1)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_chatvisor_send_asset(r, asset, join ? "no-store" : NULL);
}


ngx_int_t
ngx_chatvisor_handler(ngx_http_request_t *r)
{
    u_char                    *location;
    ngx_str_t                  path, rest;
    ngx_chatvisor_asset_t     *asset;
    ngx_chatvisor_srv_conf_t  *cscf;

    cscf = ngx_http_get_module_srv_conf(r, ngx_chatvisor_module);

    if (r->uri.len < cscf->prefix.len
        || ngx_strncmp(r->uri.data, cscf->prefix.data, cscf->prefix.len) != 0)
    {
        return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "this location does not match "
                                        "chatvisor_prefix");
    }

    path.data = r->uri.data + cscf->prefix.len;
    path.len = r->uri.len - cscf->prefix.len;

    if (ngx_chatvisor_starts(&path, "v1/visitor/", &rest)) {
        return ngx_chatvisor_visitor_handler(r, &rest);
    }

    if (ngx_chatvisor_starts(&path, "v1/agent/", &rest)) {
        return ngx_chatvisor_agent_handler(r, &rest);
    }

    if (ngx_chatvisor_starts(&path, "api/v1/", &rest)) {
        return ngx_chatvisor_api_handler(r, &rest);
    }

    asset = ngx_chatvisor_find_asset(path.data, path.len);

    if (asset != NULL) {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_chatvisor_send_method_not_allowed(r, "GET, HEAD");
        }

        if (asset->content_type.len >= sizeof("text/html") - 1
            && ngx_strncmp(asset->content_type.data, "text/html",
                           sizeof("text/html") - 1) == 0)
        {
            return ngx_chatvisor_send_page(r, asset,
                                           path.len == sizeof("join") - 1);
        }

        return ngx_chatvisor_send_asset(r, asset, NULL);
    }

    if (path.len == sizeof("agent") - 1
        && ngx_strncmp(path.data, "agent", path.len) == 0)
    {
        /* the console's relative URLs need the trailing slash */
        location = ngx_pnalloc(r->pool, cscf->prefix.len + sizeof("agent/"));
        if (location == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->headers_out.location = ngx_chatvisor_add_header(r, "Location",
                                      location,
                                      ngx_sprintf(location, "%Vagent/",
                                                  &cscf->prefix)
                                      - location);
        if (r->headers_out.location == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_HTTP_MOVED_PERMANENTLY;
    }

    return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                    "no such chatvisor resource");
}
