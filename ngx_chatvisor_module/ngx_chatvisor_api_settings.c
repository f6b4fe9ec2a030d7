/*
 * REST: runtime widget settings (GET / PUT settings/widget). They are kept
 * in the store and mirrored in shared memory, so the injection filter of
 * every worker uses them without a store read per page.
 */


#include "ngx_chatvisor.h"
#include "cv_settings.h"
#include "cv_utf8.h"


static ngx_int_t ngx_chatvisor_api_settings_body(ngx_http_request_t *r,
    cJSON *body);
static cv_status ngx_chatvisor_api_settings_run(ngx_http_request_t *r,
    cv_txn *t);
static ngx_int_t ngx_chatvisor_api_settings_done(ngx_http_request_t *r,
    cv_status st);


/* {"color", "position", "language", "texts"}, every key present */

static cJSON *
ngx_chatvisor_settings_view(cJSON *stored)
{
    static const char  *keys[] = { "color", "position", "language" };

    cJSON       *out, *v;
    ngx_uint_t   i;

    out = cJSON_CreateObject();

    for (i = 0; i < 3; i++) {
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


ngx_int_t
ngx_chatvisor_api_settings(ngx_http_request_t *r, ngx_str_t *seg,
    ngx_uint_t n)
{
    cJSON                      *stored;
    cv_txn                     *t;
    cv_status                   st;
    ngx_chatvisor_main_conf_t  *cmcf;

    if (n != 2 || !ngx_chatvisor_str_is(&seg[1], "widget")) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "no such settings");
    }

    if (r->method == NGX_HTTP_PUT) {
        return ngx_chatvisor_read_json(r, ngx_chatvisor_api_settings_body);
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_chatvisor_send_method_not_allowed(r, "GET, HEAD, PUT");
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st);
    }

    st = cv_settings_get(t, "widget", &stored);
    cv_txn_abort(t);

    if (st != CV_OK) {
        return ngx_chatvisor_send_status(r, st);
    }

    r->headers_out.status = NGX_HTTP_OK;

    return ngx_chatvisor_send_json(r, NGX_HTTP_OK,
                                   ngx_chatvisor_settings_view(stored));
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
                    || chars > 300)
                {
                    return "each text must be a UTF-8 string of at most "
                           "300 characters";
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


static ngx_int_t
ngx_chatvisor_api_settings_body(ngx_http_request_t *r, cJSON *body)
{
    const char  *why;

    why = ngx_chatvisor_settings_check(body);
    if (why) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request", why);
    }

    return ngx_chatvisor_commit(r, ngx_chatvisor_api_settings_run,
                                ngx_chatvisor_api_settings_done);
}


static cv_status
ngx_chatvisor_api_settings_run(ngx_http_request_t *r, cv_txn *t)
{
    cJSON                *view;
    cv_status             st;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_get_ctx(r);

    view = ngx_chatvisor_settings_view(ctx->body);

    st = cv_settings_put(t, "widget", view);
    if (st != CV_OK) {
        cJSON_Delete(view);
        return st;
    }

    ctx->result = view;
    return CV_OK;
}


static ngx_int_t
ngx_chatvisor_api_settings_done(ngx_http_request_t *r, cv_status st)
{
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    ctx = ngx_chatvisor_get_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    /* committed: every worker's filter sees it from the next page on */
    if (st == CV_OK
        && ngx_chatvisor_shared_widget_set(cmcf, ctx->result) != NGX_OK)
    {
        st = CV_ERROR;
    }

    return ngx_chatvisor_api_done(r, st);
}
