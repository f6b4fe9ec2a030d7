/*
 * Agents get in through one-time login URLs (PREFIX join#TOKEN): the join
 * page posts the token, which is used up, and gets a session cookie
 * (signed, HttpOnly, SameSite=Strict, expiring). Writes also need a CSRF
 * header derived from the session.
 */


#include "ngx_chatvisor.h"
#include "cv_agents.h"
#include "cv_session_cache.h"


#define NGX_CHATVISOR_AGENT_COOKIE  "cv_agent"


static ngx_int_t ngx_chatvisor_join_body(ngx_http_request_t *r, cJSON *body);
static cv_status ngx_chatvisor_join_run(ngx_http_request_t *r, cv_txn *t);
static ngx_int_t ngx_chatvisor_join_done(ngx_http_request_t *r,
    cv_status st);


/* this worker's verified sessions (see cv_session_cache.h) */
static cv_session_cache  *ngx_chatvisor_sessions;


/* the session secret of a validly signed cookie */

static ngx_int_t
ngx_chatvisor_session_cookie(ngx_http_request_t *r, ngx_str_t *session)
{
    u_char     *dot;
    ngx_str_t   cookie, sig;

    if (ngx_chatvisor_get_cookie(r, NGX_CHATVISOR_AGENT_COOKIE, &cookie)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    dot = ngx_strlchr(cookie.data, cookie.data + cookie.len, '.');

    if (dot == NULL || dot == cookie.data
        || (size_t) (dot - cookie.data) >= CV_SECRET_STR
        || ngx_chatvisor_sign(r, "agent", cookie.data, dot - cookie.data,
                              &sig)
           != NGX_OK
        || (size_t) (cookie.data + cookie.len - dot - 1) != sig.len
        || !cv_equal(dot + 1, sig.data, sig.len))
    {
        return NGX_DECLINED;
    }

    session->data = cookie.data;
    session->len = dot - cookie.data;

    return NGX_OK;
}


/*
 * Authenticates the agent of the request into ctx (agent, agent_id,
 * agent_name, session). NGX_OK, or NGX_DECLINED with the error sent and
 * *rc to return.
 */

ngx_int_t
ngx_chatvisor_agent_auth(ngx_http_request_t *r, ngx_uint_t write,
    ngx_int_t *rc)
{
    cv_txn                     *t;
    cv_status                   st;
    ngx_str_t                   session, csrf;
    const cJSON                *agent;
    ngx_table_elt_t            *h;
    ngx_list_part_t            *part;
    ngx_uint_t                  i;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);
    ctx = ngx_chatvisor_get_ctx(r);

    if (cmcf->store == NULL) {
        *rc = ngx_chatvisor_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "unavailable",
                                       "the chat store is not available");
        return NGX_DECLINED;
    }

    if (ngx_chatvisor_session_cookie(r, &session) != NGX_OK) {
        goto unauthorized;
    }

    ngx_memcpy(ctx->session, session.data, session.len);
    ctx->session[session.len] = '\0';

    if (write) {
        if (ngx_chatvisor_same_origin(r) != NGX_OK) {
            *rc = ngx_chatvisor_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                           "cross-site requests are not "
                                           "allowed");
            return NGX_DECLINED;
        }

        if (ngx_chatvisor_sign(r, "csrf", session.data, session.len, &csrf)
            != NGX_OK)
        {
            *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_DECLINED;
        }

        part = &r->headers_in.headers.part;
        h = part->elts;

        for (i = 0; /* void */ ; i++) {
            if (i >= part->nelts) {
                if (part->next == NULL) {
                    h = NULL;
                    break;
                }

                part = part->next;
                h = part->elts;
                i = 0;
            }

            if (h[i].key.len == sizeof("X-Chatvisor-CSRF") - 1
                && ngx_strncasecmp(h[i].key.data,
                                   (u_char *) "X-Chatvisor-CSRF",
                                   h[i].key.len) == 0)
            {
                h = &h[i];
                break;
            }
        }

        if (h == NULL || h->value.len != csrf.len
            || !cv_equal(h->value.data, csrf.data, csrf.len))
        {
            *rc = ngx_chatvisor_send_error(r, NGX_HTTP_FORBIDDEN,
                                           "forbidden",
                                           "the X-Chatvisor-CSRF header is "
                                           "missing or wrong");
            return NGX_DECLINED;
        }
    }

    if (ngx_chatvisor_sessions == NULL) {
        ngx_chatvisor_sessions = cv_session_cache_create(1024);
        if (ngx_chatvisor_sessions == NULL) {
            *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_DECLINED;
        }
    }

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        *rc = ngx_chatvisor_send_status(r, st);
        return NGX_DECLINED;
    }

    st = cv_session_cache_agent(ngx_chatvisor_sessions, t,
                                (char *) ctx->session, &agent);
    cv_txn_abort(t);

    if (st != CV_OK) {
        goto unauthorized;
    }

    /* the cache's record: good for this handler call only */
    ctx->agent = agent;
    ngx_cpystrn((u_char *) ctx->agent_id,
                (u_char *) cJSON_GetStringValue(cJSON_GetObjectItem(agent,
                                                                    "id")),
                sizeof(ctx->agent_id));
    ngx_cpystrn((u_char *) ctx->agent_name,
                (u_char *) cJSON_GetStringValue(cJSON_GetObjectItem(agent,
                                                                  "name")),
                sizeof(ctx->agent_name));

    return NGX_OK;

unauthorized:

    *rc = ngx_chatvisor_send_error(r, NGX_HTTP_UNAUTHORIZED, "unauthorized",
                                   "log in with a login link");
    return NGX_DECLINED;
}


ngx_int_t
ngx_chatvisor_agent_csrf(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_get_ctx(r);

    return ngx_chatvisor_sign(r, "csrf", ctx->session,
                              ngx_strlen(ctx->session), token);
}


/* POST PREFIX v1/agent/join {"token": "..."} */

ngx_int_t
ngx_chatvisor_agent_join(ngx_http_request_t *r)
{
    if (r->method != NGX_HTTP_POST) {
        return ngx_chatvisor_send_method_not_allowed(r, "POST");
    }

    if (ngx_chatvisor_add_header(r, "Referrer-Policy",
                                 (u_char *) "no-referrer",
                                 sizeof("no-referrer") - 1)
        == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_chatvisor_same_origin(r) != NGX_OK) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                        "cross-site requests are not "
                                        "allowed");
    }

    return ngx_chatvisor_read_json(r, ngx_chatvisor_join_body);
}


static ngx_int_t
ngx_chatvisor_join_body(ngx_http_request_t *r, cJSON *body)
{
    static const char  *allowed[] = { "token", NULL };

    cJSON      *token;

    if (ngx_chatvisor_check_fields(r, body, allowed) != NGX_OK) {
        return ngx_chatvisor_sent(r);
    }

    token = cJSON_GetObjectItemCaseSensitive(body, "token");

    if (!cJSON_IsString(token) || token->valuestring[0] == '\0'
        || ngx_strlen(token->valuestring) >= CV_SECRET_STR)
    {
        return ngx_chatvisor_send_error(r, NGX_HTTP_FORBIDDEN,
                                        "invalid_token",
                                        "this login link is not valid");
    }

    return ngx_chatvisor_commit(r, ngx_chatvisor_join_run,
                                ngx_chatvisor_join_done);
}


static cv_status
ngx_chatvisor_join_run(ngx_http_request_t *r, cv_txn *t)
{
    char                  conv[CV_ID_MAX];
    cJSON                *agent, *res;
    int64_t               expires;
    cv_status             st;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_get_ctx(r);

    st = cv_login_token_redeem(t, cJSON_GetStringValue(
                                      cJSON_GetObjectItem(ctx->body,
                                                          "token")),
                               &agent, conv);
    if (st != CV_OK) {
        return st;
    }

    st = cv_session_create(t, cJSON_GetStringValue(
                                  cJSON_GetObjectItem(agent, "id")),
                           NGX_CHATVISOR_SESSION_TTL, (char *) ctx->session,
                           &expires);
    cJSON_Delete(agent);

    if (st != CV_OK) {
        return st;
    }

    res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "conversation_id", conv);
    ctx->result = res;

    return CV_OK;
}


static ngx_int_t
ngx_chatvisor_join_done(ngx_http_request_t *r, cv_status st)
{
    u_char                    *p;
    size_t                     len;
    cJSON                     *res;
    ngx_str_t                  sig, value;
    const char                *conv;
    ngx_chatvisor_ctx_t       *ctx;
    ngx_chatvisor_srv_conf_t  *cscf;

    if (st == CV_NOT_FOUND) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_FORBIDDEN,
                                        "invalid_token",
                                        "this login link was already used, "
                                        "has expired, or is not valid");
    }

    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st);
    }

    ctx = ngx_chatvisor_get_ctx(r);
    cscf = ngx_http_get_module_srv_conf(r, ngx_chatvisor_module);

    len = ngx_strlen(ctx->session);

    if (ngx_chatvisor_sign(r, "agent", ctx->session, len, &sig) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    value.data = ngx_pnalloc(r->pool, len + 1 + sig.len);
    if (value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    value.len = ngx_sprintf(value.data, "%s.%V", ctx->session, &sig)
                - value.data;

    if (ngx_chatvisor_set_cookie(r, NGX_CHATVISOR_AGENT_COOKIE, &value,
                                 &cscf->prefix,
                                 NGX_CHATVISOR_SESSION_TTL / 1000, 1)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    conv = cJSON_GetStringValue(cJSON_GetObjectItem(ctx->result,
                                                    "conversation_id"));

    p = ngx_pnalloc(r->pool, cscf->prefix.len + sizeof("agent/#conversation=")
                             + CV_ID_MAX);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (conv && conv[0]) {
        ngx_sprintf(p, "%Vagent/#conversation=%s%Z", &cscf->prefix, conv);

    } else {
        ngx_sprintf(p, "%Vagent/%Z", &cscf->prefix);
    }

    res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "redirect", (char *) p);

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, res);
}
