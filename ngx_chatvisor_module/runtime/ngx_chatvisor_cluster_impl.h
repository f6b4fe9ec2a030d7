/*
 * Cluster mode's parts (ngx_chatvisor_cluster*.c, docs/cluster.md
 * "Design"): the worker's cluster state and what the files share. The
 * fields are grouped by who may touch them: under mu (our thread,
 * libnats' threads and the event loop), our thread's alone, and the
 * event loop's alone.
 */

#ifndef _NGX_CHATVISOR_CLUSTER_IMPL_H_INCLUDED_
#define _NGX_CHATVISOR_CLUSTER_IMPL_H_INCLUDED_


#include "ngx_chatvisor_runtime.h"
#include "cv_cluster_erase.h"
#include "ngx_chatvisor_cluster_lease.h"
#include "cv_time.h"

#include <nats/nats.h>
#include <pthread.h>

/* how long a publish waits for JetStream's acknowledgment (a quorum
 * stored it), ms: after it the write is answered 503 */
#define NGX_CHATVISOR_CLUSTER_ACK_WAIT     3000

/* our own guard beside libnats' (it answers when libnats did not) */
#define NGX_CHATVISOR_CLUSTER_ACK_GUARD    (NGX_CHATVISOR_CLUSTER_ACK_WAIT \
                                            + 2000)

/* acknowledged, but not applied by this node within this many ms (a long
 * catch-up): answered 500, the client retries with its client_msg_id */
#define NGX_CHATVISOR_CLUSTER_APPLY_WAIT   30000

/*
 * Commands read but not applied yet, per worker: beyond, the reader's
 * callback waits (checking every CMDS_WAIT ms), libnats stops answering
 * JetStream's flow control and the server stops pushing. A node catching
 * up a long stream then holds this many in memory, not the whole backlog.
 */
#define NGX_CHATVISOR_CLUSTER_CMDS_MAX     4096
#define NGX_CHATVISOR_CLUSTER_CMDS_WAIT    100

/* the consumer's idle heartbeat, ns: JetStream's flow control needs one */
#define NGX_CHATVISOR_CLUSTER_HEARTBEAT    5000000000LL

/* how often our thread looks at the connection, the stream, the reader */
#define NGX_CHATVISOR_CLUSTER_TICK         1000

/*
 * A reader that stalls (its consumer went with a server): every
 * STALL_CHECK ms our thread asks for the stream's last seq; behind it
 * without progress for STALL_CHECKS checks in a row, the reader is made
 * again
 */
#define NGX_CHATVISOR_CLUSTER_STALL_CHECK  2000
#define NGX_CHATVISOR_CLUSTER_STALL_CHECKS 2

/* how long an exiting worker waits for libnats' threads to end, ms */
#define NGX_CHATVISOR_CLUSTER_CLOSE_WAIT   2000

/* JetStream's API requests (stream info, consumer creation), ms */
#define NGX_CHATVISOR_CLUSTER_API_WAIT     2000

/*
 * Removing an erased customer's commands from the stream (ms): one removal
 * waits this long for JetStream, and a batch stops after ERASE_STEP, so
 * that our thread is back soon to its other work (the reader, the
 * webhooks' lease); what is left goes at the next look
 */
#define NGX_CHATVISOR_CLUSTER_ERASE_WAIT   500
#define NGX_CHATVISOR_CLUSTER_ERASE_STEP   200

/* publishes in flight before js_PublishMsgAsync() would stall */
#define NGX_CHATVISOR_CLUSTER_MAX_PENDING  65536

/* a lost connection is retried forever, this often, ms */
#define NGX_CHATVISOR_CLUSTER_RECONNECT    500

/*
 * The stream keeps commands for chatvisor_retention (its maximum age). A
 * node whose next command may have aged out (it applied its last one more
 * than the age ago, less this margin for the clocks of servers and nodes)
 * stops, rather than apply what is left and differ from the others: its
 * store is restored from another node's. The margin is a tenth of the age,
 * at most AGE_MARGIN_MAX ms.
 */
#define NGX_CHATVISOR_CLUSTER_AGE_MARGIN       10
#define NGX_CHATVISOR_CLUSTER_AGE_MARGIN_MAX   3600000
#define NGX_CHATVISOR_CLUSTER_NS_PER_MS        1000000
#define NGX_CHATVISOR_CLUSTER_NS_PER_S         1000000000LL

/* JetStream's default window for duplicate publishes; a stream's must not
 * be longer than its maximum age */
#define NGX_CHATVISOR_CLUSTER_DUPLICATES   (120 * NGX_CHATVISOR_CLUSTER_NS_PER_S)

/* the header that names a publish to its worker */
#define NGX_CHATVISOR_CLUSTER_ID_HEADER    "Cv-Id"
#define NGX_CHATVISOR_CLUSTER_ID_LEN       NGX_INT64_LEN

#define NGX_CHATVISOR_CLUSTER_SEED_HEX     (2 * CV_DET_SEED)


/* what libnats' threads hand to the event loop */
#define NGX_CHATVISOR_CLUSTER_ACK          1   /* id, seq */
#define NGX_CHATVISOR_CLUSTER_NACK         2   /* id: not stored */
#define NGX_CHATVISOR_CLUSTER_CMD          3   /* seq, gen, data */
#define NGX_CHATVISOR_CLUSTER_NOTE         4   /* data: to log */
#define NGX_CHATVISOR_CLUSTER_SECRET       5   /* data: the cluster's */
#define NGX_CHATVISOR_CLUSTER_TYPING       6   /* data: a notice */
#define NGX_CHATVISOR_CLUSTER_PRESENCE     7   /* data: node, JSON */
#define NGX_CHATVISOR_CLUSTER_ERASED       8   /* data: u64 seqs removed
                                                  from the stream */
#define NGX_CHATVISOR_CLUSTER_COBROWSE     9   /* data: a co-browsing
                                                  change, its events */
#define NGX_CHATVISOR_CLUSTER_NOTE_ERR    10   /* data: to log, at error */
#define NGX_CHATVISOR_CLUSTER_BEHIND      11   /* data: why this node
                                                  cannot catch up (to log) */
#define NGX_CHATVISOR_CLUSTER_HUNG_UP     12   /* data: a connection given
                                                  up (nc, js) to destroy */

/* co-browsing changes' subject: the stream's name and this */
#define NGX_CHATVISOR_CLUSTER_COBROWSE_SUFFIX  ".cobrowse"

/* libnats' last error text kept, to log it once per change */
#define NGX_CHATVISOR_CLUSTER_WHY_LEN      256

/* the agents online on each node, told to the others this often (ms),
 * and forgotten when not told again for PRESENCE_KEEP of these (the
 * shared zone keeps up to NGX_CHATVISOR_PRESENCE_NODES other nodes) */
#define NGX_CHATVISOR_CLUSTER_PRESENCE_SUFFIX  ".presence"
#define NGX_CHATVISOR_CLUSTER_PRESENCE_EVERY   2000
#define NGX_CHATVISOR_CLUSTER_PRESENCE_KEEP    3
#define NGX_CHATVISOR_CLUSTER_NODE_LEN     NGX_CHATVISOR_NODE_ID_LEN

/* typing signals' subject: the stream's name and this */
#define NGX_CHATVISOR_CLUSTER_TYPING_SUFFIX  ".typing"

/* the key-value bucket of what the nodes share once (stream + suffix)
 * and the signing secret's key in it */
#define NGX_CHATVISOR_CLUSTER_KV_SUFFIX    "-shared"
#define NGX_CHATVISOR_CLUSTER_KV_SECRET    "cookie-secret"

typedef struct ngx_chatvisor_cluster_item_s  ngx_chatvisor_cluster_item_t;

struct ngx_chatvisor_cluster_item_s {
    ngx_chatvisor_cluster_item_t  *next;
    ngx_uint_t                     kind;
    uint64_t                       id;
    uint64_t                       seq;
    uint64_t                       prev;       /* cv_cluster_apply_after()'s */
    uint64_t                       gen;
    natsConnection                *nc;         /* HUNG_UP's */
    jsCtx                         *js;
    size_t                         len;
    u_char                         data[1];
};


/* one reader of the stream (a subscription's closure, freed when libnats
 * is done with it): what it delivered last, for the gap rule */
typedef struct {
    struct ngx_chatvisor_cluster_s  *cl;
    uint64_t                        gen;
    uint64_t                        stream;    /* the stream seq, and */
    uint64_t                        consumer;  /* the consumer's delivery
                                                  seq of the last one */
} ngx_chatvisor_cluster_reader_t;


/* a command being applied through the group commit */
typedef struct {
    ngx_chatvisor_op_t             op;
    uint64_t                       seq;
    uint64_t                       prev;
    uint64_t                       gen;
    cv_cluster_result              res;
    size_t                         len;
    u_char                         data[1];
} ngx_chatvisor_cluster_apply_t;


/* a batch of the to-do of removals from the stream, its removed seqs
 * taken off the to-do through the group commit */
typedef struct {
    ngx_chatvisor_op_t             op;
    size_t                         n;
    uint64_t                       seqs[CV_CLUSTER_ERASE_BATCH];
} ngx_chatvisor_cluster_erased_t;


typedef struct ngx_chatvisor_cluster_s {
    ngx_chatvisor_main_conf_t     *cmcf;
    ngx_log_t                     *log;

    /* ours and libnats' threads: under mu */
    pthread_mutex_t                mu;
    pthread_cond_t                 cond;
    pthread_cond_t                 room;       /* cmds fell below the max */
    ngx_uint_t                     cmds;       /* read, not applied yet */
    pthread_t                      thread;
    ngx_uint_t                     thread_started;
    ngx_uint_t                     stop;
    ngx_uint_t                     stuck;      /* at a command this node
                                                  does not know: it reads
                                                  and writes no more */
    ngx_uint_t                     lost;       /* the connection was lost
                                                  since our thread looked */
    ngx_uint_t                     ready;      /* connected, the stream and
                                                  the secret are there, the
                                                  reader runs */
    ngx_uint_t                     linked;     /* nc is made, and stays
                                                  until the worker exits:
                                                  core NATS messages (co-
                                                  browsing) need no more */
    ngx_chatvisor_cluster_item_t  *head, *tail;
    uint64_t                       want_from;  /* the reader starts here */
    int64_t                        want_from_at;  /* ms: the time of the
                                                  command before it (0:
                                                  not known) */
    uint64_t                       want_gen;   /* asked for by the loop */
    int                            pipe[2];
    uint64_t                       erase[CV_CLUSTER_ERASE_BATCH];
    size_t                         nerase;     /* seqs for our thread to
                                                  remove from the stream */

    /* our thread's alone */
    natsConnection                *nc;
    jsCtx                         *js;
    natsSubscription              *sub;
    natsSubscription              *typing_sub;
    natsSubscription              *presence_sub;
    natsSubscription              *cobrowse_sub;  /* worker 0's alone */
    kvStore                       *kv;
    ngx_uint_t                     stream_ok;
    ngx_uint_t                     secret_ok;
    uint64_t                       sub_made_gen;
    ngx_uint_t                     connected_told;
    char                           why[NGX_CHATVISOR_CLUSTER_WHY_LEN];
                                                /* not connected: why,
                                                   as last logged */
    uint64_t                       stall_from;
    ngx_uint_t                     stall_checks;
    ngx_msec_t                     stall_checked;
    ngx_msec_t                     lease_wait;  /* 0: the tick's */

    /* the webhooks' sending node: its own mutex */
    ngx_chatvisor_cluster_lease_t  lease;

    /* the event loop's alone */
    ngx_connection_t              *conn;
    ngx_queue_t                    waiting;    /* cluster_wait_t */
    uint64_t                       next_id;
    uint64_t                       seen;       /* the reader is past it */
    uint64_t                       gen;        /* the reader's generation */
    ngx_uint_t                     halted;     /* stuck, as the loop knows */
    ngx_chatvisor_op_t             secret_op;
    u_char                         typing_subject[NGX_MAX_ERROR_STR];
    u_char                         presence_subject[NGX_MAX_ERROR_STR];
    u_char                         cobrowse_subject[NGX_MAX_ERROR_STR];
    ngx_event_t                    presence_timer;
    ngx_uint_t                     erasing;    /* a batch is with our
                                                  thread or the commit */
    ngx_chatvisor_cluster_erased_t erased;
} ngx_chatvisor_cluster_t;


/* the worker's cluster state; NULL without chatvisor_cluster */
extern ngx_chatvisor_cluster_t  *ngx_chatvisor_cluster;

/* ngx_chatvisor_cluster_inbox.c: libnats' threads -> the event loop */
void ngx_chatvisor_cluster_push(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_item_t *it);
ngx_chatvisor_cluster_item_t *ngx_chatvisor_cluster_item(ngx_uint_t kind,
    const void *data, size_t len);
void ngx_chatvisor_cluster_note(ngx_chatvisor_cluster_t *cl, const char *what,
    natsStatus s);
void ngx_chatvisor_cluster_acked(jsCtx *js, natsMsg *msg, jsPubAck *pa,
    jsPubAckErr *pae, void *closure);
void ngx_chatvisor_cluster_cmd_left(ngx_chatvisor_cluster_t *cl);
void ngx_chatvisor_cluster_cmd(natsConnection *nc, natsSubscription *sub,
    natsMsg *msg, void *closure);
void ngx_chatvisor_cluster_reader_free(void *closure);
void ngx_chatvisor_cluster_read(ngx_event_t *ev);

/* ngx_chatvisor_cluster_thread.c: the worker's own thread */
void *ngx_chatvisor_cluster_thread(void *data);

/* ngx_chatvisor_cluster_apply.c: applying commands, in the event loop */
void ngx_chatvisor_cluster_apply(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_item_t *it);
void ngx_chatvisor_cluster_secret_take(ngx_chatvisor_cluster_t *cl,
    u_char *secret);
void ngx_chatvisor_cluster_erase_look(ngx_chatvisor_cluster_t *cl);
void ngx_chatvisor_cluster_erased_take(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_item_t *it);

/* ngx_chatvisor_cluster_signals.c: typing and presence subjects */
void ngx_chatvisor_cluster_typing_in(natsConnection *nc,
    natsSubscription *sub, natsMsg *msg, void *closure);
void ngx_chatvisor_cluster_presence_in(natsConnection *nc,
    natsSubscription *sub, natsMsg *msg, void *closure);
void ngx_chatvisor_cluster_presence_take(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_item_t *it);
void ngx_chatvisor_cluster_presence_tell(ngx_event_t *ev);
void ngx_chatvisor_cluster_tell(ngx_chatvisor_cluster_t *cl, u_char *subject,
    const void *head, size_t head_len, const void *body, size_t body_len);
void ngx_chatvisor_cluster_heard(ngx_chatvisor_cluster_t *cl, natsMsg *msg,
    ngx_uint_t kind, size_t min, size_t max, ngx_uint_t with_node);

/* ngx_chatvisor_cluster_cobrowse.c: co-browsing changes */
void ngx_chatvisor_cluster_cobrowse_in(natsConnection *nc,
    natsSubscription *sub, natsMsg *msg, void *closure);
void ngx_chatvisor_cluster_cobrowse_take(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_item_t *it);

/* ngx_chatvisor_cluster.c: the writers' side, the process */
natsConnection *ngx_chatvisor_cluster_conn(ngx_chatvisor_cluster_t *cl,
    ngx_uint_t reading, jsCtx **js);
uint64_t ngx_chatvisor_cluster_applied(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t *secret_kept, int64_t *at);
void ngx_chatvisor_cluster_answer(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_wait_t *w, ngx_int_t rc);
void ngx_chatvisor_cluster_wake(ngx_chatvisor_cluster_t *cl);
ngx_chatvisor_cluster_wait_t *ngx_chatvisor_cluster_find(
    ngx_chatvisor_cluster_t *cl, uint64_t id);


#endif /* _NGX_CHATVISOR_CLUSTER_IMPL_H_INCLUDED_ */
