/*
 * JSON text built directly (see cv_json_text.h).
 */
#include "cv_json_text.h"
#include "cv_time.h"

#include "cv_status.h"

#include <stdlib.h>
#include <string.h>

#define CV_JT_FIRST      256   /* bytes, when the caller gives no hint */
#define CV_JT_ESCAPE     6     /* a byte escaped at worst: \u00XX */
#define CV_JT_U64_DIGITS 20    /* of UINT64_MAX */


void
cv_jt_init(cv_json_text *b, size_t hint)
{
    b->cap = hint ? hint : CV_JT_FIRST;
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


/* room for n more bytes and a NUL */
static cv_status
cv_jt_reserve(cv_json_text *b, size_t n)
{
    size_t   cap;
    char    *p;

    if (b->failed) {
        return CV_ERROR;
    }

    if (b->len + n + 1 <= b->cap) {
        return CV_OK;
    }

    cap = b->cap * 2;
    if (cap < b->len + n + 1) {
        cap = b->len + n + 1;
    }

    p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = 1;
        return CV_ERROR;
    }

    b->data = p;
    b->cap = cap;

    return CV_OK;
}


void
cv_jt_raw(cv_json_text *b, const void *s, size_t n)
{
    if (cv_jt_reserve(b, n) == CV_OK) {
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

    /* at worst every byte is escaped; and the quotes */
    if (cv_jt_reserve(b, CV_JT_ESCAPE * n + 2) != CV_OK) {
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
    char   buf[CV_JT_U64_DIGITS], *p;

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
    size_t  n;

    /* formatted in place, between its quotes */
    if (cv_jt_reserve(b, CV_TIME_STR + 2) != CV_OK) {
        return;
    }

    b->data[b->len] = '"';
    cv_format_time(ms, b->data + b->len + 1);
    n = strlen(b->data + b->len + 1);
    b->data[b->len + 1 + n] = '"';
    b->len += n + 2;
}


char *
cv_jt_take(cv_json_text *b, size_t *len)
{
    char  *s;

    if (cv_jt_reserve(b, 0) != CV_OK) {
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
