/*
 * Webhook targets: URLs and the addresses they may reach (cv_url.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_url.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

/* a macro's value as a string literal, for reasons that name a limit */
#define CV_URL_STR_(x)        #x
#define CV_URL_STR(x)         CV_URL_STR_(x)

#define CV_HTTP_SCHEME        "http://"
#define CV_HTTPS_SCHEME       "https://"
#define CV_LABEL_MAX          63       /* characters of a DNS label */
#define CV_PORT_DIGITS        5
#define CV_PORT_MAX           65535
#define CV_IPV4_LEN           4
#define CV_IPV6_LEN           16
/* "[" + the longest IPv6 text (an IPv4 tail included) + "]" */
#define CV_IPV6_TEXT_MAX      INET6_ADDRSTRLEN

/* where the IPv4 address is inside the IPv6 ranges that carry one */
#define CV_NAT64_V4_OFF       12
#define CV_6TO4_V4_OFF        2

/* what a path may hold besides letters, digits and %XX (RFC 3986's
 * unreserved, sub-delims, ':', '@', and '/' and '?' between its parts) */
static const char  cv_path_chars[] = "-._~!$&'()*+,;=:@/?";


typedef struct {
    unsigned char  prefix[CV_IPV6_LEN];
    unsigned       bits;
} cv_net;


static const cv_net  cv_private_v4[] = {
    { { 0 }, 8 },                      /* "this network" */
    { { 10 }, 8 },
    { { 100, 64 }, 10 },               /* CGNAT */
    { { 127 }, 8 },                    /* loopback */
    { { 169, 254 }, 16 },              /* link-local */
    { { 172, 16 }, 12 },
    { { 192, 0, 0 }, 24 },             /* IETF protocol assignments */
    { { 192, 0, 2 }, 24 },             /* TEST-NET-1 */
    { { 192, 88, 99 }, 24 },           /* 6to4 relays */
    { { 192, 168 }, 16 },
    { { 198, 18 }, 15 },               /* benchmarking */
    { { 198, 51, 100 }, 24 },          /* TEST-NET-2 */
    { { 203, 0, 113 }, 24 },           /* TEST-NET-3 */
    { { 224 }, 4 },                    /* multicast */
    { { 240 }, 4 },                    /* reserved, broadcast */
};


static const cv_net  cv_private_v6[] = {
    { { 0 }, 96 },                     /* ::, ::1, IPv4-compatible */
    { { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff }, 96 },  /* v4-mapped */
    { { 0, 0x64, 0xff, 0x9b, 0, 1 }, 48 },   /* local-use NAT64 */
    { { 0x01, 0 }, 64 },               /* discard-only */
    { { 0x20, 0x01, 0, 0 }, 32 },      /* Teredo */
    { { 0x20, 0x01, 0, 0x02, 0, 0 }, 48 },   /* benchmarking */
    { { 0x20, 0x01, 0, 0x10 }, 28 },   /* ORCHID */
    { { 0x20, 0x01, 0, 0x20 }, 28 },   /* ORCHIDv2 */
    { { 0x20, 0x01, 0x0d, 0xb8 }, 32 },      /* documentation */
    { { 0x3f, 0xff }, 20 },            /* documentation */
    { { 0xfc }, 7 },                   /* unique-local */
    { { 0xfe, 0x80 }, 10 },            /* link-local */
    { { 0xfe, 0xc0 }, 10 },            /* site-local */
    { { 0xff }, 8 },                   /* multicast */
};

/* ranges that carry an IPv4 address, judged by it */
static const cv_net  cv_nat64 = { { 0, 0x64, 0xff, 0x9b }, 96 };
static const cv_net  cv_6to4 = { { 0x20, 0x02 }, 16 };


static int
cv_in_net(const unsigned char *addr, const cv_net *net)
{
    unsigned  full, rest;

    full = net->bits / 8;
    rest = net->bits % 8;

    if (memcmp(addr, net->prefix, full) != 0) {
        return 0;
    }

    return rest == 0
           || ((addr[full] ^ net->prefix[full]) & (0xff << (8 - rest))
               & 0xff) == 0;
}


static int
cv_in_nets(const unsigned char *addr, const cv_net *nets, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (cv_in_net(addr, &nets[i])) {
            return 1;
        }
    }

    return 0;
}


static int
cv_v4_private(const unsigned char *a)
{
    return cv_in_nets(a, cv_private_v4,
                      sizeof(cv_private_v4) / sizeof(cv_private_v4[0]));
}


int
cv_addr_private(const struct sockaddr *sa)
{
    const unsigned char  *a;

    if (sa->sa_family == AF_INET) {
        a = (const unsigned char *)
            &((const struct sockaddr_in *) sa)->sin_addr;
        return cv_v4_private(a);
    }

    if (sa->sa_family != AF_INET6) {
        return 1;
    }

    a = ((const struct sockaddr_in6 *) sa)->sin6_addr.s6_addr;

    if (cv_in_nets(a, cv_private_v6,
                   sizeof(cv_private_v6) / sizeof(cv_private_v6[0])))
    {
        return 1;
    }

    if (cv_in_net(a, &cv_nat64)) {
        return cv_v4_private(a + CV_NAT64_V4_OFF);
    }

    if (cv_in_net(a, &cv_6to4)) {
        return cv_v4_private(a + CV_6TO4_V4_OFF);
    }

    return 0;
}


int
cv_host_is_literal(const char *host, struct sockaddr_storage *ss)
{
    char                  buf[CV_IPV6_TEXT_MAX + 1];
    size_t                len;
    struct sockaddr_in   *sin;
    struct sockaddr_in6  *sin6;

    memset(ss, 0, sizeof(*ss));
    sin = (struct sockaddr_in *) ss;
    sin6 = (struct sockaddr_in6 *) ss;

    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        return 1;
    }

    len = strlen(host);

    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }

    if (len >= sizeof(buf)) {
        return 0;
    }

    memcpy(buf, host, len);
    buf[len] = '\0';

    if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        return 1;
    }

    memset(ss, 0, sizeof(*ss));
    return 0;
}


static int
cv_is_digit(char c)
{
    return c >= '0' && c <= '9';
}


static int
cv_is_hex(char c)
{
    return cv_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}


static int
cv_is_alnum(char c)
{
    return cv_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}


static void
cv_lowercase(char *s)
{
    for ( /* void */ ; *s; s++) {
        if (*s >= 'A' && *s <= 'Z') {
            *s = (char) (*s - 'A' + 'a');
        }
    }
}


/* a label that resolvers read as a number: decimal, octal or 0x hex */
static int
cv_label_numeric(const char *label, size_t len)
{
    size_t  i;

    if (len > 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X')) {
        for (i = 2; i < len && cv_is_hex(label[i]); i++) {
            /* void */
        }
        return i == len;
    }

    for (i = 0; i < len && cv_is_digit(label[i]); i++) {
        /* void */
    }

    return i == len;
}


/* host (NUL-terminated) as a DNS name, or a dotted quad when its last
 * label is a number */
static const char *
cv_name_invalid(const char *host)
{
    struct in_addr   a;
    const char      *label, *p;
    size_t           len;

    label = host;

    for (p = host; ; p++) {
        if (*p != '.' && *p != '\0') {
            if (!cv_is_alnum(*p) && *p != '-' && *p != '_') {
                return "the host may hold only ASCII letters, digits, '-', "
                       "'_' and '.' (an international name in its xn-- "
                       "form)";
            }
            continue;
        }

        len = (size_t) (p - label);

        if (len == 0) {
            return "the host has an empty label";
        }

        if (len > CV_LABEL_MAX) {
            return "a label of the host is longer than "
                   CV_URL_STR(CV_LABEL_MAX) " characters";
        }

        if (label[0] == '-' || label[len - 1] == '-') {
            return "a label of the host starts or ends with '-'";
        }

        if (*p == '\0') {
            break;
        }

        label = p + 1;
    }

    if (cv_label_numeric(label, len)) {
        /* no short, octal or hex forms, no leading zeros */
        for (p = host; *p; p++) {
            if (*p == '0' && (p == host || p[-1] == '.') && cv_is_digit(p[1]))
            {
                return "an IPv4 address has a leading zero";
            }
        }

        if (inet_pton(AF_INET, host, &a) != 1) {
            return "the host is neither a name nor an IPv4 address in "
                   "dotted-decimal form";
        }
    }

    return NULL;
}


/* [IPv6] at s, up to end (the authority's); *after: past the ']' */
static const char *
cv_ipv6_host(const char *s, const char *end, cv_url *out, const char **after)
{
    struct in6_addr   a;
    const char       *close;
    size_t            len;

    close = memchr(s, ']', (size_t) (end - s));
    if (close == NULL) {
        return "an IPv6 address has no closing ']'";
    }

    len = (size_t) (close - s - 1);
    if (len == 0 || len > CV_IPV6_TEXT_MAX) {
        return "the IPv6 address in brackets is not one";
    }

    memcpy(out->host, s + 1, len);
    out->host[len] = '\0';

    /* a zone ("%25eth0") is local to this machine: inet_pton refuses it */
    if (inet_pton(AF_INET6, out->host, &a) != 1) {
        return "the IPv6 address in brackets is not one";
    }

    *after = close + 1;
    return NULL;
}


static const char *
cv_port(const char *s, const char *end, unsigned *port)
{
    unsigned  v;
    size_t    n;

    v = 0;

    for (n = 0; s + n < end; n++) {
        if (!cv_is_digit(s[n]) || n == CV_PORT_DIGITS) {
            return "the port is not a number from 1 to 65535";
        }
        v = v * 10 + (unsigned) (s[n] - '0');
    }

    if (n == 0 || v == 0 || v > CV_PORT_MAX) {
        return "the port is not a number from 1 to 65535";
    }

    *port = v;
    return NULL;
}


static const char *
cv_path_invalid(const char *p)
{
    for ( /* void */ ; *p; p++) {
        if (*p == '%') {
            if (!cv_is_hex(p[1]) || !cv_is_hex(p[2])) {
                return "the path has a '%' not followed by two hex digits";
            }
            p += 2;
            continue;
        }

        if (!cv_is_alnum(*p) && strchr(cv_path_chars, *p) == NULL) {
            return "the path has a character that must be percent-encoded";
        }
    }

    return NULL;
}


cv_status
cv_url_parse(const char *s, cv_url *out, const char **why)
{
    const char  *p, *end, *host_end, *reason;
    size_t       len;

    memset(out, 0, sizeof(*out));

    len = strlen(s);
    reason = NULL;
    p = s;

    if (len > CV_URL_MAX) {
        reason = "the URL is longer than " CV_URL_STR(CV_URL_MAX) " bytes";

    } else if (strncasecmp(s, CV_HTTPS_SCHEME, sizeof(CV_HTTPS_SCHEME) - 1)
               == 0)
    {
        out->https = 1;
        out->port = CV_URL_HTTPS_PORT;
        p = s + sizeof(CV_HTTPS_SCHEME) - 1;

    } else if (strncasecmp(s, CV_HTTP_SCHEME, sizeof(CV_HTTP_SCHEME) - 1)
               == 0)
    {
        out->port = CV_URL_HTTP_PORT;
        p = s + sizeof(CV_HTTP_SCHEME) - 1;

    } else {
        reason = "the URL does not start with http:// or https://";
    }

    if (reason == NULL && strchr(s, '#')) {
        reason = "the URL has a fragment ('#')";
    }

    if (reason) {
        goto invalid;
    }

    end = p + strcspn(p, "/?");

    if (memchr(p, '@', (size_t) (end - p))) {
        reason = "the URL has user information ('@')";
        goto invalid;
    }

    if (*p == '[') {
        reason = cv_ipv6_host(p, end, out, &host_end);

    } else {
        host_end = p + strcspn(p, ":/?");
        len = (size_t) (host_end - p);

        if (len == 0) {
            reason = "the URL has no host";

        } else if (len > CV_URL_HOST_MAX) {
            reason = "the host is longer than " CV_URL_STR(CV_URL_HOST_MAX)
                     " characters";

        } else {
            memcpy(out->host, p, len);
            out->host[len] = '\0';
            reason = cv_name_invalid(out->host);
        }
    }

    if (reason == NULL && host_end < end) {
        if (*host_end == ':') {
            reason = cv_port(host_end + 1, end, &out->port);

        } else {
            reason = "the host is followed by something other than a port";
        }
    }

    if (reason == NULL && *end == '?') {
        reason = "a query must follow a path (https://host/?...)";
    }

    if (reason == NULL) {
        reason = cv_path_invalid(end);
    }

    if (reason) {
        goto invalid;
    }

    cv_lowercase(out->host);
    out->path = *end ? end : "/";

    return CV_OK;

invalid:

    memset(out, 0, sizeof(*out));
    *why = reason;
    return CV_INVALID;
}
