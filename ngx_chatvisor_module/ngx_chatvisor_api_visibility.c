/*
 * REST: GET / PUT visibility {"mode": "auto" | "visible" | "hidden",
 * "until": RFC 3339 | null}. Kept in the store (it survives restarts) and
 * mirrored in shared memory, which the edge reads on every page; after
 * "until" the mode is auto again by itself.
 */


#include "ngx_chatvisor.h"
#include "cv_settings.h"
#include "cv_time.h"


static ngx_int_t ngx_chatvisor_api_visibility_body(ngx_http_request_t *r,
    cJSON *body);
static cv_status ngx_chatvisor_api_visibility_run(ngx_http_request_t *r,
    cv_txn *t);
static ngx_int_t ngx_chatvisor_api_visibility_done(ngx_http_request_t *r,
    cv_status st);


static ngx_uint_t
ngx_chatvisor_mode_of(const char *s)
{
    if (s && ngx_strcmp(s, "visible") == 0) {
        return NGX_CHATVISOR_MODE_VISIBLE;
    }

    if (s && ngx_strcmp(s, "hidden") == 0) {
        return NGX_CHATVISOR_MODE_HIDDEN;
    }

    return NGX_CHATVISOR_MODE_AUTO;
}


/* the stored setting into shared memory */

void
ngx_chatvisor_visibility_apply(ngx_chatvisor_main_conf_t *cmcf,
    cJSON *stored)
{
    int64_t      until;
    const char  *u;

    until = 0;
    u = cJSON_GetStringValue(cJSON_GetObjectItem(stored, "until"));

    if (u && cv_parse_time(u, &until) != 0) {
        until = 0;
    }

    ngx_chatvisor_shared_visibility_set(cmcf,
        ngx_chatvisor_mode_of(cJSON_GetStringValue(
                                  cJSON_GetObjectItem(stored, "mode"))),
        until);
}


/* what GET answers: an override whose time passed reads as auto */

static cJSON *
ngx_chatvisor_visibility_view(ngx_chatvisor_main_conf_t *cmcf)
{
    char        stamp[CV_TIME_STR];
    cJSON      *out;
    int64_t     until;
    ngx_uint_t  mode;

    mode = ngx_chatvisor_shared_visibility_get(cmcf, &until);

    if (until && cv_now_ms() >= until) {
        mode = NGX_CHATVISOR_MODE_AUTO;
        until = 0;
    }

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
ngx_chatvisor_api_visibility(ngx_http_request_t *r, ngx_str_t *seg,
    ngx_uint_t n)
{
    ngx_chatvisor_main_conf_t  *cmcf;

    if (n != 1) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "no such API resource");
    }

    if (r->method == NGX_HTTP_PUT) {
        return ngx_chatvisor_read_json(r, ngx_chatvisor_api_visibility_body);
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_chatvisor_send_method_not_allowed(r, "GET, HEAD, PUT");
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK,
                                   ngx_chatvisor_visibility_view(cmcf));
}


static ngx_int_t
ngx_chatvisor_api_visibility_body(ngx_http_request_t *r, cJSON *body)
{
    static const char  *allowed[] = { "mode", "until", NULL };

    cJSON       *mode, *until;
    int64_t      ms;

    if (ngx_chatvisor_check_fields(r, body, allowed) != NGX_OK) {
        return ngx_chatvisor_sent(r);
    }

    mode = cJSON_GetObjectItemCaseSensitive(body, "mode");

    if (!cJSON_IsString(mode)
        || (ngx_strcmp(mode->valuestring, "auto") != 0
            && ngx_strcmp(mode->valuestring, "visible") != 0
            && ngx_strcmp(mode->valuestring, "hidden") != 0))
    {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "\"mode\" must be auto, visible or "
                                        "hidden");
    }

    until = cJSON_GetObjectItemCaseSensitive(body, "until");

    if (until && !cJSON_IsNull(until)
        && (!cJSON_IsString(until)
            || cv_parse_time(until->valuestring, &ms) != 0))
    {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "\"until\" must be an RFC 3339 time "
                                        "or null");
    }

    if (until && cJSON_IsString(until)
        && ngx_strcmp(mode->valuestring, "auto") == 0)
    {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "\"until\" goes with visible or "
                                        "hidden");
    }

    return ngx_chatvisor_commit(r, ngx_chatvisor_api_visibility_run,
                                ngx_chatvisor_api_visibility_done);
}


static cv_status
ngx_chatvisor_api_visibility_run(ngx_http_request_t *r, cv_txn *t)
{
    char                  stamp[CV_TIME_STR];
    cJSON                *stored;
    int64_t               ms;
    cv_status             st;
    const char           *u;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_get_ctx(r);

    stored = cJSON_CreateObject();
    cJSON_AddStringToObject(stored, "mode", cJSON_GetStringValue(
                                cJSON_GetObjectItem(ctx->body, "mode")));

    u = cJSON_GetStringValue(cJSON_GetObjectItem(ctx->body, "until"));

    if (u && cv_parse_time(u, &ms) == 0) {
        cv_format_time(ms, stamp);
        cJSON_AddStringToObject(stored, "until", stamp);

    } else {
        cJSON_AddNullToObject(stored, "until");
    }

    st = cv_settings_put(t, "visibility", stored);
    if (st != CV_OK) {
        cJSON_Delete(stored);
        return st;
    }

    ctx->result = stored;
    return CV_OK;
}


static ngx_int_t
ngx_chatvisor_api_visibility_done(ngx_http_request_t *r, cv_status st)
{
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st);
    }

    ctx = ngx_chatvisor_get_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    /* committed: from the next page on, in every worker */
    ngx_chatvisor_visibility_apply(cmcf, ctx->result);

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK,
                                   ngx_chatvisor_visibility_view(cmcf));
}
