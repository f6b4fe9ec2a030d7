/* Access tokens of the REST API. */
#define _POSIX_C_SOURCE 200809L

#include "cv_api_tokens.h"
#include "cv_store_impl.h"
#include "cv_time.h"

#include <string.h>

#define CV_API_TOKEN_PREFIX_LEN  (sizeof(CV_API_TOKEN_PREFIX) - 1)


cv_status
cv_api_token_new(char token[CV_API_TOKEN_STR],
    unsigned char hash[CV_SHA256_LEN])
{
    unsigned char  raw[CV_SECRET_BYTES];
    char           b64[CV_BASE64URL_BUF(CV_SECRET_BYTES)];
    size_t         n;

    if (cv_random_bytes(raw, sizeof(raw)) != CV_OK) {
        return CV_ERROR;
    }

    /* encoded aside: the encoder writes padding and a NUL past the
     * CV_SECRET_LEN_B64 characters that token has room for */
    n = cv_base64url(raw, sizeof(raw), b64);

    memcpy(token, CV_API_TOKEN_PREFIX, CV_API_TOKEN_PREFIX_LEN);
    memcpy(token + CV_API_TOKEN_PREFIX_LEN, b64, n + 1);

    return cv_sha256(token, strlen(token), hash);
}


cv_status
cv_api_token_put_hash(cv_txn *t, const char *client,
    const char *secret_fingerprint, int64_t ttl_ms,
    const unsigned char hash[CV_SHA256_LEN])
{
    cJSON         *rec;
    cv_status      st;

    if (strlen(client) > CV_API_CLIENT_MAX) {
        return CV_ERROR;
    }

    rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "client", client);
    cJSON_AddStringToObject(rec, "secret", secret_fingerprint);
    cJSON_AddNumberToObject(rec, "expires_at",
                            (double) (cv_now_ms() + ttl_ms));

    st = cv_record_put(t, CV_DB_API_TOKENS, hash, CV_SHA256_LEN, rec);
    cJSON_Delete(rec);

    return st;
}


cv_status
cv_api_token_create(cv_txn *t, const char *client,
    const char *secret_fingerprint, int64_t ttl_ms,
    char token[CV_API_TOKEN_STR])
{
    unsigned char  hash[CV_SHA256_LEN];

    if (strlen(client) > CV_API_CLIENT_MAX
        || cv_api_token_new(token, hash) != CV_OK)
    {
        return CV_ERROR;
    }

    return cv_api_token_put_hash(t, client, secret_fingerprint, ttl_ms,
                                 hash);
}


cv_status
cv_api_token_check(cv_txn *t, const char *token,
    const char *(*fingerprint)(const char *client, void *data), void *data,
    char client[CV_API_CLIENT_MAX + 1])
{
    unsigned char   hash[CV_SHA256_LEN];
    const char     *c, *fp, *cur;
    cJSON          *rec;
    cv_status       st;

    if (strncmp(token, CV_API_TOKEN_PREFIX, CV_API_TOKEN_PREFIX_LEN) != 0
        || strlen(token) >= CV_API_TOKEN_STR)
    {
        return CV_NOT_FOUND;
    }

    /* the lookup is by hash, so no comparison can leak the token */
    if (cv_sha256(token, strlen(token), hash) != CV_OK) {
        return CV_ERROR;
    }

    st = cv_record_get(t, CV_DB_API_TOKENS, hash, sizeof(hash), &rec);
    if (st != CV_OK) {
        return st;
    }

    c = cJSON_GetStringValue(cJSON_GetObjectItem(rec, "client"));
    fp = cJSON_GetStringValue(cJSON_GetObjectItem(rec, "secret"));
    cur = c ? fingerprint(c, data) : NULL;

    st = (c && fp && cur && strlen(c) <= CV_API_CLIENT_MAX
          && strcmp(fp, cur) == 0
          && cJSON_GetNumberValue(cJSON_GetObjectItem(rec, "expires_at"))
             > (double) cv_now_ms())
         ? CV_OK : CV_NOT_FOUND;

    if (st == CV_OK) {
        strcpy(client, c);
    }

    cJSON_Delete(rec);
    return st;
}
