/* What integrators know about customers. */
#define _POSIX_C_SOURCE 200809L

#include "cv_customers.h"
#include "cv_chat.h"
#include "cv_store_impl.h"
#include "cv_utf8.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define CV_EXT_ID_MAX  CV_CUSTOMER_EXT_ID_MAX


int
cv_customer_ext_id(const cJSON *id, char *buf, size_t size)
{
    size_t  n;

    if (cJSON_IsString(id)) {
        n = strlen(id->valuestring);
        if (n == 0 || n > CV_EXT_ID_MAX || n >= size
            || cv_utf8_check(id->valuestring, n, NULL) != 0)
        {
            return -1;
        }

        memcpy(buf, id->valuestring, n + 1);
        return 0;
    }

    if (cJSON_IsNumber(id) && isfinite(id->valuedouble)
        && id->valuedouble == floor(id->valuedouble)
        && fabs(id->valuedouble) < 9007199254740992.0)
    {
        snprintf(buf, size, "%.0f", id->valuedouble);
        return 0;
    }

    return -1;
}


static int
cv_text_ok(const cJSON *v, size_t max)
{
    size_t  chars;

    return cJSON_IsNull(v)
           || (cJSON_IsString(v)
               && cv_utf8_check(v->valuestring, strlen(v->valuestring),
                                &chars) == 0
               && chars <= max);
}


static const char *
cv_customer_check(const cJSON *fields)
{
    const cJSON  *f, *l;
    size_t        chars;
    int           n;
    char          buf[CV_EXT_ID_MAX + 1];

    if (!cJSON_IsObject(fields)) {
        return "the body must be a JSON object";
    }

    cJSON_ArrayForEach(f, fields) {
        if (strcmp(f->string, "email") == 0) {
            if (!cv_text_ok(f, 254)
                || (cJSON_IsString(f) && f->valuestring[0]
                    && strchr(f->valuestring, '@') == NULL))
            {
                return "\"email\" must be an email address or null";
            }

        } else if (strcmp(f->string, "firstname") == 0
                   || strcmp(f->string, "lastname") == 0)
        {
            if (!cv_text_ok(f, 128)) {
                return "names must be strings of at most 128 characters "
                       "or null";
            }

        } else if (strcmp(f->string, "id") == 0) {
            if (!cJSON_IsNull(f) && cv_customer_ext_id(f, buf, sizeof(buf))
                                    != 0)
            {
                return "\"id\" must be a string of 1 to 128 characters, "
                       "an integer, or null";
            }

        } else if (strcmp(f->string, "labels") == 0) {
            if (cJSON_IsNull(f)) {
                continue;
            }

            if (!cJSON_IsArray(f) || cJSON_GetArraySize(f) > 50) {
                return "\"labels\" must be an array of at most 50 strings";
            }

            n = 0;
            cJSON_ArrayForEach(l, f) {
                if (!cJSON_IsString(l)
                    || cv_utf8_check(l->valuestring, strlen(l->valuestring),
                                     &chars) != 0
                    || chars == 0 || chars > 64)
                {
                    return "each label must be a string of 1 to 64 "
                           "characters";
                }
                n++;
            }

        } else {
            return "unknown field";
        }
    }

    return NULL;
}


cv_status
cv_customer_update(cv_txn *t, const char *customer_id, const cJSON *fields,
    int replace, cJSON **out, const char **why)
{
    static const char  *names[] = { "email", "firstname", "lastname", "id",
                                    "labels" };

    char          old_ext[CV_EXT_ID_MAX + 1], new_ext[CV_EXT_ID_MAX + 1];
    cJSON        *cus, *f, *v, *other;
    size_t        i;
    cv_status     st;
    int           had, has;

    *why = cv_customer_check(fields);
    if (*why) {
        return CV_INVALID;
    }

    st = cv_customer_get(t, customer_id, &cus);
    if (st != CV_OK) {
        return st;
    }

    had = cv_customer_ext_id(cJSON_GetObjectItem(cus, "id"), old_ext,
                             sizeof(old_ext)) == 0;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        f = cJSON_GetObjectItemCaseSensitive(fields, names[i]);

        if (f == NULL && !replace) {
            continue;
        }

        if (strcmp(names[i], "labels") == 0) {
            v = (f && !cJSON_IsNull(f)) ? cJSON_Duplicate(f, 1)
                                        : cJSON_CreateArray();
        } else {
            v = f ? cJSON_Duplicate(f, 1) : cJSON_CreateNull();
        }

        if (cJSON_GetObjectItemCaseSensitive(cus, names[i])) {
            cJSON_ReplaceItemInObjectCaseSensitive(cus, names[i], v);

        } else {
            cJSON_AddItemToObject(cus, names[i], v);
        }
    }

    has = cv_customer_ext_id(cJSON_GetObjectItem(cus, "id"), new_ext,
                             sizeof(new_ext)) == 0;

    if (has && (!had || strcmp(old_ext, new_ext) != 0)) {
        /* the integrator's id names one customer only */
        st = cv_customer_find(t, new_ext, &other);
        if (st == CV_OK) {
            cJSON_Delete(other);
            cJSON_Delete(cus);
            *why = "another customer has this id";
            return CV_CONFLICT;
        }

        if (st != CV_NOT_FOUND) {
            cJSON_Delete(cus);
            return st;
        }
    }

    if (had && (!has || strcmp(old_ext, new_ext) != 0)) {
        st = cv_record_del(t, CV_DB_CUSTOMER_IDS, old_ext, strlen(old_ext));
        if (st != CV_OK && st != CV_NOT_FOUND) {
            cJSON_Delete(cus);
            return st;
        }
    }

    if (has) {
        MDB_val  k, val;

        k.mv_data = new_ext;
        k.mv_size = strlen(new_ext);
        val.mv_data = (void *) customer_id;
        val.mv_size = strlen(customer_id);

        st = cv_status_from_mdb(mdb_put(t->txn,
                                        t->store->dbi[CV_DB_CUSTOMER_IDS],
                                        &k, &val, 0));
        if (st != CV_OK) {
            cJSON_Delete(cus);
            return st;
        }
    }

    st = cv_record_put(t, CV_DB_CUSTOMERS, customer_id, strlen(customer_id),
                       cus);

    if (st == CV_OK && out) {
        *out = cus;

    } else {
        cJSON_Delete(cus);
    }

    return st;
}


cv_status
cv_customer_find(cv_txn *t, const char *ext_id, cJSON **out)
{
    char     id[CV_ID_MAX];
    MDB_val  k, v;
    int      rc;

    k.mv_data = (void *) ext_id;
    k.mv_size = strlen(ext_id);

    if (k.mv_size == 0 || k.mv_size > CV_EXT_ID_MAX) {
        return CV_NOT_FOUND;
    }

    rc = mdb_get(t->txn, t->store->dbi[CV_DB_CUSTOMER_IDS], &k, &v);
    if (rc != 0) {
        return cv_status_from_mdb(rc);
    }

    if (v.mv_size >= sizeof(id)) {
        return CV_ERROR;
    }

    memcpy(id, v.mv_data, v.mv_size);
    id[v.mv_size] = '\0';

    return cv_customer_get(t, id, out);
}
