/*
 * REST: agents. Upsert one, sync the whole list, read, delete, presence
 * managed by the integrator, and one-time console login URLs.
 */


#include "ngx_chatvisor.h"
#include "cv_agents.h"
#include "cv_chat.h"


static ngx_int_t ngx_chatvisor_api_agent_body(ngx_http_request_t *r,
    cJSON *body);
static cv_status ngx_chatvisor_api_agent_run(ngx_http_request_t *r,
    cv_txn *t);
static ngx_int_t ngx_chatvisor_api_agent_done(ngx_http_request_t *r,
    cv_status st);


enum {
    NGX_CHATVISOR_AGENT_PUT = 1,
    NGX_CHATVISOR_AGENT_SYNC,
    NGX_CHATVISOR_AGENT_DELETE,
    NGX_CHATVISOR_AGENT_STATUS,
    NGX_CHATVISOR_AGENT_LOGIN_URL
};


/* the agent as the API shows it: with presence */

static cJSON *
ngx_chatvisor_api_agent_view(ngx_chatvisor_main_conf_t *cmcf, cJSON *agent)
{
    const char  *id;

    id = cJSON_GetStringValue(cJSON_GetObjectItem(agent, "id"));

    cJSON_DeleteItemFromObject(agent, "status");
    cJSON_AddStringToObject(agent, "status",
                            id ? ngx_chatvisor_presence_status(cmcf, id)
                               : "offline");
    return agent;
}


/* checks the fields of an agent; NULL when fine */

static const char *
ngx_chatvisor_api_agent_check(cJSON *a, ngx_uint_t need_id)
{
    cJSON  *f;

    if (!cJSON_IsObject(a)) {
        return "an agent must be a JSON object";
    }

    cJSON_ArrayForEach(f, a) {
        if (ngx_strcmp(f->string, "id") == 0) {
            if (!need_id) {
                return "unknown field \"id\" (the id is in the URL)";
            }

            if (!cJSON_IsString(f) || !cv_agent_id_valid(f->valuestring)) {
                return "\"id\" must be 1 to 128 of A-Z a-z 0-9 . _ @ -";
            }

        } else if (ngx_strcmp(f->string, "name") == 0) {
            if (!cJSON_IsString(f) || f->valuestring[0] == '\0'
                || ngx_strlen(f->valuestring) > 128)
            {
                return "\"name\" must be a string of 1 to 128 characters";
            }

        } else if (ngx_strcmp(f->string, "email") == 0) {
            if (!(cJSON_IsNull(f)
                  || (cJSON_IsString(f) && ngx_strlen(f->valuestring) <= 254
                      && ngx_strchr(f->valuestring, '@'))))
            {
                return "\"email\" must be an email address or null";
            }

        } else if (ngx_strcmp(f->string, "enabled") == 0) {
            if (!cJSON_IsBool(f)) {
                return "\"enabled\" must be true or false";
            }

        } else if (ngx_strcmp(f->string, "max_concurrent") == 0) {
            if (!cJSON_IsNumber(f) || f->valuedouble < 0
                || f->valuedouble > 1000
                || f->valuedouble != (double) (int) f->valuedouble)
            {
                return "\"max_concurrent\" must be a whole number from 0 "
                       "to 1000";
            }

        } else {
            return "unknown field";
        }
    }

    if (need_id && cJSON_GetObjectItemCaseSensitive(a, "id") == NULL) {
        return "each agent needs its \"id\"";
    }

    return NULL;
}


ngx_int_t
ngx_chatvisor_api_agents(ngx_http_request_t *r, ngx_str_t *seg, ngx_uint_t n)
{
    char                        cursor[CV_AGENT_ID_MAX + 1];
    cJSON                      *items, *agent, *out, *a, *page;
    size_t                      limit;
    ngx_str_t                   v;
    ngx_uint_t                  more;
    const char                 *id, *last;
    cv_txn                     *t;
    cv_status                   st;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    ctx = ngx_chatvisor_get_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (n >= 2) {
        if (seg[1].len > CV_AGENT_ID_MAX) {
            return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND,
                                            "not_found", "no such agent");
        }

        ngx_memcpy(ctx->agent_id, seg[1].data, seg[1].len);
        ctx->agent_id[seg[1].len] = '\0';

        if (!cv_agent_id_valid(ctx->agent_id)) {
            return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND,
                                            "not_found", "no such agent");
        }
    }

    if (n == 1) {
        if (r->method == NGX_HTTP_PUT) {
            ctx->action = NGX_CHATVISOR_AGENT_SYNC;
            ctx->body_array_ok = 1;
            return ngx_chatvisor_read_json(r, ngx_chatvisor_api_agent_body);
        }

        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_chatvisor_send_method_not_allowed(r, "GET, HEAD, PUT");
        }

        if (ngx_chatvisor_api_limit(r, &limit) != NGX_OK) {
            return ngx_chatvisor_sent(r);
        }

        /* cursor: the id of the last agent of the previous page */
        cursor[0] = '\0';
        if (ngx_chatvisor_arg(r, "cursor", &v) == NGX_OK) {
            if (v.len == 0 || v.len > CV_AGENT_ID_MAX) {
                return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                                "invalid_request",
                                                "\"cursor\" is not a "
                                                "next_cursor");
            }

            ngx_memcpy(cursor, v.data, v.len);
            cursor[v.len] = '\0';
        }

        st = cv_txn_begin(cmcf->store, 0, &t);
        if (st != CV_OK) {
            return ngx_chatvisor_send_status(r, st);
        }

        items = cJSON_CreateArray();
        st = cv_agent_list(t, items);
        cv_txn_abort(t);

        if (st != CV_OK) {
            cJSON_Delete(items);
            return ngx_chatvisor_send_status(r, st);
        }

        page = cJSON_CreateArray();
        last = NULL;
        more = 0;

        cJSON_ArrayForEach(a, items) {
            id = cJSON_GetStringValue(cJSON_GetObjectItem(a, "id"));

            if (id == NULL || (cursor[0] && ngx_strcmp(id, cursor) <= 0)) {
                continue;
            }

            if ((size_t) cJSON_GetArraySize(page) == limit) {
                more = 1;
                break;
            }

            cJSON_AddItemToArray(page, ngx_chatvisor_api_agent_view(cmcf,
                                                cJSON_Duplicate(a, 1)));
            last = id;
        }

        out = cJSON_CreateObject();
        cJSON_AddItemToObject(out, "items", page);

        if (more && last) {
            cJSON_AddStringToObject(out, "next_cursor", last);

        } else {
            cJSON_AddNullToObject(out, "next_cursor");
        }

        cJSON_Delete(items);

        return ngx_chatvisor_send_json(r, NGX_HTTP_OK, out);
    }

    if (n == 2) {
        if (r->method == NGX_HTTP_PUT) {
            ctx->action = NGX_CHATVISOR_AGENT_PUT;
            return ngx_chatvisor_read_json(r, ngx_chatvisor_api_agent_body);
        }

        if (r->method == NGX_HTTP_DELETE) {
            ctx->action = NGX_CHATVISOR_AGENT_DELETE;
            ctx->ok_status = NGX_HTTP_NO_CONTENT;
            return ngx_chatvisor_commit(r, ngx_chatvisor_api_agent_run,
                                        ngx_chatvisor_api_agent_done);
        }

        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_chatvisor_send_method_not_allowed(r,
                                                   "GET, HEAD, PUT, DELETE");
        }

        st = ngx_chatvisor_read_record(r, cv_agent_get, ctx->agent_id, &agent);
        if (st != CV_OK) {
            return ngx_chatvisor_send_status(r, st);
        }

        return ngx_chatvisor_send_json(r, NGX_HTTP_OK,
                                       ngx_chatvisor_api_agent_view(cmcf,
                                                                    agent));
    }

    if (n == 3 && ngx_chatvisor_str_is(&seg[2], "status")) {
        if (r->method != NGX_HTTP_PUT) {
            return ngx_chatvisor_send_method_not_allowed(r, "PUT");
        }

        ctx->action = NGX_CHATVISOR_AGENT_STATUS;
        return ngx_chatvisor_read_json(r, ngx_chatvisor_api_agent_body);
    }

    if (n == 3 && ngx_chatvisor_str_is(&seg[2], "login-url")) {
        if (r->method != NGX_HTTP_POST) {
            return ngx_chatvisor_send_method_not_allowed(r, "POST");
        }

        ctx->action = NGX_CHATVISOR_AGENT_LOGIN_URL;
        return ngx_chatvisor_read_json(r, ngx_chatvisor_api_agent_body);
    }

    return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                    "no such API resource");
}


/* ttl_seconds: 1 .. 86400, default 600 */

ngx_int_t
ngx_chatvisor_api_ttl(ngx_http_request_t *r, cJSON *body, int64_t *ttl_ms)
{
    cJSON  *ttl;

    ttl = cJSON_GetObjectItemCaseSensitive(body, "ttl_seconds");
    *ttl_ms = 0;

    if (ttl == NULL || cJSON_IsNull(ttl)) {
        return NGX_OK;
    }

    if (!cJSON_IsNumber(ttl) || ttl->valuedouble < 1
        || ttl->valuedouble > 86400
        || ttl->valuedouble != (double) (int) ttl->valuedouble)
    {
        return ngx_chatvisor_fail(r, NGX_HTTP_BAD_REQUEST, "invalid_request",
                                  "\"ttl_seconds\" must be a whole number "
                                  "from 1 to 86400");
    }

    *ttl_ms = (int64_t) ttl->valuedouble * 1000;

    return NGX_OK;
}


static ngx_int_t
ngx_chatvisor_api_agent_body(ngx_http_request_t *r, cJSON *body)
{
    cJSON                *a, *status;
    ngx_uint_t            i;
    const char           *why;
    ngx_chatvisor_ctx_t  *ctx;

    static const char  *status_fields[] = { "status", NULL };
    static const char  *url_fields[] = { "ttl_seconds", NULL };

    ctx = ngx_chatvisor_get_ctx(r);
    why = NULL;

    switch (ctx->action) {

    case NGX_CHATVISOR_AGENT_SYNC:
        if (!cJSON_IsArray(body)) {
            why = "the body must be a JSON array of agents";
            break;
        }

        i = 0;
        cJSON_ArrayForEach(a, body) {
            why = ngx_chatvisor_api_agent_check(a, 1);
            if (why) {
                break;
            }

            if (++i > 10000) {
                why = "at most 10000 agents";
                break;
            }
        }

        break;

    case NGX_CHATVISOR_AGENT_PUT:
        if (!cJSON_IsObject(body)) {
            why = "the body must be a JSON object";
            break;
        }

        why = ngx_chatvisor_api_agent_check(body, 0);
        break;

    case NGX_CHATVISOR_AGENT_STATUS:
        if (ngx_chatvisor_check_fields(r, body, status_fields) != NGX_OK) {
            return ngx_chatvisor_sent(r);
        }

        status = cJSON_GetObjectItemCaseSensitive(body, "status");

        if (!cJSON_IsString(status)
            || (ngx_strcmp(status->valuestring, "available") != 0
                && ngx_strcmp(status->valuestring, "away") != 0
                && ngx_strcmp(status->valuestring, "offline") != 0))
        {
            why = "\"status\" must be available, away or offline";
        }

        break;

    default: /* login URL */
        if (ngx_chatvisor_check_fields(r, body, url_fields) != NGX_OK
            || ngx_chatvisor_api_ttl(r, body, &ctx->ttl_ms) != NGX_OK)
        {
            return ngx_chatvisor_sent(r);
        }
    }

    if (why) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request", why);
    }

    return ngx_chatvisor_commit(r, ngx_chatvisor_api_agent_run,
                                ngx_chatvisor_api_agent_done);
}


/*
 * Committed: agents that are disabled or deleted now stop counting as
 * online at once (the edge's rules and routing read presence only).
 */

static ngx_int_t
ngx_chatvisor_api_agent_done(ngx_http_request_t *r, cv_status st)
{
    cJSON                      *a, *items;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    ctx = ngx_chatvisor_get_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (st == CV_OK) {
        if (ctx->action == NGX_CHATVISOR_AGENT_DELETE) {
            ngx_chatvisor_presence_remove(cmcf, ctx->agent_id);
        }

        items = cJSON_GetObjectItem(ctx->result, "items");
        a = items ? items->child
                  : (ctx->action == NGX_CHATVISOR_AGENT_PUT ? ctx->result
                                                            : NULL);

        for ( /* void */ ; a; a = items ? a->next : NULL) {
            if (cJSON_IsFalse(cJSON_GetObjectItem(a, "enabled"))) {
                ngx_chatvisor_presence_remove(cmcf,
                    cJSON_GetStringValue(cJSON_GetObjectItem(a, "id")));
                cJSON_ReplaceItemInObject(a, "status",
                                          cJSON_CreateString("offline"));
            }
        }
    }

    return ngx_chatvisor_api_done(r, st);
}


static cv_status
ngx_chatvisor_api_agent_run(ngx_http_request_t *r, cv_txn *t)
{
    int                         created;
    cJSON                      *agent, *items, *out, *a;
    cv_status                   st;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    ctx = ngx_chatvisor_get_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    switch (ctx->action) {

    case NGX_CHATVISOR_AGENT_PUT:
        st = cv_agent_put(t, ctx->agent_id, ctx->body, &agent, &created);
        if (st != CV_OK) {
            return st;
        }

        ctx->ok_status = created ? NGX_HTTP_CREATED : NGX_HTTP_OK;
        ctx->result = ngx_chatvisor_api_agent_view(cmcf, agent);

        /* a disabled agent's conversations went back to the queue */
        ngx_chatvisor_notice_set(ctx, NGX_CHATVISOR_NOTICE_ALL, NULL, NULL);
        return CV_OK;

    case NGX_CHATVISOR_AGENT_SYNC:
        items = cJSON_CreateArray();
        st = cv_agents_sync(t, ctx->body, items);
        if (st != CV_OK) {
            cJSON_Delete(items);
            return st;
        }

        cJSON_ArrayForEach(a, items) {
            ngx_chatvisor_api_agent_view(cmcf, a);
        }

        out = cJSON_CreateObject();
        cJSON_AddItemToObject(out, "items", items);
        cJSON_AddNullToObject(out, "next_cursor");
        ctx->result = out;
        ngx_chatvisor_notice_set(ctx, NGX_CHATVISOR_NOTICE_ALL, NULL, NULL);
        return CV_OK;

    case NGX_CHATVISOR_AGENT_DELETE:
        st = cv_agent_delete(t, ctx->agent_id);
        if (st == CV_OK) {
            ngx_chatvisor_notice_set(ctx, NGX_CHATVISOR_NOTICE_ALL, NULL,
                                     NULL);
        }

        return st;

    case NGX_CHATVISOR_AGENT_STATUS:
        st = cv_agent_get(t, ctx->agent_id, &agent);
        if (st != CV_OK) {
            return st;
        }

        if (!cJSON_IsTrue(cJSON_GetObjectItem(agent, "enabled"))
            && ngx_strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(ctx->body,
                                                                "status")),
                          "offline") != 0)
        {
            cJSON_Delete(agent);
            ctx->why = "the agent is disabled";
            return CV_CONFLICT;
        }

        if (ngx_chatvisor_presence_set(cmcf, ctx->agent_id,
                                       cJSON_GetStringValue(
                                           cJSON_GetObjectItem(ctx->body,
                                                               "status")),
                                       1)
            != NGX_OK)
        {
            cJSON_Delete(agent);
            return CV_ERROR;
        }

        ctx->result = ngx_chatvisor_api_agent_view(cmcf, agent);
        return CV_OK;

    default: /* login URL */
    
        if (ngx_chatvisor_api_login_url(r, t, ctx->agent_id, NULL, ctx->ttl_ms,
                                        &out,
                                        &st)
            != NGX_OK || st != CV_OK)
        {
            return st == CV_OK ? CV_ERROR : st;
        }

        ctx->ok_status = NGX_HTTP_CREATED;
        ctx->result = out;
        return CV_OK;
    }
}
