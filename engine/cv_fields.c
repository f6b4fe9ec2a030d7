/*
 * Checks of body fields (cv_fields.h): unknown fields are an error, so
 * that a typo never passes silently.
 */
#include "cv_fields.h"
#include "cv_agents.h"

#include <string.h>


const cJSON *
cv_field_unknown(const cJSON *body, const char **allowed)
{
    const cJSON   *item;
    const char   **a;

    cJSON_ArrayForEach(item, body) {
        for (a = allowed; *a; a++) {
            if (item->string && strcmp(item->string, *a) == 0) {
                break;
            }
        }

        if (*a == NULL) {
            return item;
        }
    }

    return NULL;
}


cv_field_check
cv_field_string(const cJSON *body, const char *name, size_t max,
    int required, const char **out)
{
    const cJSON  *item;

    *out = NULL;
    item = cJSON_GetObjectItemCaseSensitive(body, name);

    if (item == NULL || cJSON_IsNull(item)) {
        return required ? CV_FIELD_MISSING : CV_FIELD_OK;
    }

    if (!cJSON_IsString(item)) {
        return CV_FIELD_WRONG_TYPE;
    }

    if (strlen(item->valuestring) > max) {
        return CV_FIELD_TOO_LONG;
    }

    *out = item->valuestring;

    return CV_FIELD_OK;
}


cv_field_check
cv_field_flag(const cJSON *body, const char *name, int *out)
{
    const cJSON  *item;

    item = cJSON_GetObjectItemCaseSensitive(body, name);

    if (item && !cJSON_IsBool(item)) {
        return CV_FIELD_WRONG_TYPE;
    }

    *out = (item == NULL || cJSON_IsTrue(item));

    return CV_FIELD_OK;
}


cv_field_check
cv_field_agent_id(const cJSON *body, const char *name, int nullable)
{
    const cJSON  *item;

    item = cJSON_GetObjectItemCaseSensitive(body, name);

    if (item == NULL || (nullable && cJSON_IsNull(item))) {
        return CV_FIELD_OK;
    }

    if (!cJSON_IsString(item) || !cv_agent_id_valid(item->valuestring)) {
        return CV_FIELD_WRONG_TYPE;
    }

    return CV_FIELD_OK;
}


cv_field_check
cv_field_message(const cJSON *body, const char **text,
    const char **client_msg_id, const char **bad, const char **why)
{
    cv_field_check  c;

    *why = NULL;
    *client_msg_id = NULL;

    *bad = "text";
    c = cv_field_string(body, "text", CV_FIELD_TEXT_BYTES, 1, text);
    if (c != CV_FIELD_OK) {
        return c;
    }

    *bad = "client_msg_id";
    c = cv_field_string(body, "client_msg_id", CV_CLIENT_MSG_ID_MAX, 0,
                        client_msg_id);
    if (c != CV_FIELD_OK) {
        return c;
    }

    *bad = "text";
    *why = cv_text_invalid(*text, strlen(*text));

    return *why ? CV_FIELD_WRONG_TYPE : CV_FIELD_OK;
}
