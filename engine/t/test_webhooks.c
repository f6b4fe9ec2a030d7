/* Unit tests of webhook endpoints and deliveries (engine/cv_webhooks.c,
 * engine/cv_deliveries.c) over a real event log. */
#define _POSIX_C_SOURCE 200809L

#include "cv_webhooks.h"
#include "cv_chat.h"
#include "cv_time.h"
#include "cv_utf8.h"
#include "fixture.h"

#include <stdlib.h>
#include <string.h>

#define T0      ((int64_t) 1800000000000)     /* the tests' clock starts */
#define URL     "https://hooks.example.com/chat"
#define SECRET  "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"   /* 24 bytes */
#define MANY    64

static cv_store  *st;

static cv_author  agent = { "agent", "ag-1", "Ann" };
static cv_author  agent2 = { "agent", "ag-2", "Bob" };
static cv_author  bot = { "system", NULL, NULL };


static cv_txn *
begin(int write)
{
    cv_txn  *t;

    if (cv_txn_begin(st, write, &t) != CV_OK) {
        printf("Bail out! cv_txn_begin\n");
        exit(1);
    }

    return t;
}


static void
commit(cv_txn *t)
{
    if (cv_txn_commit(t) != CV_OK) {
        printf("Bail out! cv_txn_commit\n");
        exit(1);
    }
}


static int
is_null(const cJSON *o, const char *name)
{
    return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, name));
}


/* a new endpoint in its own transaction; its id into id */
static cv_status
endpoint(const char *url, unsigned events, const char *name,
    const char *secret, char id[CV_WEBHOOK_ID_MAX], cJSON **out)
{
    cv_txn           *t;
    cJSON            *o;
    cv_status         s;
    cv_webhook_spec   spec = { url, events, name, secret };

    t = begin(1);
    s = cv_webhook_create(t, &spec, T0, &o);

    if (s == CV_OK) {
        snprintf(id, CV_WEBHOOK_ID_MAX, "%s", str(o, "id"));
        commit(t);

        if (out) {
            *out = o;
        } else {
            cJSON_Delete(o);
        }

    } else {
        cv_txn_abort(t);
    }

    return s;
}


/* a message; a customer's opens their conversation, whose id goes into
 * conv then */
static void
say(const char *conv, const char *cus, const cv_author *a, const char *text,
    char out_conv[CV_ID_MAX])
{
    cv_txn      *t;
    cv_message   m;

    t = begin(1);

    if (cv_message_post(t, conv, cus, a, NULL, text, NULL, &m) != CV_OK) {
        printf("Bail out! cv_message_post\n");
        exit(1);
    }

    if (out_conv) {
        strcpy(out_conv, m.conversation_id);
    }

    cv_message_clear(&m);
    commit(t);
}


/* a new customer's first message: the conversation's id into conv */
static void
open_conv(char cus[CV_ID_MAX], char conv[CV_ID_MAX])
{
    cv_txn     *t;
    cv_author   visitor = { "customer", NULL, NULL };

    t = begin(1);
    cv_customer_create(t, cus);
    commit(t);

    visitor.id = cus;
    say(NULL, cus, &visitor, "Hello", conv);
}


static size_t
scan(const char *id, size_t max, int64_t now, int *more)
{
    cv_txn     *t;
    size_t      made;
    int         m;
    cv_status   s;

    t = begin(1);
    s = cv_webhook_scan(t, id, max, now, &made, more ? more : &m);
    commit(t);

    return s == CV_OK ? made : (size_t) -1;
}


static cv_status
due(const char *id, int64_t now, const uint64_t *skip, size_t nskip,
    size_t max, cv_delivery *out, size_t *n, int64_t *next)
{
    cv_txn     *t;
    cv_status   s;

    t = begin(0);
    s = cv_webhook_due(t, id, now, skip, nskip, max, out, n, next);
    cv_txn_abort(t);

    return s;
}


static cv_status
record(const char *id, uint64_t dseq, int delivered, int64_t at,
    int64_t next, unsigned code, const char *error)
{
    cv_txn               *t;
    cv_status             s;
    cv_delivery_result    r;

    r.delivered = delivered;
    r.status_code = code;
    r.error = error;
    r.attempt_ms = at;
    r.duration_ms = 7;
    r.next_attempt_ms = next;

    t = begin(1);
    s = cv_webhook_record(t, id, dseq, &r);

    if (s == CV_OK) {
        commit(t);
    } else {
        cv_txn_abort(t);
    }

    return s;
}


/* the enabled endpoint id as the sender sees it; 0 when it is not */
static int
sender_view(const char *id, cv_webhook_endpoint *out)
{
    cv_txn               *t;
    cv_webhook_endpoint  *list;
    size_t                n, i;
    int                   found;

    t = begin(0);
    found = 0;

    if (cv_webhook_endpoints(t, &list, &n) == CV_OK) {
        for (i = 0; i < n; i++) {
            if (strcmp(list[i].id, id) == 0) {
                *out = list[i];
                found = 1;
            }
        }
        free(list);
    }

    cv_txn_abort(t);
    return found;
}


/* deliveries of id listed by status (-1 any), all pages of page */
static cJSON *
listing(const char *id, int status, size_t page, size_t *pages)
{
    cv_txn     *t;
    cJSON      *items;
    uint64_t    cursor, next;

    t = begin(0);
    items = cJSON_CreateArray();
    cursor = 0;
    *pages = 0;

    do {
        if (cv_webhook_deliveries(t, id, status, cursor, page, items, &next)
            != CV_OK)
        {
            cJSON_Delete(items);
            items = NULL;
            break;
        }
        (*pages)++;
        cursor = next;
    } while (next);

    cv_txn_abort(t);
    return items;
}


/* an event's dseq: its low bits are zero (a test's are not) */
static uint64_t
d_of(uint64_t dseq)
{
    return dseq >> CV_DELIVERY_SEQ_SHIFT << CV_DELIVERY_SEQ_SHIFT;
}


/* id's deliveries, oldest first, from 1: their dseqs into ds and their ids
 * into ids (either may be NULL); how many */
static size_t
oldest_first(const char *id, uint64_t *ds, char (*ids)[CV_DELIVERY_ID_MAX])
{
    cJSON     *items, *it;
    size_t     pages, n, k;
    uint64_t   dseq;

    items = listing(id, -1, 100, &pages);
    n = items ? (size_t) cJSON_GetArraySize(items) : 0;

    for (k = 1; k <= n && k < MANY; k++) {
        it = cJSON_GetArrayItem(items, (int) (n - k));
        dseq = 0;
        cv_delivery_id_parse(str(it, "id"), &dseq);

        if (ds) {
            ds[k] = dseq;
        }

        if (ids) {
            snprintf(ids[k], CV_DELIVERY_ID_MAX, "%s", str(it, "id"));
        }
    }

    cJSON_Delete(items);
    return n;
}


/* entries of a database (all endpoints') */
static size_t
entries(int db)
{
    cv_txn      *t;
    MDB_stat     ms;

    t = begin(0);
    mdb_stat(t->txn, t->store->dbi[db], &ms);
    cv_txn_abort(t);

    return ms.ms_entries;
}


/* the payload of d, parsed; its text into text when not NULL */
static cJSON *
payload(const char *id, const cv_delivery *d, char **text)
{
    cv_txn   *t;
    char     *json;
    size_t    len;
    cJSON    *p;

    t = begin(0);
    p = NULL;

    if (cv_webhook_payload(t, id, d, &json, &len) == CV_OK) {
        p = (len == strlen(json)) ? cJSON_Parse(json) : NULL;
        if (text) {
            *text = json;
        } else {
            free(json);
        }
    }

    cv_txn_abort(t);
    return p;
}


/* whether key holds s */
static int
contains(const MDB_val *key, const char *s)
{
    size_t  i, n = strlen(s);

    for (i = 0; i + n <= key->mv_size; i++) {
        if (memcmp((const char *) key->mv_data + i, s, n) == 0) {
            return 1;
        }
    }

    return 0;
}


/* ---------------------------------------------------------------------- */

static void
test_existing_store(void)
{
    static const char  *added[] = { "webhooks", "webhook_state", "deliveries",
                                    "delivery_due", "delivery_queue",
                                    "delivery_status", "delivery_finished" };
    MDB_env   *env;
    MDB_txn   *txn;
    MDB_dbi    dbi;
    size_t     i;
    int        rc, gone;
    char       id[CV_WEBHOOK_ID_MAX];
    uint32_t   version;
    char       err[256];

    /* a store of this schema from before webhooks: without their
     * databases */
    cv_store_close(st);

    rc = mdb_env_create(&env);
    mdb_env_set_maxdbs(env, CV_STORE_MAX_DBS);
    rc = rc ? rc : mdb_env_open(env, fx_opt.path, MDB_NOTLS, 0600);
    rc = rc ? rc : mdb_txn_begin(env, NULL, 0, &txn);

    for (i = 0; rc == 0 && i < sizeof(added) / sizeof(added[0]); i++) {
        rc = mdb_dbi_open(txn, added[i], 0, &dbi);
        rc = rc ? rc : mdb_drop(txn, dbi, 1);
    }

    rc = rc ? rc : mdb_txn_commit(txn);

    gone = 0;
    if (rc == 0 && mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
        gone = mdb_dbi_open(txn, "webhooks", 0, &dbi) == MDB_NOTFOUND;
        mdb_txn_abort(txn);
    }

    mdb_env_close(env);
    ok(rc == 0 && gone, "the webhook databases are taken out (%s)",
       mdb_strerror(rc));

    st = fx_store_reopen();
    ok(cv_store_schema_version(st, &version, err, sizeof(err)) == CV_OK
       && version == CV_STORE_SCHEMA_VERSION,
       "it opens, still of its schema version");
    ok(endpoint(URL, 0, NULL, NULL, id, NULL) == CV_OK,
       "and its webhook databases are made on opening");
}


static void
test_names(void)
{
    static const char  *names[] = { "conversation.created",
                                    "message.created",
                                    "conversation.assigned",
                                    "conversation.closed", "webhook.test" };
    size_t    i;
    unsigned  all;
    int       fine;

    all = 0;
    fine = 1;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        unsigned  bit = cv_webhook_event_bit(names[i]);

        fine &= bit != 0 && (bit & (bit - 1)) == 0 && !(all & bit)
                && strcmp(cv_webhook_event_name(bit), names[i]) == 0;
        all |= bit;
    }

    ok(fine && all == (CV_WEBHOOK_EVENTS_ALL | CV_WEBHOOK_TEST)
       && !(CV_WEBHOOK_EVENTS_ALL & CV_WEBHOOK_TEST),
       "five event types, one bit each, named both ways");
    ok(cv_webhook_event_bit("conversation.unassigned") == 0
       && cv_webhook_event_bit("") == 0
       && cv_webhook_event_name(0) == NULL
       && cv_webhook_event_name(CV_WEBHOOK_EVENTS_ALL) == NULL,
       "unknown names and bits");
}


static void
test_secrets(void)
{
    unsigned char  key[CV_WEBHOOK_SECRET_MAX_BYTES];
    char           s[CV_WEBHOOK_SECRET_STR + 8];
    size_t         len;

    ok(cv_webhook_secret_key(SECRET, key, &len) == CV_OK && len == 24,
       "a configured secret's key: 24 bytes, the fewest");

    /* 64 bytes: the longest; 65 are too many, 23 too few */
    strcpy(s, "whsec_");
    memset(s + 6, 'A', 86);
    strcpy(s + 6 + 86, "==");
    ok(cv_webhook_secret_key(s, key, &len) == CV_OK && len == 64
       && strlen(s) + 1 == CV_WEBHOOK_SECRET_STR,
       "64 bytes fill CV_WEBHOOK_SECRET_STR");
    strcpy(s + 6 + 86, "AAA=");
    ok(cv_webhook_secret_key(s, key, &len) == CV_INVALID, "65 are too many");
    strcpy(s + 6, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==");
    ok(cv_webhook_secret_key(s, key, &len) == CV_INVALID, "22 too few");

    ok(cv_webhook_secret_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, &len)
       == CV_INVALID
       && cv_webhook_secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", key,
                                &len) == CV_INVALID
       && cv_webhook_secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa-w",
                                key, &len) == CV_INVALID
       && cv_webhook_secret_key(NULL, key, &len) == CV_INVALID,
       "no prefix, a cut group, base64url and none are refused");
}


static void
test_endpoints(void)
{
    char                  id[CV_WEBHOOK_ID_MAX], id2[CV_WEBHOOK_ID_MAX];
    char                  secret[CV_WEBHOOK_SECRET_STR];
    unsigned char         key[CV_WEBHOOK_SECRET_MAX_BYTES];
    size_t                len;
    uint64_t              g;
    cv_txn               *t;
    cJSON                *o, *items, *ev;
    cv_webhook_endpoint   e, e2;

    ok(endpoint("ftp://x/", 0, NULL, NULL, id, NULL) == CV_INVALID
       && endpoint(NULL, 0, NULL, NULL, id, NULL) == CV_INVALID
       && endpoint(URL, CV_WEBHOOK_TEST, NULL, NULL, id, NULL) == CV_INVALID
       && endpoint(URL, 0x100, NULL, NULL, id, NULL) == CV_INVALID
       && endpoint(URL, 0, NULL, "whsec_short", id, NULL) == CV_INVALID
       && endpoint(URL, 0, "a b", SECRET, id, NULL) == CV_INVALID
       && endpoint(URL, 0, "", SECRET, id, NULL) == CV_INVALID
       && endpoint(URL, 0, "named", NULL, id, NULL) == CV_INVALID,
       "create refuses a bad URL, events, secret or name, and a name "
       "without a secret");

    ok(endpoint(URL, 0, NULL, NULL, id, &o) == CV_OK
       && strncmp(id, "wh_", 3) == 0 && strlen(id) == 3 + 26,
       "an API endpoint: %s", id);
    ok(strcmp(str(o, "url"), URL) == 0 && strcmp(str(o, "status"), "enabled")
       == 0 && strcmp(str(o, "source"), "api") == 0 && is_null(o, "name")
       && is_null(o, "disabled_reason") && str(o, "created_at")
       && cJSON_GetArraySize(cJSON_GetObjectItem(o, "events")) == 4
       && cJSON_GetObjectItem(o, "keys") == NULL,
       "its record: enabled, from the API, all four events");
    snprintf(secret, sizeof(secret), "%s", str(o, "secret"));
    ok(strncmp(secret, "whsec_", 6) == 0 && strlen(secret) == 6 + 44
       && secret[6 + 43] == '='
       && cv_webhook_secret_key(secret, key, &len) == CV_OK && len == 32,
       "its secret, shown once: whsec_ + base64 of 32 bytes");
    cJSON_Delete(o);

    t = begin(0);
    ok(cv_webhook_get(t, id, &o) == CV_OK && str(o, "secret") == NULL
       && cJSON_GetObjectItem(o, "keys") == NULL
       && strcmp(str(o, "id"), id) == 0, "get shows no secret");
    cJSON_Delete(o);
    ok(cv_webhook_get(t, "wh_none", &o) == CV_NOT_FOUND
       && cv_webhook_get(t, "conv_x", &o) == CV_NOT_FOUND
       && cv_webhook_get(t, NULL, &o) == CV_NOT_FOUND,
       "unknown ids are not found");
    cv_txn_abort(t);

    ok(sender_view(id, &e) && strcmp(e.url, URL) == 0
       && strcmp(e.secret, secret) == 0 && e.previous_secret[0] == '\0'
       && e.events == CV_WEBHOOK_EVENTS_ALL && e.failing_since_ms == 0
       && e.generation > 0, "the sender sees it enabled, with its secret");

    ok(endpoint("http://other.example/", CV_WEBHOOK_MESSAGE_CREATED, NULL,
                SECRET, id2, NULL) == CV_OK, "a second one, of its own "
       "secret and one event type");

    t = begin(0);
    items = cJSON_CreateArray();
    ok(cv_webhook_list(t, items) == CV_OK && cJSON_GetArraySize(items) >= 2
       && strcmp(str(cJSON_GetArrayItem(items, 0), "id"),
                 str(cJSON_GetArrayItem(items, 1), "id")) < 0,
       "list: every endpoint, by id");
    cJSON_Delete(items);
    cv_txn_abort(t);

    /* update */
    t = begin(1);
    ok(cv_webhook_update(t, id, "nope", 0, 0, -1, NULL) == CV_INVALID
       && cv_webhook_update(t, id, NULL, 1, CV_WEBHOOK_TEST, -1, NULL)
          == CV_INVALID
       && cv_webhook_update(t, id, NULL, 0, 0, 2, NULL) == CV_INVALID
       && cv_webhook_update(t, "wh_none", NULL, 0, 0, 0, NULL)
          == CV_NOT_FOUND, "update refuses bad values, and unknown ids");
    ok(cv_webhook_update(t, id, NULL, 0, 0, -1, &o) == CV_OK, "a no-op");
    cJSON_Delete(o);
    commit(t);
    ok(sender_view(id, &e2) && e2.generation == e.generation,
       "changes no generation");

    t = begin(1);
    ok(cv_webhook_update(t, id, "https://new.example/h", 1,
                         CV_WEBHOOK_MESSAGE_CREATED
                         | CV_WEBHOOK_CONVERSATION_CLOSED, -1, &o) == CV_OK
       && strcmp(str(o, "url"), "https://new.example/h") == 0
       && cJSON_GetArraySize(ev = cJSON_GetObjectItem(o, "events")) == 2
       && strcmp(cJSON_GetArrayItem(ev, 0)->valuestring, "message.created")
          == 0, "update: url and events");
    cJSON_Delete(o);
    commit(t);
    ok(sender_view(id, &e2) && e2.generation > e.generation
       && e2.events == (CV_WEBHOOK_MESSAGE_CREATED
                        | CV_WEBHOOK_CONVERSATION_CLOSED)
       && strcmp(e2.url, "https://new.example/h") == 0,
       "the sender sees them, with a new generation");
    g = e2.generation;

    t = begin(1);
    ok(cv_webhook_update(t, id, NULL, 1, 0, 0, &o) == CV_OK
       && strcmp(str(o, "status"), "disabled") == 0
       && strcmp(str(o, "disabled_reason"), "api") == 0
       && cJSON_GetArraySize(cJSON_GetObjectItem(o, "events")) == 4,
       "disabled by the API; events 0 is all again");
    cJSON_Delete(o);
    commit(t);
    ok(!sender_view(id, &e2), "the sender no longer sees it");

    t = begin(1);
    ok(cv_webhook_update(t, id, NULL, 0, 0, 1, &o) == CV_OK
       && strcmp(str(o, "status"), "enabled") == 0
       && is_null(o, "disabled_reason"), "enabled again: no reason");
    cJSON_Delete(o);
    commit(t);
    ok(sender_view(id, &e2) && e2.generation > g, "and seen again");

    /* rotate */
    t = begin(1);
    ok(cv_webhook_rotate(t, id, T0, CV_WEBHOOK_OVERLAP_MS, &o) == CV_OK
       && str(o, "secret") && strcmp(str(o, "secret"), secret) != 0
       && cv_webhook_secret_key(str(o, "secret"), key, &len) == CV_OK,
       "rotate: a new secret, shown");
    commit(t);
    ok(sender_view(id, &e2) && strcmp(e2.secret, str(o, "secret")) == 0
       && strcmp(e2.previous_secret, secret) == 0
       && e2.previous_until_ms == T0 + CV_WEBHOOK_OVERLAP_MS,
       "the old one signs beside it for 24 hours");
    snprintf(secret, sizeof(secret), "%s", str(o, "secret"));
    cJSON_Delete(o);

    t = begin(1);
    ok(cv_webhook_rotate(t, id, T0 + 1, 5, NULL) == CV_OK, "rotate again");
    commit(t);
    ok(sender_view(id, &e2) && strcmp(e2.previous_secret, secret) == 0
       && e2.previous_until_ms == T0 + 6, "only the last one is kept");

    /* disabled by the sender */
    t = begin(1);
    ok(cv_webhook_disable(t, id, "tired") == CV_INVALID
       && cv_webhook_disable(t, id, NULL) == CV_INVALID
       && cv_webhook_disable(t, "wh_none", "gone") == CV_NOT_FOUND,
       "disable: only gone or failing, of an endpoint");
    ok(cv_webhook_disable(t, id, "gone") == CV_OK
       && cv_webhook_disable(t, id, "failing") == CV_OK
       && cv_webhook_get(t, id, &o) == CV_OK
       && strcmp(str(o, "disabled_reason"), "gone") == 0,
       "gone; a second reason does not replace the first");
    cJSON_Delete(o);
    commit(t);

    t = begin(1);
    ok(cv_webhook_delete(t, id) == CV_OK && cv_webhook_delete(t, id)
       == CV_NOT_FOUND && cv_webhook_get(t, id, &o) == CV_NOT_FOUND,
       "delete; then it is not found");
    ok(cv_webhook_delete(t, id2) == CV_OK, "the second one too");
    commit(t);
}


static void
test_config(void)
{
    char                  cus[CV_ID_MAX], conv[CV_ID_MAX];
    char                  wid[CV_WEBHOOK_ID_MAX];
    char                  other[] = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    size_t                made, pages, n;
    int                   more;
    uint64_t              g;
    cv_txn               *t;
    cJSON                *o, *items;
    cv_webhook_endpoint   e;
    cv_webhook_spec       specs[3] = {
        { URL, 0, "alpha", SECRET },
        { "http://b.example/", CV_WEBHOOK_MESSAGE_CREATED, "beta", SECRET },
        { URL, 0, "gamma", SECRET },
    };
    cv_webhook_spec       dup[2] = {
        { URL, 0, "alpha", SECRET }, { URL, 0, "alpha", SECRET },
    };
    cv_webhook_spec       bad[2] = {
        { URL, 0, "delta", SECRET }, { URL, 0, "alpha", NULL },
    };

    t = begin(1);
    ok(cv_webhook_config_sync(t, specs, 2, T0) == CV_OK, "sync alpha, beta");
    ok(cv_webhook_get(t, "wh_cfg_alpha", &o) == CV_OK
       && strcmp(str(o, "source"), "config") == 0
       && strcmp(str(o, "name"), "alpha") == 0, "wh_cfg_alpha, from config");
    cJSON_Delete(o);
    ok(cv_webhook_update(t, "wh_cfg_alpha", NULL, 0, 0, 0, NULL)
       == CV_FORBIDDEN
       && cv_webhook_delete(t, "wh_cfg_alpha") == CV_FORBIDDEN
       && cv_webhook_rotate(t, "wh_cfg_alpha", T0, 1, NULL) == CV_FORBIDDEN,
       "the API may not update, delete or rotate it");
    commit(t);

    ok(endpoint(URL, 0, "alpha", SECRET, wid, NULL) == CV_CONFLICT,
       "create of a config name that exists: conflict");

    open_conv(cus, conv);
    say(conv, NULL, &agent, "Hi", NULL);
    ok(scan("wh_cfg_alpha", 100, T0, NULL) == 3
       && scan("wh_cfg_beta", 100, T0, NULL) == 2,
       "their deliveries: 3 for alpha, 2 messages for beta");

    ok(sender_view("wh_cfg_alpha", &e), "the sender sees alpha");
    g = e.generation;

    t = begin(1);
    specs[0].events = CV_WEBHOOK_MESSAGE_CREATED;
    ok(cv_webhook_config_sync(t, dup, 2, T0) == CV_INVALID
       && cv_webhook_config_sync(t, bad, 2, T0) == CV_INVALID
       && cv_webhook_get(t, "wh_cfg_delta", &o) == CV_NOT_FOUND,
       "two of a name, or one without a secret: nothing is written");
    specs[1] = specs[2];
    ok(cv_webhook_config_sync(t, specs, 2, T0) == CV_OK,
       "sync alpha (events changed), gamma");
    ok(cv_webhook_get(t, "wh_cfg_beta", &o) == CV_NOT_FOUND,
       "beta, no longer declared, is deleted");
    ok(cv_webhook_get(t, "wh_cfg_gamma", &o) == CV_OK
       && cJSON_GetArraySize(cJSON_GetObjectItem(o, "events")) == 4,
       "gamma is new");
    cJSON_Delete(o);
    ok(cv_webhook_scan(t, "wh_cfg_alpha", 100, T0, &made, &more) == CV_OK
       && made == 0 && cv_webhook_scan(t, "wh_cfg_gamma", 100, T0, &made,
                                       &more) == CV_OK && made == 0,
       "alpha keeps its cursor; gamma starts at the log's end");
    commit(t);

    items = listing("wh_cfg_alpha", -1, 10, &pages);
    ok(items && cJSON_GetArraySize(items) == 3, "alpha keeps its deliveries");
    cJSON_Delete(items);
    ok(sender_view("wh_cfg_alpha", &e) && e.generation > g
       && e.events == CV_WEBHOOK_MESSAGE_CREATED
       && strcmp(e.secret, SECRET) == 0, "its new events, a new generation");

    say(conv, NULL, &agent, "More", NULL);
    ok(scan("wh_cfg_alpha", 100, T0, NULL) == 1
       && scan("wh_cfg_gamma", 100, T0, NULL) == 1,
       "what comes next goes to both");

    /* beta's deliveries went with it */
    t = begin(0);
    n = 0;
    {
        MDB_cursor  *c;
        MDB_val      k, v;
        int          db, rc;

        for (db = CV_DB_WEBHOOK_STATE; db <= CV_DB_DELIVERY_FINISHED; db++) {
            mdb_cursor_open(t->txn, t->store->dbi[db], &c);
            for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
                 rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
            {
                n += contains(&k, "wh_cfg_beta");
            }
            mdb_cursor_close(c);
        }
    }
    cv_txn_abort(t);
    ok(n == 0, "no key of beta is left (%zu)", n);

    /* disabled: a sync of the same keeps it so; a new secret enables it */
    t = begin(1);
    ok(cv_webhook_disable(t, "wh_cfg_alpha", "gone") == CV_OK,
       "the sender disables a config endpoint");
    ok(cv_webhook_config_sync(t, specs, 2, T0) == CV_OK
       && cv_webhook_get(t, "wh_cfg_alpha", &o) == CV_OK
       && strcmp(str(o, "status"), "disabled") == 0,
       "a reload that changes nothing leaves it disabled");
    cJSON_Delete(o);
    specs[0].secret = other;
    ok(cv_webhook_config_sync(t, specs, 2, T0 + 10) == CV_OK
       && cv_webhook_get(t, "wh_cfg_alpha", &o) == CV_OK
       && strcmp(str(o, "status"), "enabled") == 0
       && is_null(o, "disabled_reason"), "a new secret enables it again");
    cJSON_Delete(o);
    commit(t);
    ok(sender_view("wh_cfg_alpha", &e) && strcmp(e.secret, other) == 0
       && strcmp(e.previous_secret, SECRET) == 0
       && e.previous_until_ms == T0 + 10 + CV_WEBHOOK_OVERLAP_MS,
       "and the one it replaces signs beside it for a day");

    t = begin(1);
    ok(cv_webhook_config_sync(t, NULL, 0, T0) == CV_OK
       && cv_webhook_get(t, "wh_cfg_alpha", &o) == CV_NOT_FOUND
       && cv_webhook_get(t, "wh_cfg_gamma", &o) == CV_NOT_FOUND,
       "no webhook in the configuration: both go");
    commit(t);
}


/* scan, due, record, payload over conversations */
static void
test_deliveries(void)
{
    char            all[CV_WEBHOOK_ID_MAX], msgs[CV_WEBHOOK_ID_MAX];
    char            cus[CV_ID_MAX], conv[CV_ID_MAX], early[CV_ID_MAX];
    char            cusb[CV_ID_MAX], convb[CV_ID_MAX];
    char            evt[CV_WEBHOOK_EVENT_ID_MAX];
    char           *text, *text2;
    int             changed, more;
    size_t          n, i, pages;
    int64_t         next;
    uint64_t        skip[2];
    cv_txn         *t;
    cJSON          *p, *data, *c, *m, *items, *it;
    uint64_t        ds[MANY];
    cv_delivery     d[MANY], dm[MANY];
    cv_webhook_endpoint  e;

    /* before the endpoints: not delivered */
    open_conv(cus, early);

    ok(endpoint(URL, 0, NULL, NULL, all, NULL) == CV_OK
       && endpoint(URL, CV_WEBHOOK_MESSAGE_CREATED, NULL, NULL, msgs, NULL)
          == CV_OK, "two endpoints: every event, and messages only");

    say(early, NULL, &agent, "reply in the early one", NULL);   /* 1 */
    open_conv(cus, conv);                                       /* 2, 3 */
    say(conv, NULL, &bot, "a bot", NULL);                       /* 4 */
    t = begin(1);
    cv_conversation_assign(t, conv, &agent, &changed);          /* 5 */
    cv_conversation_assign(t, conv, &agent2, &changed);         /* -, 6 */
    cv_conversation_assign(t, conv, NULL, &changed);            /* - */
    cv_conversation_assign(t, conv, &agent, &changed);          /* 7 */
    commit(t);
    say(conv, NULL, &agent, "agent", NULL);                     /* 8 */
    t = begin(1);
    cv_conversation_close(t, conv, &agent, &changed);           /* 9 */
    commit(t);

    ok(scan(all, 4, T0, &more) == 4 && more, "scan at most 4 entries: 4 "
       "made, more to come");
    ok(scan(all, 100, T0, &more) == 5 && !more,
       "the rest: 9 in all, the unassignments passed over");
    ok(scan(all, 100, T0, &more) == 0 && !more, "nothing more");
    ok(scan(msgs, 100, T0, &more) == 4, "messages only: 4");
    ok(oldest_first(all, ds, NULL) == 9 && ds[1] == d_of(ds[1])
       && ds[9] > ds[8], "each delivery's dseq is its event's");

    items = listing(all, -1, 100, &pages);
    ok(items && cJSON_GetArraySize(items) == 9, "9 deliveries listed");
    {
        static const char  *types[] = {
            "conversation.closed", "message.created", "conversation.assigned",
            "conversation.assigned", "conversation.assigned",
            "message.created", "message.created", "conversation.created",
            "message.created" };
        int  fine = 1;

        for (i = 0; items && i < 9; i++) {
            it = cJSON_GetArrayItem(items, (int) i);
            fine &= strcmp(str(it, "event_type"), types[i]) == 0
                    && strcmp(str(it, "status"), "pending") == 0
                    && num(it, "attempts") == 0
                    && is_null(it, "last_attempt_at")
                    && is_null(it, "last_status_code")
                    && is_null(it, "last_error")
                    && is_null(it, "duration_ms")
                    && strncmp(str(it, "id"), "dlv_", 4) == 0
                    && strncmp(str(it, "event_id"), "evt_", 4) == 0;
            if (i > 0) {
                fine &= strcmp(str(it, "id"),
                               str(cJSON_GetArrayItem(items, (int) i - 1),
                                   "id")) < 0;
            }
        }
        ok(fine, "newest first, of the types in log order, never tried");
    }
    cJSON_Delete(items);

    /* due: the heads of the two conversations */
    ok(due(all, T0, NULL, 0, MANY, d, &n, &next) == CV_OK && n == 2
       && next == 0 && strcmp(d[0].conversation_id, early) == 0
       && d[0].type == CV_WEBHOOK_MESSAGE_CREATED && d[0].dseq == ds[1]
       && strcmp(d[1].conversation_id, conv) == 0
       && d[1].type == CV_WEBHOOK_CONVERSATION_CREATED && d[1].dseq == ds[2],
       "due: the head of each conversation, oldest first");
    ok(due(all, T0 - 1, NULL, 0, MANY, d, &n, &next) == CV_OK && n == 0
       && next == T0, "not before their time, which next_due_ms tells");
    skip[0] = ds[1];
    ok(due(all, T0, skip, 1, MANY, d, &n, &next) == CV_OK && n == 1
       && d[0].dseq == ds[2] && next == 0, "skip leaves out what is in flight");
    ok(due(all, T0, NULL, 0, 1, d, &n, &next) == CV_OK && n == 1
       && d[0].dseq == ds[1] && next == T0, "max 1: next_due_ms says more is "
       "due now");

    /* event ids: from the store and the log seq, the same for both */
    ok(due(msgs, T0, NULL, 0, MANY, dm, &n, &next) == CV_OK && n == 2,
       "the messages endpoint has two heads too");
    t = begin(0);
    ok(cv_webhook_event_id(t, d[0].log_seq, evt) == CV_OK
       && strcmp(evt, d[0].event_id) == 0 && strcmp(evt, dm[0].event_id) == 0
       && dm[0].log_seq == d[0].log_seq && strlen(evt) == 4 + 21,
       "an event's id is its log seq's, for every endpoint: %s", evt);
    cv_webhook_event_id(t, d[0].log_seq + 1, evt);
    ok(strcmp(evt, d[0].event_id) != 0, "another seq, another id");
    cv_txn_abort(t);

    /* payloads */
    due(all, T0, NULL, 0, MANY, d, &n, &next);
    p = payload(all, &d[1], &text);
    data = cJSON_GetObjectItem(p, "data");
    c = cJSON_GetObjectItem(data, "conversation");
    ok(p && strcmp(str(p, "id"), d[1].event_id) == 0
       && strcmp(str(p, "type"), "conversation.created") == 0
       && str(p, "created_at") && c && cJSON_GetObjectItem(data, "message")
          == NULL && strcmp(str(c, "id"), conv) == 0
       && strcmp(str(c, "customer_id"), cus) == 0 && num(c, "seq") == 0
       && strcmp(str(c, "status"), "open") == 0,
       "conversation.created: the conversation, its customer, seq 0, no "
       "message");
    cJSON_Delete(p);
    p = payload(all, &d[1], &text2);
    ok(text && text2 && strcmp(text, text2) == 0,
       "the same bytes on every call");
    cJSON_Delete(p);
    free(text);
    free(text2);

    ok(record(all, d[1].dseq, 1, T0 + 5, 0, 200, NULL) == CV_OK,
       "conversation.created delivered");
    ok(due(all, T0 + 100, NULL, 0, MANY, d, &n, &next) == CV_OK && n == 2
       && d[0].dseq == ds[1] && d[1].dseq == ds[3]
       && d[1].next_attempt_ms == T0 + 5 + 7
       && d[1].type == CV_WEBHOOK_MESSAGE_CREATED,
       "its conversation's next is due, when the attempt ended");

    p = payload(all, &d[1], NULL);
    data = cJSON_GetObjectItem(p, "data");
    c = cJSON_GetObjectItem(data, "conversation");
    m = cJSON_GetObjectItem(data, "message");
    ok(p && c && m && num(c, "seq") == 1 && num(c, "last_seq") == 1
       && strcmp(str(c, "customer_id"), cus) == 0
       && strcmp(str(c, "status"), "open") == 0
       && is_null(c, "assigned_agent_id")
       && strcmp(str(m, "text"), "Hello") == 0 && num(m, "seq") == 1
       && strcmp(str(cJSON_GetObjectItem(m, "author"), "type"), "customer")
          == 0 && strcmp(str(m, "conversation_id"), conv) == 0,
       "message.created: the conversation as it was then (open, "
       "unassigned, seq 1) and the message with its author");
    cJSON_Delete(p);

    /* a failure with a next attempt: pending, due then */
    ok(record(all, ds[3], 0, T0 + 200, T0 + 5000, 503, "Service Unavailable")
       == CV_OK, "message 1 fails, next attempt in 5 s");
    ok(due(all, T0 + 300, NULL, 0, MANY, d, &n, &next) == CV_OK && n == 1
       && d[0].dseq == ds[1] && next == T0 + 5000,
       "not due before; next_due_ms is its time");
    ok(sender_view(all, &e) && e.failing_since_ms == T0 + 200,
       "the failing clock starts at the failure");
    ok(due(all, T0 + 5000, NULL, 0, MANY, d, &n, &next) == CV_OK && n == 2
       && d[1].dseq == ds[3] && d[1].attempts == 1,
       "due at its time, one attempt made");
    ok(record(all, ds[3], 0, T0 + 5000, 0, 0, "connect() timed out") == CV_OK,
       "the last attempt fails: failed");
    ok(sender_view(all, &e) && e.failing_since_ms == T0 + 200,
       "the clock runs from the first failure");
    ok(due(all, T0 + 6000, NULL, 0, MANY, d, &n, &next) == CV_OK && n == 2
       && d[1].dseq == ds[4] && d[1].type == CV_WEBHOOK_MESSAGE_CREATED,
       "failed is finished: the next of its conversation is due");

    ok(record(all, ds[3], 1, T0, 0, 200, NULL) == CV_CONFLICT
       && record(all, ds[5], 1, T0, 0, 200, NULL) == CV_CONFLICT
       && record(all, 999, 1, T0, 0, 200, NULL) == CV_NOT_FOUND
       && record("wh_none", 1, 1, T0, 0, 200, NULL) == CV_NOT_FOUND,
       "record: a finished or queued delivery is a conflict, an unknown one "
       "not found");

    ok(record(all, ds[1], 1, T0 + 6000, 0, 204, NULL) == CV_OK
       && sender_view(all, &e) && e.failing_since_ms == 0,
       "a success stops the failing clock");

    items = listing(all, CV_DELIVERY_FAILED, 10, &pages);
    it = cJSON_GetArrayItem(items, 0);
    ok(items && cJSON_GetArraySize(items) == 1 && num(it, "attempts") == 2
       && strcmp(str(it, "status"), "failed") == 0
       && is_null(it, "last_status_code")
       && strcmp(str(it, "last_error"), "connect() timed out") == 0
       && num(it, "duration_ms") == 7 && str(it, "last_attempt_at")
       && is_null(it, "next_attempt_at"), "the failed one, as listed");
    cJSON_Delete(items);

    /* the rest of the conversation, in order; the assignments' payloads */
    {
        static const unsigned  order[] = {
            CV_WEBHOOK_MESSAGE_CREATED, CV_WEBHOOK_CONVERSATION_ASSIGNED,
            CV_WEBHOOK_CONVERSATION_ASSIGNED,
            CV_WEBHOOK_CONVERSATION_ASSIGNED, CV_WEBHOOK_MESSAGE_CREATED,
            CV_WEBHOOK_CONVERSATION_CLOSED };
        static const char     *agents[] = { NULL, "ag-1", "ag-2", "ag-1",
                                            "ag-1", "ag-1" };
        int                    fine = 1;

        for (i = 0; i < 6; i++) {
            if (due(all, T0 + 8000, NULL, 0, MANY, d, &n, &next) != CV_OK
                || n != 1 || d[0].type != order[i])
            {
                fine = 0;
                break;
            }

            p = payload(all, &d[0], NULL);
            data = cJSON_GetObjectItem(p, "data");
            c = cJSON_GetObjectItem(data, "conversation");
            m = cJSON_GetObjectItem(data, "message");

            fine &= p && c && (m != NULL) == (order[i]
                                              == CV_WEBHOOK_MESSAGE_CREATED)
                    && strcmp(str(p, "type"),
                              cv_webhook_event_name(order[i])) == 0
                    && (agents[i] ? str(c, "assigned_agent_id")
                                    && strcmp(str(c, "assigned_agent_id"),
                                              agents[i]) == 0
                                  : is_null(c, "assigned_agent_id"))
                    && strcmp(str(c, "status"),
                              i == 5 ? "closed" : "open") == 0
                    && num(c, "seq") == num(c, "last_seq");

            if (i == 4) {
                fine &= strcmp(str(cJSON_GetObjectItem(m, "author"), "name"),
                               "Ann") == 0;
            }

            cJSON_Delete(p);
            fine &= record(all, d[0].dseq, 1, T0 + 7000, 0, 200, NULL)
                    == CV_OK;
        }

        ok(fine, "the rest one at a time, in log order, each payload the "
           "conversation as that event left it");
    }
    ok(due(all, T0 + 9000, NULL, 0, MANY, d, &n, &next) == CV_OK && n == 0
       && next == 0, "nothing is due, nothing pending");

    /* test deliveries: no conversation, due at once */
    open_conv(cusb, convb);
    ok(scan(all, 100, T0 + 9000, NULL) == 2, "another conversation: 2");
    t = begin(1);
    ok(cv_webhook_test(t, all, T0 + 9000, &it) == CV_OK
       && strcmp(str(it, "event_type"), "webhook.test") == 0
       && strcmp(str(it, "status"), "pending") == 0
       && str(it, "next_attempt_at") && num(it, "attempts") == 0,
       "a test delivery, pending and due");
    cJSON_Delete(it);
    ok(cv_webhook_test(t, "wh_none", T0, &it) == CV_NOT_FOUND,
       "of an endpoint only");
    commit(t);
    ok(due(all, T0 + 9000, NULL, 0, MANY, d, &n, &next) == CV_OK && n == 2
       && d[1].type == CV_WEBHOOK_TEST && d[1].log_seq == 0
       && d[1].conversation_id[0] == '\0'
       && strncmp(d[1].event_id, "evt_", 4) == 0
       && strlen(d[1].event_id) == 4 + 26, "due beside the conversation's "
       "head: %s", d[1].event_id);
    p = payload(all, &d[1], NULL);
    ok(p && strcmp(str(p, "type"), "webhook.test") == 0
       && strcmp(str(p, "id"), d[1].event_id) == 0
       && strcmp(str(cJSON_GetObjectItem(p, "data"), "webhook_id"), all)
          == 0, "its payload names the endpoint");
    cJSON_Delete(p);
    ok(record(all, d[1].dseq, 1, T0 + 9000, 0, 200, NULL) == CV_OK
       && record(all, d[0].dseq, 1, T0 + 9000, 0, 200, NULL) == CV_OK,
       "both delivered");

    t = begin(1);
    ok(cv_webhook_delete(t, msgs) == CV_OK && cv_webhook_delete(t, all)
       == CV_OK, "both endpoints go");
    commit(t);
}


/* listing pages, retry, last_error, prune */
static void
test_listing(void)
{
    char            id[CV_WEBHOOK_ID_MAX], did[CV_DELIVERY_ID_MAX];
    char            error[1100], cus[CV_ID_MAX], conv[CV_ID_MAX];
    size_t          n, i, pages, pruned, total;
    int64_t         next;
    uint64_t        cursor, dseq, ds[MANY];
    char            ids[MANY][CV_DELIVERY_ID_MAX];
    cv_txn         *t;
    cJSON          *items, *it;
    cv_delivery     d[MANY];
    const char     *prev;
    int             fine;

    ok(endpoint(URL, 0, NULL, NULL, id, NULL) == CV_OK, "an endpoint");

    t = begin(1);
    for (i = 0; i < 7; i++) {
        cv_webhook_test(t, id, T0 + (int64_t) i, NULL);
    }
    commit(t);

    ok(oldest_first(id, ds, ids) == 7 && ds[1] != d_of(ds[1])
       && ds[7] == ds[1] + 6, "tests have dseqs between events', in turn");

    items = listing(id, -1, 3, &pages);
    ok(items && cJSON_GetArraySize(items) == 7 && pages == 3,
       "7 deliveries, in 3 pages of 3");
    fine = 1;
    prev = NULL;
    cJSON_ArrayForEach(it, items) {
        fine &= prev == NULL || strcmp(prev, str(it, "id")) > 0;
        prev = str(it, "id");
    }
    ok(fine, "newest first, across pages, none twice");
    cJSON_Delete(items);

    t = begin(0);
    items = cJSON_CreateArray();
    ok(cv_webhook_deliveries(t, id, -1, 0, 7, items, &cursor) == CV_OK
       && cJSON_GetArraySize(items) == 7 && cursor == 0,
       "a page that holds them all has no next");
    cJSON_Delete(items);
    items = cJSON_CreateArray();
    ok(cv_webhook_deliveries(t, id, -1, 0, 6, items, &cursor) == CV_OK
       && cursor == ds[2] && cv_webhook_deliveries(t, id, -1, cursor, 6, items,
                                               &cursor) == CV_OK
       && cJSON_GetArraySize(items) == 7 && cursor == 0,
       "one of 6 has the next after it");
    cJSON_Delete(items);
    items = cJSON_CreateArray();
    ok(cv_webhook_deliveries(t, id, 3, 0, 6, items, &cursor) == CV_INVALID
       && cv_webhook_deliveries(t, "wh_none", -1, 0, 6, items, &cursor)
          == CV_NOT_FOUND
       && cv_webhook_deliveries(t, id, CV_DELIVERY_DELIVERED, 0, 6, items,
                                &cursor) == CV_OK
       && cJSON_GetArraySize(items) == 0 && cursor == 0,
       "an unknown status or endpoint; none delivered yet");
    cJSON_Delete(items);
    cv_txn_abort(t);

    /* outcomes: 1, 2 delivered; 3 failed with a long error; 4 pending */
    ok(due(id, T0 + 10, NULL, 0, MANY, d, &n, &next) == CV_OK && n == 7,
       "all 7 due");

    /* 1021 bytes of 'x', then a 4-byte character: cut before it */
    memset(error, 'x', 1021);
    strcpy(error + 1021, "\xf0\x9f\x98\x80tail");
    record(id, ds[1], 1, T0 + 20, 0, 200, NULL);
    record(id, ds[2], 1, T0 + 30, 0, 201, NULL);
    record(id, ds[3], 0, T0 + 40, 0, 500, error);
    record(id, ds[4], 0, T0 + 50, T0 + 100000, 0, "bad \xff\xfe bytes");

    items = listing(id, CV_DELIVERY_DELIVERED, 1, &pages);
    ok(items && cJSON_GetArraySize(items) == 2 && pages == 2
       && strcmp(str(cJSON_GetArrayItem(items, 0), "id"),
                 str(cJSON_GetArrayItem(items, 1), "id")) > 0
       && num(cJSON_GetArrayItem(items, 0), "last_status_code") == 201,
       "delivered: 2, in pages of 1, newest first");
    cJSON_Delete(items);

    items = listing(id, CV_DELIVERY_FAILED, 10, &pages);
    it = cJSON_GetArrayItem(items, 0);
    ok(items && cJSON_GetArraySize(items) == 1
       && strlen(str(it, "last_error")) == 1021
       && num(it, "last_status_code") == 500,
       "a long error is cut at a character's start: 1021 bytes");
    cJSON_Delete(items);

    items = listing(id, CV_DELIVERY_PENDING, 10, &pages);
    ok(items && cJSON_GetArraySize(items) == 4, "4 pending");
    it = cJSON_GetArrayItem(items, 3);
    ok(strcmp(str(it, "last_error"), "bad ?? bytes") == 0
       && is_null(it, "last_status_code") && str(it, "next_attempt_at"),
       "an error that is not UTF-8 keeps its ASCII; no answer, no code");
    cJSON_Delete(items);

    /* retry */
    t = begin(1);
    ok(cv_webhook_retry(t, id, ids[1], T0, &it) == CV_CONFLICT,
       "a delivered one cannot be retried");
    ok(cv_webhook_retry(t, id, "dlv_0000000000099", T0, &it) == CV_NOT_FOUND
       && cv_webhook_retry(t, id, "dlv_g000000000001", T0, &it)
          == CV_NOT_FOUND
       && cv_webhook_retry(t, id, "dlv_0000000000000", T0, &it)
          == CV_NOT_FOUND
       && cv_webhook_retry(t, id, "dlv_000000000001", T0, &it)
          == CV_NOT_FOUND
       && cv_webhook_retry(t, id, "nope", T0, &it) == CV_NOT_FOUND
       && cv_webhook_retry(t, "wh_none", "dlv_0000000000003", T0, &it)
          == CV_NOT_FOUND, "unknown and malformed ids are not found");
    ok(cv_webhook_retry(t, id, ids[3], T0 + 60, &it) == CV_OK
       && strcmp(str(it, "status"), "pending") == 0
       && num(it, "attempts") == 1 && str(it, "next_attempt_at"),
       "a failed one is pending again, its attempts kept");
    cJSON_Delete(it);
    ok(cv_webhook_retry(t, id, ids[4], T0 + 60, NULL) == CV_OK,
       "a pending one waiting for its next attempt is due now");
    commit(t);
    ok(due(id, T0 + 60, NULL, 0, MANY, d, &n, &next) == CV_OK && n == 5
       && d[0].dseq == ds[5] && d[3].dseq == ds[3] && d[4].dseq == ds[4]
       && d[4].next_attempt_ms == T0 + 60, "both are due at once");

    ok(cv_delivery_id_parse("dlv_0000000000003", &dseq) == CV_OK
       && dseq == 3 && cv_delivery_id_parse("dlv_fvvvvvvvvvvvv", &dseq)
          == CV_OK && dseq == UINT64_MAX
       && cv_delivery_id_parse("dlv_vvvvvvvvvvvvv", &dseq) == CV_NOT_FOUND
       && cv_delivery_id_parse("dlv_000000000000A", &dseq) == CV_NOT_FOUND,
       "delivery ids: base32hex of the dseq, 64 bits at most");
    strcpy(did, d[0].id);
    ok(strcmp(did, ids[5]) == 0 && cv_delivery_id_parse(did, &dseq) == CV_OK
       && dseq == ds[5], "the fifth's id: %s", did);

    /* ids that are no endpoint's, however long */
    {
        char       long_id[300];
        size_t     made2;
        int        more2;
        uint64_t   c2;
        cJSON     *none;

        memset(long_id, 'x', sizeof(long_id) - 1);
        memcpy(long_id, "wh_", 3);
        long_id[sizeof(long_id) - 1] = '\0';

        t = begin(1);
        none = cJSON_CreateArray();
        ok(cv_webhook_scan(t, long_id, 10, T0, &made2, &more2) == CV_NOT_FOUND
           && cv_webhook_scan(t, "wh_none", 10, T0, &made2, &more2)
              == CV_NOT_FOUND
           && cv_webhook_due(t, long_id, T0, NULL, 0, MANY, d, &n, &next)
              == CV_NOT_FOUND
           && cv_webhook_deliveries(t, long_id, -1, 0, 10, none, &c2)
              == CV_NOT_FOUND
           && cv_webhook_test(t, long_id, T0, NULL) == CV_NOT_FOUND
           && cv_webhook_retry(t, long_id, did, T0, NULL) == CV_NOT_FOUND
           && cv_webhook_get(t, long_id, &none) == CV_NOT_FOUND
           && cv_webhook_disable(t, long_id, "gone") == CV_NOT_FOUND,
           "an id too long for one, or of none, is not found anywhere");
        cJSON_Delete(none);
        cv_txn_abort(t);
        ok(record(long_id, 1, 1, T0, 0, 200, NULL) == CV_NOT_FOUND,
           "and has no outcome to record");
    }

    /* prune: finished before a time, oldest first, max at most */
    total = entries(CV_DB_DELIVERIES);
    t = begin(1);
    ok(cv_webhook_prune(t, T0 + 20 + 7, 10, &pruned) == CV_OK
       && pruned == 0, "nothing finished before the first");
    ok(cv_webhook_prune(t, T0 + 1000, 1, &pruned) == CV_OK && pruned == 1,
       "max 1: one");
    ok(cv_webhook_prune(t, T0 + 1000, 10, &pruned) == CV_OK,
       "then the rest (%zu)", pruned);
    commit(t);
    ok(entries(CV_DB_DELIVERIES) == total - 1 - pruned
       && entries(CV_DB_DELIVERY_FINISHED) == 0,
       "gone with their finished index entries");
    items = listing(id, CV_DELIVERY_DELIVERED, 10, &pages);
    ok(items && cJSON_GetArraySize(items) == 0, "none delivered is listed");
    cJSON_Delete(items);
    items = listing(id, -1, 10, &pages);
    ok(items && cJSON_GetArraySize(items) == 5, "the 5 pending stay");
    cJSON_Delete(items);

    /* a queued delivery stays queued when retried */
    open_conv(cus, conv);
    say(conv, NULL, &agent, "2", NULL);
    ok(scan(id, 100, T0, NULL) == 3, "a conversation: 3 deliveries");
    ok(oldest_first(id, ds, ids) == 8 && ds[8] == d_of(ds[8]),
       "5 tests and the conversation's 3 are listed");
    t = begin(1);
    ok(cv_webhook_retry(t, id, ids[8], T0, &it) == CV_OK
       && is_null(it, "next_attempt_at"), "retrying a queued one keeps it "
       "queued (the third)");
    cJSON_Delete(it);
    commit(t);
    ok(due(id, T0 + 100, NULL, 0, MANY, d, &n, &next) == CV_OK && n == 6
       && d[0].dseq == ds[6], "only its conversation's head is due");

    /* deleting the endpoint takes every key of it */
    t = begin(1);
    ok(cv_webhook_delete(t, id) == CV_OK, "delete the endpoint");
    commit(t);
    ok(entries(CV_DB_DELIVERIES) == 0 && entries(CV_DB_DELIVERY_DUE) == 0
       && entries(CV_DB_DELIVERY_QUEUE) == 0
       && entries(CV_DB_DELIVERY_STATUS) == 0
       && entries(CV_DB_DELIVERY_FINISHED) == 0,
       "no delivery and no index entry is left");
}


/* the window: the log read without writing, settled in batches */

static cv_status
window(const char *id, uint64_t after, size_t max, cv_delivery *out,
    size_t *n, uint64_t *last, int *more)
{
    cv_txn     *t;
    cv_status   s;

    t = begin(0);
    s = cv_webhook_window(t, id, after, max, out, n, last, more);
    cv_txn_abort(t);

    return s;
}


static cv_status
settle(const char *id, const cv_settle_item *items, size_t n,
    uint64_t cursor, int64_t now)
{
    cv_txn     *t;
    cv_status   s;

    t = begin(1);
    s = cv_webhook_settle(t, id, items, n, cursor, now);

    if (s == CV_OK) {
        commit(t);
    } else {
        cv_txn_abort(t);
    }

    return s;
}


static int
waiting(const char *id, uint64_t conv_key)
{
    cv_txn  *t;
    int      w;

    t = begin(0);
    if (cv_webhook_waiting(t, id, conv_key, &w) != CV_OK) {
        w = -1;
    }
    cv_txn_abort(t);

    return w;
}


static cv_delivery_result *
result(cv_delivery_result *r, int delivered, int64_t at, int64_t next,
    unsigned code, const char *error)
{
    memset(r, 0, sizeof(*r));
    r->delivered = delivered;
    r->status_code = code;
    r->error = error;
    r->attempt_ms = at;
    r->duration_ms = 3;
    r->next_attempt_ms = next;

    return r;
}


static void
test_window(void)
{
    char                 id[CV_WEBHOOK_ID_MAX], msgs[CV_WEBHOOK_ID_MAX];
    char                 cus[CV_ID_MAX], a[CV_ID_MAX], b[CV_ID_MAX];
    char                 evt[CV_WEBHOOK_EVENT_ID_MAX];
    int                  more, fine, changed;
    size_t               n, n2, i, pages, records, pruned;
    int64_t              next;
    uint64_t             last, start, ds[MANY];
    cv_txn              *t;
    cJSON               *items, *it;
    cv_delivery          w[MANY], d[MANY];
    cv_settle_item       si[MANY];
    cv_delivery_result   r[8];
    cv_webhook_endpoint  e;

    ok(endpoint(URL, 0, NULL, NULL, id, NULL) == CV_OK
       && endpoint(URL, CV_WEBHOOK_MESSAGE_CREATED, NULL, NULL, msgs, NULL)
          == CV_OK && sender_view(id, &e), "two endpoints");
    start = e.cursor;

    open_conv(cus, a);                              /* w0 created, w1 */
    open_conv(cus, b);                              /* w2 created, w3 */
    t = begin(1);
    cv_conversation_assign(t, a, &agent, &changed); /* w4 assigned */
    commit(t);
    say(a, NULL, &agent, "a2", NULL);               /* w5 */
    say(b, NULL, &agent, "b2", NULL);               /* w6 */
    t = begin(1);
    cv_conversation_assign(t, b, &agent, &changed); /* w7 assigned */
    cv_conversation_assign(t, b, NULL, &changed);   /* unassigned: passed */
    commit(t);
    say(b, NULL, &agent, "b3", NULL);               /* w8 */

    ok(window(id, start, 3, w, &n, &last, &more) == CV_OK && n == 3 && more
       && last == start + 3, "a window of 3 entries: 3 events, more");
    ok(window(id, start, MANY, w, &n, &last, &more) == CV_OK && n == 9
       && !more && last == w[8].log_seq,
       "all of it: 9 events, the unassignment passed over");
    ok(window(msgs, start, MANY, d, &n2, &last, &more) == CV_OK && n2 == 5,
       "messages only: 5");

    fine = 1;
    t = begin(0);
    for (i = 0; i < n; i++) {
        cv_webhook_event_id(t, w[i].log_seq, evt);
        fine &= w[i].dseq == w[i].log_seq << CV_DELIVERY_SEQ_SHIFT
                && strcmp(w[i].event_id, evt) == 0 && w[i].attempts == 0
                && w[i].conv_key != 0
                && strcmp(w[i].conversation_id, i == 0 || i == 1
                          || i == 4 || i == 5 ? a : b) == 0
                && (i == 0 || w[i].log_seq > w[i - 1].log_seq)
                && w[i].conv_key == (strcmp(w[i].conversation_id, a) == 0
                                     ? w[0].conv_key : w[2].conv_key);
    }
    cv_txn_abort(t);
    ok(fine && w[0].conv_key != w[2].conv_key && w[0].type
       == CV_WEBHOOK_CONVERSATION_CREATED && w[1].type
       == CV_WEBHOOK_MESSAGE_CREATED, "each its dseq, event id and "
       "conversation");
    ok(entries(CV_DB_DELIVERIES) == 0 && sender_view(id, &e)
       && e.cursor == start, "reading writes nothing");

    /* a0, a1 delivered; b0 fails for now, b1 behind it; a's assignment
     * (w[4]) still on its way: a2 (w[5]) delivered ahead of the cursor */
    memset(si, 0, sizeof(si));
    si[0].d = w[0];
    si[0].r = result(&r[0], 1, T0, 0, 200, NULL);
    si[1].d = w[1];
    si[1].r = result(&r[1], 1, T0 + 1, 0, 204, NULL);
    si[2].d = w[2];
    si[2].r = result(&r[2], 0, T0 + 2, T0 + 5000, 503, "busy");
    si[3].d = w[3];
    si[4].d = w[5];
    si[4].r = result(&r[3], 1, T0 + 3, 0, 200, NULL);
    ok(settle(id, si, 5, w[3].log_seq, T0 + 10) == CV_OK,
       "settle 5 of them, the cursor to b1");
    ok(sender_view(id, &e) && e.cursor == w[3].log_seq
       && e.failing_since_ms == 0, "the cursor moved; the failing clock "
       "stopped at the last success");
    ok(entries(CV_DB_DELIVERIES) == 5 && entries(CV_DB_DELIVERY_STATUS) == 2
       && entries(CV_DB_DELIVERY_DUE) == 1
       && entries(CV_DB_DELIVERY_QUEUE) == 2
       && entries(CV_DB_DELIVERY_FINISHED) == 0,
       "delivered ones are records alone; the failure and the one behind it "
       "pending, indexed");
    ok(waiting(id, 0) == 1 && waiting(id, w[2].conv_key) == 1
       && waiting(id, w[0].conv_key) == 0 && waiting(msgs, 0) == 0
       && waiting("wh_none", 0) == -1, "b waits in the store, a does not");

    items = listing(id, CV_DELIVERY_DELIVERED, 10, &pages);
    it = cJSON_GetArrayItem(items, 0);
    ok(items && cJSON_GetArraySize(items) == 3
       && num(it, "attempts") == 1 && num(it, "last_status_code") == 200
       && strcmp(str(it, "event_id"), w[5].event_id) == 0
       && num(cJSON_GetArrayItem(items, 1), "last_status_code") == 204
       && is_null(it, "next_attempt_at") && num(it, "duration_ms") == 3,
       "delivered: 3, newest first, one attempt each");
    cJSON_Delete(items);
    items = listing(id, CV_DELIVERY_PENDING, 10, &pages);
    ok(items && cJSON_GetArraySize(items) == 2
       && is_null(cJSON_GetArrayItem(items, 0), "next_attempt_at")
       && num(cJSON_GetArrayItem(items, 0), "attempts") == 0
       && num(cJSON_GetArrayItem(items, 1), "attempts") == 1
       && strcmp(str(cJSON_GetArrayItem(items, 1), "last_error"), "busy")
          == 0, "pending: b0 tried once, b1 queued behind it");
    cJSON_Delete(items);
    ok(due(id, T0 + 4999, NULL, 0, MANY, d, &n2, &next) == CV_OK && n2 == 0
       && next == T0 + 5000, "b0 is due at its next attempt");

    /* sent again after a crash: what is recorded stands */
    si[0].r = result(&r[4], 0, T0 + 20, T0 + 9000, 500, "again");
    ok(settle(id, si, 1, w[0].log_seq, T0 + 20) == CV_OK
       && entries(CV_DB_DELIVERIES) == 5 && entries(CV_DB_DELIVERY_DUE) == 1
       && sender_view(id, &e) && e.cursor == w[3].log_seq,
       "settling a recorded one again changes nothing, nor moves the "
       "cursor back");
    ok(sender_view(id, &e) && e.failing_since_ms == T0 + 20,
       "but its attempt starts the failing clock");

    /* the rest: a's assignment fails for good; b's later events queue */
    si[0].d = w[4];
    si[0].r = result(&r[5], 0, T0 + 30, 0, 410, "gone");
    si[1].d = w[6];
    si[1].r = NULL;
    si[2].d = w[7];
    si[2].r = NULL;
    si[3].d = w[8];
    si[3].r = NULL;
    ok(settle(id, si, 4, w[8].log_seq, T0 + 30) == CV_OK
       && sender_view(id, &e) && e.cursor == w[8].log_seq,
       "the rest settled, the cursor at the end");
    items = listing(id, CV_DELIVERY_FAILED, 10, &pages);
    ok(items && cJSON_GetArraySize(items) == 1
       && entries(CV_DB_DELIVERY_FINISHED) == 1
       && num(cJSON_GetArrayItem(items, 0), "last_status_code") == 410,
       "a failure for good: failed, for pruning in its index");
    cJSON_Delete(items);

    /* b in order through the store */
    fine = 1;
    for (i = 0; i < 5; i++) {
        static const size_t  order[] = { 2, 3, 6, 7, 8 };

        fine &= due(id, T0 + 7000, NULL, 0, MANY, d, &n2, &next) == CV_OK
                && n2 == 1 && d[0].dseq == w[order[i]].dseq
                && d[0].conv_key == w[2].conv_key
                && record(id, d[0].dseq, 1, T0 + 6000, 0, 200, NULL)
                   == CV_OK;
    }
    ok(fine && waiting(id, 0) == 0, "b's five go one at a time, in log "
       "order, from the store");
    ok(oldest_first(id, ds, NULL) == 9 && ds[1] == w[0].dseq
       && ds[9] == w[8].dseq, "9 deliveries, one per event");

    /* the delivered listing looks at CV_DELIVERY_SCAN_MAX records a page */
    {
        char     c[CV_ID_MAX];
        uint64_t cursor;
        size_t   total;

        open_conv(cus, c);
        t = begin(1);
        for (i = 0; i < CV_DELIVERY_SCAN_MAX + 5; i++) {
            cv_message  m;

            cv_message_post(t, c, NULL, &agent, NULL, "m", NULL, &m);
            cv_message_clear(&m);
        }
        commit(t);

        /* the first delivered, the rest pending behind one that failed */
        n = 0;
        for (cursor = w[8].log_seq; ; cursor = last) {
            cv_settle_item  *big;
            cv_delivery     *got;

            got = malloc(256 * sizeof(cv_delivery));
            big = calloc(256, sizeof(cv_settle_item));
            window(id, cursor, 256, got, &n2, &last, &more);
            for (i = 0; i < n2; i++) {
                big[i].d = got[i];
                big[i].r = (n == 0 && i == 0)
                           ? result(&r[6], 1, T0, 0, 200, NULL)
                           : (n == 0 && i == 1)
                             ? result(&r[7], 0, T0, T0 + 99999, 500, "x")
                             : NULL;
            }
            settle(id, big, n2, last, T0);
            n += n2;
            free(got);
            free(big);
            if (!more) {
                break;
            }
        }

        t = begin(0);
        items = cJSON_CreateArray();
        cursor = 0;
        total = 0;
        pages = 0;
        do {
            size_t  before = (size_t) cJSON_GetArraySize(items);

            if (cv_webhook_deliveries(t, id, CV_DELIVERY_DELIVERED, cursor, 5,
                                      items, &cursor) != CV_OK)
            {
                break;
            }
            total += (size_t) cJSON_GetArraySize(items) - before;
            pages++;
        } while (cursor);
        cv_txn_abort(t);
        ok(n == CV_DELIVERY_SCAN_MAX + 7 && total == 9 && pages == 3,
           "delivered, in pages of 5: the first page comes short after "
           "looking at %d records, then the rest (%zu pages)",
           CV_DELIVERY_SCAN_MAX, pages);
        cJSON_Delete(items);
    }

    /* pruning the delivered ones: in the endpoint's order, the pending
     * between left as they are */
    records = entries(CV_DB_DELIVERIES);
    t = begin(1);
    ok(cv_webhook_prune(t, T0 + 5000, 100, &pruned) == CV_OK && pruned == 3,
       "the failed one, and the delivered ones before then up to the first "
       "that finished later (b0)");
    ok(cv_webhook_prune(t, T0 + 7000, 3, &pruned) == CV_OK && pruned == 3,
       "max 3");
    ok(cv_webhook_prune(t, T0 + 7000, 100, &pruned) == CV_OK && pruned == 4,
       "the rest of b's and the newest conversation's delivered one, past "
       "none of its pending");
    commit(t);
    items = listing(id, CV_DELIVERY_PENDING, 2000, &pages);
    ok(entries(CV_DB_DELIVERIES) == records - 10 && items
       && cJSON_GetArraySize(items) == CV_DELIVERY_SCAN_MAX + 6,
       "the pending ones stay");
    cJSON_Delete(items);

    t = begin(1);
    ok(cv_webhook_delete(t, id) == CV_OK && cv_webhook_delete(t, msgs)
       == CV_OK, "both endpoints go, with their deliveries");
    commit(t);
    ok(entries(CV_DB_DELIVERIES) == 0 && entries(CV_DB_DELIVERY_DUE) == 0
       && entries(CV_DB_DELIVERY_QUEUE) == 0
       && entries(CV_DB_DELIVERY_STATUS) == 0
       && entries(CV_DB_DELIVERY_FINISHED) == 0,
       "no delivery and no index entry is left");
}


/* ------------------------------------------------------------ property */

static uint64_t  rng = 0x9e3779b97f4a7c15ull;


static unsigned
rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned) (rng % n);
}


#define CONVS      12
#define PER_CONV   12
#define IN_FLIGHT  6
#define EVENTS_MAX (CONVS * (PER_CONV + 8))

typedef struct {
    char      id[CV_ID_MAX];
    char      cus[CV_ID_MAX];
    int       said;
    int       closed;
    uint64_t  delivered[EVENTS_MAX];   /* log seqs, in delivery order */
    size_t    n;
} conv_t;


static conv_t *
conv_of(conv_t *convs, const char *id)
{
    size_t  i;

    for (i = 0; i < CONVS; i++) {
        if (strcmp(convs[i].id, id) == 0) {
            return &convs[i];
        }
    }

    return NULL;
}


/* what the log says each conversation's deliveries are, in order */
static int
by_seq(const void *a, const void *b)
{
    uint64_t  x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return (x > y) - (x < y);
}


static int
expected(uint64_t after, conv_t *convs, size_t *total)
{
    cv_txn     *t;
    cJSON      *items, *e;
    uint64_t    cursor;
    conv_t     *c;
    size_t      i;
    uint64_t    want[CONVS][EVENTS_MAX];
    size_t      n[CONVS];
    int         fine;

    memset(n, 0, sizeof(n));
    *total = 0;
    t = begin(0);
    items = cJSON_CreateArray();
    cv_log_read(t, after, CV_LIMIT_NONE, items, &cursor);
    cv_txn_abort(t);

    cJSON_ArrayForEach(e, items) {
        if (cv_webhook_event_bit(str(e, "type")) == 0) {
            continue;
        }
        c = conv_of(convs, str(e, "conversation_id"));
        if (c == NULL) {
            continue;
        }
        want[c - convs][n[c - convs]++] = (uint64_t) num(e, "seq");
        (*total)++;
    }
    cJSON_Delete(items);

    fine = 1;
    for (i = 0; i < CONVS; i++) {
        if (n[i] != convs[i].n
            || memcmp(want[i], convs[i].delivered, n[i] * sizeof(uint64_t)))
        {
            diag("conversation %zu: %zu expected, %zu delivered", i, n[i],
                 convs[i].n);
            fine = 0;
        }
    }

    return fine;
}


/*
 * Conversations and messages come while a sender with up to IN_FLIGHT
 * deliveries in flight scans, sends and records, with random outcomes:
 * delivered, failed for now (a next attempt), failed for good (then
 * retried through the API, when final_failures), and "crashes" (an
 * outcome whose transaction is lost: the delivery is sent again). At the
 * end every event was recorded delivered exactly once; without final
 * failures, each conversation's in log order, one at a time.
 */
static void
property(int final_failures)
{
    char             id[CV_WEBHOOK_ID_MAX], conv[CV_ID_MAX];
    conv_t           convs[CONVS];
    cv_delivery      d[IN_FLIGHT], flight[IN_FLIGHT];
    uint64_t         skip[IN_FLIGHT], after;
    size_t           nflight, n, i, j, total, sends, crashes;
    size_t           steps, overlap, busy;
    int64_t          now, next;
    int              more, changed, roll, talking, fine, serial;

    cv_txn          *t;
    cv_author        visitor = { "customer", NULL, NULL };
    cv_delivery_result  r;

    memset(convs, 0, sizeof(convs));

    t = begin(0);
    cv_log_last_seq(t, &after);
    cv_txn_abort(t);

    endpoint(URL, 0, NULL, NULL, id, NULL);

    now = T0;
    nflight = 0;
    sends = crashes = steps = overlap = 0;
    serial = 1;

    for (talking = 1; ; steps++) {
        now += 1 + rnd(400);

        /* the chat goes on */
        if (talking) {
            i = rnd(CONVS);
            conv_t  *c = &convs[i];

            if (c->id[0] == '\0') {
                open_conv(c->cus, c->id);
                c->said = 1;

            } else if (!c->closed && c->said < PER_CONV) {
                roll = rnd(10);
                if (roll < 6) {
                    visitor.id = c->cus;
                    say(NULL, c->cus, &visitor, "visitor", conv);
                } else if (roll < 8) {
                    say(c->id, NULL, &agent, "agent", NULL);
                } else {
                    t = begin(1);
                    cv_conversation_assign(t, c->id, rnd(2) ? &agent
                                                            : &agent2,
                                           &changed);
                    commit(t);
                }
                c->said++;

            } else if (!c->closed) {
                t = begin(1);
                cv_conversation_close(t, c->id, &agent, &changed);
                commit(t);
                c->closed = 1;
            }

            talking = 0;
            for (j = 0; j < CONVS; j++) {
                talking |= !convs[j].closed;
            }
        }

        /* the sender: scan, take what is due, finish some in flight */
        scan(id, 1 + rnd(8), now, &more);

        for (i = 0; i < nflight; i++) {
            skip[i] = flight[i].dseq;
        }

        if (due(id, now, skip, nflight, IN_FLIGHT - nflight, d, &n, &next)
            != CV_OK)
        {
            diag("due failed");
            serial = 0;
            break;
        }

        for (i = 0; i < n; i++) {
            /* one at a time per conversation, unless retried by hand */
            for (j = 0; j < nflight; j++) {
                busy = d[i].conversation_id[0]
                       && strcmp(d[i].conversation_id,
                                 flight[j].conversation_id) == 0;
                overlap += busy;
            }
            flight[nflight++] = d[i];
            sends++;
        }

        for (i = 0; i < nflight; /* void */) {
            if (rnd(3) == 0) {
                i++;
                continue;
            }

            roll = rnd(20);
            memset(&r, 0, sizeof(r));
            r.attempt_ms = flight[i].next_attempt_ms;
            r.duration_ms = rnd(50);
            r.delivered = roll < 12;
            r.status_code = r.delivered ? 200 : 503;
            r.error = r.delivered ? NULL : "busy";
            r.next_attempt_ms = (final_failures && roll == 19)
                                ? 0 : now + 1 + rnd(2000);

            t = begin(1);

            if (cv_webhook_record(t, id, flight[i].dseq, &r) != CV_OK) {
                diag("record of %s failed", flight[i].id);
                serial = 0;
            }

            if (rnd(15) == 0) {
                cv_txn_abort(t);        /* lost: it goes again */
                crashes++;

            } else {
                commit(t);

                if (r.delivered && flight[i].log_seq) {
                    conv_t  *c = conv_of(convs, flight[i].conversation_id);

                    if (c && c->n < EVENTS_MAX) {
                        c->delivered[c->n++] = flight[i].log_seq;
                    }
                }
            }

            flight[i] = flight[--nflight];
        }

        /* what failed for good is retried by hand, now and then */
        if (final_failures && rnd(10) == 0) {
            cJSON   *items, *it;
            size_t   pages;

            items = listing(id, CV_DELIVERY_FAILED, 4, &pages);
            t = begin(1);
            cJSON_ArrayForEach(it, items) {
                cv_webhook_retry(t, id, str(it, "id"), now, NULL);
            }
            commit(t);
            cJSON_Delete(items);
        }

        if (!talking && nflight == 0 && !more && n == 0 && next == 0
            && scan(id, 100, now, &more) == 0)
        {
            size_t  pages;
            cJSON  *failed = listing(id, CV_DELIVERY_FAILED, 100, &pages);
            int     none = cJSON_GetArraySize(failed) == 0;

            cJSON_Delete(failed);
            if (none) {
                break;
            }
        }

        if (steps > 100000) {
            diag("no end after %zu steps", steps);
            break;
        }
    }

    if (final_failures) {
        /* a retried delivery goes after later ones: the order aside, each
         * conversation's events, each once */
        for (i = 0; i < CONVS; i++) {
            qsort(convs[i].delivered, convs[i].n, sizeof(uint64_t),
                  by_seq);
        }
    }

    fine = expected(after, convs, &total);

    if (final_failures) {
        ok(fine && serial, "%zu events delivered once each, after failures "
           "for good retried by hand (%zu sends, %zu lost outcomes, %zu "
           "steps)", total, sends, crashes, steps);

    } else {
        ok(fine && serial && overlap == 0, "%zu events delivered once each, "
           "each conversation's in log order and one at a time (%zu sends, "
           "%zu lost outcomes, %zu steps)", total, sends, crashes, steps);
    }

    ok(entries(CV_DB_DELIVERY_DUE) == 0 && entries(CV_DB_DELIVERY_QUEUE) == 0
       && entries(CV_DB_DELIVERY_STATUS) == 0
       && entries(CV_DB_DELIVERY_FINISHED) == 0 && entries(CV_DB_DELIVERIES),
       "every delivery delivered: records without index entries");

    t = begin(1);
    cv_webhook_delete(t, id);
    commit(t);
}


int
main(void)
{
    st = fx_store_open(64u << 20);

    test_existing_store();
    test_names();
    test_secrets();
    test_endpoints();
    test_config();
    test_deliveries();
    test_listing();
    test_window();
    property(0);
    property(1);

    cv_store_close(st);
    return done_testing();
}
