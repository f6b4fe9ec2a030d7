/* Business hours. */
#define _POSIX_C_SOURCE 200809L

#include "cv_hours.h"

#include <stdio.h>
#include <string.h>

static const char  *cv_day_names[] = { "mon", "tue", "wed", "thu", "fri",
                                       "sat", "sun" };


static int
cv_day(const char *s, size_t len)
{
    int  i;

    if (len != 3) {
        return -1;
    }

    for (i = 0; i < 7; i++) {
        if (strncmp(s, cv_day_names[i], 3) == 0) {
            return i;
        }
    }

    return -1;
}


/* "mon", "mon-fri", "sat,sun", "fri-mon" into a day mask; -1 if not days */
static int
cv_days(const char *s)
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
            a = cv_day(p, (size_t) (dash - p));
            b = cv_day(dash + 1, len - (size_t) (dash - p) - 1);
            if (a < 0 || b < 0) {
                return -1;
            }

            for (d = a; ; d = (d + 1) % 7) {
                mask |= 1 << d;
                if (d == b) {
                    break;
                }
            }

        } else {
            a = cv_day(p, len);
            if (a < 0) {
                return -1;
            }
            mask |= 1 << a;
        }

        if (comma == NULL) {
            break;
        }

        p = comma + 1;
        if (*p == '\0') {
            return -1;
        }
    }

    return mask ? mask : -1;
}


static int
cv_hhmm(const char *s, int *minutes)
{
    int  h, m;

    if (strlen(s) != 5 || s[2] != ':'
        || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9'
        || s[3] < '0' || s[3] > '9' || s[4] < '0' || s[4] > '9')
    {
        return -1;
    }

    h = (s[0] - '0') * 10 + (s[1] - '0');
    m = (s[3] - '0') * 10 + (s[4] - '0');

    if (m > 59 || h > 24 || (h == 24 && m != 0)) {
        return -1;
    }

    *minutes = h * 60 + m;
    return 0;
}


/* "09:00-18:00" */
static int
cv_interval(const char *s, int *start, int *end)
{
    char  a[6], b[6];

    if (strlen(s) != 11 || s[5] != '-') {
        return -1;
    }

    memcpy(a, s, 5);
    a[5] = '\0';
    memcpy(b, s + 6, 5);
    b[5] = '\0';

    if (cv_hhmm(a, start) != 0 || cv_hhmm(b, end) != 0 || *start == 1440
        || *start == *end || *end == 0)
    {
        return -1;
    }

    return 0;
}


int
cv_hours_parse(cv_hours *h, int argc, const char *const *argv,
    const char *zoneinfo, char *err, size_t errlen)
{
    int          i, days, start, end, have_days, intervals;
    char         tzerr[256];
    const char  *zone;

    memset(h, 0, sizeof(cv_hours));
    days = 0;
    have_days = 0;
    intervals = 0;
    zone = NULL;

    for (i = 0; i < argc; i++) {
        const char  *w = argv[i];

        if (strncmp(w, "tz=", 3) == 0) {
            if (zone || i != argc - 1) {
                snprintf(err, errlen, "\"tz=\" must come once, last");
                return -1;
            }
            zone = w + 3;
            continue;
        }

        if (cv_interval(w, &start, &end) == 0) {
            if (!have_days) {
                snprintf(err, errlen, "interval \"%s\" needs days before it "
                         "(e.g. mon-fri)", w);
                return -1;
            }

            if (h->n == CV_HOURS_MAX) {
                snprintf(err, errlen, "too many intervals");
                return -1;
            }

            h->iv[h->n].days = (uint8_t) days;
            h->iv[h->n].start = (uint16_t) start;
            h->iv[h->n].end = (uint16_t) end;
            h->n++;
            intervals++;
            continue;
        }

        if (cv_days(w) >= 0) {
            if (have_days && intervals == 0) {
                snprintf(err, errlen, "days \"%s\" follow days without "
                         "an interval", w);
                return -1;
            }

            days = cv_days(w);
            have_days = 1;
            intervals = 0;
            continue;
        }

        snprintf(err, errlen, "\"%s\" is neither days (mon-fri), an "
                 "interval (09:00-18:00) nor tz=ZONE", w);
        return -1;
    }

    if (h->n == 0 || intervals == 0) {
        snprintf(err, errlen, "give days and intervals, e.g. "
                 "\"mon-fri 09:00-18:00\"");
        return -1;
    }

    if (zone == NULL) {
        /* the machine's own zone */
        h->tz = cv_tz_load("localtime", "/etc", tzerr, sizeof(tzerr));
        if (h->tz == NULL) {
            h->tz = cv_tz_load("UTC", NULL, tzerr, sizeof(tzerr));
        }
        snprintf(h->zone, sizeof(h->zone), "localtime");

    } else {
        h->tz = cv_tz_load(zone, zoneinfo, tzerr, sizeof(tzerr));
        snprintf(h->zone, sizeof(h->zone), "%s", zone);
    }

    if (h->tz == NULL) {
        snprintf(err, errlen, "%s", tzerr);
        return -1;
    }

    return 0;
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
    days = (local >= 0 ? local : local - 86399) / 86400;
    m = (int) ((local - days * 86400) / 60);

    /* 1970-01-01 was a Thursday: Monday-based index 3 */
    wd = (int) (((days + 3) % 7 + 7) % 7);
    yd = (wd + 6) % 7;

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
