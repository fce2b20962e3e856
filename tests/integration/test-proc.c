/* tests/integration/test-proc.c — the fork/exec helper the integration tests rely on (proc.c):
 * captured stdout/stderr, exit status vs signal, stdin from /dev/null or a pipe, the timeout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"

static struct proc_result sh(const char *script, int stdin_fd, unsigned timeout_ms)
{
    const char *argv[] = {"sh", "-c", script, NULL};
    struct proc_result r;
    assert_int_equal(proc_run(&(struct proc_opts){.argv = argv, .stdin_fd = stdin_fd, .timeout_ms = timeout_ms},
                              &r), 0);
    return r;
}

static void test_output_and_status(void **state)
{
    (void)state;
    struct proc_result r = sh("echo out; echo err >&2; printf 'no newline'; exit 3", -1, 5000);
    assert_true(r.exited);
    assert_false(r.timed_out);
    assert_int_equal(r.status, 3);
    assert_string_equal(r.out, "out\nno newline");
    assert_string_equal(r.err, "err\n");
    assert_string_equal(r.describe, "exited with status 3");
    char **lines;
    assert_int_equal(proc_lines(r.out, &lines), 2);
    assert_string_equal(lines[0], "out");
    assert_string_equal(lines[1], "no newline");
    assert_null(lines[2]);
    proc_lines_free(lines);
    proc_result_free(&r);
}

static void test_large_output(void **state)
{
    (void)state;
    /* more than a pipe buffer on both streams at once */
    struct proc_result r = sh("i=0; while [ $i -lt 20000 ]; do echo 0123456789; echo abcdefghij >&2; "
                              "i=$((i+1)); done", -1, 30000);
    assert_true(r.exited);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.out_len, 20000 * 11);
    assert_int_equal(r.err_len, 20000 * 11);
    proc_result_free(&r);
}

static void test_signal(void **state)
{
    (void)state;
    struct proc_result r = sh("kill -SEGV $$", -1, 5000);
    assert_false(r.exited);
    assert_false(r.timed_out);
    assert_int_equal(r.signal, SIGSEGV);
    proc_result_free(&r);
}

static void test_timeout(void **state)
{
    (void)state;
    /* the grandchild (sleep) holds the pipes too: the whole process group goes */
    struct proc_result r = sh("echo started; sleep 30; echo never", -1, 300);
    assert_true(r.timed_out);
    assert_false(r.exited);
    assert_int_equal(r.signal, SIGKILL);
    assert_string_equal(r.out, "started\n");
    assert_true(r.elapsed_s < 5);
    assert_non_null(strstr(r.describe, "timed out"));
    proc_result_free(&r);
}

static void test_stdin(void **state)
{
    (void)state;
    struct proc_result r = sh("cat; echo rc=$?", -1, 5000); /* /dev/null: immediate EOF */
    assert_string_equal(r.out, "rc=0\n");
    proc_result_free(&r);

    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "hello\n", 6), 6);
    close(p[1]);
    r = sh("tr a-z A-Z", p[0], 5000);
    close(p[0]);
    assert_string_equal(r.out, "HELLO\n");
    proc_result_free(&r);
}

static void test_exec_failure(void **state)
{
    (void)state;
    const char *argv[] = {"/nonexistent/program", NULL};
    struct proc_result r;
    assert_int_equal(proc_run(&(struct proc_opts){.argv = argv}, &r), 0);
    assert_true(r.exited);
    assert_int_equal(r.status, 127);
    assert_non_null(strstr(r.err, "/nonexistent/program"));
    proc_result_free(&r);
}

static void test_env(void **state)
{
    (void)state;
    const char *argv[] = {"sh", "-c", "echo \"$PROC_TEST_VAR\"", NULL};
    const char *env[] = {"PROC_TEST_VAR=42", NULL};
    struct proc_result r;
    assert_int_equal(proc_run(&(struct proc_opts){.argv = argv, .env = env}, &r), 0);
    assert_string_equal(r.out, "42\n");
    proc_result_free(&r);
}

static void test_wait_output(void **state)
{
    (void)state;
    const char *argv[] = {"sh", "-c", "echo ready; read x; echo got $x; exit 4", NULL};
    int in[2];
    assert_int_equal(pipe(in), 0);
    struct proc *p = proc_start(&(struct proc_opts){.argv = argv, .stdin_fd = in[0], .timeout_ms = 10000});
    assert_non_null(p);
    close(in[0]);
    assert_true(proc_wait_output(p, "ready\n", 5000));
    assert_false(proc_wait_output(p, "got", 100)); /* still waiting for input */
    assert_int_equal(write(in[1], "it\n", 3), 3);
    close(in[1]);
    struct proc_result r;
    assert_int_equal(proc_wait(p, &r), 0);
    assert_true(r.exited);
    assert_int_equal(r.status, 4);
    assert_string_equal(r.out, "ready\ngot it\n");
    proc_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_output_and_status), cmocka_unit_test(test_large_output),
        cmocka_unit_test(test_signal),            cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_stdin),             cmocka_unit_test(test_exec_failure),
        cmocka_unit_test(test_env),               cmocka_unit_test(test_wait_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
