/* core/machine.h — machine types: the named sets of devices a VM is built from.
 *
 *   pc    the PC platform: i440fx host bridge (00.0), piix3 ISA bridge (01.0), rtc, i8042, port92,
 *         fw-cfg and acpi, in that construction order (bridges first, so later PCI devices take the
 *         free slots). What SeaBIOS needs, and what a directly booted Linux kernel expects to find.
 *   none  no devices beyond the ones given (small test guests; the old behaviour of --kernel).
 *
 * A machine adds only the devices the configuration does not name already (a --device rtc,base=...
 * keeps its options) and whose plugins are loaded: distributors may leave plugins out, and the
 * VM then runs without them. */
#ifndef MODVM_CORE_MACHINE_H
#define MODVM_CORE_MACHINE_H

#include <stddef.h>

struct cfgm_node;
struct pdm;

/** One machine type. */
struct machine_type {
    const char *name;
    const char *description;
    const char *const *devices; /* NULL-terminated, in construction order */
};

/** The machine type called `name`, or NULL. */
const struct machine_type *machine_type_find(const char *name);
/** The index-th machine type (0..), or NULL past the last. */
const struct machine_type *machine_type_at(size_t index);

/** Adds the node Devices/<type>/<n> (n: the next free instance number) and returns it; NULL on
 * allocation failure. */
struct cfgm_node *machine_add_device(struct cfgm_node *root, const char *type);

/** Adds `m`'s devices that `root` lacks and `pdm` has a plugin for; the ones without a plugin are
 * listed, comma-separated, in `missing` ("" when none). 0 or -ENOMEM. */
int machine_compose(struct cfgm_node *root, const struct pdm *pdm, const struct machine_type *m, char *missing,
                    size_t missing_len);

#endif
