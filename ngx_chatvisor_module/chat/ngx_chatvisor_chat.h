/*
 * The chat: the visitor's endpoints (PREFIX v1/visitor/, SPEC 4) and the
 * agent console's (PREFIX v1/agent/, SPEC 5), each a route table, and
 * what their files share.
 */

#ifndef _NGX_CHATVISOR_CHAT_H_INCLUDED_
#define _NGX_CHATVISOR_CHAT_H_INCLUDED_


#include "ngx_chatvisor_http.h"


/* an agent's console session lasts this long, ms */
#define NGX_CHATVISOR_SESSION_TTL          (12 * 60 * 60 * 1000)

/* the 429 of a visitor who writes faster than chatvisor_limit_messages */
#define NGX_CHATVISOR_TOO_MANY_MESSAGES  "too many messages; try again later"

/* a console's agent stays online this long after its poll's timeout, ms */
#define NGX_CHATVISOR_PRESENCE_GRACE       15000

/* the most events one answer carries */
#define NGX_CHATVISOR_VISITOR_EVENTS_MAX   200    /* a visitor's poll */
#define NGX_CHATVISOR_CONSOLE_EVENTS_MAX   100    /* a console's poll */
#define NGX_CHATVISOR_HISTORY_MAX          500    /* a conversation's */

/* the most conversations a console's list shows */
#define NGX_CHATVISOR_CONSOLE_LIST_MAX     200

/* the events a list item looks back through for its last message */
#define NGX_CHATVISOR_LAST_MESSAGE_WINDOW  8


/* the chat's operations of the visitor and agent surfaces (the wiring
 * joins them with other features' into v1/visitor/ and v1/agent/) */
extern ngx_chatvisor_route_t  ngx_chatvisor_visitor_routes[];
extern ngx_chatvisor_route_t  ngx_chatvisor_agent_routes[];

/* ngx_chatvisor_identify.c: POST v1/visitor/identify, and
 * chatvisor_identity_secret */
extern ngx_chatvisor_route_t  ngx_chatvisor_identify_routes[];
char *ngx_chatvisor_identity_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* the caller check of the agent surface: a console session, and its CSRF
 * token on writes */
ngx_int_t ngx_chatvisor_agent_auth(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, ngx_uint_t caller, ngx_chatvisor_err_t *err);


/* ngx_chatvisor_visitor.c: the abuse limits of a visitor's write
 * (NGX_DECLINED: within them; else the 429's rc, the per-customer one
 * saying limited) */
ngx_int_t ngx_chatvisor_visitor_limit(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, const char *limited);

/* ngx_chatvisor_visitor.c: the answer to a visitor's write on their own
 * customer: 403 when the cookie's customer is gone, the cookie set for a
 * new visitor, then the op's answer */
ngx_int_t ngx_chatvisor_visitor_write_done(ngx_http_request_t *r,
    cv_status st);

/* ngx_chatvisor_visitor_contact.c: the pre-chat form's email and name,
 * and whether an agent is available */
ngx_int_t ngx_chatvisor_visitor_contact(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_visitor_availability(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);

/* ngx_chatvisor_visitor_events.c */
ngx_int_t ngx_chatvisor_visitor_events(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);

/* ngx_chatvisor_typing.c: typing goes to the other side's polls, unstored */
ngx_int_t ngx_chatvisor_visitor_typing(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_agent_typing(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);

/* the event a poll woken by a typing notice answers with: a visitor's
 * (an agent types; seq: the poll's cursor) or a console's */
cJSON *ngx_chatvisor_typing_event(ngx_chatvisor_notice_t *n, uint64_t seq);

/* ngx_chatvisor_agent_auth.c */
ngx_int_t ngx_chatvisor_agent_session(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, ngx_uint_t write, ngx_chatvisor_err_t *err);

/* NGX_OK while the caller's session still opens the console (checked
 * again by a held poll) */
ngx_int_t ngx_chatvisor_agent_session_alive(cv_txn *t,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_agent_csrf(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx, ngx_str_t *token);
ngx_int_t ngx_chatvisor_agent_join(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_agent_logout(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);

/* ngx_chatvisor_agent_conversations.c */
ngx_int_t ngx_chatvisor_agent_list(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_agent_conversation(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_agent_history(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_agent_reply(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_agent_assign(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);
ngx_int_t ngx_chatvisor_agent_close(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);

/* a conversation as the console shows it: with its customer and last
 * message (conv is changed and returned) */
cJSON *ngx_chatvisor_conversation_view(cv_txn *t, cJSON *conv);
/* the view's "customer" alone (the console adds its last message itself) */
void ngx_chatvisor_conversation_customer(cv_txn *t, cJSON *conv);

/* ngx_chatvisor_agent_events.c */
ngx_int_t ngx_chatvisor_agent_events(ngx_http_request_t *r,
    ngx_chatvisor_ctx_t *ctx);


#endif /* _NGX_CHATVISOR_CHAT_H_INCLUDED_ */
