/*
 * The webhooks' sending node: a lease in the cluster's key-value bucket
 * (ngx_chatvisor_cluster_lease.h).
 */


#include "ngx_chatvisor_cluster_lease.h"

#include <time.h>


/* a released lease: an empty value, free to take at once */
#define NGX_CHATVISOR_LEASE_FREE  ""


static int64_t
ngx_chatvisor_cluster_lease_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


void
ngx_chatvisor_cluster_lease_init(ngx_chatvisor_cluster_lease_t *l,
    const u_char *node, size_t len)
{
    ngx_memzero(l, sizeof(ngx_chatvisor_cluster_lease_t));
    pthread_mutex_init(&l->mu, NULL);

    (void) ngx_hex_dump(l->me, (u_char *) node,
                        ngx_min(len, NGX_CHATVISOR_LEASE_ME_LEN / 2));
}


static void
ngx_chatvisor_cluster_lease_set(ngx_chatvisor_cluster_lease_t *l, int64_t until,
    uint64_t seq)
{
    pthread_mutex_lock(&l->mu);
    l->until = until;
    l->seq = seq;
    pthread_mutex_unlock(&l->mu);
}


/* a write of ours stands, made at started or later: held for HOLD_MS
 * from started, once the stream's last seq is known */
static const char *
ngx_chatvisor_cluster_lease_keep(ngx_chatvisor_cluster_lease_t *l, jsCtx *js,
    const char *stream, uint64_t rev, int64_t started)
{
    uint64_t       seq;
    jsErrCode      jerr;
    natsStatus     s;
    ngx_uint_t     taken;
    jsStreamInfo  *si;

    taken = !l->seq_ok;
    l->rev = rev;

    if (!l->seq_ok) {
        si = NULL;
        jerr = 0;

        s = js_GetStreamInfo(&si, js, stream, NULL, &jerr);
        if (s != NATS_OK) {
            return NULL;        /* held, not sending yet: asked again */
        }

        seq = si->State.LastSeq;
        jsStreamInfo_Destroy(si);

        pthread_mutex_lock(&l->mu);
        l->seq = seq;
        pthread_mutex_unlock(&l->mu);

        l->seq_ok = 1;
    }

    pthread_mutex_lock(&l->mu);
    l->until = started + NGX_CHATVISOR_LEASE_HOLD_MS;
    pthread_mutex_unlock(&l->mu);

    return taken ? "this node sends the webhooks" : NULL;
}


static void
ngx_chatvisor_cluster_lease_drop(ngx_chatvisor_cluster_lease_t *l)
{
    l->rev = 0;
    l->seq_ok = 0;
    ngx_chatvisor_cluster_lease_set(l, 0, 0);
}


const char *
ngx_chatvisor_cluster_lease_step(ngx_chatvisor_cluster_lease_t *l,
    kvStore *kv, jsCtx *js, const char *stream, ngx_msec_t *wait)
{
    int64_t      now, started, erev;
    kvEntry     *e;
    uint64_t     rev;
    natsStatus   s;
    ngx_uint_t   want, free, mine;
    const char  *note;

    pthread_mutex_lock(&l->mu);
    want = l->want;
    pthread_mutex_unlock(&l->mu);

    now = ngx_chatvisor_cluster_lease_now();
    *wait = 0;

    if (!want) {
        if (l->rev) {
            ngx_chatvisor_cluster_lease_release(l, kv);
            return "this node no longer sends the webhooks";
        }

        l->seen_rev = 0;
        return NULL;
    }

    if (now < l->next_at) {
        *wait = (ngx_msec_t) (l->next_at - now);
        return NULL;
    }

    l->next_at = now + NGX_CHATVISOR_LEASE_RENEW_MS;
    *wait = NGX_CHATVISOR_LEASE_RENEW_MS;

    note = NULL;

    if (l->rev) {
        /* renewal: only if nobody wrote since our last write */
        s = kvStore_Update(&rev, kv, NGX_CHATVISOR_LEASE_KEY, l->me,
                           NGX_CHATVISOR_LEASE_ME_LEN, l->rev);

        if (s == NATS_OK) {
            return ngx_chatvisor_cluster_lease_keep(l, js, stream, rev, now);
        }

        /* taken over, or no answer (our write may stand: looked at) */
        ngx_chatvisor_cluster_lease_drop(l);
        note = "this node no longer holds the webhooks lease";
    }

    e = NULL;
    s = kvStore_Get(&e, kv, NGX_CHATVISOR_LEASE_KEY);

    if (s == NATS_NOT_FOUND) {
        started = ngx_chatvisor_cluster_lease_now();

        s = kvStore_Create(&rev, kv, NGX_CHATVISOR_LEASE_KEY, l->me,
                           NGX_CHATVISOR_LEASE_ME_LEN);

        return s == NATS_OK
               ? ngx_chatvisor_cluster_lease_keep(l, js, stream, rev, started)
               : note;
    }

    if (s != NATS_OK) {
        return note;
    }

    erev = (int64_t) kvEntry_Revision(e);
    free = (kvEntry_ValueLen(e) == 0);
    mine = (kvEntry_ValueLen(e) == NGX_CHATVISOR_LEASE_ME_LEN
            && ngx_memcmp(kvEntry_Value(e), l->me,
                          NGX_CHATVISOR_LEASE_ME_LEN) == 0);
    kvEntry_Destroy(e);

    /* the holder's renewals change the revision; one that stays is a
     * holder gone, measured on this clock from when it was first seen */
    if ((uint64_t) erev != l->seen_rev) {
        l->seen_rev = (uint64_t) erev;
        l->seen_at = now;
    }

    if (!free && !mine && now - l->seen_at < NGX_CHATVISOR_LEASE_TAKEOVER_MS)
    {
        return note;
    }

    started = ngx_chatvisor_cluster_lease_now();

    s = kvStore_Update(&rev, kv, NGX_CHATVISOR_LEASE_KEY, l->me,
                       NGX_CHATVISOR_LEASE_ME_LEN, (uint64_t) erev);

    if (s != NATS_OK) {
        return note;        /* another node was first */
    }

    return ngx_chatvisor_cluster_lease_keep(l, js, stream, rev, started);
}


void
ngx_chatvisor_cluster_lease_release(ngx_chatvisor_cluster_lease_t *l,
    kvStore *kv)
{
    uint64_t  rev;

    if (l->rev && kv) {
        /* only if still ours */
        (void) kvStore_Update(&rev, kv, NGX_CHATVISOR_LEASE_KEY,
                              NGX_CHATVISOR_LEASE_FREE, 0, l->rev);
    }

    ngx_chatvisor_cluster_lease_drop(l);
    l->seen_rev = 0;
}


ngx_uint_t
ngx_chatvisor_cluster_lease_held(ngx_chatvisor_cluster_lease_t *l,
    ngx_uint_t want, uint64_t applied, ngx_uint_t *asked)
{
    int64_t     until;
    uint64_t    seq;

    pthread_mutex_lock(&l->mu);
    *asked = (want && !l->want);
    l->want = want;
    until = l->until;
    seq = l->seq;
    pthread_mutex_unlock(&l->mu);

    return want && until > ngx_chatvisor_cluster_lease_now() && applied >= seq;
}
