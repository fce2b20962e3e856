/* tests/unit/test-pdm.c — PDM's loader, ABI checks, registry and option validation, driven with
 * real plugins built by the test suite (tests/unit/plugins): a good one and deliberately broken
 * ones. Each failure must be a negative errno with one clear line, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../core/cfgm.h"
#include "../../core/err.h"
#include "../../pdm/pdm.h"

/* The path of a test plugin built next to this test (env TEST_PLUGIN_DIR). */
static const char *plugin_path(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof(buf), "%s/%s.so", getenv("TEST_PLUGIN_DIR"), name);
    return buf;
}

/* Loads one plugin into a fresh PDM; returns the rc and leaves the message in modvm_err_get(). */
static int load_one(const char *name, struct pdm **out)
{
    assert_int_equal(pdm_create(out), 0);
    modvm_err_clear();
    return pdm_load_file(*out, plugin_path(name));
}

static void assert_one_line_containing(const char *needle)
{
    const char *msg = modvm_err_get();
    assert_non_null(strstr(msg, needle));
    assert_null(strchr(msg, '\n'));
}

static void good_plugin_loads_and_registers(void **state)
{
    (void)state;
    struct pdm *pdm;
    assert_int_equal(load_one("good", &pdm), 0);
    assert_int_equal(pdm_plugin_count(pdm), 1);
    const struct modvm_devreg *d = pdm_find_devreg(pdm, "test-good");
    assert_non_null(d);
    assert_ptr_equal(pdm_devreg_at(pdm, 0, 0), d);
    assert_null(pdm_devreg_at(pdm, 0, 1));
    assert_string_equal(pdm_plugin_at(pdm, 0)->desc->name, "test-good");
    pdm_destroy(pdm);
}

static void not_a_plugin_is_rejected(void **state)
{
    (void)state;
    struct pdm *pdm;
    assert_true(load_one("not-a-plugin", &pdm) < 0);
    assert_one_line_containing("is not a modvm plugin");
    assert_int_equal(pdm_plugin_count(pdm), 0);
    pdm_destroy(pdm);
}

static void garbage_file_is_rejected(void **state)
{
    (void)state;
    char dir[] = "/tmp/modvm-pdm-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/junk.so", dir);
    FILE *f = fopen(path, "w");
    fputs("this is not an ELF file\n", f);
    fclose(f);
    struct pdm *pdm;
    assert_int_equal(pdm_create(&pdm), 0);
    assert_true(pdm_load_directory(pdm, dir, false, false) < 0);
    assert_one_line_containing("cannot be loaded");
    assert_one_line_containing("junk.so");
    pdm_destroy(pdm);
    unlink(path);
    rmdir(dir);
}

static void abi_mismatches_are_rejected(void **state)
{
    (void)state;
    struct pdm *pdm;
    char want[64];
    assert_true(load_one("bad-abi-major", &pdm) < 0);
    snprintf(want, sizeof(want), "was built for plugin ABI %d.0", MODVM_ABI_MAJOR + 1);
    assert_one_line_containing(want);
    snprintf(want, sizeof(want), "speaks ABI %d.%d", MODVM_ABI_MAJOR, MODVM_ABI_MINOR);
    assert_one_line_containing(want);
    pdm_destroy(pdm);
    assert_true(load_one("bad-abi-minor", &pdm) < 0);
    snprintf(want, sizeof(want), "was built for plugin ABI %d.%d", MODVM_ABI_MAJOR, MODVM_ABI_MINOR + 1);
    assert_one_line_containing(want);
    pdm_destroy(pdm);
    assert_true(load_one("bad-end-marker", &pdm) < 0);
    assert_one_line_containing("corrupt");
    pdm_destroy(pdm);
}

static void bad_registrations_are_rejected(void **state)
{
    (void)state;
    struct pdm *pdm;
    assert_true(load_one("bad-devreg-minor", &pdm) < 0);
    assert_one_line_containing("registration version 1.9");
    assert_null(pdm_find_devreg(pdm, "bad-device"));
    assert_int_equal(pdm_plugin_count(pdm), 0);
    pdm_destroy(pdm);
    assert_true(load_one("bad-name", &pdm) < 0);
    assert_one_line_containing("malformed name 'Bad Name'");
    pdm_destroy(pdm);
    assert_true(load_one("bad-default", &pdm) < 0);
    assert_one_line_containing("default '12q' of option 'size'");
    pdm_destroy(pdm);
}

static void duplicate_type_is_rejected(void **state)
{
    (void)state;
    struct pdm *pdm;
    assert_int_equal(load_one("good", &pdm), 0);
    assert_true(pdm_load_file(pdm, plugin_path("good-twin")) < 0);
    assert_one_line_containing("device type 'test-good' is registered twice");
    assert_int_equal(pdm_plugin_count(pdm), 1);
    pdm_destroy(pdm);
}

static void missing_directory(void **state)
{
    (void)state;
    struct pdm *pdm;
    assert_int_equal(pdm_create(&pdm), 0);
    assert_int_equal(pdm_load_directory(pdm, "/nonexistent/modvm", false, true), 0);
    assert_true(pdm_load_directory(pdm, "/nonexistent/modvm", false, false) < 0);
    assert_one_line_containing("plugin directory '/nonexistent/modvm' cannot be read");
    pdm_destroy(pdm);
}

/* Validation of user options against the good plugin's schema. */
static void options_are_validated(void **state)
{
    (void)state;
    struct pdm *pdm;
    assert_int_equal(load_one("good", &pdm), 0);
    const struct modvm_devreg *d = pdm_find_devreg(pdm, "test-good");
    struct cfgm_node *cfg = cfgm_create_root();

    cfgm_set_string(cfg, "iobas", "0x3f8");
    assert_true(pdm_options_validate(d->options, cfg, "device 'test-good' #0") < 0);
    assert_one_line_containing("unknown option 'iobas' (did you mean 'iobase'?)");
    cfgm_remove_value(cfg, "iobas");

    cfgm_set_string(cfg, "colour", "red");
    assert_true(pdm_options_validate(d->options, cfg, "dev") < 0);
    assert_one_line_containing("known options: iobase, verbose, label");
    cfgm_remove_value(cfg, "colour");

    cfgm_set_string(cfg, "iobase", "x3f8");
    assert_true(pdm_options_validate(d->options, cfg, "dev") < 0);
    assert_one_line_containing("option 'iobase' must be an unsigned number, got 'x3f8'");

    cfgm_set_string(cfg, "iobase", "0x10000");
    assert_true(pdm_options_validate(d->options, cfg, "dev") < 0);
    assert_one_line_containing("must be between 0 and 65535");

    cfgm_set_string(cfg, "iobase", "0x2f8");
    cfgm_set_string(cfg, "verbose", "maybe");
    assert_true(pdm_options_validate(d->options, cfg, "dev") < 0);
    assert_one_line_containing("option 'verbose' must be on or off");

    cfgm_set_string(cfg, "verbose", "yes");
    assert_int_equal(pdm_options_validate(d->options, cfg, "dev"), 0);
    uint64_t u = 0;
    bool b = false;
    const char *s = "x";
    assert_int_equal(cfgm_get_uint(cfg, "iobase", &u), 0); /* converted in place */
    assert_int_equal(u, 0x2f8);
    assert_int_equal(cfgm_get_bool(cfg, "verbose", &b), 0);
    assert_true(b);
    cfgm_destroy(cfg);
    (void)s;
    pdm_destroy(pdm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_plugin_loads_and_registers),
        cmocka_unit_test(not_a_plugin_is_rejected),
        cmocka_unit_test(garbage_file_is_rejected),
        cmocka_unit_test(abi_mismatches_are_rejected),
        cmocka_unit_test(bad_registrations_are_rejected),
        cmocka_unit_test(duplicate_type_is_rejected),
        cmocka_unit_test(missing_directory),
        cmocka_unit_test(options_are_validated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
