/*
 * A co-browsing session's chunks from another node, applied in the order
 * the visitor's node numbered them, whatever order they arrive in.
 *
 * The visitor's node gives each chunk the session's next number (one
 * counter in its shared memory, so it rises across its workers). Its
 * workers publish on their own NATS connections, so another node may get
 * chunk 7 before chunk 6. Here a chunk that comes early is held until the
 * gap fills; a gap that does not fill within CV_ORDER_HOLD_MS (or more
 * than the hold's bounds waiting) is a loss: the caller resets the view
 * and asks for a full snapshot. A full snapshot needs nothing before it:
 * it is applied at once, and every chunk numbered before it is dropped
 * (an older epoch), also one held or arriving later.
 *
 * The chunks' bytes are the caller's (data): the order calls back to
 * apply one or to discard one, and keeps nothing but its number, size and
 * when it came. No allocation: a cv_chunk_order may live in shared memory.
 */
#ifndef CV_CHUNK_ORDER_H
#define CV_CHUNK_ORDER_H

#include <stddef.h>
#include <stdint.h>

#define CV_ORDER_HOLD_MAX    32                 /* chunks held at once */
#define CV_ORDER_HOLD_BYTES  (2 * 1024 * 1024)  /* their bytes at most */
#define CV_ORDER_HOLD_MS     400    /* a gap waited for, then a loss */
#define CV_ORDER_ASK_MS      2000   /* a snapshot asked for again this often
                                       while none comes (the ask is not
                                       kept by NATS either) */

typedef struct {
    uint64_t   seq;         /* the visitor's node's number, from 1 */
    size_t     len;
    int        full;        /* starts with a full snapshot */
    int64_t    at_ms;       /* when it came (set by the order) */
    void      *data;        /* the caller's */
} cv_order_chunk;

typedef struct {
    void      (*apply)(void *ctx, const cv_order_chunk *c);
    void      (*discard)(void *ctx, const cv_order_chunk *c);
    void       *ctx;
} cv_order_ops;

typedef struct {
    uint64_t        applied;    /* the last number applied */
    int             need_full;  /* after a loss: only a full snapshot goes */
    int64_t         asked_ms;   /* when a snapshot was last asked for */
    unsigned        n;
    size_t          bytes;
    cv_order_chunk  held[CV_ORDER_HOLD_MAX];    /* by number, rising */
} cv_chunk_order;

/* what an offer or a tick did: a sum of these */
#define CV_ORDER_APPLIED  1     /* one chunk or more was applied */
#define CV_ORDER_HELD     2     /* the chunk came early: it waits */
#define CV_ORDER_STALE    4     /* a duplicate or an older epoch's: dropped */
#define CV_ORDER_RESET    8     /* a loss: reset the view, ask for a full
                                   snapshot */
#define CV_ORDER_ASK      16    /* ask for the full snapshot again */

/* applied: the last number the session has (0: none yet) */
void cv_order_init(cv_chunk_order *o, uint64_t applied);

/*
 * Another node's chunk, at now_ms. applied: the session's last number as
 * the caller has it, which its own chunks may have raised (the visitor
 * posting here too). Applies it and every held one it lets go, holds it,
 * or discards it; each through ops.
 */
int cv_order_offer(cv_chunk_order *o, uint64_t applied, const cv_order_chunk *c,
    int64_t now_ms, const cv_order_ops *ops);

/* A held gap past CV_ORDER_HOLD_MS is a loss (CV_ORDER_RESET, once); while
 * a snapshot is awaited, CV_ORDER_ASK every CV_ORDER_ASK_MS. */
int cv_order_tick(cv_chunk_order *o, int64_t now_ms);

/* when cv_order_tick has something to do (-1: never) */
int64_t cv_order_deadline(const cv_chunk_order *o);

/* every held chunk discarded (the session ends) */
void cv_order_clear(cv_chunk_order *o, const cv_order_ops *ops);

#endif
