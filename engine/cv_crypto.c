/*
 * Random identifiers, hashes and signatures.
 */
#include "cv_crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <string.h>

static const char  cv_base32[] = "abcdefghijklmnopqrstuvwxyz234567";


int
cv_random_bytes(unsigned char *buf, size_t len)
{
    return RAND_bytes(buf, (int) len) == 1 ? 0 : -1;
}


/*
 * Ids take their bytes from a per-thread pool filled by RAND_bytes 4 KB at
 * a time: one call per message cost a microsecond (OpenSSL's locking and
 * its getpid() fork check). A forked child empties its pool, so it never
 * hands out ids its parent will hand out too.
 */

#define CV_POOL_SIZE  4096

static _Thread_local unsigned char  cv_pool[CV_POOL_SIZE];
static _Thread_local size_t         cv_pool_left;
static pthread_once_t               cv_pool_once = PTHREAD_ONCE_INIT;


static void
cv_pool_forget(void)
{
    cv_pool_left = 0;
}


static void
cv_pool_init(void)
{
    pthread_atfork(NULL, NULL, cv_pool_forget);
}


static int
cv_pool_take(unsigned char *out, size_t len)
{
    pthread_once(&cv_pool_once, cv_pool_init);

    if (len > CV_POOL_SIZE) {
        return cv_random_bytes(out, len);
    }

    if (cv_pool_left < len) {
        if (cv_random_bytes(cv_pool, CV_POOL_SIZE) != 0) {
            return -1;
        }
        cv_pool_left = CV_POOL_SIZE;
    }

    /* taken from the end, and wiped: no byte is given out twice */
    cv_pool_left -= len;
    memcpy(out, cv_pool + cv_pool_left, len);
    memset(cv_pool + cv_pool_left, 0, len);

    return 0;
}


int
cv_random_id(char *out, size_t outlen, const char *prefix, size_t bytes)
{
    unsigned char  rnd[32];
    size_t         plen, n, i, bits;
    unsigned int   acc;

    plen = strlen(prefix);
    n = (bytes * 8 + 4) / 5;

    if (bytes > sizeof(rnd) || plen + n + 1 > outlen
        || cv_pool_take(rnd, bytes) != 0)
    {
        return -1;
    }

    memcpy(out, prefix, plen);
    out += plen;

    acc = 0;
    bits = 0;

    for (i = 0; i < bytes; i++) {
        acc = (acc << 8) | rnd[i];
        bits += 8;

        while (bits >= 5) {
            *out++ = cv_base32[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }

    if (bits) {
        *out++ = cv_base32[(acc << (5 - bits)) & 31];
    }

    *out = '\0';
    return 0;
}


void
cv_sha256(const void *data, size_t len, unsigned char out[CV_SHA256_LEN])
{
    SHA256(data, len, out);
}


void
cv_sha256_hex(const void *data, size_t len, char out[CV_SHA256_HEX])
{
    static const char  hex[] = "0123456789abcdef";
    unsigned char      md[CV_SHA256_LEN];
    size_t             i;

    cv_sha256(data, len, md);

    for (i = 0; i < CV_SHA256_LEN; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }

    out[2 * CV_SHA256_LEN] = '\0';
}


void
cv_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
    unsigned char out[CV_SHA256_LEN])
{
    unsigned int  outlen = CV_SHA256_LEN;

    HMAC(EVP_sha256(), key, (int) keylen, data, len, out, &outlen);
}


int
cv_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}


size_t
cv_base64url(const unsigned char *in, size_t len, char *out)
{
    size_t  n, i;

    n = (size_t) EVP_EncodeBlock((unsigned char *) out, in, (int) len);

    /* standard alphabet and padding -> url-safe, unpadded */
    while (n > 0 && out[n - 1] == '=') {
        n--;
    }

    for (i = 0; i < n; i++) {
        if (out[i] == '+') {
            out[i] = '-';

        } else if (out[i] == '/') {
            out[i] = '_';
        }
    }

    out[n] = '\0';
    return n;
}


int
cv_base64url_decode(const char *in, size_t len, unsigned char *out,
    size_t outlen, size_t *written)
{
    unsigned char  buf[512], tmp[512];
    size_t         i, padded, pad;
    int            n;

    if (len % 4 == 1 || len + 3 > sizeof(buf)) {
        return -1;
    }

    if (len == 0) {
        *written = 0;
        return 0;
    }

    for (i = 0; i < len; i++) {
        char  c = in[i];

        if (c == '-') {
            c = '+';

        } else if (c == '_') {
            c = '/';

        } else if (c == '+' || c == '/' || c == '=') {
            return -1;
        }

        buf[i] = (unsigned char) c;
    }

    pad = (4 - len % 4) % 4;
    for (padded = len; padded < len + pad; padded++) {
        buf[padded] = '=';
    }

    n = EVP_DecodeBlock(tmp, buf, (int) padded);
    if (n < 0 || (size_t) n < pad) {
        return -1;
    }

    n -= (int) pad;
    if ((size_t) n > outlen) {
        return -1;
    }

    memcpy(out, tmp, (size_t) n);
    *written = (size_t) n;
    return 0;
}
