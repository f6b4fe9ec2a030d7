/*
 * Agent endpoints (SPEC 5) behind the console session: conversations,
 * history, replies, typing, assign / close, own status, and the long-poll
 * over the global event log that keeps a console live.
 */


#include "ngx_chatvisor.h"
#include "cv_agents.h"
#include "cv_chat.h"


typedef enum {
    NGX_CHATVISOR_CONV_GET = 0,
    NGX_CHATVISOR_CONV_EVENTS,
    NGX_CHATVISOR_CONV_MESSAGES,
    NGX_CHATVISOR_CONV_TYPING,
    NGX_CHATVISOR_CONV_ASSIGN,
    NGX_CHATVISOR_CONV_CLOSE
} ngx_chatvisor_conv_action_e;


static ngx_int_t ngx_chatvisor_agent_me(ngx_http_request_t *r);
static ngx_int_t ngx_chatvisor_agent_status(ngx_http_request_t *r,
    cJSON *body);
static ngx_int_t ngx_chatvisor_agent_logout(ngx_http_request_t *r,
    cJSON *body);
static ngx_int_t ngx_chatvisor_agent_list(ngx_http_request_t *r);
static ngx_int_t ngx_chatvisor_agent_conversation(ngx_http_request_t *r,
    ngx_str_t *rest);
static ngx_int_t ngx_chatvisor_agent_events(ngx_http_request_t *r);
static ngx_int_t ngx_chatvisor_agent_events_check(ngx_http_request_t *r,
    ngx_uint_t final);
static ngx_int_t ngx_chatvisor_agent_write(ngx_http_request_t *r,
    cJSON *body);
static cv_status ngx_chatvisor_agent_write_run(ngx_http_request_t *r,
    cv_txn *t);
static ngx_int_t ngx_chatvisor_agent_write_done(ngx_http_request_t *r,
    cv_status st);


ngx_int_t
ngx_chatvisor_agent_handler(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t   rc;
    ngx_str_t   rest;
    ngx_uint_t  write;

    if (ngx_chatvisor_str_is(path, "join")) {
        return ngx_chatvisor_agent_join(r);
    }

    write = !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD));

    if (ngx_chatvisor_agent_auth(r, write, &rc) != NGX_OK) {
        return rc;
    }

    if (ngx_chatvisor_str_is(path, "me")) {
        return write ? ngx_chatvisor_send_method_not_allowed(r, "GET, HEAD")
                     : ngx_chatvisor_agent_me(r);
    }

    if (ngx_chatvisor_str_is(path, "status")) {
        return r->method != NGX_HTTP_PUT
               ? ngx_chatvisor_send_method_not_allowed(r, "PUT")
               : ngx_chatvisor_read_json(r, ngx_chatvisor_agent_status);
    }

    if (ngx_chatvisor_str_is(path, "logout")) {
        return r->method != NGX_HTTP_POST
               ? ngx_chatvisor_send_method_not_allowed(r, "POST")
               : ngx_chatvisor_read_json(r, ngx_chatvisor_agent_logout);
    }

    if (ngx_chatvisor_str_is(path, "events")) {
        return write ? ngx_chatvisor_send_method_not_allowed(r, "GET, HEAD")
                     : ngx_chatvisor_agent_events(r);
    }

    if (ngx_chatvisor_str_is(path, "conversations")) {
        return write ? ngx_chatvisor_send_method_not_allowed(r, "GET, HEAD")
                     : ngx_chatvisor_agent_list(r);
    }

    if (path->len > sizeof("conversations/") - 1
        && ngx_strncmp(path->data, "conversations/",
                       sizeof("conversations/") - 1) == 0)
    {
        rest.data = path->data + sizeof("conversations/") - 1;
        rest.len = path->len - (sizeof("conversations/") - 1);

        return ngx_chatvisor_agent_conversation(r, &rest);
    }

    return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                    "no such agent endpoint");
}


static ngx_int_t
ngx_chatvisor_agent_me(ngx_http_request_t *r)
{
    cJSON                      *out;
    cv_txn                     *t;
    uint64_t                    seq;
    cv_status                   st;
    ngx_str_t                   csrf;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    ctx = ngx_chatvisor_get_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st == CV_OK) {
        st = cv_log_last_seq(t, &seq);
        cv_txn_abort(t);
    }

    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st);
    }

    if (ngx_chatvisor_agent_csrf(r, &csrf) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "agent", cJSON_Duplicate(ctx->agent, 1));
    cJSON_AddStringToObject(out, "status",
                            ngx_chatvisor_presence_status(cmcf,
                                                          ctx->agent_id));
    /* ngx_chatvisor_sign() leaves the token NUL-terminated */
    cJSON_AddStringToObject(out, "csrf_token", (char *) csrf.data);
    cJSON_AddNumberToObject(out, "cursor", (double) seq);

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, out);
}


static ngx_int_t
ngx_chatvisor_agent_status(ngx_http_request_t *r, cJSON *body)
{
    static const char  *allowed[] = { "status", NULL };

    cJSON                      *status, *out;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    if (ngx_chatvisor_check_fields(r, body, allowed) != NGX_OK) {
        return ngx_chatvisor_sent(r);
    }

    ctx = ngx_chatvisor_get_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    status = cJSON_GetObjectItemCaseSensitive(body, "status");

    if (!cJSON_IsString(status)
        || (ngx_strcmp(status->valuestring, "available") != 0
            && ngx_strcmp(status->valuestring, "away") != 0))
    {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "\"status\" must be \"available\" or "
                                        "\"away\"");
    }

    if (ngx_chatvisor_presence_set(cmcf, ctx->agent_id, status->valuestring,
                                   0)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "status", status->valuestring);

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, out);
}


static cv_status
ngx_chatvisor_logout_run(ngx_http_request_t *r, cv_txn *t)
{
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_get_ctx(r);

    return cv_session_delete(t, (char *) ctx->session);
}


static ngx_int_t
ngx_chatvisor_logout_done(ngx_http_request_t *r, cv_status st)
{
    ngx_str_t                  empty = ngx_null_string;
    ngx_chatvisor_srv_conf_t  *cscf;

    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st);
    }

    cscf = ngx_http_get_module_srv_conf(r, ngx_chatvisor_module);

    if (ngx_chatvisor_set_cookie(r, "cv_agent", &empty, &cscf->prefix, 0, 1)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_chatvisor_send_json(r, NGX_HTTP_NO_CONTENT, NULL);
}


static ngx_int_t
ngx_chatvisor_agent_logout(ngx_http_request_t *r, cJSON *body)
{
    static const char  *allowed[] = { NULL };

    if (ngx_chatvisor_check_fields(r, body, allowed) != NGX_OK) {
        return ngx_chatvisor_sent(r);
    }

    return ngx_chatvisor_commit(r, ngx_chatvisor_logout_run,
                                ngx_chatvisor_logout_done);
}


/* a conversation as the console shows it: with customer and last message */

static cJSON *
ngx_chatvisor_conversation_view(cv_txn *t, cJSON *conv)
{
    cJSON       *cus, *events, *ev, *last;
    uint64_t     seq, cursor;
    const char  *id;

    id = cJSON_GetStringValue(cJSON_GetObjectItem(conv, "id"));

    if (cv_customer_get(t, cJSON_GetStringValue(
                               cJSON_GetObjectItem(conv, "customer_id")),
                        &cus)
        == CV_OK)
    {
        cJSON_AddItemToObject(conv, "customer", cus);
    }

    seq = (uint64_t) cJSON_GetNumberValue(cJSON_GetObjectItem(conv,
                                                              "last_seq"));
    last = NULL;
    events = cJSON_CreateArray();

    if (id && cv_conversation_events(t, id, seq > 8 ? seq - 8 : 0, 8, events,
                                     &cursor)
              == CV_OK)
    {
        cJSON_ArrayForEach(ev, events) {
            if (cJSON_GetObjectItem(ev, "message")) {
                last = cJSON_GetObjectItem(ev, "message");
            }
        }
    }

    cJSON_AddItemToObject(conv, "last_message",
                          last ? cJSON_Duplicate(last, 1) : cJSON_CreateNull());
    cJSON_Delete(events);

    return conv;
}


static ngx_int_t
ngx_chatvisor_agent_list(ngx_http_request_t *r)
{
    cJSON                      *items, *out, *conv;
    cv_txn                     *t;
    ngx_str_t                   filter, status;
    cv_status                   st;
    const char                 *assigned, *stat;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    ctx = ngx_chatvisor_get_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    assigned = NULL;
    if (ngx_chatvisor_arg(r, "filter", &filter) == NGX_OK) {
        if (ngx_chatvisor_str_is(&filter, "unassigned")) {
            assigned = "";

        } else if (ngx_chatvisor_str_is(&filter, "mine")) {
            assigned = ctx->agent_id;

        } else if (!ngx_chatvisor_str_is(&filter, "all")) {
            return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                            "invalid_request",
                                            "\"filter\" must be unassigned, "
                                            "mine or all");
        }
    }

    stat = "open";
    if (ngx_chatvisor_arg(r, "status", &status) == NGX_OK) {
        if (ngx_chatvisor_str_is(&status, "closed")) {
            stat = "closed";

        } else if (ngx_chatvisor_str_is(&status, "all")) {
            stat = NULL;

        } else if (!ngx_chatvisor_str_is(&status, "open")) {
            return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                            "invalid_request",
                                            "\"status\" must be open, closed "
                                            "or all");
        }
    }

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st);
    }

    items = cJSON_CreateArray();
    st = cv_conversation_list(t, stat, assigned, 200, items);

    cJSON_ArrayForEach(conv, items) {
        ngx_chatvisor_conversation_view(t, conv);
    }

    cv_txn_abort(t);

    if (st != CV_OK) {
        cJSON_Delete(items);
        return ngx_chatvisor_send_status(r, st);
    }

    out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "items", items);
    cJSON_AddNullToObject(out, "next_cursor");

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, out);
}


static ngx_int_t
ngx_chatvisor_agent_conversation(ngx_http_request_t *r, ngx_str_t *rest)
{
    u_char                     *slash;
    cJSON                      *conv, *events, *out;
    cv_txn                     *t;
    uint64_t                    after, cursor;
    ngx_str_t                   action;
    cv_status                   st;
    ngx_uint_t                  act;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    ctx = ngx_chatvisor_get_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    slash = ngx_strlchr(rest->data, rest->data + rest->len, '/');

    if (slash) {
        action.data = slash + 1;
        action.len = rest->data + rest->len - action.data;
        rest->len = slash - rest->data;

    } else {
        ngx_str_null(&action);
    }

    if (rest->len == 0 || rest->len >= CV_ID_MAX) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "no such conversation");
    }

    ngx_memcpy(ctx->conversation_id, rest->data, rest->len);
    ctx->conversation_id[rest->len] = '\0';

    if (action.len == 0) {
        act = NGX_CHATVISOR_CONV_GET;

    } else if (ngx_chatvisor_str_is(&action, "events")) {
        act = NGX_CHATVISOR_CONV_EVENTS;

    } else if (ngx_chatvisor_str_is(&action, "messages")) {
        act = NGX_CHATVISOR_CONV_MESSAGES;

    } else if (ngx_chatvisor_str_is(&action, "typing")) {
        act = NGX_CHATVISOR_CONV_TYPING;

    } else if (ngx_chatvisor_str_is(&action, "assign")) {
        act = NGX_CHATVISOR_CONV_ASSIGN;

    } else if (ngx_chatvisor_str_is(&action, "close")) {
        act = NGX_CHATVISOR_CONV_CLOSE;

    } else {
        return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "no such conversation endpoint");
    }

    if (act >= NGX_CHATVISOR_CONV_MESSAGES) {
        if (r->method != NGX_HTTP_POST) {
            return ngx_chatvisor_send_method_not_allowed(r, "POST");
        }

        ctx->action = act;
        return ngx_chatvisor_read_json(r, ngx_chatvisor_agent_write);
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_chatvisor_send_method_not_allowed(r, "GET, HEAD");
    }

    after = 0;
    if (act == NGX_CHATVISOR_CONV_EVENTS
        && ngx_chatvisor_arg_cursor(r, "after", &after) != NGX_OK)
    {
        return ngx_chatvisor_sent(r);
    }

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st);
    }

    st = cv_conversation_get(t, ctx->conversation_id, &conv);
    if (st != CV_OK) {
        cv_txn_abort(t);
        return ngx_chatvisor_send_status(r, st);
    }

    if (act == NGX_CHATVISOR_CONV_GET) {
        out = ngx_chatvisor_conversation_view(t, conv);

    } else {
        cJSON_Delete(conv);
        events = cJSON_CreateArray();
        st = cv_conversation_events(t, ctx->conversation_id, after, 500,
                                    events, &cursor);
        out = cJSON_CreateObject();
        cJSON_AddItemToObject(out, "events", events);
        cJSON_AddNumberToObject(out, "cursor", (double) cursor);
    }

    cv_txn_abort(t);

    if (st != CV_OK) {
        cJSON_Delete(out);
        return ngx_chatvisor_send_status(r, st);
    }

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, out);
}


/* messages, typing, assign, close (ctx->action says which) */

static ngx_int_t
ngx_chatvisor_agent_write(ngx_http_request_t *r, cJSON *body)
{
    static const char  *message_fields[] = { "text", "client_msg_id", NULL };
    static const char  *typing_fields[] = { "typing", NULL };
    static const char  *assign_fields[] = { "agent_id", NULL };
    static const char  *no_fields[] = { NULL };

    char                        conv_id[CV_ID_MAX];
    cJSON                      *item, *conv;
    cv_status                   st;
    const char                 *text, *cmid, **allowed;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_notice_t      n;

    ctx = ngx_chatvisor_get_ctx(r);

    switch (ctx->action) {
    case NGX_CHATVISOR_CONV_MESSAGES:
        allowed = message_fields;
        break;
    case NGX_CHATVISOR_CONV_TYPING:
        allowed = typing_fields;
        break;
    case NGX_CHATVISOR_CONV_ASSIGN:
        allowed = assign_fields;
        break;
    default:
        allowed = no_fields;
    }

    if (ngx_chatvisor_check_fields(r, body, allowed) != NGX_OK) {
        return ngx_chatvisor_sent(r);
    }

    if (ctx->action == NGX_CHATVISOR_CONV_MESSAGES
        && ngx_chatvisor_message_fields(r, body, &text, &cmid) != NGX_OK)
    {
        return ngx_chatvisor_sent(r);
    }

    if (ctx->action == NGX_CHATVISOR_CONV_ASSIGN) {
        item = cJSON_GetObjectItemCaseSensitive(body, "agent_id");

        if (item && !cJSON_IsNull(item)
            && (!cJSON_IsString(item) || !cv_agent_id_valid(item->valuestring)))
        {
            return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                            "invalid_request",
                                            "\"agent_id\" must be an agent "
                                            "id");
        }
    }

    if (ctx->action != NGX_CHATVISOR_CONV_TYPING) {
        return ngx_chatvisor_commit(r, ngx_chatvisor_agent_write_run,
                                    ngx_chatvisor_agent_write_done);
    }

    /* typing is not stored: it goes straight to the visitor's polls */

    item = cJSON_GetObjectItemCaseSensitive(body, "typing");
    if (item && !cJSON_IsBool(item)) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "\"typing\" must be true or false");
    }

    st = ngx_chatvisor_read_record(r, cv_conversation_get,
                                   ctx->conversation_id, &conv);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st);
    }

    if (item == NULL || cJSON_IsTrue(item)) {
        ngx_memzero(&n, sizeof(n));
        n.kind = NGX_CHATVISOR_NOTICE_TYPING;
        n.agent = 1;
        ngx_cpystrn((u_char *) n.customer_id,
                    (u_char *) cJSON_GetStringValue(
                                   cJSON_GetObjectItem(conv, "customer_id")),
                    CV_ID_MAX);
        ngx_cpystrn((u_char *) conv_id, (u_char *) ctx->conversation_id,
                    CV_ID_MAX);
        ngx_cpystrn((u_char *) n.conversation_id, (u_char *) conv_id,
                    CV_ID_MAX);
        ngx_cpystrn((u_char *) n.name, (u_char *) ctx->agent_name,
                    sizeof(n.name));
        ngx_chatvisor_notify(&n);
    }

    cJSON_Delete(conv);

    return ngx_chatvisor_send_json(r, NGX_HTTP_NO_CONTENT, NULL);
}


static cv_status
ngx_chatvisor_agent_write_run(ngx_http_request_t *r, cv_txn *t)
{
    int                   changed;
    cJSON                *item, *target;
    cv_author             me, other;
    cv_status             st;
    cv_conv_state         cs;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_get_ctx(r);

    me.type = "agent";
    me.id = ctx->agent_id;
    me.name = ctx->agent_name;

    st = cv_conversation_state(t, ctx->conversation_id, &cs);
    if (st != CV_OK) {
        return st;
    }

    switch (ctx->action) {

    case NGX_CHATVISOR_CONV_MESSAGES:
        /* replying to an unassigned conversation takes it */
        if (cs.open && !cs.assigned) {
            st = cv_conversation_assign(t, ctx->conversation_id, &me,
                                        &changed);
        }

        if (st == CV_OK) {
            st = cv_message_post(t, ctx->conversation_id, NULL, &me,
                                 cJSON_GetStringValue(
                                     cJSON_GetObjectItem(ctx->body,
                                                         "client_msg_id")),
                                 cJSON_GetStringValue(
                                     cJSON_GetObjectItem(ctx->body, "text")),
                                 NULL, &ctx->message);
        }

        break;

    case NGX_CHATVISOR_CONV_ASSIGN:
        item = cJSON_GetObjectItemCaseSensitive(ctx->body, "agent_id");

        if (cJSON_IsString(item) && ngx_strcmp(item->valuestring, me.id) != 0)
        {
            st = cv_agent_get(t, item->valuestring, &target);
            if (st != CV_OK) {
                break;
            }

            if (!cJSON_IsTrue(cJSON_GetObjectItem(target, "enabled"))) {
                cJSON_Delete(target);
                st = CV_CONFLICT;
                break;
            }

            other.type = "agent";
            other.id = item->valuestring;
            other.name = cJSON_GetStringValue(cJSON_GetObjectItem(target,
                                                                  "name"));
            st = cv_conversation_assign(t, ctx->conversation_id, &other,
                                        &changed);
            cJSON_Delete(target);

        } else {
            st = cv_conversation_assign(t, ctx->conversation_id, &me,
                                        &changed);
        }

        break;

    default:  /* close */
        st = cv_conversation_close(t, ctx->conversation_id, &me, &changed);
    }

    if (st == CV_OK && ctx->message.json == NULL) {
        st = cv_conversation_get(t, ctx->conversation_id, &ctx->result);
    }

    if (st == CV_OK) {
        ngx_chatvisor_notice_set(ctx, NGX_CHATVISOR_NOTICE_CHANGE,
                                 cs.customer_id, ctx->conversation_id);
    }

    return st;
}


static ngx_int_t
ngx_chatvisor_agent_write_done(ngx_http_request_t *r, cv_status st)
{
    cJSON                *result;
    ngx_chatvisor_ctx_t  *ctx;

    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st);
    }

    ctx = ngx_chatvisor_get_ctx(r);

    if (ctx->message.json) {
        return ngx_chatvisor_send_json_copy(r, ctx->message.duplicate
                                               ? NGX_HTTP_OK
                                               : NGX_HTTP_CREATED,
                                            ctx->message.json,
                                            ctx->message.len);
    }

    result = ctx->result;
    ctx->result = NULL;

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, result);
}


static ngx_int_t
ngx_chatvisor_agent_events(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_loc_conf_t   *clcf;
    ngx_chatvisor_main_conf_t  *cmcf;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_chatvisor_get_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_chatvisor_module);

    if (ngx_chatvisor_arg_cursor(r, "after", &ctx->after) != NGX_OK) {
        return ngx_chatvisor_sent(r);
    }

    ctx->agent_poll = 1;

    /* polling is what makes an agent online */
    ngx_chatvisor_presence_seen(cmcf, ctx->agent_id,
                                clcf->poll_timeout + 15000);

    rc = ngx_chatvisor_agent_events_check(r, 0);
    if (rc != NGX_AGAIN) {
        return rc;
    }

    return ngx_chatvisor_poll_wait(r, ngx_chatvisor_agent_events_check);
}


static ngx_int_t
ngx_chatvisor_agent_events_check(ngx_http_request_t *r, ngx_uint_t final)
{
    cJSON                      *items, *ev, *conv, *event, *msg, *out, *a;
    cv_txn                     *t;
    uint64_t                    cursor;
    cv_status                   st;
    const char                 *conv_id;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_loc_conf_t   *clcf;
    ngx_chatvisor_main_conf_t  *cmcf;

    ctx = ngx_chatvisor_get_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st);
    }

    items = cJSON_CreateArray();
    st = cv_log_read(t, ctx->after, 100, items, &cursor);

    cJSON_ArrayForEach(ev, items) {
        conv_id = cJSON_GetStringValue(cJSON_GetObjectItem(ev,
                                                     "conversation_id"));

        /* the console gets the message of a message event, not the event */
        event = cJSON_DetachItemFromObjectCaseSensitive(ev, "event");
        msg = cJSON_DetachItemFromObjectCaseSensitive(event, "message");
        cJSON_Delete(event);

        if (msg) {
            cJSON_AddItemToObject(ev, "message", msg);
        }

        if (conv_id == NULL) {
            continue;
        }

        if (cv_conversation_get(t, conv_id, &conv) == CV_OK) {
            /* as it is now, rather than as the entry left it */
            cJSON_DeleteItemFromObjectCaseSensitive(ev, "conversation");
            cJSON_AddItemToObject(ev, "conversation",
                                  ngx_chatvisor_conversation_view(t, conv));
        }
    }

    cv_txn_abort(t);

    if (st != CV_OK) {
        cJSON_Delete(items);
        return ngx_chatvisor_send_status(r, st);
    }

    if (cJSON_GetArraySize(items) == 0 && ctx->has_typing) {
        ev = cJSON_CreateObject();
        cJSON_AddStringToObject(ev, "type", "typing");
        cJSON_AddStringToObject(ev, "conversation_id",
                                ctx->typing.conversation_id);
        cJSON_AddStringToObject(ev, "customer_id", ctx->typing.customer_id);
        a = cJSON_AddObjectToObject(ev, "author");
        cJSON_AddStringToObject(a, "type", "customer");
        cJSON_AddStringToObject(a, "id", ctx->typing.customer_id);
        cJSON_AddItemToArray(items, ev);
    }

    ctx->has_typing = 0;

    if (cJSON_GetArraySize(items) == 0 && !final) {
        cJSON_Delete(items);
        return NGX_AGAIN;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_chatvisor_module);
    ngx_chatvisor_presence_seen(cmcf, ctx->agent_id,
                                clcf->poll_timeout + 15000);

    out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "events", items);
    cJSON_AddNumberToObject(out, "cursor", (double) cursor);

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, out);
}
