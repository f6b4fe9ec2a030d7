/*
 * The store's handle in nginx: prepared by the master (created, its schema
 * checked, handed to the worker user) and closed again before workers are
 * forked; opened by each worker after fork, since an LMDB environment must
 * not cross a fork.
 */


#include "ngx_chatvisor_runtime.h"


#define NGX_CHATVISOR_STORE_ERR_LEN  512


ngx_int_t
ngx_chatvisor_store_prepare(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf)
{
    uid_t             uid;
    gid_t             gid;
    u_char            err[NGX_CHATVISOR_STORE_ERR_LEN];
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    uid = (uid_t) -1;
    gid = (gid_t) -1;

    if (geteuid() == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        uid = ccf->user;
        gid = ccf->group;
    }

    if (cv_store_prepare(&cmcf->store_opt, uid, gid, (char *) err,
                         sizeof(err))
        != CV_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "chatvisor_store \"%V\": %s", &cmcf->store_path, err);
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_chatvisor_store_open(ngx_cycle_t *cycle, ngx_chatvisor_main_conf_t *cmcf)
{
    u_char  err[NGX_CHATVISOR_STORE_ERR_LEN];

    if (cv_store_open(&cmcf->store, &cmcf->store_opt, (char *) err,
                      sizeof(err))
        != CV_OK)
    {
        /* the worker keeps serving pages; store-backed calls answer 503 */
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "chatvisor_store \"%V\": %s", &cmcf->store_path, err);
        cmcf->store = NULL;
        return;
    }

    if (cv_store_secret(cmcf->store, cmcf->secret) != CV_OK) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "chatvisor_store \"%V\": no signing secret",
                      &cmcf->store_path);
        ngx_chatvisor_store_close(cmcf);
        return;
    }

    if (cv_store_stale_readers_cleared(cmcf->store)) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "chatvisor_store \"%V\": cleared %d stale reader "
                      "slot(s)", &cmcf->store_path,
                      cv_store_stale_readers_cleared(cmcf->store));
    }
}


void
ngx_chatvisor_store_close(ngx_chatvisor_main_conf_t *cmcf)
{
    if (cmcf->store != NULL) {
        cv_store_close(cmcf->store);
        cmcf->store = NULL;
    }
}


cv_status
ngx_chatvisor_store_read(ngx_chatvisor_main_conf_t *cmcf,
    ngx_chatvisor_get_pt get, const char *id, cJSON **out)
{
    cv_txn     *t;
    cv_status   st;

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        return st;
    }

    st = get(t, id, out);
    cv_txn_abort(t);

    return st;
}
