/*
 * fsyncprobe DIR [N]: what one fdatasync() of one page costs on DIR's
 * disk, the floor of a durable commit (sync=on pays one or two per batch).
 * Writes a 4 KiB page in place N times (default 200) into a file of its
 * own in DIR, each followed by fdatasync(), as LMDB rewrites its meta page;
 * prints "p50=MS p99=MS n=N" (the fdatasync alone, in milliseconds) and
 * removes the file.
 */

#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROBE_PAGE     4096
#define PROBE_DEFAULT  200
#define PROBE_MAX      100000

static double
now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
    char    path[4096], page[PROBE_PAGE];
    double  *t, t0;
    long     n, i;
    int      fd;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: fsyncprobe DIR [N]\n");
        return 2;
    }

    n = argc == 3 ? strtol(argv[2], NULL, 10) : PROBE_DEFAULT;
    if (n < 1 || n > PROBE_MAX) {
        fprintf(stderr, "fsyncprobe: N from 1 to %d\n", PROBE_MAX);
        return 2;
    }

    snprintf(path, sizeof(path), "%s/fsyncprobe.%ld", argv[1],
             (long) getpid());

    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        fprintf(stderr, "fsyncprobe: %s: %s\n", path, strerror(errno));
        return 1;
    }

    t = malloc(n * sizeof(double));
    if (t == NULL) {
        return 1;
    }

    /* the page exists and is on disk before the first measured sync: each
     * one then carries a rewritten page, not a growing file */
    memset(page, 0, sizeof(page));
    if (pwrite(fd, page, sizeof(page), 0) != sizeof(page) || fsync(fd) != 0) {
        fprintf(stderr, "fsyncprobe: %s: %s\n", path, strerror(errno));
        unlink(path);
        return 1;
    }

    for (i = 0; i < n; i++) {
        memset(page, (int) (i & 0xff), sizeof(page));

        if (pwrite(fd, page, sizeof(page), 0) != sizeof(page)) {
            fprintf(stderr, "fsyncprobe: pwrite: %s\n", strerror(errno));
            unlink(path);
            return 1;
        }

        t0 = now_ms();

        if (fdatasync(fd) != 0) {
            fprintf(stderr, "fsyncprobe: fdatasync: %s\n", strerror(errno));
            unlink(path);
            return 1;
        }

        t[i] = now_ms() - t0;
    }

    close(fd);
    unlink(path);

    qsort(t, n, sizeof(double), cmp_double);

    printf("p50=%.3f p99=%.3f n=%ld\n", t[n / 2], t[(n * 99) / 100], n);

    free(t);

    return 0;
}
