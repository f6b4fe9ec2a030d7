/* Runtime settings, as JSON objects in the meta database. */
#define _POSIX_C_SOURCE 200809L

#include "cv_settings.h"
#include "cv_store_impl.h"

#include <stdio.h>
#include <string.h>


#define CV_SETTINGS_KEY_MAX  64


/* the record "settings:NAME" of the meta database: read into *out when
 * value is NULL, else written; CV_INVALID when the name is too long */
static cv_status
cv_settings_record(cv_txn *t, const char *name, const cJSON *value,
    cJSON **out)
{
    char  key[CV_SETTINGS_KEY_MAX];
    int   n;

    n = snprintf(key, sizeof(key), "settings:%s", name);
    if (n <= 0 || (size_t) n >= sizeof(key)) {
        return CV_INVALID;
    }

    return value ? cv_record_put(t, CV_DB_META, key, (size_t) n, value)
                 : cv_record_get(t, CV_DB_META, key, (size_t) n, out);
}


cv_status
cv_settings_get(cv_txn *t, const char *name, cJSON **out)
{
    cv_status  st;

    st = cv_settings_record(t, name, NULL, out);

    if (st == CV_NOT_FOUND) {
        *out = cJSON_CreateObject();
        return *out ? CV_OK : CV_ERROR;
    }

    return st;
}


cv_status
cv_settings_put(cv_txn *t, const char *name, const cJSON *value)
{
    return cv_settings_record(t, name, value, NULL);
}
