/* Minimal TAP producer for the engine's unit tests (read by prove). */
#ifndef CV_TAP_H
#define CV_TAP_H

#include <stdio.h>

static int  tap_n, tap_failed;

#define ok(cond, ...)                                                        \
    do {                                                                     \
        int  tap_c_ = (cond) ? 1 : 0;                                        \
        printf("%sok %d - ", tap_c_ ? "" : "not ", ++tap_n);                 \
        printf(__VA_ARGS__);                                                 \
        printf("\n");                                                        \
        if (!tap_c_) {                                                       \
            tap_failed++;                                                    \
            printf("#   failed at %s line %d\n", __FILE__, __LINE__);        \
        }                                                                    \
    } while (0)

#define diag(...)                                                            \
    do { printf("# "); printf(__VA_ARGS__); printf("\n"); } while (0)

static inline int
done_testing(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
