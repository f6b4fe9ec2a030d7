/*
 * Request bodies: JSON values and forms (cv_body.h).
 */
#include "cv_body.h"

#include <string.h>


/* the "\u0000" escape */
#define CV_NUL_ESCAPE      "\\u0000"
#define CV_NUL_ESCAPE_LEN  (sizeof(CV_NUL_ESCAPE) - 1)


int
cv_body_has_nul(const char *start, size_t len)
{
    const char  *p, *q, *end;

    end = start + len;

    if (memchr(start, '\0', len) != NULL) {
        return 1;
    }

    for (p = start; (size_t) (end - p) >= CV_NUL_ESCAPE_LEN; p++) {
        if (memcmp(p, CV_NUL_ESCAPE, CV_NUL_ESCAPE_LEN) != 0) {
            continue;
        }

        /* an odd run of backslashes ending here makes it an escape */
        for (q = p; q > start && q[-1] == '\\'; q--) {
            /* void */
        }

        if (((p - q) & 1) == 0) {
            return 1;
        }
    }

    return 0;
}


cJSON *
cv_body_json(const char *p, size_t len)
{
    cJSON       *json;
    const char  *rest, *end;

    end = p + len;
    json = cJSON_ParseWithLengthOpts(p, len, &rest, 0);

    while (json && rest < end
           && (*rest == ' ' || *rest == '\t' || *rest == '\r'
               || *rest == '\n'))
    {
        rest++;
    }

    if (json && rest != end) {
        cJSON_Delete(json);
        json = NULL;
    }

    return json;
}


static int
cv_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}


/*
 * %XX unescaping in place, NUL-terminated, as ngx_unescape_uri() with no
 * flags does it (what the form reader did before it moved here): "%" and
 * a non-hex byte leave that byte, "%X" and a non-hex byte leave nothing.
 */
static void
cv_unescape(char *s, size_t len)
{
    enum { usual, quoted, quoted_second }  state;
    unsigned char  *d, *p, *end, decoded;
    int             h;

    d = (unsigned char *) s;
    p = (unsigned char *) s;
    end = p + len;
    state = usual;
    decoded = 0;

    for ( /* void */ ; p < end; p++) {
        switch (state) {

        case usual:
            if (*p == '%') {
                state = quoted;

            } else {
                *d++ = *p;
            }
            break;

        case quoted:
            h = cv_hex(*p);
            if (h >= 0) {
                decoded = (unsigned char) h;
                state = quoted_second;

            } else {
                state = usual;
                *d++ = *p;
            }
            break;

        case quoted_second:
            state = usual;
            h = cv_hex(*p);
            if (h >= 0) {
                *d++ = (unsigned char) ((decoded << 4) + h);
            }
            break;
        }
    }

    *d = '\0';
}


cJSON *
cv_body_form(char *p, size_t len)
{
    char   *amp, *eq, *end, *src, *name, *value;
    cJSON  *obj;

    end = p + len;
    obj = cJSON_CreateObject();

    while (p < end) {
        amp = memchr(p, '&', (size_t) (end - p));
        if (amp == NULL) {
            amp = end;
        }

        eq = memchr(p, '=', (size_t) (amp - p));

        if (eq && eq > p) {
            name = p;
            value = eq + 1;
            *eq = '\0';

            for (src = value; src < amp; src++) {
                if (*src == '+') {
                    *src = ' ';
                }
            }

            /* unescaping only shortens: in place is safe */
            cv_unescape(name, (size_t) (eq - name));
            cv_unescape(value, (size_t) (amp - value));

            if (cJSON_GetObjectItemCaseSensitive(obj, name)) {
                cJSON_Delete(obj);
                return NULL;     /* a repeated parameter is an error */
            }

            cJSON_AddStringToObject(obj, name, value);
        }

        p = amp + 1;
    }

    return obj;
}
