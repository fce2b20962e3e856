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
 * Input: stdin is watched by the I/O thread; each readiness event makes one read() (stdin stays in
 * blocking mode — it is shared with the shell — so never a second one), runs the bytes through the
 * escape keys and queues what the guest gets; the queue is handed to the device as far as
 * can_receive() allows, the rest when the device calls receive_ready — through an eventfd "kick",
 * on the I/O thread, never inside the device's own call.
 *   - A terminal is read whenever it has input, so the escape keys work even when the guest never
 *     reads its serial port (hung, interrupts off, paused): once the 4 KiB queue is full, typed
 *     bytes for the guest are dropped, as a UART overrun would, and the commands still act.
 *   - A pipe or file is read only while the queue has room, so scripted input is never lost; the
 *     watch is removed meanwhile (a closed pipe keeps reporting HANGUP, muting it would spin).
 *   - At EOF stdin is no longer watched; the VM keeps running and output continues
 *     (`modvm run ... </dev/null`). A stdin epoll cannot watch — a regular file, /dev/null — is
 *     read through the kick instead, one chunk per I/O-loop turn, until EOF.
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
#define HEADLESS_PEND_SIZE 4096       /* input queued for a device that has no room */
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

/* Instance data (zeroed by the core; the fds are valid only once `inited` is set). */
struct headless_stdio {
    bool inited;        /* kick_fd holds -1 or an open eventfd; we own the stdio slot */
    bool in_open;       /* stdin may still have input */
    bool in_pollable;   /* stdin is watched; otherwise read through the kick */
    bool in_tty;        /* stdin is a terminal: always read (see the banner) */
    bool want_room;     /* the device had no room: receive_ready kicks delivery */
    bool drop_logged;   /* the "input dropped" message was logged for this episode */
    bool out_regular;   /* stdout is a regular file: writes never block */
    bool out_congested; /* stdout was not writable last time: do not wait for it */
    bool out_dead;      /* stdout is closed */
    bool paused_local;  /* pause state when no headless frontend tracks it */
    bool esc_pending;   /* the escape key was the last input byte */
    uint8_t esc_key;    /* 1..26 (Ctrl-A..Ctrl-Z), 0 = no escape key */
    int kick_fd;
    modvm_fd_handle in_watch;
    modvm_fd_handle kick_watch;
    size_t dropped;            /* typed bytes dropped because the guest did not read */
    size_t pend_off, pend_len; /* input for the device not yet taken */
    uint8_t pend[HEADLESS_PEND_SIZE];
};

/* Whether a stdio driver exists (construct/destruct run on the main thread). */
static bool headless_stdio_taken;

static void headless_stdio_stdin_event(void *user, int fd, uint32_t events);

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

/* Queues one byte for the device; drops it when the queue is full (only a terminal is read then). */
static void headless_stdio_push(struct headless_stdio *st, uint8_t c)
{
    if (st->pend_len < sizeof(st->pend))
        st->pend[st->pend_len++] = c;
    else
        st->dropped++;
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

/* Hands queued input to the device while it has room; notes when it ran out of room, so that
 * receive_ready kicks the rest along. */
static void headless_stdio_deliver(struct modvm_drv *drv)
{
    struct headless_stdio *st = drv->data;
    const struct modvm_char_port *port = drv->up;
    while (st->pend_off < st->pend_len) {
        size_t room = port->can_receive(drv->up_ctx);
        if (room == 0) {
            st->want_room = true;
            return;
        }
        size_t n = st->pend_len - st->pend_off;
        n = n < room ? n : room;
        port->receive(drv->up_ctx, st->pend + st->pend_off, n);
        st->pend_off += n;
    }
    st->pend_off = st->pend_len = 0;
    st->drop_logged = false;
}

/* True when the queue has room for what one read can turn into (a chunk plus one byte). */
static bool headless_stdio_has_space(struct headless_stdio *st)
{
    if (st->pend_off != 0) {
        memmove(st->pend, st->pend + st->pend_off, st->pend_len - st->pend_off);
        st->pend_len -= st->pend_off;
        st->pend_off = 0;
    }
    return sizeof(st->pend) - st->pend_len >= HEADLESS_IN_CHUNK + 1;
}

/* Reads one chunk of stdin and runs it through the escape keys into the queue. False at EOF (or a
 * read error, which ends input the same way). */
static bool headless_stdio_read(struct modvm_drv *drv)
{
    struct headless_stdio *st = drv->data;
    uint8_t buf[HEADLESS_IN_CHUNK];
    size_t dropped_before = st->dropped;
    ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    for (ssize_t i = 0; i < n; i++) {
        enum headless_cmd cmd = headless_stdio_feed(st, buf[i]);
        if (cmd != HEADLESS_CMD_NONE)
            headless_stdio_command(drv, cmd);
    }
    if (st->dropped != dropped_before && !st->drop_logged) {
        st->drop_logged = true;
        modvm_drv_log(drv, MODVM_LOG_INFO, "the guest does not read its serial port: typed input is dropped "
                      "(the escape keys still work)");
    }
    return n > 0;
}

/* Wakes the kick watch, which runs the input step from the I/O thread. */
static void headless_stdio_kick(struct headless_stdio *st)
{
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(st->kick_fd, &one, sizeof(one));
    while (n < 0 && errno == EINTR);
}

/* Reads stdin exactly when it should be: while open and — unless it is a terminal, which is always
 * read so the escape keys work — while the queue has space. A pollable stdin gets its watch added
 * or removed (removed, not muted: a closed pipe keeps reporting HANGUP); an unpollable one is read
 * through the kick, one chunk per I/O-loop turn. */
static void headless_stdio_update_watch(struct modvm_drv *drv)
{
    struct headless_stdio *st = drv->data;
    bool want = st->in_open && (st->in_tty || headless_stdio_has_space(st));

    if (!st->in_pollable) {
        if (want)
            headless_stdio_kick(st);
    } else if (want && !st->in_watch) {
        if (modvm_drv_fd_watch_add(drv, STDIN_FILENO, MODVM_FD_READ, headless_stdio_stdin_event, drv,
                                   &st->in_watch) != 0) {
            st->in_watch = NULL;
            st->in_open = false;
            modvm_drv_log(drv, MODVM_LOG_ERROR, "cannot watch stdin again; serial input ends");
        }
    } else if (!want && st->in_watch) {
        modvm_drv_fd_watch_remove(drv, st->in_watch);
        st->in_watch = NULL;
    }
}

/* The input step: deliver what is queued; read a chunk if stdin should be read; deliver that; then
 * decide whether to keep reading. */
static void headless_stdio_input(struct modvm_drv *drv, bool may_read)
{
    struct headless_stdio *st = drv->data;
    headless_stdio_deliver(drv);
    if (may_read && st->in_open && (st->in_tty || headless_stdio_has_space(st))) {
        if (!headless_stdio_read(drv)) {
            st->in_open = false;
            modvm_drv_log(drv, MODVM_LOG_DEBUG, "end of stdin: no more serial input (the VM keeps running)");
        }
        headless_stdio_deliver(drv);
    }
    headless_stdio_update_watch(drv);
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

/* Char interface receive_ready (modvm_char_conn.receive_ready): the device has room again. The
 * delivery happens on the I/O thread (kick), never inside the device's own call. */
static void headless_stdio_receive_ready(struct modvm_drv *drv)
{
    struct headless_stdio *st = drv->data;
    if (!st->inited || !st->want_room)
        return;
    st->want_room = false;
    headless_stdio_kick(st);
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

/* Starts reading stdin: watched when epoll can, else (a regular file, /dev/null: epoll refuses
 * them) through the kick; without a readable stdin, no input. */
static void headless_stdio_open_input(struct modvm_drv *drv, struct headless_stdio *st)
{
    struct stat sb;
    int rc = -EPERM;

    st->in_open = true;
    st->in_tty = isatty(STDIN_FILENO) == 1;
    if (fstat(STDIN_FILENO, &sb) == 0 && !S_ISREG(sb.st_mode))
        rc = modvm_drv_fd_watch_add(drv, STDIN_FILENO, MODVM_FD_READ, headless_stdio_stdin_event, drv,
                                    &st->in_watch);
    st->in_pollable = rc == 0;
    if (rc == 0)
        return;
    st->in_watch = NULL;
    if (rc == -EPERM) {
        headless_stdio_kick(st);
        return;
    }
    st->in_open = false;
    modvm_drv_log(drv, MODVM_LOG_INFO, "stdin cannot be read (%s): no serial input", strerror(-rc));
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
        return modvm_drv_set_error(drv, rc, "cannot read option 'escape'");
    if (headless_stdio_parse_escape(escape, &st->esc_key) != 0)
        return modvm_drv_set_error(drv, -EINVAL,
                                   "option 'escape' must be ctrl-a .. ctrl-z or none, got '%s'",
                                   escape);
    st->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (st->kick_fd < 0)
        return modvm_drv_set_error(drv, -errno, "cannot create an eventfd: %s", strerror(errno));
    rc = modvm_drv_fd_watch_add(drv, st->kick_fd, MODVM_FD_READ, headless_stdio_kick_event, drv,
                                &st->kick_watch);
    if (rc != 0)
        return modvm_drv_set_error(drv, rc, "cannot watch its eventfd");
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
    modvm_drv_fd_watch_remove(drv, st->in_watch);
    st->in_watch = NULL;
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
