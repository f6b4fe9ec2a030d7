/*
 * What integrators know about customers: their own id, names, email and
 * labels, and finding a customer again by that id.
 */
#ifndef CV_CUSTOMERS_H
#define CV_CUSTOMERS_H

#include "cv_store.h"
#include "cv_crypto.h"

#include <cjson/cJSON.h>

/* characters of an integrator's customer id */
#define CV_CUSTOMER_EXT_ID_MAX  128

/*
 * Sets email, firstname, lastname, id and labels of a customer. replace
 * (PUT): absent fields are cleared; otherwise (PATCH) they are kept. Bad
 * fields give CV_INVALID with the reason in *why; an id that another
 * customer has gives CV_CONFLICT.
 */
cv_status cv_customer_update(cv_txn *t, const char *customer_id,
    const cJSON *fields, int replace, cJSON **out, const char **why);

/* NULL when fields are what cv_customer_update() takes, else the reason
 * (a cluster's node refuses them before it publishes anything) */
const char *cv_customer_check(const cJSON *fields);

/* The customer with the integrator's id (its text form). */
cv_status cv_customer_find(cv_txn *t, const char *ext_id, cJSON **out);

/* The text form of an integrator's id (a string of 1 to 128 characters, or
 * an integer) into buf; CV_INVALID when it is neither or does not fit. */
cv_status cv_customer_ext_id(const cJSON *id, char *buf, size_t size);

/*
 * The customer a visitor becomes as the integrator's customer ext_id
 * (identified by a signed JS call or at the edge): the one that has that
 * id already (another device, PUT customers); else the visitor's own
 * customer (current, NULL or "" for none) when it has no integrator id
 * yet, which takes the id (a chat begun before the login stays); else a
 * new customer with the id. Its customer id goes to target.
 */
cv_status cv_customer_identify(cv_txn *t, const char *current,
    const char *ext_id, char target[CV_ID_MAX]);

/*
 * An address a visitor may give (the pre-chat form): at most 254 bytes of
 * UTF-8, one "@" with a local part of 1 to 64 bytes before it and a
 * domain with a dot after it, no blank, control character or any of
 * <>()[]\\,;:" anywhere. Stricter than the REST API's check, which takes
 * what the integrator's own system holds.
 */
int cv_email_valid(const char *email);

/*
 * What a visitor gave in the pre-chat form: the email, and their name as
 * firstname when name is not NULL. *out: the customer's email and
 * firstname. CV_INVALID (*why set) for an email that is not valid or a name
 * that is empty or too long.
 */
cv_status cv_customer_contact(cv_txn *t, const char *customer_id,
    const char *email, const char *name, cJSON **out, const char **why);

#endif
