/*
 * The conversation record, for the engine's model files only.
 *
 * Key: the conversation id (conv_…). Value: a CV_CONV_HDR-byte header of
 * what changes with every event, then the rest of the conversation as
 * JSON, which changes only with its status or agent:
 *
 *   0  u64be last_seq    seq of its last event in its own stream
 *   8  u64be head        log seq of its last event (0: none)
 *  16  i64be updated_ms  when it last changed
 *  24  u32be flags       CV_CONV_OPEN | CV_CONV_ASSIGNED, as the JSON says
 *  28  u32be agent_len   bytes of the assigned agent's id (0: none)
 *  32  customer id       NUL-padded to CV_ID_MAX bytes
 *  72  u64be state_seq   log seq of the entry with its state
 *  80  u64be key         log seq of its creation: names it in the log
 *  88  the assigned agent's id, agent_len bytes (schema version 3; in
 *      version 2 these 4 bytes were zeros and the id was only in the JSON)
 *  88 + agent_len
 *      {"id":"conv_…","customer_id":"cus_…","status":"open",
 *       "assigned_agent_id":null,"created_at":"…","page_url":…}
 *
 * A message thus rewrites the header and copies the JSON as it is, and
 * appends one log entry that carries the event (cv_log_impl.h): nothing is
 * parsed or printed on the way but the message itself. The agent is in
 * the header so that the indexes (cv_index.h) know which entries a
 * record has from its header alone: a message reads no JSON to find
 * that it moves none.
 */
#ifndef CV_CONV_RECORD_H
#define CV_CONV_RECORD_H

#include "cv_store_impl.h"
#include "cv_crypto.h"
#include "cv_chat.h"
#include "cv_agents.h"

#include <cjson/cJSON.h>

/* where each field of the header is; encoder and decoder both use these */
enum {
    CV_CONV_OFF_LAST_SEQ = 0,
    CV_CONV_OFF_HEAD = 8,
    CV_CONV_OFF_UPDATED = 16,
    CV_CONV_OFF_FLAGS = 24,
    CV_CONV_OFF_AGENT_LEN = 28,
    CV_CONV_OFF_CUSTOMER = 32,
    CV_CONV_OFF_STATE = CV_CONV_OFF_CUSTOMER + CV_ID_MAX,
    CV_CONV_OFF_KEY = 80,
    CV_CONV_HDR = 88
};

_Static_assert(CV_CONV_OFF_STATE == 72 && CV_CONV_OFF_KEY
               == CV_CONV_OFF_STATE + CV_U64BE_LEN && CV_CONV_HDR
               == CV_CONV_OFF_KEY + CV_U64BE_LEN,
               "the stored header's layout does not change");

#define CV_CONV_OPEN      1u
#define CV_CONV_ASSIGNED  2u

/* what the indexes hold of a conversation (cv_index.h) */
typedef struct {
    uint64_t        order;      /* log seq of its creation; 0: none */
    uint32_t        flags;
    char            agent[CV_AGENT_ID_MAX + 1];
} cv_conv_indexed;

/* a conversation record, decoded */
typedef struct {
    unsigned char  *buf;        /* header + JSON when copied, else NULL */
    uint64_t        last_seq;
    uint64_t        head;
    int64_t         updated_ms;
    uint32_t        flags;
    char            agent[CV_AGENT_ID_MAX + 1];   /* "": none */
    char            customer_id[CV_ID_MAX];
    uint64_t        state_seq;
    uint64_t        key;
    const char     *json;       /* inside buf, or the value decoded */
    size_t          json_len;
    cv_conv_indexed indexed;    /* as stored: what a put moves from */
} cv_conv_rec;

/* where a record stands in the lists (cv_index.h): the log seq of its
 * creation, which no message changes, so a message moves no entry */
#define cv_conv_rec_order(rec)  ((rec)->key)

/* The header of a stored value, in place: rec->json points into value
 * (rec->buf is not set); CV_ERROR when it is not a record. */
cv_status cv_conv_rec_decode(const void *value, size_t len, cv_conv_rec *rec);

/* The record of a conversation, copied out of the map (rec->buf: free it
 * with cv_conv_rec_free), or CV_NOT_FOUND. */
cv_status cv_conv_rec_get(cv_txn *t, const char *id, cv_conv_rec *rec);

/* Stores rec under id: header, agent, then rec->json; and moves its index
 * entries from rec->indexed to what rec is now (rec->indexed follows). */
cv_status cv_conv_rec_put(cv_txn *t, const char *id, cv_conv_rec *rec);

/* New JSON for the record (its status or agent changed), into a buffer of
 * its own; the flags and the agent follow it. */
cv_status cv_conv_rec_set_json(cv_conv_rec *rec, const cJSON *conv);

void cv_conv_rec_free(cv_conv_rec *rec);

/* The idempotency key of an author's client_msg_id in a conversation
 * (cv_chat.c), into key of size bytes, its length in *len; CV_INVALID
 * when it does not fit. */
cv_status cv_idem_key(char *key, size_t size, size_t *len,
    const cv_author *author, const char *conv_id, const char *client_msg_id);

#endif
