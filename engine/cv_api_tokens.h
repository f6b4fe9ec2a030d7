/*
 * Access tokens of the REST API: random, "cvt_" prefixed, stored only as
 * SHA-256 with the client's name, the fingerprint of the secret they were
 * issued with, and their expiry.
 */
#ifndef CV_API_TOKENS_H
#define CV_API_TOKENS_H

#include "cv_store.h"
#include "cv_crypto.h"

#include <stdint.h>

#define CV_API_TOKEN_PREFIX  "cvt_"
#define CV_API_TOKEN_STR     (sizeof(CV_API_TOKEN_PREFIX) - 1             \
                              + CV_SECRET_LEN_B64 + 1)
#define CV_API_CLIENT_MAX    64

/* A new token for client, living ttl_ms; CV_ERROR when the client's name
 * is longer than CV_API_CLIENT_MAX (the configuration's, not the
 * request's, fault) or there is no randomness. */
cv_status cv_api_token_create(cv_txn *t, const char *client,
    const char *secret_fingerprint, int64_t ttl_ms,
    char token[CV_API_TOKEN_STR]);

/* The same in two steps (cluster mode: the token stays on the node that
 * made it, its hash goes to every node): a new token and its SHA-256, and
 * the record under that hash. */
cv_status cv_api_token_new(char token[CV_API_TOKEN_STR],
    unsigned char hash[CV_SHA256_LEN]);
cv_status cv_api_token_put_hash(cv_txn *t, const char *client,
    const char *secret_fingerprint, int64_t ttl_ms,
    const unsigned char hash[CV_SHA256_LEN]);

/* The client of a live token issued with the given client's current secret:
 * fingerprint(client) returns the fingerprint of a client's current secret,
 * or NULL when the client is no longer configured. */
cv_status cv_api_token_check(cv_txn *t, const char *token,
    const char *(*fingerprint)(const char *client, void *data), void *data,
    char client[CV_API_CLIENT_MAX + 1]);

#endif
