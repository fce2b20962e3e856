/* pdm/messages.c — how plugin messages reach the user: one-line errors prefixed with the object's
 * name, and log lines filtered by the VM's verbosity. */
#include <stdio.h>

#include "../core/err.h"
#include "../core/vm.h"
#include "internal.h"

int pdm_set_error(const char *who, int rc, const char *fmt, va_list ap)
{
    char msg[400];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    return modvm_err_set(rc, "%s: %s", who, msg);
}

void pdm_log(struct vm *vm, const char *who, int level, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    /* errors and warnings always; info with -v; debug with -vv */
    if (level > MODVM_LOG_WARN && level - MODVM_LOG_WARN > vm_verbosity(vm))
        return;
    char msg[400];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    fprintf(stderr, "modvm: %s: %s: %s\n", who, names[level >= 0 && level <= 3 ? level : 3], msg);
}
