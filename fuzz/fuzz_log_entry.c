/*
 * The log entry codec (engine/cv_log.c): the first 8 bytes are the key
 * (a log seq), the rest the stored value. A decoded entry's event and
 * conversation must lie inside its text, and its names (type and
 * conversation id, read without parsing) inside the text too; the pieces
 * are then parsed as JSON as the readers do.
 */
#include "cv_log_impl.h"
#include "fuzz.h"

#include <cjson/cJSON.h>
#include <string.h>


static int
inside(const char *p, size_t len, const cv_log_entry *e)
{
    return p >= e->text && len <= e->len
           && (size_t) (p - e->text) <= e->len - len;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    MDB_val        k, v;
    uint8_t       *key, *val;
    size_t         klen, vlen;
    cJSON         *json;
    cv_log_entry   e;
    cv_log_names   names;

    /* a short input is a short key: the decoder must refuse it */
    klen = size < CV_U64BE_LEN ? size : CV_U64BE_LEN;
    vlen = size - klen;

    key = malloc(klen ? klen : 1);
    val = malloc(vlen ? vlen : 1);
    CHECK(key != NULL && val != NULL);
    memcpy(key, data, klen);
    memcpy(val, data + klen, vlen);

    k.mv_data = key;
    k.mv_size = klen;
    v.mv_data = val;
    v.mv_size = vlen;

    if (cv_log_decode(&k, &v, &e) == CV_OK) {
        CHECK(klen == CV_U64BE_LEN && vlen >= CV_LOG_HDR);
        CHECK(e.text == (const char *) val + CV_LOG_HDR);
        CHECK(e.len == vlen - CV_LOG_HDR);
        CHECK(e.event == NULL || inside(e.event, e.event_len, &e));
        CHECK(e.conv == NULL || inside(e.conv, e.conv_len, &e));
        CHECK((e.event == NULL) == (e.event_len == 0));

        if (cv_log_entry_names(&e, &names) == CV_OK) {
            CHECK(names.type_len > 0 && names.conversation_id_len > 0);
            CHECK(inside(names.type, names.type_len, &e));
            CHECK(inside(names.conversation_id, names.conversation_id_len,
                         &e));
            CHECK(memchr(names.type, '"', names.type_len) == NULL);
        }

        if (e.event) {
            json = cJSON_ParseWithLength(e.event, e.event_len);
            cJSON_Delete(json);
        }

        if (e.conv) {
            json = cJSON_ParseWithLength(e.conv, e.conv_len);
            cJSON_Delete(json);
        }

    } else {
        CHECK(klen != CV_U64BE_LEN || vlen < CV_LOG_HDR
              || cv_get_u32be(val + CV_LOG_OFF_EVENT_OFF) > vlen - CV_LOG_HDR
              || cv_get_u32be(val + CV_LOG_OFF_CONV_OFF) > vlen - CV_LOG_HDR
              || cv_get_u32be(val + CV_LOG_OFF_EVENT_LEN)
                 > vlen - CV_LOG_HDR - cv_get_u32be(val
                                                    + CV_LOG_OFF_EVENT_OFF)
              || cv_get_u32be(val + CV_LOG_OFF_CONV_LEN)
                 > vlen - CV_LOG_HDR - cv_get_u32be(val
                                                    + CV_LOG_OFF_CONV_OFF));
    }

    free(key);
    free(val);
    return 0;
}
