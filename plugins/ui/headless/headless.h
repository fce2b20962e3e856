/* plugins/ui/headless/headless.h — what the files of the "headless" plugin share: the stdio driver's
 * registration, the terminal (raw mode, owned by the frontend) and the VM state the frontend last
 * saw (read by the stdio driver for its pause/resume key). Internal to the plugin (hidden symbols). */
#ifndef HEADLESS_H
#define HEADLESS_H

#include <stdbool.h>

#include <modvm/drv.h>

/** Driver "stdio": the serial port on the process's stdin/stdout (stdio.c). */
extern const struct modvm_drvreg headless_stdio_reg;

/** Puts the terminal on stdin into raw mode (see term.c); 0 or a negative errno. Restored by
 * headless_term_restore, by exit() as a backstop, or by unloading the plugin. */
int headless_term_enter_raw(void);
/** Restores the terminal settings saved by headless_term_enter_raw; safe to call any number of
 * times, from any thread. */
void headless_term_restore(void);
/** True while the terminal is in raw mode (messages then need "\r\n"). */
bool headless_term_is_raw(void);

/** The VM state (enum modvm_vm_state) the headless frontend last saw or asked for, or 0 when no
 * headless frontend is running. */
int headless_shared_state(void);
/** Records the VM state (0: no headless frontend running). */
void headless_shared_set_state(int state);

/** Writes a whole message to stderr, best effort (EINTR-safe, errors ignored). */
void headless_print(const char *msg);

#endif
