/*
 * Query arguments: cursors and page sizes (cv_args.h).
 */
#include "cv_args.h"


cv_status
cv_arg_u64(const char *s, size_t len, uint64_t *v)
{
    size_t    i;
    uint64_t  n;

    if (len == 0 || len > CV_ARG_U64_DIGITS) {
        return CV_INVALID;
    }

    n = 0;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return CV_INVALID;
        }

        /* 16 digits stay below 10^16 < 2^64: no overflow */
        n = n * 10 + (uint64_t) (s[i] - '0');
    }

    if (n > CV_ARG_U64_MAX) {
        return CV_INVALID;
    }

    *v = n;
    return CV_OK;
}


cv_status
cv_arg_limit(const char *s, size_t len, size_t max, size_t *limit)
{
    uint64_t  n;

    if (cv_arg_u64(s, len, &n) != CV_OK || n < 1 || n > max) {
        return CV_INVALID;
    }

    *limit = (size_t) n;
    return CV_OK;
}
