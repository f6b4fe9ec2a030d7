/*
 * The edge: what nginx does to the site's own pages. The injection filter
 * puts the widget's tag into HTML pages, the visibility rules decide per
 * page whether it does, and the widget's look comes from nginx.conf and
 * the REST API's settings.
 */

#ifndef _NGX_CHATVISOR_EDGE_H_INCLUDED_
#define _NGX_CHATVISOR_EDGE_H_INCLUDED_


#include "ngx_chatvisor_http.h"


/* ngx_chatvisor_visibility.c: chatvisor_show_if, chatvisor_business_hours,
 * $chatvisor_visible */
char *ngx_chatvisor_show_if(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_chatvisor_business_hours(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_chatvisor_add_variables(ngx_conf_t *cf);

/* 1: the chat is shown on this page (computed once per request) */
ngx_int_t ngx_chatvisor_visible(ngx_http_request_t *r);

/* sets the visit cookie on a page of a location that counts visits */
ngx_int_t ngx_chatvisor_count_visit(ngx_http_request_t *r);


/* ngx_chatvisor_page_identity.c: chatvisor_identify on a page that gets
 * the widget; *identify = 1 when its widget must identify the visitor */
ngx_int_t ngx_chatvisor_page_identify(ngx_http_request_t *r,
    ngx_uint_t *identify);

/* ngx_chatvisor_inject_gunzip.c: gzip-compressed pages decoded for the
 * injector, streaming, in bounded memory */
typedef struct ngx_chatvisor_gunzip_s  ngx_chatvisor_gunzip_t;
typedef ngx_int_t (*ngx_chatvisor_gunzip_next_pt)(ngx_http_request_t *r,
    ngx_chain_t *in);

ngx_chatvisor_gunzip_t *ngx_chatvisor_gunzip_create(ngx_http_request_t *r);
/* 1: the body's first bytes are gzip's */
ngx_uint_t ngx_chatvisor_gunzip_looks_gzip(ngx_chain_t *in);
/* decodes in and passes the text to next; NGX_ERROR on corrupt data, after
 * passing what was decoded */
ngx_int_t ngx_chatvisor_gunzip_filter(ngx_http_request_t *r,
    ngx_chatvisor_gunzip_t *gz, ngx_chain_t *in,
    ngx_chatvisor_gunzip_next_pt next);


/* ngx_chatvisor_widget_conf.c: chatvisor_widget_* */
char *ngx_chatvisor_widget_color(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_chatvisor_widget_position(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_chatvisor_widget_text(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_chatvisor_widget_language(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
/* chatvisor_prechat off | email | name,email [required] */
char *ngx_chatvisor_widget_prechat(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
/* chatvisor_cobrowse_block, chatvisor_cobrowse_mask_text */
char *ngx_chatvisor_widget_selector(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_chatvisor_widget_init_conf(ngx_chatvisor_widget_conf_t *w);
void ngx_chatvisor_widget_merge_conf(ngx_chatvisor_widget_conf_t *conf,
    ngx_chatvisor_widget_conf_t *prev);

/* the tag without its closing "></script>", from w */
ngx_int_t ngx_chatvisor_widget_build_tag(ngx_pool_t *pool,
    ngx_chatvisor_widget_conf_t *w, ngx_str_t *prefix, ngx_str_t *tag);

/* the tag for this request: nginx.conf's, with the REST settings on top */
ngx_int_t ngx_chatvisor_widget_tag(ngx_http_request_t *r, ngx_str_t *tag);


#endif /* _NGX_CHATVISOR_EDGE_H_INCLUDED_ */
