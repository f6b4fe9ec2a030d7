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

#define CV_SECS_PER_HOUR  3600
#define CV_SECS_PER_DAY   86400
#define CV_DAYS_PER_WEEK  7
#define CV_EPOCH_WDAY     4         /* 1970-01-01 was a Thursday */

/* a POSIX rule's offsets and times: hh (up to 167), mm, ss */
#define CV_TZ_HOURS_MAX   167
#define CV_TZ_HOUR_DIGITS 3
#define CV_TZ_MIN_DIGITS  2

/* its days: Jn is 1..365, n is 0..365 */
#define CV_TZ_YDAY_MAX    365

/* a POSIX rule's change happens at 02:00 unless it says otherwise */
#define CV_TZ_RULE_TIME   (2 * CV_SECS_PER_HOUR)

/* Jn counts 1..365 without 29 February: day 60 is always 1 March */
#define CV_JULIAN_MARCH_1  60

/* the civil calendar in eras of 400 years, counted from 0000-03-01
 * (Howard Hinnant's days_from_civil and civil_from_days) */
#define CV_DAYS_PER_ERA     146097
#define CV_ERA_TO_EPOCH     719468    /* days from 0000-03-01 to 1970-01-01 */

/* TZif (RFC 8536): a 44-byte header with six counts, the v1 data block
 * (32-bit times) to skip, the same header again, the v2 block (64-bit
 * times), then the footer's POSIX rule */
#define CV_TZIF_MAGIC      "TZif"
#define CV_TZIF_MAGIC_LEN  4
#define CV_TZIF_VERSION    4         /* offset of the version byte */
#define CV_TZIF_HDR        44
#define CV_TZIF_ISUTCNT    20        /* offsets of the counts */
#define CV_TZIF_ISSTDCNT   24
#define CV_TZIF_LEAPCNT    28
#define CV_TZIF_TIMECNT    32
#define CV_TZIF_TYPECNT    36
#define CV_TZIF_CHARCNT    40
#define CV_TZIF_COUNT_LEN  CV_TZIF_I32
#define CV_TZIF_COUNT_MASK 0x7fffffff
#define CV_TZIF_I32        4
#define CV_TZIF_TTINFO     6         /* i32 utoff, u8 isdst, u8 desigidx */
#define CV_TZIF_TTINFO_DST CV_TZIF_I32   /* where isdst is in it */
#define CV_TZIF_V1_TIME    4
#define CV_TZIF_V2_TIME    8
#define CV_TZIF_V1_LEAP    (CV_TZIF_V1_TIME + CV_TZIF_I32)
#define CV_TZIF_V2_LEAP    (CV_TZIF_V2_TIME + CV_TZIF_I32)
#define CV_TZIF_TYPES_MAX  256       /* a u8 indexes them */
#define CV_TZIF_SIZE_MAX   (1 << 20)

#define CV_TZ_PATH_MAX     512

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


/* a zone abbreviation, "CET" or "<+03>"; CV_INVALID when there is none */
static cv_status
cv_tz_name_part(const char **p)
{
    const char  *s = *p;

    if (*s == '<') {
        while (*s && *s != '>') {
            s++;
        }

        if (*s == '\0') {
            return CV_INVALID;
        }

        *p = s + 1;
        return CV_OK;
    }

    while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')) {
        s++;
    }

    if (s == *p) {
        return CV_INVALID;
    }

    *p = s;
    return CV_OK;
}


/* at most max_digits decimal digits into *v; CV_INVALID for none or more */
static cv_status
cv_tz_digits(const char **p, int max_digits, int *v)
{
    const char  *s = *p;
    int          n = 0;

    while (*s >= '0' && *s <= '9') {
        if (s - *p == max_digits) {
            return CV_INVALID;
        }
        n = n * 10 + (*s++ - '0');
    }

    if (s == *p) {
        return CV_INVALID;
    }

    *v = n;
    *p = s;
    return CV_OK;
}


/* [+-]hh[:mm[:ss]] into seconds: hours up to 167 (RFC 8536 extends
 * POSIX's 24 to that), minutes and seconds up to 59 */
static cv_status
cv_tz_hms(const char **p, int32_t *secs)
{
    const char  *s = *p;
    int          sign = 1, h = 0, m = 0, sec = 0;

    if (*s == '+' || *s == '-') {
        sign = (*s == '-') ? -1 : 1;
        s++;
    }

    if (cv_tz_digits(&s, CV_TZ_HOUR_DIGITS, &h) != CV_OK
        || h > CV_TZ_HOURS_MAX)
    {
        return CV_INVALID;
    }

    if (*s == ':') {
        s++;
        if (cv_tz_digits(&s, CV_TZ_MIN_DIGITS, &m) != CV_OK || m > 59) {
            return CV_INVALID;
        }

        if (*s == ':') {
            s++;
            if (cv_tz_digits(&s, CV_TZ_MIN_DIGITS, &sec) != CV_OK
                || sec > 59)
            {
                return CV_INVALID;
            }
        }
    }

    *secs = sign * (h * CV_SECS_PER_HOUR + m * 60 + sec);
    *p = s;
    return CV_OK;
}


/* Mm.w.d, Jn or n, with an optional /time */
static cv_status
cv_tz_rule_date(const char **p, cv_tz_date *d)
{
    const char  *s = *p;

    d->time = CV_TZ_RULE_TIME;

    if (*s == 'M') {
        d->kind = 'M';
        s++;
        if (cv_tz_digits(&s, CV_TZ_MIN_DIGITS, &d->m) != CV_OK || *s++ != '.'
            || cv_tz_digits(&s, 1, &d->w) != CV_OK || *s++ != '.'
            || cv_tz_digits(&s, 1, &d->d) != CV_OK)
        {
            return CV_INVALID;
        }

        /* month 1-12, week 1-5 (5: the last), weekday 0-6 (Sunday 0) */
        if (d->m < 1 || d->m > 12 || d->w < 1 || d->w > 5 || d->d < 0
            || d->d >= CV_DAYS_PER_WEEK)
        {
            return CV_INVALID;
        }

    } else if (*s == 'J') {
        d->kind = 'J';
        s++;
        if (cv_tz_digits(&s, CV_TZ_HOUR_DIGITS, &d->d) != CV_OK
            || d->d < 1 || d->d > CV_TZ_YDAY_MAX)
        {
            return CV_INVALID;
        }

    } else if (*s >= '0' && *s <= '9') {
        d->kind = 'n';
        if (cv_tz_digits(&s, CV_TZ_HOUR_DIGITS, &d->d) != CV_OK
            || d->d > CV_TZ_YDAY_MAX)
        {
            return CV_INVALID;
        }

    } else {
        return CV_INVALID;
    }

    *p = s;

    if (*s == '/') {
        (*p)++;
        return cv_tz_hms(p, &d->time);
    }

    return CV_OK;
}


/* "CET-1CEST,M3.5.0,M10.5.0/3" */
static cv_status
cv_tz_parse_rule(cv_tz *tz, const char *s)
{
    const char  *p;
    int32_t      off;

    p = s;

    if (cv_tz_name_part(&p) != CV_OK || cv_tz_hms(&p, &off) != CV_OK) {
        return CV_INVALID;
    }

    /* POSIX offsets are west of UTC */
    tz->std_off = -off;
    tz->dst_off = tz->std_off + CV_SECS_PER_HOUR;
    tz->has_rule = 1;

    if (*p == '\0') {
        return CV_OK;
    }

    if (cv_tz_name_part(&p) != CV_OK) {
        return CV_INVALID;
    }

    tz->has_dst = 1;

    if (*p != ',' && *p != '\0') {
        if (cv_tz_hms(&p, &off) != CV_OK) {
            return CV_INVALID;
        }
        tz->dst_off = -off;
    }

    if (*p != ',') {
        /* no rule given: the US rules of POSIX; rare in zoneinfo */
        return CV_INVALID;
    }

    p++;
    if (cv_tz_rule_date(&p, &tz->start) != CV_OK || *p != ',') {
        return CV_INVALID;
    }

    p++;
    if (cv_tz_rule_date(&p, &tz->end) != CV_OK || *p != '\0') {
        return CV_INVALID;
    }

    return CV_OK;
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

    return era * CV_DAYS_PER_ERA + doe - CV_ERA_TO_EPOCH;
}


static int64_t
cv_year_of(int64_t t)
{
    int64_t  z, era, doe, yoe, y, doy, mp;

    z = (t >= 0 ? t : t - (CV_SECS_PER_DAY - 1)) / CV_SECS_PER_DAY
        + CV_ERA_TO_EPOCH;
    era = (z >= 0 ? z : z - (CV_DAYS_PER_ERA - 1)) / CV_DAYS_PER_ERA;
    doe = z - era * CV_DAYS_PER_ERA;
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
        wd = (int) ((day % CV_DAYS_PER_WEEK + CV_DAYS_PER_WEEK
                     + CV_EPOCH_WDAY) % CV_DAYS_PER_WEEK);
        first = (d->d - wd + CV_DAYS_PER_WEEK) % CV_DAYS_PER_WEEK;
        n = first + (d->w - 1) * CV_DAYS_PER_WEEK;

        int  len = mdays[d->m - 1] + (d->m == 2 && cv_is_leap(y));

        while (n >= len) {
            n -= CV_DAYS_PER_WEEK;                   /* week 5: the last */
        }

        day += n;

    } else if (d->kind == 'J') {
        day = cv_days_from_civil(y, 1, 1) + d->d - 1;
        if (cv_is_leap(y) && d->d >= CV_JULIAN_MARCH_1) {
            day++;
        }

    } else {
        day = cv_days_from_civil(y, 1, 1) + d->d;
    }

    return day * CV_SECS_PER_DAY + d->time;
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


static cv_status
cv_tz_fail(cv_status st, char *err, size_t errlen, const char *why,
    const char *name)
{
    return cv_fail(st, err, errlen, "time zone \"%s\": %s", name, why);
}


/* the counts of a TZif header */
typedef struct {
    uint32_t  isut, isstd, leap, time, type, chars;
} cv_tzif_counts;


static uint32_t
cv_tzif_count(const unsigned char *hdr, size_t off)
{
    return (uint32_t) cv_be(hdr + off, CV_TZIF_COUNT_LEN)
           & CV_TZIF_COUNT_MASK;
}


static void
cv_tzif_counts_read(const unsigned char *hdr, cv_tzif_counts *c)
{
    c->isut = cv_tzif_count(hdr, CV_TZIF_ISUTCNT);
    c->isstd = cv_tzif_count(hdr, CV_TZIF_ISSTDCNT);
    c->leap = cv_tzif_count(hdr, CV_TZIF_LEAPCNT);
    c->time = cv_tzif_count(hdr, CV_TZIF_TIMECNT);
    c->type = cv_tzif_count(hdr, CV_TZIF_TYPECNT);
    c->chars = cv_tzif_count(hdr, CV_TZIF_CHARCNT);
}


/* a TZif file of size bytes (buf[size] is writable) into tz; *why says
 * what is wrong with it */
static cv_status
cv_tz_parse(cv_tz *tz, unsigned char *buf, size_t size, const char **why)
{
    unsigned char   *p, *end, *nl;
    uint32_t         i;
    size_t           v1len;
    cv_tzif_counts   c;

    buf[size] = '\0';
    end = buf + size;

    if (memcmp(buf, CV_TZIF_MAGIC, CV_TZIF_MAGIC_LEN) != 0
        || buf[CV_TZIF_VERSION] < '2')
    {
        *why = "not a TZif version 2+ file";
        return CV_ERROR;
    }

    /* skip the 32-bit (v1) block */
    cv_tzif_counts_read(buf, &c);

    v1len = CV_TZIF_HDR + (size_t) c.time * (CV_TZIF_V1_TIME + 1)
            + (size_t) c.type * CV_TZIF_TTINFO + c.chars
            + (size_t) c.leap * CV_TZIF_V1_LEAP + c.isstd + c.isut;

    p = buf + v1len;
    if (v1len > size || p + CV_TZIF_HDR > end
        || memcmp(p, CV_TZIF_MAGIC, CV_TZIF_MAGIC_LEN) != 0)
    {
        *why = "truncated";
        return CV_ERROR;
    }

    cv_tzif_counts_read(p, &c);
    p += CV_TZIF_HDR;

    if (c.type == 0 || c.type > CV_TZIF_TYPES_MAX
        || (size_t) (end - p) < (size_t) c.time * (CV_TZIF_V2_TIME + 1)
                                + (size_t) c.type * CV_TZIF_TTINFO)
    {
        *why = "truncated";
        return CV_ERROR;
    }

    tz->ntrans = c.time;
    tz->ntypes = c.type;
    tz->trans = calloc(c.time + 1, sizeof(int64_t));
    tz->idx = calloc(c.time + 1, 1);
    tz->offs = calloc(c.type, sizeof(int32_t));

    if (tz->trans == NULL || tz->idx == NULL || tz->offs == NULL) {
        *why = "out of memory";
        return CV_ERROR;
    }

    for (i = 0; i < c.time; i++) {
        tz->trans[i] = cv_be(p + CV_TZIF_V2_TIME * i, CV_TZIF_V2_TIME);
    }
    p += (size_t) c.time * CV_TZIF_V2_TIME;

    for (i = 0; i < c.time; i++) {
        tz->idx[i] = p[i];
        if (p[i] >= c.type) {
            *why = "corrupt";
            return CV_ERROR;
        }
    }
    p += c.time;

    for (i = 0; i < c.type; i++) {
        tz->offs[i] = (int32_t) cv_be(p + CV_TZIF_TTINFO * i, CV_TZIF_I32);
    }

    /* before the first transition: the first non-DST type, else type 0 */
    tz->first_off = tz->offs[0];
    for (i = 0; i < c.type; i++) {
        if (p[CV_TZIF_TTINFO * i + CV_TZIF_TTINFO_DST] == 0) {
            tz->first_off = tz->offs[i];
            break;
        }
    }

    p += (size_t) c.type * CV_TZIF_TTINFO + c.chars
         + (size_t) c.leap * CV_TZIF_V2_LEAP + c.isstd + c.isut;

    /* footer: "\nTZSTRING\n"; a rule it cannot read leaves the zone to
     * its transitions, which is all older files have */
    if (p < end && *p == '\n') {
        nl = memchr(p + 1, '\n', (size_t) (end - p - 1));

        if (nl && nl > p + 1) {
            *nl = '\0';
            if (cv_tz_parse_rule(tz, (char *) p + 1) != CV_OK) {
                tz->has_rule = 0;
            }
        }
    }

    return CV_OK;
}


cv_status
cv_tz_load(cv_tz **out, const char *name, const char *dir, char *err,
    size_t errlen)
{
    char            path[CV_TZ_PATH_MAX];
    unsigned char  *buf;
    FILE           *f;
    long            size;
    cv_tz          *tz;
    cv_status       st;
    const char     *c, *why;
    int             n;

    /* names like Europe/Madrid only: no "..", no absolute paths */
    for (c = name; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')
              || (*c >= '0' && *c <= '9') || *c == '/' || *c == '_'
              || *c == '-' || *c == '+'))
        {
            return cv_tz_fail(CV_INVALID, err, errlen, "not a zone name",
                              name);
        }
    }

    if (name[0] == '/' || name[0] == '\0' || strstr(name, "//")) {
        return cv_tz_fail(CV_INVALID, err, errlen, "not a zone name", name);
    }

    if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) {
        tz = calloc(1, sizeof(cv_tz));
        if (tz == NULL) {
            return cv_tz_fail(CV_ERROR, err, errlen, "out of memory", name);
        }

        *out = tz;
        return CV_OK;
    }

    n = snprintf(path, sizeof(path), "%s/%s", dir ? dir : CV_TZ_DIR, name);
    if (n < 0 || (size_t) n >= sizeof(path)) {
        return cv_tz_fail(CV_INVALID, err, errlen, "name too long", name);
    }

    f = fopen(path, "rb");
    if (f == NULL) {
        return cv_tz_fail(CV_NOT_FOUND, err, errlen,
                          "unknown (no zoneinfo file)", name);
    }

    buf = NULL;
    size = -1;

    if (fseek(f, 0, SEEK_END) == 0) {
        size = ftell(f);
    }

    if (size < CV_TZIF_HDR || size > CV_TZIF_SIZE_MAX
        || fseek(f, 0, SEEK_SET) != 0)
    {
        st = CV_ERROR;
        why = "not a TZif file";

    } else if ((buf = malloc((size_t) size)) == NULL) {
        st = CV_ERROR;
        why = "out of memory";

    } else if (fread(buf, 1, (size_t) size, f) != (size_t) size) {
        st = CV_ERROR;
        why = "cannot be read";

    } else {
        fclose(f);
        st = cv_tz_from_tzif(out, buf, (size_t) size, name, err, errlen);
        free(buf);
        return st;
    }

    fclose(f);
    free(buf);

    return cv_tz_fail(st, err, errlen, why, name);
}


cv_status
cv_tz_from_tzif(cv_tz **out, const unsigned char *data, size_t len,
    const char *name, char *err, size_t errlen)
{
    unsigned char  *buf;
    cv_tz          *tz;
    cv_status       st;
    const char     *why;

    if (len < CV_TZIF_HDR || len > CV_TZIF_SIZE_MAX) {
        return cv_tz_fail(CV_ERROR, err, errlen, "not a TZif file", name);
    }

    /* a copy: the parser writes the footer's terminating NULs into it */
    tz = calloc(1, sizeof(cv_tz));
    buf = malloc(len + 1);

    if (tz == NULL || buf == NULL) {
        free(buf);
        cv_tz_free(tz);
        return cv_tz_fail(CV_ERROR, err, errlen, "out of memory", name);
    }

    memcpy(buf, data, len);
    st = cv_tz_parse(tz, buf, len, &why);
    free(buf);

    if (st != CV_OK) {
        cv_tz_free(tz);
        return cv_tz_fail(st, err, errlen, why, name);
    }

    *out = tz;
    return CV_OK;
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
