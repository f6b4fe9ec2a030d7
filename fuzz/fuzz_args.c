/*
 * Query arguments (engine/cv_args.c): cursors ("after", "since",
 * "cursor") and page sizes ("limit") as they come in a query string,
 * checked against a reference reading: decimal digits only, 1 to 16 of
 * them, a value of at most 2^53 (a limit: 1..max).
 */
#include "cv_args.h"
#include "fuzz.h"

#include <string.h>

/* the page sizes the surfaces allow */
static const size_t  limits[] = { 1, 50, 100, 200, 1000 };


static int
reference(const char *s, size_t len, uint64_t *v)
{
    size_t             i;
    unsigned __int128  n = 0;

    if (len == 0 || len > CV_ARG_U64_DIGITS) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        n = n * 10 + (unsigned) (s[i] - '0');
    }

    if (n > CV_ARG_U64_MAX) {
        return 0;
    }

    *v = (uint64_t) n;
    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char       *s;
    size_t      i, limit;
    uint64_t    v, ref;
    int         ok;

    s = malloc(size ? size : 1);
    CHECK(s != NULL);
    memcpy(s, data, size);

    v = 12345;
    ok = reference(s, size, &ref);

    if (cv_arg_u64(s, size, &v) == CV_OK) {
        CHECK(ok && v == ref);

    } else {
        CHECK(!ok && v == 12345);
    }

    for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        limit = 7;

        if (cv_arg_limit(s, size, limits[i], &limit) == CV_OK) {
            CHECK(ok && ref >= 1 && ref <= limits[i] && limit == ref);

        } else {
            CHECK(!(ok && ref >= 1 && ref <= limits[i]) && limit == 7);
        }
    }

    free(s);
    return 0;
}
