/* tests/unit/test-loader.c — the multiboot and flat loaders on images built here: ELF32 and a.out
 * kludge images land at their addresses with bss zeroed, the multiboot information says what the
 * spec says, and hostile images (every truncation, random corruption, absurd headers) are refused
 * with one clear line or loaded consistently — never a crash or a write outside guest RAM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/err.h"
#include "../../core/loader/loader.h"
#include "../../core/pgm.h"

#define RAM (32u << 20)

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}
static void put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}
static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* A multiboot header at `off` with `flags` (and a.out fields when bit 16 is set). */
static void put_mb_header(uint8_t *img, size_t off, uint32_t flags, const uint32_t addrs[5])
{
    put32(img + off, 0x1BADB002u);
    put32(img + off + 4, flags);
    put32(img + off + 8, (uint32_t)-(0x1BADB002u + flags));
    for (int i = 0; addrs && i < 5; i++)
        put32(img + off + 12 + 4 * i, addrs[i]);
}

/* An ELF32 image: code "CODE" at file offset 0x1000 loaded at 2 MiB, 0x3000 bytes of memsz. */
static size_t make_elf(uint8_t *img, size_t cap)
{
    memset(img, 0, cap);
    memcpy(img, "\x7f" "ELF", 4);
    img[4] = 1; /* 32-bit */
    img[5] = 1; /* little-endian */
    img[6] = 1;
    put16(img + 16, 2);  /* ET_EXEC */
    put16(img + 18, 3);  /* EM_386 */
    put32(img + 20, 1);
    put32(img + 24, 0x200010); /* entry */
    put32(img + 28, 52);       /* phoff */
    put16(img + 40, 52);
    put16(img + 42, 32);
    put16(img + 44, 1);
    uint8_t *ph = img + 52;
    put32(ph, 1);               /* PT_LOAD */
    put32(ph + 4, 0x1000);      /* offset */
    put32(ph + 8, 0x200000);    /* vaddr */
    put32(ph + 12, 0x200000);   /* paddr */
    put32(ph + 16, 0x1000);     /* filesz */
    put32(ph + 20, 0x3000);     /* memsz: bss follows */
    put_mb_header(img, 0x1000, 0x3, NULL);
    memcpy(img + 0x1010, "CODE", 4);
    return 0x2000;
}

static struct pgm *new_pgm(void)
{
    struct pgm *pgm;
    assert_int_equal(pgm_create(RAM, &pgm), 0);
    return pgm;
}

static void elf_loads_and_mbi_is_right(void **state)
{
    (void)state;
    static uint8_t img[0x2000];
    size_t len = make_elf(img, sizeof(img));
    struct pgm *pgm = new_pgm();
    memset(pgm_phys_ptr(pgm, 0x201000, 0x2000), 0xaa, 0x2000); /* stale memory in the bss */
    struct boot_state bs;
    assert_int_equal(loader_multiboot(pgm, "t.elf", img, len, "t.elf exit=5", &bs), 0);
    assert_int_equal(bs.mode, BOOT_MODE_PROT32);
    assert_int_equal(bs.rip, 0x200010);
    assert_int_equal(bs.rax, 0x2BADB002u);
    uint8_t *ram = pgm_phys_ptr(pgm, 0, RAM);
    assert_memory_equal(ram + 0x200010, "CODE", 4);
    for (uint32_t a = 0x201000; a < 0x203000; a++)
        assert_int_equal(ram[a], 0);
    const uint8_t *mbi = ram + bs.rbx;
    uint32_t flags = get32(mbi);
    assert_true(flags & 0x1);   /* mem_lower/upper */
    assert_true(flags & 0x4);   /* cmdline */
    assert_true(flags & 0x40);  /* mmap */
    assert_true(flags & 0x200); /* loader name */
    assert_int_equal(get32(mbi + 4), 639);
    assert_int_equal(get32(mbi + 8), (RAM - 0x100000) / 1024);
    assert_string_equal((const char *)ram + get32(mbi + 16), "t.elf exit=5");
    assert_string_equal((const char *)ram + get32(mbi + 64), "modvm");
    uint32_t mmap_len = get32(mbi + 44), mmap = get32(mbi + 48);
    /* the e820 map: RAM below the EBDA, the EBDA, the BIOS, RAM from 1 MiB */
    assert_int_equal(mmap_len, 4 * 24);
    assert_int_equal(get32(ram + mmap + 24 + 4), 0x9fc00);
    assert_int_equal(get32(ram + mmap + 24 + 20), 2);
    const uint8_t *e = ram + mmap + 3 * 24; /* the RAM above 1 MiB */
    assert_int_equal(get32(e), 20);
    assert_int_equal(get32(e + 4), 0x100000);
    assert_int_equal(get32(e + 12), RAM - 0x100000);
    assert_int_equal(get32(e + 20), 1);
    pgm_destroy(pgm);
}

/* The ACPI tables a direct boot gets (pgm_set_acpi_area) are ACPI memory in the map, and a kernel
 * loading over them is refused. */
static void acpi_area_is_mapped_and_kept_free(void **state)
{
    (void)state;
    static uint8_t img[0x2000];
    size_t len = make_elf(img, sizeof(img));
    struct pgm *pgm = new_pgm();
    struct boot_state bs;
    pgm_set_acpi_area(pgm, 0x202000, 0x210000, 0xe0000);
    assert_int_equal(loader_multiboot(pgm, "t.elf", img, len, "", &bs), -ENOMEM);
    assert_non_null(strstr(modvm_err_get(), "ACPI tables"));
    pgm_set_acpi_area(pgm, RAM - 0x10000, RAM, 0xe0000);
    assert_int_equal(loader_multiboot(pgm, "t.elf", img, len, "", &bs), 0);
    const uint8_t *ram = pgm_phys_ptr(pgm, 0, RAM), *mbi = ram + bs.rbx;
    uint32_t mmap_len = get32(mbi + 44), mmap = get32(mbi + 48);
    bool found = false;
    for (uint32_t off = 0; off < mmap_len; off += 24)
        found |= get32(ram + mmap + off + 4) == RAM - 0x10000 && get32(ram + mmap + off + 12) == 0x10000 &&
                 get32(ram + mmap + off + 20) == 3;
    assert_true(found);
    pgm_destroy(pgm);
}

static void aout_kludge_loads(void **state)
{
    (void)state;
    static uint8_t img[0x800];
    memset(img, 0x90, sizeof(img));
    /* header at file offset 0x40 describes: image loaded at 0x100000, header at 0x100040 */
    const uint32_t addrs[5] = {0x100040, 0x100000, 0x100400, 0x101000, 0x100080};
    put_mb_header(img, 0x40, 0x10000, addrs);
    memcpy(img + 0x80, "ENTRY", 5);
    struct pgm *pgm = new_pgm();
    memset(pgm_phys_ptr(pgm, 0x100000, 0x1000), 0xaa, 0x1000);
    struct boot_state bs;
    assert_int_equal(loader_multiboot(pgm, "k.bin", img, sizeof(img), "k.bin", &bs), 0);
    assert_int_equal(bs.rip, 0x100080);
    uint8_t *ram = pgm_phys_ptr(pgm, 0, RAM);
    assert_memory_equal(ram + 0x100080, "ENTRY", 5);
    assert_int_equal(ram[0x1003ff], 0x90);
    for (uint32_t a = 0x100400; a < 0x101000; a++) /* only load_end..bss_end is zeroed */
        assert_int_equal(ram[a], 0);
    pgm_destroy(pgm);
}

static void bad_images_are_refused(void **state)
{
    (void)state;
    static uint8_t img[0x2000];
    struct pgm *pgm = new_pgm();
    struct boot_state bs;

    memset(img, 0, sizeof(img));
    assert_int_equal(loader_multiboot(pgm, "zero", img, sizeof(img), "", &bs), -ENOEXEC);
    assert_non_null(strstr(modvm_err_get(), "has no multiboot header"));

    size_t len = make_elf(img, sizeof(img));
    put32(img + 52 + 12, RAM); /* segment beyond RAM */
    assert_true(loader_multiboot(pgm, "big", img, len, "", &bs) < 0);
    assert_non_null(strstr(modvm_err_get(), "outside guest RAM"));

    make_elf(img, sizeof(img));
    put32(img + 52 + 16, 0x10000); /* filesz past the end of the file */
    assert_true(loader_multiboot(pgm, "trunc", img, len, "", &bs) < 0);
    assert_non_null(strstr(modvm_err_get(), "outside the file"));

    make_elf(img, sizeof(img));
    put32(img + 52 + 12, 0x9000); /* over the boot information area */
    assert_true(loader_multiboot(pgm, "low", img, len, "", &bs) < 0);
    assert_non_null(strstr(modvm_err_get(), "boot information area"));

    make_elf(img, sizeof(img));
    img[4] = 2; /* ELF64 */
    assert_true(loader_multiboot(pgm, "elf64", img, len, "", &bs) < 0);
    assert_non_null(strstr(modvm_err_get(), "32-bit"));

    make_elf(img, sizeof(img));
    put_mb_header(img, 0x1000, 0x3 | 0x8, NULL); /* requires an unknown feature */
    assert_int_equal(loader_multiboot(pgm, "feat", img, len, "", &bs), -ENOTSUP);

    make_elf(img, sizeof(img));
    static char longline[0x100000];
    memset(longline, 'a', sizeof(longline) - 1);
    assert_int_equal(loader_multiboot(pgm, "cmd", img, len, longline, &bs), -E2BIG);
    pgm_destroy(pgm);
}

/* Every truncation and many random corruptions: refused or loaded, never a crash. */
static void hostile_images_never_crash(void **state)
{
    (void)state;
    static uint8_t good[0x2000], img[0x2000];
    size_t len = make_elf(good, sizeof(good));
    struct pgm *pgm = new_pgm();
    struct boot_state bs;
    for (size_t n = 0; n <= len; n += 7) {
        uint8_t *copy = malloc(n ? n : 1); /* exactly n bytes, so ASan sees overreads */
        memcpy(copy, good, n);
        int rc = loader_multiboot(pgm, "cut", copy, n, "x", &bs);
        assert_true(rc == 0 || rc < 0);
        free(copy);
    }
    srand(1234);
    for (int i = 0; i < 3000; i++) {
        memcpy(img, good, len);
        for (int k = 0; k < 4; k++) {
            size_t at = (size_t)rand() % (k < 2 ? 120 : len); /* headers mostly */
            img[at] = (uint8_t)rand();
        }
        if (loader_multiboot(pgm, "fuzz", img, len, "x", &bs) == 0)
            assert_int_equal(bs.mode, BOOT_MODE_PROT32);
    }
    pgm_destroy(pgm);
}

static void flat_loader(void **state)
{
    (void)state;
    struct pgm *pgm = new_pgm();
    struct boot_state bs;
    assert_int_equal(loader_flat(pgm, "boot", (const uint8_t *)"\xeb\xfe", 2, 0x7c00, BOOT_MODE_REAL, &bs), 0);
    assert_int_equal(bs.mode, BOOT_MODE_REAL);
    assert_int_equal(bs.cs_selector, 0x7c0);
    assert_int_equal(bs.rip, 0);
    assert_memory_equal((uint8_t *)pgm_phys_ptr(pgm, 0x7c00, 2), "\xeb\xfe", 2);
    assert_true(loader_flat(pgm, "x", (const uint8_t *)"ab", 2, 0xfffff, BOOT_MODE_REAL, &bs) < 0);
    assert_true(loader_flat(pgm, "x", (const uint8_t *)"ab", 2, RAM - 1, BOOT_MODE_PROT32, &bs) < 0);
    assert_int_equal(loader_flat(pgm, "p", (const uint8_t *)"ab", 2, 0x100000, BOOT_MODE_PROT32, &bs), 0);
    assert_int_equal(bs.rip, 0x100000);
    pgm_destroy(pgm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(elf_loads_and_mbi_is_right),
        cmocka_unit_test(acpi_area_is_mapped_and_kept_free), cmocka_unit_test(aout_kludge_loads),
        cmocka_unit_test(bad_images_are_refused),     cmocka_unit_test(hostile_images_never_crash),
        cmocka_unit_test(flat_loader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
