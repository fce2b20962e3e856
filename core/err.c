/* core/err.c — the per-thread one-line error message (see err.h). */
#include "err.h"

#include <stdio.h>

static _Thread_local char err_message[512];

int modvm_err_setv(int rc, const char *fmt, va_list ap)
{
    vsnprintf(err_message, sizeof(err_message), fmt, ap);
    return rc;
}

int modvm_err_set(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    modvm_err_setv(rc, fmt, ap);
    va_end(ap);
    return rc;
}

const char *modvm_err_get(void)
{
    return err_message;
}

void modvm_err_clear(void)
{
    err_message[0] = '\0';
}
