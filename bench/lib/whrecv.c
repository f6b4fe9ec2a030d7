/*
 * whrecv — the webhook receiver of bench/webhooks: one thread, epoll,
 * HTTP/1.1 keep-alive, no dependencies. It listens on 127.0.0.1 at each
 * PORT given (endpoint 0, 1, ...), reads each request whole, answers
 * "200 OK" (empty body) at once and counts it; the first of its kind needs
 * a webhook-id and a webhook-signature header, or it is an error.
 *
 *   whrecv PORT [PORT ...]
 *
 * For a message.created event whose message text is "msg#K ..." (the
 * messages of bench/lib/chatload.c), it can record the arrival: the
 * endpoint, the time it read the request's last byte (CLOCK_MONOTONIC,
 * the clock chatload stamps its publishes with), the conversation id and
 * K, so bench/webhooks can join them with chatload's publish times.
 *
 * Commands on stdin, one a line; each is answered with one line on stdout:
 *
 *   stats        "t=NOW events=E0,E1,.. msgs=M0,M1,.. dups=D errors=N
 *                 last=T cpu=S conns=C": requests answered per endpoint
 *                 (every event type), of them message.created carrying a
 *                 msg#K, duplicates (a webhook-id seen before, when
 *                 recording), errors, the time of the last request, the
 *                 receiver's own CPU time (user + system, seconds) and the
 *                 connections open
 *   record on    start recording arrivals (and webhook-ids, for dups)
 *   record off   stop
 *   dump FILE    write the recorded arrivals, "ENDPOINT TIME CONV K" a
 *                line, to FILE and forget them: "dumped=N"
 *   pause        stop reading the connections and accepting new ones
 *                (what the sender writes waits in the kernel's buffers):
 *                "paused"
 *   resume       read again: "resumed t=NOW"
 *   quit         exit: "bye"
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EP  16
#define OK_RESP "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

enum { T_LISTEN, T_CONN, T_STDIN };

typedef struct {
    int     type;
    int     fd;
    int     ep;         /* endpoint index */
    char   *buf;
    size_t  len, cap;
} sock;

typedef struct {
    double    t;
    uint32_t  k;
    uint8_t   ep;
    char      conv[47];
} arrival;

static int       nep, epfd, quiet_epfd, paused;
static sock     *listeners[MAX_EP];
static uint64_t  events[MAX_EP], msgs[MAX_EP], errors, dups, conns;
static double    last_t;
static int       recording;
static arrival  *arr;
static size_t    narr, arrcap;

/* webhook-ids seen while recording (open addressing, 64-bit hashes) */
static uint64_t *seen;
static size_t    nseen, seencap;

static void
die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "whrecv: ");
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

static void
add(int efd, int fd, void *ptr)
{
    struct epoll_event ev;

    ev.events = EPOLLIN;
    ev.data.ptr = ptr;
    if (epoll_ctl(efd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        die("epoll_ctl: %s", strerror(errno));
    }
}

static uint64_t
hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;

    while (n--) {
        h = (h ^ (unsigned char) *p++) * 1099511628211ULL;
    }
    return h | 1;
}

/* 1: new, 0: seen before */
static int
seen_add(uint64_t h)
{
    size_t i;

    if (2 * (nseen + 1) > seencap) {
        uint64_t *old = seen;
        size_t    oldcap = seencap;

        seencap = seencap ? 2 * seencap : 1 << 16;
        seen = calloc(seencap, sizeof(uint64_t));
        if (seen == NULL) {
            die("out of memory");
        }
        nseen = 0;
        for (i = 0; i < oldcap; i++) {
            if (old[i]) {
                seen_add(old[i]);
            }
        }
        free(old);
    }
    for (i = h & (seencap - 1); seen[i]; i = (i + 1) & (seencap - 1)) {
        if (seen[i] == h) {
            return 0;
        }
    }
    seen[i] = h;
    nseen++;
    return 1;
}

static int
header(const char *h, size_t hlen, const char *name, const char **v,
       size_t *vlen)
{
    size_t      nl = strlen(name);
    const char *p = h, *end = h + hlen, *e;

    while (p < end) {
        e = memmem(p, end - p, "\r\n", 2);
        if (e == NULL) {
            e = end;
        }
        if ((size_t) (e - p) > nl && p[nl] == ':'
            && strncasecmp(p, name, nl) == 0)
        {
            p += nl + 1;
            while (p < e && (*p == ' ' || *p == '\t')) {
                p++;
            }
            *v = p;
            *vlen = e - p;
            return 1;
        }
        p = e + 2;
    }
    return 0;
}

/* one request read whole: count it, record it */
static void
on_request(sock *s, const char *h, size_t hlen, const char *body, size_t blen,
           double now)
{
    const char *id, *sig, *p, *q, *end = body + blen;
    size_t      idlen, siglen, n;
    arrival    *a;
    uint32_t    k;

    events[s->ep]++;
    last_t = now;

    if (hlen < 5 || strncmp(h, "POST ", 5) != 0
        || !header(h, hlen, "webhook-id", &id, &idlen)
        || !header(h, hlen, "webhook-signature", &sig, &siglen)
        || siglen < 4 || strncmp(sig, "v1,", 3) != 0)
    {
        errors++;
        return;
    }

    if (memmem(body, blen, "\"type\":\"message.created\"", 24) == NULL) {
        return;
    }
    p = memmem(body, blen, "\"text\":\"msg#", 12);
    if (p == NULL) {
        return;
    }
    k = strtoul(p + 12, NULL, 10);
    msgs[s->ep]++;

    if (!recording) {
        return;
    }
    if (!seen_add(hash(id, idlen) ^ (uint64_t) s->ep << 56)) {
        dups++;
        return;
    }
    p = memmem(body, blen, "\"conversation\":{\"id\":\"", 22);
    if (p == NULL) {
        errors++;
        return;
    }
    p += 22;
    q = memchr(p, '"', end - p);
    if (q == NULL) {
        errors++;
        return;
    }
    if (narr == arrcap) {
        arrcap = arrcap ? 2 * arrcap : 65536;
        arr = xrealloc(arr, arrcap * sizeof(arrival));
    }
    a = &arr[narr++];
    a->t = now;
    a->k = k;
    a->ep = s->ep;
    n = q - p < (long) sizeof(a->conv) - 1 ? (size_t) (q - p) : sizeof(a->conv) - 1;
    memcpy(a->conv, p, n);
    a->conv[n] = '\0';
}

static void
conn_close(sock *s)
{
    epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
    free(s->buf);
    free(s);
    conns--;
}

static void
conn_read(sock *s)
{
    ssize_t      n;
    size_t       used, clen, hlen, nresp = 0;
    double       now;
    const char  *he, *v;
    size_t       vlen;
    static char  out[64 * (sizeof(OK_RESP) - 1)];

    for ( ;; ) {
        if (s->cap - s->len < 16384) {
            s->cap = s->cap ? 2 * s->cap : 65536;
            s->buf = xrealloc(s->buf, s->cap);
        }
        n = read(s->fd, s->buf + s->len, s->cap - s->len);
        if (n > 0) {
            s->len += n;
            if ((size_t) n < s->cap - s->len + n) {
                break;      /* short read: all there is for now */
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            break;
        }
        conn_close(s);      /* the sender closed (idle, or exiting) */
        return;
    }
    now = mono();

    used = 0;
    while (s->len - used > 4) {
        char *p = s->buf + used;
        he = memmem(p, s->len - used, "\r\n\r\n", 4);
        if (he == NULL) {
            break;
        }
        hlen = he + 2 - p;
        clen = 0;
        if (header(p, hlen, "Content-Length", &v, &vlen)) {
            clen = strtoul(v, NULL, 10);
        }
        if ((size_t) (s->buf + s->len - (he + 4)) < clen) {
            break;
        }
        on_request(s, p, hlen, he + 4, clen, now);
        used = he + 4 + clen - s->buf;
        nresp++;
        if (nresp == 64) {
            break;
        }
    }
    if (used) {
        memmove(s->buf, s->buf + used, s->len - used);
        s->len -= used;
    }
    if (nresp) {
        size_t i, off = 0, len = nresp * (sizeof(OK_RESP) - 1);

        for (i = 0; i < nresp; i++) {
            memcpy(out + i * (sizeof(OK_RESP) - 1), OK_RESP, sizeof(OK_RESP) - 1);
        }
        while (off < len) {
            n = write(s->fd, out + off, len - off);
            if (n > 0) {
                off += n;
                continue;
            }
            if (n < 0 && errno == EINTR) {
                continue;
            }
            /* a few dozen bytes never fill a socket's buffer; a sender
             * that went away is closed by the next read */
            break;
        }
        if (nresp == 64 && s->len) {
            conn_read(s);   /* more pipelined requests in the buffer */
        }
    }
}

static void
on_accept(sock *l)
{
    int    fd, one = 1;
    sock  *s;

    for ( ;; ) {
        fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;     /* EAGAIN */
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        s = calloc(1, sizeof(*s));
        if (s == NULL) {
            die("out of memory");
        }
        s->type = T_CONN;
        s->fd = fd;
        s->ep = l->ep;
        add(epfd, fd, s);
        conns++;
    }
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
list(const char *name, uint64_t *v)
{
    int i;

    printf(" %s=", name);
    for (i = 0; i < nep; i++) {
        printf("%s%llu", i ? "," : "", (unsigned long long) v[i]);
    }
}

/* 0: go on, 1: quit */
static int
command(char *line)
{
    size_t  i;
    FILE   *f;

    line[strcspn(line, "\r\n")] = '\0';
    if (strcmp(line, "stats") == 0) {
        printf("t=%.6f", mono());
        list("events", events);
        list("msgs", msgs);
        printf(" dups=%llu errors=%llu last=%.6f cpu=%.3f conns=%llu\n",
               (unsigned long long) dups, (unsigned long long) errors, last_t,
               cpu_self(), (unsigned long long) conns);
    } else if (strcmp(line, "record on") == 0) {
        recording = 1;
        printf("recording\n");
    } else if (strcmp(line, "record off") == 0) {
        recording = 0;
        printf("stopped\n");
    } else if (strncmp(line, "dump ", 5) == 0) {
        f = fopen(line + 5, "w");
        if (f == NULL) {
            die("%s: %s", line + 5, strerror(errno));
        }
        for (i = 0; i < narr; i++) {
            fprintf(f, "%u %.6f %s %u\n", arr[i].ep, arr[i].t, arr[i].conv,
                    arr[i].k);
        }
        if (fclose(f) != 0) {
            die("writing %s", line + 5);
        }
        printf("dumped=%zu\n", narr);
        narr = 0;
        memset(seen, 0, seencap * sizeof(uint64_t));
        nseen = 0;
    } else if (strcmp(line, "pause") == 0) {
        paused = 1;
        printf("paused\n");
    } else if (strcmp(line, "resume") == 0) {
        paused = 0;
        printf("resumed t=%.6f\n", mono());
    } else if (strcmp(line, "quit") == 0) {
        printf("bye\n");
        return 1;
    } else {
        printf("error=unknown command\n");
    }
    fflush(stdout);
    return 0;
}

int
main(int argc, char **argv)
{
    int                 i, n, fd, one = 1;
    sock               *s, in = { .type = T_STDIN, .fd = 0 };
    char                cbuf[4096], *nl;
    size_t              clen = 0;
    ssize_t             r;
    struct sockaddr_in  sa;
    struct epoll_event  evs[256];

    signal(SIGPIPE, SIG_IGN);
    if (argc < 2 || argc - 1 > MAX_EP) {
        fprintf(stderr, "usage: whrecv PORT [PORT ...] (at most %d)\n", MAX_EP);
        return 2;
    }
    epfd = epoll_create1(0);
    quiet_epfd = epoll_create1(0);
    if (epfd < 0 || quiet_epfd < 0) {
        die("epoll_create1: %s", strerror(errno));
    }
    nep = argc - 1;
    for (i = 0; i < nep; i++) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            die("socket: %s", strerror(errno));
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons(atoi(argv[i + 1]));
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0
            || listen(fd, 4096) != 0)
        {
            die("port %s: %s", argv[i + 1], strerror(errno));
        }
        s = calloc(1, sizeof(*s));
        if (s == NULL) {
            die("out of memory");
        }
        s->type = T_LISTEN;
        s->fd = fd;
        s->ep = i;
        listeners[i] = s;
        add(epfd, fd, s);
    }
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    add(epfd, 0, &in);
    add(quiet_epfd, 0, &in);
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("listening=%d\n", nep);
    fflush(stdout);

    for ( ;; ) {
        n = epoll_wait(paused ? quiet_epfd : epfd, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("epoll_wait: %s", strerror(errno));
        }
        for (i = 0; i < n; i++) {
            s = evs[i].data.ptr;
            if (s->type == T_STDIN) {
                r = read(0, cbuf + clen, sizeof(cbuf) - 1 - clen);
                if (r == 0) {
                    return 0;       /* stdin closed: the script is gone */
                }
                if (r < 0) {
                    if (errno == EAGAIN || errno == EINTR) {
                        continue;
                    }
                    die("stdin: %s", strerror(errno));
                }
                clen += r;
                cbuf[clen] = '\0';
                while ((nl = strchr(cbuf, '\n')) != NULL) {
                    *nl = '\0';
                    if (command(cbuf)) {
                        return 0;
                    }
                    memmove(cbuf, nl + 1, clen - (nl + 1 - cbuf) + 1);
                    clen -= nl + 1 - cbuf;
                }
                /* the other events of this batch wait while paused */
                if (paused) {
                    break;
                }
            } else if (paused) {
                continue;           /* seen again after resume */
            } else if (s->type == T_LISTEN) {
                on_accept(s);
            } else {
                conn_read(s);
            }
        }
    }
}
