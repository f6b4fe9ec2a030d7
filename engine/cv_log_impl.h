/*
 * The global event log's entries, for the engine's model files only.
 *
 * Key: the log seq, u64 big-endian. Value: a 56-byte header, then the
 * entry as JSON text:
 *
 *   0  u64be prev        log seq of the previous entry of the same
 *                        conversation that carries an event (0: none)
 *   8  u64be conv_seq    the seq of the entry's event in its conversation
 *                        (0: the entry carries no event)
 *  16  u32be event_off, u32be event_len   the event inside the text
 *  24  u32be conv_off,  u32be conv_len    the conversation's state inside
 *                                         (0, 0: see state)
 *  32  u64be state       log seq of the entry with the conversation's state
 *                        as of this change (this one's when it has it)
 *  40  u64be conv_key    log seq of the conversation's creation: names it
 *  48  i64be created_ms
 *
 *   {"seq":G,"type":"message.created","conversation_id":"conv_…",
 *    "customer_id":"cus_…","conversation_seq":S,"created_at":"…",
 *    "event":{…}[,"conversation":{…}]}
 *
 * A conversation's events are the entries that carry one, chained from
 * the conversation record's head through prev: an event is written once,
 * in the one append-only tree, and a commit of many messages dirties the
 * log's last pages and each conversation's record, not a page per
 * conversation stream as well. Only changes of the state (created,
 * assigned, closed) carry it; a message's state is the one its entry
 * refers to with the message's seq and time, so a message costs its own
 * bytes and not the conversation's again.
 */
#ifndef CV_LOG_IMPL_H
#define CV_LOG_IMPL_H

#include "cv_store_impl.h"
#include "cv_json_text.h"

/* where each field of the header is; encoder and decoder both use these */
enum {
    CV_LOG_OFF_PREV = 0,
    CV_LOG_OFF_CONV_SEQ = 8,
    CV_LOG_OFF_EVENT_OFF = 16,
    CV_LOG_OFF_EVENT_LEN = 20,
    CV_LOG_OFF_CONV_OFF = 24,
    CV_LOG_OFF_CONV_LEN = 28,
    CV_LOG_OFF_STATE = 32,
    CV_LOG_OFF_CONV_KEY = 40,
    CV_LOG_OFF_CREATED = 48,
    CV_LOG_HDR = 56
};

_Static_assert(CV_LOG_HDR == CV_LOG_OFF_CREATED + CV_U64BE_LEN,
               "the stored header's layout does not change");

typedef struct {
    uint64_t      seq;
    uint64_t      prev;
    uint64_t      conv_seq;
    uint64_t      state;
    uint64_t      conv_key;
    int64_t       created_ms;
    const char   *text;        /* the JSON, in the map: valid until the
                                  transaction writes again or ends */
    size_t        len;
    const char   *event;       /* NULL when the entry carries none */
    size_t        event_len;
    const char   *conv;        /* the conversation's state, NULL when the
                                  entry refers to it (state) */
    size_t        conv_len;
} cv_log_entry;

/* The entry stored as k -> v (in place: e points into v); CV_ERROR when
 * malformed. */
cv_status cv_log_decode(const MDB_val *k, const MDB_val *v, cv_log_entry *e);

/* The entry at seq; CV_NOT_FOUND, or CV_ERROR when malformed. */
cv_status cv_log_get(cv_txn *t, uint64_t seq, cv_log_entry *e);

/* in the meta database: the log's last seq when a purge deleted the last
 * entries (cv_retention.h), so that their seqs are not used again */
#define CV_LOG_LAST_KEY  "ret/log_last"

/* The seq the next entry gets. */
cv_status cv_log_next_seq(cv_txn *t, uint64_t *seq);

/* Appends e at e->seq (from cv_log_next_seq); e->event and e->conv point
 * into e->text. */
cv_status cv_log_append_entry(cv_txn *t, const cv_log_entry *e);

/* How every entry's text starts, written by cv_conv_change() and read by
 * cv_log_entry_names(): the seq, then these two */
#define CV_LOG_SEQ_PREFIX      "{\"seq\":"
#define CV_LOG_SEQ_PREFIX_LEN  (sizeof(CV_LOG_SEQ_PREFIX) - 1)
#define CV_LOG_TYPE_FIELD      ",\"type\":\""
#define CV_LOG_CONV_FIELD      "\",\"conversation_id\":\""

/* an entry's type and conversation id, inside its text */
typedef struct {
    const char  *type;
    size_t       type_len;
    const char  *conversation_id;
    size_t       conversation_id_len;
} cv_log_names;

/* Reads them from where every entry's text has them, without parsing it;
 * CV_ERROR when the text does not start as an entry's does. */
cv_status cv_log_entry_names(const cv_log_entry *e, cv_log_names *out);

/* The conversation as a change left it, as the API shows it, into b:
 * conv is the text of the state the change's entry refers to (its
 * "conversation"); a message (the entry is not the state's own) gives it
 * its time and conversation seq as updated_at and last_seq, the text's
 * last two fields. The bytes are those of a cJSON parse and print of
 * the same object (the stored text is cJSON's or cv_json_text's). CV_ERROR
 * when conv is not such a text. */
cv_status cv_log_conv_text(const char *conv, size_t conv_len, int message,
    uint64_t conv_seq, int64_t created_ms, cv_json_text *b);

#endif
