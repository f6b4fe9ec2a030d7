/*
 * Finding "</head>" and "</body>" in HTML that arrives in pieces (the
 * injection filter's matcher): a match may span any number of buffers, so
 * the state carries over from one to the next.
 */
#ifndef CV_HTML_MATCH_H
#define CV_HTML_MATCH_H

#include <stddef.h>

/* the length of either tag; a state of this many bytes is a match */
#define CV_HTML_MATCH_LEN  7

typedef struct {
    unsigned  state;    /* 0..7 bytes of a tag matched so far */
    unsigned  which;    /* 'h' or 'b' once the third byte is in */
} cv_html_match;

/* One byte more (any case); returns the new state. head_only: only
 * "</head>" (once a "</body>" was seen). */
unsigned cv_html_match_step(cv_html_match *m, unsigned char c, int head_only);

/* Scans p..end: one past the last byte of the first tag completed there
 * (m->state is then CV_HTML_MATCH_LEN), or NULL when none is (m->state
 * holds what the end of the buffer matched). */
const char *cv_html_match_scan(cv_html_match *m, const char *p,
    const char *end, int head_only);

/* Whether the (partial) match after scanning bytes of a buffer still
 * begins in the held bytes kept before it: when not, those held bytes
 * turned out to be no tag and are to be passed on. */
int cv_html_match_spans(const cv_html_match *m, size_t scanned, size_t held);

#endif
