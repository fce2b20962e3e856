/* tests/unit/test-tm.c — TM: the virtual clock stops while paused, timers on both clocks fire in
 * deadline order on the I/O thread under their owner lock, stopped/destroyed timers never fire, and
 * fd watches deliver readiness and stop after removal. Waits are bounded but generous (no timing
 * assertions beyond ordering and "did/did not happen"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include "../../core/tm.h"

#define MS 1000000ull

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits until *flag reaches want or 5 s pass. */
static bool wait_for(atomic_int *flag, int want)
{
    for (int i = 0; i < 500; i++) {
        if (atomic_load(flag) >= want)
            return true;
        sleep_ms(10);
    }
    return false;
}

struct fire_log {
    pthread_mutex_t lock;
    atomic_int count;
    int order[8];
    bool owner_held;
};

struct tagged {
    struct fire_log *log;
    int tag;
};

static void on_fire(void *opaque)
{
    struct tagged *t = opaque;
    /* The owner lock must be held by the I/O thread: trylock fails. */
    if (pthread_mutex_trylock(&t->log->lock) == 0) {
        t->log->owner_held = false;
        pthread_mutex_unlock(&t->log->lock);
    }
    int n = atomic_fetch_add(&t->log->count, 1);
    if (n < 8)
        t->log->order[n] = t->tag;
}

static void virtual_clock_stops_while_paused(void **state)
{
    (void)state;
    struct tm_mgr *tm;
    assert_int_equal(tm_create(&tm), 0);
    uint64_t v0 = tm_now(tm, TM_CLOCK_VIRTUAL);
    sleep_ms(20);
    assert_int_equal(tm_now(tm, TM_CLOCK_VIRTUAL), v0); /* created paused */
    tm_resume_virtual(tm);
    sleep_ms(20);
    uint64_t v1 = tm_now(tm, TM_CLOCK_VIRTUAL);
    assert_true(v1 >= v0 + 15 * MS);
    tm_pause_virtual(tm);
    uint64_t v2 = tm_now(tm, TM_CLOCK_VIRTUAL);
    sleep_ms(20);
    assert_int_equal(tm_now(tm, TM_CLOCK_VIRTUAL), v2);
    tm_resume_virtual(tm);
    assert_true(tm_now(tm, TM_CLOCK_VIRTUAL) - v2 < 15 * MS); /* continues where it stopped */
    tm_destroy(tm);
}

static void timers_fire_in_order_under_owner_lock(void **state)
{
    (void)state;
    struct tm_mgr *tm;
    assert_int_equal(tm_create(&tm), 0);
    struct fire_log log = {.lock = PTHREAD_MUTEX_INITIALIZER, .owner_held = true};
    struct tagged tags[3] = {{&log, 1}, {&log, 2}, {&log, 3}};
    struct tm_timer *t[3];
    tm_resume_virtual(tm);
    for (int i = 0; i < 3; i++)
        assert_int_equal(tm_timer_create(tm, i == 1 ? TM_CLOCK_HOST : TM_CLOCK_VIRTUAL, on_fire, &tags[i],
                                         &log.lock, &t[i]),
                         0);
    uint64_t vnow = tm_now(tm, TM_CLOCK_VIRTUAL), hnow = tm_now(tm, TM_CLOCK_HOST);
    tm_timer_arm(t[2], vnow + 60 * MS);
    tm_timer_arm(t[0], vnow + 20 * MS);
    tm_timer_arm(t[1], hnow + 40 * MS);
    assert_int_equal(tm_start(tm), 0);
    assert_true(wait_for(&log.count, 3));
    assert_int_equal(log.order[0], 1);
    assert_int_equal(log.order[1], 2);
    assert_int_equal(log.order[2], 3);
    assert_true(log.owner_held);
    sleep_ms(50);
    assert_int_equal(atomic_load(&log.count), 3); /* one-shot: no refire */
    for (int i = 0; i < 3; i++)
        tm_timer_destroy(t[i]);
    tm_destroy(tm);
}

static void stopped_and_paused_timers_do_not_fire(void **state)
{
    (void)state;
    struct tm_mgr *tm;
    assert_int_equal(tm_create(&tm), 0);
    struct fire_log log = {.lock = PTHREAD_MUTEX_INITIALIZER, .owner_held = true};
    struct tagged a = {&log, 1}, b = {&log, 2}, c = {&log, 3};
    struct tm_timer *ta, *tb, *tc;
    tm_resume_virtual(tm);
    assert_int_equal(tm_start(tm), 0);
    tm_timer_create(tm, TM_CLOCK_VIRTUAL, on_fire, &a, &log.lock, &ta);
    tm_timer_create(tm, TM_CLOCK_VIRTUAL, on_fire, &b, &log.lock, &tb);
    tm_timer_create(tm, TM_CLOCK_HOST, on_fire, &c, NULL, &tc);
    pthread_mutex_lock(&log.lock);
    tm_timer_arm(ta, tm_now(tm, TM_CLOCK_VIRTUAL) + 10 * MS);
    tm_timer_stop(ta);                                          /* stopped: never fires */
    tm_timer_arm(tb, tm_now(tm, TM_CLOCK_VIRTUAL) + 30 * MS);
    pthread_mutex_unlock(&log.lock);
    tm_pause_virtual(tm);                                       /* virtual time frozen: tb waits */
    tm_timer_arm(tc, tm_now(tm, TM_CLOCK_HOST) + 60 * MS);     /* host clock runs on */
    assert_true(wait_for(&log.count, 1));
    assert_int_equal(log.order[0], 3);
    sleep_ms(60);
    assert_int_equal(atomic_load(&log.count), 1);
    tm_resume_virtual(tm);
    assert_true(wait_for(&log.count, 2));
    assert_int_equal(log.order[1], 2);
    pthread_mutex_lock(&log.lock);
    tm_timer_arm(ta, tm_now(tm, TM_CLOCK_VIRTUAL) + 5 * MS);
    tm_timer_destroy(ta);                                       /* destroyed while armed */
    pthread_mutex_unlock(&log.lock);
    sleep_ms(40);
    assert_int_equal(atomic_load(&log.count), 2);
    tm_timer_destroy(tb);
    tm_timer_destroy(tc);
    tm_destroy(tm);
}

struct fd_log {
    atomic_int reads;
    int fd;
};

static void on_readable(void *opaque, int fd, uint32_t events)
{
    struct fd_log *l = opaque;
    char buf[16];
    if (events & TM_FD_READ)
        while (read(fd, buf, sizeof(buf)) > 0)
            atomic_fetch_add(&l->reads, 1);
}

static void fd_watches_deliver_and_stop(void **state)
{
    (void)state;
    struct tm_mgr *tm;
    assert_int_equal(tm_create(&tm), 0);
    assert_int_equal(tm_start(tm), 0);
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    struct fd_log log = {.fd = p[0]};
    struct tm_fd_watch *w;
    assert_int_equal(tm_fd_watch_add(tm, p[0], TM_FD_READ, on_readable, &log, NULL, &w), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_true(wait_for(&log.reads, 1));
    assert_int_equal(tm_fd_watch_modify(w, 0), 0); /* muted */
    assert_int_equal(write(p[1], "y", 1), 1);
    sleep_ms(40);
    assert_int_equal(atomic_load(&log.reads), 1);
    assert_int_equal(tm_fd_watch_modify(w, TM_FD_READ), 0);
    assert_true(wait_for(&log.reads, 2));
    tm_fd_watch_remove(w);
    assert_int_equal(write(p[1], "z", 1), 1);
    sleep_ms(40);
    assert_int_equal(atomic_load(&log.reads), 2);
    assert_int_equal(tm_fd_watch_add(tm, -1, TM_FD_READ, on_readable, &log, NULL, &w) < 0, 1);
    tm_destroy(tm);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(virtual_clock_stops_while_paused),
        cmocka_unit_test(timers_fire_in_order_under_owner_lock),
        cmocka_unit_test(stopped_and_paused_timers_do_not_fire),
        cmocka_unit_test(fd_watches_deliver_and_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
