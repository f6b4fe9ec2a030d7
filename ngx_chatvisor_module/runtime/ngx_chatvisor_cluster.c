/*
 * Cluster mode (chatvisor_cluster, docs/cluster.md "Design"): state
 * machine replication on NATS JetStream's total order. JetStream is the
 * consensus; nothing here elects or votes.
 *
 * Each worker has a connection of its own, driven by libnats' threads and
 * one thread of ours that connects, makes the stream when it is missing
 * and (re)starts the stream's consumer: everything that may block
 * on the network happens there, never in the event loop. What those
 * threads learn (a publish acknowledged or refused, a command read from
 * the stream) goes into an inbox under a mutex, and a byte into a pipe
 * that the event loop watches (ngx_notify is the thread pool's).
 *
 * Every worker reads the whole stream and queues each command into the
 * group commit; cv_cluster_apply() applies it once per store (the stream
 * seq applied is kept in the same transaction), so the first worker to
 * commit it applies it and the others skip it. A writer is answered by
 * its own worker once that worker's reader got past its command's seq,
 * with the outcome the store kept for that seq.
 *
 * Beside the stream, two core NATS subjects carry what is not kept:
 * typing signals (STREAM.typing) and each node's available agents for
 * routing (STREAM.presence, every 2 s), each with the sending node's id so
 * that a node skips its own.
 *
 * The webhooks are sent by one node at a time: our thread keeps the lease
 * in the key-value bucket for the worker that would send
 * (ngx_chatvisor_cluster_lease.c, ngx_chatvisor_cluster_webhooks()).
 */


#include "ngx_chatvisor_runtime.h"
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
 * A reader that stalls (its consumer went with a server): every STALL_CHECK ms our thread asks for the stream's
 * last seq; behind it without progress for STALL_CHECKS checks in a row,
 * the reader is made again
 */
#define NGX_CHATVISOR_CLUSTER_STALL_CHECK  2000
#define NGX_CHATVISOR_CLUSTER_STALL_CHECKS 2

/* how long an exiting worker waits for libnats' threads to end, ms */
#define NGX_CHATVISOR_CLUSTER_CLOSE_WAIT   2000

/* JetStream's API requests (stream info, consumer creation), ms */
#define NGX_CHATVISOR_CLUSTER_API_WAIT     2000

/* publishes in flight before js_PublishMsgAsync() would stall */
#define NGX_CHATVISOR_CLUSTER_MAX_PENDING  65536

/* a lost connection is retried forever, this often, ms */
#define NGX_CHATVISOR_CLUSTER_RECONNECT    500

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
#define NGX_CHATVISOR_CLUSTER_PRESENCE     7   /* data: node, JSON ids */

/* the agents available on each node, told to the others this often (ms),
 * and forgotten when not told again for PRESENCE_KEEP of these */
#define NGX_CHATVISOR_CLUSTER_PRESENCE_SUFFIX  ".presence"
#define NGX_CHATVISOR_CLUSTER_PRESENCE_EVERY   2000
#define NGX_CHATVISOR_CLUSTER_PRESENCE_KEEP    3
#define NGX_CHATVISOR_CLUSTER_NODES_MAX        32
#define NGX_CHATVISOR_CLUSTER_NODE_LEN         16

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
    uint64_t                       gen;
    size_t                         len;
    u_char                         data[1];
};


/* what another node said of its available agents */
typedef struct {
    u_char                         node[NGX_CHATVISOR_CLUSTER_NODE_LEN];
    ngx_msec_t                     at;
    cJSON                         *ids;       /* NULL: a free slot */
} ngx_chatvisor_cluster_peer_t;


/* a command being applied through the group commit */
typedef struct {
    ngx_chatvisor_op_t             op;
    uint64_t                       seq;
    uint64_t                       gen;
    cv_cluster_result              res;
    size_t                         len;
    u_char                         data[1];
} ngx_chatvisor_cluster_apply_t;


typedef struct {
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
    ngx_chatvisor_cluster_item_t  *head, *tail;
    uint64_t                       want_from;  /* the reader starts here */
    uint64_t                       want_gen;   /* asked for by the loop */
    uint64_t                       sub_gen;    /* what the reader is */
    int                            pipe[2];

    /* our thread's alone */
    natsConnection                *nc;
    jsCtx                         *js;
    natsSubscription              *sub;
    natsSubscription              *typing_sub;
    natsSubscription              *presence_sub;
    kvStore                       *kv;
    ngx_uint_t                     stream_ok;
    ngx_uint_t                     secret_ok;
    uint64_t                       sub_made_gen;
    ngx_uint_t                     connected_told;
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
    ngx_event_t                    presence_timer;
    ngx_chatvisor_cluster_peer_t   peers[NGX_CHATVISOR_CLUSTER_NODES_MAX];
} ngx_chatvisor_cluster_t;


static ngx_chatvisor_cluster_t  *ngx_chatvisor_cluster;


static void ngx_chatvisor_cluster_read(ngx_event_t *ev);
static void ngx_chatvisor_cluster_resync(ngx_chatvisor_cluster_t *cl);
static void ngx_chatvisor_cluster_presence_tell(ngx_event_t *ev);


/* ------------------------------------------- from libnats to the loop */

/* under cl->mu or not: pushes an item and wakes the event loop */
static void
ngx_chatvisor_cluster_push(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_item_t *it)
{
    u_char      byte;
    ngx_uint_t  was_empty;

    it->next = NULL;

    pthread_mutex_lock(&cl->mu);

    was_empty = (cl->head == NULL);

    if (cl->tail) {
        cl->tail->next = it;

    } else {
        cl->head = it;
    }

    cl->tail = it;

    pthread_mutex_unlock(&cl->mu);

    if (was_empty) {
        /* a full pipe already says it: the loop takes everything */
        byte = 0;

        if (write(cl->pipe[1], &byte, 1) == -1) {
            /* EAGAIN: a full pipe wakes the loop all the same */
        }
    }
}


static ngx_chatvisor_cluster_item_t *
ngx_chatvisor_cluster_item(ngx_uint_t kind, const void *data, size_t len)
{
    ngx_chatvisor_cluster_item_t  *it;

    it = malloc(sizeof(ngx_chatvisor_cluster_item_t) + len);
    if (it == NULL) {
        return NULL;
    }

    ngx_memzero(it, sizeof(ngx_chatvisor_cluster_item_t));
    it->kind = kind;
    it->len = len;

    if (len) {
        ngx_memcpy(it->data, data, len);
    }

    it->data[len] = '\0';

    return it;
}


static void
ngx_chatvisor_cluster_note(ngx_chatvisor_cluster_t *cl, const char *what,
    natsStatus s)
{
    char                           text[NGX_MAX_ERROR_STR];
    int                            n;
    ngx_chatvisor_cluster_item_t  *it;

    n = snprintf(text, sizeof(text), "%s%s%s", what,
                 s == NATS_OK ? "" : ": ",
                 s == NATS_OK ? "" : natsStatus_GetText(s));
    if (n < 0) {
        return;
    }

    it = ngx_chatvisor_cluster_item(NGX_CHATVISOR_CLUSTER_NOTE, text,
                                    ngx_min((size_t) n, sizeof(text) - 1));
    if (it) {
        ngx_chatvisor_cluster_push(cl, it);
    }
}


/* a libnats thread: JetStream's answer to a publish */
static void
ngx_chatvisor_cluster_acked(jsCtx *js, natsMsg *msg, jsPubAck *pa,
    jsPubAckErr *pae, void *closure)
{
    ngx_chatvisor_cluster_t *cl = closure;

    const char                    *id;
    ngx_chatvisor_cluster_item_t  *it;

    if (natsMsgHeader_Get(msg, NGX_CHATVISOR_CLUSTER_ID_HEADER, &id)
        != NATS_OK)
    {
        natsMsg_Destroy(msg);
        return;
    }

    it = ngx_chatvisor_cluster_item(pa ? NGX_CHATVISOR_CLUSTER_ACK
                                       : NGX_CHATVISOR_CLUSTER_NACK,
                                    NULL, 0);
    if (it) {
        it->id = strtoull(id, NULL, 10);
        it->seq = pa ? pa->Sequence : 0;
        ngx_chatvisor_cluster_push(cl, it);
    }

    natsMsg_Destroy(msg);
}


/* a libnats thread: waits while the loop has CMDS_MAX commands to apply;
 * 0 when the worker exits */
static ngx_uint_t
ngx_chatvisor_cluster_room(ngx_chatvisor_cluster_t *cl)
{
    ngx_uint_t       go;
    struct timespec  ts;

    pthread_mutex_lock(&cl->mu);

    while (cl->cmds >= NGX_CHATVISOR_CLUSTER_CMDS_MAX && !cl->stop) {
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += NGX_CHATVISOR_CLUSTER_CMDS_WAIT * 1000000L;

        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }

        (void) pthread_cond_timedwait(&cl->room, &cl->mu, &ts);
    }

    go = !cl->stop;

    if (go) {
        cl->cmds++;
    }

    pthread_mutex_unlock(&cl->mu);

    return go;
}


/* any thread: a command read is applied or dropped */
static void
ngx_chatvisor_cluster_cmd_left(ngx_chatvisor_cluster_t *cl)
{
    pthread_mutex_lock(&cl->mu);

    if (cl->cmds > 0 && cl->cmds-- == NGX_CHATVISOR_CLUSTER_CMDS_MAX) {
        pthread_cond_signal(&cl->room);
    }

    pthread_mutex_unlock(&cl->mu);
}


/* a libnats thread: the next command of the stream */
static void
ngx_chatvisor_cluster_cmd(natsConnection *nc, natsSubscription *sub,
    natsMsg *msg, void *closure)
{
    ngx_chatvisor_cluster_t *cl = closure;

    uint64_t                       gen;
    jsMsgMetaData                 *meta;
    ngx_chatvisor_cluster_item_t  *it;

    if (!ngx_chatvisor_cluster_room(cl)) {
        natsMsg_Destroy(msg);
        return;
    }

    pthread_mutex_lock(&cl->mu);
    gen = cl->sub_gen;
    pthread_mutex_unlock(&cl->mu);

    if (natsMsg_GetMetaData(&meta, msg) != NATS_OK) {
        ngx_chatvisor_cluster_cmd_left(cl);
        natsMsg_Destroy(msg);
        return;
    }

    it = ngx_chatvisor_cluster_item(NGX_CHATVISOR_CLUSTER_CMD,
                                    natsMsg_GetData(msg),
                                    natsMsg_GetDataLength(msg));
    if (it) {
        it->seq = meta->Sequence.Stream;
        it->gen = gen;
        ngx_chatvisor_cluster_push(cl, it);

    } else {
        /* lost: the next one's seq is a gap, read again from the store */
        ngx_chatvisor_cluster_cmd_left(cl);
    }

    jsMsgMetaData_Destroy(meta);
    natsMsg_Destroy(msg);
}


/* a libnats thread: another node's typing signal (node id, notice) */
static void
ngx_chatvisor_cluster_typing_in(natsConnection *nc, natsSubscription *sub,
    natsMsg *msg, void *closure)
{
    ngx_chatvisor_cluster_t *cl = closure;

    const u_char                  *data;
    ngx_chatvisor_cluster_item_t  *it;

    data = (const u_char *) natsMsg_GetData(msg);

    if (natsMsg_GetDataLength(msg) == (int) (sizeof(cl->cmcf->cluster.node)
                                         + sizeof(ngx_chatvisor_notice_t))
        && ngx_memcmp(data, cl->cmcf->cluster.node,
                      sizeof(cl->cmcf->cluster.node))
           != 0)
    {
        it = ngx_chatvisor_cluster_item(NGX_CHATVISOR_CLUSTER_TYPING,
                                        data + sizeof(cl->cmcf->cluster.node),
                                        sizeof(ngx_chatvisor_notice_t));
        if (it) {
            ngx_chatvisor_cluster_push(cl, it);
        }
    }

    natsMsg_Destroy(msg);
}


/* a libnats thread: another node's available agents (node id, JSON) */
static void
ngx_chatvisor_cluster_presence_in(natsConnection *nc, natsSubscription *sub,
    natsMsg *msg, void *closure)
{
    ngx_chatvisor_cluster_t *cl = closure;

    int                            len;
    const u_char                  *data;
    ngx_chatvisor_cluster_item_t  *it;

    data = (const u_char *) natsMsg_GetData(msg);
    len = natsMsg_GetDataLength(msg);

    if (len > NGX_CHATVISOR_CLUSTER_NODE_LEN
        && ngx_memcmp(data, cl->cmcf->cluster.node,
                      NGX_CHATVISOR_CLUSTER_NODE_LEN)
           != 0)
    {
        it = ngx_chatvisor_cluster_item(NGX_CHATVISOR_CLUSTER_PRESENCE,
                                        data, (size_t) len);
        if (it) {
            ngx_chatvisor_cluster_push(cl, it);
        }
    }

    natsMsg_Destroy(msg);
}


/* ------------------------------------------------------ our own thread */

/* writes are taken while this worker's reader runs: a write is answered
 * once the reader got past it, so without one it would only wait */
static void
ngx_chatvisor_cluster_ready(ngx_chatvisor_cluster_t *cl, ngx_uint_t ready)
{
    pthread_mutex_lock(&cl->mu);
    cl->ready = ready && !cl->stuck;
    pthread_mutex_unlock(&cl->mu);
}


/* a libnats thread: the connection is lost; the reader's consumer may go
 * with the servers that held it (libnats would notice only once its
 * heartbeats are missed): our thread makes a new one once connected */
static void
ngx_chatvisor_cluster_disconnected(natsConnection *nc, void *closure)
{
    ngx_chatvisor_cluster_t *cl = closure;

    pthread_mutex_lock(&cl->mu);
    cl->lost = 1;
    cl->ready = 0;
    pthread_cond_signal(&cl->cond);
    pthread_mutex_unlock(&cl->mu);
}


/* a libnats thread: connected at last (our thread's next tick looks) */
static void
ngx_chatvisor_cluster_connected(natsConnection *nc, void *closure)
{
    ngx_chatvisor_cluster_t *cl = closure;

    pthread_mutex_lock(&cl->mu);
    pthread_cond_signal(&cl->cond);
    pthread_mutex_unlock(&cl->mu);
}


static void
ngx_chatvisor_cluster_connect(ngx_chatvisor_cluster_t *cl)
{
    jsOptions                   jo;
    natsStatus                  s;
    natsOptions                *opts;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = cl->cmcf;

    s = natsOptions_Create(&opts);
    if (s != NATS_OK) {
        return;
    }

    s = natsOptions_SetServers(opts, (const char **) cmcf->cluster.urls,
                               (int) cmcf->cluster.nurls);

    if (s == NATS_OK) {
        /* never give up, and never buffer while disconnected: a write
         * that cannot reach the cluster is refused at once (503) */
        s = natsOptions_SetMaxReconnect(opts, -1);
    }

    if (s == NATS_OK) {
        s = natsOptions_SetReconnectWait(opts,
                                         NGX_CHATVISOR_CLUSTER_RECONNECT);
    }

    if (s == NATS_OK) {
        /* with a callback the first connect does not wait either */
        s = natsOptions_SetRetryOnFailedConnect(opts, true,
                                        ngx_chatvisor_cluster_connected, cl);
    }

    if (s == NATS_OK) {
        s = natsOptions_SetTimeout(opts, NGX_CHATVISOR_CLUSTER_API_WAIT);
    }

    if (s == NATS_OK) {
        s = natsOptions_SetDisconnectedCB(opts,
                                    ngx_chatvisor_cluster_disconnected, cl);
    }

    if (s == NATS_OK) {
        s = natsOptions_SetReconnectedCB(opts,
                                    ngx_chatvisor_cluster_connected, cl);
    }

    if (s == NATS_OK && cmcf->cluster.tls) {
        s = natsOptions_SetSecure(opts, true);
    }

    if (s == NATS_OK && cmcf->cluster.credentials.len) {
        s = natsOptions_SetUserCredentialsFromFiles(opts,
                             (const char *) cmcf->cluster.credentials.data,
                             NULL);
    }

    if (s == NATS_OK) {
        s = natsConnection_Connect(&cl->nc, opts);

        if (s == NATS_NOT_YET_CONNECTED) {
            s = NATS_OK;    /* libnats goes on trying */
        }
    }

    natsOptions_Destroy(opts);

    if (s != NATS_OK) {
        ngx_chatvisor_cluster_note(cl, "cannot connect to the cluster", s);
        cl->nc = NULL;
        return;
    }

    jsOptions_Init(&jo);
    jo.Wait = NGX_CHATVISOR_CLUSTER_API_WAIT;
    jo.PublishAsync.MaxPending = NGX_CHATVISOR_CLUSTER_MAX_PENDING;
    jo.PublishAsync.AckHandler = ngx_chatvisor_cluster_acked;
    jo.PublishAsync.AckHandlerClosure = cl;

    s = natsConnection_JetStream(&cl->js, cl->nc, &jo);
    if (s != NATS_OK) {
        ngx_chatvisor_cluster_note(cl, "no JetStream context", s);
        natsConnection_Destroy(cl->nc);
        cl->nc = NULL;
        cl->js = NULL;
    }
}


/* the stream, made when it is missing */
static void
ngx_chatvisor_cluster_stream(ngx_chatvisor_cluster_t *cl)
{
    jsErrCode                   jerr;
    natsStatus                  s;
    const char                 *subjects[1];
    jsStreamInfo               *si;
    jsStreamConfig              sc;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = cl->cmcf;
    si = NULL;
    jerr = 0;

    s = js_GetStreamInfo(&si, cl->js, (const char *) cmcf->cluster.stream.data,
                         NULL, &jerr);

    if (s == NATS_NOT_FOUND) {
        jsStreamConfig_Init(&sc);
        subjects[0] = (const char *) cmcf->cluster.subject.data;
        sc.Name = (const char *) cmcf->cluster.stream.data;
        sc.Subjects = subjects;
        sc.SubjectsLen = 1;
        sc.Storage = js_FileStorage;
        sc.Replicas = (int64_t) cmcf->cluster.replicas;

        s = js_AddStream(&si, cl->js, &sc, NULL, &jerr);
    }

    if (s != NATS_OK) {
        ngx_chatvisor_cluster_note(cl, "the stream is not available", s);
        return;
    }

    jsStreamInfo_Destroy(si);
    cl->stream_ok = 1;
    ngx_chatvisor_cluster_note(cl, "the stream is available", NATS_OK);
}


/*
 * The signing secret every node uses (a cookie one node signed is good on
 * every other): the first node to put one into the shared key-value
 * bucket wins (kvStore_Create() fails when the key exists), the others
 * read it.
 */
static void
ngx_chatvisor_cluster_secret(ngx_chatvisor_cluster_t *cl)
{
    char                           bucket[NGX_MAX_ERROR_STR];
    kvEntry                       *e;
    uint64_t                       rev;
    kvConfig                       kc;
    natsStatus                     s;
    unsigned char                  secret[CV_STORE_SECRET_LEN];
    ngx_chatvisor_cluster_item_t  *it;
    ngx_chatvisor_main_conf_t     *cmcf;

    cmcf = cl->cmcf;

    if (cl->kv == NULL) {
        (void) snprintf(bucket, sizeof(bucket), "%s%s",
                        (const char *) cmcf->cluster.stream.data,
                        NGX_CHATVISOR_CLUSTER_KV_SUFFIX);

        s = js_KeyValue(&cl->kv, cl->js, bucket);

        if (s == NATS_NOT_FOUND) {
            kvConfig_Init(&kc);
            kc.Bucket = bucket;
            kc.History = 1;
            kc.Replicas = (int) cmcf->cluster.replicas;

            s = js_CreateKeyValue(&cl->kv, cl->js, &kc);
        }

        if (s != NATS_OK) {
            cl->kv = NULL;
            ngx_chatvisor_cluster_note(cl, "the shared bucket is not "
                                       "available", s);
            return;
        }
    }

    e = NULL;
    s = kvStore_Get(&e, cl->kv, NGX_CHATVISOR_CLUSTER_KV_SECRET);

    if (s == NATS_NOT_FOUND) {
        if (cv_random_bytes(secret, sizeof(secret)) != CV_OK) {
            return;
        }

        s = kvStore_Create(&rev, cl->kv, NGX_CHATVISOR_CLUSTER_KV_SECRET,
                           secret, sizeof(secret));

        if (s == NATS_OK) {
            goto got;
        }

        /* another node's came first */
        s = kvStore_Get(&e, cl->kv, NGX_CHATVISOR_CLUSTER_KV_SECRET);
    }

    if (s != NATS_OK || kvEntry_ValueLen(e) != CV_STORE_SECRET_LEN) {
        kvEntry_Destroy(e);
        ngx_chatvisor_cluster_note(cl, "no shared signing secret yet", s);
        return;
    }

    ngx_memcpy(secret, kvEntry_Value(e), CV_STORE_SECRET_LEN);
    kvEntry_Destroy(e);

got:

    it = ngx_chatvisor_cluster_item(NGX_CHATVISOR_CLUSTER_SECRET, secret,
                                    sizeof(secret));
    if (it == NULL) {
        return;
    }

    ngx_chatvisor_cluster_push(cl, it);
    cl->secret_ok = 1;
}


/* the stream's consumer, from the seq the loop asked for */
static void
ngx_chatvisor_cluster_subscribe(ngx_chatvisor_cluster_t *cl)
{
    char                        text[NGX_INT64_LEN + 32];
    uint64_t                    from, gen;
    jsErrCode                   jerr;
    natsStatus                  s;
    ngx_uint_t                  stuck;
    jsSubOptions                so;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = cl->cmcf;

    pthread_mutex_lock(&cl->mu);
    from = cl->want_from;
    gen = cl->want_gen;
    stuck = cl->stuck;
    pthread_mutex_unlock(&cl->mu);

    if (stuck) {
        /* until this node is upgraded: nothing more to read */
        if (cl->sub) {
            natsSubscription_Unsubscribe(cl->sub);
            natsSubscription_Destroy(cl->sub);
            cl->sub = NULL;
        }

        return;
    }

    if (cl->sub && cl->sub_made_gen == gen
        && natsSubscription_IsValid(cl->sub))
    {
        ngx_chatvisor_cluster_ready(cl, 1);
        return;
    }

    ngx_chatvisor_cluster_ready(cl, 0);

    if (cl->sub) {
        natsSubscription_Unsubscribe(cl->sub);
        natsSubscription_Destroy(cl->sub);
        cl->sub = NULL;
    }

    /*
     * A plain push consumer, not libnats' ordered one: an ordered consumer
     * that libnats resets (a gap, missed heartbeats) while we unsubscribe
     * it is put back into the connection's table of subscriptions after
     * the unsubscribe released it (libnats 3.4 applyNewSID()), and the
     * connection later locks freed memory: workers crashed. Our loop finds
     * gaps itself (CV_CONFLICT, then a new reader), the stall check finds
     * a consumer gone with its server.
     */
    jsSubOptions_Init(&so);
    so.Stream = (const char *) cmcf->cluster.stream.data;
    so.Config.AckPolicy = js_AckNone;
    so.Config.MaxDeliver = 1;
    so.Config.MemoryStorage = true;
    so.Config.FlowControl = true;
    so.Config.Heartbeat = NGX_CHATVISOR_CLUSTER_HEARTBEAT;

    if (from > 1) {
        so.Config.DeliverPolicy = js_DeliverByStartSequence;
        so.Config.OptStartSeq = from;
    }

    /* what the reader delivers from now on is of this generation */
    pthread_mutex_lock(&cl->mu);
    cl->sub_gen = gen;
    pthread_mutex_unlock(&cl->mu);

    jerr = 0;

    s = js_Subscribe(&cl->sub, cl->js,
                     (const char *) cmcf->cluster.subject.data,
                     ngx_chatvisor_cluster_cmd, cl, NULL, &so, &jerr);

    if (s != NATS_OK) {
        cl->sub = NULL;
        ngx_chatvisor_cluster_note(cl, "cannot read the stream", s);
        return;
    }

    cl->sub_made_gen = gen;
    ngx_chatvisor_cluster_ready(cl, 1);

    (void) snprintf(text, sizeof(text), "reading the stream from seq %llu",
                    (unsigned long long) (from ? from : 1));
    ngx_chatvisor_cluster_note(cl, text, NATS_OK);
}


static void
ngx_chatvisor_cluster_stall(ngx_chatvisor_cluster_t *cl)
{
    uint64_t                    from;
    jsErrCode                   jerr;
    natsStatus                  s;
    ngx_msec_t                  now;
    jsStreamInfo               *si;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = cl->cmcf;
    now = (ngx_msec_t) (nats_Now());

    if (cl->sub == NULL
        || now - cl->stall_checked < NGX_CHATVISOR_CLUSTER_STALL_CHECK)
    {
        return;
    }

    cl->stall_checked = now;

    pthread_mutex_lock(&cl->mu);
    from = cl->want_from;
    pthread_mutex_unlock(&cl->mu);

    si = NULL;
    jerr = 0;

    s = js_GetStreamInfo(&si, cl->js, (const char *) cmcf->cluster.stream.data,
                         NULL, &jerr);
    if (s != NATS_OK) {
        return;
    }

    if (si->State.LastSeq < from || from != cl->stall_from) {
        /* nothing to read, or reading */
        cl->stall_from = from;
        cl->stall_checks = 0;

    } else if (++cl->stall_checks >= NGX_CHATVISOR_CLUSTER_STALL_CHECKS) {
        ngx_chatvisor_cluster_note(cl, "the reader stalled, a new one",
                                   NATS_OK);
        cl->stall_checks = 0;

        natsSubscription_Unsubscribe(cl->sub);
        natsSubscription_Destroy(cl->sub);
        cl->sub = NULL;
    }

    jsStreamInfo_Destroy(si);
}


/* the webhooks' lease: before the stall check and the reader, which may
 * wait for JetStream, so that a renewal is not late for them */
static void
ngx_chatvisor_cluster_lease_run(ngx_chatvisor_cluster_t *cl)
{
    const char  *note;

    note = ngx_chatvisor_cluster_lease_step(&cl->lease, cl->kv, cl->js,
                                  (const char *) cl->cmcf->cluster.stream.data,
                                  &cl->lease_wait);
    if (note) {
        ngx_chatvisor_cluster_note(cl, note, NATS_OK);
    }
}


static void
ngx_chatvisor_cluster_step(ngx_chatvisor_cluster_t *cl)
{
    ngx_uint_t  lost;

    if (cl->nc == NULL) {
        ngx_chatvisor_cluster_connect(cl);

        if (cl->nc == NULL) {
            return;
        }
    }

    if (natsConnection_Status(cl->nc) != NATS_CONN_STATUS_CONNECTED) {
        ngx_chatvisor_cluster_ready(cl, 0);

        if (cl->connected_told) {
            cl->connected_told = 0;
            ngx_chatvisor_cluster_note(cl, "disconnected from the cluster, "
                                       "writes answer 503", NATS_OK);
        }

        return;
    }

    if (!cl->connected_told) {
        cl->connected_told = 1;
        ngx_chatvisor_cluster_note(cl, "connected to the cluster", NATS_OK);
    }

    if (cl->presence_sub == NULL) {
        if (natsConnection_Subscribe(&cl->presence_sub, cl->nc,
                                     (const char *) cl->presence_subject,
                                     ngx_chatvisor_cluster_presence_in, cl)
            != NATS_OK)
        {
            cl->presence_sub = NULL;
        }
    }

    if (cl->typing_sub == NULL) {
        /* a core subscription: libnats keeps it across reconnects */
        if (natsConnection_Subscribe(&cl->typing_sub, cl->nc,
                                     (const char *) cl->typing_subject,
                                     ngx_chatvisor_cluster_typing_in, cl)
            != NATS_OK)
        {
            cl->typing_sub = NULL;
        }
    }

    pthread_mutex_lock(&cl->mu);
    lost = cl->lost;
    cl->lost = 0;
    pthread_mutex_unlock(&cl->mu);

    if (lost && cl->sub) {
        /* back after a loss: a new reader, from where the store is */
        natsSubscription_Unsubscribe(cl->sub);
        natsSubscription_Destroy(cl->sub);
        cl->sub = NULL;
    }

    if (!cl->stream_ok) {
        ngx_chatvisor_cluster_stream(cl);

        if (!cl->stream_ok) {
            return;
        }
    }

    if (!cl->secret_ok) {
        ngx_chatvisor_cluster_secret(cl);

        if (!cl->secret_ok) {
            return;
        }
    }

    ngx_chatvisor_cluster_lease_run(cl);
    ngx_chatvisor_cluster_stall(cl);
    ngx_chatvisor_cluster_subscribe(cl);
}


static void *
ngx_chatvisor_cluster_thread(void *data)
{
    ngx_chatvisor_cluster_t *cl = data;

    ngx_msec_t       wait;
    struct timespec  ts;

    pthread_mutex_lock(&cl->mu);

    while (!cl->stop) {
        pthread_mutex_unlock(&cl->mu);

        cl->lease_wait = 0;
        ngx_chatvisor_cluster_step(cl);

        pthread_mutex_lock(&cl->mu);

        if (cl->stop) {
            break;
        }

        /* the lease's renewals come more often than the tick */
        wait = NGX_CHATVISOR_CLUSTER_TICK;

        if (cl->lease_wait && cl->lease_wait < wait) {
            wait = cl->lease_wait;
        }

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (long) (wait % 1000) * 1000000;

        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }

        (void) pthread_cond_timedwait(&cl->cond, &cl->mu, &ts);
    }

    pthread_mutex_unlock(&cl->mu);

    /* an exiting worker's lease goes to the others at once */
    if (cl->nc
        && natsConnection_Status(cl->nc) == NATS_CONN_STATUS_CONNECTED)
    {
        ngx_chatvisor_cluster_lease_release(&cl->lease, cl->kv);
    }

    if (cl->sub) {
        natsSubscription_Destroy(cl->sub);
        cl->sub = NULL;
    }

    if (cl->typing_sub) {
        natsSubscription_Destroy(cl->typing_sub);
        cl->typing_sub = NULL;
    }

    if (cl->presence_sub) {
        natsSubscription_Destroy(cl->presence_sub);
        cl->presence_sub = NULL;
    }

    if (cl->kv) {
        kvStore_Destroy(cl->kv);
        cl->kv = NULL;
    }

    if (cl->js) {
        jsCtx_Destroy(cl->js);
        cl->js = NULL;
    }

    if (cl->nc) {
        natsConnection_Destroy(cl->nc);
        cl->nc = NULL;
    }

    /*
     * libnats' own threads must be gone before the process exits (they
     * crashed it during exit's cleanup): wait for them. Not with tls=on:
     * nats_Close() then leaves OpenSSL in a state that OpenSSL's own
     * cleanup at exit crashes on (t/124); there, libnats' last calls find
     * cl (never freed) and its pipe (closed only by the exit).
     */
    if (!cl->cmcf->cluster.tls) {
        (void) nats_CloseAndWait(NGX_CHATVISOR_CLUSTER_CLOSE_WAIT);
    }

    return NULL;
}


/* ------------------------------------------------------ the event loop */

static uint64_t
ngx_chatvisor_cluster_applied(ngx_chatvisor_main_conf_t *cmcf,
    ngx_uint_t *secret_kept)
{
    cv_txn    *t;
    uint64_t   seq;

    seq = 0;

    if (cmcf->store && cv_txn_begin(cmcf->store, 0, &t) == CV_OK) {
        (void) cv_cluster_applied(t, &seq);

        if (secret_kept) {
            *secret_kept = cv_cluster_secret_kept(t);
        }

        cv_txn_abort(t);
    }

    return seq;
}


ngx_int_t
ngx_chatvisor_cluster_init_process(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf)
{
    ngx_connection_t         *c;
    ngx_chatvisor_cluster_t  *cl;

    if (!ngx_chatvisor_cluster_on(cmcf) || cmcf->store == NULL) {
        return NGX_OK;
    }

    /* not in the cycle's pool: libnats' threads may outlive the pool by
     * a moment at exit; the process's end frees it */
    cl = ngx_calloc(sizeof(ngx_chatvisor_cluster_t), cycle->log);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->cmcf = cmcf;
    cl->log = cycle->log;
    ngx_queue_init(&cl->waiting);
    ngx_chatvisor_cluster_lease_init(&cl->lease, cmcf->cluster.node,
                                     sizeof(cmcf->cluster.node));

    (void) ngx_snprintf(cl->typing_subject, sizeof(cl->typing_subject) - 1,
                        "%s%s%Z", cmcf->cluster.stream.data,
                        NGX_CHATVISOR_CLUSTER_TYPING_SUFFIX);
    (void) ngx_snprintf(cl->presence_subject,
                        sizeof(cl->presence_subject) - 1, "%s%s%Z",
                        cmcf->cluster.stream.data,
                        NGX_CHATVISOR_CLUSTER_PRESENCE_SUFFIX);

    cl->presence_timer.handler = ngx_chatvisor_cluster_presence_tell;
    cl->presence_timer.data = cl;
    cl->presence_timer.log = cycle->log;
    cl->presence_timer.cancelable = 1;    /* an exiting worker goes */
    ngx_add_timer(&cl->presence_timer, NGX_CHATVISOR_CLUSTER_PRESENCE_EVERY);

    if (pipe(cl->pipe) == -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      "chatvisor: cluster: pipe() failed");
        return NGX_ERROR;
    }

    if (ngx_nonblocking(cl->pipe[0]) == -1
        || ngx_nonblocking(cl->pipe[1]) == -1)
    {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      "chatvisor: cluster: " ngx_nonblocking_n " failed");
        close(cl->pipe[0]);
        close(cl->pipe[1]);
        return NGX_ERROR;
    }

    c = ngx_get_connection(cl->pipe[0], cycle->log);
    if (c == NULL) {
        close(cl->pipe[0]);
        close(cl->pipe[1]);
        return NGX_ERROR;
    }

    c->data = cl;
    c->read->handler = ngx_chatvisor_cluster_read;
    c->read->log = cycle->log;
    c->read->channel = 1;     /* not a client: shutdown does not wait */
    cl->conn = c;

    if (ngx_add_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
        ngx_free_connection(c);
        close(cl->pipe[0]);
        close(cl->pipe[1]);
        return NGX_ERROR;
    }

    pthread_mutex_init(&cl->mu, NULL);
    pthread_cond_init(&cl->cond, NULL);
    pthread_cond_init(&cl->room, NULL);

    /* the reader starts after what this store applied; the store may
     * hold the cluster's secret already (cmcf->secret is it then) */
    cl->seen = ngx_chatvisor_cluster_applied(cmcf, &cl->secret_ok);
    cl->want_from = cl->seen + 1;
    cl->want_gen = 1;
    cl->gen = 1;

    if (pthread_create(&cl->thread, NULL, ngx_chatvisor_cluster_thread, cl)
        != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "chatvisor: cluster: cannot start its thread");
        return NGX_ERROR;
    }

    cl->thread_started = 1;
    ngx_chatvisor_cluster = cl;

    return NGX_OK;
}


void
ngx_chatvisor_cluster_exit_process(ngx_cycle_t *cycle)
{
    ngx_chatvisor_cluster_t       *cl;
    ngx_chatvisor_cluster_item_t  *it, *next;

    cl = ngx_chatvisor_cluster;

    if (cl == NULL) {
        return;
    }

    ngx_chatvisor_cluster = NULL;

    if (cl->thread_started) {
        pthread_mutex_lock(&cl->mu);
        cl->stop = 1;
        pthread_cond_signal(&cl->cond);
        pthread_cond_broadcast(&cl->room);
        pthread_mutex_unlock(&cl->mu);

        /* it closes the connection: libnats' threads are gone after */
        pthread_join(cl->thread, NULL);
    }

    for (it = cl->head; it; it = next) {
        next = it->next;
        free(it);
    }

    cl->head = NULL;
    cl->tail = NULL;

    if (cl->conn) {
        /* its read end; the write end stays for libnats' last calls */
        ngx_close_connection(cl->conn);
        cl->conn = NULL;
    }
}


/* a writer's answer: its outcome from the store */
static void
ngx_chatvisor_cluster_answer(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_wait_t *w, ngx_int_t rc)
{
    cv_txn     *t;
    cv_status   st;

    ngx_queue_remove(&w->queue);

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

    if (rc == NGX_OK) {
        st = cv_txn_begin(cl->cmcf->store, 0, &t);

        if (st == CV_OK) {
            st = cv_cluster_result_get(t, w->seq, &w->res);
            cv_txn_abort(t);
        }

        if (st != CV_OK) {
            ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                          "chatvisor: cluster: no outcome kept for "
                          "seq %uL", w->seq);
            rc = NGX_ERROR;
        }
    }

    w->rc = rc;
    w->done(w);
}


/* the writers whose command this worker's reader got past */
static void
ngx_chatvisor_cluster_wake(ngx_chatvisor_cluster_t *cl)
{
    ngx_queue_t                   *q, *next;
    ngx_chatvisor_cluster_wait_t  *w;

    for (q = ngx_queue_head(&cl->waiting);
         q != ngx_queue_sentinel(&cl->waiting);
         q = next)
    {
        next = ngx_queue_next(q);
        w = ngx_queue_data(q, ngx_chatvisor_cluster_wait_t, queue);

        if (w->seq && w->seq <= cl->seen) {
            ngx_chatvisor_cluster_answer(cl, w, NGX_OK);

            /* done() may have finished other writers' requests: look
             * from the start again */
            next = ngx_queue_head(&cl->waiting);
        }
    }
}


static ngx_chatvisor_cluster_wait_t *
ngx_chatvisor_cluster_find(ngx_chatvisor_cluster_t *cl, uint64_t id)
{
    ngx_queue_t                   *q;
    ngx_chatvisor_cluster_wait_t  *w;

    for (q = ngx_queue_head(&cl->waiting);
         q != ngx_queue_sentinel(&cl->waiting);
         q = ngx_queue_next(q))
    {
        w = ngx_queue_data(q, ngx_chatvisor_cluster_wait_t, queue);

        if (w->id == id) {
            return w;
        }
    }

    return NULL;
}


static void
ngx_chatvisor_cluster_timeout(ngx_event_t *ev)
{
    ngx_chatvisor_cluster_wait_t  *w = ev->data;

    if (ngx_chatvisor_cluster == NULL) {
        return;
    }

    if (w->seq) {
        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "chatvisor: cluster: seq %uL not applied here in time",
                      w->seq);

    } else {
        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "chatvisor: cluster: no acknowledgment in time");
    }

    ngx_chatvisor_cluster_answer(ngx_chatvisor_cluster, w,
                                 w->seq ? NGX_ERROR : NGX_DECLINED);
}


ngx_int_t
ngx_chatvisor_cluster_publish(ngx_chatvisor_main_conf_t *cmcf, cJSON *cmd,
    ngx_chatvisor_cluster_wait_t *w)
{
    char                      *text;
    u_char                     seed[CV_DET_SEED];
    u_char                     hex[NGX_CHATVISOR_CLUSTER_SEED_HEX + 1];
    u_char                     id[NGX_CHATVISOR_CLUSTER_ID_LEN + 1];
    natsMsg                   *msg;
    natsStatus                 s;
    ngx_uint_t                 ready;
    jsPubOptions               po;
    ngx_chatvisor_cluster_t   *cl;

    cl = ngx_chatvisor_cluster;

    if (cl == NULL) {
        return NGX_DECLINED;
    }

    /* nc and js are set before ready, and stay until the worker exits */
    pthread_mutex_lock(&cl->mu);
    ready = cl->ready;
    pthread_mutex_unlock(&cl->mu);

    if (!ready
        || natsConnection_Status(cl->nc) != NATS_CONN_STATUS_CONNECTED)
    {
        return NGX_DECLINED;
    }

    /* the ids this command makes, the same on every node (cv_det.h) */
    if (cv_random_bytes(seed, sizeof(seed)) != CV_OK) {
        return NGX_ERROR;
    }

    *ngx_hex_dump(hex, seed, sizeof(seed)) = '\0';

    cJSON_DeleteItemFromObjectCaseSensitive(cmd, "seed");
    cJSON_DeleteItemFromObjectCaseSensitive(cmd, "now");
    cJSON_AddStringToObject(cmd, "seed", (char *) hex);
    cJSON_AddNumberToObject(cmd, "now", (double) cv_now_ms());

    text = cJSON_PrintUnformatted(cmd);
    if (text == NULL) {
        return NGX_ERROR;
    }

    s = natsMsg_Create(&msg, (const char *) cmcf->cluster.subject.data,
                       NULL, text, (int) ngx_strlen(text));
    cJSON_free(text);

    if (s != NATS_OK) {
        return NGX_ERROR;
    }

    w->id = ++cl->next_id;
    w->seq = 0;
    w->rc = NGX_DECLINED;
    ngx_memzero(&w->res, sizeof(cv_cluster_result));

    *ngx_sprintf(id, "%uL", w->id) = '\0';

    s = natsMsgHeader_Set(msg, NGX_CHATVISOR_CLUSTER_ID_HEADER,
                          (const char *) id);

    if (s == NATS_OK) {
        jsPubOptions_Init(&po);
        po.MaxWait = NGX_CHATVISOR_CLUSTER_ACK_WAIT;

        /* buffered for libnats' flusher: it does not wait for the
         * network (MaxPending keeps it from stalling) */
        s = js_PublishMsgAsync(cl->js, &msg, &po);
    }

    if (s != NATS_OK) {
        natsMsg_Destroy(msg);
        return NGX_DECLINED;
    }

    ngx_queue_insert_tail(&cl->waiting, &w->queue);

    ngx_memzero(&w->timer, sizeof(ngx_event_t));
    w->timer.handler = ngx_chatvisor_cluster_timeout;
    w->timer.data = w;
    w->timer.log = cl->log;
    ngx_add_timer(&w->timer, NGX_CHATVISOR_CLUSTER_ACK_GUARD);

    return NGX_OK;
}


/* ------------------------------------------------- applying a command */

static cv_status
ngx_chatvisor_cluster_apply_run(ngx_chatvisor_op_t *op, cv_txn *t)
{
    cv_status                       st;
    ngx_chatvisor_cluster_apply_t  *a = op->data;

    cv_cluster_result_clear(&a->res);

    st = cv_cluster_apply(t, a->seq, (const char *) a->data, a->len,
                          &a->res);

    if (st != CV_OK || a->res.skipped || a->res.status != CV_OK
        || a->res.quiet)
    {
        return st;
    }

    if (a->res.message.json && !a->res.message.duplicate) {
        op->author = a->res.author;
    }

    op->opened = a->res.opened;
    op->closed = a->res.closed;

    if (a->res.webhooks) {
        /* endpoints changed: the node's sender looks again */
        ngx_chatvisor_op_notice(op, NGX_CHATVISOR_NOTICE_WEBHOOKS, NULL,
                                NULL);
        return CV_OK;
    }

    if (a->res.settings || a->res.presence) {
        return CV_OK;       /* no poll has news: mirrored once committed */
    }

    if (a->res.conversation_id[0] == '\0') {
        /* an agent's record: a disabled one's conversations went back to
         * the queue, and every console looks */
        ngx_chatvisor_op_notice(op, NGX_CHATVISOR_NOTICE_ALL, NULL, NULL);
        return CV_OK;
    }

    ngx_chatvisor_op_notice(op, NGX_CHATVISOR_NOTICE_CHANGE,
                            a->res.customer_id[0] ? a->res.customer_id
                                                  : NULL,
                            a->res.conversation_id);

    return CV_OK;
}


/*
 * A command of an op this node does not know: a newer node wrote it.
 * Applying it as nothing would make this store differ from the others
 * for good, so the worker stops there (reads stay, writes answer 503)
 * until the node runs a version that knows it: a reload or restart then
 * reads on from this seq.
 */
static void
ngx_chatvisor_cluster_stuck(ngx_chatvisor_cluster_t *cl, uint64_t seq,
    const char *op)
{
    pthread_mutex_lock(&cl->mu);

    if (cl->stuck) {
        pthread_mutex_unlock(&cl->mu);
        return;
    }

    cl->stuck = 1;
    cl->ready = 0;
    pthread_cond_signal(&cl->cond);
    pthread_mutex_unlock(&cl->mu);

    cl->halted = 1;

    ngx_log_error(NGX_LOG_CRIT, cl->log, 0,
                  "chatvisor: cluster: seq %uL is a command this node does "
                  "not know (op \"%s\"), written by a newer node: this "
                  "worker applies nothing more and refuses writes until "
                  "the node is upgraded", seq, op);
}


/* settings a command replaced, committed by this worker: the node's
 * shared memory mirrors them for the edge (as after a local PUT) */

static void
ngx_chatvisor_cluster_settings(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_apply_t *a)
{
    if (a->res.settings == NULL || a->res.skipped
        || a->res.status != CV_OK || a->res.result == NULL)
    {
        return;
    }

    if (ngx_strcmp(a->res.settings, "visibility") == 0) {
        ngx_chatvisor_settings_visibility_set(cl->cmcf, a->res.result);

    } else if (ngx_chatvisor_settings_widget_set(cl->cmcf, a->res.result)
               != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, cl->log, 0,
                      "chatvisor: cluster: runtime widget settings of seq "
                      "%uL too large", a->seq);
    }
}


/* an agent's status a command set, committed by this worker: into the
 * node's presence (whether the agent is online stays the node's own) */

static void
ngx_chatvisor_cluster_presence(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_apply_t *a)
{
    const char  *id;

    if (a->res.presence == NULL || a->res.skipped
        || a->res.status != CV_OK)
    {
        return;
    }

    id = cJSON_GetStringValue(cJSON_GetObjectItem(a->res.result, "id"));

    if (id == NULL
        || ngx_chatvisor_presence_set(cl->cmcf, id, a->res.presence,
                                      a->res.presence_external)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                      "chatvisor: cluster: the agent status of seq %uL "
                      "does not fit in the presence table", a->seq);
    }
}


static void
ngx_chatvisor_cluster_apply_done(ngx_chatvisor_op_t *op)
{
    ngx_chatvisor_cluster_t        *cl;
    ngx_chatvisor_cluster_apply_t  *a = op->data;

    cl = ngx_chatvisor_cluster;

    if (cl) {
        ngx_chatvisor_cluster_cmd_left(cl);
    }

    if (cl && a->gen == cl->gen && op->status == CV_OK && a->res.unknown) {
        ngx_chatvisor_cluster_stuck(cl, a->seq, a->res.why);

    } else if (cl && a->gen == cl->gen && !cl->halted) {

        if (op->status == CV_OK) {
            ngx_chatvisor_cluster_settings(cl, a);
            ngx_chatvisor_cluster_presence(cl, a);

            if (a->seq > cl->seen) {
                cl->seen = a->seq;

                /* a reader that libnats could not keep (the cluster was
                 * gone for long) is made again from here */
                pthread_mutex_lock(&cl->mu);
                cl->want_from = cl->seen + 1;
                pthread_mutex_unlock(&cl->mu);
            }

            ngx_chatvisor_cluster_wake(cl);

        } else {
            /* a gap (CV_CONFLICT) or a failing store: read the stream
             * again after what the store has */
            ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                          "chatvisor: cluster: seq %uL not applied (%s), "
                          "reading the stream again", a->seq,
                          cv_status_text(op->status));
            ngx_chatvisor_cluster_resync(cl);
        }
    }

    ngx_chatvisor_op_clear(op);
    cv_cluster_result_clear(&a->res);
    ngx_free(a);
}


static void
ngx_chatvisor_cluster_resync(ngx_chatvisor_cluster_t *cl)
{
    uint64_t  applied;

    applied = ngx_chatvisor_cluster_applied(cl->cmcf, NULL);

    if (applied > cl->seen) {
        cl->seen = applied;
    }

    cl->gen++;

    pthread_mutex_lock(&cl->mu);
    cl->want_from = applied + 1;
    cl->want_gen = cl->gen;
    pthread_cond_signal(&cl->cond);
    pthread_mutex_unlock(&cl->mu);

    ngx_chatvisor_cluster_wake(cl);
}


static void
ngx_chatvisor_cluster_apply(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_item_t *it)
{
    ngx_chatvisor_cluster_apply_t  *a;

    if (it->gen != cl->gen || cl->halted) {
        ngx_chatvisor_cluster_cmd_left(cl);
        return;             /* a reader we replaced, or we stopped */
    }

    if (it->seq <= cl->seen) {
        ngx_chatvisor_cluster_cmd_left(cl);
        return;             /* applied here before (a reader's restart) */
    }

    a = ngx_alloc(sizeof(ngx_chatvisor_cluster_apply_t) + it->len, cl->log);
    if (a == NULL) {
        ngx_chatvisor_cluster_cmd_left(cl);
        ngx_chatvisor_cluster_resync(cl);
        return;
    }

    ngx_memzero(a, sizeof(ngx_chatvisor_cluster_apply_t));
    a->seq = it->seq;
    a->gen = it->gen;
    a->len = it->len;
    ngx_memcpy(a->data, it->data, it->len);

    a->op.run = ngx_chatvisor_cluster_apply_run;
    a->op.done = ngx_chatvisor_cluster_apply_done;
    a->op.data = a;

    if (ngx_chatvisor_commit(cl->cmcf, &a->op) != NGX_OK) {
        ngx_chatvisor_cluster_cmd_left(cl);
        ngx_free(a);
    }
}


static cv_status
ngx_chatvisor_cluster_secret_run(ngx_chatvisor_op_t *op, cv_txn *t)
{
    ngx_chatvisor_cluster_t  *cl = op->data;

    return cv_cluster_secret_set(t, cl->cmcf->secret);
}


static void
ngx_chatvisor_cluster_secret_done(ngx_chatvisor_op_t *op)
{
    ngx_chatvisor_cluster_t  *cl = op->data;

    if (op->status != CV_OK) {
        ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                      "chatvisor: cluster: the shared secret is not kept "
                      "in the store (%s)", cv_status_text(op->status));
    }

    ngx_chatvisor_op_clear(op);
}


/*
 * The cluster's signing secret: this worker signs and checks with it from
 * now on, and the store keeps it for the next start (so that a node that
 * starts without the cluster checks cookies as the others do).
 */
static void
ngx_chatvisor_cluster_secret_take(ngx_chatvisor_cluster_t *cl,
    u_char *secret)
{
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = cl->cmcf;

    if (ngx_memcmp(cmcf->secret, secret, CV_STORE_SECRET_LEN) != 0) {
        ngx_memcpy(cmcf->secret, secret, CV_STORE_SECRET_LEN);
        cmcf->secret_gen++;
    }

    ngx_memzero(&cl->secret_op, sizeof(ngx_chatvisor_op_t));
    cl->secret_op.run = ngx_chatvisor_cluster_secret_run;
    cl->secret_op.done = ngx_chatvisor_cluster_secret_done;
    cl->secret_op.data = cl;

    if (ngx_chatvisor_commit(cmcf, &cl->secret_op) != NGX_OK) {
        ngx_chatvisor_cluster_secret_done(&cl->secret_op);
    }
}


/* another node's available agents replace what it said before */
static void
ngx_chatvisor_cluster_presence_take(ngx_chatvisor_cluster_t *cl,
    ngx_chatvisor_cluster_item_t *it)
{
    cJSON                         *ids;
    ngx_uint_t                     i;
    ngx_chatvisor_cluster_peer_t  *p, *free, *old;

    ids = cJSON_ParseWithLength((const char *) it->data
                                + NGX_CHATVISOR_CLUSTER_NODE_LEN,
                                it->len - NGX_CHATVISOR_CLUSTER_NODE_LEN);
    if (!cJSON_IsArray(ids)) {
        cJSON_Delete(ids);
        return;
    }

    p = NULL;
    free = NULL;
    old = &cl->peers[0];

    for (i = 0; i < NGX_CHATVISOR_CLUSTER_NODES_MAX; i++) {
        if (cl->peers[i].ids == NULL) {
            if (free == NULL) {
                free = &cl->peers[i];
            }
            continue;
        }

        if (ngx_memcmp(cl->peers[i].node, it->data,
                       NGX_CHATVISOR_CLUSTER_NODE_LEN) == 0)
        {
            p = &cl->peers[i];
            break;
        }

        if (cl->peers[i].at < old->at) {
            old = &cl->peers[i];
        }
    }

    if (p == NULL) {
        /* a new node (a full table forgets the one heard of longest ago) */
        p = free ? free : old;
        ngx_memcpy(p->node, it->data, NGX_CHATVISOR_CLUSTER_NODE_LEN);
    }

    cJSON_Delete(p->ids);
    p->ids = ids;
    p->at = ngx_current_msec;
}


/* this node's available agents, to the others */
static void
ngx_chatvisor_cluster_presence_tell(ngx_event_t *ev)
{
    char                     *text;
    u_char                   *data;
    cJSON                    *ids;
    size_t                    len;
    ngx_uint_t                ready;
    ngx_chatvisor_cluster_t  *cl = ev->data;

    ngx_add_timer(ev, NGX_CHATVISOR_CLUSTER_PRESENCE_EVERY);

    pthread_mutex_lock(&cl->mu);
    ready = cl->ready;
    pthread_mutex_unlock(&cl->mu);

    if (!ready
        || natsConnection_Status(cl->nc) != NATS_CONN_STATUS_CONNECTED)
    {
        return;
    }

    ids = cJSON_CreateArray();
    if (ids == NULL) {
        return;
    }

    ngx_chatvisor_presence_available(cl->cmcf, ids);
    text = cJSON_PrintUnformatted(ids);
    cJSON_Delete(ids);

    if (text == NULL) {
        return;
    }

    len = ngx_strlen(text);
    data = ngx_alloc(NGX_CHATVISOR_CLUSTER_NODE_LEN + len, ev->log);

    if (data) {
        ngx_memcpy(data, cl->cmcf->cluster.node,
                   NGX_CHATVISOR_CLUSTER_NODE_LEN);
        ngx_memcpy(data + NGX_CHATVISOR_CLUSTER_NODE_LEN, text, len);

        (void) natsConnection_Publish(cl->nc,
                                      (const char *) cl->presence_subject,
                                      data, (int) (NGX_CHATVISOR_CLUSTER_NODE_LEN
                                                   + len));
        ngx_free(data);
    }

    cJSON_free(text);
}


void
ngx_chatvisor_cluster_available(cJSON *ids)
{
    cJSON                    *id, *have;
    ngx_uint_t                i, known;
    ngx_chatvisor_cluster_t  *cl;

    cl = ngx_chatvisor_cluster;

    if (cl == NULL) {
        return;
    }

    for (i = 0; i < NGX_CHATVISOR_CLUSTER_NODES_MAX; i++) {
        if (cl->peers[i].ids == NULL
            || ngx_current_msec - cl->peers[i].at
               > NGX_CHATVISOR_CLUSTER_PRESENCE_EVERY
                 * NGX_CHATVISOR_CLUSTER_PRESENCE_KEEP)
        {
            continue;       /* not heard of lately: gone */
        }

        cJSON_ArrayForEach(id, cl->peers[i].ids) {
            if (!cJSON_IsString(id)) {
                continue;
            }

            known = 0;

            cJSON_ArrayForEach(have, ids) {
                if (cJSON_IsString(have)
                    && ngx_strcmp(have->valuestring, id->valuestring) == 0)
                {
                    known = 1;
                    break;
                }
            }

            if (!known) {
                cJSON_AddItemToArray(ids, cJSON_CreateString(id->valuestring));
            }
        }
    }
}


static void
ngx_chatvisor_cluster_read(ngx_event_t *ev)
{
    u_char                         buf[64];
    ssize_t                        n;
    ngx_connection_t              *c;
    ngx_chatvisor_cluster_t       *cl;
    ngx_chatvisor_cluster_wait_t  *w;
    ngx_chatvisor_cluster_item_t  *it, *next;

    c = ev->data;
    cl = c->data;

    do {
        n = read(cl->pipe[0], buf, sizeof(buf));
    } while (n > 0);

    pthread_mutex_lock(&cl->mu);
    it = cl->head;
    cl->head = NULL;
    cl->tail = NULL;
    pthread_mutex_unlock(&cl->mu);

    for ( /* void */ ; it; it = next) {
        next = it->next;

        switch (it->kind) {

        case NGX_CHATVISOR_CLUSTER_CMD:
            ngx_chatvisor_cluster_apply(cl, it);
            break;

        case NGX_CHATVISOR_CLUSTER_ACK:
            w = ngx_chatvisor_cluster_find(cl, it->id);
            if (w == NULL) {
                break;      /* answered already (our guard's timeout) */
            }

            w->seq = it->seq;

            if (w->seq <= cl->seen) {
                ngx_chatvisor_cluster_answer(cl, w, NGX_OK);
                break;
            }

            /* stored by a quorum: now it waits for this node to apply */
            ngx_add_timer(&w->timer, NGX_CHATVISOR_CLUSTER_APPLY_WAIT);
            break;

        case NGX_CHATVISOR_CLUSTER_NACK:
            w = ngx_chatvisor_cluster_find(cl, it->id);
            if (w) {
                ngx_chatvisor_cluster_answer(cl, w, NGX_DECLINED);
            }
            break;

        case NGX_CHATVISOR_CLUSTER_TYPING:
            /* this worker's polls (every worker hears the subject) */
            ngx_chatvisor_notice_deliver(
                                   (ngx_chatvisor_notice_t *) it->data);
            break;

        case NGX_CHATVISOR_CLUSTER_PRESENCE:
            ngx_chatvisor_cluster_presence_take(cl, it);
            break;

        case NGX_CHATVISOR_CLUSTER_SECRET:
            ngx_chatvisor_cluster_secret_take(cl, it->data);
            break;

        default: /* NGX_CHATVISOR_CLUSTER_NOTE */
            ngx_log_error(NGX_LOG_NOTICE, cl->log, 0,
                          "chatvisor: cluster: %s", it->data);
            break;
        }

        free(it);
    }

    if (ngx_handle_read_event(ev, 0) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                      "chatvisor: cluster: cannot watch its pipe");
    }
}


ngx_uint_t
ngx_chatvisor_cluster_webhooks(ngx_uint_t want)
{
    ngx_uint_t                held, asked;
    ngx_chatvisor_cluster_t  *cl;

    cl = ngx_chatvisor_cluster;

    if (cl == NULL) {
        return 0;
    }

    held = ngx_chatvisor_cluster_lease_held(&cl->lease, want, cl->seen,
                                            &asked);

    if (asked) {
        /* our thread asks for the lease now, not at its next tick */
        pthread_mutex_lock(&cl->mu);
        pthread_cond_signal(&cl->cond);
        pthread_mutex_unlock(&cl->mu);
    }

    return held;
}


void
ngx_chatvisor_cluster_typing(ngx_chatvisor_notice_t *n)
{
    u_char                    data[sizeof(((ngx_chatvisor_cluster_conf_t *)
                                           0)->node)
                                   + sizeof(ngx_chatvisor_notice_t)];
    ngx_uint_t                ready;
    ngx_chatvisor_cluster_t  *cl;

    cl = ngx_chatvisor_cluster;

    if (cl == NULL) {
        return;
    }

    pthread_mutex_lock(&cl->mu);
    ready = cl->ready;
    pthread_mutex_unlock(&cl->mu);

    /* a signal is worth nothing later: not sent while disconnected */
    if (!ready
        || natsConnection_Status(cl->nc) != NATS_CONN_STATUS_CONNECTED)
    {
        return;
    }

    ngx_memcpy(data, cl->cmcf->cluster.node, sizeof(cl->cmcf->cluster.node));
    ngx_memcpy(data + sizeof(cl->cmcf->cluster.node), n,
               sizeof(ngx_chatvisor_notice_t));

    /* buffered for libnats' flusher: no wait here */
    (void) natsConnection_Publish(cl->nc,
                                  (const char *) cl->typing_subject,
                                  data, (int) sizeof(data));
}
