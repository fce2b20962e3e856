/* core/e820.c — the guest's e820 memory map from PGM's RAM regions (see e820.h for the layout and
 * ACPI 6.5 chapter 15 for what the types mean). */
#include "e820.h"

#include <errno.h>
#include <string.h>

#include "le.h"
#include "pgm.h"

/* Appends an entry if there is room; always counts it. */
static void e820_push(struct e820_entry *out, size_t max, size_t *n, uint64_t addr, uint64_t end, uint32_t type)
{
    if (end <= addr)
        return;
    if (*n < max)
        out[*n] = (struct e820_entry){.addr = addr, .size = end - addr, .type = type};
    (*n)++;
}

/* Adds [start, end) as RAM, except the part inside the ACPI area [a0, a1), which becomes ACPI memory. */
static void e820_push_ram(struct e820_entry *out, size_t max, size_t *n, uint64_t start, uint64_t end,
                          uint64_t a0, uint64_t a1)
{
    if (a0 >= a1 || a1 <= start || a0 >= end) {
        e820_push(out, max, n, start, end, E820_RAM);
        return;
    }
    e820_push(out, max, n, start, a0 > start ? a0 : start, E820_RAM);
    e820_push(out, max, n, a0 > start ? a0 : start, a1 < end ? a1 : end, E820_ACPI);
    e820_push(out, max, n, a1 < end ? a1 : end, end, E820_RAM);
}

/* Adds one RAM region [start, end): the pieces outside the EBDA..1 MiB hole as RAM, and the EBDA and
 * BIOS areas it covers as reserved. */
static void e820_add_region(struct e820_entry *out, size_t max, size_t *n, uint64_t start, uint64_t end,
                            uint64_t a0, uint64_t a1)
{
    /* RAM below the EBDA */
    e820_push(out, max, n, start, end < E820_EBDA_START ? end : E820_EBDA_START, E820_RAM);
    /* the EBDA and the BIOS, where this region backs them */
    if (start <= E820_EBDA_START && end >= E820_LOW_END)
        e820_push(out, max, n, E820_EBDA_START, E820_LOW_END, E820_RESERVED);
    if (start <= E820_BIOS_START && end >= E820_BIOS_END)
        e820_push(out, max, n, E820_BIOS_START, E820_BIOS_END, E820_RESERVED);
    /* RAM from 1 MiB on */
    e820_push_ram(out, max, n, start > E820_BIOS_END ? start : E820_BIOS_END, end, a0, a1);
}

/* Sorts the entries by address (insertion sort: a handful of entries). */
static void e820_sort(struct e820_entry *e, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct e820_entry x = e[i];
        size_t j = i;
        for (; j > 0 && e[j - 1].addr > x.addr; j--)
            e[j] = e[j - 1];
        e[j] = x;
    }
}

int e820_build(struct pgm *pgm, struct e820_entry *out, size_t max, size_t *count)
{
    size_t n = 0;
    uint64_t a0, a1, rsdp;
    pgm_get_acpi_area(pgm, &a0, &a1, &rsdp);
    for (size_t i = 0; i < pgm_mem_region_count(pgm); i++) {
        const struct pgm_mem_region *r = pgm_mem_region_at(pgm, i);
        if (!r || r->readonly || r->size == 0 || r->gpa + r->size < r->gpa)
            continue;
        e820_add_region(out, max, &n, r->gpa, r->gpa + r->size, a0, a1);
    }
    *count = n;
    if (n > max)
        return -ENOSPC;
    e820_sort(out, n);
    return 0;
}

size_t e820_encode_qemu(const struct e820_entry *entries, size_t count, uint8_t *out)
{
    for (size_t i = 0; i < count; i++) {
        uint8_t *p = out + i * E820_QEMU_ENTRY_SIZE;
        le_put(p, entries[i].addr, 8);
        le_put(p + 8, entries[i].size, 8);
        le_put(p + 16, entries[i].type, 4);
    }
    return count * E820_QEMU_ENTRY_SIZE;
}
