/*
 * Chatvisor for nginx: types shared by the module's files.
 */

#ifndef _NGX_CHATVISOR_H_INCLUDED_
#define _NGX_CHATVISOR_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif

#include "cv_store.h"
#include "cv_crypto.h"
#include "cv_chat.h"
#include "cv_hours.h"

#include <cjson/cJSON.h>


/* the widget's defaults, generated from www/shared/defaults.json */
#include "ngx_chatvisor_defaults.h"


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


typedef enum {
    NGX_CHATVISOR_TEXT_TITLE = 0,
    NGX_CHATVISOR_TEXT_GREETING,
    NGX_CHATVISOR_TEXT_PLACEHOLDER,
    NGX_CHATVISOR_TEXT_OFFLINE,
    NGX_CHATVISOR_TEXT_LAUNCHER,
    NGX_CHATVISOR_TEXT_N
} ngx_chatvisor_text_e;


typedef struct {
    ngx_str_t                 color;
    ngx_uint_t                position;     /* 0: right, 1: left */
    ngx_str_t                 language;
    ngx_str_t                 text[NGX_CHATVISOR_TEXT_N];
    ngx_msec_t                show_after;
} ngx_chatvisor_widget_conf_t;


#define NGX_CHATVISOR_ROUTING_MANUAL       0
#define NGX_CHATVISOR_ROUTING_ROUND_ROBIN  1
#define NGX_CHATVISOR_ROUTING_LEAST_BUSY   2

#define NGX_CHATVISOR_BODY_MAX     65536
#define NGX_CHATVISOR_SESSION_TTL  (12 * 60 * 60 * 1000)


typedef struct ngx_chatvisor_shm_s  ngx_chatvisor_shm_t;


typedef struct {
    cv_store_options          store_opt;    /* store_opt.path == NULL: none */
#if (NGX_THREADS)
    ngx_thread_pool_t        *thread_pool;  /* sync=on: commits and fsync */
#endif
    ngx_str_t                 store_path;
    cv_store                 *store;        /* this worker's handle */
    u_char                    secret[32];   /* signs cookies */

    ngx_shm_zone_t           *shm_zone;
    ngx_chatvisor_shm_t      *shm;

    ngx_int_t                *pipes;        /* [2 * workers]: read, write */
    ngx_uint_t                workers;

    ngx_array_t              *api_clients;  /* ngx_chatvisor_api_client_t */
    ngx_uint_t                visits_rule;  /* some location counts visits */
} ngx_chatvisor_main_conf_t;


typedef struct {
    ngx_str_t                 name;
    ngx_str_t                 secret;
    char                      fingerprint[17];  /* of the secret */
} ngx_chatvisor_api_client_t;


typedef struct {
    ngx_str_t                 prefix;
    ngx_uint_t                routing;
    cv_hours                 *hours;        /* chatvisor_business_hours */
} ngx_chatvisor_srv_conf_t;


/* chatvisor_show_if rules */
#define NGX_CHATVISOR_RULE_ONLINE     0x01
#define NGX_CHATVISOR_RULE_AVAILABLE  0x02
#define NGX_CHATVISOR_RULE_HOURS      0x04
#define NGX_CHATVISOR_RULE_VISITS     0x08


typedef struct {
    ngx_flag_t                enable;       /* chatvisor on */
    ngx_flag_t                inject;
    ngx_msec_t                poll_timeout;
    ngx_uint_t                rules;        /* NGX_CHATVISOR_RULE_* */
    ngx_uint_t                min_visits;
    ngx_chatvisor_widget_conf_t  widget;

    /* the injected tag, built once at configuration time: "<script ...",
     * to which each request appends an optional nonce and "></script>" */
    ngx_str_t                 tag;
} ngx_chatvisor_loc_conf_t;


extern ngx_module_t  ngx_chatvisor_module;


/*
 * A change or a transient signal that long-polls in every worker may be
 * waiting for. Fixed size, so that it is written atomically to the pipes.
 */

#define NGX_CHATVISOR_NOTICE_CHANGE   1   /* the store changed */
#define NGX_CHATVISOR_NOTICE_TYPING   2   /* someone is typing */
#define NGX_CHATVISOR_NOTICE_ALL      3   /* re-check every poll */

typedef struct {
    uint8_t                   kind;
    uint8_t                   agent;        /* typing: an agent types */
    char                      customer_id[CV_ID_MAX];
    char                      conversation_id[CV_ID_MAX];
    char                      name[44];     /* typing: the agent's name */
} ngx_chatvisor_notice_t;


/* a request's state while its body is read, its write is queued in a
 * group commit, or its long-poll waits */

typedef struct ngx_chatvisor_ctx_s  ngx_chatvisor_ctx_t;

typedef ngx_int_t (*ngx_chatvisor_body_pt)(ngx_http_request_t *r,
    cJSON *body);
typedef cv_status (*ngx_chatvisor_op_run_pt)(ngx_http_request_t *r,
    cv_txn *t);
typedef ngx_int_t (*ngx_chatvisor_op_done_pt)(ngx_http_request_t *r,
    cv_status st);
typedef ngx_int_t (*ngx_chatvisor_poll_check_pt)(ngx_http_request_t *r,
    ngx_uint_t final);

struct ngx_chatvisor_ctx_s {
    ngx_http_request_t           *request;
    ngx_chatvisor_body_pt         body_handler;

    /* group commit */
    ngx_queue_t                   op_queue;
    ngx_chatvisor_op_run_pt       op_run;
    ngx_chatvisor_op_done_pt      op_done;
    cJSON                        *result;
    cv_message                    message;     /* a posted message */
    ngx_uint_t                    result_status;
    ngx_chatvisor_notice_t        notice;
    unsigned                      notify:1;

    /* long-poll */
    ngx_queue_t                   wait_queue;
    ngx_event_t                   wait_timer;
    ngx_chatvisor_poll_check_pt   poll_check;
    ngx_chatvisor_notice_t        typing;     /* a typing signal to answer */
    unsigned                      waiting:1;
    unsigned                      agent_poll:1;
    unsigned                      has_typing:1;

    /* who is asking */
    char                          customer_id[CV_ID_MAX];
    char                          conversation_id[CV_ID_MAX];
    char                          agent_id[CV_ID_MAX * 4];
    char                          agent_name[64];
    char                          text_client_msg_id[CV_ID_MAX * 4];
    uint64_t                      after;
    int64_t                       ttl_ms;      /* login URLs */
    ngx_uint_t                    action;
    cJSON                        *body;
    const cJSON                  *agent;       /* cached: see agent_auth */
    u_char                        session[CV_ID_MAX * 2];
    ngx_int_t                     rc;          /* of an error already sent */
    ngx_uint_t                    ok_status;   /* API: status on success */
    const char                   *why;         /* API: reason of a 4xx */
    char                          api_client[72];
    unsigned                      new_customer:1;
    unsigned                      body_form_ok:1;
    unsigned                      body_array_ok:1;
};


/* ngx_chatvisor_widget_conf.c */
char *ngx_chatvisor_widget_color(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_chatvisor_widget_position(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_chatvisor_widget_text(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_chatvisor_widget_language(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_chatvisor_widget_init_conf(ngx_chatvisor_widget_conf_t *w);
void ngx_chatvisor_widget_merge_conf(ngx_chatvisor_widget_conf_t *conf,
    ngx_chatvisor_widget_conf_t *prev);
ngx_int_t ngx_chatvisor_widget_build_tag(ngx_pool_t *pool,
    ngx_chatvisor_widget_conf_t *w, ngx_str_t *prefix, ngx_str_t *tag);
ngx_int_t ngx_chatvisor_widget_tag(ngx_http_request_t *r, ngx_str_t *tag);

/* ngx_chatvisor_handler.c */
ngx_int_t ngx_chatvisor_handler(ngx_http_request_t *r);

/* ngx_chatvisor_assets.c */
ngx_chatvisor_asset_t *ngx_chatvisor_find_asset(u_char *name, size_t len);
ngx_int_t ngx_chatvisor_send_asset(ngx_http_request_t *r,
    ngx_chatvisor_asset_t *asset, const char *cache_control);

/* ngx_chatvisor_response.c */
ngx_int_t ngx_chatvisor_send_json(ngx_http_request_t *r, ngx_uint_t status,
    cJSON *json);
ngx_int_t ngx_chatvisor_send_json_text(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *body);
ngx_int_t ngx_chatvisor_send_json_copy(ngx_http_request_t *r,
    ngx_uint_t status, const char *text, size_t len);
ngx_int_t ngx_chatvisor_send_status(ngx_http_request_t *r, cv_status st);
ngx_table_elt_t *ngx_chatvisor_add_header(ngx_http_request_t *r,
    const char *key, u_char *value, size_t len);

ngx_int_t ngx_chatvisor_send_method_not_allowed(ngx_http_request_t *r,
    const char *allow);
ngx_int_t ngx_chatvisor_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message);
ngx_int_t ngx_chatvisor_send_body(ngx_http_request_t *r, ngx_str_t *body,
    ngx_uint_t temporary);
ngx_int_t ngx_chatvisor_fail(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message);
ngx_int_t ngx_chatvisor_sent(ngx_http_request_t *r);

/* ngx_chatvisor_request.c: request bodies, cookies, origin checks */
ngx_chatvisor_ctx_t *ngx_chatvisor_get_ctx(ngx_http_request_t *r);
ngx_int_t ngx_chatvisor_read_json(ngx_http_request_t *r,
    ngx_chatvisor_body_pt handler);
ngx_int_t ngx_chatvisor_check_fields(ngx_http_request_t *r, cJSON *body,
    const char **allowed);
ngx_int_t ngx_chatvisor_same_origin(ngx_http_request_t *r);
ngx_int_t ngx_chatvisor_get_cookie(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);
ngx_int_t ngx_chatvisor_set_cookie(ngx_http_request_t *r, const char *name,
    ngx_str_t *value, ngx_str_t *path, time_t max_age, ngx_uint_t strict);
ngx_int_t ngx_chatvisor_sign(ngx_http_request_t *r, const char *purpose,
    u_char *data, size_t len, ngx_str_t *out);
ngx_int_t ngx_chatvisor_parse_u64(ngx_str_t *s, uint64_t *v);
ngx_int_t ngx_chatvisor_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);
ngx_uint_t ngx_chatvisor_str_is(ngx_str_t *s, const char *lit);
ngx_int_t ngx_chatvisor_arg_cursor(ngx_http_request_t *r, const char *name,
    uint64_t *value);
typedef cv_status (*ngx_chatvisor_get_pt)(cv_txn *t, const char *id,
    cJSON **out);
cv_status ngx_chatvisor_read_record(ngx_http_request_t *r,
    ngx_chatvisor_get_pt get, const char *id, cJSON **out);

/* ngx_chatvisor_commit.c: group commit */
ngx_int_t ngx_chatvisor_commit(ngx_http_request_t *r,
    ngx_chatvisor_op_run_pt run, ngx_chatvisor_op_done_pt done);

/* ngx_chatvisor_ipc.c: notices between workers */
ngx_int_t ngx_chatvisor_ipc_init_module(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf);
ngx_int_t ngx_chatvisor_ipc_init_process(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf);
void ngx_chatvisor_notify(ngx_chatvisor_notice_t *n);
void ngx_chatvisor_notify_many(ngx_chatvisor_notice_t *n, ngx_uint_t count);

/* ngx_chatvisor_poll.c: long-polls */
ngx_int_t ngx_chatvisor_poll_wait(ngx_http_request_t *r,
    ngx_chatvisor_poll_check_pt check);
void ngx_chatvisor_poll_notice(ngx_chatvisor_notice_t *n);
ngx_int_t ngx_chatvisor_poll_init_process(ngx_cycle_t *cycle);

/* ngx_chatvisor_presence.c: agents online, in shared memory */
ngx_int_t ngx_chatvisor_presence_init_conf(ngx_conf_t *cf,
    ngx_chatvisor_main_conf_t *cmcf);
void ngx_chatvisor_presence_seen(ngx_chatvisor_main_conf_t *cmcf,
    const char *agent_id, ngx_msec_t grace);
ngx_int_t ngx_chatvisor_presence_set(ngx_chatvisor_main_conf_t *cmcf,
    const char *agent_id, const char *status, ngx_uint_t external);
void ngx_chatvisor_presence_remove(ngx_chatvisor_main_conf_t *cmcf,
    const char *agent_id);
const char *ngx_chatvisor_presence_status(ngx_chatvisor_main_conf_t *cmcf,
    const char *agent_id);
ngx_uint_t ngx_chatvisor_presence_online(ngx_chatvisor_main_conf_t *cmcf,
    cJSON *ids);
ngx_int_t ngx_chatvisor_shared_widget_set(ngx_chatvisor_main_conf_t *cmcf,
    cJSON *settings);
cJSON *ngx_chatvisor_shared_widget_get(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t *generation);
void ngx_chatvisor_ipc_overflow_set(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t worker);
ngx_uint_t ngx_chatvisor_ipc_overflow_take(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t worker);

/* ngx_chatvisor_visitor.c */
ngx_int_t ngx_chatvisor_visitor_handler(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_chatvisor_message_fields(ngx_http_request_t *r, cJSON *body,
    const char **text, const char **client_msg_id);
ngx_int_t ngx_chatvisor_visitor_cookie(ngx_http_request_t *r,
    char *customer_id);

/* ngx_chatvisor_api*.c: the REST API for integrators */
ngx_int_t ngx_chatvisor_api_handler(ngx_http_request_t *r, ngx_str_t *path);
ngx_int_t ngx_chatvisor_api_token(ngx_http_request_t *r);
char *ngx_chatvisor_api_client(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
const char *ngx_chatvisor_api_fingerprint(const char *client, void *data);
ngx_int_t ngx_chatvisor_api_agents(ngx_http_request_t *r, ngx_str_t *seg,
    ngx_uint_t n);
ngx_int_t ngx_chatvisor_api_customers(ngx_http_request_t *r, ngx_str_t *seg,
    ngx_uint_t n);
ngx_int_t ngx_chatvisor_api_conversations(ngx_http_request_t *r,
    ngx_str_t *seg, ngx_uint_t n);
ngx_int_t ngx_chatvisor_api_settings(ngx_http_request_t *r, ngx_str_t *seg,
    ngx_uint_t n);
ngx_int_t ngx_chatvisor_api_done(ngx_http_request_t *r, cv_status st);
ngx_int_t ngx_chatvisor_api_login_url(ngx_http_request_t *r, cv_txn *t,
    const char *agent_id, const char *conversation_id, int64_t ttl_ms,
    cJSON **out, cv_status *st);
ngx_int_t ngx_chatvisor_api_limit(ngx_http_request_t *r, size_t *limit);
ngx_int_t ngx_chatvisor_api_ttl(ngx_http_request_t *r, cJSON *body,
    int64_t *ttl_ms);
void ngx_chatvisor_notice_set(ngx_chatvisor_ctx_t *ctx, ngx_uint_t kind,
    const char *customer_id, const char *conversation_id);
ngx_int_t ngx_chatvisor_rate_check(ngx_chatvisor_main_conf_t *cmcf,
    ngx_str_t *client, ngx_uint_t failed, ngx_uint_t *retry_after);

/* ngx_chatvisor_visibility.c: whether the edge shows the chat */
char *ngx_chatvisor_show_if(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_chatvisor_business_hours(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_chatvisor_visible(ngx_http_request_t *r);
ngx_int_t ngx_chatvisor_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_chatvisor_count_visit(ngx_http_request_t *r);
void ngx_chatvisor_visibility_apply(ngx_chatvisor_main_conf_t *cmcf,
    cJSON *stored);
ngx_int_t ngx_chatvisor_api_visibility(ngx_http_request_t *r,
    ngx_str_t *seg, ngx_uint_t n);
void ngx_chatvisor_shared_visibility_set(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t mode, int64_t until);
ngx_uint_t ngx_chatvisor_shared_visibility_get(
    ngx_chatvisor_main_conf_t *cmcf, int64_t *until);
ngx_uint_t ngx_chatvisor_presence_any(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t available);

#define NGX_CHATVISOR_MODE_AUTO     0
#define NGX_CHATVISOR_MODE_VISIBLE  1
#define NGX_CHATVISOR_MODE_HIDDEN   2

/* ngx_chatvisor_agent.c, ngx_chatvisor_agent_auth.c */
ngx_int_t ngx_chatvisor_agent_handler(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_chatvisor_agent_join(ngx_http_request_t *r);
ngx_int_t ngx_chatvisor_agent_auth(ngx_http_request_t *r, ngx_uint_t write,
    ngx_int_t *rc);
ngx_int_t ngx_chatvisor_agent_csrf(ngx_http_request_t *r, ngx_str_t *token);


#endif /* _NGX_CHATVISOR_H_INCLUDED_ */
