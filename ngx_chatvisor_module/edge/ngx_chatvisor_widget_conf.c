/*
 * The widget's look: chatvisor_widget_* directives, their inheritance, and
 * the <script> tag that carries them to the browser, with what the page
 * offers of co-browsing (chatvisor_cobrowse, its selectors) and the
 * pre-chat form (chatvisor_prechat).
 */


#include "ngx_chatvisor_edge.h"
#include "cv_utf8.h"


/* the longest primary language subtag looked at */
#define NGX_CHATVISOR_LANGUAGE_MAX  8


void
ngx_chatvisor_widget_init_conf(ngx_chatvisor_widget_conf_t *w)
{
    ngx_memzero(w, sizeof(ngx_chatvisor_widget_conf_t));
    w->position = NGX_CONF_UNSET_UINT;
    w->show_after = NGX_CONF_UNSET_MSEC;
    w->cobrowse = NGX_CONF_UNSET;
    w->prechat = NGX_CONF_UNSET_UINT;
}


void
ngx_chatvisor_widget_merge_conf(ngx_chatvisor_widget_conf_t *conf,
    ngx_chatvisor_widget_conf_t *prev)
{
    ngx_uint_t  i;

    ngx_conf_merge_str_value(conf->color, prev->color,
                             NGX_CHATVISOR_DEFAULT_COLOR);
    ngx_conf_merge_uint_value(conf->position, prev->position,
                              NGX_CHATVISOR_DEFAULT_POSITION);
    ngx_conf_merge_str_value(conf->language, prev->language,
                             NGX_CHATVISOR_DEFAULT_LANGUAGE);
    ngx_conf_merge_msec_value(conf->show_after, prev->show_after,
                              NGX_CHATVISOR_DEFAULT_SHOW_AFTER);

    /* texts merge key by key */
    for (i = 0; i < NGX_CHATVISOR_TEXT_N; i++) {
        if (conf->text[i].data == NULL) {
            conf->text[i] = prev->text[i];
        }
    }

    ngx_conf_merge_value(conf->cobrowse, prev->cobrowse, 0);
    ngx_conf_merge_uint_value(conf->prechat, prev->prechat, 0);

    /* a level that lists selectors replaces the inherited list */
    if (conf->cobrowse_block == NULL) {
        conf->cobrowse_block = prev->cobrowse_block;
    }

    if (conf->cobrowse_mask == NULL) {
        conf->cobrowse_mask = prev->cobrowse_mask;
    }
}


/*
 * A CSS selector for the recorder: the browser refuses a malformed one,
 * so what can be seen here is refused here (a blank, a control character,
 * a brace or a semicolon outside quotes, unbalanced brackets or quotes).
 */

static ngx_uint_t
ngx_chatvisor_selector_valid(ngx_str_t *s)
{
    u_char      *p, *end, quote;
    ngx_uint_t   depth, blank;

    if (s->len == 0 || s->len > NGX_CHATVISOR_SELECTOR_MAX
        || cv_utf8_check((char *) s->data, s->len, NULL) != CV_OK)
    {
        return 0;
    }

    quote = 0;
    depth = 0;
    blank = 1;
    end = s->data + s->len;

    for (p = s->data; p < end; p++) {
        if (*p < ' ' || *p == 0x7f) {
            return 0;
        }

        if (*p != ' ') {
            blank = 0;
        }

        if (quote) {
            if (*p == '\\' && p + 1 < end) {
                p++;

            } else if (*p == quote) {
                quote = 0;
            }

            continue;
        }

        switch (*p) {
        case '"':
        case '\'':
            quote = *p;
            break;
        case '(':
        case '[':
            depth++;
            break;
        case ')':
        case ']':
            if (depth-- == 0) {
                return 0;
            }
            break;
        case '{':
        case '}':
        case ';':
            return 0;
        }
    }

    return !blank && !quote && depth == 0;
}


/* chatvisor_prechat off | email | name,email [required]; */

char *
ngx_chatvisor_widget_prechat(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chatvisor_widget_conf_t *w = (void *) ((u_char *) conf + cmd->offset);

    ngx_str_t  *value;

    if (w->prechat != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0 && cf->args->nelts == 2) {
        w->prechat = 0;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "email") == 0) {
        w->prechat = NGX_CHATVISOR_PRECHAT_EMAIL;

    } else if (ngx_strcmp(value[1].data, "name,email") == 0
               || ngx_strcmp(value[1].data, "email,name") == 0)
    {
        w->prechat = NGX_CHATVISOR_PRECHAT_EMAIL | NGX_CHATVISOR_PRECHAT_NAME;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid fields \"%V\" in \"%V\" directive, "
                           "it must be \"off\", \"email\" or "
                           "\"name,email\"", &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 3) {
        if (ngx_strcmp(value[2].data, "required") != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\" "
                               "directive, it must be \"required\"",
                               &value[2], &cmd->name);
            return NGX_CONF_ERROR;
        }

        w->prechat |= NGX_CHATVISOR_PRECHAT_REQUIRED;
    }

    return NGX_CONF_OK;
}


/* chatvisor_cobrowse_block SELECTOR; chatvisor_cobrowse_mask_text
 * SELECTOR; (each repeatable) */

char *
ngx_chatvisor_widget_selector(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_array_t **list = (void *) ((u_char *) conf + cmd->offset);

    ngx_str_t  *value, *sel;

    value = cf->args->elts;

    if (!ngx_chatvisor_selector_valid(&value[1])) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid selector \"%V\" in \"%V\" directive",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (*list == NULL) {
        *list = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
        if (*list == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    sel = ngx_array_push(*list);
    if (sel == NULL) {
        return NGX_CONF_ERROR;
    }

    *sel = value[1];

    return NGX_CONF_OK;
}


char *
ngx_chatvisor_widget_color(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chatvisor_widget_conf_t *w = (void *) ((u_char *) conf + cmd->offset);

    ngx_str_t  *value;

    if (w->color.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (!ngx_chatvisor_color_valid(value[1].data, value[1].len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid color \"%V\" in \"%V\" directive, "
                           "it must be #rgb or #rrggbb", &value[1],
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    w->color.len = value[1].len;
    w->color.data = ngx_pnalloc(cf->pool, value[1].len);
    if (w->color.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_strlow(w->color.data, value[1].data, value[1].len);

    return NGX_CONF_OK;
}


char *
ngx_chatvisor_widget_position(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chatvisor_widget_conf_t *w = (void *) ((u_char *) conf + cmd->offset);

    ngx_int_t   i;
    ngx_str_t  *value;

    if (w->position != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    i = ngx_chatvisor_position_find(value[1].data, value[1].len);

    if (i != NGX_ERROR) {
        w->position = i;
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid position \"%V\" in \"%V\" directive, "
                       "it must be \"right\" or \"left\"",
                       &value[1], &cmd->name);
    return NGX_CONF_ERROR;
}


char *
ngx_chatvisor_widget_text(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chatvisor_widget_conf_t *w = (void *) ((u_char *) conf + cmd->offset);

    u_char     *p;
    ngx_int_t   i;
    ngx_str_t  *value;

    value = cf->args->elts;

    i = ngx_chatvisor_text_key_find(value[1].data, value[1].len);

    if (i == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown text key \"%V\" in \"%V\" directive, "
                           "it must be one of " NGX_CHATVISOR_TEXT_KEYS_TEXT,
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (w->text[i].data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "text \"%V\" is set twice in \"%V\" directive",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (cv_utf8_check((char *) value[2].data, value[2].len, NULL) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "text \"%V\" in \"%V\" directive is not valid "
                           "UTF-8", &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    for (p = value[2].data; p < value[2].data + value[2].len; p++) {
        if (*p < ' ' && *p != '\t') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "text \"%V\" in \"%V\" directive contains a "
                               "control character", &value[1], &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    /* an empty text stays "set": it hides the built-in one */
    w->text[i] = value[2];
    if (w->text[i].data == NULL) {
        w->text[i].data = (u_char *) "";
    }

    return NGX_CONF_OK;
}


char *
ngx_chatvisor_widget_language(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chatvisor_widget_conf_t *w = (void *) ((u_char *) conf + cmd->offset);

    size_t       len;
    u_char       lang[NGX_CHATVISOR_LANGUAGE_MAX];
    ngx_str_t   *value;
    const char  *name;

    if (w->language.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* BCP 47: the primary subtag decides, "es-ES" and "de_AT" too */
    for (len = 0; len < value[1].len; len++) {
        if (value[1].data[len] == '-' || value[1].data[len] == '_') {
            break;
        }
    }

    if (len > 0 && len < sizeof(lang)) {
        ngx_strlow(lang, value[1].data, len);

        name = ngx_chatvisor_language_find(lang, len);

        if (name) {
            w->language.data = (u_char *) name;
            w->language.len = len;
            return NGX_CONF_OK;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unsupported language \"%V\" in \"%V\" directive, "
                       "it must be one of " NGX_CHATVISOR_LANGUAGES_TEXT,
                       &value[1], &cmd->name);
    return NGX_CONF_ERROR;
}


/* escapes & < > " ' for an attribute value; dst NULL: the extra length */

static uintptr_t
ngx_chatvisor_escape_attr(u_char *dst, u_char *src, size_t size)
{
    u_char     c;
    uintptr_t  extra;

    extra = 0;

    while (size--) {
        c = *src++;

        switch (c) {
        case '&':
            extra += 4;
            if (dst) { dst = ngx_cpymem(dst, "&amp;", 5); }
            continue;
        case '<':
            extra += 3;
            if (dst) { dst = ngx_cpymem(dst, "&lt;", 4); }
            continue;
        case '>':
            extra += 3;
            if (dst) { dst = ngx_cpymem(dst, "&gt;", 4); }
            continue;
        case '"':
            extra += 5;
            if (dst) { dst = ngx_cpymem(dst, "&quot;", 6); }
            continue;
        case '\'':
            extra += 4;
            if (dst) { dst = ngx_cpymem(dst, "&#39;", 5); }
            continue;
        }

        if (dst) {
            *dst++ = c;
        }
    }

    return dst ? (uintptr_t) dst : extra;
}


static u_char *
ngx_chatvisor_attr(u_char *p, const char *name, ngx_str_t *value)
{
    p = ngx_sprintf(p, " %s=\"", name);
    p = (u_char *) ngx_chatvisor_escape_attr(p, value->data, value->len);
    *p++ = '"';

    return p;
}


/* selectors joined with ", " into one attribute; dst NULL: the length */

static u_char *
ngx_chatvisor_attr_selectors(u_char *p, const char *name, ngx_array_t *list,
    size_t *len)
{
    ngx_str_t   *sel;
    ngx_uint_t   i;

    sel = list->elts;

    if (p == NULL) {
        *len = sizeof(" =\"\"") + ngx_strlen(name);

        for (i = 0; i < list->nelts; i++) {
            *len += sizeof(", ") - 1 + sel[i].len
                    + ngx_chatvisor_escape_attr(NULL, sel[i].data,
                                                sel[i].len);
        }

        return NULL;
    }

    p = ngx_sprintf(p, " %s=\"", name);

    for (i = 0; i < list->nelts; i++) {
        if (i) {
            p = ngx_cpymem(p, ", ", 2);
        }

        p = (u_char *) ngx_chatvisor_escape_attr(p, sel[i].data, sel[i].len);
    }

    *p++ = '"';

    return p;
}


static u_char *
ngx_chatvisor_attr_word(u_char *p, const char *name, const char *word)
{
    ngx_str_t  value;

    value.data = (u_char *) word;
    value.len = ngx_strlen(word);

    return ngx_chatvisor_attr(p, name, &value);
}


/*
 * <script async src="PREFIXwidget.js?v=HASH" data-chatvisor="1"
 *  data-color=".." data-position=".." data-language=".."
 *  data-text-KEY=".."... [data-cobrowse="1" data-cobrowse-block=".."
 *  data-cobrowse-mask=".."] [data-prechat="name,email"
 *  data-prechat-required="1"]
 * without the closing "></script>": a per-request nonce may follow.
 */

ngx_int_t
ngx_chatvisor_widget_build_tag(ngx_pool_t *pool,
    ngx_chatvisor_widget_conf_t *w, ngx_str_t *prefix, ngx_str_t *tag)
{
    u_char                 *p, name[32];
    size_t                  len, n;
    ngx_uint_t              i;
    ngx_chatvisor_asset_t  *widget;

    widget = ngx_chatvisor_asset_find((u_char *) "widget.js",
                                      sizeof("widget.js") - 1);
    if (widget == NULL) {
        return NGX_ERROR;    /* the build embeds it: cannot happen */
    }

    len = sizeof("<script async src=\"widget.js?v=\" data-chatvisor=\"1\"")
          + prefix->len + widget->hash.len
          + sizeof(" data-color=\"\"") + w->color.len
          + sizeof(" data-position=\"right\"")
          + sizeof(" data-language=\"\"") + w->language.len
          + sizeof(" data-show-after=\"ms\"") + NGX_INT_T_LEN;

    for (i = 0; i < NGX_CHATVISOR_TEXT_N; i++) {
        if (w->text[i].data) {
            len += sizeof(" data-text-=\"\"")
                   + ngx_strlen(ngx_chatvisor_text_key_name(i))
                   + w->text[i].len
                   + ngx_chatvisor_escape_attr(NULL, w->text[i].data,
                                               w->text[i].len);
        }
    }

    if (w->cobrowse) {
        len += sizeof(" data-cobrowse=\"1\"");

        if (w->cobrowse_block) {
            ngx_chatvisor_attr_selectors(NULL, "data-cobrowse-block",
                                         w->cobrowse_block, &n);
            len += n;
        }

        if (w->cobrowse_mask) {
            ngx_chatvisor_attr_selectors(NULL, "data-cobrowse-mask",
                                         w->cobrowse_mask, &n);
            len += n;
        }
    }

    len += sizeof(" data-prechat=\"name,email\"")
           + sizeof(" data-prechat-required=\"1\"");

    tag->data = ngx_pnalloc(pool, len);
    if (tag->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(tag->data, "<script async src=\"%Vwidget.js?v=%V\" "
                    "data-chatvisor=\"1\"", prefix, &widget->hash);
    p = ngx_chatvisor_attr(p, "data-color", &w->color);
    p = ngx_chatvisor_attr_word(p, "data-position",
                                ngx_chatvisor_position_name(w->position));
    p = ngx_chatvisor_attr(p, "data-language", &w->language);

    if (w->show_after) {
        p = ngx_sprintf(p, " data-show-after=\"%Mms\"", w->show_after);
    }

    for (i = 0; i < NGX_CHATVISOR_TEXT_N; i++) {
        if (w->text[i].data) {
            ngx_sprintf(name, "data-text-%s%Z",
                        ngx_chatvisor_text_key_name(i));
            p = ngx_chatvisor_attr(p, (char *) name, &w->text[i]);
        }
    }

    /* where co-browsing is off the widget never loads the recorder */
    if (w->cobrowse) {
        p = ngx_cpymem(p, " data-cobrowse=\"1\"",
                       sizeof(" data-cobrowse=\"1\"") - 1);

        if (w->cobrowse_block) {
            p = ngx_chatvisor_attr_selectors(p, "data-cobrowse-block",
                                             w->cobrowse_block, &n);
        }

        if (w->cobrowse_mask) {
            p = ngx_chatvisor_attr_selectors(p, "data-cobrowse-mask",
                                             w->cobrowse_mask, &n);
        }
    }

    if (w->prechat & NGX_CHATVISOR_PRECHAT_EMAIL) {
        p = ngx_chatvisor_attr_word(p, "data-prechat",
                                    (w->prechat & NGX_CHATVISOR_PRECHAT_NAME)
                                    ? "name,email" : "email");

        if (w->prechat & NGX_CHATVISOR_PRECHAT_REQUIRED) {
            p = ngx_cpymem(p, " data-prechat-required=\"1\"",
                           sizeof(" data-prechat-required=\"1\"") - 1);
        }
    }

    tag->len = p - tag->data;

    return NGX_OK;
}


/*
 * The tag for this request: the one built from nginx.conf, or, when the
 * REST API changed the widget, one built with those settings on top.
 */

ngx_int_t
ngx_chatvisor_widget_tag(ngx_http_request_t *r, ngx_str_t *tag)
{
    cJSON                        *rt, *v, *texts;
    ngx_uint_t                    i;
    ngx_chatvisor_widget_conf_t   w;
    ngx_chatvisor_loc_conf_t     *clcf;
    ngx_chatvisor_srv_conf_t     *cscf;
    ngx_chatvisor_main_conf_t    *cmcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_chatvisor_module);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    rt = ngx_chatvisor_settings_widget(cmcf);

    if (rt == NULL) {
        *tag = clcf->tag;
        return NGX_OK;
    }

    w = clcf->widget;

    v = cJSON_GetObjectItemCaseSensitive(rt, "color");
    if (cJSON_IsString(v)) {
        w.color.data = (u_char *) v->valuestring;
        w.color.len = ngx_strlen(v->valuestring);
    }

    v = cJSON_GetObjectItemCaseSensitive(rt, "position");
    if (cJSON_IsString(v)) {
        w.position = (ngx_strcmp(v->valuestring, "left") == 0)
                     ? NGX_CHATVISOR_POSITION_LEFT
                     : NGX_CHATVISOR_POSITION_RIGHT;
    }

    v = cJSON_GetObjectItemCaseSensitive(rt, "language");
    if (cJSON_IsString(v)) {
        w.language.data = (u_char *) v->valuestring;
        w.language.len = ngx_strlen(v->valuestring);
    }

    texts = cJSON_GetObjectItemCaseSensitive(rt, "texts");

    for (i = 0; i < NGX_CHATVISOR_TEXT_N; i++) {
        v = cJSON_GetObjectItemCaseSensitive(texts,
                               ngx_chatvisor_text_key_name(i));
        if (cJSON_IsString(v)) {
            w.text[i].data = (u_char *) v->valuestring;
            w.text[i].len = ngx_strlen(v->valuestring);
        }
    }

    cscf = ngx_http_get_module_srv_conf(r, ngx_chatvisor_module);

    return ngx_chatvisor_widget_build_tag(r->pool, &w, &cscf->prefix, tag);
}
