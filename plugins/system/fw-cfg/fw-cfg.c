/* fw-cfg.c — QEMU's firmware configuration device (fw_cfg) on its x86 ports, as a modvm plugin.
 *
 * Spec: QEMU docs/specs/fw_cfg.rst ("QEMU Firmware Configuration (fw_cfg) Device"), and what its
 * consumers read: SeaBIOS src/fw/paravirt.c (detection, the file directory, etc/e820 before RAM is
 * set up, the legacy items it still probes), Linux drivers/firmware/qemu_fw_cfg.c.
 *
 * Interface:
 *   0x510  selector (16-bit write): picks an item and rewinds it
 *   0x511  data (8-bit read): the selected item's next byte; 0 past its end or for an unknown item
 *   0x514  DMA address (8 ports, big-endian): a 32-bit write to 0x514 latches the high half, one to
 *          0x518 the low half and runs the transfer the FWCfgDmaAccess at that address describes;
 *          reads give the signature "QEMU CFG"
 * Items: 0x00 "QEMU", 0x01 features (bit 0 traditional, bit 1 DMA), 0x02 UUID, 0x03 RAM size (le64),
 * 0x04 no-graphic (le16), 0x05 CPUs (le16), 0x0e boot menu (le16), 0x0f max CPUs (le16), 0x19 the
 * file directory (be32 count; {be32 size, be16 select, be16 reserved, char name[56]} each), 0x20+
 * the files in name order, 0x8002 IRQ0 override (le32). The files are the VM's firmware files
 * (modvm/fw.h: ACPI tables and the e820 map from the core, others from plugins) plus those this
 * device adds: etc/sercon-port, bootorder (from the option of that name, which `modvm run --boot`
 * fills in), etc/boot-fail-wait and the SMBIOS tables. The directory
 * is a snapshot taken when the guest first selects it or a file — after every device was built —
 * and kept for the life of the VM, as QEMU's is.
 *
 * Attacker model: every port access and every DMA descriptor comes from the guest. A descriptor is
 * copied out of guest memory before it is looked at; its address range must not wrap and must be
 * RAM (the core's DMA helpers refuse ROM, MMIO and unbacked space, so a transfer never re-enters a
 * device); a read never copies more than the item holds plus FWCFG_DMA_ZERO_MAX zero bytes past its
 * end (QEMU would zero any length: a hostile length of 4 GiB would make us clear 4 GiB); writes to
 * items are not supported and answer the error bit. Offsets are bounded by the item's length at
 * every use. Saved state is checked against the items before it is used. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/fw.h>
#include <modvm/pdm.h>
#include <modvm/plugin.h>

#include "fw-cfg.h"

/* ---- the interface ------------------------------------------------------------------------------ */

#define FWCFG_PORT_CTL 0x510u /* selector; data at +1 */
#define FWCFG_NPORTS_CTL 2u
#define FWCFG_PORT_DMA 0x514u /* high half; low half at +4 */
#define FWCFG_NPORTS_DMA 8u

#define FWCFG_KEY_SIGNATURE 0x00u
#define FWCFG_KEY_ID 0x01u
#define FWCFG_KEY_UUID 0x02u
#define FWCFG_KEY_RAM_SIZE 0x03u
#define FWCFG_KEY_NOGRAPHIC 0x04u
#define FWCFG_KEY_NB_CPUS 0x05u
#define FWCFG_KEY_BOOT_MENU 0x0eu
#define FWCFG_KEY_MAX_CPUS 0x0fu
#define FWCFG_KEY_FILE_DIR 0x19u
#define FWCFG_KEY_FILE_FIRST 0x20u
#define FWCFG_KEY_ARCH_LOCAL 0x8000u
#define FWCFG_KEY_WRITE_CHANNEL 0x4000u /* ignored: selects the same item */
#define FWCFG_KEY_INDEX_MASK 0x3fffu
#define FWCFG_KEY_IRQ0_OVERRIDE (FWCFG_KEY_ARCH_LOCAL | 0x02u)

#define FWCFG_ID_TRADITIONAL 0x1u
#define FWCFG_ID_DMA 0x2u

#define FWCFG_DMA_CTL_ERROR 0x01u
#define FWCFG_DMA_CTL_READ 0x02u
#define FWCFG_DMA_CTL_SKIP 0x04u
#define FWCFG_DMA_CTL_SELECT 0x08u
#define FWCFG_DMA_CTL_WRITE 0x10u
#define FWCFG_DMA_DESC_SIZE 16u        /* be32 control, be32 length, be64 address */
#define FWCFG_DMA_ZERO_MAX (64u << 10) /* zero bytes a read may ask for past an item's end */

#define FWCFG_DIR_ENTRY_SIZE 64u
#define FWCFG_NAME_SIZE 56u
/* Files the directory lists at most; the selector space would allow 0x3fe0. */
#define FWCFG_MAX_FILES 1024u
#define FWCFG_MAX_CPUS FWCFG_SMBIOS_MAX_CPUS
#define FWCFG_MAX_BOOT_ENTRIES 64u
#define FWCFG_MAX_BOOT_PATH 256u
#define FWCFG_SAVED_STATE_V1 1u

static const char fwcfg_signature[4] = {'Q', 'E', 'M', 'U'};
static const char fwcfg_dma_signature[8] = {'Q', 'E', 'M', 'U', ' ', 'C', 'F', 'G'};

/* ---- state -------------------------------------------------------------------------------------- */

/* One entry of the directory snapshot. Data belongs to the core's file set (valid for the VM's
 * life even if the file is replaced later). */
struct fwcfg_file {
    char name[FWCFG_NAME_SIZE];
    const uint8_t *data;
    uint32_t len;
};

/* The instance data (dev->data, zeroed by the core). */
struct fwcfg_state {
    struct modvm_dev *dev;
    const struct modvm_fw_hlp *fw;
    /* configuration, fixed after construct */
    bool dma_enabled;
    const char *bootorder; /* the `bootorder` option, resolved when the directory is built */
    /* the fixed items, in their wire format */
    uint8_t id[4], uuid[16], ram_size[8], nographic[2], nb_cpus[2], boot_menu[2], max_cpus[2], irq0[4];
    /* the directory snapshot */
    bool dir_built;
    struct fwcfg_file *files;
    uint32_t nfiles;
    uint8_t *dir;
    uint32_t dir_len;
    /* guest-visible state */
    uint16_t cur_key;
    uint32_t cur_offset;
    uint64_t dma_addr; /* the high half latched by a write to 0x514 */
    modvm_pio_handle pio_ctl, pio_dma;
};

/* ---- small helpers ------------------------------------------------------------------------------ */

/* Stores `v` little-endian in `bytes` bytes. */
static void fwcfg_put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Stores `v` big-endian in `bytes` bytes. */
static void fwcfg_put_be(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

/* Reads `bytes` big-endian bytes. */
static uint64_t fwcfg_get_be(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Reverses the bytes of a 32-bit port value: the DMA address registers are big-endian. */
static uint32_t fwcfg_bswap32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

/* ---- the directory ------------------------------------------------------------------------------ */

/* Walks the whitespace-separated entries of the `bootorder` option; calls `fn` on each. Returns
 * false as soon as `fn` does. */
static bool fwcfg_bootorder_walk(const char *spec, bool (*fn)(void *ctx, const char *tok, size_t len), void *ctx)
{
    const char *p = spec;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        size_t len = strcspn(p, " \t\n");
        if (len && !fn(ctx, p, len))
            return false;
        p += len;
    }
    return true;
}

/* Checks one bootorder entry at construct: an OpenFirmware device path ("/pci@i0cf8/scsi@4/disk@0,0"),
 * printable, below 256 characters. */
static bool fwcfg_bootorder_check(void *ctx, const char *tok, size_t len)
{
    unsigned *count = ctx;
    (*count)++;
    if (*count > FWCFG_MAX_BOOT_ENTRIES || tok[0] != '/' || len >= FWCFG_MAX_BOOT_PATH)
        return false;
    for (size_t i = 0; i < len; i++)
        if (tok[i] <= ' ' || tok[i] > '~')
            return false;
    return true;
}

/* The bootorder file being assembled. */
struct fwcfg_bootorder_build {
    char *text;
    size_t len, cap;
};

/* Appends one entry (a line) to the bootorder text. */
static bool fwcfg_bootorder_add(void *ctx, const char *tok, size_t plen)
{
    struct fwcfg_bootorder_build *b = ctx;
    if (b->len + plen + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + plen + 2)
            cap *= 2;
        char *t = realloc(b->text, cap);
        if (!t)
            return false;
        b->text = t;
        b->cap = cap;
    }
    if (b->len)
        b->text[b->len++] = '\n';
    memcpy(b->text + b->len, tok, plen);
    b->len += plen;
    b->text[b->len] = '\0';
    return true;
}

/* Adds "bootorder" from the option: entries joined by newlines, NUL-terminated (QEMU's format,
 * which SeaBIOS's loadBootOrder splits at the newlines). */
static int fwcfg_add_bootorder(struct modvm_dev *dev, struct fwcfg_state *s)
{
    if (!s->bootorder || !*s->bootorder)
        return 0;
    struct fwcfg_bootorder_build b = {0};
    int rc = fwcfg_bootorder_walk(s->bootorder, fwcfg_bootorder_add, &b) ? 0 : -ENOMEM;
    if (rc == 0 && b.len)
        rc = s->fw->file_add(dev, "bootorder", b.text, b.len + 1);
    free(b.text);
    return rc ? modvm_dev_set_error(dev, rc, "cannot add the bootorder file (error %d)", rc) : 0;
}

/* Takes the directory snapshot (once): every firmware file in name order. Called on the guest's
 * first selection of the directory or a file, when every device has added its files. */
static void fwcfg_build_dir(struct fwcfg_state *s)
{
    if (s->dir_built)
        return;
    s->dir_built = true;
    uint32_t n = 0;
    const char *name;
    const void *data;
    size_t len;
    while (n < FWCFG_MAX_FILES && s->fw->file_at(s->dev, n, &name, &data, &len) == 0)
        n++;
    if (s->fw->file_at(s->dev, n, &name, &data, &len) == 0)
        modvm_dev_log(s->dev, MODVM_LOG_WARN, "more than %u firmware files; the guest sees the first %u",
                      FWCFG_MAX_FILES, FWCFG_MAX_FILES);
    s->files = calloc(n ? n : 1, sizeof(*s->files));
    s->dir = calloc(1, 4 + (size_t)n * FWCFG_DIR_ENTRY_SIZE);
    if (!s->files || !s->dir) {
        free(s->files);
        free(s->dir);
        s->files = NULL;
        s->dir = NULL;
        s->nfiles = s->dir_len = 0;
        modvm_dev_log(s->dev, MODVM_LOG_ERROR, "out of memory for the file directory; the guest sees no files");
        return;
    }
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (s->fw->file_at(s->dev, i, &name, &data, &len) != 0 || len > UINT32_MAX || strlen(name) >= FWCFG_NAME_SIZE)
            continue;
        struct fwcfg_file *f = &s->files[kept];
        snprintf(f->name, sizeof(f->name), "%s", name);
        f->data = data;
        f->len = (uint32_t)len;
        uint8_t *e = s->dir + 4 + (size_t)kept * FWCFG_DIR_ENTRY_SIZE;
        fwcfg_put_be(e, f->len, 4);
        fwcfg_put_be(e + 4, FWCFG_KEY_FILE_FIRST + kept, 2);
        memcpy(e + 8, f->name, strlen(f->name));
        kept++;
    }
    s->nfiles = kept;
    fwcfg_put_be(s->dir, kept, 4);
    s->dir_len = 4 + kept * FWCFG_DIR_ENTRY_SIZE;
    modvm_dev_log(s->dev, MODVM_LOG_DEBUG, "file directory: %u files", kept);
}

/* ---- items -------------------------------------------------------------------------------------- */

/* The item `key` selects: its data and length. False for an item that does not exist (reads 0). */
static bool fwcfg_item(struct fwcfg_state *s, uint16_t key, const uint8_t **data, uint32_t *len)
{
    uint16_t index = key & FWCFG_KEY_INDEX_MASK;
    if (key & FWCFG_KEY_ARCH_LOCAL) {
        if (index != (FWCFG_KEY_IRQ0_OVERRIDE & FWCFG_KEY_INDEX_MASK))
            return false;
        *data = s->irq0;
        *len = sizeof(s->irq0);
        return true;
    }
    switch (index) {
    case FWCFG_KEY_SIGNATURE: *data = (const uint8_t *)fwcfg_signature; *len = sizeof(fwcfg_signature); return true;
    case FWCFG_KEY_ID: *data = s->id; *len = sizeof(s->id); return true;
    case FWCFG_KEY_UUID: *data = s->uuid; *len = sizeof(s->uuid); return true;
    case FWCFG_KEY_RAM_SIZE: *data = s->ram_size; *len = sizeof(s->ram_size); return true;
    case FWCFG_KEY_NOGRAPHIC: *data = s->nographic; *len = sizeof(s->nographic); return true;
    case FWCFG_KEY_NB_CPUS: *data = s->nb_cpus; *len = sizeof(s->nb_cpus); return true;
    case FWCFG_KEY_BOOT_MENU: *data = s->boot_menu; *len = sizeof(s->boot_menu); return true;
    case FWCFG_KEY_MAX_CPUS: *data = s->max_cpus; *len = sizeof(s->max_cpus); return true;
    default: break;
    }
    if (index != FWCFG_KEY_FILE_DIR && index < FWCFG_KEY_FILE_FIRST)
        return false;
    fwcfg_build_dir(s);
    if (index == FWCFG_KEY_FILE_DIR) {
        if (!s->dir)
            return false;
        *data = s->dir;
        *len = s->dir_len;
        return true;
    }
    if (index - FWCFG_KEY_FILE_FIRST >= s->nfiles)
        return false;
    const struct fwcfg_file *f = &s->files[index - FWCFG_KEY_FILE_FIRST];
    *data = f->data;
    *len = f->len;
    return true;
}

/* Selects an item and rewinds it (the selector register; also DMA's SELECT bit). */
static void fwcfg_select(struct fwcfg_state *s, uint16_t key)
{
    const uint8_t *data;
    uint32_t len;
    s->cur_key = key;
    s->cur_offset = 0;
    (void)fwcfg_item(s, key, &data, &len); /* builds the directory on a first file selection */
}

/* Bytes of the selected item left to read (0 for none), and where they start. */
static uint32_t fwcfg_remaining(struct fwcfg_state *s, const uint8_t **at)
{
    const uint8_t *data;
    uint32_t len;
    if (!fwcfg_item(s, s->cur_key, &data, &len) || s->cur_offset >= len)
        return 0;
    *at = data + s->cur_offset;
    return len - s->cur_offset;
}

/* The data register: the next byte of the selected item, 0 past its end. */
static uint8_t fwcfg_data_read(struct fwcfg_state *s)
{
    const uint8_t *at;
    if (fwcfg_remaining(s, &at) == 0)
        return 0;
    s->cur_offset++;
    return at[0];
}

/* ---- DMA ---------------------------------------------------------------------------------------- */

/* A DMA read of `length` bytes to guest `addr`: the item's bytes, then zeros past its end. Returns
 * the status bits for the descriptor. */
static uint32_t fwcfg_dma_read(struct fwcfg_state *s, uint64_t addr, uint32_t length)
{
    static const uint8_t zeros[4096];
    if (length == 0)
        return 0;
    if (addr + length < addr) {
        modvm_dev_guest_error(s->dev, "DMA read of %u bytes to 0x%llx wraps the address space", length,
                              (unsigned long long)addr);
        return FWCFG_DMA_CTL_ERROR;
    }
    const uint8_t *at = NULL;
    uint32_t avail = fwcfg_remaining(s, &at);
    uint32_t n = length < avail ? length : avail, zero = length - n;
    if (zero > FWCFG_DMA_ZERO_MAX) {
        modvm_dev_guest_error(s->dev, "DMA read of %u bytes from item 0x%x at offset %u runs %u bytes past its end",
                              length, s->cur_key, s->cur_offset, zero);
        return FWCFG_DMA_CTL_ERROR;
    }
    if (n && modvm_dev_phys_write(s->dev, addr, at, n) != 0) {
        modvm_dev_guest_error(s->dev, "DMA read to 0x%llx-0x%llx: not guest RAM", (unsigned long long)addr,
                              (unsigned long long)(addr + n - 1));
        return FWCFG_DMA_CTL_ERROR;
    }
    s->cur_offset += n;
    for (uint32_t done = 0; done < zero;) {
        uint32_t chunk = zero - done < sizeof(zeros) ? zero - done : (uint32_t)sizeof(zeros);
        if (modvm_dev_phys_write(s->dev, addr + n + done, zeros, chunk) != 0) {
            modvm_dev_guest_error(s->dev, "DMA read to 0x%llx: not guest RAM", (unsigned long long)(addr + n + done));
            return FWCFG_DMA_CTL_ERROR;
        }
        done += chunk;
    }
    return 0;
}

/* Writes the descriptor's control word (big-endian) back: 0 when done, or the error bit. */
static void fwcfg_dma_complete(struct fwcfg_state *s, uint64_t desc, uint32_t status)
{
    uint8_t be[4];
    fwcfg_put_be(be, status, 4);
    if (modvm_dev_phys_write(s->dev, desc, be, sizeof(be)) != 0)
        modvm_dev_guest_error(s->dev, "DMA descriptor at 0x%llx: cannot write its status", (unsigned long long)desc);
}

/* Runs the transfer described at guest address `desc` (a write of the low address half). */
static void fwcfg_dma_run(struct fwcfg_state *s, uint64_t desc)
{
    uint8_t raw[FWCFG_DMA_DESC_SIZE];
    if (desc + FWCFG_DMA_DESC_SIZE < desc || modvm_dev_phys_read(s->dev, desc, raw, sizeof(raw)) != 0) {
        modvm_dev_guest_error(s->dev, "DMA descriptor at 0x%llx is not in guest memory", (unsigned long long)desc);
        fwcfg_dma_complete(s, desc, FWCFG_DMA_CTL_ERROR);
        return;
    }
    /* the copy in `raw` is all we look at from here on */
    uint32_t control = (uint32_t)fwcfg_get_be(raw, 4);
    uint32_t length = (uint32_t)fwcfg_get_be(raw + 4, 4);
    uint64_t addr = fwcfg_get_be(raw + 8, 8);
    uint32_t status = 0;
    if (control & FWCFG_DMA_CTL_SELECT)
        fwcfg_select(s, (uint16_t)(control >> 16));
    if (control & FWCFG_DMA_CTL_READ) {
        status = fwcfg_dma_read(s, addr, length);
    } else if (control & FWCFG_DMA_CTL_WRITE) {
        /* no item is writable (QEMU's are only for ACPI's WRITE_POINTER, which modvm lacks) */
        if (length) {
            modvm_dev_guest_error(s->dev, "DMA write to item 0x%x: items are read-only", s->cur_key);
            status = FWCFG_DMA_CTL_ERROR;
        }
    } else if (control & FWCFG_DMA_CTL_SKIP) {
        const uint8_t *at;
        uint32_t avail = fwcfg_remaining(s, &at);
        s->cur_offset += length < avail ? length : avail;
    }
    fwcfg_dma_complete(s, desc, status);
}

/* ---- port handlers ------------------------------------------------------------------------------ */

/* Selector/data ports, in (modvm_pio_in_fn): a byte read at either port is the data register, as
 * QEMU's combined port does; the selector is write-only. */
static uint32_t fwcfg_ctl_in(struct modvm_dev *dev, void *user, uint16_t offset, unsigned size)
{
    struct fwcfg_state *s = user;
    (void)offset;
    if (size != 1) {
        modvm_dev_guest_error(dev, "%u-byte read of the fw_cfg data port", size);
        return 0xffffffffu;
    }
    return fwcfg_data_read(s);
}

/* Selector/data ports, out (modvm_pio_out_fn): a 16-bit write to the selector picks an item; data
 * writes are ignored (QEMU dropped them in 2.4). */
static void fwcfg_ctl_out(struct modvm_dev *dev, void *user, uint16_t offset, uint32_t value, unsigned size)
{
    struct fwcfg_state *s = user;
    if (size == 2 && offset == 0)
        fwcfg_select(s, (uint16_t)value);
    else if (size != 1)
        modvm_dev_guest_error(dev, "%u-byte write to fw_cfg port 0x%x", size, FWCFG_PORT_CTL + offset);
}

/* DMA ports, in (modvm_pio_in_fn): the bytes of "QEMU CFG" at their offsets. */
static uint32_t fwcfg_dma_in(struct modvm_dev *dev, void *user, uint16_t offset, unsigned size)
{
    uint32_t v = 0;
    (void)dev;
    (void)user;
    for (unsigned i = 0; i < size; i++)
        if (offset + i < FWCFG_NPORTS_DMA)
            v |= (uint32_t)(uint8_t)fwcfg_dma_signature[offset + i] << (8 * i);
    return v;
}

/* DMA ports, out (modvm_pio_out_fn): 32-bit big-endian halves of the descriptor address; the low
 * half starts the transfer and clears the latch. */
static void fwcfg_dma_out(struct modvm_dev *dev, void *user, uint16_t offset, uint32_t value, unsigned size)
{
    struct fwcfg_state *s = user;
    if (size != 4 || (offset != 0 && offset != 4)) {
        modvm_dev_guest_error(dev, "%u-byte write to fw_cfg DMA port 0x%x", size, FWCFG_PORT_DMA + offset);
        return;
    }
    if (offset == 0) {
        s->dma_addr = (uint64_t)fwcfg_bswap32(value) << 32;
        return;
    }
    uint64_t desc = s->dma_addr | fwcfg_bswap32(value);
    s->dma_addr = 0;
    fwcfg_dma_run(s, desc);
}

static const struct modvm_pio_ops fwcfg_ctl_ops = {
    .version = MODVM_PIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_1 | MODVM_IO_SIZE_2,
    .in = fwcfg_ctl_in,
    .out = fwcfg_ctl_out,
};

static const struct modvm_pio_ops fwcfg_dma_ops = {
    .version = MODVM_PIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_1 | MODVM_IO_SIZE_2 | MODVM_IO_SIZE_4,
    .in = fwcfg_dma_in,
    .out = fwcfg_dma_out,
};

/* ---- construct ---------------------------------------------------------------------------------- */

/* Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" into RFC 4122 byte order. */
static bool fwcfg_parse_uuid(const char *text, uint8_t out[16])
{
    static const unsigned dashes[] = {8, 13, 18, 23};
    if (strlen(text) != 36)
        return false;
    for (unsigned i = 0, o = 0, d = 0; i < 36; i++) {
        if (d < 4 && i == dashes[d]) {
            if (text[i] != '-')
                return false;
            d++;
            continue;
        }
        char c = text[i];
        unsigned v = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16u;
        if (v == 16)
            return false;
        out[o / 2] = (uint8_t)(o % 2 ? out[o / 2] | v : v << 4);
        o++;
    }
    return true;
}

/* Merges the RAM entries of the core's "etc/e820" (QEMU layout, 20 bytes each) into at most one range
 * below and one above 4 GiB, as QEMU's type 19 structures describe RAM. Without the file, all RAM
 * is one range from 0. */
static size_t fwcfg_ram_ranges(struct fwcfg_state *s, uint64_t ram, struct fwcfg_ram_range *out)
{
    const void *data;
    size_t len;
    struct fwcfg_ram_range low = {0, 0}, high = {0, 0};
    if (s->fw->file_get(s->dev, "etc/e820", &data, &len) != 0 || len % 20 || len == 0) {
        out[0] = (struct fwcfg_ram_range){0, ram};
        return 1;
    }
    const uint8_t *p = data;
    for (size_t i = 0; i + 20 <= len; i += 20) {
        uint64_t addr = 0, size = 0;
        for (unsigned b = 0; b < 8; b++) {
            addr |= (uint64_t)p[i + b] << (8 * b);
            size |= (uint64_t)p[i + 8 + b] << (8 * b);
        }
        uint32_t type = (uint32_t)p[i + 16] | (uint32_t)p[i + 17] << 8 | (uint32_t)p[i + 18] << 16 |
                        (uint32_t)p[i + 19] << 24;
        if (type != 1 || size == 0 || addr + size < addr)
            continue;
        struct fwcfg_ram_range *r = addr < (1ull << 32) ? &low : &high;
        if (r->end == 0)
            r->start = addr;
        if (addr < r->start)
            r->start = addr;
        if (addr + size > r->end)
            r->end = addr + size;
    }
    size_t n = 0;
    if (low.end) {
        low.start = 0;
        out[n++] = low;
    }
    if (high.end)
        out[n++] = high;
    return n;
}

/* Builds the SMBIOS files (option `smbios`: 64, 32 or off). */
static int fwcfg_add_smbios(struct modvm_dev *dev, struct fwcfg_state *s, uint64_t ram, unsigned ncpus)
{
    const char *kind;
    int rc = modvm_dev_cfg_string(dev, "smbios", &kind);
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "cannot read option 'smbios' (error %d)", rc);
    if (strcmp(kind, "off") == 0)
        return 0;
    if (strcmp(kind, "64") != 0 && strcmp(kind, "32") != 0)
        return modvm_dev_set_error(dev, -EINVAL, "option 'smbios' must be 64 (SMBIOS 3.0), 32 (SMBIOS 2.8) or off, "
                                                 "got '%s'", kind);
    struct fwcfg_ram_range ranges[2];
    struct fwcfg_smbios_params p = {
        .entry = kind[0] == '6' ? FWCFG_SMBIOS_64 : FWCFG_SMBIOS_32,
        .ncpus = ncpus,
        .ram_size = ram,
        .ram = ranges,
        .bios_version = "modvm",
    };
    p.nram = fwcfg_ram_ranges(s, ram, ranges);
    memcpy(p.uuid, s->uuid, sizeof(p.uuid));
    uint8_t *tables = NULL, *anchor = NULL;
    size_t tlen = 0, alen = 0;
    rc = fwcfg_smbios_build(&p, &tables, &tlen, &anchor, &alen);
    if (rc == -E2BIG)
        return modvm_dev_set_error(dev, rc, "the SMBIOS tables (%d CPUs) do not fit a 2.8 entry point; use smbios=64",
                                   ncpus);
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "cannot build the SMBIOS tables (error %d)", rc);
    rc = s->fw->file_add(dev, "etc/smbios/smbios-tables", tables, tlen);
    if (rc == 0)
        rc = s->fw->file_add(dev, "etc/smbios/smbios-anchor", anchor, alen);
    free(tables);
    free(anchor);
    return rc ? modvm_dev_set_error(dev, rc, "cannot add the SMBIOS files (error %d)", rc) : 0;
}

/* Reads the options and fills the fixed items and this device's own files. */
static int fwcfg_read_config(struct modvm_dev *dev, struct fwcfg_state *s)
{
    uint64_t sercon, ram = 0, cpus = 0;
    int64_t fail_wait;
    const char *uuid = NULL;
    int rc;
    if ((rc = modvm_dev_cfg_bool(dev, "dma", &s->dma_enabled)) != 0 ||
        (rc = modvm_dev_cfg_uint(dev, "sercon", &sercon)) != 0 ||
        (rc = modvm_dev_cfg_int(dev, "boot-fail-wait", &fail_wait)) != 0)
        return modvm_dev_set_error(dev, rc, "cannot read the options (error %d)", rc);
    rc = modvm_dev_cfg_string(dev, "uuid", &uuid);
    if (rc == 0 && !fwcfg_parse_uuid(uuid, s->uuid))
        return modvm_dev_set_error(dev, -EINVAL, "option 'uuid' must look like "
                                                 "01234567-89ab-cdef-0123-456789abcdef, got '%s'", uuid);
    rc = modvm_dev_cfg_string(dev, "bootorder", &s->bootorder);
    if (rc == -ENOENT)
        s->bootorder = NULL;
    unsigned entries = 0;
    if (s->bootorder && !fwcfg_bootorder_walk(s->bootorder, fwcfg_bootorder_check, &entries))
        return modvm_dev_set_error(dev, -EINVAL, "option 'bootorder': expected at most %u entries separated by spaces, "
                                                 "each an OpenFirmware device path such as /pci@i0cf8/scsi@4/disk@0,0; "
                                                 "got '%s'", FWCFG_MAX_BOOT_ENTRIES, s->bootorder);
    if ((rc = fwcfg_add_bootorder(dev, s)) != 0)
        return rc;
    if ((rc = modvm_dev_vm_query(dev, MODVM_VM_FACT_RAM_SIZE, &ram)) != 0 ||
        (rc = modvm_dev_vm_query(dev, MODVM_VM_FACT_CPU_COUNT, &cpus)) != 0)
        return modvm_dev_set_error(dev, rc < 0 ? rc : -EINVAL, "cannot ask the VM for its RAM and CPUs (error %d)", rc);
    if (cpus < 1 || cpus > FWCFG_MAX_CPUS || ram == 0)
        return modvm_dev_set_error(dev, -EINVAL, "the VM has %llu CPUs and %llu bytes of RAM; fw-cfg supports 1 to %u "
                                                 "CPUs", (unsigned long long)cpus, (unsigned long long)ram,
                                   FWCFG_MAX_CPUS);
    fwcfg_put_le(s->id, FWCFG_ID_TRADITIONAL | (s->dma_enabled ? FWCFG_ID_DMA : 0u), 4);
    fwcfg_put_le(s->ram_size, ram, 8);
    /* no display exists yet: "no graphics" whenever the serial console is on, so SeaBIOS's own
     * fallback (sercon on COM1 when no-graphic) agrees with the `sercon` option */
    fwcfg_put_le(s->nographic, sercon ? 1 : 0, 2);
    fwcfg_put_le(s->nb_cpus, cpus, 2);
    fwcfg_put_le(s->max_cpus, cpus, 2);
    fwcfg_put_le(s->boot_menu, 0, 2);
    /* KVM's in-kernel IOAPIC takes the PIT on pin 2, as QEMU tells SeaBIOS for its MP/ACPI tables */
    fwcfg_put_le(s->irq0, 1, 4);

    uint8_t buf[4];
    if (sercon) {
        fwcfg_put_le(buf, sercon, 2);
        if ((rc = s->fw->file_add(dev, "etc/sercon-port", buf, 2)) != 0)
            return modvm_dev_set_error(dev, rc, "cannot add etc/sercon-port (error %d)", rc);
    }
    fwcfg_put_le(buf, (uint32_t)fail_wait, 4);
    if ((rc = s->fw->file_add(dev, "etc/boot-fail-wait", buf, 4)) != 0)
        return modvm_dev_set_error(dev, rc, "cannot add etc/boot-fail-wait (error %d)", rc);
    return fwcfg_add_smbios(dev, s, ram, (unsigned)cpus);
}

/* Devreg construct callback: config, files, ports. */
static int fwcfg_construct(struct modvm_dev *dev)
{
    struct fwcfg_state *s = dev->data;
    int rc;
    s->dev = dev;
    s->fw = modvm_fw_hlp(dev);
    if (!s->fw)
        return modvm_dev_set_error(dev, -ENOSYS, "this modvm core has no firmware-file interface (%s)", MODVM_IFACE_FW);
    if ((rc = fwcfg_read_config(dev, s)) != 0)
        return rc;
    rc = modvm_pio_register(dev, FWCFG_PORT_CTL, FWCFG_NPORTS_CTL, &fwcfg_ctl_ops, s, "fw-cfg", &s->pio_ctl);
    if (rc == 0 && s->dma_enabled)
        rc = modvm_pio_register(dev, FWCFG_PORT_DMA, FWCFG_NPORTS_DMA, &fwcfg_dma_ops, s, "fw-cfg dma", &s->pio_dma);
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "cannot register I/O ports 0x510-0x51b (error %d)", rc);
    return 0;
}

/* Devreg destruct callback; copes with a construct that stopped anywhere. */
static void fwcfg_destruct(struct modvm_dev *dev)
{
    struct fwcfg_state *s = dev->data;
    modvm_pio_destroy(dev, s->pio_ctl);
    modvm_pio_destroy(dev, s->pio_dma);
    s->pio_ctl = s->pio_dma = NULL;
    free(s->files);
    free(s->dir);
    s->files = NULL;
    s->dir = NULL;
    s->nfiles = s->dir_len = 0;
}

/* Devreg reset callback: the signature selected, no DMA address latched. The directory stays. */
static void fwcfg_reset(struct modvm_dev *dev)
{
    struct fwcfg_state *s = dev->data;
    s->cur_key = FWCFG_KEY_SIGNATURE;
    s->cur_offset = 0;
    s->dma_addr = 0;
}

/* ---- saved state -------------------------------------------------------------------------------- */

/* Saved state v1 (20 bytes):
 *   u16 selected key, u32 offset in it, u64 latched DMA address high half,
 *   u8 directory built, u8 DMA enabled, u32 files in the directory          (the topology) */

/* Devreg save callback. */
static int fwcfg_save(struct modvm_dev *dev, struct modvm_ssm *ssm)
{
    struct fwcfg_state *s = dev->data;
    int rc = modvm_ssm_put_u16(dev, ssm, s->cur_key);
    if (rc == 0)
        rc = modvm_ssm_put_u32(dev, ssm, s->cur_offset);
    if (rc == 0)
        rc = modvm_ssm_put_u64(dev, ssm, s->dma_addr);
    if (rc == 0)
        rc = modvm_ssm_put_bool(dev, ssm, s->dir_built);
    if (rc == 0)
        rc = modvm_ssm_put_bool(dev, ssm, s->dma_enabled);
    if (rc == 0)
        rc = modvm_ssm_put_u32(dev, ssm, s->nfiles);
    return rc;
}

/* Devreg load callback: reads everything, checks it against this VM's items, then commits. */
static int fwcfg_load(struct modvm_dev *dev, struct modvm_ssm *ssm, uint32_t version)
{
    struct fwcfg_state *s = dev->data;
    uint16_t key;
    uint32_t offset, nfiles;
    uint64_t dma_addr;
    bool dir_built, dma;
    if (version != FWCFG_SAVED_STATE_V1)
        return modvm_dev_set_error(dev, -EINVAL, "saved state version %u is not supported (this build reads %u)",
                                   version, FWCFG_SAVED_STATE_V1);
    modvm_ssm_get_u16(dev, ssm, &key);
    modvm_ssm_get_u32(dev, ssm, &offset);
    modvm_ssm_get_u64(dev, ssm, &dma_addr);
    modvm_ssm_get_bool(dev, ssm, &dir_built);
    modvm_ssm_get_bool(dev, ssm, &dma);
    int rc = modvm_ssm_get_u32(dev, ssm, &nfiles);
    if (rc != 0)
        return modvm_dev_set_error(dev, -EINVAL, "saved state is truncated or unreadable (error %d)", rc);
    if (dma != s->dma_enabled)
        return modvm_dev_set_error(dev, -EINVAL, "saved state has DMA %s, but the device is configured with dma=%s",
                                   dma ? "on" : "off", s->dma_enabled ? "on" : "off");
    if ((dma_addr & 0xffffffffu) != 0)
        return modvm_dev_set_error(dev, -EINVAL, "saved state: DMA address latch 0x%llx has low bits",
                                   (unsigned long long)dma_addr);
    if (dir_built)
        fwcfg_build_dir(s);
    if (dir_built && nfiles != s->nfiles)
        return modvm_dev_set_error(dev, -EINVAL, "saved state lists %u firmware files, this VM has %u", nfiles,
                                   s->nfiles);
    const uint8_t *data;
    uint32_t len = 0;
    bool exists = fwcfg_item(s, key, &data, &len);
    if ((!exists && offset != 0) || (exists && offset > len))
        return modvm_dev_set_error(dev, -EINVAL, "saved state: offset %u is past the end of item 0x%x (%u bytes)",
                                   offset, key, exists ? len : 0);
    s->cur_key = key;
    s->cur_offset = offset;
    s->dma_addr = dma_addr;
    return 0;
}

/* ---- registration ------------------------------------------------------------------------------- */

static const struct modvm_cfg_option fwcfg_options[] = {
    {.name = "dma", .type = MODVM_CFG_BOOL, .default_value = "on",
     .help = "the DMA interface at port 0x514 (SeaBIOS and Linux use it when present)"},
    {.name = "sercon", .type = MODVM_CFG_UINT, .default_value = "0x3f8", .min = 0, .max = 0xffff,
     .help = "serial port of SeaBIOS's serial console (etc/sercon-port; 0 = off); on while there is no display"},
    {.name = "bootorder", .type = MODVM_CFG_STRING, .default_value = NULL,
     .help = "the firmware's boot order, first first: OpenFirmware device paths separated by spaces, as QEMU's "
             "bootindex gives them (a virtio-blk disk in slot 4: /pci@i0cf8/scsi@4/disk@0,0)"},
    {.name = "boot-fail-wait", .type = MODVM_CFG_INT, .default_value = "-1", .min = (uint64_t)-1, .max = 0x7fffffff,
     .help = "milliseconds SeaBIOS waits after 'No bootable device' before it reboots (-1 = never)"},
    {.name = "uuid", .type = MODVM_CFG_STRING, .default_value = NULL,
     .help = "the machine's UUID (fw_cfg and SMBIOS type 1); default all zeros"},
    {.name = "smbios", .type = MODVM_CFG_STRING, .default_value = "64",
     .help = "SMBIOS tables: 64 (3.0 entry point), 32 (2.8 entry point) or off"},
    {.name = NULL},
};

static const struct modvm_devreg fwcfg_devreg = {
    .version = MODVM_DEVREG_VERSION,
    .flags = 0,
    .name = "fw-cfg",
    .description = "QEMU firmware configuration interface (fw_cfg at 0x510, DMA at 0x514) for SeaBIOS",
    .family = MODVM_DEV_FAMILY_SYSTEM,
    .max_instances = 1,
    .instance_size = sizeof(struct fwcfg_state),
    .options = fwcfg_options,
    .saved_state_version = FWCFG_SAVED_STATE_V1,
    .construct = fwcfg_construct,
    .destruct = fwcfg_destruct,
    .reset = fwcfg_reset,
    .save = fwcfg_save,
    .load = fwcfg_load,
    .version_end = MODVM_DEVREG_VERSION,
};

/* The plugin's register_types: one device type. */
static int fwcfg_register(const struct modvm_registrar *reg)
{
    return reg->register_device(reg, &fwcfg_devreg);
}

MODVM_PLUGIN(.name = "fw-cfg", .plugin_version = "1.0.0", .license = "MIT",
             .description = "QEMU-compatible firmware configuration device (fw_cfg)",
             .register_types = fwcfg_register);
