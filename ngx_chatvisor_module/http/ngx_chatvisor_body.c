/*
 * Request bodies: a JSON value (an object, or an array where the route
 * takes one), or a form where the route takes one (OAuth2 token requests),
 * at most NGX_CHATVISOR_BODY_MAX bytes. Anything else is answered here
 * (413, 415, 400), before the route's handler runs.
 */


#include "ngx_chatvisor_http.h"
#include "cv_body.h"


#define NGX_CHATVISOR_TYPE_JSON  "application/json"
#define NGX_CHATVISOR_TYPE_FORM  "application/x-www-form-urlencoded"


static void ngx_chatvisor_body_done(ngx_http_request_t *r);


static void
ngx_chatvisor_free_json(void *data)
{
    cJSON_Delete(data);
}


/* the parsed body lives as long as the request */

static ngx_int_t
ngx_chatvisor_keep_json(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx,
    cJSON *json)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        cJSON_Delete(json);
        return NGX_ERROR;
    }

    cln->handler = ngx_chatvisor_free_json;
    cln->data = json;

    ctx->body = json;

    return NGX_OK;
}


static ngx_int_t
ngx_chatvisor_too_large(ngx_http_request_t *r)
{
    return ngx_chatvisor_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                    "too_large",
                                    "the body is larger than "
                                    NGX_CHATVISOR_BODY_MAX_TEXT);
}


ngx_int_t
ngx_chatvisor_body_read(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx,
    ngx_chatvisor_handler_pt next)
{
    ngx_int_t   rc;
    ngx_str_t  *ct;

    ct = r->headers_in.content_type ? &r->headers_in.content_type->value
                                    : NULL;

    ctx->next = next;

    /* no body at all (POST .../close) reads as {} */
    if (ct == NULL && r->headers_in.content_length_n <= 0
        && r->headers_in.chunked == 0)
    {
        if (ngx_http_discard_request_body(r) != NGX_OK
            || ngx_chatvisor_keep_json(r, ctx, cJSON_CreateObject())
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return next(r, ctx);
    }

    if (!ngx_chatvisor_content_type_is(ct, NGX_CHATVISOR_TYPE_JSON)
        && !(ctx->route->body == NGX_CHATVISOR_BODY_FORM
             && ngx_chatvisor_content_type_is(ct, NGX_CHATVISOR_TYPE_FORM)))
    {
        return ngx_chatvisor_send_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                        "unsupported_media_type",
                                        "the body must be "
                                        NGX_CHATVISOR_TYPE_JSON);
    }

    if (r->headers_in.content_length_n > NGX_CHATVISOR_BODY_MAX) {
        return ngx_chatvisor_too_large(r);
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_chatvisor_body_done);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* the body in one piece of memory, NUL-terminated; NULL on failure */

static u_char *
ngx_chatvisor_body_text(ngx_http_request_t *r, size_t len, u_char **end)
{
    u_char       *p, *data;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    data = ngx_pnalloc(r->pool, len + 1);
    if (data == NULL) {
        return NULL;
    }

    p = data;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, (size_t) (b->file_last
                                                     - b->file_pos),
                              b->file_pos);
            if (n != b->file_last - b->file_pos) {
                return NULL;
            }

            p += n;

        } else {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    *p = '\0';
    *end = p;

    return data;
}


static void
ngx_chatvisor_body_done(ngx_http_request_t *r)
{
    u_char               *data, *end;
    off_t                 len;
    cJSON                *json;
    ngx_int_t             rc;
    ngx_chain_t          *cl;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);

    len = 0;
    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            len += ngx_buf_size(cl->buf);
        }
    }

    if (len > NGX_CHATVISOR_BODY_MAX) {
        ngx_http_finalize_request(r, ngx_chatvisor_too_large(r));
        return;
    }

    data = ngx_chatvisor_body_text(r, (size_t) len, &end);
    if (data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* the body's text is read by the engine (cv_body.c, fuzzed) */
    if (cv_body_has_nul((const char *) data, end - data)) {
        /* cJSON would cut the string there: refuse rather than truncate */
        rc = ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                      "invalid_request",
                                      "strings must not contain U+0000");
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (ctx->route->body == NGX_CHATVISOR_BODY_FORM
        && ngx_chatvisor_content_type_is(&r->headers_in.content_type->value,
                                         NGX_CHATVISOR_TYPE_FORM))
    {
        json = cv_body_form((char *) data, end - data);

    } else {
        json = cv_body_json((const char *) data, end - data);
    }

    if (json == NULL
        || !(cJSON_IsObject(json)
             || (ctx->route->body == NGX_CHATVISOR_BODY_ARRAY
                 && cJSON_IsArray(json))))
    {
        cJSON_Delete(json);
        rc = ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST, "invalid_json",
                                      "the body is not a JSON object");
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (ngx_chatvisor_keep_json(r, ctx, json) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r, ctx->next(r, ctx));
}
