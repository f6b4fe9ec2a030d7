/*
 * Secrets kept in files that nginx.conf names (chatvisor_api_client,
 * chatvisor_identity_secret): read once, with the same checks for all.
 */


#include "ngx_chatvisor_http.h"


#define NGX_CHATVISOR_SECRET_MIN     32      /* characters of a secret */
#define NGX_CHATVISOR_SECRET_MAX     1024    /* characters of a secret */
#define NGX_CHATVISOR_SECRET_EOL     2       /* "\r\n" after it in its file */


/* a trailing newline (echo > file) is no part of a secret */

void
ngx_chatvisor_secret_trim(ngx_str_t *s)
{
    while (s->len && (s->data[s->len - 1] == '\n'
                      || s->data[s->len - 1] == '\r'
                      || s->data[s->len - 1] == ' '))
    {
        s->len--;
    }
}


char *
ngx_chatvisor_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *name, ngx_str_t *secret)
{
    u_char           *p;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t         file;
    ngx_file_info_t   fi;

    file = *name;
    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read secret file \"%V\" of \"%V\"",
                           &file, &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    /* others may read it: a warning, as ssh gives (not an error: a
     * secret file shared by a group of admins is a choice) */
    if (ngx_file_access(&fi) & S_IROTH) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "secret file \"%V\" of \"%V\" is readable by "
                           "everyone; chmod o-r it", &file, &cmd->name);
    }

    /* a longer file is refused, never cut (a line end may follow) */
    if (ngx_file_size(&fi) > NGX_CHATVISOR_SECRET_MAX
                             + NGX_CHATVISOR_SECRET_EOL)
    {
        ngx_close_file(fd);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" of \"%V\" is longer than "
                           "%d characters", &file, &cmd->name,
                           NGX_CHATVISOR_SECRET_MAX);
        return NGX_CONF_ERROR;
    }

    secret->data = ngx_pnalloc(cf->pool, NGX_CHATVISOR_SECRET_MAX
                                         + NGX_CHATVISOR_SECRET_EOL);
    if (secret->data == NULL) {
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, secret->data,
                    NGX_CHATVISOR_SECRET_MAX + NGX_CHATVISOR_SECRET_EOL);
    ngx_close_file(fd);

    if (n < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read secret file \"%V\" of \"%V\"",
                           &file, &cmd->name);
        return NGX_CONF_ERROR;
    }

    secret->len = n;
    ngx_chatvisor_secret_trim(secret);
    n = secret->len;

    if (n > NGX_CHATVISOR_SECRET_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" of \"%V\" is longer than "
                           "%d characters", &file, &cmd->name,
                           NGX_CHATVISOR_SECRET_MAX);
        return NGX_CONF_ERROR;
    }

    if (n < NGX_CHATVISOR_SECRET_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" of \"%V\" must hold at least "
                           "%d characters", &file, &cmd->name,
                           NGX_CHATVISOR_SECRET_MIN);
        return NGX_CONF_ERROR;
    }

    for (p = secret->data; p < secret->data + n; p++) {
        if (*p < 0x21 || *p > 0x7e) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "secret file \"%V\" of \"%V\" must hold "
                               "printable ASCII only", &file, &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}
