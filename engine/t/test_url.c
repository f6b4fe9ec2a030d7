/* Unit tests of webhook targets: URLs and addresses (engine/cv_url.c). */
#define _POSIX_C_SOURCE 200809L

#include "cv_url.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

/* URLs that parse, and what they parse into */
static const struct {
    const char  *url;
    int          https;
    const char  *host;
    unsigned     port;
    const char  *path;
} good[] = {
    { "https://example.com", 1, "example.com", 443, "/" },
    { "http://example.com", 0, "example.com", 80, "/" },
    { "HTTPS://Example.COM/Hooks", 1, "example.com", 443, "/Hooks" },
    { "https://example.com/", 1, "example.com", 443, "/" },
    { "https://example.com:8443/a/b?x=1&y=%2F", 1, "example.com", 8443,
      "/a/b?x=1&y=%2F" },
    { "http://localhost:1/", 0, "localhost", 1, "/" },
    { "http://h:65535", 0, "h", 65535, "/" },
    { "https://a-b.c_d.example/p", 1, "a-b.c_d.example", 443, "/p" },
    { "https://xn--bcher-kva.example/", 1, "xn--bcher-kva.example", 443,
      "/" },
    { "https://10.0.0.1/x", 1, "10.0.0.1", 443, "/x" },
    { "http://0.0.0.0/", 0, "0.0.0.0", 80, "/" },
    { "https://[::1]/", 1, "::1", 443, "/" },
    { "https://[2001:DB8::1]:8443/h", 1, "2001:db8::1", 8443, "/h" },
    { "https://[::ffff:10.0.0.1]/", 1, "::ffff:10.0.0.1", 443, "/" },
    { "https://example.com/a:b@c/!$&'()*+,;=-._~?q/?", 1, "example.com", 443,
      "/a:b@c/!$&'()*+,;=-._~?q/?" },
    { "https://1.example/", 1, "1.example", 443, "/" },
    { "https://example.1a/", 1, "example.1a", 443, "/" },
};

/* URLs refused, and a word of the reason */
static const struct {
    const char  *url;
    const char  *why;
} bad[] = {
    { "", "http" },
    { "ftp://example.com/", "http" },
    { "https:/example.com/", "http" },
    { "example.com/hook", "http" },
    { "https://", "no host" },
    { "https:///path", "no host" },
    { "https://:443/", "no host" },
    { "https://user@example.com/", "user information" },
    { "https://user:pw@example.com/", "user information" },
    { "https://example.com/#top", "fragment" },
    { "https://example.com#", "fragment" },
    { "https://example.com:0/", "port" },
    { "https://example.com:65536/", "port" },
    { "https://example.com:123456/", "port" },
    { "https://example.com:/", "port" },
    { "https://example.com:8a/", "port" },
    { "https://example.com:-1/", "port" },
    { "https://example.com?a=1", "query must follow a path" },
    { "https://exa mple.com/", "only ASCII" },
    { "https://b\xc3\xbc" "cher.example/", "only ASCII" },
    { "https://ex%61mple.com/", "only ASCII" },
    { "https://example..com/", "empty label" },
    { "https://example.com./", "empty label" },
    { "https://.example.com/", "empty label" },
    { "https://-a.example/", "'-'" },
    { "https://a-.example/", "'-'" },
    { "https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      ".example/", "longer than 63" },
    { "https://127.1/", "dotted-decimal" },
    { "https://0x7f.1/", "dotted-decimal" },
    { "https://2130706433/", "dotted-decimal" },
    { "https://1.2.3.256/", "dotted-decimal" },
    { "https://010.0.0.1/", "leading zero" },
    { "https://example.123/", "dotted-decimal" },
    { "https://[::1/", "no closing" },
    { "https://[]/", "not one" },
    { "https://[::g]/", "not one" },
    { "https://[1.2.3.4]/", "not one" },
    { "https://[fe80::1%25eth0]/", "not one" },
    { "https://[::1]x/", "other than a port" },
    { "https://::1/", "no host" },
    { "https://example.com/a b", "percent-encoded" },
    { "https://example.com/a\"b", "percent-encoded" },
    { "https://example.com/<x>", "percent-encoded" },
    { "https://example.com/a\\b", "percent-encoded" },
    { "https://example.com/{x}", "percent-encoded" },
    { "https://example.com/a|b", "percent-encoded" },
    { "https://example.com/a^b", "percent-encoded" },
    { "https://example.com/a`b", "percent-encoded" },
    { "https://example.com/[x]", "percent-encoded" },
    { "https://example.com/\x01", "percent-encoded" },
    { "https://example.com/caf\xc3\xa9", "percent-encoded" },
    { "https://example.com/%", "two hex digits" },
    { "https://example.com/%4", "two hex digits" },
    { "https://example.com/%zz", "two hex digits" },
};

/* addresses and whether a webhook may not reach them */
static const struct {
    const char  *addr;
    int          private;
} addrs[] = {
    { "0.0.0.0", 1 }, { "0.1.2.3", 1 }, { "10.0.0.1", 1 },
    { "10.255.255.255", 1 }, { "100.64.0.1", 1 }, { "100.127.255.255", 1 },
    { "100.63.255.255", 0 }, { "100.128.0.0", 0 }, { "127.0.0.1", 1 },
    { "127.255.255.254", 1 }, { "169.254.169.254", 1 }, { "169.253.0.1", 0 },
    { "172.16.0.1", 1 }, { "172.31.255.255", 1 }, { "172.15.255.255", 0 },
    { "172.32.0.0", 0 }, { "192.0.0.8", 1 }, { "192.0.2.1", 1 },
    { "192.88.99.1", 1 }, { "192.168.1.1", 1 }, { "192.169.0.1", 0 },
    { "198.18.0.1", 1 }, { "198.19.255.255", 1 }, { "198.20.0.0", 0 },
    { "198.51.100.7", 1 }, { "203.0.113.9", 1 }, { "224.0.0.1", 1 },
    { "239.255.255.250", 1 }, { "240.0.0.1", 1 }, { "255.255.255.255", 1 },
    { "8.8.8.8", 0 }, { "1.1.1.1", 0 }, { "93.184.216.34", 0 },
    { "223.255.255.255", 0 }, { "11.0.0.1", 0 },
    { "::", 1 }, { "::1", 1 }, { "::10.0.0.1", 1 }, { "::8.8.8.8", 1 },
    { "::ffff:10.0.0.1", 1 }, { "::ffff:8.8.8.8", 1 },
    { "::ffff:127.0.0.1", 1 }, { "64:ff9b::8.8.8.8", 0 },
    { "64:ff9b::10.0.0.1", 1 }, { "64:ff9b::127.0.0.1", 1 },
    { "64:ff9b:1::1", 1 }, { "100::1", 1 }, { "2001::1", 1 },
    { "2001:2::1", 1 }, { "2001:10::1", 1 }, { "2001:20::1", 1 },
    { "2001:db8::1", 1 }, { "3fff::1", 1 }, { "fc00::1", 1 },
    { "fd12:3456::1", 1 }, { "fe80::1", 1 }, { "febf::1", 1 },
    { "fec0::1", 1 }, { "ff02::1", 1 }, { "2002:0808:0808::1", 0 },
    { "2002:0a00:0001::1", 1 }, { "2002:7f00:0001::1", 1 },
    { "2606:4700:4700::1111", 0 }, { "2a00:1450:4001::200e", 0 },
    { "2001:4860:4860::8888", 0 }, { "fbff::1", 0 },
};


int
main(void)
{
    char                     url[CV_URL_MAX + 16];
    size_t                   i;
    int                      all;
    cv_url                   u;
    const char              *why;
    struct sockaddr_storage  ss;
    struct sockaddr_storage  other;
    const char              *in;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        why = NULL;
        ok(cv_url_parse(good[i].url, &u, &why) == CV_OK
           && u.https == good[i].https && strcmp(u.host, good[i].host) == 0
           && u.port == good[i].port && strcmp(u.path, good[i].path) == 0,
           "%s: %s %s %u %s", good[i].url, u.https ? "https" : "http",
           u.host, u.port, u.path ? u.path : "(null)");
    }

    in = "https://example.com/p?q";
    ok(cv_url_parse(in, &u, &why) == CV_OK && u.path == in + 19,
       "the path points into the input");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        ok(cv_url_parse(bad[i].url, &u, &why) == CV_INVALID && why
           && strstr(why, bad[i].why) && u.host[0] == '\0',
           "refused: %s (%s)", bad[i].url, why ? why : "no reason");
    }

    /* the length limit: CV_URL_MAX bytes pass, one more does not */
    strcpy(url, "https://example.com/");
    memset(url + strlen(url), 'a', CV_URL_MAX - strlen(url));
    url[CV_URL_MAX] = '\0';
    ok(cv_url_parse(url, &u, &why) == CV_OK, "a URL of %d bytes is fine",
       CV_URL_MAX);
    url[CV_URL_MAX] = 'a';
    url[CV_URL_MAX + 1] = '\0';
    ok(cv_url_parse(url, &u, &why) == CV_INVALID && strstr(why, "longer"),
       "one of %d is refused (%s)", CV_URL_MAX + 1, why);

    /* a host of 253 characters is fine, 254 are not: three labels of 63
     * and one of 61 or 62 */
    for (i = 62; i <= 63; i++) {
        strcpy(url, "https://");
        memset(url + 8, 'a', 3 * 64 + i - 1);
        url[8 + 63] = url[8 + 127] = url[8 + 191] = '.';
        strcpy(url + 8 + 3 * 64 + i - 1, "/");

        if (i == 62) {
            ok(cv_url_parse(url, &u, &why) == CV_OK && strlen(u.host) == 253,
               "a host of 253 characters");
        } else {
            ok(cv_url_parse(url, &u, &why) == CV_INVALID
               && strstr(why, "253"), "a host of 254 is refused (%s)", why);
        }
    }

    all = 1;
    for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
        if (!cv_host_is_literal(addrs[i].addr, &ss)) {
            diag("%s is not a literal", addrs[i].addr);
            all = 0;
            continue;
        }

        ok(cv_addr_private((struct sockaddr *) &ss) == addrs[i].private,
           "%s is %s", addrs[i].addr,
           addrs[i].private ? "refused" : "reachable");
    }
    ok(all, "every address of the table is a literal");

    ok(cv_host_is_literal("[::1]", &ss) && ss.ss_family == AF_INET6
       && cv_addr_private((struct sockaddr *) &ss),
       "a bracketed IPv6 literal is one too");
    ok(cv_host_is_literal("1.2.3.4", &ss) && ss.ss_family == AF_INET
       && ((struct sockaddr_in *) &ss)->sin_port == 0
       && ((struct sockaddr_in *) &ss)->sin_addr.s_addr
          == htonl(0x01020304u), "an IPv4 literal fills sockaddr_in");
    ok(!cv_host_is_literal("example.com", &ss) && ss.ss_family == 0
       && !cv_host_is_literal("127.1", &ss)
       && !cv_host_is_literal("[1.2.3.4]", &ss)
       && !cv_host_is_literal("", &ss)
       && !cv_host_is_literal("[::1", &ss),
       "names and malformed literals are not literals");

    memset(&other, 0, sizeof(other));
    other.ss_family = AF_UNIX;
    ok(cv_addr_private((struct sockaddr *) &other) == 1,
       "an address of another family is refused");

    return done_testing();
}
