/* A session's chunks from another node, in order (cv_chunk_order.h). */

#include "cv_chunk_order.h"

#include <string.h>


void
cv_order_init(cv_chunk_order *o, uint64_t applied)
{
    memset(o, 0, sizeof(*o));
    o->applied = applied;
}


/* the held chunk i goes, the others close up */
static void
cv_order_remove(cv_chunk_order *o, unsigned i)
{
    o->bytes -= o->held[i].len;
    o->n--;
    memmove(&o->held[i], &o->held[i + 1],
            (o->n - i) * sizeof(cv_order_chunk));
}


/* held chunks numbered below seq are of no use any more */
static int
cv_order_drop_below(cv_chunk_order *o, uint64_t seq, const cv_order_ops *ops)
{
    int  dropped;

    dropped = 0;

    while (o->n && o->held[0].seq < seq) {
        ops->discard(ops->ctx, &o->held[0]);
        cv_order_remove(o, 0);
        dropped = 1;
    }

    return dropped;
}


static void
cv_order_apply(cv_chunk_order *o, const cv_order_chunk *c,
    const cv_order_ops *ops)
{
    ops->apply(ops->ctx, c);
    o->applied = c->seq;
}


/* the held chunks that follow on now, applied */
static void
cv_order_release(cv_chunk_order *o, const cv_order_ops *ops)
{
    cv_order_chunk  c;

    while (!o->need_full && o->n && o->held[0].seq == o->applied + 1) {
        c = o->held[0];
        cv_order_remove(o, 0);
        cv_order_apply(o, &c, ops);
    }
}


static int
cv_order_lost(cv_chunk_order *o, int64_t now_ms)
{
    if (o->need_full) {
        return 0;
    }

    o->need_full = 1;
    o->asked_ms = now_ms;

    return CV_ORDER_RESET;
}


/* an early chunk, held; over the bounds the gap is a loss, and the
 * earliest held are kept (a late snapshot may still come before them) */
static int
cv_order_hold(cv_chunk_order *o, const cv_order_chunk *c, int64_t now_ms,
    const cv_order_ops *ops)
{
    int       rc;
    unsigned  i;

    rc = 0;

    if (c->len > CV_ORDER_HOLD_BYTES) {
        ops->discard(ops->ctx, c);
        return cv_order_lost(o, now_ms) | CV_ORDER_STALE;
    }

    while (o->n == CV_ORDER_HOLD_MAX
           || o->bytes + c->len > CV_ORDER_HOLD_BYTES)
    {
        rc |= cv_order_lost(o, now_ms);

        if (c->seq > o->held[o->n - 1].seq) {
            ops->discard(ops->ctx, c);
            return rc | CV_ORDER_STALE;
        }

        ops->discard(ops->ctx, &o->held[o->n - 1]);
        cv_order_remove(o, o->n - 1);
    }

    for (i = o->n; i > 0 && o->held[i - 1].seq > c->seq; i--) {
        /* void */
    }

    memmove(&o->held[i + 1], &o->held[i], (o->n - i) * sizeof(cv_order_chunk));
    o->held[i] = *c;
    o->held[i].at_ms = now_ms;
    o->n++;
    o->bytes += c->len;

    return rc | CV_ORDER_HELD;
}


int
cv_order_offer(cv_chunk_order *o, uint64_t applied, const cv_order_chunk *c,
    int64_t now_ms, const cv_order_ops *ops)
{
    unsigned  i;

    if (applied > o->applied) {
        /* chunks posted here meanwhile took these numbers */
        o->applied = applied;
        (void) cv_order_drop_below(o, applied + 1, ops);
    }

    if (c->seq <= o->applied) {
        ops->discard(ops->ctx, c);
        return CV_ORDER_STALE;
    }

    for (i = 0; i < o->n; i++) {
        if (o->held[i].seq == c->seq) {
            ops->discard(ops->ctx, c);
            return CV_ORDER_STALE;
        }
    }

    if (c->full) {
        /* a new epoch: what was numbered before it is not needed */
        (void) cv_order_drop_below(o, c->seq, ops);
        o->need_full = 0;
        cv_order_apply(o, c, ops);
        cv_order_release(o, ops);

        return CV_ORDER_APPLIED;
    }

    if (!o->need_full && c->seq == o->applied + 1) {
        cv_order_apply(o, c, ops);
        cv_order_release(o, ops);

        return CV_ORDER_APPLIED;
    }

    return cv_order_hold(o, c, now_ms, ops);
}


static int64_t
cv_order_oldest(const cv_chunk_order *o)
{
    int64_t   at;
    unsigned  i;

    at = o->held[0].at_ms;

    for (i = 1; i < o->n; i++) {
        if (o->held[i].at_ms < at) {
            at = o->held[i].at_ms;
        }
    }

    return at;
}


int64_t
cv_order_deadline(const cv_chunk_order *o)
{
    if (o->need_full) {
        return o->asked_ms + CV_ORDER_ASK_MS;
    }

    if (o->n) {
        return cv_order_oldest(o) + CV_ORDER_HOLD_MS;
    }

    return -1;
}


int
cv_order_tick(cv_chunk_order *o, int64_t now_ms)
{
    int64_t  deadline;

    deadline = cv_order_deadline(o);

    if (deadline < 0 || now_ms < deadline) {
        return 0;
    }

    if (o->need_full) {
        o->asked_ms = now_ms;
        return CV_ORDER_ASK;
    }

    /* the held chunks stay: a snapshot numbered before them may come */
    return cv_order_lost(o, now_ms);
}


void
cv_order_clear(cv_chunk_order *o, const cv_order_ops *ops)
{
    while (o->n) {
        ops->discard(ops->ctx, &o->held[o->n - 1]);
        cv_order_remove(o, o->n - 1);
    }
}
