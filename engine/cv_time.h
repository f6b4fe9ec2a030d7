/* Wall-clock time in milliseconds and its RFC 3339 form. */
#ifndef CV_TIME_H
#define CV_TIME_H

#include "cv_status.h"

#include <stdint.h>

#define CV_TIME_STR  64   /* "2026-11-23T10:00:00.123Z" + NUL, with room */

/* UTC milliseconds since the epoch, now. */
int64_t cv_now_ms(void);

/* Formats UTC milliseconds as 2026-11-23T10:00:00.123Z. */
void cv_format_time(int64_t ms, char out[CV_TIME_STR]);

/* Parses RFC 3339 (Z or +hh:mm offsets, optional fraction) into UTC
 * milliseconds; CV_INVALID when it is not that. */
cv_status cv_parse_time(const char *s, int64_t *ms);

#endif
