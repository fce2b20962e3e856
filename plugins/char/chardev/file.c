/* plugins/char/chardev/file.c — driver "file": writes what the device sends to a file, like QEMU's
 * `-chardev file,path=PATH[,append=on]`. Output only: the device never receives anything.
 *
 * The file is opened at construct with O_WRONLY|O_CREAT|O_CLOEXEC, mode 0644 (less the umask), and
 * truncated unless `append=on`. Every write goes straight to the file (no buffering in the process),
 * so a crash loses nothing the guest sent and a test can read the file as soon as the VM is off.
 * A write error (disk full, ...) drops the bytes and is logged once. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

/* Instance data (zeroed by the core, hence `open`: fd 0 is a real descriptor). */
struct chardev_file {
    int fd;
    bool open;
    bool error_logged; /* a write error has been reported */
};

static const struct modvm_cfg_option chardev_file_options[] = {
    {.name = "path", .type = MODVM_CFG_STRING, .default_value = NULL,
     .help = "file to write the serial output to (required)"},
    {.name = "append", .type = MODVM_CFG_BOOL, .default_value = "off",
     .help = "append to the file instead of truncating it"},
    {.name = NULL},
};

/* Writes all of buf to fd, retrying on EINTR and short writes. Returns the bytes written; on error
 * sets errno and returns what got out before it. */
static size_t chardev_file_write_all(int fd, const uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, buf + done, len - done);
        if (n > 0)
            done += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else {
            if (n == 0)
                errno = EIO;
            break;
        }
    }
    return done;
}

/* Char interface write (modvm_char_conn.write): device output to the file. */
static size_t chardev_file_write(struct modvm_drv *drv, const uint8_t *buf, size_t len)
{
    struct chardev_file *st = drv->data;
    if (!st->open)
        return 0;
    size_t done = chardev_file_write_all(st->fd, buf, len);
    if (done < len && !st->error_logged) {
        st->error_logged = true;
        modvm_drv_log(drv, MODVM_LOG_WARN, "write to the serial output file failed (%s); dropping output",
                      strerror(errno));
    }
    return done;
}

/* Char interface receive_ready (modvm_char_conn.receive_ready): a file has no input. */
static void chardev_file_receive_ready(struct modvm_drv *drv)
{
    (void)drv;
}

static const struct modvm_char_conn chardev_file_conn = {
    .version = MODVM_CHAR_CONN_VERSION,
    .write = chardev_file_write,
    .receive_ready = chardev_file_receive_ready,
};

/* Driver construct callback (modvm_drvreg.construct): opens the file. */
static int chardev_file_construct(struct modvm_drv *drv)
{
    struct chardev_file *st = drv->data;
    const char *path;
    bool append;

    int rc = chardev_cfg_required(drv, "path", &path);
    if (rc != 0)
        return rc;
    rc = modvm_drv_cfg_bool(drv, "append", &append);
    if (rc != 0)
        return modvm_drv_set_error(drv, rc, "cannot read option 'append'");

    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
    int fd = open(path, flags, 0644);
    if (fd < 0) {
        int err = errno;
        return modvm_drv_set_error(drv, -err, "cannot open '%s' for writing: %s (%s)", path,
                                   strerror(err), chardev_errno_hint(err));
    }
    st->fd = fd;
    st->open = true;
    return 0;
}

/* Driver destruct callback (modvm_drvreg.destruct): closes the file if construct opened it. */
static void chardev_file_destruct(struct modvm_drv *drv)
{
    struct chardev_file *st = drv->data;
    if (st->open)
        close(st->fd);
    st->open = false;
}

/* Driver query_interface callback (modvm_drvreg.query_interface): only the char interface. */
static const void *chardev_file_query_interface(struct modvm_drv *drv, const char *iface)
{
    (void)drv;
    return strcmp(iface, MODVM_IFACE_CHAR) == 0 ? &chardev_file_conn : NULL;
}

const struct modvm_drvreg chardev_file_reg = {
    .version = MODVM_DRVREG_VERSION,
    .name = "file",
    .description = "serial output to a file (no input)",
    .iface = MODVM_IFACE_CHAR,
    .instance_size = sizeof(struct chardev_file),
    .options = chardev_file_options,
    .construct = chardev_file_construct,
    .destruct = chardev_file_destruct,
    .query_interface = chardev_file_query_interface,
    .version_end = MODVM_DRVREG_VERSION,
};
