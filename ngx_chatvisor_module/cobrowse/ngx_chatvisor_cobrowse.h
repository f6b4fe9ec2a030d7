/*
 * Co-browsing (SPEC 8, docs/cobrowse.md): the visitor's endpoints under
 * PREFIX v1/visitor/ (the session's state, consent, the recorder's
 * events, stop) and the agent's under PREFIX v1/agent/ (ask, the view's
 * long-poll, the pointer, stop), each a route table the wiring adds to
 * those surfaces. The sessions themselves are the runtime's
 * (ngx_chatvisor_cobrowse_sessions.c), which the chat's visitor poll
 * reads too.
 */

#ifndef _NGX_CHATVISOR_COBROWSE_H_INCLUDED_
#define _NGX_CHATVISOR_COBROWSE_H_INCLUDED_


#include "ngx_chatvisor_http.h"


/* 410: a session that is over (nginx names no constant for it) */
#define NGX_CHATVISOR_HTTP_GONE           410

/* the largest page coordinate a pointer may have, px */
#define NGX_CHATVISOR_COBROWSE_COORD_MAX  10000000


extern ngx_chatvisor_route_t  ngx_chatvisor_cobrowse_visitor_routes[];
extern ngx_chatvisor_route_t  ngx_chatvisor_cobrowse_agent_routes[];


/* ngx_chatvisor_cobrowse_answer.c: what both sides' answers share */

/* a session as JSON: its state, generation, reason, snapshot, recorder,
 * max_duration_ms, and agent ({"name"}; with its id when with_id) */
cJSON *ngx_chatvisor_cobrowse_json(ngx_http_request_t *r,
    ngx_chatvisor_cobrowse_view_t *view, ngx_uint_t with_id);

/* the answer to a refusal of the runtime (not NGX_CHATVISOR_COBROWSE_OK) */
ngx_int_t ngx_chatvisor_cobrowse_refuse(ngx_http_request_t *r,
    ngx_chatvisor_cobrowse_rc_e rc);

/* co-browsing is on somewhere in nginx.conf (else 403 cobrowse_disabled) */
ngx_int_t ngx_chatvisor_cobrowse_enabled(ngx_http_request_t *r);


#endif /* _NGX_CHATVISOR_COBROWSE_H_INCLUDED_ */
