/*
 * Query arguments: cursors, page sizes and choices, checked the same way
 * on every surface.
 */


#include "ngx_chatvisor_http.h"


/* digits of the largest cursor (2^53) */
#define NGX_CHATVISOR_U64_DIGITS  16


ngx_int_t
ngx_chatvisor_arg(ngx_http_request_t *r, const char *name, ngx_str_t *value)
{
    return ngx_http_arg(r, (u_char *) name, ngx_strlen(name), value);
}


ngx_int_t
ngx_chatvisor_parse_u64(ngx_str_t *s, uint64_t *v)
{
    size_t    i;
    uint64_t  n;

    if (s->len == 0 || s->len > NGX_CHATVISOR_U64_DIGITS) {
        return NGX_ERROR;
    }

    n = 0;
    for (i = 0; i < s->len; i++) {
        if (s->data[i] < '0' || s->data[i] > '9') {
            return NGX_ERROR;
        }

        n = n * 10 + (s->data[i] - '0');
    }

    if (n > NGX_CHATVISOR_JSON_INT_MAX) {
        return NGX_ERROR;
    }

    *v = n;
    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_arg_cursor(ngx_http_request_t *r, const char *name,
    uint64_t *value, ngx_chatvisor_err_t *err)
{
    ngx_str_t  v;

    *value = 0;

    if (ngx_chatvisor_arg(r, name, &v) != NGX_OK) {
        return NGX_OK;
    }

    if (ngx_chatvisor_parse_u64(&v, value) != NGX_OK) {
        return ngx_chatvisor_invalidf(err, "\"%s\" must be a whole number "
                                      "from 0 to 2^53", name);
    }

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_arg_limit(ngx_http_request_t *r, size_t def, size_t max,
    size_t *limit, ngx_chatvisor_err_t *err)
{
    uint64_t   n;
    ngx_str_t  v;

    *limit = def;

    if (ngx_chatvisor_arg(r, "limit", &v) != NGX_OK) {
        return NGX_OK;
    }

    if (ngx_chatvisor_parse_u64(&v, &n) != NGX_OK || n < 1 || n > max) {
        return ngx_chatvisor_invalidf(err, "\"limit\" must be from 1 to %uz",
                                      max);
    }

    *limit = (size_t) n;

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_arg_choice(ngx_http_request_t *r, const char *name,
    const char **values, ngx_uint_t def, ngx_uint_t *index,
    const char *message, ngx_chatvisor_err_t *err)
{
    ngx_str_t   v;
    ngx_uint_t  i;

    *index = def;

    if (ngx_chatvisor_arg(r, name, &v) != NGX_OK) {
        return NGX_OK;
    }

    for (i = 0; values[i]; i++) {
        if (ngx_chatvisor_str_is(&v, values[i])) {
            *index = i;
            return NGX_OK;
        }
    }

    return ngx_chatvisor_invalid(err, message);
}


ngx_uint_t
ngx_chatvisor_str_is(ngx_str_t *s, const char *lit)
{
    size_t  len = ngx_strlen(lit);

    return s->len == len && ngx_strncmp(s->data, lit, len) == 0;
}
