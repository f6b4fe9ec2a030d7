/*
 * Signatures with the store's secret: base64url(HMAC-SHA256(secret,
 * purpose ":" data)). They sign the visitor, agent and visit cookies and
 * make the console's CSRF token.
 *
 * Signatures already computed are kept per worker: the same cookies and
 * tokens come back on every request, and an HMAC costs more than the rest
 * of their check. The secret changes with a new worker (reload), or once
 * in cluster mode when the cluster's arrives (cmcf->secret_gen).
 */


#include "ngx_chatvisor_http.h"
#include "cv_crypto.h"


#define NGX_CHATVISOR_SIGN_SLOTS  1024

/* the longest purpose ":" data kept: room for every one signed today (the
 * longest is a session's, "agent:" and 63 bytes); longer ones are signed
 * without the memo */
#define NGX_CHATVISOR_SIGN_KEY    176


typedef struct {
    size_t  len;                              /* 0: empty */
    size_t  sig_len;
    u_char  key[NGX_CHATVISOR_SIGN_KEY];      /* purpose ":" data */
    u_char  sig[NGX_CHATVISOR_SIG_SIZE];
} ngx_chatvisor_sign_memo_t;


static ngx_chatvisor_sign_memo_t  *ngx_chatvisor_sign_memo;
static ngx_uint_t                  ngx_chatvisor_sign_gen;


static ngx_chatvisor_sign_memo_t *
ngx_chatvisor_sign_slot(ngx_chatvisor_main_conf_t *cmcf, u_char *msg,
    size_t len, ngx_log_t *log)
{
    if (len > NGX_CHATVISOR_SIGN_KEY) {
        return NULL;
    }

    if (ngx_chatvisor_sign_memo && ngx_chatvisor_sign_gen != cmcf->secret_gen)
    {
        /* another secret: what was signed with the old one is forgotten */
        ngx_memzero(ngx_chatvisor_sign_memo, NGX_CHATVISOR_SIGN_SLOTS
                                         * sizeof(ngx_chatvisor_sign_memo_t));
    }

    ngx_chatvisor_sign_gen = cmcf->secret_gen;

    if (ngx_chatvisor_sign_memo == NULL) {
        ngx_chatvisor_sign_memo = ngx_calloc(NGX_CHATVISOR_SIGN_SLOTS
                                           * sizeof(ngx_chatvisor_sign_memo_t),
                                           log);
        if (ngx_chatvisor_sign_memo == NULL) {
            return NULL;
        }
    }

    return &ngx_chatvisor_sign_memo[ngx_murmur_hash2(msg, len)
                                    % NGX_CHATVISOR_SIGN_SLOTS];
}


ngx_int_t
ngx_chatvisor_sign(ngx_http_request_t *r, const char *purpose, u_char *data,
    size_t len, ngx_str_t *out)
{
    u_char                      mac[CV_SHA256_LEN], *msg;
    size_t                      plen, mlen;
    ngx_chatvisor_sign_memo_t  *m;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    plen = ngx_strlen(purpose);
    mlen = plen + 1 + len;

    msg = ngx_pnalloc(r->pool, mlen);
    out->data = ngx_pnalloc(r->pool, NGX_CHATVISOR_SIG_SIZE);
    if (msg == NULL || out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(msg, purpose, plen);
    msg[plen] = ':';
    ngx_memcpy(msg + plen + 1, data, len);

    m = ngx_chatvisor_sign_slot(cmcf, msg, mlen, r->connection->log);

    if (m && m->len == mlen && ngx_memcmp(m->key, msg, mlen) == 0) {
        out->len = m->sig_len;
        ngx_memcpy(out->data, m->sig, m->sig_len);
        out->data[out->len] = '\0';    /* as cv_base64url leaves it */
        return NGX_OK;
    }

    if (cv_hmac_sha256(cmcf->secret, sizeof(cmcf->secret), msg, mlen, mac)
        != CV_OK)
    {
        return NGX_ERROR;
    }

    out->len = cv_base64url(mac, sizeof(mac), (char *) out->data);

    if (m) {
        m->len = mlen;
        m->sig_len = out->len;
        ngx_memcpy(m->key, msg, mlen);
        ngx_memcpy(m->sig, out->data, out->len);
    }

    return NGX_OK;
}
