/*
 * Checks of body fields: unknown fields are an error, so that a typo never
 * passes silently; the fields the chat and the API share (message text,
 * agent ids, flags) are checked here once.
 */


#include "ngx_chatvisor_http.h"


/* how much of an unknown field's name an error quotes */
#define NGX_CHATVISOR_FIELD_QUOTE  64


ngx_int_t
ngx_chatvisor_fields_allowed(cJSON *body, const char **allowed,
    ngx_chatvisor_err_t *err)
{
    cJSON        *item;
    const char  **a;

    cJSON_ArrayForEach(item, body) {
        for (a = allowed; *a; a++) {
            if (ngx_strcmp(item->string, *a) == 0) {
                break;
            }
        }

        if (*a == NULL) {
            return ngx_chatvisor_invalidf(err, "unknown field \"%*s\"",
                                          ngx_min(ngx_strlen(item->string),
                                                  NGX_CHATVISOR_FIELD_QUOTE),
                                          item->string);
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_field_string(cJSON *body, const char *name, size_t max,
    ngx_uint_t required, const char **out, ngx_chatvisor_err_t *err)
{
    cJSON  *item;

    *out = NULL;
    item = cJSON_GetObjectItemCaseSensitive(body, name);

    if (item == NULL || cJSON_IsNull(item)) {
        return required ? ngx_chatvisor_invalidf(err, "\"%s\" is required",
                                                 name)
                        : NGX_OK;
    }

    if (!cJSON_IsString(item)) {
        return ngx_chatvisor_invalidf(err, "\"%s\" must be a string", name);
    }

    if (ngx_strlen(item->valuestring) > max) {
        return ngx_chatvisor_invalidf(err, "\"%s\" is too long", name);
    }

    *out = item->valuestring;

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_field_flag(cJSON *body, const char *name, ngx_uint_t *out,
    ngx_chatvisor_err_t *err)
{
    cJSON  *item;

    item = cJSON_GetObjectItemCaseSensitive(body, name);

    if (item && !cJSON_IsBool(item)) {
        return ngx_chatvisor_invalidf(err, "\"%s\" must be true or false",
                                      name);
    }

    *out = (item == NULL || cJSON_IsTrue(item));

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_field_agent_id(cJSON *body, const char *name,
    ngx_uint_t nullable, ngx_chatvisor_err_t *err)
{
    cJSON  *item;

    item = cJSON_GetObjectItemCaseSensitive(body, name);

    if (item == NULL || (nullable && cJSON_IsNull(item))) {
        return NGX_OK;
    }

    if (!cJSON_IsString(item) || !cv_agent_id_valid(item->valuestring)) {
        return ngx_chatvisor_invalidf(err, "\"%s\" must be an agent id",
                                      name);
    }

    return NGX_OK;
}


/* text as it may come in: CV_TEXT_MAX characters of up to 4 bytes, and
 * blanks around them (cv_text_invalid counts the characters) */
#define NGX_CHATVISOR_TEXT_BYTES  (4 * CV_TEXT_MAX + 4)


ngx_int_t
ngx_chatvisor_message_fields(cJSON *body, const char **text,
    const char **client_msg_id, ngx_chatvisor_err_t *err)
{
    const char  *why;

    if (ngx_chatvisor_field_string(body, "text", NGX_CHATVISOR_TEXT_BYTES, 1,
                                   text, err)
        != NGX_OK
        || ngx_chatvisor_field_string(body, "client_msg_id",
                                      CV_CLIENT_MSG_ID_MAX, 0, client_msg_id,
                                      err)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    why = cv_text_invalid(*text, ngx_strlen(*text));

    if (why) {
        return ngx_chatvisor_invalid(err, why);
    }

    return NGX_OK;
}


const char *
ngx_chatvisor_body_string(cJSON *body, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, name));
}
