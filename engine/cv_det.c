/*
 * Deterministic ids and time (cv_det.h): the bytes are SHA-256 of the
 * seed and a counter, so the n-th id a command makes is the same on
 * every node.
 */
#include "cv_det.h"
#include "cv_crypto.h"

#include <string.h>

typedef struct {
    int            on;
    unsigned char  seed[CV_DET_SEED];
    uint64_t       counter;
    int64_t        now_ms;
} cv_det_state;

static _Thread_local cv_det_state  cv_det;


void
cv_det_begin(const unsigned char seed[CV_DET_SEED], int64_t now_ms)
{
    memcpy(cv_det.seed, seed, CV_DET_SEED);
    cv_det.counter = 0;
    cv_det.now_ms = now_ms;
    cv_det.on = 1;
}


void
cv_det_end(void)
{
    memset(&cv_det, 0, sizeof(cv_det));
}


int
cv_det_bytes(unsigned char *buf, size_t len)
{
    size_t         n;
    unsigned char  in[CV_DET_SEED + sizeof(uint64_t)];
    unsigned char  out[CV_SHA256_LEN];

    if (!cv_det.on) {
        return 0;
    }

    while (len) {
        memcpy(in, cv_det.seed, CV_DET_SEED);
        memcpy(in + CV_DET_SEED, &cv_det.counter, sizeof(uint64_t));
        cv_det.counter++;

        if (cv_sha256(in, sizeof(in), out) != CV_OK) {
            /* OpenSSL out of memory: still the same on every node that
             * fails the same way would be too much to ask; a distinct
             * counter keeps the ids unique at least */
            memset(out, 0, sizeof(out));
            memcpy(out, &cv_det.counter, sizeof(uint64_t));
        }

        n = len < sizeof(out) ? len : sizeof(out);
        memcpy(buf, out, n);
        buf += n;
        len -= n;
    }

    return 1;
}


int
cv_det_now(int64_t *ms)
{
    if (!cv_det.on) {
        return 0;
    }

    *ms = cv_det.now_ms;
    return 1;
}
