/*
 * JSON text built directly (see cv_json_text.h).
 */
#include "cv_json_text.h"
#include "cv_time.h"

#include <stdlib.h>
#include <string.h>


void
cv_jt_init(cv_json_text *b, size_t hint)
{
    b->cap = hint ? hint : 256;
    b->len = 0;
    b->data = malloc(b->cap);
    b->failed = (b->data == NULL);
}


void
cv_jt_free(cv_json_text *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}


static int
cv_jt_reserve(cv_json_text *b, size_t n)
{
    size_t   cap;
    char    *p;

    if (b->failed) {
        return -1;
    }

    if (b->len + n + 1 <= b->cap) {
        return 0;
    }

    cap = b->cap * 2;
    if (cap < b->len + n + 1) {
        cap = b->len + n + 1;
    }

    p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }

    b->data = p;
    b->cap = cap;

    return 0;
}


void
cv_jt_raw(cv_json_text *b, const void *s, size_t n)
{
    if (cv_jt_reserve(b, n) == 0) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
    }
}


void
cv_jt_lit(cv_json_text *b, const char *s)
{
    cv_jt_raw(b, s, strlen(s));
}


void
cv_jt_str(cv_json_text *b, const char *s)
{
    static const char  hex[] = "0123456789abcdef";
    const unsigned char  *p;
    char                 *o;
    size_t                n;

    if (s == NULL) {
        cv_jt_raw(b, "null", 4);
        return;
    }

    n = strlen(s);

    /* at worst every byte becomes \u00XX */
    if (cv_jt_reserve(b, 6 * n + 2) != 0) {
        return;
    }

    o = b->data + b->len;
    *o++ = '"';

    for (p = (const unsigned char *) s; *p; p++) {
        switch (*p) {
        case '"':  *o++ = '\\'; *o++ = '"'; break;
        case '\\': *o++ = '\\'; *o++ = '\\'; break;
        case '\b': *o++ = '\\'; *o++ = 'b'; break;
        case '\f': *o++ = '\\'; *o++ = 'f'; break;
        case '\n': *o++ = '\\'; *o++ = 'n'; break;
        case '\r': *o++ = '\\'; *o++ = 'r'; break;
        case '\t': *o++ = '\\'; *o++ = 't'; break;
        default:
            if (*p < 0x20) {
                *o++ = '\\'; *o++ = 'u'; *o++ = '0'; *o++ = '0';
                *o++ = hex[*p >> 4];
                *o++ = hex[*p & 15];

            } else {
                *o++ = (char) *p;
            }
        }
    }

    *o++ = '"';
    b->len = o - b->data;
}


void
cv_jt_u64(cv_json_text *b, uint64_t v)
{
    char   buf[24], *p;

    p = buf + sizeof(buf);

    do {
        *--p = (char) ('0' + v % 10);
        v /= 10;
    } while (v);

    cv_jt_raw(b, p, buf + sizeof(buf) - p);
}


void
cv_jt_time(cv_json_text *b, int64_t ms)
{
    char  stamp[CV_TIME_STR];

    cv_format_time(ms, stamp);
    cv_jt_raw(b, "\"", 1);
    cv_jt_lit(b, stamp);
    cv_jt_raw(b, "\"", 1);
}


char *
cv_jt_take(cv_json_text *b, size_t *len)
{
    char  *s;

    if (cv_jt_reserve(b, 0) != 0) {
        cv_jt_free(b);
        return NULL;
    }

    b->data[b->len] = '\0';
    s = b->data;

    if (len) {
        *len = b->len;
    }

    b->data = NULL;
    b->len = 0;
    b->cap = 0;

    return s;
}
