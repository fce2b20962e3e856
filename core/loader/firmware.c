/* core/loader/firmware.c — booting a PC firmware image (SeaBIOS) from the reset vector.
 *
 * What a PC's chipset does with its BIOS flash, as QEMU's pc machine models it (hw/i386/x86.c
 * x86_bios_rom_init): the whole image sits at the top of the 4 GiB space, ending at 0xFFFFFFFF, so
 * the CPU's first fetch at 0xFFFFFFF0 (CS base 0xFFFF0000, IP 0xFFF0) lands in its last 16 bytes; and
 * its last 128 KiB also appear at 0xE0000-0xFFFFF, where real-mode code reaches them.
 *
 * modvm does not model the i440FX PAM registers that switch 0xC0000-0xFFFFF between ROM and RAM.
 * The legacy area is plain, writable guest RAM that this loader fills with the image's last 128 KiB
 * at power-on and at every reset. SeaBIOS "shadows" itself there anyway (it copies itself from the
 * high ROM and then writes its variables in that area), so it finds the RAM it expects; the only
 * difference to QEMU — a guest can write to the area before SeaBIOS locks it — is harmless because a
 * reset restores it.
 *
 * Images are hostile input only in their size: the content is guest code, run as such. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../err.h"
#include "../pgm.h"
#include "loader.h"

#define FW_4G 0x100000000ull
#define FW_GRANULE (64u << 10)
#define FW_MAX_SIZE (16u << 20)
#define FW_LEGACY_MAX (128u << 10)
#define FW_LEGACY_END 0x100000u

struct loader_firmware {
    char *path;
    uint8_t *legacy; /* the image's last legacy_len bytes */
    size_t legacy_len;
    size_t size;
};

/* Turns the Firmware/Path value into a file: "seabios" is Debian's SeaBIOS build, anything else a
 * path. Returns NULL (message set) when "seabios" is not installed. */
static const char *firmware_resolve(const char *path)
{
    if (strcmp(path, "seabios") != 0)
        return path;
    if (access(LOADER_SEABIOS_PATH, R_OK) == 0)
        return LOADER_SEABIOS_PATH;
    modvm_err_set(-ENOENT, "--firmware seabios: %s is missing; install Debian's SeaBIOS with "
                           "'apt-get install seabios', or give --firmware FILE", LOADER_SEABIOS_PATH);
    return NULL;
}

/* Reads the whole image: a whole number of 64 KiB blocks, at most 16 MiB. */
static int firmware_read(const char *path, uint8_t **data, size_t *len)
{
    int rc = loader_read_file("firmware", path, FW_MAX_SIZE, data, len);
    if (rc == 0 && (*len == 0 || *len % FW_GRANULE)) {
        free(*data);
        rc = modvm_err_set(-EINVAL, "firmware '%s' is %zu bytes; a firmware image must be a whole number of "
                                    "64 KiB blocks, at most 16 MiB", path, *len);
    }
    return rc;
}

int loader_firmware_open(struct pgm *pgm, const char *path, struct loader_firmware **out)
{
    const char *file = firmware_resolve(path);
    if (!file)
        return -ENOENT;
    uint8_t *img = NULL;
    size_t len = 0;
    int rc = firmware_read(file, &img, &len);
    if (rc < 0)
        return rc;
    struct loader_firmware *fw = calloc(1, sizeof(*fw));
    size_t legacy = len < FW_LEGACY_MAX ? len : FW_LEGACY_MAX;
    if (!fw || !(fw->path = strdup(file)) || !(fw->legacy = malloc(legacy))) {
        loader_firmware_free(fw);
        free(img);
        return modvm_err_set(-ENOMEM, "out of memory for firmware '%s'", file);
    }
    memcpy(fw->legacy, img + len - legacy, legacy);
    fw->legacy_len = legacy;
    fw->size = len;
    rc = pgm_add_rom(pgm, FW_4G - len, len, img, len);
    free(img);
    if (rc < 0) {
        modvm_err_set(rc, "cannot map firmware '%s' (%zu KiB) as ROM below 4 GiB at 0x%llx: %s", file, len >> 10,
                      (unsigned long long)(FW_4G - len), strerror(-rc));
        loader_firmware_free(fw);
        return rc;
    }
    *out = fw;
    return 0;
}

int loader_firmware_reset(struct pgm *pgm, const struct loader_firmware *fw, struct boot_state *out)
{
    uint64_t at = FW_LEGACY_END - fw->legacy_len;
    int rc = pgm_phys_write(pgm, at, fw->legacy, fw->legacy_len);
    if (rc < 0)
        return modvm_err_set(rc, "cannot copy firmware '%s' to 0x%llx-0x%x: the legacy BIOS area is not guest RAM",
                             fw->path, (unsigned long long)at, FW_LEGACY_END - 1);
    *out = (struct boot_state){.mode = BOOT_MODE_RESET};
    return 0;
}

void loader_firmware_free(struct loader_firmware *fw)
{
    if (!fw)
        return;
    free(fw->legacy);
    free(fw->path);
    free(fw);
}
