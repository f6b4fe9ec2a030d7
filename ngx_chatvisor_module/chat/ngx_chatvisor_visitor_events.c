/*
 * The visitor's long-poll: the events of the visitor's conversation after
 * a cursor, or an agent typing there, or what changed of its co-browsing
 * session (a request, the state, the agent's pointer: nothing of it is
 * stored). The answer is put together around the stored events' JSON
 * text: a woken poll does not parse and print again what the writer
 * printed.
 */


#include "ngx_chatvisor_chat.h"


typedef struct {
    uint64_t                      after;
    uint64_t                      cobrowse;     /* the session's generation
                                                   the client has seen */
    uint64_t                      pointer;      /* and the pointer's */
    char                          conversation_id[CV_ID_MAX];  /* named */
} ngx_chatvisor_visitor_poll_t;


static ngx_int_t ngx_chatvisor_visitor_events_check(ngx_http_request_t *r,
    ngx_uint_t final);


/* an event that is not stored, into extra (made when NULL) */

static void
ngx_chatvisor_visitor_add(cJSON **extra, cJSON *ev)
{
    if (*extra == NULL) {
        *extra = cJSON_CreateArray();
    }

    cJSON_AddItemToArray(*extra, ev);
}


/* the agent's pointer, a move or a click (page coordinates) */

static cJSON *
ngx_chatvisor_visitor_pointer(uint64_t seq, uint64_t counter, int32_t x,
    int32_t y, ngx_uint_t click)
{
    cJSON  *ev;

    ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "type", "pointer");
    cJSON_AddNumberToObject(ev, "seq", (double) seq);
    cJSON_AddNumberToObject(ev, "pointer", (double) counter);
    cJSON_AddNumberToObject(ev, "x", x);
    cJSON_AddNumberToObject(ev, "y", y);
    cJSON_AddBoolToObject(ev, "click", click);

    return ev;
}


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

    if (ngx_chatvisor_arg_cursor(r, "after", &poll->after, &err) != NGX_OK
        || ngx_chatvisor_arg_cursor(r, "cobrowse", &poll->cobrowse, &err)
           != NGX_OK
        || ngx_chatvisor_arg_cursor(r, "pointer", &poll->pointer, &err)
           != NGX_OK)
    {
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


/*
 * What the co-browsing session of the conversation says that the client
 * has not seen, added to extra: the session when its generation moved
 * past the client's (a first poll only hears of a live one), with
 * "cobrowse_request" for a request and "cobrowse" for the rest (SPEC 4
 * names the first); the agent's latest click and move past the client's
 * pointer counter.
 */

static void
ngx_chatvisor_visitor_cobrowse(ngx_chatvisor_main_conf_t *cmcf,
    ngx_chatvisor_visitor_poll_t *poll, const char *conv_id, uint64_t seq,
    cJSON **extra)
{
    cJSON                          *ev;
    ngx_uint_t                      live;
    const char                     *reason;
    ngx_chatvisor_cobrowse_view_t   v;

    if (ngx_chatvisor_cobrowse_get(cmcf, conv_id, &v) != NGX_OK) {
        return;
    }

    live = (v.state == NGX_CHATVISOR_COBROWSE_REQUESTED
            || v.state == NGX_CHATVISOR_COBROWSE_ACTIVE);

    if (v.generation > poll->cobrowse && (poll->cobrowse || live)) {
        ev = cJSON_CreateObject();
        cJSON_AddStringToObject(ev, "type",
                                v.state == NGX_CHATVISOR_COBROWSE_REQUESTED
                                ? "cobrowse_request" : "cobrowse");
        cJSON_AddNumberToObject(ev, "seq", (double) seq);
        cJSON_AddNumberToObject(ev, "generation", (double) v.generation);
        cJSON_AddStringToObject(ev, "state",
                                ngx_chatvisor_cobrowse_state_name(v.state));

        reason = ngx_chatvisor_cobrowse_reason_name(v.reason);

        if (reason) {
            cJSON_AddStringToObject(ev, "reason", reason);

        } else {
            cJSON_AddNullToObject(ev, "reason");
        }

        cJSON_AddBoolToObject(ev, "snapshot", v.snapshot);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(ev, "agent"), "name",
                                v.agent_name);

        if (v.recorder[0]) {
            cJSON_AddStringToObject(ev, "recorder", v.recorder);

        } else {
            cJSON_AddNullToObject(ev, "recorder");
        }

        ngx_chatvisor_visitor_add(extra, ev);
    }

    if (v.state != NGX_CHATVISOR_COBROWSE_ACTIVE) {
        return;
    }

    if (v.click > poll->pointer) {
        ngx_chatvisor_visitor_add(extra,
                                  ngx_chatvisor_visitor_pointer(seq, v.click,
                                                                v.click_x,
                                                                v.click_y, 1));
    }

    if (v.pointer > poll->pointer && v.pointer > v.click) {
        ngx_chatvisor_visitor_add(extra,
                                  ngx_chatvisor_visitor_pointer(seq,
                                                                v.pointer,
                                                                v.x, v.y, 0));
    }
}


/* events (a JSON array's text, count of them; malloc'd) and extra, one
 * array: the stored ones first; NULL when memory ran out */

static char *
ngx_chatvisor_visitor_join(char *events, size_t *len, size_t count,
    cJSON *extra)
{
    char    *more, *all;
    size_t   n;

    more = cJSON_PrintUnformatted(extra);

    if (more == NULL || count == 0) {
        free(events);
        *len = more ? ngx_strlen(more) : 0;
        return more;
    }

    /* "[a,b" "," "c,d]" */
    n = ngx_strlen(more);
    all = malloc(*len + n);

    if (all) {
        ngx_memcpy(all, events, *len - 1);
        all[*len - 1] = ',';
        ngx_memcpy(all + *len, more + 1, n - 1);
        *len = *len + n - 1;
        all[*len] = '\0';
    }

    free(events);
    cJSON_free(more);

    return all;
}


static ngx_int_t
ngx_chatvisor_visitor_events_check(ngx_http_request_t *r, ngx_uint_t final)
{
    char                          conv_id[CV_ID_MAX], *events;
    cJSON                        *extra;
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

    /* what is not stored: typing (when nothing newer came), co-browsing */
    extra = NULL;
    n = ngx_chatvisor_poll_typing(&ctx->wait);

    if (count == 0 && n && ngx_strcmp(n->conversation_id, conv_id) == 0) {
        ngx_chatvisor_visitor_add(&extra,
                                  ngx_chatvisor_typing_event(n, cursor));
    }

    if (conv_id[0]) {
        ngx_chatvisor_visitor_cobrowse(cmcf, poll, conv_id, cursor, &extra);
    }

    /* a stranger (no cookie) can never receive anything: no use holding */
    if (count == 0 && extra == NULL && !final
        && ctx->caller.customer_id[0])
    {
        free(events);
        return NGX_AGAIN;
    }

    if (extra) {
        events = ngx_chatvisor_visitor_join(events, &len, count, extra);
        cJSON_Delete(extra);

        if (events == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rc = ngx_chatvisor_visitor_events_send(r, conv_id, status, events, len,
                                           cursor);
    free(events);

    return rc;
}
