/* What integrators know about customers. */
#define _POSIX_C_SOURCE 200809L

#include "cv_customers.h"
#include "cv_chat.h"
#include "cv_store_impl.h"
#include "cv_utf8.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define CV_EXT_ID_MAX      CV_CUSTOMER_EXT_ID_MAX
#define CV_EMAIL_MAX       254   /* characters of an address (RFC 5321) */
#define CV_NAME_MAX        128
#define CV_LABELS_MAX      50
#define CV_LABEL_MAX       64

/* 2^53: integers beyond it are not all exact in a JSON number (double) */
#define CV_EXACT_INT_LIMIT  9007199254740992.0


cv_status
cv_customer_ext_id(const cJSON *id, char *buf, size_t size)
{
    size_t  n;
    int     len;

    if (cJSON_IsString(id)) {
        n = strlen(id->valuestring);
        if (n == 0 || n > CV_EXT_ID_MAX || n >= size
            || cv_utf8_check(id->valuestring, n, NULL) != CV_OK)
        {
            return CV_INVALID;
        }

        memcpy(buf, id->valuestring, n + 1);
        return CV_OK;
    }

    if (cJSON_IsNumber(id) && isfinite(id->valuedouble)
        && id->valuedouble == floor(id->valuedouble)
        && fabs(id->valuedouble) < CV_EXACT_INT_LIMIT)
    {
        len = snprintf(buf, size, "%.0f", id->valuedouble);
        return (len > 0 && (size_t) len < size) ? CV_OK : CV_INVALID;
    }

    return CV_INVALID;
}


static int
cv_text_ok(const cJSON *v, size_t max)
{
    size_t  chars;

    return cJSON_IsNull(v)
           || (cJSON_IsString(v)
               && cv_utf8_check(v->valuestring, strlen(v->valuestring),
                                &chars) == CV_OK
               && chars <= max);
}


const char *
cv_customer_check(const cJSON *fields)
{
    const cJSON  *f, *l;
    size_t        chars;
    char          buf[CV_EXT_ID_MAX + 1];

    if (!cJSON_IsObject(fields)) {
        return "the body must be a JSON object";
    }

    cJSON_ArrayForEach(f, fields) {
        if (strcmp(f->string, "email") == 0) {
            if (!cv_text_ok(f, CV_EMAIL_MAX)
                || (cJSON_IsString(f) && f->valuestring[0]
                    && strchr(f->valuestring, '@') == NULL))
            {
                return "\"email\" must be an email address or null";
            }

        } else if (strcmp(f->string, "firstname") == 0
                   || strcmp(f->string, "lastname") == 0)
        {
            if (!cv_text_ok(f, CV_NAME_MAX)) {
                return "names must be strings of at most "
                       CV_STR(CV_NAME_MAX) " characters or null";
            }

        } else if (strcmp(f->string, "id") == 0) {
            if (!cJSON_IsNull(f) && cv_customer_ext_id(f, buf, sizeof(buf))
                                    != CV_OK)
            {
                return "\"id\" must be a string of 1 to "
                       CV_STR(CV_EXT_ID_MAX) " characters, an integer, "
                       "or null";
            }

        } else if (strcmp(f->string, "labels") == 0) {
            if (cJSON_IsNull(f)) {
                continue;
            }

            if (!cJSON_IsArray(f) || cJSON_GetArraySize(f) > CV_LABELS_MAX) {
                return "\"labels\" must be an array of at most "
                       CV_STR(CV_LABELS_MAX) " strings";
            }

            cJSON_ArrayForEach(l, f) {
                if (!cJSON_IsString(l)
                    || cv_utf8_check(l->valuestring, strlen(l->valuestring),
                                     &chars) != CV_OK
                    || chars == 0 || chars > CV_LABEL_MAX)
                {
                    return "each label must be a string of 1 to "
                           CV_STR(CV_LABEL_MAX) " characters";
                }
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
                             sizeof(old_ext)) == CV_OK;

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

        cv_json_set(cus, names[i], v);
    }

    has = cv_customer_ext_id(cJSON_GetObjectItem(cus, "id"), new_ext,
                             sizeof(new_ext)) == CV_OK;

    if (has && (!had || strcmp(old_ext, new_ext) != 0)) {
        /* the integrator's id names one customer only */
        st = cv_customer_find(t, new_ext, &other);

        if (st == CV_OK) {
            cJSON_Delete(other);
            *why = "another customer has this id";
            st = CV_CONFLICT;

        } else if (st == CV_NOT_FOUND) {
            st = CV_OK;
        }
    }

    if (st == CV_OK && had && (!has || strcmp(old_ext, new_ext) != 0)) {
        st = cv_record_del(t, CV_DB_CUSTOMER_IDS, old_ext, strlen(old_ext));
        if (st == CV_NOT_FOUND) {
            st = CV_OK;
        }
    }

    if (st == CV_OK && has) {
        st = cv_record_put_raw(t, CV_DB_CUSTOMER_IDS, new_ext,
                               strlen(new_ext), customer_id,
                               strlen(customer_id));
    }

    if (st == CV_OK) {
        st = cv_record_put(t, CV_DB_CUSTOMERS, customer_id,
                           strlen(customer_id), cus);
    }

    return cv_record_hand_over(st, cus, out);
}


cv_status
cv_customer_find(cv_txn *t, const char *ext_id, cJSON **out)
{
    char       id[CV_ID_MAX];
    size_t     n;
    MDB_val    v;
    cv_status  st;

    n = strlen(ext_id);

    if (n == 0 || n > CV_EXT_ID_MAX) {
        return CV_NOT_FOUND;
    }

    st = cv_raw_get(t, CV_DB_CUSTOMER_IDS, ext_id, n, &v);
    if (st != CV_OK) {
        return st;
    }

    if (v.mv_size >= sizeof(id)) {
        return CV_ERROR;
    }

    memcpy(id, v.mv_data, v.mv_size);
    id[v.mv_size] = '\0';

    return cv_customer_get(t, id, out);
}


/* target = the customer id of cus */
static cv_status
cv_customer_id_of(const cJSON *cus, char target[CV_ID_MAX])
{
    const cJSON  *id;

    id = cJSON_GetObjectItemCaseSensitive(cus, "customer_id");

    if (!cJSON_IsString(id) || strlen(id->valuestring) >= CV_ID_MAX) {
        return CV_ERROR;
    }

    memcpy(target, id->valuestring, strlen(id->valuestring) + 1);

    return CV_OK;
}


/* gives customer_id the integrator's id ext_id (PATCH: the rest stays) */
static cv_status
cv_customer_link(cv_txn *t, const char *customer_id, const char *ext_id)
{
    cJSON       *fields, *out;
    cv_status    st;
    const char  *why;

    fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "id", ext_id);

    out = NULL;
    st = cv_customer_update(t, customer_id, fields, 0, &out, &why);

    cJSON_Delete(fields);
    cJSON_Delete(out);

    return st;
}


cv_status
cv_customer_identify(cv_txn *t, const char *current, const char *ext_id,
    char target[CV_ID_MAX])
{
    char       ext[CV_EXT_ID_MAX + 1];
    cJSON     *cus;
    cv_status  st;
    int        linked;

    st = cv_customer_find(t, ext_id, &cus);

    if (st == CV_OK) {
        st = cv_customer_id_of(cus, target);
        cJSON_Delete(cus);
        return st;
    }

    if (st != CV_NOT_FOUND) {
        return st;
    }

    if (current && current[0]) {
        st = cv_customer_get(t, current, &cus);

        if (st == CV_OK) {
            linked = cv_customer_ext_id(cJSON_GetObjectItem(cus, "id"), ext,
                                        sizeof(ext)) == CV_OK;
            cJSON_Delete(cus);

            if (!linked) {
                /* an anonymous visitor logs in: their chat stays theirs */
                memcpy(target, current, strlen(current) + 1);
                return cv_customer_link(t, target, ext_id);
            }

        } else if (st != CV_NOT_FOUND) {
            return st;
        }
    }

    /* another login than the visitor's customer has: a customer anew */
    st = cv_customer_create(t, target);
    if (st != CV_OK) {
        return st;
    }

    return cv_customer_link(t, target, ext_id);
}


/* the local part of an address (RFC 5321) */
#define CV_EMAIL_LOCAL_MAX  64


int
cv_email_valid(const char *email)
{
    size_t       n, local;
    const char  *at, *p, *dot;

    n = strlen(email);

    if (n < 3 || n > CV_EMAIL_MAX || cv_utf8_check(email, n, NULL) != CV_OK)
    {
        return 0;
    }

    for (p = email; *p; p++) {
        if ((unsigned char) *p <= ' ' || *p == 0x7f
            || strchr("<>()[]\\,;:\"", *p) != NULL)
        {
            return 0;
        }
    }

    at = strchr(email, '@');

    if (at == NULL || strchr(at + 1, '@') != NULL) {
        return 0;
    }

    local = (size_t) (at - email);
    dot = strchr(at + 1, '.');

    return local >= 1 && local <= CV_EMAIL_LOCAL_MAX
           && dot != NULL && dot > at + 1          /* a label before it */
           && email[n - 1] != '.'
           && strstr(at + 1, "..") == NULL;
}


cv_status
cv_customer_contact(cv_txn *t, const char *customer_id, const char *email,
    const char *name, cJSON **out, const char **why)
{
    cJSON      *cus, *res, *first;
    size_t      chars;
    cv_status   st;

    *out = NULL;

    if (!cv_email_valid(email)) {
        *why = "\"email\" must be an email address";
        return CV_INVALID;
    }

    if (name
        && (cv_utf8_check(name, strlen(name), &chars) != CV_OK
            || chars == 0 || chars > CV_NAME_MAX))
    {
        *why = "\"name\" must be a string of 1 to "
               CV_STR(CV_NAME_MAX) " characters";
        return CV_INVALID;
    }

    st = cv_customer_get(t, customer_id, &cus);
    if (st != CV_OK) {
        return st;
    }

    cv_json_set(cus, "email", cJSON_CreateString(email));

    if (name) {
        cv_json_set(cus, "firstname", cJSON_CreateString(name));
    }

    st = cv_record_put(t, CV_DB_CUSTOMERS, customer_id, strlen(customer_id),
                       cus);

    if (st == CV_OK) {
        /* the visitor learns only what they gave, not the integrator's
         * labels or id */
        res = cJSON_CreateObject();
        cJSON_AddItemToObject(res, "email", cJSON_CreateString(email));
        first = cJSON_GetObjectItem(cus, "firstname");
        cJSON_AddItemToObject(res, "firstname",
                              first ? cJSON_Duplicate(first, 1)
                                    : cJSON_CreateNull());
        *out = res;
    }

    cJSON_Delete(cus);

    return st;
}
