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
    cv_txn                     *t;
    cv_status                   st;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    st = cv_settings_get(t, "widget", &stored);
    cv_txn_abort(t);

    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st, NULL);
    }

    view = ngx_chatvisor_settings_view(stored);
    cJSON_Delete(stored);

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK, view);
}


static const char *
ngx_chatvisor_settings_check(cJSON *body)
{
    static const char  *text_keys[] = { "title", "greeting", "placeholder",
                                        "offline", "launcher", NULL };

    cJSON        *f, *t;
    size_t        len, chars, i;
    const char  **k;
    const char   *s;

    cJSON_ArrayForEach(f, body) {
        if (ngx_strcmp(f->string, "color") == 0) {
            if (cJSON_IsNull(f)) {
                continue;
            }

            s = cJSON_GetStringValue(f);
            len = s ? ngx_strlen(s) : 0;

            if (s == NULL || (len != 4 && len != 7) || s[0] != '#') {
                return "\"color\" must be #rgb, #rrggbb or null";
            }

            for (i = 1; i < len; i++) {
                if (!isxdigit((u_char) s[i])) {
                    return "\"color\" must be #rgb, #rrggbb or null";
                }
            }

        } else if (ngx_strcmp(f->string, "position") == 0) {
            s = cJSON_GetStringValue(f);

            if (!cJSON_IsNull(f)
                && (s == NULL || (ngx_strcmp(s, "right") != 0
                                  && ngx_strcmp(s, "left") != 0)))
            {
                return "\"position\" must be right, left or null";
            }

        } else if (ngx_strcmp(f->string, "language") == 0) {
            s = cJSON_GetStringValue(f);

            if (!cJSON_IsNull(f)
                && (s == NULL || (ngx_strcmp(s, "en") != 0
                                  && ngx_strcmp(s, "es") != 0
                                  && ngx_strcmp(s, "de") != 0
                                  && ngx_strcmp(s, "fr") != 0)))
            {
                return "\"language\" must be en, es, de, fr or null";
            }

        } else if (ngx_strcmp(f->string, "texts") == 0) {
            if (cJSON_IsNull(f)) {
                continue;
            }

            if (!cJSON_IsObject(f)) {
                return "\"texts\" must be an object";
            }

            cJSON_ArrayForEach(t, f) {
                for (k = text_keys; *k; k++) {
                    if (ngx_strcmp(t->string, *k) == 0) {
                        break;
                    }
                }

                if (*k == NULL) {
                    return "texts are title, greeting, placeholder, "
                           "offline and launcher";
                }

                s = cJSON_GetStringValue(t);

                if (s == NULL
                    || cv_utf8_check(s, ngx_strlen(s), &chars) != 0
                    || chars > NGX_CHATVISOR_TEXT_CHARS_MAX)
                {
                    return "each text must be a UTF-8 string of at most "
                           NGX_CHATVISOR_STR(NGX_CHATVISOR_TEXT_CHARS_MAX)
                           " characters";
                }

                for (i = 0; s[i]; i++) {
                    if ((u_char) s[i] < 0x20) {
                        return "texts must not contain control characters";
                    }
                }
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

    return ngx_chatvisor_write(r, ngx_chatvisor_api_widget_run,
                               ngx_chatvisor_api_widget_done);
}
