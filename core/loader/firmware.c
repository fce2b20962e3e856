/* core/loader/firmware.c — booting a PC firmware image (SeaBIOS) from the reset vector.
 *
 * What a PC's chipset does with its BIOS flash, as QEMU's pc machine models it (hw/i386/x86.c
 * x86_bios_rom_init): the whole image sits at the top of the 4 GiB space, ending at 0xFFFFFFFF, so
 * the CPU's first fetch at 0xFFFFFFF0 (CS base 0xFFFF0000, IP 0xFFF0) lands in its last 16 bytes; and
 * its last 128 KiB also appear at 0xE0000-0xFFFFF, where real-mode code reaches them.
 *
 * The alias is the ROM side of PGM's shadow window (pgm.h, modvm/shadow.h): at power-on and reset the
 * window shows it, and the chipset's PAM registers switch segments to RAM as SeaBIOS shadows itself
 * (it copies its image from the high ROM into the RAM and write-protects it). A reset shows the
 * pristine alias again whatever the guest did to the RAM.
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

int loader_firmware_load(struct pgm *pgm, const char *path)
{
    const char *file = firmware_resolve(path);
    if (!file)
        return -ENOENT;
    uint8_t *img = NULL;
    size_t len = 0;
    int rc = firmware_read(file, &img, &len);
    if (rc < 0)
        return rc;
    size_t legacy = len < FW_LEGACY_MAX ? len : FW_LEGACY_MAX;
    rc = pgm_add_rom(pgm, FW_4G - len, len, img, len);
    if (rc < 0)
        modvm_err_set(rc, "cannot map firmware '%s' (%zu KiB) as ROM below 4 GiB at 0x%llx: %s", file, len >> 10,
                      (unsigned long long)(FW_4G - len), strerror(-rc));
    else if ((rc = pgm_shadow_set_rom(pgm, img + len - legacy, legacy)) < 0)
        modvm_err_set(rc, "firmware '%s' needs guest RAM up to 1 MiB for its real-mode copy at 0x%llx; give "
                          "more --memory", file, (unsigned long long)(FW_LEGACY_END - legacy));
    free(img);
    return rc;
}
