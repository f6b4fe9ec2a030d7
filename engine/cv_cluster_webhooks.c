/*
 * Cluster mode's webhook progress as commands (cv_cluster_webhooks.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_cluster_webhooks.h"
#include "cv_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CV_CLUSTER_WH_SETTLE  "webhook.settle"
#define CV_CLUSTER_WH_RECORD  "webhook.record"
#define CV_CLUSTER_WH_TEST    "webhook.test"
#define CV_CLUSTER_WH_RETRY   "webhook.retry"


/* --------------------------------------------------------------- making */

static cJSON *
cv_cluster_wh_result(const cv_delivery_result *r)
{
    cJSON  *o;

    o = cJSON_CreateObject();
    if (o == NULL) {
        return NULL;
    }

    cJSON_AddBoolToObject(o, "delivered", r->delivered != 0);
    cJSON_AddNumberToObject(o, "status_code", (double) r->status_code);

    if (r->error) {
        cJSON_AddStringToObject(o, "error", r->error);
    }

    cJSON_AddNumberToObject(o, "attempt_ms", (double) r->attempt_ms);
    cJSON_AddNumberToObject(o, "duration_ms", (double) r->duration_ms);
    cJSON_AddNumberToObject(o, "next_attempt_ms",
                            (double) r->next_attempt_ms);

    return o;
}


cJSON *
cv_cluster_webhook_settle_cmd(void)
{
    cJSON  *cmd;

    cmd = cJSON_CreateObject();
    if (cmd == NULL) {
        return NULL;
    }

    cJSON_AddStringToObject(cmd, "op", CV_CLUSTER_WH_SETTLE);

    if (cJSON_AddArrayToObject(cmd, "parts") == NULL) {
        cJSON_Delete(cmd);
        return NULL;
    }

    return cmd;
}


cv_status
cv_cluster_webhook_settle_part(cJSON *cmd, const char *id,
    const cv_settle_item *items, size_t n, uint64_t cursor,
    const char *disable)
{
    size_t  i;
    cJSON  *part, *arr, *item, *r;

    part = cJSON_CreateObject();
    if (part == NULL) {
        return CV_ERROR;
    }

    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(cmd, "parts"),
                         part);

    cJSON_AddStringToObject(part, "webhook_id", id);
    cJSON_AddNumberToObject(part, "cursor", (double) cursor);

    if (disable) {
        cJSON_AddStringToObject(part, "disable", disable);
    }

    arr = cJSON_AddArrayToObject(part, "items");
    if (arr == NULL) {
        return CV_ERROR;
    }

    for (i = 0; i < n; i++) {
        item = cJSON_CreateObject();
        if (item == NULL) {
            return CV_ERROR;
        }

        cJSON_AddItemToArray(arr, item);
        cJSON_AddNumberToObject(item, "log_seq", (double) items[i].d.log_seq);

        if (items[i].r) {
            r = cv_cluster_wh_result(items[i].r);
            if (r == NULL) {
                return CV_ERROR;
            }

            cJSON_AddItemToObject(item, "result", r);
        }
    }

    return CV_OK;
}


cJSON *
cv_cluster_webhook_record_cmd(const char *id, uint64_t dseq,
    const cv_delivery_result *r, const char *disable)
{
    cJSON  *cmd, *res;

    cmd = cJSON_CreateObject();
    res = cv_cluster_wh_result(r);

    if (cmd == NULL || res == NULL) {
        cJSON_Delete(cmd);
        cJSON_Delete(res);
        return NULL;
    }

    cJSON_AddStringToObject(cmd, "op", CV_CLUSTER_WH_RECORD);
    cJSON_AddStringToObject(cmd, "webhook_id", id);
    cJSON_AddNumberToObject(cmd, "dseq", (double) dseq);
    cJSON_AddItemToObject(cmd, "result", res);

    if (disable) {
        cJSON_AddStringToObject(cmd, "disable", disable);
    }

    return cmd;
}


cJSON *
cv_cluster_webhook_api_cmd(const char *id, const char *delivery_id)
{
    cJSON  *cmd;

    cmd = cJSON_CreateObject();
    if (cmd == NULL) {
        return NULL;
    }

    cJSON_AddStringToObject(cmd, "op", delivery_id ? CV_CLUSTER_WH_RETRY
                                                   : CV_CLUSTER_WH_TEST);
    cJSON_AddStringToObject(cmd, "webhook_id", id);

    if (delivery_id) {
        cJSON_AddStringToObject(cmd, "delivery_id", delivery_id);
    }

    return cmd;
}


/* ------------------------------------------------------------- applying */

int
cv_cluster_webhook_op(const char *op)
{
    return op && (strcmp(op, CV_CLUSTER_WH_SETTLE) == 0
                  || strcmp(op, CV_CLUSTER_WH_RECORD) == 0
                  || strcmp(op, CV_CLUSTER_WH_TEST) == 0
                  || strcmp(op, CV_CLUSTER_WH_RETRY) == 0);
}


static uint64_t
cv_cluster_wh_u64(const cJSON *o, const char *name)
{
    const cJSON  *v;

    v = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsNumber(v) && v->valuedouble > 0
           ? (uint64_t) v->valuedouble : 0;
}


static int64_t
cv_cluster_wh_i64(const cJSON *o, const char *name)
{
    const cJSON  *v;

    v = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsNumber(v) ? (int64_t) v->valuedouble : 0;
}


/* r points into o (its error): valid while o is */
static int
cv_cluster_wh_result_read(const cJSON *o, cv_delivery_result *r)
{
    const cJSON  *e;

    if (!cJSON_IsObject(o)) {
        return 0;
    }

    memset(r, 0, sizeof(*r));
    r->delivered = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o,
                                                                 "delivered"));
    r->status_code = (unsigned) cv_cluster_wh_u64(o, "status_code");
    r->attempt_ms = cv_cluster_wh_i64(o, "attempt_ms");
    r->duration_ms = cv_cluster_wh_i64(o, "duration_ms");
    r->next_attempt_ms = cv_cluster_wh_i64(o, "next_attempt_ms");

    e = cJSON_GetObjectItemCaseSensitive(o, "error");
    r->error = cJSON_IsString(e) ? e->valuestring : NULL;

    return 1;
}


static const char *
cv_cluster_wh_str(const cJSON *o, const char *name)
{
    const cJSON  *v;

    v = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}


/* one endpoint's settle: each item's delivery made from this store's log
 * (an entry purged here is passed over) */
static cv_status
cv_cluster_wh_settle_part(cv_txn *t, const cJSON *part)
{
    int                  more;
    size_t               n, k, got;
    uint64_t             log_seq, last;
    cv_status            st;
    const char          *id, *disable;
    const cJSON         *items, *item;
    cv_settle_item      *set;
    cv_delivery_result  *res;

    id = cv_cluster_wh_str(part, "webhook_id");
    items = cJSON_GetObjectItemCaseSensitive(part, "items");
    disable = cv_cluster_wh_str(part, "disable");

    if (id == NULL || !cJSON_IsArray(items)) {
        return CV_INVALID;
    }

    n = (size_t) cJSON_GetArraySize(items);
    set = malloc((n ? n : 1) * (sizeof(cv_settle_item)
                                + sizeof(cv_delivery_result)));
    if (set == NULL) {
        return CV_ERROR;
    }

    res = (cv_delivery_result *) (set + (n ? n : 1));
    k = 0;
    st = CV_OK;

    cJSON_ArrayForEach(item, items) {
        log_seq = cv_cluster_wh_u64(item, "log_seq");

        if (log_seq == 0) {
            st = CV_INVALID;
            break;
        }

        st = cv_webhook_window(t, id, log_seq - 1, 1, &set[k].d, &got, &last,
                               &more);
        if (st != CV_OK) {
            break;
        }

        if (got == 0 || set[k].d.log_seq != log_seq) {
            continue;
        }

        set[k].r = NULL;

        if (cJSON_GetObjectItemCaseSensitive(item, "result")) {
            if (!cv_cluster_wh_result_read(
                     cJSON_GetObjectItemCaseSensitive(item, "result"),
                     &res[k]))
            {
                st = CV_INVALID;
                break;
            }

            set[k].r = &res[k];
        }

        k++;
    }

    if (st == CV_OK) {
        st = cv_webhook_settle(t, id, set, k,
                               cv_cluster_wh_u64(part, "cursor"),
                               cv_now_ms());
    }

    free(set);

    if (st == CV_OK && disable) {
        st = cv_webhook_disable(t, id, disable);
    }

    /* an endpoint this store does not have */
    return st == CV_NOT_FOUND ? CV_OK : st;
}


/* the API's test and retry: their outcome as the local write answers */
static cv_status
cv_cluster_wh_api(cv_txn *t, const cJSON *cmd, const char *op,
    cv_cluster_result *res)
{
    cv_status    st;
    const char  *id, *delivery_id;

    id = cv_cluster_wh_str(cmd, "webhook_id");
    delivery_id = cv_cluster_wh_str(cmd, "delivery_id");

    if (id == NULL) {
        return CV_INVALID;
    }

    if (strcmp(op, CV_CLUSTER_WH_TEST) == 0) {
        st = cv_webhook_test(t, id, cv_now_ms(), &res->result);

    } else if (delivery_id == NULL) {
        return CV_INVALID;

    } else {
        st = cv_webhook_retry(t, id, delivery_id, cv_now_ms(), &res->result);

        if (st == CV_CONFLICT) {
            snprintf(res->why, sizeof(res->why), "%s",
                     "this delivery was delivered");
        }
    }

    res->webhooks = (st == CV_OK);

    return st;
}


cv_status
cv_cluster_webhook_apply(cv_txn *t, const cJSON *cmd, const char *op,
    cv_cluster_result *res)
{
    cv_status            st;
    const char          *id, *disable;
    const cJSON         *parts, *part;
    cv_delivery_result   r;

    if (strcmp(op, CV_CLUSTER_WH_TEST) == 0
        || strcmp(op, CV_CLUSTER_WH_RETRY) == 0)
    {
        return cv_cluster_wh_api(t, cmd, op, res);
    }

    res->quiet = 1;

    if (strcmp(op, CV_CLUSTER_WH_SETTLE) == 0) {
        parts = cJSON_GetObjectItemCaseSensitive(cmd, "parts");
        if (!cJSON_IsArray(parts)) {
            return CV_INVALID;
        }

        cJSON_ArrayForEach(part, parts) {
            st = cv_cluster_wh_settle_part(t, part);
            if (st != CV_OK) {
                return st;
            }
        }

        return CV_OK;
    }

    /* webhook.record */
    id = cv_cluster_wh_str(cmd, "webhook_id");
    disable = cv_cluster_wh_str(cmd, "disable");

    if (id == NULL
        || !cv_cluster_wh_result_read(
                cJSON_GetObjectItemCaseSensitive(cmd, "result"), &r))
    {
        return CV_INVALID;
    }

    st = cv_webhook_record(t, id, cv_cluster_wh_u64(cmd, "dseq"), &r);

    if (st == CV_OK && disable) {
        st = cv_webhook_disable(t, id, disable);
    }

    /* a delivery or endpoint this store does not have, or one recorded
     * already: nothing to record (as the sender's own write) */
    return (st == CV_NOT_FOUND || st == CV_CONFLICT) ? CV_OK : st;
}
