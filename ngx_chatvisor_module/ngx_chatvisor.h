/*
 * Chatvisor for nginx: types shared by the module's files.
 */

#ifndef _NGX_CHATVISOR_H_INCLUDED_
#define _NGX_CHATVISOR_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "cv_store.h"


#define NGX_CHATVISOR_DEFAULT_PREFIX  "/chatvisor/"
#define NGX_CHATVISOR_DEFAULT_COLOR   "#2563eb"


/* a browser bundle embedded at build time (scripts/build-www.mjs) */
typedef struct {
    ngx_str_t                 name;
    ngx_str_t                 content_type;
    ngx_str_t                 hash;
    u_char                   *data;
    size_t                    len;
    u_char                   *gz_data;
    size_t                    gz_len;
} ngx_chatvisor_asset_t;

extern ngx_chatvisor_asset_t  ngx_chatvisor_assets[];


typedef enum {
    NGX_CHATVISOR_TEXT_TITLE = 0,
    NGX_CHATVISOR_TEXT_GREETING,
    NGX_CHATVISOR_TEXT_PLACEHOLDER,
    NGX_CHATVISOR_TEXT_OFFLINE,
    NGX_CHATVISOR_TEXT_LAUNCHER,
    NGX_CHATVISOR_TEXT_N
} ngx_chatvisor_text_e;


typedef struct {
    ngx_str_t                 color;
    ngx_uint_t                position;     /* 0: right, 1: left */
    ngx_str_t                 language;
    ngx_str_t                 text[NGX_CHATVISOR_TEXT_N];
} ngx_chatvisor_widget_conf_t;


typedef struct {
    cv_store_options          store_opt;    /* store_opt.path == NULL: none */
    ngx_str_t                 store_path;
    cv_store                 *store;        /* this worker's handle */
} ngx_chatvisor_main_conf_t;


typedef struct {
    ngx_str_t                 prefix;
} ngx_chatvisor_srv_conf_t;


typedef struct {
    ngx_flag_t                enable;       /* chatvisor on */
    ngx_flag_t                inject;
    ngx_chatvisor_widget_conf_t  widget;

    /* the injected tag, built once at configuration time: "<script ...",
     * to which each request appends an optional nonce and "></script>" */
    ngx_str_t                 tag;
} ngx_chatvisor_loc_conf_t;


extern ngx_module_t  ngx_chatvisor_module;


/* ngx_chatvisor_widget_conf.c */
char *ngx_chatvisor_widget_color(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_chatvisor_widget_position(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_chatvisor_widget_text(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_chatvisor_widget_language(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_chatvisor_widget_init_conf(ngx_chatvisor_widget_conf_t *w);
void ngx_chatvisor_widget_merge_conf(ngx_chatvisor_widget_conf_t *conf,
    ngx_chatvisor_widget_conf_t *prev);
ngx_int_t ngx_chatvisor_widget_build_tag(ngx_conf_t *cf,
    ngx_chatvisor_widget_conf_t *w, ngx_str_t *prefix, ngx_str_t *tag);

/* ngx_chatvisor_assets_handler.c */
ngx_int_t ngx_chatvisor_handler(ngx_http_request_t *r);
ngx_chatvisor_asset_t *ngx_chatvisor_find_asset(u_char *name, size_t len);

/* ngx_chatvisor_error.c */
ngx_int_t ngx_chatvisor_send_method_not_allowed(ngx_http_request_t *r,
    const char *allow);
ngx_int_t ngx_chatvisor_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message);
ngx_int_t ngx_chatvisor_send_body(ngx_http_request_t *r, ngx_str_t *body,
    ngx_uint_t temporary);


#endif /* _NGX_CHATVISOR_H_INCLUDED_ */
