/*
 * JSON text built directly, for the chat's hot path: a message is written
 * once per post and read as text by every poll, so it is put together
 * here rather than built as a cJSON tree and printed (a dozen allocations
 * and a printf per number). The output is what cJSON_PrintUnformatted
 * gives for the same object. Everything else uses cJSON.
 */
#ifndef CV_JSON_TEXT_H
#define CV_JSON_TEXT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char    *data;
    size_t   len;
    size_t   cap;
    int      failed;     /* out of memory: every later call is a no-op */
} cv_json_text;

/* An empty text with room for hint bytes (0: a default). */
void cv_jt_init(cv_json_text *b, size_t hint);
void cv_jt_free(cv_json_text *b);

/* bytes as they are (JSON the caller already has, punctuation) */
void cv_jt_raw(cv_json_text *b, const void *s, size_t n);
void cv_jt_lit(cv_json_text *b, const char *s);

/* a string, quoted and escaped; NULL gives null */
void cv_jt_str(cv_json_text *b, const char *s);

/* a number */
void cv_jt_u64(cv_json_text *b, uint64_t v);

/* UTC milliseconds as a quoted RFC 3339 string */
void cv_jt_time(cv_json_text *b, int64_t ms);

/* The text, NUL-terminated, now owned by the caller (free()); NULL when
 * memory ran out. */
char *cv_jt_take(cv_json_text *b, size_t *len);

#endif
