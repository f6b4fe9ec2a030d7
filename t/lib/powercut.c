/*
 * powercut.so, an LD_PRELOAD shim (t/lib/Chatvisor/Powercut.pm, for t/42
 * and t/46): keeps what a disk would hold after a power cut, i.e. the
 * watched file as it was when the last fdatasync()/fsync() of it that
 * completed had started (every write before that start is on disk once it
 * returns), or right after the last write to it through an O_DSYNC
 * descriptor (LMDB's synced meta page).
 *
 * POWERCUT_FILE  the file to watch (the store's data.mdb), read at load
 * POWERCUT_DIR   where the image goes: DIR/durable.img, replaced atomically
 *                by a newer one (DIR/lock serializes the processes)
 *
 * The image errs towards holding too much, never too little: writes that
 * race with the copy may land in it. So a test that finds an acknowledged
 * message missing from it has found a real loss.
 */

#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PC_BUF  65536

static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static int     (*real_fdatasync)(int);
static int     (*real_fsync)(int);

/* read at load: nginx's workers lose the environment (only "env" keeps
 * a variable), and they are forked from the process that loaded this */
static char    pc_file[4096];
static char    pc_dir[1024];   /* room for a name behind it */

__attribute__((constructor))
static void
pc_init(void)
{
    const char  *f, *d;

    f = getenv("POWERCUT_FILE");
    d = getenv("POWERCUT_DIR");

    if (f && d) {
        snprintf(pc_file, sizeof(pc_file), "%s", f);
        snprintf(pc_dir, sizeof(pc_dir), "%s", d);
    }
}

static int
pc_watched(int fd)
{
    struct stat  a, b;

    if (pc_file[0] == '\0' || fstat(fd, &a) != 0 || stat(pc_file, &b) != 0)
    {
        return 0;
    }

    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static uint64_t
pc_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* a copy of the watched file now, into a temporary file: 0 or -1 */
static int
pc_copy(char *tmp, size_t len)
{
    char     buf[PC_BUF];
    ssize_t  n;
    int      in, out, ok;

    snprintf(tmp, len, "%s/copy.%ld.%ld", pc_dir,
             (long) getpid(), (long) syscall(SYS_gettid));

    in = open(pc_file, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        return -1;
    }

    out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return -1;
    }

    ok = 1;

    while ((n = read(in, buf, sizeof(buf))) > 0) {
        if (write(out, buf, n) != n) {
            ok = 0;
            break;
        }
    }

    if (n < 0) {
        ok = 0;
    }

    close(in);
    close(out);

    if (!ok) {
        unlink(tmp);
        return -1;
    }

    return 0;
}

/* the copy taken at time "at" is on disk now: the image, unless a newer
 * one is already */
static void
pc_publish(const char *tmp, uint64_t at)
{
    char      path[4096], img[4096];
    uint64_t  best;
    FILE     *f;
    int       lock;

    snprintf(path, sizeof(path), "%s/lock", pc_dir);

    lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX) != 0) {
        unlink(tmp);
        if (lock >= 0) {
            close(lock);
        }
        return;
    }

    snprintf(path, sizeof(path), "%s/durable.at", pc_dir);
    snprintf(img, sizeof(img), "%s/durable.img", pc_dir);

    best = 0;
    f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%" SCNu64, &best) != 1) {
            best = 0;
        }
        fclose(f);
    }

    if (at >= best && rename(tmp, img) == 0) {
        f = fopen(path, "w");
        if (f) {
            fprintf(f, "%" PRIu64 "\n", at);
            fclose(f);
        }

    } else {
        unlink(tmp);
    }

    flock(lock, LOCK_UN);
    close(lock);
}

static int
pc_sync(int fd, int (*real)(int))
{
    char      tmp[4096];
    uint64_t  at;
    int       rc, copied, saved;

    if (!pc_watched(fd)) {
        return real(fd);
    }

    at = pc_now();
    copied = pc_copy(tmp, sizeof(tmp)) == 0;

    rc = real(fd);
    saved = errno;

    if (copied) {
        if (rc == 0) {
            pc_publish(tmp, at);

        } else {
            unlink(tmp);
        }
    }

    errno = saved;
    return rc;
}

static ssize_t
pc_pwrite(int fd, const void *buf, size_t n, off_t off,
    ssize_t (*real)(int, const void *, size_t, off_t))
{
    char      tmp[4096];
    uint64_t  at;
    ssize_t   rc;
    int       fl, saved;

    rc = real(fd, buf, n, off);
    saved = errno;

    fl = fcntl(fd, F_GETFL);

    if (rc > 0 && fl != -1 && (fl & O_DSYNC) && pc_watched(fd)) {
        at = pc_now();

        if (pc_copy(tmp, sizeof(tmp)) == 0) {
            pc_publish(tmp, at);
        }
    }

    errno = saved;
    return rc;
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (real_pwrite == NULL) {
        real_pwrite = (ssize_t (*)(int, const void *, size_t, off_t))
                      dlsym(RTLD_NEXT, "pwrite");
    }

    return pc_pwrite(fd, buf, n, off, real_pwrite);
}

ssize_t
pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    if (real_pwrite64 == NULL) {
        real_pwrite64 = (ssize_t (*)(int, const void *, size_t, off_t))
                        dlsym(RTLD_NEXT, "pwrite64");
    }

    return pc_pwrite(fd, buf, n, off, real_pwrite64);
}

int
fdatasync(int fd)
{
    if (real_fdatasync == NULL) {
        real_fdatasync = (int (*)(int)) dlsym(RTLD_NEXT, "fdatasync");
    }

    return pc_sync(fd, real_fdatasync);
}

int
fsync(int fd)
{
    if (real_fsync == NULL) {
        real_fsync = (int (*)(int)) dlsym(RTLD_NEXT, "fsync");
    }

    return pc_sync(fd, real_fsync);
}
