/*
 * REST: conversations. Poll what changed since a cursor of the global
 * event log, read one and its messages, post as an agent or the system,
 * assign and close.
 */


#include "ngx_chatvisor_api.h"


/* a cursor goes out as an opaque string: clients do no arithmetic on it */

static cJSON *
ngx_chatvisor_api_page(cJSON *items, ngx_uint_t more, uint64_t cursor)
{
    u_char  buf[NGX_INT64_LEN + 1];

    ngx_sprintf(buf, "%uL%Z", cursor);

    return ngx_chatvisor_page(items, more ? (char *) buf : NULL);
}


/*
 * GET conversations?since=CURSOR&limit=N&status=open|closed: the page is
 * put together as text from the log entries' own (the hot read of an
 * integrator's polling: a cJSON tree of it, parsed and printed, was most
 * of its time). The bytes are what ngx_chatvisor_page() of the same
 * items gives: {"items":[...],"next_cursor":"N"}.
 */

/* bytes a page starts with room for: a conversation is about 240 */
#define NGX_CHATVISOR_API_CONV_ROOM  256
#define NGX_CHATVISOR_API_PAGE_ROOM  64

ngx_int_t
ngx_chatvisor_api_conversation_poll(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    static const char  *statuses[] = { "open", "closed", NULL };

    cv_txn                     *t;
    size_t                      limit;
    uint64_t                    since, next;
    cv_status                   st;
    ngx_uint_t                  status;
    cv_json_text                b;
    ngx_chatvisor_err_t         err;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    /* no status= leaves the index at the list's end, NULL: any status */
    if (ngx_chatvisor_arg_limit(r, NGX_CHATVISOR_API_LIMIT_DEFAULT,
                                NGX_CHATVISOR_API_LIMIT_MAX, &limit, &err)
        != NGX_OK
        || ngx_chatvisor_arg_cursor(r, "since", &since, &err) != NGX_OK
        || ngx_chatvisor_arg_choice(r, "status", statuses, 2, &status,
                                    "\"status\" must be open or closed", &err)
           != NGX_OK)
    {
        return ngx_chatvisor_send_err(r, &err);
    }

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    cv_jt_init(&b, NGX_CHATVISOR_API_PAGE_ROOM
                   + limit * NGX_CHATVISOR_API_CONV_ROOM);
    cv_jt_lit(&b, "{\"items\":");

    st = cv_conversations_since(t, since, limit, statuses[status], &b,
                                &next);
    cv_txn_abort(t);

    /* a cursor goes out as an opaque string: clients do no arithmetic on
     * it */
    cv_jt_lit(&b, ",\"next_cursor\":\"");
    cv_jt_u64(&b, next);
    cv_jt_lit(&b, "\"}");

    if (st == CV_OK && b.failed) {
        st = CV_ERROR;
    }

    if (st != CV_OK) {
        cv_jt_free(&b);
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    return ngx_chatvisor_send_json_built(r, NGX_HTTP_OK, &b);
}


/* GET conversations/ID: with its customer as GET customers/{id} answers
 * it (the email a visitor left in the pre-chat form) */

ngx_int_t
ngx_chatvisor_api_conversation_get(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    cJSON                      *conv, *cus;
    cv_txn                     *t;
    const char                 *customer_id;
    cv_status                   st;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    st = cv_conversation_get(t, ctx->param[0], &conv);

    customer_id = (st == CV_OK)
                  ? cJSON_GetStringValue(cJSON_GetObjectItem(conv,
                                                             "customer_id"))
                  : NULL;

    if (customer_id && cv_customer_get(t, customer_id, &cus) == CV_OK) {
        cJSON_AddItemToObject(conv, "customer", cus);
    }

    cv_txn_abort(t);

    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, conv);
}


/* GET conversations/ID/messages?after=SEQ|cursor=NEXT_CURSOR&limit=N */

ngx_int_t
ngx_chatvisor_api_messages(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    int                         more;
    cJSON                      *items, *last;
    cv_txn                     *t;
    size_t                      limit;
    uint64_t                    after, seq;
    cv_status                   st;
    ngx_chatvisor_err_t         err;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (ngx_chatvisor_arg_limit(r, NGX_CHATVISOR_API_LIMIT_DEFAULT,
                                NGX_CHATVISOR_API_LIMIT_MAX, &limit, &err)
        != NGX_OK
        || ngx_chatvisor_arg_cursor(r, "after", &after, &err) != NGX_OK
        || (after == 0
            && ngx_chatvisor_arg_cursor(r, "cursor", &after, &err) != NGX_OK))
    {
        return ngx_chatvisor_send_err(r, &err);
    }

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    /* an unknown conversation is a 404, not an empty page */
    st = cv_conversation_last_seq(t, ctx->param[0], &seq);

    items = cJSON_CreateArray();

    if (st == CV_OK) {
        st = cv_conversation_messages(t, ctx->param[0], after, limit, items,
                                      &more);
    }

    cv_txn_abort(t);

    if (st != CV_OK) {
        cJSON_Delete(items);
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    last = cJSON_GetArrayItem(items, cJSON_GetArraySize(items) - 1);

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK,
               ngx_chatvisor_api_page(items, more && last,
                                      (uint64_t) cJSON_GetNumberValue(
                                          cJSON_GetObjectItem(last, "seq"))));
}


/*
 * The author of a write: the agent named by "agent_id" (enabled), or the
 * system. *agent is the agent's record, for the caller to free.
 */

static cv_status
ngx_chatvisor_api_author(ngx_chatvisor_ctx_t *ctx, cv_txn *t,
    cv_author *who, cJSON **agent)
{
    cv_status    st;
    const char  *agent_id;

    who->type = "system";
    who->id = NULL;
    who->name = NULL;
    *agent = NULL;

    agent_id = ngx_chatvisor_body_string(ctx->body, "agent_id");
    if (agent_id == NULL) {
        return CV_OK;
    }

    st = cv_agent_get_enabled(t, agent_id, agent);

    if (st == CV_NOT_FOUND) {
        ctx->op.why = "no such agent";

    } else if (st == CV_CONFLICT) {
        ctx->op.why = "the agent is disabled";
    }

    if (st == CV_OK) {
        cv_agent_author(*agent, who);
    }

    return st;
}


typedef cv_status (*ngx_chatvisor_api_change_pt)(ngx_chatvisor_ctx_t *ctx,
    cv_txn *t, cv_author *who, cJSON *agent);

typedef struct {
    ngx_chatvisor_api_change_pt   change;
} ngx_chatvisor_api_write_t;


static cv_status ngx_chatvisor_api_post(ngx_chatvisor_ctx_t *ctx, cv_txn *t,
    cv_author *who, cJSON *agent);
static cv_status ngx_chatvisor_api_assign(ngx_chatvisor_ctx_t *ctx,
    cv_txn *t, cv_author *who, cJSON *agent);


/* a change by an agent or the system: who, the change, the answer */

static cv_status
ngx_chatvisor_api_change_run(ngx_http_request_t *r, cv_txn *t)
{
    cJSON                      *agent;
    cv_author                   who;
    cv_status                   st;
    cv_conv_state               cs;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_api_write_t  *w;

    ctx = ngx_chatvisor_ctx(r);
    w = ctx->data;

    st = cv_conversation_state(t, ctx->param[0], &cs);
    if (st != CV_OK) {
        return st;
    }

    st = ngx_chatvisor_api_author(ctx, t, &who, &agent);
    if (st != CV_OK) {
        return st;
    }

    st = w->change(ctx, t, &who, agent);
    cJSON_Delete(agent);

    if (st == CV_CONFLICT) {
        ctx->op.why = "the conversation is closed";
    }

    if (st != CV_OK) {
        return st;
    }

    return ngx_chatvisor_op_conversation(&ctx->op, t, ctx->param[0],
                                         cs.customer_id);
}


/*
 * Cluster mode: the change as a command (engine/cv_cluster.h) named op,
 * with the body's agent_id (null: unassign), client_msg_id and text
 */

static cJSON *
ngx_chatvisor_api_change_cmd(ngx_chatvisor_ctx_t *ctx, const char *op)
{
    cJSON        *cmd, *agent;
    const char   *v;

    cmd = cJSON_CreateObject();
    if (cmd == NULL) {
        return NULL;
    }

    cJSON_AddStringToObject(cmd, "op", op);
    cJSON_AddStringToObject(cmd, "conversation_id", ctx->param[0]);

    agent = cJSON_GetObjectItemCaseSensitive(ctx->body, "agent_id");
    if (cJSON_IsString(agent)) {
        cJSON_AddStringToObject(cmd, "agent_id", agent->valuestring);
    }

    v = ngx_chatvisor_body_string(ctx->body, "client_msg_id");
    if (v) {
        cJSON_AddStringToObject(cmd, "client_msg_id", v);
    }

    v = ngx_chatvisor_body_string(ctx->body, "text");
    if (v) {
        cJSON_AddStringToObject(cmd, "text", v);
    }

    return cmd;
}


/* done NULL: ngx_chatvisor_send_op */

static ngx_int_t
ngx_chatvisor_api_change_write(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, ngx_chatvisor_api_change_pt change,
    ngx_chatvisor_write_done_pt done)
{
    const char                 *op;
    ngx_chatvisor_api_write_t  *w;

    if (ngx_chatvisor_cluster_on(
            (ngx_chatvisor_main_conf_t *)
            ngx_http_get_module_main_conf(r, ngx_chatvisor_module)))
    {
        op = (change == ngx_chatvisor_api_post) ? "api.message"
             : (change == ngx_chatvisor_api_assign) ? "api.assign"
             : "api.close";

        return ngx_chatvisor_cluster_write(r,
                                      ngx_chatvisor_api_change_cmd(ctx, op),
                                      done);
    }

    w = ngx_chatvisor_ctx_data(ctx, sizeof(ngx_chatvisor_api_write_t));
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->change = change;

    return ngx_chatvisor_write(r, ngx_chatvisor_api_change_run, done);
}


static cv_status
ngx_chatvisor_api_post(ngx_chatvisor_ctx_t *ctx, cv_txn *t, cv_author *who,
    cJSON *agent)
{
    cv_status  st;

    st = cv_message_post(t, ctx->param[0], NULL, who,
                         ngx_chatvisor_body_string(ctx->body,
                                                   "client_msg_id"),
                         ngx_chatvisor_body_string(ctx->body, "text"),
                         NULL, &ctx->op.message);

    if (st == CV_OK && !ctx->op.message.duplicate) {
        ctx->op.author = (ngx_strcmp(who->type, "agent") == 0) ? "agent"
                                                               : "system";
    }

    return st;
}


/* POST conversations/ID/messages {"text", "agent_id", "client_msg_id"} */

ngx_int_t
ngx_chatvisor_api_message_post(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    const char           *text, *cmid;
    ngx_chatvisor_err_t   err;

    if (ngx_chatvisor_message_fields(ctx->body, &text, &cmid, &err)
        != NGX_OK
        || ngx_chatvisor_field_agent_id(ctx->body, "agent_id", 0, &err)
           != NGX_OK)
    {
        return ngx_chatvisor_send_err(r, &err);
    }

    return ngx_chatvisor_api_change_write(r, ctx, ngx_chatvisor_api_post,
                                          NULL);
}


static cv_status
ngx_chatvisor_api_assign(ngx_chatvisor_ctx_t *ctx, cv_txn *t, cv_author *who,
    cJSON *agent)
{
    int  changed;

    return cv_conversation_assign(t, ctx->param[0], agent ? who : NULL,
                                  &changed);
}


/* POST conversations/ID/assign {"agent_id": ID | null} */

ngx_int_t
ngx_chatvisor_api_conversation_assign(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    ngx_chatvisor_err_t  err;

    if (cJSON_GetObjectItemCaseSensitive(ctx->body, "agent_id") == NULL) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "\"agent_id\" is required (null "
                                        "unassigns)");
    }

    if (ngx_chatvisor_field_agent_id(ctx->body, "agent_id", 1, &err)
        != NGX_OK)
    {
        return ngx_chatvisor_send_err(r, &err);
    }

    return ngx_chatvisor_api_change_write(r, ctx, ngx_chatvisor_api_assign,
                                          NULL);
}


static cv_status
ngx_chatvisor_api_close(ngx_chatvisor_ctx_t *ctx, cv_txn *t, cv_author *who,
    cJSON *agent)
{
    int        changed;
    cv_status  st;

    st = cv_conversation_close(t, ctx->param[0], who, &changed);

    ctx->op.closed = (st == CV_OK && changed);

    return st;
}


/* a closed conversation's co-browsing ends at once, not at a sweep */

static ngx_int_t
ngx_chatvisor_api_close_done(ngx_http_request_t *r, cv_status st)
{
    ngx_chatvisor_main_conf_t  *cmcf;

    if (st == CV_OK) {
        cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);
        ngx_chatvisor_cobrowse_closed(cmcf, ngx_chatvisor_ctx(r)->param[0]);
    }

    return ngx_chatvisor_send_op(r, st);
}


ngx_int_t
ngx_chatvisor_api_conversation_close(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    return ngx_chatvisor_api_change_write(r, ctx, ngx_chatvisor_api_close,
                                          ngx_chatvisor_api_close_done);
}
