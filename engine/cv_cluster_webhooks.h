/*
 * Cluster mode's webhook deliveries (docs/cluster.md "Webhooks"): the
 * node that sends the webhooks publishes what its settles and retries
 * leave in the store as commands, and every node applies them, so that a
 * node that takes over sends on from the same cursor and the same pending
 * deliveries, and GET webhooks/{id}/deliveries is the same everywhere.
 * The REST API's test deliveries and retries are commands too: the
 * sending node has them, whichever node was asked.
 *
 * {"op":"webhook.settle","seed","now","parts":[{"webhook_id":"wh_…",
 *  "cursor":N,"disable":"gone"|"failing" (absent: none),
 *  "items":[{"log_seq":N,"result":{…} (absent: no attempt)},…]},…]}
 * {"op":"webhook.record","seed","now","webhook_id","dseq":N,
 *  "result":{…},"disable"}
 * {"op":"webhook.test","seed","now","webhook_id"}   (POST webhooks/ID/test)
 * {"op":"webhook.retry","seed","now","webhook_id","delivery_id"}
 *  (POST webhooks/ID/deliveries/DELIVERY/retry)
 *
 * a result: {"delivered":bool,"status_code":N,"error":"…" (absent: none),
 *  "attempt_ms":N,"duration_ms":N,"next_attempt_ms":N}
 *
 * An item names its event by log seq only: each node makes the delivery
 * from its own log (the same entry, the same event id everywhere).
 */
#ifndef CV_CLUSTER_WEBHOOKS_H
#define CV_CLUSTER_WEBHOOKS_H

#include "cv_cluster.h"
#include "cv_webhooks.h"

/* an empty settle command, for cv_cluster_webhook_settle_part() */
cJSON *cv_cluster_webhook_settle_cmd(void);

/* one endpoint's settle (cv_webhook_settle's arguments) added to cmd */
cv_status cv_cluster_webhook_settle_part(cJSON *cmd, const char *id,
    const cv_settle_item *items, size_t n, uint64_t cursor,
    const char *disable);

/* a retry's outcome (cv_webhook_record's arguments, and a disable) */
cJSON *cv_cluster_webhook_record_cmd(const char *id, uint64_t dseq,
    const cv_delivery_result *r, const char *disable);

/* POST webhooks/ID/test and …/deliveries/DELIVERY/retry (delivery_id
 * NULL: a test) as a command */
cJSON *cv_cluster_webhook_api_cmd(const char *id, const char *delivery_id);

/* 1 when op is one of these commands' */
int cv_cluster_webhook_op(const char *op);

/*
 * Applies one (cv_cluster_apply() calls it): as the sender's own write
 * without a cluster would. An endpoint this store does not have is passed
 * over (it may have been made on one node only); res->quiet is set: no
 * poll waits for these. A test or a retry is the API's write: its outcome
 * in res (result, why), res->webhooks set (the sender looks).
 */
cv_status cv_cluster_webhook_apply(cv_txn *t, const cJSON *cmd,
    const char *op, cv_cluster_result *res);

#endif
