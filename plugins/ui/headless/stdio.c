/* plugins/ui/headless/stdio.c — driver "stdio": a serial port on the process's stdin and stdout,
 * with QEMU's escape keys (QEMU -nographic / `-serial mon:stdio`, chardev/char-mux.c):
 *
 *   C-a x    power the VM off; the process exits with status 0
 *   C-a r    reset the VM
 *   C-a p    pause the VM, or resume it ("[modvm: paused]" / "[modvm: resumed]" on stderr)
 *   C-a h    print this list on stderr (C-a ? too)
 *   C-a C-a  send one C-a to the guest
 *   C-a <any other key> sends both bytes.
 * Option `escape` picks another key ("ctrl-a".."ctrl-z") or turns escapes off ("none").
 *
 * Input: stdin is watched by the I/O thread; each event reads at most what the device can take
 * (can_receive), runs it through the escape keys and delivers it. When the device is full the watch
 * is removed (a closed pipe keeps reporting HANGUP, so muting would spin) and comes back on
 * receive_ready. The bytes an escape sequence turns into can exceed what the device took (C-a y is
 * two bytes for one read); they wait in a small buffer that an eventfd "kick" delivers from the I/O
 * thread, never from inside the device's own receive_ready call. stdin stays in blocking mode (it
 * is shared with the shell), so only one read() is made per readiness event. At EOF stdin is no
 * longer watched; the VM keeps running and output continues (`modvm run ... </dev/null`). A stdin
 * that epoll cannot watch — a regular file, /dev/null — is read through the kick instead, one chunk
 * per I/O-loop turn, until EOF.
 *
 * Output: written to stdout as it comes (EINTR-safe, partial writes continued). stdout may be a pipe
 * whose reader stalls, or non-blocking: before each write we poll it for up to 100 ms; if it is still
 * not writable, the rest of that write is dropped and later writes are dropped at once (no waiting)
 * until stdout drains — the guest is never held up for long, as a serial wire would not be. A
 * closed stdout (EPIPE) ends output; the core should ignore SIGPIPE, as QEMU does, or that write
 * kills the process.
 *
 * Only one stdio driver can exist at a time: two readers of one terminal would split its input.
 * All callbacks run under the device's lock (drv.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "headless.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <modvm/ui.h>

#define HEADLESS_IN_CHUNK 256         /* bytes read from stdin per event */
#define HEADLESS_OUT_CHUNK PIPE_BUF   /* a pipe reported writable takes this much without blocking */
#define HEADLESS_OUT_WAIT_MS 100      /* longest wait for a stalled stdout per device write */
#define HEADLESS_OUT_TRIES 8          /* write attempts without progress before dropping */

/* What a key after the escape key asks for. */
enum headless_cmd {
    HEADLESS_CMD_NONE,
    HEADLESS_CMD_POWER_OFF,
    HEADLESS_CMD_RESET,
    HEADLESS_CMD_PAUSE,
    HEADLESS_CMD_HELP,
};

/* Result of moving input towards the device. */
enum headless_pump {
    HEADLESS_PUMP_AGAIN, /* all delivered; wait for more input */
    HEADLESS_PUMP_FULL,  /* the device has no room */
    HEADLESS_PUMP_EOF,   /* stdin is finished */
};

/* Instance data (zeroed by the core; the fds are valid only once `inited` is set). */
struct headless_stdio {
    bool inited;        /* kick_fd holds -1 or an open eventfd; we own the stdio slot */
    bool in_open;       /* stdin may still have input */
    bool in_pollable;   /* stdin is watched; otherwise read through the kick */
    bool throttled;     /* the device had no room: waiting for receive_ready */
    bool out_regular;   /* stdout is a regular file: writes never block */
    bool out_congested; /* stdout was not writable last time: do not wait for it */
    bool out_dead;      /* stdout is closed */
    bool paused_local;  /* pause state when no headless frontend tracks it */
    bool esc_pending;   /* the escape key was the last input byte */
    uint8_t esc_key;    /* 1..26 (Ctrl-A..Ctrl-Z), 0 = no escape key */
    int kick_fd;
    modvm_fd_handle in_watch;
    modvm_fd_handle kick_watch;
    size_t pend_off, pend_len; /* input for the device not yet taken */
    uint8_t pend[2 * HEADLESS_IN_CHUNK];
};

/* Whether a stdio driver exists (construct/destruct run on the main thread). */
static bool headless_stdio_taken;

static const struct modvm_cfg_option headless_stdio_options[] = {
    {.name = "escape", .type = MODVM_CFG_STRING, .default_value = "ctrl-a",
     .help = "escape key for the VM commands: ctrl-a .. ctrl-z, or none"},
    {.name = NULL},
};

/* Parses the `escape` option: "ctrl-a".."ctrl-z" (any case) or "none". */
static int headless_stdio_parse_escape(const char *s, uint8_t *key)
{
    if (strcasecmp(s, "none") == 0) {
        *key = 0;
        return 0;
    }
    if (strlen(s) == 6 && strncasecmp(s, "ctrl-", 5) == 0 && isalpha((unsigned char)s[5]) &&
        isascii((unsigned char)s[5])) {
        *key = (uint8_t)(tolower((unsigned char)s[5]) - 'a' + 1);
        return 0;
    }
    return -EINVAL;
}

/* Queues one byte for the device (the buffer is sized for a whole read plus one). */
static void headless_stdio_push(struct headless_stdio *st, uint8_t c)
{
    if (st->pend_len < sizeof(st->pend))
        st->pend[st->pend_len++] = c;
}

/* Runs one input byte through the escape keys: queues what the guest gets, returns the command the
 * byte completes. */
static enum headless_cmd headless_stdio_feed(struct headless_stdio *st, uint8_t c)
{
    if (!st->esc_pending) {
        if (st->esc_key != 0 && c == st->esc_key)
            st->esc_pending = true;
        else
            headless_stdio_push(st, c);
        return HEADLESS_CMD_NONE;
    }
    st->esc_pending = false;
    switch (c) {
    case 'x':
        return HEADLESS_CMD_POWER_OFF;
    case 'r':
        return HEADLESS_CMD_RESET;
    case 'p':
        return HEADLESS_CMD_PAUSE;
    case 'h':
    case '?':
        return HEADLESS_CMD_HELP;
    default:
        break;
    }
    if (c != st->esc_key)
        headless_stdio_push(st, st->esc_key);
    headless_stdio_push(st, c);
    return HEADLESS_CMD_NONE;
}

/* Prints the escape keys on stderr, naming the configured key. */
static void headless_stdio_help(const struct headless_stdio *st)
{
    char k = (char)('a' + st->esc_key - 1), msg[400];
    snprintf(msg, sizeof(msg),
             "\r\nC-%c h    print this help\r\n"
             "C-%c x    power off the VM and exit\r\n"
             "C-%c r    reset the VM\r\n"
             "C-%c p    pause or resume the VM\r\n"
             "C-%c C-%c  send C-%c to the guest\r\n",
             k, k, k, k, k, k, k);
    headless_print(msg);
}

/* Pauses a running VM or resumes a paused one. With the headless frontend running, it knows the
 * state and prints the change when it happens; otherwise this driver keeps track and prints. */
static void headless_stdio_toggle_pause(struct modvm_drv *drv)
{
    struct headless_stdio *st = drv->data;
    int state = headless_shared_state();
    bool paused = state != 0 ? state == MODVM_VM_STATE_PAUSED : st->paused_local;
    enum modvm_vm_request req = paused ? MODVM_VM_REQ_RESUME : MODVM_VM_REQ_PAUSE;

    if (modvm_drv_vm_request(drv, req, 0) != 0)
        return;
    if (state != 0) {
        /* What we asked for, so a second key press before the frontend sees it toggles back. */
        headless_shared_set_state(paused ? MODVM_VM_STATE_RUNNING : MODVM_VM_STATE_PAUSED);
        return;
    }
    st->paused_local = !paused;
    headless_print(paused ? "[modvm: resumed]\r\n" : "[modvm: paused]\r\n");
}

/* Carries out an escape command. */
static void headless_stdio_command(struct modvm_drv *drv, enum headless_cmd cmd)
{
    struct headless_stdio *st = drv->data;
    switch (cmd) {
    case HEADLESS_CMD_POWER_OFF:
        modvm_drv_vm_request(drv, MODVM_VM_REQ_POWER_OFF, 0);
        break;
    case HEADLESS_CMD_RESET:
        modvm_drv_vm_request(drv, MODVM_VM_REQ_RESET, 0);
        break;
    case HEADLESS_CMD_PAUSE:
        headless_stdio_toggle_pause(drv);
        break;
    case HEADLESS_CMD_HELP:
        headless_stdio_help(st);
        break;
    case HEADLESS_CMD_NONE:
        break;
    }
}

/* Hands queued input to the device while it has room; true when nothing is left. */
static bool headless_stdio_deliver(struct modvm_drv *drv)
{
    struct headless_stdio *st = drv->data;
    const struct modvm_char_port *port = drv->up;
    while (st->pend_off < st->pend_len) {
        size_t room = port->can_receive(drv->up_ctx);
        if (room == 0)
            return false;
        size_t n = st->pend_len - st->pend_off;
        n = n < room ? n : room;
        port->receive(drv->up_ctx, st->pend + st->pend_off, n);
        st->pend_off += n;
    }
    st->pend_off = st->pend_len = 0;
    return true;
}

/* Delivers queued input, then (if `may_read`) reads one chunk of stdin — no more than the device
 * can take — through the escape keys and delivers that. */
static enum headless_pump headless_stdio_pump(struct modvm_drv *drv, bool may_read)
{
    struct headless_stdio *st = drv->data;
    const struct modvm_char_port *port = drv->up;
    uint8_t buf[HEADLESS_IN_CHUNK];

    if (!headless_stdio_deliver(drv))
        return HEADLESS_PUMP_FULL;
    if (!st->in_open || !may_read)
        return HEADLESS_PUMP_AGAIN;
    size_t room = port->can_receive(drv->up_ctx);
    if (room == 0)
        return HEADLESS_PUMP_FULL;
    ssize_t n = read(STDIN_FILENO, buf, room < sizeof(buf) ? room : sizeof(buf));
    if (n == 0)
        return HEADLESS_PUMP_EOF;
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? HEADLESS_PUMP_AGAIN : HEADLESS_PUMP_EOF;
    for (ssize_t i = 0; i < n; i++) {
        enum headless_cmd cmd = headless_stdio_feed(st, buf[i]);
        if (cmd != HEADLESS_CMD_NONE)
            headless_stdio_command(drv, cmd);
    }
    return headless_stdio_deliver(drv) ? HEADLESS_PUMP_AGAIN : HEADLESS_PUMP_FULL;
}

/* Wakes the kick watch, which delivers queued input from the I/O thread. */
static void headless_stdio_kick(struct headless_stdio *st)
{
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(st->kick_fd, &one, sizeof(one));
    while (n < 0 && errno == EINTR);
}

/* Stops watching stdin (throttled or finished). */
static void headless_stdio_unwatch(struct modvm_drv *drv)
{
    struct headless_stdio *st = drv->data;
    modvm_drv_fd_watch_remove(drv, st->in_watch);
    st->in_watch = NULL;
}

/* Moves input and reacts to the outcome: throttle when the device is full, stop at EOF, and keep an
 * unpollable stdin flowing through the kick. */
static void headless_stdio_input(struct modvm_drv *drv, bool may_read)
{
    struct headless_stdio *st = drv->data;
    switch (headless_stdio_pump(drv, may_read)) {
    case HEADLESS_PUMP_AGAIN:
        if (!st->in_pollable && st->in_open && may_read)
            headless_stdio_kick(st);
        break;
    case HEADLESS_PUMP_FULL:
        st->throttled = true;
        headless_stdio_unwatch(drv);
        break;
    case HEADLESS_PUMP_EOF:
        st->in_open = false;
        headless_stdio_unwatch(drv);
        modvm_drv_log(drv, MODVM_LOG_DEBUG, "end of stdin: no more serial input (the VM keeps running)");
        break;
    }
}

/* fd watch callback (modvm_fd_fn) of stdin: input is ready, or stdin was closed. */
static void headless_stdio_stdin_event(void *user, int fd, uint32_t events)
{
    (void)fd;
    (void)events;
    headless_stdio_input(user, true);
}

/* fd watch callback (modvm_fd_fn) of the kick eventfd: delivers queued input; for an unpollable
 * stdin also reads the next chunk. */
static void headless_stdio_kick_event(void *user, int fd, uint32_t events)
{
    struct modvm_drv *drv = user;
    struct headless_stdio *st = drv->data;
    uint64_t count;
    (void)events;
    while (read(fd, &count, sizeof(count)) < 0 && errno == EINTR)
        ;
    headless_stdio_input(drv, !st->in_pollable);
}

/* Char interface receive_ready (modvm_char_conn.receive_ready): the device has room again. */
static void headless_stdio_receive_ready(struct modvm_drv *drv)
{
    struct headless_stdio *st = drv->data;
    if (!st->inited || !st->throttled)
        return;
    st->throttled = false;
    if (st->pend_off < st->pend_len || !st->in_pollable)
        headless_stdio_kick(st);
    if (st->in_open && st->in_pollable && !st->in_watch &&
        modvm_drv_fd_watch_add(drv, STDIN_FILENO, MODVM_FD_READ, headless_stdio_stdin_event, drv,
                               &st->in_watch) != 0) {
        st->in_watch = NULL;
        st->in_open = false;
        modvm_drv_log(drv, MODVM_LOG_ERROR, "cannot watch stdin again; serial input ends");
    }
}

/* Waits (boundedly) until stdout takes data; false when it stays full. */
static bool headless_stdio_out_ready(struct headless_stdio *st)
{
    struct pollfd p = {.fd = STDOUT_FILENO, .events = POLLOUT};
    int n;
    if (st->out_regular)
        return true;
    do
        n = poll(&p, 1, st->out_congested ? 0 : HEADLESS_OUT_WAIT_MS);
    while (n < 0 && errno == EINTR);
    st->out_congested = n <= 0;
    return n > 0;
}

/* Char interface write (modvm_char_conn.write): device output to stdout; see the banner for when
 * bytes are dropped. */
static size_t headless_stdio_write(struct modvm_drv *drv, const uint8_t *buf, size_t len)
{
    struct headless_stdio *st = drv->data;
    size_t done = 0;
    int tries = 0;

    while (done < len && !st->out_dead && tries < HEADLESS_OUT_TRIES && headless_stdio_out_ready(st)) {
        size_t chunk = len - done < HEADLESS_OUT_CHUNK ? len - done : HEADLESS_OUT_CHUNK;
        ssize_t n = write(STDOUT_FILENO, buf + done, chunk);
        if (n > 0) {
            done += (size_t)n;
            tries = 0;
        } else if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
            tries++;
        } else {
            st->out_dead = true;
            modvm_drv_log(drv, MODVM_LOG_WARN, "stdout is closed (%s); serial output is dropped from now on",
                          n < 0 ? strerror(errno) : "wrote nothing");
        }
    }
    return done;
}

static const struct modvm_char_conn headless_stdio_conn = {
    .version = MODVM_CHAR_CONN_VERSION,
    .write = headless_stdio_write,
    .receive_ready = headless_stdio_receive_ready,
};

/* Starts reading stdin: watched when epoll can, else through the kick; without stdin, no input. */
static void headless_stdio_open_input(struct modvm_drv *drv, struct headless_stdio *st)
{
    struct stat sb;
    int rc = -EPERM;

    st->in_open = true;
    st->in_pollable = false;
    if (fstat(STDIN_FILENO, &sb) == 0 && !S_ISREG(sb.st_mode))
        rc = modvm_drv_fd_watch_add(drv, STDIN_FILENO, MODVM_FD_READ, headless_stdio_stdin_event, drv,
                                    &st->in_watch);
    if (rc == 0) {
        st->in_pollable = true;
    } else if (rc == -EPERM) {
        st->in_watch = NULL;
        headless_stdio_kick(st); /* a regular file or /dev/null: epoll refuses them */
    } else {
        st->in_watch = NULL;
        st->in_open = false;
        modvm_drv_log(drv, MODVM_LOG_INFO, "stdin cannot be read (%s): no serial input", strerror(-rc));
    }
}

/* Driver construct callback (modvm_drvreg.construct): claims stdio, reads `escape`, starts input. */
static int headless_stdio_construct(struct modvm_drv *drv)
{
    struct headless_stdio *st = drv->data;
    const char *escape;
    struct stat sb;

    if (headless_stdio_taken)
        return modvm_drv_set_error(drv, -EBUSY,
                                   "driver 'stdio' is already used by another serial port; only one can use "
                                   "the terminal (use file: or unix: for the others)");
    headless_stdio_taken = true;
    st->kick_fd = -1;
    st->inited = true;

    int rc = modvm_drv_cfg_string(drv, "escape", &escape);
    if (rc != 0)
        return modvm_drv_set_error(drv, rc, "driver 'stdio': cannot read option 'escape'");
    if (headless_stdio_parse_escape(escape, &st->esc_key) != 0)
        return modvm_drv_set_error(drv, -EINVAL,
                                   "driver 'stdio': option 'escape' must be ctrl-a .. ctrl-z or none, got '%s'",
                                   escape);
    st->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (st->kick_fd < 0)
        return modvm_drv_set_error(drv, -errno, "driver 'stdio': cannot create an eventfd: %s", strerror(errno));
    rc = modvm_drv_fd_watch_add(drv, st->kick_fd, MODVM_FD_READ, headless_stdio_kick_event, drv,
                                &st->kick_watch);
    if (rc != 0)
        return modvm_drv_set_error(drv, rc, "driver 'stdio': cannot watch its eventfd");
    st->out_regular = fstat(STDOUT_FILENO, &sb) == 0 && S_ISREG(sb.st_mode);
    headless_stdio_open_input(drv, st);
    return 0;
}

/* Driver destruct callback (modvm_drvreg.destruct): stops watching and frees the stdio slot. stdin
 * and stdout stay open: they are the process's. */
static void headless_stdio_destruct(struct modvm_drv *drv)
{
    struct headless_stdio *st = drv->data;
    if (!st->inited)
        return;
    headless_stdio_unwatch(drv);
    modvm_drv_fd_watch_remove(drv, st->kick_watch);
    st->kick_watch = NULL;
    if (st->kick_fd >= 0)
        close(st->kick_fd);
    st->kick_fd = -1;
    st->inited = false;
    headless_stdio_taken = false;
}

/* Driver query_interface callback (modvm_drvreg.query_interface): only the char interface. */
static const void *headless_stdio_query_interface(struct modvm_drv *drv, const char *iface)
{
    (void)drv;
    return strcmp(iface, MODVM_IFACE_CHAR) == 0 ? &headless_stdio_conn : NULL;
}

const struct modvm_drvreg headless_stdio_reg = {
    .version = MODVM_DRVREG_VERSION,
    .name = "stdio",
    .description = "serial port on stdin/stdout with Ctrl-A escape keys (like QEMU -nographic)",
    .iface = MODVM_IFACE_CHAR,
    .instance_size = sizeof(struct headless_stdio),
    .options = headless_stdio_options,
    .construct = headless_stdio_construct,
    .destruct = headless_stdio_destruct,
    .query_interface = headless_stdio_query_interface,
    .version_end = MODVM_DRVREG_VERSION,
};
