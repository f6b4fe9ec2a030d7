/* Wall-clock time in milliseconds and its RFC 3339 form. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include "cv_time.h"

#include <stdio.h>
#include <string.h>
#include <time.h>


int64_t
cv_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* a message formats the same instant several times: the last one is kept
 * (per thread: sync=on commits in a pool thread) */
static _Thread_local int64_t  cv_last_ms = INT64_MIN;
static _Thread_local char     cv_last_str[CV_TIME_STR];


void
cv_format_time(int64_t ms, char out[CV_TIME_STR])
{
    struct tm  tm;
    time_t     sec;

    if (ms == cv_last_ms) {
        memcpy(out, cv_last_str, CV_TIME_STR);
        return;
    }

    sec = (time_t) (ms / 1000);
    gmtime_r(&sec, &tm);

    snprintf(out, CV_TIME_STR, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int) (ms % 1000));

    memcpy(cv_last_str, out, CV_TIME_STR);
    cv_last_ms = ms;
}


int
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
        || n != 19)
    {
        return -1;
    }

    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1
        || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59
        || tm.tm_sec > 60)
    {
        return -1;
    }

    p = s + 19;
    frac = 0;

    if (*p == '.') {
        p++;
        for (digits = 0; *p >= '0' && *p <= '9'; p++, digits++) {
            if (digits < 3) {
                frac = frac * 10 + (*p - '0');
            }
        }

        if (digits == 0) {
            return -1;
        }

        for (; digits < 3; digits++) {
            frac *= 10;
        }
    }

    off = 0;

    if (*p == 'Z' || *p == 'z') {
        p++;

    } else if (*p == '+' || *p == '-') {
        int  hh, mm;

        sign = *p++;
        if (sscanf(p, "%2d:%2d%n", &hh, &mm, &n) != 2 || n != 5 || hh > 23
            || mm > 59)
        {
            return -1;
        }

        p += 5;
        off = (hh * 60 + mm) * 60;
        if (sign == '-') {
            off = -off;
        }

    } else {
        return -1;
    }

    if (*p != '\0') {
        return -1;
    }

    tm.tm_year -= 1900;
    tm.tm_mon -= 1;

    *ms = ((int64_t) timegm(&tm) - off) * 1000 + frac;
    return 0;
}
