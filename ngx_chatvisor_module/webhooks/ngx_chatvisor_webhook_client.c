/*
 * The webhooks' HTTP(S) client (ngx_chatvisor_webhook_client.h).
 *
 * An attempt, every step on nginx's event loop:
 *
 *   post -(posted event)-> an idle connection of the target? --> send
 *                          else resolve the name (or take the IP literal)
 *   resolved -(posted event)-> the first address allowed --> connect
 *   connected --> https: TLS handshake (SNI), verify --> send
 *   send --> read the answer: the status line and headers (8 KB at most),
 *            then the body by Content-Length, by chunks or until close
 *   done --> the connection back to the target's idle list, or closed
 *
 * One timer covers the whole attempt. A request that fails on a reused
 * connection before any byte of the answer came (the peer closed it while
 * it was idle) is sent again, once, on a new connection. Nothing of a
 * request outlives its pool; a connection has a pool of its own, which
 * holds its ngx_chatvisor_client_conn_t and its TLS state.
 */


#include "ngx_chatvisor_webhook_client.h"
#include "cv_url.h"


#define NGX_CHATVISOR_CLIENT_POOL_SIZE     2048
#define NGX_CHATVISOR_CLIENT_VERIFY_DEPTH  10
#define NGX_CHATVISOR_CLIENT_ERROR_MAX     512

#define NGX_CHATVISOR_CLIENT_USER_AGENT    "chatvisor-webhooks/1"

/* an attempt's phases */
#define NGX_CHATVISOR_CLIENT_START         0
#define NGX_CHATVISOR_CLIENT_RESOLVING     1
#define NGX_CHATVISOR_CLIENT_CONNECTING    2
#define NGX_CHATVISOR_CLIENT_HANDSHAKE     3
#define NGX_CHATVISOR_CLIENT_SENDING       4
#define NGX_CHATVISOR_CLIENT_READING       5

/* how the answer's body ends */
#define NGX_CHATVISOR_CLIENT_BODY_NONE     0
#define NGX_CHATVISOR_CLIENT_BODY_LENGTH   1
#define NGX_CHATVISOR_CLIENT_BODY_CHUNKED  2
#define NGX_CHATVISOR_CLIENT_BODY_CLOSE    3

/* the chunked decoder's states */
#define NGX_CHATVISOR_CHUNK_SIZE           0
#define NGX_CHATVISOR_CHUNK_EXT            1
#define NGX_CHATVISOR_CHUNK_SIZE_LF        2
#define NGX_CHATVISOR_CHUNK_DATA           3
#define NGX_CHATVISOR_CHUNK_DATA_CR        4
#define NGX_CHATVISOR_CHUNK_DATA_LF        5
#define NGX_CHATVISOR_CHUNK_TRAILER        6
#define NGX_CHATVISOR_CHUNK_TRAILER_LINE   7
#define NGX_CHATVISOR_CHUNK_LAST_LF        8

/* reads of one event, then the others' turn (a large body comes fast) */
#define NGX_CHATVISOR_CLIENT_READS         16

/* a chunk's size is at most 2^40 - 1 */
#define NGX_CHATVISOR_CHUNK_DIGITS_MAX     10


typedef struct {
    ngx_queue_t                       queue;     /* in the client's idle */
    ngx_connection_t                 *connection;
    ngx_chatvisor_client_t           *client;
    ngx_chatvisor_client_request_t   *request;   /* NULL: idle */
    ngx_str_t                         peer_name; /* the address, for logs */
    u_char                            peer_text[NGX_SOCKADDR_STRLEN];
} ngx_chatvisor_client_conn_t;


/* the answer as it is read; zeroed for a second try */
typedef struct {
    u_char                           *buf;       /* the header, then the
                                                    body's reads */
    size_t                            last;      /* header bytes in buf */
    size_t                            scan;      /* looked at up to here */
    size_t                            line;      /* the scanned line's start */
    off_t                             received;  /* bytes of answer */

    ngx_uint_t                        status;
    ngx_uint_t                        body;      /* how it ends */
    off_t                             length;    /* Content-Length, or -1 */
    off_t                             rest;      /* of the length, a chunk */
    ngx_uint_t                        chunk;     /* NGX_CHATVISOR_CHUNK_* */
    ngx_uint_t                        digits;

    u_char                           *kept;      /* a non-2xx's first bytes */
    size_t                            nkept;

    unsigned                          header_done:1;
    unsigned                          http11:1;
    unsigned                          close:1;   /* not to be kept alive */
    unsigned                          chunked:1;
    unsigned                          encoded:1; /* another transfer coding */
} ngx_chatvisor_client_answer_t;


struct ngx_chatvisor_client_s {
    ngx_chatvisor_client_conf_t      *conf;
    ngx_pool_t                       *pool;
    ngx_log_t                         log;       /* conf->log, naming the
                                                    target */

    ngx_str_t                         target;    /* "scheme://host[:port]":
                                                    logs never show the path */
    ngx_str_t                         host;      /* a name in lowercase or an
                                                    address, NUL-terminated */
    ngx_str_t                         host_header;
    ngx_str_t                         path;      /* with the query */
    in_port_t                         port;
    ngx_sockaddr_t                    sockaddr;  /* an IP literal's */
    socklen_t                         socklen;

    ngx_queue_t                       requests;
    ngx_queue_t                       idle;      /* most recently used first */
    ngx_uint_t                        nidle;

#if (NGX_SSL)
    ngx_ssl_session_t                *ssl_session;
#endif

    unsigned                          https:1;
    unsigned                          literal:1;
};


struct ngx_chatvisor_client_request_s {
    ngx_queue_t                       queue;     /* in the client's requests */
    ngx_pool_t                       *pool;
    ngx_chatvisor_client_t           *client;
    ngx_log_t                         log;

    ngx_chatvisor_client_done_pt      done;
    void                             *data;

    ngx_event_t                       timer;     /* the whole attempt */
    ngx_event_t                       next;      /* posted: the next step */
    ngx_resolver_ctx_t               *resolving;
    ngx_chatvisor_client_conn_t      *conn;

    ngx_peer_connection_t             peer;
    ngx_sockaddr_t                    sockaddr;
    socklen_t                         socklen;
    ngx_str_t                         peer_name;
    u_char                            peer_text[NGX_SOCKADDR_STRLEN];
    u_char                           *refused;   /* why the resolved names
                                                    cannot be used */

    ngx_str_t                         out;       /* the request's bytes */
    size_t                            sent;

    ngx_uint_t                        phase;
    ngx_msec_t                        start;
    ngx_chatvisor_client_answer_t     answer;
    ngx_chatvisor_client_result_t     result;

    unsigned                          reused:1;  /* on an idle connection */
    unsigned                          retried:1;
    unsigned                          finished:1;
};


static ngx_int_t ngx_chatvisor_client_parse_url(ngx_chatvisor_client_t *c,
    ngx_str_t *url, ngx_str_t *err);
static ngx_int_t ngx_chatvisor_client_parse_host(ngx_chatvisor_client_t *c,
    u_char *host, size_t len, ngx_str_t *err);
static u_char *ngx_chatvisor_client_log_error(ngx_log_t *log, u_char *buf,
    size_t len);
static u_char *ngx_chatvisor_client_request_log_error(ngx_log_t *log,
    u_char *buf, size_t len);
static void ngx_chatvisor_client_set_phase(ngx_chatvisor_client_request_t *r,
    ngx_uint_t phase);
static void ngx_chatvisor_client_start(ngx_event_t *ev);
static void ngx_chatvisor_client_begin(ngx_chatvisor_client_request_t *r);
static void ngx_chatvisor_client_resolve(ngx_chatvisor_client_request_t *r);
static void ngx_chatvisor_client_resolved(ngx_resolver_ctx_t *ctx);
static void ngx_chatvisor_client_resolved_next(ngx_event_t *ev);
static void ngx_chatvisor_client_connect(ngx_chatvisor_client_request_t *r);
static void ngx_chatvisor_client_connected(ngx_chatvisor_client_request_t *r);
#if (NGX_SSL)
static void ngx_chatvisor_client_ssl_start(ngx_chatvisor_client_request_t *r);
static void ngx_chatvisor_client_ssl_handshake_handler(ngx_connection_t *c);
static void ngx_chatvisor_client_ssl_handshaked(
    ngx_chatvisor_client_request_t *r);
static void ngx_chatvisor_client_ssl_save_session(ngx_connection_t *c);
static void ngx_chatvisor_client_forget_session(ngx_chatvisor_client_t *cl);
#endif
static void ngx_chatvisor_client_write_handler(ngx_event_t *wev);
static void ngx_chatvisor_client_read_handler(ngx_event_t *rev);
static void ngx_chatvisor_client_send(ngx_chatvisor_client_request_t *r);
static void ngx_chatvisor_client_read(ngx_chatvisor_client_request_t *r);
static ngx_int_t ngx_chatvisor_client_header(
    ngx_chatvisor_client_request_t *r);
static ngx_int_t ngx_chatvisor_client_status_line(
    ngx_chatvisor_client_request_t *r, u_char *p, u_char *last);
static ngx_int_t ngx_chatvisor_client_header_line(
    ngx_chatvisor_client_request_t *r, u_char *p, u_char *last);
static ngx_int_t ngx_chatvisor_client_body(ngx_chatvisor_client_request_t *r,
    u_char *p, size_t n);
static ngx_int_t ngx_chatvisor_client_chunked(
    ngx_chatvisor_client_request_t *r, u_char *p, u_char *last);
static void ngx_chatvisor_client_keep(ngx_chatvisor_client_request_t *r,
    u_char *p, size_t n);
static void ngx_chatvisor_client_complete(ngx_chatvisor_client_request_t *r);
static void ngx_chatvisor_client_timeout(ngx_event_t *ev);
static void ngx_chatvisor_client_io_failed(ngx_chatvisor_client_request_t *r,
    ngx_err_t err, const char *what);
static void ngx_chatvisor_client_fail(ngx_chatvisor_client_request_t *r,
    const char *fmt, ...);
static void ngx_chatvisor_client_finish(ngx_chatvisor_client_request_t *r,
    ngx_uint_t keepalive);
static void ngx_chatvisor_client_release(ngx_chatvisor_client_request_t *r,
    ngx_uint_t keepalive);
static void ngx_chatvisor_client_keepalive(ngx_chatvisor_client_conn_t *conn);
static void ngx_chatvisor_client_idle_handler(ngx_event_t *ev);
static void ngx_chatvisor_client_dummy_handler(ngx_event_t *ev);
static void ngx_chatvisor_client_close(ngx_chatvisor_client_conn_t *conn);


static const char  *ngx_chatvisor_client_actions[] = {
    "starting",
    "resolving",
    "connecting",
    "TLS handshaking",
    "sending the request",
    "reading the answer"
};


/* ---------------------------------------------------------- TLS context */

#if (NGX_SSL)

ngx_int_t
ngx_chatvisor_client_ssl_init(ngx_conf_t *cf, ngx_ssl_t **ssl,
    ngx_str_t *trusted_certificate, ngx_flag_t verify)
{
    ngx_str_t            cert;
    ngx_ssl_t           *s;
    ngx_pool_cleanup_t  *cln;

    s = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (s == NULL) {
        return NGX_ERROR;
    }

    s->log = cf->log;

    if (ngx_ssl_create(s, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(s);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = s;

    if (verify) {
        /* ngx_conf_full_name() rewrites its argument */
        cert = *trusted_certificate;

        /* the peer's chain is checked, the handshake goes on either way:
         * its outcome is read once it is done */
        if (ngx_ssl_trusted_certificate(cf, s, &cert,
                                        NGX_CHATVISOR_CLIENT_VERIFY_DEPTH)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (cert.len == 0 && SSL_CTX_set_default_verify_paths(s->ctx) != 1) {
            ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                          "SSL_CTX_set_default_verify_paths() failed");
            return NGX_ERROR;
        }
    }

    if (ngx_ssl_client_session_cache(cf, s, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    *ssl = s;

    return NGX_OK;
}

#endif


/* ---------------------------------------------------- clients, the URL */

ngx_chatvisor_client_t *
ngx_chatvisor_client_create(ngx_chatvisor_client_conf_t *conf, ngx_str_t *url,
    ngx_str_t *err)
{
    ngx_pool_t              *pool;
    ngx_chatvisor_client_t  *c;

    pool = ngx_create_pool(NGX_CHATVISOR_CLIENT_POOL_SIZE, conf->log);
    if (pool == NULL) {
        ngx_str_set(err, "out of memory");
        return NULL;
    }

    c = ngx_pcalloc(pool, sizeof(ngx_chatvisor_client_t));
    if (c == NULL) {
        ngx_destroy_pool(pool);
        ngx_str_set(err, "out of memory");
        return NULL;
    }

    c->conf = conf;
    c->pool = pool;

    ngx_queue_init(&c->requests);
    ngx_queue_init(&c->idle);

    if (ngx_chatvisor_client_parse_url(c, url, err) != NGX_OK) {
        ngx_destroy_pool(pool);
        return NULL;
    }

#if (NGX_SSL)
    if (c->https && conf->ssl == NULL) {
        ngx_destroy_pool(pool);
        ngx_str_set(err, "https is not available (no TLS client context)");
        return NULL;
    }
#else
    if (c->https) {
        ngx_destroy_pool(pool);
        ngx_str_set(err, "https is not available (nginx without SSL)");
        return NULL;
    }
#endif

    c->log = *conf->log;
    c->log.handler = ngx_chatvisor_client_log_error;
    c->log.data = c;
    c->log.action = NULL;
    c->log.connection = 0;

    pool->log = &c->log;

    return c;
}


void
ngx_chatvisor_client_destroy(ngx_chatvisor_client_t *c)
{
    ngx_queue_t                     *q;
    ngx_chatvisor_client_conn_t     *conn;
    ngx_chatvisor_client_request_t  *r;

    while (!ngx_queue_empty(&c->requests)) {
        q = ngx_queue_head(&c->requests);
        r = ngx_queue_data(q, ngx_chatvisor_client_request_t, queue);
        ngx_chatvisor_client_cancel(r);
    }

    while (!ngx_queue_empty(&c->idle)) {
        q = ngx_queue_head(&c->idle);
        conn = ngx_queue_data(q, ngx_chatvisor_client_conn_t, queue);
        ngx_chatvisor_client_close(conn);
    }

#if (NGX_SSL)
    if (c->ssl_session) {
        ngx_ssl_free_session(c->ssl_session);
    }
#endif

    ngx_destroy_pool(c->pool);
}


static ngx_int_t
ngx_chatvisor_client_parse_url(ngx_chatvisor_client_t *c, ngx_str_t *url,
    ngx_str_t *err)
{
    u_char      *p, *last, *host, *host_end, *port, *port_end, *path;
    size_t       len;
    ngx_int_t    n;
    ngx_uint_t   i;

    p = url->data;
    last = url->data + url->len;

    for (i = 0; i < url->len; i++) {
        if (p[i] <= 0x20 || p[i] >= 0x7f) {
            ngx_str_set(err, "the URL has a space, a control character or "
                             "a byte that is not ASCII");
            return NGX_ERROR;
        }

        if (p[i] == '#') {
            ngx_str_set(err, "the URL has a fragment (#)");
            return NGX_ERROR;
        }
    }

    if (url->len > sizeof("http://") - 1
        && ngx_strncasecmp(p, (u_char *) "http://", sizeof("http://") - 1)
           == 0)
    {
        p += sizeof("http://") - 1;
        c->port = 80;

    } else if (url->len > sizeof("https://") - 1
               && ngx_strncasecmp(p, (u_char *) "https://",
                                  sizeof("https://") - 1)
                  == 0)
    {
        p += sizeof("https://") - 1;
        c->port = 443;
        c->https = 1;

    } else {
        ngx_str_set(err, "the URL must start with http:// or https://");
        return NGX_ERROR;
    }

    /* the authority ends at the path or the query */

    path = p;

    while (path < last && *path != '/' && *path != '?') {
        if (*path == '@') {
            ngx_str_set(err, "the URL must not have user information (@)");
            return NGX_ERROR;
        }

        path++;
    }

    host = p;
    port = NULL;

    if (*host == '[') {
        host_end = ngx_strlchr(host, path, ']');
        if (host_end == NULL) {
            ngx_str_set(err, "the URL's IPv6 address has no \"]\"");
            return NGX_ERROR;
        }

        host_end++;

        if (host_end < path) {
            if (*host_end != ':') {
                ngx_str_set(err, "the URL's host is not valid");
                return NGX_ERROR;
            }

            port = host_end + 1;
        }

    } else {
        host_end = ngx_strlchr(host, path, ':');

        if (host_end) {
            port = host_end + 1;

        } else {
            host_end = path;
        }
    }

    if (host_end == host) {
        ngx_str_set(err, "the URL has no host");
        return NGX_ERROR;
    }

    if (port) {
        port_end = path;

        n = ngx_atoi(port, port_end - port);
        if (n < 1 || n > 65535) {
            ngx_str_set(err, "the URL's port is not valid");
            return NGX_ERROR;
        }

        c->port = (in_port_t) n;
    }

    if (ngx_chatvisor_client_parse_host(c, host, host_end - host, err)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the Host header: the port when it is not the scheme's */

    len = c->host.len + (c->literal && *host == '[' ? 2 : 0)
          + sizeof(":65535") - 1;

    c->host_header.data = ngx_pnalloc(c->pool, len);
    if (c->host_header.data == NULL) {
        ngx_str_set(err, "out of memory");
        return NGX_ERROR;
    }

    if (*host == '[') {
        p = ngx_sprintf(c->host_header.data, "[%V]", &c->host);

    } else {
        p = ngx_cpymem(c->host_header.data, c->host.data, c->host.len);
    }

    if (c->port != (c->https ? 443 : 80)) {
        p = ngx_sprintf(p, ":%d", (int) c->port);
    }

    c->host_header.len = p - c->host_header.data;

    /* the target, for logs: never the path, which may carry a secret */

    len = sizeof("https://") - 1 + c->host_header.len;

    c->target.data = ngx_pnalloc(c->pool, len);
    if (c->target.data == NULL) {
        ngx_str_set(err, "out of memory");
        return NGX_ERROR;
    }

    c->target.len = ngx_sprintf(c->target.data, "%s://%V",
                                c->https ? "https" : "http", &c->host_header)
                    - c->target.data;

    /* the path and query, "/" when none */

    if (path == last) {
        ngx_str_set(&c->path, "/");

    } else if (*path == '?') {
        c->path.len = last - path + 1;
        c->path.data = ngx_pnalloc(c->pool, c->path.len);
        if (c->path.data == NULL) {
            ngx_str_set(err, "out of memory");
            return NGX_ERROR;
        }

        c->path.data[0] = '/';
        ngx_memcpy(c->path.data + 1, path, last - path);

    } else {
        c->path.len = last - path;
        c->path.data = ngx_pnalloc(c->pool, c->path.len);
        if (c->path.data == NULL) {
            ngx_str_set(err, "out of memory");
            return NGX_ERROR;
        }

        ngx_memcpy(c->path.data, path, c->path.len);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_chatvisor_client_parse_host(ngx_chatvisor_client_t *c, u_char *host,
    size_t len, ngx_str_t *err)
{
    u_char                *p, *last, *label;
    ngx_uint_t             digits;
    in_addr_t              inaddr;
    struct sockaddr_in    *sin;
#if (NGX_HAVE_INET6)
    u_char                 addr6[16];
    struct sockaddr_in6   *sin6;
#endif

    if (*host == '[') {
        host++;
        len -= 2;

#if (NGX_HAVE_INET6)
        if (len == 0 || ngx_inet6_addr(host, len, addr6) != NGX_OK) {
            ngx_str_set(err, "the URL's IPv6 address is not valid");
            return NGX_ERROR;
        }

        sin6 = &c->sockaddr.sockaddr_in6;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(c->port);
        ngx_memcpy(sin6->sin6_addr.s6_addr, addr6, 16);
        c->socklen = sizeof(struct sockaddr_in6);
        c->literal = 1;

        goto copy;
#else
        ngx_str_set(err, "IPv6 is not available");
        return NGX_ERROR;
#endif
    }

    inaddr = ngx_inet_addr(host, len);

    if (inaddr != INADDR_NONE) {
        sin = &c->sockaddr.sockaddr_in;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(c->port);
        sin->sin_addr.s_addr = inaddr;
        c->socklen = sizeof(struct sockaddr_in);
        c->literal = 1;

        goto copy;
    }

    /* a name: letters, digits, "-", "_" in dot-separated labels (a final
     * dot is dropped); a last label of digits only would read as an
     * address to others, it is refused */

    if (host[len - 1] == '.') {
        len--;
    }

    if (len == 0 || len > 253) {
        ngx_str_set(err, "the URL's host is not a valid name or address");
        return NGX_ERROR;
    }

    last = host + len;
    label = host;
    digits = 1;

    for (p = host; p <= last; p++) {

        if (p == last || *p == '.') {
            if (p == label || p - label > 63) {
                ngx_str_set(err,
                            "the URL's host is not a valid name or address");
                return NGX_ERROR;
            }

            if (p == last && digits) {
                ngx_str_set(err,
                            "the URL's host is not a valid name or address");
                return NGX_ERROR;
            }

            label = p + 1;
            digits = 1;
            continue;
        }

        if (*p >= '0' && *p <= '9') {
            continue;
        }

        digits = 0;

        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || *p == '-' || *p == '_')
        {
            continue;
        }

        ngx_str_set(err, "the URL's host is not a valid name or address");
        return NGX_ERROR;
    }

copy:

    c->host.len = len;
    c->host.data = ngx_pnalloc(c->pool, len + 1);
    if (c->host.data == NULL) {
        ngx_str_set(err, "out of memory");
        return NGX_ERROR;
    }

    ngx_strlow(c->host.data, host, len);
    c->host.data[len] = '\0';

    return NGX_OK;
}


static u_char *
ngx_chatvisor_client_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    u_char                  *p;
    ngx_chatvisor_client_t  *c;

    p = buf;

    if (log->action) {
        p = ngx_snprintf(buf, len, " while %s", log->action);
        len -= p - buf;
        buf = p;
    }

    c = log->data;

    return ngx_snprintf(buf, len, ", webhook: %V", &c->target);
}


/* a request's: the address it connects to, too */

static u_char *
ngx_chatvisor_client_request_log_error(ngx_log_t *log, u_char *buf,
    size_t len)
{
    u_char                          *p;
    ngx_chatvisor_client_request_t  *r;

    p = buf;

    if (log->action) {
        p = ngx_snprintf(buf, len, " while %s", log->action);
        len -= p - buf;
        buf = p;
    }

    r = log->data;

    p = ngx_snprintf(buf, len, ", webhook: %V", &r->client->target);

    if (r->peer_name.len) {
        len -= p - buf;
        p = ngx_snprintf(p, len, ", peer: %V", &r->peer_name);
    }

    return p;
}


/* ------------------------------------------------------------- requests */

ngx_chatvisor_client_request_t *
ngx_chatvisor_client_post(ngx_chatvisor_client_t *c, ngx_str_t *headers,
    ngx_str_t *body, ngx_chatvisor_client_done_pt done, void *data)
{
    u_char                          *p;
    size_t                           len;
    ngx_uint_t                       crlf;
    ngx_pool_t                      *pool;
    ngx_chatvisor_client_request_t  *r;

    pool = ngx_create_pool(NGX_CHATVISOR_CLIENT_POOL_SIZE, &c->log);
    if (pool == NULL) {
        return NULL;
    }

    r = ngx_pcalloc(pool, sizeof(ngx_chatvisor_client_request_t));
    if (r == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    r->pool = pool;
    r->client = c;
    r->done = done;
    r->data = data;

    r->log = c->log;
    r->log.handler = ngx_chatvisor_client_request_log_error;
    r->log.data = r;
    pool->log = &r->log;

    /* the caller's header lines end with CRLF: it is added when missing */

    crlf = (headers->len >= 2
            && headers->data[headers->len - 2] == CR
            && headers->data[headers->len - 1] == LF)
           || headers->len == 0;

    len = sizeof("POST  HTTP/1.1" CRLF) - 1 + c->path.len
          + sizeof("Host: " CRLF) - 1 + c->host_header.len
          + sizeof("User-Agent: " NGX_CHATVISOR_CLIENT_USER_AGENT CRLF) - 1
          + sizeof("Content-Type: application/json" CRLF) - 1
          + sizeof("Content-Length: " CRLF) - 1 + NGX_SIZE_T_LEN
          + headers->len + (crlf ? 0 : 2)
          + sizeof(CRLF) - 1
          + body->len;

    r->out.data = ngx_pnalloc(pool, len);
    if (r->out.data == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    p = ngx_sprintf(r->out.data,
                    "POST %V HTTP/1.1" CRLF
                    "Host: %V" CRLF
                    "User-Agent: " NGX_CHATVISOR_CLIENT_USER_AGENT CRLF
                    "Content-Type: application/json" CRLF
                    "Content-Length: %uz" CRLF,
                    &c->path, &c->host_header, body->len);

    p = ngx_cpymem(p, headers->data, headers->len);

    if (!crlf) {
        *p++ = CR; *p++ = LF;
    }

    *p++ = CR; *p++ = LF;

    p = ngx_cpymem(p, body->data, body->len);

    r->out.len = p - r->out.data;

    r->start = ngx_current_msec;

    ngx_chatvisor_client_set_phase(r, NGX_CHATVISOR_CLIENT_START);

    r->timer.handler = ngx_chatvisor_client_timeout;
    r->timer.data = r;
    r->timer.log = &r->log;

    ngx_add_timer(&r->timer, c->conf->timeout);

    /* the attempt starts from the event loop: done() is never called from
     * inside this call */

    r->next.handler = ngx_chatvisor_client_start;
    r->next.data = r;
    r->next.log = &r->log;

    ngx_post_event(&r->next, &ngx_posted_events);

    ngx_queue_insert_tail(&c->requests, &r->queue);

    return r;
}


void
ngx_chatvisor_client_cancel(ngx_chatvisor_client_request_t *r)
{
    if (r->finished) {
        /* from inside its own done() */
        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, &r->log, 0,
                   "webhook request cancelled");

    ngx_chatvisor_client_release(r, 0);

    ngx_destroy_pool(r->pool);
}


static void
ngx_chatvisor_client_set_phase(ngx_chatvisor_client_request_t *r,
    ngx_uint_t phase)
{
    r->phase = phase;
    r->log.action = (char *) ngx_chatvisor_client_actions[phase];
}


static void
ngx_chatvisor_client_start(ngx_event_t *ev)
{
    ngx_chatvisor_client_begin(ev->data);
}


/* an idle connection of the target, else a new one */

static void
ngx_chatvisor_client_begin(ngx_chatvisor_client_request_t *r)
{
    ngx_queue_t                  *q;
    ngx_connection_t             *c;
    ngx_chatvisor_client_t       *cl;
    ngx_chatvisor_client_conn_t  *conn;

    cl = r->client;

    if (!r->retried && !ngx_queue_empty(&cl->idle)) {
        q = ngx_queue_head(&cl->idle);
        ngx_queue_remove(q);
        cl->nidle--;

        conn = ngx_queue_data(q, ngx_chatvisor_client_conn_t, queue);
        c = conn->connection;

        conn->request = r;
        r->conn = conn;
        r->reused = 1;

        /* a copy: the connection may be gone before the request is */
        r->peer_name.data = r->peer_text;
        r->peer_name.len = ngx_cpymem(r->peer_text, conn->peer_name.data,
                                      conn->peer_name.len)
                           - r->peer_text;

        c->idle = 0;
        c->log = &r->log;
        c->read->log = &r->log;
        c->write->log = &r->log;
        c->pool->log = &r->log;
        r->log.connection = c->number;

        if (c->read->timer_set) {
            ngx_del_timer(c->read);
        }

        c->read->handler = ngx_chatvisor_client_read_handler;
        c->write->handler = ngx_chatvisor_client_write_handler;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, &r->log, 0,
                       "webhook reuses connection #%uA", c->number);

        ngx_chatvisor_client_send(r);
        return;
    }

    if (cl->literal) {
        ngx_memcpy(&r->sockaddr, &cl->sockaddr, cl->socklen);
        r->socklen = cl->socklen;

        if (!cl->conf->allow_private
            && cv_addr_private(&r->sockaddr.sockaddr))
        {
            ngx_chatvisor_client_fail(r, "%V is a private address "
                                      "(chatvisor_webhook_allow_private "
                                      "is off)", &cl->host);
            return;
        }

        ngx_chatvisor_client_connect(r);
        return;
    }

    ngx_chatvisor_client_resolve(r);
}


static void
ngx_chatvisor_client_resolve(ngx_chatvisor_client_request_t *r)
{
    ngx_resolver_ctx_t      *ctx;
    ngx_chatvisor_client_t  *cl;

    cl = r->client;

    ngx_chatvisor_client_set_phase(r, NGX_CHATVISOR_CLIENT_RESOLVING);

    r->socklen = 0;

    if (cl->conf->resolver == NULL) {
        ngx_chatvisor_client_fail(r, "no resolver defined to resolve %V",
                                  &cl->host);
        return;
    }

    ctx = ngx_resolve_start(cl->conf->resolver, NULL);

    if (ctx == NULL) {
        ngx_chatvisor_client_fail(r, "could not resolve %V (out of memory)",
                                  &cl->host);
        return;
    }

    if (ctx == NGX_NO_RESOLVER) {
        ngx_chatvisor_client_fail(r, "no resolver defined to resolve %V",
                                  &cl->host);
        return;
    }

    ctx->name = cl->host;
    ctx->handler = ngx_chatvisor_client_resolved;
    ctx->data = r;
    ctx->timeout = cl->conf->resolver_timeout;

    r->resolving = ctx;

    if (ngx_resolve_name(ctx) != NGX_OK) {
        /* the context is freed */
        r->resolving = NULL;
        ngx_chatvisor_client_fail(r, "could not resolve %V", &cl->host);
        return;
    }

    /* the handler may have run already */
}


/*
 * The resolver calls this in a loop over every context waiting for the
 * name: it only takes the address and posts the next step, so that no
 * done() runs (and cancels another context) inside that loop.
 */

static void
ngx_chatvisor_client_resolved(ngx_resolver_ctx_t *ctx)
{
    u_char                          *p, *last;
    ngx_uint_t                       i, shown;
    ngx_chatvisor_client_t          *cl;
    ngx_chatvisor_client_request_t  *r;

    r = ctx->data;
    cl = r->client;

    r->resolving = NULL;

    if (ctx->state) {
        r->refused = ngx_pnalloc(r->pool, NGX_CHATVISOR_CLIENT_ERROR_MAX);

        if (r->refused) {
            p = ngx_snprintf(r->refused, NGX_CHATVISOR_CLIENT_ERROR_MAX - 1,
                             "%V could not be resolved (%i: %s)", &cl->host,
                             ctx->state, ngx_resolver_strerror(ctx->state));
            *p = '\0';
        }

        goto next;
    }

    for (i = 0; i < ctx->naddrs; i++) {
        if (cl->conf->allow_private
            || !cv_addr_private(ctx->addrs[i].sockaddr))
        {
            ngx_memcpy(&r->sockaddr, ctx->addrs[i].sockaddr,
                       ctx->addrs[i].socklen);
            r->socklen = ctx->addrs[i].socklen;
            ngx_inet_set_port(&r->sockaddr.sockaddr, cl->port);

            goto next;
        }
    }

    /* none is allowed: say which they are */

    r->refused = ngx_pnalloc(r->pool, NGX_CHATVISOR_CLIENT_ERROR_MAX);

    if (r->refused) {
        p = r->refused;
        last = p + NGX_CHATVISOR_CLIENT_ERROR_MAX - 1;

        if (ctx->naddrs == 0) {
            p = ngx_slprintf(p, last, "%V has no address", &cl->host);
            *p = '\0';
            goto next;
        }

        if (ctx->naddrs == 1) {
            p = ngx_slprintf(p, last, "%V resolves to ", &cl->host);
            p += ngx_sock_ntop(ctx->addrs[0].sockaddr, ctx->addrs[0].socklen,
                               p, last - p, 0);
            p = ngx_slprintf(p, last, ", a private address");

        } else {
            p = ngx_slprintf(p, last, "%V resolves only to private "
                             "addresses (", &cl->host);

            shown = ngx_min(ctx->naddrs, 4);

            for (i = 0; i < shown; i++) {
                p = ngx_slprintf(p, last, "%s", i ? ", " : "");
                p += ngx_sock_ntop(ctx->addrs[i].sockaddr,
                                   ctx->addrs[i].socklen, p, last - p, 0);
            }

            p = ngx_slprintf(p, last, "%s)",
                             shown < ctx->naddrs ? ", ..." : "");
        }

        p = ngx_slprintf(p, last,
                         " (chatvisor_webhook_allow_private is off)");
        *p = '\0';
    }

next:

    if (r->socklen == 0 && r->refused == NULL) {
        /* no memory for the message */
        r->refused = (u_char *) "could not resolve the host";
    }

    ngx_resolve_name_done(ctx);

    r->next.handler = ngx_chatvisor_client_resolved_next;
    ngx_post_event(&r->next, &ngx_posted_events);
}


static void
ngx_chatvisor_client_resolved_next(ngx_event_t *ev)
{
    ngx_chatvisor_client_request_t  *r;

    r = ev->data;

    if (r->refused) {
        ngx_chatvisor_client_fail(r, "%s", r->refused);
        return;
    }

    ngx_chatvisor_client_connect(r);
}


static void
ngx_chatvisor_client_connect(ngx_chatvisor_client_request_t *r)
{
    ngx_int_t                     rc;
    ngx_err_t                     err;
    ngx_connection_t             *c;
    ngx_peer_connection_t        *pc;
    ngx_chatvisor_client_conn_t  *conn;

    ngx_chatvisor_client_set_phase(r, NGX_CHATVISOR_CLIENT_CONNECTING);

    r->peer_name.data = r->peer_text;
    r->peer_name.len = ngx_sock_ntop(&r->sockaddr.sockaddr, r->socklen,
                                     r->peer_text, NGX_SOCKADDR_STRLEN, 1);

    pc = &r->peer;
    ngx_memzero(pc, sizeof(ngx_peer_connection_t));

    pc->sockaddr = &r->sockaddr.sockaddr;
    pc->socklen = r->socklen;
    pc->name = &r->peer_name;
    pc->get = ngx_event_get_peer;
    pc->log = &r->log;
    pc->log_error = NGX_ERROR_INFO;
    pc->tries = 1;

    rc = ngx_event_connect_peer(pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        /* connect()'s error, which ngx_close_connection() leaves */
        err = (rc == NGX_DECLINED) ? ngx_socket_errno : 0;
        ngx_chatvisor_client_io_failed(r, err, "could not connect");
        return;
    }

    c = pc->connection;

    c->pool = ngx_create_pool(512, &r->log);
    if (c->pool == NULL) {
        ngx_close_connection(c);
        ngx_chatvisor_client_fail(r, "could not connect (out of memory)");
        return;
    }

    conn = ngx_pcalloc(c->pool, sizeof(ngx_chatvisor_client_conn_t));
    if (conn == NULL) {
        ngx_destroy_pool(c->pool);
        ngx_close_connection(c);
        ngx_chatvisor_client_fail(r, "could not connect (out of memory)");
        return;
    }

    conn->connection = c;
    conn->client = r->client;
    conn->request = r;
    r->conn = conn;

    conn->peer_name.data = conn->peer_text;
    conn->peer_name.len = ngx_cpymem(conn->peer_text, r->peer_name.data,
                                     r->peer_name.len)
                          - conn->peer_text;
    r->log.connection = c->number;

    c->data = conn;
    c->read->handler = ngx_chatvisor_client_read_handler;
    c->write->handler = ngx_chatvisor_client_write_handler;

    if (rc == NGX_AGAIN) {
        /* the write event tells when it is connected */
        return;
    }

    ngx_chatvisor_client_connected(r);
}


static void
ngx_chatvisor_client_connected(ngx_chatvisor_client_request_t *r)
{
    int                err;
    socklen_t          len;
    ngx_connection_t  *c;

    c = r->conn->connection;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        ngx_log_error(NGX_LOG_INFO, &r->log, err, "connect() to %V failed",
                      &r->peer_name);
        ngx_chatvisor_client_io_failed(r, err, "could not connect");
        return;
    }

    if (ngx_tcp_nodelay(c) != NGX_OK) {
        ngx_chatvisor_client_fail(r, "could not connect (setsockopt failed)");
        return;
    }

#if (NGX_SSL)
    if (r->client->https) {
        ngx_chatvisor_client_ssl_start(r);
        return;
    }
#endif

    ngx_chatvisor_client_send(r);
}


/* ------------------------------------------------------------------ TLS */

#if (NGX_SSL)

static void
ngx_chatvisor_client_ssl_start(ngx_chatvisor_client_request_t *r)
{
    ngx_int_t                rc;
    ngx_connection_t        *c;
    ngx_chatvisor_client_t  *cl;

    cl = r->client;
    c = r->conn->connection;

    ngx_chatvisor_client_set_phase(r, NGX_CHATVISOR_CLIENT_HANDSHAKE);

    if (cl->conf->ssl == NULL) {
        ngx_chatvisor_client_fail(r, "https is not available "
                                  "(no TLS client context)");
        return;
    }

    if (ngx_ssl_create_connection(cl->conf->ssl, c,
                                  NGX_SSL_BUFFER|NGX_SSL_CLIENT)
        != NGX_OK)
    {
        ngx_chatvisor_client_fail(r, "TLS handshake failed (no connection)");
        return;
    }

    /* RFC 6066: a name, never an address */

#ifdef SSL_CTRL_SET_TLSEXT_HOSTNAME
    if (!cl->literal
        && SSL_set_tlsext_host_name(c->ssl->connection, (char *) cl->host.data)
           == 0)
    {
        ngx_ssl_error(NGX_LOG_NOTICE, &r->log, 0,
                      "SSL_set_tlsext_host_name(\"%V\") failed", &cl->host);
        ngx_chatvisor_client_fail(r, "TLS handshake failed (server name)");
        return;
    }
#endif

    c->ssl->save_session = ngx_chatvisor_client_ssl_save_session;

    if (cl->ssl_session && ngx_ssl_set_session(c, cl->ssl_session) != NGX_OK) {
        ngx_chatvisor_client_fail(r, "TLS handshake failed (session)");
        return;
    }

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        c->ssl->handler = ngx_chatvisor_client_ssl_handshake_handler;
        return;
    }

    ngx_chatvisor_client_ssl_handshaked(r);
}


static void
ngx_chatvisor_client_ssl_handshake_handler(ngx_connection_t *c)
{
    ngx_chatvisor_client_conn_t  *conn;

    conn = c->data;

    ngx_chatvisor_client_ssl_handshaked(conn->request);
}


static void
ngx_chatvisor_client_ssl_handshaked(ngx_chatvisor_client_request_t *r)
{
    int                      ok;
    long                     rc;
    X509                    *cert;
    ngx_connection_t        *c;
    ngx_chatvisor_client_t  *cl;

    cl = r->client;
    c = r->conn->connection;

    if (!c->ssl->handshaked) {
        ngx_chatvisor_client_io_failed(r, 0, "TLS handshake failed");
        return;
    }

    if (cl->conf->verify) {
        rc = SSL_get_verify_result(c->ssl->connection);

        if (rc != X509_V_OK) {
            ngx_log_error(NGX_LOG_INFO, &r->log, 0,
                          "certificate verify error: (%l:%s)",
                          rc, X509_verify_cert_error_string(rc));
            ngx_chatvisor_client_forget_session(cl);
            ngx_chatvisor_client_fail(r, "certificate verify failed: %s",
                                      X509_verify_cert_error_string(rc));
            return;
        }

        if (cl->literal) {
            cert = SSL_get_peer_certificate(c->ssl->connection);
            ok = (cert && X509_check_ip_asc(cert, (char *) cl->host.data, 0)
                          == 1);
            if (cert) {
                X509_free(cert);
            }

        } else {
            ok = (ngx_ssl_check_host(c, &cl->host) == NGX_OK);
        }

        if (!ok) {
            ngx_chatvisor_client_forget_session(cl);
            ngx_chatvisor_client_fail(r, "certificate does not match %V",
                                      &cl->host);
            return;
        }
    }

    if (!c->ssl->sendfile) {
        c->sendfile = 0;
    }

    c->read->handler = ngx_chatvisor_client_read_handler;
    c->write->handler = ngx_chatvisor_client_write_handler;

    ngx_chatvisor_client_send(r);
}


/* a session of a peer that failed verification is not resumed */

static void
ngx_chatvisor_client_forget_session(ngx_chatvisor_client_t *cl)
{
    if (cl->ssl_session) {
        ngx_ssl_free_session(cl->ssl_session);
        cl->ssl_session = NULL;
    }
}


static void
ngx_chatvisor_client_ssl_save_session(ngx_connection_t *c)
{
    ngx_ssl_session_t            *session;
    ngx_chatvisor_client_conn_t  *conn;

    conn = c->data;

    session = ngx_ssl_get_session(c);
    if (session == NULL) {
        return;
    }

    if (conn->client->ssl_session) {
        ngx_ssl_free_session(conn->client->ssl_session);
    }

    conn->client->ssl_session = session;
}

#endif


/* ------------------------------------------------ the request, the answer */

static void
ngx_chatvisor_client_write_handler(ngx_event_t *wev)
{
    ngx_connection_t                *c;
    ngx_chatvisor_client_conn_t     *conn;
    ngx_chatvisor_client_request_t  *r;

    c = wev->data;
    conn = c->data;
    r = conn->request;

    switch (r->phase) {

    case NGX_CHATVISOR_CLIENT_CONNECTING:
        ngx_chatvisor_client_connected(r);
        return;

    case NGX_CHATVISOR_CLIENT_SENDING:
        ngx_chatvisor_client_send(r);
        return;

    default:
        /* nothing to write */
        return;
    }
}


static void
ngx_chatvisor_client_read_handler(ngx_event_t *rev)
{
    ngx_connection_t                *c;
    ngx_chatvisor_client_conn_t     *conn;
    ngx_chatvisor_client_request_t  *r;

    c = rev->data;
    conn = c->data;
    r = conn->request;

    if (c->close) {
        /* worker_shutdown_timeout */
        ngx_chatvisor_client_fail(r, "the worker is shutting down");
        return;
    }

    switch (r->phase) {

    case NGX_CHATVISOR_CLIENT_CONNECTING:
        ngx_chatvisor_client_connected(r);
        return;

    case NGX_CHATVISOR_CLIENT_READING:
        ngx_chatvisor_client_read(r);
        return;

    default:
        /* the answer is read once the request is sent */
        return;
    }
}


static void
ngx_chatvisor_client_send(ngx_chatvisor_client_request_t *r)
{
    ssize_t            n;
    ngx_connection_t  *c;

    c = r->conn->connection;

    ngx_chatvisor_client_set_phase(r, NGX_CHATVISOR_CLIENT_SENDING);

    while (r->sent < r->out.len) {

        ngx_set_socket_errno(0);

        n = c->send(c, r->out.data + r->sent, r->out.len - r->sent);

        if (n == NGX_ERROR) {
            ngx_chatvisor_client_io_failed(r, ngx_socket_errno,
                                           "could not send the request");
            return;
        }

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                ngx_chatvisor_client_fail(r, "could not send the request");
            }

            return;
        }

        r->sent += n;
    }

    /* sent: no more write events (level-triggered methods) */

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        ngx_chatvisor_client_fail(r, "could not send the request");
        return;
    }

    ngx_chatvisor_client_set_phase(r, NGX_CHATVISOR_CLIENT_READING);

    if (r->answer.buf == NULL) {
        r->answer.buf = ngx_pnalloc(r->pool, NGX_CHATVISOR_CLIENT_HEADER_MAX);
        if (r->answer.buf == NULL) {
            ngx_chatvisor_client_fail(r, "out of memory");
            return;
        }
    }

    r->answer.length = -1;

    ngx_chatvisor_client_read(r);
}


static void
ngx_chatvisor_client_read(ngx_chatvisor_client_request_t *r)
{
    u_char                         *p;
    size_t                          size, header;
    ssize_t                         n;
    ngx_int_t                       rc;
    ngx_uint_t                      reads;
    ngx_connection_t               *c;
    ngx_chatvisor_client_answer_t  *a;

    c = r->conn->connection;
    a = &r->answer;

    for (reads = 0; /* void */; reads++) {

        if (reads == NGX_CHATVISOR_CLIENT_READS) {
            ngx_post_event(c->read, &ngx_posted_events);
            return;
        }

        if (a->header_done) {
            p = a->buf;
            size = NGX_CHATVISOR_CLIENT_HEADER_MAX;

        } else {
            p = a->buf + a->last;
            size = NGX_CHATVISOR_CLIENT_HEADER_MAX - a->last;

            if (size == 0) {
                ngx_chatvisor_client_fail(r, "answer headers too large");
                return;
            }
        }

        ngx_set_socket_errno(0);

        n = c->recv(c, p, size);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
                ngx_chatvisor_client_fail(r, "could not read the answer");
            }

            return;
        }

        if (n == NGX_ERROR) {
            ngx_chatvisor_client_io_failed(r, ngx_socket_errno,
                                           "could not read the answer");
            return;
        }

        if (n == 0) {

            if (a->header_done && a->body == NGX_CHATVISOR_CLIENT_BODY_CLOSE) {
                a->close = 1;
                ngx_chatvisor_client_complete(r);
                return;
            }

            if (a->received == 0) {
                ngx_chatvisor_client_io_failed(r, 0, NULL);
                return;
            }

            if (!a->header_done) {
                ngx_chatvisor_client_fail(r, "connection closed by the "
                                          "receiver in the middle of the "
                                          "answer's header");
                return;
            }

            ngx_chatvisor_client_fail(r, "connection closed by the receiver "
                                      "before the end of the answer "
                                      "(HTTP %ui)", a->status);
            return;
        }

        a->received += n;

        if (a->header_done) {
            rc = ngx_chatvisor_client_body(r, p, n);

        } else {
            a->last += n;

            rc = ngx_chatvisor_client_header(r);

            if (rc == NGX_OK) {
                /* the body's first bytes follow the header in buf */
                header = a->scan;
                rc = ngx_chatvisor_client_body(r, a->buf + header,
                                               a->last - header);
            }
        }

        if (rc == NGX_AGAIN) {
            continue;
        }

        if (rc == NGX_OK) {
            ngx_chatvisor_client_complete(r);
        }

        /* NGX_ERROR: failed already */

        return;
    }
}


/*
 * The status line and headers in buf: NGX_AGAIN until the blank line that
 * ends them came; NGX_OK with a->scan at the body's first byte. Interim
 * (1xx) answers are skipped.
 */

static ngx_int_t
ngx_chatvisor_client_header(ngx_chatvisor_client_request_t *r)
{
    u_char                         *p, *line, *end, *last;
    ngx_chatvisor_client_answer_t  *a;

    a = &r->answer;

again:

    for (p = a->buf + a->scan; p < a->buf + a->last; p++) {

        if (*p != LF) {
            continue;
        }

        line = a->buf + a->line;

        if (p == line || (p == line + 1 && *line == CR)) {
            break;
        }

        a->line = p + 1 - a->buf;
    }

    if (p == a->buf + a->last) {
        a->scan = a->last;
        return NGX_AGAIN;
    }

    /* the header ends at p: parse it line by line */

    end = p + 1;
    a->scan = end - a->buf;

    line = a->buf;

    for ( ;; ) {
        last = ngx_strlchr(line, end, LF);

        if (last == line || (last == line + 1 && *line == CR)) {
            break;
        }

        if (last > line && last[-1] == CR) {
            last--;
        }

        if (line == a->buf) {
            if (ngx_chatvisor_client_status_line(r, line, last) != NGX_OK) {
                return NGX_ERROR;
            }

        } else if (ngx_chatvisor_client_header_line(r, line, last)
                   != NGX_OK)
        {
            return NGX_ERROR;
        }

        line = ngx_strlchr(line, end, LF) + 1;
    }

    /* a->status 0: an empty line before the status line, skipped */

    if (a->status < 200) {
        if (a->status == 101) {
            ngx_chatvisor_client_fail(r, "invalid answer (101 Switching "
                                      "Protocols to a POST)");
            return NGX_ERROR;
        }

        /* an interim answer: what follows is the real one */

        a->last -= a->scan;
        ngx_memmove(a->buf, a->buf + a->scan, a->last);

        a->scan = 0;
        a->line = 0;
        a->status = 0;
        a->http11 = 0;
        a->close = 0;
        a->chunked = 0;
        a->encoded = 0;
        a->length = -1;
        r->result.retry_after = 0;
        ngx_str_null(&r->result.location);

        goto again;
    }

    a->header_done = 1;

    if (a->status == 204 || a->status == 304) {
        a->body = NGX_CHATVISOR_CLIENT_BODY_NONE;

    } else if (a->chunked) {
        a->body = NGX_CHATVISOR_CLIENT_BODY_CHUNKED;
        a->chunk = NGX_CHATVISOR_CHUNK_SIZE;

        if (a->length != -1) {
            /* RFC 9112 6.3: chunked wins, the connection is not reused */
            a->close = 1;
        }

    } else if (a->encoded) {
        a->body = NGX_CHATVISOR_CLIENT_BODY_CLOSE;

    } else if (a->length != -1) {
        a->body = NGX_CHATVISOR_CLIENT_BODY_LENGTH;
        a->rest = a->length;

    } else {
        a->body = NGX_CHATVISOR_CLIENT_BODY_CLOSE;
    }

    if (a->body == NGX_CHATVISOR_CLIENT_BODY_CLOSE || !a->http11) {
        a->close = 1;
    }

    if (a->status < 200 || a->status >= 300) {
        a->kept = ngx_pnalloc(r->pool, NGX_CHATVISOR_CLIENT_ERROR_BODY);
        if (a->kept == NULL) {
            ngx_chatvisor_client_fail(r, "out of memory");
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* "HTTP/1.x NNN reason" */

static ngx_int_t
ngx_chatvisor_client_status_line(ngx_chatvisor_client_request_t *r, u_char *p,
    u_char *last)
{
    ngx_uint_t                      status;
    ngx_chatvisor_client_answer_t  *a;

    a = &r->answer;

    if (last - p < 12
        || ngx_strncmp(p, "HTTP/1.", 7) != 0
        || (p[7] != '0' && p[7] != '1')
        || p[8] != ' '
        || p[9] < '1' || p[9] > '5'
        || p[10] < '0' || p[10] > '9'
        || p[11] < '0' || p[11] > '9'
        || (last - p > 12 && p[12] != ' '))
    {
        ngx_chatvisor_client_fail(r, "invalid answer (not an HTTP/1.x "
                                  "status line)");
        return NGX_ERROR;
    }

    status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');

    a->status = status;
    a->http11 = (p[7] == '1');

    return NGX_OK;
}


static ngx_int_t
ngx_chatvisor_client_header_line(ngx_chatvisor_client_request_t *r, u_char *p,
    u_char *last)
{
    u_char                         *colon, *v, *t, *e;
    off_t                           length;
    time_t                          date, delta;
    ngx_str_t                       name, value;
    ngx_chatvisor_client_answer_t  *a;

    a = &r->answer;

    if (*p == ' ' || *p == '\t') {
        /* obsolete line folding: what it continues is not needed */
        return NGX_OK;
    }

    colon = ngx_strlchr(p, last, ':');

    if (colon == NULL || colon == p) {
        ngx_chatvisor_client_fail(r, "invalid answer (a header line without "
                                  "a name)");
        return NGX_ERROR;
    }

    name.data = p;
    name.len = colon - p;

    v = colon + 1;

    while (v < last && (*v == ' ' || *v == '\t')) {
        v++;
    }

    while (last > v && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    value.data = v;
    value.len = last - v;

    if (name.len == sizeof("Content-Length") - 1
        && ngx_strncasecmp(name.data, (u_char *) "Content-Length",
                           name.len) == 0)
    {
        length = ngx_atoof(value.data, value.len);

        if (length == NGX_ERROR
            || (a->length != -1 && a->length != length))
        {
            ngx_chatvisor_client_fail(r, "invalid answer (Content-Length)");
            return NGX_ERROR;
        }

        a->length = length;

    } else if (name.len == sizeof("Transfer-Encoding") - 1
               && ngx_strncasecmp(name.data, (u_char *) "Transfer-Encoding",
                                  name.len) == 0)
    {
        /* chunked, when it is the last coding; any other: until close */

        e = value.data + value.len;
        t = e;

        while (t > value.data && t[-1] != ',' && t[-1] != ' ') {
            t--;
        }

        if (e - t == sizeof("chunked") - 1
            && ngx_strncasecmp(t, (u_char *) "chunked", e - t) == 0)
        {
            a->chunked = 1;

        } else {
            a->chunked = 0;
            a->encoded = 1;
        }

    } else if (name.len == sizeof("Connection") - 1
               && ngx_strncasecmp(name.data, (u_char *) "Connection",
                                  name.len) == 0)
    {
        /* a "close" token among the comma-separated ones */

        for (t = value.data; t < value.data + value.len; t = e + 1) {
            e = ngx_strlchr(t, value.data + value.len, ',');
            if (e == NULL) {
                e = value.data + value.len;
            }

            v = e;

            while (t < v && (*t == ' ' || *t == '\t')) {
                t++;
            }

            while (v > t && (v[-1] == ' ' || v[-1] == '\t')) {
                v--;
            }

            if (v - t == sizeof("close") - 1
                && ngx_strncasecmp(t, (u_char *) "close", v - t) == 0)
            {
                a->close = 1;
            }
        }

    } else if (name.len == sizeof("Retry-After") - 1
               && ngx_strncasecmp(name.data, (u_char *) "Retry-After",
                                  name.len) == 0)
    {
        /* delta-seconds or an HTTP date */

        delta = ngx_atotm(value.data, value.len);

        if (delta == NGX_ERROR) {
            date = ngx_parse_http_time(value.data, value.len);

            if (date != NGX_ERROR) {
                delta = date - ngx_time();
            }
        }

        r->result.retry_after = (delta > 0) ? delta : 0;

    } else if (name.len == sizeof("Location") - 1
               && ngx_strncasecmp(name.data, (u_char *) "Location",
                                  name.len) == 0)
    {
        r->result.location.data = ngx_pstrdup(r->pool, &value);
        if (r->result.location.data == NULL) {
            ngx_chatvisor_client_fail(r, "out of memory");
            return NGX_ERROR;
        }

        r->result.location.len = value.len;
    }

    return NGX_OK;
}


/* n bytes of the body: NGX_OK once it is whole, NGX_AGAIN for more */

static ngx_int_t
ngx_chatvisor_client_body(ngx_chatvisor_client_request_t *r, u_char *p,
    size_t n)
{
    size_t                          size;
    ngx_chatvisor_client_answer_t  *a;

    a = &r->answer;

    switch (a->body) {

    case NGX_CHATVISOR_CLIENT_BODY_NONE:
        if (n) {
            /* more than the answer: the connection is not reused */
            a->close = 1;
        }

        return NGX_OK;

    case NGX_CHATVISOR_CLIENT_BODY_LENGTH:
        size = (off_t) n > a->rest ? (size_t) a->rest : n;

        ngx_chatvisor_client_keep(r, p, size);
        a->rest -= size;

        if (size < n) {
            a->close = 1;
        }

        return (a->rest == 0) ? NGX_OK : NGX_AGAIN;

    case NGX_CHATVISOR_CLIENT_BODY_CHUNKED:
        return ngx_chatvisor_client_chunked(r, p, p + n);

    default: /* NGX_CHATVISOR_CLIENT_BODY_CLOSE */
        ngx_chatvisor_client_keep(r, p, n);
        return NGX_AGAIN;
    }
}


static ngx_int_t
ngx_chatvisor_client_chunked(ngx_chatvisor_client_request_t *r, u_char *p,
    u_char *last)
{
    u_char                          ch, d;
    size_t                          size;
    ngx_chatvisor_client_answer_t  *a;

    a = &r->answer;

    while (p < last) {

        if (a->chunk == NGX_CHATVISOR_CHUNK_DATA) {
            size = (off_t) (last - p) > a->rest ? (size_t) a->rest
                                                : (size_t) (last - p);

            ngx_chatvisor_client_keep(r, p, size);
            p += size;
            a->rest -= size;

            if (a->rest == 0) {
                a->chunk = NGX_CHATVISOR_CHUNK_DATA_CR;
            }

            continue;
        }

        ch = *p++;

        switch (a->chunk) {

        case NGX_CHATVISOR_CHUNK_SIZE:
            d = ch | 0x20;

            if (ch >= '0' && ch <= '9') {
                d = ch - '0';

            } else if (d >= 'a' && d <= 'f') {
                d = d - 'a' + 10;

            } else if (a->digits
                       && (ch == ';' || ch == ' ' || ch == '\t'
                           || ch == CR || ch == LF))
            {
                if (ch == LF) {
                    goto size_done;
                }

                a->chunk = (ch == CR) ? NGX_CHATVISOR_CHUNK_SIZE_LF
                                      : NGX_CHATVISOR_CHUNK_EXT;
                break;

            } else {
                goto invalid;
            }

            if (++a->digits > NGX_CHATVISOR_CHUNK_DIGITS_MAX) {
                goto invalid;
            }

            a->rest = a->rest * 16 + d;
            break;

        case NGX_CHATVISOR_CHUNK_EXT:
            if (ch == CR) {
                a->chunk = NGX_CHATVISOR_CHUNK_SIZE_LF;

            } else if (ch == LF) {
                goto size_done;
            }

            break;

        case NGX_CHATVISOR_CHUNK_SIZE_LF:
            if (ch != LF) {
                goto invalid;
            }

            goto size_done;

        case NGX_CHATVISOR_CHUNK_DATA_CR:
            if (ch == CR) {
                a->chunk = NGX_CHATVISOR_CHUNK_DATA_LF;

            } else if (ch == LF) {
                a->chunk = NGX_CHATVISOR_CHUNK_SIZE;
                a->digits = 0;

            } else {
                goto invalid;
            }

            break;

        case NGX_CHATVISOR_CHUNK_DATA_LF:
            if (ch != LF) {
                goto invalid;
            }

            a->chunk = NGX_CHATVISOR_CHUNK_SIZE;
            a->digits = 0;
            break;

        case NGX_CHATVISOR_CHUNK_TRAILER:
            if (ch == CR) {
                a->chunk = NGX_CHATVISOR_CHUNK_LAST_LF;

            } else if (ch == LF) {
                goto done;

            } else {
                a->chunk = NGX_CHATVISOR_CHUNK_TRAILER_LINE;
            }

            break;

        case NGX_CHATVISOR_CHUNK_TRAILER_LINE:
            if (ch == LF) {
                a->chunk = NGX_CHATVISOR_CHUNK_TRAILER;
            }

            break;

        default: /* NGX_CHATVISOR_CHUNK_LAST_LF */
            if (ch != LF) {
                goto invalid;
            }

            goto done;
        }

        continue;

    size_done:

        a->chunk = (a->rest == 0) ? NGX_CHATVISOR_CHUNK_TRAILER
                                  : NGX_CHATVISOR_CHUNK_DATA;
    }

    return NGX_AGAIN;

done:

    if (p < last) {
        a->close = 1;
    }

    return NGX_OK;

invalid:

    ngx_chatvisor_client_fail(r, "invalid answer (chunked encoding, HTTP %ui)",
                              a->status);
    return NGX_ERROR;
}


/* the first bytes of a non-2xx answer's body, for the error */

static void
ngx_chatvisor_client_keep(ngx_chatvisor_client_request_t *r, u_char *p,
    size_t n)
{
    ngx_chatvisor_client_answer_t  *a;

    a = &r->answer;

    if (a->kept == NULL || a->nkept == NGX_CHATVISOR_CLIENT_ERROR_BODY) {
        return;
    }

    n = ngx_min(n, NGX_CHATVISOR_CLIENT_ERROR_BODY - a->nkept);

    ngx_memcpy(a->kept + a->nkept, p, n);
    a->nkept += n;
}


static void
ngx_chatvisor_client_complete(ngx_chatvisor_client_request_t *r)
{
    u_char                         *p, *q, *last;
    ngx_uint_t                      need;
    ngx_chatvisor_client_answer_t  *a;

    a = &r->answer;

    r->result.status = a->status;

    if (a->kept) {
        /* a UTF-8 sequence cut at the end is left out */

        p = a->kept;
        last = a->kept + a->nkept;

        if (a->nkept == NGX_CHATVISOR_CLIENT_ERROR_BODY) {
            q = last;

            while (q > p && last - q < 3 && (q[-1] & 0xc0) == 0x80) {
                q--;
            }

            if (q > p && q[-1] >= 0xc0) {
                need = (q[-1] >= 0xf0) ? 4 : (q[-1] >= 0xe0) ? 3 : 2;

                if ((ngx_uint_t) (last - q) + 1 < need) {
                    last = q - 1;
                }
            }
        }

        r->result.error.data = p;
        r->result.error.len = last - p;
    }

    ngx_chatvisor_client_finish(r, !a->close);
}


/* ------------------------------------------------------- failures, ends */

static void
ngx_chatvisor_client_timeout(ngx_event_t *ev)
{
    ngx_msec_t                       t;
    ngx_chatvisor_client_request_t  *r;

    r = ev->data;

    t = r->client->conf->timeout;

    ngx_log_error(NGX_LOG_INFO, &r->log, NGX_ETIMEDOUT, "webhook timed out");

    if (r->conn) {
        r->conn->connection->timedout = 1;
    }

    if (r->phase == NGX_CHATVISOR_CLIENT_READING
        && r->answer.received == 0)
    {
        r->log.action = "waiting for the answer";
    }

    if (t % 1000 == 0) {
        ngx_chatvisor_client_fail(r, "timed out after %Ms while %s",
                                  t / 1000, r->log.action);

    } else {
        ngx_chatvisor_client_fail(r, "timed out after %Mms while %s",
                                  t, r->log.action);
    }
}


/*
 * A connection failed (err: its error, or 0). A request on a reused
 * connection that got no byte of answer is tried again, once, on a new
 * connection: the peer may have closed it while it was idle.
 */

static void
ngx_chatvisor_client_io_failed(ngx_chatvisor_client_request_t *r,
    ngx_err_t err, const char *what)
{
    u_char                       *p, *buf, text[NGX_MAX_ERROR_STR];
    ngx_chatvisor_client_conn_t  *conn;

    if (r->reused && r->answer.received == 0 && !r->retried) {

        ngx_log_error(NGX_LOG_INFO, &r->log, err,
                      "kept-alive connection failed, trying a new one");

        conn = r->conn;
        r->conn = NULL;
        conn->request = NULL;
        ngx_chatvisor_client_close(conn);

        r->log.connection = 0;
        r->peer_name.len = 0;
        r->reused = 0;
        r->retried = 1;
        r->sent = 0;

        buf = r->answer.buf;
        ngx_memzero(&r->answer, sizeof(ngx_chatvisor_client_answer_t));
        r->answer.buf = buf;

        /* the same timer goes on */

        ngx_chatvisor_client_begin(r);
        return;
    }

    if (err == 0) {
        if (what == NULL) {
            ngx_chatvisor_client_fail(r, "connection closed by the receiver "
                                      "before any answer");
            return;
        }

        ngx_chatvisor_client_fail(r, "%s", what);
        return;
    }

    /* the system's words, "connection refused", "connection reset by
     * peer"..., with what was being done unless connecting */

    p = ngx_strerror(err, text, sizeof(text) - 1);
    *p = '\0';

    if (text[0] >= 'A' && text[0] <= 'Z') {
        text[0] |= 0x20;
    }

    if (r->phase == NGX_CHATVISOR_CLIENT_CONNECTING) {
        ngx_chatvisor_client_fail(r, "%s", text);
        return;
    }

    ngx_chatvisor_client_fail(r, "%s while %s", text, r->log.action);
}


static void
ngx_chatvisor_client_fail(ngx_chatvisor_client_request_t *r,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    p = ngx_pnalloc(r->pool, NGX_CHATVISOR_CLIENT_ERROR_MAX);

    if (p == NULL) {
        ngx_str_set(&r->result.error, "out of memory");

    } else {
        va_start(args, fmt);
        r->result.error.len = ngx_vslprintf(p,
                                            p + NGX_CHATVISOR_CLIENT_ERROR_MAX,
                                            fmt, args)
                              - p;
        va_end(args);

        r->result.error.data = p;
    }

    r->result.status = 0;
    r->result.retry_after = 0;
    ngx_str_null(&r->result.location);

    ngx_chatvisor_client_finish(r, 0);
}


static void
ngx_chatvisor_client_finish(ngx_chatvisor_client_request_t *r,
    ngx_uint_t keepalive)
{
    void                          *data;
    ngx_uint_t                     level;
    ngx_chatvisor_client_done_pt   done;

    ngx_chatvisor_client_release(r, keepalive);

    r->result.duration = ngx_current_msec - r->start;

    /* the outcome says what was being done */
    r->log.action = NULL;

    if (r->result.status == 0) {
        ngx_log_error(NGX_LOG_NOTICE, &r->log, 0,
                      "webhook failed after %Mms: %V",
                      r->result.duration, &r->result.error);

    } else {
        level = (r->result.status >= 200 && r->result.status < 300)
                ? NGX_LOG_INFO : NGX_LOG_NOTICE;

        ngx_log_error(level, &r->log, 0, "webhook answered %ui in %Mms%s",
                      r->result.status, r->result.duration,
                      r->reused ? " (kept-alive connection)" : "");
    }

    done = r->done;
    data = r->data;

    /* done() may destroy the client, post again, cancel others: this
     * request is off every list by now */

    r->finished = 1;

    done(&r->result, data);

    ngx_destroy_pool(r->pool);
}


/* takes the request off its timer, events, resolver, connection, client */

static void
ngx_chatvisor_client_release(ngx_chatvisor_client_request_t *r,
    ngx_uint_t keepalive)
{
    ngx_chatvisor_client_conn_t  *conn;

    if (r->timer.timer_set) {
        ngx_del_timer(&r->timer);
    }

    if (r->next.posted) {
        ngx_delete_posted_event(&r->next);
    }

    if (r->resolving) {
        ngx_resolve_name_done(r->resolving);
        r->resolving = NULL;
    }

    conn = r->conn;

    if (conn) {
        r->conn = NULL;
        conn->request = NULL;

        if (keepalive) {
            ngx_chatvisor_client_keepalive(conn);

        } else {
            ngx_chatvisor_client_close(conn);
        }
    }

    ngx_queue_remove(&r->queue);
}


/* ---------------------------------------------------- idle connections */

static void
ngx_chatvisor_client_keepalive(ngx_chatvisor_client_conn_t *conn)
{
    ngx_queue_t                  *q;
    ngx_connection_t             *c;
    ngx_chatvisor_client_t       *cl;
    ngx_chatvisor_client_conn_t  *oldest;

    c = conn->connection;
    cl = conn->client;

    if (cl->conf->max_idle == 0
        || cl->conf->keepalive_timeout == 0
        || ngx_terminate
        || ngx_exiting
        || c->read->eof
        || c->read->error
        || c->write->error)
    {
        ngx_chatvisor_client_close(conn);
        return;
    }

    if (cl->nidle >= cl->conf->max_idle) {
        q = ngx_queue_last(&cl->idle);
        oldest = ngx_queue_data(q, ngx_chatvisor_client_conn_t, queue);
        ngx_chatvisor_client_close(oldest);
    }

    c->log = &cl->log;
    c->read->log = &cl->log;
    c->write->log = &cl->log;
    c->pool->log = &cl->log;

    c->idle = 1;
    c->read->delayed = 0;

    c->read->handler = ngx_chatvisor_client_idle_handler;
    c->write->handler = ngx_chatvisor_client_dummy_handler;

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    ngx_add_timer(c->read, cl->conf->keepalive_timeout);

    ngx_queue_insert_head(&cl->idle, &conn->queue);
    cl->nidle++;

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_chatvisor_client_close(conn);
        return;
    }

    if (c->read->ready) {
        ngx_chatvisor_client_idle_handler(c->read);
    }
}


/* an idle connection: anything from the peer (its close, mostly), the
 * timeout or the worker's shutdown closes it */

static void
ngx_chatvisor_client_idle_handler(ngx_event_t *ev)
{
    int                           n;
    char                          buf[1];
    ngx_connection_t             *c;
    ngx_chatvisor_client_conn_t  *conn;

    c = ev->data;
    conn = c->data;

    if (c->close || ev->timedout) {
        goto close;
    }

    n = recv(c->fd, buf, 1, MSG_PEEK);

    if (n == -1 && ngx_socket_errno == NGX_EAGAIN) {
        ev->ready = 0;

        if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
            goto close;
        }

        return;
    }

close:

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "webhook closes idle connection #%uA", c->number);

    ngx_chatvisor_client_close(conn);
}


static void
ngx_chatvisor_client_dummy_handler(ngx_event_t *ev)
{
}


static void
ngx_chatvisor_client_close(ngx_chatvisor_client_conn_t *conn)
{
    ngx_pool_t        *pool;
    ngx_connection_t  *c;

    c = conn->connection;

    if (conn->request == NULL && c->idle) {
        ngx_queue_remove(&conn->queue);
        conn->client->nidle--;
    }

#if (NGX_SSL)
    if (c->ssl) {
        /* no close_notify either way: never waits */
        c->ssl->no_wait_shutdown = 1;
        c->ssl->no_send_shutdown = 1;

        (void) ngx_ssl_shutdown(c);
    }
#endif

    pool = c->pool;

    ngx_close_connection(c);

    /* conn with it */
    ngx_destroy_pool(pool);
}
