/*
 * Error responses: every error of the chatvisor surface is
 * {"error": {"code": "...", "message": "..."}} with the right status.
 */


#include "ngx_chatvisor.h"

#include <cjson/cJSON.h>


ngx_int_t
ngx_chatvisor_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    char         *json;
    cJSON        *root, *error;
    ngx_int_t     rc;
    ngx_str_t     body;

    root = cJSON_CreateObject();
    error = cJSON_AddObjectToObject(root, "error");

    if (error == NULL
        || cJSON_AddStringToObject(error, "code", code) == NULL
        || cJSON_AddStringToObject(error, "message", message) == NULL
        || (json = cJSON_PrintUnformatted(root)) == NULL)
    {
        cJSON_Delete(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cJSON_Delete(root);

    body.len = ngx_strlen(json);
    body.data = ngx_pnalloc(r->pool, body.len + 1);
    if (body.data == NULL) {
        cJSON_free(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(body.data, json, body.len);
    body.data[body.len++] = '\n';
    cJSON_free(json);

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    r->headers_out.status = status;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    return ngx_chatvisor_send_body(r, &body, 1);
}


ngx_int_t
ngx_chatvisor_send_method_not_allowed(ngx_http_request_t *r,
    const char *allow)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.data = (u_char *) allow;
    h->value.len = ngx_strlen(allow);

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
