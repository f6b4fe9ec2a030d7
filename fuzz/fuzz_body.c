/*
 * Request bodies through the endpoint validators (engine/cv_body.c,
 * engine/cv_fields.c), as ngx_chatvisor_body.c and the route tables use
 * them: the first byte picks how the body is read (a JSON object, a JSON
 * array where a route takes one, or a form) and whose fields are allowed;
 * the rest is the body.
 *
 * Invariants: a body with U+0000 in it is refused before parsing; what is
 * accepted is an object (or an array for an array route) that prints and
 * parses back the same; a form has no repeated names and only strings; a
 * message that passes has text of 1..CV_TEXT_MAX valid characters.
 */
#include "cv_agents.h"
#include "cv_body.h"
#include "cv_fields.h"
#include "fuzz.h"

#include <string.h>

/* the routes' allowed fields (visitor, console and API route tables) */
static const char  *post_fields[] = {
    "text", "client_msg_id", "page_url", NULL
};
static const char  *api_message_fields[] = {
    "text", "agent_id", "client_msg_id", NULL
};
static const char  *token_fields[] = {
    "grant_type", "client_id", "client_secret", "scope", NULL
};
static const char  *typing_fields[] = { "typing", NULL };
static const char  *assign_fields[] = { "agent_id", NULL };
static const char  *visibility_fields[] = { "mode", "until", NULL };
static const char  *webhook_fields[] = { "url", "events", "status", NULL };
static const char  *no_fields[] = { NULL };

static const char **const  field_lists[] = {
    post_fields, api_message_fields, token_fields, typing_fields,
    assign_fields, visibility_fields, webhook_fields, no_fields
};

#define LISTS  (sizeof(field_lists) / sizeof(field_lists[0]))

enum { AS_OBJECT, AS_ARRAY, AS_FORM, KINDS };


static void
check_fields(const cJSON *body, const char **allowed)
{
    const char     *text, *cmid, *bad, *why, *s, **a;
    const cJSON    *unknown;
    cv_field_check  c;
    int             flag;

    unknown = cv_field_unknown(body, allowed);
    if (unknown) {
        for (a = allowed; *a; a++) {
            CHECK(strcmp(unknown->string, *a) != 0);
        }
    }

    c = cv_field_message(body, &text, &cmid, &bad, &why);
    if (c == CV_FIELD_OK) {
        CHECK(text != NULL && why == NULL);
        CHECK(cv_text_invalid(text, strlen(text)) == NULL);
        CHECK(strlen(text) <= CV_FIELD_TEXT_BYTES);
        CHECK(cmid == NULL || strlen(cmid) <= CV_CLIENT_MSG_ID_MAX);

    } else {
        CHECK(bad != NULL);
        CHECK(why == NULL || c == CV_FIELD_WRONG_TYPE);
    }

    if (cv_field_flag(body, "typing", &flag) == CV_FIELD_OK) {
        CHECK(flag == 0 || flag == 1);
    }

    if (cv_field_agent_id(body, "agent_id", 0) == CV_FIELD_OK) {
        s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body,
                                                                "agent_id"));
        CHECK(s == NULL || cv_agent_id_valid(s));
    }

    (void) cv_field_agent_id(body, "agent_id", 1);

    if (cv_field_string(body, "page_url", 2048, 0, &s) == CV_FIELD_OK) {
        CHECK(s == NULL || strlen(s) <= 2048);
    }

    (void) cv_field_string(body, "status", 16, 1, &s);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char         *text, *printed, *reprinted;
    cJSON        *body, *again;
    size_t        len;
    unsigned      kind, list;
    const cJSON  *item, *other;

    if (size == 0) {
        return 0;
    }

    kind = data[0] % KINDS;
    list = (data[0] / KINDS) % LISTS;
    len = size - 1;

    /* as ngx_chatvisor_body_text() leaves it: NUL-terminated */
    text = malloc(len + 1);
    CHECK(text != NULL);
    memcpy(text, data + 1, len);
    text[len] = '\0';

    if (cv_body_has_nul(text, len)) {
        free(text);
        return 0;
    }

    CHECK(strlen(text) == len);

    body = (kind == AS_FORM) ? cv_body_form(text, len)
                             : cv_body_json(text, len);

    if (body == NULL) {
        free(text);
        return 0;
    }

    if (kind == AS_FORM) {
        CHECK(cJSON_IsObject(body));

        cJSON_ArrayForEach(item, body) {
            CHECK(cJSON_IsString(item));
            for (other = item->next; other; other = other->next) {
                CHECK(strcmp(item->string, other->string) != 0);
            }
        }

    } else {
        /* what parses prints, and that parses back into the same text
         * (a repeated name stays repeated: readers take the first) */
        printed = cJSON_PrintUnformatted(body);
        CHECK(printed != NULL);
        again = cJSON_Parse(printed);
        CHECK(again != NULL);
        reprinted = cJSON_PrintUnformatted(again);
        CHECK(reprinted != NULL && strcmp(printed, reprinted) == 0);
        cJSON_free(reprinted);
        cJSON_Delete(again);
        cJSON_free(printed);
    }

    if (cJSON_IsObject(body)) {
        check_fields(body, field_lists[list]);

    } else if (kind == AS_ARRAY && cJSON_IsArray(body)) {
        /* an array route (agents' visibility) checks each item itself */
        cJSON_ArrayForEach(item, body) {
            (void) (cJSON_IsString(item)
                    && cv_agent_id_valid(item->valuestring));
        }
    }

    cJSON_Delete(body);
    free(text);
    return 0;
}
