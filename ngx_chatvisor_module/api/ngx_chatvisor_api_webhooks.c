/*
 * REST: webhook endpoints (SPEC 7): register one (its secret is shown
 * here and on rotation only), read, change, delete, rotate its secret,
 * send it a test event, and inspect and replay its deliveries. The sender
 * (webhooks/) hears of every change through the store and a notice.
 */


#include "ngx_chatvisor_api.h"
#include "cv_time.h"
#include "cv_url.h"
#include "cv_webhooks.h"
#include "cv_cluster_webhooks.h"


typedef struct {
    const char                   *url;
    unsigned                      events;
    ngx_uint_t                    set_events;
    ngx_int_t                     status;     /* -1 keep, 0 off, 1 on */
} ngx_chatvisor_api_webhook_t;


/* "url": http(s), no userinfo; a private IP literal only if allowed */

static ngx_int_t
ngx_chatvisor_api_webhook_url(ngx_http_request_t *r, cJSON *body,
    ngx_uint_t required, const char **url, ngx_chatvisor_err_t *err)
{
    cv_url                      u;
    const char                 *why;
    struct sockaddr_storage     ss;
    ngx_chatvisor_main_conf_t  *cmcf;

    if (ngx_chatvisor_field_string(body, "url", CV_WEBHOOK_URL_MAX, required,
                                   url, err)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (*url == NULL) {
        return NGX_OK;
    }

    if (cv_url_parse(*url, &u, &why) != CV_OK) {
        return ngx_chatvisor_reject(err, NGX_HTTP_BAD_REQUEST, "invalid_url",
                                    why);
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (!cmcf->webhooks.allow_private
        && cv_host_is_literal(u.host, &ss)
        && cv_addr_private((struct sockaddr *) &ss))
    {
        return ngx_chatvisor_reject(err, NGX_HTTP_BAD_REQUEST, "invalid_url",
                                    "the URL's address is loopback, private "
                                    "or reserved");
    }

    return NGX_OK;
}


/* "events": a non-empty list of event types; absent: keep (or all) */

static ngx_int_t
ngx_chatvisor_api_webhook_events(cJSON *body, unsigned *events,
    ngx_uint_t *set, ngx_chatvisor_err_t *err)
{
    cJSON     *list, *e;
    unsigned   bit;

    *events = 0;
    *set = 0;

    list = cJSON_GetObjectItemCaseSensitive(body, "events");
    if (list == NULL) {
        return NGX_OK;
    }

    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0) {
        return ngx_chatvisor_invalid(err, "\"events\" must be a list of "
                                          "event types");
    }

    cJSON_ArrayForEach(e, list) {
        bit = cJSON_IsString(e) ? cv_webhook_event_bit(e->valuestring) : 0;

        /* webhook.test is asked for (POST webhooks/ID/test), not
         * subscribed to */
        if ((bit & CV_WEBHOOK_EVENTS_ALL) == 0) {
            return ngx_chatvisor_reject(err, NGX_HTTP_BAD_REQUEST,
                                        "invalid_event",
                                        "unknown event type in \"events\"");
        }

        *events |= bit;
    }

    *set = 1;

    return NGX_OK;
}


static ngx_chatvisor_api_webhook_t *
ngx_chatvisor_api_webhook_state(ngx_chatvisor_ctx_t *ctx)
{
    return ngx_chatvisor_ctx_data(ctx, sizeof(ngx_chatvisor_api_webhook_t));
}


/* the endpoints changed: the sender looks again */

static cv_status
ngx_chatvisor_api_webhook_changed(ngx_chatvisor_ctx_t *ctx, cv_status st)
{
    if (st == CV_OK) {
        ngx_chatvisor_op_notice(&ctx->op, NGX_CHATVISOR_NOTICE_WEBHOOKS, NULL,
                                NULL);
    }

    if (st == CV_FORBIDDEN) {
        ctx->op.why = "this endpoint is declared in nginx.conf: change it "
                      "there";
    }

    return st == CV_FORBIDDEN ? CV_CONFLICT : st;
}


/*
 * Cluster mode: an endpoint's write as a command (engine/
 * cv_cluster_writes.h) that every node applies, so every node has the
 * same endpoints (ids and signing secrets from the command's seed); the
 * answer is the outcome, with 201 for a new endpoint, 204 for a deletion.
 */

static ngx_int_t
ngx_chatvisor_api_webhook_cluster_done(ngx_http_request_t *r, cv_status st)
{
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);

    if (st == CV_OK && ctx->cluster.res.created) {
        ctx->op.ok_status = NGX_HTTP_CREATED;

    } else if (st == CV_OK && ctx->cluster.res.deleted) {
        ctx->op.ok_status = NGX_HTTP_NO_CONTENT;
    }

    return ngx_chatvisor_send_op(r, st);
}


/* a command for op, with the endpoint of the path (NULL: none) */

static cJSON *
ngx_chatvisor_api_webhook_cmd(const char *op, const char *id)
{
    cJSON  *cmd;

    cmd = cJSON_CreateObject();
    if (cmd == NULL) {
        return NULL;
    }

    cJSON_AddStringToObject(cmd, "op", op);

    if (id) {
        cJSON_AddStringToObject(cmd, "webhook_id", id);
    }

    return cmd;
}


static ngx_uint_t
ngx_chatvisor_api_webhook_cluster_on(ngx_http_request_t *r)
{
    return ngx_chatvisor_cluster_on(
               (ngx_chatvisor_main_conf_t *)
               ngx_http_get_module_main_conf(r, ngx_chatvisor_module));
}


/* POST webhooks {"url", "events"} */

static cv_status
ngx_chatvisor_api_webhook_create_run(ngx_http_request_t *r, cv_txn *t)
{
    cv_status                     st;
    cv_webhook_spec               spec;
    ngx_chatvisor_ctx_t          *ctx;
    ngx_chatvisor_api_webhook_t  *w;

    ctx = ngx_chatvisor_ctx(r);
    w = ctx->data;

    ngx_memzero(&spec, sizeof(cv_webhook_spec));
    spec.url = w->url;
    spec.events = w->events;

    st = cv_webhook_create(t, &spec, cv_now_ms(), &ctx->op.result);

    ctx->op.ok_status = NGX_HTTP_CREATED;

    return ngx_chatvisor_api_webhook_changed(ctx, st);
}


ngx_int_t
ngx_chatvisor_api_webhook_create(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    cJSON                        *cmd;
    ngx_chatvisor_err_t           err;
    ngx_chatvisor_api_webhook_t  *w;

    w = ngx_chatvisor_api_webhook_state(ctx);
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_chatvisor_api_webhook_url(r, ctx->body, 1, &w->url, &err)
        != NGX_OK
        || ngx_chatvisor_api_webhook_events(ctx->body, &w->events,
                                            &w->set_events, &err)
           != NGX_OK)
    {
        return ngx_chatvisor_send_err(r, &err);
    }

    if (ngx_chatvisor_api_webhook_cluster_on(r)) {
        cmd = ngx_chatvisor_api_webhook_cmd("api.webhook_create", NULL);

        if (cmd) {
            cJSON_AddStringToObject(cmd, "url", w->url);
            cJSON_AddNumberToObject(cmd, "events", w->events);
        }

        return ngx_chatvisor_cluster_write(r, cmd,
                                    ngx_chatvisor_api_webhook_cluster_done);
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_api_webhook_create_run, NULL);
}


ngx_int_t
ngx_chatvisor_api_webhook_list(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    cJSON                      *items;
    cv_txn                     *t;
    cv_status                   st;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    items = cJSON_CreateArray();
    st = cv_webhook_list(t, items);
    cv_txn_abort(t);

    if (st != CV_OK) {
        cJSON_Delete(items);
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK,
                                   ngx_chatvisor_page(items, NULL));
}


ngx_int_t
ngx_chatvisor_api_webhook_get(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    cJSON                      *wh;
    cv_status                   st;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    st = ngx_chatvisor_store_read(cmcf, cv_webhook_get, ctx->param[0], &wh);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, wh);
}


/* PATCH webhooks/ID {"url", "events", "status"} */

static cv_status
ngx_chatvisor_api_webhook_update_run(ngx_http_request_t *r, cv_txn *t)
{
    cv_status                     st;
    ngx_chatvisor_ctx_t          *ctx;
    ngx_chatvisor_api_webhook_t  *w;

    ctx = ngx_chatvisor_ctx(r);
    w = ctx->data;

    st = cv_webhook_update(t, ctx->param[0], w->url, (int) w->set_events,
                           w->events, (int) w->status, &ctx->op.result);

    return ngx_chatvisor_api_webhook_changed(ctx, st);
}


/* an endpoint always has a url, events and a status: null clears nothing */

static ngx_int_t
ngx_chatvisor_api_webhook_no_null(cJSON *body, ngx_chatvisor_err_t *err)
{
    ngx_uint_t   i;

    static const char  *fields[] = { "url", "events", "status" };

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(body, fields[i]))) {
            return ngx_chatvisor_invalidf(err, "\"%s\" may not be null",
                                          fields[i]);
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_api_webhook_update(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    cJSON                        *cmd;
    const char                   *status;
    ngx_chatvisor_err_t           err;
    ngx_chatvisor_api_webhook_t  *w;

    w = ngx_chatvisor_api_webhook_state(ctx);
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_chatvisor_api_webhook_no_null(ctx->body, &err) != NGX_OK
        || ngx_chatvisor_api_webhook_url(r, ctx->body, 0, &w->url, &err)
           != NGX_OK
        || ngx_chatvisor_api_webhook_events(ctx->body, &w->events,
                                            &w->set_events, &err)
           != NGX_OK
        || ngx_chatvisor_field_string(ctx->body, "status",
                                      sizeof("disabled"), 0, &status, &err)
           != NGX_OK)
    {
        return ngx_chatvisor_send_err(r, &err);
    }

    w->status = -1;

    if (status) {
        if (ngx_strcmp(status, "enabled") == 0) {
            w->status = 1;

        } else if (ngx_strcmp(status, "disabled") == 0) {
            w->status = 0;

        } else {
            return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                            "invalid_request",
                                            "\"status\" must be enabled or "
                                            "disabled");
        }
    }

    if (ngx_chatvisor_api_webhook_cluster_on(r)) {
        cmd = ngx_chatvisor_api_webhook_cmd("api.webhook_update",
                                            ctx->param[0]);

        if (cmd) {
            if (w->url) {
                cJSON_AddStringToObject(cmd, "url", w->url);
            }

            if (w->set_events) {
                cJSON_AddNumberToObject(cmd, "events", w->events);
            }

            cJSON_AddNumberToObject(cmd, "status", (double) w->status);
        }

        return ngx_chatvisor_cluster_write(r, cmd,
                                    ngx_chatvisor_api_webhook_cluster_done);
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_api_webhook_update_run, NULL);
}


static cv_status
ngx_chatvisor_api_webhook_delete_run(ngx_http_request_t *r, cv_txn *t)
{
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);
    ctx->op.ok_status = NGX_HTTP_NO_CONTENT;

    return ngx_chatvisor_api_webhook_changed(ctx,
                                  cv_webhook_delete(t, ctx->param[0]));
}


ngx_int_t
ngx_chatvisor_api_webhook_delete(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    if (ngx_chatvisor_api_webhook_cluster_on(r)) {
        return ngx_chatvisor_cluster_write(r,
                   ngx_chatvisor_api_webhook_cmd("api.webhook_delete",
                                                 ctx->param[0]),
                   ngx_chatvisor_api_webhook_cluster_done);
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_api_webhook_delete_run, NULL);
}


static cv_status
ngx_chatvisor_api_webhook_rotate_run(ngx_http_request_t *r, cv_txn *t)
{
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);

    return ngx_chatvisor_api_webhook_changed(ctx,
               cv_webhook_rotate(t, ctx->param[0], cv_now_ms(),
                                 CV_WEBHOOK_OVERLAP_MS,
                                 &ctx->op.result));
}


ngx_int_t
ngx_chatvisor_api_webhook_rotate(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    if (ngx_chatvisor_api_webhook_cluster_on(r)) {
        return ngx_chatvisor_cluster_write(r,
                   ngx_chatvisor_api_webhook_cmd("api.webhook_rotate",
                                                 ctx->param[0]),
                   ngx_chatvisor_api_webhook_cluster_done);
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_api_webhook_rotate_run, NULL);
}


/* POST webhooks/ID/test: a webhook.test delivery, due now */

static cv_status
ngx_chatvisor_api_webhook_test_run(ngx_http_request_t *r, cv_txn *t)
{
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);
    ctx->op.ok_status = NGX_HTTP_ACCEPTED;

    return ngx_chatvisor_api_webhook_changed(ctx,
               cv_webhook_test(t, ctx->param[0], cv_now_ms(),
                               &ctx->op.result));
}


/* cluster mode: a test or a retry applied, answered 202 as locally */

static ngx_int_t
ngx_chatvisor_api_webhook_accepted(ngx_http_request_t *r, cv_status st)
{
    ngx_chatvisor_ctx(r)->op.ok_status = NGX_HTTP_ACCEPTED;

    return ngx_chatvisor_send_op(r, st);
}


ngx_int_t
ngx_chatvisor_api_webhook_test(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    /* cluster mode: a command, so that the sending node has the test,
     * whichever node was asked (cv_cluster_webhooks.h) */
    if (ngx_chatvisor_api_webhook_cluster_on(r)) {
        return ngx_chatvisor_cluster_write(r,
                   cv_cluster_webhook_api_cmd(ctx->param[0], NULL),
                   ngx_chatvisor_api_webhook_accepted);
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_api_webhook_test_run, NULL);
}


/* GET webhooks/ID/deliveries?status=pending|delivered|failed&cursor=&limit= */

ngx_int_t
ngx_chatvisor_api_webhook_deliveries(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    static const char  *statuses[] = { "pending", "delivered", "failed",
                                       NULL };

    u_char                      buf[NGX_INT64_LEN + 1];
    cJSON                      *items, *wh;
    cv_txn                     *t;
    size_t                      limit;
    uint64_t                    cursor, next;
    cv_status                   st;
    ngx_uint_t                  status;
    ngx_chatvisor_err_t         err;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    /* no status= leaves the index at the list's end: any status */
    if (ngx_chatvisor_arg_limit(r, NGX_CHATVISOR_API_LIMIT_DEFAULT,
                                NGX_CHATVISOR_API_LIMIT_MAX, &limit, &err)
        != NGX_OK
        || ngx_chatvisor_arg_cursor(r, "cursor", &cursor, &err) != NGX_OK
        || ngx_chatvisor_arg_choice(r, "status", statuses, 3, &status,
                                    "\"status\" must be pending, delivered "
                                    "or failed", &err)
           != NGX_OK)
    {
        return ngx_chatvisor_send_err(r, &err);
    }

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    items = cJSON_CreateArray();

    /* an unknown endpoint is a 404, not an empty list */
    st = cv_webhook_get(t, ctx->param[0], &wh);

    if (st == CV_OK) {
        cJSON_Delete(wh);
        st = cv_webhook_deliveries(t, ctx->param[0],
                                   statuses[status] ? (int) status : -1,
                                   cursor, limit, items, &next);
    }

    cv_txn_abort(t);

    if (st != CV_OK) {
        cJSON_Delete(items);
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    ngx_sprintf(buf, "%uL%Z", next);

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK,
                                   ngx_chatvisor_page(items, next
                                                      ? (char *) buf : NULL));
}


/* POST webhooks/ID/deliveries/DELIVERY/retry: due again now */

static cv_status
ngx_chatvisor_api_webhook_retry_run(ngx_http_request_t *r, cv_txn *t)
{
    cv_status             st;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);
    ctx->op.ok_status = NGX_HTTP_ACCEPTED;

    st = cv_webhook_retry(t, ctx->param[0], ctx->param[1], cv_now_ms(),
                          &ctx->op.result);

    if (st == CV_CONFLICT) {
        ctx->op.why = "this delivery was delivered";
    }

    return st == CV_OK ? ngx_chatvisor_api_webhook_changed(ctx, st) : st;
}


ngx_int_t
ngx_chatvisor_api_webhook_retry(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    uint64_t  dseq;

    if (ngx_chatvisor_api_webhook_cluster_on(r)) {
        /* no delivery's id: nothing to publish */
        if (cv_delivery_id_parse(ctx->param[1], &dseq) != CV_OK) {
            return ngx_chatvisor_send_status(r, CV_NOT_FOUND, NULL);
        }

        return ngx_chatvisor_cluster_write(r,
                   cv_cluster_webhook_api_cmd(ctx->param[0], ctx->param[1]),
                   ngx_chatvisor_api_webhook_accepted);
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_api_webhook_retry_run, NULL);
}
