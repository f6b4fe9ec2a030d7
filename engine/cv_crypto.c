/*
 * Random identifiers, hashes and signatures.
 */
#include "cv_crypto.h"
#include "cv_det.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define CV_BASE32_BITS  5             /* bits of one base32 character */
#define CV_BASE32_MASK  ((1u << CV_BASE32_BITS) - 1)

/* base64 comes in groups of 4 characters for 3 bytes, '='-padded */
#define CV_B64_GROUP    4
#define CV_B64_PAD_MAX  2             /* '=' at the end of a group */
#define CV_B64_DECODE_BUF  512        /* input plus padding, at most */

static const char  cv_base32_digits[] = "abcdefghijklmnopqrstuvwxyz234567";


cv_status
cv_random_bytes(unsigned char *buf, size_t len)
{
    if (cv_det_bytes(buf, len)) {
        return CV_OK;       /* a replicated command's (cv_det.h) */
    }

    return RAND_bytes(buf, (int) len) == 1 ? CV_OK : CV_ERROR;
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


static cv_status
cv_pool_take(unsigned char *out, size_t len)
{
    if (cv_det_bytes(out, len)) {
        return CV_OK;       /* a replicated command's (cv_det.h) */
    }

    pthread_once(&cv_pool_once, cv_pool_init);

    if (len > CV_POOL_SIZE) {
        return cv_random_bytes(out, len);
    }

    if (cv_pool_left < len) {
        if (cv_random_bytes(cv_pool, CV_POOL_SIZE) != CV_OK) {
            return CV_ERROR;
        }
        cv_pool_left = CV_POOL_SIZE;
    }

    /* taken from the end, and wiped: no byte is given out twice */
    cv_pool_left -= len;
    memcpy(out, cv_pool + cv_pool_left, len);
    memset(cv_pool + cv_pool_left, 0, len);

    return CV_OK;
}


size_t
cv_base32(const unsigned char *in, size_t len, char *out)
{
    size_t        n, i, bits;
    unsigned int  acc;

    n = 0;
    acc = 0;
    bits = 0;

    for (i = 0; i < len; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;

        while (bits >= CV_BASE32_BITS) {
            out[n++] = cv_base32_digits[(acc >> (bits - CV_BASE32_BITS))
                                        & CV_BASE32_MASK];
            bits -= CV_BASE32_BITS;
        }
    }

    if (bits) {
        out[n++] = cv_base32_digits[(acc << (CV_BASE32_BITS - bits))
                                    & CV_BASE32_MASK];
    }

    out[n] = '\0';
    return n;
}


cv_status
cv_random_id(char *out, size_t outlen, const char *prefix, size_t bytes)
{
    unsigned char  rnd[CV_RANDOM_ID_MAX];
    size_t         plen;

    plen = strlen(prefix);

    if (bytes > sizeof(rnd) || plen + CV_BASE32_LEN(bytes) + 1 > outlen) {
        return CV_INVALID;
    }

    if (cv_pool_take(rnd, bytes) != CV_OK) {
        return CV_ERROR;
    }

    memcpy(out, prefix, plen);
    cv_base32(rnd, bytes, out + plen);

    return CV_OK;
}


/*
 * SHA-256 with the algorithm fetched once and a context per thread:
 * SHA256() fetches it from the provider and makes a context at every
 * call, most of the cost of hashing a bearer token on every REST request.
 * Without them (out of memory) SHA256() still does.
 */

static EVP_MD                     *cv_sha256_md;
static pthread_once_t              cv_sha256_once = PTHREAD_ONCE_INIT;
static _Thread_local EVP_MD_CTX   *cv_sha256_ctx;


static void
cv_sha256_fetch(void)
{
    cv_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}


cv_status
cv_sha256(const void *data, size_t len, unsigned char out[CV_SHA256_LEN])
{
    unsigned int  n;

    pthread_once(&cv_sha256_once, cv_sha256_fetch);

    if (cv_sha256_ctx == NULL && cv_sha256_md != NULL) {
        cv_sha256_ctx = EVP_MD_CTX_new();
    }

    if (cv_sha256_ctx == NULL) {
        return SHA256(data, len, out) ? CV_OK : CV_ERROR;
    }

    return EVP_DigestInit_ex2(cv_sha256_ctx, cv_sha256_md, NULL) == 1
           && EVP_DigestUpdate(cv_sha256_ctx, data, len) == 1
           && EVP_DigestFinal_ex(cv_sha256_ctx, out, &n) == 1
           && n == CV_SHA256_LEN
           ? CV_OK : CV_ERROR;
}


cv_status
cv_sha256_hex(const void *data, size_t len, char out[CV_SHA256_HEX])
{
    static const char  hex[] = "0123456789abcdef";
    unsigned char      md[CV_SHA256_LEN];
    size_t             i;

    if (cv_sha256(data, len, md) != CV_OK) {
        return CV_ERROR;
    }

    for (i = 0; i < CV_SHA256_LEN; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }

    out[2 * CV_SHA256_LEN] = '\0';
    return CV_OK;
}


cv_status
cv_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
    unsigned char out[CV_SHA256_LEN])
{
    unsigned int  outlen = CV_SHA256_LEN;

    return HMAC(EVP_sha256(), key, (int) keylen, data, len, out, &outlen)
           ? CV_OK : CV_ERROR;
}


struct cv_hmac_key_s {
    EVP_MAC_CTX  *ctx;      /* keyed once; each message starts it again
                               with the same key (no copy, no allocation) */
};


cv_hmac_key *
cv_hmac_key_new(const void *key, size_t keylen)
{
    EVP_MAC      *mac;
    cv_hmac_key  *k;
    OSSL_PARAM    params[2];
    char          digest[] = "SHA256";

    k = calloc(1, sizeof(cv_hmac_key));
    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);

    if (k && mac) {
        k->ctx = EVP_MAC_CTX_new(mac);
    }

    EVP_MAC_free(mac);

    if (k == NULL || k->ctx == NULL) {
        cv_hmac_key_free(k);
        return NULL;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 digest, 0);
    params[1] = OSSL_PARAM_construct_end();

    if (EVP_MAC_init(k->ctx, key, keylen, params) != 1) {
        cv_hmac_key_free(k);
        return NULL;
    }

    return k;
}


cv_status
cv_hmac_key_sign(cv_hmac_key *k, const void *const *parts,
    const size_t *lens, size_t n, unsigned char out[CV_SHA256_LEN])
{
    size_t  i, outlen;
    int     ok;

    /* a NULL key: the one set when the key was made, its pads kept */
    ok = EVP_MAC_init(k->ctx, NULL, 0, NULL);

    for (i = 0; ok && i < n; i++) {
        ok = EVP_MAC_update(k->ctx, parts[i], lens[i]);
    }

    ok = ok && EVP_MAC_final(k->ctx, out, &outlen, CV_SHA256_LEN)
         && outlen == CV_SHA256_LEN;

    return ok ? CV_OK : CV_ERROR;
}


void
cv_hmac_key_free(cv_hmac_key *k)
{
    if (k) {
        EVP_MAC_CTX_free(k->ctx);
        free(k);
    }
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


size_t
cv_base64(const unsigned char *in, size_t len, char *out)
{
    return (size_t) EVP_EncodeBlock((unsigned char *) out, in, (int) len);
}


/* decodes buf, standard base64 of padded characters of which the last pad
 * are '=' */
static cv_status
cv_base64_decode_padded(const unsigned char *buf, size_t padded, size_t pad,
    unsigned char *out, size_t outlen, size_t *written)
{
    unsigned char  tmp[CV_B64_DECODE_BUF];
    int            n;

    if (padded == 0) {
        *written = 0;
        return CV_OK;
    }

    n = EVP_DecodeBlock(tmp, buf, (int) padded);
    if (n < 0 || (size_t) n < pad) {
        return CV_INVALID;
    }

    n -= (int) pad;
    if ((size_t) n > outlen) {
        return CV_INVALID;
    }

    memcpy(out, tmp, (size_t) n);
    *written = (size_t) n;
    return CV_OK;
}


cv_status
cv_base64url_decode(const char *in, size_t len, unsigned char *out,
    size_t outlen, size_t *written)
{
    unsigned char  buf[CV_B64_DECODE_BUF];
    size_t         i, padded, pad;

    /* one character over a group is never a whole byte */
    if (len % CV_B64_GROUP == 1
        || len + CV_B64_GROUP - 1 > sizeof(buf))
    {
        return CV_INVALID;
    }

    for (i = 0; i < len; i++) {
        char  c = in[i];

        if (c == '-') {
            c = '+';

        } else if (c == '_') {
            c = '/';

        } else if (c == '+' || c == '/' || c == '=') {
            return CV_INVALID;
        }

        buf[i] = (unsigned char) c;
    }

    pad = (CV_B64_GROUP - len % CV_B64_GROUP) % CV_B64_GROUP;
    for (padded = len; padded < len + pad; padded++) {
        buf[padded] = '=';
    }

    return cv_base64_decode_padded(buf, padded, pad, out, outlen, written);
}


cv_status
cv_base64_decode(const char *in, size_t len, unsigned char *out,
    size_t outlen, size_t *written)
{
    size_t  i, pad;

    /* EVP_DecodeBlock would pass over blanks: only the alphabet here */
    if (len % CV_B64_GROUP != 0 || len > CV_B64_DECODE_BUF) {
        return CV_INVALID;
    }

    for (pad = 0; pad < len && pad < CV_B64_PAD_MAX
                  && in[len - 1 - pad] == '='; pad++)
    {
        /* void */
    }

    for (i = 0; i < len - pad; i++) {
        unsigned char  c = (unsigned char) in[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '+' || c == '/'))
        {
            return CV_INVALID;
        }
    }

    return cv_base64_decode_padded((const unsigned char *) in, len, pad, out,
                                   outlen, written);
}
