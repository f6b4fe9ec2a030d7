/*
 * TZif reading: the 64-bit transitions of version 2+ files, and the POSIX
 * TZ rule of the footer for instants after the last transition (slim files
 * end their transitions early).
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int       kind;     /* 'M' (month.week.day), 'J' (julian 1-365), 'n' */
    int       m, w, d;
    int32_t   time;     /* seconds after local midnight */
} cv_tz_date;

struct cv_tz {
    int64_t      *trans;     /* transition instants, ascending */
    uint8_t      *idx;       /* type of each transition */
    int32_t      *offs;      /* utoff of each type */
    uint32_t      ntrans;
    uint32_t      ntypes;
    int32_t       first_off; /* before the first transition */

    /* footer rule */
    int           has_rule;
    int32_t       std_off, dst_off;   /* UTC offsets, seconds east */
    int           has_dst;
    cv_tz_date    start, end;
};


static int64_t
cv_be(const unsigned char *p, int n)
{
    uint64_t  v = 0;
    int       i;

    for (i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }

    /* two's complement of n bytes */
    if (n < 8 && (p[0] & 0x80)) {
        return (int64_t) v - ((int64_t) 1 << (8 * n));
    }

    return (int64_t) v;
}


static const char *
cv_tz_name_part(const char *p)
{
    if (*p == '<') {
        while (*p && *p != '>') {
            p++;
        }
        return *p ? p + 1 : NULL;
    }

    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
        p++;
    }

    return p;
}


/* [+-]hh[:mm[:ss]] into seconds */
static const char *
cv_tz_hms(const char *p, int32_t *secs)
{
    int  sign = 1, h = 0, m = 0, s = 0;

    if (*p == '+' || *p == '-') {
        sign = (*p == '-') ? -1 : 1;
        p++;
    }

    if (*p < '0' || *p > '9') {
        return NULL;
    }

    while (*p >= '0' && *p <= '9') {
        h = h * 10 + (*p++ - '0');
    }

    if (*p == ':') {
        p++;
        while (*p >= '0' && *p <= '9') {
            m = m * 10 + (*p++ - '0');
        }

        if (*p == ':') {
            p++;
            while (*p >= '0' && *p <= '9') {
                s = s * 10 + (*p++ - '0');
            }
        }
    }

    *secs = sign * (h * 3600 + m * 60 + s);
    return p;
}


static const char *
cv_tz_rule_date(const char *p, cv_tz_date *d)
{
    char  *end;

    d->time = 7200;   /* 02:00 by default */

    if (*p == 'M') {
        d->kind = 'M';
        d->m = (int) strtol(p + 1, &end, 10);
        if (*end != '.') {
            return NULL;
        }
        d->w = (int) strtol(end + 1, &end, 10);
        if (*end != '.') {
            return NULL;
        }
        d->d = (int) strtol(end + 1, &end, 10);
        p = end;

        if (d->m < 1 || d->m > 12 || d->w < 1 || d->w > 5 || d->d < 0
            || d->d > 6)
        {
            return NULL;
        }

    } else if (*p == 'J') {
        d->kind = 'J';
        d->d = (int) strtol(p + 1, &end, 10);
        p = end;

    } else if (*p >= '0' && *p <= '9') {
        d->kind = 'n';
        d->d = (int) strtol(p, &end, 10);
        p = end;

    } else {
        return NULL;
    }

    if (*p == '/') {
        p = cv_tz_hms(p + 1, &d->time);
    }

    return p;
}


/* "CET-1CEST,M3.5.0,M10.5.0/3" */
static int
cv_tz_parse_rule(cv_tz *tz, const char *s)
{
    const char  *p;
    int32_t      off;

    p = cv_tz_name_part(s);
    if (p == NULL || p == s) {
        return -1;
    }

    p = cv_tz_hms(p, &off);
    if (p == NULL) {
        return -1;
    }

    /* POSIX offsets are west of UTC */
    tz->std_off = -off;
    tz->dst_off = tz->std_off + 3600;
    tz->has_rule = 1;

    if (*p == '\0') {
        return 0;
    }

    s = p;
    p = cv_tz_name_part(s);
    if (p == NULL || p == s) {
        return -1;
    }

    tz->has_dst = 1;

    if (*p != ',' && *p != '\0') {
        p = cv_tz_hms(p, &off);
        if (p == NULL) {
            return -1;
        }
        tz->dst_off = -off;
    }

    if (*p != ',') {
        /* no rule given: the US rules of POSIX; rare in zoneinfo */
        return -1;
    }

    p = cv_tz_rule_date(p + 1, &tz->start);
    if (p == NULL || *p != ',') {
        return -1;
    }

    p = cv_tz_rule_date(p + 1, &tz->end);

    return (p && *p == '\0') ? 0 : -1;
}


static int
cv_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}


/* days from 1970-01-01 to y-m-d (proleptic Gregorian) */
static int64_t
cv_days_from_civil(int64_t y, int m, int d)
{
    int64_t  era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


static int64_t
cv_year_of(int64_t t)
{
    int64_t  z, era, doe, yoe, y, doy, mp;

    z = (t >= 0 ? t : t - 86399) / 86400 + 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;

    return y + (mp >= 10);
}


/* the local-time instant (seconds of local wall clock since the epoch) of a
 * rule date in year y */
static int64_t
cv_tz_rule_local(const cv_tz_date *d, int64_t y)
{
    static const int  mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
                                  30, 31 };
    int64_t  day;
    int      wd, first, n;

    if (d->kind == 'M') {
        day = cv_days_from_civil(y, d->m, 1);
        wd = (int) (((day % 7) + 11) % 7);          /* 1970-01-01: Thursday */
        first = (d->d - wd + 7) % 7;                /* first such weekday */
        n = first + (d->w - 1) * 7;

        int  len = mdays[d->m - 1] + (d->m == 2 && cv_is_leap(y));

        while (n >= len) {
            n -= 7;                                  /* week 5: the last */
        }

        day += n;

    } else if (d->kind == 'J') {
        day = cv_days_from_civil(y, 1, 1) + d->d - 1;
        if (cv_is_leap(y) && d->d >= 60) {
            day++;                                   /* Jn never counts 29 Feb */
        }

    } else {
        day = cv_days_from_civil(y, 1, 1) + d->d;
    }

    return day * 86400 + d->time;
}


static int32_t
cv_tz_rule_offset(const cv_tz *tz, int64_t t)
{
    int64_t  y, start, end;

    if (!tz->has_dst) {
        return tz->std_off;
    }

    y = cv_year_of(t + tz->std_off);

    /* DST starts at start (local standard time), ends at end (local DST) */
    start = cv_tz_rule_local(&tz->start, y) - tz->std_off;
    end = cv_tz_rule_local(&tz->end, y) - tz->dst_off;

    if (start < end) {
        return (t >= start && t < end) ? tz->dst_off : tz->std_off;
    }

    /* southern hemisphere: DST spans the new year */
    return (t >= end && t < start) ? tz->std_off : tz->dst_off;
}


int32_t
cv_tz_offset(const cv_tz *tz, int64_t t)
{
    uint32_t  lo, hi, mid;

    if (tz->ntrans == 0 || t < tz->trans[0]) {
        return tz->ntrans == 0 && tz->has_rule ? cv_tz_rule_offset(tz, t)
                                               : tz->first_off;
    }

    if (t >= tz->trans[tz->ntrans - 1] && tz->has_rule) {
        return cv_tz_rule_offset(tz, t);
    }

    lo = 0;
    hi = tz->ntrans;

    while (hi - lo > 1) {
        mid = (lo + hi) / 2;

        if (tz->trans[mid] <= t) {
            lo = mid;

        } else {
            hi = mid;
        }
    }

    return tz->offs[tz->idx[lo]];
}


static cv_tz *
cv_tz_fail(cv_tz *tz, char *err, unsigned errlen, const char *why,
    const char *name)
{
    if (errlen) {
        snprintf(err, errlen, "time zone \"%s\": %s", name, why);
    }

    cv_tz_free(tz);
    return NULL;
}


cv_tz *
cv_tz_load(const char *name, const char *dir, char *err, unsigned errlen)
{
    char            path[512];
    unsigned char  *buf, *p, *end;
    FILE           *f;
    long            size;
    cv_tz          *tz;
    uint32_t        isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
    uint32_t        i;
    size_t          v1len;
    const char     *c;

    tz = calloc(1, sizeof(cv_tz));
    if (tz == NULL) {
        return NULL;
    }

    if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) {
        return tz;
    }

    /* names like Europe/Madrid only: no "..", no absolute paths */
    for (c = name; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')
              || (*c >= '0' && *c <= '9') || *c == '/' || *c == '_'
              || *c == '-' || *c == '+'))
        {
            return cv_tz_fail(tz, err, errlen, "not a zone name", name);
        }
    }

    if (name[0] == '/' || name[0] == '\0' || strstr(name, "//")) {
        return cv_tz_fail(tz, err, errlen, "not a zone name", name);
    }

    snprintf(path, sizeof(path), "%s/%s", dir ? dir : "/usr/share/zoneinfo",
             name);

    f = fopen(path, "rb");
    if (f == NULL) {
        return cv_tz_fail(tz, err, errlen, "unknown (no zoneinfo file)",
                          name);
    }

    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);

    if (size < 44 || size > 1 << 20) {
        fclose(f);
        return cv_tz_fail(tz, err, errlen, "not a TZif file", name);
    }

    buf = malloc((size_t) size + 1);
    if (buf == NULL || fread(buf, 1, (size_t) size, f) != (size_t) size) {
        free(buf);
        fclose(f);
        return cv_tz_fail(tz, err, errlen, "cannot be read", name);
    }

    fclose(f);
    buf[size] = '\0';
    end = buf + size;

    if (memcmp(buf, "TZif", 4) != 0 || buf[4] < '2') {
        free(buf);
        return cv_tz_fail(tz, err, errlen, "not a TZif version 2+ file",
                          name);
    }

#define CV_COUNTS(p)                                                         \
    isutcnt = (uint32_t) cv_be(p + 20, 4) & 0x7fffffff;                      \
    isstdcnt = (uint32_t) cv_be(p + 24, 4) & 0x7fffffff;                     \
    leapcnt = (uint32_t) cv_be(p + 28, 4) & 0x7fffffff;                      \
    timecnt = (uint32_t) cv_be(p + 32, 4) & 0x7fffffff;                      \
    typecnt = (uint32_t) cv_be(p + 36, 4) & 0x7fffffff;                      \
    charcnt = (uint32_t) cv_be(p + 40, 4) & 0x7fffffff

    /* skip the 32-bit (v1) block */
    CV_COUNTS(buf);
    v1len = 44 + (size_t) timecnt * 5 + (size_t) typecnt * 6 + charcnt
            + (size_t) leapcnt * 8 + isstdcnt + isutcnt;

    p = buf + v1len;
    if (p + 44 > end || memcmp(p, "TZif", 4) != 0) {
        free(buf);
        return cv_tz_fail(tz, err, errlen, "truncated", name);
    }

    CV_COUNTS(p);
    p += 44;

    if (typecnt == 0 || typecnt > 256
        || p + (size_t) timecnt * 9 + (size_t) typecnt * 6 > end)
    {
        free(buf);
        return cv_tz_fail(tz, err, errlen, "truncated", name);
    }

    tz->ntrans = timecnt;
    tz->ntypes = typecnt;
    tz->trans = calloc(timecnt + 1, sizeof(int64_t));
    tz->idx = calloc(timecnt + 1, 1);
    tz->offs = calloc(typecnt, sizeof(int32_t));

    if (tz->trans == NULL || tz->idx == NULL || tz->offs == NULL) {
        free(buf);
        return cv_tz_fail(tz, err, errlen, "out of memory", name);
    }

    for (i = 0; i < timecnt; i++) {
        tz->trans[i] = cv_be(p + 8 * i, 8);
    }
    p += (size_t) timecnt * 8;

    for (i = 0; i < timecnt; i++) {
        tz->idx[i] = p[i];
        if (p[i] >= typecnt) {
            free(buf);
            return cv_tz_fail(tz, err, errlen, "corrupt", name);
        }
    }
    p += timecnt;

    for (i = 0; i < typecnt; i++) {
        tz->offs[i] = (int32_t) cv_be(p + 6 * i, 4);
    }

    /* before the first transition: the first non-DST type, else type 0 */
    tz->first_off = tz->offs[0];
    for (i = 0; i < typecnt; i++) {
        if (p[6 * i + 4] == 0) {
            tz->first_off = tz->offs[i];
            break;
        }
    }

    p += (size_t) typecnt * 6 + charcnt + (size_t) leapcnt * 12 + isstdcnt
         + isutcnt;

    /* footer: "\nTZSTRING\n" */
    if (p < end && *p == '\n') {
        unsigned char  *nl = memchr(p + 1, '\n', (size_t) (end - p - 1));

        if (nl && nl > p + 1) {
            *nl = '\0';
            if (cv_tz_parse_rule(tz, (char *) p + 1) != 0) {
                tz->has_rule = 0;
            }
        }
    }

    free(buf);
    return tz;
}


void
cv_tz_free(cv_tz *tz)
{
    if (tz) {
        free(tz->trans);
        free(tz->idx);
        free(tz->offs);
        free(tz);
    }
}
