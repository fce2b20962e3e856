/* tests/integration/itest.h — shared bits of the integration tests: where modvm and the guests are,
 * the /dev/kvm skip, QEMU lookup, temporary directories and line checks with clear diagnostics.
 * Include after <cmocka.h> (and its prerequisites). */
#ifndef MODVM_TEST_ITEST_H
#define MODVM_TEST_ITEST_H

#include <stdbool.h>
#include <stddef.h>

#include "proc.h"

/** $MODVM (the modvm executable); fails the test if unset. */
const char *itest_modvm(void);
/** $GUEST_DIR/<name>.elf in a static buffer per call slot (valid until the 8th next call). */
const char *itest_guest(const char *name);
/** The run-under-qemu.sh script ($GUEST_RUNNER), or NULL. */
const char *itest_qemu_runner(void);
/** true if qemu-system-x86_64 is on PATH and the runner script is known. */
bool itest_have_qemu(void);

/** true if /dev/kvm opens read-write; otherwise false with the reason in why. */
bool itest_kvm_available(char *why, size_t len);

/** Skips the current test (cmocka skip()) with "skipped: /dev/kvm not available: <why>" printed. */
#define ITEST_REQUIRE_KVM()                                                                        \
    do {                                                                                           \
        char itest_why_[160];                                                                      \
        if (!itest_kvm_available(itest_why_, sizeof(itest_why_))) {                                \
            print_message("skipped: /dev/kvm not available: %s\n", itest_why_);                    \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/** Creates a fresh temporary directory (mkdtemp) and returns its malloc'ed path. */
char *itest_tmpdir(void);
/** Removes the files directly inside dir and dir itself; frees dir. */
void itest_rmtree(char *dir);

/** Prints a result (status, stdout, stderr) for a failing check, prefixed by `what`. */
void itest_dump(const char *what, const struct proc_result *r);

/** true if `text` consists of exactly the lines matching `patterns` (fnmatch(3) globs, NULL-
 *  terminated), in order. On mismatch prints which line differs under the heading `what`. */
bool itest_lines_match(const char *what, const char *text, const char *const *patterns);

/** Copies text and sorts the AP list of "apic ids: bsp B, aps A1 A2 ..." lines (the order in which
 *  APs check in is not deterministic), so outputs of two runs can be compared with strcmp. */
char *itest_normalize(const char *text);

/** Counts lines in text (a last line without '\n' counts). */
size_t itest_count_lines(const char *text);

#endif
