/* Unit tests of the JSON text builder (engine/cv_json_text.c): what it
 * writes is what cJSON prints for the same value. */
#define _POSIX_C_SOURCE 200809L

#include "cv_json_text.h"
#include "tap.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


/* cv_jt_str(s) against cJSON's printing of the string s */
static int
same_as_cjson(const char *s)
{
    cv_json_text   b;
    cJSON         *str;
    char          *ours, *theirs;
    int            same;

    cv_jt_init(&b, 4);
    cv_jt_str(&b, s);
    ours = cv_jt_take(&b, NULL);

    str = cJSON_CreateString(s);
    theirs = cJSON_PrintUnformatted(str);
    cJSON_Delete(str);

    same = ours && theirs && strcmp(ours, theirs) == 0;
    if (!same) {
        diag("ours %s, cJSON's %s", ours ? ours : "(none)",
             theirs ? theirs : "(none)");
    }

    free(ours);
    cJSON_free(theirs);

    return same;
}


int
main(void)
{
    char           one[2], *s;
    size_t         len;
    int            c, all;
    cv_json_text   b;
    cJSON         *parsed;

    /* every ASCII byte on its own, controls and quotes included */
    all = 1;
    for (c = 1; c < 128; c++) {
        one[0] = (char) c;
        one[1] = '\0';
        all &= same_as_cjson(one);
    }
    ok(all, "each byte 0x01..0x7f is escaped as cJSON escapes it");

    ok(same_as_cjson("caf\xc3\xa9 \xf0\x9f\x91\x8b \xe2\x80\xa8"),
       "UTF-8 passes through as it is");
    ok(same_as_cjson(""), "the empty string");
    ok(same_as_cjson("a \"quoted\" \\ back\\slash\n\r\t\b\f end"),
       "a mix of escapes");

    /* numbers, null, raw text and growth past the first allocation */
    cv_jt_init(&b, 1);
    cv_jt_lit(&b, "{\"n\":");
    cv_jt_u64(&b, 0);
    cv_jt_lit(&b, ",\"max\":");
    cv_jt_u64(&b, UINT64_MAX);
    cv_jt_lit(&b, ",\"null\":");
    cv_jt_str(&b, NULL);
    cv_jt_lit(&b, ",\"t\":");
    cv_jt_time(&b, 1764496800123LL);
    cv_jt_raw(&b, "}", 1);
    s = cv_jt_take(&b, &len);
    ok(s && len == strlen(s)
       && strcmp(s, "{\"n\":0,\"max\":18446744073709551615,\"null\":null,"
                    "\"t\":\"2025-11-30T10:00:00.123Z\"}") == 0,
       "numbers, null and a time: %s", s ? s : "(none)");
    parsed = s ? cJSON_Parse(s) : NULL;
    ok(parsed != NULL, "the result parses");
    cJSON_Delete(parsed);
    free(s);

    ok(b.data == NULL && b.len == 0, "take leaves the builder empty");

    return done_testing();
}
