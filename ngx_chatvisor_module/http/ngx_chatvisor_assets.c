/*
 * The embedded browser files (scripts/build-www.mjs): the widget, the agent
 * console and the join page, each with a gzip variant made at build time.
 */


#include "ngx_chatvisor_http.h"


/* a URL with the content's hash never changes: a year, as is usual */
#define NGX_CHATVISOR_CACHE_IMMUTABLE  "public, max-age=31536000, immutable"


ngx_chatvisor_asset_t *
ngx_chatvisor_asset_find(u_char *name, size_t len)
{
    ngx_chatvisor_asset_t  *a;

    for (a = ngx_chatvisor_assets; a->name.len; a++) {
        if (a->name.len == len && ngx_strncmp(a->name.data, name, len) == 0) {
            return a;
        }
    }

    return NULL;
}


/*
 * Immutable when the URL carries the content hash (?v=HASH, as the injected
 * tag does), else revalidated by ETag. The gzip variant is precompressed at
 * build time, so no worker ever compresses it.
 */

ngx_int_t
ngx_chatvisor_asset_send(ngx_http_request_t *r, ngx_chatvisor_asset_t *asset,
    const char *cache_control)
{
    u_char           *etag;
    ngx_int_t         rc, gzip;
    ngx_str_t         body, v;
    ngx_uint_t        immutable;

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

    r->headers_out.etag = ngx_chatvisor_header_add(r, "ETag", etag,
                                              ngx_sprintf(etag, "\"%V%s\"",
                                                          &asset->hash,
                                                          gzip ? "-gz" : "")
                                              - etag);
    if (r->headers_out.etag == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    immutable = ngx_chatvisor_arg(r, "v", &v) == NGX_OK
                && v.len == asset->hash.len
                && ngx_strncmp(v.data, asset->hash.data, v.len) == 0;

    if (cache_control == NULL) {
        cache_control = immutable ? NGX_CHATVISOR_CACHE_IMMUTABLE
                                  : "no-cache";
    }

    if (ngx_chatvisor_header_add(r, "Cache-Control", (u_char *) cache_control,
                                 ngx_strlen(cache_control))
        == NULL
        || ngx_chatvisor_header_add(r, "Vary", (u_char *) "Accept-Encoding",
                                    sizeof("Accept-Encoding") - 1)
           == NULL
        || ngx_chatvisor_header_add(r, "X-Content-Type-Options",
                                    (u_char *) "nosniff",
                                    sizeof("nosniff") - 1)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (gzip) {
        r->headers_out.content_encoding =
            ngx_chatvisor_header_add(r, "Content-Encoding", (u_char *) "gzip",
                                     sizeof("gzip") - 1);
        if (r->headers_out.content_encoding == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
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
