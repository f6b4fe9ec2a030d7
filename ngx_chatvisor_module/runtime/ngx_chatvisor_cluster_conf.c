/*
 * chatvisor_cluster nats://h:p[,...] [stream=] [replicas=] [credentials=]
 * [tls=on|off] (docs/directives.md): the servers one by one, the stream,
 * its subject, and this node's random id.
 */


#include "ngx_chatvisor_runtime.h"


char *
ngx_chatvisor_cluster_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chatvisor_main_conf_t *cmcf = conf;

    u_char      *p;
    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (cmcf->cluster.servers.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "nats://", 7) != 0
        && ngx_strncmp(value[1].data, "tls://", 6) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" wants nats://host:port servers, "
                           "comma-separated, not \"%V\"",
                           &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    /* NUL-ended copies: libnats takes C strings */
    cmcf->cluster.servers.data = ngx_pnalloc(cf->pool, value[1].len + 1);
    if (cmcf->cluster.servers.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(cmcf->cluster.servers.data, value[1].data, value[1].len);
    cmcf->cluster.servers.data[value[1].len] = '\0';
    cmcf->cluster.servers.len = value[1].len;

    /* each url on its own (libnats' own comma parsing in natsOptions_SetURL
     * finds no server in 3.4) */
    n = 1;
    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        n += (*p == ',');
    }

    cmcf->cluster.urls = ngx_palloc(cf->pool, n * sizeof(char *));
    if (cmcf->cluster.urls == NULL) {
        return NGX_CONF_ERROR;
    }

    cmcf->cluster.nurls = 0;
    s.data = ngx_pnalloc(cf->pool, value[1].len + 1);
    if (s.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(s.data, value[1].data, value[1].len);
    s.data[value[1].len] = '\0';

    for (p = s.data, i = 0; i <= value[1].len; i++) {
        if (i == value[1].len || s.data[i] == ',') {
            if (p == s.data + i) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "an empty server in \"%V\"", &value[1]);
                return NGX_CONF_ERROR;
            }

            if (i < value[1].len) {
                s.data[i] = '\0';
            }

            cmcf->cluster.urls[cmcf->cluster.nurls++] = (char *) p;
            p = s.data + i + 1;
        }
    }

    ngx_str_set(&cmcf->cluster.stream, "chatvisor");
    cmcf->cluster.replicas = 3;
    cmcf->cluster.tls = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "stream=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            for (p = s.data; p < s.data + s.len; p++) {
                if (!(isalnum(*p) || *p == '_' || *p == '-')) {
                    break;
                }
            }

            if (s.len == 0 || p != s.data + s.len) {
                goto invalid;
            }

            cmcf->cluster.stream = s;
            continue;
        }

        if (ngx_strncmp(value[i].data, "replicas=", 9) == 0) {
            n = ngx_atoi(value[i].data + 9, value[i].len - 9);

            /* JetStream's own bounds */
            if (n < 1 || n > 5) {
                goto invalid;
            }

            cmcf->cluster.replicas = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "credentials=", 12) == 0) {
            s.data = value[i].data + 12;
            s.len = value[i].len - 12;

            if (s.len == 0 || ngx_conf_full_name(cf->cycle, &s, 1) != NGX_OK)
            {
                goto invalid;
            }

            cmcf->cluster.credentials.data = ngx_pnalloc(cf->pool,
                                                         s.len + 1);
            if (cmcf->cluster.credentials.data == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memcpy(cmcf->cluster.credentials.data, s.data, s.len);
            cmcf->cluster.credentials.data[s.len] = '\0';
            cmcf->cluster.credentials.len = s.len;

            if (ngx_chatvisor_cluster_creds_check(cf, cmd,
                                                  &cmcf->cluster.credentials)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "tls=on") == 0) {
            cmcf->cluster.tls = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "tls=off") == 0) {
            cmcf->cluster.tls = 0;
            continue;
        }

        goto invalid;
    }

    /* a tls:// server means TLS, as tls=on does */
    if (ngx_strstr(cmcf->cluster.servers.data, "tls://")) {
        cmcf->cluster.tls = 1;
    }

    /* the stream's name, then ".cmd", NUL-ended */
    s.len = cmcf->cluster.stream.len + sizeof(".cmd") - 1;
    s.data = ngx_pnalloc(cf->pool, s.len + 1);
    if (s.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(s.data, cmcf->cluster.stream.data,
                   cmcf->cluster.stream.len);
    p = ngx_cpymem(p, ".cmd", sizeof(".cmd") - 1);
    *p = '\0';
    cmcf->cluster.subject = s;

    if (cv_random_bytes(cmcf->cluster.node, sizeof(cmcf->cluster.node))
        != CV_OK)
    {
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->pool, cmcf->cluster.stream.len + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(p, cmcf->cluster.stream.data, cmcf->cluster.stream.len);
    p[cmcf->cluster.stream.len] = '\0';
    cmcf->cluster.stream.data = p;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"%V\" (stream=NAME, "
                       "replicas=1..5, credentials=FILE, tls=on|off)",
                       &value[i], &cmd->name);

    return NGX_CONF_ERROR;
}
