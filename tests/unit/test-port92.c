/* test-port92.c — tests of the port92 plugin (System Control Port A), run through the device
 * harness.
 *
 * Spec: Intel 82371AB PIIX4 datasheet, Port 92h (bit 1 ALT_A20_GATE, bit 0 ALT_RST). The real
 * port92.so is loaded from $PORT92_PLUGIN. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devharness.h"

/* Opens the plugin (failing the test if it cannot). */
static struct devharness *open_plugin(void)
{
    const char *path = getenv("PORT92_PLUGIN");
    if (!path)
        fail_msg("PORT92_PLUGIN is not set (path of port92.so)");
    struct devharness *h = devharness_open(path);
    assert_non_null(h);
    return h;
}

/* cmocka setup/teardown: a constructed port 0x92 in *state. */
static int setup_port92(void **state)
{
    struct devharness *h = open_plugin();
    if (devharness_construct(h, "port92", 0, NULL) != 0)
        fail_msg("construct failed: %s", devharness_last_error(h));
    *state = h;
    return 0;
}

/* cmocka teardown: destructs and closes the device in *state. */
static int teardown_port92(void **state)
{
    struct devharness *h = *state;
    assert_int_equal(devharness_destruct(h), 0);
    devharness_close(h);
    return 0;
}

/* Reads port 0x92. */
static uint8_t rd(struct devharness *h)
{
    return (uint8_t)devharness_pio_in(h, 0x92, 1);
}

/* Writes port 0x92. */
static void wr(struct devharness *h, uint8_t v)
{
    devharness_pio_out(h, 0x92, v, 1);
}

/* How many VM resets were asked for. */
static unsigned resets(struct devharness *h)
{
    enum modvm_vm_request last = 0;
    unsigned n = devharness_vm_requests(h, &last, NULL);
    if (n)
        assert_int_equal(last, MODVM_VM_REQ_RESET);
    return n;
}

/* The descriptor and registration: one device type, no options. */
static void test_registration(void **state)
{
    (void)state;
    struct devharness *h = open_plugin();
    assert_string_equal(devharness_plugin(h)->name, "port92");
    const struct modvm_devreg *r = devharness_devreg(h, "port92");
    assert_non_null(r);
    assert_int_equal(r->family, MODVM_DEV_FAMILY_SYSTEM);
    assert_int_equal(r->max_instances, 1);
    assert_int_equal(r->saved_state_version, 1);
    assert_null(r->options);
    devharness_close(h);
}

/* Power-on 0 (PIIX default); only port 0x92 is claimed. */
static void test_power_on(void **state)
{
    struct devharness *h = *state;
    assert_int_equal(rd(h), 0x00);
    assert_true(devharness_pio_mapped(h, 0x92));
    assert_false(devharness_pio_mapped(h, 0x91));
    assert_false(devharness_pio_mapped(h, 0x93));
    assert_int_equal(resets(h), 0);
}

/* A20 reads back; reserved bits read 0. */
static void test_a20_readback(void **state)
{
    struct devharness *h = *state;
    wr(h, 0x02);
    assert_int_equal(rd(h), 0x02);
    wr(h, 0xfe); /* Linux's enable_a20_fast writes (old | 0x02) & ~0x01 */
    assert_int_equal(rd(h), 0x02);
    wr(h, 0x00);
    assert_int_equal(rd(h), 0x00);
    assert_int_equal(resets(h), 0);
}

/* Only a 0->1 edge of bit 0 resets; holding it high does not repeat; the VM reset clears it and
 * keeps A20. */
static void test_fast_reset(void **state)
{
    struct devharness *h = *state;
    wr(h, 0x03);
    assert_int_equal(resets(h), 1);
    assert_int_equal(rd(h), 0x03);
    wr(h, 0x03);
    wr(h, 0x01);
    assert_int_equal(resets(h), 1);
    wr(h, 0x00);
    wr(h, 0x01);
    assert_int_equal(resets(h), 2);
    wr(h, 0x03);
    devharness_reset(h);
    assert_int_equal(rd(h), 0x02);
    wr(h, 0x03);
    assert_int_equal(resets(h), 3);
}

/* Wide accesses are split into bytes; one handed over whole is counted and changes nothing. */
static void test_access_sizes(void **state)
{
    struct devharness *h = *state;
    devharness_pio_out(h, 0x91, 0x0200, 2); /* byte 1 lands on 0x92 */
    assert_int_equal(rd(h), 0x02);
    assert_int_equal(devharness_pio_in(h, 0x92, 2), 0xff02);
    devharness_pio_out_whole(h, 0x92, 0x0001, 2);
    assert_int_equal(rd(h), 0x02);
    assert_int_equal(devharness_pio_in_whole(h, 0x92, 4), 0xffffffffu);
    assert_int_equal(devharness_guest_errors(h), 2);
    assert_int_equal(resets(h), 0);
}

/* Failing to claim the port: one line, nothing left behind. */
static void test_construct_failure(void **state)
{
    (void)state;
    struct devharness *h = open_plugin();
    devharness_fail_next(h, "pio_map", -EBUSY);
    assert_int_equal(devharness_construct(h, "port92", 0, NULL), -EBUSY);
    assert_string_equal(devharness_last_error(h), "I/O port 0x92 is already in use");
    assert_int_equal(devharness_leaks(h), 0);
    devharness_close(h);

    h = open_plugin();
    const char *const opts[] = {"a20=on", NULL};
    assert_true(devharness_construct(h, "port92", 0, opts) < 0);
    assert_non_null(strstr(devharness_last_error(h), "a20"));
    devharness_close(h);
}

/* Saved state round-trips without a reset request; hostile units are refused whole. */
static void test_save_load(void **state)
{
    struct devharness *h = *state;
    uint8_t *buf;
    size_t len;
    wr(h, 0x03);
    assert_int_equal(devharness_save(h, &buf, &len), 0);
    assert_int_equal(len, 1);
    assert_int_equal(buf[0], 0x03);

    struct devharness *b = open_plugin();
    assert_int_equal(devharness_construct(b, "port92", 0, NULL), 0);
    assert_int_equal(devharness_load(b, buf, len, 1), 0);
    assert_int_equal(rd(b), 0x03);
    assert_int_equal(resets(b), 0);
    wr(b, 0x03);
    assert_int_equal(resets(b), 0); /* no edge: bit 0 was already 1 */

    uint8_t bad = 0x04;
    assert_int_equal(devharness_load(b, &bad, 1, 1), -EINVAL);
    assert_non_null(strstr(devharness_last_error(b), "reserved"));
    assert_int_equal(devharness_load(b, buf, 0, 1), -EINVAL);
    assert_int_equal(devharness_load(b, buf, len, 2), -EINVAL);
    assert_non_null(strstr(devharness_last_error(b), "version 2"));
    assert_int_equal(rd(b), 0x03); /* nothing of the rejected units was used */
    uint8_t two[2] = {0x02, 0x00};
    assert_int_equal(devharness_load(b, two, 2, 1), -EINVAL); /* trailing bytes: the core refuses */
    for (unsigned v = 0; v < 256; v++) {
        uint8_t byte = (uint8_t)v;
        int rc = devharness_load(b, &byte, 1, 1);
        assert_int_equal(rc, v < 4 ? 0 : -EINVAL);
    }
    assert_int_equal(resets(b), 0);
    free(buf);
    assert_int_equal(devharness_destruct(b), 0);
    devharness_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registration),
        cmocka_unit_test_setup_teardown(test_power_on, setup_port92, teardown_port92),
        cmocka_unit_test_setup_teardown(test_a20_readback, setup_port92, teardown_port92),
        cmocka_unit_test_setup_teardown(test_fast_reset, setup_port92, teardown_port92),
        cmocka_unit_test_setup_teardown(test_access_sizes, setup_port92, teardown_port92),
        cmocka_unit_test(test_construct_failure),
        cmocka_unit_test_setup_teardown(test_save_load, setup_port92, teardown_port92),
    };
    return cmocka_run_group_tests_name("port92", tests, NULL, NULL);
}
