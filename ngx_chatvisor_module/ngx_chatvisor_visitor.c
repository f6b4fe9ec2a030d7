/*
 * Visitor endpoints (SPEC 4): send, long-poll, typing. The visitor is the
 * customer named by the signed cv_visitor cookie, created with the first
 * message; nobody can read or write another visitor's conversation, since
 * the conversation is always the cookie's customer's own.
 */


#include "ngx_chatvisor.h"
#include "cv_chat.h"
#include "cv_routing.h"


#define NGX_CHATVISOR_VISITOR_COOKIE  "cv_visitor"
#define NGX_CHATVISOR_VISITOR_AGE     (365 * 24 * 60 * 60)


static ngx_int_t ngx_chatvisor_visitor_post(ngx_http_request_t *r,
    cJSON *body);
static cv_status ngx_chatvisor_visitor_post_run(ngx_http_request_t *r,
    cv_txn *t);
static ngx_int_t ngx_chatvisor_visitor_post_done(ngx_http_request_t *r,
    cv_status st);
static ngx_int_t ngx_chatvisor_visitor_events(ngx_http_request_t *r);
static ngx_int_t ngx_chatvisor_visitor_events_check(ngx_http_request_t *r,
    ngx_uint_t final);
static ngx_int_t ngx_chatvisor_visitor_typing(ngx_http_request_t *r,
    cJSON *body);


/* the customer id of a validly signed visitor cookie */

ngx_int_t
ngx_chatvisor_visitor_cookie(ngx_http_request_t *r, char *customer_id)
{
    u_char     *dot;
    ngx_str_t   cookie, sig;

    customer_id[0] = '\0';

    if (ngx_chatvisor_get_cookie(r, NGX_CHATVISOR_VISITOR_COOKIE, &cookie)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    dot = ngx_strlchr(cookie.data, cookie.data + cookie.len, '.');

    if (dot == NULL || dot == cookie.data
        || (size_t) (dot - cookie.data) >= CV_ID_MAX
        || ngx_strncmp(cookie.data, "cus_", 4) != 0
        || ngx_chatvisor_sign(r, "visitor", cookie.data, dot - cookie.data,
                              &sig)
           != NGX_OK
        || (size_t) (cookie.data + cookie.len - dot - 1) != sig.len
        || !cv_equal(dot + 1, sig.data, sig.len))
    {
        /* forged or from another store: a stranger */
        return NGX_DECLINED;
    }

    ngx_memcpy(customer_id, cookie.data, dot - cookie.data);
    customer_id[dot - cookie.data] = '\0';

    return NGX_OK;
}


static ngx_int_t
ngx_chatvisor_visitor_identify(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    return ngx_chatvisor_visitor_cookie(r, ctx->customer_id);
}


static ngx_int_t
ngx_chatvisor_visitor_set_cookie(ngx_http_request_t *r, const char *id)
{
    size_t      len;
    ngx_str_t   sig, value;
    ngx_str_t   path = ngx_string("/");

    len = ngx_strlen(id);

    if (ngx_chatvisor_sign(r, "visitor", (u_char *) id, len, &sig)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    value.data = ngx_pnalloc(r->pool, len + 1 + sig.len);
    if (value.data == NULL) {
        return NGX_ERROR;
    }

    value.len = ngx_sprintf(value.data, "%s.%V", id, &sig) - value.data;

    /* Path=/: pages (the edge's visibility rules) recognise the visitor */
    return ngx_chatvisor_set_cookie(r, NGX_CHATVISOR_VISITOR_COOKIE, &value,
                                    &path, NGX_CHATVISOR_VISITOR_AGE, 0);
}


ngx_int_t
ngx_chatvisor_visitor_handler(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (path->len == sizeof("events") - 1
        && ngx_strncmp(path->data, "events", path->len) == 0)
    {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_chatvisor_send_method_not_allowed(r, "GET, HEAD");
        }

        return ngx_chatvisor_visitor_events(r);
    }

    if ((path->len == sizeof("messages") - 1
         && ngx_strncmp(path->data, "messages", path->len) == 0)
        || (path->len == sizeof("typing") - 1
            && ngx_strncmp(path->data, "typing", path->len) == 0))
    {
        if (r->method != NGX_HTTP_POST) {
            return ngx_chatvisor_send_method_not_allowed(r, "POST");
        }

        if (ngx_chatvisor_same_origin(r) != NGX_OK) {
            return ngx_chatvisor_send_error(r, NGX_HTTP_FORBIDDEN,
                                            "forbidden",
                                            "cross-site requests are not "
                                            "allowed");
        }

        return ngx_chatvisor_read_json(r, path->data[0] == 'm'
                                          ? ngx_chatvisor_visitor_post
                                          : ngx_chatvisor_visitor_typing);
    }

    return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                    "no such visitor endpoint");
}


/* a string field: NULL when absent, error when of another type or long */

static ngx_int_t
ngx_chatvisor_string_field(ngx_http_request_t *r, cJSON *body,
    const char *name, size_t max, ngx_uint_t required, const char **out)
{
    u_char   msg[128];
    cJSON   *item;

    *out = NULL;
    item = cJSON_GetObjectItemCaseSensitive(body, name);

    if (item == NULL || cJSON_IsNull(item)) {
        if (!required) {
            return NGX_OK;
        }

        ngx_snprintf(msg, sizeof(msg) - 1, "\"%s\" is required%Z", name);

    } else if (!cJSON_IsString(item)) {
        ngx_snprintf(msg, sizeof(msg) - 1, "\"%s\" must be a string%Z", name);

    } else if (ngx_strlen(item->valuestring) > max) {
        ngx_snprintf(msg, sizeof(msg) - 1, "\"%s\" is too long%Z", name);

    } else {
        *out = item->valuestring;
        return NGX_OK;
    }

    return ngx_chatvisor_fail(r, NGX_HTTP_BAD_REQUEST, "invalid_request",
                              (char *) msg);
}


/* text, client_msg_id: checked here, used by visitor and agent posts */

ngx_int_t
ngx_chatvisor_message_fields(ngx_http_request_t *r, cJSON *body,
    const char **text, const char **client_msg_id)
{
    const char  *why;

    if (ngx_chatvisor_string_field(r, body, "text", 4 * CV_TEXT_MAX + 4, 1,
                                   text)
        != NGX_OK
        || ngx_chatvisor_string_field(r, body, "client_msg_id",
                                      CV_CLIENT_MSG_ID_MAX, 0, client_msg_id)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    why = cv_text_invalid(*text, ngx_strlen(*text));

    if (why) {
        return ngx_chatvisor_fail(r, NGX_HTTP_BAD_REQUEST, "invalid_request",
                                  why);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_chatvisor_visitor_post(ngx_http_request_t *r, cJSON *body)
{
    static const char  *allowed[] = { "text", "client_msg_id", "page_url",
                                      NULL };

    const char           *text, *cmid, *page_url;
    ngx_chatvisor_ctx_t  *ctx;

    if (ngx_chatvisor_check_fields(r, body, allowed) != NGX_OK) {
        return ngx_chatvisor_sent(r);
    }

    if (ngx_chatvisor_message_fields(r, body, &text, &cmid) != NGX_OK
        || ngx_chatvisor_string_field(r, body, "page_url", 2048, 0,
                                      &page_url)
           != NGX_OK)
    {
        return ngx_chatvisor_sent(r);
    }

    ctx = ngx_chatvisor_get_ctx(r);
    ctx->new_customer = (ngx_chatvisor_visitor_identify(r, ctx) != NGX_OK);

    return ngx_chatvisor_commit(r, ngx_chatvisor_visitor_post_run,
                                ngx_chatvisor_visitor_post_done);
}


/* a new conversation goes to an agent per chatvisor_routing */

static cv_status
ngx_chatvisor_route(ngx_http_request_t *r, cv_txn *t, const char *conv_id)
{
    char                        agent_id[CV_AGENT_ID_MAX + 1];
    int                         changed;
    cJSON                      *ids, *agent;
    cv_author                   who;
    cv_status                   st;
    ngx_chatvisor_srv_conf_t   *cscf;
    ngx_chatvisor_main_conf_t  *cmcf;

    cscf = ngx_http_get_module_srv_conf(r, ngx_chatvisor_module);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (cscf->routing == NGX_CHATVISOR_ROUTING_MANUAL) {
        return CV_OK;
    }

    ids = cJSON_CreateArray();
    ngx_chatvisor_presence_online(cmcf, ids);

    st = cv_route_pick(t, (cv_route_mode) cscf->routing, ids, agent_id);
    cJSON_Delete(ids);

    if (st == CV_NOT_FOUND) {
        return CV_OK;     /* nobody free: it waits unassigned */
    }

    if (st != CV_OK || cv_agent_get(t, agent_id, &agent) != CV_OK) {
        return st == CV_OK ? CV_ERROR : st;
    }

    who.type = "agent";
    who.id = agent_id;
    who.name = cJSON_GetStringValue(cJSON_GetObjectItem(agent, "name"));

    st = cv_conversation_assign(t, conv_id, &who, &changed);
    cJSON_Delete(agent);

    return st;
}


static cv_status
ngx_chatvisor_visitor_post_run(ngx_http_request_t *r, cv_txn *t)
{
    cJSON                *body;
    cv_author             author;
    cv_status             st;
    cv_message           *m;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_get_ctx(r);
    body = ctx->body;
    m = &ctx->message;

    if (ctx->new_customer) {
        st = cv_customer_create(t, ctx->customer_id);
        if (st != CV_OK) {
            return st;
        }
    }

    author.type = "customer";
    author.id = ctx->customer_id;
    author.name = NULL;

    st = cv_message_post(t, NULL, ctx->customer_id, &author,
                         cJSON_GetStringValue(cJSON_GetObjectItem(body,
                                                          "client_msg_id")),
                         cJSON_GetStringValue(cJSON_GetObjectItem(body,
                                                                  "text")),
                         cJSON_GetStringValue(cJSON_GetObjectItem(body,
                                                              "page_url")),
                         m);
    if (st != CV_OK || m->duplicate) {
        return st;
    }

    if (m->seq == 1) {
        st = ngx_chatvisor_route(r, t, m->conversation_id);
        if (st != CV_OK) {
            return st;
        }
    }

    ngx_chatvisor_notice_set(ctx, NGX_CHATVISOR_NOTICE_CHANGE,
                             ctx->customer_id, m->conversation_id);

    return CV_OK;
}


static ngx_int_t
ngx_chatvisor_visitor_post_done(ngx_http_request_t *r, cv_status st)
{
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_get_ctx(r);

    if (st != CV_OK) {
        if (st == CV_NOT_FOUND) {
            /* a signed cookie whose customer is gone (store replaced) */
            return ngx_chatvisor_send_error(r, NGX_HTTP_FORBIDDEN,
                                            "forbidden",
                                            "unknown visitor; reload the "
                                            "page");
        }

        return ngx_chatvisor_send_status(r, st);
    }

    if (ctx->new_customer
        && ngx_chatvisor_visitor_set_cookie(r, ctx->customer_id) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_chatvisor_send_json_copy(r, ctx->message.duplicate
                                           ? NGX_HTTP_OK : NGX_HTTP_CREATED,
                                        ctx->message.json, ctx->message.len);
}


static ngx_int_t
ngx_chatvisor_visitor_events(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_str_t             v;
    ngx_chatvisor_ctx_t  *ctx;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_chatvisor_get_ctx(r);

    if (ngx_chatvisor_arg_cursor(r, "after", &ctx->after) != NGX_OK) {
        return ngx_chatvisor_sent(r);
    }

    ctx->conversation_id[0] = '\0';
    if (ngx_chatvisor_arg(r, "conversation", &v) == NGX_OK) {
        if (v.len >= CV_ID_MAX) {
            return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                            "invalid_request",
                                            "\"conversation\" is not a "
                                            "conversation id");
        }

        ngx_memcpy(ctx->conversation_id, v.data, v.len);
        ctx->conversation_id[v.len] = '\0';
    }

    ngx_chatvisor_visitor_identify(r, ctx);

    rc = ngx_chatvisor_visitor_events_check(r, 0);
    if (rc != NGX_AGAIN) {
        return rc;
    }

    if (ngx_chatvisor_arg(r, "wait", &v) == NGX_OK
        && v.len == 1 && v.data[0] == '0')
    {
        return ngx_chatvisor_visitor_events_check(r, 1);
    }

    return ngx_chatvisor_poll_wait(r, ngx_chatvisor_visitor_events_check);
}


/*
 * The answer is put together around the stored events' JSON text: a woken
 * poll does not parse and print again what the writer printed.
 */

static ngx_int_t
ngx_chatvisor_visitor_events_check(ngx_http_request_t *r, ngx_uint_t final)
{
    char                        conv_id[CV_ID_MAX], *events;
    u_char                     *p;
    cJSON                      *ev, *a, *typing;
    cv_txn                     *t;
    size_t                      len, count;
    uint64_t                    after, cursor;
    ngx_str_t                   body;
    cv_status                   st;
    const char                 *status;
    cv_conv_state               cs;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    ctx = ngx_chatvisor_get_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (cmcf->store == NULL) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "unavailable",
                                        "the chat store is not available");
    }

    conv_id[0] = '\0';
    status = NULL;
    after = ctx->after;
    cursor = after;
    events = NULL;
    count = 0;
    len = 0;

    if (ctx->customer_id[0]) {
        st = cv_txn_begin(cmcf->store, 0, &t);
        if (st != CV_OK) {
            return ngx_chatvisor_send_status(r, st);
        }

        /*
         * The customer's latest conversation, open or just closed. The one
         * the client names will do when it is the customer's and open: a
         * customer has one open conversation at most, the latest.
         */
        if (ctx->conversation_id[0]
            && cv_conversation_state(t, ctx->conversation_id, &cs) == CV_OK
            && cs.open
            && ngx_strcmp(cs.customer_id, ctx->customer_id) == 0)
        {
            ngx_cpystrn((u_char *) conv_id, (u_char *) ctx->conversation_id,
                        CV_ID_MAX);
            status = "open";

        } else if (cv_customer_conversation(t, ctx->customer_id, conv_id)
                   == CV_OK
                   && cv_conversation_state(t, conv_id, &cs) == CV_OK)
        {
            status = cs.open ? "open" : "closed";

        } else {
            conv_id[0] = '\0';
        }

        if (conv_id[0]) {
            if (ctx->conversation_id[0]
                && ngx_strcmp(ctx->conversation_id, conv_id) != 0)
            {
                /* a new conversation since the client looked */
                after = 0;
            }

            st = cv_conversation_state_events_json(t, &cs, after, 200,
                                                   &events, &len, &count,
                                                   &cursor);
            if (st != CV_OK) {
                cv_txn_abort(t);
                return ngx_chatvisor_send_status(r, st);
            }
        }

        cv_txn_abort(t);
    }

    typing = NULL;

    if (count == 0 && ctx->has_typing
        && ngx_strcmp(ctx->typing.conversation_id, conv_id) == 0)
    {
        typing = cJSON_CreateArray();
        ev = cJSON_CreateObject();
        cJSON_AddItemToArray(typing, ev);
        cJSON_AddStringToObject(ev, "type", "typing");
        cJSON_AddNumberToObject(ev, "seq", (double) cursor);
        a = cJSON_AddObjectToObject(ev, "author");
        cJSON_AddStringToObject(a, "type", "agent");
        cJSON_AddStringToObject(a, "name", ctx->typing.name);
    }

    ctx->has_typing = 0;

    if (count == 0 && typing == NULL && !final) {
        free(events);
        return NGX_AGAIN;
    }

    if (typing) {
        free(events);
        events = cJSON_PrintUnformatted(typing);
        cJSON_Delete(typing);

        if (events == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        len = ngx_strlen(events);
    }

    body.data = ngx_pnalloc(r->pool, sizeof("{\"conversation_id\":\"\","
                                            "\"status\":\"\",\"events\":[],"
                                            "\"cursor\":}\n")
                                     + CV_ID_MAX + 16 + NGX_INT64_LEN
                                     + (events ? len : 0));
    if (body.data == NULL) {
        free(events);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* ids and statuses are our own ASCII tokens: nothing to escape */
    p = body.data;

    if (conv_id[0]) {
        p = ngx_sprintf(p, "{\"conversation_id\":\"%s\",\"status\":\"%s\",",
                        conv_id, status);

    } else {
        p = ngx_cpymem(p, "{\"conversation_id\":null,\"status\":null,",
                       sizeof("{\"conversation_id\":null,\"status\":null,")
                       - 1);
    }

    p = ngx_cpymem(p, "\"events\":", sizeof("\"events\":") - 1);
    p = events ? ngx_cpymem(p, events, len) : ngx_cpymem(p, "[]", 2);
    p = ngx_sprintf(p, ",\"cursor\":%uL}\n", cursor);

    body.len = p - body.data;

    free(events);

    return ngx_chatvisor_send_json_text(r, NGX_HTTP_OK, &body);
}


static ngx_int_t
ngx_chatvisor_visitor_typing(ngx_http_request_t *r, cJSON *body)
{
    static const char  *allowed[] = { "typing", NULL };

    char                        conv_id[CV_ID_MAX];
    cJSON                      *typing;
    cv_txn                     *t;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_notice_t      n;
    ngx_chatvisor_main_conf_t  *cmcf;

    if (ngx_chatvisor_check_fields(r, body, allowed) != NGX_OK) {
        return ngx_chatvisor_sent(r);
    }

    typing = cJSON_GetObjectItemCaseSensitive(body, "typing");
    if (typing && !cJSON_IsBool(typing)) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "\"typing\" must be true or false");
    }

    ctx = ngx_chatvisor_get_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if ((typing == NULL || cJSON_IsTrue(typing))
        && cmcf->store != NULL
        && ngx_chatvisor_visitor_identify(r, ctx) == NGX_OK
        && cv_txn_begin(cmcf->store, 0, &t) == CV_OK)
    {
        if (cv_customer_open_conversation(t, ctx->customer_id, conv_id)
            == CV_OK)
        {
            ngx_memzero(&n, sizeof(n));
            n.kind = NGX_CHATVISOR_NOTICE_TYPING;
            ngx_cpystrn((u_char *) n.customer_id, (u_char *) ctx->customer_id,
                        CV_ID_MAX);
            ngx_cpystrn((u_char *) n.conversation_id, (u_char *) conv_id,
                        CV_ID_MAX);
            ngx_chatvisor_notify(&n);
        }

        cv_txn_abort(t);
    }

    return ngx_chatvisor_send_json(r, NGX_HTTP_NO_CONTENT, NULL);
}
