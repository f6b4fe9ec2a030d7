/*
 * Failed token requests per API client, in the shared zone: after
 * NGX_CHATVISOR_RATE_FAILS in a window the client is refused until the
 * window is over, whichever worker it asks.
 */


#include "ngx_chatvisor_shm.h"
#include "cv_time.h"


#define NGX_CHATVISOR_RATE_FAILS   5
#define NGX_CHATVISOR_RATE_WINDOW  60000     /* ms */


ngx_int_t
ngx_chatvisor_rate_check(ngx_chatvisor_main_conf_t *cmcf, ngx_str_t *client,
    ngx_uint_t failed, ngx_uint_t *retry_after)
{
    int64_t                now;
    ngx_int_t              rc;
    ngx_uint_t             i;
    ngx_shmtx_t           *mutex;
    ngx_chatvisor_rate_t  *rate, *e, *free;

    if (client->len > NGX_CHATVISOR_API_CLIENT_MAX) {
        return NGX_OK;
    }

    mutex = ngx_chatvisor_shm_mutex(cmcf);
    rate = cmcf->shm->rate;
    now = cv_now_ms();
    e = NULL;
    free = NULL;
    rc = NGX_OK;

    ngx_shmtx_lock(mutex);

    for (i = 0; i < NGX_CHATVISOR_RATE_MAX; i++) {
        if (ngx_strlen(rate[i].client) == client->len
            && ngx_strncmp(rate[i].client, client->data, client->len) == 0)
        {
            e = &rate[i];
            break;
        }

        if (free == NULL
            && (rate[i].client[0] == '\0'
                || now - rate[i].window_start > NGX_CHATVISOR_RATE_WINDOW))
        {
            free = &rate[i];
        }
    }

    if (e == NULL && failed && free) {
        e = free;
        ngx_memzero(e, sizeof(ngx_chatvisor_rate_t));
        ngx_memcpy(e->client, client->data, client->len);
        e->window_start = now;
    }

    if (e) {
        if (now - e->window_start > NGX_CHATVISOR_RATE_WINDOW) {
            e->window_start = now;
            e->failures = 0;
        }

        if (failed) {
            e->failures++;
        }

        if (e->failures >= NGX_CHATVISOR_RATE_FAILS) {
            *retry_after = (ngx_uint_t) ((NGX_CHATVISOR_RATE_WINDOW
                                          - (now - e->window_start)) / 1000
                                         + 1);
            rc = NGX_DECLINED;
        }
    }

    ngx_shmtx_unlock(mutex);

    return rc;
}
