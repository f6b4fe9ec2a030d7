/*
 * The conversation record's header (engine/cv_conv_record.c): any bytes a
 * store holds under a conversation's key, decoded as every reader does,
 * then the JSON after the header parsed as the readers parse it.
 */
#include "cv_conv_record.h"
#include "fuzz.h"

#include <string.h>

/* the shortest JSON a record holds, "{}" (as cv_conv_record.c) */
#define JSON_MIN  2


/* the decoder's reading, restated: the agent's id fits after the header
 * and leaves room for the JSON, and the customer id ends in its field */
static size_t
expected_agent_len(const uint8_t *v, size_t size, int *ok)
{
    size_t  alen;

    *ok = 0;
    if (size < CV_CONV_HDR + JSON_MIN) {
        return 0;
    }

    alen = (size_t) v[CV_CONV_OFF_AGENT_LEN] << 24
           | (size_t) v[CV_CONV_OFF_AGENT_LEN + 1] << 16
           | (size_t) v[CV_CONV_OFF_AGENT_LEN + 2] << 8
           | (size_t) v[CV_CONV_OFF_AGENT_LEN + 3];

    *ok = alen <= CV_AGENT_ID_MAX
          && size - CV_CONV_HDR - JSON_MIN >= alen
          && memchr(v + CV_CONV_OFF_CUSTOMER, '\0', CV_ID_MAX) != NULL;

    return alen;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_conv_rec   rec;
    cJSON        *json;
    uint8_t      *copy;
    size_t        alen;
    int           ok;

    /* a copy of exactly size bytes: ASan sees any read past the value */
    copy = malloc(size ? size : 1);
    CHECK(copy != NULL);
    memcpy(copy, data, size);

    memset(&rec, 0, sizeof(rec));
    alen = expected_agent_len(copy, size, &ok);

    if (cv_conv_rec_decode(copy, size, &rec) == CV_OK) {
        CHECK(ok);
        CHECK(rec.json == (const char *) copy + CV_CONV_HDR + alen);
        CHECK(rec.json_len == size - CV_CONV_HDR - alen);
        CHECK(rec.json_len >= JSON_MIN);
        CHECK(strlen(rec.customer_id) < CV_ID_MAX);
        CHECK(strlen(rec.agent) <= alen);
        CHECK(memcmp(rec.agent, copy + CV_CONV_HDR, strlen(rec.agent)) == 0);
        CHECK(rec.buf == NULL);

        json = cJSON_ParseWithLength(rec.json, rec.json_len);
        cJSON_Delete(json);

    } else {
        /* refused only when too short, the agent's id does not fit or
         * the customer id is unended */
        CHECK(!ok);
    }

    free(copy);
    return 0;
}
