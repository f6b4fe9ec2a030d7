/*
 * Request bodies, once read into one piece of memory: a JSON value with
 * nothing after it but blanks, or a form (a=1&b=x+y, OAuth2 token
 * requests). What the endpoints then check in them is cv_fields.h.
 */
#ifndef CV_BODY_H
#define CV_BODY_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* 1 when the text holds a NUL byte or a "\u0000" escape: cJSON would cut
 * the string there, so such a body is refused rather than truncated */
int cv_body_has_nul(const char *p, size_t len);

/* One JSON value and nothing after it but blanks; NULL otherwise. */
cJSON *cv_body_json(const char *p, size_t len);

/* a=1&b=x+y into {"a": "1", "b": "x y"}, unescaping in place (p[len] must
 * be writable); NULL for a repeated name or out of memory. %XX escapes
 * are read as nginx's ngx_unescape_uri() reads them. */
cJSON *cv_body_form(char *p, size_t len);

#endif
