/* tests/bench/rss-run.c — run a command and write its peak RSS (KiB) to a file.
 *
 *     rss-run OUTFILE PROGRAM [ARGS...]
 *
 * stdin/stdout/stderr are passed through; the exit status is the command's (128+N after signal N).
 *
 * Why not resource.getrusage() in Python: Linux folds the RSS high-water mark of the memory image a
 * process had *before* exec into its ru_maxrss, and a child spawned by Python starts as a (v)fork of
 * the ~15 MiB interpreter — so every child would show at least Python's size. Forked from this tiny
 * program instead, the pre-exec image is ~1 MiB, below what any VMM uses. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: rss-run OUTFILE PROGRAM [ARGS...]\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "rss-run: fork: %s\n", strerror(errno));
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        fprintf(stderr, "rss-run: cannot execute %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "rss-run: wait4: %s\n", strerror(errno));
            return 2;
        }
    }
    FILE *f = fopen(argv[1], "w");
    if (!f || fprintf(f, "%ld\n", ru.ru_maxrss) < 0 || fclose(f) != 0) {
        fprintf(stderr, "rss-run: cannot write %s\n", argv[1]);
        return 2;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
