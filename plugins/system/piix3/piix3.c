/* plugins/system/piix3/piix3.c — "piix3": the PCI-to-ISA bridge function of the PC platform and its
 * PCI interrupt router, as a modvm device plugin.
 *
 * Specs: Intel 82371SB PCI ISA IDE Xcelerator (PIIX3) datasheet (order 290550), function 0:
 * vendor 8086h, device 7000h, class 06/01/00 (ISA bridge), a multi-function device (header type
 * 80h); PIRQRC[A:D] at 60h-63h: bit 7 IRQINRE# (1 = routing disabled), bits 6:4 reserved (0),
 * bits 3:0 the ISA IRQ (3-7, 9-12, 14, 15; 0-2, 8 and 13 are reserved). PCI Local Bus 3.0 §2.2.6
 * and the PCI-to-PCI Bridge Architecture §9.1 for the INTx "swizzle" of the PC's four PIRQ lines.
 *
 * The router: INTx pin p (1 = INTA#) of the device in slot s is wired to PIRQ[(s + p - 2) mod 4] —
 * slot 1 INTA# on PIRQA, slot 2 INTA# on PIRQB, ... — the wiring of QEMU's PC board and what SeaBIOS
 * (pciinit.c, piix_pci_slot_get_irq) and the ACPI _PRT of the i440FX machine assume. The PIRQ's
 * register then names the ISA IRQ, which is the GSI of the same number (KVM's default routing, and
 * the identity mapping of the ACPI MADT's ISA overrides aside). A disabled or reserved PIRQ leaves
 * the line unconnected (-1). A write to 60h-63h makes the core re-drive asserted lines.
 *
 * Deviation: the chip powers up with PIRQRC = 80h (every PIRQ disabled) and leaves routing to the
 * firmware. modvm powers up with 0Ah, 0Ah, 0Bh, 0Bh (PIRQA/B → IRQ 10, PIRQC/D → IRQ 11): exactly
 * what SeaBIOS programs (pci_irqs[] = 10, 10, 11, 11), so a kernel booted directly without firmware
 * finds the same routing as the static ACPI _PRT describes, and a SeaBIOS boot changes nothing.
 *
 * Not here: the ELCR (4D0h/4D1h) belongs to KVM's in-kernel PIC; the other PIIX3 functions (IDE,
 * USB) and registers (APIC base, XBCS, ...) are not modelled; the reset control register at CF9h is
 * decoded by the i440fx plugin, which owns the ports CF8h-CFBh in modvm's port map.
 *
 * Threads and locks: config callbacks run on vCPU threads with this device's lock held (inside the
 * host bridge's, see pdm/pci-bus.c). The router runs with our lock NOT held (pci.h), from any thread: it
 * reads the routing registers from an atomic copy only. */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <modvm/pci.h>
#include <modvm/pdm.h>
#include <modvm/plugin.h>

#define PIIX3_VENDOR_ID 0x8086u
#define PIIX3_DEVICE_ID 0x7000u
#define PIIX3_CLASS_BRIDGE 0x06u
#define PIIX3_SUBCLASS_ISA 0x01u
#define PIIX3_DEVFN 0x08 /* 00:01.0 */

#define PIIX3_PIRQRC 0x60u
#define PIIX3_PIRQ_COUNT 4u
#define PIIX3_PIRQ_DISABLED 0x80u
#define PIIX3_PIRQ_IRQ_MASK 0x0fu
#define PIIX3_PIRQ_WMASK 0x8f8f8f8fu      /* bits 6:4 of each register are reserved */
#define PIIX3_PIRQ_POWER_ON 0x0b0b0a0au   /* PIRQA..D = 10, 10, 11, 11 (little-endian: A lowest) */
#define PIIX3_IRQ_RESERVED 0x2107u         /* IRQ 0, 1, 2, 8, 13: not routable */

/* Instance data (zeroed by the core). */
struct piix3_state {
    struct modvm_dev *dev;
    const struct modvm_pci_hlp *pci;
    modvm_pci_handle func;
    _Atomic uint32_t pirq; /* copy of 60h-63h for the router (PIRQA in the low byte) */
};

/* INTx router (modvm_pci_intx_route_fn): the GSI the pin's PIRQ routes to now, or -1. Any thread,
 * our lock not held: reads the atomic copy only. */
static int piix3_route(void *user, uint8_t devfn, uint8_t pin)
{
    struct piix3_state *s = user;
    if (pin < 1 || pin > 4)
        return -1;
    unsigned slot = devfn >> 3;
    unsigned pirq = (slot + pin - 2u) % PIIX3_PIRQ_COUNT; /* unsigned wrap-around is a multiple of 4 */
    uint8_t reg = (uint8_t)(atomic_load_explicit(&s->pirq, memory_order_acquire) >> (8 * pirq));
    unsigned irq = reg & PIIX3_PIRQ_IRQ_MASK;
    if ((reg & PIIX3_PIRQ_DISABLED) || (PIIX3_IRQ_RESERVED & (1u << irq)))
        return -1;
    return (int)irq;
}

/* Refreshes the router's copy of the PIRQ registers and lets the core re-drive INTx lines. */
static void piix3_pirq_changed(struct piix3_state *s)
{
    uint32_t v = s->pci->config_get(s->dev, s->func, PIIX3_PIRQRC, 4);
    atomic_store_explicit(&s->pirq, v, memory_order_release);
    s->pci->intx_routing_changed(s->dev);
}

/* Config write callback (modvm_pci_config_write_fn): after the core stored a write, a change of
 * 60h-63h re-routes. vCPU thread, our lock held. */
static void piix3_config_write(struct modvm_dev *dev, void *user, uint32_t offset, uint32_t value, unsigned size)
{
    struct piix3_state *s = user;
    (void)dev;
    (void)value;
    if (offset < PIIX3_PIRQRC + PIIX3_PIRQ_COUNT && offset + size > PIIX3_PIRQRC)
        piix3_pirq_changed(s);
}

/* Puts 60h-63h at modvm's power-on routing (see the file comment) and re-routes. */
static int piix3_pirq_init(struct piix3_state *s)
{
    int rc = s->pci->config_init(s->dev, s->func, PIIX3_PIRQRC, 4, PIIX3_PIRQ_POWER_ON, PIIX3_PIRQ_WMASK);
    if (rc == 0)
        piix3_pirq_changed(s);
    return rc;
}

/* Devreg construct callback: function 00:01.0, its registers, the router. */
static int piix3_construct(struct modvm_dev *dev)
{
    struct piix3_state *s = dev->data;
    s->dev = dev;
    if (!(s->pci = modvm_pci_hlp(dev)))
        return modvm_dev_set_error(dev, -ENOSYS, "this modvm core provides no PCI bus (%s)", MODVM_IFACE_PCI);
    const struct modvm_pci_func func = {
        .version = MODVM_PCI_FUNC_VERSION,
        .flags = MODVM_PCI_F_MULTIFUNCTION,
        .vendor_id = PIIX3_VENDOR_ID,
        .device_id = PIIX3_DEVICE_ID,
        .class_code = PIIX3_CLASS_BRIDGE,
        .subclass = PIIX3_SUBCLASS_ISA,
        .devfn = PIIX3_DEVFN,
        .config_write = piix3_config_write,
    };
    int rc = s->pci->func_register(dev, &func, s, &s->func);
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "cannot create the ISA bridge at PCI 00:01.0 (error %d)", rc);
    if ((rc = s->pci->intx_router_set(dev, piix3_route, s)) != 0)
        return modvm_dev_set_error(dev, rc, "cannot install the PCI INTx router (error %d)", rc);
    if ((rc = piix3_pirq_init(s)) != 0)
        return modvm_dev_set_error(dev, rc, "cannot set up the PIRQ route control registers (error %d)", rc);
    return 0;
}

/* Devreg reset callback: the routing back to power-on (the core resets the header). */
static void piix3_reset(struct modvm_dev *dev)
{
    struct piix3_state *s = dev->data;
    if (s->func)
        (void)piix3_pirq_init(s);
}

/* The core removes the function and the router when the device goes: no destruct callback. */
static const struct modvm_devreg piix3_reg = {
    .version = MODVM_DEVREG_VERSION,
    .name = "piix3",
    .description = "PIIX3 PCI-to-ISA bridge (00:01.0) and PCI INTx router (PIRQA-D)",
    .family = MODVM_DEV_FAMILY_SYSTEM,
    .max_instances = 1,
    .instance_size = sizeof(struct piix3_state),
    .options = NULL,
    .construct = piix3_construct,
    .reset = piix3_reset,
    .version_end = MODVM_DEVREG_VERSION,
};

/* Plugin entry (modvm_plugin_desc.register_types): checks the registrar, registers the type. */
static int piix3_register(const struct modvm_registrar *reg)
{
    if (MODVM_VERSION_MAGIC(reg->version) != MODVM_VERSION_MAGIC(MODVM_REGISTRAR_VERSION) ||
        MODVM_VERSION_MAJOR(reg->version) != MODVM_VERSION_MAJOR(MODVM_REGISTRAR_VERSION))
        return -EINVAL;
    return reg->register_device(reg, &piix3_reg);
}

MODVM_PLUGIN(.name = "piix3", .plugin_version = "1.0.0", .license = "MIT",
             .description = "PIIX3 PCI-to-ISA bridge and PCI interrupt (PIRQ) router",
             .register_types = piix3_register);
