/* pdm/pci-rom.c — a PCI function's expansion ROM (PCI Local Bus 3.0 §6.2.5.2 and §6.3): the core
 * keeps a copy of the image the device registered, zero-padded to a power of two of at least 2 KiB,
 * and serves it read-only through BAR slot PCI_BAR_ROM: pci-bar.c maps it at the address the guest
 * programs in the expansion ROM BAR (offset 30h) while the BAR's enable bit and COMMAND_MEMORY are
 * both set, with the overlap rules of every memory BAR. Guest writes to the ROM are dropped.
 * Attacker model and locks: pci-bus.c. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "pci-internal.h"

#define PCI_ROM_MIN 2048u       /* the smallest decoder §6.2.5.2 allows (address bits 31:11) */
#define PCI_ROM_MAX (16u << 20) /* the largest image the core takes */

/* Reads of the ROM (the "device ops" of slot PCI_BAR_ROM; `user` is the function): the image's bytes.
 * The image never changes once registered, so no lock is needed. An access the bus should never pass
 * on (another width, past the end) reads all ones and counts as a guest error. */
static uint64_t pci_rom_read(struct modvm_dev *dev, void *user, uint64_t off, unsigned size)
{
    const struct pci_func *fn = user;
    uint64_t len = fn->bars[PCI_BAR_ROM].size;
    if ((size != 1 && size != 2 && size != 4 && size != 8) || off >= len || size > len - off) {
        modvm_dev_guest_error(dev, "%u-byte read at ROM+0x%llx: outside the %llu-byte ROM or of a bad size", size,
                              (unsigned long long)off, (unsigned long long)len);
        return ~0ull;
    }
    return le_get(fn->rom + off, size);
}

static const struct modvm_mmio_ops pci_rom_ops = {
    .version = MODVM_MMIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_ANY,
    .read = pci_rom_read, /* no write: the ROM is read-only */
};

/* modvm_pci_hlp.rom_register. */
int pci_hlp_rom_register(struct modvm_dev *dev, modvm_pci_handle h, const void *data, size_t len)
{
    struct pci_func *fn = pci_func_of(dev, h);
    if (!fn)
        return -EINVAL;
    if (!data || len == 0 || len > PCI_ROM_MAX)
        return modvm_err_set(-EINVAL, "%s: PCI expansion ROM of %zu bytes: it must be 1 byte to 16 MiB",
                             fn->dev->name, len);
    if (fn->rom)
        return modvm_err_set(-EINVAL, "%s: the PCI function has an expansion ROM already", fn->dev->name);
    uint64_t size = PCI_ROM_MIN;
    while (size < len)
        size <<= 1;
    uint8_t *image = calloc(1, size);
    if (!image)
        return -ENOMEM;
    memcpy(image, data, len);
    fn->rom = image; /* before the range exists: pci_rom_read needs it */
    int rc = pci_bar_setup(fn, PCI_BAR_ROM, MODVM_PCI_BAR_MEM32, size, NULL, &pci_rom_ops, fn);
    if (rc < 0) {
        fn->rom = NULL;
        free(image);
    }
    return rc;
}
