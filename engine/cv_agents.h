/*
 * Agents, their console sessions and one-time login tokens.
 *
 * Secrets (session ids, login tokens) are random, handed out once, and
 * stored only as SHA-256: a copy of the store lets nobody log in.
 */
#ifndef CV_AGENTS_H
#define CV_AGENTS_H

#include "cv_store.h"
#include "cv_crypto.h"
#include "cv_chat.h"

#include <cjson/cJSON.h>
#include <stdint.h>

#define CV_AGENT_ID_MAX      128
#define CV_AGENT_NAME_MAX    128   /* bytes of an agent's name */
#define CV_SECRET_STR        64    /* base64url of CV_SECRET_BYTES + NUL */
#define CV_LOGIN_TTL_DEFAULT (10 * 60 * 1000)
#define CV_LOGIN_TTL_MAX     (24 * 60 * 60 * 1000)

/* open conversations a new agent takes at most, when not given */
#define CV_AGENT_MAX_CONCURRENT_DEFAULT  5

/* Inserts or updates an agent: fields "name", "email", "enabled",
 * "max_concurrent" (absent ones keep their value, or get defaults).
 * *created tells which. The stored record is returned in *out if out. */
cv_status cv_agent_put(cv_txn *t, const char *id, const cJSON *fields,
    cJSON **out, int *created);

/* The agent's record (the caller frees it), or CV_NOT_FOUND. */
cv_status cv_agent_get(cv_txn *t, const char *id, cJSON **out);

/* An agent that may work: CV_OK with its record in *out when out is not
 * NULL (the caller frees it), CV_NOT_FOUND when there is no such agent,
 * CV_CONFLICT when it exists but is disabled. */
cv_status cv_agent_get_enabled(cv_txn *t, const char *id, cJSON **out);

/* The author {type "agent", id, name} of an agent record; its strings are
 * the record's: keep the record while out is used. */
void cv_agent_author(const cJSON *agent, cv_author *out);

/* Deletes an agent: sessions end, open conversations become unassigned. */
cv_status cv_agent_delete(cv_txn *t, const char *id);

/* Upserts every agent of list (each with a valid "id"; checked by the
 * caller) and disables all others; items gets the resulting list. */
cv_status cv_agents_sync(cv_txn *t, const cJSON *list, cJSON *items);

/* all agents, ordered by id; CV_ERROR when a record does not parse */
cv_status cv_agent_list(cv_txn *t, cJSON *items);

/* Validates an integrator's agent id: 1..128 of [A-Za-z0-9._@-]. */
int cv_agent_id_valid(const char *id);

/* A one-time login token for an enabled agent, optionally bound to a
 * conversation; ttl_ms 0 means the default, one over CV_LOGIN_TTL_MAX is
 * CV_INVALID. CV_NOT_FOUND when there is no enabled agent of that id
 * (disabled or unknown alike). */
cv_status cv_login_token_create(cv_txn *t, const char *agent_id,
    const char *conversation_id, int64_t ttl_ms,
    char token[CV_SECRET_STR], int64_t *expires_at);

/* Uses a token up (once): the agent must still be enabled. *agent and
 * conversation_id ("" when none) are returned on success; CV_NOT_FOUND
 * for an unknown, used or expired token or a disabled agent. */
cv_status cv_login_token_redeem(cv_txn *t, const char *token,
    cJSON **agent, char conversation_id[CV_ID_MAX]);

/* A new console session of agent_id, living ttl_ms. */
cv_status cv_session_create(cv_txn *t, const char *agent_id, int64_t ttl_ms,
    char session[CV_SECRET_STR], int64_t *expires_at);

/* The agent of a live session of an enabled agent, else CV_NOT_FOUND. */
cv_status cv_session_agent(cv_txn *t, const char *session, cJSON **agent);

/* Ends a session (logout); CV_OK also when there was none. */
cv_status cv_session_delete(cv_txn *t, const char *session);

/*
 * The same by the secret's SHA-256 (what the store keys them by): cluster
 * mode's commands carry the hash, never the secret, which only the node
 * that made it holds (engine/cv_cluster.h). cv_secret_new() makes a
 * secret and its hash.
 */
cv_status cv_secret_new(char secret[CV_SECRET_STR],
    unsigned char hash[CV_SHA256_LEN]);
cv_status cv_login_token_create_hash(cv_txn *t, const char *agent_id,
    const char *conversation_id, int64_t ttl_ms,
    const unsigned char hash[CV_SHA256_LEN], int64_t *expires_at);
cv_status cv_login_token_redeem_hash(cv_txn *t,
    const unsigned char hash[CV_SHA256_LEN], cJSON **agent,
    char conversation_id[CV_ID_MAX]);
cv_status cv_session_create_hash(cv_txn *t, const char *agent_id,
    int64_t ttl_ms, const unsigned char hash[CV_SHA256_LEN],
    int64_t *expires_at);
cv_status cv_session_delete_hash(cv_txn *t,
    const unsigned char hash[CV_SHA256_LEN]);

/* Ends every session of an agent (disabled, deleted). */
cv_status cv_sessions_end_for(cv_txn *t, const char *agent_id);

#endif
