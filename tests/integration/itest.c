/* tests/integration/itest.c — see itest.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

const char *itest_modvm(void)
{
    const char *m = getenv("MODVM");
    if (!m || !*m) {
        print_error("MODVM is not set (run the tests with 'meson test')\n");
        fail();
    }
    return m;
}

const char *itest_guest(const char *name)
{
    static char slots[8][4096];
    static unsigned next;
    const char *dir = getenv("GUEST_DIR");
    if (!dir || !*dir) {
        print_error("GUEST_DIR is not set (run the tests with 'meson test')\n");
        fail();
    }
    char *s = slots[next++ % 8];
    snprintf(s, sizeof(slots[0]), "%s/%s.elf", dir, name);
    return s;
}

const char *itest_qemu_runner(void)
{
    const char *r = getenv("GUEST_RUNNER");
    return r && *r && access(r, R_OK) == 0 ? r : NULL;
}

bool itest_have_qemu(void)
{
    if (!itest_qemu_runner())
        return false;
    const char *path = getenv("PATH");
    if (!path)
        return false;
    char *copy = strdup(path), *save = NULL;
    bool found = false;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char file[4096];
        snprintf(file, sizeof(file), "%s/qemu-system-x86_64", *d ? d : ".");
        found = access(file, X_OK) == 0;
    }
    free(copy);
    return found;
}

bool itest_kvm_available(char *why, size_t len)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, len, "cannot open /dev/kvm read-write: %s", strerror(errno));
        return false;
    }
    close(fd);
    return true;
}

char *itest_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof(tmpl), "%s/modvm-itest-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d) {
        print_error("mkdtemp %s: %s\n", tmpl, strerror(errno));
        fail();
    }
    return strdup(d);
}

void itest_rmtree(char *dir)
{
    if (!dir)
        return;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[4096];
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

void itest_dump(const char *what, const struct proc_result *r)
{
    print_message("---- %s: %s (%.2f s)\n", what, r->describe, r->elapsed_s);
    print_message("---- stdout (%zu bytes):\n%s%s", r->out_len, r->out ? r->out : "",
                  r->out_len && r->out[r->out_len - 1] != '\n' ? "\n" : "");
    print_message("---- stderr (%zu bytes):\n%s%s", r->err_len, r->err ? r->err : "",
                  r->err_len && r->err[r->err_len - 1] != '\n' ? "\n" : "");
    print_message("----\n");
}

bool itest_lines_match(const char *what, const char *text, const char *const *patterns)
{
    char **lines;
    size_t n = proc_lines(text ? text : "", &lines), i = 0;
    bool ok = true;
    for (; patterns[i] && ok; i++) {
        if (i >= n) {
            print_message("%s: line %zu missing, expected \"%s\"\n", what, i + 1, patterns[i]);
            ok = false;
        } else if (fnmatch(patterns[i], lines[i], 0) != 0) {
            print_message("%s: line %zu is \"%s\", expected \"%s\"\n", what, i + 1, lines[i], patterns[i]);
            ok = false;
        }
    }
    if (ok && i < n) {
        print_message("%s: unexpected extra line %zu \"%s\"\n", what, i + 1, lines[i]);
        ok = false;
    }
    proc_lines_free(lines);
    return ok;
}

static int itest_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *itest_normalize(const char *text)
{
    char **lines;
    size_t n = proc_lines(text ? text : "", &lines), cap = strlen(text ? text : "") + n + 1, used = 0;
    char *out = malloc(cap);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char *aps = strstr(lines[i], "apic ids: bsp ");
        aps = aps ? strstr(aps, ", aps ") : NULL;
        if (aps) {
            aps += strlen(", aps ");
            char *ids[256], *save = NULL;
            size_t k = 0;
            char *copy = strdup(aps);
            for (char *t = strtok_r(copy, " ", &save); t && k < 256; t = strtok_r(NULL, " ", &save))
                ids[k++] = t;
            qsort(ids, k, sizeof(ids[0]), itest_cmp_str);
            *aps = '\0';
            used += (size_t)snprintf(out + used, cap - used, "%s", lines[i]);
            for (size_t j = 0; j < k; j++)
                used += (size_t)snprintf(out + used, cap - used, "%s%s", j ? " " : "", ids[j]);
            used += (size_t)snprintf(out + used, cap - used, "\n");
            free(copy);
        } else {
            used += (size_t)snprintf(out + used, cap - used, "%s\n", lines[i]);
        }
    }
    proc_lines_free(lines);
    return out;
}

size_t itest_count_lines(const char *text)
{
    char **lines;
    size_t n = proc_lines(text ? text : "", &lines);
    proc_lines_free(lines);
    return n;
}
