/*
 * Webhooks (SPEC 7): integrators' endpoints are told of every
 * conversation and message as it is committed, signed per Standard
 * Webhooks, at least once, in order per conversation. The endpoints and
 * their deliveries live in the store (engine/cv_webhooks.h); one worker at
 * a time sends, on its event loop (ngx_chatvisor_webhook_sender.c, with
 * the client of ngx_chatvisor_webhook_client.c).
 */

#ifndef _NGX_CHATVISOR_WEBHOOKS_H_INCLUDED_
#define _NGX_CHATVISOR_WEBHOOKS_H_INCLUDED_


#include "ngx_chatvisor_http.h"


/* chatvisor_webhook_concurrency's bound */
#define NGX_CHATVISOR_WEBHOOK_CONCURRENCY_MAX  64


/* ngx_chatvisor_webhook_conf.c: chatvisor_webhook* */
char *ngx_chatvisor_webhook(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_chatvisor_webhook_schedule(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_chatvisor_webhooks_create_conf(ngx_chatvisor_webhooks_conf_t *wc);
char *ngx_chatvisor_webhooks_init_conf(ngx_conf_t *cf,
    ngx_chatvisor_webhooks_conf_t *wc);

/* master: the endpoints nginx.conf declares into the store */
ngx_int_t ngx_chatvisor_webhooks_init_module(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf);

/* ngx_chatvisor_webhook_sender.c: each worker competes for the lease */
ngx_int_t ngx_chatvisor_webhooks_init_process(ngx_cycle_t *cycle,
    ngx_chatvisor_main_conf_t *cmcf);
void ngx_chatvisor_webhooks_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_CHATVISOR_WEBHOOKS_H_INCLUDED_ */
