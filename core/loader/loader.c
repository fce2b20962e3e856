/* core/loader/loader.c — reads the guest image (and initrd) file, bounded by guest RAM, and picks
 * the loader by signature, in QEMU's -kernel order: the Linux boot header ("HdrS", boot protocol),
 * a multiboot v1 header, an ELF with a PVH entry note. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../err.h"
#include "../pgm.h"
#include "loader.h"

int loader_read_file(const char *what, const char *path, uint64_t limit, uint8_t **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return modvm_err_set(-errno, "cannot open %s '%s': %s", what, path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        rc = modvm_err_set(-EINVAL, "%s '%s' is not a regular file", what, path);
    else if ((uint64_t)st.st_size > limit)
        rc = modvm_err_set(-EFBIG, "%s '%s' (%lld bytes) is too big for guest RAM (%llu MiB; give the VM more "
                                   "--memory)", what, path, (long long)st.st_size,
                           (unsigned long long)(limit >> 20));
    uint8_t *buf = rc == 0 ? malloc(st.st_size ? (size_t)st.st_size : 1) : NULL;
    size_t got = 0;
    if (rc == 0 && !buf)
        rc = -ENOMEM;
    while (rc == 0 && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0)
            rc = modvm_err_set(n < 0 ? -errno : -EIO, "cannot read %s '%s'", what, path);
        else
            got += (size_t)n;
    }
    close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *data = buf;
    *len = got;
    return 0;
}

int loader_load(struct pgm *pgm, const struct loader_request *req, struct boot_state *out)
{
    uint8_t *img = NULL, *rd = NULL;
    size_t len = 0, rd_len = 0;
    int rc = loader_read_file("kernel", req->path, pgm_ram_size(pgm), &img, &len);
    if (rc == 0 && req->initrd)
        rc = loader_read_file("initrd", req->initrd, pgm_ram_size(pgm), &rd, &rd_len);
    if (rc < 0) {
        free(img);
        return rc;
    }
    struct loader_image kernel = {.name = req->path, .data = img, .len = len};
    struct loader_image initrd = {.name = req->initrd, .data = rd, .len = rd_len};
    const struct loader_image *initrd_p = req->initrd ? &initrd : NULL;
    if (req->flat && req->initrd) {
        rc = modvm_err_set(-EINVAL, "--initrd needs a multiboot, bzImage or PVH kernel, not a flat binary "
                                    "(--kernel-addr)");
    } else if (req->flat) {
        rc = loader_flat(pgm, req->path, img, len, req->load_addr, req->flat_mode, out);
    } else if (loader_is_bzimage(img, len)) {
        rc = loader_bzimage(pgm, &kernel, req->cmdline, initrd_p, out);
    } else if (loader_is_multiboot(img, len)) {
        char *cmdline = NULL;
        if (asprintf(&cmdline, "%s%s%s", req->path, req->cmdline && *req->cmdline ? " " : "",
                     req->cmdline ? req->cmdline : "") < 0)
            rc = -ENOMEM;
        else
            rc = loader_multiboot_initrd(pgm, req->path, img, len, cmdline, initrd_p, out);
        free(cmdline);
    } else if (loader_is_elf(img, len)) {
        rc = loader_pvh(pgm, &kernel, req->cmdline, initrd_p, out);
    } else {
        rc = modvm_err_set(-ENOEXEC, "kernel '%s' is not a kernel modvm can boot: not a Linux bzImage, no "
                                     "multiboot header in its first 8 KiB, not an ELF file with a PVH entry note "
                                     "(for a raw binary use --kernel-addr)", req->path);
    }
    free(rd);
    free(img);
    return rc;
}
