/* Strict UTF-8 validation. */
#include "cv_utf8.h"
#include "cv_swar.h"

#define CV_UNICODE_MAX       0x10ffff
#define CV_SURROGATE_FIRST   0xd800
#define CV_SURROGATE_LAST    0xdfff


cv_status
cv_utf8_check(const char *s, size_t len, size_t *chars)
{
    const unsigned char  *p, *end;
    unsigned int          c, n, min;
    size_t                count;

    p = (const unsigned char *) s;
    end = p + len;
    count = 0;

    while (p < end) {
        /* ASCII runs eight bytes at a time */
        while (end - p >= CV_SWAR_WIDTH && !cv_swar_has_high(cv_swar_load(p)))
        {
            p += CV_SWAR_WIDTH;
            count += CV_SWAR_WIDTH;
        }

        if (p == end) {
            break;
        }

        c = *p++;
        count++;

        if (c < 0x80) {
            continue;
        }

        /* the lead byte: how many continuation bytes, its payload bits,
         * and the smallest code point that needs this many */
        if (c >= 0xf0 && c <= 0xf4) {
            n = 3; c &= 0x07; min = 0x10000;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2; c &= 0x0f; min = 0x800;

        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1; c &= 0x1f; min = 0x80;

        } else {
            return CV_INVALID;
        }

        if ((size_t) (end - p) < n) {
            return CV_INVALID;
        }

        while (n--) {
            if ((*p & 0xc0) != 0x80) {
                return CV_INVALID;
            }
            c = (c << 6) | (*p++ & 0x3f);
        }

        if (c < min || c > CV_UNICODE_MAX
            || (c >= CV_SURROGATE_FIRST && c <= CV_SURROGATE_LAST))
        {
            return CV_INVALID;
        }
    }

    if (chars) {
        *chars = count;
    }

    return CV_OK;
}
