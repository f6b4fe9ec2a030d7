/*
 * chatvisor_identify $variable: on a page that gets the widget, a
 * non-empty value names the integrator's customer this visitor is (the
 * backend's X-Chatvisor-Customer, hidden from the browser). The page
 * writes nothing to the store: when this browser is not that customer yet
 * (its cv_identity cookie says which it is), the page sets the signed
 * cv_identify cookie and tells its widget (data-identify), which asks
 * POST v1/visitor/identify to move the visitor before it loads the chat.
 * Such pages lose their ETag and Last-Modified.
 */


#include "ngx_chatvisor_edge.h"
#include "cv_utf8.h"


ngx_int_t
ngx_chatvisor_page_identify(ngx_http_request_t *r, ngx_uint_t *identify)
{
    char                        ext[CV_CUSTOMER_EXT_ID_MAX + 1];
    char                        customer[CV_ID_MAX];
    ngx_str_t                   v;
    ngx_chatvisor_loc_conf_t   *clcf;
    ngx_chatvisor_main_conf_t  *cmcf;

    *identify = 0;

    clcf = ngx_http_get_module_loc_conf(r, ngx_chatvisor_module);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (clcf->identify == NULL || cmcf->store == NULL) {
        return NGX_OK;
    }

    /*
     * The page depends on who is logged in: a copy the browser revalidates
     * (304) or reuses would skip the identification after a new login and
     * show the previous user's chat. Without validators it is fetched
     * whole every time (docs/decisions.md).
     */
    ngx_http_clear_etag(r);
    ngx_http_clear_last_modified(r);

    if (ngx_http_complex_value(r, clcf->identify, &v) != NGX_OK) {
        return NGX_ERROR;
    }

    /* empty: nobody is logged in, or the backend did not say; the
     * visitor stays who they are */
    if (v.len == 0) {
        return NGX_OK;
    }

    if (v.len > CV_CUSTOMER_EXT_ID_MAX
        || ngx_strlchr(v.data, v.data + v.len, '\0')
        || cv_utf8_check((const char *) v.data, v.len, NULL) != CV_OK)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "chatvisor_identify: the value is not an id of 1 to "
                      NGX_CHATVISOR_STR(CV_CUSTOMER_EXT_ID_MAX)
                      " UTF-8 characters; ignored");
        return NGX_OK;
    }

    ngx_memcpy(ext, v.data, v.len);
    ext[v.len] = '\0';

    if (ngx_chatvisor_visitor_cookie(r, customer) != NGX_OK) {
        customer[0] = '\0';
    }

    if (ngx_chatvisor_identity_proven(r, customer, ext)) {
        return NGX_OK;
    }

    if (ngx_chatvisor_identify_cookie_set(r, ext) != NGX_OK) {
        return NGX_ERROR;
    }

    *identify = 1;

    return NGX_OK;
}
