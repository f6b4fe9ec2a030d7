/*
 * What comes in with a request: the JSON body, query arguments, cookies
 * (signed with the store's secret) and where the request came from.
 */


#include "ngx_chatvisor.h"


static void ngx_chatvisor_body_read(ngx_http_request_t *r);


ngx_chatvisor_ctx_t *
ngx_chatvisor_get_ctx(ngx_http_request_t *r)
{
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_chatvisor_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_chatvisor_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ctx->request = r;
        ngx_http_set_ctx(r, ctx, ngx_chatvisor_module);
    }

    return ctx;
}


static void
ngx_chatvisor_free_json(void *data)
{
    cJSON_Delete(data);
}


/* the parsed body lives as long as the request */

static ngx_int_t
ngx_chatvisor_keep_json(ngx_http_request_t *r, cJSON *json)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_chatvisor_free_json;
    cln->data = json;

    return NGX_OK;
}


/*
 * Reads a JSON object body (at most NGX_CHATVISOR_BODY_MAX bytes, content
 * type application/json) and hands it to handler, which answers the request.
 */

static ngx_uint_t
ngx_chatvisor_type_is(ngx_str_t *ct, const char *type)
{
    size_t  len = ngx_strlen(type);

    return ct && ct->len >= len
           && ngx_strncasecmp(ct->data, (u_char *) type, len) == 0
           && (ct->len == len || ct->data[len] == ';' || ct->data[len] == ' ');
}


ngx_int_t
ngx_chatvisor_read_json(ngx_http_request_t *r, ngx_chatvisor_body_pt handler)
{
    ngx_int_t             rc;
    ngx_str_t            *ct;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ct = r->headers_in.content_type ? &r->headers_in.content_type->value
                                    : NULL;

    /* no body at all (POST .../close) reads as {} */
    if (ct == NULL && r->headers_in.content_length_n <= 0
        && r->headers_in.chunked == 0)
    {
        ctx->body_handler = handler;

        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->body = cJSON_CreateObject();
        if (ctx->body == NULL
            || ngx_chatvisor_keep_json(r, ctx->body) != NGX_OK)
        {
            cJSON_Delete(ctx->body);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return handler(r, ctx->body);
    }

    if (!ngx_chatvisor_type_is(ct, "application/json")
        && !(ctx->body_form_ok
             && ngx_chatvisor_type_is(ct,
                                      "application/x-www-form-urlencoded")))
    {
        return ngx_chatvisor_send_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                        "unsupported_media_type",
                                        "the body must be application/json");
    }

    if (r->headers_in.content_length_n > NGX_CHATVISOR_BODY_MAX) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                        "too_large",
                                        "the body is larger than 64 KB");
    }

    ctx->body_handler = handler;

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_chatvisor_body_read);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* a "\u0000" escape (not an escaped backslash followed by "u0000") */

static ngx_uint_t
ngx_chatvisor_has_nul_escape(u_char *start, u_char *end)
{
    u_char  *p, *q;

    for (p = start; p + 6 <= end; p++) {
        if (p[0] != '\\' || p[1] != 'u' || p[2] != '0' || p[3] != '0'
            || p[4] != '0' || p[5] != '0')
        {
            continue;
        }

        /* an odd run of backslashes ending here makes it an escape */
        for (q = p; q > start && q[-1] == '\\'; q--) {
            /* void */
        }

        if (((p - q) & 1) == 0) {
            return 1;
        }
    }

    return 0;
}


/* a=1&b=x+y into {"a": "1", "b": "x y"} (OAuth2 token requests) */

static cJSON *
ngx_chatvisor_parse_form(u_char *p, u_char *end)
{
    u_char  *amp, *eq, *dst, *src, *name, *value;
    cJSON   *obj;

    obj = cJSON_CreateObject();

    while (p < end) {
        amp = ngx_strlchr(p, end, '&');
        if (amp == NULL) {
            amp = end;
        }

        eq = ngx_strlchr(p, amp, '=');

        if (eq && eq > p) {
            name = p;
            value = eq + 1;
            *eq = '\0';

            for (src = value; src < amp; src++) {
                if (*src == '+') {
                    *src = ' ';
                }
            }

            /* unescaping only shortens: in place is safe */
            src = name;
            dst = name;
            ngx_unescape_uri(&dst, &src, eq - name, 0);
            *dst = '\0';

            src = value;
            dst = value;
            ngx_unescape_uri(&dst, &src, amp - value, 0);
            *dst = '\0';

            if (cJSON_GetObjectItemCaseSensitive(obj, (char *) name))
            {
                cJSON_Delete(obj);
                return NULL;     /* a repeated parameter is an error */
            }

            cJSON_AddStringToObject(obj, (char *) name, (char *) value);
        }

        p = amp + 1;
    }

    return obj;
}


static void
ngx_chatvisor_body_read(ngx_http_request_t *r)
{
    const char           *rest;
    u_char               *p, *data;
    off_t                 len;
    cJSON                *json;
    ssize_t               n;
    ngx_int_t             rc;
    ngx_buf_t            *b;
    ngx_chain_t          *cl;
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_get_ctx(r);

    len = 0;
    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            len += ngx_buf_size(cl->buf);
        }
    }

    if (len > NGX_CHATVISOR_BODY_MAX) {
        rc = ngx_chatvisor_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "too_large",
                                      "the body is larger than 64 KB");
        ngx_http_finalize_request(r, rc);
        return;
    }

    data = ngx_pnalloc(r->pool, (size_t) len + 1);
    if (data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = data;

    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            b = cl->buf;

            if (b->in_file) {
                n = ngx_read_file(b->file, p, (size_t) (b->file_last
                                                         - b->file_pos),
                                  b->file_pos);
                if (n != b->file_last - b->file_pos) {
                    ngx_http_finalize_request(r,
                                            NGX_HTTP_INTERNAL_SERVER_ERROR);
                    return;
                }

                p += n;

            } else {
                p = ngx_cpymem(p, b->pos, b->last - b->pos);
            }
        }
    }

    if (ngx_chatvisor_has_nul_escape(data, p)
        || ngx_strlchr(data, p, '\0') != NULL)
    {
        /* cJSON would cut the string there: refuse rather than truncate */
        rc = ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                      "invalid_request",
                                      "strings must not contain U+0000");
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (ctx->body_form_ok && r->headers_in.content_type
        && ngx_chatvisor_type_is(&r->headers_in.content_type->value,
                                 "application/x-www-form-urlencoded"))
    {
        json = ngx_chatvisor_parse_form(data, p);

    } else {
        json = cJSON_ParseWithLengthOpts((char *) data, p - data, &rest, 0);

        /* one JSON value and nothing after it but blanks */
        while (json && rest < (char *) p
               && (*rest == ' ' || *rest == '\t' || *rest == '\r'
                   || *rest == '\n'))
        {
            rest++;
        }

        if (json && rest != (char *) p) {
            cJSON_Delete(json);
            json = NULL;
        }
    }

    if (json == NULL
        || !(cJSON_IsObject(json)
             || (ctx->body_array_ok && cJSON_IsArray(json))))
    {
        cJSON_Delete(json);
        rc = ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST, "invalid_json",
                                      "the body is not a JSON object");
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (ngx_chatvisor_keep_json(r, json) != NGX_OK) {
        cJSON_Delete(json);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->body = json;

    ngx_http_finalize_request(r, ctx->body_handler(r, json));
}


/* Unknown fields are an error, so that a typo never passes silently. */

ngx_int_t
ngx_chatvisor_check_fields(ngx_http_request_t *r, cJSON *body,
    const char **allowed)
{
    u_char        msg[160];
    cJSON        *item;
    const char  **a;

    cJSON_ArrayForEach(item, body) {
        for (a = allowed; *a; a++) {
            if (ngx_strcmp(item->string, *a) == 0) {
                break;
            }
        }

        if (*a == NULL) {
            ngx_snprintf(msg, sizeof(msg) - 1, "unknown field \"%*s\"%Z",
                         ngx_min(ngx_strlen(item->string), 64),
                         item->string);
            return ngx_chatvisor_fail(r, NGX_HTTP_BAD_REQUEST,
                                      "invalid_request", (char *) msg);
        }
    }

    return NGX_OK;
}


static ngx_table_elt_t *
ngx_chatvisor_find_header(ngx_http_request_t *r, const char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    part = &r->headers_in.headers.part;
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

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


/*
 * Writes from another site are refused: browsers send Sec-Fetch-Site and
 * Origin on cross-site requests. Clients that send neither (curl, tests,
 * integrations) are not browsers acting for a visitor.
 */

ngx_int_t
ngx_chatvisor_same_origin(ngx_http_request_t *r)
{
    u_char           *p;
    size_t            len;
    ngx_table_elt_t  *h;

    h = ngx_chatvisor_find_header(r, "Sec-Fetch-Site");

    if (h && !(h->value.len == sizeof("same-origin") - 1
               && ngx_strncasecmp(h->value.data, (u_char *) "same-origin",
                                  h->value.len) == 0)
          && !(h->value.len == sizeof("none") - 1
               && ngx_strncasecmp(h->value.data, (u_char *) "none",
                                  h->value.len) == 0))
    {
        return NGX_DECLINED;
    }

    h = ngx_chatvisor_find_header(r, "Origin");
    if (h == NULL) {
        return NGX_OK;
    }

    p = h->value.data;
    len = h->value.len;

    if (len > sizeof("https://") - 1
        && ngx_strncasecmp(p, (u_char *) "https://", sizeof("https://") - 1)
           == 0)
    {
        p += sizeof("https://") - 1;
        len -= sizeof("https://") - 1;

    } else if (len > sizeof("http://") - 1
               && ngx_strncasecmp(p, (u_char *) "http://",
                                  sizeof("http://") - 1) == 0)
    {
        p += sizeof("http://") - 1;
        len -= sizeof("http://") - 1;

    } else {
        return NGX_DECLINED;
    }

    if (r->headers_in.host == NULL
        || r->headers_in.host->value.len != len
        || ngx_strncasecmp(r->headers_in.host->value.data, p, len) != 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_get_cookie(ngx_http_request_t *r, const char *name,
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
ngx_chatvisor_set_cookie(ngx_http_request_t *r, const char *name,
    ngx_str_t *value, ngx_str_t *path, time_t max_age, ngx_uint_t strict)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   secure;

#if (NGX_HTTP_SSL)
    secure = (r->connection->ssl != NULL);
#else
    secure = 0;
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

    return ngx_chatvisor_add_header(r, "Set-Cookie", p, len) ? NGX_OK
                                                             : NGX_ERROR;
}


/* base64url(HMAC-SHA256(store secret, purpose ":" data)) */

/*
 * Signatures already computed, per worker: the same cookies and CSRF
 * tokens come back on every request, and an HMAC costs more than the rest
 * of their check. The secret only changes with a new worker (reload).
 */

#define NGX_CHATVISOR_SIGN_SLOTS  1024
#define NGX_CHATVISOR_SIGN_KEY    176

typedef struct {
    size_t  len;                              /* 0: empty */
    size_t  sig_len;
    u_char  key[NGX_CHATVISOR_SIGN_KEY];      /* purpose ":" data */
    u_char  sig[44];
} ngx_chatvisor_sign_memo_t;


static ngx_chatvisor_sign_memo_t  *ngx_chatvisor_sign_memo;


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
    out->data = ngx_pnalloc(r->pool, 48);
    if (msg == NULL || out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(msg, purpose, plen);
    msg[plen] = ':';
    ngx_memcpy(msg + plen + 1, data, len);

    m = NULL;

    if (mlen <= NGX_CHATVISOR_SIGN_KEY) {
        if (ngx_chatvisor_sign_memo == NULL) {
            ngx_chatvisor_sign_memo = ngx_calloc(NGX_CHATVISOR_SIGN_SLOTS
                                           * sizeof(ngx_chatvisor_sign_memo_t),
                                           r->connection->log);
        }

        if (ngx_chatvisor_sign_memo) {
            m = &ngx_chatvisor_sign_memo[ngx_murmur_hash2(msg, mlen)
                                         % NGX_CHATVISOR_SIGN_SLOTS];

            if (m->len == mlen && ngx_memcmp(m->key, msg, mlen) == 0) {
                out->len = m->sig_len;
                ngx_memcpy(out->data, m->sig, m->sig_len);
                out->data[out->len] = '\0';    /* as cv_base64url leaves it */
                return NGX_OK;
            }
        }
    }

    cv_hmac_sha256(cmcf->secret, sizeof(cmcf->secret), msg, mlen, mac);
    out->len = cv_base64url(mac, sizeof(mac), (char *) out->data);

    if (m) {
        m->len = mlen;
        m->sig_len = out->len;
        ngx_memcpy(m->key, msg, mlen);
        ngx_memcpy(m->sig, out->data, out->len);
    }

    return NGX_OK;
}


/* a whole number 0 .. 2^53 (what JSON clients can hold exactly) */

ngx_int_t
ngx_chatvisor_parse_u64(ngx_str_t *s, uint64_t *v)
{
    size_t    i;
    uint64_t  n;

    if (s->len == 0 || s->len > 16) {
        return NGX_ERROR;
    }

    n = 0;
    for (i = 0; i < s->len; i++) {
        if (s->data[i] < '0' || s->data[i] > '9') {
            return NGX_ERROR;
        }

        n = n * 10 + (s->data[i] - '0');
    }

    if (n > ((uint64_t) 1 << 53)) {
        return NGX_ERROR;
    }

    *v = n;
    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_arg(ngx_http_request_t *r, const char *name, ngx_str_t *value)
{
    return ngx_http_arg(r, (u_char *) name, ngx_strlen(name), value);
}


/*
 * A cursor argument (after=, since=, cursor=): 0 when absent; a bad one is
 * answered with 400 and NGX_DECLINED (then return ngx_chatvisor_sent()).
 */

ngx_int_t
ngx_chatvisor_arg_cursor(ngx_http_request_t *r, const char *name,
    uint64_t *value)
{
    u_char     msg[96];
    ngx_str_t  v;

    *value = 0;

    if (ngx_chatvisor_arg(r, name, &v) != NGX_OK) {
        return NGX_OK;
    }

    if (ngx_chatvisor_parse_u64(&v, value) != NGX_OK) {
        ngx_snprintf(msg, sizeof(msg) - 1, "\"%s\" must be a whole number "
                     "from 0 to 2^53%Z", name);
        return ngx_chatvisor_fail(r, NGX_HTTP_BAD_REQUEST, "invalid_request",
                                  (char *) msg);
    }

    return NGX_OK;
}


/* one record read in a transaction of its own */

cv_status
ngx_chatvisor_read_record(ngx_http_request_t *r, ngx_chatvisor_get_pt get,
    const char *id, cJSON **out)
{
    cv_txn                     *t;
    cv_status                   st;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    st = cv_txn_begin(cmcf->store, 0, &t);
    if (st != CV_OK) {
        return st;
    }

    st = get(t, id, out);
    cv_txn_abort(t);

    return st;
}


/* a path segment or argument equal to a literal */

ngx_uint_t
ngx_chatvisor_str_is(ngx_str_t *s, const char *lit)
{
    size_t  len = ngx_strlen(lit);

    return s->len == len && ngx_strncmp(s->data, lit, len) == 0;
}
