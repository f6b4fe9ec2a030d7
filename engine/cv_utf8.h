/* Strict UTF-8: no overlongs, no surrogates, nothing past U+10FFFF. */
#ifndef CV_UTF8_H
#define CV_UTF8_H

#include "cv_status.h"

#include <stddef.h>

/* CV_OK when s is valid UTF-8, with the number of code points in *chars
 * (chars may be NULL); CV_INVALID otherwise. */
cv_status cv_utf8_check(const char *s, size_t len, size_t *chars);

#endif
