/*
 * Time zones from the system's zoneinfo (TZif files), for one zone at a
 * time, without touching the process's own TZ (nginx's log timestamps).
 */
#ifndef CV_TZ_H
#define CV_TZ_H

#include "cv_status.h"

#include <stddef.h>
#include <stdint.h>

#define CV_TZ_DIR  "/usr/share/zoneinfo"

typedef struct cv_tz  cv_tz;

/* Loads "Europe/Madrid" from dir (NULL: CV_TZ_DIR) into *out, to be freed
 * with cv_tz_free(); "UTC" is always known. On failure a reason is in err:
 * CV_INVALID for what is not a zone name, CV_NOT_FOUND for a zone with no
 * file, CV_ERROR for a file that is not TZif or cannot be read, and for
 * memory. */
cv_status cv_tz_load(cv_tz **out, const char *name, const char *dir,
    char *err, size_t errlen);

/* A zone from the bytes of a TZif file (what cv_tz_load reads), named name
 * in err; CV_ERROR when they are not TZif or out of memory. */
cv_status cv_tz_from_tzif(cv_tz **out, const unsigned char *data,
    size_t len, const char *name, char *err, size_t errlen);

void cv_tz_free(cv_tz *tz);

/* The UTC offset in seconds at a UTC instant (seconds since the epoch). */
int32_t cv_tz_offset(const cv_tz *tz, int64_t t);

#endif
