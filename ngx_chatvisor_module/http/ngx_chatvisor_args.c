/*
 * Query arguments: cursors, page sizes and choices, checked the same way
 * on every surface.
 */


#include "ngx_chatvisor_http.h"
#include "cv_args.h"


ngx_int_t
ngx_chatvisor_arg(ngx_http_request_t *r, const char *name, ngx_str_t *value)
{
    return ngx_http_arg(r, (u_char *) name, ngx_strlen(name), value);
}


/* the numbers themselves are read by the engine (cv_args.c, fuzzed) */

ngx_int_t
ngx_chatvisor_parse_u64(ngx_str_t *s, uint64_t *v)
{
    return cv_arg_u64((const char *) s->data, s->len, v) == CV_OK
           ? NGX_OK : NGX_ERROR;
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
    ngx_str_t  v;

    *limit = def;

    if (ngx_chatvisor_arg(r, "limit", &v) != NGX_OK) {
        return NGX_OK;
    }

    if (cv_arg_limit((const char *) v.data, v.len, max, limit) != CV_OK) {
        return ngx_chatvisor_invalidf(err, "\"limit\" must be from 1 to %uz",
                                      max);
    }

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
