/*
 * The REST API for integrators (SPEC 6), PREFIX api/v1/: bearer-token
 * authentication, dispatch to the resource files, and what they share.
 */


#include "ngx_chatvisor.h"
#include "cv_agents.h"
#include "cv_api_tokens.h"
#include "cv_time.h"


#define NGX_CHATVISOR_API_SEGMENTS  4


static ngx_int_t
ngx_chatvisor_api_unauthorized(ngx_http_request_t *r, ngx_uint_t presented)
{
    static u_char  plain[] = "Bearer";
    static u_char  invalid[] = "Bearer error=\"invalid_token\"";

    if (ngx_chatvisor_add_header(r, "WWW-Authenticate",
                                 presented ? invalid : plain,
                                 presented ? sizeof(invalid) - 1
                                           : sizeof(plain) - 1)
        == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_chatvisor_send_error(r, NGX_HTTP_UNAUTHORIZED, "unauthorized",
                                    presented
                                    ? "the access token is not valid or "
                                      "has expired"
                                    : "an access token is required: "
                                      "Authorization: Bearer TOKEN");
}


/* NGX_OK, or NGX_DECLINED with the 401 sent (its rc in ctx->rc) */

static ngx_int_t
ngx_chatvisor_api_authenticate(ngx_http_request_t *r)
{
    char                        token[CV_API_TOKEN_STR + 1];
    cv_txn                     *t;
    ngx_str_t                  *auth;
    cv_status                   st;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);
    ctx = ngx_chatvisor_get_ctx(r);

    if (r->headers_in.authorization == NULL) {
        ctx->rc = ngx_chatvisor_api_unauthorized(r, 0);
        return NGX_DECLINED;
    }

    auth = &r->headers_in.authorization->value;

    if (auth->len <= sizeof("Bearer ") - 1
        || ngx_strncasecmp(auth->data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1) != 0
        || auth->len - (sizeof("Bearer ") - 1) >= sizeof(token))
    {
        ctx->rc = ngx_chatvisor_api_unauthorized(r, 1);
        return NGX_DECLINED;
    }

    ngx_cpystrn((u_char *) token, auth->data + sizeof("Bearer ") - 1,
                auth->len - (sizeof("Bearer ") - 1) + 1);

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        ctx->rc = ngx_chatvisor_send_status(r, st);
        return NGX_DECLINED;
    }

    st = cv_api_token_check(t, token, ngx_chatvisor_api_fingerprint, cmcf,
                            ctx->api_client);
    cv_txn_abort(t);

    if (st != CV_OK) {
        ctx->rc = (st == CV_NOT_FOUND) ? ngx_chatvisor_api_unauthorized(r, 1)
                                       : ngx_chatvisor_send_status(r, st);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_api_handler(ngx_http_request_t *r, ngx_str_t *path)
{
    u_char                     *p, *end;
    ngx_str_t                   seg[NGX_CHATVISOR_API_SEGMENTS];
    ngx_uint_t                  n;
    ngx_chatvisor_asset_t      *spec;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (ngx_chatvisor_str_is(path, "openapi.json")) {
        spec = ngx_chatvisor_find_asset((u_char *) "api/v1/openapi.json",
                                        sizeof("api/v1/openapi.json") - 1);
        if (spec == NULL) {
            return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND,
                                            "not_found",
                                            "built without the API spec");
        }

        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_chatvisor_send_method_not_allowed(r, "GET, HEAD");
        }

        return ngx_chatvisor_send_asset(r, spec, NULL);
    }

    if (cmcf->store == NULL) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "unavailable",
                                        "the chat store is not available");
    }

    if (ngx_chatvisor_str_is(path, "auth/token")) {
        return ngx_chatvisor_api_token(r);
    }

    if (ngx_chatvisor_api_authenticate(r) != NGX_OK) {
        return ngx_chatvisor_sent(r);
    }

    /* split "a/b/c" into segments; more than four is no resource */
    p = path->data;
    end = path->data + path->len;
    n = 0;

    while (p <= end) {
        if (n == NGX_CHATVISOR_API_SEGMENTS) {
            goto not_found;
        }

        seg[n].data = p;
        while (p < end && *p != '/') {
            p++;
        }

        seg[n].len = p - seg[n].data;

        if (seg[n].len == 0) {
            goto not_found;
        }

        n++;
        p++;
    }

    if (ngx_chatvisor_str_is(&seg[0], "agents")) {
        return ngx_chatvisor_api_agents(r, seg, n);
    }

    if (ngx_chatvisor_str_is(&seg[0], "customers")) {
        return ngx_chatvisor_api_customers(r, seg, n);
    }

    if (ngx_chatvisor_str_is(&seg[0], "conversations")) {
        return ngx_chatvisor_api_conversations(r, seg, n);
    }

    if (ngx_chatvisor_str_is(&seg[0], "visibility")) {
        return ngx_chatvisor_api_visibility(r, seg, n);
    }

    if (ngx_chatvisor_str_is(&seg[0], "settings")) {
        return ngx_chatvisor_api_settings(r, seg, n);
    }

not_found:

    return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                    "no such API resource");
}


/* the answer of a queued API write: ctx->result with ctx->ok_status */

ngx_int_t
ngx_chatvisor_api_done(ngx_http_request_t *r, cv_status st)
{
    cJSON                *result;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_get_ctx(r);

    if (st != CV_OK) {
        if (ctx->why && st == CV_INVALID) {
            return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                            "invalid_request", ctx->why);
        }

        if (ctx->why && st == CV_CONFLICT) {
            return ngx_chatvisor_send_error(r, NGX_HTTP_CONFLICT, "conflict",
                                            ctx->why);
        }

        if (ctx->why && st == CV_NOT_FOUND) {
            return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND,
                                            "not_found", ctx->why);
        }

        return ngx_chatvisor_send_status(r, st);
    }

    result = ctx->result;
    ctx->result = NULL;

    return ngx_chatvisor_send_json(r, ctx->ok_status ? ctx->ok_status
                                                     : NGX_HTTP_OK,
                                   result);
}


void
ngx_chatvisor_notice_set(ngx_chatvisor_ctx_t *ctx, ngx_uint_t kind,
    const char *customer_id, const char *conversation_id)
{
    ctx->notify = 1;
    ngx_memzero(&ctx->notice, sizeof(ngx_chatvisor_notice_t));
    ctx->notice.kind = (uint8_t) kind;

    if (customer_id) {
        ngx_cpystrn((u_char *) ctx->notice.customer_id, (u_char *) customer_id,
                    CV_ID_MAX);
    }

    if (conversation_id) {
        ngx_cpystrn((u_char *) ctx->notice.conversation_id,
                    (u_char *) conversation_id, CV_ID_MAX);
    }
}


/* ?limit=N, 1..200, default 50 */

ngx_int_t
ngx_chatvisor_api_limit(ngx_http_request_t *r, size_t *limit)
{
    uint64_t   n;
    ngx_str_t  v;

    *limit = 50;

    if (ngx_chatvisor_arg(r, "limit", &v) != NGX_OK) {
        return NGX_OK;
    }

    if (ngx_chatvisor_parse_u64(&v, &n) != NGX_OK || n < 1 || n > 200) {
        return ngx_chatvisor_fail(r, NGX_HTTP_BAD_REQUEST, "invalid_request",
                                  "\"limit\" must be from 1 to 200");
    }

    *limit = (size_t) n;

    return NGX_OK;
}


/*
 * A one-time login URL, absolute, from the request's scheme and Host:
 * SCHEME://HOST PREFIX join#TOKEN.
 */

ngx_int_t
ngx_chatvisor_api_login_url(ngx_http_request_t *r, cv_txn *t,
    const char *agent_id, const char *conversation_id, int64_t ttl_ms,
    cJSON **out, cv_status *st)
{
    u_char                    *url;
    char                       token[CV_SECRET_STR], stamp[CV_TIME_STR];
    int64_t                    expires;
    ngx_str_t                  host;
    const char                *scheme;
    ngx_chatvisor_srv_conf_t  *cscf;

    *st = cv_login_token_create(t, agent_id, conversation_id, ttl_ms, token,
                                &expires);
    if (*st != CV_OK) {
        return NGX_OK;
    }

    cscf = ngx_http_get_module_srv_conf(r, ngx_chatvisor_module);

#if (NGX_HTTP_SSL)
    scheme = r->connection->ssl ? "https" : "http";
#else
    scheme = "http";
#endif

    if (r->headers_in.host) {
        host = r->headers_in.host->value;

    } else {
        host = r->headers_in.server;
    }

    url = ngx_pnalloc(r->pool, sizeof("https://") + host.len + cscf->prefix.len
                               + sizeof("join#") + CV_SECRET_STR);
    if (url == NULL) {
        *st = CV_ERROR;
        return NGX_ERROR;
    }

    ngx_sprintf(url, "%s://%V%Vjoin#%s%Z", scheme, &host, &cscf->prefix,
                token);
    cv_format_time(expires, stamp);

    *out = cJSON_CreateObject();
    cJSON_AddStringToObject(*out, "url", (char *) url);
    cJSON_AddStringToObject(*out, "expires_at", stamp);

    return NGX_OK;
}
