/*
 * The console's conversations: the lists, one conversation with its
 * history, and what an agent does in one (reply, assign, close).
 */


#include "ngx_chatvisor_chat.h"


void
ngx_chatvisor_conversation_customer(cv_txn *t, cJSON *conv)
{
    cJSON  *cus;

    if (cv_customer_get(t, cJSON_GetStringValue(
                               cJSON_GetObjectItem(conv, "customer_id")),
                        &cus)
        == CV_OK)
    {
        cJSON_AddItemToObject(conv, "customer", cus);
    }
}


cJSON *
ngx_chatvisor_conversation_view(cv_txn *t, cJSON *conv)
{
    cJSON       *last;
    const char  *id;

    id = cJSON_GetStringValue(cJSON_GetObjectItem(conv, "id"));

    ngx_chatvisor_conversation_customer(t, conv);

    /* back from its last event: one entry when that is a message */
    last = NULL;

    if (id && cv_conversation_last_message(t, id,
                                           NGX_CHATVISOR_LAST_MESSAGE_WINDOW,
                                           &last)
              != CV_OK)
    {
        cJSON_Delete(last);
        last = NULL;
    }

    cJSON_AddItemToObject(conv, "last_message",
                          last ? last : cJSON_CreateNull());

    return conv;
}


/* GET conversations?filter=unassigned|mine|all&status=open|closed|all
 *     [&cursor=NEXT_CURSOR][&limit=N]: newest first, a page at a time */

ngx_int_t
ngx_chatvisor_agent_list(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    enum { UNASSIGNED = 0, MINE, ALL_AGENTS };
    enum { OPEN = 0, CLOSED, ALL_STATUSES };

    static const char  *filters[] = { "unassigned", "mine", "all", NULL };
    static const char  *statuses[] = { "open", "closed", "all", NULL };

    char                        next_text[NGX_INT64_LEN + 1];
    cJSON                      *items, *conv;
    size_t                      limit;
    cv_txn                     *t;
    uint64_t                    before, next;
    cv_status                   st;
    ngx_uint_t                  filter, status;
    const char                 *assigned, *stat;
    ngx_chatvisor_err_t         err;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (ngx_chatvisor_arg_choice(r, "filter", filters, ALL_AGENTS, &filter,
                                 "\"filter\" must be unassigned, mine or all",
                                 &err)
        != NGX_OK
        || ngx_chatvisor_arg_choice(r, "status", statuses, OPEN, &status,
                                    "\"status\" must be open, closed or all",
                                    &err)
           != NGX_OK
        || ngx_chatvisor_arg_cursor(r, "cursor", &before, &err) != NGX_OK
        || ngx_chatvisor_arg_limit(r, NGX_CHATVISOR_CONSOLE_LIST_MAX,
                                   NGX_CHATVISOR_CONSOLE_LIST_MAX, &limit,
                                   &err)
           != NGX_OK)
    {
        return ngx_chatvisor_send_err(r, &err);
    }

    /* "" for assigned means unassigned, NULL any */
    assigned = (filter == UNASSIGNED) ? ""
               : (filter == MINE) ? ctx->caller.agent_id : NULL;
    stat = (status == ALL_STATUSES) ? NULL : statuses[status];

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    items = cJSON_CreateArray();
    st = cv_conversation_page(t, stat, assigned, before, limit, items, &next);

    cJSON_ArrayForEach(conv, items) {
        ngx_chatvisor_conversation_view(t, conv);
    }

    cv_txn_abort(t);

    if (st != CV_OK) {
        cJSON_Delete(items);
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    if (next) {
        *ngx_sprintf((u_char *) next_text, "%uL", next) = '\0';
    }

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK,
                                   ngx_chatvisor_page(items,
                                                      next ? next_text : NULL));
}


ngx_int_t
ngx_chatvisor_agent_conversation(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    cJSON                      *conv;
    cv_txn                     *t;
    cv_status                   st;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    st = cv_conversation_get(t, ctx->param[0], &conv);
    if (st == CV_OK) {
        conv = ngx_chatvisor_conversation_view(t, conv);
    }

    cv_txn_abort(t);

    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, conv);
}


/* GET conversations/ID/events?after=SEQ */

ngx_int_t
ngx_chatvisor_agent_history(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    cJSON                      *events, *out;
    cv_txn                     *t;
    uint64_t                    after, cursor;
    cv_status                   st;
    ngx_chatvisor_err_t         err;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (ngx_chatvisor_arg_cursor(r, "after", &after, &err) != NGX_OK) {
        return ngx_chatvisor_send_err(r, &err);
    }

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    /* an unknown conversation is a 404, not an empty history */
    st = cv_conversation_last_seq(t, ctx->param[0], &cursor);

    events = cJSON_CreateArray();

    if (st == CV_OK) {
        st = cv_conversation_events(t, ctx->param[0], after,
                                    NGX_CHATVISOR_HISTORY_MAX, events,
                                    &cursor);
    }

    cv_txn_abort(t);

    if (st != CV_OK) {
        cJSON_Delete(events);
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "events", events);
    cJSON_AddNumberToObject(out, "cursor", (double) cursor);

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, out);
}


/* the agent of the request as an author */

static void
ngx_chatvisor_agent_me(ngx_chatvisor_ctx_t *ctx, cv_author *me)
{
    me->type = "agent";
    me->id = ctx->caller.agent_id;
    me->name = ctx->caller.agent_name;
}


static cv_status
ngx_chatvisor_agent_reply_run(ngx_http_request_t *r, cv_txn *t)
{
    int                   changed;
    cv_author             me;
    cv_status             st;
    cv_conv_state         cs;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);
    ngx_chatvisor_agent_me(ctx, &me);

    st = cv_conversation_state(t, ctx->param[0], &cs);

    /* replying to an unassigned conversation takes it */
    if (st == CV_OK && cs.open && !cs.assigned) {
        st = cv_conversation_assign(t, ctx->param[0], &me, &changed);
    }

    if (st == CV_OK) {
        st = cv_message_post(t, ctx->param[0], NULL, &me,
                             ngx_chatvisor_body_string(ctx->body,
                                                       "client_msg_id"),
                             ngx_chatvisor_body_string(ctx->body, "text"),
                             NULL, &ctx->op.message);
    }

    if (st != CV_OK) {
        return st;
    }

    if (!ctx->op.message.duplicate) {
        ctx->op.author = "agent";
    }

    return ngx_chatvisor_op_conversation(&ctx->op, t, ctx->param[0],
                                         cs.customer_id);
}


/*
 * Cluster mode: the console's write as a command (engine/cv_cluster.h):
 * op, the conversation and the agent; to: whom an assign is for (NULL:
 * oneself)
 */

static cJSON *
ngx_chatvisor_agent_cmd(ngx_chatvisor_ctx_t *ctx, const char *op,
    const char *to)
{
    cJSON  *cmd;

    cmd = cJSON_CreateObject();
    if (cmd == NULL) {
        return NULL;
    }

    cJSON_AddStringToObject(cmd, "op", op);
    cJSON_AddStringToObject(cmd, "conversation_id", ctx->param[0]);
    cJSON_AddStringToObject(cmd, "agent_id", ctx->caller.agent_id);
    cJSON_AddStringToObject(cmd, "agent_name", ctx->caller.agent_name);

    if (to) {
        cJSON_AddStringToObject(cmd, "to", to);
    }

    return cmd;
}


static cJSON *
ngx_chatvisor_agent_reply_cmd(ngx_chatvisor_ctx_t *ctx, const char *cmid,
    const char *text)
{
    cJSON  *cmd;

    cmd = ngx_chatvisor_agent_cmd(ctx, "agent.reply", NULL);
    if (cmd == NULL) {
        return NULL;
    }

    if (cmid) {
        cJSON_AddStringToObject(cmd, "client_msg_id", cmid);
    }

    cJSON_AddStringToObject(cmd, "text", text);

    return cmd;
}


ngx_int_t
ngx_chatvisor_agent_reply(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    const char           *text, *cmid;
    ngx_chatvisor_err_t   err;

    if (ngx_chatvisor_message_fields(ctx->body, &text, &cmid, &err)
        != NGX_OK)
    {
        return ngx_chatvisor_send_err(r, &err);
    }

    if (ngx_chatvisor_cluster_on(
            (ngx_chatvisor_main_conf_t *)
            ngx_http_get_module_main_conf(r, ngx_chatvisor_module)))
    {
        return ngx_chatvisor_cluster_write(r,
                                     ngx_chatvisor_agent_reply_cmd(ctx, cmid,
                                                                   text),
                                     NULL);
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_agent_reply_run, NULL);
}


/* to the agent named, or to oneself */

static cv_status
ngx_chatvisor_agent_assign_run(ngx_http_request_t *r, cv_txn *t)
{
    int                   changed;
    cJSON                *target;
    cv_author             who;
    cv_status             st;
    const char           *id;
    cv_conv_state         cs;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);
    target = NULL;
    ngx_chatvisor_agent_me(ctx, &who);

    st = cv_conversation_state(t, ctx->param[0], &cs);
    if (st != CV_OK) {
        return st;
    }

    id = ngx_chatvisor_body_string(ctx->body, "agent_id");

    if (id && ngx_strcmp(id, ctx->caller.agent_id) != 0) {
        st = cv_agent_get_enabled(t, id, &target);
        if (st != CV_OK) {
            return st;
        }

        cv_agent_author(target, &who);
    }

    st = cv_conversation_assign(t, ctx->param[0], &who, &changed);

    if (st == CV_OK) {
        st = ngx_chatvisor_op_conversation(&ctx->op, t, ctx->param[0],
                                           cs.customer_id);
    }

    cJSON_Delete(target);

    return st;
}


ngx_int_t
ngx_chatvisor_agent_assign(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    ngx_chatvisor_err_t  err;

    if (ngx_chatvisor_field_agent_id(ctx->body, "agent_id", 1, &err)
        != NGX_OK)
    {
        return ngx_chatvisor_send_err(r, &err);
    }

    if (ngx_chatvisor_cluster_on(
            (ngx_chatvisor_main_conf_t *)
            ngx_http_get_module_main_conf(r, ngx_chatvisor_module)))
    {
        return ngx_chatvisor_cluster_write(r,
                          ngx_chatvisor_agent_cmd(ctx, "agent.assign",
                                 ngx_chatvisor_body_string(ctx->body,
                                                           "agent_id")),
                          NULL);
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_agent_assign_run, NULL);
}


static cv_status
ngx_chatvisor_agent_close_run(ngx_http_request_t *r, cv_txn *t)
{
    int                   changed;
    cv_author             me;
    cv_status             st;
    cv_conv_state         cs;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);
    ngx_chatvisor_agent_me(ctx, &me);

    st = cv_conversation_state(t, ctx->param[0], &cs);

    if (st == CV_OK) {
        st = cv_conversation_close(t, ctx->param[0], &me, &changed);
    }

    if (st != CV_OK) {
        return st;
    }

    ctx->op.closed = (changed != 0);

    return ngx_chatvisor_op_conversation(&ctx->op, t, ctx->param[0],
                                         cs.customer_id);
}


/* a closed conversation's co-browsing ends at once, not at a sweep */

static ngx_int_t
ngx_chatvisor_agent_close_done(ngx_http_request_t *r, cv_status st)
{
    ngx_chatvisor_main_conf_t  *cmcf;

    if (st == CV_OK) {
        cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);
        ngx_chatvisor_cobrowse_closed(cmcf, ngx_chatvisor_ctx(r)->param[0]);
    }

    return ngx_chatvisor_send_op(r, st);
}


ngx_int_t
ngx_chatvisor_agent_close(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    if (ngx_chatvisor_cluster_on(
            (ngx_chatvisor_main_conf_t *)
            ngx_http_get_module_main_conf(r, ngx_chatvisor_module)))
    {
        return ngx_chatvisor_cluster_write(r,
                                ngx_chatvisor_agent_cmd(ctx, "agent.close",
                                                        NULL),
                                ngx_chatvisor_agent_close_done);
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_agent_close_run,
                               ngx_chatvisor_agent_close_done);
}
