/* core/tm.c — TM: the virtual clock, timers on both clocks, fd watches, and the I/O thread's epoll
 * loop. See tm.h for the locking contract. */
#include "tm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define TM_MAX_EVENTS 32

struct tm_timer {
    struct tm_mgr *tm;
    enum tm_clock clock;
    tm_timer_fn fn;
    void *opaque;
    pthread_mutex_t *owner;
    bool armed, dead;
    uint64_t expire;
    uint64_t generation; /* bumped on every arm/stop so a stale pick is detected */
    struct tm_timer *next, *next_dead;
};

struct tm_fd_watch {
    struct tm_mgr *tm;
    int fd;
    tm_fd_fn fn;
    void *opaque;
    pthread_mutex_t *owner;
    bool dead;
    struct tm_fd_watch *next_dead;
};

struct tm_mgr {
    pthread_mutex_t lock;
    int epfd, timerfd, wakefd;
    pthread_t thread;
    bool running, quit;
    bool virtual_paused;
    uint64_t virtual_offset; /* host - virtual while running */
    uint64_t virtual_frozen; /* virtual time while paused */
    struct tm_timer *timers;
    struct tm_timer *dead_timers;
    struct tm_fd_watch *dead_watches;
};

/* The host monotonic clock in ns. */
static uint64_t tm_host_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Virtual time (tm->lock held). */
static uint64_t tm_virtual_now_locked(struct tm_mgr *tm)
{
    return tm->virtual_paused ? tm->virtual_frozen : tm_host_now() - tm->virtual_offset;
}

/* Wakes the I/O thread so it re-reads timers. */
static void tm_kick(struct tm_mgr *tm)
{
    uint64_t one = 1;
    ssize_t n = write(tm->wakefd, &one, sizeof(one));
    (void)n; /* a full eventfd already means "wake up" */
}

int tm_create(struct tm_mgr **out)
{
    struct tm_mgr *tm = calloc(1, sizeof(*tm));
    if (!tm)
        return -ENOMEM;
    pthread_mutex_init(&tm->lock, NULL);
    tm->virtual_paused = true;
    tm->epfd = epoll_create1(EPOLL_CLOEXEC);
    tm->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    tm->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (tm->epfd < 0 || tm->timerfd < 0 || tm->wakefd < 0) {
        int rc = -errno;
        tm_destroy(tm);
        return rc;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &tm->timerfd};
    epoll_ctl(tm->epfd, EPOLL_CTL_ADD, tm->timerfd, &ev);
    ev.data.ptr = &tm->wakefd;
    epoll_ctl(tm->epfd, EPOLL_CTL_ADD, tm->wakefd, &ev);
    *out = tm;
    return 0;
}

/* Frees timers and watches removed since the last loop iteration (I/O thread or stopped TM). */
static void tm_reap(struct tm_mgr *tm)
{
    pthread_mutex_lock(&tm->lock);
    struct tm_timer *t = tm->dead_timers;
    struct tm_fd_watch *w = tm->dead_watches;
    tm->dead_timers = NULL;
    tm->dead_watches = NULL;
    pthread_mutex_unlock(&tm->lock);
    while (t) {
        struct tm_timer *n = t->next_dead;
        free(t);
        t = n;
    }
    while (w) {
        struct tm_fd_watch *n = w->next_dead;
        free(w);
        w = n;
    }
}

void tm_destroy(struct tm_mgr *tm)
{
    if (!tm)
        return;
    tm_stop(tm);
    tm_reap(tm);
    while (tm->timers) {
        struct tm_timer *n = tm->timers->next;
        free(tm->timers);
        tm->timers = n;
    }
    if (tm->epfd >= 0)
        close(tm->epfd);
    if (tm->timerfd >= 0)
        close(tm->timerfd);
    if (tm->wakefd >= 0)
        close(tm->wakefd);
    pthread_mutex_destroy(&tm->lock);
    free(tm);
}

uint64_t tm_now(struct tm_mgr *tm, enum tm_clock clock)
{
    if (clock == TM_CLOCK_HOST)
        return tm_host_now();
    pthread_mutex_lock(&tm->lock);
    uint64_t now = tm_virtual_now_locked(tm);
    pthread_mutex_unlock(&tm->lock);
    return now;
}

void tm_pause_virtual(struct tm_mgr *tm)
{
    pthread_mutex_lock(&tm->lock);
    if (!tm->virtual_paused) {
        tm->virtual_frozen = tm_host_now() - tm->virtual_offset;
        tm->virtual_paused = true;
    }
    pthread_mutex_unlock(&tm->lock);
    tm_kick(tm);
}

void tm_resume_virtual(struct tm_mgr *tm)
{
    pthread_mutex_lock(&tm->lock);
    if (tm->virtual_paused) {
        tm->virtual_offset = tm_host_now() - tm->virtual_frozen;
        tm->virtual_paused = false;
    }
    pthread_mutex_unlock(&tm->lock);
    tm_kick(tm);
}

int tm_timer_create(struct tm_mgr *tm, enum tm_clock clock, tm_timer_fn fn, void *opaque,
                    pthread_mutex_t *owner_lock, struct tm_timer **out)
{
    struct tm_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    *t = (struct tm_timer){.tm = tm, .clock = clock, .fn = fn, .opaque = opaque, .owner = owner_lock};
    pthread_mutex_lock(&tm->lock);
    t->next = tm->timers;
    tm->timers = t;
    pthread_mutex_unlock(&tm->lock);
    *out = t;
    return 0;
}

int tm_timer_arm(struct tm_timer *t, uint64_t expire_ns)
{
    struct tm_mgr *tm = t->tm;
    pthread_mutex_lock(&tm->lock);
    t->armed = true;
    t->expire = expire_ns;
    t->generation++;
    pthread_mutex_unlock(&tm->lock);
    tm_kick(tm);
    return 0;
}

int tm_timer_stop(struct tm_timer *t)
{
    pthread_mutex_lock(&t->tm->lock);
    t->armed = false;
    t->generation++;
    pthread_mutex_unlock(&t->tm->lock);
    return 0;
}

void tm_timer_destroy(struct tm_timer *t)
{
    if (!t)
        return;
    struct tm_mgr *tm = t->tm;
    pthread_mutex_lock(&tm->lock);
    struct tm_timer **pp = &tm->timers;
    while (*pp != t)
        pp = &(*pp)->next;
    *pp = t->next;
    t->armed = false;
    t->dead = true;
    t->next_dead = tm->dead_timers;
    tm->dead_timers = t;
    pthread_mutex_unlock(&tm->lock);
    tm_kick(tm);
}

/* Converts TM_FD_* to epoll events. */
static uint32_t tm_epoll_events(uint32_t events)
{
    return (events & TM_FD_READ ? EPOLLIN : 0) | (events & TM_FD_WRITE ? EPOLLOUT : 0);
}

int tm_fd_watch_add(struct tm_mgr *tm, int fd, uint32_t events, tm_fd_fn fn, void *opaque,
                    pthread_mutex_t *owner_lock, struct tm_fd_watch **out)
{
    struct tm_fd_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    *w = (struct tm_fd_watch){.tm = tm, .fd = fd, .fn = fn, .opaque = opaque, .owner = owner_lock};
    struct epoll_event ev = {.events = tm_epoll_events(events), .data.ptr = w};
    if (epoll_ctl(tm->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int rc = -errno;
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int tm_fd_watch_modify(struct tm_fd_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = tm_epoll_events(events), .data.ptr = w};
    return epoll_ctl(w->tm->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

void tm_fd_watch_remove(struct tm_fd_watch *w)
{
    if (!w)
        return;
    struct tm_mgr *tm = w->tm;
    epoll_ctl(tm->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    pthread_mutex_lock(&tm->lock);
    w->dead = true;
    w->next_dead = tm->dead_watches;
    tm->dead_watches = w;
    pthread_mutex_unlock(&tm->lock);
}

/* The host time at which timer t is due (tm->lock held); UINT64_MAX when it cannot fire now. */
static uint64_t tm_timer_host_deadline(struct tm_mgr *tm, const struct tm_timer *t)
{
    if (!t->armed)
        return UINT64_MAX;
    if (t->clock == TM_CLOCK_HOST)
        return t->expire;
    if (tm->virtual_paused)
        return UINT64_MAX;
    return t->expire > UINT64_MAX - tm->virtual_offset ? UINT64_MAX : t->expire + tm->virtual_offset;
}

/* Picks one due timer, or programs the timerfd for the earliest deadline and returns NULL. */
static struct tm_timer *tm_pick_due(struct tm_mgr *tm, uint64_t *generation)
{
    uint64_t now = tm_host_now(), earliest = UINT64_MAX;
    struct tm_timer *due = NULL;
    pthread_mutex_lock(&tm->lock);
    for (struct tm_timer *t = tm->timers; t; t = t->next) {
        uint64_t d = tm_timer_host_deadline(tm, t);
        if (d <= now && (!due || d < earliest)) {
            due = t;
            earliest = d;
        } else if (!due && d < earliest) {
            earliest = d;
        }
    }
    if (due) {
        *generation = due->generation;
    } else {
        struct itimerspec its = {0};
        if (earliest != UINT64_MAX) {
            its.it_value.tv_sec = (time_t)(earliest / 1000000000ull);
            its.it_value.tv_nsec = (long)(earliest % 1000000000ull);
        }
        timerfd_settime(tm->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
    }
    pthread_mutex_unlock(&tm->lock);
    return due;
}

/* Fires a picked timer under its owner lock if nobody changed it since it was picked. */
static void tm_fire(struct tm_mgr *tm, struct tm_timer *t, uint64_t generation)
{
    if (t->owner)
        pthread_mutex_lock(t->owner);
    pthread_mutex_lock(&tm->lock);
    bool fire = !t->dead && t->armed && t->generation == generation;
    if (fire)
        t->armed = false;
    pthread_mutex_unlock(&tm->lock);
    if (fire)
        t->fn(t->opaque);
    if (t->owner)
        pthread_mutex_unlock(t->owner);
}

/* Calls a watch's callback under its owner lock unless it was removed meanwhile. */
static void tm_dispatch_fd(struct tm_fd_watch *w, uint32_t ev)
{
    uint32_t events = (ev & EPOLLIN ? TM_FD_READ : 0) | (ev & EPOLLOUT ? TM_FD_WRITE : 0) |
                      (ev & (EPOLLHUP | EPOLLERR | EPOLLRDHUP) ? TM_FD_HANGUP : 0);
    if (w->owner)
        pthread_mutex_lock(w->owner);
    pthread_mutex_lock(&w->tm->lock);
    bool live = !w->dead;
    pthread_mutex_unlock(&w->tm->lock);
    if (live)
        w->fn(w->opaque, w->fd, events);
    if (w->owner)
        pthread_mutex_unlock(w->owner);
}

/* The I/O thread: fire due timers, wait for fds/timers/wake-ups, dispatch. */
static void *tm_thread(void *arg)
{
    struct tm_mgr *tm = arg;
    struct epoll_event evs[TM_MAX_EVENTS];
    for (;;) {
        tm_reap(tm);
        pthread_mutex_lock(&tm->lock);
        bool quit = tm->quit;
        pthread_mutex_unlock(&tm->lock);
        if (quit)
            break;
        uint64_t gen;
        struct tm_timer *t;
        int budget = 64; /* fire a burst of due timers, then let fds in */
        while (budget-- > 0 && (t = tm_pick_due(tm, &gen)) != NULL)
            tm_fire(tm, t, gen);
        if (budget < 0)
            continue;
        int n = epoll_wait(tm->epfd, evs, TM_MAX_EVENTS, -1);
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &tm->timerfd || p == &tm->wakefd) {
                uint64_t v;
                ssize_t r = read(p == &tm->timerfd ? tm->timerfd : tm->wakefd, &v, sizeof(v));
                (void)r;
                continue;
            }
            tm_dispatch_fd(p, evs[i].events);
        }
    }
    return NULL;
}

int tm_start(struct tm_mgr *tm)
{
    if (tm->running)
        return 0;
    tm->quit = false;
    int rc = pthread_create(&tm->thread, NULL, tm_thread, tm);
    if (rc)
        return -rc;
    tm->running = true;
    return 0;
}

void tm_stop(struct tm_mgr *tm)
{
    if (!tm->running)
        return;
    pthread_mutex_lock(&tm->lock);
    tm->quit = true;
    pthread_mutex_unlock(&tm->lock);
    tm_kick(tm);
    pthread_join(tm->thread, NULL);
    tm->running = false;
}
