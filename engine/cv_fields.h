/*
 * Checks of a request body's fields, the ones the chat and the API share:
 * unknown fields, strings, flags, agent ids, message text. Each answers
 * what is wrong; the nginx side words the error.
 */
#ifndef CV_FIELDS_H
#define CV_FIELDS_H

#include "cv_chat.h"

#include <cjson/cJSON.h>
#include <stddef.h>

typedef enum {
    CV_FIELD_OK = 0,
    CV_FIELD_MISSING,      /* required, and absent or null */
    CV_FIELD_WRONG_TYPE,   /* not a string, not a flag, not an agent id */
    CV_FIELD_TOO_LONG
} cv_field_check;

/* text as it may come in: CV_TEXT_MAX characters of up to 4 bytes, and
 * blanks around them (cv_text_invalid counts the characters) */
#define CV_FIELD_TEXT_BYTES  (4 * CV_TEXT_MAX + 4)

/* The first field of body whose name is not in allowed (NULL-ended), or
 * NULL when there is none. */
const cJSON *cv_field_unknown(const cJSON *body, const char **allowed);

/* A string field: *out NULL when absent or null. */
cv_field_check cv_field_string(const cJSON *body, const char *name,
    size_t max, int required, const char **out);

/* An optional true / false field: *out 1 when absent. */
cv_field_check cv_field_flag(const cJSON *body, const char *name, int *out);

/* An optional agent id field; null is allowed when nullable. */
cv_field_check cv_field_agent_id(const cJSON *body, const char *name,
    int nullable);

/* A message's "text" (required) and "client_msg_id": the field that is
 * wrong in *bad and how, or, for text that is no message, its reason in
 * *why (then CV_FIELD_WRONG_TYPE with *bad "text"). */
cv_field_check cv_field_message(const cJSON *body, const char **text,
    const char **client_msg_id, const char **bad, const char **why);

#endif
