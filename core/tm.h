/* core/tm.h — TM: virtual time, timers and the I/O thread.
 *
 * Two clocks: the host clock (CLOCK_MONOTONIC) and the virtual clock, which runs with the host clock
 * while the VM runs and stands still while it is paused. One I/O thread runs an epoll loop that fires
 * timers of both clocks and calls fd-watch callbacks.
 *
 * Every timer and fd watch has an owner lock (a device's lock, or NULL): the I/O thread holds it
 * around the callback, and callers hold it while they arm, stop or remove — so a callback never runs
 * after its owner stopped or removed it. Removed objects are freed by the I/O thread between loop
 * iterations, never under a running callback. */
#ifndef MODVM_CORE_TM_H
#define MODVM_CORE_TM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct tm_mgr;
struct tm_timer;
struct tm_fd_watch;

enum tm_clock { TM_CLOCK_VIRTUAL = 0, TM_CLOCK_HOST = 1 };

#define TM_FD_READ 0x1u
#define TM_FD_WRITE 0x2u
#define TM_FD_HANGUP 0x4u

typedef void (*tm_timer_fn)(void *opaque);
typedef void (*tm_fd_fn)(void *opaque, int fd, uint32_t events);

/** Creates TM with the virtual clock paused at 0. */
int tm_create(struct tm_mgr **out);
/** Stops the I/O thread (if running) and frees everything. */
void tm_destroy(struct tm_mgr *tm);
/** Starts / stops the I/O thread. */
int tm_start(struct tm_mgr *tm);
void tm_stop(struct tm_mgr *tm);

/** Nanoseconds on `clock`. */
uint64_t tm_now(struct tm_mgr *tm, enum tm_clock clock);
/** Freezes / restarts the virtual clock (the VM pauses / runs). Idempotent. */
void tm_pause_virtual(struct tm_mgr *tm);
void tm_resume_virtual(struct tm_mgr *tm);

/** Creates a disarmed timer. */
int tm_timer_create(struct tm_mgr *tm, enum tm_clock clock, tm_timer_fn fn, void *opaque,
                    pthread_mutex_t *owner_lock, struct tm_timer **out);
/** Arms at absolute time `expire_ns` of the timer's clock (re-arming moves it). */
int tm_timer_arm(struct tm_timer *t, uint64_t expire_ns);
/** Disarms. */
int tm_timer_stop(struct tm_timer *t);
/** Disarms and frees (deferred to the I/O thread). */
void tm_timer_destroy(struct tm_timer *t);

/** Watches `fd` for TM_FD_* events (hang-ups are always reported). */
int tm_fd_watch_add(struct tm_mgr *tm, int fd, uint32_t events, tm_fd_fn fn, void *opaque,
                    pthread_mutex_t *owner_lock, struct tm_fd_watch **out);
int tm_fd_watch_modify(struct tm_fd_watch *w, uint32_t events);
void tm_fd_watch_remove(struct tm_fd_watch *w);

#endif
