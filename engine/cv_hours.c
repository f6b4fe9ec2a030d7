/* Business hours. */
#define _POSIX_C_SOURCE 200809L

#include "cv_hours.h"

#include <stdio.h>
#include <string.h>

#define CV_DAYS_PER_WEEK    7
#define CV_DAY_NAME_LEN     3        /* "mon" */
#define CV_MINUTES_PER_HOUR 60
#define CV_HOURS_PER_DAY    24
#define CV_SECS_PER_MINUTE  60
#define CV_SECS_PER_DAY     (CV_MINUTES_PER_DAY * CV_SECS_PER_MINUTE)
#define CV_EPOCH_WEEKDAY    3        /* 1970-01-01, a Thursday, from Monday */

/* "09:00" and "09:00-18:00" */
#define CV_HHMM_LEN         5
#define CV_INTERVAL_LEN     (2 * CV_HHMM_LEN + 1)

#define CV_TZ_PREFIX        "tz="
#define CV_TZ_PREFIX_LEN    (sizeof(CV_TZ_PREFIX) - 1)
#define CV_ZONE_ERR_MAX     256

static const char  *cv_day_names[CV_DAYS_PER_WEEK] = {
    "mon", "tue", "wed", "thu", "fri", "sat", "sun"
};


static cv_status
cv_day(const char *s, size_t len, int *day)
{
    int  i;

    if (len != CV_DAY_NAME_LEN) {
        return CV_INVALID;
    }

    for (i = 0; i < CV_DAYS_PER_WEEK; i++) {
        if (strncmp(s, cv_day_names[i], CV_DAY_NAME_LEN) == 0) {
            *day = i;
            return CV_OK;
        }
    }

    return CV_INVALID;
}


/* "mon", "mon-fri", "sat,sun", "fri-mon" into a day mask */
static cv_status
cv_days(const char *s, int *days)
{
    const char  *p, *comma, *dash;
    int          mask, a, b, d;
    size_t       len;

    mask = 0;
    p = s;

    while (*p) {
        comma = strchr(p, ',');
        len = comma ? (size_t) (comma - p) : strlen(p);
        dash = memchr(p, '-', len);

        if (dash) {
            if (cv_day(p, (size_t) (dash - p), &a) != CV_OK
                || cv_day(dash + 1, len - (size_t) (dash - p) - 1, &b)
                   != CV_OK)
            {
                return CV_INVALID;
            }

            for (d = a; ; d = (d + 1) % CV_DAYS_PER_WEEK) {
                mask |= 1 << d;
                if (d == b) {
                    break;
                }
            }

        } else {
            if (cv_day(p, len, &a) != CV_OK) {
                return CV_INVALID;
            }
            mask |= 1 << a;
        }

        if (comma == NULL) {
            break;
        }

        p = comma + 1;
        if (*p == '\0') {
            return CV_INVALID;
        }
    }

    if (mask == 0) {
        return CV_INVALID;
    }

    *days = mask;
    return CV_OK;
}


static cv_status
cv_hhmm(const char *s, int *minutes)
{
    int  h, m;

    if (strlen(s) != CV_HHMM_LEN || s[2] != ':'
        || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9'
        || s[3] < '0' || s[3] > '9' || s[4] < '0' || s[4] > '9')
    {
        return CV_INVALID;
    }

    h = (s[0] - '0') * 10 + (s[1] - '0');
    m = (s[3] - '0') * 10 + (s[4] - '0');

    /* 24:00 ends a day */
    if (m >= CV_MINUTES_PER_HOUR || h > CV_HOURS_PER_DAY
        || (h == CV_HOURS_PER_DAY && m != 0))
    {
        return CV_INVALID;
    }

    *minutes = h * CV_MINUTES_PER_HOUR + m;
    return CV_OK;
}


/* "09:00-18:00" */
static cv_status
cv_interval(const char *s, int *start, int *end)
{
    char  a[CV_HHMM_LEN + 1], b[CV_HHMM_LEN + 1];

    if (strlen(s) != CV_INTERVAL_LEN || s[CV_HHMM_LEN] != '-') {
        return CV_INVALID;
    }

    memcpy(a, s, CV_HHMM_LEN);
    a[CV_HHMM_LEN] = '\0';
    memcpy(b, s + CV_HHMM_LEN + 1, CV_HHMM_LEN);
    b[CV_HHMM_LEN] = '\0';

    if (cv_hhmm(a, start) != CV_OK || cv_hhmm(b, end) != CV_OK
        || *start == CV_MINUTES_PER_DAY || *start == *end || *end == 0)
    {
        return CV_INVALID;
    }

    return CV_OK;
}


cv_status
cv_hours_parse(cv_hours *h, int argc, const char *const *argv,
    const char *zoneinfo, char *err, size_t errlen)
{
    int          i, d, days, start, end, have_days, intervals;
    char         tzerr[CV_ZONE_ERR_MAX];
    const char  *zone;
    cv_status    st;

    memset(h, 0, sizeof(cv_hours));
    days = 0;
    have_days = 0;
    intervals = 0;
    zone = NULL;

    for (i = 0; i < argc; i++) {
        const char  *w = argv[i];

        if (strncmp(w, CV_TZ_PREFIX, CV_TZ_PREFIX_LEN) == 0) {
            if (zone || i != argc - 1) {
                return cv_fail(CV_INVALID, err, errlen,
                               "\"tz=\" must come once, last");
            }
            zone = w + CV_TZ_PREFIX_LEN;
            continue;
        }

        if (cv_interval(w, &start, &end) == CV_OK) {
            if (!have_days) {
                return cv_fail(CV_INVALID, err, errlen, "interval \"%s\" "
                               "needs days before it (e.g. mon-fri)", w);
            }

            if (h->n == CV_HOURS_MAX) {
                return cv_fail(CV_INVALID, err, errlen, "too many intervals");
            }

            h->iv[h->n].days = (uint8_t) days;
            h->iv[h->n].start = (uint16_t) start;
            h->iv[h->n].end = (uint16_t) end;
            h->n++;
            intervals++;
            continue;
        }

        if (cv_days(w, &d) == CV_OK) {
            if (have_days && intervals == 0) {
                return cv_fail(CV_INVALID, err, errlen, "days \"%s\" follow "
                               "days without an interval", w);
            }

            days = d;
            have_days = 1;
            intervals = 0;
            continue;
        }

        return cv_fail(CV_INVALID, err, errlen, "\"%s\" is neither days "
                       "(mon-fri), an interval (09:00-18:00) nor tz=ZONE", w);
    }

    if (h->n == 0 || intervals == 0) {
        return cv_fail(CV_INVALID, err, errlen, "give days and intervals, "
                       "e.g. \"mon-fri 09:00-18:00\"");
    }

    if (zone == NULL) {
        /* the machine's own zone, else UTC */
        st = cv_tz_load(&h->tz, "localtime", "/etc", tzerr, sizeof(tzerr));
        if (st != CV_OK) {
            st = cv_tz_load(&h->tz, "UTC", NULL, tzerr, sizeof(tzerr));
        }
        snprintf(h->zone, sizeof(h->zone), "localtime");

    } else {
        st = cv_tz_load(&h->tz, zone, zoneinfo, tzerr, sizeof(tzerr));
        snprintf(h->zone, sizeof(h->zone), "%s", zone);
    }

    if (st != CV_OK) {
        /* a zone the directive names that does not exist is its fault */
        return cv_fail(st == CV_ERROR ? CV_ERROR : CV_INVALID, err, errlen,
                       "%s", tzerr);
    }

    return CV_OK;
}


void
cv_hours_free(cv_hours *h)
{
    cv_tz_free(h->tz);
    h->tz = NULL;
}


int
cv_hours_open(const cv_hours *h, int64_t t)
{
    int64_t   local, days;
    int       wd, yd, m;
    unsigned  i;

    local = t + cv_tz_offset(h->tz, t);
    days = (local >= 0 ? local : local - (CV_SECS_PER_DAY - 1))
           / CV_SECS_PER_DAY;
    m = (int) ((local - days * CV_SECS_PER_DAY) / CV_SECS_PER_MINUTE);

    /* Monday-based weekday of today and of yesterday */
    wd = (int) (((days + CV_EPOCH_WEEKDAY) % CV_DAYS_PER_WEEK
                 + CV_DAYS_PER_WEEK) % CV_DAYS_PER_WEEK);
    yd = (wd + CV_DAYS_PER_WEEK - 1) % CV_DAYS_PER_WEEK;

    for (i = 0; i < h->n; i++) {
        const cv_hours_interval  *iv = &h->iv[i];

        if (iv->end > iv->start) {
            if ((iv->days & (1 << wd)) && m >= iv->start && m < iv->end) {
                return 1;
            }

        } else {
            /* past midnight: the evening of its day, the morning after */
            if (((iv->days & (1 << wd)) && m >= iv->start)
                || ((iv->days & (1 << yd)) && m < iv->end))
            {
                return 1;
            }
        }
    }

    return 0;
}
