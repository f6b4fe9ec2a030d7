/*
 * The indexes, for the engine's model files only: what answers a question
 * in the time of its answer, not of the store's history. Each is kept in
 * the same transaction as the records it indexes (a conversation's entries
 * move in cv_conv_rec_put(), an event's entry is written with it), and all
 * live in one database, CV_DB_INDEX, whose keys start with a byte that
 * names their index:
 *
 *   'S' status ~order conv_id        -> (empty)   conversations by status,
 *                                                 newest first
 *   'L' status agent NUL ~order conv_id -> (empty) the same per assigned
 *                                                 agent ("" for none)
 *   'N' agent                        -> u32be     open conversations
 *                                                 assigned to agent (no
 *                                                 key: none; 'N' alone:
 *                                                 the unassigned ones)
 *   'E' conv_key seq                 -> u64be     a conversation's event
 *                                                 seq -> its log seq, for
 *                                                 every CV_IX_EVENTS_EVERY-th
 *                                                 seq: where a walk back
 *                                                 along its chain starts
 *
 * status is one byte, 'o' (open) or 'c' (closed); order is the log seq of
 * the conversation's creation (cv_conv_rec_order: no message moves an
 * entry, only a change of status or agent), written as the big-endian u64
 * UINT64_MAX - order so that a forward range read gives the newest first; conv_key is the log seq of the conversation's creation
 * (cv_conv_rec.key), seq the event's seq in its conversation, both u64be.
 * A new index takes a new first byte (documented here and in
 * docs/architecture.md); the schema version 3 migration builds every
 * index from the records (cv_index_build).
 */
#ifndef CV_INDEX_H
#define CV_INDEX_H

#include "cv_conv_record.h"

#define CV_IX_STATUS      'S'
#define CV_IX_LIST        'L'
#define CV_IX_OPEN_COUNT  'N'
#define CV_IX_EVENTS      'E'

#define CV_IX_OPEN        'o'
#define CV_IX_CLOSED      'c'

/* A conversation's events are chained backwards from its last one
 * (cv_log_impl.h); every this many seqs, the index says where the event
 * of that seq is, so reading from any cursor walks back fewer than this
 * many events besides those it reads, and a message adds an entry only
 * once in so many (an entry per message would cost a page per
 * conversation per commit) */
#define CV_IX_EVENTS_EVERY  64

/* Moves the entries of conversation id from rec->indexed (nothing when
 * its order is 0: a new one) to what rec is now; rec->indexed follows. */
cv_status cv_conv_index_move(cv_txn *t, const char *id, cv_conv_rec *rec);

/* Removes every entry of the conversation of rec, events too (for a
 * conversation that goes away). */
cv_status cv_conv_index_remove(cv_txn *t, const char *id,
    const cv_conv_rec *rec);

/* The event seq (a multiple of CV_IX_EVENTS_EVERY) of the conversation
 * conv_key is at log seq g. */
cv_status cv_index_event_put(cv_txn *t, uint64_t conv_key, uint64_t seq,
    uint64_t g);

/* The first indexed event of the conversation at or after seq from: its
 * seq and log seq; CV_NOT_FOUND when there is none. */
cv_status cv_index_event_find(cv_txn *t, uint64_t conv_key, uint64_t from,
    uint64_t *seq, uint64_t *g);

/* open conversations assigned to an agent ("": the unassigned ones) */
cv_status cv_index_open_count(cv_txn *t, const char *agent_id,
    uint32_t *count);

/* every open conversation: the sum of the 'N' keys, one read per agent
 * with open conversations (metrics) */
cv_status cv_index_open_total(cv_txn *t, uint64_t *total);

/* Write transaction: counts the unassigned open conversations from the
 * list 'L' 'o' "" (what is open, not the history) into the key 'N' alone,
 * and records CV_KEY_UNASSIGNED_COUNTED in CV_DB_META. Stores of schema 3
 * made before that key was kept get it at open (cv_store.c), and every
 * start with no other process in the store counts again. */
#define CV_KEY_UNASSIGNED_COUNTED  "ix_unassigned_counted"

cv_status cv_index_count_unassigned(cv_txn *t);

/* each(data, conv_id, order) for conversations newest first, of a
 * status (NULL: open and closed, merged) and an agent (NULL: any, "":
 * none), whose order is below before (0: no bound), until it sets *stop */
typedef cv_status (*cv_index_conv_pt)(void *data, const char *conv_id,
    uint64_t order, int *stop);

cv_status cv_index_conversations(cv_txn *t, const char *status,
    const char *agent_id, uint64_t before, cv_index_conv_pt each,
    void *data);

/* Builds every index of a store of schema version 2 and records version
 * 3, in transactions of a bounded size, resuming where a run that stopped
 * left off (cv_store.c calls it at open). */
cv_status cv_index_build(cv_store *st, char *err, size_t errlen);

#endif
