/*
 * REST: conversations. Poll what changed since a cursor of the global
 * event log, read one and its messages, post as an agent or the system,
 * assign and close.
 */


#include "ngx_chatvisor.h"
#include "cv_agents.h"
#include "cv_chat.h"


static ngx_int_t ngx_chatvisor_api_conversation_body(ngx_http_request_t *r,
    cJSON *body);
static cv_status ngx_chatvisor_api_conversation_run(ngx_http_request_t *r,
    cv_txn *t);


enum {
    NGX_CHATVISOR_CONV_POST = 1,
    NGX_CHATVISOR_CONV_ASSIGN_TO,
    NGX_CHATVISOR_CONV_CLOSE_IT
};


static ngx_int_t
ngx_chatvisor_api_poll(ngx_http_request_t *r)
{
    cJSON                      *items, *out;
    cv_txn                     *t;
    size_t                      limit;
    uint64_t                    since, next;
    ngx_str_t                   v;
    cv_status                   st;
    const char                 *status;
    u_char                      buf[NGX_INT64_LEN + 1];
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (ngx_chatvisor_api_limit(r, &limit) != NGX_OK) {
        return ngx_chatvisor_sent(r);
    }

    if (ngx_chatvisor_arg_cursor(r, "since", &since) != NGX_OK) {
        return ngx_chatvisor_sent(r);
    }

    status = NULL;
    if (ngx_chatvisor_arg(r, "status", &v) == NGX_OK) {
        if (ngx_chatvisor_str_is(&v, "open")) {
            status = "open";

        } else if (ngx_chatvisor_str_is(&v, "closed")) {
            status = "closed";

        } else {
            return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                            "invalid_request",
                                            "\"status\" must be open or "
                                            "closed");
        }
    }

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st);
    }

    items = cJSON_CreateArray();
    st = cv_conversations_since(t, since, limit, status, items, &next);
    cv_txn_abort(t);

    if (st != CV_OK) {
        cJSON_Delete(items);
        return ngx_chatvisor_send_status(r, st);
    }

    /* an opaque string, so clients never do arithmetic on it */
    ngx_sprintf(buf, "%uL%Z", next);

    out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "items", items);
    cJSON_AddStringToObject(out, "next_cursor", (char *) buf);

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, out);
}


static ngx_int_t
ngx_chatvisor_api_messages(ngx_http_request_t *r, const char *conv_id)
{
    int                         more;
    cJSON                      *items, *out, *conv, *last;
    cv_txn                     *t;
    size_t                      limit;
    uint64_t                    after;
    cv_status                   st;
    u_char                      buf[NGX_INT64_LEN + 1];
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (ngx_chatvisor_api_limit(r, &limit) != NGX_OK) {
        return ngx_chatvisor_sent(r);
    }

    /* after=SEQ, or cursor=NEXT_CURSOR of the previous page */
    if (ngx_chatvisor_arg_cursor(r, "after", &after) != NGX_OK
        || (after == 0
            && ngx_chatvisor_arg_cursor(r, "cursor", &after) != NGX_OK))
    {
        return ngx_chatvisor_sent(r);
    }

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st);
    }

    st = cv_conversation_get(t, conv_id, &conv);
    if (st == CV_OK) {
        cJSON_Delete(conv);
        items = cJSON_CreateArray();
        st = cv_conversation_messages(t, conv_id, after, limit, items, &more);

    } else {
        items = NULL;
    }

    cv_txn_abort(t);

    if (st != CV_OK) {
        cJSON_Delete(items);
        return ngx_chatvisor_send_status(r, st);
    }

    out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "items", items);

    last = cJSON_GetArrayItem(items, cJSON_GetArraySize(items) - 1);

    if (more && last) {
        ngx_sprintf(buf, "%uL%Z",
                    (uint64_t) cJSON_GetNumberValue(
                                   cJSON_GetObjectItem(last, "seq")));
        cJSON_AddStringToObject(out, "next_cursor", (char *) buf);

    } else {
        cJSON_AddNullToObject(out, "next_cursor");
    }

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, out);
}


ngx_int_t
ngx_chatvisor_api_conversations(ngx_http_request_t *r, ngx_str_t *seg,
    ngx_uint_t n)
{
    cJSON                      *conv;
    cv_status                   st;
    ngx_chatvisor_ctx_t        *ctx;

    ctx = ngx_chatvisor_get_ctx(r);

    if (n == 1) {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_chatvisor_send_method_not_allowed(r, "GET, HEAD");
        }

        return ngx_chatvisor_api_poll(r);
    }

    if (seg[1].len >= CV_ID_MAX) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "no such conversation");
    }

    ngx_memcpy(ctx->conversation_id, seg[1].data, seg[1].len);
    ctx->conversation_id[seg[1].len] = '\0';

    if (n == 2) {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_chatvisor_send_method_not_allowed(r, "GET, HEAD");
        }

        st = ngx_chatvisor_read_record(r, cv_conversation_get,
                                       ctx->conversation_id, &conv);
        if (st != CV_OK) {
            return ngx_chatvisor_send_status(r, st);
        }

        return ngx_chatvisor_send_json(r, NGX_HTTP_OK, conv);
    }

    if (n == 3 && ngx_chatvisor_str_is(&seg[2], "messages")) {
        if (r->method == NGX_HTTP_POST) {
            ctx->action = NGX_CHATVISOR_CONV_POST;
            return ngx_chatvisor_read_json(r,
                                       ngx_chatvisor_api_conversation_body);
        }

        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_chatvisor_send_method_not_allowed(r,
                                                         "GET, HEAD, POST");
        }

        return ngx_chatvisor_api_messages(r, ctx->conversation_id);
    }

    if (n == 3 && (ngx_chatvisor_str_is(&seg[2], "assign")
                   || ngx_chatvisor_str_is(&seg[2], "close")))
    {
        if (r->method != NGX_HTTP_POST) {
            return ngx_chatvisor_send_method_not_allowed(r, "POST");
        }

        ctx->action = (seg[2].data[0] == 'a') ? NGX_CHATVISOR_CONV_ASSIGN_TO
                                              : NGX_CHATVISOR_CONV_CLOSE_IT;

        return ngx_chatvisor_read_json(r,
                                       ngx_chatvisor_api_conversation_body);
    }

    return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                    "no such API resource");
}


static ngx_int_t
ngx_chatvisor_api_conversation_body(ngx_http_request_t *r, cJSON *body)
{
    static const char  *post_fields[] = { "text", "agent_id", "client_msg_id",
                                          NULL };
    static const char  *assign_fields[] = { "agent_id", NULL };
    static const char  *no_fields[] = { NULL };

    cJSON                *agent;
    const char           *text, *cmid;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_get_ctx(r);

    if (ngx_chatvisor_check_fields(r, body,
                                   ctx->action == NGX_CHATVISOR_CONV_POST
                                   ? post_fields
                                   : ctx->action
                                     == NGX_CHATVISOR_CONV_ASSIGN_TO
                                     ? assign_fields : no_fields)
        != NGX_OK)
    {
        return ngx_chatvisor_sent(r);
    }

    if (ctx->action == NGX_CHATVISOR_CONV_POST
        && ngx_chatvisor_message_fields(r, body, &text, &cmid) != NGX_OK)
    {
        return ngx_chatvisor_sent(r);
    }

    agent = cJSON_GetObjectItemCaseSensitive(body, "agent_id");

    if (ctx->action == NGX_CHATVISOR_CONV_ASSIGN_TO && agent == NULL) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "\"agent_id\" is required (null "
                                        "unassigns)");
    }

    if (agent && !cJSON_IsNull(agent)
        && (!cJSON_IsString(agent) || !cv_agent_id_valid(agent->valuestring)))
    {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "\"agent_id\" must be an agent id");
    }

    if (agent && cJSON_IsNull(agent) && ctx->action == NGX_CHATVISOR_CONV_POST)
    {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "\"agent_id\" must be an agent id");
    }

    return ngx_chatvisor_commit(r, ngx_chatvisor_api_conversation_run,
                                ngx_chatvisor_api_done);
}


static cv_status
ngx_chatvisor_api_conversation_run(ngx_http_request_t *r, cv_txn *t)
{
    int                   changed;
    char                  customer[CV_ID_MAX];
    cJSON                *agent;
    cv_message            m;
    cv_conv_state         cs;
    cv_author             who;
    cv_status             st;
    const char           *agent_id;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_get_ctx(r);
    ctx->why = NULL;

    st = cv_conversation_state(t, ctx->conversation_id, &cs);
    if (st != CV_OK) {
        return st;
    }

    ngx_cpystrn((u_char *) customer, (u_char *) cs.customer_id, CV_ID_MAX);

    agent = NULL;
    agent_id = cJSON_GetStringValue(cJSON_GetObjectItem(ctx->body,
                                                        "agent_id"));

    who.type = "system";
    who.id = NULL;
    who.name = NULL;

    if (agent_id) {
        st = cv_agent_get(t, agent_id, &agent);
        if (st == CV_NOT_FOUND) {
            ctx->why = "no such agent";
            return CV_NOT_FOUND;
        }

        if (st != CV_OK) {
            return st;
        }

        if (!cJSON_IsTrue(cJSON_GetObjectItem(agent, "enabled"))) {
            cJSON_Delete(agent);
            ctx->why = "the agent is disabled";
            return CV_CONFLICT;
        }

        who.type = "agent";
        who.id = agent_id;
        who.name = cJSON_GetStringValue(cJSON_GetObjectItem(agent, "name"));
    }

    switch (ctx->action) {

    case NGX_CHATVISOR_CONV_POST:
        st = cv_message_post(t, ctx->conversation_id, NULL, &who,
                             cJSON_GetStringValue(
                                 cJSON_GetObjectItem(ctx->body,
                                                     "client_msg_id")),
                             cJSON_GetStringValue(
                                 cJSON_GetObjectItem(ctx->body, "text")),
                             NULL, &m);
        if (st == CV_OK) {
            ctx->result = cJSON_ParseWithLength(m.json, m.len);
            ctx->ok_status = m.duplicate ? NGX_HTTP_OK : NGX_HTTP_CREATED;
            st = ctx->result ? CV_OK : CV_ERROR;
        }

        cv_message_clear(&m);

        if (st == CV_CONFLICT) {
            ctx->why = "the conversation is closed";
        }

        break;

    case NGX_CHATVISOR_CONV_ASSIGN_TO:
        st = cv_conversation_assign(t, ctx->conversation_id,
                                    agent ? &who : NULL, &changed);
        if (st == CV_CONFLICT) {
            ctx->why = "the conversation is closed";
        }

        break;

    default:
        st = cv_conversation_close(t, ctx->conversation_id, &who, &changed);
    }

    cJSON_Delete(agent);

    if (st == CV_OK && ctx->result == NULL) {
        st = cv_conversation_get(t, ctx->conversation_id, &ctx->result);
    }

    if (st == CV_OK) {
        ngx_chatvisor_notice_set(ctx, NGX_CHATVISOR_NOTICE_CHANGE, customer,
                                 ctx->conversation_id);
    }

    return st;
}
