/*
 * The content handler of "chatvisor on" locations: PREFIX paths go to the
 * surface whose base they start with (the route tables of the features
 * that serve there answer them), or are the embedded browser files.
 */


#include "ngx_chatvisor_edge.h"
#include "ngx_chatvisor_chat.h"
#include "ngx_chatvisor_cobrowse.h"
#include "ngx_chatvisor_api.h"


ngx_int_t ngx_chatvisor_handler_init(ngx_conf_t *cf);
ngx_int_t ngx_chatvisor_handler(ngx_http_request_t *r);


/*
 * The join page: nothing inline. The console: inline styles too, which the
 * co-browsed page it replays is made of (its <style> copies and style
 * attributes, in a sandboxed iframe that inherits this policy); scripts
 * stay 'self' only (docs/decisions.md, "Co-browsing").
 */
#define NGX_CHATVISOR_PAGE_CSP(style)                                        \
    "default-src 'self'; img-src 'self' data:; style-src " style "; "        \
    "script-src 'self'; connect-src 'self'; frame-src 'self'; "               \
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

#define NGX_CHATVISOR_JOIN_CSP     NGX_CHATVISOR_PAGE_CSP("'self'")
#define NGX_CHATVISOR_CONSOLE_CSP  NGX_CHATVISOR_PAGE_CSP("'self' 'unsafe-inline'")


/* each surface: the route tables of the features that serve under it */

static ngx_chatvisor_route_t  *ngx_chatvisor_visitor_tables[] = {
    ngx_chatvisor_visitor_routes,
    ngx_chatvisor_identify_routes,
    ngx_chatvisor_cobrowse_visitor_routes,
    NULL
};

static ngx_chatvisor_route_t  *ngx_chatvisor_agent_tables[] = {
    ngx_chatvisor_agent_routes,
    ngx_chatvisor_cobrowse_agent_routes,
    NULL
};

static ngx_chatvisor_route_t  *ngx_chatvisor_api_tables[] = {
    ngx_chatvisor_api_routes,
    NULL
};


static ngx_chatvisor_surface_t  ngx_chatvisor_visitor_surface = {
    ngx_string("v1/visitor/"),
    "no such visitor endpoint",
    ngx_chatvisor_visitor_tables,
    NGX_CHATVISOR_CALLER_NONE,
    NULL,
    NULL,
    NULL
};

/* the console's sessions are the chat's */
static ngx_chatvisor_surface_t  ngx_chatvisor_agent_surface = {
    ngx_string("v1/agent/"),
    "no such agent endpoint",
    ngx_chatvisor_agent_tables,
    NGX_CHATVISOR_CALLER_AGENT,
    ngx_chatvisor_agent_auth,
    NULL,
    NULL
};

static ngx_chatvisor_surface_t  ngx_chatvisor_api_surface = {
    ngx_string("api/v1/"),
    "no such API resource",
    ngx_chatvisor_api_tables,
    NGX_CHATVISOR_CALLER_API,
    ngx_chatvisor_api_auth,
    NULL,
    NULL
};


static ngx_chatvisor_surface_t  *ngx_chatvisor_surfaces[] = {
    &ngx_chatvisor_visitor_surface,
    &ngx_chatvisor_agent_surface,
    &ngx_chatvisor_api_surface,
    NULL
};


/* the surfaces' route tables, joined and split once per configuration,
 * and the body limits of their routes */

ngx_int_t
ngx_chatvisor_handler_init(ngx_conf_t *cf)
{
    ngx_chatvisor_surface_t  **s;

    for (s = ngx_chatvisor_surfaces; *s; s++) {
        if (ngx_chatvisor_route_init(cf, *s) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ngx_chatvisor_body_init(cf);
}


/* the console and the join page: strict CSP, never cached with a token */

static ngx_int_t
ngx_chatvisor_send_page(ngx_http_request_t *r, ngx_chatvisor_asset_t *asset,
    ngx_uint_t join)
{
    static ngx_str_t  join_csp = ngx_string(NGX_CHATVISOR_JOIN_CSP);
    static ngx_str_t  console_csp = ngx_string(NGX_CHATVISOR_CONSOLE_CSP);

    ngx_str_t  *csp;

    csp = join ? &join_csp : &console_csp;

    if (ngx_chatvisor_header_add(r, "Content-Security-Policy", csp->data,
                                 csp->len)
        == NULL
        || ngx_chatvisor_header_add(r, "Referrer-Policy",
                                    (u_char *) "no-referrer",
                                    sizeof("no-referrer") - 1)
           == NULL
        || ngx_chatvisor_header_add(r, "X-Frame-Options", (u_char *) "DENY",
                                    sizeof("DENY") - 1)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_chatvisor_asset_send(r, asset, join ? "no-store" : NULL);
}


static ngx_int_t
ngx_chatvisor_send_file(ngx_http_request_t *r, ngx_chatvisor_asset_t *asset,
    ngx_str_t *path)
{
    if (!(r->method & NGX_CHATVISOR_GET)) {
        return ngx_chatvisor_send_method_not_allowed(r, NGX_CHATVISOR_GET);
    }

    if (ngx_chatvisor_content_type_is(&asset->content_type, "text/html")) {
        return ngx_chatvisor_send_page(r, asset,
                                       ngx_chatvisor_str_is(path, "join"));
    }

    return ngx_chatvisor_asset_send(r, asset, NULL);
}


/* PREFIX agent: the console's relative URLs need the trailing slash */

static ngx_int_t
ngx_chatvisor_redirect_console(ngx_http_request_t *r, ngx_str_t *prefix)
{
    u_char  *location;

    location = ngx_pnalloc(r->pool, prefix->len + sizeof("agent/"));
    if (location == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.location = ngx_chatvisor_header_add(r, "Location",
                                  location,
                                  ngx_sprintf(location, "%Vagent/", prefix)
                                  - location);
    if (r->headers_out.location == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_HTTP_MOVED_PERMANENTLY;
}


ngx_int_t
ngx_chatvisor_handler(ngx_http_request_t *r)
{
    ngx_str_t                  path, rest;
    ngx_chatvisor_asset_t     *asset;
    ngx_chatvisor_surface_t  **s;
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

    for (s = ngx_chatvisor_surfaces; *s; s++) {
        if (path.len >= (*s)->base.len
            && ngx_strncmp(path.data, (*s)->base.data, (*s)->base.len) == 0)
        {
            rest.data = path.data + (*s)->base.len;
            rest.len = path.len - (*s)->base.len;

            return ngx_chatvisor_route(r, *s, &rest);
        }
    }

    asset = ngx_chatvisor_asset_find(path.data, path.len);

    if (asset != NULL) {
        return ngx_chatvisor_send_file(r, asset, &path);
    }

    if (ngx_chatvisor_str_is(&path, "agent")) {
        return ngx_chatvisor_redirect_console(r,
                                              ngx_chatvisor_public_prefix(r));
    }

    return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                    "no such chatvisor resource");
}
