/* Unit tests of cookie values: signed VALUE.SIG, the visitor's customer
 * id and the visit count (cv_cookie.c). */
#define _POSIX_C_SOURCE 200809L

#include "cv_cookie.h"
#include "tap.h"

#include <string.h>

#define GAP  1800
#define NOW  ((int64_t) 1764547200)


int
main(void)
{
    size_t       n;
    const char  *c;

    c = "cus_abc.SIGNATURE";
    ok(cv_signed_split(c, strlen(c), 39, &n) == CV_OK && n == 7,
       "the value ends at the dot");
    ok(cv_signed_matches(c, strlen(c), n, "SIGNATURE", 9),
       "the signature after it matches");
    ok(!cv_signed_matches(c, strlen(c), n, "SIGNATURF", 9),
       "another signature does not");
    ok(!cv_signed_matches(c, strlen(c), n, "SIGNATUR", 8),
       "nor a shorter one");

    c = "3.1764540000.SIG";
    ok(cv_signed_split(c, strlen(c), 41, &n) == CV_OK && n == 12,
       "the last dot ends the value (values may hold dots)");

    c = "cus_abc.SIG";
    ok(cv_signed_split(c, strlen(c), 6, &n) == CV_INVALID,
       "a value longer than max is refused");
    ok(cv_signed_split(c, strlen(c), 7, &n) == CV_OK && n == 7,
       "a value of max is taken");
    ok(cv_signed_split("nodot", 5, 39, &n) == CV_INVALID, "no dot: refused");
    ok(cv_signed_split(".SIG", 4, 39, &n) == CV_INVALID,
       "an empty value: refused");
    ok(cv_signed_split("", 0, 39, &n) == CV_INVALID, "nothing: refused");
    ok(cv_signed_split("v.", 2, 39, &n) == CV_OK && n == 1
       && !cv_signed_matches("v.", 2, n, "S", 1),
       "an empty signature matches none");

    ok(cv_cookie_customer_valid("cus_abc", 7, 40), "a customer id");
    ok(!cv_cookie_customer_valid("agt_abc", 7, 40), "not a customer's");
    ok(!cv_cookie_customer_valid("cus", 3, 40), "too short");
    ok(!cv_cookie_customer_valid("cus_0123456789012345678901234567890123456",
                                 40, 40), "too long for its buffer");

    ok(cv_cookie_visits("3.1764547000", 12, NOW, GAP) == 3,
       "within the gap: the same visit");
    ok(cv_cookie_visits("3.1764540000", 12, NOW, GAP) == 4,
       "after the gap: a new visit");
    ok(cv_cookie_visits("0.1764540000", 12, NOW, GAP) == 1,
       "a count of 0 reads as none");
    ok(cv_cookie_visits("x.1764540000", 12, NOW, GAP) == 1,
       "a count that is no number reads as none");
    ok(cv_cookie_visits("3.", 2, NOW, GAP) == 1, "no time: none");
    ok(cv_cookie_visits("3", 1, NOW, GAP) == 1, "no dot: none");
    ok(cv_cookie_visits("9223372036854775807.1", 21, NOW, GAP)
       == (uint64_t) 9223372036854775807LL + 1,
       "the largest count nginx's ngx_atoi reads");
    ok(cv_cookie_visits("9223372036854775808.1", 21, NOW, GAP) == 1,
       "one more overflows: none");
    ok(cv_cookie_visits("3.9223372036854775807", 21, NOW, GAP) == 3,
       "a time in the far future: the same visit, no overflow");

    return done_testing();
}
