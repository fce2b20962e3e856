/* tests/integration/proc.c — fork/exec a program with captured output and a timeout (see proc.h). */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROC_DEFAULT_TIMEOUT_MS 60000u
/* After the child is reaped, how long to keep reading pipes a descendant may still hold open. */
#define PROC_DRAIN_MS 500

struct proc_buf {
    char *data;
    size_t len, cap;
};

struct proc {
    pid_t pid;
    int out_fd, err_fd;
    unsigned timeout_ms;
    double t0;
    struct proc_buf out, err;
};

static double proc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int proc_buf_reserve(struct proc_buf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d)
        return -ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

/* Reads what is available from *fd into b; closes the fd and sets it to -1 at EOF or error. */
static int proc_drain_fd(int *fd, struct proc_buf *b)
{
    if (proc_buf_reserve(b, 4096) < 0)
        return -ENOMEM;
    ssize_t n = read(*fd, b->data + b->len, b->cap - b->len - 1);
    if (n > 0) {
        b->len += (size_t)n;
        b->data[b->len] = '\0';
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(*fd);
        *fd = -1;
    }
    return 0;
}

/* In the child after fork: wire up fds, reset signals, exec. Never returns. */
static void proc_child(const struct proc_opts *opts, int out_w, int err_w)
{
    int in = opts->stdin_fd > 0 ? opts->stdin_fd : open("/dev/null", O_RDONLY);
    if (in < 0 || dup2(in, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)
        _exit(127);
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    for (const char *const *e = opts->env; e && *e; e++)
        putenv((char *)*e);
    execvp(opts->argv[0], (char *const *)opts->argv);
    dprintf(2, "proc: cannot execute %s: %s\n", opts->argv[0], strerror(errno));
    _exit(127);
}

struct proc *proc_start(const struct proc_opts *opts)
{
    int out_pipe[2], err_pipe[2];
    struct proc *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    if (pipe2(out_pipe, O_CLOEXEC) < 0) {
        free(p);
        return NULL;
    }
    if (pipe2(err_pipe, O_CLOEXEC) < 0) {
        close(out_pipe[0]);
        close(out_pipe[1]);
        free(p);
        return NULL;
    }
    fflush(NULL);
    p->t0 = proc_now();
    p->pid = fork();
    if (p->pid == 0)
        proc_child(opts, out_pipe[1], err_pipe[1]);
    int saved = errno;
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (p->pid < 0) {
        close(out_pipe[0]);
        close(err_pipe[0]);
        free(p);
        fprintf(stderr, "proc: fork: %s\n", strerror(saved));
        errno = saved;
        return NULL;
    }
    setpgid(p->pid, p->pid); /* also done in the child; whichever runs first wins the race */
    p->out_fd = out_pipe[0];
    p->err_fd = err_pipe[0];
    p->timeout_ms = opts->timeout_ms ? opts->timeout_ms : PROC_DEFAULT_TIMEOUT_MS;
    return p;
}

pid_t proc_pid(const struct proc *p)
{
    return p->pid;
}

bool proc_wait_output(struct proc *p, const char *needle, unsigned timeout_ms)
{
    double deadline = proc_now() + timeout_ms / 1000.0;
    for (;;) {
        if (p->out.data && strstr(p->out.data, needle))
            return true;
        double left = deadline - proc_now();
        if (left <= 0 || (p->out_fd < 0 && p->err_fd < 0))
            return false;
        struct pollfd fds[2] = {{.fd = p->out_fd, .events = POLLIN}, {.fd = p->err_fd, .events = POLLIN}};
        int n = poll(fds, 2, left > 0.05 ? 50 : (int)(left * 1000) + 1);
        if (n < 0 && errno != EINTR)
            return false;
        if (n > 0 && p->out_fd >= 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
            proc_drain_fd(&p->out_fd, &p->out) < 0)
            return false;
        if (n > 0 && p->err_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
            proc_drain_fd(&p->err_fd, &p->err) < 0)
            return false;
    }
}

int proc_wait(struct proc *p, struct proc_result *res)
{
    memset(res, 0, sizeof(*res));
    double deadline = p->t0 + p->timeout_ms / 1000.0, drain_until = 0;
    bool reaped = false, timed_out = false;
    int wstatus = 0, rc = 0;
    while (rc == 0) {
        if (!reaped) {
            pid_t w = waitpid(p->pid, &wstatus, WNOHANG);
            if (w == p->pid) {
                reaped = true;
                drain_until = proc_now() + PROC_DRAIN_MS / 1000.0;
            } else if (w < 0 && errno != EINTR) {
                rc = -errno;
                break;
            }
        }
        double now = proc_now();
        if (!reaped && now >= deadline) {
            timed_out = true;
            kill(-p->pid, SIGKILL);
            kill(p->pid, SIGKILL);
            while (waitpid(p->pid, &wstatus, 0) < 0 && errno == EINTR)
                ;
            reaped = true;
            drain_until = proc_now() + 0.1;
        }
        if (p->out_fd < 0 && p->err_fd < 0 && reaped)
            break;
        if (reaped && now >= drain_until)
            break;
        struct pollfd fds[2] = {{.fd = p->out_fd, .events = POLLIN}, {.fd = p->err_fd, .events = POLLIN}};
        /* Poll in short slices so a child that exits while a descendant holds the pipes is noticed. */
        int n = poll(fds, 2, 20);
        if (n < 0 && errno != EINTR) {
            rc = -errno;
            break;
        }
        if (n > 0 && p->out_fd >= 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
            rc = proc_drain_fd(&p->out_fd, &p->out);
        if (rc == 0 && n > 0 && p->err_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
            rc = proc_drain_fd(&p->err_fd, &p->err);
    }
    if (!reaped) { /* internal failure: do not leave the child behind */
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
        while (waitpid(p->pid, &wstatus, 0) < 0 && errno == EINTR)
            ;
    }
    res->elapsed_s = proc_now() - p->t0;
    if (p->out_fd >= 0)
        close(p->out_fd);
    if (p->err_fd >= 0)
        close(p->err_fd);
    if (rc == 0 && (proc_buf_reserve(&p->out, 0) < 0 || proc_buf_reserve(&p->err, 0) < 0))
        rc = -ENOMEM;
    if (rc < 0) {
        free(p->out.data);
        free(p->err.data);
        free(p);
        return rc;
    }
    p->out.data[p->out.len] = '\0';
    p->err.data[p->err.len] = '\0';
    res->out = p->out.data;
    res->out_len = p->out.len;
    res->err = p->err.data;
    res->err_len = p->err.len;
    res->timed_out = timed_out;
    if (timed_out) {
        res->signal = SIGKILL;
        snprintf(res->describe, sizeof(res->describe), "timed out after %.1f s (killed)",
                 p->timeout_ms / 1000.0);
    } else if (WIFEXITED(wstatus)) {
        res->exited = true;
        res->status = WEXITSTATUS(wstatus);
        snprintf(res->describe, sizeof(res->describe), "exited with status %d", res->status);
    } else if (WIFSIGNALED(wstatus)) {
        res->signal = WTERMSIG(wstatus);
        snprintf(res->describe, sizeof(res->describe), "killed by signal %d (%s)%s", res->signal,
                 strsignal(res->signal), WCOREDUMP(wstatus) ? ", core dumped" : "");
    }
    free(p);
    return 0;
}

int proc_run(const struct proc_opts *opts, struct proc_result *res)
{
    struct proc *p = proc_start(opts);
    if (!p) {
        memset(res, 0, sizeof(*res));
        return errno ? -errno : -EIO;
    }
    return proc_wait(p, res);
}

void proc_result_free(struct proc_result *res)
{
    free(res->out);
    free(res->err);
    res->out = res->err = NULL;
    res->out_len = res->err_len = 0;
}

size_t proc_lines(const char *text, char ***lines)
{
    size_t n = 0, cap = 8;
    char **v = malloc(cap * sizeof(*v));
    for (const char *s = text; v && *s;) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        if (n + 2 > cap) {
            char **nv = realloc(v, (cap *= 2) * sizeof(*v));
            if (!nv) {
                v[n] = NULL;
                proc_lines_free(v);
                v = NULL;
                break;
            }
            v = nv;
        }
        v[n] = strndup(s, len && s[len - 1] == '\r' ? len - 1 : len);
        n++;
        s += nl ? len + 1 : len;
    }
    if (!v) {
        *lines = NULL;
        return 0;
    }
    v[n] = NULL;
    *lines = v;
    return n;
}

void proc_lines_free(char **lines)
{
    for (char **l = lines; l && *l; l++)
        free(*l);
    free(lines);
}
