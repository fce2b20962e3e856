/* plugins/char/chardev/chardev.c — the "chardev" plugin: byte-stream backends for serial ports
 * (interface MODVM_IFACE_CHAR, see modvm/drv.h). It registers two drivers:
 *   "file"  device output to a file (`--serial file:PATH`), no input;
 *   "unix"  a unix stream socket, listening (default) or connecting (`--serial unix:PATH`).
 * Behaviour follows QEMU's `-chardev file` and `-chardev socket,path=...` backends. The "stdio"
 * backend lives in the headless plugin, which owns the terminal. This file holds the entry point and
 * the helpers both drivers share. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "chardev.h"

#include <errno.h>

#include <modvm/plugin.h>

/* See chardev.h. */
int chardev_cfg_required(struct modvm_drv *drv, const char *key, const char **out)
{
    int rc = modvm_drv_cfg_string(drv, key, out);
    if (rc == -ENOENT || (rc == 0 && (*out == NULL || (*out)[0] == '\0')))
        return modvm_drv_set_error(drv, -EINVAL, "driver '%s' needs option '%s' (e.g. --serial %s:/tmp/%s)",
                                   drv->reg->name, key, drv->reg->name,
                                   drv->reg == &chardev_file_reg ? "serial.log" : "serial.sock");
    if (rc != 0)
        return modvm_drv_set_error(drv, rc, "driver '%s': cannot read option '%s'", drv->reg->name, key);
    return 0;
}

/* See chardev.h. */
const char *chardev_errno_hint(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
        return "create the directory first or fix the path";
    case EACCES:
    case EPERM:
    case EROFS:
        return "choose a place you may write to, or fix the permissions";
    case EISDIR:
        return "give a file name, not a directory";
    case ENAMETOOLONG:
        return "use a shorter path";
    case ECONNREFUSED:
        return "start the listening side first, or use server=on";
    case EADDRINUSE:
        return "another program listens there; choose another path";
    default:
        return "check the path";
    }
}

/* Plugin entry (modvm_plugin_desc.register_types): checks the registrar's magic and major (the core
 * has already checked minors against our descriptor), then registers both drivers. */
static int chardev_register(const struct modvm_registrar *reg)
{
    if (MODVM_VERSION_MAGIC(reg->version) != MODVM_VERSION_MAGIC(MODVM_REGISTRAR_VERSION) ||
        MODVM_VERSION_MAJOR(reg->version) != MODVM_VERSION_MAJOR(MODVM_REGISTRAR_VERSION))
        return -EINVAL;
    int rc = reg->register_driver(reg, &chardev_file_reg);
    if (rc == 0)
        rc = reg->register_driver(reg, &chardev_unix_reg);
    return rc;
}

MODVM_PLUGIN(.name = "chardev", .plugin_version = "1.0.0", .license = "MIT",
             .description = "serial backends: file and unix socket",
             .register_types = chardev_register);
