/* Runtime settings, as JSON objects in the meta database. */
#define _POSIX_C_SOURCE 200809L

#include "cv_settings.h"
#include "cv_store_impl.h"

#include <stdio.h>
#include <string.h>


static size_t
cv_settings_key(char *key, size_t size, const char *name)
{
    int  n = snprintf(key, size, "settings:%s", name);

    return (n > 0 && (size_t) n < size) ? (size_t) n : 0;
}


cv_status
cv_settings_get(cv_txn *t, const char *name, cJSON **out)
{
    char       key[64];
    size_t     klen;
    cv_status  st;

    klen = cv_settings_key(key, sizeof(key), name);
    if (klen == 0) {
        return CV_INVALID;
    }

    st = cv_record_get(t, CV_DB_META, key, klen, out);

    if (st == CV_NOT_FOUND) {
        *out = cJSON_CreateObject();
        return CV_OK;
    }

    return st;
}


cv_status
cv_settings_put(cv_txn *t, const char *name, const cJSON *value)
{
    char    key[64];
    size_t  klen;

    klen = cv_settings_key(key, sizeof(key), name);
    if (klen == 0) {
        return CV_INVALID;
    }

    return cv_record_put(t, CV_DB_META, key, klen, value);
}
