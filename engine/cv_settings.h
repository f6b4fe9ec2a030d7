/* Runtime settings changed through the REST API; they win over
 * nginx.conf until reset. */
#ifndef CV_SETTINGS_H
#define CV_SETTINGS_H

#include "cv_store.h"

#include <cjson/cJSON.h>

/* A named settings object ("widget", "visibility"), the caller frees it;
 * an empty object when never set. A name of more than 54 bytes is
 * CV_INVALID. */
cv_status cv_settings_get(cv_txn *t, const char *name, cJSON **out);

/* Replaces the named settings object. */
cv_status cv_settings_put(cv_txn *t, const char *name, const cJSON *value);

#endif
