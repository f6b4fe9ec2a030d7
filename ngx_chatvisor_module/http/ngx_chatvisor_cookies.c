/*
 * Cookies, and those signed with the store's secret ("VALUE.SIG"): a
 * forged one, or one from another store, reads as none. The visitor's
 * cookie names the customer a browser chats as; pages read it too (the
 * edge's visibility rules).
 */


#include "ngx_chatvisor_http.h"
#include "cv_cookie.h"
#include "cv_crypto.h"


#define NGX_CHATVISOR_VISITOR_COOKIE   "cv_visitor"
#define NGX_CHATVISOR_VISITOR_PURPOSE  "visitor"
#define NGX_CHATVISOR_VISITOR_AGE      (365 * 24 * 60 * 60)


ngx_int_t
ngx_chatvisor_cookie_get(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_str_t  n;

    n.data = (u_char *) name;
    n.len = ngx_strlen(name);

#if (nginx_version >= 1023000)
    return ngx_http_parse_multi_header_lines(r, r->headers_in.cookie, &n,
                                             value) == NULL
           ? NGX_DECLINED : NGX_OK;
#else
    return ngx_http_parse_multi_header_lines(&r->headers_in.cookies, &n,
                                             value) == NGX_DECLINED
           ? NGX_DECLINED : NGX_OK;
#endif
}


ngx_int_t
ngx_chatvisor_cookie_set(ngx_http_request_t *r, const char *name,
    ngx_str_t *value, ngx_str_t *path, time_t max_age, ngx_uint_t strict)
{
    u_char                    *p;
    size_t                     len;
    ngx_uint_t                 secure;
    ngx_chatvisor_srv_conf_t  *cscf;

    cscf = ngx_http_get_module_srv_conf(r, ngx_chatvisor_module);

    /* behind a proxy that ends TLS, the public URL says https */
    secure = cscf->public_url.secure;

#if (NGX_HTTP_SSL)
    secure = secure || r->connection->ssl != NULL;
#endif

    len = ngx_strlen(name) + 1 + value->len + sizeof("; Path=") - 1
          + path->len + sizeof("; Max-Age=") - 1 + NGX_TIME_T_LEN
          + sizeof("; HttpOnly; SameSite=Strict; Secure") - 1;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    len = ngx_sprintf(p, "%s=%V; Path=%V; Max-Age=%T; HttpOnly; SameSite=%s%s",
                      name, value, path, max_age, strict ? "Strict" : "Lax",
                      secure ? "; Secure" : "")
          - p;

    return ngx_chatvisor_header_add(r, "Set-Cookie", p, len) ? NGX_OK
                                                             : NGX_ERROR;
}


ngx_str_t *
ngx_chatvisor_public_prefix(ngx_http_request_t *r)
{
    ngx_chatvisor_srv_conf_t  *cscf;

    cscf = ngx_http_get_module_srv_conf(r, ngx_chatvisor_module);

    return cscf->public_url.url.len ? &cscf->public_url.path : &cscf->prefix;
}


ngx_int_t
ngx_chatvisor_signed_cookie_get(ngx_http_request_t *r, const char *name,
    const char *purpose, size_t max, ngx_str_t *value)
{
    size_t     len;
    ngx_str_t  cookie, sig;

    if (ngx_chatvisor_cookie_get(r, name, &cookie) != NGX_OK) {
        return NGX_DECLINED;
    }

    /* the value is read by the engine (cv_cookie.c, fuzzed); its
     * signature is made here, memoized per worker */
    if (cv_signed_split((const char *) cookie.data, cookie.len, max, &len)
        != CV_OK
        || ngx_chatvisor_sign(r, purpose, cookie.data, len, &sig) != NGX_OK
        || !cv_signed_matches((const char *) cookie.data, cookie.len, len,
                              (const char *) sig.data, sig.len))
    {
        return NGX_DECLINED;
    }

    value->data = cookie.data;
    value->len = len;

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_signed_cookie_set(ngx_http_request_t *r, const char *name,
    const char *purpose, ngx_str_t *value, ngx_str_t *path, time_t max_age,
    ngx_uint_t strict)
{
    ngx_str_t  sig, v;

    if (ngx_chatvisor_sign(r, purpose, value->data, value->len, &sig)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    v.data = ngx_pnalloc(r->pool, value->len + 1 + sig.len);
    if (v.data == NULL) {
        return NGX_ERROR;
    }

    v.len = ngx_sprintf(v.data, "%V.%V", value, &sig) - v.data;

    return ngx_chatvisor_cookie_set(r, name, &v, path, max_age, strict);
}


ngx_int_t
ngx_chatvisor_visitor_cookie(ngx_http_request_t *r,
    char customer_id[CV_ID_MAX])
{
    ngx_str_t  v;

    customer_id[0] = '\0';

    if (ngx_chatvisor_signed_cookie_get(r, NGX_CHATVISOR_VISITOR_COOKIE,
                                        NGX_CHATVISOR_VISITOR_PURPOSE,
                                        CV_ID_MAX - 1, &v)
        != NGX_OK
        || !cv_cookie_customer_valid((const char *) v.data, v.len,
                                     CV_ID_MAX))
    {
        /* a stranger */
        return NGX_DECLINED;
    }

    ngx_memcpy(customer_id, v.data, v.len);
    customer_id[v.len] = '\0';

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_visitor_cookie_set(ngx_http_request_t *r,
    const char *customer_id)
{
    ngx_str_t  value;
    ngx_str_t  path = ngx_string("/");

    value.data = (u_char *) customer_id;
    value.len = ngx_strlen(customer_id);

    /* Path=/: pages (the edge's visibility rules) recognise the visitor */
    return ngx_chatvisor_signed_cookie_set(r, NGX_CHATVISOR_VISITOR_COOKIE,
                                           NGX_CHATVISOR_VISITOR_PURPOSE,
                                           &value, &path,
                                           NGX_CHATVISOR_VISITOR_AGE, 0);
}
