/*
 * The webhooks' HTTP(S) client: POSTs a JSON body to one target URL on
 * nginx's event loop, never blocking the worker. Names are resolved with
 * nginx's resolver, addresses checked against private ranges before any
 * connection, https goes through ngx_ssl (SNI, verification, sessions
 * reused per target), and connections are kept alive per target.
 *
 * A client is one target URL and its idle connections; a request is one
 * attempt (resolve, connect, TLS, send, read the answer) under one timer,
 * in a pool of its own. Private to the webhooks folder.
 */

#ifndef _NGX_CHATVISOR_WEBHOOK_CLIENT_H_INCLUDED_
#define _NGX_CHATVISOR_WEBHOOK_CLIENT_H_INCLUDED_


#include "ngx_chatvisor_http.h"


/* bytes of a non-2xx answer's body kept as the error */
#define NGX_CHATVISOR_CLIENT_ERROR_BODY    1024

/* the answer's status line and headers must fit in this */
#define NGX_CHATVISOR_CLIENT_HEADER_MAX    8192


typedef struct {
#if (NGX_SSL)
    ngx_ssl_t                    *ssl;       /* https (NULL: refused), made
                                                by ..._client_ssl_init() */
#endif
    ngx_flag_t                    verify;    /* check the peer's certificate
                                                and its name */
    ngx_resolver_t               *resolver;  /* names need one with a server */
    ngx_msec_t                    resolver_timeout;
    ngx_msec_t                    timeout;   /* a whole attempt: resolve,
                                                connect, TLS, send, answer */
    ngx_msec_t                    keepalive_timeout; /* an idle connection
                                                closes after it */
    ngx_uint_t                    max_idle;  /* idle connections per target */
    ngx_flag_t                    allow_private; /* else loopback, private,
                                                link-local... are refused */
    ngx_log_t                    *log;
} ngx_chatvisor_client_conf_t;


typedef struct ngx_chatvisor_client_s          ngx_chatvisor_client_t;
typedef struct ngx_chatvisor_client_request_s  ngx_chatvisor_client_request_t;


/* what an attempt came to; valid only while done() runs */
typedef struct {
    ngx_uint_t                    status;    /* of a complete answer; 0: none
                                                (the error says why) */
    ngx_str_t                     error;     /* status 0: what went wrong, in
                                                words; non-2xx: the first
                                                bytes (at most 1 KB) of the
                                                answer's body; 2xx: empty */
    time_t                        retry_after; /* seconds, from Retry-After
                                                (delta or date); 0: none */
    ngx_str_t                     location;  /* a 3xx's Location (never
                                                followed); empty: none */
    ngx_msec_t                    duration;  /* from post to done */
} ngx_chatvisor_client_result_t;

typedef void (*ngx_chatvisor_client_done_pt)(
    ngx_chatvisor_client_result_t *res, void *data);


#if (NGX_SSL)

/*
 * At configuration time: a TLS client context (TLSv1.2 and TLSv1.3,
 * sessions reused per target) for conf->ssl, freed with cf->pool. With
 * verify, the peers' certificates (chains up to 10 deep) are checked
 * against trusted_certificate (a PEM file; a relative path is taken from
 * nginx's configuration directory) or, when it is empty, the system's
 * default CA paths. conf->verify must then be on as well: it is what
 * checks each connection's result.
 */
ngx_int_t ngx_chatvisor_client_ssl_init(ngx_conf_t *cf, ngx_ssl_t **ssl,
    ngx_str_t *trusted_certificate, ngx_flag_t verify);

#endif

/*
 * A client of url: http or https, a host name or an IP literal ([v6]), an
 * optional port, a path and query. User information, fragments, other
 * schemes, spaces, control and non-ASCII bytes are refused: NULL with *err
 * set to a static text saying why ("out of memory" included). conf is kept
 * by pointer: it must outlive the client.
 */
ngx_chatvisor_client_t *ngx_chatvisor_client_create(
    ngx_chatvisor_client_conf_t *conf, ngx_str_t *url, ngx_str_t *err);

/*
 * POSTs body (Content-Type: application/json) with the extra header lines
 * in headers ("Name: value\r\n"..., may be empty); both are copied.
 * done(res, data) is called exactly once, later (never from inside this
 * call), unless the request is cancelled; the request is gone once done()
 * returns. NULL: no memory (done() will not be called).
 */
ngx_chatvisor_client_request_t *ngx_chatvisor_client_post(
    ngx_chatvisor_client_t *c, ngx_str_t *headers, ngx_str_t *body,
    ngx_chatvisor_client_done_pt done, void *data);

/* ends a request in flight: its connection is closed, done() not called */
void ngx_chatvisor_client_cancel(ngx_chatvisor_client_request_t *r);

/* cancels the client's requests, closes its connections, frees it; may be
 * called from a done() of its own, and from the worker's exit */
void ngx_chatvisor_client_destroy(ngx_chatvisor_client_t *c);


#endif /* _NGX_CHATVISOR_WEBHOOK_CLIENT_H_INCLUDED_ */
