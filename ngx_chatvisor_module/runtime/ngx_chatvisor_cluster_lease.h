/*
 * The webhooks' sending node (docs/cluster.md "Webhooks"): a lease in the
 * cluster's key-value bucket, one key whose value is the holder's node id.
 * The holder renews it (compare-and-set on its last revision) every
 * NGX_CHATVISOR_LEASE_RENEW_MS; another node takes it over when the
 * revision has not changed for NGX_CHATVISOR_LEASE_TAKEOVER_MS on its own
 * clock (compare-and-set on the revision it saw: one wins). The holder
 * counts itself the holder for NGX_CHATVISOR_LEASE_HOLD_MS after a renewal
 * began, less than the takeover: it stops before another can start.
 * Clocks are never compared between nodes, only intervals on each.
 *
 * The key-value calls block: they run in the cluster's thread
 * (ngx_chatvisor_cluster_lease_step); the event loop only reads what they
 * left (ngx_chatvisor_cluster_lease_held), under the lease's mutex.
 */

#ifndef _NGX_CHATVISOR_CLUSTER_LEASE_H_INCLUDED_
#define _NGX_CHATVISOR_CLUSTER_LEASE_H_INCLUDED_


#include "ngx_chatvisor_runtime.h"

#include <nats/nats.h>
#include <pthread.h>


#define NGX_CHATVISOR_LEASE_KEY          "webhooks.sender"
#define NGX_CHATVISOR_LEASE_RENEW_MS     500
#define NGX_CHATVISOR_LEASE_HOLD_MS      2000
#define NGX_CHATVISOR_LEASE_TAKEOVER_MS  3000
#define NGX_CHATVISOR_LEASE_ME_LEN       32      /* a node id in hex */


typedef struct {
    pthread_mutex_t   mu;

    /* the loop's and the thread's: under mu */
    ngx_uint_t        want;        /* this worker would send */
    int64_t           until;       /* monotonic ms: held until then, 0:
                                      not held */
    uint64_t          seq;         /* the stream's last seq when taken:
                                      sent from once applied */

    /* the thread's alone */
    u_char            me[NGX_CHATVISOR_LEASE_ME_LEN];
    uint64_t          rev;         /* our last write's revision, 0: none */
    ngx_uint_t        seq_ok;      /* seq known for this holding */
    uint64_t          seen_rev;    /* another's revision, and since when */
    int64_t           seen_at;
    int64_t           next_at;
} ngx_chatvisor_cluster_lease_t;


void ngx_chatvisor_cluster_lease_init(ngx_chatvisor_cluster_lease_t *l,
    const u_char *node, size_t len);

/*
 * The cluster's thread, when connected and the bucket is there: renews,
 * takes or gives up the lease as wanted. *wait: ms until it wants to run
 * again (0: not before it is wanted). Returns a line to log, or NULL.
 */
const char *ngx_chatvisor_cluster_lease_step(ngx_chatvisor_cluster_lease_t *l,
    kvStore *kv, jsCtx *js, const char *stream, ngx_msec_t *wait);

/* the cluster's thread, before it closes: the lease to the others now */
void ngx_chatvisor_cluster_lease_release(ngx_chatvisor_cluster_lease_t *l,
    kvStore *kv);

/*
 * The event loop: sets whether this worker wants to send (*asked: it did
 * not before, the thread should run now); 1 while the lease is held and
 * applied (this worker's reader) is past what the stream had when it was
 * taken, so the store holds every earlier holder's progress.
 */
ngx_uint_t ngx_chatvisor_cluster_lease_held(ngx_chatvisor_cluster_lease_t *l,
    ngx_uint_t want, uint64_t applied, ngx_uint_t *asked);


#endif /* _NGX_CHATVISOR_CLUSTER_LEASE_H_INCLUDED_ */
