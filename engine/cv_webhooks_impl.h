/*
 * Webhooks' storage, for cv_webhooks.c (endpoints) and cv_deliveries.c
 * only. Every u64be sorts as a number; a time is UTC ms as a u64be (never
 * negative). "id" is an endpoint id; "id NUL" ends it, so that one
 * endpoint's keys are a range no other id's prefix reaches into.
 *
 * CV_DB_WEBHOOKS, an endpoint: id -> JSON, what the API shows and "keys":
 *
 *   {"id":"wh_…","url":"https://…","events":["message.created"],
 *    "status":"enabled","created_at":"…","name":null,"source":"api",
 *    "disabled_reason":null,
 *    "keys":{"secret":"whsec_…","previous_secret":null|"whsec_…",
 *            "previous_until_ms":N}}
 *
 * CV_DB_WEBHOOK_STATE, what changes with the sender's work: id ->
 * CV_WH_STATE_LEN bytes:
 *
 *   0  u64be cursor            log seq: every entry up to it is settled
 *                              (a delivery made of it, or passed over)
 *   8  u64be next_dseq         the least dseq of the next test delivery
 *  16  u64be failing_since_ms  0: not failing
 *  24  u64be generation        set at every write of the JSON record
 *  32  u32be events            the record's events, as bits, for the scan
 *  36  4 bytes of zeros
 *
 * CV_DB_DELIVERIES, a delivery: id NUL u64be dseq -> a CV_DLV_HDR-byte
 * header, then event_id, conversation_id and last_error, back to back:
 *
 *   0  u64be log_seq           0: webhook.test
 *   8  u64be conv_key          its conversation's creation in the log
 *                              (cv_log_impl.h), 0: none
 *  16  u64be created_ms
 *  24  u64be next_attempt_ms   pending and not queued: when it is due
 *                              (its key in CV_DB_DELIVERY_DUE); else 0
 *  32  u64be last_attempt_ms   0: no attempt yet
 *  40  u64be finished_ms       delivered or failed: when; else 0
 *  48  u64be duration_ms       of the last attempt
 *  56  u32be type              the event's bit
 *  60  u32be attempts
 *  64  u32be status_code       of the last attempt, 0: no answer
 *  68  u8    status            CV_DELIVERY_PENDING, _DELIVERED, _FAILED
 *  69  u8    queued            1: waits behind an older pending delivery
 *                              of its conversation (not in DUE)
 *  70  u8    event_id_len
 *  71  u8    conversation_id_len
 *  72  u16be error_len         0: no last_error
 *  74  2 bytes of zeros
 *
 * Its indexes: the key is all, the value empty. A delivery is in each one
 * whose condition it meets, and cv_dlv_put() keeps it so at every change:
 *
 *   CV_DB_DELIVERY_DUE       id NUL u64be next_attempt_ms u64be dseq
 *                            pending and not queued: what may go, by time
 *   CV_DB_DELIVERY_QUEUE     id NUL u64be conv_key u64be dseq
 *                            pending, of a conversation: its first is the
 *                            oldest, which the others wait for
 *   CV_DB_DELIVERY_STATUS    id NUL u8 status u64be dseq
 *                            pending and failed: the listing by status
 *   CV_DB_DELIVERY_FINISHED  u64be finished_ms id NUL u64be dseq
 *                            failed: pruning, oldest first
 *
 * A delivered one is the record alone (most deliveries are: a first
 * attempt that succeeds writes one B-tree entry); its listing and pruning
 * walk the endpoint's records, which are in log order.
 *
 * A pending conversation's queue always holds one delivery that is not
 * queued (the scan queues a delivery only behind one, and finishing one
 * releases the first of the rest when it is queued), so nothing waits for
 * ever.
 */
#ifndef CV_WEBHOOKS_IMPL_H
#define CV_WEBHOOKS_IMPL_H

#include "cv_webhooks.h"
#include "cv_store_impl.h"

/* the endpoint state's fields */
enum {
    CV_WH_OFF_CURSOR = 0,
    CV_WH_OFF_NEXT_DSEQ = 8,
    CV_WH_OFF_FAILING = 16,
    CV_WH_OFF_GENERATION = 24,
    CV_WH_OFF_EVENTS = 32,
    CV_WH_STATE_LEN = 40
};

/* the delivery header's fields */
enum {
    CV_DLV_OFF_LOG_SEQ = 0,
    CV_DLV_OFF_CONV_KEY = 8,
    CV_DLV_OFF_CREATED = 16,
    CV_DLV_OFF_NEXT = 24,
    CV_DLV_OFF_LAST = 32,
    CV_DLV_OFF_FINISHED = 40,
    CV_DLV_OFF_DURATION = 48,
    CV_DLV_OFF_TYPE = 56,
    CV_DLV_OFF_ATTEMPTS = 60,
    CV_DLV_OFF_STATUS_CODE = 64,
    CV_DLV_OFF_STATUS = 68,
    CV_DLV_OFF_QUEUED = 69,
    CV_DLV_OFF_EVENT_ID_LEN = 70,
    CV_DLV_OFF_CONV_ID_LEN = 71,
    CV_DLV_OFF_ERROR_LEN = 72,
    CV_DLV_HDR = 76
};

_Static_assert(CV_WH_STATE_LEN == CV_WH_OFF_EVENTS + 2 * CV_U32BE_LEN
               && CV_DLV_OFF_TYPE == CV_DLV_OFF_DURATION + CV_U64BE_LEN
               && CV_DLV_HDR == CV_DLV_OFF_ERROR_LEN + 2 * sizeof(uint16_t),
               "the stored layouts do not change");

/* the longest key: a time, an id, NUL and two u64s */
#define CV_WH_KEY_MAX  (CV_WEBHOOK_ID_MAX + 3 * CV_U64BE_LEN + 1)

/* the endpoint's state, decoded */
typedef struct {
    uint64_t  cursor;
    uint64_t  next_dseq;
    int64_t   failing_since_ms;
    uint64_t  generation;
    unsigned  events;
} cv_wh_state;

/* CV_NOT_FOUND when the endpoint has none (there is no such endpoint);
 * CV_ERROR when it is malformed */
cv_status cv_wh_state_get(cv_txn *t, const char *id, cv_wh_state *s);
cv_status cv_wh_state_put(cv_txn *t, const char *id, const cv_wh_state *s);

/* the id's length with its NUL: 0 when it is no endpoint id's shape */
size_t cv_wh_id_len(const char *id);

/* deletes the pending deliveries of a conversation (its log key, cv_log_impl.h)
 * for every endpoint, adding how many to *deleted: its events were purged */
cv_status cv_wh_forget_conversation(cv_txn *t, uint64_t conv_key,
    size_t *deleted);

/* deletes every delivery of the endpoint and their index entries */
cv_status cv_wh_deliveries_drop(cv_txn *t, const char *id);

#endif
