/*
 * The TZif reader (engine/cv_tz.c): any bytes as a zoneinfo file; a zone
 * that loads is then asked its offset at instants from 1900 to 2200, as
 * business hours ask it (the footer's POSIX rule included).
 */
#include "cv_tz.h"
#include "fuzz.h"

/* seconds of a year, roughly: instants step through the years with it */
#define YEAR        31556952
#define FIRST_YEAR  (-70LL * YEAR)      /* 1900 */
#define STEPS       40
#define STEP        (330LL * YEAR / STEPS)

/* no real zone is more than a day off UTC; a file may say anything: the
 * offset must still come out without overflow (UBSan watches) */


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char        err[256];
    cv_tz      *tz;
    int64_t     t;
    int64_t     sum;
    int         i;

    tz = NULL;
    err[0] = '\0';

    if (cv_tz_from_tzif(&tz, data, size, "Fuzz/Zone", err, sizeof(err))
        != CV_OK)
    {
        CHECK(tz == NULL && err[0] != '\0');
        return 0;
    }

    CHECK(tz != NULL);

    sum = 0;
    for (i = 0; i < STEPS; i++) {
        t = FIRST_YEAR + i * STEP + (i * 7919 % 86400);
        sum += cv_tz_offset(tz, t);
    }

    /* the same instants, the same answers: the zone is not changed */
    for (i = 0; i < STEPS; i++) {
        t = FIRST_YEAR + i * STEP + (i * 7919 % 86400);
        sum -= cv_tz_offset(tz, t);
    }

    CHECK(sum == 0);

    cv_tz_free(tz);
    return 0;
}
