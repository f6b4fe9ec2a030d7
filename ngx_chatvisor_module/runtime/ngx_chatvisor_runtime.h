/*
 * The runtime: what a worker keeps while it serves chats. The store
 * handle, writes gathered into group commits, long-polls waiting for
 * changes, notices that wake them in every worker, the shared-memory
 * zone (presence, rate limits, settings), and the co-browsing sessions in
 * a zone of their own. It knows requests only as ngx_http_request_t:
 * answers and routes are the http layer's.
 */

#ifndef _NGX_CHATVISOR_RUNTIME_H_INCLUDED_
#define _NGX_CHATVISOR_RUNTIME_H_INCLUDED_


#include "ngx_chatvisor_conf.h"
#include "cv_chat.h"
#include "cv_agents.h"
#include "cv_cluster.h"

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
#define NGX_CHATVISOR_NOTICE_COBROWSE 5   /* a co-browsing session's state,
                                             snapshot request or pointer
                                             changed: the customer's chat
                                             polls and the conversation's
                                             co-browsing polls look */
#define NGX_CHATVISOR_NOTICE_COBROWSE_DATA 6  /* its recorder sent events:
                                             only the conversation's
                                             co-browsing polls look */

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
    const char                   *author;     /* metrics, once committed: a
                                                 message of this author type
                                                 ("customer", "agent",
                                                 "system"), NULL: none */
    unsigned                      notify:1;
    unsigned                      opened:1;   /* it opened a conversation */
    unsigned                      closed:1;   /* it closed one */
    unsigned                      background:1; /* answers no one (the
                                                 purge): a batch of only
                                                 such ops waits for no sync,
                                                 a power cut only undoes
                                                 what is redone */
};

/*
 * Queues op for the next group commit: NGX_OK, or NGX_DECLINED when this
 * worker has no store. Once committed (or failed), the batch's notices are
 * sent, then each op's done() is called; it owns the op again and frees
 * what run() left (ngx_chatvisor_op_clear) before the op's memory goes.
 */
ngx_int_t ngx_chatvisor_commit(ngx_chatvisor_main_conf_t *cmcf,
    ngx_chatvisor_op_t *op);

/* the writes this worker committed that told the polls of a change: the
 * chat's and the API's, not the worker's own bookkeeping */
ngx_uint_t ngx_chatvisor_commit_changes(void);

/* whether the chat keeps this worker saturated (ngx_chatvisor_load.c):
 * what can wait (the webhook sender's first attempts) holds back then */
ngx_uint_t ngx_chatvisor_chat_busy(void);

/* frees what run() left in op (result, message), for the next run */
void ngx_chatvisor_op_clear(ngx_chatvisor_op_t *op);

/* the notice op sends to the polls once its write is committed */
void ngx_chatvisor_op_notice(ngx_chatvisor_op_t *op, ngx_uint_t kind,
    const char *customer_id, const char *conversation_id);


/* ------------------------------------------------------- cluster mode */

/*
 * chatvisor_cluster (ngx_chatvisor_cluster.c, docs/cluster.md): a write
 * is published to the JetStream stream as a command; every worker reads
 * the stream in order and applies each command once per store through the
 * group commit; the writer is answered when its own worker has seen its
 * command applied.
 */

typedef struct ngx_chatvisor_cluster_wait_s  ngx_chatvisor_cluster_wait_t;

typedef void (*ngx_chatvisor_cluster_done_pt)(
    ngx_chatvisor_cluster_wait_t *w);

struct ngx_chatvisor_cluster_wait_s {
    ngx_queue_t                   queue;
    ngx_event_t                   timer;
    uint64_t                      id;         /* this worker's publish */
    uint64_t                      seq;        /* the stream's, once acked */
    ngx_int_t                     rc;         /* NGX_OK: applied, res its
                                                 outcome; NGX_DECLINED: not
                                                 stored by a quorum (503);
                                                 NGX_ERROR: stored, not
                                                 applied here in time */
    cv_cluster_result             res;
    u_char                        secret[CV_SECRET_STR];  /* a secret
                                                 whose hash the command
                                                 carries, for the answer */
    ngx_chatvisor_cluster_done_pt done;
    void                         *data;
};

/* directive: chatvisor_cluster nats://h:p[,...] [stream=] [replicas=]
 * [credentials=] [tls=on] */
char *ngx_chatvisor_cluster_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_chatvisor_cluster_creds.c: credentials=FILE (NUL-ended) is a .creds
 * file the workers' user can read; NGX_CONF_ERROR, said, when not */
char *ngx_chatvisor_cluster_creds_check(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *file);

/* a typing signal of this node: to the other nodes' polls too (a core
 * NATS subject, not the stream: it is not kept) */
void ngx_chatvisor_cluster_typing(ngx_chatvisor_notice_t *n);

/* worker start (the connection, the stream's reader) and exit */
ngx_int_t ngx_chatvisor_cluster_init_process(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf);
void ngx_chatvisor_cluster_exit_process(ngx_cycle_t *cycle);

/*
 * Publishes cmd (an object: the seed and time are added here; cmd stays
 * the caller's). NGX_OK: w->done() follows; NGX_DECLINED: no connection
 * to the cluster now (nothing was sent).
 */
ngx_int_t ngx_chatvisor_cluster_publish(ngx_chatvisor_main_conf_t *cmcf,
    cJSON *cmd, ngx_chatvisor_cluster_wait_t *w);

/*
 * The webhooks (docs/cluster.md "Webhooks"): want is 1 while this worker
 * would send them (it holds the node's webhooks lease and there are
 * endpoints). Returns 1 while this node holds the cluster's lease and
 * this worker applied everything the stream had when it was taken: then,
 * and only then, this worker sends.
 */
ngx_uint_t ngx_chatvisor_cluster_webhooks(ngx_uint_t want);


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
    const char                   *customer_id;  /* a visitor's, or the
                                                   customer of a
                                                   co-browsing poll's
                                                   conversation; NULL: a
                                                   console's */
    const char                   *conversation_id;  /* co-browsing: */
    const char                   *agent_id;         /* who views it */
    ngx_chatvisor_notice_t        typing;       /* a typing signal */
    unsigned                      waiting:1;
    unsigned                      has_typing:1;
    unsigned                      cobrowse:1;   /* an agent's co-browsing
                                                   poll */
} ngx_chatvisor_wait_t;

ngx_int_t ngx_chatvisor_poll_init_process(ngx_cycle_t *cycle);

/* waits (NGX_DONE) for a notice about customer_id (NULL: a console, woken
 * by every change), the timeout or the worker's exit */
ngx_int_t ngx_chatvisor_poll_wait(ngx_http_request_t *r,
    ngx_chatvisor_wait_t *w, const char *customer_id, ngx_msec_t timeout,
    ngx_chatvisor_poll_check_pt check);

/* the same for an agent's co-browsing poll of a customer's conversation:
 * woken only by that conversation's co-browsing notices */
ngx_int_t ngx_chatvisor_poll_wait_cobrowse(ngx_http_request_t *r,
    ngx_chatvisor_wait_t *w, const char *customer_id,
    const char *conversation_id, const char *agent_id, ngx_msec_t timeout,
    ngx_chatvisor_poll_check_pt check);

/* calls handler for every co-browsing poll this worker holds */
typedef void (*ngx_chatvisor_poll_each_pt)(ngx_chatvisor_wait_t *w,
    void *data);

void ngx_chatvisor_poll_cobrowse_each(ngx_chatvisor_poll_each_pt handler,
    void *data);

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

/*
 * Which workers a notice wakes: those that hold polls it may concern, and
 * one that hears them all (the webhook sender). A worker says so when its
 * first poll of a kind comes and a second after its last went (on: 1, 0;
 * the polls' clients come back at once); hear() returns 1 when this worker
 * did not hear them before, and then its poll must look at the store once
 * more: a commit may have asked just before.
 */
#define NGX_CHATVISOR_BUCKETS        1024
#define NGX_CHATVISOR_HEAR_ALL       0
#define NGX_CHATVISOR_HEAR_CONSOLE   1
#define NGX_CHATVISOR_HEAR_BUCKET    2      /* + the customer's bucket */
#define NGX_CHATVISOR_HEAR_SLOTS     (NGX_CHATVISOR_HEAR_BUCKET             \
                                      + NGX_CHATVISOR_BUCKETS)

ngx_uint_t ngx_chatvisor_ipc_hear(ngx_uint_t slot, ngx_uint_t on);
/* the bucket of a customer's polls */
ngx_uint_t ngx_chatvisor_poll_bucket(const char *customer_id);


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

/* how many agents are available and away now */
void ngx_chatvisor_presence_count(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t *available, ngx_uint_t *away);

/* any agent online (available: any available with room for one more
 * conversation, as the store said at most NGX_CHATVISOR_ROOM_REFRESH ms
 * ago) */
ngx_uint_t ngx_chatvisor_presence_any(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t available);

/*
 * Cluster mode (docs/cluster.md "Presence"): an agent is online on every
 * node while it is online on one. Each node tells the others its own
 * (ngx_chatvisor_presence_local()); what node (NGX_CHATVISOR_NODE_ID_LEN
 * bytes) told replaces what it told before and holds for keep ms.
 * available and away: arrays of agent ids (or NULL); the status told is
 * taken only for an agent this node has no entry for (the stream carries
 * status changes to every node).
 */
void ngx_chatvisor_presence_heard(ngx_chatvisor_main_conf_t *cmcf,
    const u_char *node, cJSON *available, cJSON *away, ngx_msec_t keep);

/* adds the ids of the agents online by this node's own knowledge (a
 * console polls here, or the integrator said so) to available and away */
void ngx_chatvisor_presence_local(ngx_chatvisor_main_conf_t *cmcf,
    cJSON *available, cJSON *away);


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


/* ------------------------------------------------------------ metrics */

/*
 * Counters in the shared zone (ngx_chatvisor_metrics.c): each process adds
 * to its own slot (one per slot of ngx_processes, a cache line apart, so
 * two workers never write the same line), one atomic add each;
 * chatvisor_status answers the slots summed (docs/metrics.md). They live
 * as long as the zone: a reload keeps them, a restart starts them at 0.
 */

typedef enum {
    NGX_CHATVISOR_METRIC_MSG_VISITOR = 0,
    NGX_CHATVISOR_METRIC_MSG_AGENT,
    NGX_CHATVISOR_METRIC_MSG_SYSTEM,
    NGX_CHATVISOR_METRIC_CONV_OPENED,
    NGX_CHATVISOR_METRIC_CONV_CLOSED,
    NGX_CHATVISOR_METRIC_WH_DELIVERED,
    NGX_CHATVISOR_METRIC_WH_FAILED,   /* no attempt left */
    NGX_CHATVISOR_METRIC_WH_RETRIED,  /* failed, another attempt due */
    NGX_CHATVISOR_METRIC_LIMIT_NEW_VISITORS,  /* the order of the */
    NGX_CHATVISOR_METRIC_LIMIT_MESSAGES,      /* NGX_CHATVISOR_LIMIT_* */
    NGX_CHATVISOR_METRIC_LIMIT_TYPING,
    NGX_CHATVISOR_METRIC_LIMIT_API_LOGIN,
    NGX_CHATVISOR_METRIC_LIMIT_CB_SESSIONS,   /* co-browsing: sessions */
    NGX_CHATVISOR_METRIC_LIMIT_CB_RATE,       /* and a recorder's rate */
    NGX_CHATVISOR_METRIC_CB_WAITED,   /* another node's chunk came early */
    NGX_CHATVISOR_METRIC_CB_LOST,     /* a gap in them did not fill */
    NGX_CHATVISOR_METRIC_N
} ngx_chatvisor_metric_e;

/* the commit-duration histogram's upper bounds, us (then +Inf) */
#define NGX_CHATVISOR_COMMIT_BUCKETS                                         \
    250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,         \
    500000, 1000000, 2500000
#define NGX_CHATVISOR_COMMIT_BUCKETS_N  13

typedef struct {
    ngx_atomic_t              counter[NGX_CHATVISOR_METRIC_N];
    ngx_atomic_t              commit_le[NGX_CHATVISOR_COMMIT_BUCKETS_N + 1];
    ngx_atomic_t              commit_us;        /* their sum */
    ngx_atomic_t              polls;            /* held now: set to 0 when
                                                   a process starts in the
                                                   slot, the rest kept */
} ngx_chatvisor_metrics_slot_t;

/* a slot's room: two cache lines (the adjacent-line prefetcher pairs
 * them) */
#define NGX_CHATVISOR_METRICS_SLOT_SIZE  256

typedef union {
    ngx_chatvisor_metrics_slot_t  s;
    u_char                        room[NGX_CHATVISOR_METRICS_SLOT_SIZE];
} ngx_chatvisor_metrics_slot_u;

typedef struct {
    ngx_chatvisor_metrics_slot_u  slot[NGX_MAX_PROCESSES];
} ngx_chatvisor_metrics_t;

/* worker start (the zone's counters of its cycle) and exit: its slot of
 * held polls is 0 */
void ngx_chatvisor_metrics_init_process(ngx_chatvisor_main_conf_t *cmcf);
void ngx_chatvisor_metrics_exit_process(void);

/* one more of a counter */
void ngx_chatvisor_metric_add(ngx_chatvisor_metric_e metric);

/* what a committed write counts: op->author, opened, closed */
void ngx_chatvisor_metric_op(ngx_chatvisor_op_t *op);

/* an abuse limit (NGX_CHATVISOR_LIMIT_*) refused a request */
void ngx_chatvisor_metric_limit(ngx_uint_t kind);

/* a group commit of us microseconds */
void ngx_chatvisor_metric_commit(uint64_t us);

/* a long-poll starts (1) or stops (-1) being held in this worker */
void ngx_chatvisor_metric_polls(ngx_int_t delta);

/* a monotonic clock, us */
uint64_t ngx_chatvisor_metrics_clock(void);

/* what chatvisor_status shows: the counters summed, and the gauges read
 * now (a read of the store: one lookup per agent and per webhook
 * endpoint at most) */
typedef struct {
    uint64_t                  counter[NGX_CHATVISOR_METRIC_N];
    uint64_t                  commit_le[NGX_CHATVISOR_COMMIT_BUCKETS_N + 1];
    uint64_t                  commit_us;
    uint64_t                  polls;
    uint64_t                  open_conversations;
    uint64_t                  agents;           /* records in the store */
    ngx_uint_t                available;        /* presence */
    ngx_uint_t                away;
    size_t                    store_used;
    size_t                    store_max;
    int64_t                   oldest_undelivered_ms;  /* 0: none */
    ngx_uint_t                cobrowse_live;
    unsigned                  store:1;          /* the store was read */
} ngx_chatvisor_metrics_read_t;

void ngx_chatvisor_metrics_read(ngx_chatvisor_main_conf_t *cmcf,
    ngx_chatvisor_metrics_read_t *out);

/* the bounds of the histogram, us */
extern const uint64_t  ngx_chatvisor_commit_bounds[];


/* -------------------------------------------------------- co-browsing */

/*
 * Co-browsing sessions (ngx_chatvisor_cobrowse_sessions.c), one per
 * conversation at most, in the shared-memory zone "chatvisor_cobrowse"
 * (chatvisor_cobrowse_memory): who asked, the state, a generation that
 * moves with every state change and snapshot request, the agent's
 * pointer, and the recorder's events as chunks, each the elements of one
 * JSON array the visitor's browser sent, kept as text. Nothing of it is
 * in the store: a session lives as long as both sides are there.
 *
 * Each function takes the zone's lock for its own work only and tells
 * the polls (NGX_CHATVISOR_NOTICE_COBROWSE, _DATA) after letting it go;
 * the functions that may tell (all but get, read and the poll touches)
 * must not be called from a poll's check, which runs while polls are
 * being woken.
 */

/* states */
#define NGX_CHATVISOR_COBROWSE_NONE        0
#define NGX_CHATVISOR_COBROWSE_REQUESTED   1
#define NGX_CHATVISOR_COBROWSE_ACTIVE      2
#define NGX_CHATVISOR_COBROWSE_DECLINED    3
#define NGX_CHATVISOR_COBROWSE_ENDED       4

/* why a session is over */
#define NGX_CHATVISOR_COBROWSE_BY_VISITOR       1
#define NGX_CHATVISOR_COBROWSE_BY_AGENT         2
#define NGX_CHATVISOR_COBROWSE_CLOSED           3   /* the conversation */
#define NGX_CHATVISOR_COBROWSE_AGENT_GONE       4
#define NGX_CHATVISOR_COBROWSE_MAX_DURATION     5
#define NGX_CHATVISOR_COBROWSE_TOO_LARGE        6
#define NGX_CHATVISOR_COBROWSE_DECLINED_BY      7   /* the visitor said no */

/* the bounds (docs/cobrowse.md) */
#define NGX_CHATVISOR_COBROWSE_CHUNK_MAX     (8 * 1024 * 1024)  /* a POST */
#define NGX_CHATVISOR_COBROWSE_BUFFER_MAX    (16 * 1024 * 1024) /* kept */
#define NGX_CHATVISOR_COBROWSE_COMPACT_MIN   (1024 * 1024)  /* incremental
                                                    bytes kept after a full
                                                    snapshot beyond which, */
#define NGX_CHATVISOR_COBROWSE_COMPACT_RATIO 4     /* and beyond this many
                                                    times its size, a new
                                                    one is asked for */
#define NGX_CHATVISOR_COBROWSE_RATE          (512 * 1024)  /* incremental
                                                    bytes a second, */
#define NGX_CHATVISOR_COBROWSE_RATE_WINDOW   5000          /* averaged over
                                                    this many ms */
#define NGX_CHATVISOR_COBROWSE_FULL_BURST    5     /* full snapshots at
                                                    once, then one every */
#define NGX_CHATVISOR_COBROWSE_FULL_EVERY    1000  /* this many ms */
#define NGX_CHATVISOR_COBROWSE_SESSIONS_MAX  256   /* live at once */
#define NGX_CHATVISOR_COBROWSE_AGENT_TIMEOUT 30000 /* ms without an agent
                                                    poll: agent_gone */
#define NGX_CHATVISOR_COBROWSE_KEEP_ENDED    60000 /* ms an ended state is
                                                    kept for both to read */
#define NGX_CHATVISOR_COBROWSE_SWEEP         5000  /* ms between sweeps */
#define NGX_CHATVISOR_COBROWSE_RECORDER_MAX  64    /* bytes of a recorder id */

/* what a caller is told */
typedef enum {
    NGX_CHATVISOR_COBROWSE_OK = 0,
    NGX_CHATVISOR_COBROWSE_NO_SESSION,   /* none for the conversation */
    NGX_CHATVISOR_COBROWSE_NOT_YOURS,    /* another agent's */
    NGX_CHATVISOR_COBROWSE_BUSY,         /* another agent's is live */
    NGX_CHATVISOR_COBROWSE_LIMIT,        /* SESSIONS_MAX are live */
    NGX_CHATVISOR_COBROWSE_OVER,         /* ended or declined */
    NGX_CHATVISOR_COBROWSE_NOT_PENDING,  /* not waiting for a decision */
    NGX_CHATVISOR_COBROWSE_NOT_ACTIVE,   /* not allowed (yet) */
    NGX_CHATVISOR_COBROWSE_SUPERSEDED,   /* another recorder holds it */
    NGX_CHATVISOR_COBROWSE_RATE_LIMITED, /* over the rate: retry_after */
    NGX_CHATVISOR_COBROWSE_ENDED_TOO_LARGE,  /* it did not fit: ended */
    NGX_CHATVISOR_COBROWSE_ERROR         /* out of memory */
} ngx_chatvisor_cobrowse_rc_e;

/* a session as a caller sees it, copied out under the lock */
typedef struct {
    ngx_uint_t                state;        /* NGX_CHATVISOR_COBROWSE_* */
    ngx_uint_t                reason;       /* of an end, 0: none */
    uint64_t                  generation;
    uint64_t                  pointer;      /* the latest move's counter */
    uint64_t                  click;        /* the latest click's, 0 none */
    int32_t                   x, y;         /* the latest move */
    int32_t                   click_x, click_y;
    uint64_t                  last_seq;     /* of the latest chunk */
    int64_t                   requested_ms;
    unsigned                  snapshot:1;   /* a full snapshot is wanted */
    char                      customer_id[CV_ID_MAX];
    char                      agent_id[CV_AGENT_ID_MAX + 1];
    char                      agent_name[CV_AGENT_NAME_MAX + 1];
    char                      recorder[NGX_CHATVISOR_COBROWSE_RECORDER_MAX
                                       + 1];  /* "": none */
} ngx_chatvisor_cobrowse_view_t;

/* "requested", "active", ... ("none"); a reason's name, NULL for 0 */
const char *ngx_chatvisor_cobrowse_state_name(ngx_uint_t state);
const char *ngx_chatvisor_cobrowse_reason_name(ngx_uint_t reason);

/* postconfiguration: the zone, when some location offers co-browsing */
ngx_int_t ngx_chatvisor_cobrowse_zone_add(ngx_conf_t *cf,
    ngx_chatvisor_main_conf_t *cmcf);

/* live sessions (requested or active) */
ngx_uint_t ngx_chatvisor_cobrowse_live_count(ngx_chatvisor_main_conf_t *cmcf);

/* worker start: the sweep (ends sessions whose agent is gone, that ran
 * out of time or whose conversation was closed; forgets ended ones) */
ngx_int_t ngx_chatvisor_cobrowse_init_process(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf);

/* the conversation's session: NGX_OK, or NGX_DECLINED with view->state
 * NONE. Cheap where nobody co-browses (no lock taken); for polls' checks */
ngx_int_t ngx_chatvisor_cobrowse_get(ngx_chatvisor_main_conf_t *cmcf,
    const char *conversation_id, ngx_chatvisor_cobrowse_view_t *view);

/* ends the session if its time is up or its agent gone (a request's
 * entry, before it acts) */
void ngx_chatvisor_cobrowse_settle(ngx_chatvisor_main_conf_t *cmcf,
    const char *conversation_id);

/* an agent asks to see the visitor's page (*created: a new session; a
 * repeat by the same agent while it is live returns it): OK, BUSY, LIMIT */
ngx_chatvisor_cobrowse_rc_e ngx_chatvisor_cobrowse_start(
    ngx_chatvisor_main_conf_t *cmcf, const char *conversation_id,
    const char *customer_id, const char *agent_id, const char *agent_name,
    ngx_uint_t *created, ngx_chatvisor_cobrowse_view_t *view);

/* the visitor's answer to a request: OK (allowing an active one again
 * too), NO_SESSION, OVER, NOT_PENDING */
ngx_chatvisor_cobrowse_rc_e ngx_chatvisor_cobrowse_decide(
    ngx_chatvisor_main_conf_t *cmcf, const char *conversation_id,
    ngx_uint_t allow, ngx_chatvisor_cobrowse_view_t *view);

/* ends a live session for reason; agent_id, when not NULL, must be its
 * agent's (NOT_YOURS). OK also when it was already over (no change) */
ngx_chatvisor_cobrowse_rc_e ngx_chatvisor_cobrowse_end(
    ngx_chatvisor_main_conf_t *cmcf, const char *conversation_id,
    const char *agent_id, ngx_uint_t reason,
    ngx_chatvisor_cobrowse_view_t *view);

/* the conversation was closed: its session ends at once, if any */
void ngx_chatvisor_cobrowse_closed(ngx_chatvisor_main_conf_t *cmcf,
    const char *conversation_id);

/*
 * The recorder's events: the elements of a JSON array (len bytes) from
 * recorder; full: they start with a full snapshot, which takes the
 * session over for that recorder and drops every older chunk. OK (also
 * when the zone had no room for incremental events: they are dropped and
 * a full snapshot is asked for), NO_SESSION, OVER, NOT_ACTIVE, SUPERSEDED,
 * RATE_LIMITED (*retry_after seconds), ENDED_TOO_LARGE.
 */
ngx_chatvisor_cobrowse_rc_e ngx_chatvisor_cobrowse_events(
    ngx_chatvisor_main_conf_t *cmcf, const char *conversation_id,
    const char *recorder, ngx_uint_t full, u_char *data, size_t len,
    ngx_uint_t *retry_after);

/* the agent's pointer (page coordinates), a click or a move: OK,
 * NO_SESSION, NOT_YOURS, OVER, NOT_ACTIVE */
ngx_chatvisor_cobrowse_rc_e ngx_chatvisor_cobrowse_pointer(
    ngx_chatvisor_main_conf_t *cmcf, const char *conversation_id,
    const char *agent_id, int32_t x, int32_t y, ngx_uint_t click);

/* an agent's view (re)opens: a full snapshot is asked for, unless one is
 * already wanted */
void ngx_chatvisor_cobrowse_want_snapshot(ngx_chatvisor_main_conf_t *cmcf,
    const char *conversation_id, const char *agent_id);

/*
 * Cluster mode: a change of a session, told to the other nodes on a core
 * NATS subject (ngx_chatvisor_cluster_cobrowse.c) and applied there as if
 * it had happened there (ngx_chatvisor_cobrowse_apply), not told again.
 * Sent as it is, after the sending node's id: every node runs one build.
 */
#define NGX_CHATVISOR_COBROWSE_OP_START     1   /* customer, agent */
#define NGX_CHATVISOR_COBROWSE_OP_ALLOW     2
#define NGX_CHATVISOR_COBROWSE_OP_END       3   /* flag: the reason */
#define NGX_CHATVISOR_COBROWSE_OP_EVENTS    4   /* flag: full; seq,
                                                   recorder; the data */
#define NGX_CHATVISOR_COBROWSE_OP_POINTER   5   /* flag: click; x, y */
#define NGX_CHATVISOR_COBROWSE_OP_SNAPSHOT  6   /* a full one is wanted */
#define NGX_CHATVISOR_COBROWSE_OP_TOUCH     7   /* its agent is still there */

typedef struct {
    uint32_t                  op;
    uint32_t                  flag;
    int32_t                   x, y;
    uint64_t                  seq;          /* the chunk's, the same on
                                               every node */
    char                      conversation_id[CV_ID_MAX];
    char                      customer_id[CV_ID_MAX];
    char                      agent_id[CV_AGENT_ID_MAX + 1];
    char                      agent_name[CV_AGENT_NAME_MAX + 1];
    char                      recorder[NGX_CHATVISOR_COBROWSE_RECORDER_MAX
                                       + 1];
} ngx_chatvisor_cobrowse_change_t;

/* another node's change (data, len: a chunk's events), here */
void ngx_chatvisor_cobrowse_apply(ngx_chatvisor_main_conf_t *cmcf,
    ngx_chatvisor_cobrowse_change_t *ch, u_char *data, size_t len);

/* this node's change, to the other nodes; nothing without the cluster */
void ngx_chatvisor_cluster_cobrowse(ngx_chatvisor_cobrowse_change_t *ch,
    u_char *data, size_t len);

/* the bytes of events a chunk may have to reach the other nodes (the
 * servers' max_payload less the change); 0 without the cluster */
size_t ngx_chatvisor_cluster_cobrowse_max(void);

/* what an agent's poll answers with */
typedef struct {
    ngx_chatvisor_cobrowse_view_t  view;
    ngx_str_t                      events;   /* chunks' elements, joined
                                                with commas; len 0: none */
    uint64_t                       cursor;   /* seq of the last chunk in */
    unsigned                       reset:1;  /* events start a new view:
                                                with a full snapshot, or,
                                                empty, the events after
                                                the cursor are gone and one
                                                is on its way */
} ngx_chatvisor_cobrowse_read_t;

/*
 * The chunks after seq after for the session's agent (after 0 or beyond
 * the last: from the last full snapshot), copied into pool; the agent is
 * seen polling. NO_SESSION, NOT_YOURS, ERROR, OK (events empty and no
 * reset: nothing yet).
 */
ngx_chatvisor_cobrowse_rc_e ngx_chatvisor_cobrowse_read(
    ngx_chatvisor_main_conf_t *cmcf, const char *conversation_id,
    const char *agent_id, uint64_t after, ngx_pool_t *pool,
    ngx_chatvisor_cobrowse_read_t *read);


#endif /* _NGX_CHATVISOR_RUNTIME_H_INCLUDED_ */
