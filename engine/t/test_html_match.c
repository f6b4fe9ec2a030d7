/* Unit tests of the injection filter's matcher (cv_html_match.c). */
#define _POSIX_C_SOURCE 200809L

#include "cv_html_match.h"
#include "tap.h"

#include <string.h>


/* where the first tag ends in s, fed in pieces of n bytes; -1: none */
static long
find(const char *s, size_t n, int head_only, unsigned *which)
{
    cv_html_match   m = { 0, 0 };
    const char     *p, *q, *end;

    end = s + strlen(s);

    for (p = s; p < end; p += n) {
        q = cv_html_match_scan(&m, p, (size_t) (end - p) < n ? end : p + n,
                               head_only);
        if (q) {
            *which = m.which;
            return q - s;
        }
    }

    return -1;
}


int
main(void)
{
    size_t          n;
    unsigned        w;
    cv_html_match   m = { 0, 0 };

    for (n = 1; n <= 8; n++) {
        ok(find("<html><head></head>", n, 0, &w) == 19 && w == 'h',
           "</head> found in pieces of %zu", n);
    }

    ok(find("<p></BoDy><x>", 3, 0, &w) == 10 && w == 'b',
       "</body> in any case");
    ok(find("<p></body></head>", 2, 1, &w) == 17 && w == 'h',
       "head only: </body> is passed over");
    ok(find("<</</h</head>", 1, 0, &w) == 13,
       "a mismatch restarts at its '<'");
    ok(find("</hea</head>", 4, 0, &w) == 12, "a broken tag, then a tag");
    ok(find("no tags at all", 3, 0, &w) == -1, "no tag");
    ok(find("</head", 3, 0, &w) == -1, "an unfinished tag is none");

    /* held bytes: "</he" held, then a buffer */
    ok(cv_html_match_scan(&m, "</he", "</he" + 4, 0) == NULL && m.state == 4,
       "a buffer that ends inside a tag leaves its state");
    ok(cv_html_match_spans(&m, 0, 4), "the held bytes are still a tag");
    ok(cv_html_match_scan(&m, "ad>", "ad>" + 3, 0) != NULL
       && cv_html_match_spans(&m, 3, 4),
       "the tag completes across the buffers, from the held bytes");

    m.state = 0;
    (void) cv_html_match_scan(&m, "</he", "</he" + 4, 0);
    ok(cv_html_match_scan(&m, "x</head>", "x</head>" + 8, 0) != NULL
       && !cv_html_match_spans(&m, 8, 4),
       "a tag after a broken one does not span the held bytes");
    ok(!cv_html_match_spans(&m, 8, 0), "nothing held spans nothing");

    return done_testing();
}
