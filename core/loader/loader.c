/* core/loader/loader.c — reads the guest image file (bounded by guest RAM) and picks the loader. */
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

/* Reads a whole regular file of at most `limit` bytes. */
static int loader_read_file(const char *path, uint64_t limit, uint8_t **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return modvm_err_set(-errno, "cannot open kernel '%s': %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        rc = modvm_err_set(-EINVAL, "kernel '%s' is not a regular file", path);
    else if ((uint64_t)st.st_size > limit)
        rc = modvm_err_set(-EFBIG, "kernel '%s' (%lld bytes) is larger than guest RAM", path,
                           (long long)st.st_size);
    uint8_t *buf = rc == 0 ? malloc(st.st_size ? (size_t)st.st_size : 1) : NULL;
    size_t got = 0;
    if (rc == 0 && !buf)
        rc = -ENOMEM;
    while (rc == 0 && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0)
            rc = modvm_err_set(n < 0 ? -errno : -EIO, "cannot read kernel '%s'", path);
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
    uint8_t *img = NULL;
    size_t len = 0;
    int rc = loader_read_file(req->path, pgm_ram_size(pgm), &img, &len);
    if (rc < 0)
        return rc;
    if (req->flat) {
        rc = loader_flat(pgm, req->path, img, len, req->load_addr, req->flat_mode, out);
    } else if (loader_is_multiboot(img, len)) {
        char *cmdline = NULL;
        if (asprintf(&cmdline, "%s%s%s", req->path, req->cmdline && *req->cmdline ? " " : "",
                     req->cmdline ? req->cmdline : "") < 0)
            rc = -ENOMEM;
        else
            rc = loader_multiboot(pgm, req->path, img, len, cmdline, out);
        free(cmdline);
    } else {
        rc = modvm_err_set(-ENOEXEC, "kernel '%s' is not a multiboot image (no multiboot header in its "
                                     "first 8 KiB); for a raw binary use --kernel-addr", req->path);
    }
    free(img);
    return rc;
}
