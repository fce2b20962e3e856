/* tests/integration/proc.h — run a program with fork/exec, capture its output, enforce a timeout.
 *
 * Used by the integration tests to drive the real `modvm` binary (and QEMU for comparison):
 *
 *     const char *argv[] = {"modvm", "run", "--kernel", path, NULL};
 *     struct proc_result r;
 *     if (proc_run(&(struct proc_opts){.argv = argv, .timeout_ms = 30000}, &r) == 0) {
 *         ... r.exited, r.status, r.out, r.err ...
 *         proc_result_free(&r);
 *     }
 *
 * The child runs in its own process group with stdin from /dev/null (or a given fd); stdout and
 * stderr are captured into NUL-terminated buffers. When the timeout expires, the whole process
 * group is killed with SIGKILL and the result says timed_out. proc_start()/proc_wait() split the
 * same work for tests that talk to the child while it runs (e.g. over a unix socket). */
#ifndef MODVM_TEST_PROC_H
#define MODVM_TEST_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct proc_opts {
    const char *const *argv;  /**< argv[0] is the program (searched in PATH if it has no '/'). */
    const char *const *env;   /**< extra "NAME=value" settings on top of the environment, or NULL */
    int stdin_fd;             /**< fd for the child's stdin; 0 (the default) or -1 means /dev/null */
    unsigned timeout_ms;      /**< kill the child after this long; 0 means 60 s */
};

struct proc_result {
    bool exited;        /**< the child called exit(): `status` is its exit status */
    int status;         /**< exit status (valid when exited) */
    int signal;         /**< the signal that ended the child (0 if it exited) */
    bool timed_out;     /**< we killed it after the timeout (then signal == SIGKILL) */
    char *out;          /**< everything written to stdout, NUL-terminated (never NULL) */
    size_t out_len;
    char *err;          /**< everything written to stderr, NUL-terminated (never NULL) */
    size_t err_len;
    double elapsed_s;   /**< wall time from fork to reaping */
    char describe[96];  /**< "exited with status 33", "killed by signal 11", "timed out after 30.0 s" */
};

struct proc;

/** Starts the child; returns NULL (errno set, message on stderr) if it could not be started.
 *  A program that cannot be executed exits with status 127 after a message on its stderr. */
struct proc *proc_start(const struct proc_opts *opts);
/** The child's process id. */
pid_t proc_pid(const struct proc *p);
/** While the child runs: collects its output until stdout contains `needle`, the child closes both
 *  pipes or `timeout_ms` passes. Returns true if the needle was seen. The output stays in the buffers
 *  for proc_wait. */
bool proc_wait_output(struct proc *p, const char *needle, unsigned timeout_ms);
/** Collects output until the child has exited (or the timeout has passed and it was killed), fills
 *  `res` and frees `p`. Returns 0, or a negative errno on an internal failure (res then empty). */
int proc_wait(struct proc *p, struct proc_result *res);
/** proc_start + proc_wait. */
int proc_run(const struct proc_opts *opts, struct proc_result *res);
/** Frees the buffers of a result (safe on a zeroed result). */
void proc_result_free(struct proc_result *res);

/** Splits `text` into lines (a final line without '\n' counts too; "\r\n" is accepted). Returns the
 *  number of lines and sets *lines to a NULL-terminated array owned by the caller (proc_lines_free). */
size_t proc_lines(const char *text, char ***lines);
void proc_lines_free(char **lines);

#endif
