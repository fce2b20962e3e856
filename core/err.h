/* core/err.h — the one-line error message of the current thread.
 *
 * modvm functions return 0 or a negative errno; the place that knows the context also records one
 * line for the user ("device 'uart16550' #0: option 'iobase' must be ..."). The CLI prints it. */
#ifndef MODVM_CORE_ERR_H
#define MODVM_CORE_ERR_H

#include <stdarg.h>

/** Records the calling thread's error message (replacing any earlier one) and returns `rc`. */
int modvm_err_set(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** The va_list form of modvm_err_set. */
int modvm_err_setv(int rc, const char *fmt, va_list ap);
/** The calling thread's last message, or "" when none was recorded. */
const char *modvm_err_get(void);
/** Forgets the calling thread's message. */
void modvm_err_clear(void);

#endif
