/*
 * Unit tests of cluster mode's commands for settings, webhook endpoints,
 * a visitor's contact and identity, an agent's status (engine/cv_cluster_writes.c): two
 * stores that apply the same commands come out the same (the endpoint's
 * id and signing secret, the customer made for a new visitor), an
 * agent's status is named for the node's presence, and a refused command
 * is applied as nothing with its reason.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_cluster.h"
#include "fixture.h"
#include "cv_customers.h"
#include "cv_settings.h"
#include "cv_webhooks.h"

#include <stdlib.h>
#include <string.h>

#define SEED_A  "00112233445566778899aabbccddeeff"
#define SEED_B  "ffeeddccbbaa99887766554433221100"
#define NOW     "1764547200000"


static cv_status
apply(cv_store *st, uint64_t seq, const char *cmd, cv_cluster_result *res)
{
    cv_txn     *t;
    cv_status   s;

    cv_cluster_result_clear(res);
    cv_txn_begin(st, 1, &t);
    s = cv_cluster_apply(t, seq, cmd, strlen(cmd), res);

    if (s == CV_OK) {
        cv_txn_commit(t);

    } else {
        cv_txn_abort(t);
    }

    return s;
}


/* both stores apply cmd as seq: 1 when both did with the same outcome */
static int
both(cv_store *a, cv_store *b, uint64_t seq, const char *cmd,
    cv_cluster_result *ra, cv_cluster_result *rb)
{
    int    same;
    char  *ja, *jb;

    if (apply(a, seq, cmd, ra) != CV_OK || apply(b, seq, cmd, rb) != CV_OK) {
        return 0;
    }

    ja = ra->result ? cJSON_PrintUnformatted(ra->result) : NULL;
    jb = rb->result ? cJSON_PrintUnformatted(rb->result) : NULL;

    same = ra->status == rb->status
           && strcmp(ra->customer_id, rb->customer_id) == 0
           && ((ja == NULL && jb == NULL)
               || (ja && jb && strcmp(ja, jb) == 0));

    cJSON_free(ja);
    cJSON_free(jb);

    return same;
}


static char *
settings_text(cv_store *st, const char *name)
{
    char    *text;
    cJSON   *v;
    cv_txn  *t;

    v = NULL;
    cv_txn_begin(st, 0, &t);
    cv_settings_get(t, name, &v);
    cv_txn_abort(t);

    text = v ? cJSON_PrintUnformatted(v) : NULL;
    cJSON_Delete(v);

    return text;
}


int
main(void)
{
    char               cmd[1024], wh[64], cus[CV_ID_MAX], *sa, *sb;
    cJSON             *c;
    cv_txn            *t;
    cv_store          *a, *b;
    cv_cluster_result  ra, rb;

    a = fx_store_open(8u << 20);
    b = fx_store_open(8u << 20);
    memset(&ra, 0, sizeof(ra));
    memset(&rb, 0, sizeof(rb));

    /* settings */

    ok(both(a, b, 1, "{\"op\":\"api.settings_put\",\"seed\":\"" SEED_A "\","
                     "\"now\":" NOW ",\"name\":\"widget\",\"value\":"
                     "{\"color\":\"#123456\",\"position\":\"left\","
                     "\"language\":null,\"texts\":{}}}", &ra, &rb)
       && ra.status == CV_OK && ra.settings
       && strcmp(ra.settings, "widget") == 0,
       "widget settings apply on both stores, named for the mirror");

    sa = settings_text(a, "widget");
    sb = settings_text(b, "widget");
    ok(sa && sb && strcmp(sa, sb) == 0 && strstr(sa, "#123456"),
       "both stores keep the same widget settings: %s", sa ? sa : "-");
    free(sa);
    free(sb);

    ok(both(a, b, 2, "{\"op\":\"api.settings_put\",\"seed\":\"" SEED_A "\","
                     "\"now\":" NOW ",\"name\":\"secret\",\"value\":{}}",
            &ra, &rb)
       && ra.status == CV_INVALID && ra.settings == NULL,
       "a settings name that is not one is refused");

    /* webhook endpoints */

    ok(both(a, b, 3, "{\"op\":\"api.webhook_create\",\"seed\":\"" SEED_B "\","
                     "\"now\":" NOW ",\"url\":\"https://example.com/h\","
                     "\"events\":0}", &ra, &rb)
       && ra.status == CV_OK && ra.created && ra.webhooks && ra.result
       && str(ra.result, "id") && str(ra.result, "secret"),
       "an endpoint is made on both stores with the same id and secret");

    snprintf(wh, sizeof(wh), "%s", ra.result ? str(ra.result, "id") : "");

    c = NULL;
    cv_txn_begin(b, 0, &t);
    ok(cv_webhook_get(t, wh, &c) == CV_OK, "store b has the endpoint %s",
       wh);
    cv_txn_abort(t);
    cJSON_Delete(c);

    snprintf(cmd, sizeof(cmd),
             "{\"op\":\"api.webhook_update\",\"seed\":\"" SEED_A "\","
             "\"now\":" NOW ",\"webhook_id\":\"%s\",\"status\":0}", wh);
    ok(both(a, b, 4, cmd, &ra, &rb) && ra.status == CV_OK
       && strcmp(str(ra.result, "status"), "disabled") == 0,
       "an endpoint's change applies on both");

    snprintf(cmd, sizeof(cmd),
             "{\"op\":\"api.webhook_rotate\",\"seed\":\"" SEED_A "\","
             "\"now\":" NOW ",\"webhook_id\":\"%s\"}", wh);
    ok(both(a, b, 5, cmd, &ra, &rb) && ra.status == CV_OK,
       "a rotated secret is the same on both");

    snprintf(cmd, sizeof(cmd),
             "{\"op\":\"api.webhook_delete\",\"seed\":\"" SEED_A "\","
             "\"now\":" NOW ",\"webhook_id\":\"%s\"}", wh);
    ok(both(a, b, 6, cmd, &ra, &rb) && ra.status == CV_OK && ra.deleted,
       "an endpoint's deletion applies on both");
    ok(both(a, b, 7, cmd, &ra, &rb) && ra.status == CV_NOT_FOUND
       && !ra.deleted && !ra.webhooks,
       "deleting it again is refused, as nothing");

    /* a visitor's contact and identity */

    ok(both(a, b, 8, "{\"op\":\"visitor.contact\",\"seed\":\"" SEED_A "\","
                     "\"now\":" NOW ",\"email\":\"ann@example.com\","
                     "\"name\":\"Ann\"}", &ra, &rb)
       && ra.status == CV_OK && ra.customer_id[0],
       "a new visitor's contact makes the same customer on both: %s",
       ra.customer_id);

    snprintf(cus, sizeof(cus), "%s", ra.customer_id);

    snprintf(cmd, sizeof(cmd),
             "{\"op\":\"visitor.contact\",\"seed\":\"" SEED_A "\","
             "\"now\":" NOW ",\"customer_id\":\"%s\",\"email\":\"bad\"}",
             cus);
    ok(both(a, b, 9, cmd, &ra, &rb) && ra.status == CV_INVALID
       && ra.why[0], "a bad email is refused with its reason: %s", ra.why);

    snprintf(cmd, sizeof(cmd),
             "{\"op\":\"visitor.identify\",\"seed\":\"" SEED_B "\","
             "\"now\":" NOW ",\"customer_id\":\"%s\",\"ext\":\"crm-7\","
             "\"fields\":{\"firstname\":\"Ann\"}}", cus);
    ok(both(a, b, 10, cmd, &ra, &rb) && ra.status == CV_OK && ra.result
       && strcmp(str(ra.result, "id"), "crm-7") == 0,
       "identify gives the integrator's id on both");

    c = NULL;
    cv_txn_begin(b, 0, &t);
    ok(cv_customer_find(t, "crm-7", &c) == CV_OK
       && strcmp(str(c, "customer_id"), ra.customer_id) == 0
       && strcmp(str(c, "email"), "ann@example.com") == 0
       && strcmp(str(c, "firstname"), "Ann") == 0,
       "store b finds crm-7 as that customer, with the contact's email");
    cv_txn_abort(t);
    cJSON_Delete(c);

    /* an agent's status: not stored, named for the node's presence */

    ok(both(a, b, 11, "{\"op\":\"agent.status\",\"seed\":\"" SEED_A "\","
                      "\"now\":" NOW ",\"agent_id\":\"ann\","
                      "\"status\":\"available\",\"external\":true}",
            &ra, &rb)
       && ra.status == CV_NOT_FOUND && ra.presence == NULL,
       "the integrator's status for an unknown agent is refused");

    ok(both(a, b, 12, "{\"op\":\"agent.status\",\"seed\":\"" SEED_A "\","
                      "\"now\":" NOW ",\"agent_id\":\"ann\","
                      "\"status\":\"away\"}", &ra, &rb)
       && ra.status == CV_OK && ra.presence
       && strcmp(ra.presence, "away") == 0 && !ra.presence_external
       && strcmp(str(ra.result, "id"), "ann") == 0,
       "a console's status applies, for the node's presence");

    ok(both(a, b, 13, "{\"op\":\"agent.status\",\"seed\":\"" SEED_A "\","
                      "\"now\":" NOW ",\"agent_id\":\"ann\","
                      "\"status\":\"busy\"}", &ra, &rb)
       && ra.status == CV_INVALID,
       "a status that is not one is refused");

    cv_cluster_result_clear(&ra);
    cv_cluster_result_clear(&rb);
    cv_store_close(a);
    cv_store_close(b);

    return done_testing();
}
