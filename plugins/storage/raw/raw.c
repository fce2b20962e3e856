/* plugins/storage/raw/raw.c — the "raw" plugin: driver "raw", a disk image that is a plain file or a
 * host block device, byte for byte (interface MODVM_IFACE_BLOCK, modvm/drv.h).
 *
 * Spec: modvm/drv.h "the block interface" (offsets and lengths in bytes, multiples of 512; -EINVAL out
 * of range, -EROFS for writes to a read-only image, -EIO for host errors); POSIX pread/pwrite and
 * fdatasync; Linux open(2) O_DIRECT, fallocate(2) FALLOC_FL_PUNCH_HOLE, ioctl BLKGETSIZE64/BLKSSZGET,
 * statx(2) STATX_DIOALIGN, fcntl(2) open file description locks. Behaviour follows QEMU's
 * `-drive format=raw,file=...` (read-only, cache=none ~ direct, discard=unmap).
 *
 * Options:
 *   path      the image (required)
 *   readonly  open O_RDONLY; the device sees a read-only disk (default off)
 *   direct    O_DIRECT, bypassing the host page cache, through aligned bounce buffers (default off)
 *
 * Decisions:
 *   - Size: st_size for a file, BLKGETSIZE64 for a block device. A size that is not a multiple of
 *     512 bytes is rounded DOWN with a warning (the guest cannot address a partial sector, and the
 *     image must never grow because of the guest); an image below 512 bytes is an error. With
 *     direct=on the size is rounded down to the O_DIRECT alignment too, so an aligned write near the
 *     end can never extend the file.
 *   - Locking: an open-file-description lock on the whole file — shared for readonly=on, exclusive
 *     otherwise — so two VMs (modvm or QEMU, which uses the same lock family) do not write one image
 *     at once. "in use" is an error; a file system without locks only gets a warning.
 *   - Discard punches a hole (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) — on a block device only
 *     the whole logical blocks inside the range; where the host cannot, it returns -EOPNOTSUPP (the
 *     device may still report success: discard is a hint).
 *   - Host I/O errors return -EIO; the first one is logged (the guest sees its IOERR status).
 *
 * The image is trusted to be an image and nothing more: the driver never interprets its contents. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <modvm/drv.h>
#include <modvm/plugin.h>

#define RAW_SECTOR 512u
#define RAW_BOUNCE_SIZE (1u << 20) /* bytes moved per O_DIRECT system call */
#define RAW_MEM_ALIGN 4096u        /* bounce buffer alignment: enough for every O_DIRECT setup */

/* Instance data (zeroed by the core; `open` because fd 0 is a real descriptor). */
struct raw_state {
    int fd;
    bool open;
    bool readonly;
    bool direct;
    bool is_blockdev;
    bool error_logged;
    uint32_t align;  /* O_DIRECT offset/length alignment (RAW_SECTOR without direct) */
    uint32_t discard_align; /* a block device's logical block size: discards are shrunk to it */
    uint64_t size;   /* bytes the guest sees: a multiple of 512 (and of `align`) */
    uint8_t *bounce; /* RAW_BOUNCE_SIZE bytes aligned to RAW_MEM_ALIGN, with direct=on */
    const char *path;
};

static const struct modvm_cfg_option raw_options[] = {
    {.name = "path", .type = MODVM_CFG_STRING, .default_value = NULL,
     .help = "the disk image: a file or a block device (required)"},
    {.name = "readonly", .type = MODVM_CFG_BOOL, .default_value = "off",
     .help = "open the image read-only; the guest sees a read-only disk"},
    {.name = "direct", .type = MODVM_CFG_BOOL, .default_value = "off",
     .help = "bypass the host page cache (O_DIRECT)"},
    {.name = NULL},
};

/* Logs the first host I/O error of this image (later ones would only repeat it) and returns -EIO. */
static int raw_io_error(struct modvm_drv *drv, const char *what, uint64_t offset, int err)
{
    struct raw_state *st = drv->data;
    if (!st->error_logged) {
        st->error_logged = true;
        modvm_drv_log(drv, MODVM_LOG_ERROR, "%s of '%s' at offset %" PRIu64 " failed: %s (further errors are "
                      "not logged)", what, st->path, offset, strerror(err));
    }
    return -EIO;
}

/* pread until `len` bytes are in; bytes past the end of the file read as zeros (the file shrank under
 * us: there is nothing better to give). Returns 0 or -errno. */
static int raw_pread_full(int fd, uint8_t *buf, size_t len, uint64_t offset)
{
    while (len > 0) {
        ssize_t n = pread(fd, buf, len, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0) {
            memset(buf, 0, len);
            return 0;
        }
        buf += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

/* pwrite until `len` bytes are out. Returns 0 or -errno (a write that makes no progress is -EIO). */
static int raw_pwrite_full(int fd, const uint8_t *buf, size_t len, uint64_t offset)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, buf, len, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        buf += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

/* O_DIRECT transfer through the bounce buffer: each round covers an `align`-aligned window of at most
 * RAW_BOUNCE_SIZE bytes; a write whose first or last block is partial reads that block first
 * (read-modify-write), so sub-`align` requests from a 512-byte guest work on 4 KiB-sector hosts. */
static int raw_direct_io(struct modvm_drv *drv, uint64_t offset, uint8_t *rbuf, const uint8_t *wbuf, size_t len)
{
    struct raw_state *st = drv->data;
    uint64_t a = st->align;
    while (len > 0) {
        uint64_t win = offset & ~(a - 1), head = offset - win;
        size_t chunk = len < RAW_BOUNCE_SIZE - a ? len : RAW_BOUNCE_SIZE - a;
        uint64_t win_len = (head + chunk + a - 1) & ~(a - 1);
        int rc;
        if (rbuf) {
            if ((rc = raw_pread_full(st->fd, st->bounce, win_len, win)) < 0)
                return raw_io_error(drv, "read", win, -rc);
            memcpy(rbuf, st->bounce + head, chunk);
            rbuf += chunk;
        } else {
            if (head != 0 && (rc = raw_pread_full(st->fd, st->bounce, a, win)) < 0)
                return raw_io_error(drv, "read", win, -rc);
            if ((head + chunk) % a != 0 && (rc = raw_pread_full(st->fd, st->bounce + win_len - a, a,
                                                                 win + win_len - a)) < 0)
                return raw_io_error(drv, "read", win + win_len - a, -rc);
            memcpy(st->bounce + head, wbuf, chunk);
            if ((rc = raw_pwrite_full(st->fd, st->bounce, win_len, win)) < 0)
                return raw_io_error(drv, "write", win, -rc);
            wbuf += chunk;
        }
        offset += chunk;
        len -= chunk;
    }
    return 0;
}

/* Checks a request against the interface's rules: 512-byte multiples, inside the image. */
static int raw_check_range(const struct raw_state *st, uint64_t offset, uint64_t len)
{
    if (offset % RAW_SECTOR != 0 || len % RAW_SECTOR != 0)
        return -EINVAL;
    if (offset > st->size || len > st->size - offset)
        return -EINVAL;
    return 0;
}

/* Block interface size (modvm_block_conn.size): bytes the guest sees. */
static uint64_t raw_size(struct modvm_drv *drv)
{
    return ((struct raw_state *)drv->data)->size;
}

/* Block interface read_only (modvm_block_conn.read_only). */
static bool raw_read_only(struct modvm_drv *drv)
{
    return ((struct raw_state *)drv->data)->readonly;
}

/* Block interface read (modvm_block_conn.read). */
static int raw_read(struct modvm_drv *drv, uint64_t offset, void *buf, size_t len)
{
    struct raw_state *st = drv->data;
    int rc = raw_check_range(st, offset, len);
    if (rc < 0 || len == 0)
        return rc;
    if (st->direct)
        return raw_direct_io(drv, offset, buf, NULL, len);
    if ((rc = raw_pread_full(st->fd, buf, len, offset)) < 0)
        return raw_io_error(drv, "read", offset, -rc);
    return 0;
}

/* Block interface write (modvm_block_conn.write). */
static int raw_write(struct modvm_drv *drv, uint64_t offset, const void *buf, size_t len)
{
    struct raw_state *st = drv->data;
    if (st->readonly)
        return -EROFS;
    int rc = raw_check_range(st, offset, len);
    if (rc < 0 || len == 0)
        return rc;
    if (st->direct)
        return raw_direct_io(drv, offset, NULL, buf, len);
    if ((rc = raw_pwrite_full(st->fd, buf, len, offset)) < 0)
        return raw_io_error(drv, "write", offset, -rc);
    return 0;
}

/* Block interface flush (modvm_block_conn.flush): data reaches stable storage. */
static int raw_flush(struct modvm_drv *drv)
{
    struct raw_state *st = drv->data;
    if (st->readonly)
        return 0;
    int rc;
    while ((rc = fdatasync(st->fd)) < 0 && errno == EINTR)
        ;
    return rc < 0 ? raw_io_error(drv, "flush", 0, errno) : 0;
}

/* Block interface discard (modvm_block_conn.discard): punches a hole, keeping the size. */
static int raw_discard(struct modvm_drv *drv, uint64_t offset, uint64_t len)
{
    struct raw_state *st = drv->data;
    if (st->readonly)
        return -EROFS;
    int rc = raw_check_range(st, offset, len);
    if (rc < 0 || len == 0)
        return rc;
    /* A block device punches whole logical blocks only: free what lies wholly inside the range (a
     * discard is a hint, so the partial blocks at either end simply stay). */
    uint64_t a = st->discard_align, end = offset + len;
    offset = (offset + a - 1) / a * a;
    end = end / a * a;
    if (end <= offset)
        return 0;
    len = end - offset;
    if (fallocate(st->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)len) == 0)
        return 0;
    if (errno == EOPNOTSUPP || errno == ENOSYS || errno == ENODEV)
        return -EOPNOTSUPP;
    return raw_io_error(drv, "discard", offset, errno);
}

static const struct modvm_block_conn raw_block_conn = {
    .version = MODVM_BLOCK_CONN_VERSION,
    .size = raw_size,
    .read_only = raw_read_only,
    .read = raw_read,
    .write = raw_write,
    .flush = raw_flush,
    .discard = raw_discard,
};

/* The user-facing message for a failed open of `path`. */
static int raw_open_error(struct modvm_drv *drv, const char *path, bool readonly, bool direct, int err)
{
    switch (err) {
    case ENOENT:
        return modvm_drv_set_error(drv, -err, "disk image '%s' does not exist", path);
    case EACCES:
    case EPERM:
        return modvm_drv_set_error(drv, -err, "no permission to open disk image '%s' for %s%s", path,
                                   readonly ? "reading" : "writing",
                                   readonly ? "" : " (fix the permissions, or use readonly=on)");
    case EROFS:
        return modvm_drv_set_error(drv, -err, "disk image '%s' is on a read-only file system (use readonly=on)",
                                   path);
    case EISDIR:
        return modvm_drv_set_error(drv, -err, "disk image '%s' is a directory", path);
    case EINVAL:
        if (direct)
            return modvm_drv_set_error(drv, -err, "the file system of disk image '%s' does not support "
                                                  "direct=on (O_DIRECT)", path);
        /* fall through */
    default:
        return modvm_drv_set_error(drv, -err, "cannot open disk image '%s': %s", path, strerror(err));
    }
}

/* Takes the open-file-description lock (see the file comment). */
static int raw_lock(struct modvm_drv *drv, struct raw_state *st)
{
    struct flock fl = {.l_type = st->readonly ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(st->fd, F_OFD_SETLK, &fl) == 0)
        return 0;
    if (errno == EAGAIN || errno == EACCES)
        return modvm_drv_set_error(drv, -EBUSY, "disk image '%s' is in use by another process (it holds a "
                                                "lock on it)%s", st->path,
                                   st->readonly ? "" : "; readonly=on may share it with other readers");
    modvm_drv_log(drv, MODVM_LOG_WARN, "cannot lock disk image '%s' (%s); nothing stops another VM from "
                  "using it at the same time", st->path, strerror(errno));
    return 0;
}

/* Finds the image size and, for direct=on, the I/O alignment. */
static int raw_probe(struct modvm_drv *drv, struct raw_state *st)
{
    struct stat sb;
    if (fstat(st->fd, &sb) < 0)
        return modvm_drv_set_error(drv, -errno, "cannot stat disk image '%s': %s", st->path, strerror(errno));
    uint64_t size;
    st->align = RAW_SECTOR;
    st->discard_align = 1;
    if (S_ISREG(sb.st_mode)) {
        size = (uint64_t)sb.st_size;
#ifdef STATX_DIOALIGN
        struct statx sx;
        if (st->direct && statx(st->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
            (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align > st->align)
            st->align = sx.stx_dio_offset_align;
#endif
    } else if (S_ISBLK(sb.st_mode)) {
        st->is_blockdev = true;
        if (ioctl(st->fd, BLKGETSIZE64, &size) < 0)
            return modvm_drv_set_error(drv, -errno, "cannot get the size of block device '%s': %s", st->path,
                                       strerror(errno));
        int lbs = 0;
        if (ioctl(st->fd, BLKSSZGET, &lbs) == 0 && lbs > 0 && (lbs & (lbs - 1)) == 0) {
            st->discard_align = (uint32_t)lbs;
            if (st->direct && lbs > (int)st->align)
                st->align = (uint32_t)lbs;
        }
    } else {
        return modvm_drv_set_error(drv, -EINVAL, "disk image '%s' is neither a regular file nor a block device",
                                   st->path);
    }
    if (st->align & (st->align - 1) || st->align > RAW_BOUNCE_SIZE / 2)
        return modvm_drv_set_error(drv, -EINVAL, "disk image '%s': unusable O_DIRECT alignment %u (use direct=off)",
                                   st->path, st->align);
    uint64_t usable = size & ~(uint64_t)(st->align - 1);
    if (usable == 0)
        return modvm_drv_set_error(drv, -EINVAL, "disk image '%s' is smaller than one %u-byte sector (%" PRIu64
                                                 " bytes)", st->path, st->align, size);
    if (usable != size)
        modvm_drv_log(drv, MODVM_LOG_WARN, "disk image '%s' is %" PRIu64 " bytes, not a multiple of %u: the guest "
                      "sees only the first %" PRIu64 " bytes", st->path, size, st->align, usable);
    st->size = usable;
    return 0;
}

/* Driver construct callback (modvm_drvreg.construct): opens, locks and sizes the image. */
static int raw_construct(struct modvm_drv *drv)
{
    struct raw_state *st = drv->data;
    const char *path = NULL;
    int rc = modvm_drv_cfg_string(drv, "path", &path);
    if (rc == -ENOENT || (rc == 0 && (!path || !*path)))
        return modvm_drv_set_error(drv, -EINVAL, "driver 'raw' needs option 'path' (the disk image)");
    if (rc < 0)
        return modvm_drv_set_error(drv, rc, "cannot read option 'path'");
    if ((rc = modvm_drv_cfg_bool(drv, "readonly", &st->readonly)) < 0)
        return modvm_drv_set_error(drv, rc, "cannot read option 'readonly'");
    if ((rc = modvm_drv_cfg_bool(drv, "direct", &st->direct)) < 0)
        return modvm_drv_set_error(drv, rc, "cannot read option 'direct'");
    st->path = path;

    int flags = (st->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (st->direct ? O_DIRECT : 0);
    int fd = open(path, flags);
    if (fd < 0)
        return raw_open_error(drv, path, st->readonly, st->direct, errno);
    st->fd = fd;
    st->open = true;
    if ((rc = raw_probe(drv, st)) < 0 || (rc = raw_lock(drv, st)) < 0)
        return rc;
    if (st->direct) {
        void *p = NULL;
        if (posix_memalign(&p, RAW_MEM_ALIGN, RAW_BOUNCE_SIZE) != 0)
            return modvm_drv_set_error(drv, -ENOMEM, "out of memory for the direct=on bounce buffer");
        st->bounce = p;
    }
    modvm_drv_log(drv, MODVM_LOG_INFO, "'%s': %" PRIu64 " bytes%s%s", path, st->size,
                  st->readonly ? ", read-only" : "", st->direct ? ", O_DIRECT" : "");
    return 0;
}

/* Driver destruct callback (modvm_drvreg.destruct): closes what construct opened (the lock goes
 * with the descriptor). */
static void raw_destruct(struct modvm_drv *drv)
{
    struct raw_state *st = drv->data;
    if (st->open)
        close(st->fd);
    st->open = false;
    free(st->bounce);
    st->bounce = NULL;
}

/* Driver query_interface callback (modvm_drvreg.query_interface): only the block interface. */
static const void *raw_query_interface(struct modvm_drv *drv, const char *iface)
{
    (void)drv;
    return strcmp(iface, MODVM_IFACE_BLOCK) == 0 ? &raw_block_conn : NULL;
}

static const struct modvm_drvreg raw_reg = {
    .version = MODVM_DRVREG_VERSION,
    .name = "raw",
    .description = "raw disk image: a file or a host block device",
    .iface = MODVM_IFACE_BLOCK,
    .instance_size = sizeof(struct raw_state),
    .options = raw_options,
    .construct = raw_construct,
    .destruct = raw_destruct,
    .query_interface = raw_query_interface,
    .version_end = MODVM_DRVREG_VERSION,
};

/* Plugin entry (modvm_plugin_desc.register_types): checks the registrar, registers the driver. */
static int raw_register(const struct modvm_registrar *reg)
{
    if (MODVM_VERSION_MAGIC(reg->version) != MODVM_VERSION_MAGIC(MODVM_REGISTRAR_VERSION) ||
        MODVM_VERSION_MAJOR(reg->version) != MODVM_VERSION_MAJOR(MODVM_REGISTRAR_VERSION))
        return -EINVAL;
    return reg->register_driver(reg, &raw_reg);
}

MODVM_PLUGIN(.name = "raw", .plugin_version = "1.0.0", .license = "MIT",
             .description = "raw disk images (files and block devices)", .register_types = raw_register);
