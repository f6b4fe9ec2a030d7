/*
 * Integrators and their tokens: chatvisor_api_client NAME SECRET_FILE, and
 * POST api/v1/auth/token (OAuth2 client credentials: form, JSON or HTTP
 * Basic), rate-limited per address and name after failures.
 */


#include "ngx_chatvisor_api.h"
#include "cv_api_tokens.h"


#define NGX_CHATVISOR_TOKEN_TTL      3600    /* s, an access token's life */


static ngx_int_t ngx_chatvisor_api_token_cluster(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
static cJSON *ngx_chatvisor_api_token_answer(const char *token);
static cv_status ngx_chatvisor_api_token_run(ngx_http_request_t *r,
    cv_txn *t);


/* chatvisor_api_client NAME SECRET_FILE; */

char *
ngx_chatvisor_api_client(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chatvisor_main_conf_t *cmcf = conf;

    u_char                       *p, hash[CV_SHA256_HEX];
    ngx_str_t                    *value;
    ngx_uint_t                    i;
    ngx_chatvisor_api_client_t   *client, *c;

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > CV_API_CLIENT_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid client name \"%V\" in \"%V\" directive",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (!(isalnum(*p) || *p == '-' || *p == '_' || *p == '.')) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid client name \"%V\" in \"%V\" "
                               "directive, use letters, digits, - _ .",
                               &value[1], &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    if (cmcf->api_clients == NULL) {
        cmcf->api_clients = ngx_array_create(cf->pool, 2,
                                          sizeof(ngx_chatvisor_api_client_t));
        if (cmcf->api_clients == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    c = cmcf->api_clients->elts;
    for (i = 0; i < cmcf->api_clients->nelts; i++) {
        if (c[i].name.len == value[1].len
            && ngx_strncmp(c[i].name.data, value[1].data, value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "client \"%V\" is configured twice in \"%V\"",
                               &value[1], &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    client = ngx_array_push(cmcf->api_clients);
    if (client == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_chatvisor_secret_file(cf, cmd, &value[2], &client->secret)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    client->name = value[1];

    if (cv_sha256_hex(client->secret.data, client->secret.len, (char *) hash)
        != CV_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(client->fingerprint, hash, NGX_CHATVISOR_FINGERPRINT_LEN);
    client->fingerprint[NGX_CHATVISOR_FINGERPRINT_LEN] = '\0';

    return NGX_CONF_OK;
}


static ngx_chatvisor_api_client_t *
ngx_chatvisor_find_client(ngx_chatvisor_main_conf_t *cmcf, u_char *name,
    size_t len)
{
    ngx_uint_t                   i;
    ngx_chatvisor_api_client_t  *c;

    if (cmcf->api_clients == NULL) {
        return NULL;
    }

    c = cmcf->api_clients->elts;

    for (i = 0; i < cmcf->api_clients->nelts; i++) {
        if (c[i].name.len == len && ngx_strncmp(c[i].name.data, name, len)
                                    == 0)
        {
            return &c[i];
        }
    }

    return NULL;
}


/* the fingerprint of a client's current secret: a token issued with an
 * older secret (changed file + reload) no longer matches */

const char *
ngx_chatvisor_api_fingerprint(const char *client, void *data)
{
    ngx_chatvisor_api_client_t  *c;

    c = ngx_chatvisor_find_client(data, (u_char *) client,
                                  ngx_strlen(client));

    return c ? c->fingerprint : NULL;
}


/*
 * A wrong secret or an unknown client (the same answer: names are not
 * revealed) counts against the caller's address and the name it tried:
 * after a few a minute the answer is 429. A right secret is never refused,
 * so whoever shares the address, or tries the name from elsewhere, cannot
 * lock the integrator out.
 */

static ngx_int_t
ngx_chatvisor_invalid_client(ngx_http_request_t *r,
    ngx_chatvisor_main_conf_t *cmcf, ngx_str_t *name)
{
    u_char     *key;
    ngx_str_t   addr;
    ngx_uint_t  retry;

    ngx_chatvisor_limit_addr(r->connection->sockaddr, r->connection->socklen,
                             &addr);

    key = ngx_pnalloc(r->pool, addr.len + 1 + name->len);
    if (key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(key, addr.data, addr.len);
    key[addr.len] = '\0';
    ngx_memcpy(key + addr.len + 1, name->data, name->len);

    if (ngx_chatvisor_limit(cmcf, NGX_CHATVISOR_LIMIT_API_LOGIN, key,
                            addr.len + 1 + name->len, &cmcf->limits.api_login,
                            &retry)
        != NGX_OK)
    {
        return ngx_chatvisor_send_limited(r, retry, "too many failed "
                                          "attempts; try again later");
    }

    return ngx_chatvisor_send_error(r, NGX_HTTP_UNAUTHORIZED, "invalid_client",
                                    "unknown client or wrong secret");
}


/*
 * POST api/v1/auth/token: OAuth2 client credentials, as a form or JSON,
 * or in HTTP Basic.
 */

ngx_int_t
ngx_chatvisor_api_token(ngx_http_request_t *r, ngx_chatvisor_ctx_t *ctx)
{
    cJSON                       *body, *grant, *id, *secret;
    ngx_str_t                    name, sec;
    ngx_chatvisor_api_client_t  *client;
    ngx_chatvisor_main_conf_t   *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);
    body = ctx->body;

    if (cmcf->store == NULL) {
        return ngx_chatvisor_send_unavailable(r);
    }

    grant = cJSON_GetObjectItemCaseSensitive(body, "grant_type");
    if (grant && (!cJSON_IsString(grant)
                  || ngx_strcmp(grant->valuestring, "client_credentials")
                     != 0))
    {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "unsupported_grant_type",
                                        "grant_type must be "
                                        "client_credentials");
    }

    id = cJSON_GetObjectItemCaseSensitive(body, "client_id");
    secret = cJSON_GetObjectItemCaseSensitive(body, "client_secret");

    if (id || secret) {
        if (!cJSON_IsString(id) || !cJSON_IsString(secret)) {
            return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                            "invalid_request",
                                            "client_id and client_secret "
                                            "must be strings");
        }

        name.data = (u_char *) id->valuestring;
        name.len = ngx_strlen(id->valuestring);
        sec.data = (u_char *) secret->valuestring;
        sec.len = ngx_strlen(secret->valuestring);

    } else if (ngx_http_auth_basic_user(r) == NGX_OK) {
        name = r->headers_in.user;
        sec = r->headers_in.passwd;

    } else {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "client_id and client_secret are "
                                        "required");
    }

    /* as in the file (curl -d @file) */
    ngx_chatvisor_secret_trim(&sec);

    client = ngx_chatvisor_find_client(cmcf, name.data, name.len);

    if (client == NULL || client->secret.len != sec.len
        || !cv_equal(client->secret.data, sec.data, sec.len))
    {
        return ngx_chatvisor_invalid_client(r, cmcf, &name);
    }

    ngx_cpystrn((u_char *) ctx->caller.api_client, client->name.data,
                ngx_min(client->name.len + 1,
                        sizeof(ctx->caller.api_client)));

    if (ngx_chatvisor_cluster_on(
            (ngx_chatvisor_main_conf_t *)
            ngx_http_get_module_main_conf(r, ngx_chatvisor_module)))
    {
        return ngx_chatvisor_api_token_cluster(r, ctx);
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_api_token_run, NULL);
}


/* the answer of a new token */

static cJSON *
ngx_chatvisor_api_token_answer(const char *token)
{
    cJSON  *out;

    out = cJSON_CreateObject();
    if (out == NULL) {
        return NULL;
    }

    cJSON_AddStringToObject(out, "access_token", token);
    cJSON_AddStringToObject(out, "token_type", "Bearer");
    cJSON_AddNumberToObject(out, "expires_in", NGX_CHATVISOR_TOKEN_TTL);

    return out;
}


static ngx_int_t
ngx_chatvisor_api_token_cluster_done(ngx_http_request_t *r, cv_status st)
{
    ngx_chatvisor_ctx_t  *ctx;

    ctx = ngx_chatvisor_ctx(r);

    if (st == CV_OK) {
        ctx->op.result = ngx_chatvisor_api_token_answer(
                                         (const char *) ctx->cluster.secret);
    }

    return ngx_chatvisor_send_op(r, st);
}


/*
 * Cluster mode: a token good on every node; it stays on this one, its
 * hash goes through the stream
 */

static ngx_int_t
ngx_chatvisor_api_token_cluster(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    char                        hex[CV_SHA256_HEX];
    cJSON                      *cmd;
    unsigned char               hash[CV_SHA256_LEN];
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (cv_api_token_new((char *) ctx->cluster.secret, hash) != CV_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_hex_dump((u_char *) hex, hash, sizeof(hash)) = '\0';

    cmd = cJSON_CreateObject();
    if (cmd == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cJSON_AddStringToObject(cmd, "op", "api.token");
    cJSON_AddStringToObject(cmd, "client", ctx->caller.api_client);
    cJSON_AddStringToObject(cmd, "fingerprint",
                            ngx_chatvisor_api_fingerprint(
                                ctx->caller.api_client, cmcf));
    cJSON_AddNumberToObject(cmd, "ttl_ms", NGX_CHATVISOR_TOKEN_TTL * 1000.0);
    cJSON_AddStringToObject(cmd, "token_hash", hex);

    return ngx_chatvisor_cluster_write(r, cmd,
                                       ngx_chatvisor_api_token_cluster_done);
}


static cv_status
ngx_chatvisor_api_token_run(ngx_http_request_t *r, cv_txn *t)
{
    char                        token[CV_API_TOKEN_STR];
    cJSON                      *out;
    cv_status                   st;
    ngx_chatvisor_ctx_t        *ctx;
    ngx_chatvisor_main_conf_t  *cmcf;

    ctx = ngx_chatvisor_ctx(r);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    st = cv_api_token_create(t, ctx->caller.api_client,
                             ngx_chatvisor_api_fingerprint(
                                 ctx->caller.api_client, cmcf),
                             NGX_CHATVISOR_TOKEN_TTL * 1000, token);
    if (st != CV_OK) {
        return st;
    }

    out = ngx_chatvisor_api_token_answer(token);
    if (out == NULL) {
        return CV_ERROR;
    }

    ctx->op.result = out;

    return CV_OK;
}
