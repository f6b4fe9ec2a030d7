/*
 * Unit tests of time stamps (engine/cv_time.c): cv_format_time() writes
 * what "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" of gmtime_r() writes, for
 * instants in the same second, in ones far apart, at the edges.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_time.h"
#include "tap.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define RANDOM_INSTANTS  200000
#define YEAR_10000_MS    253402300800000LL    /* 10000-01-01T00:00:00Z */


static void
reference(int64_t ms, char out[CV_TIME_STR])
{
    struct tm  tm;
    time_t     sec;

    sec = (time_t) (ms / 1000);
    gmtime_r(&sec, &tm);
    snprintf(out, CV_TIME_STR, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int) (ms % 1000));
}


/* 1 when cv_format_time(ms) is the reference's; says which when not */
static int
same(int64_t ms)
{
    char  got[CV_TIME_STR], want[CV_TIME_STR];

    cv_format_time(ms, got);
    reference(ms, want);

    if (strcmp(got, want) != 0) {
        diag("%lld: %s, want %s", (long long) ms, got, want);
        return 0;
    }

    return 1;
}


int
main(void)
{
    static const int64_t  edges[] = {
        0, 1, 999, 1000, 86399999, 86400000,
        951782400000LL,                 /* 2000-02-29 */
        1795424400500LL, 1795424400500LL, 1795424400499LL, 1795424401000LL,
        4102444799999LL,                /* 2099-12-31T23:59:59.999 */
        YEAR_10000_MS - 1, YEAR_10000_MS, YEAR_10000_MS + 1,
        -1, -1000, -86400001
    };

    uint64_t  x;
    int64_t   ms;
    size_t    i;
    int       good;

    good = 1;
    for (i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        good &= same(edges[i]);
    }
    ok(good, "edges: the epoch, a day's end, a leap day, year 9999 and "
       "10000, before the epoch");

    /* a page's instants: many in few seconds, back and forth */
    good = 1;
    for (ms = 1795424399000LL; ms < 1795424403000LL; ms += 7) {
        good &= same(ms);
        good &= same(ms - 1500);
    }
    ok(good, "instants in the same seconds, back and forth");

    /* anywhere from 1970 to 9999 (xorshift64, a fixed seed) */
    good = 1;
    x = 88172645463325252ULL;
    for (i = 0; i < RANDOM_INSTANTS && good; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        good &= same((int64_t) (x % (uint64_t) YEAR_10000_MS));
    }
    ok(good, "%d instants from 1970 to 9999", RANDOM_INSTANTS);

    return done_testing();
}
