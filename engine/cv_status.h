/*
 * The engine's one error protocol.
 *
 * Every engine function that can fail returns a cv_status. CV_OK is 0, so
 * "!= CV_OK" and "!= 0" test the same. A function whose callers show why it
 * failed (nginx -t, chatvisorctl) also takes an err buffer: on failure it
 * writes a human-readable message there, always NUL-terminated when
 * errlen > 0; on success err is left alone.
 *
 * What does not return a cv_status, by design:
 *
 *  - predicates, which answer yes (1) or no (0) and cannot fail:
 *    cv_agent_id_valid(), cv_equal(), cv_hours_open(); and validators that
 *    answer with a reason: cv_text_invalid() (a static string, NULL when
 *    the text is fine). A check that also answers something, as
 *    cv_utf8_check() counts characters, returns a cv_status (CV_INVALID);
 *  - functions that cannot fail: cv_now_ms(), cv_format_time(),
 *    cv_base64url(), cv_tz_offset(), cv_put_u64be() and the like, the
 *    *_free(), *_clear(), *_close() and cv_txn_abort() functions;
 *  - constructors whose only failure is memory, which return the new
 *    object or NULL: cv_session_cache_create(), cv_jt_take();
 *  - the JSON text builder (cv_json_text.h), which keeps a failed
 *    allocation in b->failed so that a whole text is built unchecked and
 *    checked once (cv_jt_take() answers NULL).
 */
#ifndef CV_STATUS_H
#define CV_STATUS_H

#include <stddef.h>

/* Outcomes; the module maps them to HTTP statuses (in parentheses). */
typedef enum {
    CV_OK = 0,          /* done */
    CV_NOT_FOUND,       /* no such record (404) */
    CV_CONFLICT,        /* the record's state forbids it: a closed
                           conversation, a disabled agent, a taken id, a
                           store of another schema version (409) */
    CV_INVALID,         /* bad input: it does not parse, is out of range
                           or does not fit; nothing was written (400) */
    CV_FORBIDDEN,       /* not allowed (403) */
    CV_FULL,            /* the map is full; nothing was written (507) */
    CV_ERROR            /* an internal failure: out of memory, I/O, a
                           corrupt record, no randomness (500) */
} cv_status;

/* A short lowercase name of a status ("not found"), for messages. */
const char *cv_status_text(cv_status st);

/* Writes a printf-style message into err (when errlen > 0) and returns
 * st: return cv_fail(CV_INVALID, err, errlen, "bad \"%s\"", word); */
cv_status cv_fail(cv_status st, char *err, size_t errlen, const char *fmt,
    ...);

#endif
