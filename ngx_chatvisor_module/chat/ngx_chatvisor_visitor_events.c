/*
 * The visitor's long-poll: the events of the visitor's conversation after
 * a cursor, or an agent typing there. The answer is put together around
 * the stored events' JSON text: a woken poll does not parse and print
 * again what the writer printed.
 */


#include "ngx_chatvisor_chat.h"


typedef struct {
    uint64_t                      after;
    char                          conversation_id[CV_ID_MAX];  /* named */
} ngx_chatvisor_visitor_poll_t;


static ngx_int_t ngx_chatvisor_visitor_events_check(ngx_http_request_t *r,
    ngx_uint_t final);


ngx_int_t
ngx_chatvisor_visitor_events(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    ngx_int_t                      rc;
    ngx_str_t                      v;
    ngx_chatvisor_err_t            err;
    ngx_chatvisor_loc_conf_t      *clcf;
    ngx_chatvisor_visitor_poll_t  *poll;

    poll = ngx_chatvisor_ctx_data(ctx, sizeof(ngx_chatvisor_visitor_poll_t));
    if (poll == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_chatvisor_arg_cursor(r, "after", &poll->after, &err) != NGX_OK) {
        return ngx_chatvisor_send_err(r, &err);
    }

    if (ngx_chatvisor_arg(r, "conversation", &v) == NGX_OK) {
        if (v.len >= CV_ID_MAX) {
            return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                            "invalid_request",
                                            "\"conversation\" is not a "
                                            "conversation id");
        }

        ngx_memcpy(poll->conversation_id, v.data, v.len);
        poll->conversation_id[v.len] = '\0';
    }

    (void) ngx_chatvisor_visitor_cookie(r, ctx->caller.customer_id);

    rc = ngx_chatvisor_visitor_events_check(r, 0);
    if (rc != NGX_AGAIN) {
        return rc;
    }

    if (ngx_chatvisor_arg(r, "wait", &v) == NGX_OK
        && ngx_chatvisor_str_is(&v, "0"))
    {
        return ngx_chatvisor_visitor_events_check(r, 1);
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_chatvisor_module);

    return ngx_chatvisor_poll_wait(r, &ctx->wait, ctx->caller.customer_id,
                                   clcf->poll_timeout,
                                   ngx_chatvisor_visitor_events_check);
}


/*
 * The customer's latest conversation, open or just closed. The one the
 * client names will do when it is the customer's and open: a customer has
 * one open conversation at most, the latest.
 */

static const char *
ngx_chatvisor_visitor_conversation(cv_txn *t, const char *customer_id,
    const char *named, char conv_id[CV_ID_MAX], cv_conv_state *cs)
{
    if (named[0]
        && cv_conversation_state(t, named, cs) == CV_OK
        && cs->open
        && ngx_strcmp(cs->customer_id, customer_id) == 0)
    {
        ngx_cpystrn((u_char *) conv_id, (u_char *) named, CV_ID_MAX);
        return "open";
    }

    if (cv_customer_conversation(t, customer_id, conv_id) == CV_OK
        && cv_conversation_state(t, conv_id, cs) == CV_OK)
    {
        return cs->open ? "open" : "closed";
    }

    conv_id[0] = '\0';

    return NULL;
}


/* {"conversation_id", "status", "events", "cursor"} around events' text */

static ngx_int_t
ngx_chatvisor_visitor_events_send(ngx_http_request_t *r, const char *conv_id,
    const char *status, char *events, size_t len, uint64_t cursor)
{
    u_char     *p;
    ngx_str_t   body;

    body.data = ngx_pnalloc(r->pool, sizeof("{\"conversation_id\":\"\","
                                            "\"status\":\"\",\"events\":[],"
                                            "\"cursor\":}\n")
                                     + CV_ID_MAX + sizeof("closed")
                                     + NGX_INT64_LEN + len);
    if (body.data == NULL) {
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

    return ngx_chatvisor_send_json_text(r, NGX_HTTP_OK, &body);
}


static ngx_int_t
ngx_chatvisor_visitor_events_check(ngx_http_request_t *r, ngx_uint_t final)
{
    char                          conv_id[CV_ID_MAX], *events;
    cJSON                        *typing;
    cv_txn                       *t;
    size_t                        len, count;
    uint64_t                      after, cursor;
    ngx_int_t                     rc;
    cv_status                     st;
    const char                   *status;
    cv_conv_state                 cs;
    ngx_chatvisor_ctx_t          *ctx;
    ngx_chatvisor_notice_t       *n;
    ngx_chatvisor_main_conf_t    *cmcf;
    ngx_chatvisor_visitor_poll_t *poll;

    ctx = ngx_chatvisor_ctx(r);
    poll = ctx->data;
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (cmcf->store == NULL) {
        return ngx_chatvisor_send_unavailable(r);
    }

    conv_id[0] = '\0';
    status = NULL;
    after = poll->after;
    cursor = after;
    events = NULL;
    count = 0;
    len = 0;

    if (ctx->caller.customer_id[0]) {
        st = cv_txn_begin(cmcf->store, 0, &t);
        if (st != CV_OK) {
            return ngx_chatvisor_send_status(r, st, NULL);
        }

        status = ngx_chatvisor_visitor_conversation(t, ctx->caller.customer_id,
                                                    poll->conversation_id,
                                                    conv_id, &cs);
        if (status) {
            if (poll->conversation_id[0]
                && ngx_strcmp(poll->conversation_id, conv_id) != 0)
            {
                /* a new conversation since the client looked */
                after = 0;
            }

            st = cv_conversation_state_events_json(t, &cs, after,
                                            NGX_CHATVISOR_VISITOR_EVENTS_MAX,
                                            &events, &len, &count, &cursor);
            if (st != CV_OK) {
                cv_txn_abort(t);
                return ngx_chatvisor_send_status(r, st, NULL);
            }
        }

        cv_txn_abort(t);
    }

    typing = NULL;
    n = ngx_chatvisor_poll_typing(&ctx->wait);

    if (count == 0 && n && ngx_strcmp(n->conversation_id, conv_id) == 0) {
        typing = cJSON_CreateArray();
        cJSON_AddItemToArray(typing, ngx_chatvisor_typing_event(n, cursor));
    }

    /* a stranger (no cookie) can never receive anything: no use holding */
    if (count == 0 && typing == NULL && !final
        && ctx->caller.customer_id[0])
    {
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

    rc = ngx_chatvisor_visitor_events_send(r, conv_id, status, events, len,
                                           cursor);
    free(events);

    return rc;
}
