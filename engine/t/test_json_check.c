/* Unit tests of the JSON checker (engine/cv_json_check.c): it accepts what
 * RFC 8259 accepts (cJSON, more lenient, agrees on every valid case), only
 * arrays of objects, and says where the elements are. */
#define _POSIX_C_SOURCE 200809L

#include "cv_json_check.h"
#include "tap.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>


static int
valid(const char *text)
{
    cv_json_array_span  span;

    return cv_json_object_array(text, strlen(text), &span) == CV_OK;
}


/* the elements' text as "a,b", or NULL when text is refused */
static char *
inner(const char *text, size_t *count)
{
    char                *out;
    cv_json_array_span   span;

    if (cv_json_object_array(text, strlen(text), &span) != CV_OK) {
        return NULL;
    }

    out = malloc(span.inner_len + 1);
    memcpy(out, text + span.inner_off, span.inner_len);
    out[span.inner_len] = '\0';
    *count = span.count;

    return out;
}


static void
inner_is(const char *text, const char *want, size_t want_count)
{
    char    *got;
    size_t   count;

    count = 0;
    got = inner(text, &count);

    ok(got && strcmp(got, want) == 0 && count == want_count,
       "%s: elements \"%s\", %zu of them", text, want, want_count);

    if (got && (strcmp(got, want) != 0 || count != want_count)) {
        diag("got \"%s\", %zu", got, count);
    }

    free(got);
}


/* nesting of depth levels: [{"a":[[[...]]]}] */
static char *
nested(size_t depth)
{
    char    *s, *p;
    size_t   i, arrays;

    arrays = depth - 2;     /* the outer array and its object */
    s = malloc(arrays * 2 + 16);
    p = s;
    p += sprintf(p, "[{\"a\":");

    for (i = 0; i < arrays; i++) {
        *p++ = '[';
    }

    for (i = 0; i < arrays; i++) {
        *p++ = ']';
    }

    strcpy(p, "}]");

    return s;
}


int
main(void)
{
    size_t              i;
    char               *deep;
    cJSON              *json;
    cv_json_array_span  span;

    static const char  *good[] = {
        "[]",
        " [ ] ",
        "[{}]",
        "[{\"type\":2,\"data\":{\"node\":{\"childNodes\":[]}}}]",
        "[{\"a\":1},{\"b\":-0.5e+10},{\"c\":[true,false,null,\"x\"]}]",
        "\n\t[ { \"a\" : [ 1 , 2 ] } , { } ]\r\n",
        "[{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u0000\"}]",
        "[{\"n\":0,\"m\":-0,\"k\":10.25E-3,\"j\":1e5}]",
        "[{\"utf8\":\"\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80\"}]",
        "[{\"\":{}}]",
        NULL
    };

    static const char  *bad[] = {
        "",
        " ",
        "{}",
        "\"x\"",
        "1",
        "null",
        "[1]",
        "[\"x\"]",
        "[[]]",
        "[null]",
        "[{}",
        "[{}]]",
        "[{}] [{}]",
        "[{},]",
        "[,{}]",
        "[{} {}]",
        "[{\"a\"}]",
        "[{\"a\":}]",
        "[{\"a\" 1}]",
        "[{a:1}]",
        "[{'a':1}]",
        "[{\"a\":1,}]",
        "[{,}]",
        "[{\"a\":[1,]}]",
        "[{\"a\":01}]",
        "[{\"a\":1.}]",
        "[{\"a\":.5}]",
        "[{\"a\":-}]",
        "[{\"a\":1e}]",
        "[{\"a\":+1}]",
        "[{\"a\":NaN}]",
        "[{\"a\":Infinity}]",
        "[{\"a\":tru}]",
        "[{\"a\":True}]",
        "[{\"a\":\"x}]",
        "[{\"a\":\"\\x\"}]",
        "[{\"a\":\"\\u12\"}]",
        "[{\"a\":\"\\u12g4\"}]",
        "[{\"a\":\"tab\there\"}]",
        "[{\"a\":\"\xc3\"}]",
        "[{\"a\":\"\xed\xa0\x80\"}]",
        "[{\"a\":\"\xc0\xaf\"}]",
        "[{\"a\":1}]\x01",
        "\xef\xbb\xbf[{}]",
        "[{\"a\":[}]",
        "[{\"a\":{]}]",
        "[{\"a\":1}}",
        NULL
    };

    for (i = 0; good[i]; i++) {
        ok(valid(good[i]), "valid: %s", good[i]);

        /* cJSON, which is more lenient, reads every one of them */
        json = cJSON_Parse(good[i]);
        ok(json != NULL, "cJSON agrees: %s", good[i]);
        cJSON_Delete(json);
    }

    for (i = 0; bad[i]; i++) {
        ok(!valid(bad[i]), "refused: %s", bad[i]);
    }

    /* a NUL byte is never JSON, inside a string or outside */
    ok(cv_json_object_array("[{\"a\":\"x\0\"}]", 11, &span) == CV_INVALID,
       "refused: a NUL byte in a string");
    ok(cv_json_object_array("[{}]\0", 5, &span) == CV_INVALID,
       "refused: a NUL byte after the array");

    inner_is("[]", "", 0);
    inner_is(" [ ] ", "", 0);
    inner_is("[{}]", "{}", 1);
    inner_is("[ {\"a\":1} , {\"b\":[2]} ]", "{\"a\":1} , {\"b\":[2]}", 2);
    inner_is("\n[\n{\"x\":\"]\"}\n]\n", "{\"x\":\"]\"}", 1);
    inner_is("[{\"a\":{\"b\":{}}}]", "{\"a\":{\"b\":{}}}", 1);

    deep = nested(CV_JSON_DEPTH_MAX);
    ok(valid(deep), "nesting of %d levels is accepted", CV_JSON_DEPTH_MAX);
    free(deep);

    deep = nested(CV_JSON_DEPTH_MAX + 1);
    ok(!valid(deep), "nesting of %d levels is refused",
       CV_JSON_DEPTH_MAX + 1);
    free(deep);

    /* the eight-bytes-at-a-time runs (cv_swar.h): a quote, a backslash,
     * a control character or a non-ASCII byte at every offset of a long
     * string, and the string's end at every offset */
    {
        char    text[128], *p;
        size_t  at, len;
        int     all_ok;

        static const char  *plain = "abcdefghijklmnopqrstuvwxyz0123456789"
                                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ.,;:!?()+-";

        all_ok = 1;

        for (len = 0; len < 40; len++) {
            for (at = 0; at <= len; at++) {
                /* [{"s":"<len plain bytes, one of them replaced>"}] */
                p = text + sprintf(text, "[{\"s\":\"");
                memcpy(p, plain, len);
                p[len] = '\0';

                if (at < len) {
                    p[at] = '\t';              /* a control character */
                    strcat(text, "\"}]");
                    all_ok &= !valid(text);

                    p[at] = '"';                /* the string ends there */
                    all_ok &= !valid(text);

                    memcpy(p, plain, len);
                    p[at] = '\\';              /* an escape: \n */
                    p[len] = '\0';
                    memmove(p + at + 1, p + at, len - at + 1);
                    p[at + 1] = 'n';
                    strcat(text, "\"}]");
                    all_ok &= valid(text);

                    /* an escape that is not one: \q */
                    p[at + 1] = 'q';
                    all_ok &= !valid(text);

                    /* two bytes of UTF-8 in the run: é */
                    p = text + sprintf(text, "[{\"s\":\"");
                    memcpy(p, plain, len);
                    p[at] = '\xc3';
                    p[len] = '\0';
                    memmove(p + at + 1, p + at, len - at + 1);
                    p[at + 1] = '\xa9';
                    strcat(text, "\"}]");
                    all_ok &= valid(text);

                    /* and a lone continuation byte */
                    p[at] = '\xa9';
                    all_ok &= !valid(text);

                } else {
                    strcat(text, "\"}]");
                    all_ok &= valid(text);

                    /* unended */
                    text[strlen(text) - 3] = '\0';
                    all_ok &= !valid(text);
                }
            }
        }

        ok(all_ok, "strings of 0 to 39 bytes with a quote, an escape, a "
           "control character or UTF-8 at every offset");
    }

    /* a long array of objects, as a snapshot batch */
    {
        char    *big, *p;
        size_t   n;

        n = 100000;
        big = malloc(n * 24 + 8);
        p = big;
        *p++ = '[';

        for (i = 0; i < n; i++) {
            p += sprintf(p, "%s{\"type\":3,\"i\":%zu}", i ? "," : "", i);
        }

        strcpy(p, "]");

        ok(cv_json_object_array(big, strlen(big), &span) == CV_OK
           && span.count == n && span.inner_off == 1
           && span.inner_len == strlen(big) - 2,
           "an array of %zu objects: all counted, the elements span", n);

        free(big);
    }

    return done_testing();
}
