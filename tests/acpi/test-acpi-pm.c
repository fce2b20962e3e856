/* tests/acpi/test-acpi-pm.c — the "acpi" plugin through the device harness: the firmware files it
 * publishes, and its PM registers — the PM timer against virtual time, TMR_STS and the SCI on GSI 9,
 * S5 soft-off (power-off request with status 0), the reset register, GPE0, reset, saved state and
 * construct failures. The real acpi.so is loaded from $ACPI_PLUGIN.
 *
 * Spec: ACPI 6.5 4.8.3 (PM1 event/control, PM timer), 4.8.4.1 (GPE blocks), 4.8.3.6 (reset). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devharness.h"
#include "tables.h"

#define PM1_STS (ACPI_PM_BASE + 0)
#define PM1_EN (ACPI_PM_BASE + 2)
#define PM1_CNT (ACPI_PM_BASE + 4)
#define PM_TMR (ACPI_PM_BASE + 8)
#define RESET_REG (ACPI_PM_BASE + 0xc)
#define GPE0_STS ACPI_GPE0_BASE
#define GPE0_EN (ACPI_GPE0_BASE + 2)
#define TMR_BIT 0x0001u
#define PWRBTN_BIT 0x0100u
#define SCI_EN 0x0001u
#define SLP_EN 0x2000u
#define SLP_TYP(t) ((uint32_t)(t) << 10)
#define HZ 3579545ull
#define MSB_PERIOD_NS 599932015941ull /* ceil(2^31 * 1e9 / 3579545) */

/* Opens the plugin and constructs "acpi" with `opts` for `cpus` CPUs and `ram` bytes. */
static struct devharness *acpi_new(const char *const *opts, uint64_t cpus, uint64_t ram)
{
    const char *path = getenv("ACPI_PLUGIN");
    if (!path)
        fail_msg("ACPI_PLUGIN is not set (path of acpi.so)");
    struct devharness *h = devharness_open(path);
    assert_non_null(h);
    devharness_set_vm_facts(h, cpus, ram);
    int rc = devharness_construct(h, "acpi", 0, opts);
    if (rc != 0)
        fail_msg("construct failed (%d): %s", rc, devharness_last_error(h));
    return h;
}

static struct devharness *acpi_default(void)
{
    return acpi_new(NULL, 2, 256ull << 20);
}

static uint8_t sum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    while (len--)
        s = (uint8_t)(s + *p++);
    return s;
}

/* ---- tables as firmware files --------------------------------------------------------------------- */

/* The three files exist, agree with a direct build, and carry valid checksums. */
static void test_fw_files(void **state)
{
    (void)state;
    struct devharness *h = acpi_default();
    const void *tables, *rsdp, *loader;
    size_t tlen, rlen, llen;
    assert_int_equal(devharness_fw_file_count(h), 3);
    assert_int_equal(devharness_fw_file_get(h, ACPI_FILE_TABLES, &tables, &tlen), 0);
    assert_int_equal(devharness_fw_file_get(h, ACPI_FILE_RSDP, &rsdp, &rlen), 0);
    assert_int_equal(devharness_fw_file_get(h, ACPI_FILE_LOADER, &loader, &llen), 0);
    assert_int_equal(rlen, 36);
    assert_int_equal(sum(rsdp, 36), 0);
    assert_int_equal(llen % ACPI_LOADER_ENTRY_SIZE, 0);

    struct acpi_platform p = {.ncpus = 2, .ram_size = 256ull << 20, .pci_hole64_size = 32ull << 30,
                              .com1 = true, .rtc = true, .i8042 = true};
    struct acpi_blobs b;
    assert_int_equal(acpi_build(&p, &b), 0);
    assert_int_equal(b.tables_len, tlen);
    assert_memory_equal(b.tables, tables, tlen);
    assert_memory_equal(b.loader, loader, llen);
    acpi_blobs_free(&b);
    assert_int_equal(devharness_destruct(h), 0);
    devharness_close(h);
}

/* Options change what the tables list. */
static void test_options(void **state)
{
    (void)state;
    static const char *const opts[] = {"com1=off", "i8042=off", "pci-hole64-size=0", NULL};
    struct devharness *h = acpi_new(opts, 1, 64ull << 20);
    const void *tables;
    size_t tlen;
    assert_int_equal(devharness_fw_file_get(h, ACPI_FILE_TABLES, &tables, &tlen), 0);
    struct acpi_platform p = {.ncpus = 1, .ram_size = 64ull << 20, .rtc = true};
    struct acpi_blobs b;
    assert_int_equal(acpi_build(&p, &b), 0);
    assert_int_equal(b.tables_len, tlen);
    assert_memory_equal(b.tables, tables, tlen);
    assert_null(memmem(tables, tlen, "COM1", 4));
    assert_null(memmem(tables, tlen, "KBD_", 4));
    acpi_blobs_free(&b);
    devharness_close(h);
}

/* Construct failures: no firmware-file interface, too many CPUs, a port or timer that cannot be had;
 * destruct leaves nothing behind in every case. */
static void test_construct_failures(void **state)
{
    (void)state;
    const char *path = getenv("ACPI_PLUGIN");
    struct devharness *h = devharness_open(path);
    assert_non_null(h);
    devharness_set_fw_interface(h, false);
    assert_int_equal(devharness_construct(h, "acpi", 0, NULL), -ENOTSUP);
    assert_non_null(strstr(devharness_last_error(h), "firmware-file"));
    assert_int_equal(devharness_leaks(h), 0);
    devharness_set_fw_interface(h, true);

    devharness_set_vm_facts(h, 300, 0);
    assert_int_equal(devharness_construct(h, "acpi", 0, NULL), -EINVAL);
    assert_non_null(strstr(devharness_last_error(h), "300 vCPUs"));
    devharness_set_vm_facts(h, 1, 0);

    static const char *const helpers[] = {"pio_create", "pio_map", "timer_create"};
    for (size_t i = 0; i < 3; i++) {
        devharness_fail_next(h, helpers[i], -EBUSY);
        assert_int_equal(devharness_construct(h, "acpi", 0, NULL), -EBUSY);
        assert_true(strlen(devharness_last_error(h)) > 0);
        assert_int_equal(devharness_leaks(h), 0);
    }
    assert_int_equal(devharness_construct(h, "acpi", 0, NULL), 0);
    assert_true(devharness_pio_mapped(h, ACPI_PM_BASE));
    assert_true(devharness_pio_mapped(h, ACPI_PM_BASE + ACPI_PM_LEN - 1));
    assert_false(devharness_pio_mapped(h, ACPI_PM_BASE + ACPI_PM_LEN));
    assert_true(devharness_pio_mapped(h, ACPI_GPE0_BASE + 3));
    assert_int_equal(devharness_destruct(h), 0);
    devharness_close(h);
}

/* ---- the PM timer and TMR_STS/SCI ----------------------------------------------------------------- */

/* The counter runs at 3.579545 MHz of virtual time, starts at 0, reads the same in any width. */
static void test_pm_timer(void **state)
{
    (void)state;
    struct devharness *h = acpi_default();
    uint32_t t0 = devharness_pio_in(h, PM_TMR, 4);
    assert_int_equal(t0, 0);
    devharness_advance_ns(h, 1000000000ull);
    uint32_t t1 = devharness_pio_in(h, PM_TMR, 4);
    assert_true(t1 - t0 >= HZ - 1 && t1 - t0 <= HZ + 1);
    devharness_advance_ns(h, 1000);
    uint32_t t2 = devharness_pio_in(h, PM_TMR, 4);
    assert_true(t2 - t1 >= 3 && t2 - t1 <= 4); /* 3.58 ticks per microsecond */
    /* no time passes: 2- and 1-byte reads see the same counter */
    assert_int_equal(devharness_pio_in(h, PM_TMR, 2), t2 & 0xffff);
    assert_int_equal(devharness_pio_in(h, PM_TMR + 2, 2), t2 >> 16);
    assert_int_equal(devharness_pio_in(h, PM_TMR + 1, 1), (t2 >> 8) & 0xff);
    /* writes are ignored */
    devharness_pio_out(h, PM_TMR, 0, 4);
    assert_int_equal(devharness_pio_in(h, PM_TMR, 4), t2);
    /* 32 bits wide: after an hour it has wrapped (2^32 ticks = 1199.86 s) */
    devharness_advance_ns(h, 3600ull * 1000000000ull);
    uint32_t t3 = devharness_pio_in(h, PM_TMR, 4);
    uint64_t expect = (3601ull * HZ + 3) & 0xffffffffu;
    assert_true((uint32_t)(t3 - (uint32_t)expect) <= 2 || (uint32_t)((uint32_t)expect - t3) <= 2);
    devharness_close(h);
}

/* TMR_STS sets when bit 31 toggles; the SCI (GSI 9, level) follows TMR_STS & TMR_EN; writing 1
 * clears the status and drops the line; with TMR_EN set the timer callback raises it by itself. */
static void test_timer_overflow_sci(void **state)
{
    (void)state;
    struct devharness *h = acpi_default();
    assert_int_equal(devharness_pio_in(h, PM1_STS, 2), 0);
    devharness_advance_ns(h, MSB_PERIOD_NS - 2);
    assert_int_equal(devharness_pio_in(h, PM1_STS, 2) & TMR_BIT, 0);
    devharness_advance_ns(h, 2);
    assert_int_equal(devharness_pio_in(h, PM1_STS, 2) & TMR_BIT, TMR_BIT);
    assert_int_equal(devharness_pio_in(h, PM_TMR, 4), 0x80000000u);
    assert_int_equal(devharness_irq_level(h, ACPI_SCI_GSI), 0); /* not enabled */

    devharness_pio_out(h, PM1_EN, TMR_BIT, 2);
    assert_int_equal(devharness_pio_in(h, PM1_EN, 2), TMR_BIT);
    assert_int_equal(devharness_irq_level(h, ACPI_SCI_GSI), 1);
    devharness_pio_out(h, PM1_STS, PWRBTN_BIT, 2); /* clearing another bit changes nothing */
    assert_int_equal(devharness_irq_level(h, ACPI_SCI_GSI), 1);
    devharness_pio_out(h, PM1_STS, TMR_BIT, 2);
    assert_int_equal(devharness_pio_in(h, PM1_STS, 2), 0);
    assert_int_equal(devharness_irq_level(h, ACPI_SCI_GSI), 0);

    /* The next toggle (bit 31 back to 0) raises the SCI with no guest access in between. */
    unsigned raises = devharness_irq_raises(h, ACPI_SCI_GSI);
    devharness_advance_ns(h, MSB_PERIOD_NS);
    assert_int_equal(devharness_irq_raises(h, ACPI_SCI_GSI), raises + 1);
    assert_int_equal(devharness_irq_level(h, ACPI_SCI_GSI), 1);
    /* Disabling drops it, the status stays. */
    devharness_pio_out(h, PM1_EN, 0, 2);
    assert_int_equal(devharness_irq_level(h, ACPI_SCI_GSI), 0);
    assert_int_equal(devharness_pio_in(h, PM1_STS, 2), TMR_BIT);
    /* Byte-wide access to the enable register's low byte. */
    devharness_pio_out(h, PM1_EN, TMR_BIT, 1);
    assert_int_equal(devharness_irq_level(h, ACPI_SCI_GSI), 1);
    /* Reserved enable bits do not stick. */
    devharness_pio_out(h, PM1_EN, 0xffff, 2);
    assert_int_equal(devharness_pio_in(h, PM1_EN, 2), 0x4721);
    /* A 32-bit write at PM1_STS clears status and sets enable in one go. */
    devharness_pio_out(h, PM1_STS, 0x0000ffffu, 4);
    assert_int_equal(devharness_pio_in(h, PM1_STS, 4), 0);
    assert_int_equal(devharness_irq_level(h, ACPI_SCI_GSI), 0);
    assert_int_equal(devharness_timers_armed(h), 1);
    devharness_close(h);
}

/* ---- PM1 control: S5, other sleep types ------------------------------------------------------------ */

static void test_sci_en_and_s5(void **state)
{
    (void)state;
    struct devharness *h = acpi_default();
    enum modvm_vm_request req;
    int status = -1;
    assert_int_equal(devharness_pio_in(h, PM1_CNT, 2), SCI_EN);
    devharness_pio_out(h, PM1_CNT, 0, 2); /* SCI_EN cannot be cleared: no SMI_CMD, ACPI mode only */
    assert_int_equal(devharness_pio_in(h, PM1_CNT, 2), SCI_EN);

    /* SLP_TYP without SLP_EN: stored, nothing happens. */
    devharness_pio_out(h, PM1_CNT, SLP_TYP(5) | SCI_EN, 2);
    assert_int_equal(devharness_pio_in(h, PM1_CNT, 2), SLP_TYP(5) | SCI_EN);
    assert_int_equal(devharness_vm_requests(h, NULL, NULL), 0);
    /* S0 with SLP_EN: nothing. Another type: a guest error, nothing. */
    devharness_pio_out(h, PM1_CNT, SLP_TYP(0) | SLP_EN | SCI_EN, 2);
    assert_int_equal(devharness_vm_requests(h, NULL, NULL), 0);
    unsigned gerr = devharness_guest_errors(h);
    devharness_pio_out(h, PM1_CNT, SLP_TYP(3) | SLP_EN | SCI_EN, 2);
    assert_int_equal(devharness_vm_requests(h, NULL, NULL), 0);
    assert_int_equal(devharness_guest_errors(h), gerr + 1);
    /* SLP_EN reads 0. */
    assert_int_equal(devharness_pio_in(h, PM1_CNT, 2) & SLP_EN, 0);

    /* S5, as Linux writes it (16 bits): power off with status 0. */
    devharness_pio_out(h, PM1_CNT, SLP_TYP(ACPI_SLP_TYP_S5) | SLP_EN | SCI_EN, 2);
    assert_int_equal(devharness_vm_requests(h, &req, &status), 1);
    assert_int_equal(req, MODVM_VM_REQ_POWER_OFF);
    assert_int_equal(status, 0);
    /* ... and as one byte to the high half. */
    devharness_pio_out(h, PM1_CNT + 1, (SLP_TYP(5) | SLP_EN) >> 8, 1);
    assert_int_equal(devharness_vm_requests(h, &req, &status), 2);
    assert_int_equal(req, MODVM_VM_REQ_POWER_OFF);
    assert_int_equal(status, 0);
    devharness_close(h);
}

/* ---- the reset register, GPE0 --------------------------------------------------------------------- */

static void test_reset_register(void **state)
{
    (void)state;
    struct devharness *h = acpi_default();
    enum modvm_vm_request req;
    unsigned gerr = devharness_guest_errors(h);
    devharness_pio_out(h, RESET_REG, 0x01, 1);
    assert_int_equal(devharness_vm_requests(h, NULL, NULL), 0);
    assert_int_equal(devharness_guest_errors(h), gerr + 1);
    assert_int_equal(devharness_pio_in(h, RESET_REG, 1), 0);
    devharness_pio_out(h, RESET_REG, ACPI_RESET_VALUE, 1);
    assert_int_equal(devharness_vm_requests(h, &req, NULL), 1);
    assert_int_equal(req, MODVM_VM_REQ_RESET);
    /* a 32-bit write covering the timer and the reset byte resets too, the timer ignores it */
    devharness_pio_out(h, PM_TMR, (uint32_t)ACPI_RESET_VALUE << 0, 4);
    assert_int_equal(devharness_vm_requests(h, NULL, NULL), 1);
    devharness_pio_out(h, RESET_REG - 2, (uint32_t)ACPI_RESET_VALUE << 16, 4);
    assert_int_equal(devharness_vm_requests(h, &req, NULL), 2);
    assert_int_equal(req, MODVM_VM_REQ_RESET);
    devharness_close(h);
}

static void test_gpe0(void **state)
{
    (void)state;
    struct devharness *h = acpi_default();
    assert_int_equal(devharness_pio_in(h, GPE0_STS, 4), 0);
    devharness_pio_out(h, GPE0_EN, 0xbeef, 2);
    assert_int_equal(devharness_pio_in(h, GPE0_EN, 2), 0xbeef);
    assert_int_equal(devharness_pio_in(h, GPE0_STS, 4), 0xbeef0000u);
    assert_int_equal(devharness_pio_in(h, GPE0_EN + 1, 1), 0xbe);
    devharness_pio_out(h, GPE0_STS, 0xffff, 2); /* nothing to clear */
    assert_int_equal(devharness_pio_in(h, GPE0_STS, 2), 0);
    assert_int_equal(devharness_irq_level(h, ACPI_SCI_GSI), 0); /* no GPE sources */
    /* the core's robustness path: an access handed whole past the end is refused by the device */
    assert_int_equal(devharness_pio_in_whole(h, GPE0_EN + 1, 4), 0xffffffffu);
    devharness_pio_out_whole(h, GPE0_EN + 1, 0, 4);
    assert_int_equal(devharness_pio_in(h, GPE0_EN, 2), 0xbeef);
    assert_int_equal(devharness_pio_in_whole(h, ACPI_PM_BASE + 14, 4), 0xffffffffu);
    devharness_close(h);
}

/* ---- reset, saved state --------------------------------------------------------------------------- */

static void test_device_reset(void **state)
{
    (void)state;
    struct devharness *h = acpi_default();
    devharness_advance_ns(h, MSB_PERIOD_NS);
    devharness_pio_out(h, PM1_EN, TMR_BIT, 2);
    devharness_pio_out(h, PM1_CNT, SLP_TYP(5) | SCI_EN, 2);
    devharness_pio_out(h, GPE0_EN, 0x1, 2);
    assert_int_equal(devharness_irq_level(h, ACPI_SCI_GSI), 1);
    uint32_t before = devharness_pio_in(h, PM_TMR, 4);
    devharness_reset(h);
    assert_int_equal(devharness_irq_level(h, ACPI_SCI_GSI), 0);
    assert_int_equal(devharness_pio_in(h, PM1_STS, 2), 0);
    assert_int_equal(devharness_pio_in(h, PM1_EN, 2), 0);
    assert_int_equal(devharness_pio_in(h, PM1_CNT, 2), SCI_EN);
    assert_int_equal(devharness_pio_in(h, GPE0_EN, 2), 0);
    assert_true(devharness_pio_in(h, PM_TMR, 4) >= before); /* the timer keeps counting */
    devharness_close(h);
}

static void test_saved_state(void **state)
{
    (void)state;
    struct devharness *a = acpi_default(), *b = acpi_default();
    devharness_advance_ns(a, MSB_PERIOD_NS + 12345);
    devharness_pio_out(a, PM1_EN, TMR_BIT | PWRBTN_BIT, 2);
    devharness_pio_out(a, PM1_CNT, SLP_TYP(5) | SCI_EN, 2);
    devharness_pio_out(a, GPE0_EN, 0x3, 2);
    uint32_t tmr = devharness_pio_in(a, PM_TMR, 4);
    uint8_t *buf;
    size_t len;
    assert_int_equal(devharness_save(a, &buf, &len), 0);
    assert_int_equal(len, 18);

    devharness_advance_ns(b, 5 * 1000000000ull); /* b's clock is elsewhere */
    assert_int_equal(devharness_load(b, buf, len, 1), 0);
    assert_int_equal(devharness_pio_in(b, PM1_STS, 2), TMR_BIT);
    assert_int_equal(devharness_pio_in(b, PM1_EN, 2), TMR_BIT | PWRBTN_BIT);
    assert_int_equal(devharness_pio_in(b, PM1_CNT, 2), SLP_TYP(5) | SCI_EN);
    assert_int_equal(devharness_pio_in(b, GPE0_EN, 2), 0x3);
    assert_int_equal(devharness_pio_in(b, PM_TMR, 4), tmr); /* the counter continues from the saved value */
    assert_int_equal(devharness_irq_level(b, ACPI_SCI_GSI), 1);

    /* Hostile units: wrong version, truncated, impossible bits, another port layout. */
    assert_int_equal(devharness_load(b, buf, len, 2), -EINVAL);
    assert_int_equal(devharness_load(b, buf, len - 1, 1), -EINVAL);
    uint8_t bad[18];
    memcpy(bad, buf, len);
    bad[4] = 0; /* PM1_CNT without SCI_EN */
    assert_int_equal(devharness_load(b, bad, len, 1), -EINVAL);
    memcpy(bad, buf, len);
    bad[1] = 0x02; /* PM1_STS bit 9: SLPBTN is fine */
    assert_int_equal(devharness_load(b, bad, len, 1), 0);
    bad[0] = 0x02; /* PM1_STS bit 1: reserved */
    assert_int_equal(devharness_load(b, bad, len, 1), -EINVAL);
    memcpy(bad, buf, len);
    bad[14] = 0x08; /* PM base 0x608 */
    assert_int_equal(devharness_load(b, bad, len, 1), -EINVAL);
    assert_non_null(strstr(devharness_last_error(b), "PM ports"));
    free(buf);
    devharness_close(a);
    devharness_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fw_files),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_construct_failures),
        cmocka_unit_test(test_pm_timer),
        cmocka_unit_test(test_timer_overflow_sci),
        cmocka_unit_test(test_sci_en_and_s5),
        cmocka_unit_test(test_reset_register),
        cmocka_unit_test(test_gpe0),
        cmocka_unit_test(test_device_reset),
        cmocka_unit_test(test_saved_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
