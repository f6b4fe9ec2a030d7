/*
 * Webhooks: the endpoints integrators register (the REST API) or declare
 * (nginx.conf), and the deliveries of the event log's entries to them.
 *
 * Nothing is lost: every change appends its entry to the global event log
 * in its own transaction (cv_chat.h), and each endpoint is a cursor over
 * the log kept in the store. The sender (the module) reads the log after
 * the cursor (cv_webhook_window), sends each event's first attempt from
 * there, and settles the outcomes in batches (cv_webhook_settle): a 2xx
 * becomes a delivered record, a failure a pending delivery that retries
 * take from the store (cv_webhook_due, cv_webhook_record), and the cursor
 * moves past what is settled. A crash at any moment loses nothing and may
 * send again what was sent but not settled. Receivers tell a repeat by its
 * event id, the same on every attempt.
 *
 * Order: the deliveries of one conversation to one endpoint go one at a
 * time, in log order: a delivery waits (queued) while an older one of its
 * conversation is pending, and only the head of each conversation is due.
 * Different conversations go side by side. Delivered and failed are both
 * finished; a failed delivery lets the next one of its conversation go.
 *
 * Every query is served by an ordered index and costs what it answers
 * (storage in cv_webhooks_impl.h). Records are JSON (cJSON) where the API
 * shows them; callers own returned objects. What the sender reads on its
 * path comes as structs, without JSON.
 */
#ifndef CV_WEBHOOKS_H
#define CV_WEBHOOKS_H

#include "cv_store.h"
#include "cv_crypto.h"
#include "cv_url.h"

#include <cjson/cJSON.h>
#include <stdint.h>

/* "wh_" + 26 random base32 characters (API), or "wh_cfg_" + NAME (config:
 * NAME is 1 to CV_WEBHOOK_NAME_MAX of [A-Za-z0-9_-]), + NUL */
#define CV_WEBHOOK_ID_PREFIX      "wh_"
#define CV_WEBHOOK_CFG_PREFIX     "wh_cfg_"
#define CV_WEBHOOK_NAME_MAX       64
#define CV_WEBHOOK_ID_MAX         (sizeof(CV_WEBHOOK_CFG_PREFIX) - 1       \
                                   + CV_WEBHOOK_NAME_MAX + 1)

#define CV_WEBHOOK_URL_MAX        CV_URL_MAX

/* "whsec_" + standard base64 (padded) of the key: 32 random bytes for a
 * secret made here, 24 to 64 bytes for one a configuration brings */
#define CV_WEBHOOK_SECRET_PREFIX     "whsec_"
#define CV_WEBHOOK_SECRET_BYTES      32
#define CV_WEBHOOK_SECRET_MIN_BYTES  24
#define CV_WEBHOOK_SECRET_MAX_BYTES  64
#define CV_WEBHOOK_SECRET_STR     (sizeof(CV_WEBHOOK_SECRET_PREFIX) - 1     \
                                   + CV_BASE64_LEN(CV_WEBHOOK_SECRET_MAX_BYTES) \
                                   + 1)

#define CV_WEBHOOK_ERROR_MAX      1024    /* bytes of last_error kept */

/* how long a rotated secret keeps signing beside the new one (the API's
 * rotate-secret, and a configured secret that changed) */
#define CV_WEBHOOK_OVERLAP_MS     ((int64_t) 24 * 60 * 60 * 1000)

/* event types, as bits of an endpoint's events */
#define CV_WEBHOOK_CONVERSATION_CREATED   0x01u
#define CV_WEBHOOK_MESSAGE_CREATED        0x02u
#define CV_WEBHOOK_CONVERSATION_ASSIGNED  0x04u
#define CV_WEBHOOK_CONVERSATION_CLOSED    0x08u
/* what an endpoint may subscribe to: the four above */
#define CV_WEBHOOK_EVENTS_ALL             0x0fu
/* a test event goes to whoever asks for one, subscribed or not: it is no
 * part of CV_WEBHOOK_EVENTS_ALL */
#define CV_WEBHOOK_TEST                   0x10u

#define CV_WEBHOOK_EV_TEST        "webhook.test"

/* The bit of an event type's name ("message.created", "webhook.test"); 0
 * for an unknown name (conversation.unassigned, which the log has too). */
unsigned cv_webhook_event_bit(const char *name);

/* The name of one bit; NULL for anything else. */
const char *cv_webhook_event_name(unsigned bit);

/* "evt_" + base32 of 5 bytes of SHA-256("evt:" || the store's secret)
 * and the u64be log seq (21 characters), or of 16 random bytes for a test
 * (26 characters), + NUL */
#define CV_WEBHOOK_EVENT_ID_MAX   32

/* The event id of the log entry at log_seq: the same on every attempt and
 * for every endpoint, and another in another store (a store made anew
 * starts its log seqs again, with another secret). */
cv_status cv_webhook_event_id(cv_txn *t, uint64_t log_seq,
    char out[CV_WEBHOOK_EVENT_ID_MAX]);

/* A secret's key, for signing: the bytes its base64 holds; CV_INVALID
 * when secret is not "whsec_" + standard base64 (padded) of 24 to 64
 * bytes. */
cv_status cv_webhook_secret_key(const char *secret,
    unsigned char key[CV_WEBHOOK_SECRET_MAX_BYTES], size_t *len);


/* ------------------------------------------------------------ endpoints */

typedef struct {
    const char  *url;      /* checked here again with cv_url_parse() */
    unsigned     events;   /* bits of CV_WEBHOOK_EVENTS_ALL; 0: all */
    const char  *name;     /* NULL: an API endpoint; else a config
                              endpoint's NAME */
    const char  *secret;   /* NULL: make one (an API endpoint); a config
                              endpoint brings its own */
} cv_webhook_spec;

/*
 * An endpoint as the API shows it:
 *
 *   {"id":"wh_…","url":"https://…","events":["conversation.created",…],
 *    "status":"enabled"|"disabled","created_at":"…",
 *    "name":null|"NAME","source":"api"|"config",
 *    "disabled_reason":null|"gone"|"failing"|"api"}
 *
 * "events" lists every name when it has them all. The secret is shown
 * only by create and rotate ("secret":"whsec_…").
 *
 * Functions given an id that is no endpoint's answer CV_NOT_FOUND; the
 * ones that change an endpoint answer CV_FORBIDDEN for a config endpoint
 * (nginx.conf owns it), but for cv_webhook_disable().
 */

/* A new endpoint: its cursor is the log's end, so it gets the events after
 * its creation. CV_INVALID for a URL cv_url_parse() refuses, events
 * beyond CV_WEBHOOK_EVENTS_ALL, a name that is not one, or a secret that
 * is not one (or is missing for a name); CV_CONFLICT when the config
 * endpoint of that name exists. *out: the endpoint with its secret. */
cv_status cv_webhook_create(cv_txn *t, const cv_webhook_spec *spec,
    int64_t now, cJSON **out);

cv_status cv_webhook_get(cv_txn *t, const char *id, cJSON **out);

/* Every endpoint, API and config ones, in the order of their ids. */
cv_status cv_webhook_list(cv_txn *t, cJSON *items);

/*
 * Changes what is given: url (NULL: kept), events (when set_events; 0:
 * all), status (-1: kept, 0: disabled by the API, 1: enabled). New
 * events apply to the entries scanned from then on, not to deliveries
 * made. Enabling clears disabled_reason and the failing clock; the cursor
 * stays where it is, so the events while it was disabled go out then.
 * CV_INVALID as for create. *out (may be NULL): the endpoint.
 */
cv_status cv_webhook_update(cv_txn *t, const char *id, const char *url,
    int set_events, unsigned events, int status, cJSON **out);

/* Deletes the endpoint with its deliveries and their index entries, in
 * this transaction (as many writes as it has deliveries). */
cv_status cv_webhook_delete(cv_txn *t, const char *id);

/* A new secret; the one it replaces keeps signing beside it until
 * now + overlap_ms (a secret rotated before that is dropped: there is
 * one previous at most). *out: the endpoint with its new secret. */
cv_status cv_webhook_rotate(cv_txn *t, const char *id, int64_t now,
    int64_t overlap_ms, cJSON **out);

/* Disables an endpoint for the sender's reason: "gone" (a 410) or
 * "failing" (no success for too long); CV_INVALID for another. Config
 * endpoints too. One already disabled keeps its reason. */
cv_status cv_webhook_disable(cv_txn *t, const char *id, const char *reason);

/*
 * nginx.conf's endpoints, at every start and reload: each spec (name,
 * url, secret required) is upserted as "wh_cfg_" + name. A new one starts
 * at the log's end; one that exists keeps its cursor and its deliveries,
 * takes the url, events and secret given (a changed secret: the one it
 * replaces keeps signing for CV_WEBHOOK_OVERLAP_MS), and is enabled again
 * when its url or secret changed (a disabled one otherwise stays so: a
 * reload for another reason is no fix). Config endpoints no longer
 * declared are deleted with their deliveries. All specs are checked
 * first: CV_INVALID (nothing written) for one create would refuse, or
 * two of one name.
 */
cv_status cv_webhook_config_sync(cv_txn *t, const cv_webhook_spec *specs,
    size_t n, int64_t now);

/* What the sender needs of an enabled endpoint, without JSON. */
typedef struct {
    char      id[CV_WEBHOOK_ID_MAX];
    char      url[CV_WEBHOOK_URL_MAX + 1];
    unsigned  events;
    char      secret[CV_WEBHOOK_SECRET_STR];
    char      previous_secret[CV_WEBHOOK_SECRET_STR];   /* "": none */
    int64_t   previous_until_ms;   /* previous_secret signs until then */
    int64_t   failing_since_ms;    /* 0: its last attempt succeeded, or
                                      none failed since it was enabled */
    /* another value whenever the endpoint's record (url, events, secrets,
     * status) changes, from a store-wide counter: an endpoint deleted and
     * made again has another one too */
    uint64_t  generation;
    uint64_t  cursor;              /* log seq: every entry up to it is
                                      settled */
} cv_webhook_endpoint;

/* The enabled endpoints, in the order of their ids: *list is malloc'd
 * (free() it; NULL when *n is 0). */
cv_status cv_webhook_endpoints(cv_txn *t, cv_webhook_endpoint **list,
    size_t *n);


/* ----------------------------------------------------------- deliveries */

#define CV_DELIVERY_PENDING    0
#define CV_DELIVERY_DELIVERED  1
#define CV_DELIVERY_FAILED     2

/* "dlv_" + 13 characters of base32hex ("0-9a-v") of the dseq, fixed
 * width: ids sort as their dseqs, + NUL */
#define CV_DELIVERY_ID_MAX     18

/* A delivery's dseq: an event's is its log seq shifted by this many bits
 * (so the delivery of one event to one endpoint has one key, whoever
 * writes it, and ids sort in log order); a test's is one of the values
 * between, from a counter. */
#define CV_DELIVERY_SEQ_SHIFT  12

typedef struct {
    uint64_t  dseq;              /* per endpoint, increasing with the log */
    uint64_t  log_seq;           /* 0 for webhook.test */
    uint64_t  conv_key;          /* its conversation, 0 for webhook.test */
    char      id[CV_DELIVERY_ID_MAX];
    char      event_id[CV_WEBHOOK_EVENT_ID_MAX];
    unsigned  type;              /* the event's bit */
    char      conversation_id[CV_ID_MAX];   /* "" for webhook.test */
    unsigned  attempts;          /* made so far */
    int64_t   next_attempt_ms;
    int64_t   created_ms;
} cv_delivery;

/* The outcome of one attempt. */
typedef struct {
    int          delivered;        /* a 2xx */
    unsigned     status_code;      /* 0: no answer */
    const char  *error;            /* NULL: none */
    int64_t      attempt_ms;       /* when it started */
    int64_t      duration_ms;
    int64_t      next_attempt_ms;  /* not delivered: > 0 pending, due
                                      then; 0 failed */
} cv_delivery_result;

/*
 * Read transaction: the endpoint's events after the log seq after (the
 * sender's window starts at the endpoint's cursor), of its event types
 * only (other entries, like conversation.unassigned, are passed over),
 * looking at max entries at most, into out[0 .. *n): each as the delivery
 * it becomes (its dseq, event id, conversation; attempts 0). *last: the
 * log seq of the last entry looked at (after when none); *more: it
 * stopped at max before the log's end.
 */
cv_status cv_webhook_window(cv_txn *t, const char *id, uint64_t after,
    size_t max, cv_delivery *out, size_t *n, uint64_t *last, int *more);

/* One event of the window, settled: its first attempt's outcome, or NULL
 * for none (it waits behind an older pending delivery of its
 * conversation, or is made pending without an attempt). */
typedef struct {
    cv_delivery                d;
    const cv_delivery_result  *r;
} cv_settle_item;

/*
 * Write transaction: settles events of the window, in log order within a
 * conversation: a delivered one becomes a delivered record (no index
 * entries); a failed attempt a pending delivery due at its
 * next_attempt_ms (failed when that is 0); one without an attempt a
 * pending delivery, due at now or queued behind an older pending one of
 * its conversation. A delivery that is recorded already (sent again after
 * a crash, or by a worker that lost the lease) is left as it is. Then the
 * cursor moves to cursor, when that is further: the caller passes the
 * last log seq up to which every event is settled. The failing clock
 * follows the attempts, as cv_webhook_record's does.
 */
cv_status cv_webhook_settle(cv_txn *t, const char *id,
    const cv_settle_item *items, size_t n, uint64_t cursor, int64_t now);

/* Read transaction: *waits is 1 when the conversation conv_key (0: any
 * conversation) has a pending delivery in the store, which its later
 * events wait for. */
cv_status cv_webhook_waiting(cv_txn *t, const char *id, uint64_t conv_key,
    int *waits);

/*
 * Write transaction: the window's events after the cursor made into
 * pending deliveries (cv_webhook_window, then cv_webhook_settle of each
 * without an attempt, and the cursor past them). *made: deliveries made;
 * *more: it stopped at max before the log's end.
 */
cv_status cv_webhook_scan(cv_txn *t, const char *id, size_t max,
    int64_t now, size_t *made, int *more);

/*
 * Read transaction: the endpoint's due deliveries (next_attempt_ms <= now;
 * the heads of their conversations and tests), earliest due first (then
 * oldest), max at most, into out[0 .. *n), leaving out the dseqs of skip
 * (the sender's in flight). *next_due_ms: when the first of the rest is
 * due (<= now when max cut the answer short), 0 when none is pending and
 * released: the sender looks again then, or after its next settle or
 * outcome. These are the retries (and tests): first attempts go from the
 * window.
 */
cv_status cv_webhook_due(cv_txn *t, const char *id, int64_t now,
    const uint64_t *skip, size_t nskip, size_t max, cv_delivery *out,
    size_t *n, int64_t *next_due_ms);

/*
 * Read transaction: the request body of a delivery, made from the log
 * entry (which never changes): the same bytes on every attempt.
 *
 *   {"id":"evt_…","type":"message.created","created_at":"…",
 *    "data":{"conversation":{…,"customer_id":"cus_…",…,"seq":N},
 *            "message":{"id":"msg_…",…,"author":{…},"text":…}}}
 *
 * The conversation is as the API showed it at that event (status,
 * assigned_agent_id, updated_at, last_seq), with "seq": the event's seq in
 * the conversation (0 for conversation.created: it has no event of its
 * own). conversation.* events have no "message". A test:
 *
 *   {"id":"evt_…","type":"webhook.test","created_at":"…",
 *    "data":{"webhook_id":"wh_…"}}
 *
 * *json is malloc'd and NUL-terminated (free() it); CV_ERROR when the
 * log entry is missing or malformed.
 */
cv_status cv_webhook_payload(cv_txn *t, const char *id,
    const cv_delivery *d, char **json, size_t *len);

/*
 * Read transaction: CV_OK while the delivery's event is still in the log
 * (a test always is), CV_NOT_FOUND once purged or erased. A sender that
 * keeps bodies in memory asks before each attempt: an erased customer's
 * queued events must never go out.
 */
cv_status cv_webhook_event_present(cv_txn *t, const cv_delivery *d);

/*
 * Write transaction: records an attempt of a due delivery. Delivered and
 * failed finish it (at attempt_ms + duration_ms), and the next queued
 * delivery of its conversation is due then; otherwise it stays pending,
 * due at next_attempt_ms. The endpoint's failing clock starts at the
 * first failed attempt since a success (or since it was enabled) and
 * stops at a success. last_error keeps CV_WEBHOOK_ERROR_MAX bytes of
 * error at most, cut where a UTF-8 character starts (an error that is not
 * UTF-8 keeps its ASCII, with '?' for every other byte). CV_NOT_FOUND for
 * an unknown delivery;
 * CV_CONFLICT for one that is finished or queued (it was not due).
 */
cv_status cv_webhook_record(cv_txn *t, const char *id, uint64_t dseq,
    const cv_delivery_result *r);

/* Write transaction: a webhook.test delivery (a random event id, no
 * conversation), due at now; on a disabled endpoint it waits until the
 * endpoint is enabled. *out: as the listing shows it. */
cv_status cv_webhook_test(cv_txn *t, const char *id, int64_t now,
    cJSON **out);

/*
 * Read transaction: the endpoint's deliveries, newest first, of a status
 * (-1: any), limit at most, into items, each
 *
 *   {"id":"dlv_…","event_id":"evt_…","event_type":"message.created",
 *    "status":"pending"|"delivered"|"failed","attempts":N,
 *    "last_attempt_at":"…"|null,"next_attempt_at":"…"|null,
 *    "last_status_code":N|null,"last_error":"…"|null,
 *    "duration_ms":N|null,"created_at":"…"}
 *
 * (next_attempt_at is null but for a pending delivery that is due or
 * waits for its next attempt; a queued one waits for its conversation).
 * cursor: 0 from the newest, else the ones older than the delivery of that
 * dseq; *next: the cursor of the next page, 0 when there is none.
 * Delivered ones have no index: their page looks at CV_DELIVERY_SCAN_MAX
 * deliveries at most, and may come short (even empty) with a next cursor.
 */
#define CV_DELIVERY_SCAN_MAX   1000

cv_status cv_webhook_deliveries(cv_txn *t, const char *id, int status,
    uint64_t cursor, size_t limit, cJSON *items, uint64_t *next);

/* The time of the oldest event some enabled endpoint has not had
 * delivered yet (the first after its cursor, or its oldest pending
 * delivery), 0 when there is none: a few lookups per endpoint (metrics).
 * Disabled endpoints keep their events on purpose and are not counted. */
cv_status cv_webhook_oldest_undelivered(cv_txn *t, int64_t *oldest_ms);

/* A delivery id's dseq; CV_NOT_FOUND when it is not one. */
cv_status cv_delivery_id_parse(const char *delivery_id, uint64_t *dseq);

/*
 * Write transaction: a failed delivery pending again, due at now (it goes
 * out at once, even before later events of its conversation that are
 * pending and due; those that are still queued wait for it). A pending one
 * that is due or waits for its next attempt is due at now; a queued one
 * stays queued (it goes in its turn). Its attempts keep counting.
 * CV_NOT_FOUND for an unknown delivery; CV_CONFLICT for a delivered one.
 * *out (may be NULL): as the listing shows it.
 */
cv_status cv_webhook_retry(cv_txn *t, const char *id,
    const char *delivery_id, int64_t now, cJSON **out);

/* Write transaction, in the background: deletes finished deliveries of
 * every endpoint that finished before before_ms, max at most (small
 * transactions, again until *pruned < max): failed ones oldest first,
 * delivered ones in each endpoint's order (its oldest events first). */
cv_status cv_webhook_prune(cv_txn *t, int64_t before_ms, size_t max,
    size_t *pruned);

#endif
