/*
 * Responses of the chatvisor surface: JSON bodies, and errors as
 * {"error": {"code": "...", "message": "..."}} with the right status.
 */


#include "ngx_chatvisor.h"


ngx_table_elt_t *
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


static ngx_int_t
ngx_chatvisor_no_store(ngx_http_request_t *r, ngx_uint_t status)
{
    r->headers_out.status = status;

    /* API answers are personal: never stored by caches on the way */
    if (ngx_chatvisor_add_header(r, "Cache-Control", (u_char *) "no-store",
                                 sizeof("no-store") - 1)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* takes ownership of json; NULL json sends no body (e.g. 204) */

ngx_int_t
ngx_chatvisor_send_json(ngx_http_request_t *r, ngx_uint_t status, cJSON *json)
{
    char       *text;
    ngx_int_t   rc;

    if (json == NULL) {
        if (ngx_chatvisor_no_store(r, status) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->header_only = 1;
        r->headers_out.content_length_n = 0;
        return ngx_http_send_header(r);
    }

    text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_chatvisor_send_json_copy(r, status, text, ngx_strlen(text));
    cJSON_free(text);

    return rc;
}


/* JSON text the caller keeps: copied into r->pool with the final "\n" */

ngx_int_t
ngx_chatvisor_send_json_copy(ngx_http_request_t *r, ngx_uint_t status,
    const char *text, size_t len)
{
    ngx_str_t  body;

    body.data = ngx_pnalloc(r->pool, len + 1);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(body.data, text, len);
    body.data[len] = '\n';
    body.len = len + 1;

    return ngx_chatvisor_send_json_text(r, status, &body);
}


/* a JSON body put together by the caller, in r->pool, ending in "\n" */

ngx_int_t
ngx_chatvisor_send_json_text(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body)
{
    if (ngx_chatvisor_no_store(r, status) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    return ngx_chatvisor_send_body(r, body, 1);
}


ngx_int_t
ngx_chatvisor_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    cJSON      *root, *error;
    ngx_int_t   rc;

    if (r->header_sent) {
        return NGX_ERROR;
    }

    if (r == r->main && !r->request_body) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    root = cJSON_CreateObject();
    error = cJSON_AddObjectToObject(root, "error");

    if (error == NULL
        || cJSON_AddStringToObject(error, "code", code) == NULL
        || cJSON_AddStringToObject(error, "message", message) == NULL)
    {
        cJSON_Delete(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_chatvisor_send_json(r, status, root);
}


/* the store's outcome as an HTTP error */

ngx_int_t
ngx_chatvisor_send_status(ngx_http_request_t *r, cv_status st)
{
    switch (st) {

    case CV_NOT_FOUND:
        return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "no such resource");

    case CV_CONFLICT:
        return ngx_chatvisor_send_error(r, NGX_HTTP_CONFLICT, "conflict",
                                        "the resource is not in a state "
                                        "that allows this");

    case CV_INVALID:
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "the request is not valid");

    case CV_FORBIDDEN:
        return ngx_chatvisor_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                        "not allowed");

    case CV_FULL:
        return ngx_chatvisor_send_error(r, 507, "store_full",
                                        "the store is full; nothing was "
                                        "written");

    default:
        return ngx_chatvisor_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                        "internal_error",
                                        "the store failed");
    }
}


ngx_int_t
ngx_chatvisor_send_method_not_allowed(ngx_http_request_t *r,
    const char *allow)
{
    if (ngx_chatvisor_add_header(r, "Allow", (u_char *) allow,
                                 ngx_strlen(allow))
        == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                    "method_not_allowed",
                                    "this method is not allowed here");
}


/* sends a complete in-memory body; temporary: the pool owns the memory */

ngx_int_t
ngx_chatvisor_send_body(ngx_http_request_t *r, ngx_str_t *body,
    ngx_uint_t temporary)
{
    ngx_buf_t    *b;
    ngx_int_t     rc;
    ngx_chain_t   out;

    r->headers_out.content_length_n = body->len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->temporary = temporary ? 1 : 0;
    b->memory = temporary ? 0 : 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * For checks that may answer the request themselves: send the error, keep
 * its rc, and return NGX_DECLINED; the caller then returns
 * ngx_chatvisor_sent(r) (never go on after an answer was sent).
 */

ngx_int_t
ngx_chatvisor_fail(ngx_http_request_t *r, ngx_uint_t status, const char *code,
    const char *message)
{
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->rc = ngx_chatvisor_send_error(r, status, code, message);

    return NGX_DECLINED;
}


ngx_int_t
ngx_chatvisor_sent(ngx_http_request_t *r)
{
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_get_ctx(r);

    return ctx ? ctx->rc : NGX_ERROR;
}
