/* core/machine.c — machine types (see machine.h). */
#include "machine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../pdm/pdm.h"
#include "cfgm.h"

static const char *const machine_pc_devices[] = {"i440fx", "piix3", "rtc", "i8042", "port92", "fw-cfg", "acpi", NULL};
static const char *const machine_none_devices[] = {NULL};

static const struct machine_type machine_types[] = {
    {"pc", "the PC platform: i440FX/PIIX3 PCI, RTC, i8042, port 92h, fw_cfg, ACPI", machine_pc_devices},
    {"none", "only the devices given with --device, --disk, --serial", machine_none_devices},
};

#define MACHINE_COUNT (sizeof(machine_types) / sizeof(machine_types[0]))

const struct machine_type *machine_type_find(const char *name)
{
    for (size_t i = 0; name && i < MACHINE_COUNT; i++)
        if (strcmp(machine_types[i].name, name) == 0)
            return &machine_types[i];
    return NULL;
}

const struct machine_type *machine_type_at(size_t index)
{
    return index < MACHINE_COUNT ? &machine_types[index] : NULL;
}

struct cfgm_node *machine_add_device(struct cfgm_node *root, const char *type)
{
    struct cfgm_node *t = cfgm_ensure(root, "Devices");
    t = t ? cfgm_ensure(t, type) : NULL;
    if (!t)
        return NULL;
    unsigned n = 0;
    for (struct cfgm_node *c = cfgm_first_child(t); c; c = cfgm_next_sibling(c))
        n++;
    char idx[16];
    snprintf(idx, sizeof(idx), "%u", n);
    return cfgm_ensure(t, idx);
}

int machine_compose(struct cfgm_node *root, const struct pdm *pdm, const struct machine_type *m, char *missing,
                    size_t missing_len)
{
    size_t used = 0;
    if (missing_len)
        missing[0] = '\0';
    for (const char *const *type = m->devices; *type; type++) {
        struct cfgm_node *devices = cfgm_child(root, "Devices");
        if (devices && cfgm_child(devices, *type))
            continue;
        if (!pdm_find_devreg(pdm, *type)) {
            if (used < missing_len) {
                int n = snprintf(missing + used, missing_len - used, "%s%s", used ? ", " : "", *type);
                used += n > 0 ? (size_t)n : 0;
            }
            continue;
        }
        if (!machine_add_device(root, *type))
            return -ENOMEM;
    }
    return 0;
}
