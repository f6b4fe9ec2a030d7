/*
 * The injection filter's matcher (engine/cv_html_match.c), driven the way
 * edge/ngx_chatvisor_inject_filter.c drives it: the page arrives in
 * buffers; a tag's first bytes at a buffer's end are held back until the
 * next says whether they are a tag; after an early "</body>" what follows
 * is kept while looking for a "</head>".
 *
 * Input: the first byte, k, says how many cut points follow (k % 16, two
 * bytes each); the rest is the page. Each page is fed in four ways: whole,
 * cut at those points, one byte per buffer, and with an empty last buffer.
 *
 * Invariant, whatever the split: the output is the page with the tag
 * inserted exactly once, right before the first "</head>" (any case), or,
 * when a "</body>" comes first, before the first "</head>" after it (kept
 * pages stay under the 64 KB the filter keeps), or else right before that
 * "</body>"; a page with neither comes out unchanged.
 */
#include "cv_html_match.h"
#include "fuzz.h"

#include <string.h>
#include <strings.h>

#define TAG        "<script src=\"/chatvisor/widget.js\" async></script>"
#define TAG_LEN    (sizeof(TAG) - 1)
#define CUTS_MAX   16
#define TAIL_MAX   65536      /* the filter's NGX_CHATVISOR_TAIL_MAX */


typedef struct {
    char           *out;
    size_t          out_len;

    cv_html_match   m;
    char            held[CV_HTML_MATCH_LEN];
    size_t          held_len;
    char           *tail;          /* NULL: no "</body>" kept */
    size_t          tail_len;
    size_t          tail_scanned;
    int             done;
    int             tags;
} filter;


static void
emit(filter *f, const char *p, size_t len)
{
    memcpy(f->out + f->out_len, p, len);
    f->out_len += len;
}


static void
emit_held(filter *f)
{
    emit(f, f->held, f->held_len);
    f->held_len = 0;
}


static void
emit_tag(filter *f)
{
    emit(f, TAG, TAG_LEN);
    f->tags++;
    f->done = 1;
}


static void
keep(filter *f, const char *p, size_t len)
{
    memcpy(f->tail + f->tail_len, p, len);
    f->tail_len += len;
}


/* ngx_chatvisor_inject_tail() */
static void
tail_step(filter *f, int end)
{
    const char  *q;
    size_t       at;

    q = cv_html_match_scan(&f->m, f->tail + f->tail_scanned,
                           f->tail + f->tail_len, 1);

    if (q) {
        at = (size_t) (q - f->tail) - CV_HTML_MATCH_LEN;

    } else {
        f->tail_scanned = f->tail_len;

        if (!end && f->tail_len < TAIL_MAX) {
            return;
        }

        at = 0;
    }

    emit(f, f->tail, at);
    emit_tag(f);
    emit(f, f->tail + at, f->tail_len - at);

    f->tail = NULL;
}


/* one buffer through ngx_chatvisor_inject_body_filter() */
static void
buffer(filter *f, const char *b, size_t len, int end, char *tail_mem)
{
    const char  *q, *start;
    size_t       n;

    if (f->done) {
        emit(f, b, len);
        return;
    }

    if (f->tail) {
        keep(f, b, len);
        tail_step(f, end);
        return;
    }

    if (len == 0) {
        if (f->held_len && end) {
            emit_held(f);
        }
        return;
    }

    q = cv_html_match_scan(&f->m, b, b + len, 0);
    CHECK(f->m.state <= CV_HTML_MATCH_LEN);

    if (f->held_len
        && !cv_html_match_spans(&f->m, (size_t) ((q ? q : b + len) - b),
                                f->held_len))
    {
        emit_held(f);
    }

    if (q) {
        CHECK(f->m.state == CV_HTML_MATCH_LEN);
        start = q - CV_HTML_MATCH_LEN + f->held_len;
        CHECK(start >= b);
        f->m.state = 0;

        emit(f, b, (size_t) (start - b));

        if (f->m.which == 'b') {
            f->tail = tail_mem;
            f->tail_len = 0;
            keep(f, f->held, f->held_len);
            keep(f, start, (size_t) (b + len - start));
            f->held_len = 0;
            f->tail_scanned = CV_HTML_MATCH_LEN;
            tail_step(f, end);
            return;
        }

        emit_tag(f);

        if (f->held_len) {
            emit_held(f);
        }

        emit(f, start, (size_t) (b + len - start));
        return;
    }

    n = f->m.state - f->held_len;

    if (n && !end) {
        CHECK(f->m.state < CV_HTML_MATCH_LEN && n <= len);
        memcpy(f->held + f->held_len, b + len - n, n);
        f->held_len = f->m.state;
        emit(f, b, len - n);
        return;
    }

    if (f->held_len) {
        emit_held(f);
    }

    f->m.state = 0;
    emit(f, b, len);
}


/* where the tag belongs in the whole page; -1: nowhere */
static long
expected(const char *page, size_t len)
{
    size_t  i, body = (size_t) -1;

    for (i = 0; i + CV_HTML_MATCH_LEN <= len; i++) {
        if (strncasecmp(page + i, "</head>", CV_HTML_MATCH_LEN) == 0) {
            return (long) i;
        }

        if (body == (size_t) -1
            && strncasecmp(page + i, "</body>", CV_HTML_MATCH_LEN) == 0)
        {
            body = i;
            i += CV_HTML_MATCH_LEN - 1;   /* a </head> inside it is none */
        }
    }

    return body == (size_t) -1 ? -1 : (long) body;
}


static void
run(const char *page, size_t len, const size_t *cuts, size_t ncuts,
    int empty_last, long want)
{
    filter   f;
    size_t   i, from, to;
    char    *tail_mem;

    memset(&f, 0, sizeof(f));
    f.out = malloc(len + TAG_LEN + 1);
    tail_mem = malloc(len + CV_HTML_MATCH_LEN + 1);
    CHECK(f.out != NULL && tail_mem != NULL);

    from = 0;
    for (i = 0; i <= ncuts; i++) {
        to = (i < ncuts) ? cuts[i] : len;
        buffer(&f, page + from, to - from, i == ncuts && !empty_last,
               tail_mem);
        from = to;
    }

    if (empty_last) {
        buffer(&f, page + len, 0, 1, tail_mem);
    }

    CHECK(f.held_len == 0 && f.tail == NULL);

    if (want < 0) {
        CHECK(f.tags == 0);
        CHECK(f.out_len == len && memcmp(f.out, page, len) == 0);

    } else {
        CHECK(f.tags == 1);
        CHECK(f.out_len == len + TAG_LEN);
        CHECK(memcmp(f.out, page, (size_t) want) == 0);
        CHECK(memcmp(f.out + want, TAG, TAG_LEN) == 0);
        CHECK(memcmp(f.out + want + TAG_LEN, page + want, len - want) == 0);
    }

    free(tail_mem);
    free(f.out);
}


static int
by_size(const void *a, const void *b)
{
    size_t  x = *(const size_t *) a, y = *(const size_t *) b;

    return (x > y) - (x < y);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char    *page;
    size_t   i, k, len, cuts[CUTS_MAX], *each;
    long     want;

    if (size == 0) {
        return 0;
    }

    k = data[0] % CUTS_MAX;
    if (size < 1 + 2 * k) {
        return 0;
    }

    len = size - 1 - 2 * k;
    if (len >= TAIL_MAX) {
        return 0;
    }

    page = malloc(len ? len : 1);
    CHECK(page != NULL);
    memcpy(page, data + 1 + 2 * k, len);

    for (i = 0; i < k; i++) {
        cuts[i] = ((size_t) data[1 + 2 * i] << 8 | data[2 + 2 * i])
                  % (len + 1);
    }
    qsort(cuts, k, sizeof(size_t), by_size);

    want = expected(page, len);

    run(page, len, NULL, 0, 0, want);
    run(page, len, cuts, k, 0, want);
    run(page, len, cuts, k, 1, want);

    each = malloc((len ? len : 1) * sizeof(size_t));
    CHECK(each != NULL);
    for (i = 0; i < len; i++) {
        each[i] = i;
    }
    run(page, len, each, len, 0, want);
    free(each);

    free(page);
    return 0;
}
