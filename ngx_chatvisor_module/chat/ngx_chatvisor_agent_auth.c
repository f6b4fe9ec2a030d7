/*
 * Agents get in through one-time login URLs (PREFIX join#TOKEN): the join
 * page posts the token, which is used up, and gets a session cookie
 * (signed, HttpOnly, SameSite=Strict, expiring). Writes also need a CSRF
 * header derived from the session.
 */


#include "ngx_chatvisor_chat.h"
#include "cv_session_cache.h"


#define NGX_CHATVISOR_AGENT_COOKIE    "cv_agent"
#define NGX_CHATVISOR_AGENT_PURPOSE   "agent"
#define NGX_CHATVISOR_CSRF_PURPOSE    "csrf"
#define NGX_CHATVISOR_CSRF_HEADER     "X-Chatvisor-CSRF"

/* verified sessions a worker keeps */
#define NGX_CHATVISOR_SESSION_SLOTS   1024


static cv_status ngx_chatvisor_join_run(ngx_http_request_t *r, cv_txn *t);
static cJSON *ngx_chatvisor_join_cmd(ngx_chatvisor_ctx_t *ctx,
    const char *token);
static ngx_int_t ngx_chatvisor_join_done(ngx_http_request_t *r,
    cv_status st);


/* this worker's verified sessions (see cv_session_cache.h) */
static cv_session_cache  *ngx_chatvisor_sessions;


static ngx_int_t
ngx_chatvisor_csrf_matches(ngx_table_elt_t *h, void *data)
{
    ngx_str_t  *csrf = data;

    return h->value.len == csrf->len
           && cv_equal(h->value.data, csrf->data, csrf->len)
           ? NGX_OK : NGX_DECLINED;
}


ngx_int_t
ngx_chatvisor_agent_session(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx,
    ngx_uint_t write, ngx_chatvisor_err_t *err)
{
    cv_txn                     *t;
    cv_status                   st;
    ngx_str_t                   session, csrf;
    const cJSON                *agent;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (ngx_chatvisor_signed_cookie_get(r, NGX_CHATVISOR_AGENT_COOKIE,
                                        NGX_CHATVISOR_AGENT_PURPOSE,
                                        CV_SECRET_STR - 1, &session)
        != NGX_OK)
    {
        goto unauthorized;
    }

    ngx_memcpy(ctx->caller.session, session.data, session.len);
    ctx->caller.session[session.len] = '\0';

    if (write) {
        if (ngx_chatvisor_same_origin(r) != NGX_OK) {
            return ngx_chatvisor_reject(err, NGX_HTTP_FORBIDDEN, "forbidden",
                                        "cross-site requests are not "
                                        "allowed");
        }

        if (ngx_chatvisor_agent_csrf(r, ctx, &csrf) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ngx_chatvisor_header_find(&r->headers_in.headers,
                                      NGX_CHATVISOR_CSRF_HEADER,
                                      ngx_chatvisor_csrf_matches, &csrf)
            == NULL)
        {
            return ngx_chatvisor_reject(err, NGX_HTTP_FORBIDDEN, "forbidden",
                                        "the " NGX_CHATVISOR_CSRF_HEADER
                                        " header is missing or wrong");
        }
    }

    if (ngx_chatvisor_sessions == NULL) {
        ngx_chatvisor_sessions =
                      cv_session_cache_create(NGX_CHATVISOR_SESSION_SLOTS);
        if (ngx_chatvisor_sessions == NULL) {
            return NGX_ERROR;
        }
    }

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        return ngx_chatvisor_reject(err, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                    "internal_error", "the store failed");
    }

    st = cv_session_cache_agent(ngx_chatvisor_sessions, t,
                                (char *) ctx->caller.session, &agent);
    cv_txn_abort(t);

    if (st != CV_OK) {
        goto unauthorized;
    }

    ctx->caller.agent = agent;
    ngx_cpystrn((u_char *) ctx->caller.agent_id,
                (u_char *) cJSON_GetStringValue(cJSON_GetObjectItem(agent,
                                                                    "id")),
                sizeof(ctx->caller.agent_id));
    ngx_cpystrn((u_char *) ctx->caller.agent_name,
                (u_char *) cJSON_GetStringValue(cJSON_GetObjectItem(agent,
                                                                  "name")),
                sizeof(ctx->caller.agent_name));

    return NGX_OK;

unauthorized:

    return ngx_chatvisor_reject(err, NGX_HTTP_UNAUTHORIZED, "unauthorized",
                                "log in with a login link");
}


/* a held poll asks again on every wake-up: a logout or a disabled agent
 * ends it at once */

ngx_int_t
ngx_chatvisor_agent_session_alive(cv_txn *t, ngx_chatvisor_ctx_t *ctx)
{
    const cJSON  *agent;

    if (ngx_chatvisor_sessions == NULL
        || cv_session_cache_agent(ngx_chatvisor_sessions, t,
                                  (char *) ctx->caller.session, &agent)
           != CV_OK)
    {
        ctx->caller.agent = NULL;
        return NGX_DECLINED;
    }

    ctx->caller.agent = agent;

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_agent_csrf(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx,
    ngx_str_t *token)
{
    return ngx_chatvisor_sign(r, NGX_CHATVISOR_CSRF_PURPOSE,
                              ctx->caller.session,
                              ngx_strlen(ctx->caller.session), token);
}


/* POST PREFIX v1/agent/join {"token": "..."} */

ngx_int_t
ngx_chatvisor_agent_join(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    const char  *token;

    if (ngx_chatvisor_header_add(r, "Referrer-Policy",
                                 (u_char *) "no-referrer",
                                 sizeof("no-referrer") - 1)
        == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    token = ngx_chatvisor_body_string(ctx->body, "token");

    if (token == NULL || token[0] == '\0'
        || ngx_strlen(token) >= CV_SECRET_STR)
    {
        return ngx_chatvisor_send_error(r, NGX_HTTP_FORBIDDEN,
                                        "invalid_token",
                                        "this login link is not valid");
    }

    if (ngx_chatvisor_cluster_on(
            (ngx_chatvisor_main_conf_t *)
            ngx_http_get_module_main_conf(r, ngx_chatvisor_module)))
    {
        return ngx_chatvisor_cluster_write(r,
                                 ngx_chatvisor_join_cmd(ctx, token),
                                 ngx_chatvisor_join_done);
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_join_run,
                               ngx_chatvisor_join_done);
}


/*
 * Cluster mode: the token's hash and the new session's (made here: its
 * secret stays on this node, in the cookie it answers with)
 */

static cJSON *
ngx_chatvisor_join_cmd(ngx_chatvisor_ctx_t *ctx, const char *token)
{
    char           hex[CV_SHA256_HEX];
    cJSON         *cmd;
    unsigned char  hash[CV_SHA256_LEN];

    cmd = cJSON_CreateObject();
    if (cmd == NULL) {
        return NULL;
    }

    cJSON_AddStringToObject(cmd, "op", "agent.join");

    if (cv_sha256_hex(token, ngx_strlen(token), hex) != CV_OK) {
        cJSON_Delete(cmd);
        return NULL;
    }

    cJSON_AddStringToObject(cmd, "token_hash", hex);

    if (cv_secret_new((char *) ctx->caller.session, hash) != CV_OK) {
        cJSON_Delete(cmd);
        return NULL;
    }

    *ngx_hex_dump((u_char *) hex, hash, sizeof(hash)) = '\0';
    cJSON_AddStringToObject(cmd, "session_hash", hex);
    cJSON_AddNumberToObject(cmd, "ttl_ms", NGX_CHATVISOR_SESSION_TTL);

    return cmd;
}


static cv_status
ngx_chatvisor_join_run(ngx_http_request_t *r, cv_txn *t)
{
    char                  conv[CV_ID_MAX];
    cJSON                *agent, *res;
    int64_t               expires;
    cv_status             st;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);

    st = cv_login_token_redeem(t, ngx_chatvisor_body_string(ctx->body,
                                                            "token"),
                               &agent, conv);
    if (st == CV_NOT_FOUND) {
        /* a link is used up even when it opens nothing (expired, agent
         * disabled): keep its deletion, answer 403 (no result) */
        return CV_OK;
    }

    if (st != CV_OK) {
        return st;
    }

    st = cv_session_create(t, cJSON_GetStringValue(
                                  cJSON_GetObjectItem(agent, "id")),
                           NGX_CHATVISOR_SESSION_TTL,
                           (char *) ctx->caller.session, &expires);
    cJSON_Delete(agent);

    if (st != CV_OK) {
        return st;
    }

    res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "conversation_id", conv);
    ctx->op.result = res;

    return CV_OK;
}


static ngx_int_t
ngx_chatvisor_join_done(ngx_http_request_t *r, cv_status st)
{
    u_char                    *p;
    cJSON                     *res;
    ngx_str_t                  value;
    const char                *conv;
    ngx_chatvisor_ctx_t       *ctx;
    ngx_str_t                 *prefix;

    ctx = ngx_chatvisor_ctx(r);

    if (st == CV_NOT_FOUND || (st == CV_OK && ctx->op.result == NULL)) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_FORBIDDEN,
                                        "invalid_token",
                                        "this login link was already used, "
                                        "has expired, or is not valid");
    }

    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    value.data = ctx->caller.session;
    value.len = ngx_strlen(ctx->caller.session);

    if (ngx_chatvisor_signed_cookie_set(r, NGX_CHATVISOR_AGENT_COOKIE,
                                        NGX_CHATVISOR_AGENT_PURPOSE, &value,
                                        ngx_chatvisor_public_prefix(r),
                                        NGX_CHATVISOR_SESSION_TTL / 1000, 1)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    conv = cJSON_GetStringValue(cJSON_GetObjectItem(ctx->op.result,
                                                    "conversation_id"));

    prefix = ngx_chatvisor_public_prefix(r);

    p = ngx_pnalloc(r->pool, prefix->len + sizeof("agent/#conversation=")
                             + CV_ID_MAX);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (conv && conv[0]) {
        ngx_sprintf(p, "%Vagent/#conversation=%s%Z", prefix, conv);

    } else {
        ngx_sprintf(p, "%Vagent/%Z", prefix);
    }

    res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "redirect", (char *) p);

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, res);
}


static cv_status
ngx_chatvisor_logout_run(ngx_http_request_t *r, cv_txn *t)
{
    cv_status             st;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);

    st = cv_session_delete(t, (char *) ctx->caller.session);

    if (st == CV_OK) {
        /* the session's held polls, in any worker, end now */
        ngx_chatvisor_op_notice(&ctx->op, NGX_CHATVISOR_NOTICE_ALL, NULL,
                                NULL);
    }

    return st;
}


static ngx_int_t
ngx_chatvisor_logout_done(ngx_http_request_t *r, cv_status st)
{
    ngx_str_t                  empty = ngx_null_string;

    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    if (ngx_chatvisor_cookie_set(r, NGX_CHATVISOR_AGENT_COOKIE, &empty,
                                 ngx_chatvisor_public_prefix(r), 0, 1)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_chatvisor_send_json(r, NGX_HTTP_NO_CONTENT, NULL);
}


ngx_int_t
ngx_chatvisor_agent_logout(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    char    hex[CV_SHA256_HEX];
    cJSON  *cmd;

    if (ngx_chatvisor_cluster_on(
            (ngx_chatvisor_main_conf_t *)
            ngx_http_get_module_main_conf(r, ngx_chatvisor_module)))
    {
        /* cluster mode: the session's hash, on every node */
        if (cv_sha256_hex((char *) ctx->caller.session,
                          ngx_strlen(ctx->caller.session), hex)
            != CV_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cmd = cJSON_CreateObject();
        if (cmd == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cJSON_AddStringToObject(cmd, "op", "agent.logout");
        cJSON_AddStringToObject(cmd, "session_hash", hex);

        return ngx_chatvisor_cluster_write(r, cmd, ngx_chatvisor_logout_done);
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_logout_run,
                               ngx_chatvisor_logout_done);
}
