/*
 * bench/lib/jsload.c: JetStream alone under bench/cluster's load, no nginx.
 *
 * What a cluster of nodes cannot go below: the same stream (file storage,
 * REPLICAS), one publisher connected to the first server publishing
 * asynchronously as a node does (js_PublishMsgAsync), and one push
 * consumer per server as each node has (AckNone, memory storage, flow
 * control, heartbeats). A message's latency is from its publish to its
 * delivery to the consumer on the second server (the visitor's node in
 * bench/cluster's cluster3); every consumer must have every message.
 *
 *   jsload URLS STREAM REPLICAS SECONDS RATE CHANNELS SIZE
 *
 * URLS: the servers' URLs, comma-separated (the publisher on the first,
 * the measured consumer on the second, or the first when alone). RATE 0:
 * closed loop, CHANNELS messages in flight (one per channel, the next
 * published once the last was delivered), as bench/lib/chatload.c's
 * saturated run; otherwise RATE messages a second in all, open loop.
 * SIZE: bytes of a message (a chat command is about 300).
 *
 * Prints "rate=R p50=MS p99=MS delivered=N errors=E lost=L" as chatload.
 *
 * Build: cc -O2 -o jsload jsload.c -lnats -lpthread
 */

#define _GNU_SOURCE

#include <nats/nats.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#define JSLOAD_SERVERS_MAX   8
#define JSLOAD_HEARTBEAT_MS  2000
#define JSLOAD_DRAIN_MS      2000
#define JSLOAD_SETTLE_MS     500


typedef struct {
    int                  index;
    uint64_t             got;
} jsload_consumer;


static pthread_mutex_t   mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t    cond = PTHREAD_COND_INITIALIZER;
static int               in_flight;
static int               measuring;
static uint64_t          published;
static uint64_t          errors;
static double           *lat;
static size_t            nlat, lat_cap;


static double
now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}


static void
sleep_ms(double ms)
{
    struct timespec  ts;

    if (ms <= 0) {
        return;
    }

    ts.tv_sec = (time_t) (ms / 1e3);
    ts.tv_nsec = (long) ((ms - ts.tv_sec * 1e3) * 1e6);
    nanosleep(&ts, NULL);
}


static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


static void
on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    double            sent, t;
    const char       *data;
    jsload_consumer  *c = closure;

    (void) nc;
    (void) sub;

    __atomic_fetch_add(&c->got, 1, __ATOMIC_RELAXED);

    /* the measured consumer: the latency, and the channel free again */
    if (c->index == 1) {
        t = now_ms();
        data = natsMsg_GetData(msg);

        if (data && sscanf(data, "t=%lf", &sent) == 1) {
            pthread_mutex_lock(&mu);

            if (measuring && nlat < lat_cap) {
                lat[nlat++] = t - sent;
            }

            in_flight--;
            pthread_cond_signal(&cond);
            pthread_mutex_unlock(&mu);
        }
    }

    natsMsg_Destroy(msg);
}


static void
on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void) js;
    (void) pa;
    (void) closure;

    if (pae != NULL) {
        pthread_mutex_lock(&mu);
        errors++;
        pthread_mutex_unlock(&mu);
    }

    natsMsg_Destroy(msg);
}


static int
fail(const char *what, natsStatus s)
{
    fprintf(stderr, "jsload: %s: %s\n", what, natsStatus_GetText(s));
    nats_PrintLastErrorStack(stderr);
    return 1;
}


int
main(int argc, char **argv)
{
    int                 i, n, replicas, channels, size;
    char               *urls[JSLOAD_SERVERS_MAX], *list, *p, *body, *subject;
    double              seconds, rate, start, end, next, t;
    uint64_t            seq, want;
    natsStatus          s;
    jsErrCode           jerr;
    jsCtx              *js[JSLOAD_SERVERS_MAX];
    jsOptions           jo;
    jsSubOptions        so;
    jsStreamInfo       *si;
    jsStreamConfig      cfg;
    natsConnection     *nc[JSLOAD_SERVERS_MAX];
    natsSubscription   *sub[JSLOAD_SERVERS_MAX];
    jsload_consumer     cons[JSLOAD_SERVERS_MAX];
    const char         *subjects[1];

    if (argc != 8) {
        fprintf(stderr, "usage: jsload URLS STREAM REPLICAS SECONDS RATE "
                        "CHANNELS SIZE\n");
        return 2;
    }

    list = strdup(argv[1]);
    for (n = 0, p = strtok(list, ","); p && n < JSLOAD_SERVERS_MAX;
         p = strtok(NULL, ","))
    {
        urls[n++] = p;
    }

    replicas = atoi(argv[3]);
    seconds = atof(argv[4]);
    rate = atof(argv[5]);
    channels = atoi(argv[6]);
    size = atoi(argv[7]);

    if (n == 0 || replicas < 1 || seconds <= 0 || channels < 1 || size < 32) {
        fprintf(stderr, "jsload: bad arguments\n");
        return 2;
    }

    lat_cap = (size_t) ((rate > 0 ? rate : 200000) * seconds) + 1024;
    lat = malloc(lat_cap * sizeof(double));
    body = malloc((size_t) size + 1);
    subject = malloc(strlen(argv[2]) + 8);

    if (lat == NULL || body == NULL || subject == NULL) {
        return 1;
    }

    sprintf(subject, "%s.cmd", argv[2]);
    subjects[0] = subject;

    for (i = 0; i < n; i++) {
        s = natsConnection_ConnectTo(&nc[i], urls[i]);
        if (s != NATS_OK) {
            return fail("connect", s);
        }

        jsOptions_Init(&jo);
        jo.PublishAsync.AckHandler = on_ack;
        jo.PublishAsync.MaxPending = 4096;

        s = natsConnection_JetStream(&js[i], nc[i], &jo);
        if (s != NATS_OK) {
            return fail("JetStream context", s);
        }
    }

    jsStreamConfig_Init(&cfg);
    cfg.Name = argv[2];
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Replicas = replicas;
    cfg.Storage = js_FileStorage;

    si = NULL;
    jerr = 0;
    s = js_AddStream(&si, js[0], &cfg, NULL, &jerr);
    if (s != NATS_OK && jerr != JSStreamNameExistErr) {
        return fail("add stream", s);
    }
    jsStreamInfo_Destroy(si);

    /* one consumer per server, from what comes next, as each node reads */
    for (i = 0; i < n; i++) {
        cons[i].index = (n == 1) ? 1 : i;
        cons[i].got = 0;

        jsSubOptions_Init(&so);
        so.Stream = argv[2];
        so.Config.AckPolicy = js_AckNone;
        so.Config.MaxDeliver = 1;
        so.Config.MemoryStorage = true;
        so.Config.FlowControl = true;
        so.Config.Heartbeat = (int64_t) JSLOAD_HEARTBEAT_MS * 1000000;
        so.Config.DeliverPolicy = js_DeliverNew;

        s = js_Subscribe(&sub[i], js[i], subject, on_msg, &cons[i], NULL, &so,
                         &jerr);
        if (s != NATS_OK) {
            return fail("subscribe", s);
        }
    }

    sleep_ms(JSLOAD_SETTLE_MS);

    memset(body, 'x', (size_t) size);
    body[size] = '\0';

    pthread_mutex_lock(&mu);
    measuring = 1;
    pthread_mutex_unlock(&mu);

    start = now_ms();
    end = start + seconds * 1e3;
    next = start;
    seq = 0;

    while ((t = now_ms()) < end) {
        if (rate > 0) {
            if (t < next) {
                sleep_ms(next - t);
                continue;
            }
            next += 1e3 / rate;

        } else {
            pthread_mutex_lock(&mu);
            while (in_flight >= channels && now_ms() < end) {
                struct timespec  ts;

                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 10000000;
                if (ts.tv_nsec >= 1000000000) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&cond, &mu, &ts);
            }
            pthread_mutex_unlock(&mu);

            if (now_ms() >= end) {
                break;
            }
        }

        /* the send time leads the body, padded to the size */
        i = snprintf(body, (size_t) size, "t=%.6f ", now_ms());
        body[i] = ' ';

        pthread_mutex_lock(&mu);
        in_flight++;
        pthread_mutex_unlock(&mu);

        s = js_PublishAsync(js[0], subject, body, size, NULL);
        if (s != NATS_OK) {
            pthread_mutex_lock(&mu);
            errors++;
            in_flight--;
            pthread_mutex_unlock(&mu);
            continue;
        }

        seq++;
    }

    t = now_ms();

    pthread_mutex_lock(&mu);
    measuring = 0;
    published = seq;
    pthread_mutex_unlock(&mu);

    /* what was published arrives everywhere */
    js_PublishAsyncComplete(js[0], NULL);
    want = published;
    for (i = 0; i < n; i++) {
        double  deadline = now_ms() + JSLOAD_DRAIN_MS;

        while (__atomic_load_n(&cons[i].got, __ATOMIC_RELAXED) < want
               && now_ms() < deadline)
        {
            sleep_ms(1);
        }
    }

    qsort(lat, nlat, sizeof(double), cmp_double);

    {
        uint64_t  lost = 0;

        for (i = 0; i < n; i++) {
            if (cons[i].got < want) {
                lost += want - cons[i].got;
            }
        }

        printf("rate=%.1f p50=%.3f p99=%.3f delivered=%zu errors=%llu "
               "lost=%llu\n",
               nlat / ((t - start) / 1e3),
               nlat ? lat[nlat / 2] : 0.0,
               nlat ? lat[(size_t) (nlat * 0.99)] : 0.0,
               nlat, (unsigned long long) errors, (unsigned long long) lost);
    }

    for (i = 0; i < n; i++) {
        natsSubscription_Unsubscribe(sub[i]);
        natsSubscription_Destroy(sub[i]);
        jsCtx_Destroy(js[i]);
        natsConnection_Destroy(nc[i]);
    }

    free(lat);
    free(body);
    free(subject);
    free(list);
    nats_Close();

    return 0;
}
