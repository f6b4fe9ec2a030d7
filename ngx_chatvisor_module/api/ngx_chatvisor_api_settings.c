/*
 * REST: runtime widget settings (GET / PUT settings/widget). They are kept
 * in the store and mirrored in shared memory, so the injection filter of
 * every worker uses them without a store read per page.
 */


#include "ngx_chatvisor_api.h"
#include "cv_settings.h"
#include "cv_utf8.h"


/* characters of a widget text */
#define NGX_CHATVISOR_TEXT_CHARS_MAX  300


/* {"color", "position", "language", "texts"}, every key present */

static cJSON *
ngx_chatvisor_settings_view(cJSON *stored)
{
    static const char  *keys[] = { "color", "position", "language", NULL };

    cJSON       *out, *v;
    ngx_uint_t   i;

    out = cJSON_CreateObject();

    for (i = 0; keys[i]; i++) {
        v = cJSON_GetObjectItemCaseSensitive(stored, keys[i]);
        cJSON_AddItemToObject(out, keys[i],
                              cJSON_IsString(v) ? cJSON_Duplicate(v, 0)
                                                : cJSON_CreateNull());
    }

    v = cJSON_GetObjectItemCaseSensitive(stored, "texts");
    cJSON_AddItemToObject(out, "texts", cJSON_IsObject(v)
                                        ? cJSON_Duplicate(v, 1)
                                        : cJSON_CreateObject());
    return out;
}


/* GET settings/widget */

ngx_int_t
ngx_chatvisor_api_widget_get(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    cJSON                      *stored, *view;
    cv_status                   st;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    st = ngx_chatvisor_store_read(cmcf, cv_settings_get, "widget", &stored);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    view = ngx_chatvisor_settings_view(stored);
    cJSON_Delete(stored);

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, view);
}


/* a string or null; the string's bytes in *s */

static ngx_uint_t
ngx_chatvisor_settings_string(cJSON *f, u_char **s, size_t *len)
{
    if (cJSON_IsNull(f)) {
        *s = NULL;
        return 1;
    }

    if (!cJSON_IsString(f)) {
        return 0;
    }

    *s = (u_char *) f->valuestring;
    *len = ngx_strlen(f->valuestring);

    return 1;
}


static const char *
ngx_chatvisor_settings_texts(cJSON *texts)
{
    cJSON   *t;
    u_char  *s;
    size_t   len, chars, i;

    if (!cJSON_IsObject(texts)) {
        return "\"texts\" must be an object";
    }

    cJSON_ArrayForEach(t, texts) {
        if (ngx_chatvisor_text_key_find((u_char *) t->string,
                                        ngx_strlen(t->string))
            == NGX_ERROR)
        {
            return "texts are " NGX_CHATVISOR_TEXT_KEYS_TEXT;
        }

        if (!cJSON_IsString(t)) {
            goto invalid;
        }

        s = (u_char *) t->valuestring;
        len = ngx_strlen(t->valuestring);

        if (cv_utf8_check((char *) s, len, &chars) != CV_OK
            || chars > NGX_CHATVISOR_TEXT_CHARS_MAX)
        {
            goto invalid;
        }

        for (i = 0; i < len; i++) {
            if (s[i] < 0x20) {
                return "texts must not contain control characters";
            }
        }
    }

    return NULL;

invalid:

    return "each text must be a UTF-8 string of at most "
           NGX_CHATVISOR_STR(NGX_CHATVISOR_TEXT_CHARS_MAX) " characters";
}


/* the body of PUT settings/widget: NULL when fine, else what is wrong */

static const char *
ngx_chatvisor_settings_check(cJSON *body)
{
    cJSON       *f;
    u_char      *s;
    size_t       len;
    const char  *why;

    cJSON_ArrayForEach(f, body) {
        if (ngx_strcmp(f->string, "texts") == 0) {
            why = cJSON_IsNull(f) ? NULL : ngx_chatvisor_settings_texts(f);

            if (why) {
                return why;
            }

        } else if (ngx_strcmp(f->string, "color") == 0) {
            if (!ngx_chatvisor_settings_string(f, &s, &len)
                || (s && !ngx_chatvisor_color_valid(s, len)))
            {
                return "\"color\" must be #rgb, #rrggbb or null";
            }

        } else if (ngx_strcmp(f->string, "position") == 0) {
            if (!ngx_chatvisor_settings_string(f, &s, &len)
                || (s && ngx_chatvisor_position_find(s, len) == NGX_ERROR))
            {
                return "\"position\" must be right, left or null";
            }

        } else if (ngx_strcmp(f->string, "language") == 0) {
            if (!ngx_chatvisor_settings_string(f, &s, &len)
                || (s && ngx_chatvisor_language_find(s, len) == NULL))
            {
                return "\"language\" must be "
                       NGX_CHATVISOR_LANGUAGES_TEXT " or null";
            }

        } else {
            return "unknown field";
        }
    }

    return NULL;
}


static cv_status
ngx_chatvisor_api_widget_run(ngx_http_request_t *r, cv_txn *t)
{
    cJSON                *view;
    cv_status             st;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);

    view = ngx_chatvisor_settings_view(ctx->body);

    st = cv_settings_put(t, "widget", view);
    if (st != CV_OK) {
        cJSON_Delete(view);
        return st;
    }

    ctx->op.result = view;
    return CV_OK;
}


static ngx_int_t
ngx_chatvisor_api_widget_done(ngx_http_request_t *r, cv_status st)
{
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    ctx = ngx_chatvisor_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    /* committed: every worker's filter sees it from the next page on */
    if (st == CV_OK
        && ngx_chatvisor_settings_widget_set(cmcf, ctx->op.result) != NGX_OK)
    {
        st = CV_ERROR;
    }

    return ngx_chatvisor_send_op(r, st);
}


/*
 * Cluster mode: the settings as stored, a command (engine/
 * cv_cluster_writes.h) that every node applies and mirrors in its shared
 * memory; the answer is the stored view (this worker does not mirror it
 * again: a later PUT may have been applied meanwhile).
 */

static ngx_int_t
ngx_chatvisor_api_widget_cluster(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    return ngx_chatvisor_cluster_settings_put(r, "widget",
                                     ngx_chatvisor_settings_view(ctx->body),
                                     NULL);
}


/* PUT settings/widget {"color", "position", "language", "texts"} */

ngx_int_t
ngx_chatvisor_api_widget_put(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    const char  *why;

    why = ngx_chatvisor_settings_check(ctx->body);
    if (why) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request", why);
    }

    if (ngx_chatvisor_cluster_on(
            (ngx_chatvisor_main_conf_t *)
            ngx_http_get_module_main_conf(r, ngx_chatvisor_module)))
    {
        return ngx_chatvisor_api_widget_cluster(r, ctx);
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_api_widget_run,
                               ngx_chatvisor_api_widget_done);
}
