/* modvm/pci.h — PCI functions (PCI Local Bus 3.0, PCI Express 4.0 config space).
 *
 * The core implements the PCI bus once: each function's 256-byte (or 4 KiB for express functions)
 * config space with write masks, the header registers (command, status, BARs, expansion ROM,
 * interrupt line/pin), BAR sizing and the mapping/unmapping of BARs when the guest programs them
 * and toggles the command register's decode bits, capability lists, MSI and MSI-X (table and PBA
 * live in a BAR the core serves, messages go to KVM), and INTx (routed by the ISA bridge's PIRQ
 * router). A device plugin registers its function(s) and BARs in construct and gets callbacks only
 * for what is its own: device-specific config registers and BAR accesses.
 *
 * Host bridges (e.g. i440fx: config mechanism #1 at 0xCF8/0xCFC) forward guest config cycles with
 * config_access; the ISA bridge (piix3) installs the INTx router that maps a slot's INTx pin to a
 * GSI through its PIRQ registers.
 *
 * Reached through modvm_pci_hlp(dev) (a lookup by name: fetch it once in construct and keep the
 * pointer in the instance data). Threads/locks as in pdm.h: config and BAR callbacks run on vCPU threads
 * with the device lock held. */
#ifndef MODVM_PCI_H
#define MODVM_PCI_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <modvm/pdm.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MODVM_IFACE_PCI "modvm.pci.1"
#define MODVM_PCI_HLP_VERSION MODVM_VERSION_MAKE(0xd7d0, 1, 0)
#define MODVM_PCI_FUNC_VERSION MODVM_VERSION_MAKE(0xd7d1, 1, 0)

/** A PCI function the device created (opaque). */
typedef struct modvm_pci_func_ *modvm_pci_handle;

/** Standard config-space offsets the wrappers and devices use. */
#define MODVM_PCI_VENDOR_ID 0x00
#define MODVM_PCI_COMMAND 0x04
#define MODVM_PCI_STATUS 0x06
#define MODVM_PCI_BAR0 0x10
#define MODVM_PCI_INTERRUPT_LINE 0x3c
#define MODVM_PCI_COMMAND_IO 0x1u
#define MODVM_PCI_COMMAND_MEMORY 0x2u
#define MODVM_PCI_COMMAND_MASTER 0x4u
#define MODVM_PCI_COMMAND_INTX_DISABLE 0x400u

/** BAR kinds (modvm_pci_bar_register). */
#define MODVM_PCI_BAR_IO 0x1u
#define MODVM_PCI_BAR_MEM32 0x2u
#define MODVM_PCI_BAR_MEM64 0x4u      /* takes two BAR slots */
#define MODVM_PCI_BAR_PREFETCH 0x8u

/** Flags of struct modvm_pci_func. */
#define MODVM_PCI_F_EXPRESS 0x1u       /* 4 KiB config space */
#define MODVM_PCI_F_MULTIFUNCTION 0x2u /* header type bit 7 (set on function 0 of a multi-function slot) */

/** Device-specific config registers: the core has already stored a write (through the write mask
 * set with config_init) when config_write is called; config_read may override the stored value.
 * Either may be NULL. vCPU thread, device lock held. */
typedef void (*modvm_pci_config_write_fn)(struct modvm_dev *dev, void *user, uint32_t offset, uint32_t value,
                                          unsigned size);
typedef uint32_t (*modvm_pci_config_read_fn)(struct modvm_dev *dev, void *user, uint32_t offset, unsigned size,
                                             uint32_t stored);

/** Identity of a function. */
struct modvm_pci_func {
    uint32_t version; /**< MODVM_PCI_FUNC_VERSION */
    uint32_t flags;   /**< MODVM_PCI_F_* */
    uint16_t vendor_id, device_id;
    uint16_t subsystem_vendor_id, subsystem_id;
    uint8_t revision, prog_if, subclass, class_code;
    uint8_t header_type;   /**< 0 endpoint, 1 PCI-PCI bridge */
    uint8_t interrupt_pin; /**< 0 none, 1..4 = INTA#..INTD# */
    uint16_t reserved1;
    int32_t devfn;         /**< (slot << 3) | function on bus 0, or -1 for the first free slot */
    uint32_t reserved2;
    modvm_pci_config_read_fn config_read;
    modvm_pci_config_write_fn config_write;
    void *reserved[4];
};

/** The INTx router an ISA bridge installs: returns the GSI that INTx `pin` (1..4) of slot `devfn >> 3`
 * drives now (PIRQ routing), or -1 when that PIRQ is disabled. Called with the router device's lock
 * NOT held; it must only read its routing registers (atomically). */
typedef int (*modvm_pci_intx_route_fn)(void *user, uint8_t devfn, uint8_t pin);

/** The PCI services. */
struct modvm_pci_hlp {
    uint32_t version; /**< MODVM_PCI_HLP_VERSION */
    uint32_t reserved0;
    /** Creates a function on bus 0. -EBUSY when devfn is taken, -ENOSPC with no free slot. */
    int (*func_register)(struct modvm_dev *dev, const struct modvm_pci_func *func, void *user,
                         modvm_pci_handle *out);
    /** Declares BAR `bar` (0-5; a 64-bit BAR uses bar and bar+1) of `size` bytes (a power of two,
     * ≥ 16 for memory, ≥ 4 for I/O) served by `pio` or `mmio` ops. The core maps it when the guest
     * programs the BAR and enables decoding, and unmaps it on change. */
    int (*bar_register)(struct modvm_dev *dev, modvm_pci_handle h, unsigned bar, uint32_t kind, uint64_t size,
                        const struct modvm_pio_ops *pio, const struct modvm_mmio_ops *mmio, void *user);
    /** Sets config bytes [offset, offset+size) to value and which bits of them the guest may write
     * (wmask). For device-specific registers; the header registers are the core's. */
    int (*config_init)(struct modvm_dev *dev, modvm_pci_handle h, uint32_t offset, unsigned size, uint32_t value,
                       uint32_t wmask);
    /** Reads the function's config space as the guest would see it (e.g. the command register). */
    uint32_t (*config_get)(struct modvm_dev *dev, modvm_pci_handle h, uint32_t offset, unsigned size);
    /** Allocates a capability of `size` bytes in the list (0x40-0xff); writes its offset. */
    int (*cap_add)(struct modvm_dev *dev, modvm_pci_handle h, uint8_t cap_id, uint8_t size, uint8_t *offset);
    /** Adds an MSI-X capability with `nvectors` (1-2048) whose table and PBA the core serves at the
     * given offsets of memory BAR `bar` (registered before; the device's own ops get the rest). */
    int (*msix_init)(struct modvm_dev *dev, modvm_pci_handle h, unsigned nvectors, unsigned bar,
                     uint32_t table_offset, uint32_t pba_offset);
    /** Signals MSI-X vector `vector` (pending bit set when masked); -ENOTCONN when MSI-X is off. */
    int (*msix_notify)(struct modvm_dev *dev, modvm_pci_handle h, unsigned vector);
    /** True when the guest enabled MSI-X on the function. */
    bool (*msix_enabled)(struct modvm_dev *dev, modvm_pci_handle h);
    /** Drives the function's INTx line (level; honours COMMAND_INTX_DISABLE, sets status bit 3). */
    int (*intx_set)(struct modvm_dev *dev, modvm_pci_handle h, int level);
    /** Host bridge: a guest config cycle to bus/devfn/offset (no function: reads all ones). */
    uint32_t (*config_read)(struct modvm_dev *dev, uint8_t bus, uint8_t devfn, uint32_t offset, unsigned size);
    void (*config_write)(struct modvm_dev *dev, uint8_t bus, uint8_t devfn, uint32_t offset, uint32_t value,
                         unsigned size);
    /** ISA bridge: installs the INTx router (one per VM). */
    int (*intx_router_set)(struct modvm_dev *dev, modvm_pci_intx_route_fn fn, void *user);
    /** ISA bridge: the PIRQ routing changed; the core re-drives asserted INTx lines. */
    void (*intx_routing_changed)(struct modvm_dev *dev);
    void *reserved[8];
};

/** The PCI services, or NULL on a core without them. */
static inline const struct modvm_pci_hlp *modvm_pci_hlp(struct modvm_dev *dev)
{
    return (const struct modvm_pci_hlp *)modvm_dev_core_interface(dev, MODVM_IFACE_PCI, MODVM_PCI_HLP_VERSION);
}

/** Creates a PCI function (see modvm_pci_hlp.func_register). -ENOSYS on a core without PCI. */
static inline int modvm_pci_register(struct modvm_dev *dev, const struct modvm_pci_func *func, void *user,
                                     modvm_pci_handle *out)
{
    const struct modvm_pci_hlp *p = modvm_pci_hlp(dev);
    return p ? p->func_register(dev, func, user, out) : -ENOSYS;
}

#ifdef __cplusplus
}
#endif
#endif
