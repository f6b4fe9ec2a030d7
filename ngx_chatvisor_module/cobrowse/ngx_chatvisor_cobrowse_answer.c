/*
 * What the visitor's and the agent's co-browsing answers share: a session
 * as JSON, and the status and error of each refusal of the runtime.
 */


#include "ngx_chatvisor_cobrowse.h"


cJSON *
ngx_chatvisor_cobrowse_json(ngx_http_request_t *r,
    ngx_chatvisor_cobrowse_view_t *view, ngx_uint_t with_id)
{
    cJSON                      *out, *agent;
    const char                 *reason;
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    out = cJSON_CreateObject();

    cJSON_AddStringToObject(out, "state",
                            ngx_chatvisor_cobrowse_state_name(view->state));
    cJSON_AddNumberToObject(out, "generation", (double) view->generation);

    reason = ngx_chatvisor_cobrowse_reason_name(view->reason);

    if (reason) {
        cJSON_AddStringToObject(out, "reason", reason);

    } else {
        cJSON_AddNullToObject(out, "reason");
    }

    cJSON_AddBoolToObject(out, "snapshot", view->snapshot);

    if (view->state == NGX_CHATVISOR_COBROWSE_NONE) {
        cJSON_AddNullToObject(out, "agent");

    } else {
        agent = cJSON_AddObjectToObject(out, "agent");

        if (with_id) {
            cJSON_AddStringToObject(agent, "id", view->agent_id);
        }

        cJSON_AddStringToObject(agent, "name", view->agent_name);
    }

    if (view->recorder[0]) {
        cJSON_AddStringToObject(out, "recorder", view->recorder);

    } else {
        cJSON_AddNullToObject(out, "recorder");
    }

    cJSON_AddNumberToObject(out, "max_duration_ms",
                            (double) cmcf->cobrowse_max_duration);

    return out;
}


ngx_int_t
ngx_chatvisor_cobrowse_refuse(ngx_http_request_t *r,
    ngx_chatvisor_cobrowse_rc_e rc)
{
    switch (rc) {

    case NGX_CHATVISOR_COBROWSE_NO_SESSION:
        return ngx_chatvisor_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "there is no co-browsing session");

    case NGX_CHATVISOR_COBROWSE_NOT_YOURS:
        return ngx_chatvisor_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                        "another agent holds this "
                                        "co-browsing session");

    case NGX_CHATVISOR_COBROWSE_BUSY:
        return ngx_chatvisor_send_error(r, NGX_HTTP_CONFLICT, "conflict",
                                        "another agent is co-browsing with "
                                        "this visitor");

    case NGX_CHATVISOR_COBROWSE_LIMIT:
        return ngx_chatvisor_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "limit_reached",
                                        "the most co-browsing sessions at "
                                        "once ("
                                        NGX_CHATVISOR_STR(
                                        NGX_CHATVISOR_COBROWSE_SESSIONS_MAX)
                                        ") are live; try again later");

    case NGX_CHATVISOR_COBROWSE_OVER:
        return ngx_chatvisor_send_error(r, NGX_CHATVISOR_HTTP_GONE, "ended",
                                        "co-browsing has ended");

    case NGX_CHATVISOR_COBROWSE_NOT_PENDING:
        return ngx_chatvisor_send_error(r, NGX_HTTP_CONFLICT, "conflict",
                                        "co-browsing is already on: stop it "
                                        "instead");

    case NGX_CHATVISOR_COBROWSE_NOT_ACTIVE:
        return ngx_chatvisor_send_error(r, NGX_HTTP_CONFLICT, "not_active",
                                        "the visitor has not allowed "
                                        "co-browsing yet");

    case NGX_CHATVISOR_COBROWSE_SUPERSEDED:
        return ngx_chatvisor_send_error(r, NGX_HTTP_CONFLICT, "superseded",
                                        "another tab records this session "
                                        "now; a full snapshot takes it "
                                        "back");

    case NGX_CHATVISOR_COBROWSE_RATE_LIMITED:
        return ngx_chatvisor_send_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                        "rate_limited",
                                        "too many events: start again with "
                                        "a full snapshot after Retry-After");

    case NGX_CHATVISOR_COBROWSE_ENDED_TOO_LARGE:
        return ngx_chatvisor_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                        "too_large",
                                        "the page is too large to "
                                        "co-browse: co-browsing has ended");

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


ngx_int_t
ngx_chatvisor_cobrowse_enabled(ngx_http_request_t *r)
{
    ngx_chatvisor_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    return cmcf->cobrowse ? NGX_OK : NGX_DECLINED;
}
