/*
 * A small shared-memory zone that every worker reads without touching the
 * store (its parts: ngx_chatvisor_shm.h). It outlives reloads: who is
 * online, the REST overrides and the metrics' counters stay.
 */


#include "ngx_chatvisor_shm.h"


/* room for the slab allocator's own pages beside the zone's struct */
#define NGX_CHATVISOR_SHM_SLAB_PAGES  64


static ngx_int_t
ngx_chatvisor_shm_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_chatvisor_main_conf_t  *old = data;

    ngx_slab_pool_t            *shpool;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = shm_zone->data;

    if (old) {
        /* a reload: data is the previous cycle's configuration */
        cmcf->shm = old->shm;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        cmcf->shm = shpool->data;
        return NGX_OK;
    }

    cmcf->shm = ngx_slab_calloc(shpool, sizeof(ngx_chatvisor_shm_t));
    if (cmcf->shm == NULL) {
        return NGX_ERROR;
    }

    shpool->data = cmcf->shm;

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_shm_add(ngx_conf_t *cf, ngx_chatvisor_main_conf_t *cmcf)
{
    ngx_str_t  name = ngx_string("chatvisor");

    cmcf->shm_zone = ngx_shared_memory_add(cf, &name,
                                           sizeof(ngx_chatvisor_shm_t)
                                           + NGX_CHATVISOR_SHM_SLAB_PAGES
                                             * ngx_pagesize,
                                           &ngx_chatvisor_module);
    if (cmcf->shm_zone == NULL) {
        return NGX_ERROR;
    }

    cmcf->shm_zone->init = ngx_chatvisor_shm_init;
    cmcf->shm_zone->data = cmcf;

    return NGX_OK;
}


ngx_shmtx_t *
ngx_chatvisor_shm_mutex(ngx_chatvisor_main_conf_t *cmcf)
{
    return &((ngx_slab_pool_t *) cmcf->shm_zone->shm.addr)->mutex;
}


/* the flags are single words, set and taken atomically without the lock */

void
ngx_chatvisor_shm_overflow_set(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t worker)
{
    if (worker < NGX_MAX_PROCESSES) {
        ngx_atomic_cmp_set(&cmcf->shm->overflow[worker], 0, 1);
    }
}


ngx_uint_t
ngx_chatvisor_shm_overflow_take(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t worker)
{
    return worker < NGX_MAX_PROCESSES
           && ngx_atomic_cmp_set(&cmcf->shm->overflow[worker], 1, 0);
}
