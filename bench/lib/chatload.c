/*
 * chatload — the load generator of bench/chat: one thread, epoll, HTTP/1.1
 * keep-alive connections to 127.0.0.1, no dependencies.
 *
 * It drives the same pub/sub long-poll pattern against two servers:
 *
 *   nchan      publish:   POST /pub/CHANNEL            (nchan_publisher)
 *              subscribe: GET /sub/CHANNEL with If-Modified-Since /
 *                         If-None-Match from the last answer's Last-Modified
 *                         / Etag (nchan_subscriber longpoll)
 *   chatvisor  publish:   POST /chatvisor/v1/agent/conversations/ID/messages
 *                         (agent cookie + X-Chatvisor-CSRF)
 *              subscribe: GET /chatvisor/v1/visitor/events?after=CURSOR
 *                         &conversation=ID (the visitor's cookie)
 *
 * A message's text is "msg#K ..." (K counts per channel), so a delivery is
 * found the same way in nchan's raw body and in chatvisor's JSON events.
 *
 * Commands (results on stdout, one line of key=value):
 *
 *   chatload setup-cv PORT N CONC STATE AGENT_COOKIE CSRF
 *       N visitors, each: POST v1/visitor/messages (a new conversation and
 *       its cv_visitor cookie), an agent reply that assigns it to the agent
 *       (skipped when AGENT_COOKIE is "-"), GET events?after=0&wait=0 for
 *       the cursor. CONC connections. STATE gets "cookie conv cursor" lines.
 *   chatload setup-nchan PORT N CONC STATE
 *       N channels c0..cN-1, each: one published message, then a subscribe
 *       without a cursor (answers at once with it) for Last-Modified/Etag.
 *       STATE gets "channel<TAB>last-modified<TAB>etag" lines.
 *   chatload run KIND PORT STATE SECONDS RATE [AGENT_COOKIE CSRF]
 *       One subscriber and one publisher connection per line of STATE. RATE
 *       0: closed loop, each channel publishes its next message as soon as
 *       the previous one was delivered (and its publish answered): the
 *       throughput at saturation. RATE > 0: open loop, RATE messages/second
 *       in all, channels in turn (a message due on a channel whose previous
 *       publish is still unanswered waits, and its latency counts from when
 *       it was due). Latency: from writing the publish request to reading
 *       the poll answer that carries the message. After SECONDS it stops
 *       publishing, waits for what is in flight (at most 5 s) and rewrites
 *       STATE with the cursors reached. Its line's t0 is when the measured
 *       SECONDS began (CLOCK_MONOTONIC).
 *       With CHATLOAD_PATH in the environment (chatvisor only), the path
 *       measured [agent]:
 *         agent    the agent's reply to the visitor's poll (as above)
 *         tab      the visitor's own message (POST v1/visitor/messages,
 *                  its cookie) to the visitor's poll, as another tab of
 *                  the same visitor holds it
 *         console  the visitor's message to the agent console's poll
 *                  (GET v1/agent/events?after=GSEQ, the agent's cookie,
 *                  starting from GET v1/agent/me's cursor): CHATLOAD_CONSOLES
 *                  such polls [1], each receiving every message; no
 *                  visitor poll is held. A latency per message and console.
 *       With CHATLOAD_PUB_PORT=P in the environment, the publishers
 *       connect to port P instead of PORT (another node of a cluster:
 *       bench/cluster).
 *       With CHATLOAD_LOG=FILE in the environment, it also writes each
 *       message delivered while measuring to FILE, "CHANNEL K TPUB TDEL" a
 *       line (CHANNEL: the conversation id or nchan's channel; times on
 *       CLOCK_MONOTONIC, in seconds), for bench/webhooks.
 *   chatload hold KIND PORT STATE COUNT
 *       Opens COUNT connections, each holding one long-poll (the first
 *       COUNT lines of STATE), prints "held=COUNT" once every request is
 *       written and none has been answered for a second, then waits for
 *       stdin to close and reports polls answered meanwhile (timeouts).
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RING  256
#define HELLO    "{\"text\":\"Hello!\"}"
#define WELCOME  "{\"text\":\"Welcome!\"}"
#define TEXT_PAD "lorem ipsum dolor sit amet, consectetur adipiscing"

enum { KIND_NCHAN, KIND_CV };
enum { PATH_AGENT, PATH_TAB, PATH_CONSOLE };
enum { ROLE_SUB, ROLE_PUB, ROLE_SETUP };

typedef struct conn  conn;
typedef struct chan  chan;

typedef struct {
    int     status;
    char   *hdr;
    size_t  hlen;
    char   *body;
    size_t  blen;
} resp;

typedef void (*resp_cb)(conn *c, resp *r);

struct conn {
    int      fd;
    int      role;
    void    *owner;
    char    *wbuf;
    size_t   wlen, woff, wcap;
    char    *rbuf;
    size_t   rlen, rcap;
    int      busy;
    int      want_out;
    resp_cb  cb;
};

struct chan {
    int       idx;
    conn     *sub, *pub;
    /* chatvisor */
    char      cookie[256];
    char      conv[64];
    uint64_t  cursor;
    /* nchan */
    char      name[64];
    char      lastmod[64];
    char      etag[64];
    /* run */
    uint32_t  next_k;         /* next message number to publish */
    uint32_t  delivered_k;    /* highest delivered */
    double    tpub[RING];     /* publish time of message k, by k % RING */
    uint32_t  pending;        /* open loop: due but not yet sent */
    double    due[RING];      /* their due times, FIFO */
    uint32_t  due_head;
    int       step;           /* setup */
};

static int      kind, port, pub_port, epfd;
static int      path = PATH_AGENT;

/* the console path: its polls, each with what it has seen per channel */
typedef struct {
    conn       *c;
    uint64_t    cursor;
    uint32_t   *dk;           /* highest message delivered, per channel */
} console;

static console *consoles;
static int      nconsoles = 1;
static char     agent_cookie[512] = "-", csrf[256] = "-";
static chan    *chans;
static int      nchans;
static double   now_s;

static double  *lat;          /* measured latencies, seconds */
static size_t   nlat, latcap;
static uint64_t delivered, delivered_win, published, errors, answered;
static int      measuring, stopping;
static double   t_end;
static double   rate;

static void
die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "chatload: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static double
mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *
xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL) {
        die("out of memory");
    }
    return p;
}

/* ------------------------------------------------------------ connections */

static void
conn_events(conn *c, int out)
{
    struct epoll_event ev;

    if (c->want_out == out) {
        return;
    }
    c->want_out = out;
    ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
    ev.data.ptr = c;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        die("epoll_ctl: %s", strerror(errno));
    }
}

static conn *
conn_open(int role, void *owner, resp_cb cb)
{
    int                 fd, one = 1;
    conn               *c;
    struct sockaddr_in  sa;
    struct epoll_event  ev;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        die("socket: %s", strerror(errno));
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    /* CHATLOAD_PUB_PORT: publishers on another server (a cluster node) */
    sa.sin_port = htons(role == ROLE_PUB && pub_port ? pub_port : port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* blocking connect: loopback completes it in the kernel */
    while (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
        if (errno != EINTR) {
            die("connect to port %d: %s", port, strerror(errno));
        }
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        die("out of memory");
    }
    c->fd = fd;
    c->role = role;
    c->owner = owner;
    c->cb = cb;
    c->rcap = 4096;
    c->rbuf = xrealloc(NULL, c->rcap);

    ev.events = EPOLLIN;
    ev.data.ptr = c;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        die("epoll_ctl: %s", strerror(errno));
    }
    return c;
}

static void
conn_close(conn *c)
{
    if (c == NULL) {
        return;
    }
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->wbuf);
    free(c->rbuf);
    free(c);
}

static void
conn_flush(conn *c)
{
    ssize_t n;

    while (c->woff < c->wlen) {
        n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
        if (n > 0) {
            c->woff += n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            conn_events(c, 1);
            return;
        }
        die("write: %s", n < 0 ? strerror(errno) : "0 bytes");
    }
    c->woff = c->wlen = 0;
    conn_events(c, 0);
}

/* writes one request (printf-style, the whole request) */
static void
conn_send(conn *c, const char *fmt, ...)
{
    int      n;
    va_list  ap;

    for ( ;; ) {
        va_start(ap, fmt);
        n = vsnprintf(c->wbuf ? c->wbuf + c->wlen : NULL,
                      c->wbuf ? c->wcap - c->wlen : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            die("vsnprintf");
        }
        if (c->wbuf && (size_t) n < c->wcap - c->wlen) {
            break;
        }
        c->wcap = c->wlen + n + 1024;
        c->wbuf = xrealloc(c->wbuf, c->wcap);
    }
    c->wlen += n;
    c->busy = 1;
    conn_flush(c);
}

static int
hdr_get(resp *r, const char *name, char **val, size_t *vlen, char **from)
{
    size_t  nl = strlen(name);
    char   *p = from && *from ? *from : r->hdr, *end = r->hdr + r->hlen, *e, *v;

    while (p < end) {
        e = memmem(p, end - p, "\r\n", 2);
        if (e == NULL) {
            e = end;
        }
        if ((size_t) (e - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            v = p + nl + 1;
            while (v < e && (*v == ' ' || *v == '\t')) {
                v++;
            }
            *val = v;
            *vlen = e - v;
            if (from) {
                *from = e + 2;
            }
            return 1;
        }
        p = e + 2;
    }
    return 0;
}

/*
 * One complete response at the start of c->rbuf: its length (0: incomplete).
 * A chunked body is decoded in place over the chunk framing.
 */
static size_t
parse_resp(conn *c, resp *r)
{
    char    *p = c->rbuf, *end = c->rbuf + c->rlen, *he, *v, *q, *out;
    size_t   vlen, len, total;

    he = memmem(p, c->rlen, "\r\n\r\n", 4);
    if (he == NULL) {
        return 0;
    }
    if (c->rlen < 12 || strncmp(p, "HTTP/1.", 7) != 0) {
        die("bad response: %.40s", p);
    }
    r->status = atoi(p + 9);
    q = memmem(p, he - p, "\r\n", 2);
    r->hdr = q + 2;
    r->hlen = he + 2 - r->hdr;
    r->body = he + 4;

    if (hdr_get(r, "Content-Length", &v, &vlen, NULL)) {
        len = strtoul(v, NULL, 10);
        if ((size_t) (end - r->body) < len) {
            return 0;
        }
        r->blen = len;
        return r->body + len - c->rbuf;
    }
    if (hdr_get(r, "Transfer-Encoding", &v, &vlen, NULL)
        && vlen >= 7 && strncasecmp(v, "chunked", 7) == 0)
    {
        /* first check it is complete, then decode */
        q = r->body;
        for ( ;; ) {
            char *le = memmem(q, end - q, "\r\n", 2);
            if (le == NULL) {
                return 0;
            }
            len = strtoul(q, NULL, 16);
            q = le + 2;
            if (len == 0) {
                le = memmem(q, end - q, "\r\n", 2);   /* no trailers */
                if (le == NULL) {
                    return 0;
                }
                total = le + 2 - c->rbuf;
                break;
            }
            if ((size_t) (end - q) < len + 2) {
                return 0;
            }
            q += len + 2;
        }
        q = r->body;
        out = r->body;
        for ( ;; ) {
            char *le = memmem(q, end - q, "\r\n", 2);
            len = strtoul(q, NULL, 16);
            q = le + 2;
            if (len == 0) {
                break;
            }
            memmove(out, q, len);
            out += len;
            q += len + 2;
        }
        r->blen = out - r->body;
        return total;
    }
    /* no length: only for bodiless answers */
    r->blen = 0;
    return he + 4 - c->rbuf;
}

static void
conn_read(conn *c)
{
    ssize_t  n;
    size_t   used;
    resp     r;

    for ( ;; ) {
        if (c->rcap - c->rlen < 4096) {
            c->rcap *= 2;
            c->rbuf = xrealloc(c->rbuf, c->rcap);
        }
        n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen - 1);
        if (n > 0) {
            c->rlen += n;
            if ((size_t) n < c->rcap - c->rlen - 1 + n) {
                /* a short read: all there is for now (level-triggered
                 * epoll reports the rest), no read just to see EAGAIN */
                break;
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            break;
        }
        if (stopping) {
            return;
        }
        die("connection closed by the server (%s, role %d)",
            n < 0 ? strerror(errno) : "EOF", c->role);
    }

    while (c->rlen) {
        c->rbuf[c->rlen] = '\0';
        used = parse_resp(c, &r);
        if (used == 0) {
            break;
        }
        c->busy = 0;
        /* the callback may send on c (appending to wbuf), not read */
        c->cb(c, &r);
        memmove(c->rbuf, c->rbuf + used, c->rlen - used);
        c->rlen -= used;
    }
}

/* waits up to timeout seconds (< 0: forever), with epoll_pwait2's
 * nanosecond timeout, so a paced sender sleeps instead of spinning */
static int
loop_wait(double timeout)
{
    int                 i, n;
    conn               *c;
    struct timespec     ts;
    struct epoll_event  evs[256];

    if (timeout < 0) {
        timeout = 3600;
    }
    ts.tv_sec = (time_t) timeout;
    ts.tv_nsec = (long) ((timeout - ts.tv_sec) * 1e9);
    n = epoll_pwait2(epfd, evs, 256, &ts, NULL);
    if (n < 0) {
        if (errno == EINTR) {
            return 0;
        }
        die("epoll_wait: %s", strerror(errno));
    }
    now_s = mono();
    for (i = 0; i < n; i++) {
        c = evs[i].data.ptr;
        if (evs[i].events & EPOLLOUT) {
            conn_flush(c);
        }
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            conn_read(c);
        }
    }
    return n;
}

static int
loop_once(int timeout_ms)
{
    return loop_wait(timeout_ms / 1000.0);
}

/* ------------------------------------------------------------ state files */

static void
state_read(const char *file, int max)
{
    FILE  *f;
    char   line[1024];
    chan  *ch;

    f = fopen(file, "r");
    if (f == NULL) {
        die("%s: %s", file, strerror(errno));
    }
    while (fgets(line, sizeof(line), f) && (max <= 0 || nchans < max)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '\0') {
            continue;
        }
        chans = xrealloc(chans, (nchans + 1) * sizeof(chan));
        ch = &chans[nchans];
        memset(ch, 0, sizeof(*ch));
        ch->idx = nchans;
        if (kind == KIND_CV) {
            unsigned long long cur;
            if (sscanf(line, "%255s %63s %llu", ch->cookie, ch->conv, &cur) != 3) {
                die("%s: bad line '%s'", file, line);
            }
            ch->cursor = cur;
        } else {
            char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
            if (t2 == NULL) {
                die("%s: bad line '%s'", file, line);
            }
            *t1 = *t2 = '\0';
            snprintf(ch->name, sizeof(ch->name), "%.63s", line);
            snprintf(ch->lastmod, sizeof(ch->lastmod), "%.63s", t1 + 1);
            snprintf(ch->etag, sizeof(ch->etag), "%.63s", t2 + 1);
        }
        nchans++;
    }
    fclose(f);
    if (nchans == 0) {
        die("%s: no channels", file);
    }
}

static void
state_write(const char *file)
{
    int    i;
    char   tmp[4096];
    FILE  *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", file);
    f = fopen(tmp, "w");
    if (f == NULL) {
        die("%s: %s", tmp, strerror(errno));
    }
    for (i = 0; i < nchans; i++) {
        if (kind == KIND_CV) {
            fprintf(f, "%s %s %llu\n", chans[i].cookie, chans[i].conv,
                    (unsigned long long) chans[i].cursor);
        } else {
            fprintf(f, "%s\t%s\t%s\n", chans[i].name, chans[i].lastmod,
                    chans[i].etag);
        }
    }
    if (fclose(f) != 0 || rename(tmp, file) != 0) {
        die("writing %s: %s", file, strerror(errno));
    }
}

/* --------------------------------------------------------------- requests */

static void
send_poll(chan *ch)
{
    if (kind == KIND_CV) {
        conn_send(ch->sub,
                  "GET /chatvisor/v1/visitor/events?after=%llu&conversation=%s HTTP/1.1\r\n"
                  "Host: 127.0.0.1:%d\r\nAccept: application/json\r\n"
                  "Cookie: cv_visitor=%s\r\n\r\n",
                  (unsigned long long) ch->cursor, ch->conv, port, ch->cookie);
    } else {
        conn_send(ch->sub,
                  "GET /sub/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                  "If-Modified-Since: %s\r\nIf-None-Match: %s\r\n\r\n",
                  ch->name, port, ch->lastmod, ch->etag);
    }
}

static void
send_publish(chan *ch, uint32_t k)
{
    char text[160];
    int  n;

    /* the console hears every channel: the text names its channel */
    if (path == PATH_CONSOLE) {
        n = snprintf(text, sizeof(text), "msg#%u/%d %s", k, ch->idx, TEXT_PAD);
    } else {
        n = snprintf(text, sizeof(text), "msg#%u %s", k, TEXT_PAD);
    }
    if (kind == KIND_CV && path != PATH_AGENT) {
        /* the visitor writes, with its cookie (another tab of it) */
        conn_send(ch->pub,
                  "POST /chatvisor/v1/visitor/messages HTTP/1.1\r\n"
                  "Host: 127.0.0.1:%d\r\nAccept: application/json\r\n"
                  "Cookie: cv_visitor=%s\r\n"
                  "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                  "{\"text\":\"%s\"}",
                  port, ch->cookie, n + 11, text);
    } else if (kind == KIND_CV) {
        conn_send(ch->pub,
                  "POST /chatvisor/v1/agent/conversations/%s/messages HTTP/1.1\r\n"
                  "Host: 127.0.0.1:%d\r\nAccept: application/json\r\n"
                  "Cookie: cv_agent=%s\r\nX-Chatvisor-CSRF: %s\r\n"
                  "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                  "{\"text\":\"%s\"}",
                  ch->conv, port, agent_cookie, csrf, n + 11, text);
    } else {
        conn_send(ch->pub,
                  "POST /pub/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                  "Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s",
                  ch->name, port, n, text);
    }
}

/* ------------------------------------------------------------------- run */

static void
lat_add(double d)
{
    if (nlat == latcap) {
        latcap = latcap ? 2 * latcap : 65536;
        lat = xrealloc(lat, latcap * sizeof(double));
    }
    lat[nlat++] = d;
}

/* CHATLOAD_LOG: every message delivered while measuring, for
 * bench/webhooks to join with what its receiver read */
typedef struct {
    int       ch;
    uint32_t  k;
    double    tpub, tdel;
} dlog_rec;

static const char  *dlog;
static dlog_rec    *dlogs;
static size_t       ndlog, dlogcap;

static void
dlog_add(chan *ch, uint32_t k, double tpub, double tdel)
{
    if (ndlog == dlogcap) {
        dlogcap = dlogcap ? 2 * dlogcap : 65536;
        dlogs = xrealloc(dlogs, dlogcap * sizeof(dlog_rec));
    }
    dlogs[ndlog].ch = ch->idx;
    dlogs[ndlog].k = k;
    dlogs[ndlog].tpub = tpub;
    dlogs[ndlog].tdel = tdel;
    ndlog++;
}

static void
dlog_write(void)
{
    size_t  i;
    FILE   *f;

    f = fopen(dlog, "w");
    if (f == NULL) {
        die("%s: %s", dlog, strerror(errno));
    }
    for (i = 0; i < ndlog; i++) {
        fprintf(f, "%s %u %.6f %.6f\n", kind == KIND_CV ? chans[dlogs[i].ch].conv
                                                         : chans[dlogs[i].ch].name,
                dlogs[i].k, dlogs[i].tpub, dlogs[i].tdel);
    }
    if (fclose(f) != 0) {
        die("writing %s", dlog);
    }
}

static void publish_next(chan *ch);

static void
send_console_poll(console *cs)
{
    conn_send(cs->c,
              "GET /chatvisor/v1/agent/events?after=%llu HTTP/1.1\r\n"
              "Host: 127.0.0.1:%d\r\nAccept: application/json\r\n"
              "Cookie: cv_agent=%s\r\n\r\n",
              (unsigned long long) cs->cursor, port, agent_cookie);
}

/* the last "cursor": of an answer (events come before it) */
static char *
last_cursor(resp *r)
{
    char *p, *last = NULL, *end = r->body + r->blen;

    for (p = r->body; (p = memmem(p, end - p, "\"cursor\":", 9)) != NULL; p += 9) {
        last = p;
    }
    return last;
}

/* the console's answer: every channel's messages in it */
static void
on_console(conn *c, resp *r)
{
    console   *cs = c->owner;
    chan      *ch;
    char      *p, *q, *end;
    uint32_t   k, min;
    long       idx;
    int        i;

    if (r->status != 200) {
        errors++;
        fprintf(stderr, "chatload: console poll answered %d: %.*s\n", r->status,
                (int) (r->blen > 200 ? 200 : r->blen), r->body);
        if (errors > 20) {
            die("too many errors");
        }
        send_console_poll(cs);
        return;
    }
    answered++;

    end = r->body + r->blen;
    for (p = r->body; (p = memmem(p, end - p, "msg#", 4)) != NULL; p += 4) {
        k = strtoul(p + 4, &q, 10);
        if (*q != '/') {
            continue;
        }
        idx = strtol(q + 1, NULL, 10);
        if (idx < 0 || idx >= nchans) {
            continue;
        }
        ch = &chans[idx];
        if (k == 0 || k > cs->dk[idx] + RING || k <= cs->dk[idx]) {
            continue;       /* seen already (the conversation's last message) */
        }
        cs->dk[idx] = k;
        if (measuring) {
            delivered++;
            if (now_s <= t_end) {
                delivered_win++;
            }
            lat_add(now_s - ch->tpub[k % RING]);
        }
        /* delivered: when every console has it */
        min = k;
        for (i = 0; i < nconsoles; i++) {
            if (consoles[i].dk[idx] < min) {
                min = consoles[i].dk[idx];
            }
        }
        ch->delivered_k = min;
        if (rate == 0 && !stopping) {
            publish_next(ch);
        }
    }

    p = last_cursor(r);
    if (p == NULL) {
        die("console answer without a cursor: %.*s", (int) r->blen, r->body);
    }
    cs->cursor = strtoull(p + 9, NULL, 10);

    if (!stopping) {
        send_console_poll(cs);
    } else {
        for (i = 0; i < nchans; i++) {
            if (cs->dk[i] + 1 < chans[i].next_k) {
                send_console_poll(cs);
                break;
            }
        }
    }
}

/* GET v1/agent/me: where the console's log starts */
static void
on_me(conn *c, resp *r)
{
    console *cs = c->owner;
    char    *p;

    if (r->status != 200) {
        die("GET v1/agent/me answered %d: %.*s", r->status, (int) r->blen, r->body);
    }
    p = last_cursor(r);
    if (p == NULL) {
        die("GET v1/agent/me without a cursor");
    }
    cs->cursor = strtoull(p + 9, NULL, 10);
    c->cb = on_console;
}

static void
on_poll(conn *c, resp *r)
{
    chan      *ch = c->owner;
    char      *p, *end, *v;
    size_t     vlen;
    uint32_t   k;

    if (r->status != 200 && !(kind == KIND_NCHAN && r->status == 304)) {
        errors++;
        fprintf(stderr, "chatload: poll answered %d: %.*s\n", r->status,
                (int) (r->blen > 200 ? 200 : r->blen), r->body);
        if (errors > 20) {
            die("too many errors");
        }
        send_poll(ch);
        return;
    }
    answered++;

    /* before measuring, nothing is published yet: what comes is older
     * (another path's run with the same conversations), only the cursor
     * moves */
    end = measuring ? r->body + r->blen : r->body;
    for (p = r->body; (p = memmem(p, end - p, "msg#", 4)) != NULL; p += 4) {
        k = strtoul(p + 4, NULL, 10);
        if (k == 0 || k > ch->delivered_k + RING || k <= ch->delivered_k) {
            continue;       /* seen already (or not one of ours) */
        }
        ch->delivered_k = k;
        if (measuring) {
            delivered++;
            if (now_s <= t_end) {
                delivered_win++;
            }
            lat_add(now_s - ch->tpub[k % RING]);
            if (dlog) {
                dlog_add(ch, k, ch->tpub[k % RING], now_s);
            }
        }
    }

    if (kind == KIND_CV) {
        p = memmem(r->body, r->blen, "\"cursor\":", 9);
        if (p == NULL) {
            die("poll answer without a cursor: %.*s", (int) r->blen, r->body);
        }
        ch->cursor = strtoull(p + 9, NULL, 10);
    } else {
        if (hdr_get(r, "Last-Modified", &v, &vlen, NULL)) {
            snprintf(ch->lastmod, sizeof(ch->lastmod), "%.*s", (int) vlen, v);
        }
        if (hdr_get(r, "Etag", &v, &vlen, NULL)) {
            snprintf(ch->etag, sizeof(ch->etag), "%.*s", (int) vlen, v);
        }
    }

    if (!stopping || ch->delivered_k + 1 < ch->next_k) {
        send_poll(ch);
    }
    if (rate == 0 && !stopping) {
        publish_next(ch);
    }
}

static void
on_publish(conn *c, resp *r)
{
    chan *ch = c->owner;

    if (r->status != 201 && r->status != 202 && r->status != 200) {
        errors++;
        fprintf(stderr, "chatload: publish answered %d: %.*s\n", r->status,
                (int) (r->blen > 200 ? 200 : r->blen), r->body);
        if (errors > 20) {
            die("too many errors");
        }
    }
    if (stopping) {
        return;
    }
    if (rate == 0) {
        publish_next(ch);

    } else if (ch->pending) {
        /* a message that was due while this publish was in flight */
        uint32_t k = ch->next_k++;
        ch->tpub[k % RING] = ch->due[ch->due_head % RING];
        ch->due_head++;
        ch->pending--;
        published++;
        send_publish(ch, k);
    }
}

/* closed loop: the next message once the last one is delivered */
static void
publish_next(chan *ch)
{
    uint32_t k;

    if (ch->pub->busy || ch->delivered_k + 1 < ch->next_k) {
        return;
    }
    k = ch->next_k++;
    ch->tpub[k % RING] = mono();
    published++;
    send_publish(ch, k);
}

static void
due_publish(chan *ch, double due)
{
    uint32_t k;

    if (ch->pub->busy || ch->pending) {
        if (ch->pending >= RING) {
            return;     /* hopelessly behind: the run reports it */
        }
        ch->due[(ch->due_head + ch->pending) % RING] = due;
        ch->pending++;
        return;
    }
    k = ch->next_k++;
    ch->tpub[k % RING] = mono();
    published++;
    send_publish(ch, k);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static double
pct(double p)
{
    size_t i;

    if (nlat == 0) {
        return 0;
    }
    i = (size_t) (p * (nlat - 1) + 0.5);
    return lat[i] * 1000;
}

static double
cpu_self(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
           + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void
cmd_run(const char *state, double secs)
{
    int       i, pending;
    double    t0, drain_end, cpu0, cpu1, next_due;
    uint64_t  issued = 0, backlog;

    state_read(state, 0);
    for (i = 0; i < nchans; i++) {
        if (path != PATH_CONSOLE) {
            chans[i].sub = conn_open(ROLE_SUB, &chans[i], on_poll);
        }
        chans[i].pub = conn_open(ROLE_PUB, &chans[i], on_publish);
        chans[i].next_k = 1;
    }
    if (path == PATH_CONSOLE) {
        consoles = calloc(nconsoles, sizeof(console));
        if (consoles == NULL) {
            die("out of memory");
        }
        for (i = 0; i < nconsoles; i++) {
            consoles[i].dk = calloc(nchans, sizeof(uint32_t));
            if (consoles[i].dk == NULL) {
                die("out of memory");
            }
            consoles[i].c = conn_open(ROLE_SUB, &consoles[i], on_me);
            conn_send(consoles[i].c, "GET /chatvisor/v1/agent/me HTTP/1.1\r\n"
                      "Host: 127.0.0.1:%d\r\nCookie: cv_agent=%s\r\n\r\n",
                      port, agent_cookie);
        }
        for (i = 0; i < nconsoles; i++) {
            while (consoles[i].c->busy) {
                loop_once(100);
            }
            send_console_poll(&consoles[i]);
        }
    } else {
        /* the polls first; give them a moment to reach the server */
        for (i = 0; i < nchans; i++) {
            send_poll(&chans[i]);
        }
    }
    t0 = mono() + 0.2;
    while ((now_s = mono()) < t0) {
        loop_once(10);
    }

    cpu0 = cpu_self();
    measuring = 1;
    t0 = now_s = mono();
    t_end = t0 + secs;
    if (rate == 0) {
        for (i = 0; i < nchans; i++) {
            publish_next(&chans[i]);
        }
    }

    while (now_s < t_end) {
        if (rate > 0) {
            double  due;
            while ((due = t0 + issued / rate) <= now_s && due < t_end) {
                due_publish(&chans[issued % nchans], due);
                issued++;
            }
            next_due = t0 + issued / rate;
            loop_wait(next_due > now_s ? next_due - now_s : 0);
        } else {
            loop_once(50);
        }
        now_s = mono();
    }
    /* deliveries of messages published in the window still count */
    stopping = 1;
    backlog = 0;
    for (i = 0; i < nchans; i++) {
        backlog += chans[i].pending;
        chans[i].pending = 0;
    }
    drain_end = mono() + 5;
    for ( ;; ) {
        pending = 0;
        for (i = 0; i < nchans; i++) {
            if (chans[i].delivered_k + 1 < chans[i].next_k) {
                pending++;
            }
        }
        if (pending == 0 || mono() > drain_end) {
            break;
        }
        loop_once(20);
    }
    cpu1 = cpu_self();

    /* the cursors reached, for the next run; the held polls are dropped */
    state_write(state);
    if (dlog) {
        dlog_write();
    }

    qsort(lat, nlat, sizeof(double), cmp_double);
    printf("delivered=%llu published=%llu lost=%d secs=%.3f rate=%.1f "
           "p50=%.3f p90=%.3f p99=%.3f max=%.3f errors=%llu behind=%llu "
           "client_cpu=%.3f t0=%.6f\n",
           (unsigned long long) delivered, (unsigned long long) published,
           pending, secs, delivered_win / secs, pct(0.50), pct(0.90), pct(0.99),
           nlat ? lat[nlat - 1] * 1000 : 0, (unsigned long long) errors,
           (unsigned long long) backlog, cpu1 - cpu0, t0);
    fflush(stdout);
}

/* ------------------------------------------------------------------ setup */

static int  setup_next, setup_done, setup_n;
static FILE *setup_out;

static void setup_step(conn *c);

static void
setup_cv_resp(conn *c, resp *r)
{
    chan    *ch = c->owner;
    char    *v, *p, *from = NULL;
    size_t   vlen;

    switch (ch->step) {
    case 0:     /* the first message: cookie, conversation */
        if (r->status != 201) {
            die("visitor message answered %d: %.*s", r->status, (int) r->blen, r->body);
        }
        while (hdr_get(r, "Set-Cookie", &v, &vlen, &from)) {
            if (vlen > 11 && strncmp(v, "cv_visitor=", 11) == 0) {
                size_t l = strcspn(v + 11, ";\r\n");
                snprintf(ch->cookie, sizeof(ch->cookie), "%.*s", (int) l, v + 11);
            }
        }
        p = memmem(r->body, r->blen, "\"conversation_id\":\"", 19);
        if (ch->cookie[0] == '\0' || p == NULL) {
            die("visitor message: no cookie or conversation_id");
        }
        snprintf(ch->conv, sizeof(ch->conv), "%.*s",
                 (int) strcspn(p + 19, "\""), p + 19);
        ch->step = strcmp(agent_cookie, "-") ? 1 : 2;
        break;
    case 1:     /* the agent's first reply: assigned */
        if (r->status != 201) {
            die("agent reply answered %d: %.*s", r->status, (int) r->blen, r->body);
        }
        ch->step = 2;
        break;
    case 2:
        if (r->status != 200) {
            die("events answered %d: %.*s", r->status, (int) r->blen, r->body);
        }
        p = memmem(r->body, r->blen, "\"cursor\":", 9);
        if (p == NULL) {
            die("events without a cursor");
        }
        ch->cursor = strtoull(p + 9, NULL, 10);
        fprintf(setup_out, "%s %s %llu\n", ch->cookie, ch->conv,
                (unsigned long long) ch->cursor);
        ch->step = 3;
        setup_done++;
        break;
    }
    setup_step(c);
}

static void
setup_nchan_resp(conn *c, resp *r)
{
    chan    *ch = c->owner;
    char    *v;
    size_t   vlen;

    switch (ch->step) {
    case 0:
        if (r->status != 201 && r->status != 202) {
            die("publish answered %d", r->status);
        }
        ch->step = 1;
        break;
    case 1:
        if (r->status != 200) {
            die("subscribe answered %d", r->status);
        }
        if (!hdr_get(r, "Last-Modified", &v, &vlen, NULL)) {
            die("subscribe answer without Last-Modified");
        }
        snprintf(ch->lastmod, sizeof(ch->lastmod), "%.*s", (int) vlen, v);
        if (!hdr_get(r, "Etag", &v, &vlen, NULL)) {
            die("subscribe answer without Etag");
        }
        snprintf(ch->etag, sizeof(ch->etag), "%.*s", (int) vlen, v);
        fprintf(setup_out, "%s\t%s\t%s\n", ch->name, ch->lastmod, ch->etag);
        ch->step = 2;
        setup_done++;
        break;
    }
    setup_step(c);
}

/* the next request of this connection's channel, or the next channel */
static void
setup_step(conn *c)
{
    chan *ch = c->owner;

    if (ch == NULL || (kind == KIND_CV ? ch->step == 3 : ch->step == 2)) {
        if (setup_next >= setup_n) {
            return;
        }
        ch = &chans[setup_next++];
        c->owner = ch;
    }
    if (kind == KIND_CV) {
        switch (ch->step) {
        case 0:
            conn_send(c, "POST /chatvisor/v1/visitor/messages HTTP/1.1\r\n"
                      "Host: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n%s", port, strlen(HELLO), HELLO);
            break;
        case 1:
            conn_send(c, "POST /chatvisor/v1/agent/conversations/%s/messages HTTP/1.1\r\n"
                      "Host: 127.0.0.1:%d\r\nCookie: cv_agent=%s\r\n"
                      "X-Chatvisor-CSRF: %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n%s",
                      ch->conv, port, agent_cookie, csrf, strlen(WELCOME), WELCOME);
            break;
        case 2:
            conn_send(c, "GET /chatvisor/v1/visitor/events?after=0&wait=0 HTTP/1.1\r\n"
                      "Host: 127.0.0.1:%d\r\nCookie: cv_visitor=%s\r\n\r\n",
                      port, ch->cookie);
            break;
        }
    } else {
        switch (ch->step) {
        case 0:
            conn_send(c, "POST /pub/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      "Content-Type: text/plain\r\nContent-Length: 6\r\n\r\nHello!",
                      ch->name, port);
            break;
        case 1:
            conn_send(c, "GET /sub/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
                      ch->name, port);
            break;
        }
    }
}

static void
cmd_setup(int n, int conc, const char *state)
{
    int     i;
    conn  **cs;

    setup_out = fopen(state, "w");
    if (setup_out == NULL) {
        die("%s: %s", state, strerror(errno));
    }
    chans = calloc(n, sizeof(chan));
    nchans = setup_n = n;
    for (i = 0; i < n; i++) {
        chans[i].idx = i;
        snprintf(chans[i].name, sizeof(chans[i].name), "c%d", i);
    }
    if (conc > n) {
        conc = n;
    }
    cs = calloc(conc, sizeof(conn *));
    for (i = 0; i < conc; i++) {
        cs[i] = conn_open(ROLE_SETUP, NULL,
                          kind == KIND_CV ? setup_cv_resp : setup_nchan_resp);
        setup_step(cs[i]);
    }
    while (setup_done < n) {
        loop_once(1000);
    }
    for (i = 0; i < conc; i++) {
        conn_close(cs[i]);
    }
    if (fclose(setup_out) != 0) {
        die("writing %s", state);
    }
    printf("setup=%d\n", n);
}

/* ------------------------------------------------------------------- hold */

static void
on_hold(conn *c, resp *r)
{
    answered++;
    (void) r;
    send_poll(c->owner);
}

static void
cmd_hold(const char *state, int count)
{
    int            i, batch = 200;
    double         quiet;
    uint64_t       seen;
    struct pollfd  pfd;
    char           buf[256];

    state_read(state, count);
    if (nchans < count) {
        die("%s has %d lines, %d polls asked", state, nchans, count);
    }
    for (i = 0; i < nchans; i++) {
        chans[i].sub = conn_open(ROLE_SUB, &chans[i], on_hold);
        send_poll(&chans[i]);
        if (i % batch == batch - 1) {
            while (loop_once(0) > 0) { }
        }
    }
    /* held: every request written, no answer for a second */
    seen = answered;
    quiet = mono() + 1;
    while (mono() < quiet) {
        loop_once(100);
        if (answered != seen) {
            seen = answered;
            quiet = mono() + 1;
        }
    }
    printf("held=%d answered=%llu\n", nchans, (unsigned long long) answered);
    fflush(stdout);

    /* until stdin closes (the script has measured) */
    pfd.fd = 0;
    pfd.events = POLLIN;
    for ( ;; ) {
        loop_once(100);
        if (poll(&pfd, 1, 0) > 0) {
            if (read(0, buf, sizeof(buf)) <= 0) {
                break;
            }
        }
    }
    stopping = 1;
    fprintf(stderr, "chatload: released %d polls, %llu answered while held\n",
            nchans, (unsigned long long) answered);
}

/* ------------------------------------------------------------------- main */

int
main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    dlog = getenv("CHATLOAD_LOG");
    if (getenv("CHATLOAD_PUB_PORT")) {
        pub_port = atoi(getenv("CHATLOAD_PUB_PORT"));
    }
    if (dlog && dlog[0] == '\0') {
        dlog = NULL;
    }
    epfd = epoll_create1(0);
    if (epfd < 0) {
        die("epoll_create1: %s", strerror(errno));
    }

    if (argc >= 8 && strcmp(argv[1], "setup-cv") == 0) {
        kind = KIND_CV;
        port = atoi(argv[2]);
        snprintf(agent_cookie, sizeof(agent_cookie), "%s", argv[6]);
        snprintf(csrf, sizeof(csrf), "%s", argv[7]);
        cmd_setup(atoi(argv[3]), atoi(argv[4]), argv[5]);
        return 0;
    }
    if (argc >= 6 && strcmp(argv[1], "setup-nchan") == 0) {
        kind = KIND_NCHAN;
        port = atoi(argv[2]);
        cmd_setup(atoi(argv[3]), atoi(argv[4]), argv[5]);
        return 0;
    }
    if (argc >= 7 && strcmp(argv[1], "run") == 0) {
        kind = strcmp(argv[2], "nchan") == 0 ? KIND_NCHAN : KIND_CV;
        port = atoi(argv[3]);
        rate = atof(argv[6]);
        if (getenv("CHATLOAD_PATH") && kind == KIND_CV) {
            const char *pa = getenv("CHATLOAD_PATH");
            path = strcmp(pa, "agent") == 0 ? PATH_AGENT
                   : strcmp(pa, "tab") == 0 ? PATH_TAB
                   : strcmp(pa, "console") == 0 ? PATH_CONSOLE : -1;
            if (path < 0) {
                die("CHATLOAD_PATH: agent, tab or console, not '%s'", pa);
            }
        }
        if (getenv("CHATLOAD_CONSOLES")) {
            nconsoles = atoi(getenv("CHATLOAD_CONSOLES"));
            if (nconsoles < 1) {
                die("CHATLOAD_CONSOLES: at least 1");
            }
        }
        if (kind == KIND_CV) {
            if (argc < 9) {
                die("run chatvisor needs AGENT_COOKIE CSRF");
            }
            snprintf(agent_cookie, sizeof(agent_cookie), "%s", argv[7]);
            snprintf(csrf, sizeof(csrf), "%s", argv[8]);
        }
        cmd_run(argv[4], atof(argv[5]));
        return 0;
    }
    if (argc >= 6 && strcmp(argv[1], "hold") == 0) {
        kind = strcmp(argv[2], "nchan") == 0 ? KIND_NCHAN : KIND_CV;
        port = atoi(argv[3]);
        cmd_hold(argv[4], atoi(argv[5]));
        return 0;
    }
    fprintf(stderr, "usage: see the comment at the top of bench/lib/chatload.c\n");
    return 2;
}
