/*
 * Checking JSON text without building it: a co-browsing chunk (megabytes
 * of rrweb events) is kept as the bytes the browser sent and relayed as
 * they are, so it is only checked here, in one pass that allocates
 * nothing, never parsed into a tree.
 */
#ifndef CV_JSON_CHECK_H
#define CV_JSON_CHECK_H

#include "cv_status.h"

#include <stddef.h>

/* the deepest nesting accepted (an rrweb snapshot nests two levels per
 * level of the page's DOM) */
#define CV_JSON_DEPTH_MAX  4096

/* where a JSON array's elements are in its text */
typedef struct {
    size_t    inner_off;    /* the first byte of the first element */
    size_t    inner_len;    /* up to the last byte of the last one: the
                               elements as "a,b" (0 for an empty array) */
    size_t    count;        /* elements */
} cv_json_array_span;

/*
 * CV_OK when text is one JSON value (RFC 8259, valid UTF-8), an array
 * whose elements are all objects, with nothing but blanks around it, and
 * *span says where its elements are; CV_INVALID otherwise (nesting deeper
 * than CV_JSON_DEPTH_MAX included).
 */
cv_status cv_json_object_array(const char *text, size_t len,
    cv_json_array_span *span);

#endif
