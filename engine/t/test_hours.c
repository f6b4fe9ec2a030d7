/* Unit tests of time zones and business hours, with explicit instants. */
#define _POSIX_C_SOURCE 200809L

#include "cv_hours.h"
#include "cv_time.h"
#include "tap.h"

#include <string.h>


static int64_t
at(const char *rfc3339)
{
    int64_t  ms;

    if (cv_parse_time(rfc3339, &ms) != CV_OK) {
        printf("Bail out! bad time %s\n", rfc3339);
        return 0;
    }

    return ms / 1000;
}


#define WORDS_MAX  32


/* cv_hours_parse() of the words of spec; err gets its reason */
static cv_status
parse_words(cv_hours *h, const char *spec, char *err, size_t errlen)
{
    const char  *argv[WORDS_MAX];
    char         buf[256], *save, *w;
    int          argc = 0;

    snprintf(buf, sizeof(buf), "%s", spec);
    for (w = strtok_r(buf, " ", &save); w && argc < WORDS_MAX;
         w = strtok_r(NULL, " ", &save))
    {
        argv[argc++] = w;
    }

    return cv_hours_parse(h, argc, argv, NULL, err, errlen);
}


static int
parse(cv_hours *h, const char *spec)
{
    char  err[256];

    if (parse_words(h, spec, err, sizeof(err)) != CV_OK) {
        diag("%s: %s", spec, err);
        return -1;
    }

    return 0;
}


int
main(void)
{
    cv_tz     *tz;
    cv_hours   h;
    char       err[256];

    /* offsets across Madrid's DST changes of 2026 (Mar 29, Oct 25) */
    tz = NULL;
    ok(cv_tz_load(&tz, "Europe/Madrid", NULL, err, sizeof(err)) == CV_OK,
       "Europe/Madrid loads (%s)", tz ? "" : err);
    ok(cv_tz_offset(tz, at("2026-01-15T12:00:00Z")) == 3600, "winter +1");
    ok(cv_tz_offset(tz, at("2026-07-15T12:00:00Z")) == 7200, "summer +2");
    ok(cv_tz_offset(tz, at("2026-03-29T00:59:59Z")) == 3600,
       "a second before the spring change: +1");
    ok(cv_tz_offset(tz, at("2026-03-29T01:00:00Z")) == 7200,
       "at the spring change (02:00 local -> 03:00): +2");
    ok(cv_tz_offset(tz, at("2026-10-25T00:59:59Z")) == 7200,
       "a second before the autumn change: +2");
    ok(cv_tz_offset(tz, at("2026-10-25T01:00:00Z")) == 3600,
       "at the autumn change (03:00 local -> 02:00): +1");
    ok(cv_tz_offset(tz, at("2045-07-01T12:00:00Z")) == 7200,
       "2045 (beyond the file's transitions, by its rule): +2");
    ok(cv_tz_offset(tz, at("2045-12-01T12:00:00Z")) == 3600, "2045 winter");
    cv_tz_free(tz);

    tz = NULL;
    cv_tz_load(&tz, "Australia/Sydney", NULL, err, sizeof(err));
    ok(tz && cv_tz_offset(tz, at("2040-01-15T00:00:00Z")) == 39600
       && cv_tz_offset(tz, at("2040-07-15T00:00:00Z")) == 36000,
       "southern hemisphere rule: Sydney +11 in January, +10 in July");
    cv_tz_free(tz);

    tz = NULL;
    cv_tz_load(&tz, "America/New_York", NULL, err, sizeof(err));
    ok(tz && cv_tz_offset(tz, at("2026-03-08T06:59:59Z")) == -18000
       && cv_tz_offset(tz, at("2026-03-08T07:00:00Z")) == -14400,
       "New York springs forward on 2026-03-08 at 02:00 EST");
    cv_tz_free(tz);

    tz = NULL;
    ok(cv_tz_load(&tz, "Mars/Olympus", NULL, err, sizeof(err))
       == CV_NOT_FOUND && tz == NULL, "an unknown zone is refused: %s", err);
    ok(cv_tz_load(&tz, "../../etc/passwd", NULL, err, sizeof(err))
       == CV_INVALID && tz == NULL, "a path is not a zone name");

    /* the spec's example */
    ok(parse(&h, "mon-fri 09:00-18:00 sat 10:00-14:00 tz=Europe/Madrid") == 0,
       "spec example parses");
    /* 2026-11-25 is a Wednesday; Madrid is UTC+1 */
    ok(cv_hours_open(&h, at("2026-11-25T07:59:59Z")) == 0,
       "Wed 08:59:59 local: closed");
    ok(cv_hours_open(&h, at("2026-11-25T08:00:00Z")) == 1,
       "Wed 09:00 local: open (start edge)");
    ok(cv_hours_open(&h, at("2026-11-25T16:59:59Z")) == 1,
       "Wed 17:59:59 local: open");
    ok(cv_hours_open(&h, at("2026-11-25T17:00:00Z")) == 0,
       "Wed 18:00 local: closed (end edge)");
    ok(cv_hours_open(&h, at("2026-11-28T09:30:00Z")) == 1,
       "Sat 10:30 local: open");
    ok(cv_hours_open(&h, at("2026-11-28T13:00:00Z")) == 0,
       "Sat 14:00 local: closed");
    ok(cv_hours_open(&h, at("2026-11-29T11:00:00Z")) == 0, "Sunday: closed");
    /* across the spring change: Monday 2026-03-30 is in summer time */
    ok(cv_hours_open(&h, at("2026-03-30T07:00:00Z")) == 1,
       "Mon after the DST change, 07:00 UTC = 09:00 local: open");
    ok(cv_hours_open(&h, at("2026-03-27T07:00:00Z")) == 0,
       "Fri before it, 07:00 UTC = 08:00 local: closed");
    cv_hours_free(&h);

    ok(parse(&h, "fri,sat 22:00-02:00 tz=UTC") == 0, "past midnight parses");
    ok(cv_hours_open(&h, at("2026-11-27T23:00:00Z")) == 1, "Fri 23:00 open");
    ok(cv_hours_open(&h, at("2026-11-28T01:59:00Z")) == 1,
       "Sat 01:59 (Friday's night): open");
    ok(cv_hours_open(&h, at("2026-11-28T02:00:00Z")) == 0, "Sat 02:00 closed");
    ok(cv_hours_open(&h, at("2026-11-29T01:00:00Z")) == 1,
       "Sun 01:00 (Saturday's night): open");
    ok(cv_hours_open(&h, at("2026-11-30T01:00:00Z")) == 0,
       "Mon 01:00 (no Sunday night): closed");
    ok(cv_hours_open(&h, at("2026-11-27T21:59:00Z")) == 0, "Fri 21:59 closed");
    cv_hours_free(&h);

    ok(parse(&h, "sat-mon 00:00-24:00 tz=UTC") == 0
       && cv_hours_open(&h, at("2026-11-30T23:59:59Z")) == 1
       && cv_hours_open(&h, at("2026-12-01T00:00:00Z")) == 0,
       "wrapping range sat-mon, whole days");
    cv_hours_free(&h);

    ok(parse(&h, "mon 09:00-12:00 14:00-18:00 tz=UTC") == 0
       && cv_hours_open(&h, at("2026-11-30T13:00:00Z")) == 0
       && cv_hours_open(&h, at("2026-11-30T15:00:00Z")) == 1,
       "several intervals a day (lunch break)");
    cv_hours_free(&h);

    {
        static const char  *bad[] = {
            "09:00-18:00", "mon", "mon-fri 9:00-18:00", "mon 18:00-18:00",
            "mon 25:00-26:00", "mon 09:00-18:00 tz=Nowhere/City",
            "funday 09:00-10:00", "mon 09:00-18:00 tz=UTC tz=UTC",
            "mon tue 09:00-10:00"
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            cv_hours  x;

            ok(parse_words(&x, bad[i], err, sizeof(err)) == CV_INVALID,
               "refused: %s (%s)", bad[i], err);
            cv_hours_free(&x);
        }
    }

    return done_testing();
}
