/*
 * The runtime: what a worker keeps while it serves chats. The store
 * handle, writes gathered into group commits, long-polls waiting for
 * changes, notices that wake them in every worker, and the shared-memory
 * zone (presence, rate limits, settings). It knows requests only as
 * ngx_http_request_t: answers and routes are the http layer's.
 */

#ifndef _NGX_CHATVISOR_RUNTIME_H_INCLUDED_
#define _NGX_CHATVISOR_RUNTIME_H_INCLUDED_


#include "ngx_chatvisor_conf.h"
#include "cv_chat.h"

#include <cjson/cJSON.h>


/* ------------------------------------------------------------ notices */

/*
 * A change or a transient signal that long-polls in every worker may be
 * waiting for. Fixed size, so that it is written atomically to the pipes.
 */

#define NGX_CHATVISOR_NOTICE_CHANGE   1   /* the store changed */
#define NGX_CHATVISOR_NOTICE_TYPING   2   /* someone is typing */
#define NGX_CHATVISOR_NOTICE_ALL      3   /* re-check every poll */
#define NGX_CHATVISOR_NOTICE_WEBHOOKS 4   /* webhook endpoints or deliveries
                                             changed (no poll cares) */

/* bytes of an agent's name a typing notice carries (a notice is then 126
 * bytes: 32 fit in one atomic pipe write) */
#define NGX_CHATVISOR_NOTICE_NAME     44

typedef struct {
    uint8_t                   kind;
    uint8_t                   agent;        /* typing: an agent types */
    char                      customer_id[CV_ID_MAX];
    char                      conversation_id[CV_ID_MAX];
    char                      name[NGX_CHATVISOR_NOTICE_NAME];
} ngx_chatvisor_notice_t;

/* a notice of kind about a customer's conversation (either may be NULL) */
void ngx_chatvisor_notice_init(ngx_chatvisor_notice_t *n, ngx_uint_t kind,
    const char *customer_id, const char *conversation_id);

/* tells every worker's polls, this one's included */
void ngx_chatvisor_notify(ngx_chatvisor_notice_t *n);
void ngx_chatvisor_notify_many(ngx_chatvisor_notice_t *n, ngx_uint_t count);

/* a notice reached this worker: its polls, then its listeners, hear it */
void ngx_chatvisor_notice_deliver(ngx_chatvisor_notice_t *n);

/* at process start: handler hears every notice this worker gets (the
 * webhook sender listens for new log entries this way) */
typedef void (*ngx_chatvisor_notice_pt)(ngx_chatvisor_notice_t *n);

ngx_int_t ngx_chatvisor_notice_listen(ngx_chatvisor_notice_pt handler);

/* someone types in a conversation: an agent (agent_name) or its customer
 * (agent_name NULL); nothing is stored */
void ngx_chatvisor_notify_typing(const char *customer_id,
    const char *conversation_id, const char *agent_name);


/* -------------------------------------------------------------- store */

/* master: create or check the store, hand it to the worker user */
ngx_int_t ngx_chatvisor_store_prepare(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf);

/* worker: open this process's handle (a failure leaves it NULL: the chat
 * answers 503, pages are still served) */
void ngx_chatvisor_store_open(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf);
void ngx_chatvisor_store_close(ngx_chatvisor_main_conf_t *cmcf);

/* one record read in a read transaction of its own */
typedef cv_status (*ngx_chatvisor_get_pt)(cv_txn *t, const char *id,
    cJSON **out);

cv_status ngx_chatvisor_store_read(ngx_chatvisor_main_conf_t *cmcf,
    ngx_chatvisor_get_pt get, const char *id, cJSON **out);


/* ------------------------------------------------------------- purging */

/* worker start: the background purge (retention, expired secrets), in the
 * worker that holds its lease; exit: gives the lease up */
ngx_int_t ngx_chatvisor_purge_init_process(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf);
void ngx_chatvisor_purge_exit_process(ngx_cycle_t *cycle);


/* ------------------------------------------------------- group commit */

typedef struct ngx_chatvisor_op_s  ngx_chatvisor_op_t;

/* run() executes inside the shared transaction (and may run twice, so it
 * starts from scratch); done() follows the commit, op->status its outcome */
typedef cv_status (*ngx_chatvisor_op_run_pt)(ngx_chatvisor_op_t *op,
    cv_txn *t);
typedef void (*ngx_chatvisor_op_done_pt)(ngx_chatvisor_op_t *op);

/* a write queued for the next group commit: a request's, or one of the
 * worker's own (the webhook sender's) */
struct ngx_chatvisor_op_s {
    ngx_queue_t                   queue;
    ngx_chatvisor_op_run_pt       run;
    ngx_chatvisor_op_done_pt      done;
    void                         *data;       /* the writer's */

    /* what run() leaves for done(); cleared before each run */
    cv_status                     status;
    cJSON                        *result;     /* the answer's JSON */
    cv_message                    message;    /* or a posted message */
    ngx_uint_t                    ok_status;  /* 0: 200 */
    const char                   *why;        /* the reason of a failure */
    ngx_chatvisor_notice_t        notice;     /* sent once committed */
    unsigned                      notify:1;
};

/*
 * Queues op for the next group commit: NGX_OK, or NGX_DECLINED when this
 * worker has no store. Once committed (or failed), the batch's notices are
 * sent, then each op's done() is called; it owns the op again and frees
 * what run() left (ngx_chatvisor_op_clear) before the op's memory goes.
 */
ngx_int_t ngx_chatvisor_commit(ngx_chatvisor_main_conf_t *cmcf,
    ngx_chatvisor_op_t *op);

/* the writes the last group commit carried or the next one has so far,
 * whichever are more: how busy writers keep this worker (the webhook
 * sender holds back while they do) */
ngx_uint_t ngx_chatvisor_commit_load(void);

/* frees what run() left in op (result, message), for the next run */
void ngx_chatvisor_op_clear(ngx_chatvisor_op_t *op);

/* the notice op sends to the polls once its write is committed */
void ngx_chatvisor_op_notice(ngx_chatvisor_op_t *op, ngx_uint_t kind,
    const char *customer_id, const char *conversation_id);


/* ---------------------------------------------------------- long-polls */

/*
 * check(r, 0) answers the request if it has something to say and returns
 * the rc to finalize with, or NGX_AGAIN to go on waiting; check(r, 1) must
 * answer.
 */
typedef ngx_int_t (*ngx_chatvisor_poll_check_pt)(ngx_http_request_t *r,
    ngx_uint_t final);

/* a request's long-poll */
typedef struct {
    ngx_queue_t                   queue;
    ngx_event_t                   timer;
    ngx_http_request_t           *request;
    ngx_chatvisor_poll_check_pt   check;
    const char                   *customer_id;  /* a visitor's; NULL: a
                                                   console's */
    ngx_chatvisor_notice_t        typing;       /* a typing signal */
    unsigned                      waiting:1;
    unsigned                      has_typing:1;
} ngx_chatvisor_wait_t;

ngx_int_t ngx_chatvisor_poll_init_process(ngx_cycle_t *cycle);

/* waits (NGX_DONE) for a notice about customer_id (NULL: a console, woken
 * by every change), the timeout or the worker's exit */
ngx_int_t ngx_chatvisor_poll_wait(ngx_http_request_t *r,
    ngx_chatvisor_wait_t *w, const char *customer_id, ngx_msec_t timeout,
    ngx_chatvisor_poll_check_pt check);

/* a notice reached this worker: wake the polls it concerns */
void ngx_chatvisor_poll_notice(ngx_chatvisor_notice_t *n);

/* the typing signal a woken poll may answer with, once */
ngx_chatvisor_notice_t *ngx_chatvisor_poll_typing(ngx_chatvisor_wait_t *w);


/* ---------------------------------------------- notices between workers */

ngx_int_t ngx_chatvisor_ipc_init_module(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf);
ngx_int_t ngx_chatvisor_ipc_init_process(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf);
void ngx_chatvisor_ipc_send(ngx_chatvisor_notice_t *n, ngx_uint_t count);


/* ------------------------------------------------------ shared memory */

ngx_int_t ngx_chatvisor_shm_add(ngx_conf_t *cf,
    ngx_chatvisor_main_conf_t *cmcf);

/* a worker's pipe overflowed: it re-checks every poll once it reads */
void ngx_chatvisor_shm_overflow_set(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t worker);
ngx_uint_t ngx_chatvisor_shm_overflow_take(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t worker);


/* presence: an agent is online while a console of theirs polls (or while
 * an integrator says so), available when online and set to available */

#define NGX_CHATVISOR_PRESENCE_AVAILABLE  "available"
#define NGX_CHATVISOR_PRESENCE_AWAY       "away"
#define NGX_CHATVISOR_PRESENCE_OFFLINE    "offline"

/* a console of the agent polls: online for grace ms more */
void ngx_chatvisor_presence_seen(ngx_chatvisor_main_conf_t *cmcf,
    const char *agent_id, ngx_msec_t grace);

/* status: available, away or offline (else NGX_DECLINED); external: set
 * by the integrator, online without a console polling */
ngx_int_t ngx_chatvisor_presence_set(ngx_chatvisor_main_conf_t *cmcf,
    const char *agent_id, const char *status, ngx_uint_t external);

/* a disabled or deleted agent is nobody's presence any more */
void ngx_chatvisor_presence_remove(ngx_chatvisor_main_conf_t *cmcf,
    const char *agent_id);

/* "available", "away" or "offline" */
const char *ngx_chatvisor_presence_status(ngx_chatvisor_main_conf_t *cmcf,
    const char *agent_id);

/* adds the ids of the available agents to ids; returns how many */
ngx_uint_t ngx_chatvisor_presence_available(ngx_chatvisor_main_conf_t *cmcf,
    cJSON *ids);

/* any agent online (available: any available) */
ngx_uint_t ngx_chatvisor_presence_any(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t available);


/* leases: what one worker at a time does (the webhook sender) */

#define NGX_CHATVISOR_LEASE_WEBHOOKS  0
#define NGX_CHATVISOR_LEASE_PURGE     1
#define NGX_CHATVISOR_LEASES          2

/* 1 when this process holds the lease for ttl more (taken when free or
 * not renewed in time: a worker that died or hangs loses it) */
ngx_uint_t ngx_chatvisor_lease_hold(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t lease, ngx_msec_t ttl);
void ngx_chatvisor_lease_release(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t lease);


/* abuse limits, shared by every worker: counts one hit of the key, or
 * NGX_DECLINED with *retry_after seconds when the key had its rate (a
 * refused hit is not counted) */

#define NGX_CHATVISOR_LIMIT_NEW_VISITOR  1  /* key: the client's address */
#define NGX_CHATVISOR_LIMIT_MESSAGE      2  /* key: the customer id */
#define NGX_CHATVISOR_LIMIT_TYPING       3  /* key: side and conversation */
#define NGX_CHATVISOR_LIMIT_API_LOGIN    4  /* key: address and client */

ngx_int_t ngx_chatvisor_limit(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t kind, const u_char *key, size_t len,
    ngx_chatvisor_rate_t *rate, ngx_uint_t *retry_after);

/* the bytes of a client address that a limit counts */
void ngx_chatvisor_limit_addr(struct sockaddr *sa, socklen_t socklen,
    ngx_str_t *key);

/* "Nr/s", "Nr/m", "Nr/h" or "off" */
ngx_int_t ngx_chatvisor_rate_parse(ngx_str_t *s, ngx_chatvisor_rate_t *rate);


/* the values a widget setting may take, from nginx.conf or the REST API
 * (the widget's own lists: www/widget/i18n.js) */

/* "#rgb" or "#rrggbb" */
ngx_uint_t ngx_chatvisor_color_valid(u_char *s, size_t len);

/* NGX_CHATVISOR_POSITION_* of "right" or "left", else NGX_ERROR */
ngx_int_t ngx_chatvisor_position_find(u_char *s, size_t len);
const char *ngx_chatvisor_position_name(ngx_uint_t position);

/* NGX_CHATVISOR_TEXT_* of a text's name ("title"), else NGX_ERROR */
ngx_int_t ngx_chatvisor_text_key_find(u_char *s, size_t len);
const char *ngx_chatvisor_text_key_name(ngx_uint_t key);

/* a language the widget has texts for ("en"), else NULL */
const char *ngx_chatvisor_language_find(u_char *s, size_t len);


/* settings changed through the REST API, mirrored for every worker */

#define NGX_CHATVISOR_MODE_AUTO     0
#define NGX_CHATVISOR_MODE_VISIBLE  1
#define NGX_CHATVISOR_MODE_HIDDEN   2

/* worker start: the stored settings into the zone, if not yet there */
void ngx_chatvisor_settings_load(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf);

/* the runtime widget settings (JSON) */
ngx_int_t ngx_chatvisor_settings_widget_set(ngx_chatvisor_main_conf_t *cmcf,
    cJSON *settings);

/* this worker's parsed copy, NULL when never set; the caller must not free
 * it */
cJSON *ngx_chatvisor_settings_widget(ngx_chatvisor_main_conf_t *cmcf);

/* the stored visibility override {"mode", "until"} into the zone */
void ngx_chatvisor_settings_visibility_set(ngx_chatvisor_main_conf_t *cmcf,
    cJSON *stored);

/* NGX_CHATVISOR_MODE_*, and until (ms, 0: no end); an override whose time
 * passed reads as auto */
ngx_uint_t ngx_chatvisor_settings_visibility(ngx_chatvisor_main_conf_t *cmcf,
    int64_t *until);


#endif /* _NGX_CHATVISOR_RUNTIME_H_INCLUDED_ */
