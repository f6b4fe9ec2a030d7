/*
 * Business hours: "mon-fri 09:00-18:00 sat 10:00-14:00 tz=Europe/Madrid".
 * Day names or ranges (wrapping: fri-mon), comma lists, each followed by
 * one or more intervals; an interval that ends before it starts runs past
 * midnight into the next day. Evaluated in the zone's wall-clock time,
 * daylight-saving changes included.
 */
#ifndef CV_HOURS_H
#define CV_HOURS_H

#include "cv_tz.h"

#include <stddef.h>
#include <stdint.h>

#define CV_HOURS_MAX       64    /* intervals */
#define CV_HOURS_ZONE_MAX  64    /* bytes of the zone's name, NUL included */
#define CV_MINUTES_PER_DAY (24 * 60)

typedef struct {
    uint8_t    days;        /* bit 0 Monday .. bit 6 Sunday */
    uint16_t   start;       /* minutes after midnight */
    uint16_t   end;         /* 1..CV_MINUTES_PER_DAY; < start: past
                               midnight */
} cv_hours_interval;

typedef struct {
    cv_hours_interval   iv[CV_HOURS_MAX];
    unsigned            n;
    cv_tz              *tz;
    char                zone[CV_HOURS_ZONE_MAX];
} cv_hours;

/* Parses the words of the directive: CV_INVALID with a reason in err when
 * they are not business hours (or name no zone there is), CV_ERROR when
 * the zone cannot be read. zoneinfo: NULL for CV_TZ_DIR. Free with
 * cv_hours_free (also after a failure). */
cv_status cv_hours_parse(cv_hours *h, int argc, const char *const *argv,
    const char *zoneinfo, char *err, size_t errlen);

void cv_hours_free(cv_hours *h);

/* 1 when t (UTC seconds) is within business hours, else 0. */
int cv_hours_open(const cv_hours *h, int64_t t);

#endif
