/*
 * chatvisor_cluster's credentials=FILE, checked when nginx reads its
 * configuration (nginx -t, start, reload). libnats reads the file in each
 * worker whenever it connects, as the workers' user: a file missing,
 * unreadable by that user or holding no user JWT and seed would otherwise
 * give a node that answers writes 503 forever and says nothing. So the
 * check reads it as the workers' user (a child process that takes their
 * ids when the master runs as root). What the file holds never reaches a
 * log: only its name does.
 */


#include "ngx_chatvisor_runtime.h"

#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>


/* bytes read of a .creds file: a user JWT (a chain at most) and a seed */
#define NGX_CHATVISOR_CREDS_MAX      16384

#define NGX_CHATVISOR_CREDS_OK       0
#define NGX_CHATVISOR_CREDS_OPEN     1     /* err: errno of open() */
#define NGX_CHATVISOR_CREDS_READ     2     /* err: errno of read() */
#define NGX_CHATVISOR_CREDS_FORMAT   3     /* no JWT, no seed, too long */
#define NGX_CHATVISOR_CREDS_USER     4     /* err: errno of set*id() */


typedef struct {
    int   what;
    int   err;
} ngx_chatvisor_creds_result_t;


/*
 * Whether buf holds, as `nsc generate creds` lays it out, a block with the
 * user JWT ("-----BEGIN NATS USER JWT-----", a line starting "eyJ": the
 * base64url of '{"') and then one with the user's NKey seed ("SU...").
 * That is what libnats takes from it: the first block's token, then the
 * second's.
 */
static ngx_uint_t
ngx_chatvisor_cluster_creds_looks_right(u_char *buf, size_t len)
{
    u_char      *p, *end, *eol;
    ngx_uint_t   block, want;

    static const char  *first[] = { "eyJ", "SU" };

    end = buf + len;
    block = 0;
    want = 0;

    for (p = buf; p < end && block < 2; p = eol + 1) {
        eol = ngx_strlchr(p, end, '\n');
        if (eol == NULL) {
            eol = end;
        }

        if (eol - p >= 5 && ngx_strncmp(p, "-----", 5) == 0) {
            /* a BEGIN line opens a block; an END line (six dashes in
             * nsc's files) closes it */
            want = ngx_strlcasestrn(p, eol, (u_char *) "BEGIN", 5 - 1)
                   != NULL;
            continue;
        }

        if (!want || p == eol || *p == '\r') {
            continue;
        }

        if ((size_t) (eol - p) < ngx_strlen(first[block])
            || ngx_strncmp(p, first[block], ngx_strlen(first[block])) != 0)
        {
            return 0;
        }

        block++;
        want = 0;
    }

    return block == 2;
}


static void
ngx_chatvisor_cluster_creds_read(const char *path,
    ngx_chatvisor_creds_result_t *res)
{
    int       fd;
    size_t    len;
    ssize_t   n;
    u_char    buf[NGX_CHATVISOR_CREDS_MAX + 1];

    res->what = NGX_CHATVISOR_CREDS_OK;
    res->err = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        res->what = NGX_CHATVISOR_CREDS_OPEN;
        res->err = errno;
        return;
    }

    len = 0;

    do {
        n = read(fd, buf + len, sizeof(buf) - len);

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n == -1) {
            res->what = NGX_CHATVISOR_CREDS_READ;
            res->err = errno;
            break;
        }

        len += n;

    } while (n > 0 && len < sizeof(buf));

    close(fd);

    if (res->what == NGX_CHATVISOR_CREDS_OK
        && (len > NGX_CHATVISOR_CREDS_MAX
            || !ngx_chatvisor_cluster_creds_looks_right(buf, len)))
    {
        res->what = NGX_CHATVISOR_CREDS_FORMAT;
    }

    /* the seed is a secret: not left on the stack */
    ngx_explicit_memzero(buf, sizeof(buf));
}


/*
 * The ids the workers will run as: the "user" directive when it came
 * before http{} (it does in nginx.conf as shipped), else nginx's default
 * (NGX_USER, NGX_GROUP) when the master runs as root. 0 when the workers
 * will be this process's user: the master reads it as they would.
 */
static ngx_uint_t
ngx_chatvisor_cluster_creds_user(ngx_conf_t *cf, uid_t *uid, gid_t *gid,
    const char **name)
{
    struct group     *gr;
    struct passwd    *pw;
    ngx_core_conf_t  *ccf;

    if (geteuid() != 0) {
        return 0;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);

    if (ccf->master == 0) {
        return 0;     /* master_process off: no workers of their own */
    }

    if (ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        *uid = ccf->user;
        *gid = ccf->group;
        *name = ccf->username;

    } else {
        pw = getpwnam(NGX_USER);
        gr = getgrnam(NGX_GROUP);

        if (pw == NULL || gr == NULL) {
            return 0;     /* nginx itself will say so */
        }

        *uid = pw->pw_uid;
        *gid = gr->gr_gid;
        *name = NGX_USER;
    }

    return *uid != 0;
}


/* reads the file as uid:gid (and name's groups), in a child */
static void
ngx_chatvisor_cluster_creds_as(const char *path, uid_t uid, gid_t gid,
    const char *name, ngx_chatvisor_creds_result_t *res)
{
    int                           fds[2], status;
    pid_t                         pid;
    ssize_t                       n;
    ngx_chatvisor_creds_result_t  r;

    res->what = NGX_CHATVISOR_CREDS_USER;
    res->err = 0;

    if (pipe(fds) == -1) {
        res->err = errno;
        return;
    }

    pid = fork();

    if (pid == -1) {
        res->err = errno;
        close(fds[0]);
        close(fds[1]);
        return;
    }

    if (pid == 0) {
        close(fds[0]);

        /* as ngx_worker_process_init() does */
        if (setgid(gid) == -1 || initgroups(name, gid) == -1
            || setuid(uid) == -1)
        {
            r.what = NGX_CHATVISOR_CREDS_USER;
            r.err = errno;

        } else {
            ngx_chatvisor_cluster_creds_read(path, &r);
        }

        n = write(fds[1], &r, sizeof(r));
        _exit(n == (ssize_t) sizeof(r) ? 0 : 1);
    }

    close(fds[1]);

    do {
        n = read(fds[0], &r, sizeof(r));
    } while (n == -1 && errno == EINTR);

    close(fds[0]);

    while (waitpid(pid, &status, 0) == -1 && errno == EINTR) {
        /* void */
    }

    if (n == (ssize_t) sizeof(r)) {
        *res = r;
    }
}


char *
ngx_chatvisor_cluster_creds_check(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *file)
{
    uid_t                          uid;
    gid_t                          gid;
    const char                    *name;
    ngx_chatvisor_creds_result_t   res;

    /* file->data is NUL-ended (cluster_conf.c) */

    if (ngx_chatvisor_cluster_creds_user(cf, &uid, &gid, &name)) {
        ngx_chatvisor_cluster_creds_as((const char *) file->data, uid, gid,
                                       name, &res);
    } else {
        name = NULL;
        ngx_chatvisor_cluster_creds_read((const char *) file->data, &res);
    }

    switch (res.what) {

    case NGX_CHATVISOR_CREDS_OK:
        return NGX_CONF_OK;

    case NGX_CHATVISOR_CREDS_OPEN:
    case NGX_CHATVISOR_CREDS_READ:
        /* a file that is not there is not the user's fault */
        if (name && res.err != NGX_ENOENT && res.err != NGX_ENOTDIR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, res.err,
                               "the workers' user \"%s\" cannot read the "
                               "credentials file \"%V\" of \"%V\" (libnats "
                               "reads it in the workers)",
                               name, file, &cmd->name);
        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, res.err,
                               "cannot read the credentials file \"%V\" "
                               "of \"%V\"", file, &cmd->name);
        }

        return NGX_CONF_ERROR;

    case NGX_CHATVISOR_CREDS_FORMAT:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the credentials file \"%V\" of \"%V\" is not a "
                           "NATS .creds file (a user JWT, then the user's "
                           "NKey seed, as \"nsc generate creds\" writes "
                           "them)", file, &cmd->name);
        return NGX_CONF_ERROR;

    default: /* NGX_CHATVISOR_CREDS_USER */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, res.err,
                           "cannot check the credentials file \"%V\" of "
                           "\"%V\" as the workers' user \"%s\"",
                           file, &cmd->name, name);
        return NGX_CONF_ERROR;
    }
}
