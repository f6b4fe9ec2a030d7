/* Minimal TAP producer for the engine's unit tests (read by prove). */
#ifndef CV_TAP_H
#define CV_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* a fresh directory for a store, removed when the test exits */

static char  tap_root[256];


static void
tap_cleanup(void)
{
    char  cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tap_root);
    if (system(cmd) != 0) {
        diag("cleanup of %s failed", tap_root);
    }
}


static inline const char *
tap_tmpdir(void)
{
    snprintf(tap_root, sizeof(tap_root), "/tmp/cv-test-XXXXXX");

    if (mkdtemp(tap_root) == NULL) {
        printf("Bail out! mkdtemp failed\n");
        exit(1);
    }

    atexit(tap_cleanup);
    return tap_root;
}

#endif
