/*
 * Random identifiers, hashes and signatures (OpenSSL underneath).
 */
#ifndef CV_CRYPTO_H
#define CV_CRYPTO_H

#include "cv_status.h"

#include <stddef.h>
#include <stdint.h>

/* "cus_" + 26 base32 characters (128 random bits) + NUL fits in 40 */
#define CV_ID_MAX          40
#define CV_ID_RANDOM       16    /* random bytes of an id */
#define CV_RANDOM_ID_MAX   32    /* cv_random_id() takes at most these */

/* secrets (sessions, login and access tokens): 256 random bits, handed
 * out as base64url without padding */
#define CV_SECRET_BYTES    32
#define CV_SECRET_LEN_B64  43

#define CV_SHA256_LEN    32
#define CV_SHA256_HEX    (CV_SHA256_LEN * 2 + 1)


/* base32 (RFC 4648's alphabet in lowercase, no padding) of n bytes: its
 * characters, NUL not counted */
#define CV_BASE32_LEN(n)  (((n) * 8 + 4) / 5)

/* what cv_base64() writes for n bytes: standard base64, '='-padded */
#define CV_BASE64_LEN(n)  (4 * (((n) + 2) / 3))

/* what cv_base64url() writes for n bytes, padding and NUL included */
#define CV_BASE64URL_BUF(n)  (CV_BASE64_LEN(n) + 1)

/* Writes prefix + base32(bytes random bytes) to out. CV_INVALID when it
 * does not fit in outlen or bytes > CV_RANDOM_ID_MAX; CV_ERROR when there
 * is no randomness. */
cv_status cv_random_id(char *out, size_t outlen, const char *prefix,
    size_t bytes);

/* len random bytes; CV_ERROR when the system has none to give. */
cv_status cv_random_bytes(unsigned char *buf, size_t len);

/* Hashes and MACs; CV_ERROR when OpenSSL fails (it allocates), and out is
 * then not written. */
cv_status cv_sha256(const void *data, size_t len,
    unsigned char out[CV_SHA256_LEN]);
cv_status cv_sha256_hex(const void *data, size_t len,
    char out[CV_SHA256_HEX]);
cv_status cv_hmac_sha256(const void *key, size_t keylen, const void *data,
    size_t len, unsigned char out[CV_SHA256_LEN]);

/* An HMAC-SHA256 key made ready once, for many messages (the webhook
 * sender signs every request with its endpoint's): each signature starts
 * it again with the key's pads kept, without allocating. Not for two
 * threads at once. A message comes in n parts, signed as if back to
 * back. */
typedef struct cv_hmac_key_s  cv_hmac_key;

cv_hmac_key *cv_hmac_key_new(const void *key, size_t keylen);
cv_status cv_hmac_key_sign(cv_hmac_key *k, const void *const *parts,
    const size_t *lens, size_t n, unsigned char out[CV_SHA256_LEN]);
void cv_hmac_key_free(cv_hmac_key *k);

/* Constant-time comparison of equal-length buffers: 1 when equal. */
int cv_equal(const void *a, const void *b, size_t len);

/* base64url without padding; returns the length written, NUL not counted
 * (out must hold CV_BASE64URL_BUF(len) bytes: the padding is written
 * before it is taken off). */
size_t cv_base64url(const unsigned char *in, size_t len, char *out);

/* Decodes base64url without padding into out, *written bytes of at most
 * outlen; CV_INVALID on bad input, on more than 508 characters, or when it
 * does not fit in outlen. */
cv_status cv_base64url_decode(const char *in, size_t len, unsigned char *out,
    size_t outlen, size_t *written);

/* base32 of len bytes into out (CV_BASE32_LEN(len) + 1 bytes); returns
 * the length written, NUL not counted. */
size_t cv_base32(const unsigned char *in, size_t len, char *out);

/* Standard base64 with padding into out (CV_BASE64_LEN(len) + 1 bytes);
 * returns the length written, NUL not counted. */
size_t cv_base64(const unsigned char *in, size_t len, char *out);

/* Decodes standard base64 with its padding into out, *written bytes of at
 * most outlen; CV_INVALID for any other character, a length that is not
 * a multiple of 4, more than 512 characters, or when it does not fit. */
cv_status cv_base64_decode(const char *in, size_t len, unsigned char *out,
    size_t outlen, size_t *written);

#endif
