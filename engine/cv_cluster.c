/*
 * Cluster mode's commands, applied in stream order (cv_cluster.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_cluster.h"
#include "cv_cluster_webhooks.h"
#include "cv_cluster_writes.h"
#include "cv_routing.h"
#include "cv_agents.h"
#include "cv_customers.h"
#include "cv_api_tokens.h"
#include "cv_retention.h"
#include "cv_cluster_erase.h"
#include "cv_log_impl.h"
#include "cv_store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CV_CLUSTER_APPLIED   "cluster/applied"
#define CV_CLUSTER_RESULT    "cluster/r/"      /* + u64be seq */
#define CV_CLUSTER_KEY_MAX   (sizeof(CV_CLUSTER_RESULT) - 1 + 8)

/*
 * The log seqs a command's entries start at: seq * CV_CLUSTER_LOG_SPAN (or
 * after the log's end when a bigger command before went past it). A
 * command removed from the stream (an erased customer's) then leaves no
 * trace in the numbering of the others: a node that replays the stream
 * without it gives every later entry the seq the others gave it, so the
 * REST cursor stays the same on every node (docs/decisions.md).
 */
#define CV_CLUSTER_LOG_SPAN  256

/* the store's secret's key (cv_store.c) */
#define CV_CLUSTER_SECRET    "secret"
#define CV_CLUSTER_SECRET_KEPT  "cluster/secret"   /* it is the cluster's */


void
cv_cluster_result_clear(cv_cluster_result *res)
{
    cv_message_clear(&res->message);
    cJSON_Delete(res->result);
    memset(res, 0, sizeof(*res));
}


static void
cv_cluster_why(cv_cluster_result *res, const char *why)
{
    snprintf(res->why, sizeof(res->why), "%s", why);
}


static void
cv_cluster_u64be(unsigned char *p, uint64_t v)
{
    int  i;

    for (i = 7; i >= 0; i--) {
        p[i] = (unsigned char) (v & 0xff);
        v >>= 8;
    }
}


static uint64_t
cv_cluster_be64(const unsigned char *p)
{
    int       i;
    uint64_t  v;

    v = 0;
    for (i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }

    return v;
}


static size_t
cv_cluster_result_key(unsigned char key[CV_CLUSTER_KEY_MAX], uint64_t seq)
{
    memcpy(key, CV_CLUSTER_RESULT, sizeof(CV_CLUSTER_RESULT) - 1);
    cv_cluster_u64be(key + sizeof(CV_CLUSTER_RESULT) - 1, seq);

    return CV_CLUSTER_KEY_MAX;
}


cv_status
cv_cluster_result_del(cv_txn *t, uint64_t seq)
{
    cv_status      st;
    unsigned char  key[CV_CLUSTER_KEY_MAX];

    st = cv_record_del(t, CV_DB_META, key, cv_cluster_result_key(key, seq));

    return st == CV_NOT_FOUND ? CV_OK : st;
}


cv_status
cv_cluster_applied(cv_txn *t, uint64_t *seq)
{
    int64_t  at;

    return cv_cluster_applied_at(t, seq, &at);
}


cv_status
cv_cluster_applied_at(cv_txn *t, uint64_t *seq, int64_t *at_ms)
{
    MDB_val    v;
    cv_status  st;

    *seq = 0;
    *at_ms = 0;

    st = cv_raw_get(t, CV_DB_META, CV_CLUSTER_APPLIED,
                    sizeof(CV_CLUSTER_APPLIED) - 1, &v);

    if (st == CV_NOT_FOUND) {
        return CV_OK;
    }

    if (st != CV_OK) {
        return st;
    }

    /* the seq, then (stores since the stream's maximum age) the time */
    if (v.mv_size != 8 && v.mv_size != 16) {
        return CV_ERROR;
    }

    *seq = cv_cluster_be64(v.mv_data);

    if (v.mv_size == 16) {
        *at_ms = (int64_t) cv_cluster_be64((unsigned char *) v.mv_data + 8);
    }

    return CV_OK;
}


/* ------------------------------------------------------------ commands */

static const char *
cv_cluster_str(const cJSON *cmd, const char *name)
{
    const cJSON  *v;

    v = cJSON_GetObjectItemCaseSensitive(cmd, name);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}


/* a field of n bytes as 2n hex digits (a seed, a secret's hash) */
static int
cv_cluster_hex(const cJSON *cmd, const char *name, unsigned char *out,
    size_t n)
{
    size_t       i;
    unsigned     byte;
    const char  *hex;

    hex = cv_cluster_str(cmd, name);
    if (hex == NULL || strlen(hex) != 2 * n) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (sscanf(hex + 2 * i, "%2x", &byte) != 1) {
            return 0;
        }
        out[i] = (unsigned char) byte;
    }

    return 1;
}


static cv_status
cv_cluster_visitor_message(cv_txn *t, const cJSON *cmd,
    cv_cluster_result *res, const char *op)
{
    const char    *customer_id;
    const cJSON   *routing;
    cv_author      author;

    (void) op;
    cv_status      st;
    cv_message    *m;

    m = &res->message;
    customer_id = cv_cluster_str(cmd, "customer_id");

    if (customer_id == NULL) {
        st = cv_customer_create(t, res->customer_id);
        if (st != CV_OK) {
            return st;
        }

    } else if (strlen(customer_id) < CV_ID_MAX) {
        strcpy(res->customer_id, customer_id);

    } else {
        return CV_INVALID;
    }

    author.type = "customer";
    res->author = author.type;
    author.id = res->customer_id;
    author.name = NULL;

    st = cv_message_post(t, NULL, res->customer_id, &author,
                         cv_cluster_str(cmd, "client_msg_id"),
                         cv_cluster_str(cmd, "text"),
                         cv_cluster_str(cmd, "page_url"), m);
    if (st != CV_OK) {
        return st;
    }

    strcpy(res->conversation_id, m->conversation_id);

    if (m->duplicate || m->seq != 1) {
        return CV_OK;
    }

    res->opened = 1;

    routing = cJSON_GetObjectItemCaseSensitive(cmd, "routing");

    return cv_route_assign(t, cJSON_IsNumber(routing)
                              ? (cv_route_mode) routing->valueint
                              : CV_ROUTE_MANUAL,
                           cJSON_GetObjectItemCaseSensitive(cmd,
                                                            "available"),
                           m->conversation_id);
}


static cv_status
cv_cluster_agent_reply(cv_txn *t, const cJSON *cmd, cv_cluster_result *res,
    const char *op)
{
    int            changed;
    const char    *conv_id;
    cv_author      me;
    cv_status      st;
    cv_conv_state  cs;

    (void) op;
    conv_id = cv_cluster_str(cmd, "conversation_id");
    me.type = "agent";
    res->author = me.type;
    me.id = cv_cluster_str(cmd, "agent_id");
    me.name = cv_cluster_str(cmd, "agent_name");

    if (conv_id == NULL || me.id == NULL || strlen(conv_id) >= CV_ID_MAX) {
        return CV_INVALID;
    }

    strcpy(res->conversation_id, conv_id);

    st = cv_conversation_state(t, conv_id, &cs);

    if (st == CV_OK) {
        /* whose it is, refused or not (cv_cluster_erase.h) */
        strcpy(res->customer_id, cs.customer_id);
    }

    /* replying to an unassigned conversation takes it */
    if (st == CV_OK && cs.open && !cs.assigned) {
        st = cv_conversation_assign(t, conv_id, &me, &changed);
    }

    if (st == CV_OK) {
        strcpy(res->customer_id, cs.customer_id);
        st = cv_message_post(t, conv_id, NULL, &me,
                             cv_cluster_str(cmd, "client_msg_id"),
                             cv_cluster_str(cmd, "text"), NULL,
                             &res->message);
    }

    return st;
}


/* the author a command names: an agent ("agent_id", "agent_name") */
static int
cv_cluster_agent(const cJSON *cmd, cv_author *me)
{
    me->type = "agent";
    me->id = cv_cluster_str(cmd, "agent_id");
    me->name = cv_cluster_str(cmd, "agent_name");

    return me->id != NULL;
}


/* the conversation a command names, its state read; the answer's
 * conversation once changed (cv_conversation_get()) */
static cv_status
cv_cluster_conv(cv_txn *t, const cJSON *cmd, cv_cluster_result *res,
    cv_conv_state *cs)
{
    cv_status    st;
    const char  *conv_id;

    conv_id = cv_cluster_str(cmd, "conversation_id");

    if (conv_id == NULL || strlen(conv_id) >= CV_ID_MAX) {
        return CV_INVALID;
    }

    strcpy(res->conversation_id, conv_id);

    st = cv_conversation_state(t, conv_id, cs);

    if (st == CV_OK) {
        /* whose it is, refused or not (cv_cluster_erase.h) */
        strcpy(res->customer_id, cs->customer_id);
    }

    return st;
}


static cv_status
cv_cluster_answer_conv(cv_txn *t, cv_cluster_result *res,
    const cv_conv_state *cs)
{
    strcpy(res->customer_id, cs->customer_id);

    return cv_conversation_get(t, res->conversation_id, &res->result);
}


/* the console: to the agent named ("to"), or to oneself */
static cv_status
cv_cluster_agent_assign(cv_txn *t, const cJSON *cmd, cv_cluster_result *res,
    const char *op)
{
    int            changed;
    cJSON         *target;
    cv_author      who;
    cv_status      st;
    const char    *to;
    cv_conv_state  cs;

    (void) op;
    if (!cv_cluster_agent(cmd, &who)) {
        return CV_INVALID;
    }

    st = cv_cluster_conv(t, cmd, res, &cs);
    if (st != CV_OK) {
        return st;
    }

    target = NULL;
    to = cv_cluster_str(cmd, "to");

    if (to && strcmp(to, who.id) != 0) {
        st = cv_agent_get_enabled(t, to, &target);
        if (st != CV_OK) {
            return st;
        }

        cv_agent_author(target, &who);
    }

    st = cv_conversation_assign(t, res->conversation_id, &who, &changed);

    if (st == CV_OK) {
        st = cv_cluster_answer_conv(t, res, &cs);
    }

    cJSON_Delete(target);

    return st;
}


static cv_status
cv_cluster_agent_close(cv_txn *t, const cJSON *cmd, cv_cluster_result *res,
    const char *op)
{
    int            changed;
    cv_author      me;
    cv_status      st;
    cv_conv_state  cs;

    (void) op;
    if (!cv_cluster_agent(cmd, &me)) {
        return CV_INVALID;
    }

    st = cv_cluster_conv(t, cmd, res, &cs);

    if (st == CV_OK) {
        st = cv_conversation_close(t, res->conversation_id, &me, &changed);
    }

    if (st != CV_OK) {
        return st;
    }

    res->closed = (changed != 0);

    return cv_cluster_answer_conv(t, res, &cs);
}


/* the REST API's author: the agent named (enabled), or the system */
static cv_status
cv_cluster_api_author(cv_txn *t, const cJSON *cmd, cv_cluster_result *res,
    cv_author *who, cJSON **agent)
{
    cv_status    st;
    const char  *agent_id;

    who->type = "system";
    who->id = NULL;
    who->name = NULL;
    *agent = NULL;

    agent_id = cv_cluster_str(cmd, "agent_id");
    if (agent_id == NULL) {
        return CV_OK;
    }

    st = cv_agent_get_enabled(t, agent_id, agent);

    if (st == CV_NOT_FOUND) {
        cv_cluster_why(res, "no such agent");

    } else if (st == CV_CONFLICT) {
        cv_cluster_why(res, "the agent is disabled");
    }

    if (st == CV_OK) {
        cv_agent_author(*agent, who);
    }

    return st;
}


/* POST conversations/ID/messages, assign, close of the REST API */
static cv_status
cv_cluster_api_change(cv_txn *t, const cJSON *cmd, cv_cluster_result *res,
    const char *op)
{
    int            changed;
    cJSON         *agent;
    cv_author      who;
    cv_status      st;
    cv_conv_state  cs;

    st = cv_cluster_conv(t, cmd, res, &cs);
    if (st != CV_OK) {
        return st;
    }

    st = cv_cluster_api_author(t, cmd, res, &who, &agent);
    if (st != CV_OK) {
        return st;
    }

    if (strcmp(op, "api.message") == 0) {
        res->author = strcmp(who.type, "agent") == 0 ? "agent" : "system";
        st = cv_message_post(t, res->conversation_id, NULL, &who,
                             cv_cluster_str(cmd, "client_msg_id"),
                             cv_cluster_str(cmd, "text"), NULL,
                             &res->message);

    } else if (strcmp(op, "api.assign") == 0) {
        st = cv_conversation_assign(t, res->conversation_id,
                                    agent ? &who : NULL, &changed);

    } else {
        st = cv_conversation_close(t, res->conversation_id, &who, &changed);
        res->closed = (st == CV_OK && changed);
    }

    cJSON_Delete(agent);

    if (st == CV_CONFLICT) {
        cv_cluster_why(res, "the conversation is closed");
    }

    if (st != CV_OK) {
        return st;
    }

    strcpy(res->customer_id, cs.customer_id);

    if (res->message.json) {
        return CV_OK;
    }

    return cv_cluster_answer_conv(t, res, &cs);
}


/* the REST API's agents: one (PUT agents/ID), gone (DELETE), the list */
static cv_status
cv_cluster_api_agents(cv_txn *t, const cJSON *cmd, cv_cluster_result *res,
    const char *op)
{
    cJSON        *items;
    cv_status     st;
    const char   *id;

    if (strcmp(op, "api.agents_sync") == 0) {
        if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(cmd, "agents")))
        {
            return CV_INVALID;
        }

        items = cJSON_CreateArray();
        if (items == NULL) {
            return CV_ERROR;
        }

        st = cv_agents_sync(t, cJSON_GetObjectItemCaseSensitive(cmd,
                                                                "agents"),
                            items);
        if (st != CV_OK) {
            cJSON_Delete(items);
            return st;
        }

        res->result = cJSON_CreateObject();
        if (res->result == NULL) {
            cJSON_Delete(items);
            return CV_ERROR;
        }

        cJSON_AddItemToObject(res->result, "items", items);
        res->agents = 1;
        return CV_OK;
    }

    id = cv_cluster_str(cmd, "agent_id");
    if (id == NULL || !cv_agent_id_valid(id)) {
        return CV_INVALID;
    }

    if (strcmp(op, "api.agent_delete") == 0) {
        st = cv_agent_delete(t, id);
        res->deleted = (st == CV_OK);

        if (st == CV_OK) {
            res->agents = 1;
            strcpy(res->agent_deleted, id);
        }

        return st;
    }

    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(cmd, "fields"))) {
        return CV_INVALID;
    }

    st = cv_agent_put(t, id, cJSON_GetObjectItemCaseSensitive(cmd, "fields"),
                      &res->result, &res->created);
    res->agents = (st == CV_OK);

    return st;
}




static int64_t
cv_cluster_int(const cJSON *cmd, const char *name)
{
    const cJSON  *v;

    v = cJSON_GetObjectItemCaseSensitive(cmd, name);

    return cJSON_IsNumber(v) ? (int64_t) v->valuedouble : 0;
}


/*
 * The console's secrets, by their hashes (the secrets stay on the node
 * that made them): a one-time login token (for an agent, or a customer's
 * latest conversation), its use with the session it opens, a logout.
 */
static cv_status
cv_cluster_secrets(cv_txn *t, const cJSON *cmd, cv_cluster_result *res,
    const char *op)
{
    char           conv[CV_ID_MAX];
    cJSON         *agent, *cus;
    int64_t        expires;
    cv_status      st;
    const char    *id, *customer_id;
    unsigned char  hash[CV_SHA256_LEN], session[CV_SHA256_LEN];

    if (strcmp(op, "agent.logout") == 0) {
        if (!cv_cluster_hex(cmd, "session_hash", session, sizeof(session))) {
            return CV_INVALID;
        }

        return cv_session_delete_hash(t, session);
    }

    if (!cv_cluster_hex(cmd, "token_hash", hash, sizeof(hash))) {
        return CV_INVALID;
    }

    if (strcmp(op, "agent.join") == 0) {
        if (!cv_cluster_hex(cmd, "session_hash", session, sizeof(session))) {
            return CV_INVALID;
        }

        st = cv_login_token_redeem_hash(t, hash, &agent, conv);

        if (st == CV_NOT_FOUND) {
            /* used up even when it opens nothing: no result, a 403 */
            return CV_OK;
        }

        if (st != CV_OK) {
            return st;
        }

        st = cv_session_create_hash(t, cJSON_GetStringValue(
                                       cJSON_GetObjectItem(agent, "id")),
                                    cv_cluster_int(cmd, "ttl_ms"), session,
                                    &expires);
        cJSON_Delete(agent);

        if (st != CV_OK) {
            return st;
        }

        res->result = cJSON_CreateObject();
        if (res->result == NULL) {
            return CV_ERROR;
        }

        cJSON_AddStringToObject(res->result, "conversation_id", conv);
        return CV_OK;
    }

    /* login.create */
    id = cv_cluster_str(cmd, "agent_id");
    customer_id = cv_cluster_str(cmd, "customer_id");
    conv[0] = '\0';

    if (id == NULL) {
        return CV_INVALID;
    }

    if (customer_id) {
        /* the URL opens the customer's latest conversation, if any */
        st = cv_customer_get(t, customer_id, &cus);
        if (st != CV_OK) {
            return st;
        }

        if (cv_cluster_str(cus, "conversation_id")
            && strlen(cv_cluster_str(cus, "conversation_id")) < CV_ID_MAX)
        {
            strcpy(conv, cv_cluster_str(cus, "conversation_id"));
        }

        cJSON_Delete(cus);
    }

    st = cv_login_token_create_hash(t, id, conv[0] ? conv : NULL,
                                    cv_cluster_int(cmd, "ttl_ms"), hash,
                                    &expires);

    if (st == CV_NOT_FOUND && customer_id) {
        cv_cluster_why(res, "no such enabled agent");
    }

    if (st != CV_OK) {
        return st;
    }

    res->result = cJSON_CreateObject();
    if (res->result == NULL) {
        return CV_ERROR;
    }

    cJSON_AddNumberToObject(res->result, "expires_at", (double) expires);
    res->created = 1;

    return CV_OK;
}


/* the REST API's customers: PUT or PATCH customers/ID, DELETE (erase) */
static cv_status
cv_cluster_api_customers(cv_txn *t, const cJSON *cmd, cv_cluster_result *res,
    const char *op)
{
    cv_status        st;
    const char      *id, *why;
    const cJSON     *fields;
    cv_purge_stats   stats;

    id = cv_cluster_str(cmd, "customer_id");
    if (id == NULL || strlen(id) >= CV_ID_MAX) {
        return CV_INVALID;
    }

    if (strcmp(op, "api.customer_erase") == 0) {
        st = cv_customer_erase(t, id, &stats);
        res->deleted = (st == CV_OK);
        return st;
    }

    /* whose fields the command carries (cv_cluster_erase.h) */
    strcpy(res->customer_id, id);

    fields = cJSON_GetObjectItemCaseSensitive(cmd, "fields");
    why = NULL;

    st = cv_customer_update(t, id, fields,
                            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
                                                           cmd, "replace")),
                            &res->result, &why);
    if (why) {
        cv_cluster_why(res, why);
    }

    return st;
}


/* an access token of the REST API, by its hash (POST auth/token) */
static cv_status
cv_cluster_api_token(cv_txn *t, const cJSON *cmd, cv_cluster_result *res,
    const char *op)
{
    const char     *client, *fp;
    unsigned char   hash[CV_SHA256_LEN];

    (void) res;
    (void) op;

    client = cv_cluster_str(cmd, "client");
    fp = cv_cluster_str(cmd, "fingerprint");

    if (client == NULL || fp == NULL
        || !cv_cluster_hex(cmd, "token_hash", hash, sizeof(hash)))
    {
        return CV_INVALID;
    }

    return cv_api_token_put_hash(t, client, fp,
                                 cv_cluster_int(cmd, "ttl_ms"), hash);
}


typedef cv_status (*cv_cluster_run_pt)(cv_txn *t, const cJSON *cmd,
    cv_cluster_result *res, const char *op);

typedef struct {
    const char         *op;
    cv_cluster_run_pt   run;
} cv_cluster_op;

/* the chat's commands, by their "op" (cv_cluster.h lists their fields);
 * the REST writes' are cv_cluster_writes.c's, the webhook sender's
 * cv_cluster_webhooks.c's */
static const cv_cluster_op  cv_cluster_ops[] = {
    { "visitor.message",     cv_cluster_visitor_message },
    { "agent.reply",         cv_cluster_agent_reply },
    { "agent.assign",        cv_cluster_agent_assign },
    { "agent.close",         cv_cluster_agent_close },
    { "api.message",         cv_cluster_api_change },
    { "api.assign",          cv_cluster_api_change },
    { "api.close",           cv_cluster_api_change },
    { "api.agent_put",       cv_cluster_api_agents },
    { "api.agent_delete",    cv_cluster_api_agents },
    { "api.agents_sync",     cv_cluster_api_agents },
    { "login.create",        cv_cluster_secrets },
    { "agent.join",          cv_cluster_secrets },
    { "agent.logout",        cv_cluster_secrets },
    { "api.token",           cv_cluster_api_token },
    { "api.customer_put",    cv_cluster_api_customers },
    { "api.customer_erase",  cv_cluster_api_customers },
};


static const cv_cluster_op *
cv_cluster_op_find(const char *op)
{
    size_t  i;

    for (i = 0; op && i < sizeof(cv_cluster_ops) / sizeof(cv_cluster_ops[0]);
         i++)
    {
        if (strcmp(op, cv_cluster_ops[i].op) == 0) {
            return &cv_cluster_ops[i];
        }
    }

    return NULL;
}


/* who applies an op: the chat's table, the REST writes' or the webhook
 * sender's (all NULL / 0: this node does not know it; a node meets one
 * only when a newer node wrote it) */
typedef struct {
    const cv_cluster_op  *chat;
    cv_cluster_op_pt      write;
    int                   webhook;
} cv_cluster_runner;


static int
cv_cluster_runner_find(const char *op, cv_cluster_runner *rn)
{
    rn->chat = cv_cluster_op_find(op);
    rn->write = rn->chat ? NULL : cv_cluster_write_op(op);
    rn->webhook = (rn->chat || rn->write) ? 0 : cv_cluster_webhook_op(op);

    return rn->chat || rn->write || rn->webhook;
}


static cv_status
cv_cluster_run(const cv_cluster_runner *rn, cv_txn *t, const cJSON *cmd,
    cv_cluster_result *res, const char *op)
{
    if (rn->chat) {
        return rn->chat->run(t, cmd, res, op);
    }

    if (rn->write) {
        return rn->write(t, cmd, res);
    }

    return rn->webhook ? cv_cluster_webhook_apply(t, cmd, op, res)
                       : CV_INVALID;
}


/* ------------------------------------------------------------ outcomes */

static cv_status
cv_cluster_result_put(cv_txn *t, uint64_t seq, const cv_cluster_result *res)
{
    char          *text;
    size_t         n, room;
    cv_status      st;
    unsigned char  key[CV_CLUSTER_KEY_MAX];

    char          *conv, *whyq;
    cJSON         *why;
    size_t         conv_len;

    conv = NULL;
    conv_len = 0;

    if (res->result) {
        conv = cJSON_PrintUnformatted(res->result);
        if (conv == NULL) {
            return CV_ERROR;
        }

        conv_len = strlen(conv);
    }

    /* the reason may quote a field's name: as a JSON string */
    why = cJSON_CreateString(res->why);
    whyq = why ? cJSON_PrintUnformatted(why) : NULL;
    cJSON_Delete(why);

    if (whyq == NULL) {
        cJSON_free(conv);
        return CV_ERROR;
    }

    room = 256 + 2 * CV_ID_MAX + strlen(whyq) + res->message.len + conv_len;
    text = malloc(room);
    if (text == NULL) {
        cJSON_free(conv);
        cJSON_free(whyq);
        return CV_ERROR;
    }

    n = (size_t) snprintf(text, room,
                          "{\"status\":%d,\"opened\":%s,\"closed\":%s,"
                          "\"created\":%s,\"deleted\":%s,"
                          "\"duplicate\":%s,\"why\":%s,"
                          "\"customer_id\":\"%s\",\"conversation_id\":\"%s\","
                          "\"seq\":%llu,\"message\":",
                          (int) res->status, res->opened ? "true" : "false",
                          res->closed ? "true" : "false",
                          res->created ? "true" : "false",
                          res->deleted ? "true" : "false",
                          res->message.duplicate ? "true" : "false",
                          whyq, res->customer_id, res->conversation_id,
                          (unsigned long long) res->message.seq);
    cJSON_free(whyq);

    if (res->message.json) {
        memcpy(text + n, res->message.json, res->message.len);
        n += res->message.len;

    } else {
        memcpy(text + n, "null", 4);
        n += 4;
    }

    memcpy(text + n, ",\"result\":", 10);
    n += 10;

    if (conv) {
        memcpy(text + n, conv, conv_len);
        n += conv_len;
        cJSON_free(conv);

    } else {
        memcpy(text + n, "null", 4);
        n += 4;
    }

    text[n++] = '}';

    st = cv_record_put_raw(t, CV_DB_META, key,
                           cv_cluster_result_key(key, seq), text, n);
    free(text);

    return st;
}


cv_status
cv_cluster_result_get(cv_txn *t, uint64_t seq, cv_cluster_result *res)
{
    char           *msg;
    cJSON          *r, *v;
    MDB_val         val;
    cv_status       st;
    const char     *s;
    unsigned char   key[CV_CLUSTER_KEY_MAX];

    memset(res, 0, sizeof(*res));

    st = cv_raw_get(t, CV_DB_META, key, cv_cluster_result_key(key, seq),
                    &val);
    if (st != CV_OK) {
        return st;
    }

    r = cJSON_ParseWithLength(val.mv_data, val.mv_size);
    if (r == NULL) {
        return CV_ERROR;
    }

    v = cJSON_GetObjectItemCaseSensitive(r, "status");
    res->status = cJSON_IsNumber(v) ? (cv_status) v->valueint : CV_ERROR;
    res->opened = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r,
                                                                "opened"));
    res->message.duplicate =
          cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "duplicate"));

    s = cv_cluster_str(r, "customer_id");
    if (s && strlen(s) < CV_ID_MAX) {
        strcpy(res->customer_id, s);
        strcpy(res->message.customer_id, s);
    }

    s = cv_cluster_str(r, "conversation_id");
    if (s && strlen(s) < CV_ID_MAX) {
        strcpy(res->conversation_id, s);
        strcpy(res->message.conversation_id, s);
    }

    res->closed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r,
                                                                "closed"));
    res->created = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r,
                                                                 "created"));
    res->deleted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r,
                                                                 "deleted"));

    s = cv_cluster_str(r, "why");
    if (s) {
        cv_cluster_why(res, s);
    }

    v = cJSON_GetObjectItemCaseSensitive(r, "result");
    if (cJSON_IsObject(v)) {
        res->result = cJSON_DetachItemViaPointer(r, v);
    }

    v = cJSON_GetObjectItemCaseSensitive(r, "seq");
    res->message.seq = cJSON_IsNumber(v) ? (uint64_t) v->valuedouble : 0;

    v = cJSON_GetObjectItemCaseSensitive(r, "message");
    st = CV_OK;

    if (cJSON_IsObject(v)) {
        msg = cJSON_PrintUnformatted(v);

        if (msg == NULL) {
            st = CV_ERROR;

        } else {
            res->message.json = msg;
            res->message.len = strlen(msg);
        }
    }

    cJSON_Delete(r);

    return st;
}


/*
 * What applying the command of seq leaves for the erasure from the stream
 * (cv_cluster_erase.h): a customer's erasure turns their seqs into the
 * to-do; another command is noted under the customer it concerns; one
 * that carries data but concerns nobody (refused: its conversation or
 * customer is gone, maybe erased just before it) is removed at once (it
 * changed nothing anywhere).
 */
static cv_status
cv_cluster_erase_keep(cv_txn *t, uint64_t seq, const cJSON *c,
    cv_cluster_result *res)
{
    int          data;
    const char  *op, *id;

    op = cv_cluster_str(c, "op");

    if (op && strcmp(op, "api.customer_erase") == 0) {
        id = cv_cluster_str(c, "customer_id");

        return id ? cv_cluster_erase_customer(t, id, &res->erase_todo)
                  : CV_OK;
    }

    data = cv_cluster_op_carries_data(op);

    if (res->customer_id[0]) {
        return cv_cluster_erase_note(t, res->customer_id, seq, data);
    }

    if (data && res->status != CV_OK) {
        res->erase_todo = 1;
        return cv_cluster_erase_add(t, seq);
    }

    return CV_OK;
}


cv_status
cv_cluster_apply(cv_txn *t, uint64_t seq, const char *cmd, size_t len,
    cv_cluster_result *res)
{
    return cv_cluster_apply_after(t, seq, seq - 1, cmd, len, res);
}


cv_status
cv_cluster_apply_after(cv_txn *t, uint64_t seq, uint64_t prev,
    const char *cmd, size_t len, cv_cluster_result *res)
{
    cJSON              *c, *now;
    cv_txn             *child;
    int64_t             at;
    uint64_t            applied, next;
    cv_status           st;
    const char         *name;
    cv_cluster_runner   rn = { NULL, NULL, 0 };
    unsigned char       seed[CV_DET_SEED];
    unsigned char       be[16];
    unsigned char       key[CV_CLUSTER_KEY_MAX];

    memset(res, 0, sizeof(*res));

    st = cv_cluster_applied_at(t, &applied, &at);
    if (st != CV_OK) {
        return st;
    }

    if (seq <= applied) {
        /* the time of what the store applied, later or the same */
        res->skipped = 1;
        res->applied_at = at;
        return CV_OK;
    }

    /* the reader delivered nothing between prev and seq: what the stream
     * had there was removed (an erasure), not lost on the way */
    if (seq != applied + 1 && prev > applied) {
        return CV_CONFLICT;
    }

    c = cJSON_ParseWithLength(cmd, len);
    now = cJSON_GetObjectItemCaseSensitive(c, "now");

    name = cv_cluster_str(c, "op");

    if (c == NULL || !cv_cluster_hex(c, "seed", seed, CV_DET_SEED)
        || !cJSON_IsNumber(now))
    {
        /* not a command: applied as nothing, so the stream goes on */
        res->status = CV_INVALID;

    } else if (name != NULL && !cv_cluster_runner_find(name, &rn)) {
        /* a newer node's command: applied as nothing it would make this
         * store differ from the others for good; nothing is applied, the
         * node waits for its upgrade */
        res->unknown = 1;
        (void) snprintf(res->why, sizeof(res->why), "%s", name);
        cJSON_Delete(c);
        return CV_OK;

    } else {
        /* the command's effects in a transaction of their own: a refused
         * one leaves nothing, and its seq is applied all the same */
        st = cv_txn_nest(t, &child);
        if (st != CV_OK) {
            cJSON_Delete(c);
            return st;
        }

        st = cv_log_next_seq(child, &next);

        if (st != CV_OK) {
            cv_txn_abort(child);
            cJSON_Delete(c);
            return st;
        }

        if (seq <= UINT64_MAX / CV_CLUSTER_LOG_SPAN
            && next < seq * CV_CLUSTER_LOG_SPAN)
        {
            child->log_next = seq * CV_CLUSTER_LOG_SPAN;
        }

        cv_det_begin(seed, (int64_t) now->valuedouble);
        res->status = name ? cv_cluster_run(&rn, child, c, res, name)
                           : CV_INVALID;
        cv_det_end();

        if (res->status == CV_OK) {
            st = cv_txn_nest_commit(t, child);

        } else {
            cv_txn_abort(child);
            cv_message_clear(&res->message);
            cJSON_Delete(res->result);
            res->result = NULL;
            res->opened = 0;
            res->closed = 0;
            res->created = 0;
            res->deleted = 0;
            res->settings = NULL;
            res->webhooks = 0;
            res->presence = NULL;
            res->agents = 0;
            res->agent_deleted[0] = '\0';

            st = (res->status == CV_FULL || res->status == CV_ERROR)
                 ? res->status : CV_OK;
        }

        if (st != CV_OK) {
            /* the store failed, not the command: nothing is applied */
            cJSON_Delete(c);
            cv_cluster_result_clear(res);
            return st;
        }
    }

    /* a command without a time (not a command) keeps the last one's */
    if (cJSON_IsNumber(now) && now->valuedouble > 0) {
        at = (int64_t) now->valuedouble;
    }

    st = cv_cluster_erase_keep(t, seq, c, res);
    cJSON_Delete(c);

    if (st != CV_OK) {
        cv_cluster_result_clear(res);
        return st;
    }

    cv_cluster_u64be(be, seq);
    cv_cluster_u64be(be + 8, (uint64_t) at);
    res->applied_at = at;

    st = cv_cluster_result_put(t, seq, res);

    if (st == CV_OK) {
        st = cv_record_put_raw(t, CV_DB_META, CV_CLUSTER_APPLIED,
                               sizeof(CV_CLUSTER_APPLIED) - 1, be,
                               sizeof(be));
    }

    if (st == CV_OK && seq > CV_CLUSTER_RESULTS_KEEP) {
        st = cv_record_del(t, CV_DB_META, key,
                           cv_cluster_result_key(key,
                                          seq - CV_CLUSTER_RESULTS_KEEP));
        if (st == CV_NOT_FOUND) {
            st = CV_OK;
        }
    }

    if (st != CV_OK) {
        cv_cluster_result_clear(res);
    }

    return st;
}


cv_status
cv_cluster_secret_set(cv_txn *t, const unsigned char secret[CV_STORE_SECRET_LEN])
{
    MDB_val    v;
    cv_status  st;

    st = cv_raw_get(t, CV_DB_META, CV_CLUSTER_SECRET,
                    sizeof(CV_CLUSTER_SECRET) - 1, &v);

    if (st == CV_OK && v.mv_size == CV_STORE_SECRET_LEN
        && memcmp(v.mv_data, secret, CV_STORE_SECRET_LEN) == 0
        && cv_cluster_secret_kept(t))
    {
        return CV_OK;
    }

    if (st != CV_OK && st != CV_NOT_FOUND) {
        return st;
    }

    st = cv_record_put_raw(t, CV_DB_META, CV_CLUSTER_SECRET,
                           sizeof(CV_CLUSTER_SECRET) - 1, secret,
                           CV_STORE_SECRET_LEN);

    if (st == CV_OK) {
        st = cv_record_put_raw(t, CV_DB_META, CV_CLUSTER_SECRET_KEPT,
                               sizeof(CV_CLUSTER_SECRET_KEPT) - 1, "1", 1);
    }

    return st;
}


int
cv_cluster_secret_kept(cv_txn *t)
{
    MDB_val  v;

    return cv_raw_get(t, CV_DB_META, CV_CLUSTER_SECRET_KEPT,
                      sizeof(CV_CLUSTER_SECRET_KEPT) - 1, &v) == CV_OK;
}
