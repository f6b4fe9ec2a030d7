/*
 * The conversation record's header (engine/cv_conv_record.c): any bytes a
 * store holds under a conversation's key, decoded as every reader does,
 * then the JSON after the header parsed as the readers parse it.
 */
#include "cv_conv_record.h"
#include "fuzz.h"

#include <string.h>


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_conv_rec   rec;
    cJSON        *json;
    uint8_t      *copy;

    /* a copy of exactly size bytes: ASan sees any read past the value */
    copy = malloc(size ? size : 1);
    CHECK(copy != NULL);
    memcpy(copy, data, size);

    memset(&rec, 0, sizeof(rec));

    if (cv_conv_rec_decode(copy, size, &rec) == CV_OK) {
        CHECK(size >= CV_CONV_HDR + 2);
        CHECK(memchr(copy + CV_CONV_OFF_CUSTOMER, '\0', CV_ID_MAX) != NULL);
        CHECK(rec.json == (const char *) copy + CV_CONV_HDR);
        CHECK(rec.json_len == size - CV_CONV_HDR);
        CHECK(strlen(rec.customer_id) < CV_ID_MAX);
        CHECK(rec.buf == NULL);

        json = cJSON_ParseWithLength(rec.json, rec.json_len);
        cJSON_Delete(json);

    } else {
        /* refused only when too short or the customer id is unended */
        CHECK(size < CV_CONV_HDR + 2
              || memchr(copy + CV_CONV_OFF_CUSTOMER, '\0', CV_ID_MAX)
                 == NULL);
    }

    free(copy);
    return 0;
}
