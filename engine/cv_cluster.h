/*
 * Cluster mode's commands (docs/cluster.md "Design"): a write is turned,
 * on the node that received it, into a command (JSON) that carries
 * everything that is not a function of the store: the author, the text,
 * the agents available there, the time and a random seed for the ids.
 * JetStream orders the commands; every node applies them in that order,
 * each once (the stream seq of the last one applied is kept in the same
 * transaction as its effects), so every node's store comes out the same.
 * The outcome of each command is kept by its seq for the node's waiting
 * writer to answer with.
 *
 * {"op":"visitor.message","seed":"<32 hex>","now":ms,
 *  "customer_id":"cus_…" (absent: a new visitor),"client_msg_id","text",
 *  "page_url","routing":0|1|2,"available":["agent",…]}
 * {"op":"agent.reply","seed","now","conversation_id","agent_id",
 *  "agent_name","client_msg_id","text"}
 * {"op":"agent.assign",…,"conversation_id","agent_id","agent_name",
 *  "to" (absent: oneself)}
 * {"op":"agent.close",…,"conversation_id","agent_id","agent_name"}
 * {"op":"api.message",…,"conversation_id","agent_id" (absent: the
 *  system),"client_msg_id","text"}
 * {"op":"api.assign",…,"conversation_id","agent_id" (null: unassign)}
 * {"op":"api.close",…,"conversation_id","agent_id" (absent: the system)}
 * {"op":"api.agent_put",…,"agent_id","fields":{…}}
 * {"op":"api.agent_delete",…,"agent_id"}
 * {"op":"api.agents_sync",…,"agents":[{…},…]}
 * {"op":"login.create",…,"agent_id","customer_id" (absent: none),
 *  "ttl_ms" (0: the default),"token_hash":"<sha256 hex>"}
 * {"op":"agent.join",…,"token_hash","session_hash","ttl_ms"}
 * {"op":"agent.logout",…,"session_hash"}
 * {"op":"api.customer_put",…,"customer_id","fields":{…},"replace":bool}
 * {"op":"api.customer_erase",…,"customer_id"}
 * {"op":"api.token",…,"client","fingerprint","ttl_ms","token_hash"}
 * {"op":"webhook.settle",…}, {"op":"webhook.record",…}: the webhook
 *  sender's progress (cv_cluster_webhooks.h)
 * (a secret is never in a command: only its hash, the store's key)
 * Settings, webhook endpoints, a visitor's contact and identity:
 * cv_cluster_writes.h.
 */
#ifndef CV_CLUSTER_H
#define CV_CLUSTER_H

#include "cv_agents.h"
#include "cv_chat.h"
#include "cv_det.h"

/* outcomes kept for the writers, by seq (older ones are dropped) */
#define CV_CLUSTER_RESULTS_KEEP  65536

#define CV_CLUSTER_WHY_MAX  96

typedef struct {
    cv_status   status;        /* the command's: CV_OK, CV_NOT_FOUND, … */
    cv_message  message;       /* a posted message (json NULL: none) */
    cJSON      *result;        /* or the conversation as it is after it */
    char        why[CV_CLUSTER_WHY_MAX];     /* a refusal's reason, "" */
    int         opened;        /* it opened a conversation */
    int         closed;        /* it closed one */
    int         created;       /* it made a record (an agent) */
    int         deleted;       /* it deleted one */
    int         skipped;       /* applied before (by another worker) */
    size_t      erase_todo;    /* seqs it gave the to-do of removals
                                  from the stream (cv_cluster_erase.h) */
    int         unknown;       /* an op this node does not know (a newer
                                  node's): not applied, its name in why */
    int         quiet;         /* nothing a poll waits for (webhooks'
                                  progress): no notice */
    const char *settings;      /* settings it replaced ("widget", …) and
                                  webhooks: endpoints it changed (for the
                                  node's mirrors and sender; not kept) */
    int         webhooks;
    const char *presence;      /* an agent's status it set (result's "id"),
                                  presence_external: the integrator's
                                  (not kept) */
    int         presence_external;
    const char *author;        /* who posted: "customer", "agent" (not
                                  kept by cv_cluster_result_get()) */
    char        customer_id[CV_ID_MAX];      /* "" when none */
    char        conversation_id[CV_ID_MAX];
    int64_t     applied_at;    /* ms: the applied command's time, as
                                  cv_cluster_applied_at() tells it */
    int         agents;        /* it changed agents' records: result holds
                                  them (an agent, or "items"), or
                                  agent_deleted names the one deleted */
    char        agent_deleted[CV_AGENT_ID_MAX + 1];
} cv_cluster_result;

/* frees what a result holds */
void cv_cluster_result_clear(cv_cluster_result *res);

/* the stream seq of the last command applied to this store (0: none) */
cv_status cv_cluster_applied(cv_txn *t, uint64_t *seq);

/*
 * The same, and the time (ms since the epoch, the writer's clock) of that
 * command: 0 when none is known (nothing applied, or applied before the
 * store kept it). A node that was away tells by it whether what it missed
 * may have aged out of a stream with a maximum age.
 */
cv_status cv_cluster_applied_at(cv_txn *t, uint64_t *seq, int64_t *at_ms);

/*
 * Applies the command of stream seq: CV_OK with res filled (res->status is
 * the command's own outcome, a refusal included: a refused command is
 * applied too, as nothing); res->skipped when seq was applied before;
 * res->unknown (nothing applied, seq not either) for an op this node does
 * not know: a newer node wrote it, and this one applies nothing more until
 * it is upgraded, rather than differ from the others for good;
 * CV_CONFLICT when seq is not the next one (a command is missing: the
 * caller reads the stream again from cv_cluster_applied() + 1); CV_FULL or
 * CV_ERROR when the store failed (nothing applied, to be tried again).
 */
cv_status cv_cluster_apply(cv_txn *t, uint64_t seq, const char *cmd,
    size_t len, cv_cluster_result *res);

/*
 * The same, for a reader of the stream that tells what it delivered
 * before: prev is the stream seq of the message it delivered before this
 * one (its start seq - 1 for its first), or seq - 1 when it cannot vouch
 * that it lost nothing in between (cv_cluster_apply()). Commands removed
 * from the stream (an erased customer's, cv_cluster_erase.h) are never
 * delivered, so seq may be past the applied seq + 1: it applies when the
 * reader delivered nothing after what the store applied (prev <= the
 * applied seq); otherwise CV_CONFLICT.
 */
cv_status cv_cluster_apply_after(cv_txn *t, uint64_t seq, uint64_t prev,
    const char *cmd, size_t len, cv_cluster_result *res);

/* drops the outcome kept for seq (none: CV_OK) */
cv_status cv_cluster_result_del(cv_txn *t, uint64_t seq);

/* the kept outcome of seq (CV_NOT_FOUND: none, or dropped) */
cv_status cv_cluster_result_get(cv_txn *t, uint64_t seq,
    cv_cluster_result *res);

/* the cluster's signing secret (the same on every node: a cookie signed
 * by one node is good on all) becomes the store's (cv_store_secret()) */
cv_status cv_cluster_secret_set(cv_txn *t,
    const unsigned char secret[CV_STORE_SECRET_LEN]);

/* 1 when the store's secret is the cluster's already (a node that starts
 * again need not ask the cluster for it) */
int cv_cluster_secret_kept(cv_txn *t);

#endif
