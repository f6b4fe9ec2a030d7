/*
 * Random identifiers, hashes and signatures (OpenSSL underneath).
 */
#ifndef CV_CRYPTO_H
#define CV_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/* "cus_" + 26 base32 characters (130 random bits) + NUL fits in 40 */
#define CV_ID_MAX        40
#define CV_SHA256_LEN    32
#define CV_SHA256_HEX    (CV_SHA256_LEN * 2 + 1)

/* Writes prefix + base32(random bytes) to out; bytes of randomness. */
int cv_random_id(char *out, size_t outlen, const char *prefix, size_t bytes);

int cv_random_bytes(unsigned char *buf, size_t len);

void cv_sha256(const void *data, size_t len, unsigned char out[CV_SHA256_LEN]);
void cv_sha256_hex(const void *data, size_t len, char out[CV_SHA256_HEX]);

void cv_hmac_sha256(const void *key, size_t keylen, const void *data,
    size_t len, unsigned char out[CV_SHA256_LEN]);

/* Constant-time comparison of equal-length buffers. */
int cv_equal(const void *a, const void *b, size_t len);

/* base64url without padding; returns the length written (out must hold
 * 4 * ceil(len / 3) + 1 bytes). */
size_t cv_base64url(const unsigned char *in, size_t len, char *out);

/* Decodes base64url without padding; returns -1 on bad input. */
int cv_base64url_decode(const char *in, size_t len, unsigned char *out,
    size_t outlen, size_t *written);

#endif
