/* fw-cfg.h — what the fw-cfg plugin's files share: the SMBIOS table builder (smbios.c) used by the
 * device (fw-cfg.c). Internal to the plugin; not part of the SDK. */
#ifndef MODVM_PLUGIN_FWCFG_H
#define MODVM_PLUGIN_FWCFG_H

#include <stddef.h>
#include <stdint.h>

/** A range of guest RAM, [start, end). */
struct fwcfg_ram_range {
    uint64_t start, end;
};

/** SMBIOS entry point kinds. */
enum fwcfg_smbios_entry {
    FWCFG_SMBIOS_64 = 64, /* SMBIOS 3.0 "_SM3_" (64-bit table address) */
    FWCFG_SMBIOS_32 = 32, /* SMBIOS 2.8 "_SM_" + "_DMI_" (32-bit address, table ≤ 64 KiB) */
};

/** What the tables describe. */
struct fwcfg_smbios_params {
    enum fwcfg_smbios_entry entry;
    unsigned ncpus;                     /* 1..FWCFG_SMBIOS_MAX_CPUS */
    uint64_t ram_size;                  /* bytes */
    const struct fwcfg_ram_range *ram;  /* RAM as mapped (type 19), sorted */
    size_t nram;                        /* ≤ FWCFG_SMBIOS_MAX_RANGES */
    uint8_t uuid[16];                   /* RFC 4122 byte order (as fw_cfg's UUID item) */
    const char *bios_version;           /* type 0 version string */
};

#define FWCFG_SMBIOS_MAX_CPUS 1024u
#define FWCFG_SMBIOS_MAX_RANGES 64u

/** Builds the structure table and the entry point ("anchor") SeaBIOS completes: it places the table,
 * writes its address into the anchor and fixes the checksums (src/fw/biostables.c). Returns 0, or
 * -E2BIG (the table does not fit the 2.8 entry point) / -ENOMEM / -EINVAL. The caller frees both. */
int fwcfg_smbios_build(const struct fwcfg_smbios_params *p, uint8_t **tables, size_t *tables_len, uint8_t **anchor,
                       size_t *anchor_len);

#endif
