/*
 * Query arguments as the surfaces read them: cursors and page sizes, whole
 * numbers in decimal that JSON can carry exactly (at most 2^53).
 */
#ifndef CV_ARGS_H
#define CV_ARGS_H

#include "cv_status.h"

#include <stddef.h>
#include <stdint.h>

/* the largest cursor: JSON numbers are exact up to here */
#define CV_ARG_U64_MAX     ((uint64_t) 1 << 53)

/* digits of the largest cursor (2^53) */
#define CV_ARG_U64_DIGITS  16

/* 1..16 decimal digits of at most 2^53 into *v; CV_INVALID otherwise (*v
 * is then left alone). */
cv_status cv_arg_u64(const char *s, size_t len, uint64_t *v);

/* A page size of 1..max into *limit; CV_INVALID otherwise. */
cv_status cv_arg_limit(const char *s, size_t len, size_t max, size_t *limit);

#endif
