/*
 * The agent's side of co-browsing (PREFIX v1/agent/conversations/ID/
 * cobrowse...): asking to see the visitor's page, the view's long-poll
 * of the recorder's events, the agent's pointer, and stopping. Agents may
 * see every conversation, as in the chat; a session is its agent's alone,
 * since the visitor said yes to that agent.
 */


#include "ngx_chatvisor_cobrowse.h"


static ngx_int_t ngx_chatvisor_cobrowse_start_agent(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
static ngx_int_t ngx_chatvisor_cobrowse_view_events(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
static ngx_int_t ngx_chatvisor_cobrowse_pointer_post(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
static ngx_int_t ngx_chatvisor_cobrowse_agent_stop(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);


static const char  *ngx_chatvisor_no_fields[] = { NULL };
static const char  *ngx_chatvisor_pointer_fields[] = {
    "x", "y", "click", NULL
};


ngx_chatvisor_route_t  ngx_chatvisor_cobrowse_agent_routes[] = {

    { NGX_HTTP_POST, ngx_string("conversations/{conversation}/cobrowse"),
      NGX_CHATVISOR_CALLER_AGENT, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_no_fields, ngx_chatvisor_cobrowse_start_agent },

    { NGX_CHATVISOR_GET,
      ngx_string("conversations/{conversation}/cobrowse/events"),
      NGX_CHATVISOR_CALLER_AGENT, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_cobrowse_view_events },

    { NGX_HTTP_POST,
      ngx_string("conversations/{conversation}/cobrowse/pointer"),
      NGX_CHATVISOR_CALLER_AGENT, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_pointer_fields, ngx_chatvisor_cobrowse_pointer_post },

    { NGX_HTTP_POST, ngx_string("conversations/{conversation}/cobrowse/stop"),
      NGX_CHATVISOR_CALLER_AGENT, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_no_fields, ngx_chatvisor_cobrowse_agent_stop },

    { 0, ngx_null_string, 0, 0, NULL, NULL }
};


/* a view's long-poll */
typedef struct {
    uint64_t                      after;
    ngx_uint_t                    state;        /* when it started */
    char                          customer_id[CV_ID_MAX];
} ngx_chatvisor_cobrowse_poll_t;


static ngx_int_t ngx_chatvisor_cobrowse_view_check(ngx_http_request_t *r,
    ngx_uint_t final);


/*
 * The conversation of the path: 404 when there is none. A closed one
 * ends its session (if the close did not already); the session is
 * settled. NGX_OK, or the answer's rc in *rc (NGX_ERROR).
 */

static ngx_int_t
ngx_chatvisor_cobrowse_agent_conversation(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, cv_conv_state *cs, ngx_int_t *rc)
{
    cv_txn                     *t;
    cv_status                   st;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    st = cv_txn_begin(cmcf->store, 0, &t);

    if (st == CV_OK) {
        st = cv_conversation_state(t, ctx->param[0], cs);
        cv_txn_abort(t);
    }

    if (st != CV_OK) {
        *rc = ngx_chatvisor_send_status(r, st, st == CV_NOT_FOUND
                                               ? "no such conversation"
                                               : NULL);
        return NGX_ERROR;
    }

    if (!cs->open) {
        ngx_chatvisor_cobrowse_closed(cmcf, ctx->param[0]);
    }

    ngx_chatvisor_cobrowse_settle(cmcf, ctx->param[0]);

    return NGX_OK;
}


static ngx_int_t
ngx_chatvisor_cobrowse_send_agent_view(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, ngx_uint_t status,
    ngx_chatvisor_cobrowse_view_t *view)
{
    cJSON  *out;

    out = ngx_chatvisor_cobrowse_json(r, view, 1);
    cJSON_AddStringToObject(out, "conversation_id", ctx->param[0]);

    return ngx_chatvisor_send_json(r, status, out);
}


/* POST conversations/ID/cobrowse: the visitor is asked */

static ngx_int_t
ngx_chatvisor_cobrowse_start_agent(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    ngx_int_t                       rc;
    ngx_uint_t                      created;
    cv_conv_state                   cs;
    ngx_chatvisor_cobrowse_rc_e     crc;
    ngx_chatvisor_cobrowse_view_t   view;
    ngx_chatvisor_main_conf_t      *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (ngx_chatvisor_cobrowse_agent_conversation(r, ctx, &cs, &rc)
        != NGX_OK)
    {
        return rc;
    }

    if (ngx_chatvisor_cobrowse_enabled(r) != NGX_OK) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_FORBIDDEN,
                                        "cobrowse_disabled",
                                        "co-browsing is not offered: "
                                        "chatvisor_cobrowse is off");
    }

    if (!cs.open) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_CONFLICT,
                                        "conversation_closed",
                                        "the conversation is closed");
    }

    crc = ngx_chatvisor_cobrowse_start(cmcf, ctx->param[0], cs.customer_id,
                                       ctx->caller.agent_id,
                                       ctx->caller.agent_name, &created,
                                       &view);

    if (crc != NGX_CHATVISOR_COBROWSE_OK) {
        return ngx_chatvisor_cobrowse_refuse(r, crc);
    }

    return ngx_chatvisor_cobrowse_send_agent_view(r, ctx,
                                                  created ? NGX_HTTP_CREATED
                                                          : NGX_HTTP_OK,
                                                  &view);
}


/* POST conversations/ID/cobrowse/stop */

static ngx_int_t
ngx_chatvisor_cobrowse_agent_stop(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    ngx_int_t                       rc;
    cv_conv_state                   cs;
    ngx_chatvisor_cobrowse_rc_e     crc;
    ngx_chatvisor_cobrowse_view_t   view;
    ngx_chatvisor_main_conf_t      *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (ngx_chatvisor_cobrowse_agent_conversation(r, ctx, &cs, &rc)
        != NGX_OK)
    {
        return rc;
    }

    if (cmcf->cobrowse == NULL) {
        return ngx_chatvisor_cobrowse_refuse(r,
                                        NGX_CHATVISOR_COBROWSE_NO_SESSION);
    }

    crc = ngx_chatvisor_cobrowse_end(cmcf, ctx->param[0],
                                     ctx->caller.agent_id,
                                     NGX_CHATVISOR_COBROWSE_BY_AGENT, &view);

    if (crc != NGX_CHATVISOR_COBROWSE_OK) {
        return ngx_chatvisor_cobrowse_refuse(r, crc);
    }

    return ngx_chatvisor_cobrowse_send_agent_view(r, ctx, NGX_HTTP_OK,
                                                  &view);
}


/* a page coordinate: a number from 0 to NGX_CHATVISOR_COBROWSE_COORD_MAX */

static ngx_int_t
ngx_chatvisor_cobrowse_coord(cJSON *body, const char *name, int32_t *out,
    ngx_chatvisor_err_t *err)
{
    cJSON  *item;

    item = cJSON_GetObjectItemCaseSensitive(body, name);

    if (!cJSON_IsNumber(item) || !(item->valuedouble >= 0)
        || item->valuedouble > NGX_CHATVISOR_COBROWSE_COORD_MAX)
    {
        return ngx_chatvisor_invalidf(err, "\"%s\" must be a number from 0 "
                                      "to %d", name,
                                      NGX_CHATVISOR_COBROWSE_COORD_MAX);
    }

    *out = (int32_t) (item->valuedouble + 0.5);

    return NGX_OK;
}


/* POST conversations/ID/cobrowse/pointer {"x", "y", "click"} */

static ngx_int_t
ngx_chatvisor_cobrowse_pointer_post(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    int32_t                       x, y;
    ngx_int_t                     rc;
    ngx_uint_t                    click;
    cv_conv_state                 cs;
    ngx_chatvisor_err_t           err;
    ngx_chatvisor_cobrowse_rc_e   crc;
    ngx_chatvisor_main_conf_t    *cmcf;

    if (ngx_chatvisor_cobrowse_coord(ctx->body, "x", &x, &err) != NGX_OK
        || ngx_chatvisor_cobrowse_coord(ctx->body, "y", &y, &err) != NGX_OK
        || ngx_chatvisor_field_flag(ctx->body, "click", &click, &err)
           != NGX_OK)
    {
        return ngx_chatvisor_send_err(r, &err);
    }

    /* a move, unless it says it is a click */
    if (cJSON_GetObjectItemCaseSensitive(ctx->body, "click") == NULL) {
        click = 0;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (ngx_chatvisor_cobrowse_agent_conversation(r, ctx, &cs, &rc)
        != NGX_OK)
    {
        return rc;
    }

    if (cmcf->cobrowse == NULL) {
        return ngx_chatvisor_cobrowse_refuse(r,
                                        NGX_CHATVISOR_COBROWSE_NO_SESSION);
    }

    crc = ngx_chatvisor_cobrowse_pointer(cmcf, ctx->param[0],
                                         ctx->caller.agent_id, x, y, click);

    if (crc != NGX_CHATVISOR_COBROWSE_OK) {
        return ngx_chatvisor_cobrowse_refuse(r, crc);
    }

    return ngx_chatvisor_send_json(r, NGX_HTTP_NO_CONTENT, NULL);
}


/* ------------------------------------------------------ the view's poll */

/* {"state", "generation", "reason", "reset", "events": [...], "cursor"}
 * around the chunks' text, which is never parsed again */

static ngx_int_t
ngx_chatvisor_cobrowse_view_send(ngx_http_request_t *r,
    ngx_chatvisor_cobrowse_read_t *read)
{
    u_char      *p;
    ngx_str_t    body;
    const char  *reason;

    body.data = ngx_pnalloc(r->pool,
                            sizeof("{\"state\":\"requested\",\"generation\":,"
                                   "\"reason\":\"max_duration\","
                                   "\"reset\":false,\"events\":[],"
                                   "\"cursor\":}\n")
                            + 2 * NGX_INT64_LEN + read->events.len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* states and reasons are our own ASCII words: nothing to escape */
    p = ngx_sprintf(body.data, "{\"state\":\"%s\",\"generation\":%uL,",
                    ngx_chatvisor_cobrowse_state_name(read->view.state),
                    read->view.generation);

    reason = ngx_chatvisor_cobrowse_reason_name(read->view.reason);

    if (reason) {
        p = ngx_sprintf(p, "\"reason\":\"%s\",", reason);

    } else {
        p = ngx_cpymem(p, "\"reason\":null,", sizeof("\"reason\":null,") - 1);
    }

    p = ngx_sprintf(p, "\"reset\":%s,\"events\":[",
                    read->reset ? "true" : "false");
    p = ngx_cpymem(p, read->events.data, read->events.len);
    p = ngx_sprintf(p, "],\"cursor\":%uL}\n", read->cursor);

    body.len = p - body.data;

    return ngx_chatvisor_send_json_text(r, NGX_HTTP_OK, &body);
}


static ngx_uint_t
ngx_chatvisor_cobrowse_news(ngx_chatvisor_cobrowse_read_t *read,
    ngx_uint_t state)
{
    /* an end is answered at once, every time: the view stops polling */
    return read->view.state != state
           || read->view.state == NGX_CHATVISOR_COBROWSE_ENDED
           || read->view.state == NGX_CHATVISOR_COBROWSE_DECLINED
           || read->events.len || read->reset;
}


/* GET conversations/ID/cobrowse/events?after=SEQ */

static ngx_int_t
ngx_chatvisor_cobrowse_view_events(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    ngx_int_t                        rc;
    ngx_str_t                        v;
    cv_conv_state                    cs;
    ngx_chatvisor_err_t              err;
    ngx_chatvisor_cobrowse_rc_e      crc;
    ngx_chatvisor_cobrowse_read_t    read;
    ngx_chatvisor_cobrowse_poll_t   *poll;
    ngx_chatvisor_loc_conf_t        *clcf;
    ngx_chatvisor_main_conf_t       *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    poll = ngx_chatvisor_ctx_data(ctx, sizeof(ngx_chatvisor_cobrowse_poll_t));
    if (poll == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_chatvisor_arg_cursor(r, "after", &poll->after, &err) != NGX_OK) {
        return ngx_chatvisor_send_err(r, &err);
    }

    if (ngx_chatvisor_cobrowse_agent_conversation(r, ctx, &cs, &rc)
        != NGX_OK)
    {
        return rc;
    }

    if (cmcf->cobrowse == NULL) {
        return ngx_chatvisor_cobrowse_refuse(r,
                                        NGX_CHATVISOR_COBROWSE_NO_SESSION);
    }

    ngx_cpystrn((u_char *) poll->customer_id, (u_char *) cs.customer_id,
                sizeof(poll->customer_id));

    /* a view that opens wants the page as it is now */
    if (poll->after == 0) {
        ngx_chatvisor_cobrowse_want_snapshot(cmcf, ctx->param[0],
                                             ctx->caller.agent_id);
    }

    crc = ngx_chatvisor_cobrowse_read(cmcf, ctx->param[0],
                                      ctx->caller.agent_id, poll->after,
                                      r->pool, &read);

    if (crc != NGX_CHATVISOR_COBROWSE_OK) {
        return ngx_chatvisor_cobrowse_refuse(r, crc);
    }

    poll->state = read.view.state;

    if (ngx_chatvisor_cobrowse_news(&read, poll->state)
        || (ngx_chatvisor_arg(r, "wait", &v) == NGX_OK
            && ngx_chatvisor_str_is(&v, "0")))
    {
        return ngx_chatvisor_cobrowse_view_send(r, &read);
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_chatvisor_module);

    return ngx_chatvisor_poll_wait_cobrowse(r, &ctx->wait, poll->customer_id,
                                            ctx->param[0],
                                            ctx->caller.agent_id,
                                            clcf->poll_timeout,
                                            ngx_chatvisor_cobrowse_view_check);
}


static ngx_int_t
ngx_chatvisor_cobrowse_view_check(ngx_http_request_t *r, ngx_uint_t final)
{
    ngx_chatvisor_ctx_t            *ctx;
    ngx_chatvisor_cobrowse_rc_e     crc;
    ngx_chatvisor_cobrowse_read_t   read;
    ngx_chatvisor_cobrowse_poll_t  *poll;
    ngx_chatvisor_main_conf_t      *cmcf;

    ctx = ngx_chatvisor_ctx(r);
    poll = ctx->data;
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    crc = ngx_chatvisor_cobrowse_read(cmcf, ctx->param[0],
                                      ctx->caller.agent_id, poll->after,
                                      r->pool, &read);

    if (crc == NGX_CHATVISOR_COBROWSE_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crc != NGX_CHATVISOR_COBROWSE_OK) {
        /* gone meanwhile (another agent's since): nothing to view */
        ngx_memzero(&read, sizeof(ngx_chatvisor_cobrowse_read_t));
        read.cursor = poll->after;

        return ngx_chatvisor_cobrowse_view_send(r, &read);
    }

    if (!final && !ngx_chatvisor_cobrowse_news(&read, poll->state)) {
        return NGX_AGAIN;
    }

    return ngx_chatvisor_cobrowse_view_send(r, &read);
}
