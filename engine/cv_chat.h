/*
 * The chat model: customers, conversations, messages and the event log.
 *
 * Every change appends, in the same transaction, one entry to the global
 * event log (what agent consoles, the REST poll and webhooks read, by
 * global seq); the entries that carry a visitor-facing event form the
 * conversation's own stream (what its visitor polls, by per-conversation
 * seq). Records are JSON (cJSON); callers own returned objects.
 */
#ifndef CV_CHAT_H
#define CV_CHAT_H

#include "cv_store.h"
#include "cv_crypto.h"
#include "cv_json_text.h"

#include <cjson/cJSON.h>

#define CV_TEXT_MAX           4096   /* characters of a message */
#define CV_CLIENT_MSG_ID_MAX  128
#define CV_LIMIT_NONE         ((size_t) -1)   /* a limit that is none */

typedef struct {
    const char  *type;    /* "customer", "agent" or "system" */
    const char  *id;
    const char  *name;
} cv_author;

/* what the global log records (and webhooks are named after) */
#define CV_EV_CONVERSATION_CREATED   "conversation.created"
#define CV_EV_MESSAGE_CREATED        "message.created"
#define CV_EV_CONVERSATION_ASSIGNED  "conversation.assigned"
#define CV_EV_CONVERSATION_CLOSED    "conversation.closed"
#define CV_EV_CONVERSATION_UNASSIGNED "conversation.unassigned"

/* A new customer record (no name, no conversation yet); its id in id. */
cv_status cv_customer_create(cv_txn *t, char id[CV_ID_MAX]);

/* The customer's record (the caller frees it), or CV_NOT_FOUND. */
cv_status cv_customer_get(cv_txn *t, const char *id, cJSON **out);

/* The customer's latest conversation id (open or closed), or
 * CV_NOT_FOUND. */
cv_status cv_customer_conversation(cv_txn *t, const char *customer_id,
    char conv_id[CV_ID_MAX]);

/* The customer's open conversation id, or CV_NOT_FOUND. */
cv_status cv_customer_open_conversation(cv_txn *t, const char *customer_id,
    char conv_id[CV_ID_MAX]);

/* A posted message: its JSON text (the API's answer and what polls
 * return) and where it went. */
typedef struct {
    char      *json;             /* malloc'd; cv_message_clear() frees */
    size_t     len;
    uint64_t   seq;              /* in its conversation */
    int        duplicate;        /* a retried client_msg_id: the first one */
    char       conversation_id[CV_ID_MAX];
    char       customer_id[CV_ID_MAX];
} cv_message;

/* Frees m->json and empties m (also after a failed post). */
void cv_message_clear(cv_message *m);

/*
 * Posts a message. A customer's message goes to their open conversation,
 * or opens a new one (conv_id NULL); others name the conversation, which
 * must be open (CV_CONFLICT). A client_msg_id already used by the same
 * author returns the first message with m->duplicate set, and writes
 * nothing.
 */
cv_status cv_message_post(cv_txn *t, const char *conv_id,
    const char *customer_id, const cv_author *author,
    const char *client_msg_id, const char *text, const char *page_url,
    cv_message *m);

/* The conversation as the API shows it (the caller frees it). */
cv_status cv_conversation_get(cv_txn *t, const char *id, cJSON **out);

/* The same with its customer's record as "customer", appended to b as
 * text without the closing brace (the caller adds members and closes it):
 * what printing cv_conversation_get() with the customer added gives,
 * since records are stored as cJSON prints them; *last_seq: the seq of
 * its last event. CV_NOT_FOUND (b unchanged) when there is none. */
cv_status cv_conversation_console_text(cv_txn *t, const char *id,
    cv_json_text *b, uint64_t *last_seq);

/* What changes with every event, read without parsing the record. */
typedef struct {
    uint64_t  last_seq;
    uint64_t  head;           /* log seq of its last event, 0: none */
    int64_t   updated_ms;
    int       open;
    int       assigned;
    char      customer_id[CV_ID_MAX];
    uint64_t  key;            /* log seq of its creation: names it */
} cv_conv_state;

/* read from the record's header only; CV_NOT_FOUND when there is none */
cv_status cv_conversation_state(cv_txn *t, const char *id,
    cv_conv_state *out);

/* Events of one conversation after a seq, at most limit; *cursor is the
 * seq of the last one returned (or after, when there are none). */
cv_status cv_conversation_events(cv_txn *t, const char *conv_id,
    uint64_t after, size_t limit, cJSON *events, uint64_t *cursor);

/* The same as a JSON array text (malloc'd, NUL-terminated; free() it),
 * made of the stored events without parsing them. */
cv_status cv_conversation_events_json(cv_txn *t, const char *conv_id,
    uint64_t after, size_t limit, char **json, size_t *len, size_t *count,
    uint64_t *cursor);

/* The same, for a conversation whose state the caller has just read. */
cv_status cv_conversation_state_events_json(cv_txn *t,
    const cv_conv_state *cs, uint64_t after, size_t limit, char **json,
    size_t *len, size_t *count, uint64_t *cursor);

/* The last message among the conversation's last window events (*msg:
 * the caller frees it; NULL when there is none), read back from its last
 * event: one entry when that is a message. */
cv_status cv_conversation_last_message(cv_txn *t, const char *conv_id,
    size_t window, cJSON **msg);

/* The last seq of a conversation's stream. */
cv_status cv_conversation_last_seq(cv_txn *t, const char *conv_id,
    uint64_t *seq);

/* Assigns (agent != NULL) or unassigns; no-op when nothing changes.
 * A closed conversation is CV_CONFLICT. *changed tells whether it did. */
cv_status cv_conversation_assign(cv_txn *t, const char *conv_id,
    const cv_author *agent, int *changed);

/* Closes an open conversation, by whom; closing a closed one changes
 * nothing (*changed 0). */
cv_status cv_conversation_close(cv_txn *t, const char *conv_id,
    const cv_author *by, int *changed);

/* Conversations, newest first (by creation); status and assigned_agent_id
 * filters may be NULL ("" for assigned means unassigned). All or nothing:
 * on failure items gets none. Read from the indexes: it costs what it
 * answers. */
cv_status cv_conversation_list(cv_txn *t, const char *status,
    const char *assigned_agent_id, size_t limit, cJSON *items);

/* One page of the same list: those created before the one of order
 * before (0: from the newest). *next is what to pass as before for the
 * next page, 0 when none comes after this one (it looks one beyond the
 * page to know). */
cv_status cv_conversation_page(cv_txn *t, const char *status,
    const char *assigned_agent_id, uint64_t before, size_t limit,
    cJSON *items, uint64_t *next);

/* The global log (cv_log.c): entries after a position, in order; each
 * has seq, type, conversation_id, customer_id, conversation_seq,
 * created_at, the conversation's state and, when it has one, its event. */
cv_status cv_log_read(cv_txn *t, uint64_t after, size_t limit, cJSON *items,
    uint64_t *cursor);
/* An entry of the global log as its stored text, what cv_log_read()
 * parses: {"seq",…,"created_at"[,"event":{…}][,"conversation":{…}]}.
 * It points into the map: valid only during the call that hands it. */
typedef struct {
    uint64_t     seq;
    uint64_t     conv_seq;     /* its event's seq in the conversation */
    const char  *text;
    size_t       len;
    const char  *event;        /* inside text; NULL when it has none */
    size_t       event_len;
    const char  *conv;         /* inside text; NULL when it has none */
    size_t       conv_len;
} cv_log_text;

typedef cv_status (*cv_log_text_pt)(void *data, const cv_log_text *e);

/* The entries cv_log_read() gives, handed to each() as text, unparsed
 * (the console's poll); a status other than CV_OK from each() stops the
 * read and is returned. */
cv_status cv_log_read_text(cv_txn *t, uint64_t after, size_t limit,
    cv_log_text_pt each, void *data, uint64_t *cursor);
/* the seq of the log's last entry; 0 when it is empty */
cv_status cv_log_last_seq(cv_txn *t, uint64_t *seq);

/* Unassigns the open conversations of an agent (disabled, deleted). */
cv_status cv_agent_release(cv_txn *t, const char *agent_id);

/* Conversations changed after a log position, each once at its latest
 * change in order of it, at most limit, appended to b as a JSON array
 * (text: the entries already hold it, so nothing is parsed or printed);
 * status (NULL: any) keeps only those with that status. *next is where
 * to go on from. On failure b holds a part: the caller drops it. */
cv_status cv_conversations_since(cv_txn *t, uint64_t after, size_t limit,
    const char *status, cv_json_text *b, uint64_t *next);

/* Messages of a conversation after a seq, at most limit; *more is set when
 * there are more. */
cv_status cv_conversation_messages(cv_txn *t, const char *conv_id,
    uint64_t after, size_t limit, cJSON *items, int *more);

/* Validates visitor/agent text: UTF-8, 1..CV_TEXT_MAX characters after
 * trimming; returns a reason or NULL. */
const char *cv_text_invalid(const char *text, size_t len);

#endif
