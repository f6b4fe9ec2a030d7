/* Unit tests of request bodies and their fields (cv_body.c, cv_fields.c). */
#define _POSIX_C_SOURCE 200809L

#include "cv_body.h"
#include "cv_fields.h"
#include "tap.h"

#include <string.h>

static const char  *message_fields[] = { "text", "client_msg_id", NULL };


static cJSON *
form(const char *s)
{
    static char  buf[256];

    strcpy(buf, s);
    return cv_body_form(buf, strlen(s));
}


/* a body as the route reads it, by its length */
static cJSON *
json(const char *s)
{
    return cv_body_json(s, strlen(s));
}


static const char *
get(const cJSON *o, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));
}


int
main(void)
{
    cJSON           *b;
    const char      *text, *cmid, *bad, *why, *s;
    cv_field_check   c;
    int              flag;

    ok(cv_body_has_nul("{\"a\":\"\\u0000\"}", 14), "a \\u0000 escape");
    ok(!cv_body_has_nul("{\"a\":\"\\\\u0000\"}", 15),
       "an escaped backslash and u0000 is none");
    ok(cv_body_has_nul("{\"a\":\"\\\\\\u0000\"}", 16),
       "three backslashes: an escape");
    ok(cv_body_has_nul("{\"a\":\"\0\"}", 9), "a NUL byte");
    ok(!cv_body_has_nul("{\"a\":\"\\u0001\"}", 14), "\\u0001 is fine");

    b = cv_body_json("{\"a\":1} \r\n\t", 11);
    ok(cJSON_IsObject(b), "an object, then blanks");
    cJSON_Delete(b);
    ok(cv_body_json("{\"a\":1} x", 9) == NULL, "then something else: none");
    ok(cv_body_json("{\"a\":1}{}", 9) == NULL, "two values: none");
    ok(cv_body_json("{\"a\":", 5) == NULL, "cut short: none");
    b = cv_body_json("{\"a\":1}garbage", 7);
    ok(cJSON_IsObject(b), "only len bytes are read");
    cJSON_Delete(b);

    b = form("grant_type=client_credentials&client_id=a%2Bb&scope=x+y");
    ok(b && strcmp(get(b, "client_id"), "a+b") == 0
       && strcmp(get(b, "scope"), "x y") == 0
       && strcmp(get(b, "grant_type"), "client_credentials") == 0,
       "a form: %%XX and + unescaped");
    cJSON_Delete(b);
    ok(form("a=1&a=2") == NULL, "a repeated name: none");
    b = form("a=%zz&b=%4g&c=%4&&=x&d");
    ok(b && strcmp(get(b, "a"), "zz") == 0 && strcmp(get(b, "b"), "") == 0
       && strcmp(get(b, "c"), "") == 0 && cJSON_GetArraySize(b) == 3,
       "bad escapes read as nginx reads them; no name or no = is skipped");
    cJSON_Delete(b);

    b = json("{\"text\":\" hi \",\"extra\":1}");
    ok(strcmp(cv_field_unknown(b, message_fields)->string, "extra") == 0,
       "an unknown field is named");
    c = cv_field_message(b, &text, &cmid, &bad, &why);
    ok(c == CV_FIELD_OK && strcmp(text, " hi ") == 0 && cmid == NULL,
       "a message's text");
    cJSON_Delete(b);

    b = json("{\"text\":\"   \"}");
    c = cv_field_message(b, &text, &cmid, &bad, &why);
    ok(c == CV_FIELD_WRONG_TYPE && why != NULL && strcmp(bad, "text") == 0,
       "blank text: its reason (%s)", why ? why : "none");
    cJSON_Delete(b);

    b = json("{\"client_msg_id\":\"m\"}");
    c = cv_field_message(b, &text, &cmid, &bad, &why);
    ok(c == CV_FIELD_MISSING && strcmp(bad, "text") == 0 && why == NULL,
       "no text: missing");
    cJSON_Delete(b);

    b = json("{\"text\":\"a\",\"client_msg_id\":7}");
    c = cv_field_message(b, &text, &cmid, &bad, &why);
    ok(c == CV_FIELD_WRONG_TYPE && strcmp(bad, "client_msg_id") == 0
       && why == NULL, "a client_msg_id that is no string");
    cJSON_Delete(b);

    b = json("{\"s\":\"abcd\",\"sp\":\"a b\",\"n\":null,\"t\":true,\"f\":1}");
    ok(cv_field_string(b, "s", 4, 1, &s) == CV_FIELD_OK
       && strcmp(s, "abcd") == 0, "a string of max bytes");
    ok(cv_field_string(b, "s", 3, 1, &s) == CV_FIELD_TOO_LONG, "too long");
    ok(cv_field_string(b, "n", 3, 0, &s) == CV_FIELD_OK && s == NULL,
       "null, optional: none");
    ok(cv_field_string(b, "n", 3, 1, &s) == CV_FIELD_MISSING,
       "null, required: missing");
    ok(cv_field_string(b, "t", 3, 1, &s) == CV_FIELD_WRONG_TYPE,
       "a flag is no string");
    ok(cv_field_flag(b, "t", &flag) == CV_FIELD_OK && flag == 1, "a flag");
    ok(cv_field_flag(b, "absent", &flag) == CV_FIELD_OK && flag == 1,
       "an absent flag is true");
    ok(cv_field_flag(b, "f", &flag) == CV_FIELD_WRONG_TYPE,
       "1 is no flag");
    ok(cv_field_agent_id(b, "n", 1) == CV_FIELD_OK, "null agent, nullable");
    ok(cv_field_agent_id(b, "n", 0) == CV_FIELD_WRONG_TYPE,
       "null agent, not nullable");
    ok(cv_field_agent_id(b, "s", 1) == CV_FIELD_OK,
       "a slug is an agent id");
    ok(cv_field_agent_id(b, "sp", 1) == CV_FIELD_WRONG_TYPE,
       "a string that is no agent id");
    cJSON_Delete(b);

    return done_testing();
}
