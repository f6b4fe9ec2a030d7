/*
 * Whether the edge shows the chat on a page (SPEC 3): a REST override
 * (visible / hidden, optionally until a time) wins; then a visitor who is
 * in a conversation always gets the widget; then, in mode auto, every
 * chatvisor_show_if rule must hold (no rules: visible). Decided per page
 * from shared memory and cookies, with no store write; exposed as
 * $chatvisor_visible.
 */


#include "ngx_chatvisor_edge.h"
#include "cv_chat.h"
#include "cv_cookie.h"


#define NGX_CHATVISOR_VISITS_COOKIE   "cv_visits"
#define NGX_CHATVISOR_VISITS_PURPOSE  "visits"
#define NGX_CHATVISOR_VISIT_GAP       (30 * 60)          /* a new visit */
#define NGX_CHATVISOR_VISITS_AGE      (2 * 365 * 86400)
#define NGX_CHATVISOR_VISITS_MAX      1000000            /* in visits>=N */

/* "COUNT.LAST": two numbers and a dot */
#define NGX_CHATVISOR_VISITS_LEN      (NGX_INT_T_LEN + 1 + NGX_TIME_T_LEN)


static ngx_int_t ngx_chatvisor_visible_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_int_t  ngx_chatvisor_visible_index = NGX_ERROR;


/* chatvisor_show_if any_agent_online | any_agent_available |
 *                   business_hours | visits>=N ...; */

char *
ngx_chatvisor_show_if(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chatvisor_loc_conf_t *clcf = conf;

    ngx_int_t                   n;
    ngx_str_t                  *value, num;
    ngx_uint_t                  i;
    ngx_chatvisor_main_conf_t  *cmcf;

    if (clcf->rules != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    clcf->rules = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "any_agent_online") == 0) {
            clcf->rules |= NGX_CHATVISOR_RULE_ONLINE;

        } else if (ngx_strcmp(value[i].data, "any_agent_available") == 0) {
            clcf->rules |= NGX_CHATVISOR_RULE_AVAILABLE;

        } else if (ngx_strcmp(value[i].data, "business_hours") == 0) {
            clcf->rules |= NGX_CHATVISOR_RULE_HOURS;

        } else if (value[i].len > sizeof("visits>=") - 1
                   && ngx_strncmp(value[i].data, "visits>=",
                                  sizeof("visits>=") - 1) == 0)
        {
            num.data = value[i].data + sizeof("visits>=") - 1;
            num.len = value[i].len - (sizeof("visits>=") - 1);
            n = ngx_atoi(num.data, num.len);

            if (n < 1 || n > NGX_CHATVISOR_VISITS_MAX) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid rule \"%V\" in \"%V\" directive, "
                                   "N in visits>=N must be 1 or more",
                                   &value[i], &cmd->name);
                return NGX_CONF_ERROR;
            }

            clcf->rules |= NGX_CHATVISOR_RULE_VISITS;
            clcf->min_visits = n;

            cmcf = ngx_http_conf_get_module_main_conf(cf,
                                                      ngx_chatvisor_module);
            cmcf->visits_rule = 1;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown rule \"%V\" in \"%V\" directive, "
                               "rules are any_agent_online, "
                               "any_agent_available, business_hours and "
                               "visits>=N", &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static void
ngx_chatvisor_hours_cleanup(void *data)
{
    cv_hours_free(data);
}


/* chatvisor_business_hours mon-fri 09:00-18:00 ... [tz=ZONE]; */

char *
ngx_chatvisor_business_hours(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chatvisor_srv_conf_t *cscf = conf;

    char                 err[256];
    const char         **argv;
    ngx_str_t           *value;
    ngx_uint_t           i;
    ngx_pool_cleanup_t  *cln;

    if (cscf->hours) {
        return "is duplicate";
    }

    value = cf->args->elts;

    argv = ngx_palloc(cf->pool, cf->args->nelts * sizeof(char *));
    cscf->hours = ngx_pcalloc(cf->pool, sizeof(cv_hours));
    cln = ngx_pool_cleanup_add(cf->pool, 0);

    if (argv == NULL || cscf->hours == NULL || cln == NULL) {
        return NGX_CONF_ERROR;
    }

    /* nginx's argument strings are NUL-terminated */
    for (i = 1; i < cf->args->nelts; i++) {
        argv[i - 1] = (const char *) value[i].data;
    }

    if (cv_hours_parse(cscf->hours, (int) cf->args->nelts - 1, argv, NULL,
                       err, sizeof(err))
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid \"%V\": %s",
                           &cmd->name, err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_chatvisor_hours_cleanup;
    cln->data = cscf->hours;

    return NGX_CONF_OK;
}


/*
 * The visit count after this page view, from the signed cv_visits cookie
 * "COUNT.LAST.SIG" (a tampered or missing cookie is a first visit). Pure:
 * the variable and the filter compute the same number.
 */

static void
ngx_chatvisor_visits(ngx_http_request_t *r, time_t now, ngx_uint_t *count)
{
    ngx_str_t  value;

    *count = 1;

    if (ngx_chatvisor_signed_cookie_get(r, NGX_CHATVISOR_VISITS_COOKIE,
                                        NGX_CHATVISOR_VISITS_PURPOSE,
                                        NGX_CHATVISOR_VISITS_LEN, &value)
        != NGX_OK)
    {
        return;
    }

    /* read by the engine (cv_cookie.c, fuzzed) */
    *count = (ngx_uint_t) cv_cookie_visits((const char *) value.data,
                                           value.len, now,
                                           NGX_CHATVISOR_VISIT_GAP);
}


ngx_int_t
ngx_chatvisor_count_visit(ngx_http_request_t *r)
{
    u_char                      buf[NGX_CHATVISOR_VISITS_LEN];
    time_t                      now;
    ngx_str_t                   value, path = ngx_string("/");
    ngx_uint_t                  count;
    ngx_chatvisor_loc_conf_t   *clcf;
    ngx_chatvisor_main_conf_t  *cmcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_chatvisor_module);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    if (!(clcf->rules & NGX_CHATVISOR_RULE_VISITS) || cmcf->store == NULL) {
        return NGX_OK;
    }

    now = ngx_time();
    ngx_chatvisor_visits(r, now, &count);

    value.data = buf;
    value.len = ngx_sprintf(buf, "%ui.%T", count, now) - buf;

    return ngx_chatvisor_signed_cookie_set(r, NGX_CHATVISOR_VISITS_COOKIE,
                                           NGX_CHATVISOR_VISITS_PURPOSE,
                                           &value, &path,
                                           NGX_CHATVISOR_VISITS_AGE, 0);
}


/* a visitor in an open conversation is never cut off */

static ngx_uint_t
ngx_chatvisor_in_conversation(ngx_http_request_t *r,
    ngx_chatvisor_main_conf_t *cmcf)
{
    char        customer[CV_ID_MAX], conv[CV_ID_MAX];
    cv_txn     *t;
    ngx_uint_t  in;

    if (cmcf->store == NULL
        || ngx_chatvisor_visitor_cookie(r, customer) != NGX_OK
        || cv_txn_begin(cmcf->store, 0, &t) != CV_OK)
    {
        return 0;
    }

    in = (cv_customer_open_conversation(t, customer, conv) == CV_OK);
    cv_txn_abort(t);

    return in;
}


static ngx_uint_t
ngx_chatvisor_decide(ngx_http_request_t *r)
{
    int64_t                     until;
    ngx_uint_t                  mode, rules, count;
    ngx_chatvisor_srv_conf_t   *cscf;
    ngx_chatvisor_loc_conf_t   *clcf;
    ngx_chatvisor_main_conf_t  *cmcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_chatvisor_module);
    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    mode = ngx_chatvisor_settings_visibility(cmcf, &until);

    if (mode != NGX_CHATVISOR_MODE_AUTO) {
        return mode == NGX_CHATVISOR_MODE_VISIBLE;
    }

    rules = clcf->rules;

    if (rules == 0) {
        return 1;
    }

    if ((rules & NGX_CHATVISOR_RULE_ONLINE)
        && !ngx_chatvisor_presence_any(cmcf, 0))
    {
        goto hidden;
    }

    if ((rules & NGX_CHATVISOR_RULE_AVAILABLE)
        && !ngx_chatvisor_presence_any(cmcf, 1))
    {
        goto hidden;
    }

    if (rules & NGX_CHATVISOR_RULE_HOURS) {
        cscf = ngx_http_get_module_srv_conf(r, ngx_chatvisor_module);

        if (cscf->hours == NULL || !cv_hours_open(cscf->hours, ngx_time())) {
            goto hidden;
        }
    }

    if (rules & NGX_CHATVISOR_RULE_VISITS) {
        ngx_chatvisor_visits(r, ngx_time(), &count);

        if (count < clcf->min_visits) {
            goto hidden;
        }
    }

    return 1;

hidden:

    return ngx_chatvisor_in_conversation(r, cmcf);
}


/* 1 visible, 0 hidden; computed once per request (the variable caches) */

ngx_int_t
ngx_chatvisor_visible(ngx_http_request_t *r)
{
    ngx_http_variable_value_t  *v;

    v = ngx_http_get_indexed_variable(r, ngx_chatvisor_visible_index);

    return v && !v->not_found && v->len == 1 && v->data[0] == '1';
}


static ngx_int_t
ngx_chatvisor_visible_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    v->data = (u_char *) (ngx_chatvisor_decide(r) ? "1" : "0");
    v->len = 1;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


ngx_int_t
ngx_chatvisor_add_variables(ngx_conf_t *cf)
{
    ngx_str_t             name = ngx_string("chatvisor_visible");
    ngx_http_variable_t  *var;

    var = ngx_http_add_variable(cf, &name, 0);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_chatvisor_visible_variable;

    ngx_chatvisor_visible_index = ngx_http_get_variable_index(cf, &name);

    return ngx_chatvisor_visible_index == NGX_ERROR ? NGX_ERROR : NGX_OK;
}
