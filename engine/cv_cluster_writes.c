/*
 * Cluster mode's commands for the writes that once stayed on their node
 * (cv_cluster_writes.h): runtime settings, webhook endpoints, a visitor's
 * contact and identity. Applied in stream order like cv_cluster.c's, with
 * the ids, secrets and times of cv_det.h.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_cluster_writes.h"
#include "cv_agents.h"
#include "cv_customers.h"
#include "cv_time.h"
#include "cv_webhooks.h"

#include <stdio.h>
#include <string.h>


/* an agent's statuses (presence: the module's) */
#define CV_CLUSTER_OFFLINE  "offline"

static const char  *cv_cluster_statuses[] = {
    "available", "away", CV_CLUSTER_OFFLINE, NULL
};

/* the settings objects a command may replace (cv_settings.h) */
static const char  *cv_cluster_settings_names[] = {
    "widget", "visibility", NULL
};


static const char *
cv_cw_str(const cJSON *cmd, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cmd, name));
}


static int64_t
cv_cw_int(const cJSON *cmd, const char *name, int64_t dflt)
{
    const cJSON  *v;

    v = cJSON_GetObjectItemCaseSensitive(cmd, name);

    return cJSON_IsNumber(v) ? (int64_t) v->valuedouble : dflt;
}


static void
cv_cw_why(cv_cluster_result *res, const char *why)
{
    snprintf(res->why, sizeof(res->why), "%s", why);
}


/* {"op":"api.settings_put","name","value":{…}}: the object as stored */
static cv_status
cv_cluster_settings_put(cv_txn *t, const cJSON *cmd, cv_cluster_result *res)
{
    size_t        i;
    cv_status     st;
    const char   *name;
    const cJSON  *value;

    name = cv_cw_str(cmd, "name");
    value = cJSON_GetObjectItemCaseSensitive(cmd, "value");

    if (name == NULL || !cJSON_IsObject(value)) {
        return CV_INVALID;
    }

    for (i = 0; cv_cluster_settings_names[i]; i++) {
        if (strcmp(name, cv_cluster_settings_names[i]) == 0) {
            break;
        }
    }

    if (cv_cluster_settings_names[i] == NULL) {
        return CV_INVALID;
    }

    st = cv_settings_put(t, name, value);
    if (st != CV_OK) {
        return st;
    }

    res->result = cJSON_Duplicate(value, 1);
    if (res->result == NULL) {
        return CV_ERROR;
    }

    /* the node mirrors it in its shared memory once committed */
    res->settings = cv_cluster_settings_names[i];

    return CV_OK;
}


/* a config endpoint (chatvisor_webhook) is not the API's to change */
static cv_status
cv_cluster_webhook_changed(cv_cluster_result *res, cv_status st)
{
    if (st == CV_FORBIDDEN) {
        cv_cw_why(res, "this endpoint is declared in nginx.conf: change it "
                       "there");
        return CV_CONFLICT;
    }

    res->webhooks = (st == CV_OK);

    return st;
}


/* {"op":"api.webhook_create","url","events":bits}: its id and signing
 * secret come from the seed, the same on every node */
static cv_status
cv_cluster_webhook_create(cv_txn *t, const cJSON *cmd,
    cv_cluster_result *res)
{
    cv_status        st;
    cv_webhook_spec  spec;

    memset(&spec, 0, sizeof(spec));
    spec.url = cv_cw_str(cmd, "url");
    spec.events = (unsigned) cv_cw_int(cmd, "events", 0);

    if (spec.url == NULL) {
        return CV_INVALID;
    }

    st = cv_webhook_create(t, &spec, cv_now_ms(), &res->result);
    res->created = (st == CV_OK);

    return cv_cluster_webhook_changed(res, st);
}


/* {"op":"api.webhook_update","webhook_id","url"?,"events"?,"status"}:
 * events absent: kept; status -1 kept, 0 disabled, 1 enabled */
static cv_status
cv_cluster_webhook_update(cv_txn *t, const cJSON *cmd,
    cv_cluster_result *res)
{
    const char  *id;

    id = cv_cw_str(cmd, "webhook_id");
    if (id == NULL) {
        return CV_INVALID;
    }

    return cv_cluster_webhook_changed(res,
               cv_webhook_update(t, id, cv_cw_str(cmd, "url"),
                                 cJSON_HasObjectItem(cmd, "events"),
                                 (unsigned) cv_cw_int(cmd, "events", 0),
                                 (int) cv_cw_int(cmd, "status", -1),
                                 &res->result));
}


/* {"op":"api.webhook_delete","webhook_id"} */
static cv_status
cv_cluster_webhook_delete(cv_txn *t, const cJSON *cmd,
    cv_cluster_result *res)
{
    cv_status    st;
    const char  *id;

    id = cv_cw_str(cmd, "webhook_id");
    if (id == NULL) {
        return CV_INVALID;
    }

    st = cv_webhook_delete(t, id);
    res->deleted = (st == CV_OK);

    return cv_cluster_webhook_changed(res, st);
}


/* {"op":"api.webhook_rotate","webhook_id"}: the new secret from the seed */
static cv_status
cv_cluster_webhook_rotate(cv_txn *t, const cJSON *cmd,
    cv_cluster_result *res)
{
    const char  *id;

    id = cv_cw_str(cmd, "webhook_id");
    if (id == NULL) {
        return CV_INVALID;
    }

    return cv_cluster_webhook_changed(res,
               cv_webhook_rotate(t, id, cv_now_ms(), CV_WEBHOOK_OVERLAP_MS,
                                 &res->result));
}


/*
 * The visitor a command names ("customer_id"), or a new one made from the
 * seed (absent: a new visitor, whose cookie its node then signs).
 */
static cv_status
cv_cluster_visitor(cv_txn *t, const cJSON *cmd, cv_cluster_result *res)
{
    const char  *id;

    id = cv_cw_str(cmd, "customer_id");

    if (id == NULL) {
        return cv_customer_create(t, res->customer_id);
    }

    if (strlen(id) >= CV_ID_MAX) {
        return CV_INVALID;
    }

    strcpy(res->customer_id, id);

    return CV_OK;
}


/* {"op":"visitor.contact","customer_id"?,"email","name"?} */
static cv_status
cv_cluster_visitor_contact(cv_txn *t, const cJSON *cmd,
    cv_cluster_result *res)
{
    cv_status    st;
    const char  *why;

    st = cv_cluster_visitor(t, cmd, res);
    if (st != CV_OK) {
        return st;
    }

    why = NULL;

    st = cv_customer_contact(t, res->customer_id, cv_cw_str(cmd, "email"),
                             cv_cw_str(cmd, "name"), &res->result, &why);
    if (why) {
        cv_cw_why(res, why);
    }

    return st;
}


/*
 * {"op":"visitor.identify","customer_id"?,"ext"?,"fields"?}: the visitor
 * becomes the integrator's customer ext (checked by the receiving node
 * against its signature), and the fields update who they are then;
 * res->customer_id is that customer, the answer {"id", "moved"}.
 */
static cv_status
cv_cluster_visitor_identify(cv_txn *t, const cJSON *cmd,
    cv_cluster_result *res)
{
    char           current[CV_ID_MAX];
    cJSON         *out;
    cv_status      st;
    const char    *ext, *why, *id;
    const cJSON   *fields;

    id = cv_cw_str(cmd, "customer_id");
    ext = cv_cw_str(cmd, "ext");
    fields = cJSON_GetObjectItemCaseSensitive(cmd, "fields");

    if ((id && strlen(id) >= CV_ID_MAX)
        || (ext && (ext[0] == '\0' || strlen(ext) > CV_CUSTOMER_EXT_ID_MAX))
        || (fields && !cJSON_IsObject(fields)))
    {
        return CV_INVALID;
    }

    current[0] = '\0';
    if (id) {
        strcpy(current, id);
    }

    if (ext) {
        st = cv_customer_identify(t, id, ext, res->customer_id);

    } else {
        st = cv_cluster_visitor(t, cmd, res);
    }

    if (st == CV_OK && fields) {
        out = NULL;
        why = NULL;
        st = cv_customer_update(t, res->customer_id, fields, 0, &out, &why);
        cJSON_Delete(out);

        if (why) {
            cv_cw_why(res, why);
        }
    }

    if (st != CV_OK) {
        return st;
    }

    res->result = cJSON_CreateObject();
    if (res->result == NULL) {
        return CV_ERROR;
    }

    if (ext) {
        cJSON_AddStringToObject(res->result, "id", ext);

    } else {
        cJSON_AddNullToObject(res->result, "id");
    }

    cJSON_AddBoolToObject(res->result, "moved",
                          strcmp(res->customer_id, current) != 0);

    return CV_OK;
}


/*
 * {"op":"agent.status","agent_id","status","external":bool}: an agent's
 * status as the agent (a console) or the integrator (external: the agent
 * must exist, and be enabled unless set offline) chose it. Not in the
 * store: each node puts it into its presence (res->presence) once
 * committed; whether the agent is online stays each node's own.
 */
static cv_status
cv_cluster_agent_status(cv_txn *t, const cJSON *cmd, cv_cluster_result *res)
{
    size_t        i;
    cJSON        *agent;
    cv_status     st;
    const char   *id, *status;

    id = cv_cw_str(cmd, "agent_id");
    status = cv_cw_str(cmd, "status");

    if (id == NULL || status == NULL) {
        return CV_INVALID;
    }

    for (i = 0; cv_cluster_statuses[i]; i++) {
        if (strcmp(status, cv_cluster_statuses[i]) == 0) {
            break;
        }
    }

    if (cv_cluster_statuses[i] == NULL) {
        return CV_INVALID;
    }

    res->presence_external =
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cmd, "external"));

    if (res->presence_external) {
        st = cv_agent_get(t, id, &agent);
        if (st != CV_OK) {
            return st;
        }

        if (!cJSON_IsTrue(cJSON_GetObjectItem(agent, "enabled"))
            && strcmp(status, CV_CLUSTER_OFFLINE) != 0)
        {
            cJSON_Delete(agent);
            cv_cw_why(res, "the agent is disabled");
            return CV_CONFLICT;
        }

        res->result = agent;

    } else {
        res->result = cJSON_CreateObject();
        if (res->result == NULL
            || cJSON_AddStringToObject(res->result, "id", id) == NULL)
        {
            return CV_ERROR;
        }
    }

    res->presence = cv_cluster_statuses[i];

    return CV_OK;
}


typedef struct {
    const char       *op;
    cv_cluster_op_pt  run;
} cv_cluster_write_op_t;


static const cv_cluster_write_op_t  cv_cluster_write_ops[] = {
    { "api.settings_put",    cv_cluster_settings_put },
    { "api.webhook_create",  cv_cluster_webhook_create },
    { "api.webhook_update",  cv_cluster_webhook_update },
    { "api.webhook_delete",  cv_cluster_webhook_delete },
    { "api.webhook_rotate",  cv_cluster_webhook_rotate },
    { "visitor.contact",     cv_cluster_visitor_contact },
    { "visitor.identify",    cv_cluster_visitor_identify },
    { "agent.status",        cv_cluster_agent_status },
    { NULL, NULL }
};


cv_cluster_op_pt
cv_cluster_write_op(const char *op)
{
    size_t  i;

    for (i = 0; op && cv_cluster_write_ops[i].op; i++) {
        if (strcmp(op, cv_cluster_write_ops[i].op) == 0) {
            return cv_cluster_write_ops[i].run;
        }
    }

    return NULL;
}
