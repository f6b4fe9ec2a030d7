/*
 * How busy the chat keeps this worker, for work that can wait (the webhook
 * sender's first attempts): busy when, over the last window, the worker's
 * event loop was hardly ever idle and the chat's writes came fast.
 *
 * Not idle is time on a CPU plus time waiting for one (/proc/self/schedstat:
 * the event loop's thread): on a machine that other processes fill, a
 * saturated worker gets less than a core but is no less saturated. Where
 * that file is missing, CPU time alone (getrusage) is what is known.
 *
 * The writes' rate is what tells the chat's load from the sender's own: a
 * worker draining a backlog of webhooks is just as saturated, and must not
 * hold itself back.
 */


#include "ngx_chatvisor_runtime.h"

#include <sys/resource.h>


#define NGX_CHATVISOR_LOAD_WINDOW      100     /* ms */
#define NGX_CHATVISOR_LOAD_NOT_IDLE    90      /* % of the window */
#define NGX_CHATVISOR_LOAD_WRITES      100     /* the chat's, per window */
#define NGX_CHATVISOR_LOAD_SCHEDSTAT   "/proc/self/schedstat"
#define NGX_CHATVISOR_LOAD_LINE        128
#define NGX_CHATVISOR_NS_PER_MS        1000000
#define NGX_CHATVISOR_US_PER_MS        1000


static ngx_fd_t     ngx_chatvisor_load_fd = NGX_INVALID_FILE;
static ngx_uint_t   ngx_chatvisor_load_ready;
static ngx_msec_t   ngx_chatvisor_load_at;        /* the window's start */
static uint64_t     ngx_chatvisor_load_used;      /* ns not idle then */
static ngx_uint_t   ngx_chatvisor_load_writes;    /* the chat's writes then */
static ngx_uint_t   ngx_chatvisor_load_busy;


/* ns this worker's event loop was not idle since it started */

static uint64_t
ngx_chatvisor_load_not_idle(void)
{
    u_char             line[NGX_CHATVISOR_LOAD_LINE];
    ssize_t            n;
    char              *p, *end;
    uint64_t           run, wait;
    struct rusage      ru;

    if (ngx_chatvisor_load_fd != NGX_INVALID_FILE) {
        n = pread(ngx_chatvisor_load_fd, line, sizeof(line) - 1, 0);

        if (n > 0) {
            line[n] = '\0';
            p = (char *) line;
            run = strtoull(p, &end, 10);

            if (end != p) {
                p = end;
                wait = strtoull(p, &end, 10);

                if (end != p) {
                    return run + wait;
                }
            }
        }

        /* unreadable after all: CPU time from now on */
        ngx_close_file(ngx_chatvisor_load_fd);
        ngx_chatvisor_load_fd = NGX_INVALID_FILE;
        ngx_chatvisor_load_ready = 0;
    }

    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return 0;
    }

    return ((uint64_t) ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
           * NGX_CHATVISOR_NS_PER_MS * 1000
           + ((uint64_t) ru.ru_utime.tv_usec + ru.ru_stime.tv_usec)
             * (NGX_CHATVISOR_NS_PER_MS / NGX_CHATVISOR_US_PER_MS);
}


static void
ngx_chatvisor_load_start(void)
{
    ngx_chatvisor_load_fd = ngx_open_file(NGX_CHATVISOR_LOAD_SCHEDSTAT,
                                          NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    ngx_chatvisor_load_ready = 1;
    ngx_chatvisor_load_at = ngx_current_msec;
    ngx_chatvisor_load_used = ngx_chatvisor_load_not_idle();
    ngx_chatvisor_load_writes = ngx_chatvisor_commit_changes();
}


ngx_uint_t
ngx_chatvisor_chat_busy(void)
{
    uint64_t    used;
    ngx_uint_t  writes;
    ngx_msec_t  span;

    if (!ngx_chatvisor_load_ready) {
        ngx_chatvisor_load_start();
        return 0;
    }

    span = ngx_current_msec - ngx_chatvisor_load_at;

    if (span < NGX_CHATVISOR_LOAD_WINDOW) {
        return ngx_chatvisor_load_busy;
    }

    used = ngx_chatvisor_load_not_idle();
    writes = ngx_chatvisor_commit_changes();

    /* a window longer than one (nobody asked meanwhile) is averaged over
     * its whole span: a worker that nobody asked was not saturated */
    ngx_chatvisor_load_busy =
        (used - ngx_chatvisor_load_used) * 100
            >= (uint64_t) span * NGX_CHATVISOR_NS_PER_MS
               * NGX_CHATVISOR_LOAD_NOT_IDLE
        && (writes - ngx_chatvisor_load_writes) * NGX_CHATVISOR_LOAD_WINDOW
            >= (ngx_uint_t) span * NGX_CHATVISOR_LOAD_WRITES;

    ngx_chatvisor_load_at = ngx_current_msec;
    ngx_chatvisor_load_used = used;
    ngx_chatvisor_load_writes = writes;

    return ngx_chatvisor_load_busy;
}
