/*
 * Answers of the chatvisor surfaces: JSON bodies, never stored by caches
 * on the way, and errors as {"error": {"code": "...", "message": "..."}}
 * with the right status.
 */


#include "ngx_chatvisor_http.h"


ngx_int_t
ngx_chatvisor_reject(ngx_chatvisor_err_t *err, ngx_uint_t status,
    const char *code, const char *message)
{
    err->status = status;
    err->code = code;
    err->message = message;

    return NGX_DECLINED;
}


ngx_int_t
ngx_chatvisor_invalid(ngx_chatvisor_err_t *err, const char *message)
{
    return ngx_chatvisor_reject(err, NGX_HTTP_BAD_REQUEST, "invalid_request",
                                message);
}


ngx_int_t
ngx_chatvisor_invalidf(ngx_chatvisor_err_t *err, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(err->text, err->text + sizeof(err->text) - 1, fmt,
                      args);
    va_end(args);

    *p = '\0';

    return ngx_chatvisor_invalid(err, (char *) err->text);
}


static ngx_int_t
ngx_chatvisor_no_store(ngx_http_request_t *r, ngx_uint_t status)
{
    r->headers_out.status = status;

    /* answers are personal: never stored by caches on the way */
    if (ngx_chatvisor_header_add(r, "Cache-Control", (u_char *) "no-store",
                                 sizeof("no-store") - 1)
        == NULL)
    {
        return NGX_ERROR;
    }

    /* a JSON answer is never sniffed into HTML or script */
    if (ngx_chatvisor_header_add(r, "X-Content-Type-Options",
                                 (u_char *) "nosniff", sizeof("nosniff") - 1)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_send_limited(ngx_http_request_t *r, ngx_uint_t retry_after,
    const char *message)
{
    u_char  *p, *value;

    value = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (value == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(value, "%ui", retry_after);

    if (ngx_chatvisor_header_add(r, "Retry-After", value, p - value) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_chatvisor_send_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                    "rate_limited", message);
}


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


static void
ngx_chatvisor_free_text(void *data)
{
    free(data);
}


ngx_int_t
ngx_chatvisor_send_json_built(ngx_http_request_t *r, ngx_uint_t status,
    cv_json_text *b)
{
    char                *text;
    size_t               len;
    ngx_str_t            body;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        cv_jt_free(b);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cv_jt_raw(b, "\n", 1);

    text = cv_jt_take(b, &len);
    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the body may wait in the connection's buffers after the handler */
    cln->handler = ngx_chatvisor_free_text;
    cln->data = text;

    body.data = (u_char *) text;
    body.len = len;

    return ngx_chatvisor_send_json_text(r, status, &body);
}


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


ngx_int_t
ngx_chatvisor_send_err(ngx_http_request_t *r, ngx_chatvisor_err_t *err)
{
    return ngx_chatvisor_send_error(r, err->status, err->code, err->message);
}


ngx_int_t
ngx_chatvisor_send_status(ngx_http_request_t *r, cv_status st,
    const char *why)
{
    switch (st) {

    case CV_NOT_FOUND:
        return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        why ? why : "no such resource");

    case CV_CONFLICT:
        return ngx_chatvisor_send_error(r, NGX_HTTP_CONFLICT, "conflict",
                                        why ? why
                                            : "the resource is not in a "
                                              "state that allows this");

    case CV_INVALID:
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        why ? why
                                            : "the request is not valid");

    case CV_FORBIDDEN:
        return ngx_chatvisor_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                        why ? why : "not allowed");

    case CV_FULL:
        return ngx_chatvisor_send_error(r,
                                        NGX_CHATVISOR_HTTP_INSUFFICIENT_STORAGE,
                                        "store_full",
                                        "the store is full; nothing was "
                                        "written");

    default:
        return ngx_chatvisor_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                        "internal_error",
                                        "the store failed");
    }
}


ngx_int_t
ngx_chatvisor_send_unavailable(ngx_http_request_t *r)
{
    return ngx_chatvisor_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                    "unavailable", NGX_CHATVISOR_UNAVAILABLE);
}


/* "GET, HEAD, POST": the Allow header of a set of methods */

ngx_int_t
ngx_chatvisor_send_method_not_allowed(ngx_http_request_t *r,
    ngx_uint_t methods)
{
    static struct {
        ngx_uint_t   method;
        ngx_str_t    name;
    } names[] = {
        { NGX_HTTP_GET, ngx_string("GET") },
        { NGX_HTTP_HEAD, ngx_string("HEAD") },
        { NGX_HTTP_POST, ngx_string("POST") },
        { NGX_HTTP_PUT, ngx_string("PUT") },
        { NGX_HTTP_PATCH, ngx_string("PATCH") },
        { NGX_HTTP_DELETE, ngx_string("DELETE") }
    };

    u_char      *allow, *p;
    ngx_uint_t   i;

    allow = ngx_pnalloc(r->pool, sizeof("GET, HEAD, POST, PUT, PATCH, DELETE"));
    if (allow == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = allow;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (methods & names[i].method) {
            if (p != allow) {
                p = ngx_cpymem(p, ", ", 2);
            }

            p = ngx_cpymem(p, names[i].name.data, names[i].name.len);
        }
    }

    if (ngx_chatvisor_header_add(r, "Allow", allow, p - allow) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                    "method_not_allowed",
                                    "this method is not allowed here");
}


static cv_status
ngx_chatvisor_write_run(ngx_chatvisor_op_t *op, cv_txn *t)
{
    ngx_chatvisor_ctx_t  *ctx = op->data;

    return ctx->write_run(ctx->request, t);
}


/* answered: the request (and ctx with it) may be gone after finalizing */

static void
ngx_chatvisor_write_done(ngx_chatvisor_op_t *op)
{
    ngx_int_t             rc;
    ngx_chatvisor_ctx_t  *ctx = op->data;
    ngx_http_request_t   *r;

    r = ctx->request;

    rc = ctx->write_done(r, op->status);
    ngx_chatvisor_op_clear(op);

    ngx_http_finalize_request(r, rc);
}


ngx_int_t
ngx_chatvisor_write(ngx_http_request_t *r, ngx_chatvisor_write_run_pt run,
    ngx_chatvisor_write_done_pt done)
{
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    ctx = ngx_chatvisor_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    ctx->write_run = run;
    ctx->write_done = done ? done : ngx_chatvisor_send_op;

    ctx->op.run = ngx_chatvisor_write_run;
    ctx->op.done = ngx_chatvisor_write_done;
    ctx->op.data = ctx;

    if (ngx_chatvisor_commit(cmcf, &ctx->op) != NGX_OK) {
        return ngx_chatvisor_send_unavailable(r);
    }

    /* answered once committed */
    r->main->count++;

    return NGX_DONE;
}


cv_status
ngx_chatvisor_op_conversation(ngx_chatvisor_op_t *op, cv_txn *t,
    const char *conversation_id, const char *customer_id)
{
    cv_status  st;

    if (op->message.json == NULL) {
        st = cv_conversation_get(t, conversation_id, &op->result);
        if (st != CV_OK) {
            return st;
        }
    }

    ngx_chatvisor_op_notice(op, NGX_CHATVISOR_NOTICE_CHANGE, customer_id,
                            conversation_id);

    return CV_OK;
}


cJSON *
ngx_chatvisor_page(cJSON *items, const char *next)
{
    cJSON  *out;

    out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "items", items);

    if (next) {
        cJSON_AddStringToObject(out, "next_cursor", next);

    } else {
        cJSON_AddNullToObject(out, "next_cursor");
    }

    return out;
}


ngx_int_t
ngx_chatvisor_send_op(ngx_http_request_t *r, cv_status st)
{
    cJSON               *result;
    ngx_chatvisor_op_t  *op;

    op = &ngx_chatvisor_ctx(r)->op;

    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, op->why);
    }

    if (op->message.json) {
        return ngx_chatvisor_send_json_copy(r, op->message.duplicate
                                               ? NGX_HTTP_OK
                                               : NGX_HTTP_CREATED,
                                            op->message.json,
                                            op->message.len);
    }

    result = op->result;
    op->result = NULL;

    return ngx_chatvisor_send_json(r, op->ok_status ? op->ok_status
                                                    : NGX_HTTP_OK,
                                   result);
}
