/* pdm/interfaces.c — the core interfaces a device can look up by name (modvm_dev_hlp.core_interface):
 * firmware files (fw.h), PCI (pci.h), virtio (virtio.h) and the legacy shadow window (shadow.h). */
#include <errno.h>
#include <string.h>

#include <modvm/fw.h>
#include <modvm/pci.h>
#include <modvm/shadow.h>

#include "../core/fw.h"
#include "../core/pgm.h"
#include "../core/vm.h"
#include "internal.h"
#include "pci.h"
#include "virtqueue.h"

/* The VM of a device. */
static struct vm *pdm_vm_of(struct modvm_dev *dev)
{
    return ((struct pdm_dev *)dev)->vm;
}

static int fw_file_add(struct modvm_dev *dev, const char *name, const void *data, size_t len)
{
    return fw_files_add(vm_fw_files(pdm_vm_of(dev)), name, data, len);
}

static int fw_file_get(struct modvm_dev *dev, const char *name, const void **data, size_t *len)
{
    return fw_files_get(vm_fw_files(pdm_vm_of(dev)), name, data, len);
}

static int fw_file_at(struct modvm_dev *dev, size_t index, const char **name, const void **data, size_t *len)
{
    return fw_files_at(vm_fw_files(pdm_vm_of(dev)), index, name, data, len);
}

static const struct modvm_fw_hlp pdm_fw_hlp = {
    .version = MODVM_FW_HLP_VERSION,
    .file_add = fw_file_add,
    .file_get = fw_file_get,
    .file_at = fw_file_at,
};

_Static_assert(MODVM_SHADOW_BASE == PGM_SHADOW_BASE && MODVM_SHADOW_SIZE == PGM_SHADOW_SIZE &&
                   MODVM_SHADOW_SEGMENT == PGM_SHADOW_SEGMENT && MODVM_SHADOW_READ == PGM_SHADOW_READ &&
                   MODVM_SHADOW_WRITE == PGM_SHADOW_WRITE,
               "modvm/shadow.h and core/pgm.h describe one window");

static int shadow_set(struct modvm_dev *dev, uint32_t base, uint32_t size, uint32_t mode)
{
    struct vm *vm = pdm_vm_of(dev);
    if (!vm_claim_shadow(vm, dev))
        return -EBUSY;
    int rc = pgm_shadow_set(vm_pgm(vm), base, size, mode);
    return rc == -EINVAL || rc == -ENODEV || rc == 0 ? rc : -EIO;
}

static int shadow_get(struct modvm_dev *dev, uint32_t addr, uint32_t *mode)
{
    int rc = pgm_shadow_get(vm_pgm(pdm_vm_of(dev)), addr);
    if (rc >= 0)
        *mode = (uint32_t)rc;
    return rc < 0 ? rc : 0;
}

static const struct modvm_shadow_hlp pdm_shadow_hlp = {
    .version = MODVM_SHADOW_HLP_VERSION,
    .set = shadow_set,
    .get = shadow_get,
};

/* One named interface table. */
struct pdm_interface {
    const char *name;
    const void *table; /* starts with its uint32_t version word */
};

static const struct pdm_interface pdm_interfaces[] = {
    {MODVM_IFACE_FW, &pdm_fw_hlp},
    {MODVM_IFACE_PCI, &pdm_pci_hlp},
    {MODVM_IFACE_VIRTIO, &pdm_virtio_hlp},
    {MODVM_IFACE_SHADOW, &pdm_shadow_hlp},
};

const void *pdm_core_interface(const char *name, uint32_t min_version)
{
    for (size_t i = 0; name && i < sizeof(pdm_interfaces) / sizeof(pdm_interfaces[0]); i++) {
        if (strcmp(pdm_interfaces[i].name, name) != 0)
            continue;
        uint32_t have = *(const uint32_t *)pdm_interfaces[i].table;
        /* the core's table must be at least what the plugin needs */
        return MODVM_VERSION_ARE_COMPATIBLE(have, min_version) ? pdm_interfaces[i].table : NULL;
    }
    return NULL;
}
