/*
 * One-time console login URLs, absolute: chatvisor_public_url join#TOKEN,
 * else from the request's scheme and Host: SCHEME://HOST PREFIX join#TOKEN.
 * The token is in the fragment, so it never reaches a log on the way.
 */


#include "ngx_chatvisor_api.h"
#include "cv_time.h"


#define NGX_CHATVISOR_TTL_MAX  86400      /* s: a login URL lives a day */


ngx_int_t
ngx_chatvisor_api_ttl(ngx_chatvisor_ctx_t *ctx, ngx_chatvisor_err_t *err)
{
    cJSON    *ttl;
    int64_t  *ttl_ms;

    ttl_ms = ngx_chatvisor_ctx_data(ctx, sizeof(int64_t));
    if (ttl_ms == NULL) {
        return ngx_chatvisor_reject(err, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                    "internal_error", "out of memory");
    }

    ttl = cJSON_GetObjectItemCaseSensitive(ctx->body, "ttl_seconds");

    if (ttl == NULL || cJSON_IsNull(ttl)) {
        return NGX_OK;
    }

    if (!cJSON_IsNumber(ttl) || ttl->valuedouble < 1
        || ttl->valuedouble > NGX_CHATVISOR_TTL_MAX
        || ttl->valuedouble != (double) (int) ttl->valuedouble)
    {
        return ngx_chatvisor_invalidf(err, "\"ttl_seconds\" must be a whole "
                                      "number from 1 to %d",
                                      NGX_CHATVISOR_TTL_MAX);
    }

    *ttl_ms = (int64_t) ttl->valuedouble * 1000;

    return NGX_OK;
}


int64_t
ngx_chatvisor_api_ttl_ms(ngx_chatvisor_ctx_t *ctx)
{
    return *(int64_t *) ctx->data;
}


static cv_status ngx_chatvisor_api_login_url_answer(ngx_http_request_t *r,
    const char *token, int64_t expires, ngx_chatvisor_op_t *op);


cv_status
ngx_chatvisor_api_login_url(ngx_http_request_t *r, cv_txn *t,
    const char *agent_id, const char *conversation_id, int64_t ttl_ms,
    ngx_chatvisor_op_t *op)
{
    char       token[CV_SECRET_STR];
    int64_t    expires;
    cv_status  st;

    st = cv_login_token_create(t, agent_id, conversation_id, ttl_ms, token,
                               &expires);
    if (st != CV_OK) {
        return st;
    }

    return ngx_chatvisor_api_login_url_answer(r, token, expires, op);
}


/* the token made, its URL and expiry are the answer (201) */

static cv_status
ngx_chatvisor_api_login_url_answer(ngx_http_request_t *r, const char *token,
    int64_t expires, ngx_chatvisor_op_t *op)
{
    u_char                    *url;
    char                       stamp[CV_TIME_STR];
    cJSON                     *out;
    ngx_str_t                  host;
    const char                *scheme;
    ngx_chatvisor_srv_conf_t  *cscf;

    cscf = ngx_http_get_module_srv_conf(r, ngx_chatvisor_module);

    if (cscf->public_url.url.len) {
        /* as browsers reach this server through its proxy */
        url = ngx_pnalloc(r->pool, cscf->public_url.url.len + sizeof("join#")
                                   + CV_SECRET_STR);
        if (url == NULL) {
            return CV_ERROR;
        }

        ngx_sprintf(url, "%Vjoin#%s%Z", &cscf->public_url.url, token);
        goto done;
    }

#if (NGX_HTTP_SSL)
    scheme = r->connection->ssl ? "https" : "http";
#else
    scheme = "http";
#endif

    host = r->headers_in.host ? r->headers_in.host->value
                              : r->headers_in.server;

    url = ngx_pnalloc(r->pool, sizeof("https://") + host.len + cscf->prefix.len
                               + sizeof("join#") + CV_SECRET_STR);
    if (url == NULL) {
        return CV_ERROR;
    }

    ngx_sprintf(url, "%s://%V%Vjoin#%s%Z", scheme, &host, &cscf->prefix,
                token);

done:

    cv_format_time(expires, stamp);

    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "url", (char *) url);
    cJSON_AddStringToObject(out, "expires_at", stamp);

    op->result = out;
    op->ok_status = NGX_HTTP_CREATED;

    return CV_OK;
}


/* cluster mode: the token made here, only its hash in the command */

static ngx_int_t
ngx_chatvisor_api_login_url_cluster_done(ngx_http_request_t *r,
    cv_status st)
{
    cJSON                *exp;
    int64_t               expires;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);

    if (st == CV_OK) {
        exp = cJSON_GetObjectItemCaseSensitive(ctx->op.result, "expires_at");

        if (!cJSON_IsNumber(exp)) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        expires = (int64_t) exp->valuedouble;

        cJSON_Delete(ctx->op.result);
        ctx->op.result = NULL;

        st = ngx_chatvisor_api_login_url_answer(r,
                                         (const char *) ctx->cluster.secret,
                                         expires, &ctx->op);
    }

    return ngx_chatvisor_send_op(r, st);
}


ngx_int_t
ngx_chatvisor_api_login_url_cluster(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, const char *agent_id, const char *customer_id)
{
    char           hex[CV_SHA256_HEX];
    cJSON         *cmd;
    unsigned char  hash[CV_SHA256_LEN];

    if (cv_secret_new((char *) ctx->cluster.secret, hash) != CV_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_hex_dump((u_char *) hex, hash, sizeof(hash)) = '\0';

    cmd = cJSON_CreateObject();
    if (cmd == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cJSON_AddStringToObject(cmd, "op", "login.create");
    cJSON_AddStringToObject(cmd, "agent_id", agent_id);

    if (customer_id) {
        cJSON_AddStringToObject(cmd, "customer_id", customer_id);
    }

    cJSON_AddNumberToObject(cmd, "ttl_ms",
                            (double) ngx_chatvisor_api_ttl_ms(ctx));
    cJSON_AddStringToObject(cmd, "token_hash", hex);

    return ngx_chatvisor_cluster_write(r, cmd,
                                     ngx_chatvisor_api_login_url_cluster_done);
}
