/*
 * A member of a JSON object found in its text, without building a tree:
 * for text this engine wrote itself (the log's events), where the webhook
 * sender needs one member as it is, once per event and endpoint, and a
 * cJSON parse and print of the whole event was a third of its time.
 */
#ifndef CV_JSON_SCAN_H
#define CV_JSON_SCAN_H

#include <stddef.h>

/* The value of the top-level member name of the object in text[0..len):
 * its offset and length in text. 0 when found; -1 when there is no such
 * member or the text is not an object as far as it is read. */
int cv_json_member(const char *text, size_t len, const char *name,
    size_t *off, size_t *vlen);

#endif
