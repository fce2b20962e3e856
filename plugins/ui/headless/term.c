/* plugins/ui/headless/term.c — the terminal behind stdin, and the little state the headless
 * frontend and the stdio driver share.
 *
 * Raw mode as QEMU's stdio backend sets it (chardev/char-stdio.c): no echo, no line editing, no
 * input translation, no XON/XOFF and no ISIG — Ctrl-C, Ctrl-Z and Ctrl-\ go to the guest, the
 * escape key (stdio.c) is how a person stops the VM — 8-bit characters, read() returns as soon as
 * one byte is there. Unlike cfmakeraw() output processing stays on (OPOST|ONLCR), so a guest's "\n"
 * still starts a new line at column 0.
 *
 * Restoring the saved settings is idempotent and done by whoever comes first: the frontend's
 * destruct (which also runs when the core powers off on SIGTERM/SIGINT/SIGHUP), an atexit handler
 * (a backstop for exit() paths that skip destruct) — which glibc also runs if the plugin is unloaded
 * with dlclose — or a second call. tcsetattr is async-signal-safe, so the core may call into this
 * from a signal handler's context too. A SIGKILL cannot be caught: `stty sane` repairs that. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "headless.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static struct termios headless_saved_termios; /* settings before raw mode */
static atomic_bool headless_raw_active;       /* raw mode set and not yet restored */
static bool headless_atexit_registered;       /* main thread only */
static atomic_int headless_state;             /* see headless_shared_state */

/* Turns saved settings into raw ones; see the banner for what and why. */
static void headless_term_make_raw(struct termios *t)
{
    t->c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t->c_oflag |= OPOST | ONLCR;
    t->c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t->c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
    t->c_cflag |= CS8;
    t->c_cc[VMIN] = 1;
    t->c_cc[VTIME] = 0;
}

/* atexit handler: the backstop restore. */
static void headless_term_atexit(void)
{
    headless_term_restore();
}

/* See headless.h. */
int headless_term_enter_raw(void)
{
    struct termios raw;
    if (atomic_load(&headless_raw_active))
        return 0;
    if (tcgetattr(STDIN_FILENO, &headless_saved_termios) != 0)
        return -errno;
    raw = headless_saved_termios;
    headless_term_make_raw(&raw);
    if (!headless_atexit_registered && atexit(headless_term_atexit) == 0)
        headless_atexit_registered = true;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) != 0)
        return -errno;
    atomic_store(&headless_raw_active, true);
    return 0;
}

/* See headless.h. */
void headless_term_restore(void)
{
    if (atomic_exchange(&headless_raw_active, false))
        tcsetattr(STDIN_FILENO, TCSANOW, &headless_saved_termios);
}

/* See headless.h. */
bool headless_term_is_raw(void)
{
    return atomic_load(&headless_raw_active);
}

/* See headless.h. */
int headless_shared_state(void)
{
    return atomic_load(&headless_state);
}

/* See headless.h. */
void headless_shared_set_state(int state)
{
    atomic_store(&headless_state, state);
}

/* See headless.h. */
void headless_print(const char *msg)
{
    size_t len = strlen(msg), done = 0;
    while (done < len) {
        ssize_t n = write(STDERR_FILENO, msg + done, len - done);
        if (n > 0)
            done += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else
            break;
    }
}
