/* Unit tests of ids, secrets and their encodings (engine/cv_crypto.c) and
 * of REST API tokens (engine/cv_api_tokens.c). */
#define _POSIX_C_SOURCE 200809L

#include "cv_api_tokens.h"
#include "cv_crypto.h"
#include "cv_time.h"
#include "cv_utf8.h"
#include "fixture.h"

#include <stdlib.h>
#include <string.h>


static const char *
fingerprint(const char *client, void *data)
{
    return strcmp(client, "crm") == 0 ? data : NULL;
}


int
main(void)
{
    cv_store       *st;
    cv_txn         *t;
    char            id[CV_ID_MAX], small[8], b64[CV_BASE64URL_BUF(5)];
    char            client[CV_API_CLIENT_MAX + 1];
    unsigned char   out[16];
    size_t          n, len;
    int64_t         ms;

    /* a token and what lies right after it: nothing is written past it */
    struct {
        char  token[CV_API_TOKEN_STR];
        char  after[8];
    } tok;

    ok(cv_random_id(id, sizeof(id), "cus_", CV_ID_RANDOM) == CV_OK
       && strlen(id) == 4 + 26, "an id: prefix and 26 base32 characters");
    ok(cv_random_id(small, sizeof(small), "cus_", CV_ID_RANDOM)
       == CV_INVALID, "an id that does not fit is refused");
    ok(cv_random_id(id, sizeof(id), "", CV_RANDOM_ID_MAX + 1) == CV_INVALID,
       "so is one of too many random bytes");

    n = cv_base64url((const unsigned char *) "hello", 5, b64);
    ok(n == 7 && strcmp(b64, "aGVsbG8") == 0, "base64url without padding");
    ok(cv_base64url_decode(b64, n, out, sizeof(out), &len) == CV_OK
       && len == 5 && memcmp(out, "hello", 5) == 0, "and back");
    ok(cv_base64url_decode("aGVsbG8=", 8, out, sizeof(out), &len)
       == CV_INVALID
       && cv_base64url_decode("a", 1, out, sizeof(out), &len) == CV_INVALID
       && cv_base64url_decode(b64, n, out, 4, &len) == CV_INVALID,
       "padding, a lone character and too small an output are refused");

    /* RFC 4648's vectors, in lowercase and without padding */
    {
        char  b32[CV_BASE32_LEN(6) + 1], b64s[CV_BASE64_LEN(5) + 1];

        ok(cv_base32((const unsigned char *) "foobar", 6, b32) == 10
           && strcmp(b32, "mzxw6ytboi") == 0
           && cv_base32((const unsigned char *) "f", 1, b32) == 2
           && strcmp(b32, "my") == 0
           && cv_base32((const unsigned char *) "", 0, b32) == 0
           && b32[0] == '\0', "base32 of foobar, f and nothing");

        ok(cv_base64((const unsigned char *) "hello", 5, b64s) == 8
           && strcmp(b64s, "aGVsbG8=") == 0, "base64 with padding");
        ok(cv_base64_decode(b64s, 8, out, sizeof(out), &len) == CV_OK
           && len == 5 && memcmp(out, "hello", 5) == 0
           && cv_base64_decode("Zm9v+/==", 8, out, sizeof(out), &len)
              == CV_OK && len == 4
           && cv_base64_decode("", 0, out, sizeof(out), &len) == CV_OK
           && len == 0, "and back; '+', '/' and '==' are its own");
        ok(cv_base64_decode("aGVsbG8", 7, out, sizeof(out), &len)
           == CV_INVALID
           && cv_base64_decode("aGVs bG8", 8, out, sizeof(out), &len)
              == CV_INVALID
           && cv_base64_decode("aGVsbG-_", 8, out, sizeof(out), &len)
              == CV_INVALID
           && cv_base64_decode("aG=sbG8=", 8, out, sizeof(out), &len)
              == CV_INVALID
           && cv_base64_decode("aGV=====", 8, out, sizeof(out), &len)
              == CV_INVALID
           && cv_base64_decode(b64s, 8, out, 4, &len) == CV_INVALID,
           "no padding, blanks, base64url, '=' inside, too much padding "
           "and too small an output are refused");
    }

    ok(cv_utf8_check("caf\xc3\xa9", 5, &len) == CV_OK && len == 4
       && cv_utf8_check("\xc0\xaf", 2, NULL) == CV_INVALID,
       "UTF-8: valid counts its characters, overlong is CV_INVALID");
    ok(cv_parse_time("2026-11-23T10:00:00.5+01:00", &ms) == CV_OK
       && ms == 1795424400500LL
       && cv_parse_time("2026-11-23 10:00", &ms) == CV_INVALID,
       "RFC 3339 parses; anything else is CV_INVALID");

    ok(strcmp(cv_status_text(CV_NOT_FOUND), "not found") == 0
       && strcmp(cv_status_text(CV_FULL), "store full") == 0
       && strcmp(cv_status_text((cv_status) 99), "error") == 0,
       "statuses have names");

    /* API tokens */
    st = fx_store_open(1u << 20);
    cv_txn_begin(st, 1, &t);

    memset(&tok, 'x', sizeof(tok));
    ok(cv_api_token_create(t, "crm", "fp1", 60000, tok.token) == CV_OK
       && strlen(tok.token) == CV_API_TOKEN_STR - 1
       && strncmp(tok.token, CV_API_TOKEN_PREFIX, 4) == 0,
       "a token: cvt_ and 43 characters");
    ok(tok.after[0] == 'x', "nothing written past CV_API_TOKEN_STR bytes");

    ok(cv_api_token_check(t, tok.token, fingerprint, "fp1", client) == CV_OK
       && strcmp(client, "crm") == 0, "the token is its client's");
    ok(cv_api_token_check(t, tok.token, fingerprint, "fp2", client)
       == CV_NOT_FOUND, "not once the client's secret changed");

    cv_txn_abort(t);
    cv_store_close(st);

    return done_testing();
}
