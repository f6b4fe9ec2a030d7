/*
 * REST: customers. Label one with the integrator's id, names, email and
 * labels; find it again by that id; one-time agent URLs that open its
 * conversation.
 */


#include "ngx_chatvisor.h"
#include "cv_chat.h"
#include "cv_customers.h"


static ngx_int_t ngx_chatvisor_api_customer_body(ngx_http_request_t *r,
    cJSON *body);
static cv_status ngx_chatvisor_api_customer_run(ngx_http_request_t *r,
    cv_txn *t);


enum {
    NGX_CHATVISOR_CUSTOMER_PUT = 1,
    NGX_CHATVISOR_CUSTOMER_PATCH,
    NGX_CHATVISOR_CUSTOMER_AGENT_URL
};


ngx_int_t
ngx_chatvisor_api_customers(ngx_http_request_t *r, ngx_str_t *seg,
    ngx_uint_t n)
{
    char                        ext[130];
    cJSON                      *cus, *out, *items;
    cv_txn                     *t;
    ngx_str_t                   v;
    cv_status                   st;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    ctx = ngx_chatvisor_get_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (n == 1) {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_chatvisor_send_method_not_allowed(r, "GET, HEAD");
        }

        if (ngx_chatvisor_arg(r, "id", &v) != NGX_OK || v.len == 0
            || v.len >= sizeof(ext))
        {
            return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                            "invalid_request",
                                            "give the customer's id: "
                                            "customers?id=...");
        }

        /* the id may be percent-encoded */
        {
            u_char  *dst = (u_char *) ext, *src = v.data;

            ngx_unescape_uri(&dst, &src, v.len, 0);
            *dst = '\0';
        }

        st = cv_txn_begin(cmcf->store, 0, &t);
        if (st != CV_OK) {
            return ngx_chatvisor_send_status(r, st);
        }

        items = cJSON_CreateArray();
        st = cv_customer_find(t, ext, &cus);
        cv_txn_abort(t);

        if (st == CV_OK) {
            cJSON_AddItemToArray(items, cus);

        } else if (st != CV_NOT_FOUND) {
            cJSON_Delete(items);
            return ngx_chatvisor_send_status(r, st);
        }

        out = cJSON_CreateObject();
        cJSON_AddItemToObject(out, "items", items);
        cJSON_AddNullToObject(out, "next_cursor");

        return ngx_chatvisor_send_json(r, NGX_HTTP_OK, out);
    }

    if (seg[1].len >= CV_ID_MAX || seg[1].len < 5
        || ngx_strncmp(seg[1].data, "cus_", 4) != 0)
    {
        return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "no such customer");
    }

    ngx_memcpy(ctx->customer_id, seg[1].data, seg[1].len);
    ctx->customer_id[seg[1].len] = '\0';

    if (n == 3 && ngx_chatvisor_str_is(&seg[2], "agent-url")) {
        if (r->method != NGX_HTTP_POST) {
            return ngx_chatvisor_send_method_not_allowed(r, "POST");
        }

        ctx->action = NGX_CHATVISOR_CUSTOMER_AGENT_URL;
        return ngx_chatvisor_read_json(r, ngx_chatvisor_api_customer_body);
    }

    if (n != 2) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "no such API resource");
    }

    if (r->method == NGX_HTTP_PUT || r->method == NGX_HTTP_PATCH) {
        ctx->action = (r->method == NGX_HTTP_PUT)
                      ? NGX_CHATVISOR_CUSTOMER_PUT
                      : NGX_CHATVISOR_CUSTOMER_PATCH;
        return ngx_chatvisor_read_json(r, ngx_chatvisor_api_customer_body);
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_chatvisor_send_method_not_allowed(r,
                                                     "GET, HEAD, PUT, PATCH");
    }

    st = ngx_chatvisor_read_record(r, cv_customer_get, ctx->customer_id, &cus);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st);
    }

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, cus);
}


static ngx_int_t
ngx_chatvisor_api_customer_body(ngx_http_request_t *r, cJSON *body)
{
    static const char  *url_fields[] = { "agent_id", "ttl_seconds", NULL };

    cJSON                *agent;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_get_ctx(r);

    if (ctx->action == NGX_CHATVISOR_CUSTOMER_AGENT_URL) {
        if (ngx_chatvisor_check_fields(r, body, url_fields) != NGX_OK
            || ngx_chatvisor_api_ttl(r, body, &ctx->ttl_ms) != NGX_OK)
        {
            return ngx_chatvisor_sent(r);
        }

        agent = cJSON_GetObjectItemCaseSensitive(body, "agent_id");

        if (!cJSON_IsString(agent) || agent->valuestring[0] == '\0'
            || ngx_strlen(agent->valuestring) > 128)
        {
            return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                            "invalid_request",
                                            "\"agent_id\" is required");
        }
    }

    return ngx_chatvisor_commit(r, ngx_chatvisor_api_customer_run,
                                ngx_chatvisor_api_done);
}


static cv_status
ngx_chatvisor_api_customer_run(ngx_http_request_t *r, cv_txn *t)
{
    char                  conv[CV_ID_MAX];
    cJSON                *cus, *out;
    cv_status             st;
    const char           *id;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_get_ctx(r);
    ctx->why = NULL;

    if (ctx->action != NGX_CHATVISOR_CUSTOMER_AGENT_URL) {
        st = cv_customer_update(t, ctx->customer_id, ctx->body,
                                ctx->action == NGX_CHATVISOR_CUSTOMER_PUT,
                                &cus, &ctx->why);
        if (st == CV_OK) {
            ctx->result = cus;
        }

        return st;
    }

    /* the URL opens the customer's latest conversation */
    st = cv_customer_get(t, ctx->customer_id, &cus);
    if (st != CV_OK) {
        return st;
    }

    id = cJSON_GetStringValue(cJSON_GetObjectItem(cus, "conversation_id"));
    conv[0] = '\0';
    if (id && ngx_strlen(id) < CV_ID_MAX) {
        ngx_cpystrn((u_char *) conv, (u_char *) id, CV_ID_MAX);
    }

    cJSON_Delete(cus);


    if (ngx_chatvisor_api_login_url(r, t,
                                    cJSON_GetStringValue(
                                        cJSON_GetObjectItem(ctx->body,
                                                            "agent_id")),
                                    conv[0] ? conv : NULL, ctx->ttl_ms, &out,
                                    &st)
        != NGX_OK || st != CV_OK)
    {
        if (st == CV_NOT_FOUND) {
            ctx->why = "no such enabled agent";
        }

        return st == CV_OK ? CV_ERROR : st;
    }

    ctx->ok_status = NGX_HTTP_CREATED;
    ctx->result = out;

    return CV_OK;
}
