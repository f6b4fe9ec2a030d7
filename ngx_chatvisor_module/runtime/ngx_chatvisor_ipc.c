/*
 * Notices between workers: one non-blocking pipe per worker slot, created
 * by the master before fork (so a respawned worker inherits its slot's
 * pipe). After a commit, a worker writes a fixed-size notice to every other
 * worker's pipe; each worker reads its own and wakes the polls it holds.
 * The store stays the only truth: a notice only says "look again".
 *
 * A notice goes only to the workers that hear it (see
 * ngx_chatvisor_ipc_hear()): a bitmap of workers per kind of poll, shared
 * by the workers of one generation, made by the master with the pipes
 * (an old generation's exit clears nothing of the new one's).
 */


#include "ngx_chatvisor_runtime.h"


static void ngx_chatvisor_ipc_read(ngx_event_t *ev);


/* a full memory fence (nginx's ngx_memory_barrier() is the compiler's
 * only, on x86) */
#define ngx_chatvisor_ipc_fence()   __atomic_thread_fence(__ATOMIC_SEQ_CST)

/* a worker's bit: at most this many workers are told apart, the others
 * hear every notice */
#define NGX_CHATVISOR_HEAR_WORKERS  (8 * sizeof(ngx_atomic_uint_t) - 1)


static ngx_chatvisor_main_conf_t  *ngx_chatvisor_ipc_conf;


static void
ngx_chatvisor_ipc_cleanup(void *data)
{
    ngx_chatvisor_main_conf_t  *cmcf = data;

    ngx_uint_t  i;
    ngx_shm_t   shm;

    if (cmcf->hearing) {
        shm.addr = (u_char *) cmcf->hearing;
        shm.size = NGX_CHATVISOR_HEAR_SLOTS * sizeof(ngx_atomic_t);
        shm.log = ngx_cycle->log;
        ngx_shm_free(&shm);
        cmcf->hearing = NULL;
    }

    for (i = 0; i < 2 * cmcf->workers; i++) {
        if (cmcf->pipes[i] != -1) {
            close(cmcf->pipes[i]);
            cmcf->pipes[i] = -1;
        }
    }
}


ngx_int_t
ngx_chatvisor_ipc_init_module(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf)
{
    int                  fds[2];
    ngx_uint_t           i;
    ngx_shm_t            shm;
    ngx_core_conf_t     *ccf;
    ngx_pool_cleanup_t  *cln;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    cmcf->workers = (ccf->master && ccf->worker_processes > 0)
                    ? (ngx_uint_t) ccf->worker_processes : 1;

    cmcf->hearing = NULL;
    cmcf->pipes = ngx_palloc(cycle->pool, 2 * cmcf->workers
                                          * sizeof(ngx_int_t));
    if (cmcf->pipes == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < 2 * cmcf->workers; i++) {
        cmcf->pipes[i] = -1;
    }

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_chatvisor_ipc_cleanup;
    cln->data = cmcf;

    /* zeroed: nobody hears anything yet */
    shm.size = NGX_CHATVISOR_HEAR_SLOTS * sizeof(ngx_atomic_t);
    shm.name.data = (u_char *) "chatvisor_hearing";
    shm.name.len = sizeof("chatvisor_hearing") - 1;
    shm.log = cycle->log;

    if (ngx_shm_alloc(&shm) != NGX_OK) {
        return NGX_ERROR;
    }

    cmcf->hearing = (ngx_atomic_t *) shm.addr;

    for (i = 0; i < cmcf->workers; i++) {
        if (pipe(fds) != 0) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "chatvisor: pipe() failed");
            return NGX_ERROR;
        }

        cmcf->pipes[2 * i] = fds[0];
        cmcf->pipes[2 * i + 1] = fds[1];

        if (ngx_nonblocking(fds[0]) == -1 || ngx_nonblocking(fds[1]) == -1
            || fcntl(fds[0], F_SETFD, FD_CLOEXEC) == -1
            || fcntl(fds[1], F_SETFD, FD_CLOEXEC) == -1)
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "chatvisor: setting up a pipe failed");
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_ipc_init_process(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf)
{
    ngx_connection_t  *c;

    if (cmcf->pipes == NULL || ngx_worker >= cmcf->workers) {
        return NGX_OK;
    }

    ngx_chatvisor_ipc_conf = cmcf;

    c = ngx_get_connection(cmcf->pipes[2 * ngx_worker], cycle->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = cmcf;
    c->read->handler = ngx_chatvisor_ipc_read;
    c->read->log = cycle->log;

    /* like nginx's own channel: not a client, shutdown does not wait */
    c->read->channel = 1;

    if (ngx_add_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
        ngx_free_connection(c);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* as many notices as one atomic pipe write holds */
#define NGX_CHATVISOR_NOTICES_MAX  (PIPE_BUF / sizeof(ngx_chatvisor_notice_t))


static void
ngx_chatvisor_ipc_read(ngx_event_t *ev)
{
    ssize_t                     n, i;
    ngx_connection_t           *c;
    ngx_chatvisor_notice_t      notice[NGX_CHATVISOR_NOTICES_MAX];
    ngx_chatvisor_main_conf_t  *cmcf;

    c = ev->data;
    cmcf = c->data;

    for ( ;; ) {
        n = read(c->fd, notice, sizeof(notice));

        if (n > 0) {
            /* writes are whole notices, each atomic: n is a multiple */
            for (i = 0; i < n / (ssize_t) sizeof(ngx_chatvisor_notice_t); i++)
            {
                ngx_chatvisor_notice_deliver(&notice[i]);
            }

            if (n == (ssize_t) sizeof(notice)) {
                continue;
            }

            break;
        }

        if (n == -1 && ngx_errno == NGX_EINTR) {
            continue;
        }

        if (n == -1 && ngx_errno != NGX_EAGAIN) {
            ngx_log_error(NGX_LOG_ALERT, ev->log, ngx_errno,
                          "chatvisor: reading notices failed");
        }

        break;
    }

    if (ngx_chatvisor_shm_overflow_take(cmcf, ngx_worker)) {
        notice[0].kind = NGX_CHATVISOR_NOTICE_ALL;
        ngx_chatvisor_notice_deliver(&notice[0]);
    }
}


static void
ngx_chatvisor_ipc_write(ngx_chatvisor_main_conf_t *cmcf, ngx_uint_t worker,
    ngx_chatvisor_notice_t *n, ngx_uint_t count)
{
    size_t     size;
    ngx_int_t  fd;

    fd = cmcf->pipes[2 * worker + 1];
    size = count * sizeof(ngx_chatvisor_notice_t);

    if (write(fd, n, size) == (ssize_t) size) {
        return;
    }

    /*
     * The pipe is full: that worker has notices to read and will look at
     * its flag after reading them. Writing once more after setting the flag
     * closes the gap where it read everything before the flag was set.
     */

    ngx_chatvisor_shm_overflow_set(cmcf, worker);

    if (write(fd, n, size) != (ssize_t) size) {
        /* still full: it has not read yet, and will see the flag */
    }
}


ngx_uint_t
ngx_chatvisor_ipc_hear(ngx_uint_t slot, ngx_uint_t on)
{
    ngx_atomic_t               *a;
    ngx_atomic_uint_t           old, bit;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_chatvisor_ipc_conf;

    if (cmcf == NULL || cmcf->hearing == NULL
        || ngx_worker >= NGX_CHATVISOR_HEAR_WORKERS)
    {
        return 0;   /* every notice comes anyway */
    }

    a = &cmcf->hearing[slot];
    bit = (ngx_atomic_uint_t) 1 << ngx_worker;

    /* a locked compare-and-set: a full fence, the other half of the one
     * in ngx_chatvisor_ipc_send() */
    for ( ;; ) {
        old = *a;

        if (on ? (old & bit) != 0 : (old & bit) == 0) {
            return 0;
        }

        if (ngx_atomic_cmp_set(a, old, on ? old | bit : old & ~bit)) {
            return on;
        }
    }
}


/* the workers that hear notice n */

static ngx_atomic_uint_t
ngx_chatvisor_ipc_hearers(ngx_chatvisor_main_conf_t *cmcf,
    ngx_chatvisor_notice_t *n)
{
    ngx_atomic_uint_t  to, bucket;

    to = cmcf->hearing[NGX_CHATVISOR_HEAR_ALL];
    bucket = cmcf->hearing[NGX_CHATVISOR_HEAR_BUCKET
                           + ngx_chatvisor_poll_bucket(n->customer_id)];

    switch (n->kind) {

    case NGX_CHATVISOR_NOTICE_CHANGE:
        return to | bucket | cmcf->hearing[NGX_CHATVISOR_HEAR_CONSOLE];

    case NGX_CHATVISOR_NOTICE_TYPING:
        return to | (n->agent ? bucket
                              : cmcf->hearing[NGX_CHATVISOR_HEAR_CONSOLE]);

    case NGX_CHATVISOR_NOTICE_COBROWSE:
    case NGX_CHATVISOR_NOTICE_COBROWSE_DATA:
        return to | bucket;

    default:
        return (ngx_atomic_uint_t) -1;     /* everyone */
    }
}


/* count notices to every other worker that hears them, in one write each */

void
ngx_chatvisor_ipc_send(ngx_chatvisor_notice_t *n, ngx_uint_t count)
{
    ngx_uint_t                  i, j, k, m, chunk, all;
    ngx_atomic_uint_t           to[NGX_CHATVISOR_NOTICES_MAX];
    ngx_chatvisor_notice_t      some[NGX_CHATVISOR_NOTICES_MAX];
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_chatvisor_ipc_conf;

    if (cmcf == NULL) {
        return;
    }

    all = (cmcf->hearing == NULL
           || cmcf->workers > NGX_CHATVISOR_HEAR_WORKERS);

    /* the commit before, the bitmap after: with the fence of a worker
     * that starts to hear, either it sees the commit or this sees it */
    ngx_chatvisor_ipc_fence();

    for (k = 0; k < count; k += chunk) {
        chunk = ngx_min(count - k, NGX_CHATVISOR_NOTICES_MAX);

        for (m = 0; m < chunk; m++) {
            to[m] = all ? (ngx_atomic_uint_t) -1
                        : ngx_chatvisor_ipc_hearers(cmcf, &n[k + m]);
        }

        for (i = 0; i < cmcf->workers; i++) {
            if (i == ngx_worker) {
                continue;
            }

            if (all) {
                ngx_chatvisor_ipc_write(cmcf, i, n + k, chunk);
                continue;
            }

            /* the notices this worker hears, in their order */
            for (j = 0, m = 0; m < chunk; m++) {
                if (to[m] & ((ngx_atomic_uint_t) 1 << i)) {
                    some[j++] = n[k + m];
                }
            }

            if (j) {
                ngx_chatvisor_ipc_write(cmcf, i, some, j);
            }
        }
    }
}
