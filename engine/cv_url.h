/*
 * Webhook targets: their URL, checked when an endpoint is registered, and
 * their addresses, judged again when the sender connects (a name may
 * resolve to anything by then). Pure functions: no store, no I/O, no
 * resolver.
 */
#ifndef CV_URL_H
#define CV_URL_H

#include "cv_status.h"

#include <sys/socket.h>

#define CV_URL_MAX            2048   /* bytes of a URL */
#define CV_URL_HOST_MAX       253    /* characters of a DNS name */
#define CV_URL_HTTP_PORT      80
#define CV_URL_HTTPS_PORT     443

typedef struct {
    int          https;
    /* a DNS name in lowercase, a dotted-quad IPv4 address, or an IPv6
     * address without its brackets (a Host header puts them back around
     * a host with a ':' in it) */
    char         host[CV_URL_HOST_MAX + 1];
    unsigned     port;
    /* into the input: the path and query ("/hooks?a=1"), or "/" (not in
     * the input) when the URL ends after its host and port */
    const char  *path;
} cv_url;

/*
 * Parses an http or https URL (the scheme in any case) into out. Refused
 * with CV_INVALID and a reason in *why (a static string): other schemes,
 * more than CV_URL_MAX bytes, user information ("user@"), a fragment
 * ("#"), no host, a host that is neither a DNS name (ASCII letters,
 * digits, '-' and '_', labels of 1 to 63 characters; an international
 * name in its xn-- form) nor an IP literal (dotted-quad IPv4, or IPv6 in
 * brackets without a zone), a name whose last label is a number (resolvers
 * read "127.1" and "0x7f.1" as addresses), a port that is not 1 to
 * 65535, a query with no path before it ("https://h?a" must be
 * "https://h/?a"), and a path with a character that is not allowed in a
 * request target (spaces, controls, non-ASCII, '"', '<', '>', '\\', '^',
 * '`', '{', '|', '}', or a '%' not followed by two hex digits).
 */
cv_status cv_url_parse(const char *s, cv_url *out, const char **why);

/*
 * 1 for an address a webhook must not reach unless the operator allows
 * it: IPv4 "this network" 0/8, 10/8, CGNAT 100.64/10, loopback 127/8,
 * link-local 169.254/16, 172.16/12, 192.0.0/24 (protocol assignments),
 * the documentation ranges 192.0.2/24, 198.51.100/24, 203.0.113/24, the
 * 6to4 relays 192.88.99/24, 192.168/16, benchmarking 198.18/15, multicast
 * 224/4, reserved 240/4 with the broadcast address; IPv6 ::/96
 * (unspecified, loopback, IPv4-compatible), every IPv4-mapped address
 * ::ffff:0:0/96, the local NAT64 64:ff9b:1::/48, discard 100::/64, Teredo
 * 2001::/32, benchmarking 2001:2::/48, ORCHID 2001:10::/28 and
 * 2001:20::/28, documentation 2001:db8::/32 and 3fff::/20, unique-local
 * fc00::/7, link-local fe80::/10, site-local fec0::/10, multicast ff00::/8;
 * and the IPv4 address inside NAT64 64:ff9b::/96 and 6to4 2002::/16 by the
 * IPv4 rules. 1 as well for an address of another family (what cannot be
 * judged is refused); 0 otherwise.
 */
int cv_addr_private(const struct sockaddr *sa);

/* 1 when host is an IP literal (a dotted-quad IPv4 address, or an IPv6
 * address with or without brackets), and ss is then filled (port 0); 0
 * when it is a name. */
int cv_host_is_literal(const char *host, struct sockaddr_storage *ss);

#endif
