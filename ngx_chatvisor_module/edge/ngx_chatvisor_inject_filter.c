/*
 * The injection filter: puts the widget <script> right before the first
 * "</head>" of an HTML response, failing that before the first "</body>".
 * It streams: buffers without a match are passed on as they are; only the
 * few bytes of a tag split across buffers are held back, and, on a page
 * whose "</body>" comes before any "</head>", what follows "</body>" (up to
 * 64 KB) until it is clear whether a "</head>" comes after all.
 *
 * A response of known length keeps it: the header waits for the first body
 * buffer, and when a tag is found there (so the tag will surely go in) it
 * goes out with the length plus the tag's, unchunked; otherwise it goes out
 * without Content-Length, chunked, as a filter that changes the length does.
 *
 * A gzip-compressed page is decoded on the way (ngx_chatvisor_inject_gunzip.c)
 * and goes on as text, for nginx's gzip filter to compress again if it is
 * on; a page in another encoding goes out untouched.
 */


#include "ngx_chatvisor_edge.h"
#include "cv_html_match.h"


/* the matcher is the engine's (cv_html_match.c, fuzzed) */
#define NGX_CHATVISOR_MATCH_LEN  CV_HTML_MATCH_LEN

/* the most kept after an early "</body>" while looking for "</head>" */
#define NGX_CHATVISOR_TAIL_MAX   65536

/* what is kept after it at first (it grows by doubling) */
#define NGX_CHATVISOR_TAIL_START  1024

/* the tag's attributes that depend on the moment of the page */
#define NGX_CHATVISOR_TAG_ONLINE    " data-online=\"1\""
#define NGX_CHATVISOR_TAG_IDENTIFY  " data-identify=\"1\""

typedef struct {
    cv_html_match            match;     /* bytes of a tag matched so far */
    u_char                   held[NGX_CHATVISOR_MATCH_LEN];
    ngx_uint_t               held_len;  /* matched bytes from earlier
                                           buffers */
    ngx_str_t                nonce;
    ngx_str_t                tag;       /* the whole tag, once built */
    ngx_buf_t               *tail;      /* "</body>" and what followed it */
    size_t                   tail_scanned;
    ngx_chain_t             *free;
    ngx_chain_t             *busy;
    ngx_chain_t            **last_busy;
    ngx_chatvisor_gunzip_t  *gz;        /* a gzip page's decoder */
    unsigned                 done:1;
    unsigned                 hold:1;    /* the header waits for the body */
    unsigned                 identify:1;  /* the widget identifies the
                                             visitor */
    unsigned                 online:1;  /* an agent was online at the page */
} ngx_chatvisor_inject_ctx_t;


static ngx_int_t ngx_chatvisor_inject_init(ngx_conf_t *cf);
static ngx_int_t ngx_chatvisor_inject_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_chatvisor_inject_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_chatvisor_inject_tag_str(ngx_http_request_t *r,
    ngx_chatvisor_inject_ctx_t *ctx);
static ngx_int_t ngx_chatvisor_inject_text(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_module_t  ngx_chatvisor_inject_filter_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_chatvisor_inject_init,             /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_chatvisor_inject_filter_module = {
    NGX_MODULE_V1,
    &ngx_chatvisor_inject_filter_module_ctx, /* module context */
    NULL,                                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;

/* a page in an encoding we cannot decode was seen (said once per worker) */
static ngx_uint_t  ngx_chatvisor_inject_encoding_logged;


static ngx_int_t
ngx_chatvisor_inject_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_chatvisor_inject_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_chatvisor_inject_body_filter;

    return NGX_OK;
}


/*
 * Finds 'nonce-VALUE' in the script-src directive of a
 * Content-Security-Policy (default-src when there is no script-src), so the
 * injected tag works on pages with a strict policy.
 */

static ngx_int_t
ngx_chatvisor_csp_nonce(ngx_str_t *csp, ngx_str_t *nonce)
{
    u_char      *p, *end, *dir, *dir_end, *tok;
    ngx_str_t    found[2];    /* 0: script-src, 1: default-src */
    ngx_uint_t   i, which;

    ngx_memzero(found, sizeof(found));

    p = csp->data;
    end = csp->data + csp->len;

    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ';')) {
            p++;
        }

        dir = p;
        while (p < end && *p != ' ' && *p != '\t' && *p != ';') {
            p++;
        }
        dir_end = p;

        if ((size_t) (dir_end - dir) == sizeof("script-src") - 1
            && ngx_strncasecmp(dir, (u_char *) "script-src",
                               sizeof("script-src") - 1) == 0)
        {
            which = 0;

        } else if ((size_t) (dir_end - dir) == sizeof("default-src") - 1
                   && ngx_strncasecmp(dir, (u_char *) "default-src",
                                      sizeof("default-src") - 1) == 0)
        {
            which = 1;

        } else {
            while (p < end && *p != ';') {
                p++;
            }
            continue;
        }

        /* the first occurrence of a directive is the one that counts */
        while (p < end && *p != ';') {
            while (p < end && (*p == ' ' || *p == '\t')) {
                p++;
            }

            tok = p;
            while (p < end && *p != ' ' && *p != '\t' && *p != ';') {
                p++;
            }

            if (found[which].data == NULL
                && p - tok > (ssize_t) sizeof("'nonce-'") - 1
                && ngx_strncasecmp(tok, (u_char *) "'nonce-",
                                   sizeof("'nonce-") - 1) == 0
                && p[-1] == '\'')
            {
                found[which].data = tok + sizeof("'nonce-") - 1;
                found[which].len = p - 1 - found[which].data;
            }
        }

        if (which == 0 && found[0].data == NULL) {
            /* script-src without a nonce: default-src does not apply */
            return NGX_DECLINED;
        }
    }

    for (i = 0; i < 2; i++) {
        if (found[i].data == NULL) {
            continue;
        }

        /* base64 or base64url only: it goes into an HTML attribute */
        for (p = found[i].data; p < found[i].data + found[i].len; p++) {
            if (!(isalnum(*p) || *p == '+' || *p == '/' || *p == '='
                  || *p == '-' || *p == '_'))
            {
                return NGX_DECLINED;
            }
        }

        *nonce = found[i];
        return NGX_OK;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_chatvisor_csp_header_nonce(ngx_table_elt_t *h, void *data)
{
    return ngx_chatvisor_csp_nonce(&h->value, data);
}


/* 1: the Content-Encoding is gzip (x-gzip is the same, RFC 9110 8.4.1.3) */

static ngx_uint_t
ngx_chatvisor_encoding_is_gzip(ngx_str_t *enc)
{
    return (enc->len == sizeof("gzip") - 1
            && ngx_strncasecmp(enc->data, (u_char *) "gzip", enc->len) == 0)
           || (enc->len == sizeof("x-gzip") - 1
               && ngx_strncasecmp(enc->data, (u_char *) "x-gzip", enc->len)
                  == 0);
}


static ngx_int_t
ngx_chatvisor_inject_header_filter(ngx_http_request_t *r)
{
    ngx_str_t                   *enc;
    ngx_uint_t                   gzip, identify;
    ngx_chatvisor_loc_conf_t    *clcf;
    ngx_chatvisor_main_conf_t   *cmcf;
    ngx_chatvisor_inject_ctx_t  *ctx;

    clcf = ngx_http_get_module_loc_conf(r, ngx_chatvisor_module);

    /* chatvisor's own location (console, join page) is never a site's
     * page, even when the server says "chatvisor_inject on" */
    if (!clcf->inject
        || clcf->enable
        || r != r->main
        || r->headers_out.status != NGX_HTTP_OK
        || r->header_only
        || r->headers_in.range != NULL
        || r->headers_out.content_length_n == 0
        || !ngx_chatvisor_content_type_is(&r->headers_out.content_type,
                                          "text/html"))
    {
        return ngx_http_next_header_filter(r);
    }

    enc = NULL;
    gzip = 0;

    if (r->headers_out.content_encoding
        && r->headers_out.content_encoding->value.len)
    {
        enc = &r->headers_out.content_encoding->value;
        gzip = ngx_chatvisor_encoding_is_gzip(enc);
    }

    if (r->method & NGX_HTTP_HEAD) {
        /* a GET of the page may be longer by a tag, and a HEAD must not
         * say another length than a GET (RFC 9110, 8.6): it says none */
        if (enc == NULL || gzip) {
            ngx_http_clear_content_length(r);
        }

        return ngx_http_next_header_filter(r);
    }

    if (ngx_chatvisor_count_visit(r) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!ngx_chatvisor_visible(r)) {
        /* hidden at the edge: the page goes out as it came */
        return ngx_http_next_header_filter(r);
    }

    if (enc && !gzip) {
        if (!ngx_chatvisor_inject_encoding_logged) {
            ngx_chatvisor_inject_encoding_logged = 1;
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "chatvisor_inject: a page in Content-Encoding "
                          "\"%V\" goes out without the widget, only gzip is "
                          "decoded (said once per worker)", enc);
        }

        return ngx_http_next_header_filter(r);
    }

    if (ngx_chatvisor_page_identify(r, &identify) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_chatvisor_inject_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    ctx->identify = identify;
    ctx->online = cmcf->shm && ngx_chatvisor_presence_any(cmcf, 0);

    (void) ngx_chatvisor_header_find(&r->headers_out.headers,
                                     "Content-Security-Policy",
                                     ngx_chatvisor_csp_header_nonce,
                                     &ctx->nonce);

    ngx_http_set_ctx(r, ctx, ngx_chatvisor_inject_filter_module);

    /* SPEC 3: nothing else of the response changes (ETag included) */
    ngx_http_clear_accept_ranges(r);

    /* file buffers are read into memory by the copy filter */
    r->filter_need_in_memory = 1;

    if (gzip) {
        /* sent with the first body buffer, which says whether it is gzip */
        ctx->gz = ngx_chatvisor_gunzip_create(r);
        if (ctx->gz == NULL) {
            return NGX_ERROR;
        }

        ctx->hold = 1;
        return NGX_OK;
    }

    if (r->headers_out.content_length_n > 0) {
        /* sent with the first body buffer (as the image filter does) */
        ctx->hold = 1;
        return NGX_OK;
    }

    ngx_http_clear_content_length(r);

    return ngx_http_next_header_filter(r);
}


/*
 * The header held for the first body buffer goes out: with the length plus
 * the tag's when a tag was found (the tag goes in, before "</head>" or,
 * failing that, before the "</body>" already seen), with the length as it
 * was when the whole body came without a tag, and without it (chunked)
 * when the tag may still come or not.
 */

static ngx_int_t
ngx_chatvisor_inject_send_header(ngx_http_request_t *r,
    ngx_chatvisor_inject_ctx_t *ctx, ngx_uint_t whole)
{
    ngx_int_t  rc;

    ctx->hold = 0;

    if (ctx->done || ctx->tail) {
        if (ngx_chatvisor_inject_tag_str(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }

        if (r->headers_out.content_length) {
            r->headers_out.content_length->hash = 0;
            r->headers_out.content_length = NULL;
        }

        r->headers_out.content_length_n += ctx->tag.len;

    } else if (!whole) {
        ngx_http_clear_content_length(r);
    }

    rc = ngx_http_next_header_filter(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The held header of a gzip page goes out: as text of unknown length when
 * its first bytes are gzip's; as it came, with the page untouched, when
 * they are not (a page that only says it is gzip is not broken further).
 */

static ngx_int_t
ngx_chatvisor_inject_gunzip_header(ngx_http_request_t *r,
    ngx_chatvisor_inject_ctx_t *ctx, ngx_chain_t *in)
{
    ngx_int_t  rc;

    ctx->hold = 0;

    if (ngx_chatvisor_gunzip_looks_gzip(in)) {
        r->headers_out.content_encoding->hash = 0;
        r->headers_out.content_encoding = NULL;

        ngx_http_clear_content_length(r);

        /* the same bytes are no longer sent: as nginx's gunzip does */
        ngx_http_weak_etag(r);

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "chatvisor_inject: a page says Content-Encoding: gzip "
                      "but is not gzip, it goes out as it came");
        ctx->gz = NULL;
        ctx->done = 1;
    }

    rc = ngx_http_next_header_filter(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* 1: the chain carries body bytes or the body's end */

static ngx_uint_t
ngx_chatvisor_inject_has_body(ngx_chain_t *in)
{
    for ( /* void */ ; in; in = in->next) {
        if (ngx_buf_size(in->buf) || in->buf->last_buf) {
            return 1;
        }
    }

    return 0;
}


/* appends a new buffer of ours to the output chain */

static ngx_buf_t *
ngx_chatvisor_inject_out(ngx_http_request_t *r, ngx_chatvisor_inject_ctx_t *ctx,
    ngx_chain_t ***last)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    cl = ngx_chain_get_free_buf(r->pool, &ctx->free);
    if (cl == NULL) {
        return NULL;
    }

    b = cl->buf;
    ngx_memzero(b, sizeof(ngx_buf_t));
    b->tag = (ngx_buf_tag_t) &ngx_chatvisor_inject_filter_module;

    **last = cl;
    *last = &cl->next;

    return b;
}


/* a slice of an upstream buffer, without copying */

static ngx_buf_t *
ngx_chatvisor_inject_slice(ngx_http_request_t *r,
    ngx_chatvisor_inject_ctx_t *ctx, ngx_chain_t ***last, ngx_buf_t *from,
    u_char *pos, u_char *end)
{
    ngx_buf_t  *b;

    b = ngx_chatvisor_inject_out(r, ctx, last);
    if (b == NULL) {
        return NULL;
    }

    b->pos = pos;
    b->last = end;
    b->start = pos;
    b->end = end;
    b->temporary = from->temporary;
    b->memory = from->memory;
    b->mmap = from->mmap;

    return b;
}


static ngx_int_t
ngx_chatvisor_inject_held(ngx_http_request_t *r,
    ngx_chatvisor_inject_ctx_t *ctx, ngx_chain_t ***last)
{
    ngx_buf_t  *b;

    b = ngx_chatvisor_inject_out(r, ctx, last);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->start = ngx_pnalloc(r->pool, ctx->held_len);
    if (b->start == NULL) {
        return NGX_ERROR;
    }

    b->pos = b->start;
    b->last = ngx_cpymem(b->pos, ctx->held, ctx->held_len);
    b->end = b->last;
    b->temporary = 1;

    ctx->held_len = 0;

    return NGX_OK;
}


/* an empty buffer that carries the flags of a consumed one downstream */

static ngx_int_t
ngx_chatvisor_inject_flags(ngx_http_request_t *r,
    ngx_chatvisor_inject_ctx_t *ctx, ngx_chain_t ***last, ngx_buf_t *from)
{
    ngx_buf_t  *b;

    if (!from->last_buf && !from->last_in_chain && !from->flush
        && !from->sync)
    {
        return NGX_OK;
    }

    b = ngx_chatvisor_inject_out(r, ctx, last);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last_buf = from->last_buf;
    b->last_in_chain = from->last_in_chain;
    b->flush = from->flush;
    b->sync = from->sync;

    return NGX_OK;
}


/* the whole tag of this page, built once */

static ngx_int_t
ngx_chatvisor_inject_tag_str(ngx_http_request_t *r,
    ngx_chatvisor_inject_ctx_t *ctx)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   tag;

    if (ctx->tag.data) {
        return NGX_OK;
    }

    if (ngx_chatvisor_widget_tag(r, &tag) != NGX_OK) {
        return NGX_ERROR;
    }

    len = tag.len + sizeof(" nonce=\"\"></script>") - 1 + ctx->nonce.len
          + sizeof(NGX_CHATVISOR_TAG_ONLINE NGX_CHATVISOR_TAG_IDENTIFY) - 1;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->tag.data = p;

    p = ngx_cpymem(p, tag.data, tag.len);

    /* what the page API tells synchronously (isAgentOnline), and that
     * the widget identifies the visitor first (chatvisor_identify) */
    if (ctx->online) {
        p = ngx_cpymem(p, NGX_CHATVISOR_TAG_ONLINE,
                       sizeof(NGX_CHATVISOR_TAG_ONLINE) - 1);
    }

    if (ctx->identify) {
        p = ngx_cpymem(p, NGX_CHATVISOR_TAG_IDENTIFY,
                       sizeof(NGX_CHATVISOR_TAG_IDENTIFY) - 1);
    }

    if (ctx->nonce.len) {
        p = ngx_sprintf(p, " nonce=\"%V\"", &ctx->nonce);
    }

    p = ngx_cpymem(p, "></script>", sizeof("></script>") - 1);

    ctx->tag.len = p - ctx->tag.data;

    return NGX_OK;
}


static ngx_int_t
ngx_chatvisor_inject_tag(ngx_http_request_t *r,
    ngx_chatvisor_inject_ctx_t *ctx, ngx_chain_t ***last)
{
    ngx_buf_t  *b;

    if (ngx_chatvisor_inject_tag_str(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    b = ngx_chatvisor_inject_out(r, ctx, last);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->start = ctx->tag.data;
    b->pos = b->start;
    b->last = b->start + ctx->tag.len;
    b->end = b->last;
    b->memory = 1;

    ctx->done = 1;

    return NGX_OK;
}


/* keeps bytes after an early "</body>" in our own memory */

static ngx_int_t
ngx_chatvisor_inject_keep(ngx_http_request_t *r,
    ngx_chatvisor_inject_ctx_t *ctx, u_char *data, size_t len)
{
    size_t      size;
    ngx_buf_t  *t;

    t = ctx->tail;

    if ((size_t) (t->end - t->last) < len) {
        size = ngx_max((size_t) (t->end - t->start) * 2,
                       (size_t) (t->last - t->start) + len);

        t = ngx_create_temp_buf(r->pool, size);
        if (t == NULL) {
            return NGX_ERROR;
        }

        t->last = ngx_cpymem(t->last, ctx->tail->pos,
                             ctx->tail->last - ctx->tail->pos);
        ctx->tail = t;
    }

    t->last = ngx_cpymem(t->last, data, len);

    return NGX_OK;
}


/*
 * Looks for "</head>" in what was kept after "</body>"; injects there when
 * found, or before the "</body>" when the input ends (end) or too much was
 * kept.
 */

static ngx_int_t
ngx_chatvisor_inject_tail(ngx_http_request_t *r,
    ngx_chatvisor_inject_ctx_t *ctx, ngx_chain_t ***last, ngx_uint_t end)
{
    u_char     *p, *at;
    ngx_buf_t  *t, *b;

    t = ctx->tail;
    at = NULL;

    /* after "</body>": only "</head>" */
    p = (u_char *) cv_html_match_scan(&ctx->match,
                                      (char *) t->pos + ctx->tail_scanned,
                                      (char *) t->last, 1);
    if (p) {
        at = p - NGX_CHATVISOR_MATCH_LEN;

    } else {
        p = t->last;
    }

    ctx->tail_scanned = p - t->pos;

    if (at == NULL) {
        if (!end && (size_t) (t->last - t->pos) < NGX_CHATVISOR_TAIL_MAX) {
            return NGX_OK;
        }

        at = t->pos;
    }

    if (at > t->pos) {
        b = ngx_chatvisor_inject_out(r, ctx, last);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->start = t->pos;
        b->pos = t->pos;
        b->last = at;
        b->end = at;
        b->temporary = 1;
    }

    if (ngx_chatvisor_inject_tag(r, ctx, last) != NGX_OK) {
        return NGX_ERROR;
    }

    b = ngx_chatvisor_inject_out(r, ctx, last);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->start = at;
    b->pos = at;
    b->last = t->last;
    b->end = t->last;
    b->temporary = 1;

    ctx->tail = NULL;

    return NGX_OK;
}


static ngx_int_t
ngx_chatvisor_inject_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chatvisor_inject_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_chatvisor_inject_filter_module);

    if (ctx == NULL || ctx->gz == NULL) {
        return ngx_chatvisor_inject_text(r, in);
    }

    if (ctx->hold) {
        if (!ngx_chatvisor_inject_has_body(in)) {
            return NGX_OK;
        }

        if (ngx_chatvisor_inject_gunzip_header(r, ctx, in) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ctx->gz == NULL) {
            return ngx_chatvisor_inject_text(r, in);
        }
    }

    return ngx_chatvisor_gunzip_filter(r, ctx->gz, in,
                                       ngx_chatvisor_inject_text);
}


/* the injector proper, over the page's text */

static ngx_int_t
ngx_chatvisor_inject_text(ngx_http_request_t *r, ngx_chain_t *in)
{
    u_char                      *p, *copy, *start;
    size_t                       n;
    ngx_buf_t                   *b, *sb;
    ngx_int_t                    rc;
    off_t                        seen;
    ngx_uint_t                   end, whole;
    ngx_chain_t                 *cl, *out, **last;
    ngx_chatvisor_inject_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_chatvisor_inject_filter_module);

    if (ctx == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    if (ctx->hold && !ngx_chatvisor_inject_has_body(in)) {
        /* nothing to send before the header */
        return NGX_OK;
    }

    if (ctx->done && ctx->busy == NULL && !ctx->hold) {
        return ngx_http_next_body_filter(r, in);
    }

    out = NULL;
    last = &out;
    whole = 0;
    seen = 0;

    for ( /* void */ ; in; in = in->next) {
        b = in->buf;
        end = b->last_buf || b->last_in_chain;
        whole |= b->last_buf;

        if (ngx_buf_in_memory(b)) {
            seen += b->last - b->pos;
        }

        if (ctx->done) {
            goto pass;
        }

        if (ctx->tail) {
            /* after an early "</body>": keep everything, look for </head> */
            if (ngx_buf_in_memory(b)) {
                if (ngx_chatvisor_inject_keep(r, ctx, b->pos, b->last - b->pos)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                b->pos = b->last;
            }

            if (ngx_chatvisor_inject_tail(r, ctx, &last, end) != NGX_OK
                || ngx_chatvisor_inject_flags(r, ctx, &last, b) != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        if (!ngx_buf_in_memory(b) || b->pos == b->last) {

            if (ctx->held_len && end) {
                if (ngx_chatvisor_inject_held(r, ctx, &last) != NGX_OK) {
                    return NGX_ERROR;
                }
            }

            goto pass;
        }

        copy = b->pos;

        p = (u_char *) cv_html_match_scan(&ctx->match, (char *) b->pos,
                                          (char *) b->last, 0);

        /* bytes held from earlier buffers turned out to be no tag */
        if (ctx->held_len
            && !cv_html_match_spans(&ctx->match,
                                    (p ? p : b->last) - b->pos,
                                    ctx->held_len))
        {
            if (ngx_chatvisor_inject_held(r, ctx, &last) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        if (p) {
            /* the tag ends before p; it starts in this buffer or in held */
            start = p - NGX_CHATVISOR_MATCH_LEN + ctx->held_len;
            ctx->match.state = 0;

            sb = NULL;

            if (start > copy) {
                sb = ngx_chatvisor_inject_slice(r, ctx, &last, b, copy,
                                                start);
                if (sb == NULL) {
                    return NGX_ERROR;
                }
            }

            if (ctx->match.which == 'b') {
                /* "</body>" first: keep it and the rest for a while */
                ctx->tail = ngx_create_temp_buf(r->pool,
                                                NGX_CHATVISOR_TAIL_START);
                if (ctx->tail == NULL
                    || ngx_chatvisor_inject_keep(r, ctx, ctx->held,
                                                 ctx->held_len)
                       != NGX_OK
                    || ngx_chatvisor_inject_keep(r, ctx, start,
                                                 b->last - start)
                       != NGX_OK)
                {
                    return NGX_ERROR;
                }

                ctx->held_len = 0;
                ctx->tail_scanned = NGX_CHATVISOR_MATCH_LEN;

                if (sb) {
                    sb->shadow = b;
                    sb->recycled = b->recycled;

                } else {
                    b->pos = b->last;
                }

                if (ngx_chatvisor_inject_tail(r, ctx, &last, end) != NGX_OK
                    || ngx_chatvisor_inject_flags(r, ctx, &last, b)
                       != NGX_OK)
                {
                    return NGX_ERROR;
                }

                continue;
            }

            if (ngx_chatvisor_inject_tag(r, ctx, &last) != NGX_OK) {
                return NGX_ERROR;
            }

            if (ctx->held_len
                && ngx_chatvisor_inject_held(r, ctx, &last) != NGX_OK)
            {
                return NGX_ERROR;
            }

            copy = start;
            goto rest;
        }

        /* no tag ends here: hold back a partial one, unless input ends */
        n = ctx->match.state - ctx->held_len;

        if (n && !end) {
            ngx_memcpy(ctx->held + ctx->held_len, b->last - n, n);
            ctx->held_len = ctx->match.state;

            if (b->last - n == copy) {
                /* all of it is held: the buffer is consumed right here */
                b->pos = b->last;

                if (ngx_chatvisor_inject_flags(r, ctx, &last, b) != NGX_OK) {
                    return NGX_ERROR;
                }

                continue;
            }

            sb = ngx_chatvisor_inject_slice(r, ctx, &last, b, copy,
                                            b->last - n);
            if (sb == NULL) {
                return NGX_ERROR;
            }

            sb->shadow = b;
            sb->recycled = b->recycled;
            sb->flush = b->flush;
            sb->sync = b->sync;
            continue;
        }

        if (ctx->held_len
            && ngx_chatvisor_inject_held(r, ctx, &last) != NGX_OK)
        {
            return NGX_ERROR;
        }

        ctx->match.state = 0;

    rest:

        if (copy == b->pos) {
            goto pass;
        }

        sb = ngx_chatvisor_inject_slice(r, ctx, &last, b, copy, b->last);
        if (sb == NULL) {
            return NGX_ERROR;
        }

        sb->shadow = b;
        sb->recycled = b->recycled;
        sb->last_buf = b->last_buf;
        sb->last_in_chain = b->last_in_chain;
        sb->flush = b->flush;
        sb->sync = b->sync;
        continue;

    pass:

        /* the buffer itself goes on, untouched and uncopied */
        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = b;
        *last = cl;
        last = &cl->next;
    }

    *last = NULL;

    /* a proxied body's end may come in a call of its own, after all of
     * its bytes */
    whole |= (seen >= r->headers_out.content_length_n);

    if (ctx->hold
        && ngx_chatvisor_inject_send_header(r, ctx, whole) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (out == NULL && ctx->busy == NULL) {
        return NGX_OK;
    }

    rc = ngx_http_next_body_filter(r, out);

    /*
     * Our slices point into upstream buffers: an upstream buffer is released
     * (its pos moved to last) only once the slice that ends it is sent.
     */

    if (out) {
        if (ctx->busy == NULL) {
            ctx->last_busy = &ctx->busy;
        }

        *ctx->last_busy = out;
        ctx->last_busy = last;
    }

    while (ctx->busy) {
        cl = ctx->busy;
        b = cl->buf;

        if (ngx_buf_size(b) != 0) {
            break;
        }

        ctx->busy = cl->next;

        if (b->tag != (ngx_buf_tag_t) &ngx_chatvisor_inject_filter_module) {
            ngx_free_chain(r->pool, cl);
            continue;
        }

        if (b->shadow) {
            b->shadow->pos = b->shadow->last;
        }

        cl->next = ctx->free;
        ctx->free = cl;
    }

    return rc;
}
