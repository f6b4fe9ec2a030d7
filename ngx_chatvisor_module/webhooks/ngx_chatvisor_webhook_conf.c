/*
 * The webhook directives: endpoints declared in nginx.conf (config as
 * code, listed read-only by the API), and how the sender sends.
 */


#include "ngx_chatvisor_webhooks.h"
#include "ngx_chatvisor_webhook_client.h"
#include "cv_time.h"
#include "cv_url.h"
#include "cv_webhooks.h"


#define NGX_CHATVISOR_WEBHOOK_SECRET_FILE    4096    /* bytes read */
#define NGX_CHATVISOR_WEBHOOK_CONCURRENCY    8
#define NGX_CHATVISOR_WEBHOOK_TIMEOUT        15000   /* ms */
#define NGX_CHATVISOR_RESOLVER_TIMEOUT       30000   /* ms, nginx's own */



/* at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h */
static ngx_msec_t  ngx_chatvisor_webhook_default_schedule[] = {
    0, 5000, 300000, 1800000, 7200000, 18000000, 36000000, 50400000,
    72000000, 86400000
};


void
ngx_chatvisor_webhooks_create_conf(ngx_chatvisor_webhooks_conf_t *wc)
{
    wc->concurrency = NGX_CONF_UNSET_UINT;
    wc->timeout = NGX_CONF_UNSET_MSEC;
    wc->verify = NGX_CONF_UNSET;
    wc->allow_private = NGX_CONF_UNSET;
}


static char *
ngx_chatvisor_webhook_read_secret(ngx_conf_t *cf, ngx_str_t *file,
    ngx_str_t *secret)
{
    u_char     key[CV_WEBHOOK_SECRET_MAX_BYTES];
    size_t     len;
    ssize_t    n;
    ngx_fd_t   fd;

    if (ngx_conf_full_name(cf->cycle, file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(file->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read webhook secret file \"%V\"", file);
        return NGX_CONF_ERROR;
    }

    secret->data = ngx_pnalloc(cf->pool,
                               NGX_CHATVISOR_WEBHOOK_SECRET_FILE + 1);
    if (secret->data == NULL) {
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, secret->data, NGX_CHATVISOR_WEBHOOK_SECRET_FILE);
    ngx_close_file(fd);

    if (n < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read webhook secret file \"%V\"", file);
        return NGX_CONF_ERROR;
    }

    /* a trailing newline (echo > file) is no part of it */
    while (n > 0 && (secret->data[n - 1] == '\n' || secret->data[n - 1] == '\r'
                     || secret->data[n - 1] == ' '))
    {
        n--;
    }

    secret->len = n;
    secret->data[n] = '\0';

    if (cv_webhook_secret_key((char *) secret->data, key, &len) != CV_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "webhook secret file \"%V\" must hold whsec_ "
                           "and the base64 of 24 to 64 random bytes", file);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* events=a,b */

static char *
ngx_chatvisor_webhook_events(ngx_conf_t *cf, ngx_str_t *list,
    ngx_uint_t *events)
{
    u_char    *p, *end, *comma;
    u_char     name[CV_WEBHOOK_NAME_MAX];
    unsigned   bit;

    *events = 0;
    p = list->data;
    end = list->data + list->len;

    while (p < end) {
        comma = ngx_strlchr(p, end, ',');
        if (comma == NULL) {
            comma = end;
        }

        if ((size_t) (comma - p) >= sizeof(name)) {
            goto unknown;
        }

        ngx_memcpy(name, p, comma - p);
        name[comma - p] = '\0';

        bit = cv_webhook_event_bit((char *) name);
        if (bit == 0) {
            goto unknown;
        }

        *events |= bit;
        p = comma + 1;
        continue;

    unknown:

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown webhook event \"%*s\"", comma - p, p);
        return NGX_CONF_ERROR;
    }

    return *events ? NGX_CONF_OK : "needs at least one event in events=";
}


/* chatvisor_webhook NAME URL secret_file=PATH [events=a,b]; */

char *
ngx_chatvisor_webhook(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chatvisor_main_conf_t *cmcf = conf;

    u_char                        *p;
    char                          *rv;
    cv_url                         url;
    ngx_str_t                     *value, s;
    ngx_uint_t                     i;
    const char                    *why;
    ngx_chatvisor_webhook_decl_t  *d, *decl;

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > CV_WEBHOOK_NAME_MAX) {
        goto bad_name;
    }

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (!(isalnum(*p) || *p == '-' || *p == '_')) {
            goto bad_name;
        }
    }

    if (cmcf->webhooks.declared == NULL) {
        cmcf->webhooks.declared = ngx_array_create(cf->pool, 2,
                                          sizeof(ngx_chatvisor_webhook_decl_t));
        if (cmcf->webhooks.declared == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    d = cmcf->webhooks.declared->elts;
    for (i = 0; i < cmcf->webhooks.declared->nelts; i++) {
        if (d[i].name.len == value[1].len
            && ngx_strncmp(d[i].name.data, value[1].data, value[1].len) == 0)
        {
            return "is duplicate: the name is taken";
        }
    }

    /* cv_url_parse wants a C string: nginx's arguments are NUL-terminated */
    if (cv_url_parse((char *) value[2].data, &url, &why) != CV_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid webhook URL \"%V\": %s", &value[2], why);
        return NGX_CONF_ERROR;
    }

    decl = ngx_array_push(cmcf->webhooks.declared);
    if (decl == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(decl, sizeof(ngx_chatvisor_webhook_decl_t));
    decl->name = value[1];
    decl->url = value[2];

    for (i = 3; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "secret_file=", 12) == 0) {
            s.data = value[i].data + 12;
            s.len = value[i].len - 12;

            rv = ngx_chatvisor_webhook_read_secret(cf, &s, &decl->secret);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "events=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            rv = ngx_chatvisor_webhook_events(cf, &s, &decl->events);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive, "
                           "expected secret_file=PATH or events=a,b",
                           &value[i], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (decl->secret.len == 0) {
        return "needs secret_file=PATH";
    }

    return NGX_CONF_OK;

bad_name:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid webhook name \"%V\" in \"%V\" directive, "
                       "use 1 to 64 of letters, digits, - and _",
                       &value[1], &cmd->name);
    return NGX_CONF_ERROR;
}


/* chatvisor_webhook_retry_schedule TIME...; */

char *
ngx_chatvisor_webhook_schedule(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chatvisor_main_conf_t *cmcf = conf;

    ngx_str_t   *value;
    ngx_msec_t  *delay;
    ngx_uint_t   i;

    if (cmcf->webhooks.schedule) {
        return "is duplicate";
    }

    cmcf->webhooks.schedule = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                               sizeof(ngx_msec_t));
    if (cmcf->webhooks.schedule == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        delay = ngx_array_push(cmcf->webhooks.schedule);
        if (delay == NULL) {
            return NGX_CONF_ERROR;
        }

        *delay = ngx_parse_time(&value[i], 0);

        if (*delay == (ngx_msec_t) NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid time \"%V\" in \"%V\" directive",
                               &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* defaults, the http{} level's resolver, a TLS context for https */

char *
ngx_chatvisor_webhooks_init_conf(ngx_conf_t *cf,
    ngx_chatvisor_webhooks_conf_t *wc)
{
    cv_url                         url;
    ngx_uint_t                     i;
    ngx_msec_t                    *delay;
    const char                    *why;
    struct sockaddr_storage        ss;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_chatvisor_webhook_decl_t  *d;

    ngx_conf_init_uint_value(wc->concurrency,
                             NGX_CHATVISOR_WEBHOOK_CONCURRENCY);
    ngx_conf_init_msec_value(wc->timeout, NGX_CHATVISOR_WEBHOOK_TIMEOUT);
    ngx_conf_init_value(wc->verify, 1);
    ngx_conf_init_value(wc->allow_private, 0);

    if (wc->schedule == NULL) {
        wc->schedule = ngx_array_create(cf->pool,
                           sizeof(ngx_chatvisor_webhook_default_schedule)
                           / sizeof(ngx_msec_t), sizeof(ngx_msec_t));
        if (wc->schedule == NULL) {
            return NGX_CONF_ERROR;
        }

        for (i = 0; i < sizeof(ngx_chatvisor_webhook_default_schedule)
                        / sizeof(ngx_msec_t); i++)
        {
            delay = ngx_array_push(wc->schedule);
            if (delay == NULL) {
                return NGX_CONF_ERROR;
            }

            *delay = ngx_chatvisor_webhook_default_schedule[i];
        }
    }

    /* a declared literal address is refused now, as the API refuses it */
    if (wc->declared && !wc->allow_private) {
        d = wc->declared->elts;

        for (i = 0; i < wc->declared->nelts; i++) {
            if (cv_url_parse((char *) d[i].url.data, &url, &why) == CV_OK
                && cv_host_is_literal(url.host, &ss)
                && cv_addr_private((struct sockaddr *) &ss))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "webhook \"%V\": \"%V\" is a private "
                                   "address; \"chatvisor_webhook_allow_"
                                   "private on\" allows it",
                                   &d[i].name, &d[i].url);
                return NGX_CONF_ERROR;
            }
        }
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    wc->resolver = (clcf->resolver == NGX_CONF_UNSET_PTR) ? NULL
                                                         : clcf->resolver;
    wc->resolver_timeout = (clcf->resolver_timeout == NGX_CONF_UNSET_MSEC)
                           ? NGX_CHATVISOR_RESOLVER_TIMEOUT
                           : clcf->resolver_timeout;

#if (NGX_SSL)
    if (ngx_chatvisor_client_ssl_init(cf, &wc->ssl, &wc->trusted_certificate,
                                      wc->verify)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }
#endif

    return NGX_CONF_OK;
}


ngx_int_t
ngx_chatvisor_webhooks_init_module(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf)
{
    u_char                         err[NGX_MAX_ERROR_STR];
    size_t                         i, n;
    cv_txn                        *t;
    cv_store                      *store;
    cv_status                      st;
    cv_webhook_spec               *specs;
    ngx_chatvisor_webhook_decl_t  *d;

    n = cmcf->webhooks.declared ? cmcf->webhooks.declared->nelts : 0;
    d = n ? cmcf->webhooks.declared->elts : NULL;

    specs = ngx_pcalloc(cycle->pool, (n + 1) * sizeof(cv_webhook_spec));
    if (specs == NULL) {
        return NGX_ERROR;
    }

    /* the strings of nginx.conf are NUL-terminated */
    for (i = 0; i < n; i++) {
        specs[i].url = (char *) d[i].url.data;
        specs[i].events = (unsigned) d[i].events;
        specs[i].name = (char *) d[i].name.data;
        specs[i].secret = ngx_pnalloc(cycle->pool, d[i].secret.len + 1);
        if (specs[i].secret == NULL) {
            return NGX_ERROR;
        }

        ngx_cpystrn((u_char *) specs[i].secret, d[i].secret.data,
                    d[i].secret.len + 1);
    }

    if (cv_store_open(&store, &cmcf->store_opt, (char *) err, sizeof(err))
        != CV_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "chatvisor_store \"%V\": %s", &cmcf->store_path, err);
        return NGX_ERROR;
    }

    st = cv_txn_begin(store, 1, &t);

    if (st == CV_OK) {
        st = cv_webhook_config_sync(t, specs, n, cv_now_ms());

        if (st == CV_OK) {
            st = cv_txn_commit(t);

        } else {
            cv_txn_abort(t);
        }
    }

    cv_store_close(store);

    if (st != CV_OK) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "chatvisor_store \"%V\": the declared webhooks could "
                      "not be stored (%s)", &cmcf->store_path,
                      cv_status_text(st));
        return NGX_ERROR;
    }

    return NGX_OK;
}
