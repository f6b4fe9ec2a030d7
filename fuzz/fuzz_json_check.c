/*
 * The co-browsing chunk's check (engine/cv_json_check.c, with
 * engine/cv_utf8.c before it): a JSON array of objects, checked in one
 * pass without a tree, its long runs eight bytes at a time (cv_swar.h).
 * What it accepts, cJSON (more lenient) parses into an array of exactly
 * that many objects, and the span it gives holds them; a valid UTF-8
 * text counts as many characters as it has lead bytes.
 */
#include "cv_json_check.h"
#include "cv_utf8.h"
#include "fuzz.h"

#include <cjson/cJSON.h>
#include <string.h>

/* cJSON refuses deeper nesting than its limit (CJSON_NESTING_LIMIT) */
#define CJSON_DEPTH  1000


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                *copy;
    size_t               i, leads, opens, chars;
    cJSON               *json, *item;
    cv_status            st;
    cv_json_array_span   span;

    /* a copy of exactly size bytes: ASan sees any read past the text */
    copy = malloc(size ? size : 1);
    CHECK(copy != NULL);
    memcpy(copy, data, size);

    leads = 0;
    opens = 0;

    for (i = 0; i < size; i++) {
        leads += (data[i] & 0xc0) != 0x80;
        opens += data[i] == '[' || data[i] == '{';
    }

    chars = 0;

    if (cv_utf8_check(copy, size, &chars) == CV_OK) {
        CHECK(chars == leads);
    }

    memset(&span, 0, sizeof(span));
    st = cv_json_object_array(copy, size, &span);

    if (st == CV_OK) {
        CHECK(cv_utf8_check(copy, size, NULL) == CV_OK);
        CHECK(span.inner_off + span.inner_len <= size);
        CHECK((span.count == 0) == (span.inner_len == 0));

        if (span.count) {
            CHECK(copy[span.inner_off] == '{');
            CHECK(copy[span.inner_off + span.inner_len - 1] == '}');
        }

        if (opens < CJSON_DEPTH) {
            json = cJSON_ParseWithLength(copy, size);
            CHECK(json != NULL && cJSON_IsArray(json));
            CHECK((size_t) cJSON_GetArraySize(json) == span.count);

            cJSON_ArrayForEach(item, json) {
                CHECK(cJSON_IsObject(item));
            }

            cJSON_Delete(json);
        }

    } else {
        CHECK(st == CV_INVALID);
    }

    free(copy);
    return 0;
}
