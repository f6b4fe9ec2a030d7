/*
 * Leases in the shared zone: work that one worker at a time must do (the
 * webhook sender) goes to whichever worker holds the lease. The holder
 * renews it well within its ttl; when it dies or hangs, the lease is not
 * renewed and another worker takes it once it runs out; a worker that
 * exits (reload) gives it up at once.
 */


#include "ngx_chatvisor_shm.h"
#include "cv_time.h"


ngx_uint_t
ngx_chatvisor_lease_hold(ngx_chatvisor_main_conf_t *cmcf, ngx_uint_t lease,
    ngx_msec_t ttl)
{
    int64_t                 now;
    ngx_uint_t              held;
    ngx_shmtx_t            *mutex;
    ngx_chatvisor_lease_t  *l;

    if (cmcf->shm == NULL || lease >= NGX_CHATVISOR_LEASES) {
        return 0;
    }

    mutex = ngx_chatvisor_shm_mutex(cmcf);
    l = &cmcf->shm->leases[lease];
    now = cv_now_ms();

    ngx_shmtx_lock(mutex);

    held = (l->pid == ngx_pid || l->pid == 0 || l->until < now);

    if (held) {
        l->pid = ngx_pid;
        l->until = now + (int64_t) ttl;
    }

    ngx_shmtx_unlock(mutex);

    return held;
}


void
ngx_chatvisor_lease_release(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t lease)
{
    ngx_shmtx_t            *mutex;
    ngx_chatvisor_lease_t  *l;

    if (cmcf->shm == NULL || lease >= NGX_CHATVISOR_LEASES) {
        return;
    }

    mutex = ngx_chatvisor_shm_mutex(cmcf);
    l = &cmcf->shm->leases[lease];

    ngx_shmtx_lock(mutex);

    if (l->pid == ngx_pid) {
        l->pid = 0;
        l->until = 0;
    }

    ngx_shmtx_unlock(mutex);
}
