/*
 * Webhook endpoints: their records, secrets, and the state the sender
 * moves (cv_webhooks.h; storage in cv_webhooks_impl.h). Their deliveries
 * are in cv_deliveries.c.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_webhooks_impl.h"
#include "cv_chat.h"
#include "cv_time.h"

#include <stdlib.h>
#include <string.h>

#define CV_WH_RANDOM          CV_ID_RANDOM   /* random bytes of an API id */
#define CV_KEY_GENERATION     "webhook_generation"   /* in CV_DB_META */

#define CV_WH_ENABLED         "enabled"
#define CV_WH_DISABLED        "disabled"
#define CV_WH_SOURCE_API      "api"
#define CV_WH_SOURCE_CONFIG   "config"

/* why an endpoint is disabled */
#define CV_WH_BY_API          "api"
#define CV_WH_GONE            "gone"
#define CV_WH_FAILING         "failing"

/* the first allocation of cv_webhook_endpoints()'s list */
#define CV_WH_LIST_FIRST      8

static const struct {
    unsigned     bit;
    const char  *name;
} cv_wh_events[] = {
    { CV_WEBHOOK_CONVERSATION_CREATED, CV_EV_CONVERSATION_CREATED },
    { CV_WEBHOOK_MESSAGE_CREATED, CV_EV_MESSAGE_CREATED },
    { CV_WEBHOOK_CONVERSATION_ASSIGNED, CV_EV_CONVERSATION_ASSIGNED },
    { CV_WEBHOOK_CONVERSATION_CLOSED, CV_EV_CONVERSATION_CLOSED },
    { CV_WEBHOOK_TEST, CV_WEBHOOK_EV_TEST },
};

#define CV_WH_EVENT_TYPES  (sizeof(cv_wh_events) / sizeof(cv_wh_events[0]))


unsigned
cv_webhook_event_bit(const char *name)
{
    size_t  i;

    for (i = 0; i < CV_WH_EVENT_TYPES; i++) {
        if (strcmp(name, cv_wh_events[i].name) == 0) {
            return cv_wh_events[i].bit;
        }
    }

    return 0;
}


const char *
cv_webhook_event_name(unsigned bit)
{
    size_t  i;

    for (i = 0; i < CV_WH_EVENT_TYPES; i++) {
        if (bit == cv_wh_events[i].bit) {
            return cv_wh_events[i].name;
        }
    }

    return NULL;
}


/* ------------------------------------------------------------- secrets */

cv_status
cv_webhook_secret_key(const char *secret,
    unsigned char key[CV_WEBHOOK_SECRET_MAX_BYTES], size_t *len)
{
    size_t  plen, n;

    plen = sizeof(CV_WEBHOOK_SECRET_PREFIX) - 1;

    if (secret == NULL || strncmp(secret, CV_WEBHOOK_SECRET_PREFIX, plen)
                          != 0)
    {
        return CV_INVALID;
    }

    n = strlen(secret + plen);

    if (n > CV_BASE64_LEN(CV_WEBHOOK_SECRET_MAX_BYTES)
        || cv_base64_decode(secret + plen, n, key,
                            CV_WEBHOOK_SECRET_MAX_BYTES, len) != CV_OK
        || *len < CV_WEBHOOK_SECRET_MIN_BYTES)
    {
        return CV_INVALID;
    }

    return CV_OK;
}


static cv_status
cv_wh_secret_make(char out[CV_WEBHOOK_SECRET_STR])
{
    unsigned char  key[CV_WEBHOOK_SECRET_BYTES];
    size_t         plen;

    if (cv_random_bytes(key, sizeof(key)) != CV_OK) {
        return CV_ERROR;
    }

    plen = sizeof(CV_WEBHOOK_SECRET_PREFIX) - 1;
    memcpy(out, CV_WEBHOOK_SECRET_PREFIX, plen);
    cv_base64(key, sizeof(key), out + plen);

    return CV_OK;
}


static int
cv_wh_secret_valid(const char *secret)
{
    unsigned char  key[CV_WEBHOOK_SECRET_MAX_BYTES];
    size_t         len;

    return cv_webhook_secret_key(secret, key, &len) == CV_OK;
}


/* ------------------------------------------------------ ids and names */

size_t
cv_wh_id_len(const char *id)
{
    size_t  len;

    if (id == NULL || strncmp(id, CV_WEBHOOK_ID_PREFIX,
                              sizeof(CV_WEBHOOK_ID_PREFIX) - 1) != 0)
    {
        return 0;
    }

    len = strlen(id);
    return len < CV_WEBHOOK_ID_MAX ? len + 1 : 0;
}


static int
cv_wh_name_valid(const char *name)
{
    size_t  i;

    for (i = 0; name[i]; i++) {
        char  c = name[i];

        if (i == CV_WEBHOOK_NAME_MAX
            || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                 || (c >= '0' && c <= '9') || c == '_' || c == '-'))
        {
            return 0;
        }
    }

    return i > 0;
}


/* ---------------------------------------------------------------- state */

cv_status
cv_wh_state_get(cv_txn *t, const char *id, cv_wh_state *s)
{
    MDB_val               v;
    const unsigned char  *p;
    cv_status             st;

    st = cv_raw_get(t, CV_DB_WEBHOOK_STATE, id, strlen(id), &v);
    if (st != CV_OK) {
        return st;
    }

    if (v.mv_size != CV_WH_STATE_LEN) {
        return CV_ERROR;
    }

    p = v.mv_data;
    s->cursor = cv_get_u64be(p + CV_WH_OFF_CURSOR);
    s->next_dseq = cv_get_u64be(p + CV_WH_OFF_NEXT_DSEQ);
    s->failing_since_ms = (int64_t) cv_get_u64be(p + CV_WH_OFF_FAILING);
    s->generation = cv_get_u64be(p + CV_WH_OFF_GENERATION);
    s->events = cv_get_u32be(p + CV_WH_OFF_EVENTS);

    return CV_OK;
}


cv_status
cv_wh_state_put(cv_txn *t, const char *id, const cv_wh_state *s)
{
    unsigned char  v[CV_WH_STATE_LEN];

    memset(v, 0, sizeof(v));
    cv_put_u64be(v + CV_WH_OFF_CURSOR, s->cursor);
    cv_put_u64be(v + CV_WH_OFF_NEXT_DSEQ, s->next_dseq);
    cv_put_u64be(v + CV_WH_OFF_FAILING, (uint64_t) s->failing_since_ms);
    cv_put_u64be(v + CV_WH_OFF_GENERATION, s->generation);
    cv_put_u32be(v + CV_WH_OFF_EVENTS, s->events);

    return cv_record_put_raw(t, CV_DB_WEBHOOK_STATE, id, strlen(id), v,
                             sizeof(v));
}


/* the store-wide counter behind every endpoint's generation */
static cv_status
cv_wh_generation_next(cv_txn *t, uint64_t *g)
{
    unsigned char  v[CV_U64BE_LEN];
    MDB_val        cur;
    cv_status      st;

    st = cv_raw_get(t, CV_DB_META, CV_KEY_GENERATION,
                    sizeof(CV_KEY_GENERATION) - 1, &cur);

    if (st == CV_NOT_FOUND) {
        *g = 1;

    } else if (st != CV_OK) {
        return st;

    } else if (cur.mv_size != CV_U64BE_LEN) {
        return CV_ERROR;

    } else {
        *g = cv_get_u64be(cur.mv_data) + 1;
    }

    cv_put_u64be(v, *g);
    return cv_record_put_raw(t, CV_DB_META, CV_KEY_GENERATION,
                             sizeof(CV_KEY_GENERATION) - 1, v, sizeof(v));
}


/* ------------------------------------------------------------- records */

static cJSON *
cv_wh_events_json(unsigned events)
{
    cJSON   *a;
    size_t   i;

    a = cJSON_CreateArray();

    for (i = 0; a && i < CV_WH_EVENT_TYPES; i++) {
        if (events & cv_wh_events[i].bit) {
            cJSON_AddItemToArray(a, cJSON_CreateString(cv_wh_events[i].name));
        }
    }

    return a;
}


static unsigned
cv_wh_events_of(const cJSON *rec)
{
    const cJSON  *name;
    unsigned      events;

    events = 0;

    cJSON_ArrayForEach(name, cJSON_GetObjectItemCaseSensitive(rec, "events"))
    {
        if (cJSON_IsString(name)) {
            events |= cv_webhook_event_bit(name->valuestring);
        }
    }

    return events;
}


static cJSON *
cv_wh_keys(const cJSON *rec)
{
    return cJSON_GetObjectItemCaseSensitive(rec, "keys");
}


static int
cv_wh_is_config(const cJSON *rec)
{
    const char  *s = cv_json_string(rec, "source");

    return s && strcmp(s, CV_WH_SOURCE_CONFIG) == 0;
}


static int
cv_wh_is_enabled(const cJSON *rec)
{
    const char  *s = cv_json_string(rec, "status");

    return s && strcmp(s, CV_WH_ENABLED) == 0;
}


static cv_status
cv_wh_rec_get(cv_txn *t, const char *id, cJSON **rec)
{
    size_t  len;

    len = cv_wh_id_len(id);
    if (len == 0) {
        return CV_NOT_FOUND;
    }

    return cv_record_get(t, CV_DB_WEBHOOKS, id, len - 1, rec);
}


/* writes the record, and in the state s (read by the caller, or new) its
 * events and a new generation */
static cv_status
cv_wh_rec_put(cv_txn *t, const char *id, const cJSON *rec, cv_wh_state *s)
{
    cv_status  st;

    s->events = cv_wh_events_of(rec);

    st = cv_wh_generation_next(t, &s->generation);

    if (st == CV_OK) {
        st = cv_record_put(t, CV_DB_WEBHOOKS, id, strlen(id), rec);
    }

    if (st == CV_OK) {
        st = cv_wh_state_put(t, id, s);
    }

    return st;
}


/* the record as the API shows it, with its secret when with_secret */
static cv_status
cv_wh_view(const cJSON *rec, int with_secret, cJSON **out)
{
    cJSON       *view;
    const char  *secret;

    view = cJSON_Duplicate(rec, 1);
    if (view == NULL) {
        return CV_ERROR;
    }

    cJSON_DeleteItemFromObjectCaseSensitive(view, "keys");

    if (with_secret) {
        secret = cv_json_string(cv_wh_keys(rec), "secret");
        if (secret == NULL) {
            cJSON_Delete(view);
            return CV_ERROR;
        }
        cJSON_AddStringToObject(view, "secret", secret);
    }

    return cv_record_hand_over(CV_OK, view, out);
}


/* ends a change of rec: writes it when changed, hands it over as the API
 * shows it (with its secret when with_secret) when out is not NULL, and
 * frees it */
static cv_status
cv_wh_done(cv_txn *t, const char *id, cJSON *rec, cv_wh_state *s,
    int changed, int with_secret, cJSON **out)
{
    cv_status  st;

    st = changed ? cv_wh_rec_put(t, id, rec, s) : CV_OK;

    if (st == CV_OK && out) {
        st = cv_wh_view(rec, with_secret, out);
    }

    cJSON_Delete(rec);
    return st;
}


/* the events of a spec or an update: CV_INVALID beyond what one may
 * subscribe to; 0 is all */
static cv_status
cv_wh_events_check(unsigned events, unsigned *out)
{
    if (events & ~CV_WEBHOOK_EVENTS_ALL) {
        return CV_INVALID;
    }

    *out = events ? events : CV_WEBHOOK_EVENTS_ALL;
    return CV_OK;
}


static cv_status
cv_wh_url_check(const char *url)
{
    cv_url       u;
    const char  *why;

    return url ? cv_url_parse(url, &u, &why) : CV_INVALID;
}


static cv_status
cv_wh_spec_check(const cv_webhook_spec *spec, unsigned *events)
{
    if (cv_wh_url_check(spec->url) != CV_OK
        || cv_wh_events_check(spec->events, events) != CV_OK
        || (spec->name && !cv_wh_name_valid(spec->name))
        || (spec->name && spec->secret == NULL)
        || (spec->secret && !cv_wh_secret_valid(spec->secret)))
    {
        return CV_INVALID;
    }

    return CV_OK;
}


static void
cv_wh_set(cJSON *obj, const char *name, const char *value)
{
    cv_json_set(obj, name,
                value ? cJSON_CreateString(value) : cJSON_CreateNull());
}


/* a checked spec's endpoint, new, under id */
static cv_status
cv_wh_create(cv_txn *t, const char *id, const cv_webhook_spec *spec,
    unsigned events, int64_t now, cJSON **out)
{
    char          secret[CV_WEBHOOK_SECRET_STR], stamp[CV_TIME_STR];
    cJSON        *rec, *keys, *existing;
    cv_status     st;
    cv_wh_state   s;

    st = cv_wh_rec_get(t, id, &existing);
    if (st == CV_OK) {
        cJSON_Delete(existing);
        return CV_CONFLICT;
    }

    if (st != CV_NOT_FOUND) {
        return st;
    }

    if (spec->secret == NULL) {
        st = cv_wh_secret_make(secret);
        if (st != CV_OK) {
            return st;
        }
    }

    memset(&s, 0, sizeof(s));
    s.next_dseq = 1;

    /* only what comes after it */
    st = cv_log_last_seq(t, &s.cursor);
    if (st != CV_OK) {
        return st;
    }

    cv_format_time(now, stamp);

    rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "id", id);
    cJSON_AddStringToObject(rec, "url", spec->url);
    cJSON_AddItemToObject(rec, "events", cv_wh_events_json(events));
    cJSON_AddStringToObject(rec, "status", CV_WH_ENABLED);
    cJSON_AddStringToObject(rec, "created_at", stamp);
    cv_wh_set(rec, "name", spec->name);
    cJSON_AddStringToObject(rec, "source", spec->name ? CV_WH_SOURCE_CONFIG
                                                      : CV_WH_SOURCE_API);
    cJSON_AddNullToObject(rec, "disabled_reason");
    keys = cJSON_AddObjectToObject(rec, "keys");
    cJSON_AddStringToObject(keys, "secret",
                            spec->secret ? spec->secret : secret);
    cJSON_AddNullToObject(keys, "previous_secret");
    cJSON_AddNumberToObject(keys, "previous_until_ms", 0);

    return cv_wh_done(t, id, rec, &s, 1, 1, out);
}


/* "wh_cfg_" + name */
static void
cv_wh_config_id(const char *name, char id[CV_WEBHOOK_ID_MAX])
{
    size_t  plen;

    plen = sizeof(CV_WEBHOOK_CFG_PREFIX) - 1;
    memcpy(id, CV_WEBHOOK_CFG_PREFIX, plen);
    strcpy(id + plen, name);
}


cv_status
cv_webhook_create(cv_txn *t, const cv_webhook_spec *spec, int64_t now,
    cJSON **out)
{
    char       id[CV_WEBHOOK_ID_MAX];
    unsigned   events;
    cv_status  st;

    st = cv_wh_spec_check(spec, &events);
    if (st != CV_OK) {
        return st;
    }

    if (spec->name) {
        cv_wh_config_id(spec->name, id);

    } else if (cv_random_id(id, sizeof(id), CV_WEBHOOK_ID_PREFIX,
                            CV_WH_RANDOM) != CV_OK)
    {
        return CV_ERROR;
    }

    return cv_wh_create(t, id, spec, events, now, out);
}


cv_status
cv_webhook_get(cv_txn *t, const char *id, cJSON **out)
{
    cJSON      *rec;
    cv_status   st;

    st = cv_wh_rec_get(t, id, &rec);
    if (st != CV_OK) {
        return st;
    }

    st = cv_wh_view(rec, 0, out);
    cJSON_Delete(rec);

    return st;
}


/* each(rec, data) for every endpoint, in the order of their ids */
typedef cv_status (*cv_wh_each_pt)(cJSON *rec, const char *id, void *data);

static cv_status
cv_wh_each(cv_txn *t, cv_wh_each_pt each, void *data)
{
    char         id[CV_WEBHOOK_ID_MAX];
    MDB_cursor  *c;
    MDB_val      k, v;
    cJSON       *rec;
    cv_status    st;
    int          rc;

    rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_WEBHOOKS], &c);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    st = CV_OK;

    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
         rc == 0 && st == CV_OK;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
    {
        rec = cJSON_ParseWithLength(v.mv_data, v.mv_size);

        if (rec == NULL || k.mv_size >= sizeof(id)) {
            cJSON_Delete(rec);
            st = CV_ERROR;
            break;
        }

        memcpy(id, k.mv_data, k.mv_size);
        id[k.mv_size] = '\0';

        st = each(rec, id, data);
        cJSON_Delete(rec);
    }

    mdb_cursor_close(c);

    if (st == CV_OK && rc != 0 && rc != MDB_NOTFOUND) {
        st = cv_status_from_mdb(rc);
    }

    return st;
}


static cv_status
cv_wh_listed(cJSON *rec, const char *id, void *data)
{
    cJSON      *view;
    cv_status   st;

    (void) id;

    st = cv_wh_view(rec, 0, &view);
    if (st == CV_OK) {
        cJSON_AddItemToArray(data, view);
    }

    return st;
}


cv_status
cv_webhook_list(cv_txn *t, cJSON *items)
{
    return cv_wh_each(t, cv_wh_listed, items);
}


/* enabled: clears its reason and its failing clock (in s) */
static void
cv_wh_enable(cJSON *rec, cv_wh_state *s)
{
    cv_json_set(rec, "status", cJSON_CreateString(CV_WH_ENABLED));
    cv_json_set(rec, "disabled_reason", cJSON_CreateNull());
    s->failing_since_ms = 0;
}


static void
cv_wh_disable(cJSON *rec, const char *reason)
{
    cv_json_set(rec, "status", cJSON_CreateString(CV_WH_DISABLED));
    cv_json_set(rec, "disabled_reason", cJSON_CreateString(reason));
}


/* the record of an endpoint the API may change, and its state */
static cv_status
cv_wh_api_rec(cv_txn *t, const char *id, cJSON **rec, cv_wh_state *s)
{
    cv_status  st;

    st = cv_wh_rec_get(t, id, rec);
    if (st != CV_OK) {
        return st;
    }

    if (cv_wh_is_config(*rec)) {
        st = CV_FORBIDDEN;

    } else {
        st = cv_wh_state_get(t, id, s);
        st = st == CV_NOT_FOUND ? CV_ERROR : st;
    }

    if (st != CV_OK) {
        cJSON_Delete(*rec);
    }

    return st;
}


/* url and events into rec; 1 when they changed */
static int
cv_wh_set_target(cJSON *rec, const char *url, int set_events,
    unsigned events)
{
    const char  *cur;
    int          changed;

    changed = 0;
    cur = cv_json_string(rec, "url");

    if (url && (cur == NULL || strcmp(cur, url) != 0)) {
        cv_json_set(rec, "url", cJSON_CreateString(url));
        changed = 1;
    }

    if (set_events && cv_wh_events_of(rec) != events) {
        cv_json_set(rec, "events", cv_wh_events_json(events));
        changed = 1;
    }

    return changed;
}


cv_status
cv_webhook_update(cv_txn *t, const char *id, const char *url,
    int set_events, unsigned events, int status, cJSON **out)
{
    cJSON        *rec;
    int           changed, enabled;
    cv_status     st;
    cv_wh_state   s;

    st = cv_wh_api_rec(t, id, &rec, &s);
    if (st != CV_OK) {
        return st;
    }

    if ((url && cv_wh_url_check(url) != CV_OK)
        || (set_events && cv_wh_events_check(events, &events) != CV_OK)
        || status < -1 || status > 1)
    {
        cJSON_Delete(rec);
        return CV_INVALID;
    }

    changed = cv_wh_set_target(rec, url, set_events, events);
    enabled = cv_wh_is_enabled(rec);

    if (status == 0 && enabled) {
        cv_wh_disable(rec, CV_WH_BY_API);
        changed = 1;

    } else if (status == 1 && !enabled) {
        cv_wh_enable(rec, &s);
        changed = 1;
    }

    return cv_wh_done(t, id, rec, &s, changed, 0, out);
}


/* the endpoint, its deliveries and its state */
static cv_status
cv_wh_drop(cv_txn *t, const char *id)
{
    cv_status  st;

    st = cv_wh_deliveries_drop(t, id);

    if (st == CV_OK) {
        st = cv_record_del(t, CV_DB_WEBHOOK_STATE, id, strlen(id));
        st = st == CV_NOT_FOUND ? CV_OK : st;
    }

    if (st == CV_OK) {
        st = cv_record_del(t, CV_DB_WEBHOOKS, id, strlen(id));
    }

    return st;
}


cv_status
cv_webhook_delete(cv_txn *t, const char *id)
{
    cJSON        *rec;
    cv_status     st;
    cv_wh_state   s;

    st = cv_wh_api_rec(t, id, &rec, &s);
    if (st != CV_OK) {
        return st;
    }

    cJSON_Delete(rec);
    return cv_wh_drop(t, id);
}


/* secret becomes the secret, the one it replaces signs until until_ms */
static void
cv_wh_set_secret(cJSON *rec, const char *secret, int64_t until_ms)
{
    cJSON       *keys;
    const char  *cur;

    keys = cv_wh_keys(rec);
    cur = cv_json_string(keys, "secret");

    cv_wh_set(keys, "previous_secret", cur);
    cv_json_set(keys, "previous_until_ms",
                cJSON_CreateNumber((double) until_ms));
    cv_json_set(keys, "secret", cJSON_CreateString(secret));
}


cv_status
cv_webhook_rotate(cv_txn *t, const char *id, int64_t now, int64_t overlap_ms,
    cJSON **out)
{
    char          secret[CV_WEBHOOK_SECRET_STR];
    cJSON        *rec;
    cv_status     st;
    cv_wh_state   s;

    st = cv_wh_api_rec(t, id, &rec, &s);
    if (st != CV_OK) {
        return st;
    }

    st = cJSON_IsObject(cv_wh_keys(rec)) ? cv_wh_secret_make(secret)
                                         : CV_ERROR;

    if (st != CV_OK) {
        cJSON_Delete(rec);
        return st;
    }

    cv_wh_set_secret(rec, secret, now + overlap_ms);

    return cv_wh_done(t, id, rec, &s, 1, 1, out);
}


cv_status
cv_webhook_disable(cv_txn *t, const char *id, const char *reason)
{
    cJSON        *rec;
    cv_status     st;
    cv_wh_state   s;

    st = cv_wh_rec_get(t, id, &rec);
    if (st != CV_OK) {
        return st;
    }

    if (reason == NULL || (strcmp(reason, CV_WH_GONE) != 0
                           && strcmp(reason, CV_WH_FAILING) != 0))
    {
        st = CV_INVALID;

    } else if (cv_wh_is_enabled(rec)) {
        st = cv_wh_state_get(t, id, &s);

        if (st == CV_OK) {
            cv_wh_disable(rec, reason);
            st = cv_wh_rec_put(t, id, rec, &s);

        } else if (st == CV_NOT_FOUND) {
            st = CV_ERROR;
        }
    }

    cJSON_Delete(rec);
    return st;
}


/* a config endpoint that exists, to what its spec says now */
static cv_status
cv_wh_config_update(cv_txn *t, const char *id, cJSON *rec,
    const cv_webhook_spec *spec, unsigned events, int64_t now)
{
    int           changed, fixed;
    const char   *cur;
    cv_status     st;
    cv_wh_state   s;

    st = cv_wh_state_get(t, id, &s);
    if (st != CV_OK) {
        return st == CV_NOT_FOUND ? CV_ERROR : st;
    }

    cur = cv_json_string(cv_wh_keys(rec), "secret");
    if (cur == NULL) {
        return CV_ERROR;
    }

    /* the url or the secret changed: what made it fail may be fixed */
    fixed = strcmp(cur, spec->secret) != 0;
    if (fixed) {
        cv_wh_set_secret(rec, spec->secret, now + CV_WEBHOOK_OVERLAP_MS);
    }

    cur = cv_json_string(rec, "url");
    fixed |= cur == NULL || strcmp(cur, spec->url) != 0;

    changed = cv_wh_set_target(rec, spec->url, 1, events) | fixed;

    if (fixed && !cv_wh_is_enabled(rec)) {
        cv_wh_enable(rec, &s);
    }

    return changed ? cv_wh_rec_put(t, id, rec, &s) : CV_OK;
}


static int
cv_wh_declared(const cv_webhook_spec *specs, size_t n, const char *name)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (strcmp(specs[i].name, name) == 0) {
            return 1;
        }
    }

    return 0;
}


/* deletes the config endpoints not among specs */
static cv_status
cv_wh_config_prune(cv_txn *t, const cv_webhook_spec *specs, size_t n)
{
    char          id[CV_WEBHOOK_ID_MAX + 1];
    size_t        plen, len;
    MDB_cursor   *c;
    MDB_val       k, v;
    cv_status     st;
    int           rc;

    plen = sizeof(CV_WEBHOOK_CFG_PREFIX) - 1;
    memcpy(id, CV_WEBHOOK_CFG_PREFIX, plen + 1);
    len = plen;

    for ( ;; ) {
        /* a cursor each time: dropping one writes in between */
        rc = mdb_cursor_open(t->txn, t->store->dbi[CV_DB_WEBHOOKS], &c);
        if (rc != 0) {
            return cv_status_from_mdb(rc);
        }

        k.mv_data = id;
        k.mv_size = len;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);

        if (rc == 0 && (k.mv_size < plen || k.mv_size >= CV_WEBHOOK_ID_MAX
                        || memcmp(k.mv_data, CV_WEBHOOK_CFG_PREFIX, plen)
                           != 0))
        {
            rc = MDB_NOTFOUND;
        }

        if (rc == 0) {
            memcpy(id, k.mv_data, k.mv_size);
            id[k.mv_size] = '\0';
            len = k.mv_size;
        }

        mdb_cursor_close(c);

        if (rc != 0) {
            return rc == MDB_NOTFOUND ? CV_OK : cv_status_from_mdb(rc);
        }

        if (!cv_wh_declared(specs, n, id + plen)) {
            st = cv_wh_drop(t, id);
            if (st != CV_OK) {
                return st;
            }
        }

        /* the next id: the smallest key after this one */
        id[len++] = '\0';
    }
}


cv_status
cv_webhook_config_sync(cv_txn *t, const cv_webhook_spec *specs, size_t n,
    int64_t now)
{
    char        id[CV_WEBHOOK_ID_MAX];
    cJSON      *rec;
    size_t      i, j;
    unsigned    events;
    cv_status   st;

    for (i = 0; i < n; i++) {
        if (specs[i].name == NULL
            || cv_wh_spec_check(&specs[i], &events) != CV_OK)
        {
            return CV_INVALID;
        }

        for (j = 0; j < i; j++) {
            if (strcmp(specs[i].name, specs[j].name) == 0) {
                return CV_INVALID;
            }
        }
    }

    for (i = 0; i < n; i++) {
        cv_wh_events_check(specs[i].events, &events);
        cv_wh_config_id(specs[i].name, id);

        st = cv_wh_rec_get(t, id, &rec);

        if (st == CV_NOT_FOUND) {
            st = cv_wh_create(t, id, &specs[i], events, now, NULL);

        } else if (st == CV_OK) {
            st = cv_wh_config_update(t, id, rec, &specs[i], events, now);
            cJSON_Delete(rec);
        }

        if (st != CV_OK) {
            return st;
        }
    }

    return cv_wh_config_prune(t, specs, n);
}


/* ------------------------------------------------------ the sender's */

typedef struct {
    cv_txn               *t;
    cv_webhook_endpoint  *list;
    size_t                n;
    size_t                cap;
} cv_wh_enabled;


/* a string of rec into a buffer of size bytes ("" for null) */
static cv_status
cv_wh_copy(const cJSON *obj, const char *name, char *buf, size_t size)
{
    const cJSON  *item;
    size_t        len;

    item = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (cJSON_IsNull(item)) {
        buf[0] = '\0';
        return CV_OK;
    }

    if (!cJSON_IsString(item) || (len = strlen(item->valuestring)) >= size) {
        return CV_ERROR;
    }

    memcpy(buf, item->valuestring, len + 1);
    return CV_OK;
}


static cv_status
cv_wh_enabled_one(cJSON *rec, const char *id, void *data)
{
    cv_wh_enabled        *en = data;
    cv_webhook_endpoint  *e, *grown;
    const cJSON          *keys;
    cv_status             st;
    cv_wh_state           s;

    if (!cv_wh_is_enabled(rec)) {
        return CV_OK;
    }

    if (en->n == en->cap) {
        en->cap = en->cap ? en->cap * 2 : CV_WH_LIST_FIRST;
        grown = realloc(en->list, en->cap * sizeof(cv_webhook_endpoint));
        if (grown == NULL) {
            return CV_ERROR;
        }
        en->list = grown;
    }

    st = cv_wh_state_get(en->t, id, &s);
    if (st != CV_OK) {
        return st == CV_NOT_FOUND ? CV_ERROR : st;
    }

    e = &en->list[en->n];
    keys = cv_wh_keys(rec);

    strcpy(e->id, id);
    e->events = s.events;
    e->previous_until_ms = (int64_t) cJSON_GetNumberValue(
                     cJSON_GetObjectItemCaseSensitive(keys, "previous_until_ms"));
    e->failing_since_ms = s.failing_since_ms;
    e->generation = s.generation;
    e->cursor = s.cursor;

    st = cv_wh_copy(rec, "url", e->url, sizeof(e->url));

    if (st == CV_OK) {
        st = cv_wh_copy(keys, "secret", e->secret, sizeof(e->secret));
    }

    if (st == CV_OK) {
        st = cv_wh_copy(keys, "previous_secret", e->previous_secret,
                        sizeof(e->previous_secret));
    }

    if (st == CV_OK && e->secret[0] == '\0') {
        st = CV_ERROR;
    }

    en->n += (st == CV_OK);
    return st;
}


cv_status
cv_webhook_endpoints(cv_txn *t, cv_webhook_endpoint **list, size_t *n)
{
    cv_status      st;
    cv_wh_enabled  en = { .t = t };

    st = cv_wh_each(t, cv_wh_enabled_one, &en);

    if (st != CV_OK) {
        free(en.list);
        en.list = NULL;
        en.n = 0;
    }

    *list = en.list;
    *n = en.n;

    return st;
}
