/* Unit tests of finding an object's member in JSON text
 * (engine/cv_json_scan.c): the bounds found are those of the value cJSON
 * finds, printed the same, in text like the log's events. */
#define _POSIX_C_SOURCE 200809L

#include "cv_json_scan.h"
#include "tap.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>


/* the member's text as found, against cJSON's print of the same member */
static int
same_as_cjson(const char *text, const char *name)
{
    size_t   off, len;
    cJSON   *obj, *m;
    char    *theirs;
    int      same, found;

    found = cv_json_member(text, strlen(text), name, &off, &len) == 0;

    obj = cJSON_Parse(text);
    m = obj ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
    theirs = m ? cJSON_PrintUnformatted(m) : NULL;

    if (!found || theirs == NULL) {
        same = !found && theirs == NULL;

    } else {
        same = strlen(theirs) == len && memcmp(theirs, text + off, len) == 0;
    }

    if (!same) {
        diag("%s in %s: ours %.*s, cJSON's %s", name, text,
             found ? (int) len : 6, found ? text + off : "(none)",
             theirs ? theirs : "(none)");
    }

    cJSON_free(theirs);
    cJSON_Delete(obj);

    return same;
}


int
main(void)
{
    const char  *ev, *bad;
    size_t       off, len;

    ev = "{\"seq\":3,\"type\":\"message\",\"message\":{\"id\":\"msg_1\","
         "\"text\":\"a } ] \\\"quoted\\\" \\\\ , {\",\"parts\":[1,[2],{\"a\":"
         "null}],\"n\":-1500,\"ok\":true},\"after\":\"x\"}";

    ok(same_as_cjson(ev, "message"),
       "an object with brackets and escapes inside its strings");
    ok(same_as_cjson(ev, "seq"), "a number, first");
    ok(same_as_cjson(ev, "type"), "a string");
    ok(same_as_cjson(ev, "after"), "the last member");
    ok(same_as_cjson(ev, "missing"), "no such member");
    ok(same_as_cjson(ev, "id"), "a nested member is not a top-level one");
    ok(same_as_cjson("{\"message\":null}", "message"), "null");
    ok(same_as_cjson("{ \"a\" : [ 1 , 2 ] , \"message\" : \"m\" }",
                     "message"), "spaces between tokens");
    ok(same_as_cjson("{}", "message"), "an empty object");
    /* the engine never escapes a key's ASCII; such a key is stepped over */
    bad = "{\"mess\\u0061ge\":1,\"message\":22}";
    ok(cv_json_member(bad, strlen(bad), "message", &off, &len) == 0
       && len == 2 && memcmp(bad + off, "22", 2) == 0,
       "a key with an escape is not the plain name");

    bad = "{\"seq\":1,\"message\":{\"id\":\"x\"";
    ok(cv_json_member(bad, strlen(bad), "message", &off, &len) != 0,
       "an object not closed is not found");
    bad = "[\"message\",1]";
    ok(cv_json_member(bad, strlen(bad), "message", &off, &len) != 0,
       "an array is not an object");
    bad = "{\"message\"1}";
    ok(cv_json_member(bad, strlen(bad), "message", &off, &len) != 0,
       "a member without its colon");
    ok(cv_json_member("", 0, "message", &off, &len) != 0, "empty text");

    return done_testing();
}
