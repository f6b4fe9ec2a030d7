/* Unit tests of customer labels and conversation polling. */
#define _POSIX_C_SOURCE 200809L

#include "cv_customers.h"
#include "cv_chat.h"
#include "fixture.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *
post(cv_txn *t, const char *cus, char conv[CV_ID_MAX])
{
    cv_message  m;
    cv_author   v = { "customer", cus, NULL };

    cv_message_post(t, NULL, cus, &v, NULL, "hi", NULL, &m);
    snprintf(conv, CV_ID_MAX, "%s", m.conversation_id);
    cv_message_clear(&m);
    return conv;
}


int
main(void)
{
    cv_store         *st;
    cv_txn           *t;
    cJSON            *f, *c, *items;
    const char       *why;
    char              a[CV_ID_MAX], b[CV_ID_MAX];
    char              ca[CV_ID_MAX], cb[CV_ID_MAX];
    uint64_t          next, next2;

    st = fx_store_open(8u << 20);

    cv_txn_begin(st, 1, &t);
    cv_customer_create(t, a);
    cv_customer_create(t, b);

    f = cJSON_Parse("{\"email\": \"john@example.com\", \"firstname\": "
                    "\"John\", \"id\": 123, \"labels\": [\"foo\", \"bar\"], "
                    "\"lastname\": \"Doe\"}");
    ok(cv_customer_update(t, a, f, 1, &c, &why) == CV_OK
       && strcmp(cJSON_GetObjectItem(c, "firstname")->valuestring, "John")
          == 0
       && cJSON_GetObjectItem(c, "id")->valuedouble == 123
       && cJSON_GetArraySize(cJSON_GetObjectItem(c, "labels")) == 2,
       "the worked example is stored as given");
    cJSON_Delete(c);
    cJSON_Delete(f);

    ok(cv_customer_find(t, "123", &c) == CV_OK
       && strcmp(cJSON_GetObjectItem(c, "customer_id")->valuestring, a) == 0,
       "found by the integrator's id");
    cJSON_Delete(c);

    f = cJSON_Parse("{\"id\": \"123\"}");
    ok(cv_customer_update(t, b, f, 0, NULL, &why) == CV_CONFLICT,
       "another customer cannot take the same id");
    cJSON_Delete(f);

    f = cJSON_Parse("{\"lastname\": \"Smith\"}");
    ok(cv_customer_update(t, a, f, 0, &c, &why) == CV_OK
       && strcmp(cJSON_GetObjectItem(c, "firstname")->valuestring, "John")
          == 0
       && strcmp(cJSON_GetObjectItem(c, "lastname")->valuestring, "Smith")
          == 0, "PATCH keeps what it does not name");
    cJSON_Delete(c);
    cJSON_Delete(f);

    f = cJSON_Parse("{\"email\": \"x@y.z\"}");
    ok(cv_customer_update(t, a, f, 1, &c, &why) == CV_OK
       && cJSON_IsNull(cJSON_GetObjectItem(c, "firstname"))
       && cJSON_IsNull(cJSON_GetObjectItem(c, "id"))
       && cJSON_GetArraySize(cJSON_GetObjectItem(c, "labels")) == 0,
       "PUT clears what it does not name");
    cJSON_Delete(c);
    cJSON_Delete(f);
    ok(cv_customer_find(t, "123", &c) == CV_NOT_FOUND,
       "the cleared id no longer finds the customer");

    f = cJSON_Parse("{\"id\": \"123\"}");
    ok(cv_customer_update(t, b, f, 0, NULL, &why) == CV_OK,
       "now b may take id 123");
    cJSON_Delete(f);

    static const char  *bad[] = {
        "{\"labels\": \"x\"}", "{\"labels\": [1]}", "{\"labels\": [\"\"]}",
        "{\"id\": 1.5}", "{\"id\": {}}", "{\"email\": 5}",
        "{\"email\": \"nope\"}", "{\"nickname\": \"x\"}", "[]"
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f = cJSON_Parse(bad[i]);
        ok(cv_customer_update(t, a, f, 0, NULL, &why) == CV_INVALID && why,
           "refused: %s (%s)", bad[i], why ? why : "");
        cJSON_Delete(f);
    }

    cv_txn_commit(t);

    /* polling conversations */
    cv_txn_begin(st, 1, &t);
    post(t, a, ca);
    post(t, b, cb);
    post(t, a, ca);
    cv_txn_commit(t);

    cv_txn_begin(st, 0, &t);
    items = fx_since(t, 0, 50, NULL, &next);
    ok(items && cJSON_GetArraySize(items) == 2 && next == 5,
       "two conversations changed (5 log entries)");
    ok(strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "id")
              ->valuestring, cb) == 0,
       "each at its latest change: b first, then a");
    cJSON_Delete(items);

    items = fx_since(t, 0, 1, NULL, &next);
    ok(items && cJSON_GetArraySize(items) == 1 && next == 2,
       "limit 1 stops before the second conversation");
    cJSON_Delete(items);
    items = fx_since(t, next, 1, NULL, &next2);
    ok(items && cJSON_GetArraySize(items) == 1 && next2 == 4, "next page");
    cJSON_Delete(items);

    items = fx_since(t, 5, 50, NULL, &next);
    ok(items && cJSON_GetArraySize(items) == 0 && next == 5,
       "nothing new: same cursor");
    cJSON_Delete(items);
    cv_txn_abort(t);

    cv_store_close(st);
    return done_testing();
}
