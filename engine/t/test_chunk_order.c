/*
 * Unit tests of a co-browsing session's chunks from another node put in
 * order (engine/cv_chunk_order.c): chunks delivered early, twice, lost
 * (the hold times out), a new snapshot's epoch, a snapshot that comes
 * after its successors, the hold's bounds, and many shuffled deliveries.
 * Every chunk offered is either applied or discarded, exactly once.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_chunk_order.h"
#include "tap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SEQ_MAX      4096
#define SHUFFLES     500
#define SHUFFLE_LEN  200
#define SHUFFLE_LAG  6          /* a chunk arrives this many places late */


typedef struct {
    uint64_t  applied[SEQ_MAX];
    unsigned  napplied;
    uint64_t  discarded[SEQ_MAX];
    unsigned  ndiscarded;
    unsigned  live;             /* chunks the order has not given back */
} sink;


static void
on_apply(void *ctx, const cv_order_chunk *c)
{
    sink *s = ctx;

    s->applied[s->napplied++] = c->seq;
    s->live--;
}


static void
on_discard(void *ctx, const cv_order_chunk *c)
{
    sink *s = ctx;

    s->discarded[s->ndiscarded++] = c->seq;
    s->live--;
}


static sink          out;
static cv_order_ops  ops = { on_apply, on_discard, &out };


static void
reset_sink(void)
{
    memset(&out, 0, sizeof(out));
}


static int
offer(cv_chunk_order *o, uint64_t seq, int full, size_t len, int64_t now)
{
    cv_order_chunk  c;

    memset(&c, 0, sizeof(c));
    c.seq = seq;
    c.full = full;
    c.len = len;
    out.live++;

    return cv_order_offer(o, o->applied, &c, now, &ops);
}


/* the applied numbers are want[0..n) */
static int
applied_are(const uint64_t *want, unsigned n)
{
    unsigned  i;

    if (out.napplied != n) {
        diag("%u applied, want %u", out.napplied, n);
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (out.applied[i] != want[i]) {
            diag("applied[%u] = %llu, want %llu", i,
                 (unsigned long long) out.applied[i],
                 (unsigned long long) want[i]);
            return 0;
        }
    }

    return 1;
}


static int
discarded_has(uint64_t seq)
{
    unsigned  i;

    for (i = 0; i < out.ndiscarded; i++) {
        if (out.discarded[i] == seq) {
            return 1;
        }
    }

    return 0;
}


static void
test_in_order_and_early(void)
{
    int                    rc;
    cv_chunk_order         o;
    static const uint64_t  want[] = { 1, 2, 3, 4, 5 };

    reset_sink();
    cv_order_init(&o, 0);

    ok(offer(&o, 1, 1, 100, 0) == CV_ORDER_APPLIED, "a full snapshot first");
    ok(offer(&o, 2, 0, 10, 1) == CV_ORDER_APPLIED, "2 follows on");
    ok(offer(&o, 4, 0, 10, 2) == CV_ORDER_HELD, "4 early: held");
    ok(offer(&o, 5, 0, 10, 3) == CV_ORDER_HELD, "5 early: held");
    ok(o.n == 2 && out.napplied == 2, "nothing applied past the gap");
    ok(cv_order_deadline(&o) == 2 + CV_ORDER_HOLD_MS,
       "the gap is waited for from when 4 came");
    ok(cv_order_tick(&o, 2 + CV_ORDER_HOLD_MS - 1) == 0,
       "not yet a loss just before the hold's end");

    rc = offer(&o, 3, 0, 10, 50);
    ok(rc == CV_ORDER_APPLIED, "3 fills the gap");
    ok(applied_are(want, 5), "1..5 applied in their order");
    ok(o.n == 0 && o.bytes == 0, "nothing held");
    ok(cv_order_deadline(&o) == -1, "nothing to wait for");
    ok(out.live == 0, "every chunk given back");
}


static void
test_duplicates(void)
{
    cv_chunk_order         o;
    static const uint64_t  want[] = { 1, 2, 3 };

    reset_sink();
    cv_order_init(&o, 0);

    offer(&o, 1, 1, 100, 0);
    offer(&o, 3, 0, 10, 0);
    ok(offer(&o, 1, 1, 100, 0) == CV_ORDER_STALE, "an applied one again: "
       "dropped");
    ok(offer(&o, 3, 0, 10, 0) == CV_ORDER_STALE, "a held one again: dropped");
    ok(o.n == 1, "held once");
    offer(&o, 2, 0, 10, 0);
    ok(applied_are(want, 3), "each applied once, in order");
    ok(out.ndiscarded == 2 && out.live == 0, "the two copies discarded");
}


static void
test_lost_then_timeout(void)
{
    int                    rc;
    cv_chunk_order         o;
    static const uint64_t  want[] = { 1, 2, 8, 9 };

    reset_sink();
    cv_order_init(&o, 0);

    offer(&o, 1, 1, 100, 1000);
    offer(&o, 2, 0, 10, 1000);
    /* 3 is lost */
    ok(offer(&o, 4, 0, 10, 1100) == CV_ORDER_HELD, "4: held");
    ok(offer(&o, 5, 0, 10, 1200) == CV_ORDER_HELD, "5: held");

    ok(cv_order_tick(&o, 1100 + CV_ORDER_HOLD_MS - 1) == 0,
       "within the hold: nothing");
    rc = cv_order_tick(&o, 1100 + CV_ORDER_HOLD_MS);
    ok(rc == CV_ORDER_RESET, "the hold's end: a loss (reset, ask)");
    ok(cv_order_tick(&o, 1100 + CV_ORDER_HOLD_MS + 1) == 0, "reset once");
    ok(o.need_full, "only a full snapshot goes now");

    ok(offer(&o, 6, 0, 10, 1600) == CV_ORDER_HELD,
       "after the loss a chunk waits for the snapshot");
    ok(out.napplied == 2, "nothing after the loss applied");

    ok(cv_order_tick(&o, 1500 + CV_ORDER_ASK_MS - 1) == 0,
       "no second ask before CV_ORDER_ASK_MS");
    ok(cv_order_tick(&o, 1500 + CV_ORDER_ASK_MS) == CV_ORDER_ASK,
       "asked again when none came");

    /* the snapshot asked for, numbered after what was held */
    ok(offer(&o, 8, 1, 100, 4000) == CV_ORDER_APPLIED, "the new snapshot");
    ok(o.n == 0, "what it follows is dropped");
    ok(discarded_has(4) && discarded_has(5) && discarded_has(6),
       "4, 5 and 6 discarded");
    ok(!o.need_full, "incremental chunks go again");
    offer(&o, 9, 0, 10, 4000);
    ok(applied_are(want, 4), "1, 2, then 8, 9");
    ok(offer(&o, 7, 0, 10, 4000) == CV_ORDER_STALE,
       "a late chunk of the old epoch: dropped");
    ok(out.live == 0, "every chunk given back");
}


static void
test_snapshot_epoch(void)
{
    cv_chunk_order         o;
    static const uint64_t  want[] = { 1, 2, 5, 6 };

    reset_sink();
    cv_order_init(&o, 0);

    offer(&o, 1, 1, 100, 0);
    offer(&o, 2, 0, 10, 0);
    ok(offer(&o, 4, 0, 10, 0) == CV_ORDER_HELD, "4: held (3 not here)");
    ok(offer(&o, 5, 1, 100, 0) == CV_ORDER_APPLIED,
       "a full snapshot past the gap goes at once");
    ok(discarded_has(4) && o.n == 0, "the held 4 of the old epoch dropped");
    ok(offer(&o, 3, 0, 10, 0) == CV_ORDER_STALE, "3 late: dropped");
    ok(offer(&o, 6, 0, 10, 0) == CV_ORDER_APPLIED, "6 follows the snapshot");
    ok(applied_are(want, 4), "1, 2, 5, 6");
    ok(cv_order_deadline(&o) == -1, "no reset, no wait");
    ok(out.live == 0, "every chunk given back");
}


static void
test_late_snapshot(void)
{
    int                    rc;
    cv_chunk_order         o;
    static const uint64_t  want[] = { 1, 2, 3, 4, 5, 6 };

    reset_sink();
    cv_order_init(&o, 0);

    /* the snapshot 3 (the view reopened) comes after its successors */
    offer(&o, 1, 1, 100, 0);
    offer(&o, 2, 0, 10, 0);
    ok(offer(&o, 4, 0, 10, 10) == CV_ORDER_HELD, "4 before its snapshot");
    ok(offer(&o, 5, 0, 10, 20) == CV_ORDER_HELD, "5 before its snapshot");
    ok(offer(&o, 3, 1, 100, 30) == CV_ORDER_APPLIED, "the snapshot 3");
    ok(applied_are(want, 5), "3 then 4, 5");

    /* later, so late that the hold ended first */
    offer(&o, 7, 0, 10, 100);
    rc = cv_order_tick(&o, 100 + CV_ORDER_HOLD_MS);
    ok(rc == CV_ORDER_RESET, "7 waited too long: a loss");
    ok(offer(&o, 6, 1, 100, 900) == CV_ORDER_APPLIED,
       "the snapshot 6 after the loss still goes");
    ok(out.napplied == 7 && out.applied[5] == 6 && out.applied[6] == 7,
       "then the held 7");
    ok(!o.need_full && cv_order_deadline(&o) == -1, "no wait left");
    ok(out.live == 0, "every chunk given back");
}


static void
test_bounds(void)
{
    int             rc;
    unsigned        i;
    cv_chunk_order  o;

    reset_sink();
    cv_order_init(&o, 0);

    offer(&o, 1, 1, 100, 0);

    for (i = 0; i < CV_ORDER_HOLD_MAX; i++) {
        rc = offer(&o, 3 + i, 0, 10, 0);
    }

    ok(rc == CV_ORDER_HELD && o.n == CV_ORDER_HOLD_MAX,
       "%d chunks held", CV_ORDER_HOLD_MAX);

    rc = offer(&o, 3 + CV_ORDER_HOLD_MAX, 0, 10, 0);
    ok(rc == (CV_ORDER_RESET | CV_ORDER_STALE),
       "one more: a loss at once, the newest dropped");
    ok(o.n == CV_ORDER_HOLD_MAX, "the hold stays within its bound");

    rc = offer(&o, 2 + CV_ORDER_HOLD_MAX, 0, 10, 0);
    ok(rc == CV_ORDER_STALE, "a duplicate while full: dropped");

    rc = offer(&o, 2, 1, 100, 0);
    ok(rc == CV_ORDER_APPLIED && out.napplied == 2 + CV_ORDER_HOLD_MAX,
       "a late snapshot 2 lets the %d earliest held go", CV_ORDER_HOLD_MAX);

    cv_order_clear(&o, &ops);
    ok(out.live == 0, "every chunk given back");

    /* bytes */
    reset_sink();
    cv_order_init(&o, 0);
    offer(&o, 1, 1, 100, 0);
    ok(offer(&o, 3, 0, CV_ORDER_HOLD_BYTES / 2, 0) == CV_ORDER_HELD,
       "half the bytes held");
    ok(offer(&o, 5, 0, CV_ORDER_HOLD_BYTES / 2, 0) == CV_ORDER_HELD,
       "the other half held");
    rc = offer(&o, 4, 0, 10, 0);
    ok(rc == (CV_ORDER_RESET | CV_ORDER_HELD),
       "over the bytes: a loss, the highest held makes room");
    ok(discarded_has(5) && o.n == 2 && o.bytes == CV_ORDER_HOLD_BYTES / 2 + 10,
       "5 went, 3 and 4 stay");
    ok(offer(&o, 6, 0, CV_ORDER_HOLD_BYTES + 1, 0) == CV_ORDER_STALE,
       "a chunk larger than the hold is never held");
    cv_order_clear(&o, &ops);
    ok(out.live == 0 && o.n == 0 && o.bytes == 0, "cleared");

    /* a full snapshot larger than the hold never waits */
    reset_sink();
    cv_order_init(&o, 0);
    ok(offer(&o, 9, 1, CV_ORDER_HOLD_BYTES * 4, 0) == CV_ORDER_APPLIED,
       "a big snapshot past a gap applies at once");
}


static void
test_local_numbers(void)
{
    cv_chunk_order  o;
    cv_order_chunk  c;

    /* the visitor posted here too: the session's numbers moved on */
    reset_sink();
    cv_order_init(&o, 0);
    offer(&o, 1, 1, 100, 0);
    offer(&o, 4, 0, 10, 0);
    offer(&o, 6, 0, 10, 0);

    memset(&c, 0, sizeof(c));
    c.seq = 5;
    out.live++;
    ok(cv_order_offer(&o, 4, &c, 0, &ops) == CV_ORDER_APPLIED,
       "5 follows the session's own 4");
    ok(discarded_has(4) && out.napplied == 3 && out.applied[2] == 6,
       "the held 4 dropped (the session has one), 5 and 6 applied");
    ok(out.live == 0, "every chunk given back");
}


/* many sessions' worth of chunks, each arriving up to SHUFFLE_LAG places
 * late: all applied, in order, no loss, nothing held at the end */
static void
test_shuffled(void)
{
    int             bad, lost, rc;
    uint64_t        order[SHUFFLE_LEN], key[SHUFFLE_LEN], t;
    unsigned        i, j, k, r, late;
    cv_chunk_order  o;

    srand(1234);
    bad = 0;
    lost = 0;
    late = 0;

    for (r = 0; r < SHUFFLES; r++) {
        reset_sink();
        cv_order_init(&o, 0);

        /* each chunk's arrival: its place plus up to SHUFFLE_LAG */
        for (i = 0; i < SHUFFLE_LEN; i++) {
            key[i] = i + (unsigned) rand() % (SHUFFLE_LAG + 1);
            order[i] = i + 1;
        }

        for (i = 1; i < SHUFFLE_LEN; i++) {
            for (j = i; j > 0 && key[j - 1] > key[j]; j--) {
                t = key[j - 1]; key[j - 1] = key[j]; key[j] = t;
                t = order[j - 1]; order[j - 1] = order[j]; order[j] = t;
            }
        }

        for (i = 0; i < SHUFFLE_LEN; i++) {
            rc = offer(&o, order[i], order[i] == 1, 10, i);
            lost += (rc & CV_ORDER_RESET) != 0;
            late += (rc & CV_ORDER_HELD) != 0;
            (void) cv_order_tick(&o, i);
        }

        for (k = 0; k < SHUFFLE_LEN && out.napplied == SHUFFLE_LEN; k++) {
            if (out.applied[k] != k + 1) {
                break;
            }
        }

        if (k != SHUFFLE_LEN || o.n || out.live) {
            bad++;
        }
    }

    ok(bad == 0, "%d shuffled deliveries of %d chunks: all in order "
       "(%d wrong)", SHUFFLES, SHUFFLE_LEN, bad);
    ok(lost == 0, "none taken for a loss");
    ok(late > SHUFFLES * SHUFFLE_LEN / 10, "%u of them came early and waited",
       late);
}


int
main(void)
{
    test_in_order_and_early();
    test_duplicates();
    test_lost_then_timeout();
    test_snapshot_epoch();
    test_late_snapshot();
    test_bounds();
    test_local_numbers();
    test_shuffled();

    return done_testing();
}
