/*
 * The visitor's side of co-browsing (PREFIX v1/visitor/cobrowse...): the
 * session of the visitor's own conversation (the one of its cv_visitor
 * cookie, as in the chat), the answer to an agent's request, the
 * recorder's events and stopping. The chat's poll tells the visitor when
 * an agent asks (chat/ngx_chatvisor_visitor_events.c).
 */


#include "ngx_chatvisor_cobrowse.h"


static ngx_int_t ngx_chatvisor_cobrowse_state(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
static ngx_int_t ngx_chatvisor_cobrowse_decision(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
static ngx_int_t ngx_chatvisor_cobrowse_events_post(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
static ngx_int_t ngx_chatvisor_cobrowse_visitor_stop(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);


static const char  *ngx_chatvisor_no_fields[] = { NULL };
static const char  *ngx_chatvisor_decision_fields[] = { "decision", NULL };


ngx_chatvisor_route_t  ngx_chatvisor_cobrowse_visitor_routes[] = {

    { NGX_CHATVISOR_GET, ngx_string("cobrowse"),
      NGX_CHATVISOR_CALLER_VISITOR, NGX_CHATVISOR_BODY_NONE,
      NULL, ngx_chatvisor_cobrowse_state },

    { NGX_HTTP_POST, ngx_string("cobrowse"),
      NGX_CHATVISOR_CALLER_VISITOR, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_decision_fields, ngx_chatvisor_cobrowse_decision },

    { NGX_HTTP_POST, ngx_string("cobrowse/events"),
      NGX_CHATVISOR_CALLER_VISITOR, NGX_CHATVISOR_BODY_RAW,
      NULL, ngx_chatvisor_cobrowse_events_post },

    { NGX_HTTP_POST, ngx_string("cobrowse/stop"),
      NGX_CHATVISOR_CALLER_VISITOR, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_no_fields, ngx_chatvisor_cobrowse_visitor_stop },

    { 0, ngx_null_string, 0, 0, NULL, NULL }
};


/* the events POST's query: which recorder, and whether a full snapshot */
typedef struct {
    char                          conversation_id[CV_ID_MAX];
    char                          recorder[NGX_CHATVISOR_COBROWSE_RECORDER_MAX
                                           + 1];
    ngx_uint_t                    full;
} ngx_chatvisor_cobrowse_post_t;


/*
 * The visitor's conversation (its latest, as the chat's poll shows it),
 * with its session settled: a closed conversation ends its session, and
 * so do time and an agent gone. NGX_DECLINED: a stranger, or no
 * conversation yet; an error is answered (NGX_ERROR, *rc).
 */

static ngx_int_t
ngx_chatvisor_cobrowse_conversation(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, char conv_id[CV_ID_MAX], ngx_int_t *rc)
{
    cv_txn                     *t;
    cv_status                   st;
    cv_conv_state               cs;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (cmcf->store == NULL) {
        *rc = ngx_chatvisor_send_unavailable(r);
        return NGX_ERROR;
    }

    if (ngx_chatvisor_visitor_cookie(r, ctx->caller.customer_id) != NGX_OK
        || ctx->caller.customer_id[0] == '\0')
    {
        return NGX_DECLINED;
    }

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        *rc = ngx_chatvisor_send_status(r, st, NULL);
        return NGX_ERROR;
    }

    st = cv_customer_conversation(t, ctx->caller.customer_id, conv_id);

    if (st == CV_OK) {
        st = cv_conversation_state(t, conv_id, &cs);
    }

    cv_txn_abort(t);

    if (st == CV_NOT_FOUND) {
        return NGX_DECLINED;
    }

    if (st != CV_OK) {
        *rc = ngx_chatvisor_send_status(r, st, NULL);
        return NGX_ERROR;
    }

    if (!cs.open) {
        ngx_chatvisor_cobrowse_closed(cmcf, conv_id);
    }

    ngx_chatvisor_cobrowse_settle(cmcf, conv_id);

    return NGX_OK;
}


static ngx_int_t
ngx_chatvisor_cobrowse_send_view(ngx_http_request_t *r,
    ngx_chatvisor_cobrowse_view_t *view, const char *conv_id)
{
    cJSON  *out;

    out = ngx_chatvisor_cobrowse_json(r, view, 0);

    if (conv_id && conv_id[0]) {
        cJSON_AddStringToObject(out, "conversation_id", conv_id);

    } else {
        cJSON_AddNullToObject(out, "conversation_id");
    }

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, out);
}


/* GET cobrowse: read when a page loads where co-browsing is on (a page
 * of an active session starts recording at once) */

static ngx_int_t
ngx_chatvisor_cobrowse_state(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    char                            conv_id[CV_ID_MAX];
    ngx_int_t                       rc;
    ngx_chatvisor_cobrowse_view_t   view;
    ngx_chatvisor_main_conf_t      *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    ngx_memzero(&view, sizeof(ngx_chatvisor_cobrowse_view_t));
    conv_id[0] = '\0';

    switch (ngx_chatvisor_cobrowse_conversation(r, ctx, conv_id, &rc)) {

    case NGX_ERROR:
        return rc;

    case NGX_OK:
        (void) ngx_chatvisor_cobrowse_get(cmcf, conv_id, &view);
        break;

    default:
        break;
    }

    return ngx_chatvisor_cobrowse_send_view(r, &view, conv_id);
}


/* POST cobrowse {"decision": "allow" | "decline"} */

static ngx_int_t
ngx_chatvisor_cobrowse_decision(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    char                            conv_id[CV_ID_MAX];
    ngx_int_t                       rc;
    ngx_uint_t                      allow;
    const char                     *decision;
    ngx_chatvisor_err_t             err;
    ngx_chatvisor_cobrowse_rc_e     crc;
    ngx_chatvisor_cobrowse_view_t   view;
    ngx_chatvisor_main_conf_t      *cmcf;

    if (ngx_chatvisor_field_string(ctx->body, "decision", sizeof("decline"),
                                   1, &decision, &err)
        != NGX_OK)
    {
        return ngx_chatvisor_send_err(r, &err);
    }

    if (ngx_strcmp(decision, "allow") == 0) {
        allow = 1;

    } else if (ngx_strcmp(decision, "decline") == 0) {
        allow = 0;

    } else {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "\"decision\" must be \"allow\" or "
                                        "\"decline\"");
    }

    switch (ngx_chatvisor_cobrowse_conversation(r, ctx, conv_id, &rc)) {

    case NGX_ERROR:
        return rc;

    case NGX_DECLINED:
        return ngx_chatvisor_cobrowse_refuse(r,
                                        NGX_CHATVISOR_COBROWSE_NO_SESSION);
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (cmcf->cobrowse == NULL) {
        return ngx_chatvisor_cobrowse_refuse(r,
                                        NGX_CHATVISOR_COBROWSE_NO_SESSION);
    }

    crc = ngx_chatvisor_cobrowse_decide(cmcf, conv_id, allow, &view);

    if (crc != NGX_CHATVISOR_COBROWSE_OK) {
        return ngx_chatvisor_cobrowse_refuse(r, crc);
    }

    return ngx_chatvisor_cobrowse_send_view(r, &view, conv_id);
}


/* POST cobrowse/stop */

static ngx_int_t
ngx_chatvisor_cobrowse_visitor_stop(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    char                            conv_id[CV_ID_MAX];
    ngx_int_t                       rc;
    ngx_chatvisor_cobrowse_rc_e     crc;
    ngx_chatvisor_cobrowse_view_t   view;
    ngx_chatvisor_main_conf_t      *cmcf;

    switch (ngx_chatvisor_cobrowse_conversation(r, ctx, conv_id, &rc)) {

    case NGX_ERROR:
        return rc;

    case NGX_DECLINED:
        return ngx_chatvisor_cobrowse_refuse(r,
                                        NGX_CHATVISOR_COBROWSE_NO_SESSION);
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (cmcf->cobrowse == NULL) {
        return ngx_chatvisor_cobrowse_refuse(r,
                                        NGX_CHATVISOR_COBROWSE_NO_SESSION);
    }

    crc = ngx_chatvisor_cobrowse_end(cmcf, conv_id, NULL,
                                     NGX_CHATVISOR_COBROWSE_BY_VISITOR,
                                     &view);

    if (crc != NGX_CHATVISOR_COBROWSE_OK) {
        return ngx_chatvisor_cobrowse_refuse(r, crc);
    }

    return ngx_chatvisor_cobrowse_send_view(r, &view, conv_id);
}


/* ------------------------------------------------ the recorder's events */

static ngx_int_t ngx_chatvisor_cobrowse_events_store(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);


/* recorder=ID (chosen by the browser: [A-Za-z0-9_-], at most
 * NGX_CHATVISOR_COBROWSE_RECORDER_MAX bytes) and full=0|1 */

static ngx_int_t
ngx_chatvisor_cobrowse_post_args(ngx_http_request_t *r,
    ngx_chatvisor_cobrowse_post_t *post, ngx_chatvisor_err_t *err)
{
    u_char     *p;
    ngx_str_t   v;

    if (ngx_chatvisor_arg(r, "recorder", &v) != NGX_OK
        || v.len == 0 || v.len > NGX_CHATVISOR_COBROWSE_RECORDER_MAX)
    {
        return ngx_chatvisor_invalid(err, "\"recorder\" must be the "
                                     "recorder's id, 1 to "
                                     NGX_CHATVISOR_STR(
                                     NGX_CHATVISOR_COBROWSE_RECORDER_MAX)
                                     " letters, digits, - or _");
    }

    for (p = v.data; p < v.data + v.len; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
        {
            return ngx_chatvisor_invalid(err, "\"recorder\" must be the "
                                         "recorder's id: letters, digits, "
                                         "- or _");
        }
    }

    ngx_memcpy(post->recorder, v.data, v.len);
    post->recorder[v.len] = '\0';

    post->full = 0;

    if (ngx_chatvisor_arg(r, "full", &v) == NGX_OK) {
        if (ngx_chatvisor_str_is(&v, "1")) {
            post->full = 1;

        } else if (!ngx_chatvisor_str_is(&v, "0")) {
            return ngx_chatvisor_invalid(err, "\"full\" must be 1 or 0");
        }
    }

    return NGX_OK;
}


/*
 * POST cobrowse/events?recorder=ID[&full=1], a JSON array of rrweb events.
 * What would be refused anyway is refused before the body is read: a
 * recorder that stopped or was superseded sends nothing more of it.
 */

static ngx_int_t
ngx_chatvisor_cobrowse_events_post(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    ngx_int_t                        rc;
    ngx_chatvisor_err_t              err;
    ngx_chatvisor_cobrowse_rc_e      crc;
    ngx_chatvisor_cobrowse_view_t    view;
    ngx_chatvisor_cobrowse_post_t   *post;
    ngx_chatvisor_main_conf_t       *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    post = ngx_chatvisor_ctx_data(ctx, sizeof(ngx_chatvisor_cobrowse_post_t));
    if (post == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_chatvisor_cobrowse_post_args(r, post, &err) != NGX_OK) {
        crc = NGX_CHATVISOR_COBROWSE_OK;
        goto refused;
    }

    switch (ngx_chatvisor_cobrowse_conversation(r, ctx, post->conversation_id,
                                                &rc))
    {
    case NGX_ERROR:
        return rc;

    case NGX_DECLINED:
        crc = NGX_CHATVISOR_COBROWSE_OVER;
        goto refused;
    }

    crc = NGX_CHATVISOR_COBROWSE_OK;

    if (ngx_chatvisor_cobrowse_get(cmcf, post->conversation_id, &view)
        != NGX_OK
        || view.state == NGX_CHATVISOR_COBROWSE_ENDED
        || view.state == NGX_CHATVISOR_COBROWSE_DECLINED)
    {
        crc = NGX_CHATVISOR_COBROWSE_OVER;

    } else if (view.state != NGX_CHATVISOR_COBROWSE_ACTIVE) {
        crc = NGX_CHATVISOR_COBROWSE_NOT_ACTIVE;

    } else if (!post->full
               && ngx_strcmp(view.recorder, post->recorder) != 0)
    {
        crc = NGX_CHATVISOR_COBROWSE_SUPERSEDED;
    }

    if (crc != NGX_CHATVISOR_COBROWSE_OK) {
        goto refused;
    }

    return ngx_chatvisor_body_read_raw(r, ctx,
                                       NGX_CHATVISOR_COBROWSE_CHUNK_MAX,
                                       ngx_chatvisor_cobrowse_events_store);

refused:

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crc == NGX_CHATVISOR_COBROWSE_OK) {
        return ngx_chatvisor_send_err(r, &err);
    }

    return ngx_chatvisor_cobrowse_refuse(r, crc);
}


static ngx_int_t
ngx_chatvisor_cobrowse_events_store(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    u_char                          *p;
    ngx_uint_t                       retry_after;
    ngx_chatvisor_cobrowse_rc_e      crc;
    ngx_chatvisor_cobrowse_post_t   *post;
    ngx_chatvisor_main_conf_t       *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);
    post = ctx->data;

    if (ctx->body_too_large) {
        /* the page is beyond what co-browsing carries: the agent is told */
        (void) ngx_chatvisor_cobrowse_end(cmcf, post->conversation_id, NULL,
                                          NGX_CHATVISOR_COBROWSE_TOO_LARGE,
                                          NULL);

        return ngx_chatvisor_send_too_large(r,
                                            NGX_CHATVISOR_COBROWSE_CHUNK_MAX);
    }

    if (ctx->raw_count == 0) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "the events array is empty");
    }

    retry_after = 0;

    crc = ngx_chatvisor_cobrowse_events(cmcf, post->conversation_id,
                                        post->recorder, post->full,
                                        ctx->raw.data, ctx->raw.len,
                                        &retry_after);

    switch (crc) {

    case NGX_CHATVISOR_COBROWSE_OK:
        return ngx_chatvisor_send_json(r, NGX_HTTP_NO_CONTENT, NULL);

    case NGX_CHATVISOR_COBROWSE_NO_SESSION:
        /* gone meanwhile: the recorder stops */
        return ngx_chatvisor_cobrowse_refuse(r,
                                             NGX_CHATVISOR_COBROWSE_OVER);

    case NGX_CHATVISOR_COBROWSE_RATE_LIMITED:
        p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (p == NULL
            || ngx_chatvisor_header_add(r, "Retry-After", p,
                                        ngx_sprintf(p, "%ui", retry_after)
                                        - p)
               == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* fall through */

    default:
        return ngx_chatvisor_cobrowse_refuse(r, crc);
    }
}
