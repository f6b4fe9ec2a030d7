/* Strict JSON checking without a tree (see cv_json_check.h). */
#include "cv_json_check.h"
#include "cv_utf8.h"
#include "cv_swar.h"

#include <string.h>


typedef struct {
    const unsigned char  *p;
    const unsigned char  *end;
} cv_json_scan;


static inline void
cv_json_blank(cv_json_scan *s)
{
    /* mostly none: rrweb's text is JSON.stringify()'s, without blanks */
    if (s->p < s->end && *s->p > ' ') {
        return;
    }

    while (s->p < s->end
           && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n'
               || *s->p == '\r'))
    {
        s->p++;
    }
}


static int
cv_json_hex(unsigned int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
           || (c >= 'A' && c <= 'F');
}


static int
cv_json_digits(cv_json_scan *s)
{
    const unsigned char  *start;

    start = s->p;

    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        s->p++;
    }

    return s->p > start;
}


/* a string, from its opening quote (UTF-8 was checked before) */

static int
cv_json_string(cv_json_scan *s)
{
    unsigned int  c, i;
#if defined(CV_SWAR_WIDE)
    unsigned int  stops;
#endif

    s->p++;

    for ( ;; ) {
        /* a plain run (no quote, backslash or control character) is
         * skipped sixteen or eight bytes at a time, then byte by byte */
#if defined(CV_SWAR_WIDE)
        while (s->end - s->p >= CV_SWAR_WIDE) {
            stops = cv_swar_string_stops(s->p);

            if (stops) {
                s->p += __builtin_ctz(stops);
                goto stop;
            }

            s->p += CV_SWAR_WIDE;
        }
#endif

        while (s->end - s->p >= CV_SWAR_WIDTH) {
            uint64_t  w = cv_swar_load(s->p);

            if (cv_swar_has_byte(w, '"') || cv_swar_has_byte(w, '\\')
                || cv_swar_has_less(w, 0x20))
            {
                break;
            }

            s->p += CV_SWAR_WIDTH;
        }

        while (s->p < s->end && *s->p >= 0x20 && *s->p != '"'
               && *s->p != '\\')
        {
            s->p++;
        }

        if (s->p == s->end) {
            return 0;
        }

#if defined(CV_SWAR_WIDE)
    stop:
#endif

        c = *s->p++;

        if (c == '"') {
            return 1;
        }

        if (c < 0x20) {
            return 0;
        }

        /* a backslash */

        if (s->p == s->end) {
            return 0;
        }

        c = *s->p++;

        switch (c) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n':
        case 'r': case 't':
            break;

        case 'u':
            if (s->end - s->p < 4) {
                return 0;
            }

            for (i = 0; i < 4; i++) {
                if (!cv_json_hex(*s->p++)) {
                    return 0;
                }
            }

            break;

        default:
            return 0;
        }
    }
}


static int
cv_json_number(cv_json_scan *s)
{
    if (*s->p == '-') {
        s->p++;
    }

    if (s->p < s->end && *s->p == '0') {
        s->p++;

    } else if (!(s->p < s->end && *s->p >= '1' && *s->p <= '9')
               || !cv_json_digits(s))
    {
        return 0;
    }

    if (s->p < s->end && *s->p == '.') {
        s->p++;

        if (!cv_json_digits(s)) {
            return 0;
        }
    }

    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;

        if (s->p < s->end && (*s->p == '+' || *s->p == '-')) {
            s->p++;
        }

        if (!cv_json_digits(s)) {
            return 0;
        }
    }

    return 1;
}


static int
cv_json_word(cv_json_scan *s, const char *word)
{
    size_t  n;

    n = strlen(word);

    if ((size_t) (s->end - s->p) < n || memcmp(s->p, word, n) != 0) {
        return 0;
    }

    s->p += n;

    return 1;
}


/* a string, a number, true, false or null */

static int
cv_json_scalar(cv_json_scan *s)
{
    switch (*s->p) {
    case '"':
        return cv_json_string(s);
    case 't':
        return cv_json_word(s, "true");
    case 'f':
        return cv_json_word(s, "false");
    case 'n':
        return cv_json_word(s, "null");
    default:
        return (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
               && cv_json_number(s);
    }
}


/* an object member's name and its colon */

static int
cv_json_key(cv_json_scan *s)
{
    cv_json_blank(s);

    if (s->p == s->end || *s->p != '"' || !cv_json_string(s)) {
        return 0;
    }

    cv_json_blank(s);

    if (s->p == s->end || *s->p != ':') {
        return 0;
    }

    s->p++;

    return 1;
}


cv_status
cv_json_object_array(const char *text, size_t len, cv_json_array_span *span)
{
    int                    want_value, object;
    size_t                 depth, count;
    unsigned int           c;
    unsigned char          objects[CV_JSON_DEPTH_MAX / 8]; /* a bit a level:
                                                   1 an object, 0 an array */
    cv_json_scan           s;
    const unsigned char   *start, *first, *close;

    if (cv_utf8_check(text, len, NULL) != CV_OK) {
        return CV_INVALID;
    }

    start = (const unsigned char *) text;
    s.p = start;
    s.end = start + len;

    cv_json_blank(&s);

    if (s.p == s.end || *s.p != '[') {
        return CV_INVALID;
    }

    s.p++;
    objects[0] = 0;
    depth = 1;
    count = 0;
    first = NULL;
    close = NULL;

    cv_json_blank(&s);

    if (s.p < s.end && *s.p == ']') {
        close = s.p++;
        depth = 0;
    }

    want_value = 1;

    while (depth > 0) {
        cv_json_blank(&s);

        if (s.p == s.end) {
            return CV_INVALID;
        }

        c = *s.p;

        if (want_value) {
            if (depth == 1) {
                if (c != '{') {
                    return CV_INVALID;
                }

                if (count++ == 0) {
                    first = s.p;
                }
            }

            if (c != '{' && c != '[') {
                if (!cv_json_scalar(&s)) {
                    return CV_INVALID;
                }

                want_value = 0;
                continue;
            }

            if (depth == CV_JSON_DEPTH_MAX) {
                return CV_INVALID;
            }

            if (c == '{') {
                objects[depth / 8] |= (unsigned char) (1u << (depth % 8));

            } else {
                objects[depth / 8] &= (unsigned char) ~(1u << (depth % 8));
            }

            depth++;
            s.p++;

            cv_json_blank(&s);

            if (s.p < s.end && *s.p == (c == '{' ? '}' : ']')) {
                want_value = 0;     /* empty: closed next */
                continue;
            }

            if (c == '{' && !cv_json_key(&s)) {
                return CV_INVALID;
            }

            continue;
        }

        /* after a value: a comma, or the end of what holds it */
        object = (objects[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1;

        if (c == ',') {
            s.p++;

            if (object && !cv_json_key(&s)) {
                return CV_INVALID;
            }

            want_value = 1;
            continue;
        }

        if (c != (object ? '}' : ']')) {
            return CV_INVALID;
        }

        if (--depth == 0) {
            close = s.p;
        }

        s.p++;
    }

    cv_json_blank(&s);

    if (s.p != s.end) {
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
