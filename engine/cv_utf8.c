/* Strict UTF-8 validation. */
#include "cv_utf8.h"


int
cv_utf8_check(const char *s, size_t len, size_t *chars)
{
    const unsigned char  *p, *end;
    unsigned int          c, n, min;
    size_t                count;

    p = (const unsigned char *) s;
    end = p + len;
    count = 0;

    while (p < end) {
        c = *p++;
        count++;

        if (c < 0x80) {
            continue;
        }

        if (c >= 0xf0 && c <= 0xf4) {
            n = 3; c &= 0x07; min = 0x10000;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2; c &= 0x0f; min = 0x800;

        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1; c &= 0x1f; min = 0x80;

        } else {
            return -1;
        }

        if ((size_t) (end - p) < n) {
            return -1;
        }

        while (n--) {
            if ((*p & 0xc0) != 0x80) {
                return -1;
            }
            c = (c << 6) | (*p++ & 0x3f);
        }

        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
            return -1;
        }
    }

    if (chars) {
        *chars = count;
    }

    return 0;
}
