/* Runtime settings changed through the REST API; they win over
 * nginx.conf until reset. */
#ifndef CV_SETTINGS_H
#define CV_SETTINGS_H

#include "cv_store.h"

#include <cjson/cJSON.h>

/* A named settings object ("widget", "visibility"); an empty object when
 * never set. */
cv_status cv_settings_get(cv_txn *t, const char *name, cJSON **out);
cv_status cv_settings_put(cv_txn *t, const char *name, const cJSON *value);

#endif
