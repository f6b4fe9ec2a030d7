/*
 * The matcher of "</head>" and "</body>" (cv_html_match.h).
 */
#include "cv_html_match.h"

#include <string.h>

/* the third byte tells the tags apart */
#define CV_HTML_MATCH_FORK  2


static inline unsigned
cv_html_step(cv_html_match *m, unsigned char c, int head_only)
{
    static const char  head[] = "</head>";
    static const char  body[] = "</body>";

    const char  *pattern;

    if (c >= 'A' && c <= 'Z') {
        c |= 0x20;
    }

    if (m->state == CV_HTML_MATCH_FORK) {
        if (c == 'h' || (c == 'b' && !head_only)) {
            m->which = c;
            return ++m->state;
        }

    } else if (m->state > CV_HTML_MATCH_FORK) {
        pattern = (m->which == 'h') ? head : body;

        if (m->state < CV_HTML_MATCH_LEN
            && c == (unsigned char) pattern[m->state])
        {
            return ++m->state;
        }

    } else if (c == (unsigned char) "</"[m->state]) {
        return ++m->state;
    }

    /* neither pattern has a proper border: a mismatch restarts at '<' */
    m->state = (c == '<');

    return m->state;
}


unsigned
cv_html_match_step(cv_html_match *m, unsigned char c, int head_only)
{
    return cv_html_step(m, c, head_only);
}


const char *
cv_html_match_scan(cv_html_match *m, const char *p, const char *end,
    int head_only)
{
    for ( /* void */ ; p < end; p++) {

        if (m->state == 0) {
            /* between tags: let memchr() find the next '<' */
            p = memchr(p, '<', (size_t) (end - p));
            if (p == NULL) {
                return NULL;
            }
        }

        if (cv_html_step(m, (unsigned char) *p, head_only)
            == CV_HTML_MATCH_LEN)
        {
            return p + 1;
        }
    }

    return NULL;
}


int
cv_html_match_spans(const cv_html_match *m, size_t scanned, size_t held)
{
    /* a state grows by one byte at most: only a match that never broke
     * since the held bytes is this long */
    return held != 0 && m->state == held + scanned;
}
