/*
 * Who the visitor is for the integrator (issue 14): POST v1/visitor/identify
 * and chatvisor_identity_secret.
 *
 * The page's identify({id, email, firstname, lastname, labels, signature})
 * sends its fields here. An "id" (the integrator's customer id, as in PUT
 * api/v1/customers) is taken only with "signature", the hex HMAC-SHA256 of
 * the id under chatvisor_identity_secret: then the visitor becomes that
 * customer (cv_customer_identify: the one with that id, or their own
 * anonymous one, or a new one) and their cookie moves to it. Without an id
 * in the body, the id the edge named on the page (chatvisor_identify, in
 * the cv_identify cookie) is taken the same way. The other fields update
 * the customer the visitor is (then).
 */


#include "ngx_chatvisor_chat.h"
#include "cv_crypto.h"


/* hex digits of an HMAC-SHA256 */
#define NGX_CHATVISOR_IDENTIFY_SIG_LEN  (CV_SHA256_LEN * 2)


typedef struct {
    char          ext[CV_CUSTOMER_EXT_ID_MAX + 1];   /* "": none */
    char          target[CV_ID_MAX];    /* the customer the visitor is */
    cJSON        *fields;               /* email, names, labels: the
                                           body's; NULL: none */
} ngx_chatvisor_identify_t;


static ngx_int_t ngx_chatvisor_visitor_identify(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);


static const char  *ngx_chatvisor_identify_fields[] = {
    "id", "signature", "email", "firstname", "lastname", "labels", NULL
};


ngx_chatvisor_route_t  ngx_chatvisor_identify_routes[] = {

    { NGX_HTTP_POST, ngx_string("identify"),
      NGX_CHATVISOR_CALLER_VISITOR, NGX_CHATVISOR_BODY_OBJECT,
      ngx_chatvisor_identify_fields, ngx_chatvisor_visitor_identify },

    { 0, ngx_null_string, 0, 0, NULL, NULL }
};


/* chatvisor_identity_secret FILE; */

char *
ngx_chatvisor_identity_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chatvisor_main_conf_t *cmcf = conf;

    ngx_str_t  *value;

    if (cmcf->identity_secret.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    return ngx_chatvisor_secret_file(cf, cmd, &value[1],
                                     &cmcf->identity_secret);
}


/* NGX_OK when sig is the hex HMAC-SHA256 of ext under the secret (either
 * letter case), compared in constant time */

static ngx_int_t
ngx_chatvisor_identify_signed(ngx_chatvisor_main_conf_t *cmcf,
    const char *ext, const char *sig)
{
    u_char      mac[CV_SHA256_LEN], want[NGX_CHATVISOR_IDENTIFY_SIG_LEN];
    u_char      got[NGX_CHATVISOR_IDENTIFY_SIG_LEN];
    ngx_uint_t  i;

    if (cv_hmac_sha256(cmcf->identity_secret.data, cmcf->identity_secret.len,
                       ext, ngx_strlen(ext), mac)
        != CV_OK)
    {
        return NGX_ERROR;
    }

    ngx_hex_dump(want, mac, CV_SHA256_LEN);

    for (i = 0; i < NGX_CHATVISOR_IDENTIFY_SIG_LEN; i++) {
        got[i] = ngx_tolower((u_char) sig[i]);
    }

    return cv_equal(want, got, NGX_CHATVISOR_IDENTIFY_SIG_LEN) ? NGX_OK
                                                                : NGX_DECLINED;
}


/*
 * The integrator's id from the body into d->ext ("" when there is none),
 * checked against its signature: NGX_OK, or NGX_DECLINED with what is
 * wrong in err (a check never answers), NGX_ERROR when OpenSSL fails.
 */

static ngx_int_t
ngx_chatvisor_identify_body_id(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, ngx_chatvisor_identify_t *d,
    ngx_chatvisor_err_t *err)
{
    size_t                      n;
    cJSON                      *id, *sig;
    ngx_int_t                   rc;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    id = cJSON_GetObjectItemCaseSensitive(ctx->body, "id");
    sig = cJSON_GetObjectItemCaseSensitive(ctx->body, "signature");

    d->ext[0] = '\0';

    if (id == NULL || cJSON_IsNull(id)) {
        if (sig && !cJSON_IsNull(sig)) {
            return ngx_chatvisor_invalid(err, "\"signature\" signs an "
                                              "\"id\"; give both");
        }

        return NGX_OK;
    }

    if (cv_customer_ext_id(id, d->ext, sizeof(d->ext)) != CV_OK) {
        d->ext[0] = '\0';
        return ngx_chatvisor_invalid(err, "\"id\" must be a string of 1 to "
                                          NGX_CHATVISOR_STR(
                                              CV_CUSTOMER_EXT_ID_MAX)
                                          " characters or an integer");
    }

    if (!cJSON_IsString(sig)) {
        return ngx_chatvisor_invalid(err, "\"id\" needs \"signature\": the "
                                          "hex HMAC-SHA256 of the id under "
                                          "chatvisor_identity_secret");
    }

    n = ngx_strlen(sig->valuestring);

    if (n != NGX_CHATVISOR_IDENTIFY_SIG_LEN
        || strspn(sig->valuestring, "0123456789abcdefABCDEF") != n)
    {
        return ngx_chatvisor_invalid(err, "\"signature\" must be "
                                          NGX_CHATVISOR_STR(
                                              NGX_CHATVISOR_IDENTIFY_SIG_LEN)
                                          " hex digits");
    }

    if (cmcf->identity_secret.len == 0) {
        return ngx_chatvisor_reject(err, NGX_HTTP_FORBIDDEN,
                                    "identity_not_configured",
                                    "this site takes no \"id\": "
                                    "chatvisor_identity_secret is not set");
    }

    rc = ngx_chatvisor_identify_signed(cmcf, d->ext, sig->valuestring);

    if (rc == NGX_DECLINED) {
        return ngx_chatvisor_reject(err, NGX_HTTP_FORBIDDEN, "bad_signature",
                                    "\"signature\" does not sign this "
                                    "\"id\"");
    }

    return rc;
}


static cv_status
ngx_chatvisor_identify_run(ngx_http_request_t *r, cv_txn *t)
{
    cJSON                     *out;
    cv_status                  st;
    ngx_chatvisor_ctx_t       *ctx;
    ngx_chatvisor_identify_t  *d;

    ctx = ngx_chatvisor_ctx(r);
    d = ctx->data;

    /* runs again from scratch when its batch does */
    ngx_cpystrn((u_char *) d->target, (u_char *) ctx->caller.customer_id,
                CV_ID_MAX);

    if (d->ext[0]) {
        st = cv_customer_identify(t, ctx->caller.new_visitor
                                     ? NULL : ctx->caller.customer_id,
                                  d->ext, d->target);

    } else if (ctx->caller.new_visitor) {
        st = cv_customer_create(t, d->target);

    } else {
        st = CV_OK;
    }

    if (st == CV_OK && d->fields) {
        out = NULL;
        st = cv_customer_update(t, d->target, d->fields, 0, &out,
                                &ctx->op.why);
        cJSON_Delete(out);
    }

    if (st != CV_OK) {
        return st;
    }

    ctx->op.result = cJSON_CreateObject();

    if (d->ext[0]) {
        cJSON_AddStringToObject(ctx->op.result, "id", d->ext);

    } else {
        cJSON_AddNullToObject(ctx->op.result, "id");
    }

    cJSON_AddBoolToObject(ctx->op.result, "moved",
                          ngx_strcmp(d->target, ctx->caller.customer_id)
                          != 0);

    /* no notice: no log entry was written, so no poll has news; the
     * console shows the customer as it is when it next reads the
     * conversation, as after PUT api/v1/customers */

    return CV_OK;
}


/* the cookies of the customer the visitor is now (d->target): the
 * visitor's when it changed (or is_new: a new visitor's), the identity's
 * when an integrator's id was given */

static ngx_int_t
ngx_chatvisor_identify_cookies(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, ngx_chatvisor_identify_t *d, ngx_uint_t is_new)
{
    if ((is_new || ngx_strcmp(d->target, ctx->caller.customer_id) != 0)
        && ngx_chatvisor_visitor_cookie_set(r, d->target) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (d->ext[0]
        && ngx_chatvisor_identity_cookie_set(r, d->target, d->ext) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_chatvisor_identify_done(ngx_http_request_t *r, cv_status st)
{
    ngx_chatvisor_ctx_t       *ctx;
    ngx_chatvisor_identify_t  *d;

    ctx = ngx_chatvisor_ctx(r);
    d = ctx->data;

    if (st == CV_OK && ngx_chatvisor_identify_cookies(r, ctx, d, 0) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_chatvisor_send_op(r, st);
}


/*
 * Cluster mode: identify as a command (engine/cv_cluster_writes.h), the
 * integrator's id checked against its signature here, so that every
 * node's store has the same customer with that id; the customer the
 * visitor is then comes back with the outcome, and its cookies are set
 * here as after a local write.
 */

static ngx_int_t
ngx_chatvisor_identify_cluster_done(ngx_http_request_t *r, cv_status st)
{
    ngx_chatvisor_ctx_t       *ctx;
    ngx_chatvisor_identify_t  *d;

    ctx = ngx_chatvisor_ctx(r);
    d = ctx->data;

    if (st == CV_OK) {
        ngx_cpystrn((u_char *) d->target,
                    (u_char *) ctx->cluster.res.customer_id, CV_ID_MAX);

        /* a new visitor's caller.customer_id is already the new one (the
         * cluster's answer): it needs its cookie all the same */
        if (ngx_chatvisor_identify_cookies(r, ctx, d,
                                           ctx->caller.new_visitor)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_chatvisor_send_op(r, st);
}


static ngx_int_t
ngx_chatvisor_identify_cluster(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, ngx_chatvisor_identify_t *d)
{
    cJSON       *cmd;
    const char  *why;

    /* refused before anything is published */
    why = d->fields ? cv_customer_check(d->fields) : NULL;
    if (why) {
        return ngx_chatvisor_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request", why);
    }

    cmd = cJSON_CreateObject();
    if (cmd == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cJSON_AddStringToObject(cmd, "op", "visitor.identify");

    if (!ctx->caller.new_visitor) {
        cJSON_AddStringToObject(cmd, "customer_id", ctx->caller.customer_id);
    }

    if (d->ext[0]) {
        cJSON_AddStringToObject(cmd, "ext", d->ext);
    }

    if (d->fields) {
        cJSON_AddItemReferenceToObject(cmd, "fields", d->fields);
    }

    return ngx_chatvisor_cluster_write(r, cmd,
                                       ngx_chatvisor_identify_cluster_done);
}


static ngx_int_t
ngx_chatvisor_visitor_identify(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx)
{
    cJSON                     *answer;
    ngx_int_t                  rc;
    ngx_chatvisor_err_t        err;
    ngx_chatvisor_identify_t  *d;

    d = ngx_chatvisor_ctx_data(ctx, sizeof(ngx_chatvisor_identify_t));
    if (d == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_chatvisor_identify_body_id(r, ctx, d, &err);

    if (rc == NGX_DECLINED) {
        return ngx_chatvisor_send_err(r, &err);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* no id in the body: the one the edge named, if any */
    if (d->ext[0] == '\0'
        && ngx_chatvisor_identify_cookie(r, d->ext) != NGX_OK)
    {
        d->ext[0] = '\0';
    }

    /* the fields besides the id (the id is in d->ext now, checked):
     * checked with the write, which refuses them with CV_INVALID */
    cJSON_DeleteItemFromObjectCaseSensitive(ctx->body, "id");
    cJSON_DeleteItemFromObjectCaseSensitive(ctx->body, "signature");

    d->fields = ctx->body->child ? ctx->body : NULL;

    ctx->caller.new_visitor =
             (ngx_chatvisor_visitor_cookie(r, ctx->caller.customer_id)
              != NGX_OK);

    if (d->ext[0] == '\0' && d->fields == NULL) {
        /* nothing to do: nobody is created for it */
        answer = cJSON_CreateObject();
        cJSON_AddNullToObject(answer, "id");
        cJSON_AddFalseToObject(answer, "moved");
        return ngx_chatvisor_send_json(r, NGX_HTTP_OK, answer);
    }

    if (d->ext[0] && d->fields == NULL && !ctx->caller.new_visitor
        && ngx_chatvisor_identity_proven(r, ctx->caller.customer_id, d->ext))
    {
        /* this browser is that customer already: no write */
        answer = cJSON_CreateObject();
        cJSON_AddStringToObject(answer, "id", d->ext);
        cJSON_AddFalseToObject(answer, "moved");
        return ngx_chatvisor_send_json(r, NGX_HTTP_OK, answer);
    }

    /* creating a customer counts as a new visitor; other writes as
     * messages */
    rc = ngx_chatvisor_visitor_limit(r, ctx, "too many requests; try again "
                                             "later");
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (ngx_chatvisor_cluster_on(
            (ngx_chatvisor_main_conf_t *)
            ngx_http_get_module_main_conf(r, ngx_chatvisor_module)))
    {
        return ngx_chatvisor_identify_cluster(r, ctx, d);
    }

    return ngx_chatvisor_write(r, ngx_chatvisor_identify_run,
                               ngx_chatvisor_identify_done);
}
