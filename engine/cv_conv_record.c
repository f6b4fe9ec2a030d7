/*
 * The conversation record's codec (layout in cv_conv_record.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_conv_record.h"
#include "cv_index.h"

#include <stdlib.h>
#include <string.h>

/* the JSON after the header is an object: "{}" at the least */
#define CV_CONV_JSON_MIN  (sizeof("{}") - 1)


void
cv_conv_rec_free(cv_conv_rec *rec)
{
    free(rec->buf);
    rec->buf = NULL;
}


cv_status
cv_conv_rec_decode(const void *value, size_t len, cv_conv_rec *rec)
{
    const unsigned char  *h = value;
    size_t                n, alen;

    if (len < CV_CONV_HDR + CV_CONV_JSON_MIN) {
        return CV_ERROR;
    }

    alen = cv_get_u32be(h + CV_CONV_OFF_AGENT_LEN);
    if (alen > CV_AGENT_ID_MAX || len - CV_CONV_HDR - CV_CONV_JSON_MIN < alen)
    {
        return CV_ERROR;
    }

    n = strnlen((const char *) h + CV_CONV_OFF_CUSTOMER, CV_ID_MAX);
    if (n == CV_ID_MAX) {
        return CV_ERROR;
    }

    rec->last_seq = cv_get_u64be(h + CV_CONV_OFF_LAST_SEQ);
    rec->head = cv_get_u64be(h + CV_CONV_OFF_HEAD);
    rec->updated_ms = (int64_t) cv_get_u64be(h + CV_CONV_OFF_UPDATED);
    rec->flags = cv_get_u32be(h + CV_CONV_OFF_FLAGS);
    memcpy(rec->customer_id, h + CV_CONV_OFF_CUSTOMER, n);
    rec->customer_id[n] = '\0';
    rec->state_seq = cv_get_u64be(h + CV_CONV_OFF_STATE);
    rec->key = cv_get_u64be(h + CV_CONV_OFF_KEY);
    memcpy(rec->agent, h + CV_CONV_HDR, alen);
    rec->agent[alen] = '\0';
    rec->json = (const char *) h + CV_CONV_HDR + alen;
    rec->json_len = len - CV_CONV_HDR - alen;

    /* what the indexes hold of it is what is stored */
    rec->indexed.order = cv_conv_rec_order(rec);
    rec->indexed.flags = rec->flags;
    memcpy(rec->indexed.agent, rec->agent, alen + 1);

    return CV_OK;
}


static void
cv_conv_rec_encode(unsigned char *h, const cv_conv_rec *rec)
{
    memset(h, 0, CV_CONV_HDR);
    cv_put_u64be(h + CV_CONV_OFF_LAST_SEQ, rec->last_seq);
    cv_put_u64be(h + CV_CONV_OFF_HEAD, rec->head);
    cv_put_u64be(h + CV_CONV_OFF_UPDATED, (uint64_t) rec->updated_ms);
    cv_put_u32be(h + CV_CONV_OFF_FLAGS, rec->flags);
    cv_put_u32be(h + CV_CONV_OFF_AGENT_LEN, (uint32_t) strlen(rec->agent));
    memcpy(h + CV_CONV_OFF_CUSTOMER, rec->customer_id,
           strnlen(rec->customer_id, CV_ID_MAX - 1));
    cv_put_u64be(h + CV_CONV_OFF_STATE, rec->state_seq);
    cv_put_u64be(h + CV_CONV_OFF_KEY, rec->key);
}


cv_status
cv_conv_rec_get(cv_txn *t, const char *id, cv_conv_rec *rec)
{
    MDB_val    v;
    cv_status  st;

    rec->buf = NULL;

    st = cv_raw_get(t, CV_DB_CONVERSATIONS, id, strlen(id), &v);
    if (st != CV_OK) {
        return st;
    }

    /* a copy: the map's pages may move once the transaction writes */
    rec->buf = malloc(v.mv_size);
    if (rec->buf == NULL) {
        return CV_ERROR;
    }

    memcpy(rec->buf, v.mv_data, v.mv_size);

    st = cv_conv_rec_decode(rec->buf, v.mv_size, rec);
    if (st != CV_OK) {
        cv_conv_rec_free(rec);
    }

    return st;
}


cv_status
cv_conv_rec_put(cv_txn *t, const char *id, cv_conv_rec *rec)
{
    size_t   alen;
    MDB_val  k, v;
    int      rc;

    alen = strlen(rec->agent);

    k.mv_data = (void *) id;
    k.mv_size = strlen(id);
    v.mv_data = NULL;
    v.mv_size = CV_CONV_HDR + alen + rec->json_len;

    /* MDB_RESERVE: written in place, not copied in */
    rc = mdb_put(t->txn, t->store->dbi[CV_DB_CONVERSATIONS], &k, &v,
                 MDB_RESERVE);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    cv_conv_rec_encode(v.mv_data, rec);
    memcpy((unsigned char *) v.mv_data + CV_CONV_HDR, rec->agent, alen);
    memcpy((unsigned char *) v.mv_data + CV_CONV_HDR + alen, rec->json,
           rec->json_len);

    return cv_conv_index_move(t, id, rec);
}


cv_status
cv_conv_rec_set_json(cv_conv_rec *rec, const cJSON *conv)
{
    char           *json;
    const char     *s, *a;
    size_t          n;
    unsigned char  *buf;

    /* agent ids are checked where they come in; the header holds one */
    a = cv_json_string(conv, "assigned_agent_id");
    if (a && strlen(a) > CV_AGENT_ID_MAX) {
        return CV_INVALID;
    }

    json = cJSON_PrintUnformatted(conv);
    if (json == NULL) {
        return CV_ERROR;
    }

    n = strlen(json);
    buf = malloc(CV_CONV_HDR + n);
    if (buf == NULL) {
        cJSON_free(json);
        return CV_ERROR;
    }

    /* the header's room stays unwritten: cv_conv_rec_put() encodes it */
    memcpy(buf + CV_CONV_HDR, json, n);
    cJSON_free(json);

    free(rec->buf);
    rec->buf = buf;
    rec->json = (const char *) buf + CV_CONV_HDR;
    rec->json_len = n;

    s = cv_json_string(conv, "status");
    rec->flags = (s && strcmp(s, "open") == 0) ? CV_CONV_OPEN : 0;
    rec->agent[0] = '\0';

    if (a) {
        rec->flags |= CV_CONV_ASSIGNED;
        strcpy(rec->agent, a);
    }

    return CV_OK;
}
