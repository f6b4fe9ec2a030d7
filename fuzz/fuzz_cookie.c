/*
 * Cookie values (engine/cv_cookie.c), as a browser may send any: the
 * signed value split and checked against the signature the nginx side
 * makes (base64url of HMAC-SHA256 of purpose ":" VALUE, here with a fixed
 * secret), the visitor's customer id and the visit count inside it.
 *
 * Invariants: a value is accepted only with the signature of exactly that
 * value; a value signed here comes back whole; a signature with one byte
 * changed is refused.
 */
#include "cv_cookie.h"
#include "cv_crypto.h"
#include "fuzz.h"

#include <string.h>

#define SIG_LEN      43                 /* base64url of 32 bytes */
#define VALUE_MAX    (CV_ID_MAX - 1)    /* the visitor cookie's */
#define VISITS_MAX   (20 + 1 + 20)      /* COUNT.LAST */
#define VISIT_GAP    (30 * 60)
#define NOW          1764547200         /* 2025-12-01 */

static const unsigned char  secret[32] = "fuzzing secret, not a real one";


/* what ngx_chatvisor_sign() computes */
static size_t
sign(const char *purpose, const char *value, size_t len, char *out)
{
    unsigned char  mac[CV_SHA256_LEN], msg[512];
    size_t         plen = strlen(purpose);

    CHECK(plen + 1 + len <= sizeof(msg));
    memcpy(msg, purpose, plen);
    msg[plen] = ':';
    memcpy(msg + plen + 1, value, len);

    CHECK(cv_hmac_sha256(secret, sizeof(secret), msg, plen + 1 + len, mac)
          == CV_OK);

    return cv_base64url(mac, sizeof(mac), out);
}


/* how a cookie is read: NULL unless it carries a good signature */
static const char *
verify(const char *purpose, const char *cookie, size_t len, size_t max,
    size_t *value_len)
{
    char    sig[CV_BASE64URL_BUF(CV_SHA256_LEN)];
    size_t  n, sig_len;

    if (cv_signed_split(cookie, len, max, &n) != CV_OK) {
        return NULL;
    }

    CHECK(n >= 1 && n <= max && n < len && cookie[n] == '.');
    CHECK(memchr(cookie + n + 1, '.', len - n - 1) == NULL);

    sig_len = sign(purpose, cookie, n, sig);
    CHECK(sig_len == SIG_LEN);

    if (!cv_signed_matches(cookie, len, n, sig, sig_len)) {
        return NULL;
    }

    CHECK(len - n - 1 == SIG_LEN
          && memcmp(cookie + n + 1, sig, SIG_LEN) == 0);

    *value_len = n;
    return cookie;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char        *cookie, *signed_, sig[CV_BASE64URL_BUF(CV_SHA256_LEN)];
    size_t       n, sig_len, len;
    uint64_t     visits;
    const char  *v;

    cookie = malloc(size ? size : 1);
    CHECK(cookie != NULL);
    memcpy(cookie, data, size);

    /* as it came: the visitor cookie and the visits cookie */
    v = verify("visitor", cookie, size, VALUE_MAX, &n);
    if (v) {
        (void) cv_cookie_customer_valid(v, n, CV_ID_MAX);
    }

    v = verify("visits", cookie, size, VISITS_MAX, &n);
    if (v) {
        visits = cv_cookie_visits(v, n, NOW, VISIT_GAP);
        CHECK(visits >= 1);
    }

    /* the count is read from any value (it is only ever read signed) */
    visits = cv_cookie_visits(cookie, size, NOW, VISIT_GAP);
    CHECK(visits >= 1);

    if (cv_cookie_customer_valid(cookie, size, CV_ID_MAX)) {
        CHECK(size >= 4 && size < CV_ID_MAX
              && memcmp(cookie, "cus_", 4) == 0);
    }

    /* the input as a value (dots and all: the last dot ends it), signed as
     * the nginx side sets it: it must come back whole, and not with a
     * changed signature */
    if (size >= 1 && size <= VALUE_MAX) {
        len = size + 1 + SIG_LEN;
        signed_ = malloc(len);
        CHECK(signed_ != NULL);

        sig_len = sign("visitor", cookie, size, sig);
        memcpy(signed_, cookie, size);
        signed_[size] = '.';
        memcpy(signed_ + size + 1, sig, sig_len);

        v = verify("visitor", signed_, len, VALUE_MAX, &n);
        CHECK(v == signed_ && n == size && memcmp(v, cookie, n) == 0);

        /* another purpose's cookie is not this one */
        CHECK(verify("visits", signed_, len, VALUE_MAX, &n) == NULL);

        signed_[size + 1 + data[0] % SIG_LEN] ^= 0x01;
        CHECK(verify("visitor", signed_, len, VALUE_MAX, &n) == NULL);

        free(signed_);
    }

    free(cookie);
    return 0;
}
