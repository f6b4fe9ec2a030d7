/*
 * Headers: finding one in a list, adding one to the answer, media types,
 * and where a request comes from.
 */


#include "ngx_chatvisor_http.h"


ngx_table_elt_t *
ngx_chatvisor_header_find(ngx_list_t *list, const char *name,
    ngx_chatvisor_header_pt accept, void *data)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    part = &list->part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        /* hash 0: a header taken out of the list */
        if (h[i].hash == 0 || h[i].key.len != len
            || ngx_strncasecmp(h[i].key.data, (u_char *) name, len) != 0)
        {
            continue;
        }

        if (accept == NULL || accept(&h[i], data) == NGX_OK) {
            return &h[i];
        }
    }
}


ngx_table_elt_t *
ngx_chatvisor_header_add(ngx_http_request_t *r, const char *key,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = value;
    h->value.len = len;

    return h;
}


ngx_uint_t
ngx_chatvisor_content_type_is(ngx_str_t *ct, const char *type)
{
    u_char  c;
    size_t  len;

    len = ngx_strlen(type);

    if (ct == NULL || ct->len < len
        || ngx_strncasecmp(ct->data, (u_char *) type, len) != 0)
    {
        return 0;
    }

    if (ct->len == len) {
        return 1;
    }

    c = ct->data[len];

    return c == ';' || c == ' ' || c == '\t';
}


static ngx_uint_t
ngx_chatvisor_value_is(ngx_str_t *v, const char *lit)
{
    size_t  len = ngx_strlen(lit);

    return v->len == len && ngx_strncasecmp(v->data, (u_char *) lit, len) == 0;
}


/* strips "https://" or "http://"; NGX_DECLINED for any other scheme */

static ngx_int_t
ngx_chatvisor_origin_host(ngx_str_t *origin, ngx_str_t *host)
{
    static ngx_str_t  schemes[] = {
        ngx_string("https://"),
        ngx_string("http://")
    };

    ngx_uint_t  i;

    for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        if (origin->len > schemes[i].len
            && ngx_strncasecmp(origin->data, schemes[i].data,
                               schemes[i].len) == 0)
        {
            host->data = origin->data + schemes[i].len;
            host->len = origin->len - schemes[i].len;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * Writes from another site are refused: browsers send Sec-Fetch-Site and
 * Origin on cross-site requests. Clients that send neither (curl, tests,
 * integrations) are not browsers acting for a visitor.
 */

ngx_int_t
ngx_chatvisor_same_origin(ngx_http_request_t *r)
{
    ngx_str_t         host;
    ngx_table_elt_t  *h;

    h = ngx_chatvisor_header_find(&r->headers_in.headers, "Sec-Fetch-Site",
                                  NULL, NULL);

    if (h && !ngx_chatvisor_value_is(&h->value, "same-origin")
        && !ngx_chatvisor_value_is(&h->value, "none"))
    {
        return NGX_DECLINED;
    }

    h = ngx_chatvisor_header_find(&r->headers_in.headers, "Origin", NULL,
                                  NULL);
    if (h == NULL) {
        return NGX_OK;
    }

    if (ngx_chatvisor_origin_host(&h->value, &host) != NGX_OK
        || r->headers_in.host == NULL
        || r->headers_in.host->value.len != host.len
        || ngx_strncasecmp(r->headers_in.host->value.data, host.data,
                           host.len) != 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}
