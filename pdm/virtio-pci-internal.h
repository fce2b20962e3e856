/* pdm/virtio-pci-internal.h — what the files of the virtio-pci transport share: the spec's numbers
 * more than one of them needs, the BAR layout, the transport's state and the functions each file
 * offers the others. Private to pdm/virtio-pci*.c.
 *
 *   virtio-pci.c         the modvm.virtio.1 helper table: registration and the device's services
 *   virtio-pci-caps.c    the PCI function: IDs, BARs, capability list, PCI cfg access capability
 *   virtio-pci-status.c  device status, feature negotiation, reset, queue enable (both interfaces)
 *   virtio-pci-config.c  the device-specific configuration: bounded access, generation
 *   virtio-pci-notify.c  notifications: driver kicks in, interrupts out (MSI-X or INTx + ISR)
 *   virtio-pci-modern.c  BAR4: the common configuration structure and the window dispatch
 *   virtio-pci-legacy.c  BAR0: the transitional legacy header
 *
 * Threads and locks: every function here runs with the device's lock held (see virtio-pci.c). */
#ifndef MODVM_PDM_VIRTIO_PCI_INTERNAL_H
#define MODVM_PDM_VIRTIO_PCI_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <modvm/pci.h>
#include <modvm/virtio.h>

#include "../core/vm.h"
#include "internal.h"
#include "virtqueue.h"

/* ---- the spec's numbers ------------------------------------------------------------------------- */

/* Device status (§2.1). */
#define VPCI_S_ACKNOWLEDGE 0x01u
#define VPCI_S_DRIVER 0x02u
#define VPCI_S_DRIVER_OK 0x04u
#define VPCI_S_FEATURES_OK 0x08u
#define VPCI_S_NEEDS_RESET 0x40u
#define VPCI_S_FAILED 0x80u

/* ISR status bits (§4.1.4.5). */
#define VPCI_ISR_QUEUE 0x1u
#define VPCI_ISR_CONFIG 0x2u

/* The modern BAR: 0x0000 common config, 0x1000 ISR, 0x2000 device config, 0x3000 notifications
 * (VPCI_NOTIFY_MULT bytes per queue), 0x4000 MSI-X table, 0x6000 PBA (served by the PCI core). */
#define VPCI_MODERN_BAR 4u
#define VPCI_MODERN_BAR_SIZE 0x8000u
#define VPCI_COMMON_OFF 0x0000u
#define VPCI_ISR_OFF 0x1000u
#define VPCI_DEVICE_OFF 0x2000u
#define VPCI_NOTIFY_OFF 0x3000u
#define VPCI_MSIX_TABLE_OFF 0x4000u
#define VPCI_MSIX_PBA_OFF 0x6000u
#define VPCI_WINDOW 0x1000u
#define VPCI_NOTIFY_MULT 4u
#define VPCI_CC_LEN 0x38u /* VIRTIO 1.0's struct virtio_pci_common_cfg; 1.2's additions need features not offered */

/* The legacy BAR (transitional devices only). */
#define VPCI_LEGACY_BAR 0u

/* ---- state -------------------------------------------------------------------------------------- */

/* One queue and its transport-side extras. */
struct vpci_queue {
    struct virtq vq;
    bool kick_pending; /* kicked before DRIVER_OK: delivered when the driver is ready */
};

/* A virtio device on the transport (the opaque modvm_virtio_handle). */
struct modvm_virtio_ {
    struct modvm_dev *dev;
    const struct modvm_pci_hlp *pci;
    modvm_pci_handle fn;
    struct modvm_virtio_dev desc; /* the device's description (copied) */
    void *user;
    bool transitional;            /* has the legacy BAR0 */
    uint32_t legacy_bar_size;
    uint16_t nvectors;            /* MSI-X: config + one per queue */
    uint8_t pcicfg_cap;           /* offset of the PCI configuration access capability */
    /* guest-visible state */
    uint8_t status;
    uint8_t isr;
    uint8_t config_generation;
    bool config_unread;           /* the device config changed since the driver last read any of it */
    bool intx_level;
    bool told_running;            /* status_changed(true) was called and not yet undone */
    uint64_t host_features;       /* what is offered */
    uint64_t guest_features;      /* what the driver accepted */
    uint32_t dfselect, gfselect;
    uint16_t queue_select;
    uint16_t config_vector;
    struct vpci_queue *queues;    /* desc.num_queues */
};

typedef struct modvm_virtio_ vpci;

/* Guest memory of the device's VM. */
static inline struct pgm *vpci_pgm(vpci *v)
{
    return vm_pgm(((struct pdm_dev *)v->dev)->vm);
}

/* The selected queue, or NULL when the selector is beyond the queues. */
static inline struct vpci_queue *vpci_selected(vpci *v)
{
    return v->queue_select < v->desc.num_queues ? &v->queues[v->queue_select] : NULL;
}

/* ---- virtio-pci-caps.c -------------------------------------------------------------------------- */

/** Registers the PCI function of `v` (described by v->desc): IDs, BARs, capabilities, MSI-X. */
int vpci_function_build(vpci *v);

/* ---- virtio-pci-status.c ------------------------------------------------------------------------ */

/** True while the driver may use the queues: DRIVER_OK, not FAILED, not NEEDS_RESET. */
bool vpci_running(const vpci *v);
/** Sets DEVICE_NEEDS_RESET after a driver error `why` (§2.1.2) and tells a running driver. */
void vpci_fail(vpci *v, const char *why);
/** vpci_fail for the error the engine recorded in `vq`, queue `q` of the device. */
void vpci_queue_fail(vpci *v, unsigned q, const struct virtq *vq);
/** Hands the negotiated queue features to the engine. */
void vpci_apply_features(vpci *v);
/** Device reset (§2.4); `tell` calls status_changed(false) when the device had been told it runs. */
void vpci_reset(vpci *v, bool tell);
/** A driver write of the device status (§2.1, §3.1.1) through the legacy or the modern interface. */
void vpci_set_status(vpci *v, uint8_t val, bool legacy);
/** True (after a guest-error line) when the driver's features may not be written now. */
bool vpci_features_locked(vpci *v);
/** True (after a guest-error line naming `what`) when queue configuration may not be written now. */
bool vpci_queue_config_locked(vpci *v, const char *what);
/** Enables queue `q` after its configuration was written; a bad configuration needs a reset. */
void vpci_queue_enable(vpci *v, unsigned q);

/* ---- virtio-pci-config.c ------------------------------------------------------------------------ */

/** The driver's device-specific config read of `size` bytes at `off` (bounded by config_size; 8 as
 * two 4s). */
uint64_t vpci_devcfg_read(vpci *v, uint64_t off, unsigned size);
/** Device-specific config write, bounded likewise. */
void vpci_devcfg_write(vpci *v, uint64_t off, uint64_t value, unsigned size);
/** The device config changed: a new config_generation, and a config interrupt once the driver runs. */
void vpci_devcfg_changed(vpci *v);

/* ---- virtio-pci-notify.c ------------------------------------------------------------------------ */

/** Brings the INTx line to `level` when it changed. */
void vpci_intx(vpci *v, bool level);
/** Interrupts the driver: while MSI-X is on, the message of `vector` (and `isr_bit` goes into the ISR
 * only if it is VPCI_ISR_CONFIG); else `isr_bit` in the ISR and INTx. */
void vpci_raise(vpci *v, uint16_t vector, uint8_t isr_bit);
/** Reads the ISR status: the read clears it and lowers INTx (§4.1.4.5). */
uint8_t vpci_isr_read(vpci *v);
/** The MSI-X vector a driver write of `value` maps to: itself when it exists, else NO_VECTOR. */
uint16_t vpci_vector(vpci *v, uint32_t value);
/** A driver notification for queue `q` through either interface. */
void vpci_kick(vpci *v, uint32_t q);
/** Delivers the kicks that came before DRIVER_OK, now that the driver is ready. */
void vpci_kick_pending(vpci *v);

/* ---- virtio-pci-modern.c and virtio-pci-legacy.c ------------------------------------------------ */

/** BAR4's handlers (user: the vpci). */
extern const struct modvm_mmio_ops vpci_modern_ops;
/** BAR0's handlers (user: the vpci). */
extern const struct modvm_pio_ops vpci_legacy_ops;
/** The legacy BAR's size for `config_size` bytes of device config, or 0 when it would not fit. */
uint32_t vpci_legacy_bar_size(uint32_t config_size);

#endif
