/* Strict JSON checking without a tree (see cv_json_check.h). */
#include "cv_json_check.h"
#include "cv_utf8.h"
#include "cv_swar.h"

#include <string.h>


/*
 * The scanners take the next byte to read and give the one after what
 * they read, or NULL when it is not what they read: the position stays in
 * a register through the whole check (a co-browsing chunk is a token every
 * three or four bytes, so what a token costs apart from its bytes is most
 * of the check).
 */


static const unsigned char *
cv_json_blanks(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
    }

    return p;
}


/* mostly none: rrweb's text is JSON.stringify()'s, without blanks */
#define cv_json_blank(p, end)                                                \
    if ((p) < (end) && *(p) <= ' ') {                                         \
        (p) = cv_json_blanks(p, end);                                         \
    }


static int
cv_json_hex(unsigned int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
           || (c >= 'A' && c <= 'F');
}


/* a string, from any byte inside it up to its end: eight bytes at a time
 * (the last ones of a text, where sixteen are not left, and what follows
 * a backslash), then byte by byte, escapes checked */

static const unsigned char *
cv_json_string_rest(const unsigned char *p, const unsigned char *end)
{
    unsigned int  c, i;

    for ( ;; ) {
        while (end - p >= CV_SWAR_WIDTH) {
            uint64_t  w = cv_swar_load(p);

            if (cv_swar_has_byte(w, '"') || cv_swar_has_byte(w, '\\')
                || cv_swar_has_less(w, 0x20))
            {
                break;
            }

            p += CV_SWAR_WIDTH;
        }

        while (p < end && *p >= 0x20 && *p != '"' && *p != '\\') {
            p++;
        }

        if (p == end) {
            return NULL;
        }

        c = *p++;

        if (c == '"') {
            return p;
        }

        if (c < 0x20) {
            return NULL;
        }

        /* a backslash */

        if (p == end) {
            return NULL;
        }

        c = *p++;

        switch (c) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n':
        case 'r': case 't':
            break;

        case 'u':
            if (end - p < 4) {
                return NULL;
            }

            for (i = 0; i < 4; i++) {
                if (!cv_json_hex(*p++)) {
                    return NULL;
                }
            }

            break;

        default:
            return NULL;
        }
    }
}


/*
 * A string, from the byte after its opening quote (UTF-8 was checked
 * before). Most are short and plain (rrweb's keys and values): one test
 * of sixteen bytes finds the closing quote, inline, and the rest (an
 * escape, the text's last bytes) is cv_json_string_rest()'s.
 */

static inline const unsigned char *
cv_json_string(const unsigned char *p, const unsigned char *end)
{
#if defined(CV_SWAR_WIDE)
    unsigned int  stops;

    while (end - p >= CV_SWAR_WIDE) {
        stops = cv_swar_string_stops(p);

        if (stops) {
            p += __builtin_ctz(stops);

            return *p == '"' ? p + 1 : cv_json_string_rest(p, end);
        }

        p += CV_SWAR_WIDE;
    }
#endif

    return cv_json_string_rest(p, end);
}


static const unsigned char *
cv_json_digits(const unsigned char *p, const unsigned char *end)
{
    const unsigned char  *start;

    start = p;

    while (p < end && *p >= '0' && *p <= '9') {
        p++;
    }

    return p > start ? p : NULL;
}


static const unsigned char *
cv_json_number(const unsigned char *p, const unsigned char *end)
{
    if (*p == '-') {
        p++;
    }

    if (p < end && *p == '0') {
        p++;

    } else if (!(p < end && *p >= '1' && *p <= '9')) {
        return NULL;

    } else {
        p = cv_json_digits(p, end);
    }

    if (p < end && *p == '.') {
        p = cv_json_digits(p + 1, end);

        if (p == NULL) {
            return NULL;
        }
    }

    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }

        p = cv_json_digits(p, end);
    }

    return p;
}


static const unsigned char *
cv_json_word(const unsigned char *p, const unsigned char *end,
    const char *word, size_t n)
{
    if ((size_t) (end - p) < n || memcmp(p, word, n) != 0) {
        return NULL;
    }

    return p + n;
}


/* a string, a number, true, false or null */

static const unsigned char *
cv_json_scalar(const unsigned char *p, const unsigned char *end)
{
    switch (*p) {
    case '"':
        return cv_json_string(p + 1, end);
    case 't':
        return cv_json_word(p, end, "true", 4);
    case 'f':
        return cv_json_word(p, end, "false", 5);
    case 'n':
        return cv_json_word(p, end, "null", 4);
    default:
        return (*p == '-' || (*p >= '0' && *p <= '9'))
               ? cv_json_number(p, end) : NULL;
    }
}


/* an object member's name and its colon */

static const unsigned char *
cv_json_key(const unsigned char *p, const unsigned char *end)
{
    cv_json_blank(p, end);

    if (p == end || *p != '"') {
        return NULL;
    }

    p = cv_json_string(p + 1, end);

    if (p == NULL) {
        return NULL;
    }

    cv_json_blank(p, end);

    if (p == end || *p != ':') {
        return NULL;
    }

    return p + 1;
}


cv_status
cv_json_object_array(const char *text, size_t len, cv_json_array_span *span)
{
    int                    want_value, object;
    size_t                 depth, count;
    unsigned int           c;
    unsigned char          objects[CV_JSON_DEPTH_MAX / 8]; /* a bit a level:
                                                   1 an object, 0 an array */
    const unsigned char   *p, *end, *start, *first, *close;

    if (cv_utf8_check(text, len, NULL) != CV_OK) {
        return CV_INVALID;
    }

    start = (const unsigned char *) text;
    p = start;
    end = start + len;

    cv_json_blank(p, end);

    if (p == end || *p != '[') {
        return CV_INVALID;
    }

    p++;
    objects[0] = 0;
    object = 0;         /* what the innermost open value is */
    depth = 1;
    count = 0;
    first = NULL;
    close = NULL;

    cv_json_blank(p, end);

    if (p < end && *p == ']') {
        close = p++;
        depth = 0;
    }

    want_value = 1;

    while (depth > 0) {
        cv_json_blank(p, end);

        if (p == end) {
            return CV_INVALID;
        }

        c = *p;

        if (want_value) {
            if (depth == 1) {
                if (c != '{') {
                    return CV_INVALID;
                }

                if (count++ == 0) {
                    first = p;
                }
            }

            if (c != '{' && c != '[') {
                p = cv_json_scalar(p, end);

                if (p == NULL) {
                    return CV_INVALID;
                }

                want_value = 0;
                continue;
            }

            if (depth == CV_JSON_DEPTH_MAX) {
                return CV_INVALID;
            }

            object = (c == '{');

            if (object) {
                objects[depth / 8] |= (unsigned char) (1u << (depth % 8));

            } else {
                objects[depth / 8] &= (unsigned char) ~(1u << (depth % 8));
            }

            depth++;
            p++;

            cv_json_blank(p, end);

            if (p < end && *p == (object ? '}' : ']')) {
                want_value = 0;     /* empty: closed next */
                continue;
            }

            if (object) {
                p = cv_json_key(p, end);

                if (p == NULL) {
                    return CV_INVALID;
                }
            }

            continue;
        }

        /* after a value: a comma, or the end of what holds it */

        if (c == ',') {
            p++;

            if (object) {
                p = cv_json_key(p, end);

                if (p == NULL) {
                    return CV_INVALID;
                }
            }

            want_value = 1;
            continue;
        }

        if (c != (object ? '}' : ']')) {
            return CV_INVALID;
        }

        if (--depth == 0) {
            close = p;

        } else {
            object = (objects[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1;
        }

        p++;
    }

    cv_json_blank(p, end);

    if (p != end) {
        return CV_INVALID;
    }

    span->count = count;
    span->inner_off = 0;
    span->inner_len = 0;

    if (count) {
        /* the last element is an object: its "}" ends the elements */
        while (*(close - 1) != '}') {
            close--;
        }

        span->inner_off = (size_t) (first - start);
        span->inner_len = (size_t) (close - first);
    }

    return CV_OK;
}
