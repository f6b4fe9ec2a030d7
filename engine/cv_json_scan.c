/*
 * Finding a member of an object in JSON text: strings are stepped over
 * with their escapes, objects and arrays by depth; anything else up to
 * the next ',', '}' or ']'. It checks only what it needs to find the
 * member's bounds: the text is the engine's own.
 */

#include <string.h>

#include "cv_json_scan.h"


static size_t
cv_js_space(const char *s, size_t i, size_t len)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n'
                       || s[i] == '\r'))
    {
        i++;
    }

    return i;
}


/* s[i] is '"': the index after the closing quote, or len */
static size_t
cv_js_string_end(const char *s, size_t i, size_t len)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\') {
            i++;

        } else if (s[i] == '"') {
            return i + 1;
        }
    }

    return len;
}


/* the index after the value that starts at s[i], or len */
static size_t
cv_js_value_end(const char *s, size_t i, size_t len)
{
    size_t  depth;

    if (i < len && s[i] == '"') {
        return cv_js_string_end(s, i, len);
    }

    if (i < len && (s[i] == '{' || s[i] == '[')) {
        depth = 0;

        while (i < len) {
            if (s[i] == '"') {
                i = cv_js_string_end(s, i, len);
                continue;
            }

            if (s[i] == '{' || s[i] == '[') {
                depth++;

            } else if ((s[i] == '}' || s[i] == ']') && --depth == 0) {
                return i + 1;
            }

            i++;
        }

        return len;
    }

    while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ']'
           && s[i] != ' ' && s[i] != '\n' && s[i] != '\r' && s[i] != '\t')
    {
        i++;
    }

    return i;
}


int
cv_json_member(const char *text, size_t len, const char *name,
    size_t *off, size_t *vlen)
{
    size_t  i, k, kend, v, nlen;

    nlen = strlen(name);

    i = cv_js_space(text, 0, len);
    if (i == len || text[i] != '{') {
        return -1;
    }

    i = cv_js_space(text, i + 1, len);

    while (i < len && text[i] == '"') {
        k = i + 1;
        kend = cv_js_string_end(text, i, len);
        if (kend == len) {
            return -1;
        }

        i = cv_js_space(text, kend, len);
        if (i == len || text[i] != ':') {
            return -1;
        }

        v = cv_js_space(text, i + 1, len);
        i = cv_js_value_end(text, v, len);
        if (i == v || i == len) {
            return -1;      /* no value, or an object not closed */
        }

        /* a key with an escape never equals a plain name */
        if (kend - 1 - k == nlen && memcmp(text + k, name, nlen) == 0) {
            *off = v;
            *vlen = i - v;
            return 0;
        }

        i = cv_js_space(text, i, len);
        if (i == len || text[i] != ',') {
            return -1;
        }

        i = cv_js_space(text, i + 1, len);
    }

    return -1;
}
