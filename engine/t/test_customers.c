/* Unit tests of customer labels and conversation polling. */
#define _POSIX_C_SOURCE 200809L

#include "cv_customers.h"
#include "cv_chat.h"
#include "cv_store_impl.h"
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


/* the integrator's id of customer cus, "" when none */
static const char *
ext_of(cv_txn *t, const char *cus, char buf[CV_CUSTOMER_EXT_ID_MAX + 1])
{
    cJSON  *c;

    buf[0] = '\0';
    if (cv_customer_get(t, cus, &c) == CV_OK) {
        if (cv_customer_ext_id(cJSON_GetObjectItem(c, "id"), buf,
                               CV_CUSTOMER_EXT_ID_MAX + 1) != CV_OK)
        {
            buf[0] = '\0';
        }
        cJSON_Delete(c);
    }
    return buf;
}


/* cv_customer_identify: who a visitor becomes as an integrator's id */
static void
identify_tests(cv_store *st)
{
    cv_txn  *t;
    cJSON   *c;
    char     anon[CV_ID_MAX], target[CV_ID_MAX], first[CV_ID_MAX];
    char     ext[CV_CUSTOMER_EXT_ID_MAX + 1];

    cv_txn_begin(st, 1, &t);

    ok(cv_customer_identify(t, NULL, "u-1", first) == CV_OK
       && strncmp(first, "cus_", 4) == 0
       && strcmp(ext_of(t, first, ext), "u-1") == 0,
       "identify: a stranger gets a customer made with the id");

    ok(cv_customer_identify(t, NULL, "u-1", target) == CV_OK
       && strcmp(target, first) == 0,
       "identify: the id again finds that customer");

    cv_customer_create(t, anon);
    ok(cv_customer_identify(t, anon, "u-2", target) == CV_OK
       && strcmp(target, anon) == 0
       && strcmp(ext_of(t, anon, ext), "u-2") == 0,
       "identify: an anonymous visitor's customer takes a new id");

    ok(cv_customer_identify(t, anon, "u-1", target) == CV_OK
       && strcmp(target, first) == 0
       && strcmp(ext_of(t, anon, ext), "u-2") == 0,
       "identify: an existing id wins; the visitor's own keeps its id");

    ok(cv_customer_identify(t, first, "u-3", target) == CV_OK
       && strcmp(target, first) != 0 && strcmp(target, anon) != 0
       && strcmp(ext_of(t, target, ext), "u-3") == 0
       && strcmp(ext_of(t, first, ext), "u-1") == 0,
       "identify: a customer with another id makes a new one for the id");

    ok(cv_customer_identify(t, "cus_gone", "u-4", target) == CV_OK
       && strcmp(ext_of(t, target, ext), "u-4") == 0,
       "identify: a cookie's customer that is gone: a new one");

    ok(cv_customer_find(t, "u-3", &c) == CV_OK, "identify: u-3 is found");
    cJSON_Delete(c);

    cv_txn_abort(t);
}


/* the customer's record with its conversation_id member as JSON text */
static cv_status
put_member(cv_txn *t, const char *cus, const char *member)
{
    char    json[512];
    cJSON  *rec;
    cv_status  st;

    snprintf(json, sizeof(json),
             "{\"x\":{\"conversation_id\":\"inner\"},\"customer_id\":\"%s\","
             "\"conversation_id\":%s}", cus, member);
    rec = cJSON_Parse(json);
    if (rec == NULL) {
        return CV_ERROR;
    }
    st = cv_record_put(t, CV_DB_CUSTOMERS, cus, strlen(cus), rec);
    cJSON_Delete(rec);
    return st;
}


/* cv_customer_conversation: the member found in the record's text, or
 * (escapes, not a string, missing) the record parsed, same answers */
static void
conversation_member_tests(cv_store *st)
{
    cv_txn  *t;
    char     cus[CV_ID_MAX], conv[CV_ID_MAX], got[CV_ID_MAX];
    char     longid[CV_ID_MAX + 8];

    cv_txn_begin(st, 1, &t);
    cv_customer_create(t, cus);

    ok(cv_customer_conversation(t, cus, got) == CV_NOT_FOUND,
       "conversation: none before the first message");
    post(t, cus, conv);
    ok(cv_customer_conversation(t, cus, got) == CV_OK
       && strcmp(got, conv) == 0, "conversation: the one the message opened");

    ok(put_member(t, cus, "\"conv_plain\"") == CV_OK
       && cv_customer_conversation(t, cus, got) == CV_OK
       && strcmp(got, "conv_plain") == 0,
       "conversation: the top-level member, not a nested one");
    ok(put_member(t, cus, "\"a\\\"b\"") == CV_OK
       && cv_customer_conversation(t, cus, got) == CV_OK
       && strcmp(got, "a\"b") == 0, "conversation: an escaped string, decoded");
    ok(put_member(t, cus, "null") == CV_OK
       && cv_customer_conversation(t, cus, got) == CV_NOT_FOUND,
       "conversation: null is none");
    ok(put_member(t, cus, "7") == CV_OK
       && cv_customer_conversation(t, cus, got) == CV_NOT_FOUND,
       "conversation: a number is none");
    memset(longid, 'c', CV_ID_MAX + 1);
    longid[0] = '"';
    longid[CV_ID_MAX + 1] = '"';
    longid[CV_ID_MAX + 2] = '\0';
    ok(put_member(t, cus, longid) == CV_OK
       && cv_customer_conversation(t, cus, got) == CV_NOT_FOUND,
       "conversation: an id of CV_ID_MAX characters is none");
    longid[CV_ID_MAX] = '"';
    longid[CV_ID_MAX + 1] = '\0';
    ok(put_member(t, cus, longid) == CV_OK
       && cv_customer_conversation(t, cus, got) == CV_OK
       && strlen(got) == CV_ID_MAX - 1,
       "conversation: an id of CV_ID_MAX - 1 characters fits");
    ok(cv_customer_conversation(t, "cus_nobody", got) == CV_NOT_FOUND,
       "conversation: no such customer");

    cv_txn_abort(t);
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
    conversation_member_tests(st);

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

    identify_tests(st);
    /* the pre-chat form's addresses and what it stores */
    ok(cv_email_valid("a@b.co") && cv_email_valid("first.last+tag@mail.example.org")
       && cv_email_valid("jos\xc3\xa9@exa\xc3\xb1mple.es"),
       "plain, dotted and UTF-8 addresses are valid");
    ok(!cv_email_valid("") && !cv_email_valid("nobody")
       && !cv_email_valid("@example.com") && !cv_email_valid("a@b")
       && !cv_email_valid("a@.com") && !cv_email_valid("a@b.com.")
       && !cv_email_valid("a@b..com") && !cv_email_valid("a@@b.com")
       && !cv_email_valid("a b@c.com") && !cv_email_valid("a@b.com\n")
       && !cv_email_valid("<a@b.com>") && !cv_email_valid("a\xff@b.com"),
       "malformed addresses are refused");

    cv_txn_begin(st, 1, &t);
    ok(cv_customer_contact(t, a, "not-an-address", NULL, &c, &why)
       == CV_INVALID && c == NULL && why != NULL, "a bad email: CV_INVALID");
    ok(cv_customer_contact(t, a, "x@example.com", "", &c, &why)
       == CV_INVALID, "an empty name: CV_INVALID");
    ok(cv_customer_contact(t, "cus_nobody", "x@example.com", NULL, &c, &why)
       == CV_NOT_FOUND, "an unknown customer: CV_NOT_FOUND");
    ok(cv_customer_contact(t, b, "ann@example.com", "Ann", &c, &why) == CV_OK
       && strcmp(cJSON_GetObjectItem(c, "email")->valuestring,
                 "ann@example.com") == 0
       && strcmp(cJSON_GetObjectItem(c, "firstname")->valuestring, "Ann")
          == 0
       && cJSON_GetObjectItem(c, "labels") == NULL,
       "the answer: email and firstname only");
    cJSON_Delete(c);
    ok(cv_customer_get(t, b, &c) == CV_OK
       && strcmp(cJSON_GetObjectItem(c, "email")->valuestring,
                 "ann@example.com") == 0
       && strcmp(cJSON_GetObjectItem(c, "firstname")->valuestring, "Ann")
          == 0, "stored on the customer");
    cJSON_Delete(c);
    cv_txn_abort(t);

    cv_store_close(st);
    return done_testing();
}
