/*
 * Time zones from the system's zoneinfo (TZif files), for one zone at a
 * time, without touching the process's own TZ (nginx's log timestamps).
 */
#ifndef CV_TZ_H
#define CV_TZ_H

#include <stdint.h>

typedef struct cv_tz  cv_tz;

/* Loads "Europe/Madrid" from dir (NULL: /usr/share/zoneinfo); "UTC" is
 * always known. NULL with a reason in err on failure. */
cv_tz *cv_tz_load(const char *name, const char *dir, char *err,
    unsigned errlen);

void cv_tz_free(cv_tz *tz);

/* The UTC offset in seconds at a UTC instant (seconds since the epoch). */
int32_t cv_tz_offset(const cv_tz *tz, int64_t t);

#endif
