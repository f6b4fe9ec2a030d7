/* Unit tests of query arguments: cursors and page sizes (cv_args.c). */
#define _POSIX_C_SOURCE 200809L

#include "cv_args.h"
#include "tap.h"

#include <string.h>

static const struct {
    const char  *in;
    int          ok;
    uint64_t     v;
} cases[] = {
    { "0", 1, 0 },
    { "1", 1, 1 },
    { "0000000000000042", 1, 42 },
    { "9007199254740992", 1, (uint64_t) 1 << 53 },
    { "9007199254740993", 0, 0 },          /* 2^53 + 1 */
    { "9999999999999999", 0, 0 },
    { "10000000000000000", 0, 0 },         /* 17 digits */
    { "", 0, 0 },
    { "-1", 0, 0 },
    { "+1", 0, 0 },
    { " 1", 0, 0 },
    { "1 ", 0, 0 },
    { "1e3", 0, 0 },
    { "0x10", 0, 0 },
};


int
main(void)
{
    size_t    i, limit;
    uint64_t  v;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        v = 77;
        if (cases[i].ok) {
            ok(cv_arg_u64(cases[i].in, strlen(cases[i].in), &v) == CV_OK
               && v == cases[i].v, "\"%s\" reads as %llu", cases[i].in,
               (unsigned long long) cases[i].v);
        } else {
            ok(cv_arg_u64(cases[i].in, strlen(cases[i].in), &v)
               == CV_INVALID && v == 77, "\"%s\" is refused, nothing written",
               cases[i].in);
        }
    }

    /* a digit string is read by its length, not up to a NUL */
    ok(cv_arg_u64("123456", 3, &v) == CV_OK && v == 123,
       "only len bytes are read");

    limit = 9;
    ok(cv_arg_limit("50", 2, 200, &limit) == CV_OK && limit == 50,
       "a limit within 1..max");
    ok(cv_arg_limit("200", 3, 200, &limit) == CV_OK && limit == 200,
       "a limit of max");
    limit = 9;
    ok(cv_arg_limit("201", 3, 200, &limit) == CV_INVALID && limit == 9,
       "a limit above max is refused");
    ok(cv_arg_limit("0", 1, 200, &limit) == CV_INVALID && limit == 9,
       "a limit of 0 is refused");
    ok(cv_arg_limit("x", 1, 200, &limit) == CV_INVALID && limit == 9,
       "a limit that is no number is refused");

    return done_testing();
}
