/*
 * Abuse limits in the shared zone, so that every worker counts the same:
 * new visitors per client address, messages per customer, typing notices
 * per conversation, failed API logins per address and client name.
 *
 * Each key is a GCRA bucket (one "theoretical arrival time" per key): N
 * hits a period, N of them at once, and then one every period / N. A key
 * is a keyed hash of its kind and bytes in a small open-addressed table;
 * a slot whose time has passed holds nothing and is free again, and when
 * every slot a key may use is busy the one nearest to its end is taken
 * (an attacker with many addresses can make a limit forget, never make
 * it refuse somebody else).
 */


#include "ngx_chatvisor_shm.h"


/* FNV-1a, 64 bits, from the zone's random seed: keys an outsider cannot
 * aim at one slot */
#define NGX_CHATVISOR_FNV_PRIME    0x100000001b3ULL

#define NGX_CHATVISOR_USEC         1000     /* us a ms */


static uint64_t
ngx_chatvisor_limit_hash(uint64_t h, const u_char *p, size_t len)
{
    while (len--) {
        h ^= *p++;
        h *= NGX_CHATVISOR_FNV_PRIME;
    }

    return h;
}


ngx_int_t
ngx_chatvisor_limit(ngx_chatvisor_main_conf_t *cmcf, ngx_uint_t kind,
    const u_char *key, size_t len, ngx_chatvisor_rate_t *rate,
    ngx_uint_t *retry_after)
{
    u_char                       k;
    int64_t                      now, tat, interval, burst, wait;
    uint64_t                     h;
    ngx_int_t                    rc;
    ngx_uint_t                   i, at;
    ngx_shmtx_t                 *mutex;
    ngx_chatvisor_limits_t      *limits;
    ngx_chatvisor_limit_slot_t  *s, *e, *free, *oldest;

    if (rate->n == 0 || cmcf->shm == NULL) {
        return NGX_OK;                  /* off */
    }

    limits = &cmcf->shm->limits;
    /* the monotonic clock all processes share: a clock set back never
     * locks anybody out */
    now = (int64_t) ngx_current_msec * NGX_CHATVISOR_USEC;
    interval = (int64_t) rate->period * NGX_CHATVISOR_USEC / rate->n;
    burst = (int64_t) rate->period * NGX_CHATVISOR_USEC - interval;

    mutex = ngx_chatvisor_shm_mutex(cmcf);
    ngx_shmtx_lock(mutex);

    if (limits->seed == 0) {
        limits->seed = ((uint64_t) ngx_random() << 32 | ngx_random()) | 1;
    }

    k = (u_char) kind;
    h = ngx_chatvisor_limit_hash(limits->seed, &k, 1);
    h = ngx_chatvisor_limit_hash(h, key, len);
    h |= 1;                             /* 0 marks a free slot */

    at = (ngx_uint_t) (h % NGX_CHATVISOR_LIMIT_SLOTS);
    e = NULL;
    free = NULL;
    oldest = NULL;

    for (i = 0; i < NGX_CHATVISOR_LIMIT_PROBE; i++) {
        s = &limits->slots[(at + i) % NGX_CHATVISOR_LIMIT_SLOTS];

        if (s->key == h) {
            e = s;
            break;
        }

        if (s->key == 0 || s->tat <= now) {
            if (free == NULL) {
                free = s;
            }

        } else if (oldest == NULL || s->tat < oldest->tat) {
            oldest = s;
        }
    }

    tat = (e && e->tat > now) ? e->tat : now;
    wait = tat - now - burst;

    if (wait > 0) {
        /* seconds, rounded up: never sooner than allowed */
        *retry_after = (ngx_uint_t) ((wait + 1000 * NGX_CHATVISOR_USEC - 1)
                                     / (1000 * NGX_CHATVISOR_USEC));
        rc = NGX_DECLINED;

    } else {
        rc = NGX_OK;

        if (e == NULL) {
            e = free ? free : oldest;
            e->key = h;
        }

        e->tat = tat + interval;
    }

    ngx_shmtx_unlock(mutex);

    if (rc == NGX_DECLINED) {
        ngx_chatvisor_metric_limit(kind);
    }

    return rc;
}


/* the client's address as a key: IPv4 whole, IPv6 its /64 (what one
 * subscriber gets) */

void
ngx_chatvisor_limit_addr(struct sockaddr *sa, socklen_t socklen,
    ngx_str_t *key)
{
    switch (sa->sa_family) {

#if (NGX_HAVE_INET6)
    case AF_INET6:
        key->data = ((struct sockaddr_in6 *) sa)->sin6_addr.s6_addr;
        key->len = 8;
        return;
#endif

    case AF_INET:
        key->data = (u_char *) &((struct sockaddr_in *) sa)->sin_addr;
        key->len = sizeof(struct in_addr);
        return;

    default:
        key->data = (u_char *) sa;
        key->len = socklen;
        return;
    }
}


/* "30r/m", "2r/s", or "off" (n == 0) */

ngx_int_t
ngx_chatvisor_rate_parse(ngx_str_t *s, ngx_chatvisor_rate_t *rate)
{
    u_char     *p, *end;
    ngx_int_t   n;

    if (s->len == 3 && ngx_strncmp(s->data, "off", 3) == 0) {
        rate->n = 0;
        rate->period = 0;
        return NGX_OK;
    }

    end = s->data + s->len;

    for (p = s->data; p < end && *p >= '0' && *p <= '9'; p++) {
        /* void */
    }

    if (end - p != 3 || p[0] != 'r' || p[1] != '/') {
        return NGX_ERROR;
    }

    n = ngx_atoi(s->data, p - s->data);
    if (n <= 0 || n > NGX_CHATVISOR_RATE_N_MAX) {
        return NGX_ERROR;
    }

    switch (p[2]) {
    case 's':
        rate->period = 1000;
        break;
    case 'm':
        rate->period = 60 * 1000;
        break;
    case 'h':
        rate->period = 60 * 60 * 1000;
        break;
    default:
        return NGX_ERROR;
    }

    rate->n = (ngx_uint_t) n;

    return NGX_OK;
}
