/*
 * Cluster mode's commands for runtime settings, webhook endpoints, a
 * visitor's contact and identity, an agent's status (docs/cluster.md,
 * "What goes through the stream"); the rest are cv_cluster.c's. Each is JSON with "op", "seed",
 * "now" (cv_cluster.h) and:
 *
 * {"op":"api.settings_put",…,"name":"widget"|"visibility","value":{…}}
 *  (the object as the store keeps it; res->settings names it)
 * {"op":"api.webhook_create",…,"url","events":bits (0: every event)}
 *  (id and signing secret from the seed: the secret is in the stream)
 * {"op":"api.webhook_update",…,"webhook_id","url"?,"events"?,
 *  "status":-1|0|1}
 * {"op":"api.webhook_delete",…,"webhook_id"}
 * {"op":"api.webhook_rotate",…,"webhook_id"}
 * {"op":"visitor.contact",…,"customer_id" (absent: a new visitor),
 *  "email","name"?}
 * {"op":"visitor.identify",…,"customer_id" (absent: a new visitor),
 *  "ext" (the integrator's id, its signature checked; absent: none),
 *  "fields":{…}?}
 * {"op":"agent.status",…,"agent_id","status":"available"|"away"|
 *  "offline","external":bool} (not stored: res->presence for the node's
 *  presence; external: the integrator's, the agent checked)
 */
#ifndef CV_CLUSTER_WRITES_H
#define CV_CLUSTER_WRITES_H

#include "cv_cluster.h"
#include "cv_settings.h"

typedef cv_status (*cv_cluster_op_pt)(cv_txn *t, const cJSON *cmd,
    cv_cluster_result *res);

/* the function that applies op, or NULL when op is not one of these */
cv_cluster_op_pt cv_cluster_write_op(const char *op);

#endif
