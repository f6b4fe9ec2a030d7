/*
 * Cookie values (cv_cookie.h): what a browser sends back, read without
 * trusting it.
 */
#include "cv_cookie.h"
#include "cv_crypto.h"

#include <string.h>


cv_status
cv_signed_split(const char *cookie, size_t len, size_t max, size_t *value_len)
{
    const char  *dot;

    /* the signature is base64url: the last dot ends the value */
    for (dot = cookie + len; dot > cookie && dot[-1] != '.'; dot--) {
        /* void */
    }

    if (dot == cookie || --dot == cookie || (size_t) (dot - cookie) > max) {
        return CV_INVALID;
    }

    *value_len = (size_t) (dot - cookie);
    return CV_OK;
}


int
cv_signed_matches(const char *cookie, size_t len, size_t value_len,
    const char *sig, size_t sig_len)
{
    return len - value_len - 1 == sig_len
           && cv_equal(cookie + value_len + 1, sig, sig_len);
}


int
cv_cookie_customer_valid(const char *value, size_t len, size_t idmax)
{
    size_t  plen = sizeof(CV_COOKIE_CUSTOMER_PREFIX) - 1;

    return len >= plen && len < idmax
           && memcmp(value, CV_COOKIE_CUSTOMER_PREFIX, plen) == 0;
}


/* a whole number of decimal digits, as nginx's ngx_atoi reads it: -1 for
 * none, any other byte, or more than INT64_MAX */
static int64_t
cv_cookie_number(const char *s, size_t len)
{
    int64_t  n;
    size_t   i;

    if (len == 0) {
        return -1;
    }

    n = 0;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9'
            || n > (INT64_MAX - (s[i] - '0')) / 10)
        {
            return -1;
        }

        n = n * 10 + (s[i] - '0');
    }

    return n;
}


uint64_t
cv_cookie_visits(const char *value, size_t len, int64_t now, int64_t gap)
{
    const char  *dot;
    int64_t      n, last;

    dot = memchr(value, '.', len);
    if (dot == NULL) {
        return 1;
    }

    n = cv_cookie_number(value, (size_t) (dot - value));
    last = cv_cookie_number(dot + 1, len - (size_t) (dot - value) - 1);

    if (n < 1 || last < 0) {
        return 1;
    }

    /* last is at most INT64_MAX and now positive: no overflow */
    return (uint64_t) n + (now - last > gap ? 1 : 0);
}
