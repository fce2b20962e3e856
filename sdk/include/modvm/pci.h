/* modvm/pci.h — PCI functions (PCI Local Bus 3.0, PCI Express 4.0 config space).
 *
 * The core implements the PCI bus once: each function's 256-byte (or 4 KiB for express functions)
 * config space with write masks, the header registers (command, status, BARs, expansion ROM,
 * interrupt line/pin), BAR sizing and the mapping/unmapping of BARs when the guest programs them
 * and toggles the command register's decode bits, the expansion ROM (the device hands over an image;
 * the core serves it read-only where the guest maps the ROM BAR), capability lists, plain MSI and
 * MSI-X (the core owns both capabilities, and the MSI-X table and PBA in a BAR it serves; messages go
 * to KVM), and INTx (routed by the ISA bridge's PIRQ router; held low while MSI or MSI-X is on). A
 * device plugin registers its function(s) and BARs in construct and gets callbacks only for what is
 * its own: device-specific config registers and BAR accesses. Bus 0 only (no PCI-PCI bridges yet).
 * On a VM reset the core puts the header registers back to power-on (command 0, BARs and ROM
 * unassigned, MSI off, MSI-X off and masked, INTx low) before the device's reset callback, which
 * re-initialises its own registers with config_init.
 *
 * Versions: the table grows by minor versions (1.1: msi_init/msi_notify/msi_enabled, rom_register).
 * modvm_pci_hlp() accepts any 1.x core, so check modvm_pci_hlp_since(p, 1) before using a 1.1 field
 * (or ask modvm_dev_core_interface for MODVM_PCI_HLP_VERSION to require it).
 *
 * Host bridges (e.g. i440fx: config mechanism #1 at 0xCF8/0xCFC) forward guest config cycles with
 * config_access; the ISA bridge (piix3) installs the INTx router that maps a slot's INTx pin to a
 * GSI through its PIRQ registers.
 *
 * Reached through modvm_pci_hlp(dev) (a lookup by name: fetch it once in construct and keep the
 * pointer in the instance data). Threads/locks as in pdm.h: config and BAR callbacks run on vCPU threads
 * with the device lock held. A config cycle runs inside the host bridge's port handler: the core
 * takes the target device's lock while holding the bridge's, so the lock order is host bridge →
 * target device, never the reverse — only the VM's one host bridge forwards cycles (see
 * config_read), and a device never calls config_read/config_write for another device. */
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
#define MODVM_PCI_HLP_VERSION MODVM_VERSION_MAKE(0xd7d0, 1, 1)
/** The oldest PCI table modvm_pci_hlp() accepts: 1.0, without the 1.1 fields. */
#define MODVM_PCI_HLP_VERSION_1_0 MODVM_VERSION_MAKE(0xd7d0, 1, 0)
#define MODVM_PCI_FUNC_VERSION MODVM_VERSION_MAKE(0xd7d1, 1, 0)

/** A PCI function the device created (opaque). */
typedef struct modvm_pci_func_ *modvm_pci_handle;

/** Standard config-space offsets the wrappers and devices use. */
#define MODVM_PCI_VENDOR_ID 0x00
#define MODVM_PCI_COMMAND 0x04
#define MODVM_PCI_STATUS 0x06
#define MODVM_PCI_BAR0 0x10
#define MODVM_PCI_ROM_ADDRESS 0x30
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

/** MSI capability features (modvm_pci_hlp.msi_init). */
#define MODVM_PCI_MSI_64BIT 0x1u    /* 64-bit message address */
#define MODVM_PCI_MSI_MASKABLE 0x2u /* per-vector mask and pending bits */

/** Flags of struct modvm_pci_func. */
#define MODVM_PCI_F_EXPRESS 0x1u       /* 4 KiB config space */
#define MODVM_PCI_F_MULTIFUNCTION 0x2u /* header type bit 7 (set on function 0 of a multi-function slot) */

/** Device-specific config registers: config_write is called after every guest config write to the
 * function (header writes too, e.g. to notice COMMAND_MASTER going off), once the core has stored it
 * through the write masks; `value` is what the guest wrote. config_read is called for reads at
 * offsets ≥ 0x40 only (the header is the core's) and may override `stored`. A write-1-to-clear
 * register: wmask 0 in config_init, then config_init the cleared value from config_write. Either
 * may be NULL. vCPU thread, device lock held (inside the host bridge's); no core lock is held, so
 * they may call any helper here. */
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
    uint8_t header_type;   /**< 0 endpoint (1, PCI-PCI bridge, is refused with -EOPNOTSUPP for now) */
    uint8_t interrupt_pin; /**< 0 none, 1..4 = INTA#..INTD# */
    uint16_t reserved1;
    int32_t devfn;         /**< (slot << 3) | function on bus 0, or -1 for function 0 of the first slot
                                from 2 up with all eight functions free (0 and 1 are the PC's host
                                and ISA bridges, which ask for theirs) */
    uint32_t reserved2;
    modvm_pci_config_read_fn config_read;
    modvm_pci_config_write_fn config_write;
    void *reserved[4];
};

/** The INTx router an ISA bridge installs: returns the GSI that INTx `pin` (1..4) of slot `devfn >> 3`
 * drives now (PIRQ routing), or -1 when that PIRQ is disabled. Called from any thread with the
 * router device's lock NOT held but the core's PCI bus lock held: it must only read its routing
 * registers (atomically) and call nothing. GSIs ≥ 256 count as unconnected. */
typedef int (*modvm_pci_intx_route_fn)(void *user, uint8_t devfn, uint8_t pin);

/** The PCI services. */
struct modvm_pci_hlp {
    uint32_t version; /**< MODVM_PCI_HLP_VERSION */
    uint32_t reserved0;
    /** Creates a function on bus 0. -EBUSY when devfn is taken, -ENOSPC with no free slot, -EINVAL for
     * a bad description. The core removes it when the device is destructed. */
    int (*func_register)(struct modvm_dev *dev, const struct modvm_pci_func *func, void *user,
                         modvm_pci_handle *out);
    /** Declares BAR `bar` (0-5; a 64-bit BAR uses bar and bar+1) of `size` bytes (a power of two:
     * I/O 4-256, 32-bit memory 16 B-2 GiB, 64-bit memory 16 B-1 TiB) served by `pio` or `mmio` ops.
     * The core maps it when the guest programs the BAR and enables decoding, and unmaps it on
     * change; a range overlapping RAM or another range stays unmapped (counted as a guest error). */
    int (*bar_register)(struct modvm_dev *dev, modvm_pci_handle h, unsigned bar, uint32_t kind, uint64_t size,
                        const struct modvm_pio_ops *pio, const struct modvm_mmio_ops *mmio, void *user);
    /** Sets config bytes [offset, offset+size) (size 1-4) to value and which bits of them the guest
     * may write (wmask). For device-specific registers and the bodies of capabilities from cap_add:
     * -EINVAL for the header (< 0x40), a capability's ID/next bytes or the MSI and MSI-X
     * capabilities. Bytes outside capabilities become device registers, which cap_add allocates
     * around. */
    int (*config_init)(struct modvm_dev *dev, modvm_pci_handle h, uint32_t offset, unsigned size, uint32_t value,
                       uint32_t wmask);
    /** Reads the function's config space as the guest would see it (e.g. the command register). */
    uint32_t (*config_get)(struct modvm_dev *dev, modvm_pci_handle h, uint32_t offset, unsigned size);
    /** Allocates a capability of `size` bytes (2-192) in the first free dword-aligned gap of
     * 0x40-0xff, links it at the end of the list (ID set, next 0, the rest zero and read-only until
     * config_init) and writes its offset. -ENOSPC without room. */
    int (*cap_add)(struct modvm_dev *dev, modvm_pci_handle h, uint8_t cap_id, uint8_t size, uint8_t *offset);
    /** Adds an MSI-X capability with `nvectors` (1-2048) whose table and PBA the core serves at the
     * given offsets of memory BAR `bar` (registered before; the device's own ops get the rest). */
    int (*msix_init)(struct modvm_dev *dev, modvm_pci_handle h, unsigned nvectors, unsigned bar,
                     uint32_t table_offset, uint32_t pba_offset);
    /** Signals MSI-X vector `vector` (pending bit set when masked; sent when unmasked); -ENOTCONN when
     * MSI-X is off, -EINVAL without msix_init or for a vector out of range. Dropped (0) while the
     * guest has bus mastering off. */
    int (*msix_notify)(struct modvm_dev *dev, modvm_pci_handle h, unsigned vector);
    /** True when the guest enabled MSI-X on the function. */
    bool (*msix_enabled)(struct modvm_dev *dev, modvm_pci_handle h);
    /** Drives the function's INTx line: MODVM_IRQ_HIGH or MODVM_IRQ_LOW (level only; -EINVAL for a
     * function without interrupt pin). Sets status bit 3; the line stays low while the guest sets
     * COMMAND_INTX_DISABLE or enables MSI or MSI-X. Functions routed to one GSI share it (wired OR). */
    int (*intx_set)(struct modvm_dev *dev, modvm_pci_handle h, int level);
    /** Host bridge: a guest config cycle to bus/devfn/offset, size 1, 2 or 4 within one dword (no
     * function, another bus, a bad size: reads all ones, writes dropped). Call from the bridge's own
     * port/MMIO handler; the first device to call is the VM's host bridge, later cycles from any
     * other device are ignored (all ones). */
    uint32_t (*config_read)(struct modvm_dev *dev, uint8_t bus, uint8_t devfn, uint32_t offset, unsigned size);
    void (*config_write)(struct modvm_dev *dev, uint8_t bus, uint8_t devfn, uint32_t offset, uint32_t value,
                         unsigned size);
    /** ISA bridge: installs the INTx router (one per VM: -EBUSY when another device has one; fn NULL
     * removes it; the core removes it when the device is destructed). */
    int (*intx_router_set)(struct modvm_dev *dev, modvm_pci_intx_route_fn fn, void *user);
    /** ISA bridge: the PIRQ routing changed; the core re-drives asserted INTx lines. */
    void (*intx_routing_changed)(struct modvm_dev *dev);
    /* ---- since 1.1 (check modvm_pci_hlp_since(p, 1)) ---- */
    /** Adds a plain MSI capability (PCI 3.0 §6.8.1) for `nvectors` (1, 2, 4, 8, 16 or 32) vectors with
     * MODVM_PCI_MSI_* `flags`; the core owns it. -EINVAL for a bad count or flags or a second call,
     * -ENOSPC without room. A function may have MSI and MSI-X; a guest that enables both (undefined
     * in the spec) gets MSI-X, and MSI stays silent until MSI-X is off. */
    int (*msi_init)(struct modvm_dev *dev, modvm_pci_handle h, unsigned nvectors, uint32_t flags);
    /** Signals MSI vector `vector`: the guest's address, its data with the low bits replaced by the
     * vector number. A vector at or above the count the guest enabled shares the message of the
     * vector its low bits name. With per-vector masking a masked vector sets its pending bit and is
     * sent when unmasked. -ENOTCONN when MSI is off (or MSI-X overrides it), -EINVAL without msi_init
     * or for a vector ≥ nvectors. Dropped (0) while the guest has bus mastering off. */
    int (*msi_notify)(struct modvm_dev *dev, modvm_pci_handle h, unsigned vector);
    /** True when the guest enabled MSI on the function (and not MSI-X, which overrides it). */
    bool (*msi_enabled)(struct modvm_dev *dev, modvm_pci_handle h);
    /** Gives the function an expansion ROM (PCI 3.0 §6.2.5.2): the core copies the `len`-byte image
     * (1 byte-16 MiB) into a zero-padded power of two of at least 2 KiB, which the guest sizes and
     * programs through the ROM BAR (offset 30h) and which is mapped read-only while the BAR's enable
     * bit and COMMAND_MEMORY are both set (like a memory BAR: unmapped where it overlaps RAM or
     * another range). Guest writes to it are dropped. -EINVAL for a bad length or a second call. */
    int (*rom_register)(struct modvm_dev *dev, modvm_pci_handle h, const void *data, size_t len);
    void *reserved[4];
};

/** The PCI services, or NULL on a core without them. Any 1.x table is accepted (see
 * modvm_pci_hlp_since for the fields added later). */
static inline const struct modvm_pci_hlp *modvm_pci_hlp(struct modvm_dev *dev)
{
    return (const struct modvm_pci_hlp *)modvm_dev_core_interface(dev, MODVM_IFACE_PCI,
                                                                  MODVM_PCI_HLP_VERSION_1_0);
}

/** True when the core's PCI table `p` has the fields of minor version `minor` (1: MSI, expansion ROM). */
static inline bool modvm_pci_hlp_since(const struct modvm_pci_hlp *p, unsigned minor)
{
    return p && MODVM_VERSION_MINOR(p->version) >= minor;
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
