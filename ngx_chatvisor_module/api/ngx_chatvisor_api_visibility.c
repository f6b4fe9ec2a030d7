/*
 * REST: GET / PUT visibility {"mode": "auto" | "visible" | "hidden",
 * "until": RFC 3339 | null}. Kept in the store (it survives restarts) and
 * mirrored in shared memory, which the edge reads on every page; after
 * "until" the mode is auto again by itself.
 */


#include "ngx_chatvisor_api.h"
#include "cv_settings.h"
#include "cv_time.h"


/* what GET answers: an override whose time passed reads as auto */

static cJSON *
ngx_chatvisor_visibility_view(ngx_chatvisor_main_conf_t *cmcf)
{
    char        stamp[CV_TIME_STR];
    cJSON      *out;
    int64_t     until;
    ngx_uint_t  mode;

    mode = ngx_chatvisor_settings_visibility(cmcf, &until);

    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "mode",
                            mode == NGX_CHATVISOR_MODE_VISIBLE ? "visible"
                            : mode == NGX_CHATVISOR_MODE_HIDDEN ? "hidden"
                            : "auto");

    if (until && mode != NGX_CHATVISOR_MODE_AUTO) {
        cv_format_time(until, stamp);
        cJSON_AddStringToObject(out, "until", stamp);

    } else {
        cJSON_AddNullToObject(out, "until");
    }

    return out;
}


ngx_int_t
ngx_chatvisor_api_visibility_get(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK,
                                   ngx_chatvisor_visibility_view(cmcf));
}


/* {"mode", "until"} as the store keeps them, from a checked body */

static cJSON *
ngx_chatvisor_visibility_stored(cJSON *body)
{
    char         stamp[CV_TIME_STR];
    cJSON       *stored;
    int64_t      ms;
    const char  *u;

    stored = cJSON_CreateObject();
    cJSON_AddStringToObject(stored, "mode",
                            ngx_chatvisor_body_string(body, "mode"));

    u = ngx_chatvisor_body_string(body, "until");

    if (u && cv_parse_time(u, &ms) == CV_OK) {
        cv_format_time(ms, stamp);
        cJSON_AddStringToObject(stored, "until", stamp);

    } else {
        cJSON_AddNullToObject(stored, "until");
    }

    return stored;
}


static cv_status
ngx_chatvisor_api_visibility_run(ngx_http_request_t *r, cv_txn *t)
{
    cJSON                *stored;
    cv_status             st;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);

    stored = ngx_chatvisor_visibility_stored(ctx->body);

    st = cv_settings_put(t, "visibility", stored);
    if (st != CV_OK) {
        cJSON_Delete(stored);
        return st;
    }

    ctx->op.result = stored;
    return CV_OK;
}


static ngx_int_t
ngx_chatvisor_api_visibility_done(ngx_http_request_t *r, cv_status st)
{
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    ctx = ngx_chatvisor_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    /* committed: from the next page on, in every worker */
    ngx_chatvisor_settings_visibility_set(cmcf, ctx->op.result);

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK,
                                   ngx_chatvisor_visibility_view(cmcf));
}


/*
 * Cluster mode: the stored object is a command (engine/
 * cv_cluster_writes.h) that every node applies and mirrors in its shared
 * memory; the answer is made from it as GET reads it (an "until" passed
 * reads as auto), not from this node's mirror, which a later PUT may
 * have changed meanwhile.
 */

static ngx_int_t
ngx_chatvisor_api_visibility_cluster_done(ngx_http_request_t *r,
    cv_status st)
{
    cJSON                *stored, *out;
    int64_t               until;
    const char           *u;
    ngx_chatvisor_ctx_t  *ctx;

    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    ctx = ngx_chatvisor_ctx(r);
    stored = ctx->op.result;

    u = cJSON_GetStringValue(cJSON_GetObjectItem(stored, "until"));

    if (u == NULL || cv_parse_time(u, &until) != CV_OK
        || cv_now_ms() < until)
    {
        /* as stored (auto never has an until: the PUT refuses it) */
        ctx->op.result = NULL;
        out = stored;

    } else {
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "mode", "auto");
        cJSON_AddNullToObject(out, "until");
    }

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, out);
}


static ngx_int_t
ngx_chatvisor_api_visibility_cluster(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    return ngx_chatvisor_cluster_settings_put(r, "visibility",
                                ngx_chatvisor_visibility_stored(ctx->body),
                                ngx_chatvisor_api_visibility_cluster_done);
}


ngx_int_t
ngx_chatvisor_api_visibility_put(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    cJSON       *until;
    int64_t      ms;
    const char  *mode;

    mode = ngx_chatvisor_body_string(ctx->body, "mode");

    if (mode == NULL
        || (ngx_strcmp(mode, "auto") != 0
            && ngx_strcmp(mode, "visible") != 0
            && ngx_strcmp(mode, "hidden") != 0))
    {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "\"mode\" must be auto, visible or "
                                        "hidden");
    }

    until = cJSON_GetObjectItemCaseSensitive(ctx->body, "until");

    if (until && !cJSON_IsNull(until)
        && (!cJSON_IsString(until)
            || cv_parse_time(until->valuestring, &ms) != CV_OK))
    {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "\"until\" must be an RFC 3339 time "
                                        "or null");
    }

    if (until && cJSON_IsString(until) && ngx_strcmp(mode, "auto") == 0) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "\"until\" goes with visible or "
                                        "hidden");
    }

    if (ngx_chatvisor_cluster_on(
            (ngx_chatvisor_main_conf_t *)
            ngx_http_get_module_main_conf(r, ngx_chatvisor_module)))
    {
        return ngx_chatvisor_api_visibility_cluster(r, ctx);
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_api_visibility_run,
                               ngx_chatvisor_api_visibility_done);
}
