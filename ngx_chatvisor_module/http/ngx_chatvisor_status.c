/*
 * chatvisor_status: the metrics in Prometheus' text format (version
 * 0.0.4), summed over every worker (docs/metrics.md). Counters come from
 * the shared zone, gauges are read now (ngx_chatvisor_metrics_read). It is
 * a location like any other: who may read it is the location's allow and
 * deny.
 */


#include "ngx_chatvisor_http.h"
#include "cv_time.h"


#define NGX_CHATVISOR_STATUS_TYPE   "text/plain; version=0.0.4"

/* the answer's size: about 3 KB; room to spare */
#define NGX_CHATVISOR_STATUS_SIZE   8192

#define NGX_CHATVISOR_MS_PER_SEC    1000
#define NGX_CHATVISOR_US_PER_SEC    1000000


typedef struct {
    const char                *label;       /* name="value" */
    ngx_chatvisor_metric_e     metric;
} ngx_chatvisor_status_series_t;


static ngx_chatvisor_status_series_t  ngx_chatvisor_status_messages[] = {
    { "author=\"visitor\"", NGX_CHATVISOR_METRIC_MSG_VISITOR },
    { "author=\"agent\"", NGX_CHATVISOR_METRIC_MSG_AGENT },
    { "author=\"system\"", NGX_CHATVISOR_METRIC_MSG_SYSTEM },
    { NULL, 0 }
};

static ngx_chatvisor_status_series_t  ngx_chatvisor_status_webhooks[] = {
    { "result=\"delivered\"", NGX_CHATVISOR_METRIC_WH_DELIVERED },
    { "result=\"failed\"", NGX_CHATVISOR_METRIC_WH_FAILED },
    { "result=\"retried\"", NGX_CHATVISOR_METRIC_WH_RETRIED },
    { NULL, 0 }
};

static ngx_chatvisor_status_series_t  ngx_chatvisor_status_limits[] = {
    { "limit=\"new_visitors\"", NGX_CHATVISOR_METRIC_LIMIT_NEW_VISITORS },
    { "limit=\"messages\"", NGX_CHATVISOR_METRIC_LIMIT_MESSAGES },
    { "limit=\"typing\"", NGX_CHATVISOR_METRIC_LIMIT_TYPING },
    { "limit=\"api_login\"", NGX_CHATVISOR_METRIC_LIMIT_API_LOGIN },
    { "limit=\"cobrowse_sessions\"", NGX_CHATVISOR_METRIC_LIMIT_CB_SESSIONS },
    { "limit=\"cobrowse_rate\"", NGX_CHATVISOR_METRIC_LIMIT_CB_RATE },
    { NULL, 0 }
};

static ngx_chatvisor_status_series_t  ngx_chatvisor_status_reordered[] = {
    { "outcome=\"waited\"", NGX_CHATVISOR_METRIC_CB_WAITED },
    { "outcome=\"lost\"", NGX_CHATVISOR_METRIC_CB_LOST },
    { NULL, 0 }
};


/* "# HELP" and "# TYPE" of a metric */
static u_char *
ngx_chatvisor_status_head(u_char *p, u_char *last, const char *name,
    const char *type, const char *help)
{
    return ngx_slprintf(p, last, "# HELP %s %s\n# TYPE %s %s\n",
                        name, help, name, type);
}


static u_char *
ngx_chatvisor_status_one(u_char *p, u_char *last, const char *name,
    const char *type, const char *help, uint64_t value)
{
    p = ngx_chatvisor_status_head(p, last, name, type, help);

    return ngx_slprintf(p, last, "%s %uL\n", name, value);
}


static u_char *
ngx_chatvisor_status_labeled(u_char *p, u_char *last, const char *name,
    const char *help, ngx_chatvisor_status_series_t *s,
    ngx_chatvisor_metrics_read_t *m)
{
    p = ngx_chatvisor_status_head(p, last, name, "counter", help);

    for ( /* void */ ; s->label; s++) {
        p = ngx_slprintf(p, last, "%s{%s} %uL\n", name, s->label,
                         m->counter[s->metric]);
    }

    return p;
}


/* microseconds as seconds, exactly */
static u_char *
ngx_chatvisor_status_seconds(u_char *p, u_char *last, uint64_t us)
{
    return ngx_slprintf(p, last, "%uL.%06uL", us / NGX_CHATVISOR_US_PER_SEC,
                        us % NGX_CHATVISOR_US_PER_SEC);
}


static u_char *
ngx_chatvisor_status_commits(u_char *p, u_char *last,
    ngx_chatvisor_metrics_read_t *m)
{
    uint64_t    count;
    ngx_uint_t  i;

    count = 0;

    for (i = 0; i <= NGX_CHATVISOR_COMMIT_BUCKETS_N; i++) {
        count += m->commit_le[i];
    }

    p = ngx_chatvisor_status_one(p, last, "chatvisor_commit_batches_total",
                                 "counter", "Group commits (one store "
                                 "transaction each) that committed.", count);

    p = ngx_chatvisor_status_head(p, last,
                                  "chatvisor_commit_duration_seconds",
                                  "histogram", "Time from a batch's start "
                                  "to its commit, durable with sync=on.");

    count = 0;

    for (i = 0; i < NGX_CHATVISOR_COMMIT_BUCKETS_N; i++) {
        count += m->commit_le[i];

        p = ngx_slprintf(p, last,
                         "chatvisor_commit_duration_seconds_bucket{le=\"");
        p = ngx_chatvisor_status_seconds(p, last,
                                         ngx_chatvisor_commit_bounds[i]);
        p = ngx_slprintf(p, last, "\"} %uL\n", count);
    }

    count += m->commit_le[NGX_CHATVISOR_COMMIT_BUCKETS_N];

    p = ngx_slprintf(p, last, "chatvisor_commit_duration_seconds_bucket"
                     "{le=\"+Inf\"} %uL\n"
                     "chatvisor_commit_duration_seconds_sum ", count);
    p = ngx_chatvisor_status_seconds(p, last, m->commit_us);

    return ngx_slprintf(p, last, "\nchatvisor_commit_duration_seconds_count "
                        "%uL\n", count);
}


static u_char *
ngx_chatvisor_status_store(u_char *p, u_char *last,
    ngx_chatvisor_metrics_read_t *m)
{
    int64_t   age;
    uint64_t  offline;

    p = ngx_chatvisor_status_one(p, last, "chatvisor_store_readable", "gauge",
                                 "1 when this scrape could read the store "
                                 "(the gauges from it follow).", m->store);

    if (!m->store) {
        return p;
    }

    p = ngx_chatvisor_status_one(p, last, "chatvisor_conversations_open",
                                 "gauge", "Open conversations in the store.",
                                 m->open_conversations);

    offline = m->agents > m->available + m->away
              ? m->agents - m->available - m->away : 0;

    p = ngx_chatvisor_status_head(p, last, "chatvisor_agents", "gauge",
                                  "Agents by presence (offline: every "
                                  "other agent of the store, disabled ones "
                                  "too).");
    p = ngx_slprintf(p, last, "chatvisor_agents{status=\"available\"} %ui\n"
                     "chatvisor_agents{status=\"away\"} %ui\n"
                     "chatvisor_agents{status=\"offline\"} %uL\n",
                     m->available, m->away, offline);

    p = ngx_chatvisor_status_one(p, last, "chatvisor_store_used_bytes",
                                 "gauge", "Bytes of the store in use (its "
                                 "high-water mark: freed pages are reused "
                                 "first).", (uint64_t) m->store_used);

    p = ngx_chatvisor_status_one(p, last, "chatvisor_store_max_bytes",
                                 "gauge", "The store's maximum "
                                 "(chatvisor_store size=).",
                                 (uint64_t) m->store_max);

    age = 0;

    if (m->oldest_undelivered_ms) {
        age = cv_now_ms() - m->oldest_undelivered_ms;
        age = age < 0 ? 0 : age;
    }

    p = ngx_chatvisor_status_head(p, last,
                                  "chatvisor_webhook_oldest_undelivered_"
                                  "seconds", "gauge", "Age of the oldest "
                                  "event an enabled endpoint has not had "
                                  "delivered (0: none).");

    return ngx_slprintf(p, last, "chatvisor_webhook_oldest_undelivered_"
                        "seconds %L.%03L\n", age / NGX_CHATVISOR_MS_PER_SEC,
                        age % NGX_CHATVISOR_MS_PER_SEC);
}


static u_char *
ngx_chatvisor_status_text(u_char *p, u_char *last,
    ngx_chatvisor_metrics_read_t *m)
{
    p = ngx_chatvisor_status_labeled(p, last, "chatvisor_messages_total",
                                     "Messages committed, by author.",
                                     ngx_chatvisor_status_messages, m);

    p = ngx_chatvisor_status_one(p, last,
                                 "chatvisor_conversations_opened_total",
                                 "counter", "Conversations opened.",
                                 m->counter[NGX_CHATVISOR_METRIC_CONV_OPENED]);

    p = ngx_chatvisor_status_one(p, last,
                                 "chatvisor_conversations_closed_total",
                                 "counter", "Conversations closed.",
                                 m->counter[NGX_CHATVISOR_METRIC_CONV_CLOSED]);

    p = ngx_chatvisor_status_one(p, last, "chatvisor_polls_held", "gauge",
                                 "Long-polls the workers hold now (visitors, "
                                 "consoles, co-browsing views).", m->polls);

    p = ngx_chatvisor_status_commits(p, last, m);

    p = ngx_chatvisor_status_labeled(p, last,
                                     "chatvisor_webhook_deliveries_total",
                                     "Webhook attempts answered, by result "
                                     "(failed: no attempt left).",
                                     ngx_chatvisor_status_webhooks, m);

    p = ngx_chatvisor_status_one(p, last, "chatvisor_cobrowse_sessions",
                                 "gauge", "Live co-browsing sessions "
                                 "(requested or active).", m->cobrowse_live);

    p = ngx_chatvisor_status_labeled(p, last,
                              "chatvisor_cobrowse_chunks_reordered_total",
                              "Co-browsing chunks from another node that "
                              "came early (waited), gaps in them that did "
                              "not fill (lost).",
                              ngx_chatvisor_status_reordered, m);

    p = ngx_chatvisor_status_labeled(p, last, "chatvisor_limits_hit_total",
                                     "Requests refused by a limit.",
                                     ngx_chatvisor_status_limits, m);

    return ngx_chatvisor_status_store(p, last, m);
}


ngx_int_t
ngx_chatvisor_status_handler(ngx_http_request_t *r)
{
    u_char                        *p;
    ngx_int_t                      rc;
    ngx_buf_t                     *b;
    ngx_chain_t                    out;
    ngx_chatvisor_main_conf_t     *cmcf;
    ngx_chatvisor_metrics_read_t   m;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_chatvisor_module);

    ngx_chatvisor_metrics_read(cmcf, &m);

    b = ngx_create_temp_buf(r->pool, NGX_CHATVISOR_STATUS_SIZE);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_chatvisor_status_text(b->last, b->end, &m);
    b->last = p;
    b->last_buf = (r == r->main);
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, NGX_CHATVISOR_STATUS_TYPE);
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    if (ngx_chatvisor_header_add(r, "Cache-Control", (u_char *) "no-store",
                                 sizeof("no-store") - 1)
        == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
