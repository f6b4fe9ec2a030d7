/*
 * The console's long-poll over the global event log: every change after a
 * cursor, each with its conversation as it is now, or a visitor typing.
 * Polling is what keeps an agent online.
 */


#include "ngx_chatvisor_chat.h"


typedef struct {
    uint64_t                      after;
} ngx_chatvisor_console_poll_t;


static ngx_int_t ngx_chatvisor_agent_events_check(ngx_http_request_t *r,
    ngx_uint_t final);


static void
ngx_chatvisor_agent_seen(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    ngx_chatvisor_loc_conf_t   *clcf;
    ngx_chatvisor_main_conf_t  *cmcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_chatvisor_module);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    ngx_chatvisor_presence_seen(cmcf, ctx->caller.agent_id,
                                clcf->poll_timeout
                                + NGX_CHATVISOR_PRESENCE_GRACE);
}


ngx_int_t
ngx_chatvisor_agent_events(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    ngx_int_t                      rc;
    ngx_chatvisor_err_t            err;
    ngx_chatvisor_loc_conf_t      *clcf;
    ngx_chatvisor_console_poll_t  *poll;

    poll = ngx_chatvisor_ctx_data(ctx, sizeof(ngx_chatvisor_console_poll_t));
    if (poll == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_chatvisor_arg_cursor(r, "after", &poll->after, &err) != NGX_OK) {
        return ngx_chatvisor_send_err(r, &err);
    }

    ngx_chatvisor_agent_seen(r, ctx);

    rc = ngx_chatvisor_agent_events_check(r, 0);
    if (rc != NGX_AGAIN) {
        return rc;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_chatvisor_module);

    return ngx_chatvisor_poll_wait(r, &ctx->wait, NULL, clcf->poll_timeout,
                                   ngx_chatvisor_agent_events_check);
}


/* a log entry as the console takes it: the message of a message event
 * rather than the event, and the conversation as it is now */

static void
ngx_chatvisor_agent_entry(cv_txn *t, cJSON *ev)
{
    cJSON       *event, *msg, *conv;
    const char  *conv_id;

    conv_id = cJSON_GetStringValue(cJSON_GetObjectItem(ev,
                                                       "conversation_id"));

    event = cJSON_DetachItemFromObjectCaseSensitive(ev, "event");
    msg = cJSON_DetachItemFromObjectCaseSensitive(event, "message");
    cJSON_Delete(event);

    if (msg) {
        cJSON_AddItemToObject(ev, "message", msg);
    }

    if (conv_id && cv_conversation_get(t, conv_id, &conv) == CV_OK) {
        cJSON_DeleteItemFromObjectCaseSensitive(ev, "conversation");
        cJSON_AddItemToObject(ev, "conversation",
                              ngx_chatvisor_conversation_view(t, conv));
    }
}


static ngx_int_t
ngx_chatvisor_agent_events_check(ngx_http_request_t *r, ngx_uint_t final)
{
    cJSON                         *items, *ev, *out;
    cv_txn                        *t;
    uint64_t                       cursor;
    cv_status                      st;
    ngx_chatvisor_ctx_t           *ctx;
    ngx_chatvisor_notice_t        *n;
    ngx_chatvisor_main_conf_t     *cmcf;
    ngx_chatvisor_console_poll_t  *poll;

    ctx = ngx_chatvisor_ctx(r);
    poll = ctx->data;
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    if (ngx_chatvisor_agent_session_alive(t, ctx) != NGX_OK) {
        /* logged out or disabled while the poll was held */
        cv_txn_abort(t);
        return ngx_chatvisor_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                        "unauthorized",
                                        "log in with a login link");
    }

    items = cJSON_CreateArray();
    st = cv_log_read(t, poll->after, NGX_CHATVISOR_CONSOLE_EVENTS_MAX, items,
                     &cursor);

    cJSON_ArrayForEach(ev, items) {
        ngx_chatvisor_agent_entry(t, ev);
    }

    cv_txn_abort(t);

    if (st != CV_OK) {
        cJSON_Delete(items);
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    n = ngx_chatvisor_poll_typing(&ctx->wait);

    if (cJSON_GetArraySize(items) == 0 && n) {
        cJSON_AddItemToArray(items, ngx_chatvisor_typing_event(n, 0));
    }

    if (cJSON_GetArraySize(items) == 0 && !final) {
        cJSON_Delete(items);
        return NGX_AGAIN;
    }

    ngx_chatvisor_agent_seen(r, ctx);

    out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "events", items);
    cJSON_AddNumberToObject(out, "cursor", (double) cursor);

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, out);
}
