/* plugins/char/chardev/chardev.h — what the files of the "chardev" plugin share: its two driver
 * registrations and the small helpers both drivers use. Internal to the plugin (hidden symbols). */
#ifndef CHARDEV_H
#define CHARDEV_H

#include <stddef.h>
#include <stdint.h>

#include <modvm/drv.h>

/** Driver "file": device output appended to / written over a file (drivers in file.c). */
extern const struct modvm_drvreg chardev_file_reg;
/** Driver "unix": a unix stream socket, as server or client (unix.c). */
extern const struct modvm_drvreg chardev_unix_reg;

/** Reads the required string option `key` of `drv`; sets "driver 'NAME' needs option 'KEY'" and
 * returns -EINVAL when the user gave none. */
int chardev_cfg_required(struct modvm_drv *drv, const char *key, const char **out);

/** A hint for the user after a failed open/bind/connect of `path`, chosen by errno value `err`. */
const char *chardev_errno_hint(int err);

#endif
