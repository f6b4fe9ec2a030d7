/*
 * The console's long-poll over the global event log: every change after a
 * cursor, each with its conversation as it is now, or a visitor typing.
 * Polling is what keeps an agent online. The answer is put together
 * around the stored entries' JSON text, as the visitor's poll does: a
 * woken console does not parse and print again what the writer printed
 * (only the conversation's view is built).
 */


#include "ngx_chatvisor_chat.h"
#include "cv_json_text.h"


/* how the engine writes a log entry and a message's event (cv_log.c,
 * cv_chat.c): {…,"created_at":"…"[,"event":{…}][,"conversation":{…}]}
 * and {"seq":N,"type":"message","message":{…}} */
#define NGX_CHATVISOR_LOG_EVENT     ",\"event\":"
#define NGX_CHATVISOR_LOG_CONV      ",\"conversation\":"
#define NGX_CHATVISOR_LOG_CONV_ID   "\"conversation_id\":\""
#define NGX_CHATVISOR_EVENT_SEQ     "{\"seq\":"
#define NGX_CHATVISOR_EVENT_MSG     ",\"type\":\"message\",\"message\":"

#define ngx_chatvisor_lit_len(s)    (sizeof(s) - 1)


typedef struct {
    cv_txn        *txn;
    cv_json_text   out;
    ngx_uint_t     count;
} ngx_chatvisor_console_text_t;


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


/* the message of a message event, as text inside it; NULL for another */

static const char *
ngx_chatvisor_agent_message(const cv_log_text *e, size_t *len)
{
    const char  *p, *end;

    if (e->event == NULL
        || e->event_len < ngx_chatvisor_lit_len(NGX_CHATVISOR_EVENT_SEQ)
                          + ngx_chatvisor_lit_len(NGX_CHATVISOR_EVENT_MSG) + 3
        || ngx_strncmp(e->event, NGX_CHATVISOR_EVENT_SEQ,
                       ngx_chatvisor_lit_len(NGX_CHATVISOR_EVENT_SEQ))
           != 0)
    {
        return NULL;
    }

    p = e->event + ngx_chatvisor_lit_len(NGX_CHATVISOR_EVENT_SEQ);
    end = e->event + e->event_len;

    while (p < end && *p >= '0' && *p <= '9') {
        p++;
    }

    if ((size_t) (end - p) < ngx_chatvisor_lit_len(NGX_CHATVISOR_EVENT_MSG) + 3
        || ngx_strncmp(p, NGX_CHATVISOR_EVENT_MSG,
                       ngx_chatvisor_lit_len(NGX_CHATVISOR_EVENT_MSG))
           != 0
        || end[-1] != '}')
    {
        return NULL;
    }

    p += ngx_chatvisor_lit_len(NGX_CHATVISOR_EVENT_MSG);
    *len = end - 1 - p;

    return p;
}


/* the entry the old way, parsed and printed: for a layout the text path
 * does not know, and for a conversation that is gone */

static cv_status
ngx_chatvisor_agent_entry_json(ngx_chatvisor_console_text_t *ct,
    const cv_log_text *e)
{
    char   *text;
    cJSON  *ev;

    ev = cJSON_ParseWithLength(e->text, e->len);
    if (ev == NULL) {
        return CV_ERROR;
    }

    ngx_chatvisor_agent_entry(ct->txn, ev);

    text = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);

    if (text == NULL) {
        return CV_ERROR;
    }

    cv_jt_raw(&ct->out, text, ngx_strlen(text));
    cJSON_free(text);

    return CV_OK;
}


/*
 * One entry as ngx_chatvisor_agent_entry() makes it, from its text: what
 * precedes its event, the message of a message event, and the
 * conversation's view, whose last message is this one's when the event is
 * the conversation's last.
 */

static cv_status
ngx_chatvisor_agent_entry_text(void *data, const cv_log_text *e)
{
    char                          id[CV_ID_MAX], *view;
    cJSON                        *last;
    size_t                        mlen, start;
    uint64_t                      last_seq;
    cv_status                     st;
    const char                   *end, *p, *q, *msg;
    ngx_chatvisor_console_text_t *ct;

    ct = data;

    if (ct->count++) {
        cv_jt_lit(&ct->out, ",");
    }

    start = ct->out.len;

    /* where the entry's own fields end (not before its first byte) */
    if (e->event) {
        end = e->event - ngx_min((size_t) (e->event - e->text),
                           ngx_chatvisor_lit_len(NGX_CHATVISOR_LOG_EVENT));

    } else if (e->conv) {
        end = e->conv - ngx_min((size_t) (e->conv - e->text),
                           ngx_chatvisor_lit_len(NGX_CHATVISOR_LOG_CONV));

    } else {
        end = e->text + (e->len ? e->len - 1 : 0);
    }

    mlen = 0;
    msg = ngx_chatvisor_agent_message(e, &mlen);

    if (e->len < 2 || e->text[0] != '{' || e->text[e->len - 1] != '}'
        || end <= e->text
        || (e->event && ngx_strncmp(end, NGX_CHATVISOR_LOG_EVENT,
                            ngx_chatvisor_lit_len(NGX_CHATVISOR_LOG_EVENT))
                        != 0)
        || (!e->event && e->conv
            && ngx_strncmp(end, NGX_CHATVISOR_LOG_CONV,
                           ngx_chatvisor_lit_len(NGX_CHATVISOR_LOG_CONV))
               != 0)
        /* an event with a message elsewhere than the engine puts it */
        || (msg == NULL && e->event
            && ngx_strnstr((u_char *) e->event, "\"message\":",
                           e->event_len) != NULL))
    {
        return ngx_chatvisor_agent_entry_json(ct, e);
    }

    /* the conversation's id, one of our own tokens: nothing escaped */
    p = (const char *) ngx_strnstr((u_char *) e->text,
                                   NGX_CHATVISOR_LOG_CONV_ID, end - e->text);
    if (p == NULL) {
        return ngx_chatvisor_agent_entry_json(ct, e);
    }

    p += ngx_chatvisor_lit_len(NGX_CHATVISOR_LOG_CONV_ID);
    q = (const char *) ngx_strlchr((u_char *) p, (u_char *) end, '"');

    if (q == NULL || q - p >= CV_ID_MAX) {
        return ngx_chatvisor_agent_entry_json(ct, e);
    }

    ngx_memcpy(id, p, q - p);
    id[q - p] = '\0';

    cv_jt_raw(&ct->out, e->text, end - e->text);

    if (msg) {
        cv_jt_lit(&ct->out, ",\"message\":");
        cv_jt_raw(&ct->out, msg, mlen);
    }

    /* the view from the stored texts (a parse and a print of the records
     * were a third of a console message's instructions), its last
     * message added */
    cv_jt_lit(&ct->out, ",\"conversation\":");

    st = cv_conversation_console_text(ct->txn, id, &ct->out, &last_seq);

    if (st == CV_NOT_FOUND) {
        /* gone (purged): the entry keeps what it has */
        ct->out.len = start;
        return ngx_chatvisor_agent_entry_json(ct, e);
    }

    if (st != CV_OK) {
        return CV_ERROR;
    }

    cv_jt_lit(&ct->out, ",\"last_message\":");

    if (msg && e->conv_seq && e->conv_seq == last_seq) {
        cv_jt_raw(&ct->out, msg, mlen);

    } else {
        last = NULL;

        if (cv_conversation_last_message(ct->txn, id,
                                         NGX_CHATVISOR_LAST_MESSAGE_WINDOW,
                                         &last)
            != CV_OK)
        {
            cJSON_Delete(last);
            last = NULL;
        }

        view = last ? cJSON_PrintUnformatted(last) : NULL;
        cJSON_Delete(last);

        if (view) {
            cv_jt_raw(&ct->out, view, ngx_strlen(view));
            cJSON_free(view);

        } else {
            cv_jt_lit(&ct->out, "null");
        }
    }

    cv_jt_lit(&ct->out, "}}");

    return CV_OK;
}


static ngx_int_t
ngx_chatvisor_agent_events_check(ngx_http_request_t *r, ngx_uint_t final)
{
    char                          *text, *typing;
    cJSON                         *ev;
    size_t                         len;
    cv_txn                        *t;
    uint64_t                       cursor;
    ngx_str_t                      body;
    cv_status                      st;
    ngx_chatvisor_ctx_t           *ctx;
    ngx_chatvisor_notice_t        *n;
    ngx_chatvisor_main_conf_t     *cmcf;
    ngx_chatvisor_console_poll_t  *poll;
    ngx_chatvisor_console_text_t   ct;

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

    ct.txn = t;
    ct.count = 0;
    cv_jt_init(&ct.out, 0);
    cv_jt_lit(&ct.out, "{\"events\":[");

    st = cv_log_read_text(t, poll->after, NGX_CHATVISOR_CONSOLE_EVENTS_MAX,
                          ngx_chatvisor_agent_entry_text, &ct, &cursor);

    cv_txn_abort(t);

    if (st != CV_OK) {
        cv_jt_free(&ct.out);
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    n = ngx_chatvisor_poll_typing(&ctx->wait);

    if (ct.count == 0 && n) {
        ev = ngx_chatvisor_typing_event(n, 0);
        typing = ev ? cJSON_PrintUnformatted(ev) : NULL;
        cJSON_Delete(ev);

        if (typing == NULL) {
            cv_jt_free(&ct.out);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cv_jt_raw(&ct.out, typing, ngx_strlen(typing));
        cJSON_free(typing);
        ct.count++;
    }

    if (ct.count == 0 && !final) {
        cv_jt_free(&ct.out);
        return NGX_AGAIN;
    }

    ngx_chatvisor_agent_seen(r, ctx);

    cv_jt_lit(&ct.out, "],\"cursor\":");
    cv_jt_u64(&ct.out, cursor);
    cv_jt_lit(&ct.out, "}\n");

    text = cv_jt_take(&ct.out, &len);
    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the pool's copy is what goes out */
    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        free(text);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(body.data, text, len);
    body.len = len;
    free(text);

    return ngx_chatvisor_send_json_text(r, NGX_HTTP_OK, &body);
}
