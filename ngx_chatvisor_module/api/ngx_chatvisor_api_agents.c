/*
 * REST: agents. Upsert one, sync the whole list, read, delete, presence
 * managed by the integrator, and one-time console login URLs.
 */


#include "ngx_chatvisor_api.h"


#define NGX_CHATVISOR_EMAIL_MAX       254     /* RFC 5321 */
#define NGX_CHATVISOR_CONCURRENT_MAX  1000
#define NGX_CHATVISOR_SYNC_MAX        10000   /* agents in one sync */


/* the agent as the API shows it: with presence */

static cJSON *
ngx_chatvisor_api_agent_view(ngx_chatvisor_main_conf_t *cmcf, cJSON *agent)
{
    const char  *id;

    id = cJSON_GetStringValue(cJSON_GetObjectItem(agent, "id"));

    cJSON_DeleteItemFromObject(agent, "status");
    cJSON_AddStringToObject(agent, "status",
                            id ? ngx_chatvisor_presence_status(cmcf, id)
                               : NGX_CHATVISOR_PRESENCE_OFFLINE);
    return agent;
}


/* the fields of an agent; NULL when fine, else what is wrong */

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
                return "\"id\" must be 1 to "
                       NGX_CHATVISOR_STR(CV_AGENT_ID_MAX)
                       " of A-Z a-z 0-9 . _ @ -";
            }

        } else if (ngx_strcmp(f->string, "name") == 0) {
            if (!cJSON_IsString(f) || f->valuestring[0] == '\0'
                || ngx_strlen(f->valuestring) > CV_AGENT_NAME_MAX)
            {
                return "\"name\" must be a string of 1 to "
                       NGX_CHATVISOR_STR(CV_AGENT_NAME_MAX) " characters";
            }

        } else if (ngx_strcmp(f->string, "email") == 0) {
            if (!(cJSON_IsNull(f)
                  || (cJSON_IsString(f)
                      && ngx_strlen(f->valuestring)
                         <= NGX_CHATVISOR_EMAIL_MAX
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
                || f->valuedouble > NGX_CHATVISOR_CONCURRENT_MAX
                || f->valuedouble != (double) (int) f->valuedouble)
            {
                return "\"max_concurrent\" must be a whole number from 0 "
                       "to " NGX_CHATVISOR_STR(NGX_CHATVISOR_CONCURRENT_MAX);
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


/* GET agents?limit=&cursor=: by id; the cursor is the last id of a page */

ngx_int_t
ngx_chatvisor_api_agent_list(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    char                        cursor[CV_AGENT_ID_MAX + 1];
    cJSON                      *items, *out, *a, *page;
    size_t                      limit;
    ngx_str_t                   v;
    ngx_uint_t                  more;
    const char                 *id, *last;
    cv_txn                     *t;
    cv_status                   st;
    ngx_chatvisor_err_t         err;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (ngx_chatvisor_arg_limit(r, NGX_CHATVISOR_API_LIMIT_DEFAULT,
                                NGX_CHATVISOR_API_LIMIT_MAX, &limit, &err)
        != NGX_OK)
    {
        return ngx_chatvisor_send_err(r, &err);
    }

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
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    items = cJSON_CreateArray();
    st = cv_agent_list(t, items);
    cv_txn_abort(t);

    if (st != CV_OK) {
        cJSON_Delete(items);
        return ngx_chatvisor_send_status(r, st, NULL);
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

    out = ngx_chatvisor_page(page, more ? last : NULL);
    cJSON_Delete(items);

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, out);
}


ngx_int_t
ngx_chatvisor_api_agent_get(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    cJSON                      *agent;
    cv_status                   st;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    st = ngx_chatvisor_store_read(cmcf, cv_agent_get, ctx->param[0], &agent);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK,
                                   ngx_chatvisor_api_agent_view(cmcf, agent));
}


/*
 * Committed: agents that are disabled or deleted stop counting as online
 * at once (the edge's rules and routing read presence only).
 */

static cJSON *
ngx_chatvisor_api_agents_offline(ngx_chatvisor_main_conf_t *cmcf,
    cJSON *agent)
{
    if (agent && cJSON_IsFalse(cJSON_GetObjectItem(agent, "enabled"))) {
        ngx_chatvisor_presence_remove(cmcf,
                      cJSON_GetStringValue(cJSON_GetObjectItem(agent, "id")));
        cJSON_ReplaceItemInObject(agent, "status",
                   cJSON_CreateString(NGX_CHATVISOR_PRESENCE_OFFLINE));
    }

    return agent;
}


/* fn on each agent of a write's result: a page's items, or the one agent */

static void
ngx_chatvisor_api_agents_each(ngx_chatvisor_main_conf_t *cmcf,
    cJSON *result, cJSON *(*fn)(ngx_chatvisor_main_conf_t *cmcf,
    cJSON *agent))
{
    cJSON  *a, *items;

    items = cJSON_GetObjectItem(result, "items");

    if (items == NULL) {
        (void) fn(cmcf, result);
        return;
    }

    cJSON_ArrayForEach(a, items) {
        (void) fn(cmcf, a);
    }
}


static ngx_int_t
ngx_chatvisor_api_agents_done(ngx_http_request_t *r, cv_status st)
{
    ngx_chatvisor_op_t         *op;
    ngx_chatvisor_main_conf_t  *cmcf;

    op = &ngx_chatvisor_ctx(r)->op;
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (st == CV_OK && cJSON_IsObject(op->result)) {
        ngx_chatvisor_api_agents_each(cmcf, op->result,
                                      ngx_chatvisor_api_agents_offline);
    }

    return ngx_chatvisor_send_op(r, st);
}


static ngx_int_t ngx_chatvisor_api_agent_cluster_deleted(
    ngx_http_request_t *r, cv_status st);


/* cluster mode: the record(s) the command left, as the API shows them */

static ngx_int_t
ngx_chatvisor_api_agents_cluster_done(ngx_http_request_t *r, cv_status st)
{
    ngx_chatvisor_op_t         *op;
    ngx_chatvisor_main_conf_t  *cmcf;

    op = &ngx_chatvisor_ctx(r)->op;
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (st == CV_OK && cJSON_IsObject(op->result)) {
        ngx_chatvisor_api_agents_each(cmcf, op->result,
                                      ngx_chatvisor_api_agent_view);

        /* a sync's page, as the local path's ngx_chatvisor_page() has it */
        if (cJSON_GetObjectItem(op->result, "items")) {
            cJSON_AddNullToObject(op->result, "next_cursor");
        }
    }

    if (st == CV_OK && ngx_chatvisor_ctx(r)->cluster.res.created) {
        op->ok_status = NGX_HTTP_CREATED;
    }

    return ngx_chatvisor_api_agents_done(r, st);
}


/* cluster mode: an agents' write as a command (engine/cv_cluster.h) */

static ngx_int_t
ngx_chatvisor_api_agents_cluster(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, const char *op)
{
    cJSON  *cmd;

    cmd = cJSON_CreateObject();
    if (cmd == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cJSON_AddStringToObject(cmd, "op", op);

    if (ngx_strcmp(op, "api.agents_sync") == 0) {
        cJSON_AddItemReferenceToObject(cmd, "agents", ctx->body);

    } else {
        cJSON_AddStringToObject(cmd, "agent_id", ctx->param[0]);

        if (ctx->body) {
            cJSON_AddItemReferenceToObject(cmd, "fields", ctx->body);
        }
    }

    return ngx_chatvisor_cluster_write(r, cmd,
                                   ngx_strcmp(op, "api.agent_delete") == 0
                                   ? ngx_chatvisor_api_agent_cluster_deleted
                                   : ngx_chatvisor_api_agents_cluster_done);
}


/* PUT agents [{...}, ...]: the whole list; those not in it are disabled */

static cv_status
ngx_chatvisor_api_agent_sync_run(ngx_http_request_t *r, cv_txn *t)
{
    cJSON                      *items, *a;
    cv_status                   st;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    ctx = ngx_chatvisor_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    items = cJSON_CreateArray();
    st = cv_agents_sync(t, ctx->body, items);
    if (st != CV_OK) {
        cJSON_Delete(items);
        return st;
    }

    cJSON_ArrayForEach(a, items) {
        ngx_chatvisor_api_agent_view(cmcf, a);
    }

    ctx->op.result = ngx_chatvisor_page(items, NULL);

    /* a disabled agent's conversations went back to the queue */
    ngx_chatvisor_op_notice(&ctx->op, NGX_CHATVISOR_NOTICE_ALL, NULL, NULL);

    return CV_OK;
}


ngx_int_t
ngx_chatvisor_api_agent_sync(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    cJSON       *a;
    ngx_uint_t   n;
    const char  *why;

    if (!cJSON_IsArray(ctx->body)) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "the body must be a JSON array of "
                                        "agents");
    }

    n = 0;
    why = NULL;

    cJSON_ArrayForEach(a, ctx->body) {
        why = ngx_chatvisor_api_agent_check(a, 1);
        if (why) {
            break;
        }

        if (++n > NGX_CHATVISOR_SYNC_MAX) {
            why = "at most " NGX_CHATVISOR_STR(NGX_CHATVISOR_SYNC_MAX)
                  " agents";
            break;
        }
    }

    if (why) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request", why);
    }

    if (ngx_chatvisor_cluster_on(
            (ngx_chatvisor_main_conf_t *)
            ngx_http_get_module_main_conf(r, ngx_chatvisor_module)))
    {
        return ngx_chatvisor_api_agents_cluster(r, ctx, "api.agents_sync");
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_api_agent_sync_run,
                               ngx_chatvisor_api_agents_done);
}


static cv_status
ngx_chatvisor_api_agent_put_run(ngx_http_request_t *r, cv_txn *t)
{
    int                         created;
    cJSON                      *agent;
    cv_status                   st;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    ctx = ngx_chatvisor_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    st = cv_agent_put(t, ctx->param[0], ctx->body, &agent, &created);
    if (st != CV_OK) {
        return st;
    }

    ctx->op.ok_status = created ? NGX_HTTP_CREATED : NGX_HTTP_OK;
    ctx->op.result = ngx_chatvisor_api_agent_view(cmcf, agent);

    /* a disabled agent's conversations went back to the queue */
    ngx_chatvisor_op_notice(&ctx->op, NGX_CHATVISOR_NOTICE_ALL, NULL, NULL);

    return CV_OK;
}


ngx_int_t
ngx_chatvisor_api_agent_put(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    const char  *why;

    why = ngx_chatvisor_api_agent_check(ctx->body, 0);
    if (why) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request", why);
    }

    if (ngx_chatvisor_cluster_on(
            (ngx_chatvisor_main_conf_t *)
            ngx_http_get_module_main_conf(r, ngx_chatvisor_module)))
    {
        return ngx_chatvisor_api_agents_cluster(r, ctx, "api.agent_put");
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_api_agent_put_run,
                               ngx_chatvisor_api_agents_done);
}


static cv_status
ngx_chatvisor_api_agent_delete_run(ngx_http_request_t *r, cv_txn *t)
{
    cv_status             st;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);

    st = cv_agent_delete(t, ctx->param[0]);
    if (st != CV_OK) {
        return st;
    }

    ctx->op.ok_status = NGX_HTTP_NO_CONTENT;
    ngx_chatvisor_op_notice(&ctx->op, NGX_CHATVISOR_NOTICE_ALL, NULL, NULL);

    return CV_OK;
}


static ngx_int_t ngx_chatvisor_api_agent_delete_done(ngx_http_request_t *r,
    cv_status st);


/* cluster mode: DELETE agents/ID applied: 204 as without a cluster */

static ngx_int_t
ngx_chatvisor_api_agent_cluster_deleted(ngx_http_request_t *r, cv_status st)
{
    if (st == CV_OK) {
        ngx_chatvisor_ctx(r)->op.ok_status = NGX_HTTP_NO_CONTENT;
    }

    return ngx_chatvisor_api_agent_delete_done(r, st);
}


static ngx_int_t
ngx_chatvisor_api_agent_delete_done(ngx_http_request_t *r, cv_status st)
{
    ngx_chatvisor_main_conf_t  *cmcf;

    if (st == CV_OK) {
        cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);
        ngx_chatvisor_presence_remove(cmcf, ngx_chatvisor_ctx(r)->param[0]);
    }

    return ngx_chatvisor_send_op(r, st);
}


ngx_int_t
ngx_chatvisor_api_agent_delete(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    if (ngx_chatvisor_cluster_on(
            (ngx_chatvisor_main_conf_t *)
            ngx_http_get_module_main_conf(r, ngx_chatvisor_module)))
    {
        return ngx_chatvisor_api_agents_cluster(r, ctx, "api.agent_delete");
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_api_agent_delete_run,
                               ngx_chatvisor_api_agent_delete_done);
}


/* PUT agents/ID/status: presence the integrator manages */

static cv_status
ngx_chatvisor_api_agent_status_run(ngx_http_request_t *r, cv_txn *t)
{
    cJSON                      *agent;
    cv_status                   st;
    const char                 *status;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    ctx = ngx_chatvisor_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);
    status = ngx_chatvisor_body_string(ctx->body, "status");

    st = cv_agent_get(t, ctx->param[0], &agent);
    if (st != CV_OK) {
        return st;
    }

    if (!cJSON_IsTrue(cJSON_GetObjectItem(agent, "enabled"))
        && ngx_strcmp(status, NGX_CHATVISOR_PRESENCE_OFFLINE) != 0)
    {
        cJSON_Delete(agent);
        ctx->op.why = "the agent is disabled";
        return CV_CONFLICT;
    }

    if (ngx_chatvisor_presence_set(cmcf, ctx->param[0], status, 1)
        != NGX_OK)
    {
        cJSON_Delete(agent);
        return CV_ERROR;
    }

    ctx->op.result = ngx_chatvisor_api_agent_view(cmcf, agent);

    return CV_OK;
}


/*
 * Cluster mode: the status as a command (engine/cv_cluster_writes.h) that
 * every node puts into its presence; the agent is checked where it is
 * applied. The answer's status is the one set (this node's presence may
 * hold a later one by then).
 */

static ngx_int_t
ngx_chatvisor_api_agent_status_done(ngx_http_request_t *r, cv_status st)
{
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);

    if (st == CV_OK && ctx->op.result) {
        cJSON_DeleteItemFromObject(ctx->op.result, "status");
        cJSON_AddStringToObject(ctx->op.result, "status",
                                ngx_chatvisor_body_string(ctx->body,
                                                          "status"));
    }

    return ngx_chatvisor_send_op(r, st);
}


static ngx_int_t
ngx_chatvisor_api_agent_status_cluster(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, const char *status)
{
    return ngx_chatvisor_cluster_agent_status(r, ctx->param[0], status, 1,
                                       ngx_chatvisor_api_agent_status_done);
}


ngx_int_t
ngx_chatvisor_api_agent_status(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    const char  *status;

    status = ngx_chatvisor_body_string(ctx->body, "status");

    if (status == NULL
        || (ngx_strcmp(status, NGX_CHATVISOR_PRESENCE_AVAILABLE) != 0
            && ngx_strcmp(status, NGX_CHATVISOR_PRESENCE_AWAY) != 0
            && ngx_strcmp(status, NGX_CHATVISOR_PRESENCE_OFFLINE) != 0))
    {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "\"status\" must be available, away "
                                        "or offline");
    }

    if (ngx_chatvisor_cluster_on(
            (ngx_chatvisor_main_conf_t *)
            ngx_http_get_module_main_conf(r, ngx_chatvisor_module)))
    {
        return ngx_chatvisor_api_agent_status_cluster(r, ctx, status);
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_api_agent_status_run, NULL);
}


/* POST agents/ID/login-url {"ttl_seconds"} */

static cv_status
ngx_chatvisor_api_agent_login_url_run(ngx_http_request_t *r, cv_txn *t)
{
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);

    return ngx_chatvisor_api_login_url(r, t, ctx->param[0], NULL,
                                       ngx_chatvisor_api_ttl_ms(ctx),
                                       &ctx->op);
}


ngx_int_t
ngx_chatvisor_api_agent_login_url(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    ngx_chatvisor_err_t  err;

    if (ngx_chatvisor_api_ttl(ctx, &err) != NGX_OK) {
        return ngx_chatvisor_send_err(r, &err);
    }

    if (ngx_chatvisor_cluster_on(
            (ngx_chatvisor_main_conf_t *)
            ngx_http_get_module_main_conf(r, ngx_chatvisor_module)))
    {
        return ngx_chatvisor_api_login_url_cluster(r, ctx, ctx->param[0],
                                                   NULL);
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_api_agent_login_url_run,
                               NULL);
}
