/*
 * Who a visitor is for the integrator, in two signed cookies shared by the
 * edge (chatvisor_identify on pages) and the visitor's identify endpoint:
 *
 *   cv_identify  "B64.SIG": B64 is base64url of the integrator's customer
 *                id the backend named on a page; set by the edge, read by
 *                POST v1/visitor/identify, which acts on it.
 *   cv_identity  "CUS~HASH.SIG": customer CUS is the one of the integrator's
 *                id whose SHA-256 starts with HASH (base64url): what the
 *                last identification made of this browser, so a page that
 *                names the same id again costs no request.
 *
 * Both HttpOnly and Path=/, like the visitor's cookie; the page's scripts
 * never see them, and without the store's secret they cannot be made.
 */


#include "ngx_chatvisor_http.h"
#include "cv_crypto.h"


#define NGX_CHATVISOR_IDENTIFY_COOKIE    "cv_identify"
#define NGX_CHATVISOR_IDENTIFY_PURPOSE   "identify"
#define NGX_CHATVISOR_IDENTITY_COOKIE    "cv_identity"
#define NGX_CHATVISOR_IDENTITY_PURPOSE   "identity"

/* a request is acted on by the page's widget within seconds; a day is
 * room for a page left open before its widget loads */
#define NGX_CHATVISOR_IDENTIFY_AGE       (24 * 60 * 60)
/* as long as the visitor's cookie */
#define NGX_CHATVISOR_IDENTITY_AGE       (365 * 24 * 60 * 60)

/* bytes of the id's SHA-256 in cv_identity: 96 bits, no collisions
 * between one browser's logins */
#define NGX_CHATVISOR_IDENTITY_HASH      12

#define NGX_CHATVISOR_IDENTIFY_B64_MAX   CV_BASE64URL_BUF(CV_CUSTOMER_EXT_ID_MAX)
#define NGX_CHATVISOR_IDENTITY_MAX                                            \
    (CV_ID_MAX + 1 + CV_BASE64URL_BUF(NGX_CHATVISOR_IDENTITY_HASH))


/* "CUS~HASH" into buf (NGX_CHATVISOR_IDENTITY_MAX bytes) */

static ngx_int_t
ngx_chatvisor_identity_value(const char *customer_id, const char *ext_id,
    u_char *buf, ngx_str_t *value)
{
    u_char  *p, hash[CV_SHA256_LEN];
    size_t   n;

    n = ngx_strlen(customer_id);

    if (n == 0 || n >= CV_ID_MAX
        || cv_sha256(ext_id, ngx_strlen(ext_id), hash) != CV_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_cpymem(buf, customer_id, n);
    *p++ = '~';
    p += cv_base64url(hash, NGX_CHATVISOR_IDENTITY_HASH, (char *) p);

    value->data = buf;
    value->len = p - buf;

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_identify_cookie_set(ngx_http_request_t *r, const char *ext_id)
{
    char       b64[NGX_CHATVISOR_IDENTIFY_B64_MAX];
    size_t     n;
    ngx_str_t  value, path = ngx_string("/");

    n = ngx_strlen(ext_id);
    if (n == 0 || n > CV_CUSTOMER_EXT_ID_MAX) {
        return NGX_ERROR;
    }

    value.data = (u_char *) b64;
    value.len = cv_base64url((const unsigned char *) ext_id, n, b64);

    return ngx_chatvisor_signed_cookie_set(r, NGX_CHATVISOR_IDENTIFY_COOKIE,
                                           NGX_CHATVISOR_IDENTIFY_PURPOSE,
                                           &value, &path,
                                           NGX_CHATVISOR_IDENTIFY_AGE, 0);
}


ngx_int_t
ngx_chatvisor_identify_cookie(ngx_http_request_t *r,
    char ext_id[CV_CUSTOMER_EXT_ID_MAX + 1])
{
    size_t     n;
    ngx_str_t  v;

    if (ngx_chatvisor_signed_cookie_get(r, NGX_CHATVISOR_IDENTIFY_COOKIE,
                                        NGX_CHATVISOR_IDENTIFY_PURPOSE,
                                        NGX_CHATVISOR_IDENTIFY_B64_MAX - 1,
                                        &v)
        != NGX_OK
        || cv_base64url_decode((const char *) v.data, v.len,
                               (unsigned char *) ext_id,
                               CV_CUSTOMER_EXT_ID_MAX, &n)
           != CV_OK
        || n == 0
        || ngx_strlchr((u_char *) ext_id, (u_char *) ext_id + n, '\0'))
    {
        return NGX_DECLINED;
    }

    ext_id[n] = '\0';

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_identity_proven(ngx_http_request_t *r, const char *customer_id,
    const char *ext_id)
{
    u_char     buf[NGX_CHATVISOR_IDENTITY_MAX];
    ngx_str_t  want, v;

    if (customer_id[0] == '\0'
        || ngx_chatvisor_identity_value(customer_id, ext_id, buf, &want)
           != NGX_OK
        || ngx_chatvisor_signed_cookie_get(r, NGX_CHATVISOR_IDENTITY_COOKIE,
                                           NGX_CHATVISOR_IDENTITY_PURPOSE,
                                           NGX_CHATVISOR_IDENTITY_MAX, &v)
           != NGX_OK)
    {
        return 0;
    }

    return v.len == want.len && ngx_memcmp(v.data, want.data, v.len) == 0;
}


ngx_int_t
ngx_chatvisor_identity_cookie_set(ngx_http_request_t *r,
    const char *customer_id, const char *ext_id)
{
    u_char     buf[NGX_CHATVISOR_IDENTITY_MAX];
    ngx_str_t  value, path = ngx_string("/"), none = ngx_string("-");

    if (ngx_chatvisor_identity_value(customer_id, ext_id, buf, &value)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the request is done: the edge's cookie goes */
    if (ngx_chatvisor_cookie_set(r, NGX_CHATVISOR_IDENTIFY_COOKIE, &none,
                                 &path, 0, 0)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_chatvisor_signed_cookie_set(r, NGX_CHATVISOR_IDENTITY_COOKIE,
                                           NGX_CHATVISOR_IDENTITY_PURPOSE,
                                           &value, &path,
                                           NGX_CHATVISOR_IDENTITY_AGE, 0);
}
