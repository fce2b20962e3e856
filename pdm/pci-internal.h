/* pdm/pci-internal.h — the state of the core's PCI bus and the calls between its files (pdm/pci-*.c);
 * private to them (device.c and interfaces.c see pdm/pci.h, plugins <modvm/pci.h>).
 *
 * The files, one job each (the specs, the attacker model and the lock order are in pci-bus.c):
 *   pci-bus.c     the buses, function registration and devfn allocation, the host bridge's config
 *                 cycles, the lifecycle hooks and the helper table
 *   pci-config.c  config space: bytes and write masks, the type 0 header, capability chaining
 *   pci-bar.c     BARs: sizing registers, mapping on every BAR/decode change, the memory BAR dispatch
 *   pci-rom.c     the expansion ROM: its image, served read-only through a BAR slot of its own
 *   pci-msi.c     the message path shared with MSI-X, and plain MSI
 *   pci-msix.c    MSI-X: capability, table and PBA
 *   pci-intx.c    INTx: levels, the router, GSI sharing */
#ifndef MODVM_PDM_PCI_INTERNAL_H
#define MODVM_PDM_PCI_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <modvm/pci.h>

#include "../core/le.h"
#include "internal.h"

/* ---- constants shared by the files ---------------------------------------------------------------- */

#define PCI_DEVFN_COUNT 256u
#define PCI_HEADER_SIZE 0x40u
#define PCI_BAR_END 0x28u         /* one past BAR5 */
#define PCI_ROM_ADDRESS 0x30u     /* the expansion ROM BAR */
#define PCI_STATUS_INTERRUPT 0x0008u
#define PCI_STATUS_CAP_LIST 0x0010u

#define PCI_BAR_COUNT 6u          /* BAR0-5 */
#define PCI_BAR_ROM 6u            /* the slot of struct pci_func.bars that holds the expansion ROM */
#define PCI_BAR_SLOTS 7u
#define PCI_BAR_UNMAPPED UINT64_MAX

#define PCI_GSI_LIMIT 256

/* Who owns a config byte (struct pci_func.kind). */
enum pci_byte_kind {
    PCI_BYTE_FREE = 0,  /* nothing: reads 0, writes ignored */
    PCI_BYTE_HEADER,    /* the type 0 header: the core's */
    PCI_BYTE_DEVICE,    /* a device-specific register (config_init) */
    PCI_BYTE_CAP_HDR,   /* capability ID / next pointer: the core's */
    PCI_BYTE_CAP_BODY,  /* the body of a device's capability (config_init) */
    PCI_BYTE_CORE,      /* the body of a capability the core serves (MSI, MSI-X) */
};

/* ---- state ---------------------------------------------------------------------------------------- */

struct pci_bus;
struct pci_func;
struct pci_msi;  /* pci-msi.c */
struct pci_msix; /* pci-msix.c */

/* A BAR a device registered, or the expansion ROM (slot PCI_BAR_ROM). A 64-bit BAR is described by
 * its lower slot; the upper slot is marked `upper_half`. */
struct pci_bar {
    struct pci_func *fn;
    unsigned index;  /* 0-5, or PCI_BAR_ROM */
    uint32_t kind;   /* MODVM_PCI_BAR_*, 0 when the slot is unused */
    bool upper_half; /* the high dword of the 64-bit BAR below */
    uint64_t size;
    struct modvm_mmio_ops mmio; /* the device's ops (memory BARs: the core's wrapper calls them) */
    void *user;
    modvm_pio_handle pio;
    modvm_mmio_handle mmio_region;
    uint64_t want;   /* the address the BAR last asked for, PCI_BAR_UNMAPPED for none */
    bool mapped;     /* the range is mapped at `want` */
};

/* A PCI function (the opaque modvm_pci_handle). */
struct pci_func {
    struct pci_bus *bus;
    struct pdm_dev *dev;
    void *user;
    modvm_pci_config_read_fn config_read;
    modvm_pci_config_write_fn config_write;
    uint8_t devfn;
    uint8_t pin;
    uint8_t cap_last; /* offset of the last capability in the list, 0 for none */
    pthread_mutex_t lock;
    uint32_t cfg_size;
    uint8_t *cfg, *wmask, *w1c, *kind;
    struct pci_bar bars[PCI_BAR_SLOTS];
    struct pci_msix *msix;
    struct pci_msi *msi;
    uint8_t *rom;      /* the expansion ROM image (fixed once registered), NULL for none */
    bool intx_level;   /* what the device drives (function lock) */
    /* bus lock: */
    bool intx_on;      /* the function asserts its line (level, not disabled, no MSI/MSI-X) */
    int intx_gsi;      /* the GSI it is counted on now, -1 for none */
};

/* Bus 0 of one VM. */
struct pci_bus {
    struct vm *vm;
    unsigned refs; /* functions + router (pci-bus.c's list lock) */
    pthread_mutex_t lock;
    struct pci_func *slots[PCI_DEVFN_COUNT];
    struct pdm_dev *bridge; /* the device forwarding config cycles */
    bool bridge_warned;
    struct pdm_dev *router_dev;
    modvm_pci_intx_route_fn router;
    void *router_user;
    bool router_warned;
    uint16_t gsi_count[PCI_GSI_LIMIT]; /* asserted functions per GSI */
    struct pci_bus *next;              /* pci-bus.c's list of buses */
};

/* ---- small helpers ---------------------------------------------------------------------------------- */

/* True when [a, a+alen) and [b, b+blen) share a byte. */
static inline bool pci_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* The command register (function lock held). */
static inline uint16_t pci_command(const struct pci_func *fn)
{
    return (uint16_t)le_get(fn->cfg + MODVM_PCI_COMMAND, 2);
}

/* ---- pci-bus.c -------------------------------------------------------------------------------------- */

/* The function behind a handle, or NULL when the handle is not one of `dev`'s. */
struct pci_func *pci_func_of(struct modvm_dev *dev, modvm_pci_handle h);
/* The bus of `vm` with a reference taken, created when missing; NULL without memory. */
struct pci_bus *pci_bus_ref(struct vm *vm);
/* Drops a reference; frees the bus with the last. */
void pci_bus_unref(struct pci_bus *bus);
/* The bus of `vm` without taking a reference, or NULL (valid while a function or router keeps it). */
struct pci_bus *pci_bus_find(struct vm *vm);

/* ---- pci-config.c ----------------------------------------------------------------------------------- */

/* "00:1f.7" for messages. */
void pci_bdf_name(const struct pci_func *fn, char *buf, size_t len);
/* Sets config bytes and their masks (function lock held or function not yet visible). */
void pci_cfg_set(struct pci_func *fn, uint32_t offset, unsigned size, uint32_t value, uint32_t wmask, uint32_t w1c);
/* Fills the type 0 header of a new function from its identity. */
void pci_cfg_init_header(struct pci_func *fn, const struct modvm_pci_func *id);
/* Stores a guest config write through the masks and applies what it changed (function lock held;
 * offset/size already checked). */
void pci_cfg_guest_write(struct pci_func *fn, uint32_t offset, uint32_t value, unsigned size);
/* The core's registers of the function back to power-on (function lock held). */
void pci_cfg_reset(struct pci_func *fn);
/* Allocates and links a capability whose body bytes become `body` (function lock held): its offset in
 * *out, or -EINVAL for a bad size, -ENOSPC without room. */
int pci_cap_alloc(struct pci_func *fn, uint8_t cap_id, uint8_t size, enum pci_byte_kind body, uint8_t *out);
int pci_hlp_config_init(struct modvm_dev *dev, modvm_pci_handle h, uint32_t offset, unsigned size, uint32_t value,
                        uint32_t wmask);
uint32_t pci_hlp_config_get(struct modvm_dev *dev, modvm_pci_handle h, uint32_t offset, unsigned size);
int pci_hlp_cap_add(struct modvm_dev *dev, modvm_pci_handle h, uint8_t cap_id, uint8_t size, uint8_t *offset);

/* ---- pci-bar.c -------------------------------------------------------------------------------------- */

/* Creates the range of BAR slot `slot` (BAR0-5 or PCI_BAR_ROM), served by `pio`, or by `mmio` behind
 * the core's memory dispatch, and sets up its register (type bits, size mask); the arguments are
 * checked. Function lock NOT held. */
int pci_bar_setup(struct pci_func *fn, unsigned slot, uint32_t kind, uint64_t size, const struct modvm_pio_ops *pio,
                  const struct modvm_mmio_ops *mmio, void *user);
/* Re-evaluates the mapping of every BAR and the ROM (function lock held). */
void pci_bars_update(struct pci_func *fn);
/* BAR0-5 and the ROM BAR back to power-on: unassigned and unmapped (function lock held, command
 * register already 0). */
void pci_bars_reset(struct pci_func *fn);
/* Destroys the ranges of every BAR and the ROM (the function is off the bus). */
void pci_bars_destroy(struct pci_func *fn);
int pci_hlp_bar_register(struct modvm_dev *dev, modvm_pci_handle h, unsigned bar, uint32_t kind, uint64_t size,
                         const struct modvm_pio_ops *pio, const struct modvm_mmio_ops *mmio, void *user);

/* ---- pci-rom.c -------------------------------------------------------------------------------------- */

int pci_hlp_rom_register(struct modvm_dev *dev, modvm_pci_handle h, const void *data, size_t len);

/* ---- pci-msi.c -------------------------------------------------------------------------------------- */

/* Sends a message of vector `v` ("MSI"/"MSI-X" in messages): dropped while the function is no bus
 * master, dropped and counted outside the interrupt window (function lock held). */
int pci_msg_send(struct pci_func *fn, const char *what, unsigned v, uint64_t addr, uint32_t data);
/* True when the guest enabled MSI and MSI-X does not override it (function lock held). */
bool pci_msi_active(const struct pci_func *fn);
/* A guest config write landed: applies it to the MSI capability if it touched it (function lock held). */
void pci_msi_config_written(struct pci_func *fn, uint32_t offset, unsigned size);
/* Delivers the pending vectors that nothing masks any more (MSI may just have become active). */
void pci_msi_deliver_pending(struct pci_func *fn);
/* MSI back to power-on (function lock held). */
void pci_msi_reset(struct pci_func *fn);
int pci_hlp_msi_init(struct modvm_dev *dev, modvm_pci_handle h, unsigned nvectors, uint32_t flags);
int pci_hlp_msi_notify(struct modvm_dev *dev, modvm_pci_handle h, unsigned vector);
bool pci_hlp_msi_enabled(struct modvm_dev *dev, modvm_pci_handle h);

/* ---- pci-msix.c ------------------------------------------------------------------------------------- */

/* True when the guest enabled MSI-X (function lock held). */
bool pci_msix_on(const struct pci_func *fn);
/* A guest config write landed: applies it to the MSI-X capability if it touched it (function lock held). */
void pci_msix_config_written(struct pci_func *fn, uint32_t offset, unsigned size);
/* MSI-X back to power-on (function lock held). */
void pci_msix_reset(struct pci_func *fn);
/* Frees the MSI-X state. */
void pci_msix_free(struct pci_msix *m);
/* A guest access to memory BAR `b` (a write of *value, or a read into *value): served here when it
 * touches the MSI-X table or PBA (true), else false: it is the device's. Takes the function lock. */
bool pci_msix_mmio(struct modvm_dev *dev, struct pci_bar *b, uint64_t off, unsigned size, bool write, uint64_t *value);
int pci_hlp_msix_init(struct modvm_dev *dev, modvm_pci_handle h, unsigned nvectors, unsigned bar,
                      uint32_t table_offset, uint32_t pba_offset);
int pci_hlp_msix_notify(struct modvm_dev *dev, modvm_pci_handle h, unsigned vector);
bool pci_hlp_msix_enabled(struct modvm_dev *dev, modvm_pci_handle h);

/* ---- pci-intx.c ------------------------------------------------------------------------------------- */

/* Brings the function's contribution to the GSI lines in line with `on` and the routing (bus lock held). */
void pci_intx_apply(struct pci_bus *bus, struct pci_func *fn, bool on);
/* Re-routes every asserting function (bus lock held). */
void pci_intx_reroute(struct pci_bus *bus);
/* Recomputes whether the function asserts INTx (function lock held; takes the bus lock). */
void pci_intx_update(struct pci_func *fn);
int pci_hlp_intx_set(struct modvm_dev *dev, modvm_pci_handle h, int level);
int pci_hlp_intx_router_set(struct modvm_dev *dev, modvm_pci_intx_route_fn fn, void *user);
void pci_hlp_intx_routing_changed(struct modvm_dev *dev);

#endif
