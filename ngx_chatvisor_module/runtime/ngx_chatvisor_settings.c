/*
 * Settings the REST API changes at run time (widget look, visibility
 * override): kept in the store, which survives restarts, and mirrored in
 * the shared zone, which the edge reads on every page without a store
 * read.
 */


#include "ngx_chatvisor_shm.h"
#include "cv_settings.h"
#include "cv_time.h"


static const char  *ngx_chatvisor_languages[] = {
    NGX_CHATVISOR_LANGUAGES, NULL
};

static const char  *ngx_chatvisor_text_keys[] = {
    NGX_CHATVISOR_TEXT_KEYS, NULL
};

/* by NGX_CHATVISOR_POSITION_* */
static const char  *ngx_chatvisor_positions[] = { "right", "left", NULL };

/* www/widget/i18n.js's CONFIGURABLE must be NGX_CHATVISOR_TEXT_* */
typedef char  ngx_chatvisor_text_keys_match[
    sizeof(ngx_chatvisor_text_keys) / sizeof(char *) - 1
    == NGX_CHATVISOR_TEXT_N ? 1 : -1];


static ngx_int_t
ngx_chatvisor_word_find(const char **words, u_char *s, size_t len)
{
    ngx_uint_t  i;

    for (i = 0; words[i]; i++) {
        if (ngx_strlen(words[i]) == len && ngx_strncmp(s, words[i], len) == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


ngx_uint_t
ngx_chatvisor_color_valid(u_char *s, size_t len)
{
    size_t  i;

    if ((len != sizeof("#rgb") - 1 && len != sizeof("#rrggbb") - 1)
        || s[0] != '#')
    {
        return 0;
    }

    for (i = 1; i < len; i++) {
        if (!isxdigit(s[i])) {
            return 0;
        }
    }

    return 1;
}


ngx_int_t
ngx_chatvisor_position_find(u_char *s, size_t len)
{
    return ngx_chatvisor_word_find(ngx_chatvisor_positions, s, len);
}


const char *
ngx_chatvisor_position_name(ngx_uint_t position)
{
    return ngx_chatvisor_positions[position];
}


ngx_int_t
ngx_chatvisor_text_key_find(u_char *s, size_t len)
{
    return ngx_chatvisor_word_find(ngx_chatvisor_text_keys, s, len);
}


const char *
ngx_chatvisor_text_key_name(ngx_uint_t key)
{
    return ngx_chatvisor_text_keys[key];
}


const char *
ngx_chatvisor_language_find(u_char *s, size_t len)
{
    ngx_int_t  i;

    i = ngx_chatvisor_word_find(ngx_chatvisor_languages, s, len);

    return i == NGX_ERROR ? NULL : ngx_chatvisor_languages[i];
}


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


void
ngx_chatvisor_settings_visibility_set(ngx_chatvisor_main_conf_t *cmcf,
    cJSON *stored)
{
    int64_t        until;
    ngx_uint_t     mode;
    const char    *u;
    ngx_shmtx_t   *mutex;

    until = 0;
    u = cJSON_GetStringValue(cJSON_GetObjectItem(stored, "until"));

    if (u && cv_parse_time(u, &until) != CV_OK) {
        until = 0;
    }

    mode = ngx_chatvisor_mode_of(cJSON_GetStringValue(
                                     cJSON_GetObjectItem(stored, "mode")));

    mutex = ngx_chatvisor_shm_mutex(cmcf);

    ngx_shmtx_lock(mutex);
    cmcf->shm->settings.visibility_mode = mode;
    cmcf->shm->settings.visibility_until = until;
    ngx_shmtx_unlock(mutex);
}


/* read on every page: a lock-free read of two words is enough, a torn read
 * only mixes an old and a new setting for one page */

ngx_uint_t
ngx_chatvisor_settings_visibility(ngx_chatvisor_main_conf_t *cmcf,
    int64_t *until)
{
    ngx_uint_t  mode;

    *until = 0;

    if (cmcf->shm == NULL) {
        return NGX_CHATVISOR_MODE_AUTO;
    }

    mode = cmcf->shm->settings.visibility_mode;
    *until = cmcf->shm->settings.visibility_until;

    if (*until && cv_now_ms() >= *until) {
        *until = 0;
        return NGX_CHATVISOR_MODE_AUTO;
    }

    return mode;
}


ngx_int_t
ngx_chatvisor_settings_widget_set(ngx_chatvisor_main_conf_t *cmcf,
    cJSON *settings)
{
    char                      *json;
    size_t                     len;
    ngx_shmtx_t               *mutex;
    ngx_chatvisor_settings_t  *s;

    json = cJSON_PrintUnformatted(settings);
    if (json == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(json);
    if (len > NGX_CHATVISOR_WIDGET_MAX) {
        cJSON_free(json);
        return NGX_ERROR;
    }

    mutex = ngx_chatvisor_shm_mutex(cmcf);
    s = &cmcf->shm->settings;

    ngx_shmtx_lock(mutex);
    ngx_memcpy(s->widget, json, len);
    s->widget_len = len;
    s->widget_generation++;
    ngx_shmtx_unlock(mutex);

    cJSON_free(json);
    return NGX_OK;
}


/* parsed again only when the generation moved */

cJSON *
ngx_chatvisor_settings_widget(ngx_chatvisor_main_conf_t *cmcf)
{
    static cJSON       *cached;
    static ngx_uint_t   cached_generation;

    ngx_uint_t                 gen;
    ngx_shmtx_t               *mutex;
    ngx_chatvisor_settings_t  *s;

    if (cmcf->shm == NULL) {
        return NULL;
    }

    s = &cmcf->shm->settings;
    gen = s->widget_generation;   /* a word read: no lock needed */

    if (gen != cached_generation) {
        mutex = ngx_chatvisor_shm_mutex(cmcf);

        ngx_shmtx_lock(mutex);
        gen = s->widget_generation;
        cJSON_Delete(cached);
        cached = cJSON_ParseWithLength((char *) s->widget, s->widget_len);
        ngx_shmtx_unlock(mutex);

        cached_generation = gen;
    }

    return cached;
}


void
ngx_chatvisor_settings_load(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf)
{
    cJSON   *w;
    cv_txn  *t;

    /* once per start: a reload keeps the zone and what it holds */
    if (ngx_chatvisor_settings_widget(cmcf) != NULL
        || cv_txn_begin(cmcf->store, 0, &t) != CV_OK)
    {
        return;
    }

    if (cv_settings_get(t, "visibility", &w) == CV_OK) {
        ngx_chatvisor_settings_visibility_set(cmcf, w);
        cJSON_Delete(w);
    }

    if (cv_settings_get(t, "widget", &w) == CV_OK) {
        if (cJSON_GetArraySize(w) > 0
            && ngx_chatvisor_settings_widget_set(cmcf, w) != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                          "chatvisor: runtime widget settings too large");
        }

        cJSON_Delete(w);
    }

    cv_txn_abort(t);
}
