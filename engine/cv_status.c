/* The engine's outcomes by name (see cv_status.h). */
#include "cv_status.h"

#include <stdarg.h>
#include <stdio.h>


const char *
cv_status_text(cv_status st)
{
    switch (st) {
    case CV_OK:
        return "ok";
    case CV_NOT_FOUND:
        return "not found";
    case CV_CONFLICT:
        return "conflict";
    case CV_INVALID:
        return "invalid";
    case CV_FORBIDDEN:
        return "forbidden";
    case CV_FULL:
        return "store full";
    case CV_ERROR:
        break;
    }

    return "error";
}


cv_status
cv_fail(cv_status st, char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    if (errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }

    return st;
}
