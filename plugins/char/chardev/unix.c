/* plugins/char/chardev/unix.c — driver "unix": the serial port as a unix stream socket, like QEMU's
 * `-chardev socket,path=PATH,server=on,wait=off` (default here) or `server=off` (connect).
 *
 * Server (server=on): at construct a listening socket is created at `path`. A stale socket file left
 * by a dead process is replaced; a socket someone still listens on, or any other kind of file, is
 * never touched (construct fails instead). The VM does not wait for a client: until one connects,
 * device output is dropped, as on an unplugged wire. One client at a time is served; others wait in
 * the listen backlog and are accepted, in order, when the current one hangs up. The socket file is
 * removed at destruct (only if it is still the one we made).
 *
 * Client (server=off): construct connects to a listening socket at `path` and fails if nothing
 * listens. When the server hangs up, output is dropped from then on (no reconnect).
 *
 * Data path. Input: the connection's fd watch reads at most can_receive() bytes at a time and hands
 * them to the device; when the device has no room the watch is removed (not just muted: a hung-up
 * peer keeps reporting HANGUP, which would spin the I/O thread) and added back on receive_ready, so
 * bytes a client sent just before closing still reach the guest. Output: one non-blocking send per
 * device write; what does not fit in the socket buffer is dropped. A peer that is gone is noticed on
 * read (EOF) or on send (EPIPE, without SIGPIPE thanks to MSG_NOSIGNAL).
 *
 * Every fd is O_CLOEXEC and non-blocking; all callbacks run under the device's lock (drv.h), so the
 * state below needs no lock of its own. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "chardev.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CHARDEV_UNIX_BACKLOG 4     /* clients waiting while one is served */
#define CHARDEV_UNIX_CHUNK 512     /* bytes read per read() */
#define CHARDEV_UNIX_READ_BUDGET 8 /* reads per fd event, so one chatty client cannot hog the I/O thread */

/* Result of moving input from the connection to the device. */
enum chardev_unix_pump {
    CHARDEV_UNIX_PUMP_AGAIN, /* nothing more to read now (or budget used up) */
    CHARDEV_UNIX_PUMP_FULL,  /* the device has no room */
    CHARDEV_UNIX_PUMP_EOF,   /* the peer hung up (or the connection failed) */
};

/* Instance data (zeroed by the core; fds are valid only once `inited` is set). */
struct chardev_unix {
    bool inited;     /* listen_fd/conn_fd hold -1 or an open fd */
    bool server;
    bool bound;      /* we created the socket file at `path` (its identity below) */
    bool throttled;  /* the device had no room: conn watch removed until receive_ready */
    int listen_fd;
    int conn_fd;
    modvm_fd_handle listen_watch;
    modvm_fd_handle conn_watch;
    dev_t sock_dev;  /* identity of the socket file we bound, checked before unlinking it */
    ino_t sock_ino;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static const struct modvm_cfg_option chardev_unix_options[] = {
    {.name = "path", .type = MODVM_CFG_STRING, .default_value = NULL,
     .help = "path of the unix socket (required)"},
    {.name = "server", .type = MODVM_CFG_BOOL, .default_value = "on",
     .help = "listen at path and accept one client at a time (off: connect to a listening socket)"},
    {.name = NULL},
};

static void chardev_unix_conn_event(void *user, int fd, uint32_t events);

/* Fills a unix socket address for `path` (already checked to fit). */
static socklen_t chardev_unix_addr(struct sockaddr_un *addr, const char *path)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    size_t len = strlen(path);
    memcpy(addr->sun_path, path, len);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

/* A new non-blocking, close-on-exec stream socket, or -1 with errno set. */
static int chardev_unix_socket(void)
{
    return socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

/* The device's side of the char interface. */
static const struct modvm_char_port *chardev_unix_port(struct modvm_drv *drv)
{
    return drv->up;
}

/* Starts or stops waiting for clients on the listening socket (a listening socket never reports
 * HANGUP, so muting the watch is enough). */
static void chardev_unix_listen_watch(struct modvm_drv *drv, bool on)
{
    struct chardev_unix *st = drv->data;
    if (st->listen_watch)
        modvm_drv_fd_watch_modify(drv, st->listen_watch, on ? MODVM_FD_READ : 0);
}

/* Adds the connection's read watch; on failure drops the connection. */
static void chardev_unix_conn_watch(struct modvm_drv *drv);

/* Closes the current connection and, in server mode, goes back to accepting. */
static void chardev_unix_disconnect(struct modvm_drv *drv)
{
    struct chardev_unix *st = drv->data;
    if (st->conn_fd < 0)
        return;
    modvm_drv_fd_watch_remove(drv, st->conn_watch);
    st->conn_watch = NULL;
    close(st->conn_fd);
    st->conn_fd = -1;
    st->throttled = false;
    if (st->server) {
        modvm_drv_log(drv, MODVM_LOG_INFO, "client of '%s' disconnected; waiting for the next", st->path);
        chardev_unix_listen_watch(drv, true);
    } else {
        modvm_drv_log(drv, MODVM_LOG_INFO, "'%s' closed the connection; serial output is dropped from now on",
                      st->path);
    }
}

/* See the declaration above. */
static void chardev_unix_conn_watch(struct modvm_drv *drv)
{
    struct chardev_unix *st = drv->data;
    int rc = modvm_drv_fd_watch_add(drv, st->conn_fd, MODVM_FD_READ, chardev_unix_conn_event, drv,
                                    &st->conn_watch);
    if (rc != 0) {
        st->conn_watch = NULL;
        modvm_drv_log(drv, MODVM_LOG_ERROR, "cannot watch the connection on '%s' (%s); dropping it", st->path,
                      strerror(-rc));
        chardev_unix_disconnect(drv);
    }
}

/* Moves bytes from the connection into the device while it has room, at most a budget of reads. */
static enum chardev_unix_pump chardev_unix_pump(struct modvm_drv *drv)
{
    struct chardev_unix *st = drv->data;
    const struct modvm_char_port *port = chardev_unix_port(drv);
    uint8_t buf[CHARDEV_UNIX_CHUNK];

    for (int i = 0; i < CHARDEV_UNIX_READ_BUDGET; i++) {
        size_t room = port->can_receive(drv->up_ctx);
        if (room == 0)
            return CHARDEV_UNIX_PUMP_FULL;
        ssize_t n = read(st->conn_fd, buf, room < sizeof(buf) ? room : sizeof(buf));
        if (n > 0)
            port->receive(drv->up_ctx, buf, (size_t)n);
        else if (n == 0)
            return CHARDEV_UNIX_PUMP_EOF;
        else if (errno == EAGAIN || errno == EWOULDBLOCK)
            return CHARDEV_UNIX_PUMP_AGAIN;
        else if (errno != EINTR)
            return CHARDEV_UNIX_PUMP_EOF;
    }
    return CHARDEV_UNIX_PUMP_AGAIN;
}

/* fd watch callback (modvm_fd_fn) of the connection: input, or the peer hanging up. Any event —
 * HANGUP included — reads first, so data sent just before a close is delivered before the EOF. */
static void chardev_unix_conn_event(void *user, int fd, uint32_t events)
{
    struct modvm_drv *drv = user;
    struct chardev_unix *st = drv->data;
    (void)fd;
    (void)events;

    switch (chardev_unix_pump(drv)) {
    case CHARDEV_UNIX_PUMP_AGAIN:
        break;
    case CHARDEV_UNIX_PUMP_FULL:
        /* Wait for receive_ready. Removed rather than muted: see the banner. */
        modvm_drv_fd_watch_remove(drv, st->conn_watch);
        st->conn_watch = NULL;
        st->throttled = true;
        break;
    case CHARDEV_UNIX_PUMP_EOF:
        chardev_unix_disconnect(drv);
        break;
    }
}

/* fd watch callback (modvm_fd_fn) of the listening socket: accepts one client and stops listening
 * until it hangs up. */
static void chardev_unix_accept_event(void *user, int fd, uint32_t events)
{
    struct modvm_drv *drv = user;
    struct chardev_unix *st = drv->data;
    (void)events;

    if (st->conn_fd >= 0) {
        chardev_unix_listen_watch(drv, false);
        return;
    }
    int conn = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (conn < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
            modvm_drv_log(drv, MODVM_LOG_WARN, "accept on '%s' failed: %s", st->path, strerror(errno));
        return;
    }
    st->conn_fd = conn;
    st->throttled = false;
    chardev_unix_listen_watch(drv, false);
    modvm_drv_log(drv, MODVM_LOG_INFO, "client connected to '%s'", st->path);
    chardev_unix_conn_watch(drv);
}

/* Char interface write (modvm_char_conn.write): device output to the peer, without blocking. */
static size_t chardev_unix_write(struct modvm_drv *drv, const uint8_t *buf, size_t len)
{
    struct chardev_unix *st = drv->data;
    if (!st->inited || st->conn_fd < 0 || len == 0)
        return 0;
    for (;;) {
        ssize_t n = send(st->conn_fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0)
            return (size_t)n;
        if (errno == EINTR)
            continue;
        if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)
            chardev_unix_disconnect(drv);
        return 0; /* EAGAIN: the peer does not keep up; drop, as a wire would */
    }
}

/* Char interface receive_ready (modvm_char_conn.receive_ready): the device has room again; watch the
 * connection again (the I/O thread then delivers, outside the device's own call). */
static void chardev_unix_receive_ready(struct modvm_drv *drv)
{
    struct chardev_unix *st = drv->data;
    if (!st->inited || !st->throttled)
        return;
    st->throttled = false;
    if (st->conn_fd >= 0 && !st->conn_watch)
        chardev_unix_conn_watch(drv);
}

static const struct modvm_char_conn chardev_unix_conn = {
    .version = MODVM_CHAR_CONN_VERSION,
    .write = chardev_unix_write,
    .receive_ready = chardev_unix_receive_ready,
};

/* True when a process listens on the socket file at `path` (a connect succeeds or is queued). */
static bool chardev_unix_is_live(const char *path)
{
    struct sockaddr_un addr;
    socklen_t alen = chardev_unix_addr(&addr, path);
    int fd = chardev_unix_socket();
    if (fd < 0)
        return false;
    int rc = connect(fd, (struct sockaddr *)&addr, alen);
    bool live = rc == 0 || errno == EAGAIN || errno == EINPROGRESS;
    close(fd);
    return live;
}

/* Makes room for the server socket: nothing there is fine, a stale socket is removed, anything else
 * (a live socket, a regular file, a directory, ...) is refused. */
static int chardev_unix_clear_path(struct modvm_drv *drv, const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return 0; /* missing (or unreachable: bind reports it) */
    if (!S_ISSOCK(sb.st_mode))
        return modvm_drv_set_error(drv, -EEXIST,
                                   "'%s' exists and is not a socket; refusing to replace it "
                                   "(remove it yourself or choose another path)", path);
    if (chardev_unix_is_live(path))
        return modvm_drv_set_error(drv, -EADDRINUSE,
                                   "another program listens on '%s' (stop it or choose another "
                                   "path)", path);
    if (unlink(path) != 0 && errno != ENOENT)
        return modvm_drv_set_error(drv, -errno, "cannot remove the stale socket '%s': %s (%s)",
                                   path, strerror(errno), chardev_errno_hint(errno));
    return 0;
}

/* Server mode: creates the listening socket at st->path and watches it for clients. */
static int chardev_unix_listen(struct modvm_drv *drv, struct chardev_unix *st)
{
    struct sockaddr_un addr;
    socklen_t alen = chardev_unix_addr(&addr, st->path);
    int rc = chardev_unix_clear_path(drv, st->path);
    if (rc != 0)
        return rc;
    st->listen_fd = chardev_unix_socket();
    if (st->listen_fd < 0)
        return modvm_drv_set_error(drv, -errno, "cannot create a socket: %s", strerror(errno));
    if (bind(st->listen_fd, (struct sockaddr *)&addr, alen) != 0) {
        int err = errno;
        return modvm_drv_set_error(drv, -err, "cannot create socket '%s': %s (%s)", st->path,
                                   strerror(err), chardev_errno_hint(err));
    }
    struct stat sb;
    if (lstat(st->path, &sb) == 0) {
        st->bound = true;
        st->sock_dev = sb.st_dev;
        st->sock_ino = sb.st_ino;
    }
    if (listen(st->listen_fd, CHARDEV_UNIX_BACKLOG) != 0)
        return modvm_drv_set_error(drv, -errno, "cannot listen on '%s': %s", st->path,
                                   strerror(errno));
    rc = modvm_drv_fd_watch_add(drv, st->listen_fd, MODVM_FD_READ, chardev_unix_accept_event, drv,
                                &st->listen_watch);
    if (rc != 0)
        return modvm_drv_set_error(drv, rc, "cannot watch '%s' for clients", st->path);
    return 0;
}

/* Client mode: connects to the socket at st->path and watches the connection. */
static int chardev_unix_connect(struct modvm_drv *drv, struct chardev_unix *st)
{
    struct sockaddr_un addr;
    socklen_t alen = chardev_unix_addr(&addr, st->path);
    st->conn_fd = chardev_unix_socket();
    if (st->conn_fd < 0)
        return modvm_drv_set_error(drv, -errno, "cannot create a socket: %s", strerror(errno));
    if (connect(st->conn_fd, (struct sockaddr *)&addr, alen) != 0) {
        int err = errno;
        if (err == EAGAIN)
            return modvm_drv_set_error(drv, -err, "the server at '%s' accepts no more clients "
                                       "(its backlog is full)", st->path);
        return modvm_drv_set_error(drv, -err, "nothing listens on '%s': %s (%s)", st->path,
                                   strerror(err), chardev_errno_hint(err == ENOENT ? ECONNREFUSED : err));
    }
    int rc = modvm_drv_fd_watch_add(drv, st->conn_fd, MODVM_FD_READ, chardev_unix_conn_event, drv,
                                    &st->conn_watch);
    if (rc != 0)
        return modvm_drv_set_error(drv, rc, "cannot watch the connection to '%s'", st->path);
    return 0;
}

/* Driver construct callback (modvm_drvreg.construct): reads the options, then listens or connects. */
static int chardev_unix_construct(struct modvm_drv *drv)
{
    struct chardev_unix *st = drv->data;
    const char *path;

    st->listen_fd = -1;
    st->conn_fd = -1;
    st->inited = true;

    int rc = chardev_cfg_required(drv, "path", &path);
    if (rc != 0)
        return rc;
    rc = modvm_drv_cfg_bool(drv, "server", &st->server);
    if (rc != 0)
        return modvm_drv_set_error(drv, rc, "cannot read option 'server'");
    if (strlen(path) >= sizeof(st->path))
        return modvm_drv_set_error(drv, -ENAMETOOLONG,
                                   "socket path '%s' is %zu bytes; unix sockets allow at most %zu "
                                   "(use a shorter path)", path, strlen(path), sizeof(st->path) - 1);
    memcpy(st->path, path, strlen(path) + 1);
    return st->server ? chardev_unix_listen(drv, st) : chardev_unix_connect(drv, st);
}

/* Removes the server's socket file, unless someone replaced it since we bound it. */
static void chardev_unix_unlink(struct chardev_unix *st)
{
    struct stat sb;
    if (lstat(st->path, &sb) == 0 && S_ISSOCK(sb.st_mode) && sb.st_dev == st->sock_dev &&
        sb.st_ino == st->sock_ino)
        unlink(st->path);
    st->bound = false;
}

/* Driver destruct callback (modvm_drvreg.destruct): drops the watches, closes the sockets and, in
 * server mode, removes the socket file. Copes with a construct that failed part-way. */
static void chardev_unix_destruct(struct modvm_drv *drv)
{
    struct chardev_unix *st = drv->data;
    if (!st->inited)
        return;
    modvm_drv_fd_watch_remove(drv, st->conn_watch);
    modvm_drv_fd_watch_remove(drv, st->listen_watch);
    st->conn_watch = NULL;
    st->listen_watch = NULL;
    if (st->conn_fd >= 0)
        close(st->conn_fd);
    if (st->listen_fd >= 0)
        close(st->listen_fd);
    st->conn_fd = -1;
    st->listen_fd = -1;
    if (st->bound)
        chardev_unix_unlink(st);
    st->inited = false;
}

/* Driver query_interface callback (modvm_drvreg.query_interface): only the char interface. */
static const void *chardev_unix_query_interface(struct modvm_drv *drv, const char *iface)
{
    (void)drv;
    return strcmp(iface, MODVM_IFACE_CHAR) == 0 ? &chardev_unix_conn : NULL;
}

const struct modvm_drvreg chardev_unix_reg = {
    .version = MODVM_DRVREG_VERSION,
    .name = "unix",
    .description = "serial port on a unix stream socket (server or client)",
    .iface = MODVM_IFACE_CHAR,
    .instance_size = sizeof(struct chardev_unix),
    .options = chardev_unix_options,
    .construct = chardev_unix_construct,
    .destruct = chardev_unix_destruct,
    .query_interface = chardev_unix_query_interface,
    .version_end = MODVM_DRVREG_VERSION,
};
