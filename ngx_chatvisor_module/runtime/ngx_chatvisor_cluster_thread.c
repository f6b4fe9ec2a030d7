/*
 * Cluster mode: the worker's own thread. It connects, makes the stream
 * and the key-value bucket when they are missing, takes the cluster's
 * signing secret, (re)starts the stream's reader, notices a stalled one,
 * removes erased customers' commands from the stream and keeps the
 * webhooks' lease: everything that may block on the network happens
 * here, never in the event loop.
 */


#include "ngx_chatvisor_cluster_impl.h"


static void ngx_chatvisor_cluster_max_age(jsStreamConfig *sc,
    int64_t max_age);
static void ngx_chatvisor_cluster_deny_delete(ngx_chatvisor_cluster_t *cl,
    jsStreamInfo *si);
static ngx_int_t ngx_chatvisor_cluster_reachable(ngx_chatvisor_cluster_t *cl,
    uint64_t from, int64_t from_at);


/* writes are taken while this worker's reader runs: a write is answered
 * once the reader got past it, so without one it would only wait */
static void
ngx_chatvisor_cluster_ready(ngx_chatvisor_cluster_t *cl, ngx_uint_t ready)
{
    pthread_mutex_lock(&cl->mu);
    cl->ready = ready && !cl->stuck;
    pthread_mutex_unlock(&cl->mu);
}


/* a libnats thread: the connection is lost; the reader's consumer may go
 * with the servers that held it (libnats would notice only once its
 * heartbeats are missed): our thread makes a new one once connected */
static void
ngx_chatvisor_cluster_disconnected(natsConnection *nc, void *closure)
{
    ngx_chatvisor_cluster_t *cl = closure;

    pthread_mutex_lock(&cl->mu);
    cl->lost = 1;
    cl->ready = 0;
    pthread_cond_signal(&cl->cond);
    pthread_mutex_unlock(&cl->mu);
}


/* a libnats thread: connected at last (our thread's next tick looks) */
static void
ngx_chatvisor_cluster_connected(natsConnection *nc, void *closure)
{
    ngx_chatvisor_cluster_t *cl = closure;

    pthread_mutex_lock(&cl->mu);
    pthread_cond_signal(&cl->cond);
    pthread_mutex_unlock(&cl->mu);
}


/*
 * Not connected: why, as libnats last said (the servers refuse the
 * credentials, libnats cannot read them, a certificate does not verify),
 * logged at error once per change: a node that answers writes 503 says
 * why. libnats' texts name files, never their content.
 */
static void
ngx_chatvisor_cluster_why(ngx_chatvisor_cluster_t *cl)
{
    int                            n;
    char                           text[NGX_CHATVISOR_CLUSTER_WHY_LEN];
    char                           note[NGX_MAX_ERROR_STR];
    natsStatus                     s;
    const char                    *last;
    ngx_chatvisor_cluster_item_t  *it;

    last = NULL;
    s = natsConnection_GetLastError(cl->nc, &last);

    /* "no server available" follows the cause once libnats tried every
     * server: the cause stays the one told */
    if (s == NATS_OK || s == NATS_NO_SERVER || last == NULL
        || last[0] == '\0')
    {
        return;
    }

    /* libnats' own buffer, which its threads may be writing: a copy */
    (void) snprintf(text, sizeof(text), "%s", last);

    if (strcmp(text, cl->why) == 0) {
        return;
    }

    ngx_memcpy(cl->why, text, sizeof(text));

    n = snprintf(note, sizeof(note), "not connected to the cluster, writes "
                 "answer 503: %s (%s)", text, natsStatus_GetText(s));
    if (n < 0) {
        return;
    }

    it = ngx_chatvisor_cluster_item(NGX_CHATVISOR_CLUSTER_NOTE_ERR, note,
                                    ngx_min((size_t) n, sizeof(note) - 1));
    if (it) {
        ngx_chatvisor_cluster_push(cl, it);
    }
}


static void
ngx_chatvisor_cluster_connect(ngx_chatvisor_cluster_t *cl)
{
    jsOptions                   jo;
    natsStatus                  s;
    natsOptions                *opts;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = cl->cmcf;

    s = natsOptions_Create(&opts);
    if (s != NATS_OK) {
        return;
    }

    s = natsOptions_SetServers(opts, (const char **) cmcf->cluster.urls,
                               (int) cmcf->cluster.nurls);

    if (s == NATS_OK) {
        /* never give up, and never buffer while disconnected: a write
         * that cannot reach the cluster is refused at once (503) */
        s = natsOptions_SetMaxReconnect(opts, -1);
    }

    if (s == NATS_OK) {
        s = natsOptions_SetReconnectWait(opts,
                                         NGX_CHATVISOR_CLUSTER_RECONNECT);
    }

    if (s == NATS_OK) {
        /* with a callback the first connect does not wait either */
        s = natsOptions_SetRetryOnFailedConnect(opts, true,
                                        ngx_chatvisor_cluster_connected, cl);
    }

    if (s == NATS_OK) {
        s = natsOptions_SetTimeout(opts, NGX_CHATVISOR_CLUSTER_API_WAIT);
    }

    if (s == NATS_OK) {
        s = natsOptions_SetDisconnectedCB(opts,
                                    ngx_chatvisor_cluster_disconnected, cl);
    }

    if (s == NATS_OK) {
        s = natsOptions_SetReconnectedCB(opts,
                                    ngx_chatvisor_cluster_connected, cl);
    }

    if (s == NATS_OK && cmcf->cluster.tls) {
        s = natsOptions_SetSecure(opts, true);
    }

    if (s == NATS_OK && cmcf->cluster.credentials.len) {
        s = natsOptions_SetUserCredentialsFromFiles(opts,
                             (const char *) cmcf->cluster.credentials.data,
                             NULL);
    }

    if (s == NATS_OK) {
        s = natsConnection_Connect(&cl->nc, opts);

        if (s == NATS_NOT_YET_CONNECTED) {
            s = NATS_OK;    /* libnats goes on trying */
        }
    }

    natsOptions_Destroy(opts);

    if (s != NATS_OK) {
        ngx_chatvisor_cluster_note(cl, "cannot connect to the cluster", s);
        cl->nc = NULL;
        return;
    }

    jsOptions_Init(&jo);
    jo.Wait = NGX_CHATVISOR_CLUSTER_API_WAIT;
    jo.PublishAsync.MaxPending = NGX_CHATVISOR_CLUSTER_MAX_PENDING;
    jo.PublishAsync.AckHandler = ngx_chatvisor_cluster_acked;
    jo.PublishAsync.AckHandlerClosure = cl;

    s = natsConnection_JetStream(&cl->js, cl->nc, &jo);
    if (s != NATS_OK) {
        ngx_chatvisor_cluster_note(cl, "no JetStream context", s);
        natsConnection_Destroy(cl->nc);
        cl->nc = NULL;
        cl->js = NULL;
        return;
    }

    pthread_mutex_lock(&cl->mu);
    cl->linked = 1;
    pthread_mutex_unlock(&cl->mu);
}


/* the stream, made when it is missing */
static void
ngx_chatvisor_cluster_stream(ngx_chatvisor_cluster_t *cl)
{
    char                        text[NGX_MAX_ERROR_STR];
    int64_t                     max_age;
    jsErrCode                   jerr;
    natsStatus                  s;
    const char                 *subjects[1];
    jsStreamInfo               *si, *up;
    jsStreamConfig              sc;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = cl->cmcf;
    si = NULL;
    jerr = 0;

    /* what chatvisor_retention purges from the stores leaves the stream
     * too: its maximum age (0, off: for ever) */
    max_age = (int64_t) cmcf->retention * NGX_CHATVISOR_CLUSTER_NS_PER_S;

    s = js_GetStreamInfo(&si, cl->js, (const char *) cmcf->cluster.stream.data,
                         NULL, &jerr);

    if (s == NATS_NOT_FOUND) {
        jsStreamConfig_Init(&sc);
        subjects[0] = (const char *) cmcf->cluster.subject.data;
        sc.Name = (const char *) cmcf->cluster.stream.data;
        sc.Subjects = subjects;
        sc.SubjectsLen = 1;
        sc.Storage = js_FileStorage;
        sc.Replicas = (int64_t) cmcf->cluster.replicas;
        ngx_chatvisor_cluster_max_age(&sc, max_age);

        s = js_AddStream(&si, cl->js, &sc, NULL, &jerr);

    } else if (s == NATS_OK && si->Config->MaxAge != max_age) {
        ngx_chatvisor_cluster_max_age(si->Config, max_age);

        up = NULL;
        s = js_UpdateStream(&up, cl->js, si->Config, NULL, &jerr);

        if (s == NATS_OK) {
            jsStreamInfo_Destroy(up);

            (void) snprintf(text, sizeof(text), "the stream keeps commands "
                            "for %llds now (chatvisor_retention; 0: "
                            "for ever)", (long long) cmcf->retention);
            ngx_chatvisor_cluster_note(cl, text, NATS_OK);
        }
    }

    if (s != NATS_OK) {
        jsStreamInfo_Destroy(si);
        ngx_chatvisor_cluster_note(cl, "the stream is not available", s);
        return;
    }

    ngx_chatvisor_cluster_deny_delete(cl, si);

    jsStreamInfo_Destroy(si);
    cl->stream_ok = 1;
    ngx_chatvisor_cluster_note(cl, "the stream is available", NATS_OK);
}


/*
 * A stream made elsewhere with deny_delete (which JetStream does not let
 * an update change) keeps an erased customer's commands until they age
 * out: erasure is not complete there, so it is said at error, once a
 * connection, with the remedy.
 */
static void
ngx_chatvisor_cluster_deny_delete(ngx_chatvisor_cluster_t *cl,
    jsStreamInfo *si)
{
    ngx_chatvisor_cluster_item_t  *it;

    static const char  text[] = "the stream denies deletes (deny_delete): "
        "an erased customer's commands stay in it until they age out "
        "(chatvisor_retention), so erasure is not complete; make the "
        "stream anew without deny_delete (docs/cluster.md)";

    if (si->Config == NULL || !si->Config->DenyDelete) {
        return;
    }

    it = ngx_chatvisor_cluster_item(NGX_CHATVISOR_CLUSTER_NOTE_ERR, text,
                                    sizeof(text) - 1);
    if (it) {
        ngx_chatvisor_cluster_push(cl, it);
    }
}


static void
ngx_chatvisor_cluster_max_age(jsStreamConfig *sc, int64_t max_age)
{
    sc->MaxAge = max_age;

    if (max_age && (sc->Duplicates == 0
                    || sc->Duplicates > max_age))
    {
        sc->Duplicates = ngx_min(max_age, NGX_CHATVISOR_CLUSTER_DUPLICATES);
    }
}


/*
 * Whether the reader may start at "from": what the stream no longer has
 * before its first seq was erased (a customer's commands: nothing this
 * node needs), or aged out (a maximum age, chatvisor_retention), which
 * this node would then miss for good. Erasures never need a check; an age
 * may have taken what this node did not apply when its last command is
 * older than the age, or, for an empty store, when the stream is.
 */
static ngx_int_t
ngx_chatvisor_cluster_reachable(ngx_chatvisor_cluster_t *cl, uint64_t from,
    int64_t from_at)
{
    char                         text[NGX_MAX_ERROR_STR];
    int64_t                      now, age, margin, since;
    jsErrCode                    jerr;
    natsStatus                   s;
    jsStreamInfo                *si;
    ngx_chatvisor_cluster_item_t *it;

    si = NULL;
    jerr = 0;

    s = js_GetStreamInfo(&si, cl->js,
                         (const char *) cl->cmcf->cluster.stream.data,
                         NULL, &jerr);
    if (s != NATS_OK) {
        ngx_chatvisor_cluster_note(cl, "no stream information", s);
        return NGX_AGAIN;
    }

    age = si->Config->MaxAge / NGX_CHATVISOR_CLUSTER_NS_PER_MS;

    if (from >= si->State.FirstSeq || age == 0) {
        jsStreamInfo_Destroy(si);
        return NGX_OK;
    }

    now = cv_now_ms();
    margin = ngx_min(age / NGX_CHATVISOR_CLUSTER_AGE_MARGIN,
                     NGX_CHATVISOR_CLUSTER_AGE_MARGIN_MAX);

    /* an empty store: the stream's own age says whether any aged out */
    since = (from <= 1) ? si->Created / NGX_CHATVISOR_CLUSTER_NS_PER_MS
                        : from_at;

    if (since && now - since < age - margin) {
        jsStreamInfo_Destroy(si);
        return NGX_OK;
    }

    (void) snprintf(text, sizeof(text),
                    "this node's store is behind what the stream keeps "
                    "(it applied up to seq %llu, the stream begins at seq "
                    "%llu and keeps commands for %llds): this worker "
                    "applies nothing and refuses writes; restore its store "
                    "from a running node's (chatvisorctl backup) and "
                    "restart it",
                    (unsigned long long) (from - 1),
                    (unsigned long long) si->State.FirstSeq,
                    (long long) (age / 1000));

    jsStreamInfo_Destroy(si);

    pthread_mutex_lock(&cl->mu);
    cl->stuck = 1;
    pthread_mutex_unlock(&cl->mu);

    it = ngx_chatvisor_cluster_item(NGX_CHATVISOR_CLUSTER_BEHIND, text,
                                    ngx_strlen(text));
    if (it) {
        ngx_chatvisor_cluster_push(cl, it);
    }

    return NGX_DECLINED;
}


/*
 * The key-value bucket the nodes share (the signing secret, the webhooks'
 * lease), made when it is missing. Opened on every connection, also when
 * the store kept the secret already: the lease needs it.
 */
static void
ngx_chatvisor_cluster_bucket(ngx_chatvisor_cluster_t *cl)
{
    char                        bucket[NGX_MAX_ERROR_STR];
    kvConfig                    kc;
    natsStatus                  s;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = cl->cmcf;

    (void) snprintf(bucket, sizeof(bucket), "%s%s",
                    (const char *) cmcf->cluster.stream.data,
                    NGX_CHATVISOR_CLUSTER_KV_SUFFIX);

    s = js_KeyValue(&cl->kv, cl->js, bucket);

    if (s == NATS_NOT_FOUND) {
        kvConfig_Init(&kc);
        kc.Bucket = bucket;
        kc.History = 1;
        kc.Replicas = (int) cmcf->cluster.replicas;

        s = js_CreateKeyValue(&cl->kv, cl->js, &kc);
    }

    if (s != NATS_OK) {
        cl->kv = NULL;
        ngx_chatvisor_cluster_note(cl, "the shared bucket is not available",
                                   s);
    }
}


/*
 * The signing secret every node uses (a cookie one node signed is good on
 * every other): the first node to put one into the shared key-value
 * bucket wins (kvStore_Create() fails when the key exists), the others
 * read it.
 */
static void
ngx_chatvisor_cluster_secret(ngx_chatvisor_cluster_t *cl)
{
    kvEntry                       *e;
    uint64_t                       rev;
    natsStatus                     s;
    unsigned char                  secret[CV_STORE_SECRET_LEN];
    ngx_chatvisor_cluster_item_t  *it;

    e = NULL;
    s = kvStore_Get(&e, cl->kv, NGX_CHATVISOR_CLUSTER_KV_SECRET);

    if (s == NATS_NOT_FOUND) {
        if (cv_random_bytes(secret, sizeof(secret)) != CV_OK) {
            return;
        }

        s = kvStore_Create(&rev, cl->kv, NGX_CHATVISOR_CLUSTER_KV_SECRET,
                           secret, sizeof(secret));

        if (s == NATS_OK) {
            goto got;
        }

        /* another node's came first */
        s = kvStore_Get(&e, cl->kv, NGX_CHATVISOR_CLUSTER_KV_SECRET);
    }

    if (s != NATS_OK || kvEntry_ValueLen(e) != CV_STORE_SECRET_LEN) {
        kvEntry_Destroy(e);
        ngx_chatvisor_cluster_note(cl, "no shared signing secret yet", s);
        return;
    }

    ngx_memcpy(secret, kvEntry_Value(e), CV_STORE_SECRET_LEN);
    kvEntry_Destroy(e);

got:

    it = ngx_chatvisor_cluster_item(NGX_CHATVISOR_CLUSTER_SECRET, secret,
                                    sizeof(secret));
    if (it == NULL) {
        return;
    }

    ngx_chatvisor_cluster_push(cl, it);
    cl->secret_ok = 1;
}


/* the stream's consumer, from the seq the loop asked for */
static void
ngx_chatvisor_cluster_subscribe(ngx_chatvisor_cluster_t *cl)
{
    char                             text[NGX_INT64_LEN + 32];
    int64_t                          from_at;
    uint64_t                         from, gen;
    jsErrCode                        jerr;
    natsStatus                       s;
    ngx_uint_t                       stuck;
    jsSubOptions                     so;
    ngx_chatvisor_main_conf_t       *cmcf;
    ngx_chatvisor_cluster_reader_t  *r;

    cmcf = cl->cmcf;

    pthread_mutex_lock(&cl->mu);
    from = cl->want_from;
    from_at = cl->want_from_at;
    gen = cl->want_gen;
    stuck = cl->stuck;
    pthread_mutex_unlock(&cl->mu);

    if (stuck) {
        /* until this node is upgraded: nothing more to read */
        if (cl->sub) {
            natsSubscription_Unsubscribe(cl->sub);
            natsSubscription_Destroy(cl->sub);
            cl->sub = NULL;
        }

        return;
    }

    if (cl->sub && cl->sub_made_gen == gen
        && natsSubscription_IsValid(cl->sub))
    {
        ngx_chatvisor_cluster_ready(cl, 1);
        return;
    }

    ngx_chatvisor_cluster_ready(cl, 0);

    if (cl->sub) {
        natsSubscription_Unsubscribe(cl->sub);
        natsSubscription_Destroy(cl->sub);
        cl->sub = NULL;
    }

    /* behind what the stream keeps: stuck from now on; no answer: the
     * next tick asks again */
    if (ngx_chatvisor_cluster_reachable(cl, from, from_at) != NGX_OK) {
        return;
    }

    /*
     * A plain push consumer, not libnats' ordered one: an ordered consumer
     * that libnats resets (a gap, missed heartbeats) while we unsubscribe
     * it is put back into the connection's table of subscriptions after
     * the unsubscribe released it (libnats 3.4 applyNewSID()), and the
     * connection later locks freed memory: workers crashed. Our loop finds
     * gaps itself (CV_CONFLICT, then a new reader), the stall check finds
     * a consumer gone with its server.
     */
    jsSubOptions_Init(&so);
    so.Stream = (const char *) cmcf->cluster.stream.data;
    so.Config.AckPolicy = js_AckNone;
    so.Config.MaxDeliver = 1;
    so.Config.MemoryStorage = true;
    so.Config.FlowControl = true;
    so.Config.Heartbeat = NGX_CHATVISOR_CLUSTER_HEARTBEAT;

    if (from > 1) {
        so.Config.DeliverPolicy = js_DeliverByStartSequence;
        so.Config.OptStartSeq = from;
    }

    /* what the reader delivers is of this generation; before its first,
     * it delivered "from - 1" (cv_cluster_apply_after()'s prev) */
    r = calloc(1, sizeof(ngx_chatvisor_cluster_reader_t));
    if (r == NULL) {
        return;
    }

    r->cl = cl;
    r->gen = gen;
    r->stream = from ? from - 1 : 0;

    jerr = 0;

    s = js_Subscribe(&cl->sub, cl->js,
                     (const char *) cmcf->cluster.subject.data,
                     ngx_chatvisor_cluster_cmd, r, NULL, &so, &jerr);

    if (s != NATS_OK) {
        cl->sub = NULL;
        free(r);
        ngx_chatvisor_cluster_note(cl, "cannot read the stream", s);
        return;
    }

    if (natsSubscription_SetOnCompleteCB(cl->sub,
                                         ngx_chatvisor_cluster_reader_free, r)
        != NATS_OK)
    {
        /* closed already: r stays (a few bytes, once) */
    }

    cl->sub_made_gen = gen;
    ngx_chatvisor_cluster_ready(cl, 1);

    (void) snprintf(text, sizeof(text), "reading the stream from seq %llu",
                    (unsigned long long) (from ? from : 1));
    ngx_chatvisor_cluster_note(cl, text, NATS_OK);
}


static void
ngx_chatvisor_cluster_stall(ngx_chatvisor_cluster_t *cl)
{
    uint64_t                    from, last;
    natsMsg                    *m;
    jsErrCode                   jerr;
    natsStatus                  s;
    ngx_msec_t                  now;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = cl->cmcf;
    now = (ngx_msec_t) (nats_Now());

    if (cl->sub == NULL
        || now - cl->stall_checked < NGX_CHATVISOR_CLUSTER_STALL_CHECK)
    {
        return;
    }

    cl->stall_checked = now;

    pthread_mutex_lock(&cl->mu);
    from = cl->want_from;
    pthread_mutex_unlock(&cl->mu);

    /*
     * The last message there is, not the stream's last seq: an erasure
     * may have removed the last ones, and the stream's last seq stays
     * beyond anything a reader will deliver
     */
    m = NULL;
    jerr = 0;

    s = js_GetLastMsg(&m, cl->js, (const char *) cmcf->cluster.stream.data,
                      (const char *) cmcf->cluster.subject.data, NULL, &jerr);

    if (s == NATS_NOT_FOUND) {
        last = 0;

    } else if (s == NATS_OK) {
        last = natsMsg_GetSequence(m);
        natsMsg_Destroy(m);

    } else {
        return;
    }

    if (last < from || from != cl->stall_from) {
        /* nothing to read, or reading */
        cl->stall_from = from;
        cl->stall_checks = 0;

    } else if (++cl->stall_checks >= NGX_CHATVISOR_CLUSTER_STALL_CHECKS) {
        ngx_chatvisor_cluster_note(cl, "the reader stalled, a new one",
                                   NATS_OK);
        cl->stall_checks = 0;

        natsSubscription_Unsubscribe(cl->sub);
        natsSubscription_Destroy(cl->sub);
        cl->sub = NULL;
    }
}


/*
 * The seqs the loop handed over are removed from the stream (an erased
 * customer's commands, cv_cluster_erase.h), each with js_EraseMsg (its
 * content overwritten on the servers' disks, not only marked deleted);
 * one removed already (by another node, or another worker of this one)
 * or beyond the stream's ends is done too. The loop hears which are done
 * and takes them off the store's to-do; the others stay there, tried
 * again later (no quorum now, a timeout).
 */
static void
ngx_chatvisor_cluster_erase_work(ngx_chatvisor_cluster_t *cl)
{
    size_t                         i, n, ndone;
    int64_t                        start;
    uint64_t                       seqs[CV_CLUSTER_ERASE_BATCH];
    uint64_t                       done[CV_CLUSTER_ERASE_BATCH];
    jsErrCode                      jerr;
    jsOptions                      jo;
    natsStatus                     s, failed;
    jsStreamInfo                  *si;
    ngx_chatvisor_cluster_item_t  *it;
    ngx_chatvisor_main_conf_t     *cmcf;

    cmcf = cl->cmcf;

    pthread_mutex_lock(&cl->mu);
    n = cl->nerase;
    ngx_memcpy(seqs, cl->erase, n * sizeof(uint64_t));
    cl->nerase = 0;
    pthread_mutex_unlock(&cl->mu);

    if (n == 0) {
        return;
    }

    ndone = 0;
    failed = NATS_OK;
    si = NULL;
    start = nats_Now();

    jsOptions_Init(&jo);
    jo.Wait = NGX_CHATVISOR_CLUSTER_ERASE_WAIT;

    for (i = 0; i < n; i++) {
        if (i && nats_Now() - start >= NGX_CHATVISOR_CLUSTER_ERASE_STEP) {
            break;          /* the rest at the next look */
        }

        jerr = 0;
        s = js_EraseMsg(cl->js, (const char *) cmcf->cluster.stream.data,
                        seqs[i], &jo, &jerr);

        if (s != NATS_OK && jerr == JSStreamMsgDeleteFailed && si == NULL) {
            /* a generic failure, or a seq the stream does not have */
            if (js_GetStreamInfo(&si, cl->js,
                                 (const char *) cmcf->cluster.stream.data,
                                 NULL, NULL)
                != NATS_OK)
            {
                si = NULL;
            }
        }

        if (s == NATS_OK || jerr == JSSequenceNotFoundErr
            || (jerr == JSStreamMsgDeleteFailed && si
                && (seqs[i] > si->State.LastSeq
                    || seqs[i] < si->State.FirstSeq)))
        {
            done[ndone++] = seqs[i];

        } else {
            /* refused or not answered: so would the next ones be now */
            failed = s;
            break;
        }
    }

    jsStreamInfo_Destroy(si);

    if (failed != NATS_OK) {
        ngx_chatvisor_cluster_note(cl, "some erased commands are not "
                                   "removed from the stream yet, again "
                                   "later", failed);
    }

    /* even none: the loop hands over the next batch */
    it = ngx_chatvisor_cluster_item(NGX_CHATVISOR_CLUSTER_ERASED, done,
                                    ndone * sizeof(uint64_t));
    if (it == NULL) {
        pthread_mutex_lock(&cl->mu);
        ngx_memcpy(cl->erase, seqs, n * sizeof(uint64_t));
        cl->nerase = n;
        pthread_mutex_unlock(&cl->mu);
        return;
    }

    ngx_chatvisor_cluster_push(cl, it);
}


/* the webhooks' lease: before the stall check and the reader, which may
 * wait for JetStream, so that a renewal is not late for them */
static void
ngx_chatvisor_cluster_lease_run(ngx_chatvisor_cluster_t *cl)
{
    const char  *note;

    note = ngx_chatvisor_cluster_lease_step(&cl->lease, cl->kv, cl->js,
                                  (const char *) cl->cmcf->cluster.stream.data,
                                  &cl->lease_wait);
    if (note) {
        ngx_chatvisor_cluster_note(cl, note, NATS_OK);
    }
}


/* the connection and what was made on it, gone */
static void
ngx_chatvisor_cluster_hang_up(ngx_chatvisor_cluster_t *cl,
    ngx_uint_t exiting)
{
    jsCtx                         *js;
    natsConnection                *nc;
    ngx_chatvisor_cluster_item_t  *it;

    /* the loop's publishers read nc and js under the mutex
     * (ngx_chatvisor_cluster_conn()): from here they see none */
    pthread_mutex_lock(&cl->mu);
    cl->ready = 0;
    cl->linked = 0;
    nc = cl->nc;
    js = cl->js;
    cl->nc = NULL;
    cl->js = NULL;
    pthread_mutex_unlock(&cl->mu);

    if (cl->sub) {
        natsSubscription_Destroy(cl->sub);
        cl->sub = NULL;
    }

    if (cl->typing_sub) {
        natsSubscription_Destroy(cl->typing_sub);
        cl->typing_sub = NULL;
    }

    if (cl->presence_sub) {
        natsSubscription_Destroy(cl->presence_sub);
        cl->presence_sub = NULL;
    }

    if (cl->cobrowse_sub) {
        natsSubscription_Destroy(cl->cobrowse_sub);
        cl->cobrowse_sub = NULL;
    }

    if (cl->kv) {
        kvStore_Destroy(cl->kv);
        cl->kv = NULL;
    }

    if (nc == NULL) {
        return;
    }

    /*
     * A publish of the loop may have taken nc or js just before: the loop
     * destroys them, in a later turn of its own (a worker that exits
     * publishes no more: destroyed here)
     */
    if (!exiting) {
        it = ngx_chatvisor_cluster_item(NGX_CHATVISOR_CLUSTER_HUNG_UP, NULL,
                                        0);
        if (it) {
            it->nc = nc;
            it->js = js;
            ngx_chatvisor_cluster_push(cl, it);
            return;
        }

        /* no memory: both stay (a few hundred bytes, once) */
        return;
    }

    if (js) {
        jsCtx_Destroy(js);
    }

    natsConnection_Destroy(nc);
}


static void
ngx_chatvisor_cluster_step(ngx_chatvisor_cluster_t *cl)
{
    ngx_uint_t  lost;

    if (cl->nc == NULL) {
        ngx_chatvisor_cluster_connect(cl);

        if (cl->nc == NULL) {
            return;
        }
    }

    if (natsConnection_Status(cl->nc) != NATS_CONN_STATUS_CONNECTED) {
        ngx_chatvisor_cluster_ready(cl, 0);

        if (cl->connected_told) {
            cl->connected_told = 0;
            ngx_chatvisor_cluster_note(cl, "disconnected from the cluster, "
                                       "writes answer 503", NATS_OK);
        }

        ngx_chatvisor_cluster_why(cl);

        /*
         * libnats gives a connection up for good once the servers refused
         * its credentials (a user revoked or expired, an account they do
         * not know): a new one at the next tick, so that the node comes
         * back by itself once they are fixed (its .creds file rewritten,
         * the account's JWT on the servers); libnats reads the file anew
         */
        if (natsConnection_Status(cl->nc) == NATS_CONN_STATUS_CLOSED) {
            ngx_chatvisor_cluster_hang_up(cl, 0);
        }

        return;
    }

    cl->why[0] = '\0';

    if (!cl->connected_told) {
        cl->connected_told = 1;
        ngx_chatvisor_cluster_note(cl, "connected to the cluster", NATS_OK);
    }

    if (cl->presence_sub == NULL) {
        if (natsConnection_Subscribe(&cl->presence_sub, cl->nc,
                                     (const char *) cl->presence_subject,
                                     ngx_chatvisor_cluster_presence_in, cl)
            != NATS_OK)
        {
            cl->presence_sub = NULL;
        }
    }

    if (cl->typing_sub == NULL) {
        /* a core subscription: libnats keeps it across reconnects */
        if (natsConnection_Subscribe(&cl->typing_sub, cl->nc,
                                     (const char *) cl->typing_subject,
                                     ngx_chatvisor_cluster_typing_in, cl)
            != NATS_OK)
        {
            cl->typing_sub = NULL;
        }
    }

    /* one worker applies another node's co-browsing to the node's
     * shared table (every worker would apply each chunk again) */
    if (cl->cobrowse_sub == NULL && ngx_worker == 0) {
        if (natsConnection_Subscribe(&cl->cobrowse_sub, cl->nc,
                                     (const char *) cl->cobrowse_subject,
                                     ngx_chatvisor_cluster_cobrowse_in, cl)
            != NATS_OK)
        {
            cl->cobrowse_sub = NULL;
        }
    }

    pthread_mutex_lock(&cl->mu);
    lost = cl->lost;
    cl->lost = 0;
    pthread_mutex_unlock(&cl->mu);

    if (lost && cl->sub) {
        /* back after a loss: a new reader, from where the store is */
        natsSubscription_Unsubscribe(cl->sub);
        natsSubscription_Destroy(cl->sub);
        cl->sub = NULL;
    }

    if (!cl->stream_ok) {
        ngx_chatvisor_cluster_stream(cl);

        if (!cl->stream_ok) {
            return;
        }
    }

    if (cl->kv == NULL) {
        ngx_chatvisor_cluster_bucket(cl);

        if (cl->kv == NULL) {
            return;
        }
    }

    if (!cl->secret_ok) {
        ngx_chatvisor_cluster_secret(cl);

        if (!cl->secret_ok) {
            return;
        }
    }

    ngx_chatvisor_cluster_lease_run(cl);
    ngx_chatvisor_cluster_stall(cl);
    ngx_chatvisor_cluster_subscribe(cl);
    ngx_chatvisor_cluster_erase_work(cl);
}


void *
ngx_chatvisor_cluster_thread(void *data)
{
    ngx_chatvisor_cluster_t *cl = data;

    ngx_msec_t       wait;
    struct timespec  ts;

    pthread_mutex_lock(&cl->mu);

    while (!cl->stop) {
        pthread_mutex_unlock(&cl->mu);

        cl->lease_wait = 0;
        ngx_chatvisor_cluster_step(cl);

        pthread_mutex_lock(&cl->mu);

        if (cl->stop) {
            break;
        }

        /* the lease's renewals come more often than the tick */
        wait = NGX_CHATVISOR_CLUSTER_TICK;

        if (cl->lease_wait && cl->lease_wait < wait) {
            wait = cl->lease_wait;
        }

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (long) (wait % 1000) * 1000000;

        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }

        (void) pthread_cond_timedwait(&cl->cond, &cl->mu, &ts);
    }

    pthread_mutex_unlock(&cl->mu);

    /* an exiting worker's lease goes to the others at once */
    if (cl->nc
        && natsConnection_Status(cl->nc) == NATS_CONN_STATUS_CONNECTED)
    {
        ngx_chatvisor_cluster_lease_release(&cl->lease, cl->kv);
    }

    ngx_chatvisor_cluster_hang_up(cl, 1);

    /*
     * libnats' own threads must be gone before the process exits (they
     * crashed it during exit's cleanup): wait for them. Not with tls=on:
     * nats_Close() then leaves OpenSSL in a state that OpenSSL's own
     * cleanup at exit crashes on (t/124); there, libnats' last calls find
     * cl (never freed) and its pipe (closed only by the exit).
     */
    if (!cl->cmcf->cluster.tls) {
        (void) nats_CloseAndWait(NGX_CHATVISOR_CLUSTER_CLOSE_WAIT);
    }

    return NULL;
}
