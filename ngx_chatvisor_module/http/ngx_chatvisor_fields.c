/*
 * Checks of body fields: unknown fields are an error, so that a typo never
 * passes silently; the fields the chat and the API share (message text,
 * agent ids, flags) are checked here once. The checks themselves are the
 * engine's (cv_fields.c, fuzzed); this file words their errors.
 */


#include "ngx_chatvisor_http.h"
#include "cv_fields.h"


/* how much of an unknown field's name an error quotes */
#define NGX_CHATVISOR_FIELD_QUOTE  64


ngx_int_t
ngx_chatvisor_fields_allowed(cJSON *body, const char **allowed,
    ngx_chatvisor_err_t *err)
{
    const char   *name;
    const cJSON  *item;

    item = cv_field_unknown(body, allowed);

    if (item == NULL) {
        return NGX_OK;
    }

    name = item->string ? item->string : "";

    return ngx_chatvisor_invalidf(err, "unknown field \"%*s\"",
                                  ngx_min(ngx_strlen(name),
                                          NGX_CHATVISOR_FIELD_QUOTE),
                                  name);
}


/* the error of a string field's check */

static ngx_int_t
ngx_chatvisor_field_err(cv_field_check c, const char *name,
    ngx_chatvisor_err_t *err)
{
    switch (c) {

    case CV_FIELD_OK:
        return NGX_OK;

    case CV_FIELD_MISSING:
        return ngx_chatvisor_invalidf(err, "\"%s\" is required", name);

    case CV_FIELD_TOO_LONG:
        return ngx_chatvisor_invalidf(err, "\"%s\" is too long", name);

    default:
        return ngx_chatvisor_invalidf(err, "\"%s\" must be a string", name);
    }
}


ngx_int_t
ngx_chatvisor_field_string(cJSON *body, const char *name, size_t max,
    ngx_uint_t required, const char **out, ngx_chatvisor_err_t *err)
{
    return ngx_chatvisor_field_err(cv_field_string(body, name, max,
                                                   required != 0, out),
                                   name, err);
}


ngx_int_t
ngx_chatvisor_field_flag(cJSON *body, const char *name, ngx_uint_t *out,
    ngx_chatvisor_err_t *err)
{
    int  flag;

    if (cv_field_flag(body, name, &flag) != CV_FIELD_OK) {
        return ngx_chatvisor_invalidf(err, "\"%s\" must be true or false",
                                      name);
    }

    *out = flag;

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_field_agent_id(cJSON *body, const char *name,
    ngx_uint_t nullable, ngx_chatvisor_err_t *err)
{
    if (cv_field_agent_id(body, name, nullable != 0) != CV_FIELD_OK) {
        return ngx_chatvisor_invalidf(err, "\"%s\" must be an agent id",
                                      name);
    }

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_message_fields(cJSON *body, const char **text,
    const char **client_msg_id, ngx_chatvisor_err_t *err)
{
    const char      *bad, *why;
    cv_field_check   c;

    c = cv_field_message(body, text, client_msg_id, &bad, &why);

    if (why) {
        return ngx_chatvisor_invalid(err, why);
    }

    return ngx_chatvisor_field_err(c, bad, err);
}


const char *
ngx_chatvisor_body_string(cJSON *body, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, name));
}
