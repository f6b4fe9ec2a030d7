/*
 * The content handler of "chatvisor on" locations. For now it serves the
 * embedded browser bundles (PREFIX widget.js); the visitor, agent and REST
 * endpoints are dispatched from here as they arrive.
 */


#include "ngx_chatvisor.h"


static ngx_int_t ngx_chatvisor_send_asset(ngx_http_request_t *r,
    ngx_chatvisor_asset_t *asset);


ngx_chatvisor_asset_t *
ngx_chatvisor_find_asset(u_char *name, size_t len)
{
    ngx_chatvisor_asset_t  *a;

    for (a = ngx_chatvisor_assets; a->name.len; a++) {
        if (a->name.len == len && ngx_strncmp(a->name.data, name, len) == 0) {
            return a;
        }
    }

    return NULL;
}


ngx_int_t
ngx_chatvisor_handler(ngx_http_request_t *r)
{
    ngx_str_t                  path;
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

    asset = ngx_chatvisor_find_asset(path.data, path.len);

    if (asset != NULL) {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_chatvisor_send_method_not_allowed(r, "GET, HEAD");
        }

        return ngx_chatvisor_send_asset(r, asset);
    }

    return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                    "no such chatvisor resource");
}


static ngx_table_elt_t *
ngx_chatvisor_add_header(ngx_http_request_t *r, const char *key,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = value;
    h->value.len = len;

    return h;
}


/*
 * Immutable: the injected URL carries the content hash. The gzip variant is
 * precompressed at build time, so no worker ever compresses it.
 */

static ngx_int_t
ngx_chatvisor_send_asset(ngx_http_request_t *r, ngx_chatvisor_asset_t *asset)
{
    u_char           *etag;
    ngx_int_t         rc, gzip;
    ngx_str_t         body;
    ngx_table_elt_t  *h;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

#if (NGX_HTTP_GZIP)
    gzip = (ngx_http_gzip_ok(r) == NGX_OK);
#else
    gzip = 0;
#endif

    etag = ngx_pnalloc(r->pool, asset->hash.len + sizeof("\"-gz\""));
    if (etag == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = ngx_chatvisor_add_header(r, "ETag", etag,
                                 ngx_sprintf(etag, "\"%V%s\"", &asset->hash,
                                             gzip ? "-gz" : "")
                                 - etag);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.etag = h;

    if (ngx_chatvisor_add_header(r, "Cache-Control",
                                 (u_char *) "public, max-age=31536000, "
                                            "immutable",
                                 sizeof("public, max-age=31536000, "
                                        "immutable") - 1)
        == NULL
        || ngx_chatvisor_add_header(r, "Vary", (u_char *) "Accept-Encoding",
                                    sizeof("Accept-Encoding") - 1)
           == NULL
        || ngx_chatvisor_add_header(r, "X-Content-Type-Options",
                                    (u_char *) "nosniff",
                                    sizeof("nosniff") - 1)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (gzip) {
        h = ngx_chatvisor_add_header(r, "Content-Encoding", (u_char *) "gzip",
                                     sizeof("gzip") - 1);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->headers_out.content_encoding = h;
        body.data = asset->gz_data;
        body.len = asset->gz_len;

    } else {
        body.data = asset->data;
        body.len = asset->len;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type = asset->content_type;
    r->headers_out.content_type_len = asset->content_type.len;

    /* ETag/If-None-Match is answered by the not_modified filter */
    r->allow_ranges = 1;

    return ngx_chatvisor_send_body(r, &body, 0);
}
