/*
 * Chatvisor for nginx: the core module. Directives, configuration
 * inheritance, and the wiring of the layers into nginx's lifecycle (the
 * store prepared in the master, the runtime started in each worker).
 */


#include "ngx_chatvisor_edge.h"
#include "ngx_chatvisor_chat.h"
#include "ngx_chatvisor_api.h"
#include "ngx_chatvisor_webhooks.h"


/* ngx_chatvisor_handler.c */
ngx_int_t ngx_chatvisor_handler_init(ngx_conf_t *cf);
ngx_int_t ngx_chatvisor_handler(ngx_http_request_t *r);


static ngx_int_t ngx_chatvisor_postconfiguration(ngx_conf_t *cf);
static void *ngx_chatvisor_create_main_conf(ngx_conf_t *cf);
static char *ngx_chatvisor_init_main_conf(ngx_conf_t *cf, void *conf);
static void ngx_chatvisor_limits_init_conf(ngx_chatvisor_limits_conf_t *l);
static void *ngx_chatvisor_create_srv_conf(ngx_conf_t *cf);
static char *ngx_chatvisor_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child);
static void *ngx_chatvisor_create_loc_conf(ngx_conf_t *cf);
static char *ngx_chatvisor_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_chatvisor_store(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_chatvisor_prefix(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_chatvisor_routing(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_chatvisor_limit_rate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_chatvisor_public_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_chatvisor_page_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_chatvisor_retention(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_chatvisor_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_chatvisor_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_chatvisor_init_process(ngx_cycle_t *cycle);
static void ngx_chatvisor_exit_process(ngx_cycle_t *cycle);


static char *
ngx_chatvisor_check_poll_timeout(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *t = data;

    if (*t < NGX_CHATVISOR_POLL_TIMEOUT_MIN
        || *t > NGX_CHATVISOR_POLL_TIMEOUT_MAX)
    {
        return "must be from 1s to 10m";
    }

    return NGX_CONF_OK;
}


static ngx_conf_post_t  ngx_chatvisor_poll_timeout_bounds = {
    ngx_chatvisor_check_poll_timeout
};


/* nginx's own bounds check does not name the directive: this one does */

static char *
ngx_chatvisor_check_concurrency(ngx_conf_t *cf, void *post, void *data)
{
    ngx_uint_t  *n = data;

    if (*n < 1 || *n > NGX_CHATVISOR_WEBHOOK_CONCURRENCY_MAX) {
        return "must be from 1 to "
               NGX_CHATVISOR_STR(NGX_CHATVISOR_WEBHOOK_CONCURRENCY_MAX);
    }

    return NGX_CONF_OK;
}


static ngx_conf_post_t  ngx_chatvisor_webhook_concurrency_bounds = {
    ngx_chatvisor_check_concurrency
};


static char *
ngx_chatvisor_check_cobrowse_duration(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *t = data;

    if (*t < NGX_CHATVISOR_COBROWSE_DURATION_MIN
        || *t > NGX_CHATVISOR_COBROWSE_DURATION_MAX)
    {
        return "must be from 1s to 24h";
    }

    return NGX_CONF_OK;
}


static ngx_conf_post_t  ngx_chatvisor_cobrowse_duration_bounds = {
    ngx_chatvisor_check_cobrowse_duration
};


static char *
ngx_chatvisor_check_cobrowse_memory(ngx_conf_t *cf, void *post, void *data)
{
    size_t  *size = data;

    if (*size < NGX_CHATVISOR_COBROWSE_MEMORY_MIN) {
        return "must be at least 1m";
    }

    return NGX_CONF_OK;
}


static ngx_conf_post_t  ngx_chatvisor_cobrowse_memory_bounds = {
    ngx_chatvisor_check_cobrowse_memory
};


static ngx_command_t  ngx_chatvisor_commands[] = {

    { ngx_string("chatvisor_store"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_chatvisor_store,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chatvisor_cluster"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_chatvisor_cluster_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chatvisor_retention"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_chatvisor_retention,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chatvisor"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chatvisor_loc_conf_t, enable),
      NULL },

    { ngx_string("chatvisor_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_chatvisor_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chatvisor_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_chatvisor_prefix,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chatvisor_routing"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_chatvisor_routing,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chatvisor_poll_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chatvisor_loc_conf_t, poll_timeout),
      &ngx_chatvisor_poll_timeout_bounds },

    { ngx_string("chatvisor_inject"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chatvisor_loc_conf_t, inject),
      NULL },

    { ngx_string("chatvisor_widget_color"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_chatvisor_widget_color,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chatvisor_loc_conf_t, widget),
      NULL },

    { ngx_string("chatvisor_widget_position"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_chatvisor_widget_position,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chatvisor_loc_conf_t, widget),
      NULL },

    { ngx_string("chatvisor_widget_text"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_chatvisor_widget_text,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chatvisor_loc_conf_t, widget),
      NULL },

    { ngx_string("chatvisor_widget_language"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_chatvisor_widget_language,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chatvisor_loc_conf_t, widget),
      NULL },

    { ngx_string("chatvisor_prechat"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_chatvisor_widget_prechat,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chatvisor_loc_conf_t, widget),
      NULL },

    { ngx_string("chatvisor_cobrowse"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chatvisor_loc_conf_t, widget)
          + offsetof(ngx_chatvisor_widget_conf_t, cobrowse),
      NULL },

    { ngx_string("chatvisor_cobrowse_block"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_chatvisor_widget_selector,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chatvisor_loc_conf_t, widget)
          + offsetof(ngx_chatvisor_widget_conf_t, cobrowse_block),
      NULL },

    { ngx_string("chatvisor_cobrowse_mask_text"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_chatvisor_widget_selector,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chatvisor_loc_conf_t, widget)
          + offsetof(ngx_chatvisor_widget_conf_t, cobrowse_mask),
      NULL },

    { ngx_string("chatvisor_cobrowse_max_duration"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chatvisor_main_conf_t, cobrowse_max_duration),
      &ngx_chatvisor_cobrowse_duration_bounds },

    { ngx_string("chatvisor_cobrowse_memory"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chatvisor_main_conf_t, cobrowse_memory),
      &ngx_chatvisor_cobrowse_memory_bounds },

    { ngx_string("chatvisor_show_if"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_chatvisor_show_if,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chatvisor_show_after"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chatvisor_loc_conf_t, widget)
          + offsetof(ngx_chatvisor_widget_conf_t, show_after),
      NULL },

    { ngx_string("chatvisor_public_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_chatvisor_public_url,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chatvisor_page_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_chatvisor_page_url,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chatvisor_business_hours"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_1MORE,
      ngx_chatvisor_business_hours,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chatvisor_api_client"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_chatvisor_api_client,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chatvisor_identity_secret"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_chatvisor_identity_secret,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chatvisor_identify"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_chatvisor_loc_conf_t, identify),
      NULL },

    { ngx_string("chatvisor_limit_new_visitors"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_chatvisor_limit_rate,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chatvisor_main_conf_t, limits)
          + offsetof(ngx_chatvisor_limits_conf_t, new_visitors),
      NULL },

    { ngx_string("chatvisor_limit_messages"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_chatvisor_limit_rate,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chatvisor_main_conf_t, limits)
          + offsetof(ngx_chatvisor_limits_conf_t, messages),
      NULL },

    { ngx_string("chatvisor_webhook"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE3|NGX_CONF_TAKE4,
      ngx_chatvisor_webhook,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chatvisor_webhook_concurrency"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chatvisor_main_conf_t, webhooks)
          + offsetof(ngx_chatvisor_webhooks_conf_t, concurrency),
      &ngx_chatvisor_webhook_concurrency_bounds },

    { ngx_string("chatvisor_webhook_retry_schedule"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_chatvisor_webhook_schedule,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("chatvisor_webhook_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chatvisor_main_conf_t, webhooks)
          + offsetof(ngx_chatvisor_webhooks_conf_t, timeout),
      NULL },

    { ngx_string("chatvisor_webhook_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chatvisor_main_conf_t, webhooks)
          + offsetof(ngx_chatvisor_webhooks_conf_t, trusted_certificate),
      NULL },

    { ngx_string("chatvisor_webhook_verify"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chatvisor_main_conf_t, webhooks)
          + offsetof(ngx_chatvisor_webhooks_conf_t, verify),
      NULL },

    { ngx_string("chatvisor_webhook_allow_private"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_chatvisor_main_conf_t, webhooks)
          + offsetof(ngx_chatvisor_webhooks_conf_t, allow_private),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_chatvisor_module_ctx = {
    ngx_chatvisor_add_variables,           /* preconfiguration */
    ngx_chatvisor_postconfiguration,       /* postconfiguration */

    ngx_chatvisor_create_main_conf,        /* create main configuration */
    ngx_chatvisor_init_main_conf,          /* init main configuration */

    ngx_chatvisor_create_srv_conf,         /* create server configuration */
    ngx_chatvisor_merge_srv_conf,          /* merge server configuration */

    ngx_chatvisor_create_loc_conf,         /* create location configuration */
    ngx_chatvisor_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_chatvisor_module = {
    NGX_MODULE_V1,
    &ngx_chatvisor_module_ctx,             /* module context */
    ngx_chatvisor_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_chatvisor_init_module,             /* init module */
    ngx_chatvisor_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_chatvisor_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_chatvisor_create_main_conf(ngx_conf_t *cf)
{
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_pcalloc(cf->pool, sizeof(ngx_chatvisor_main_conf_t));
    if (cmcf == NULL) {
        return NULL;
    }

    ngx_chatvisor_webhooks_create_conf(&cmcf->webhooks);

    cmcf->limits.new_visitors.period = NGX_CONF_UNSET_MSEC;
    cmcf->limits.messages.period = NGX_CONF_UNSET_MSEC;

    cmcf->cobrowse_max_duration = NGX_CONF_UNSET_MSEC;
    cmcf->cobrowse_memory = NGX_CONF_UNSET_SIZE;

    return cmcf;
}


static char *
ngx_chatvisor_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_chatvisor_main_conf_t *cmcf = conf;

    /* the visit cookie is signed with the store's secret */
    if (cmcf->visits_rule && cmcf->store_opt.path == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chatvisor_show_if visits>=N\" needs "
                           "\"chatvisor_store\"");
        return NGX_CONF_ERROR;
    }

    /* the counters live in the store's shared zone */
    if (cmcf->status_used && cmcf->store_opt.path == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chatvisor_status\" needs \"chatvisor_store\"");
        return NGX_CONF_ERROR;
    }

    if (cmcf->webhooks.declared && cmcf->store_opt.path == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chatvisor_webhook\" needs \"chatvisor_store\"");
        return NGX_CONF_ERROR;
    }

    ngx_chatvisor_limits_init_conf(&cmcf->limits);

    ngx_conf_init_msec_value(cmcf->cobrowse_max_duration,
                             NGX_CHATVISOR_COBROWSE_DURATION);
    ngx_conf_init_size_value(cmcf->cobrowse_memory,
                             NGX_CHATVISOR_COBROWSE_MEMORY);

    return ngx_chatvisor_webhooks_init_conf(cf, &cmcf->webhooks);
}


/* defaults a real site never meets; typing and failed API logins are
 * fixed (the widget and the console type at most every 2 s) */

#define NGX_CHATVISOR_LIMIT_NEW_VISITORS  30       /* a minute */
#define NGX_CHATVISOR_LIMIT_MESSAGES      60       /* a minute */
#define NGX_CHATVISOR_LIMIT_TYPING_MS     2000     /* one notice */
#define NGX_CHATVISOR_LIMIT_API_FAILS     5        /* a minute */
#define NGX_CHATVISOR_MINUTE_MS           60000

static void
ngx_chatvisor_limits_init_conf(ngx_chatvisor_limits_conf_t *l)
{
    if (l->new_visitors.period == NGX_CONF_UNSET_MSEC) {
        l->new_visitors.n = NGX_CHATVISOR_LIMIT_NEW_VISITORS;
        l->new_visitors.period = NGX_CHATVISOR_MINUTE_MS;
    }

    if (l->messages.period == NGX_CONF_UNSET_MSEC) {
        l->messages.n = NGX_CHATVISOR_LIMIT_MESSAGES;
        l->messages.period = NGX_CHATVISOR_MINUTE_MS;
    }

    l->typing.n = 1;
    l->typing.period = NGX_CHATVISOR_LIMIT_TYPING_MS;
    l->api_login.n = NGX_CHATVISOR_LIMIT_API_FAILS;
    l->api_login.period = NGX_CHATVISOR_MINUTE_MS;
}


/* chatvisor_limit_new_visitors RATE | off; (and _messages) */

static char *
ngx_chatvisor_limit_rate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chatvisor_rate_t  *rate;
    ngx_str_t             *value;

    rate = (ngx_chatvisor_rate_t *) ((u_char *) conf + cmd->offset);

    if (rate->period != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_chatvisor_rate_parse(&value[1], rate) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid rate \"%V\" in \"%V\" directive, "
                           "it must be like 30r/m (r/s, r/m, r/h) or off",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_chatvisor_create_srv_conf(ngx_conf_t *cf)
{
    ngx_chatvisor_srv_conf_t  *cscf;

    cscf = ngx_pcalloc(cf->pool, sizeof(ngx_chatvisor_srv_conf_t));
    if (cscf == NULL) {
        return NULL;
    }

    cscf->routing = NGX_CONF_UNSET_UINT;
    cscf->public_url.secure = NGX_CONF_UNSET;
    cscf->page_url_full = NGX_CONF_UNSET;

    return cscf;
}


static char *
ngx_chatvisor_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_chatvisor_srv_conf_t  *prev = parent;
    ngx_chatvisor_srv_conf_t  *conf = child;

    ngx_conf_merge_str_value(conf->prefix, prev->prefix,
                             NGX_CHATVISOR_DEFAULT_PREFIX);
    ngx_conf_merge_uint_value(conf->routing, prev->routing,
                              NGX_CHATVISOR_ROUTING_MANUAL);

    if (conf->hours == NULL) {
        conf->hours = prev->hours;
    }

    if (conf->public_url.secure == NGX_CONF_UNSET) {
        conf->public_url = prev->public_url;
    }

    if (conf->public_url.secure == NGX_CONF_UNSET) {
        conf->public_url.secure = 0;    /* none: from each request */
    }

    ngx_conf_merge_value(conf->page_url_full, prev->page_url_full, 0);

    return NGX_CONF_OK;
}


static void *
ngx_chatvisor_create_loc_conf(ngx_conf_t *cf)
{
    ngx_chatvisor_loc_conf_t  *clcf;

    clcf = ngx_pcalloc(cf->pool, sizeof(ngx_chatvisor_loc_conf_t));
    if (clcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     clcf->tag = { 0, NULL };
     */

    clcf->enable = NGX_CONF_UNSET;
    clcf->inject = NGX_CONF_UNSET;
    clcf->poll_timeout = NGX_CONF_UNSET_MSEC;
    clcf->rules = NGX_CONF_UNSET_UINT;
    clcf->identify = NGX_CONF_UNSET_PTR;
    ngx_chatvisor_widget_init_conf(&clcf->widget);

    return clcf;
}


static char *
ngx_chatvisor_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_chatvisor_loc_conf_t  *prev = parent;
    ngx_chatvisor_loc_conf_t  *conf = child;

    ngx_http_core_loc_conf_t   *core;
    ngx_chatvisor_srv_conf_t   *cscf;
    ngx_chatvisor_main_conf_t  *cmcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->inject, prev->inject, 0);
    ngx_conf_merge_msec_value(conf->poll_timeout, prev->poll_timeout,
                              NGX_CHATVISOR_DEFAULT_POLL_TIMEOUT);

    if (conf->rules == NGX_CONF_UNSET_UINT) {
        conf->rules = (prev->rules == NGX_CONF_UNSET_UINT) ? 0 : prev->rules;
        conf->min_visits = prev->min_visits;
    }
    ngx_chatvisor_widget_merge_conf(&conf->widget, &prev->widget);
    ngx_conf_merge_ptr_value(conf->identify, prev->identify, NULL);

    if (conf->enable) {
        core = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
        core->handler = ngx_chatvisor_handler;

        /* every route has its own body limit (64 KB, 8 MB for co-browsing
         * events), held by the module, which answers bodies over it with
         * its JSON 413 (ngx_chatvisor_body_init): nginx's own limit would
         * refuse a co-browsing snapshot over 1 MB before the module sees
         * it */
        core->client_max_body_size = 0;
    }

    cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_chatvisor_module);

    if ((conf->rules & NGX_CHATVISOR_RULE_HOURS) && cscf->hours == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"chatvisor_show_if business_hours\" needs "
                           "\"chatvisor_business_hours\" in this server "
                           "or http");
        return NGX_CONF_ERROR;
    }

    if (conf->widget.cobrowse) {
        cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_chatvisor_module);

        /* the conversations are in the store */
        if (cmcf->store_opt.path == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"chatvisor_cobrowse on\" needs "
                               "\"chatvisor_store\"");
            return NGX_CONF_ERROR;
        }

        cmcf->cobrowse_used = 1;
    }

    if (conf->inject) {
        if (ngx_chatvisor_widget_build_tag(cf->pool, &conf->widget,
                                           &cscf->prefix, &conf->tag)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* after the configuration is read: the surfaces' routes, and the
 * co-browsing zone where some location offers co-browsing */

static ngx_int_t
ngx_chatvisor_postconfiguration(ngx_conf_t *cf)
{
    ngx_chatvisor_main_conf_t  *cmcf;

    if (ngx_chatvisor_handler_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_chatvisor_module);

    if (cmcf->cobrowse_used) {
        return ngx_chatvisor_cobrowse_zone_add(cf, cmcf);
    }

    return NGX_OK;
}


/* chatvisor_store PATH [size=1g] [sync=on|off]; */

static char *
ngx_chatvisor_store(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chatvisor_main_conf_t *cmcf = conf;

    off_t       size;
    u_char     *path;
    ngx_str_t  *value, s;
    ngx_uint_t  i;

    if (cmcf->store_path.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs a store directory path",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    cmcf->store_path = value[1];

    if (ngx_conf_full_name(cf->cycle, &cmcf->store_path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cmcf->store_opt.map_max = CV_STORE_DEFAULT_SIZE;
    cmcf->store_opt.sync = 1;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "size=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            size = ngx_parse_offset(&s);
            if (size == NGX_ERROR || size < NGX_CHATVISOR_STORE_SIZE_MIN) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid size \"%V\" in \"%V\" directive, "
                                   "it must be at least 1m", &s, &cmd->name);
                return NGX_CONF_ERROR;
            }

            cmcf->store_opt.map_max = (size_t) size;
            continue;
        }

        if (ngx_strcmp(value[i].data, "sync=on") == 0) {
            cmcf->store_opt.sync = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "sync=off") == 0) {
            cmcf->store_opt.sync = 0;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive, "
                           "expected size=SIZE or sync=on|off",
                           &value[i], &cmd->name);
        return NGX_CONF_ERROR;
    }

    /* size= is the most the map grows to; it starts small (a store that
     * already holds more starts with what it holds) */
    cmcf->store_opt.map_size = ngx_min(cmcf->store_opt.map_max,
                                       CV_STORE_GROW_FIRST);

    /* LMDB wants a C string */
    path = ngx_pnalloc(cf->pool, cmcf->store_path.len + 1);
    if (path == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_cpystrn(path, cmcf->store_path.data, cmcf->store_path.len + 1);
    cmcf->store_opt.path = (char *) path;

    if (ngx_chatvisor_shm_add(cf, cmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

#if (NGX_THREADS)
    /* with sync=on, commits wait for the disk in nginx's "default" thread
     * pool, so the event loop goes on serving meanwhile */
    if (cmcf->store_opt.sync) {
        cmcf->thread_pool = ngx_thread_pool_add(cf, NULL);
        if (cmcf->thread_pool == NULL) {
            return NGX_CONF_ERROR;
        }
    }
#endif

    return NGX_CONF_OK;
}


/* chatvisor_status; (a location's content: the metrics) */

static char *
ngx_chatvisor_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t   *core;
    ngx_chatvisor_main_conf_t  *cmcf;

    core = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (core->handler) {
        return "is duplicate, or the location has another content handler";
    }

    core->handler = ngx_chatvisor_status_handler;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_chatvisor_module);
    cmcf->status_used = 1;

    return NGX_CONF_OK;
}


/* chatvisor_retention off|TIME; */

static char *
ngx_chatvisor_retention(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chatvisor_main_conf_t *cmcf = conf;

    time_t      sec;
    ngx_str_t  *value;

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        cmcf->retention = 0;
        return NGX_CONF_OK;
    }

    sec = ngx_parse_time(&value[1], 1);

    if (sec == (time_t) NGX_ERROR || sec < 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be off or a time of at least 1s",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    cmcf->retention = sec;

    return NGX_CONF_OK;
}


/* chatvisor_routing manual|round_robin|least_busy; */

static char *
ngx_chatvisor_routing(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chatvisor_srv_conf_t *cscf = conf;

    ngx_str_t  *value;

    if (cscf->routing != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "manual") == 0) {
        cscf->routing = NGX_CHATVISOR_ROUTING_MANUAL;

    } else if (ngx_strcmp(value[1].data, "round_robin") == 0) {
        cscf->routing = NGX_CHATVISOR_ROUTING_ROUND_ROBIN;

    } else if (ngx_strcmp(value[1].data, "least_busy") == 0) {
        cscf->routing = NGX_CHATVISOR_ROUTING_LEAST_BUSY;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be manual, round_robin or least_busy",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* chatvisor_public_url http[s]://HOST[:PORT]/PATH/; */

static char *
ngx_chatvisor_public_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chatvisor_srv_conf_t *cscf = conf;

    u_char     *p, *host, *end;
    ngx_str_t  *value;
    ngx_uint_t  secure;

    if (cscf->public_url.secure != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;
    end = value[1].data + value[1].len;

    if (value[1].len > sizeof("https://") - 1
        && ngx_strncasecmp(value[1].data, (u_char *) "https://",
                           sizeof("https://") - 1) == 0)
    {
        secure = 1;
        host = value[1].data + sizeof("https://") - 1;

    } else if (value[1].len > sizeof("http://") - 1
               && ngx_strncasecmp(value[1].data, (u_char *) "http://",
                                  sizeof("http://") - 1) == 0)
    {
        secure = 0;
        host = value[1].data + sizeof("http://") - 1;

    } else {
        goto invalid;
    }

    p = ngx_strlchr(host, end, '/');

    if (p == NULL || p == host || end[-1] != '/') {
        goto invalid;
    }

    /* it goes verbatim into URLs and JSON */
    for (p = value[1].data; p < end; p++) {
        if (*p <= ' ' || *p == '"' || *p == '\'' || *p == '<' || *p == '>'
            || *p == '?' || *p == '#' || *p == '\\' || *p >= 0x7f)
        {
            goto invalid;
        }
    }

    cscf->public_url.url = value[1];
    cscf->public_url.path.data = ngx_strlchr(host, end, '/');
    cscf->public_url.path.len = end - cscf->public_url.path.data;
    cscf->public_url.secure = secure;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid URL \"%V\" in \"%V\" directive, it must be "
                       "like https://example.com/chatvisor/ (a host, a path "
                       "that ends with \"/\", no query)",
                       &value[1], &cmd->name);
    return NGX_CONF_ERROR;
}


/* chatvisor_page_url path|full; */

static char *
ngx_chatvisor_page_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chatvisor_srv_conf_t *cscf = conf;

    ngx_str_t  *value;

    if (cscf->page_url_full != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "path") == 0) {
        cscf->page_url_full = 0;

    } else if (ngx_strcmp(value[1].data, "full") == 0) {
        cscf->page_url_full = 1;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be path or full", &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* chatvisor_prefix URI; */

static char *
ngx_chatvisor_prefix(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_chatvisor_srv_conf_t *cscf = conf;

    u_char     *p;
    ngx_str_t  *value;

    if (cscf->prefix.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0
        || value[1].data[0] != '/'
        || value[1].data[value[1].len - 1] != '/')
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid prefix \"%V\" in \"%V\" directive, "
                           "it must start and end with \"/\"",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    /* it goes verbatim into an HTML attribute and URLs */
    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (*p <= ' ' || *p == '"' || *p == '\'' || *p == '<' || *p == '>'
            || *p == '&' || *p == '?' || *p == '#' || *p == '\\'
            || *p >= 0x7f)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid character in prefix \"%V\" of "
                               "\"%V\" directive", &value[1], &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    cscf->prefix = value[1];

    return NGX_CONF_OK;
}


static ngx_chatvisor_main_conf_t *
ngx_chatvisor_cycle_main_conf(ngx_cycle_t *cycle)
{
    if (ngx_http_cycle_get_module_main_conf(cycle, ngx_http_core_module)
        == NULL)
    {
        return NULL;    /* no http{} block */
    }

    return ngx_http_cycle_get_module_main_conf(cycle, ngx_chatvisor_module);
}


/*
 * Runs in the master (and on every reload): the store is prepared and
 * closed again before workers are forked; the pipes between workers are
 * made here, so a respawned worker inherits its slot's.
 */

static ngx_int_t
ngx_chatvisor_init_module(ngx_cycle_t *cycle)
{
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_chatvisor_cycle_main_conf(cycle);

    if (cmcf == NULL || cmcf->store_opt.path == NULL || ngx_test_config) {
        return NGX_OK;
    }

    if (ngx_chatvisor_store_prepare(cycle, cmcf) != NGX_OK
        || ngx_chatvisor_webhooks_init_module(cycle, cmcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_chatvisor_ipc_init_module(cycle, cmcf);
}


static ngx_int_t
ngx_chatvisor_init_process(ngx_cycle_t *cycle)
{
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_chatvisor_cycle_main_conf(cycle);

    /* not in cache manager/loader processes */
    if (cmcf == NULL || cmcf->store_opt.path == NULL
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return NGX_OK;
    }

    ngx_chatvisor_metrics_init_process(cmcf);

    if (ngx_chatvisor_poll_init_process(cycle) != NGX_OK
        || ngx_chatvisor_ipc_init_process(cycle, cmcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_chatvisor_store_open(cycle, cmcf);

    if (cmcf->store) {
        ngx_chatvisor_settings_load(cycle, cmcf);
    }

    if (ngx_chatvisor_cluster_init_process(cycle, cmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_chatvisor_purge_init_process(cycle, cmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_chatvisor_cobrowse_init_process(cycle, cmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_chatvisor_webhooks_init_process(cycle, cmcf);
}


static void
ngx_chatvisor_exit_process(ngx_cycle_t *cycle)
{
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_chatvisor_cycle_main_conf(cycle);

    if (cmcf != NULL) {
        ngx_chatvisor_metrics_exit_process();
        ngx_chatvisor_webhooks_exit_process(cycle);
        ngx_chatvisor_purge_exit_process(cycle);
        ngx_chatvisor_cluster_exit_process(cycle);
        ngx_chatvisor_store_close(cmcf);
    }
}
