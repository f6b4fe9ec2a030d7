/* Wall-clock time in milliseconds and its RFC 3339 form. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include "cv_time.h"
#include "cv_det.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define CV_MS_PER_SEC    1000
#define CV_NS_PER_MS     1000000
#define CV_TM_YEAR_BASE  1900     /* struct tm counts years from it */
#define CV_MS_DIGITS     3        /* of a fraction of a second */

/* "2026-11-23T10:00:00" and "hh:mm" */
#define CV_DATE_TIME_LEN  19
#define CV_OFFSET_LEN     5


int64_t
cv_now_ms(void)
{
    int64_t          det;
    struct timespec  ts;

    if (cv_det_now(&det)) {
        return det;         /* a replicated command's (cv_det.h) */
    }

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * CV_MS_PER_SEC + ts.tv_nsec / CV_NS_PER_MS;
}


/* "2026-11-23T10:00:00", then ".123Z" */
#define CV_SEC_STR_LEN   19
#define CV_YEAR_MAX      9999     /* four digits */

/*
 * Pages of conversations and messages format many instants of the same
 * few seconds: the second's part is kept (per thread: sync=on commits in
 * a pool thread) and the milliseconds written by hand: snprintf was a
 * fifth of the worker's time in GET api/v1/conversations.
 */
static _Thread_local int64_t  cv_last_sec = INT64_MIN;
static _Thread_local char     cv_last_str[CV_SEC_STR_LEN];


/* v as n decimal digits, zero-padded */
static void
cv_digits(char *p, int v, int n)
{
    while (n-- > 0) {
        p[n] = (char) ('0' + v % 10);
        v /= 10;
    }
}


void
cv_format_time(int64_t ms, char out[CV_TIME_STR])
{
    struct tm  tm;
    time_t     sec;
    int64_t    s;

    s = ms / CV_MS_PER_SEC;

    if (ms < 0 || s != cv_last_sec) {
        sec = (time_t) s;
        gmtime_r(&sec, &tm);

        if (ms < 0 || tm.tm_year + CV_TM_YEAR_BASE > CV_YEAR_MAX) {
            /* no clock says so: printed as it always was, not kept */
            snprintf(out, CV_TIME_STR, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                     tm.tm_year + CV_TM_YEAR_BASE, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int) (ms % CV_MS_PER_SEC));
            return;
        }

        /* YYYY-MM-DDTHH:MM:SS: the fields at 0, 5, 8, 11, 14 and 17 */
        memcpy(cv_last_str, "0000-00-00T00:00:00", CV_SEC_STR_LEN);
        cv_digits(cv_last_str, tm.tm_year + CV_TM_YEAR_BASE, 4);
        cv_digits(cv_last_str + 5, tm.tm_mon + 1, 2);
        cv_digits(cv_last_str + 8, tm.tm_mday, 2);
        cv_digits(cv_last_str + 11, tm.tm_hour, 2);
        cv_digits(cv_last_str + 14, tm.tm_min, 2);
        cv_digits(cv_last_str + 17, tm.tm_sec, 2);
        cv_last_sec = s;
    }

    memcpy(out, cv_last_str, CV_SEC_STR_LEN);
    out[CV_SEC_STR_LEN] = '.';
    cv_digits(out + CV_SEC_STR_LEN + 1, (int) (ms % CV_MS_PER_SEC),
              CV_MS_DIGITS);
    out[CV_SEC_STR_LEN + 1 + CV_MS_DIGITS] = 'Z';
    out[CV_SEC_STR_LEN + 2 + CV_MS_DIGITS] = '\0';
}


cv_status
cv_parse_time(const char *s, int64_t *ms)
{
    struct tm  tm;
    int        n, frac, digits, off;
    char       sign;
    const char *p;

    memset(&tm, 0, sizeof(tm));
    n = 0;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6
        || n != CV_DATE_TIME_LEN)
    {
        return CV_INVALID;
    }

    /* the calendar's own ranges; second 60 is a leap second */
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1
        || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59
        || tm.tm_sec > 60)
    {
        return CV_INVALID;
    }

    p = s + CV_DATE_TIME_LEN;
    frac = 0;

    if (*p == '.') {
        p++;
        for (digits = 0; *p >= '0' && *p <= '9'; p++, digits++) {
            if (digits < CV_MS_DIGITS) {
                frac = frac * 10 + (*p - '0');
            }
        }

        if (digits == 0) {
            return CV_INVALID;
        }

        for (; digits < CV_MS_DIGITS; digits++) {
            frac *= 10;
        }
    }

    off = 0;

    if (*p == 'Z' || *p == 'z') {
        p++;

    } else if (*p == '+' || *p == '-') {
        int  hh, mm;

        sign = *p++;
        if (sscanf(p, "%2d:%2d%n", &hh, &mm, &n) != 2 || n != CV_OFFSET_LEN
            || hh > 23 || mm > 59)
        {
            return CV_INVALID;
        }

        p += CV_OFFSET_LEN;
        off = (hh * 60 + mm) * 60;
        if (sign == '-') {
            off = -off;
        }

    } else {
        return CV_INVALID;
    }

    if (*p != '\0') {
        return CV_INVALID;
    }

    tm.tm_year -= CV_TM_YEAR_BASE;
    tm.tm_mon -= 1;

    *ms = ((int64_t) timegm(&tm) - off) * CV_MS_PER_SEC + frac;
    return CV_OK;
}
