/*
 * Request bodies: a JSON value (an object, or an array where the route
 * takes one), or a form where the route takes one (OAuth2 token requests),
 * at most NGX_CHATVISOR_BODY_MAX bytes; or, for a BODY_RAW route, a JSON
 * array of objects kept as text, at most the route's own limit. Anything
 * else is answered here (413, 415, 400), before the route's handler runs.
 */


#include "ngx_chatvisor_http.h"
#include "cv_json_check.h"
#include "cv_body.h"


#define NGX_CHATVISOR_TYPE_JSON  "application/json"
#define NGX_CHATVISOR_TYPE_FORM  "application/x-www-form-urlencoded"

#define NGX_CHATVISOR_KB         1024
#define NGX_CHATVISOR_MB         (1024 * 1024)

/* a raw body's buffer at first: most co-browsing chunks fit */
#define NGX_CHATVISOR_BODY_COPY_FIRST  (32 * NGX_CHATVISOR_KB)


static ngx_int_t ngx_chatvisor_body_copy(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_chatvisor_body_read_max(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, size_t max, ngx_chatvisor_handler_pt next);
static void ngx_chatvisor_body_done(ngx_http_request_t *r);


static ngx_http_request_body_filter_pt  ngx_chatvisor_next_body_filter;


/*
 * A BODY_RAW body with a Content-Length is copied, as it arrives, into one
 * buffer: never through a temporary file (a co-browsing chunk is often
 * larger than client_body_buffer_size, and the file's writes, reads and
 * unlink cost more than the rest of the request), and not copied again to
 * be checked (ngx_chatvisor_body_done). The buffer starts at most
 * NGX_CHATVISOR_BODY_COPY_FIRST and doubles as bytes come, up to the
 * length: a client that announces 8 MB and sends nothing holds no more
 * memory than that. The length filter before this one passes no more
 * than Content-Length.
 */

static ngx_int_t
ngx_chatvisor_body_copy(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx,
    ngx_chain_t *in)
{
    u_char       *p;
    size_t        n, size, want;
    ngx_buf_t    *b, *to;
    ngx_chain_t  *cl;

    to = ctx->body_copy;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            return NGX_ERROR;       /* bodies reach the filters in memory */
        }

        n = b->last - b->pos;

        if (n > (size_t) (to->end - to->last)) {
            /* the NUL's byte past end is kept free */
            want = (to->last - to->pos) + n;
            size = ngx_max(2 * (size_t) (to->end - to->pos), want);
            size = ngx_min(size, (size_t) r->headers_in.content_length_n);

            if (want > size) {
                return NGX_ERROR;
            }

            p = ngx_pnalloc(r->pool, size + 1);
            if (p == NULL) {
                return NGX_ERROR;
            }

            to->last = ngx_cpymem(p, to->pos, to->last - to->pos);
            (void) ngx_pfree(r->pool, to->start);
            to->start = p;
            to->pos = p;
            to->end = p + size;
        }

        to->last = ngx_cpymem(to->last, b->pos, n);
    }

    return NGX_OK;
}


/*
 * Counts a body as it is read, against the limit of the route reading it.
 * Past the limit the rest is marked consumed and only the body's end is
 * passed on, so the reading goes on to the end (the answer is a 413, not a
 * reset connection) while nothing more is kept; the save filter is always
 * called, so what it holds is written out as usual.
 */

static ngx_int_t
ngx_chatvisor_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t            *last;
    ngx_chain_t          *cl, out;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_chatvisor_module);

    if (ctx == NULL || ctx->body_limit == 0) {
        return ngx_chatvisor_next_body_filter(r, in);
    }

    if (!ctx->body_too_large) {
        for (cl = in; cl; cl = cl->next) {
            ctx->body_received += ngx_buf_size(cl->buf);
        }

        if (ctx->body_received <= ctx->body_limit) {
            if (ctx->body_copy == NULL) {
                return ngx_chatvisor_next_body_filter(r, in);
            }

            if (ngx_chatvisor_body_copy(r, ctx, in) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            /* consumed: nothing is kept, so nothing goes to a file */
            goto consumed;
        }

        ctx->body_too_large = 1;
    }

consumed:

    last = NULL;

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;

        if (cl->buf->last_buf) {
            last = cl->buf;
        }
    }

    if (last == NULL) {
        return ngx_chatvisor_next_body_filter(r, NULL);
    }

    out.buf = last;
    out.next = NULL;

    return ngx_chatvisor_next_body_filter(r, &out);
}


ngx_int_t
ngx_chatvisor_body_init(ngx_conf_t *cf)
{
    ngx_chatvisor_next_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_chatvisor_body_filter;

    return NGX_OK;
}


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


ngx_int_t
ngx_chatvisor_send_too_large(ngx_http_request_t *r, size_t max)
{
    ngx_chatvisor_err_t  err;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    err.status = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    err.code = "too_large";
    err.message = (const char *) err.text;

    if (max % NGX_CHATVISOR_MB == 0) {
        ngx_sprintf(err.text, "the body is larger than %uz MB%Z",
                    max / NGX_CHATVISOR_MB);

    } else if (max % NGX_CHATVISOR_KB == 0) {
        ngx_sprintf(err.text, "the body is larger than %uz KB%Z",
                    max / NGX_CHATVISOR_KB);

    } else {
        ngx_sprintf(err.text, "the body is larger than %uz bytes%Z", max);
    }

    return ngx_chatvisor_send_err(r, &err);
}


ngx_int_t
ngx_chatvisor_body_read(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx,
    ngx_chatvisor_handler_pt next)
{
    return ngx_chatvisor_body_read_max(r, ctx, NGX_CHATVISOR_BODY_MAX, next);
}


ngx_int_t
ngx_chatvisor_body_read_raw(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx,
    size_t max, ngx_chatvisor_handler_pt next)
{
    /* such bodies are large by nature: one past client_body_buffer_size
     * goes through a temporary file, as always, but unannounced (as the
     * dav module's) */
    r->request_body_file_log_level = 0;

    return ngx_chatvisor_body_read_max(r, ctx, max, next);
}


static ngx_int_t
ngx_chatvisor_body_read_max(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx,
    size_t max, ngx_chatvisor_handler_pt next)
{
    ngx_int_t   rc;
    ngx_str_t  *ct;

    ct = r->headers_in.content_type ? &r->headers_in.content_type->value
                                    : NULL;

    ctx->next = next;

    if (ctx->route->body == NGX_CHATVISOR_BODY_RAW
        && r->headers_in.content_length_n <= 0 && r->headers_in.chunked == 0)
    {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_json",
                                        "the body must be a JSON array");
    }

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
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_chatvisor_send_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                        "unsupported_media_type",
                                        "the body must be "
                                        NGX_CHATVISOR_TYPE_JSON);
    }

    if (r->headers_in.content_length_n > (off_t) max) {
        if (ctx->route->body != NGX_CHATVISOR_BODY_RAW) {
            return ngx_chatvisor_send_too_large(r, max);
        }

        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->body_too_large = 1;

        return next(r, ctx);
    }

    ctx->body_limit = max;

    if (ctx->route->body == NGX_CHATVISOR_BODY_RAW
        && r->headers_in.content_length_n > 0)
    {
        /* the length is at most max (checked above); a byte for the NUL */
        ctx->body_copy = ngx_create_temp_buf(r->pool,
                             ngx_min((size_t) r->headers_in.content_length_n,
                                     NGX_CHATVISOR_BODY_COPY_FIRST)
                             + 1);
        if (ctx->body_copy == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->body_copy->end--;      /* the NUL's byte stays free */

    } else {
        r->request_body_in_single_buf = 1;
    }

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


/* a JSON array of objects, kept as the text of its elements */

static void
ngx_chatvisor_body_raw(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx,
    u_char *data, u_char *end)
{
    ngx_int_t           rc;
    cv_json_array_span  span;

    /* the escapes of a string stay as they are: "\u0000" is no harm */
    if (cv_json_object_array((char *) data, end - data, &span) != CV_OK) {
        rc = ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST, "invalid_json",
                                      "the body is not a JSON array of "
                                      "objects");
        ngx_http_finalize_request(r, rc);
        return;
    }

    ctx->raw.data = data + span.inner_off;
    ctx->raw.len = span.inner_len;
    ctx->raw_count = span.count;

    ngx_http_finalize_request(r, ctx->next(r, ctx));
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
    if (ctx->body_copy) {
        len = ctx->body_copy->last - ctx->body_copy->pos;

    } else if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            len += ngx_buf_size(cl->buf);
        }
    }

    if (ctx->body_too_large || len > ctx->body_limit) {
        ctx->body_too_large = 1;

        ngx_http_finalize_request(r,
                        ctx->route->body == NGX_CHATVISOR_BODY_RAW
                        ? ctx->next(r, ctx)
                        : ngx_chatvisor_send_too_large(r,
                                                 (size_t) ctx->body_limit));
        return;
    }

    if (ctx->body_copy && !ctx->body_too_large) {
        data = ctx->body_copy->pos;
        end = ctx->body_copy->last;
        *end = '\0';

    } else {
        data = ngx_chatvisor_body_text(r, (size_t) len, &end);
    }

    if (data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ctx->route->body == NGX_CHATVISOR_BODY_RAW) {
        ngx_chatvisor_body_raw(r, ctx, data, end);
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
