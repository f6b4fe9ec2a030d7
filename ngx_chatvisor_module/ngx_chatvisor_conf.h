/*
 * Chatvisor for nginx: the configuration every layer reads.
 *
 * The module's layers, bottom up (docs/architecture.md), each including
 * only the headers of those below it:
 *
 *   engine/         plain C: the store and the chat model
 *   runtime/        ngx_chatvisor_runtime.h: store handle, group commit,
 *                   long-polls, notices between workers, shared memory
 *   http/           ngx_chatvisor_http.h: request context, bodies,
 *                   arguments, cookies, answers and errors, route tables
 *   edge/ chat/ cobrowse/ api/ webhooks/  the features, one header each
 *   ngx_chatvisor_module.c, ngx_chatvisor_handler.c: directives and wiring
 *
 * This header sits under all of them: what nginx.conf sets, read by every
 * layer and written only while the configuration is read.
 */

#ifndef _NGX_CHATVISOR_CONF_H_INCLUDED_
#define _NGX_CHATVISOR_CONF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif

#include "cv_store.h"
#include "cv_hours.h"


/* the widget's defaults, generated from www/shared/defaults.json (the
 * widget reads the same file): prefix, color, position, language */
#include "ngx_chatvisor_defaults.h"


#define NGX_CHATVISOR_DEFAULT_POLL_TIMEOUT  25000     /* ms */

/* chatvisor_poll_timeout bounds, ms */
#define NGX_CHATVISOR_POLL_TIMEOUT_MIN      1000
#define NGX_CHATVISOR_POLL_TIMEOUT_MAX      600000

/* the smallest chatvisor_store size= */
#define NGX_CHATVISOR_STORE_SIZE_MIN        (1024 * 1024)

/* chatvisor_cobrowse_max_duration: default and bounds, ms */
#define NGX_CHATVISOR_COBROWSE_DURATION     3600000
#define NGX_CHATVISOR_COBROWSE_DURATION_MIN 1000
#define NGX_CHATVISOR_COBROWSE_DURATION_MAX 86400000

/* chatvisor_cobrowse_memory: default and the smallest */
#define NGX_CHATVISOR_COBROWSE_MEMORY       (64 * 1024 * 1024)
#define NGX_CHATVISOR_COBROWSE_MEMORY_MIN   (1024 * 1024)

/* bytes of one chatvisor_cobrowse_block or _mask_text selector */
#define NGX_CHATVISOR_SELECTOR_MAX          1024

/* a number's constant as a string literal, for messages */
#define NGX_CHATVISOR_QUOTE(x)              #x
#define NGX_CHATVISOR_STR(x)                NGX_CHATVISOR_QUOTE(x)


/* chatvisor_routing */
#define NGX_CHATVISOR_ROUTING_MANUAL        0
#define NGX_CHATVISOR_ROUTING_ROUND_ROBIN   1
#define NGX_CHATVISOR_ROUTING_LEAST_BUSY    2


/* chatvisor_show_if rules */
#define NGX_CHATVISOR_RULE_ONLINE           0x01
#define NGX_CHATVISOR_RULE_AVAILABLE        0x02
#define NGX_CHATVISOR_RULE_HOURS            0x04
#define NGX_CHATVISOR_RULE_VISITS           0x08


/* chatvisor_widget_text keys */
typedef enum {
    NGX_CHATVISOR_TEXT_TITLE = 0,
    NGX_CHATVISOR_TEXT_GREETING,
    NGX_CHATVISOR_TEXT_PLACEHOLDER,
    NGX_CHATVISOR_TEXT_OFFLINE,
    NGX_CHATVISOR_TEXT_LAUNCHER,
    NGX_CHATVISOR_TEXT_N
} ngx_chatvisor_text_e;


/* chatvisor_prechat: what the form asks for, and whether it may be
 * skipped (bits; 0: off) */
#define NGX_CHATVISOR_PRECHAT_EMAIL         0x01
#define NGX_CHATVISOR_PRECHAT_NAME          0x02
#define NGX_CHATVISOR_PRECHAT_REQUIRED      0x04


/* chatvisor_widget_position */
#define NGX_CHATVISOR_POSITION_RIGHT        0
#define NGX_CHATVISOR_POSITION_LEFT         1


typedef struct {
    ngx_str_t                 color;
    ngx_uint_t                position;     /* NGX_CHATVISOR_POSITION_* */
    ngx_str_t                 language;
    ngx_str_t                 text[NGX_CHATVISOR_TEXT_N];
    ngx_msec_t                show_after;
    ngx_flag_t                cobrowse;     /* chatvisor_cobrowse */
    ngx_array_t              *cobrowse_block;   /* ngx_str_t: selectors */
    ngx_array_t              *cobrowse_mask;
    ngx_uint_t                prechat;      /* NGX_CHATVISOR_PRECHAT_* */
} ngx_chatvisor_widget_conf_t;


/* hex digits of a client secret's fingerprint in its tokens */
#define NGX_CHATVISOR_FINGERPRINT_LEN       16

/* chatvisor_api_client NAME SECRET_FILE */
typedef struct {
    ngx_str_t                 name;
    ngx_str_t                 secret;
    char                      fingerprint[NGX_CHATVISOR_FINGERPRINT_LEN + 1];
} ngx_chatvisor_api_client_t;


/* chatvisor_webhook NAME URL secret_file=PATH [events=a,b] */
typedef struct {
    ngx_str_t                 name;
    ngx_str_t                 url;
    ngx_str_t                 secret;       /* "whsec_..." */
    ngx_uint_t                events;       /* cv_webhook_event_bit()s; 0 all */
} ngx_chatvisor_webhook_decl_t;


/* chatvisor_webhook* */
typedef struct {
    ngx_array_t              *declared;     /* ngx_chatvisor_webhook_decl_t */
    ngx_uint_t                concurrency;  /* in flight per endpoint */
    ngx_array_t              *schedule;     /* ngx_msec_t: attempt delays */
    ngx_msec_t                timeout;      /* an attempt */
    ngx_str_t                 trusted_certificate;
    ngx_flag_t                verify;
    ngx_flag_t                allow_private;
#if (NGX_SSL)
    ngx_ssl_t                *ssl;
#endif
    ngx_resolver_t           *resolver;     /* the http{} level's */
    ngx_msec_t                resolver_timeout;
} ngx_chatvisor_webhooks_conf_t;


typedef struct ngx_chatvisor_shm_s  ngx_chatvisor_shm_t;
typedef struct ngx_chatvisor_cobrowse_zone_s  ngx_chatvisor_cobrowse_zone_t;


/* an abuse limit's rate: n a period; n == 0: off */
typedef struct {
    ngx_uint_t                n;
    ngx_msec_t                period;
} ngx_chatvisor_rate_t;

#define NGX_CHATVISOR_RATE_N_MAX            1000000


/* chatvisor_limit_*, and the fixed limits beside them */
typedef struct {
    ngx_chatvisor_rate_t      new_visitors; /* per client address */
    ngx_chatvisor_rate_t      messages;     /* per customer */
    ngx_chatvisor_rate_t      typing;       /* per conversation and side */
    ngx_chatvisor_rate_t      api_login;    /* failures per address, name */
} ngx_chatvisor_limits_conf_t;


/* a node's random id, bytes (cluster mode) */
#define NGX_CHATVISOR_NODE_ID_LEN           16

/* chatvisor_cluster: the NATS servers (JetStream) the writes go through */
typedef struct {
    ngx_str_t                 servers;      /* "nats://h:p,...", NUL-ended;
                                               len 0: no cluster */
    char                    **urls;         /* each of them, NUL-ended */
    ngx_uint_t                nurls;
    ngx_str_t                 stream;       /* "chatvisor" */
    ngx_str_t                 subject;      /* stream + ".cmd" */
    ngx_uint_t                replicas;
    ngx_str_t                 credentials;  /* a .creds file; len 0: none */
    ngx_flag_t                tls;
    u_char                    node[NGX_CHATVISOR_NODE_ID_LEN];
                                            /* this node's random id (its
                                               typing signals are its own) */
} ngx_chatvisor_cluster_conf_t;

#define ngx_chatvisor_cluster_on(cmcf)  ((cmcf)->cluster.servers.len != 0)


typedef struct {
    /* chatvisor_store */
    cv_store_options          store_opt;    /* store_opt.path == NULL: none */
    ngx_str_t                 store_path;
#if (NGX_THREADS)
    ngx_thread_pool_t        *thread_pool;  /* sync=on: commits and fsync */
#endif

    /* the runtime, in each worker */
    cv_store                 *store;        /* this worker's handle */
    u_char                    secret[CV_STORE_SECRET_LEN];  /* signs cookies */
    ngx_uint_t                secret_gen;   /* moves when the secret
                                               changes in a worker (the
                                               cluster's arrives) */
    ngx_shm_zone_t           *shm_zone;
    ngx_chatvisor_shm_t      *shm;
    ngx_int_t                *pipes;        /* [2 * workers]: read, write */
    ngx_uint_t                workers;
    ngx_atomic_t             *hearing;      /* which workers a notice
                                               wakes (ngx_chatvisor_ipc.c) */

    time_t                    retention;    /* chatvisor_retention, s;
                                               0: off */

    ngx_array_t              *api_clients;  /* ngx_chatvisor_api_client_t */
    ngx_str_t                 identity_secret;  /* signs identify()'s ids;
                                                   empty: none */
    ngx_uint_t                visits_rule;  /* some location counts visits */
    ngx_uint_t                status_used;  /* some location has
                                               chatvisor_status */

    /* co-browsing: its sessions' zone exists when some location offers
     * it (chatvisor_cobrowse on); cobrowse NULL: co-browsing is off */
    ngx_msec_t                cobrowse_max_duration;
    size_t                    cobrowse_memory;
    ngx_uint_t                cobrowse_used;
    ngx_shm_zone_t           *cobrowse_zone;
    ngx_chatvisor_cobrowse_zone_t  *cobrowse;

    ngx_chatvisor_webhooks_conf_t  webhooks;

    ngx_chatvisor_limits_conf_t    limits;

    ngx_chatvisor_cluster_conf_t   cluster;
} ngx_chatvisor_main_conf_t;


/* chatvisor_public_url https://host/prefix/, as browsers see this server
 * through a proxy */
typedef struct {
    ngx_str_t                 url;          /* empty: from the request */
    ngx_str_t                 path;         /* "/prefix/" */
    ngx_flag_t                secure;       /* https: Secure cookies */
} ngx_chatvisor_public_url_t;


typedef struct {
    ngx_str_t                 prefix;
    ngx_uint_t                routing;      /* NGX_CHATVISOR_ROUTING_* */
    cv_hours                 *hours;        /* chatvisor_business_hours */
    ngx_chatvisor_public_url_t  public_url;
    ngx_flag_t                page_url_full;  /* chatvisor_page_url full */
} ngx_chatvisor_srv_conf_t;


typedef struct {
    ngx_flag_t                enable;       /* chatvisor on */
    ngx_flag_t                inject;
    ngx_msec_t                poll_timeout;
    ngx_uint_t                rules;        /* NGX_CHATVISOR_RULE_* */
    ngx_uint_t                min_visits;
    ngx_chatvisor_widget_conf_t  widget;
    ngx_http_complex_value_t *identify;     /* chatvisor_identify; NULL */

    /* the injected tag, built once at configuration time: "<script ...",
     * to which each request appends an optional nonce and "></script>" */
    ngx_str_t                 tag;
} ngx_chatvisor_loc_conf_t;


extern ngx_module_t  ngx_chatvisor_module;
extern ngx_module_t  ngx_chatvisor_inject_filter_module;


#endif /* _NGX_CHATVISOR_CONF_H_INCLUDED_ */
