/*
 * HTTP plumbing for the chatvisor surfaces: the request context, route
 * tables, request bodies and arguments, cookies and signatures, answers
 * and errors.
 *
 * One error protocol: a check returns NGX_OK, or NGX_DECLINED with what is
 * wrong in an ngx_chatvisor_err_t (NGX_ERROR when it could not check); it
 * never answers. The handler that called it answers (ngx_chatvisor_send_err)
 * and returns. Store outcomes (cv_status) are answered with
 * ngx_chatvisor_send_status.
 */

#ifndef _NGX_CHATVISOR_HTTP_H_INCLUDED_
#define _NGX_CHATVISOR_HTTP_H_INCLUDED_


#include "ngx_chatvisor_runtime.h"
#include "cv_agents.h"
#include "cv_api_tokens.h"
#include "cv_webhooks.h"
#include "cv_customers.h"


/* the largest request body, and its name in errors */
#define NGX_CHATVISOR_BODY_MAX       65536
#define NGX_CHATVISOR_BODY_MAX_TEXT  "64 KB"

/* 503's message: this worker has no store */
#define NGX_CHATVISOR_UNAVAILABLE  "the chat store is not available"

/* 507: the store is full (RFC 4918) */
#define NGX_CHATVISOR_HTTP_INSUFFICIENT_STORAGE  507

/* the largest whole number a JSON client holds exactly */
#define NGX_CHATVISOR_JSON_INT_MAX   ((uint64_t) 1 << 53)

/* a signature: base64url of an HMAC-SHA256, NUL-terminated */
#define NGX_CHATVISOR_SIG_LEN        43
#define NGX_CHATVISOR_SIG_SIZE       (NGX_CHATVISOR_SIG_LEN + 1)


/* ------------------------------------------------------------- errors */

#define NGX_CHATVISOR_ERR_TEXT  160

/* what a check found wrong: the answer the handler will send */
typedef struct {
    ngx_uint_t                    status;
    const char                   *code;
    const char                   *message;
    u_char                        text[NGX_CHATVISOR_ERR_TEXT]; /* room for
                                                 a message put together */
} ngx_chatvisor_err_t;

/* fills err and returns NGX_DECLINED */
ngx_int_t ngx_chatvisor_reject(ngx_chatvisor_err_t *err, ngx_uint_t status,
    const char *code, const char *message);

/* 400 invalid_request */
ngx_int_t ngx_chatvisor_invalid(ngx_chatvisor_err_t *err,
    const char *message);

/* 400 invalid_request, the message formatted (ngx_sprintf) into err->text */
ngx_int_t ngx_chatvisor_invalidf(ngx_chatvisor_err_t *err,
    const char *fmt, ...);


/* ------------------------------------------------------ request context */

typedef struct ngx_chatvisor_ctx_s    ngx_chatvisor_ctx_t;
typedef struct ngx_chatvisor_route_s  ngx_chatvisor_route_t;

/* answers the request, or returns NGX_DONE when it will */
typedef ngx_int_t (*ngx_chatvisor_handler_pt)(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);

/* a request's write (ngx_chatvisor_write): run() in the shared transaction,
 * done() answers after the commit with the rc to finalize with */
typedef cv_status (*ngx_chatvisor_write_run_pt)(ngx_http_request_t *r,
    cv_txn *t);
typedef ngx_int_t (*ngx_chatvisor_write_done_pt)(ngx_http_request_t *r,
    cv_status st);

/* who is asking, as the route's caller check found out */
typedef struct {
    char                          customer_id[CV_ID_MAX]; /* visitor; "" */
    char                          agent_id[CV_AGENT_ID_MAX + 1];
    char                          agent_name[CV_AGENT_NAME_MAX + 1];
    const cJSON                  *agent;      /* the session cache's record:
                                                 good for this handler call */
    u_char                        session[CV_SECRET_STR];
    char                          api_client[CV_API_CLIENT_MAX + 1];
    unsigned                      new_visitor:1;  /* no cookie yet */
} ngx_chatvisor_caller_t;

#define NGX_CHATVISOR_PARAMS_MAX  2

struct ngx_chatvisor_ctx_s {
    ngx_http_request_t           *request;
    const ngx_chatvisor_route_t  *route;
    char                         *param[NGX_CHATVISOR_PARAMS_MAX];
    cJSON                        *body;       /* parsed, freed with r */
    ngx_str_t                     raw;        /* BODY_RAW: the elements */
    size_t                        raw_count;  /* how many */
    ngx_chatvisor_handler_pt      next;       /* runs once it is read */
    off_t                         body_limit; /* of the body being read */
    off_t                         body_received;
    ngx_buf_t                    *body_copy;  /* BODY_RAW with a length:
                                                 the body, read into one
                                                 buffer of that size */
    unsigned                      body_too_large:1;
    ngx_chatvisor_caller_t        caller;
    ngx_chatvisor_op_t            op;         /* its write */
    ngx_chatvisor_write_run_pt    write_run;
    ngx_chatvisor_write_done_pt   write_done;
    ngx_chatvisor_wait_t          wait;       /* its long-poll */
    ngx_chatvisor_cluster_wait_t  cluster;    /* its command (cluster mode) */
    void                         *data;       /* the endpoint's own state */
};

/* the request's context, made by the route that answers it */
#define ngx_chatvisor_ctx(r)                                                 \
    ((ngx_chatvisor_ctx_t *) ngx_http_get_module_ctx(r, ngx_chatvisor_module))

ngx_chatvisor_ctx_t *ngx_chatvisor_ctx_create(ngx_http_request_t *r);

/* the endpoint's own state, allocated once (zeroed) */
void *ngx_chatvisor_ctx_data(ngx_chatvisor_ctx_t *ctx, size_t size);


/* -------------------------------------------------------- route tables */

/* who may call a route */
#define NGX_CHATVISOR_CALLER_NONE     0   /* anyone */
#define NGX_CHATVISOR_CALLER_VISITOR  1   /* a browser on this site: writes
                                             must be same-origin */
#define NGX_CHATVISOR_CALLER_AGENT    2   /* a console session; writes also
                                             carry its CSRF token */
#define NGX_CHATVISOR_CALLER_API      3   /* an API access token */

/* what a route reads as its body */
#define NGX_CHATVISOR_BODY_NONE       0   /* nothing: discarded */
#define NGX_CHATVISOR_BODY_OBJECT     1   /* a JSON object; none reads {} */
#define NGX_CHATVISOR_BODY_ARRAY      2   /* a JSON object or array */
#define NGX_CHATVISOR_BODY_FORM       3   /* a JSON object or a form */
#define NGX_CHATVISOR_BODY_RAW        4   /* a JSON array of objects, kept as
                                             text (ctx->raw: its elements)
                                             and checked, never parsed; the
                                             handler reads it itself, with
                                             its own limit, once its checks
                                             pass (ngx_chatvisor_body_read_
                                             raw), so a request bound to
                                             fail is refused before
                                             megabytes are read */

/* methods: GET answers HEAD too; any other method is a write */
#define NGX_CHATVISOR_GET     (NGX_HTTP_GET|NGX_HTTP_HEAD)

/*
 * One operation of a surface. path is relative to the surface; a segment
 * "{conversation}", "{customer}" or "{agent}" takes an id of that kind
 * into ctx->param[] (a malformed one is answered 404). fields lists the
 * body's allowed fields (NULL: the handler checks them).
 */
struct ngx_chatvisor_route_s {
    ngx_uint_t                    methods;
    ngx_str_t                     path;
    ngx_uint_t                    caller;
    ngx_uint_t                    body;
    const char                  **fields;
    ngx_chatvisor_handler_pt      handler;
};

/* the most segments of a route's path */
#define NGX_CHATVISOR_SEGMENTS_MAX  6

typedef struct ngx_chatvisor_param_kind_s  ngx_chatvisor_param_kind_t;

/* a route's path split once, at configuration time */
typedef struct {
    ngx_uint_t                    n;
    ngx_str_t                     seg[NGX_CHATVISOR_SEGMENTS_MAX];
    ngx_chatvisor_param_kind_t   *kind[NGX_CHATVISOR_SEGMENTS_MAX]; /* of an
                                                 id, NULL: a literal */
} ngx_chatvisor_route_path_t;

/* the caller check of a surface: fills ctx->caller, or NGX_DECLINED */
typedef ngx_int_t (*ngx_chatvisor_auth_pt)(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, ngx_uint_t caller, ngx_chatvisor_err_t *err);

/*
 * The visitor, agent or API endpoints: PREFIX + base + a route's path.
 * A surface is made of the route tables of the features that serve under
 * its base (each table ends with a NULL handler), joined once when the
 * configuration is read.
 */
typedef struct {
    ngx_str_t                     base;
    const char                   *not_found;  /* the 404's message */
    ngx_chatvisor_route_t       **tables;     /* NULL-ended */
    ngx_uint_t                    caller;     /* of paths with no route */
    ngx_chatvisor_auth_pt         auth;
    ngx_chatvisor_route_t        *routes;     /* the tables joined, ending
                                                 with a NULL handler */
    ngx_chatvisor_route_path_t   *paths;      /* by route */
} ngx_chatvisor_surface_t;

/* joins the surface's tables and splits their paths; a malformed row, or
 * an operation two tables both have, fails the configuration */
ngx_int_t ngx_chatvisor_route_init(ngx_conf_t *cf,
    ngx_chatvisor_surface_t *surface);

/*
 * Answers a request for path (below the surface's base): the caller check
 * of the route (or of the surface, for a path it has no route for), 404,
 * 405 with Allow, the body read and checked, then the route's handler.
 */
ngx_int_t ngx_chatvisor_route(ngx_http_request_t *r,
    ngx_chatvisor_surface_t *surface, ngx_str_t *path);


/* ---------------------------------------------------------- bodies */

/* reads the body the route takes into ctx->body, at most
 * NGX_CHATVISOR_BODY_MAX bytes, then answers with next(r, ctx); a body
 * that is not one, or is too large, is answered here (400, 413, 415) */
ngx_int_t ngx_chatvisor_body_read(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, ngx_chatvisor_handler_pt next);

/* the same for a BODY_RAW route, at most max bytes, into ctx->raw; a
 * body over max is dropped and next() runs with ctx->body_too_large set,
 * to answer it as the route needs (ngx_chatvisor_send_too_large) */
ngx_int_t ngx_chatvisor_body_read_raw(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, size_t max, ngx_chatvisor_handler_pt next);

/* 413 too_large for a body over max bytes (what is left of it is read and
 * dropped) */
ngx_int_t ngx_chatvisor_send_too_large(ngx_http_request_t *r, size_t max);

/*
 * postconfiguration: a request body filter that holds a body being read
 * for a route to the route's limit. A chunked body (its length unknown
 * beforehand) over it is read to its end and dropped, costing neither
 * memory nor disk, and answered 413 like any other; client_max_body_size
 * does not apply in chatvisor locations (each route has its own limit).
 */
ngx_int_t ngx_chatvisor_body_init(ngx_conf_t *cf);

/* body fields: NGX_DECLINED for a field not in allowed (NULL-ended) */
ngx_int_t ngx_chatvisor_fields_allowed(cJSON *body, const char **allowed,
    ngx_chatvisor_err_t *err);

/* a string field: *out NULL when absent or null; a field of another type
 * or longer than max bytes is refused, an absent one when required */
ngx_int_t ngx_chatvisor_field_string(cJSON *body, const char *name,
    size_t max, ngx_uint_t required, const char **out,
    ngx_chatvisor_err_t *err);

/* an optional true / false field: *out 1 when absent */
ngx_int_t ngx_chatvisor_field_flag(cJSON *body, const char *name,
    ngx_uint_t *out, ngx_chatvisor_err_t *err);

/* an optional agent id field; null is allowed when nullable */
ngx_int_t ngx_chatvisor_field_agent_id(cJSON *body, const char *name,
    ngx_uint_t nullable, ngx_chatvisor_err_t *err);

/* a message's "text" (required, valid) and "client_msg_id" */
ngx_int_t ngx_chatvisor_message_fields(cJSON *body, const char **text,
    const char **client_msg_id, ngx_chatvisor_err_t *err);

/* a string field's value, NULL when absent or not a string */
const char *ngx_chatvisor_body_string(cJSON *body, const char *name);


/* ---------------------------------------------------- query arguments */

ngx_int_t ngx_chatvisor_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);

/* a whole number 0 .. 2^53 */
ngx_int_t ngx_chatvisor_parse_u64(ngx_str_t *s, uint64_t *v);

/* a cursor argument (after=, since=, cursor=): 0 when absent */
ngx_int_t ngx_chatvisor_arg_cursor(ngx_http_request_t *r, const char *name,
    uint64_t *value, ngx_chatvisor_err_t *err);

/* ?limit=N, 1..max, def when absent */
ngx_int_t ngx_chatvisor_arg_limit(ngx_http_request_t *r, size_t def,
    size_t max, size_t *limit, ngx_chatvisor_err_t *err);

/* an argument that is one of values (NULL-ended): *index, or def when
 * absent; anything else is refused with message */
ngx_int_t ngx_chatvisor_arg_choice(ngx_http_request_t *r, const char *name,
    const char **values, ngx_uint_t def, ngx_uint_t *index,
    const char *message, ngx_chatvisor_err_t *err);

/* a path segment or argument equal to a literal */
ngx_uint_t ngx_chatvisor_str_is(ngx_str_t *s, const char *lit);


/* ------------------------------------------------------------ headers */

/* the first header of list named name (case-insensitive) for which
 * accept(h, data) is NGX_OK (accept NULL: the first one) */
typedef ngx_int_t (*ngx_chatvisor_header_pt)(ngx_table_elt_t *h,
    void *data);

ngx_table_elt_t *ngx_chatvisor_header_find(ngx_list_t *list,
    const char *name, ngx_chatvisor_header_pt accept, void *data);

ngx_table_elt_t *ngx_chatvisor_header_add(ngx_http_request_t *r,
    const char *key, u_char *value, size_t len);

/* a media type "type" or "type; params", case-insensitive */
ngx_uint_t ngx_chatvisor_content_type_is(ngx_str_t *ct, const char *type);

/* NGX_DECLINED for a request a browser sends for another site */
ngx_int_t ngx_chatvisor_same_origin(ngx_http_request_t *r);


/* ------------------------------------------------------------ cookies */

ngx_int_t ngx_chatvisor_cookie_get(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);
/* the prefix as browsers see it: chatvisor_public_url's path, else
 * chatvisor_prefix */
ngx_str_t *ngx_chatvisor_public_prefix(ngx_http_request_t *r);
ngx_int_t ngx_chatvisor_cookie_set(ngx_http_request_t *r, const char *name,
    ngx_str_t *value, ngx_str_t *path, time_t max_age, ngx_uint_t strict);

/* base64url(HMAC-SHA256(store secret, purpose ":" data)), NUL-terminated */
ngx_int_t ngx_chatvisor_sign(ngx_http_request_t *r, const char *purpose,
    u_char *data, size_t len, ngx_str_t *out);

/* "VALUE.SIG" cookies signed for purpose: the value of a valid one, at
 * most max bytes (NGX_DECLINED: none, forged, or from another store) */
ngx_int_t ngx_chatvisor_signed_cookie_get(ngx_http_request_t *r,
    const char *name, const char *purpose, size_t max, ngx_str_t *value);
ngx_int_t ngx_chatvisor_signed_cookie_set(ngx_http_request_t *r,
    const char *name, const char *purpose, ngx_str_t *value,
    ngx_str_t *path, time_t max_age, ngx_uint_t strict);

/* the visitor's customer id from the cv_visitor cookie ("" when none) */
ngx_int_t ngx_chatvisor_visitor_cookie(ngx_http_request_t *r,
    char customer_id[CV_ID_MAX]);
ngx_int_t ngx_chatvisor_visitor_cookie_set(ngx_http_request_t *r,
    const char *customer_id);

/* ngx_chatvisor_identity.c: the integrator's customer id the edge named
 * (cv_identify), and the proof of the last identification (cv_identity) */
ngx_int_t ngx_chatvisor_identify_cookie_set(ngx_http_request_t *r,
    const char *ext_id);
ngx_int_t ngx_chatvisor_identify_cookie(ngx_http_request_t *r,
    char ext_id[CV_CUSTOMER_EXT_ID_MAX + 1]);
/* 1 when this browser was made customer_id as ext_id */
ngx_int_t ngx_chatvisor_identity_proven(ngx_http_request_t *r,
    const char *customer_id, const char *ext_id);
ngx_int_t ngx_chatvisor_identity_cookie_set(ngx_http_request_t *r,
    const char *customer_id, const char *ext_id);

/* ngx_chatvisor_secret_file.c: a secret from a file nginx.conf names, the
 * file's name in name (chatvisor_api_client, chatvisor_identity_secret) */
char *ngx_chatvisor_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *name, ngx_str_t *secret);
/* takes the line end and blanks after a secret off */
void ngx_chatvisor_secret_trim(ngx_str_t *s);


/* ------------------------------------------------------------ answers */

ngx_int_t ngx_chatvisor_send_err(ngx_http_request_t *r,
    ngx_chatvisor_err_t *err);
ngx_int_t ngx_chatvisor_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message);

/* a store outcome as an error; why, when set, says what went wrong */
ngx_int_t ngx_chatvisor_send_status(ngx_http_request_t *r, cv_status st,
    const char *why);

/* 503: this worker has no store */
ngx_int_t ngx_chatvisor_send_unavailable(ngx_http_request_t *r);
/* 429 rate_limited with Retry-After: seconds */
ngx_int_t ngx_chatvisor_send_limited(ngx_http_request_t *r,
    ngx_uint_t retry_after, const char *message);

ngx_int_t ngx_chatvisor_send_method_not_allowed(ngx_http_request_t *r,
    ngx_uint_t methods);

/* takes ownership of json; NULL sends no body (204) */
ngx_int_t ngx_chatvisor_send_json(ngx_http_request_t *r, ngx_uint_t status,
    cJSON *json);
/* JSON text the caller keeps: copied with the final "\n" */
ngx_int_t ngx_chatvisor_send_json_copy(ngx_http_request_t *r,
    ngx_uint_t status, const char *text, size_t len);
/* JSON text built with cv_json_text: "\n" is added, and the text is sent
 * as it is (no copy) and freed with the request; b is left empty */
ngx_int_t ngx_chatvisor_send_json_built(ngx_http_request_t *r,
    ngx_uint_t status, cv_json_text *b);
/* a JSON body put together by the caller, in r->pool, ending in "\n" */
ngx_int_t ngx_chatvisor_send_json_text(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *body);
/* a complete in-memory body; temporary: the pool owns the memory */
ngx_int_t ngx_chatvisor_send_body(ngx_http_request_t *r, ngx_str_t *body,
    ngx_uint_t temporary);

/*
 * Queues the request's write (ngx_chatvisor_commit): 503 when this worker
 * has no store. done NULL answers with ngx_chatvisor_send_op.
 */
ngx_int_t ngx_chatvisor_write(ngx_http_request_t *r,
    ngx_chatvisor_write_run_pt run, ngx_chatvisor_write_done_pt done);

/*
 * Cluster mode (chatvisor_cluster): the request's write as a command (an
 * object, cv_cluster.h; freed here) published to the cluster, answered by
 * done (NULL: ngx_chatvisor_send_op) with the outcome of its application
 * in ctx->op, or 503 at once when the cluster cannot take it; a new
 * visitor's customer id is the one the command made.
 */
ngx_int_t ngx_chatvisor_cluster_write(ngx_http_request_t *r, cJSON *cmd,
    ngx_chatvisor_write_done_pt done);

/* a setting (name: "widget", "visibility") replaced through the stream,
 * as ngx_chatvisor_cluster_write(); value is taken */
ngx_int_t ngx_chatvisor_cluster_settings_put(ngx_http_request_t *r,
    const char *name, cJSON *value, ngx_chatvisor_write_done_pt done);

/* an agent's status (available, away, offline) set through the stream,
 * as ngx_chatvisor_cluster_write(); external: set by the integrator */
ngx_int_t ngx_chatvisor_cluster_agent_status(ngx_http_request_t *r,
    const char *agent_id, const char *status, ngx_uint_t external,
    ngx_chatvisor_write_done_pt done);

/* the answer of a committed write: the error (with op->why), or the posted
 * message (201, 200 for a retry), or op->result with op->ok_status */
ngx_int_t ngx_chatvisor_send_op(ngx_http_request_t *r, cv_status st);

/* in a write's run(), after a change to a customer's conversation: the
 * conversation as the answer (unless a message was posted), and the notice
 * that wakes the polls */
cv_status ngx_chatvisor_op_conversation(ngx_chatvisor_op_t *op, cv_txn *t,
    const char *conversation_id, const char *customer_id);

/* {"items": items, "next_cursor": next} (next NULL: null); takes items */
cJSON *ngx_chatvisor_page(cJSON *items, const char *next);


/* ----------------------------------------------------- embedded files */

/* a browser bundle embedded at build time (scripts/build-www.mjs) */
typedef struct {
    ngx_str_t                 name;
    ngx_str_t                 content_type;
    ngx_str_t                 hash;
    u_char                   *data;
    size_t                    len;
    u_char                   *gz_data;
    size_t                    gz_len;
} ngx_chatvisor_asset_t;

extern ngx_chatvisor_asset_t  ngx_chatvisor_assets[];

ngx_chatvisor_asset_t *ngx_chatvisor_asset_find(u_char *name, size_t len);
ngx_int_t ngx_chatvisor_asset_send(ngx_http_request_t *r,
    ngx_chatvisor_asset_t *asset, const char *cache_control);


/* ------------------------------------------------------------- status */

/* chatvisor_status: the metrics in Prometheus' text format */
ngx_int_t ngx_chatvisor_status_handler(ngx_http_request_t *r);


#endif /* _NGX_CHATVISOR_HTTP_H_INCLUDED_ */
