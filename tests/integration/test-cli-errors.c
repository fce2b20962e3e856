/* tests/integration/test-cli-errors.c — the `modvm` command line: every user mistake gives exactly one
 * line "modvm: ..." on stderr and a non-zero exit status (never a signal, never a hang), and the
 * informational commands (--version, --help, list plugins -v, doctor) say what they should.
 *
 * Environment (set by meson): MODVM, GUEST_DIR. Mistakes that are only detected while the VM is being
 * built (kernel file, devices, backends) need /dev/kvm and skip without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "itest.h"
#include "proc.h"

#define CLI_TIMEOUT_MS 30000u

/* Placeholders in an argument list: "@GUEST" is a good guest (serial-poll.elf), "@TRUNC:WHERE" that
 * guest cut short (see make_truncated), "@TMP/x" a path in the test's temporary directory. */
struct err_case {
    const char *name;
    bool needs_kvm;               /* the mistake is found while building the VM */
    const char *args[14];         /* after "modvm" */
    const char *stderr_contains;  /* a substring the one line must have, or NULL */
};

static const struct err_case err_cases[] = {
    /* the kernel */
    {"kernel: no such file", true, {"run", "--kernel", "/nonexistent/kernel.elf"}, "/nonexistent/kernel.elf"},
    {"kernel: ELF64 without multiboot header", true, {"run", "--kernel", "/bin/true"}, "/bin/true"},
    {"kernel: a directory", true, {"run", "--kernel", "/"}, NULL},
    {"kernel: empty file", true, {"run", "--kernel", "/dev/null"}, NULL},
    {"kernel: truncated in the ELF header", true, {"run", "--kernel", "@TRUNC:ehdr"}, NULL},
    {"kernel: truncated before the multiboot header", true, {"run", "--kernel", "@TRUNC:nomb"}, NULL},
    {"kernel: truncated inside the multiboot header", true, {"run", "--kernel", "@TRUNC:mbhdr"}, NULL},
    {"kernel: truncated inside segment 0", true, {"run", "--kernel", "@TRUNC:seg0"}, NULL},
    {"kernel: truncated inside segment 1", true, {"run", "--kernel", "@TRUNC:seg1"}, NULL},
    /* devices */
    {"device: unknown type", true, {"run", "--kernel", "@GUEST", "--device", "no-such-device"}, "no-such-device"},
    {"device: unknown option, did you mean", true,
     {"run", "--kernel", "@GUEST", "--device", "debug-exit,iobas=0xf4"}, "'iobase'"},
    {"device: ill-typed option", true, {"run", "--kernel", "@GUEST", "--device", "debug-exit,iobase=zz"}, "iobase"},
    {"device: out-of-range option", true, {"run", "--kernel", "@GUEST", "--device", "debug-exit,iosize=9"}, "iosize"},
    {"device: ill-typed bool", true, {"run", "--kernel", "@GUEST", "--device", "uart16550,fifo=maybe"}, "fifo"},
    {"device: option without value", false, {"run", "--kernel", "@GUEST", "--device", "debug-exit,iobase"}, "iobase"},
    {"device: option given twice", false,
     {"run", "--kernel", "@GUEST", "--device", "debug-exit,iobase=0xf4,iobase=0xf8"}, "iobase"},
    {"device: empty type", false, {"run", "--kernel", "@GUEST", "--device", ""}, NULL},
    {"device: port conflict with COM1", true,
     {"run", "--kernel", "@GUEST", "--device", "debug-exit,iobase=0x3f8"}, "0x3f8"},
    /* machine options */
    {"--machine unknown", false, {"run", "--kernel", "@GUEST", "--machine", "vax"}, "'vax'"},
    {"--cpus 0", false, {"run", "--kernel", "@GUEST", "--cpus", "0"}, "--cpus"},
    {"--cpus 65", false, {"run", "--kernel", "@GUEST", "--cpus", "65"}, "--cpus"},
    {"--cpus abc", false, {"run", "--kernel", "@GUEST", "--cpus", "abc"}, "--cpus"},
    {"--memory 0", false, {"run", "--kernel", "@GUEST", "--memory", "0"}, "--memory"},
    {"--memory overflow", false, {"run", "--kernel", "@GUEST", "--memory", "99999999999999999999"}, "--memory"},
    {"--cpus without value", false, {"run", "--kernel", "@GUEST", "--cpus"}, "--cpus"},
    /* serial ports and frontends */
    {"--serial bogus:x", false, {"run", "--kernel", "@GUEST", "--serial", "bogus:x"}, "bogus"},
    {"--serial file: without path", false, {"run", "--kernel", "@GUEST", "--serial", "file:"}, NULL},
    {"--serial file in a missing directory", true,
     {"run", "--kernel", "@GUEST", "--serial", "file:@TMP/no/such/dir/out.txt"}, "out.txt"},
    {"--serial unix in a missing directory", true,
     {"run", "--kernel", "@GUEST", "--serial", "unix:@TMP/no/such/dir/s.sock"}, "s.sock"},
    {"--serial unix client, nobody listening", true,
     {"run", "--kernel", "@GUEST", "--serial", "unix:@TMP/nobody.sock,server=off"}, "nobody.sock"},
    {"--serial file, unknown option", true,
     {"run", "--kernel", "@GUEST", "--serial", "file:@TMP/out.txt,apend=on"}, "'append'"},
    {"--ui unknown", true, {"run", "--kernel", "@GUEST", "--ui", "no-such-ui"}, "no-such-ui"},
    /* the command line itself */
    {"unknown command", false, {"frobnicate"}, "frobnicate"},
    {"run without --kernel", false, {"run"}, "--kernel"},
    {"run: unknown option", false, {"run", "--kernel", "@GUEST", "--bogus-option"}, "--bogus-option"},
    {"run: stray argument", false, {"run", "--kernel", "@GUEST", "stray"}, "stray"},
    {"list: unknown object", false, {"list", "bogus"}, NULL},
    {"doctor: stray argument", false, {"doctor", "stray"}, "stray"},
};

static char *tmp_dir;

static int group_setup(void **state)
{
    (void)state;
    tmp_dir = itest_tmpdir();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    itest_rmtree(tmp_dir);
    tmp_dir = NULL;
    return 0;
}

/* Writes the serial-poll guest cut at `where` to tmp_dir/trunc-WHERE.elf: "ehdr" inside the ELF header,
 * "nomb" after the program headers (no multiboot header left), "mbhdr" inside the multiboot header
 * (the first bytes of segment 0), "seg0"/"seg1" in the middle of the file bytes of segment 0/1. */
static const char *make_truncated(const char *where, char *out, size_t len)
{
    static unsigned char buf[1 << 20];
    FILE *in = fopen(itest_guest("serial-poll"), "rb");
    assert_non_null(in);
    size_t got = fread(buf, 1, sizeof(buf), in), n = 0;
    fclose(in);
    assert_true(got >= 52 && memcmp(buf, "\x7f" "ELF\x01", 5) == 0); /* ELF32 */
    uint32_t phoff, seg_off[2] = {0, 0}, seg_filesz[2] = {0, 0};
    uint16_t phentsize, phnum;
    memcpy(&phoff, buf + 28, 4);
    memcpy(&phentsize, buf + 42, 2);
    memcpy(&phnum, buf + 44, 2);
    for (unsigned i = 0, k = 0; i < phnum && k < 2; i++) {
        const unsigned char *ph = buf + phoff + (size_t)i * phentsize;
        uint32_t type;
        memcpy(&type, ph, 4);
        if (type == 1 /* PT_LOAD */) {
            memcpy(&seg_off[k], ph + 4, 4);
            memcpy(&seg_filesz[k], ph + 16, 4);
            k++;
        }
    }
    assert_true(seg_filesz[0] > 16 && seg_filesz[1] > 2);
    if (strcmp(where, "ehdr") == 0)
        n = 30;
    else if (strcmp(where, "nomb") == 0)
        n = phoff + (size_t)phnum * phentsize;
    else if (strcmp(where, "mbhdr") == 0)
        n = seg_off[0] + 8; /* magic and flags, no checksum */
    else if (strcmp(where, "seg0") == 0)
        n = seg_off[0] + seg_filesz[0] / 2;
    else if (strcmp(where, "seg1") == 0)
        n = seg_off[1] + seg_filesz[1] / 2;
    assert_true(n > 0 && n < got); /* the cut must really cut */
    snprintf(out, len, "%s/trunc-%s.elf", tmp_dir, where);
    FILE *o = fopen(out, "wb");
    assert_non_null(o);
    assert_int_equal(fwrite(buf, 1, n, o), n);
    fclose(o);
    return out;
}

static struct proc_result run(const char *const *args)
{
    const char *argv[24] = {itest_modvm()};
    static char storage[16][4300];
    size_t n = 1;
    for (; *args && n < 23; args++, n++) {
        const char *a = *args;
        char *s = storage[n % 16];
        if (strcmp(a, "@GUEST") == 0) {
            a = itest_guest("serial-poll");
        } else if (strncmp(a, "@TRUNC:", 7) == 0) {
            a = make_truncated(a + 7, s, sizeof(storage[0]));
        } else if (strstr(a, "@TMP")) {
            const char *at = strstr(a, "@TMP");
            snprintf(s, sizeof(storage[0]), "%.*s%s%s", (int)(at - a), a, tmp_dir, at + 4);
            a = s;
        }
        argv[n] = a;
    }
    argv[n] = NULL;
    struct proc_result r;
    assert_int_equal(proc_run(&(struct proc_opts){.argv = argv, .timeout_ms = CLI_TIMEOUT_MS}, &r), 0);
    return r;
}

static void test_error(void **state)
{
    const struct err_case *c = *state;
    if (c->needs_kvm)
        ITEST_REQUIRE_KVM();
    struct proc_result r = run(c->args);
    bool ok = true;
    const char *nl = memchr(r.err, '\n', r.err_len);
    if (!r.exited) {
        print_message("%s: %s (expected a clean exit with a non-zero status)\n", c->name, r.describe);
        ok = false;
    } else if (r.status == 0 || r.status >= 128) {
        print_message("%s: %s (expected 1..127)\n", c->name, r.describe);
        ok = false;
    }
    if (strncmp(r.err, "modvm: ", 7) != 0 || !nl || nl != r.err + r.err_len - 1) {
        print_message("%s: stderr is not exactly one line starting with 'modvm: '\n", c->name);
        ok = false;
    } else if (memchr(r.err, '\r', r.err_len)) {
        print_message("%s: the error line contains a carriage return\n", c->name);
        ok = false;
    } else if (c->stderr_contains && !strstr(r.err, c->stderr_contains)) {
        print_message("%s: the error line does not mention \"%s\"\n", c->name, c->stderr_contains);
        ok = false;
    }
    if (r.out_len) {
        print_message("%s: unexpected output on stdout\n", c->name);
        ok = false;
    }
    if (!ok) {
        itest_dump("modvm", &r);
        fail();
    }
    proc_result_free(&r);
}

/* ------------------------------------------------------------------------------------------------ */

static void expect_success(const char *what, const struct proc_result *r, bool stderr_empty)
{
    if (!r->exited || r->status != 0 || (stderr_empty && r->err_len)) {
        print_message("%s: %s%s\n", what, r->describe, r->err_len ? ", with output on stderr" : "");
        itest_dump(what, r);
        fail();
    }
}

static void test_version(void **state)
{
    (void)state;
    struct proc_result r = run((const char *const[]){"--version", NULL});
    expect_success("modvm --version", &r, true);
    if (!itest_lines_match("modvm --version", r.out, (const char *const[]){"modvm [0-9]*.[0-9]*", NULL})) {
        itest_dump("modvm --version", &r);
        fail();
    }
    proc_result_free(&r);
}

static void test_help(void **state)
{
    (void)state;
    struct proc_result r = run((const char *const[]){"run", "--help", NULL});
    expect_success("modvm run --help", &r, true);
    assert_true(strncmp(r.out, "usage: modvm run", 16) == 0);
    static const char *const opts[] = {"--kernel", "--append", "--memory", "--cpus", "--serial", "--device",
                                       "--ui", "--plugin-path", "--help"};
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        if (!strstr(r.out, opts[i])) {
            print_message("modvm run --help does not mention %s\n", opts[i]);
            fail();
        }
    }
    proc_result_free(&r);

    r = run((const char *const[]){"--help", NULL});
    expect_success("modvm --help", &r, true);
    assert_true(strncmp(r.out, "usage: modvm", 12) == 0);
    assert_non_null(strstr(r.out, "run"));
    assert_non_null(strstr(r.out, "list"));
    assert_non_null(strstr(r.out, "doctor"));
    proc_result_free(&r);

    /* no command at all: the usage on stderr, status 2 */
    r = run((const char *const[]){NULL});
    if (!r.exited || r.status != 2 || strncmp(r.err, "usage: modvm", 12) != 0 || r.out_len) {
        itest_dump("modvm (no arguments)", &r);
        fail();
    }
    proc_result_free(&r);
}

/* What `modvm list plugins -v` must document: an entry "<kind> <name>" and fnmatch globs its option
 * lines must match (each glob by some option line of that entry). */
struct list_entry {
    const char *kind, *name;
    const char *opts[6];
};

static const struct list_entry list_entries[] = {
    {"device", "uart16550", {"iobase *", "irq *", "fifo * default on *"}},
    {"device", "debug-exit", {"iobase * default 0xf4 *", "iosize * default 4 *"}},
    {"frontend", "headless", {"raw * default on *"}},
    {"driver", "stdio", {"escape * default ctrl-a *"}},
    {"driver", "file", {"path *", "append * default off *"}},
    {"driver", "unix", {"path *", "server * default on *"}},
};

static bool list_has_entry(char **lines, const struct list_entry *e)
{
    for (size_t i = 0; lines[i]; i++) {
        char kind[32], name[64];
        if (sscanf(lines[i], "  %31s %63s", kind, name) != 2 || lines[i][2] == ' ' ||
            strcmp(kind, e->kind) != 0 || strcmp(name, e->name) != 0)
            continue;
        for (size_t k = 0; k < 6 && e->opts[k]; k++) {
            bool found = false;
            /* option lines: deeper indentation, right below the entry */
            for (size_t j = i + 1; lines[j] && strncmp(lines[j], "      ", 6) == 0 && !found; j++) {
                const char *s = lines[j];
                while (*s == ' ')
                    s++;
                found = fnmatch(e->opts[k], s, 0) == 0;
            }
            if (!found) {
                print_message("list plugins -v: %s %s has no option line matching \"%s\"\n", e->kind,
                              e->name, e->opts[k]);
                return false;
            }
        }
        return true;
    }
    print_message("list plugins -v: no entry for %s %s\n", e->kind, e->name);
    return false;
}

static void test_list_plugins(void **state)
{
    (void)state;
    struct proc_result r = run((const char *const[]){"list", "plugins", "-v", NULL});
    expect_success("modvm list plugins -v", &r, true);
    char **lines;
    proc_lines(r.out, &lines);
    bool ok = true;
    for (size_t i = 0; i < sizeof(list_entries) / sizeof(list_entries[0]); i++)
        ok = list_has_entry(lines, &list_entries[i]) && ok;
    proc_lines_free(lines);
    if (!ok) {
        itest_dump("modvm list plugins -v", &r);
        fail();
    }
    proc_result_free(&r);

    r = run((const char *const[]){"list", "plugins", NULL});
    expect_success("modvm list plugins", &r, true);
    static const char *const names[] = {"uart16550", "debug-exit", "headless", "stdio", "file", "unix"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!strstr(r.out, names[i])) {
            print_message("modvm list plugins does not mention %s\n", names[i]);
            itest_dump("modvm list plugins", &r);
            fail();
        }
    }
    proc_result_free(&r);
}

/* `modvm list machines`: each type with its devices, as --machine takes them. */
static void test_list_machines(void **state)
{
    (void)state;
    struct proc_result r = run((const char *const[]){"list", "machines", NULL});
    expect_success("modvm list machines", &r, true);
    if (!strstr(r.out, "\npc ") && strncmp(r.out, "pc ", 3) != 0) {
        print_message("modvm list machines does not list 'pc'\n");
        fail();
    }
    if (!strstr(r.out, "devices: i440fx piix3 rtc i8042 port92 fw-cfg acpi\n") || !strstr(r.out, "\nnone ")) {
        itest_dump("modvm list machines", &r);
        fail();
    }
    proc_result_free(&r);
}

static void test_doctor(void **state)
{
    (void)state;
    struct stat st;
    if (stat("/sys/module/kvm_pvm", &st) != 0) {
        print_message("skipped: this host's KVM is not kvm_pvm (no /sys/module/kvm_pvm)\n");
        skip();
    }
    ITEST_REQUIRE_KVM();
    struct proc_result r = run((const char *const[]){"doctor", NULL});
    expect_success("modvm doctor", &r, false);
    if (!strstr(r.out, "kvm_pvm") || !strstr(r.out, "software-nested")) {
        print_message("modvm doctor does not name kvm_pvm and software-nested KVM\n");
        itest_dump("modvm doctor", &r);
        fail();
    }
    proc_result_free(&r);
}

int main(void)
{
    enum { NCASES = sizeof(err_cases) / sizeof(err_cases[0]) };
    static struct CMUnitTest tests[NCASES + 5];
    size_t n = 0;
    for (size_t i = 0; i < NCASES; i++)
        tests[n++] = (struct CMUnitTest){err_cases[i].name, test_error, NULL, NULL, (void *)&err_cases[i]};
    tests[n++] = (struct CMUnitTest){"modvm --version", test_version, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"modvm --help, run --help", test_help, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"modvm list plugins [-v]", test_list_plugins, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"modvm list machines", test_list_machines, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"modvm doctor", test_doctor, NULL, NULL, NULL};
    return _cmocka_run_group_tests("cli-errors", tests, n, group_setup, group_teardown);
}
