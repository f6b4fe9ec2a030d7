/*
 * Cookie values, without the HTTP around them: a signed value "VALUE.SIG"
 * (SIG: base64url of an HMAC of VALUE, computed by whoever holds the
 * secret), the visitor's customer id inside one, and the visit count
 * "COUNT.LAST" of the visits cookie.
 */
#ifndef CV_COOKIE_H
#define CV_COOKIE_H

#include "cv_status.h"

#include <stddef.h>
#include <stdint.h>

/* what prefixes the customer id the visitor cookie holds */
#define CV_COOKIE_CUSTOMER_PREFIX  "cus_"

/* The value of a signed cookie ends at its last dot (base64url has none):
 * *value_len is the length of VALUE, the signature follows its dot.
 * CV_INVALID when there is no dot, VALUE is empty or longer than max. */
cv_status cv_signed_split(const char *cookie, size_t len, size_t max,
    size_t *value_len);

/* 1 when the signature after VALUE's dot (value_len from cv_signed_split)
 * is sig, compared in constant time. */
int cv_signed_matches(const char *cookie, size_t len, size_t value_len,
    const char *sig, size_t sig_len);

/* 1 when a verified visitor cookie value names a customer that fits in
 * idmax bytes with its NUL. */
int cv_cookie_customer_valid(const char *value, size_t len, size_t idmax);

/* The visit count after a page view at now from a verified "COUNT.LAST"
 * (a visit is new after gap seconds); 1 when it cannot be read. */
uint64_t cv_cookie_visits(const char *value, size_t len, int64_t now,
    int64_t gap);

#endif
