/* tests/unit/test-cfgm.c — unit tests of CFGM (core/cfgm.c): names and paths, ensure/lookup/remove,
 * typed values and UINT/INT conversion, parsing of user text, insertion order, the text dump. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cfgm.h"

/* ---- fixture ----------------------------------------------------------------------------------- */

static int setup_root(void **state)
{
    *state = cfgm_create_root();
    return *state ? 0 : -1;
}

static int teardown_root(void **state)
{
    cfgm_destroy(*state);
    return 0;
}

/* ---- names, paths, the shape of the tree --------------------------------------------------------- */

static void test_root(void **state)
{
    struct cfgm_node *root = *state;
    assert_string_equal(cfgm_name(root), "");
    assert_null(cfgm_parent(root));
    assert_null(cfgm_first_child(root));
    assert_ptr_equal(cfgm_lookup(root, ""), root);
    assert_ptr_equal(cfgm_ensure(root, ""), root);
}

static void test_ensure_creates_path(void **state)
{
    struct cfgm_node *root = *state;
    struct cfgm_node *cfg = cfgm_ensure(root, "Devices/uart16550/0/Config");
    assert_non_null(cfg);
    assert_string_equal(cfgm_name(cfg), "Config");
    struct cfgm_node *inst = cfgm_parent(cfg);
    assert_string_equal(cfgm_name(inst), "0");
    assert_string_equal(cfgm_name(cfgm_parent(inst)), "uart16550");
    assert_string_equal(cfgm_name(cfgm_parent(cfgm_parent(inst))), "Devices");
    assert_ptr_equal(cfgm_parent(cfgm_parent(cfgm_parent(inst))), root);

    assert_ptr_equal(cfgm_lookup(root, "Devices/uart16550/0/Config"), cfg);
    assert_ptr_equal(cfgm_lookup(cfgm_lookup(root, "Devices"), "uart16550/0"), inst);
    assert_ptr_equal(cfgm_child(inst, "Config"), cfg);
    /* ensure on an existing path returns the same nodes and adds none */
    assert_ptr_equal(cfgm_ensure(root, "Devices/uart16550/0/Config"), cfg);
    assert_null(cfgm_next_sibling(cfgm_first_child(root)));
}

static void test_lookup_missing(void **state)
{
    struct cfgm_node *root = *state;
    assert_non_null(cfgm_ensure(root, "a/b"));
    assert_null(cfgm_lookup(root, "a/c"));
    assert_null(cfgm_lookup(root, "a/b/c"));
    assert_null(cfgm_lookup(root, "A"));          /* case-sensitive */
    assert_null(cfgm_child(root, "b"));
    assert_null(cfgm_lookup(root, NULL));
    assert_null(cfgm_child(root, NULL));
}

static void test_bad_paths(void **state)
{
    struct cfgm_node *root = *state;
    static const char *const bad[] = {
        "/a", "a/", "a//b", "/", "a b", "a/b c", "ä", "a\tb", "a=b", "a:b", "a\\b", "x*",
    };
    assert_non_null(cfgm_ensure(root, "a/b"));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_null(cfgm_ensure(root, bad[i]));
        assert_null(cfgm_lookup(root, bad[i]));
    }
    assert_null(cfgm_ensure(root, NULL));
    /* a bad component anywhere creates nothing, not even the good prefix */
    assert_null(cfgm_ensure(root, "new/ok/bad name"));
    assert_null(cfgm_lookup(root, "new"));
}

static void test_name_charset_and_length(void **state)
{
    struct cfgm_node *root = *state;
    char name[130];
    assert_non_null(cfgm_ensure(root, "AZaz09_.#-"));
    assert_non_null(cfgm_ensure(root, "."));
    memset(name, 'n', 127);
    name[127] = '\0';
    assert_non_null(cfgm_ensure(root, name));
    assert_int_equal(cfgm_set_uint(root, name, 1), 0);
    name[127] = 'n';
    name[128] = '\0';
    assert_null(cfgm_ensure(root, name));
    assert_int_equal(cfgm_set_uint(root, name, 1), -EINVAL);
}

static void test_children_order(void **state)
{
    struct cfgm_node *root = *state;
    static const char *const names[] = { "zeta", "alpha", "mid", "0", "Beta" };
    for (size_t i = 0; i < 5; i++)
        assert_non_null(cfgm_ensure(root, names[i]));
    size_t i = 0;
    for (struct cfgm_node *c = cfgm_first_child(root); c; c = cfgm_next_sibling(c), i++) {
        assert_true(i < 5);
        assert_string_equal(cfgm_name(c), names[i]);
        assert_ptr_equal(cfgm_parent(c), root);
    }
    assert_int_equal(i, 5);
}

static void test_remove_child(void **state)
{
    struct cfgm_node *root = *state;
    assert_non_null(cfgm_ensure(root, "a/x/deep"));
    assert_non_null(cfgm_ensure(root, "b"));
    assert_non_null(cfgm_ensure(root, "c"));
    assert_int_equal(cfgm_set_string(cfgm_lookup(root, "a/x"), "s", "text"), 0);

    assert_int_equal(cfgm_remove_child(root, "b"), 0);
    assert_int_equal(cfgm_remove_child(root, "b"), -ENOENT);
    assert_string_equal(cfgm_name(cfgm_first_child(root)), "a");
    assert_string_equal(cfgm_name(cfgm_next_sibling(cfgm_first_child(root))), "c");

    assert_int_equal(cfgm_remove_child(root, "a"), 0); /* a subtree with values */
    assert_null(cfgm_lookup(root, "a/x"));
    assert_string_equal(cfgm_name(cfgm_first_child(root)), "c");
    assert_int_equal(cfgm_remove_child(root, "c"), 0);
    assert_null(cfgm_first_child(root));
    assert_int_equal(cfgm_remove_child(root, "nope"), -ENOENT);
    /* removed names can be created again, at the end */
    assert_non_null(cfgm_ensure(root, "a"));
}

static void test_destroy_linked_child(void **state)
{
    struct cfgm_node *root = *state;
    assert_non_null(cfgm_ensure(root, "first"));
    struct cfgm_node *mid = cfgm_ensure(root, "mid/below");
    assert_non_null(cfgm_ensure(root, "last"));
    cfgm_destroy(cfgm_parent(mid)); /* unlinks "mid" from the root */
    assert_null(cfgm_child(root, "mid"));
    assert_string_equal(cfgm_name(cfgm_next_sibling(cfgm_first_child(root))), "last");
    cfgm_destroy(NULL);
}

/* ---- values ------------------------------------------------------------------------------------ */

static void test_values_types(void **state)
{
    struct cfgm_node *root = *state;
    uint64_t u;
    int64_t i;
    bool b;
    const char *s;
    assert_int_equal(cfgm_set_uint(root, "u", UINT64_MAX), 0);
    assert_int_equal(cfgm_set_int(root, "i", INT64_MIN), 0);
    assert_int_equal(cfgm_set_bool(root, "b", true), 0);
    assert_int_equal(cfgm_set_string(root, "s", "hello"), 0);
    assert_int_equal(cfgm_set_string(root, "empty", ""), 0);

    assert_int_equal(cfgm_get_uint(root, "u", &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(cfgm_get_int(root, "i", &i), 0);
    assert_true(i == INT64_MIN);
    assert_int_equal(cfgm_get_bool(root, "b", &b), 0);
    assert_true(b);
    assert_int_equal(cfgm_get_string(root, "s", &s), 0);
    assert_string_equal(s, "hello");
    assert_int_equal(cfgm_get_string(root, "empty", &s), 0);
    assert_string_equal(s, "");

    assert_int_equal(cfgm_value_type(root, "u"), CFGM_UINT);
    assert_int_equal(cfgm_value_type(root, "i"), CFGM_INT);
    assert_int_equal(cfgm_value_type(root, "b"), CFGM_BOOL);
    assert_int_equal(cfgm_value_type(root, "s"), CFGM_STRING);
    assert_int_equal(cfgm_value_type(root, "none"), 0);
}

static void test_values_wrong_type_and_missing(void **state)
{
    struct cfgm_node *root = *state;
    uint64_t u;
    int64_t i;
    bool b;
    const char *s;
    assert_int_equal(cfgm_set_string(root, "s", "1"), 0);
    assert_int_equal(cfgm_set_bool(root, "b", false), 0);
    assert_int_equal(cfgm_set_uint(root, "u", 1), 0);
    assert_int_equal(cfgm_get_uint(root, "s", &u), -EINVAL);
    assert_int_equal(cfgm_get_int(root, "b", &i), -EINVAL);
    assert_int_equal(cfgm_get_bool(root, "u", &b), -EINVAL);
    assert_int_equal(cfgm_get_string(root, "u", &s), -EINVAL);
    assert_int_equal(cfgm_get_uint(root, "x", &u), -ENOENT);
    assert_int_equal(cfgm_get_int(root, "x", &i), -ENOENT);
    assert_int_equal(cfgm_get_bool(root, "x", &b), -ENOENT);
    assert_int_equal(cfgm_get_string(root, "x", &s), -ENOENT);
    assert_int_equal(cfgm_get_uint(root, NULL, &u), -ENOENT);
}

static void test_bad_keys(void **state)
{
    struct cfgm_node *root = *state;
    assert_int_equal(cfgm_set_uint(root, "", 1), -EINVAL);
    assert_int_equal(cfgm_set_int(root, "a/b", 1), -EINVAL);
    assert_int_equal(cfgm_set_bool(root, "a b", true), -EINVAL);
    assert_int_equal(cfgm_set_string(root, "k=v", "x"), -EINVAL);
    assert_int_equal(cfgm_set_string(root, NULL, "x"), -EINVAL);
    assert_int_equal(cfgm_set_string(root, "k", NULL), -EINVAL);
    assert_int_equal(cfgm_set_uint(NULL, "k", 1), -EINVAL);
    assert_null(cfgm_value_at(root, 0, NULL));
}

static void test_uint_int_conversion(void **state)
{
    struct cfgm_node *root = *state;
    uint64_t u;
    int64_t i;
    assert_int_equal(cfgm_set_uint(root, "small", 42), 0);
    assert_int_equal(cfgm_get_int(root, "small", &i), 0);
    assert_int_equal(i, 42);
    assert_int_equal(cfgm_set_uint(root, "edge", INT64_MAX), 0);
    assert_int_equal(cfgm_get_int(root, "edge", &i), 0);
    assert_true(i == INT64_MAX);
    assert_int_equal(cfgm_set_uint(root, "big", (uint64_t)INT64_MAX + 1), 0);
    assert_int_equal(cfgm_get_int(root, "big", &i), -ERANGE);

    assert_int_equal(cfgm_set_int(root, "pos", 7), 0);
    assert_int_equal(cfgm_get_uint(root, "pos", &u), 0);
    assert_int_equal(u, 7);
    assert_int_equal(cfgm_set_int(root, "zero", 0), 0);
    assert_int_equal(cfgm_get_uint(root, "zero", &u), 0);
    assert_int_equal(u, 0);
    assert_int_equal(cfgm_set_int(root, "neg", -1), 0);
    assert_int_equal(cfgm_get_uint(root, "neg", &u), -ERANGE);
    /* a conversion does not change the stored type */
    assert_int_equal(cfgm_value_type(root, "pos"), CFGM_INT);
}

static void test_replace_value(void **state)
{
    struct cfgm_node *root = *state;
    enum cfgm_type t;
    const char *s;
    bool b;
    assert_int_equal(cfgm_set_uint(root, "first", 1), 0);
    assert_int_equal(cfgm_set_string(root, "k", "old"), 0);
    assert_int_equal(cfgm_set_uint(root, "last", 3), 0);
    /* another type replaces the value in place (keeps its position) */
    assert_int_equal(cfgm_set_bool(root, "k", true), 0);
    assert_string_equal(cfgm_value_at(root, 1, &t), "k");
    assert_int_equal(t, CFGM_BOOL);
    assert_int_equal(cfgm_get_bool(root, "k", &b), 0);
    assert_true(b);
    assert_int_equal(cfgm_get_string(root, "k", &s), -EINVAL);
    assert_null(cfgm_value_at(root, 3, &t));
    /* setting a string from the string it replaces */
    assert_int_equal(cfgm_set_string(root, "k", "again"), 0);
    assert_int_equal(cfgm_get_string(root, "k", &s), 0);
    assert_int_equal(cfgm_set_string(root, "k", s), 0);
    assert_int_equal(cfgm_get_string(root, "k", &s), 0);
    assert_string_equal(s, "again");
}

static void test_value_order_and_remove(void **state)
{
    struct cfgm_node *root = *state;
    static const char *const keys[] = { "z", "a", "m", "#1", "b.c" };
    enum cfgm_type t;
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(cfgm_set_uint(root, keys[i], i), 0);
    assert_int_equal(cfgm_set_string(root, "s", "x"), 0);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(cfgm_value_at(root, i, &t), keys[i]);
        assert_int_equal(t, CFGM_UINT);
    }
    assert_string_equal(cfgm_value_at(root, 5, &t), "s");
    assert_int_equal(t, CFGM_STRING);
    assert_null(cfgm_value_at(root, 6, &t));
    assert_null(cfgm_value_at(root, SIZE_MAX, &t));

    assert_int_equal(cfgm_remove_value(root, "a"), 0);
    assert_int_equal(cfgm_remove_value(root, "a"), -ENOENT);
    assert_int_equal(cfgm_remove_value(root, "s"), 0); /* a string: freed */
    assert_int_equal(cfgm_remove_value(root, NULL), -ENOENT);
    assert_string_equal(cfgm_value_at(root, 0, NULL), "z");
    assert_string_equal(cfgm_value_at(root, 1, NULL), "m");
    assert_string_equal(cfgm_value_at(root, 3, NULL), "b.c");
    assert_null(cfgm_value_at(root, 4, NULL));
    assert_int_equal(cfgm_value_type(root, "a"), 0);
}

/* ---- parsing ----------------------------------------------------------------------------------- */

struct uint_case {
    const char *text;
    int rc;
    uint64_t value;
};

static void test_parse_uint(void **state)
{
    (void)state;
    static const struct uint_case cases[] = {
        { "0", 0, 0 },
        { "42", 0, 42 },
        { "0x3f8", 0, 0x3f8 },
        { "0X3F8", 0, 0x3f8 },
        { "0xFFFFFFFFFFFFFFFF", 0, UINT64_MAX },
        { "18446744073709551615", 0, UINT64_MAX },
        { "0777", 0, 0777 },
        { "00", 0, 0 },
        { "010", 0, 8 },
        { "1K", 0, 1024 },
        { "4M", 0, 4u << 20 },
        { "2G", 0, 2ull << 30 },
        { "0x10K", 0, 16 * 1024 },
        { "010K", 0, 8 * 1024 },
        { "0K", 0, 0 },
        { "17179869183G", 0, 17179869183ull << 30 },
        { "17592186044415M", 0, 17592186044415ull << 20 },
        { "18446744073709551616", -ERANGE, 0 },
        { "0x10000000000000000", -ERANGE, 0 },
        { "02000000000000000000000", -ERANGE, 0 },
        { "17179869184G", -ERANGE, 0 },
        { "17592186044416M", -ERANGE, 0 },
        { "99999999999999999999999x", -EINVAL, 0 },
        { "", -EINVAL, 0 },
        { "0x", -EINVAL, 0 },
        { "0xg", -EINVAL, 0 },
        { "08", -EINVAL, 0 },
        { "09", -EINVAL, 0 },
        { "-1", -EINVAL, 0 },
        { "+1", -EINVAL, 0 },
        { " 1", -EINVAL, 0 },
        { "1 ", -EINVAL, 0 },
        { "12abc", -EINVAL, 0 },
        { "1k", -EINVAL, 0 },
        { "1KB", -EINVAL, 0 },
        { "1KK", -EINVAL, 0 },
        { "1T", -EINVAL, 0 },
        { "K", -EINVAL, 0 },
        { "0xK", -EINVAL, 0 },
        { "1.5", -EINVAL, 0 },
        { "1e3", -EINVAL, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 12345;
        int rc = cfgm_parse_uint(cases[i].text, &v);
        if (rc != cases[i].rc)
            fail_msg("parse_uint(\"%s\") = %d, want %d", cases[i].text, rc, cases[i].rc);
        if (rc == 0 && v != cases[i].value)
            fail_msg("parse_uint(\"%s\") gave %llu", cases[i].text, (unsigned long long)v);
        if (rc != 0 && v != 12345)
            fail_msg("parse_uint(\"%s\") wrote its output on failure", cases[i].text);
    }
    uint64_t v;
    assert_int_equal(cfgm_parse_uint(NULL, &v), -EINVAL);
}

struct int_case {
    const char *text;
    int rc;
    int64_t value;
};

static void test_parse_int(void **state)
{
    (void)state;
    static const struct int_case cases[] = {
        { "0", 0, 0 },
        { "-0", 0, 0 },
        { "+0", 0, 0 },
        { "17", 0, 17 },
        { "+17", 0, 17 },
        { "-17", 0, -17 },
        { "-0x10", 0, -16 },
        { "-010", 0, -8 },
        { "-1K", 0, -1024 },
        { "9223372036854775807", 0, INT64_MAX },
        { "-9223372036854775808", 0, INT64_MIN },
        { "-0x8000000000000000", 0, INT64_MIN },
        { "-8589934592G", 0, INT64_MIN },
        { "9223372036854775808", -ERANGE, 0 },
        { "-9223372036854775809", -ERANGE, 0 },
        { "8589934592G", -ERANGE, 0 },
        { "-18446744073709551616", -ERANGE, 0 },
        { "", -EINVAL, 0 },
        { "-", -EINVAL, 0 },
        { "+", -EINVAL, 0 },
        { "--1", -EINVAL, 0 },
        { "+-1", -EINVAL, 0 },
        { "- 1", -EINVAL, 0 },
        { "1-", -EINVAL, 0 },
        { "-0x", -EINVAL, 0 },
        { "0x-1", -EINVAL, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = 12345;
        int rc = cfgm_parse_int(cases[i].text, &v);
        if (rc != cases[i].rc)
            fail_msg("parse_int(\"%s\") = %d, want %d", cases[i].text, rc, cases[i].rc);
        if (rc == 0 && v != cases[i].value)
            fail_msg("parse_int(\"%s\") gave %lld", cases[i].text, (long long)v);
        if (rc != 0 && v != 12345)
            fail_msg("parse_int(\"%s\") wrote its output on failure", cases[i].text);
    }
    int64_t v;
    assert_int_equal(cfgm_parse_int(NULL, &v), -EINVAL);
}

static void test_parse_bool(void **state)
{
    (void)state;
    static const char *const yes[] = { "on", "yes", "true", "1" };
    static const char *const no[] = { "off", "no", "false", "0" };
    static const char *const bad[] = { "", "2", "ON", "True", "y", "n", "onn", " on", "on ", "01", "0x1" };
    bool b;
    for (size_t i = 0; i < 4; i++) {
        b = false;
        assert_int_equal(cfgm_parse_bool(yes[i], &b), 0);
        assert_true(b);
        b = true;
        assert_int_equal(cfgm_parse_bool(no[i], &b), 0);
        assert_false(b);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (cfgm_parse_bool(bad[i], &b) != -EINVAL)
            fail_msg("parse_bool(\"%s\") accepted", bad[i]);
    }
    assert_int_equal(cfgm_parse_bool(NULL, &b), -EINVAL);
}

/* ---- dump -------------------------------------------------------------------------------------- */

struct dump_buf {
    char text[2048];
    size_t len;
};

static void dump_collect(void *ctx, const char *line)
{
    struct dump_buf *d = ctx;
    size_t n = strlen(line);
    assert_true(d->len + n + 2 <= sizeof(d->text));
    memcpy(d->text + d->len, line, n);
    d->len += n;
    d->text[d->len++] = '\n';
    d->text[d->len] = '\0';
}

static void test_dump(void **state)
{
    struct cfgm_node *root = *state;
    struct cfgm_node *cfg = cfgm_ensure(root, "Devices/uart16550/0/Config");
    assert_non_null(cfg);
    assert_int_equal(cfgm_set_uint(cfg, "iobase", 0x3f8), 0);
    assert_int_equal(cfgm_set_int(cfg, "delta", -5), 0);
    assert_int_equal(cfgm_set_bool(cfg, "fifo", true), 0);
    assert_int_equal(cfgm_set_string(cfg, "path", "a \"q\" \\ b\n"), 0);
    assert_int_equal(cfgm_set_string(root, "name", "vm"), 0);
    assert_int_equal(cfgm_set_bool(root, "acpi", false), 0);
    assert_non_null(cfgm_ensure(root, "Devices/rtc"));
    assert_non_null(cfgm_ensure(root, "Empty"));

    struct dump_buf d = { .len = 0 };
    cfgm_dump(root, dump_collect, &d);
    assert_string_equal(d.text,
                        "name = \"vm\"\n"
                        "acpi = false\n"
                        "Devices/\n"
                        "  uart16550/\n"
                        "    0/\n"
                        "      Config/\n"
                        "        iobase = 1016\n"
                        "        delta = -5\n"
                        "        fifo = true\n"
                        "        path = \"a \\\"q\\\" \\\\ b\\x0a\"\n"
                        "  rtc/\n"
                        "Empty/\n");

    /* a subtree dumps its own contents, without its own name */
    d.len = 0;
    d.text[0] = '\0';
    cfgm_dump(cfgm_lookup(root, "Devices/uart16550"), dump_collect, &d);
    assert_string_equal(d.text,
                        "0/\n"
                        "  Config/\n"
                        "    iobase = 1016\n"
                        "    delta = -5\n"
                        "    fifo = true\n"
                        "    path = \"a \\\"q\\\" \\\\ b\\x0a\"\n");
}

static void test_dump_empty(void **state)
{
    struct dump_buf d = { .len = 0 };
    cfgm_dump(*state, dump_collect, &d);
    assert_int_equal(d.len, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_root, teardown_root)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_root),
        T(test_ensure_creates_path),
        T(test_lookup_missing),
        T(test_bad_paths),
        T(test_name_charset_and_length),
        T(test_children_order),
        T(test_remove_child),
        T(test_destroy_linked_child),
        T(test_values_types),
        T(test_values_wrong_type_and_missing),
        T(test_bad_keys),
        T(test_uint_int_conversion),
        T(test_replace_value),
        T(test_value_order_and_remove),
        cmocka_unit_test(test_parse_uint),
        cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_parse_bool),
        T(test_dump),
        T(test_dump_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
