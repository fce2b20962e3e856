/* core/fw.h — the VM's firmware files: named blobs plugins and the core share (ACPI tables, e820,
 * boot order), served to firmware by the fw_cfg device and used by the direct kernel loaders. */
#ifndef MODVM_CORE_FW_H
#define MODVM_CORE_FW_H

#include <stddef.h>

struct fw_files;

/** Creates an empty set. */
struct fw_files *fw_files_create(void);
void fw_files_destroy(struct fw_files *fw);
/** Adds or replaces `name` (1..55 printable characters, no spaces) with a copy of the data. */
int fw_files_add(struct fw_files *fw, const char *name, const void *data, size_t len);
/** Looks a file up (data valid until replaced or destroyed). -ENOENT when absent. */
int fw_files_get(struct fw_files *fw, const char *name, const void **data, size_t *len);
/** The index-th file in name order; -ENOENT past the end. */
int fw_files_at(struct fw_files *fw, size_t index, const char **name, const void **data, size_t *len);

#endif
