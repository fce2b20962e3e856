/* plugins/storage/virtio-blk/virtio-blk.c — device "virtio-blk": a disk on the core's virtio-pci
 * transport, its data from the block driver at LUN 0 (e.g. "raw").
 *
 * Spec: Virtual I/O Device (VIRTIO) Version 1.2, §5.2 "Block Device": device ID 2, one request queue,
 * features SEG_MAX, BLK_SIZE, FLUSH, RO (when the backend is read-only), DISCARD, WRITE_ZEROES;
 * config space struct virtio_blk_config up to write_zeroes_may_unmap (§5.2.4); requests (§5.2.6)
 * T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WRITE_ZEROES; anything else answers UNSUPP. The
 * transport (virtio.h) does the PCI side, feature negotiation and all virtqueue validation.
 *
 * A request is a chain: a 16-byte device-readable header {le32 type; le32 reserved; le64 sector},
 * then data (device-readable for writes, device-writable for reads), then one device-writable status
 * byte — the last byte of the device-writable part. Buffer boundaries do not matter (any layout):
 * the device reads and writes through chain_read/chain_write at byte offsets.
 *
 * Attacker model: the header, every length and every sector number come from the guest. A chain
 * without a whole header or without a writable status byte is a broken driver: the device asks for a
 * reset (DEVICE_NEEDS_RESET) rather than guessing. Everything else is answered per request: data
 * lengths not a multiple of 512, sector ranges outside the disk (checked without overflow), writes
 * to a read-only disk, too many or too large discard segments → VIRTIO_BLK_S_IOERR; unknown types
 * and flags → VIRTIO_BLK_S_UNSUPP. Data moves through a fixed bounce buffer, so a request's size
 * never drives an allocation. I/O is synchronous (drv.h's block interface): the request completes
 * before the notify returns.
 *
 * Cache: with VIRTIO_BLK_F_FLUSH negotiated the disk is write-back and the driver sends flushes;
 * without it (old drivers) every write is followed by a flush, i.e. write-through (§5.2.6.2). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/drv.h>
#include <modvm/pdm.h>
#include <modvm/plugin.h>
#include <modvm/virtio.h>

/* ---- the protocol (§5.2) ------------------------------------------------------------------------- */

#define VIRTIO_ID_BLOCK 2u

#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN 0u
#define VIRTIO_BLK_T_OUT 1u
#define VIRTIO_BLK_T_FLUSH 4u
#define VIRTIO_BLK_T_GET_ID 8u
#define VIRTIO_BLK_T_DISCARD 11u
#define VIRTIO_BLK_T_WRITE_ZEROES 13u

#define VIRTIO_BLK_S_OK 0u
#define VIRTIO_BLK_S_IOERR 1u
#define VIRTIO_BLK_S_UNSUPP 2u

#define VIRTIO_BLK_ID_BYTES 20u
#define VIRTIO_BLK_DWZ_F_UNMAP 0x1u

/* Offsets in struct virtio_blk_config (§5.2.4). */
#define VBLK_CFG_CAPACITY 0u
#define VBLK_CFG_SEG_MAX 12u
#define VBLK_CFG_BLK_SIZE 20u
#define VBLK_CFG_MAX_DISCARD_SECTORS 36u
#define VBLK_CFG_MAX_DISCARD_SEG 40u
#define VBLK_CFG_DISCARD_ALIGNMENT 44u
#define VBLK_CFG_MAX_WZ_SECTORS 48u
#define VBLK_CFG_MAX_WZ_SEG 52u
#define VBLK_CFG_WZ_MAY_UNMAP 56u
#define VBLK_CFG_SIZE 60u /* through unused1[3]; the secure-erase fields are not offered */

/* ---- this device's limits ------------------------------------------------------------------------ */

#define VBLK_SECTOR 512u
#define VBLK_QUEUE_SIZE 256u
#define VBLK_SEG_MAX (VBLK_QUEUE_SIZE - 2u)     /* data buffers beside header and status */
#define VBLK_HDR_BYTES 16u
#define VBLK_DWZ_BYTES 16u                      /* struct virtio_blk_discard_write_zeroes */
#define VBLK_MAX_DISCARD_SECTORS (1u << 22)     /* 2 GiB per segment */
#define VBLK_MAX_DISCARD_SEG 32u
#define VBLK_MAX_WZ_SECTORS (1u << 16)          /* 32 MiB per segment: zeroes are written */
#define VBLK_MAX_WZ_SEG 1u
#define VBLK_BOUNCE_BYTES (128u * 1024u)        /* data moved per backend call */

/* The instance data (dev->data, zeroed by the core). */
struct vblk_state {
    struct modvm_dev *dev;
    const struct modvm_virtio_hlp *virtio;
    modvm_virtio_handle vh;
    struct modvm_drv *drv;
    const struct modvm_block_conn *disk;
    uint64_t capacity;   /* in 512-byte sectors */
    bool read_only;
    char serial[VIRTIO_BLK_ID_BYTES]; /* NUL-padded, not terminated when 20 long */
    uint8_t *bounce;     /* VBLK_BOUNCE_BYTES */
    struct modvm_virtio_buf bufs[VBLK_QUEUE_SIZE];
};

static const struct modvm_cfg_option vblk_options[] = {
    {.name = "addr", .type = MODVM_CFG_STRING, .default_value = "auto",
     .help = "PCI slot: auto, SLOT or SLOT.FUNCTION (e.g. 5 or 0x5.0)"},
    {.name = "serial", .type = MODVM_CFG_STRING, .default_value = NULL,
     .help = "the disk's serial number, up to 20 characters (VIRTIO_BLK_T_GET_ID)"},
    {.name = NULL},
};

/* ---- little-endian helpers ----------------------------------------------------------------------- */

/* The little-endian 32-bit value at p (guest data, any alignment). */
static uint32_t vblk_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The little-endian 64-bit value at p. */
static uint64_t vblk_le64(const uint8_t *p)
{
    return (uint64_t)vblk_le32(p) | (uint64_t)vblk_le32(p + 4) << 32;
}

/* ---- requests ------------------------------------------------------------------------------------ */

/* True when [sector, sector + count) lies inside the disk (overflow-safe). */
static bool vblk_range_ok(const struct vblk_state *s, uint64_t sector, uint64_t count)
{
    return sector <= s->capacity && count <= s->capacity - sector;
}

/* T_IN: disk → the chain's writable part (before the status byte). *written counts data bytes. */
static uint8_t vblk_do_read(struct vblk_state *s, const struct modvm_virtio_chain *c, uint64_t sector,
                            uint64_t *written)
{
    uint64_t len = c->in_len - 1;
    if (len % VBLK_SECTOR != 0 || !vblk_range_ok(s, sector, len / VBLK_SECTOR)) {
        modvm_dev_guest_error(s->dev, "read of %" PRIu64 " bytes at sector %" PRIu64 " (capacity %" PRIu64
                              " sectors)", len, sector, s->capacity);
        return VIRTIO_BLK_S_IOERR;
    }
    for (uint64_t done = 0; done < len;) {
        size_t n = len - done < VBLK_BOUNCE_BYTES ? (size_t)(len - done) : VBLK_BOUNCE_BYTES;
        if (s->disk->read(s->drv, sector * VBLK_SECTOR + done, s->bounce, n) < 0)
            return VIRTIO_BLK_S_IOERR;
        if (s->virtio->chain_write(s->dev, c, done, s->bounce, n) < 0)
            return VIRTIO_BLK_S_IOERR;
        done += n;
        *written = done;
    }
    return VIRTIO_BLK_S_OK;
}

/* T_OUT: the chain's readable part after the header → disk. */
static uint8_t vblk_do_write(struct vblk_state *s, const struct modvm_virtio_chain *c, uint64_t sector,
                             bool writeback)
{
    uint64_t len = c->out_len - VBLK_HDR_BYTES;
    if (s->read_only)
        return VIRTIO_BLK_S_IOERR; /* §5.2.6.2: IOERR, and write nothing */
    if (len % VBLK_SECTOR != 0 || !vblk_range_ok(s, sector, len / VBLK_SECTOR)) {
        modvm_dev_guest_error(s->dev, "write of %" PRIu64 " bytes at sector %" PRIu64 " (capacity %" PRIu64
                              " sectors)", len, sector, s->capacity);
        return VIRTIO_BLK_S_IOERR;
    }
    for (uint64_t done = 0; done < len;) {
        size_t n = len - done < VBLK_BOUNCE_BYTES ? (size_t)(len - done) : VBLK_BOUNCE_BYTES;
        if (s->virtio->chain_read(s->dev, c, VBLK_HDR_BYTES + done, s->bounce, n) < 0)
            return VIRTIO_BLK_S_IOERR;
        if (s->disk->write(s->drv, sector * VBLK_SECTOR + done, s->bounce, n) < 0)
            return VIRTIO_BLK_S_IOERR;
        done += n;
    }
    if (!writeback && len > 0 && s->disk->flush(s->drv) < 0)
        return VIRTIO_BLK_S_IOERR;
    return VIRTIO_BLK_S_OK;
}

/* T_GET_ID: the serial, NUL-padded, into at most 20 bytes of the writable part. */
static uint8_t vblk_do_get_id(struct vblk_state *s, const struct modvm_virtio_chain *c, uint64_t *written)
{
    uint64_t room = c->in_len - 1;
    size_t n = room < VIRTIO_BLK_ID_BYTES ? (size_t)room : VIRTIO_BLK_ID_BYTES;
    if (s->virtio->chain_write(s->dev, c, 0, s->serial, n) < 0)
        return VIRTIO_BLK_S_IOERR;
    *written = n;
    return VIRTIO_BLK_S_OK;
}

/* Writes `sectors` zero sectors at `sector`. */
static int vblk_write_zeroes(struct vblk_state *s, uint64_t sector, uint64_t sectors)
{
    memset(s->bounce, 0, VBLK_BOUNCE_BYTES);
    uint64_t len = sectors * VBLK_SECTOR;
    for (uint64_t done = 0; done < len;) {
        size_t n = len - done < VBLK_BOUNCE_BYTES ? (size_t)(len - done) : VBLK_BOUNCE_BYTES;
        int rc = s->disk->write(s->drv, sector * VBLK_SECTOR + done, s->bounce, n);
        if (rc < 0)
            return rc;
        done += n;
    }
    return 0;
}

/* T_DISCARD and T_WRITE_ZEROES: an array of {le64 sector; le32 num_sectors; le32 flags} segments
 * after the header (§5.2.6). Every segment is checked before any is carried out. */
static uint8_t vblk_do_dwz(struct vblk_state *s, const struct modvm_virtio_chain *c, bool discard, bool writeback)
{
    uint64_t len = c->out_len - VBLK_HDR_BYTES;
    uint32_t max_seg = discard ? VBLK_MAX_DISCARD_SEG : VBLK_MAX_WZ_SEG;
    uint32_t max_sectors = discard ? VBLK_MAX_DISCARD_SECTORS : VBLK_MAX_WZ_SECTORS;
    uint8_t segs[VBLK_MAX_DISCARD_SEG * VBLK_DWZ_BYTES];
    if (s->read_only)
        return VIRTIO_BLK_S_IOERR;
    if (len == 0 || len % VBLK_DWZ_BYTES != 0 || len / VBLK_DWZ_BYTES > max_seg) {
        modvm_dev_guest_error(s->dev, "%s request with %" PRIu64 " bytes of segments (at most %u segments)",
                              discard ? "discard" : "write-zeroes", len, max_seg);
        return VIRTIO_BLK_S_IOERR;
    }
    unsigned nseg = (unsigned)(len / VBLK_DWZ_BYTES);
    if (s->virtio->chain_read(s->dev, c, VBLK_HDR_BYTES, segs, len) < 0)
        return VIRTIO_BLK_S_IOERR;
    for (unsigned i = 0; i < nseg; i++) {
        const uint8_t *p = segs + i * VBLK_DWZ_BYTES;
        uint64_t sector = vblk_le64(p);
        uint32_t count = vblk_le32(p + 8), flags = vblk_le32(p + 12);
        /* §5.2.6.2: unknown flags, or unmap on a discard, are UNSUPP */
        if ((flags & ~VIRTIO_BLK_DWZ_F_UNMAP) || (discard && (flags & VIRTIO_BLK_DWZ_F_UNMAP)))
            return VIRTIO_BLK_S_UNSUPP;
        if (count > max_sectors || !vblk_range_ok(s, sector, count))
            return VIRTIO_BLK_S_IOERR;
    }
    for (unsigned i = 0; i < nseg; i++) {
        const uint8_t *p = segs + i * VBLK_DWZ_BYTES;
        uint64_t sector = vblk_le64(p);
        uint32_t count = vblk_le32(p + 8);
        if (discard) {
            /* a hint: a backend that cannot free space has still done what was asked */
            int rc = s->disk->discard ? s->disk->discard(s->drv, sector * VBLK_SECTOR, (uint64_t)count * VBLK_SECTOR)
                                      : -EOPNOTSUPP;
            if (rc < 0 && rc != -EOPNOTSUPP)
                return VIRTIO_BLK_S_IOERR;
        } else if (vblk_write_zeroes(s, sector, count) < 0) {
            return VIRTIO_BLK_S_IOERR;
        }
    }
    if (!discard && !writeback && s->disk->flush(s->drv) < 0)
        return VIRTIO_BLK_S_IOERR;
    return VIRTIO_BLK_S_OK;
}

/* Handles one chain: validates the framing, runs the request, writes the status byte and pushes the
 * chain. Returns 0, or a negative errno when the chain is unusable or the transport refused it. */
static int vblk_handle(struct vblk_state *s, const struct modvm_virtio_chain *c)
{
    uint8_t hdr[VBLK_HDR_BYTES];
    if (c->out_len < VBLK_HDR_BYTES || c->in_len < 1) {
        modvm_dev_guest_error(s->dev, "request chain %u without a %u-byte header or a status byte (readable %"
                              PRIu64 ", writable %" PRIu64 " bytes)", c->head, VBLK_HDR_BYTES, c->out_len,
                              c->in_len);
        s->virtio->needs_reset(s->dev, s->vh);
        return -EINVAL;
    }
    if (s->virtio->chain_read(s->dev, c, 0, hdr, sizeof(hdr)) < 0) {
        s->virtio->needs_reset(s->dev, s->vh);
        return -EFAULT;
    }
    uint32_t type = vblk_le32(hdr);
    uint64_t sector = vblk_le64(hdr + 8);
    uint64_t features = s->virtio->features(s->dev, s->vh);
    bool writeback = (features >> VIRTIO_BLK_F_FLUSH) & 1u;
    uint64_t written = 0;
    uint8_t status;
    switch (type) {
    case VIRTIO_BLK_T_IN:
        status = vblk_do_read(s, c, sector, &written);
        break;
    case VIRTIO_BLK_T_OUT:
        status = vblk_do_write(s, c, sector, writeback);
        break;
    case VIRTIO_BLK_T_FLUSH:
        status = s->disk->flush(s->drv) < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
        break;
    case VIRTIO_BLK_T_GET_ID:
        status = vblk_do_get_id(s, c, &written);
        break;
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES: {
        int bit = type == VIRTIO_BLK_T_DISCARD ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES;
        status = (features >> bit) & 1u ? vblk_do_dwz(s, c, type == VIRTIO_BLK_T_DISCARD, writeback)
                                        : VIRTIO_BLK_S_UNSUPP;
        break;
    }
    default:
        status = VIRTIO_BLK_S_UNSUPP;
        break;
    }
    /* The status byte is the last device-writable byte (§5.2.6). */
    if (s->virtio->chain_write(s->dev, c, c->in_len - 1, &status, 1) < 0) {
        s->virtio->needs_reset(s->dev, s->vh);
        return -EFAULT;
    }
    return s->virtio->queue_push(s->dev, s->vh, 0, c, (uint32_t)(written + 1));
}

/* modvm_virtio_dev.queue_notify: the driver kicked the request queue. Serves every available chain,
 * then interrupts the guest once (if it wants one). A transport error stops the loop: the device is
 * in DEVICE_NEEDS_RESET until the driver resets it. */
static void vblk_queue_notify(struct modvm_dev *dev, void *user, unsigned queue)
{
    struct vblk_state *s = user;
    (void)dev;
    if (queue != 0)
        return;
    bool pushed = false;
    for (;;) {
        struct modvm_virtio_chain c = {.bufs = s->bufs, .max_bufs = VBLK_QUEUE_SIZE};
        int rc = s->virtio->queue_pop(s->dev, s->vh, 0, &c);
        if (rc <= 0)
            break;
        if (vblk_handle(s, &c) < 0)
            break;
        pushed = true;
    }
    if (pushed)
        (void)s->virtio->queue_notify_guest(s->dev, s->vh, 0);
}

/* modvm_virtio_dev.config_read: struct virtio_blk_config, little-endian, any width at any offset
 * (the transport bounds offset + size by VBLK_CFG_SIZE). */
static uint32_t vblk_config_read(struct modvm_dev *dev, void *user, uint32_t offset, unsigned size)
{
    struct vblk_state *s = user;
    (void)dev;
    uint8_t cfg[VBLK_CFG_SIZE] = {0};
    uint32_t v32;
    for (unsigned i = 0; i < 8; i++)
        cfg[VBLK_CFG_CAPACITY + i] = (uint8_t)(s->capacity >> (8 * i));
    const struct { uint32_t off, val; } fields[] = {
        {VBLK_CFG_SEG_MAX, VBLK_SEG_MAX},
        {VBLK_CFG_BLK_SIZE, VBLK_SECTOR},
        {VBLK_CFG_MAX_DISCARD_SECTORS, VBLK_MAX_DISCARD_SECTORS},
        {VBLK_CFG_MAX_DISCARD_SEG, VBLK_MAX_DISCARD_SEG},
        {VBLK_CFG_DISCARD_ALIGNMENT, 1}, /* in sectors: any sector */
        {VBLK_CFG_MAX_WZ_SECTORS, VBLK_MAX_WZ_SECTORS},
        {VBLK_CFG_MAX_WZ_SEG, VBLK_MAX_WZ_SEG},
    };
    for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
        for (unsigned i = 0; i < 4; i++)
            cfg[fields[f].off + i] = (uint8_t)(fields[f].val >> (8 * i));
    cfg[VBLK_CFG_WZ_MAY_UNMAP] = 0;
    if (offset >= VBLK_CFG_SIZE || size > 4 || size > VBLK_CFG_SIZE - offset)
        return 0;
    v32 = 0;
    for (unsigned i = 0; i < size; i++)
        v32 |= (uint32_t)cfg[offset + i] << (8 * i);
    return v32;
}

/* modvm_virtio_dev.config_write: the block config is read-only without CONFIG_WCE (not offered). */
static void vblk_config_write(struct modvm_dev *dev, void *user, uint32_t offset, uint32_t value, unsigned size)
{
    (void)user;
    (void)value;
    modvm_dev_guest_error(dev, "%u-byte write to read-only config offset %u", size, offset);
}

/* modvm_virtio_dev.status_changed: nothing is ever in flight between notifies (synchronous I/O). */
static void vblk_status_changed(struct modvm_dev *dev, void *user, bool running)
{
    (void)user;
    modvm_dev_log(dev, MODVM_LOG_DEBUG, "driver %s", running ? "ready" : "reset the device");
}

/* ---- lifecycle ----------------------------------------------------------------------------------- */

/* Parses option `addr`: "auto" → -1, else SLOT[.FUNCTION] (decimal or 0x hex) → devfn. */
static int vblk_parse_addr(struct modvm_dev *dev, const char *text, int32_t *devfn)
{
    if (strcmp(text, "auto") == 0) {
        *devfn = -1;
        return 0;
    }
    char *end;
    unsigned long slot = strtoul(text, &end, 0), fn = 0;
    bool ok = end != text && *text != '-' && *text != '+';
    if (ok && *end == '.') {
        const char *f = end + 1;
        fn = strtoul(f, &end, 0);
        ok = end != f && *f != '-' && *f != '+';
    }
    if (!ok || *end != '\0' || slot > 31 || fn > 7)
        return modvm_dev_set_error(dev, -EINVAL, "option 'addr' must be auto, a slot 0-31 or SLOT.FUNCTION "
                                                 "(function 0-7), got '%s'", text);
    *devfn = (int32_t)(slot << 3 | fn);
    return 0;
}

/* Attaches the block driver at LUN 0 and reads the disk's geometry. */
static int vblk_attach_disk(struct modvm_dev *dev, struct vblk_state *s)
{
    const void *down = NULL;
    int rc = modvm_dev_driver_attach(dev, 0, MODVM_IFACE_BLOCK, NULL, s, &s->drv, &down);
    if (rc == -ENOENT)
        return modvm_dev_set_error(dev, -EINVAL, "no disk attached: give one with --disk PATH (a block driver "
                                                 "such as 'raw' at LUN#0)");
    if (rc < 0)
        return rc;
    s->disk = down;
    if (!MODVM_VERSION_ARE_COMPATIBLE(MODVM_BLOCK_CONN_VERSION, s->disk->version) || !s->disk->size ||
        !s->disk->read || !s->disk->write || !s->disk->flush)
        return modvm_dev_set_error(dev, -EINVAL, "the disk driver's block interface is incomplete or of another "
                                                 "version");
    uint64_t bytes = s->disk->size(s->drv);
    s->capacity = bytes / VBLK_SECTOR;
    s->read_only = s->disk->read_only && s->disk->read_only(s->drv);
    if (s->capacity == 0)
        return modvm_dev_set_error(dev, -EINVAL, "the disk is empty (%" PRIu64 " bytes)", bytes);
    return 0;
}

/* Reads option `serial` into the 20-byte ID. */
static int vblk_read_serial(struct modvm_dev *dev, struct vblk_state *s)
{
    const char *serial = NULL;
    int rc = modvm_dev_cfg_string(dev, "serial", &serial);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return modvm_dev_set_error(dev, rc, "cannot read option 'serial'");
    if (strlen(serial) > VIRTIO_BLK_ID_BYTES)
        return modvm_dev_set_error(dev, -EINVAL, "option 'serial' is longer than %u characters: '%s'",
                                   VIRTIO_BLK_ID_BYTES, serial);
    memcpy(s->serial, serial, strlen(serial));
    return 0;
}

/* Device construct callback (modvm_devreg.construct): options, disk, then the virtio function. */
static int vblk_construct(struct modvm_dev *dev)
{
    struct vblk_state *s = dev->data;
    s->dev = dev;
    s->virtio = modvm_virtio_hlp(dev);
    if (!s->virtio)
        return modvm_dev_set_error(dev, -ENOSYS, "this modvm core has no virtio transport (%s)", MODVM_IFACE_VIRTIO);
    const char *addr;
    int32_t devfn = -1;
    int rc = modvm_dev_cfg_string(dev, "addr", &addr);
    if (rc < 0)
        return modvm_dev_set_error(dev, rc, "cannot read option 'addr'");
    if ((rc = vblk_parse_addr(dev, addr, &devfn)) < 0 || (rc = vblk_read_serial(dev, s)) < 0 ||
        (rc = vblk_attach_disk(dev, s)) < 0)
        return rc;
    s->bounce = malloc(VBLK_BOUNCE_BYTES);
    if (!s->bounce)
        return modvm_dev_set_error(dev, -ENOMEM, "out of memory");

    uint64_t features = 1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE | 1ull << VIRTIO_BLK_F_FLUSH;
    if (s->read_only)
        features |= 1ull << VIRTIO_BLK_F_RO;
    else
        features |= 1ull << VIRTIO_BLK_F_DISCARD | 1ull << VIRTIO_BLK_F_WRITE_ZEROES;
    const struct modvm_virtio_dev desc = {
        .version = MODVM_VIRTIO_DEV_VERSION,
        .device_type = VIRTIO_ID_BLOCK,
        .num_queues = 1,
        .queue_max_size = VBLK_QUEUE_SIZE,
        .config_size = VBLK_CFG_SIZE,
        .device_features = features,
        .devfn = devfn,
        .config_read = vblk_config_read,
        .config_write = vblk_config_write,
        .queue_notify = vblk_queue_notify,
        .status_changed = vblk_status_changed,
    };
    if ((rc = s->virtio->device_register(dev, &desc, s, &s->vh)) < 0)
        return rc;
    modvm_dev_log(dev, MODVM_LOG_INFO, "%" PRIu64 " sectors%s", s->capacity, s->read_only ? ", read-only" : "");
    return 0;
}

/* Device destruct callback (modvm_devreg.destruct): copes with a construct that stopped anywhere. */
static void vblk_destruct(struct modvm_dev *dev)
{
    struct vblk_state *s = dev->data;
    if (s->virtio && s->vh)
        s->virtio->device_unregister(dev, s->vh);
    s->vh = NULL;
    free(s->bounce);
    s->bounce = NULL;
}

/* Device reset callback (modvm_devreg.reset): the VM resets; so does the transport. */
static void vblk_reset(struct modvm_dev *dev)
{
    struct vblk_state *s = dev->data;
    if (s->virtio && s->vh)
        s->virtio->device_reset(dev, s->vh);
}

static const struct modvm_devreg vblk_reg = {
    .version = MODVM_DEVREG_VERSION,
    .name = "virtio-blk",
    .description = "virtio block device (virtio-pci, transitional)",
    .family = MODVM_DEV_FAMILY_STORAGE,
    .instance_size = sizeof(struct vblk_state),
    .options = vblk_options,
    .construct = vblk_construct,
    .destruct = vblk_destruct,
    .reset = vblk_reset,
    .version_end = MODVM_DEVREG_VERSION,
};

/* Plugin entry (modvm_plugin_desc.register_types): checks the registrar, registers the device. */
static int vblk_register(const struct modvm_registrar *reg)
{
    if (MODVM_VERSION_MAGIC(reg->version) != MODVM_VERSION_MAGIC(MODVM_REGISTRAR_VERSION) ||
        MODVM_VERSION_MAJOR(reg->version) != MODVM_VERSION_MAJOR(MODVM_REGISTRAR_VERSION))
        return -EINVAL;
    return reg->register_device(reg, &vblk_reg);
}

MODVM_PLUGIN(.name = "virtio-blk", .plugin_version = "1.0.0", .license = "MIT",
             .description = "virtio block device", .register_types = vblk_register);
