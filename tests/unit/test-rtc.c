/* test-rtc.c — register-model tests of the rtc plugin (MC146818 RTC and CMOS RAM), run through the
 * device harness.
 *
 * Spec: Motorola MC146818A datasheet; the PC CMOS map as SeaBIOS (src/fw/paravirt.c, src/boot.c,
 * src/hw/rtc.c) and Linux (mc146818_get_time) read it. The real rtc.so is loaded from $RTC_PLUGIN.
 * Time is the harness's manual clock, so every test is deterministic except the two that compare
 * against the host's clock (base=utc / localtime), which allow two seconds of slack. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "devharness.h"

/* Registers and bits the tests name. */
enum { SEC = 0, SEC_ALARM = 1, MIN = 2, MIN_ALARM = 3, HOUR = 4, HOUR_ALARM = 5, DOW = 6, DOM = 7, MONTH = 8,
       YEAR = 9, REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d, CENTURY = 0x32 };
#define A_UIP 0x80
#define B_SET 0x80
#define B_PIE 0x40
#define B_AIE 0x20
#define B_UIE 0x10
#define B_SQWE 0x08
#define B_DM 0x04
#define B_24H 0x02
#define C_IRQF 0x80
#define C_PF 0x40
#define C_AF 0x20
#define C_UF 0x10
#define RTC_IRQ 8
#define NS 1000000000ull
#define MS 1000000ull
#define US 1000ull
#define SS_LEN 133 /* saved-state unit v1 */
#define SS_CMOS 1  /* offset of cmos[0] in it */
#define SS_PHASE (1 + 128)

static const char *const base_2020[] = {"base=2020-01-01T00:00:00", NULL};

/* Opens the plugin (failing the test if it cannot). */
static struct devharness *open_plugin(void)
{
    const char *path = getenv("RTC_PLUGIN");
    if (!path)
        fail_msg("RTC_PLUGIN is not set (path of rtc.so)");
    struct devharness *h = devharness_open(path);
    assert_non_null(h);
    return h;
}

/* An RTC built with `opts` (NULL-terminated or NULL). */
static struct devharness *rtc_new(const char *const *opts)
{
    struct devharness *h = open_plugin();
    int rc = devharness_construct(h, "rtc", 0, opts);
    if (rc != 0)
        fail_msg("construct failed (%d): %s", rc, devharness_last_error(h));
    return h;
}

/* An RTC starting at `iso`. */
static struct devharness *rtc_at(const char *iso)
{
    char opt[64];
    snprintf(opt, sizeof(opt), "base=%s", iso);
    const char *const opts[] = {opt, NULL};
    return rtc_new(opts);
}

/* Tears an RTC down, checking destruct freed everything. */
static void rtc_free(struct devharness *h)
{
    assert_int_equal(devharness_destruct(h), 0);
    devharness_close(h);
}

/* cmocka setup/teardown: an RTC at 2020-01-01 00:00:00 with the periodic rate off, so register C
 * shows only what a test enables. */
static int setup_2020(void **state)
{
    struct devharness *h = rtc_new(base_2020);
    devharness_pio_out(h, 0x70, REG_A, 1);
    devharness_pio_out(h, 0x71, 0x20, 1);
    *state = h;
    return 0;
}

/* cmocka teardown: destructs and closes the RTC in *state. */
static int teardown_rtc(void **state)
{
    rtc_free(*state);
    return 0;
}

/* CMOS access through the index and data ports. */
static uint8_t rd(struct devharness *h, uint8_t idx)
{
    devharness_pio_out(h, 0x70, idx, 1);
    return (uint8_t)devharness_pio_in(h, 0x71, 1);
}

/* Writes CMOS register `idx`. */
static void wr(struct devharness *h, uint8_t idx, uint8_t v)
{
    devharness_pio_out(h, 0x70, idx, 1);
    devharness_pio_out(h, 0x71, v, 1);
}

/* The level of IRQ 8. */
static int irq(struct devharness *h)
{
    return devharness_irq_level(h, RTC_IRQ);
}

/* How many times IRQ 8 rose. */
static unsigned raises(struct devharness *h)
{
    return devharness_irq_raises(h, RTC_IRQ);
}

/* Moves virtual time on by `ns`, firing the RTC's timer as it falls due. */
static void advance(struct devharness *h, uint64_t ns)
{
    devharness_advance_ns(h, ns);
}

/* Packed BCD of 0..99. */
static uint8_t bcd(unsigned v)
{
    return (uint8_t)((v / 10) << 4 | (v % 10));
}

/* Asserts the date and time registers (BCD 24-hour mode). */
static void assert_time(struct devharness *h, unsigned y, unsigned mo, unsigned d, unsigned hh, unsigned mm,
                        unsigned ss, unsigned dow)
{
    uint8_t got[8] = {rd(h, CENTURY), rd(h, YEAR), rd(h, MONTH), rd(h, DOM), rd(h, HOUR), rd(h, MIN), rd(h, SEC),
                      rd(h, DOW)};
    uint8_t want[8] = {bcd(y / 100), bcd(y % 100), bcd(mo), bcd(d), bcd(hh), bcd(mm), bcd(ss), bcd(dow)};
    if (memcmp(got, want, sizeof(got)) != 0)
        fail_msg("time is %02x%02x-%02x-%02x %02x:%02x:%02x dow %x, want %02x%02x-%02x-%02x %02x:%02x:%02x dow %x",
                 got[0], got[1], got[2], got[3], got[4], got[5], got[6], got[7], want[0], want[1], want[2], want[3],
                 want[4], want[5], want[6], want[7]);
}

/* The registers (BCD, 24-hour) as seconds since 1970. */
static int64_t rtc_epoch(struct devharness *h)
{
    struct tm tm = {0};
    unsigned c = rd(h, CENTURY), y = rd(h, YEAR);
    tm.tm_year = (int)((c >> 4) * 1000 + (c & 15) * 100 + (y >> 4) * 10 + (y & 15)) - 1900;
    uint8_t v = rd(h, MONTH);
    tm.tm_mon = (v >> 4) * 10 + (v & 15) - 1;
    v = rd(h, DOM);
    tm.tm_mday = (v >> 4) * 10 + (v & 15);
    v = rd(h, HOUR);
    tm.tm_hour = (v >> 4) * 10 + (v & 15);
    v = rd(h, MIN);
    tm.tm_min = (v >> 4) * 10 + (v & 15);
    v = rd(h, SEC);
    tm.tm_sec = (v >> 4) * 10 + (v & 15);
    return (int64_t)timegm(&tm);
}

/* Sets the time the way Linux's mc146818_set_time does: SET, the registers, SET off. */
static void set_time_bcd(struct devharness *h, unsigned y, unsigned mo, unsigned d, unsigned hh, unsigned mm,
                         unsigned ss)
{
    uint8_t b = rd(h, REG_B);
    wr(h, REG_B, b | B_SET);
    wr(h, SEC, bcd(ss));
    wr(h, MIN, bcd(mm));
    wr(h, HOUR, bcd(hh));
    wr(h, DOM, bcd(d));
    wr(h, MONTH, bcd(mo));
    wr(h, YEAR, bcd(y % 100));
    wr(h, CENTURY, bcd(y / 100));
    wr(h, REG_B, b & (uint8_t)~B_SET);
}

/* ---- the plugin --------------------------------------------------------------------------------- */

/* The descriptor and registration: one device type with options base and boot. */
static void test_registration(void **state)
{
    (void)state;
    struct devharness *h = open_plugin();
    const struct modvm_plugin_desc *d = devharness_plugin(h);
    assert_string_equal(d->name, "rtc");
    assert_string_equal(d->license, "MIT");
    assert_int_equal(devharness_device_types(h), 1);
    const struct modvm_devreg *r = devharness_devreg(h, "rtc");
    assert_non_null(r);
    assert_int_equal(r->family, MODVM_DEV_FAMILY_SYSTEM);
    assert_int_equal(r->max_instances, 1);
    assert_int_equal(r->saved_state_version, 1);
    assert_non_null(r->destruct);
    assert_non_null(r->reset);
    assert_non_null(r->save);
    assert_non_null(r->load);
    assert_string_equal(r->options[0].name, "base");
    assert_string_equal(r->options[0].default_value, "utc");
    assert_string_equal(r->options[1].name, "boot");
    assert_string_equal(r->options[1].default_value, "disk");
    assert_null(r->options[2].name);
    devharness_close(h);
}

/* Power-on values: A = 0x26, B = 0x02 (24-hour BCD), C clear, D = VRT; ports 0x70-0x71 only;
 * nothing armed, the line low. */
static void test_power_on(void **state)
{
    (void)state;
    struct devharness *h = rtc_new(base_2020);
    assert_true(devharness_pio_mapped(h, 0x70));
    assert_true(devharness_pio_mapped(h, 0x71));
    assert_false(devharness_pio_mapped(h, 0x72));
    assert_false(devharness_pio_mapped(h, 0x6f));
    assert_int_equal(rd(h, REG_A), 0x26);
    assert_int_equal(rd(h, REG_B), 0x02);
    assert_int_equal(rd(h, REG_C), 0x00);
    assert_int_equal(rd(h, REG_D), 0x80);
    assert_int_equal(devharness_pio_in(h, 0x70, 1), 0xff); /* the index port is write-only */
    assert_int_equal(devharness_timers_armed(h), 0);
    assert_int_equal(irq(h), 0);
    assert_int_equal(raises(h), 0);
    rtc_free(h);
}

/* ---- the calendar ------------------------------------------------------------------------------- */

/* An ISO base is read back exactly; the clock does not move until virtual time does. */
static void test_iso_base(void **state)
{
    (void)state;
    struct devharness *h = rtc_new(base_2020);
    assert_time(h, 2020, 1, 1, 0, 0, 0, 4); /* a Wednesday */
    assert_time(h, 2020, 1, 1, 0, 0, 0, 4);
    rtc_free(h);

    h = rtc_at("2038-01-19T03:14:07"); /* 32-bit time_t's last second: nothing special here */
    assert_time(h, 2038, 1, 19, 3, 14, 7, 3);
    advance(h, NS);
    assert_time(h, 2038, 1, 19, 3, 14, 8, 3);
    rtc_free(h);

    h = rtc_at("1985-07-13 12:00"); /* space for T, seconds optional */
    assert_time(h, 1985, 7, 13, 12, 0, 0, 7);
    rtc_free(h);
}

/* Seconds, minutes, hours, days, months, years and centuries carry, leap years included. */
static void test_calendar_rollover(void **state)
{
    (void)state;
    struct devharness *h = rtc_at("1999-12-31T23:59:58");
    advance(h, NS);
    assert_time(h, 1999, 12, 31, 23, 59, 59, 6);
    advance(h, NS);
    assert_time(h, 2000, 1, 1, 0, 0, 0, 7);
    rtc_free(h);

    h = rtc_at("2024-02-28T23:59:59");
    advance(h, NS);
    assert_time(h, 2024, 2, 29, 0, 0, 0, 5);
    advance(h, 86400 * NS);
    assert_time(h, 2024, 3, 1, 0, 0, 0, 6);
    rtc_free(h);

    h = rtc_at("2100-02-28T23:59:59"); /* 2100 is not a leap year */
    advance(h, NS);
    assert_time(h, 2100, 3, 1, 0, 0, 0, 2);
    rtc_free(h);

    h = rtc_at("2000-02-28T23:59:59"); /* 2000 is */
    advance(h, NS);
    assert_time(h, 2000, 2, 29, 0, 0, 0, 3);
    advance(h, 365 * 86400 * NS);
    assert_time(h, 2001, 2, 28, 0, 0, 0, 4);
    rtc_free(h);
}

/* Binary mode (DM) shows the same time in binary; the century byte follows. */
static void test_binary_mode(void **state)
{
    (void)state;
    struct devharness *h = rtc_at("2021-06-15T13:45:30");
    wr(h, REG_B, B_24H | B_DM);
    assert_int_equal(rd(h, SEC), 30);
    assert_int_equal(rd(h, MIN), 45);
    assert_int_equal(rd(h, HOUR), 13);
    assert_int_equal(rd(h, DOW), 3);
    assert_int_equal(rd(h, DOM), 15);
    assert_int_equal(rd(h, MONTH), 6);
    assert_int_equal(rd(h, YEAR), 21);
    assert_int_equal(rd(h, CENTURY), 20);
    advance(h, 30 * NS);
    assert_int_equal(rd(h, MIN), 46);
    assert_int_equal(rd(h, SEC), 0);
    wr(h, REG_B, B_24H);
    assert_int_equal(rd(h, MIN), 0x46);
    assert_int_equal(rd(h, CENTURY), 0x20);
    rtc_free(h);
}

/* 12-hour mode: 12 AM, 1..11, 12 PM with bit 7 for PM, in BCD and binary. */
static void test_12_hour_mode(void **state)
{
    (void)state;
    static const struct {
        const char *iso;
        uint8_t bcd12, bin12;
    } cases[] = {
        {"2020-01-01T00:30:00", 0x12, 0x0c}, {"2020-01-01T01:00:00", 0x01, 0x01},
        {"2020-01-01T11:59:59", 0x11, 0x0b}, {"2020-01-01T12:00:00", 0x92, 0x8c},
        {"2020-01-01T13:45:00", 0x81, 0x81}, {"2020-01-01T23:00:00", 0x91, 0x8b},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct devharness *h = rtc_at(cases[i].iso);
        wr(h, REG_B, 0x00);
        assert_int_equal(rd(h, HOUR), cases[i].bcd12);
        wr(h, REG_B, B_DM);
        assert_int_equal(rd(h, HOUR), cases[i].bin12);
        rtc_free(h);
    }

    /* Written in 12-hour mode, read in 24-hour mode. */
    struct devharness *h = rtc_new(base_2020);
    wr(h, REG_B, B_SET);
    wr(h, HOUR, 0x87); /* 7 PM */
    wr(h, REG_B, 0x00);
    wr(h, REG_B, B_24H);
    assert_int_equal(rd(h, HOUR), 0x19);
    wr(h, REG_B, B_SET);
    wr(h, HOUR, 0x12); /* 12 AM */
    wr(h, REG_B, 0x00);
    wr(h, REG_B, B_24H);
    assert_int_equal(rd(h, HOUR), 0x00);
    rtc_free(h);
}

/* SET freezes the registers (they read back raw, even nonsense), clears UIE and UIP; clearing it
 * parses them and the clock runs on. */
static void test_set_bit(void **state)
{
    struct devharness *h = *state;
    wr(h, REG_B, B_24H | B_SET | B_UIE);
    assert_int_equal(rd(h, REG_B), B_24H | B_SET); /* UIE cleared by SET */
    wr(h, SEC, 0x7f);
    assert_int_equal(rd(h, SEC), 0x7f);
    advance(h, 3 * NS);
    assert_int_equal(rd(h, SEC), 0x7f);
    for (unsigned i = 0; i < 2000; i++) {
        assert_int_equal(rd(h, REG_A) & A_UIP, 0);
        advance(h, MS);
    }
    set_time_bcd(h, 2023, 11, 5, 8, 9, 10); /* as Linux does, without the weekday: it stays Wednesday */
    assert_time(h, 2023, 11, 5, 8, 9, 10, 4);
    advance(h, NS);
    assert_time(h, 2023, 11, 5, 8, 9, 11, 4);
}

/* SET keeps the divider's phase: the first update after clearing SET comes at the next boundary
 * of the running divider, not a second later. */
static void test_set_keeps_phase(void **state)
{
    struct devharness *h = *state;
    advance(h, 300 * MS);
    wr(h, REG_B, B_24H | B_SET);
    wr(h, SEC, 0x20);
    advance(h, 200 * MS);
    wr(h, REG_B, B_24H); /* 0.5 s into the divider's second */
    assert_int_equal(rd(h, SEC), 0x20);
    advance(h, 499 * MS);
    assert_int_equal(rd(h, SEC), 0x20);
    advance(h, 1 * MS);
    assert_int_equal(rd(h, SEC), 0x21);
}

/* Divider reset (DV = 11x) stops the clock and the periodic taps; releasing it starts the first
 * update half a second later. */
static void test_divider_reset(void **state)
{
    struct devharness *h = *state;
    wr(h, REG_A, 0x76); /* held in reset, 1024 Hz selected */
    wr(h, REG_B, B_24H | B_PIE);
    advance(h, 5 * NS);
    assert_time(h, 2020, 1, 1, 0, 0, 0, 4);
    assert_int_equal(rd(h, REG_A), 0x76); /* no UIP */
    assert_int_equal(rd(h, REG_C), 0x00); /* no PF: the taps are in reset too */
    assert_int_equal(devharness_timers_armed(h), 0);
    wr(h, MIN, 0x30); /* frozen: a plain byte */
    wr(h, REG_A, 0x20);
    assert_time(h, 2020, 1, 1, 0, 30, 0, 4);
    advance(h, 499 * MS);
    assert_int_equal(rd(h, SEC), 0x00);
    advance(h, 1 * MS);
    assert_int_equal(rd(h, SEC), 0x01);
    advance(h, NS);
    assert_int_equal(rd(h, SEC), 0x02);
}

/* UIP: high for exactly the 244 us before each update, low after it. */
static void test_uip_window(void **state)
{
    struct devharness *h = *state; /* the divider's second starts at construct */
    assert_int_equal(rd(h, REG_A), 0x20);
    advance(h, NS - 244 * US - 1);
    assert_int_equal(rd(h, REG_A), 0x20);
    advance(h, 1);
    assert_int_equal(rd(h, REG_A), 0xa0);
    assert_int_equal(rd(h, SEC), 0x00); /* the update has not happened yet */
    advance(h, 244 * US - 1);
    assert_int_equal(rd(h, REG_A) & A_UIP, A_UIP);
    advance(h, 1);
    assert_int_equal(rd(h, REG_A), 0x20);
    assert_int_equal(rd(h, SEC), 0x01);
}

/* Linux's mc146818_get_time and SeaBIOS's rtc_updating poll UIP: started inside the window they
 * see it fall within 244 us and then read a consistent time. */
static void test_uip_reader(void **state)
{
    struct devharness *h = *state;
    advance(h, NS - 100 * US);
    unsigned polls = 0;
    while (rd(h, REG_A) & A_UIP) {
        advance(h, 10 * US);
        assert_true(++polls < 30);
    }
    assert_int_equal(polls, 10);
    assert_time(h, 2020, 1, 1, 0, 0, 1, 4);
}

/* Writing a time register while the clock runs sets that field and keeps the divider's phase. */
static void test_write_while_running(void **state)
{
    struct devharness *h = *state;
    advance(h, 600 * MS);
    wr(h, MIN, 0x42);
    wr(h, HOUR, 0x17);
    assert_time(h, 2020, 1, 1, 17, 42, 0, 4);
    advance(h, 399 * MS);
    assert_int_equal(rd(h, SEC), 0x00);
    advance(h, 1 * MS);
    assert_int_equal(rd(h, SEC), 0x01);
    wr(h, CENTURY, 0x19); /* the century byte is part of the time; the weekday counter is not touched */
    assert_time(h, 1920, 1, 1, 17, 42, 1, 4);
}

/* The weekday register counts on its own: a wrong value written stays wrong, and advances. */
static void test_day_of_week_kept(void **state)
{
    struct devharness *h = *state;
    wr(h, REG_B, B_24H | B_SET);
    wr(h, DOW, 1);
    wr(h, REG_B, B_24H);
    assert_int_equal(rd(h, DOW), 1);
    advance(h, 86400 * NS);
    assert_int_equal(rd(h, DOW), 2);
    advance(h, 6 * 86400 * NS);
    assert_int_equal(rd(h, DOW), 1);
}

/* Nonsense in the time registers becomes some time, never a crash: BCD nibbles above 9, hour 0x3f,
 * month 0, day 0, all 0xff. */
static void test_garbage_time(void **state)
{
    struct devharness *h = *state;
    static const uint8_t junk[] = {0x00, 0xff, 0x99, 0xaa, 0x5a, 0x3f, 0x80};
    for (unsigned i = 0; i < sizeof(junk); i++) {
        wr(h, REG_B, B_24H | B_SET);
        for (unsigned r = SEC; r <= YEAR; r++)
            wr(h, (uint8_t)r, junk[i]);
        wr(h, CENTURY, junk[i]);
        wr(h, REG_B, (uint8_t)((i & 1) ? B_DM : B_24H));
        for (unsigned r = SEC; r <= YEAR; r++)
            (void)rd(h, (uint8_t)r);
        advance(h, 86400 * NS + 1);
        (void)rd(h, CENTURY);
    }
}

/* ---- interrupts --------------------------------------------------------------------------------- */

/* Counts interrupts over `total` ns in `step` steps, acknowledging each by reading C; every read of
 * C that saw IRQF must have shown at least `flags` (flags of disabled events may be set too). */
static unsigned count_irqs(struct devharness *h, uint64_t total, uint64_t step, uint8_t flags)
{
    unsigned n = 0;
    for (uint64_t t = 0; t < total; t += step) {
        advance(h, step);
        if (irq(h)) {
            uint8_t c = rd(h, REG_C);
            if ((c & (C_IRQF | flags)) != (C_IRQF | flags))
                fail_msg("register C 0x%02x, want 0x%02x", c, C_IRQF | flags);
            assert_int_equal(irq(h), 0);
            n++;
        }
    }
    return n;
}

/* The periodic interrupt at the rate of RS: 1024 Hz, 8192 Hz, 2 Hz, 256 Hz (RS 1); RS 0 is off. */
static void test_periodic_interrupt(void **state)
{
    struct devharness *h = *state;
    wr(h, REG_A, 0x26);
    wr(h, REG_B, B_24H | B_PIE);
    assert_int_equal(devharness_timers_armed(h), 1);
    assert_int_equal(irq(h), 0);
    assert_int_equal(count_irqs(h, NS, 100 * US, C_PF), 1024);
    assert_int_equal(raises(h), 1024);

    wr(h, REG_A, 0x23);
    assert_int_equal(count_irqs(h, 100 * MS, 50 * US, C_PF), 819);
    wr(h, REG_A, 0x2f);
    assert_int_equal(count_irqs(h, NS, 10 * MS, C_PF), 2);
    wr(h, REG_A, 0x21);
    assert_int_equal(count_irqs(h, NS, 1 * MS, C_PF), 256);

    wr(h, REG_A, 0x20);
    (void)rd(h, REG_C);
    assert_int_equal(devharness_timers_armed(h), 0);
    assert_int_equal(count_irqs(h, NS, 10 * MS, C_PF), 0);
}

/* PF is set at the rate even with PIE clear, but raises nothing and arms no timer. */
static void test_periodic_flag_without_interrupt(void **state)
{
    struct devharness *h = *state;
    wr(h, REG_A, 0x26);
    assert_int_equal(devharness_timers_armed(h), 0);
    advance(h, 900 * US);
    assert_int_equal(rd(h, REG_C), 0x00);
    advance(h, 100 * US);
    assert_int_equal(rd(h, REG_C), C_PF);
    assert_int_equal(rd(h, REG_C), 0x00);
    assert_int_equal(raises(h), 0);
    /* Enabling PIE with PF already pending raises the line at once. */
    advance(h, 2 * MS);
    wr(h, REG_B, B_24H | B_PIE);
    assert_int_equal(irq(h), 1);
    assert_int_equal(devharness_timers_armed(h), 0); /* IRQF set: nothing to wait for */
    wr(h, REG_B, B_24H); /* disabling drops it again */
    assert_int_equal(irq(h), 0);
    assert_int_equal(rd(h, REG_C), C_PF);
}

/* The update-ended interrupt once per second; UF without UIE raises nothing. */
static void test_update_interrupt(void **state)
{
    struct devharness *h = *state;
    advance(h, 1500 * MS);
    assert_int_equal(rd(h, REG_C), C_UF);
    assert_int_equal(raises(h), 0);
    wr(h, REG_B, B_24H | B_UIE);
    assert_int_equal(devharness_timers_armed(h), 1);
    advance(h, 499 * MS);
    assert_int_equal(irq(h), 0);
    advance(h, 1 * MS);
    assert_int_equal(irq(h), 1);
    assert_int_equal(rd(h, SEC), 0x02);
    assert_int_equal(rd(h, REG_C), C_IRQF | C_UF);
    assert_int_equal(count_irqs(h, 10 * NS, 100 * MS, C_UF), 10);
}

/* An unacknowledged interrupt holds the line high: no more edges until C is read. */
static void test_irq_held_until_c_read(void **state)
{
    struct devharness *h = *state;
    wr(h, REG_B, B_24H | B_UIE);
    advance(h, 5 * NS);
    assert_int_equal(irq(h), 1);
    assert_int_equal(raises(h), 1);
    assert_int_equal(devharness_timers_armed(h), 0);
    assert_int_equal(rd(h, REG_C), C_IRQF | C_UF);
    assert_int_equal(irq(h), 0);
    advance(h, NS);
    assert_int_equal(raises(h), 2);
}

/* The alarm fires when hours, minutes and seconds match, daily. */
static void test_alarm(void **state)
{
    struct devharness *h = *state;
    wr(h, SEC_ALARM, 0x05);
    wr(h, MIN_ALARM, 0x00);
    wr(h, HOUR_ALARM, 0x00);
    wr(h, REG_B, B_24H | B_AIE);
    assert_int_equal(devharness_timers_armed(h), 1);
    advance(h, 5 * NS - 1);
    assert_int_equal(irq(h), 0);
    advance(h, 1);
    assert_int_equal(irq(h), 1);
    assert_int_equal(rd(h, REG_C), C_IRQF | C_AF | C_UF);
    advance(h, 86400 * NS - 1);
    assert_int_equal(irq(h), 0);
    advance(h, 1);
    assert_int_equal(irq(h), 1);
    assert_int_equal(raises(h), 2);
    assert_int_equal(rd(h, REG_C), C_IRQF | C_AF | C_UF);
}

/* Don't-care alarm bytes (0xc0-0xff) match every value. */
static void test_alarm_dont_care(void **state)
{
    struct devharness *h = *state;
    wr(h, SEC_ALARM, 0x30);
    wr(h, MIN_ALARM, 0xc0);
    wr(h, HOUR_ALARM, 0xff);
    wr(h, REG_B, B_24H | B_AIE);
    assert_int_equal(count_irqs(h, 300 * NS, 250 * MS, C_AF | C_UF), 5);

    wr(h, SEC_ALARM, 0xc3);
    wr(h, MIN_ALARM, 0xd0);
    (void)rd(h, REG_C);
    assert_int_equal(count_irqs(h, 10 * NS, 250 * MS, C_AF | C_UF), 10); /* every second */
}

/* AF is set without AIE; an alarm that can never match (second 0x60) arms nothing. */
static void test_alarm_flag_and_impossible(void **state)
{
    struct devharness *h = *state;
    wr(h, SEC_ALARM, 0x02);
    wr(h, MIN_ALARM, 0x00);
    wr(h, HOUR_ALARM, 0x00);
    advance(h, 3 * NS);
    assert_int_equal(rd(h, REG_C), C_AF | C_UF);
    assert_int_equal(raises(h), 0);

    wr(h, SEC_ALARM, 0x60);
    wr(h, REG_B, B_24H | B_AIE);
    assert_int_equal(devharness_timers_armed(h), 0);
    advance(h, 2 * 86400 * NS);
    assert_int_equal(irq(h), 0);
    assert_int_equal(rd(h, REG_C), C_UF);
}

/* The alarm compares the bytes as they read in the current format: 12-hour and binary. */
static void test_alarm_formats(void **state)
{
    (void)state;
    struct devharness *h = rtc_at("2020-01-01T12:59:58");
    wr(h, REG_A, 0x20);
    wr(h, REG_B, B_AIE); /* 12-hour BCD */
    wr(h, SEC_ALARM, 0x02);
    wr(h, MIN_ALARM, 0x00);
    wr(h, HOUR_ALARM, 0x81); /* 1 PM */
    advance(h, 4 * NS - 1);
    assert_int_equal(irq(h), 0);
    advance(h, 1);
    assert_int_equal(irq(h), 1);
    assert_int_equal(rd(h, HOUR), 0x81);
    assert_int_equal(rd(h, REG_C) & C_AF, C_AF);

    wr(h, REG_B, B_AIE | B_DM | B_24H); /* binary: 13:00:10 is hour 13 */
    wr(h, SEC_ALARM, 10);
    wr(h, HOUR_ALARM, 13);
    advance(h, 8 * NS - 1);
    assert_int_equal(irq(h), 0);
    advance(h, 1);
    assert_int_equal(irq(h), 1);
    assert_int_equal(rd(h, SEC), 10);
    rtc_free(h);
}

/* Reading C clears every flag and drops the line; C and D ignore writes. */
static void test_c_and_d(void **state)
{
    struct devharness *h = *state;
    wr(h, REG_C, 0xff);
    wr(h, REG_D, 0x00);
    assert_int_equal(rd(h, REG_C), 0x00);
    assert_int_equal(rd(h, REG_D), 0x80);
    wr(h, REG_A, 0x26);
    wr(h, REG_B, B_24H | B_PIE | B_UIE | B_AIE);
    wr(h, SEC_ALARM, 0xff);
    wr(h, MIN_ALARM, 0xff);
    wr(h, HOUR_ALARM, 0xff);
    advance(h, 2 * NS);
    assert_int_equal(irq(h), 1);
    assert_int_equal(rd(h, REG_C), 0xf0);
    assert_int_equal(irq(h), 0);
    assert_int_equal(rd(h, REG_C), 0x00);
}

/* The VM's reset (the chip's RESET pin): enables and flags clear, line low; time, divider, modes
 * and RAM stay. */
static void test_reset(void **state)
{
    struct devharness *h = *state;
    wr(h, REG_A, 0x26);
    wr(h, REG_B, B_24H | B_DM | B_PIE | B_AIE | B_UIE | B_SQWE);
    wr(h, 0x40, 0x5a);
    advance(h, 3 * NS);
    assert_int_equal(irq(h), 1);
    devharness_reset(h);
    assert_int_equal(irq(h), 0);
    assert_int_equal(rd(h, REG_B), B_24H | B_DM);
    assert_int_equal(rd(h, REG_A), 0x26);
    assert_int_equal(rd(h, REG_C), 0x00);
    assert_int_equal(rd(h, SEC), 3);
    assert_int_equal(rd(h, 0x40), 0x5a);
    assert_int_equal(devharness_timers_armed(h), 0);
}

/* ---- CMOS RAM ----------------------------------------------------------------------------------- */

/* Bytes 0x0e-0x7f are RAM; the index's bit 7 (NMI mask) does not change the register addressed;
 * an outw to 0x70 writes index then data. */
static void test_nvram(void **state)
{
    struct devharness *h = *state;
    for (unsigned i = 0x0e; i < 0x80; i++)
        if (i != CENTURY)
            wr(h, (uint8_t)i, (uint8_t)(i ^ 0xa5));
    for (unsigned i = 0x0e; i < 0x80; i++)
        if (i != CENTURY)
            assert_int_equal(rd(h, (uint8_t)(i | 0x80)), i ^ 0xa5);
    devharness_pio_out(h, 0x70, 0x3c00 | 0x80 | 0x7f, 2);
    assert_int_equal(rd(h, 0x7f), 0x3c);
    assert_int_equal(devharness_pio_in(h, 0x70, 2), 0x3cff);
    assert_int_equal(devharness_guest_errors(h), 0);
}

/* The sum SeaBIOS-era BIOSes check over 0x10-0x2d, big-endian at 0x2e. */
static void assert_checksum(struct devharness *h)
{
    unsigned sum = 0;
    for (unsigned i = 0x10; i <= 0x2d; i++)
        sum += rd(h, (uint8_t)i);
    assert_int_equal(rd(h, 0x2e) << 8 | rd(h, 0x2f), sum & 0xffff);
}

/* An RTC in a VM of `ram` bytes and `cpus` CPUs. */
static struct devharness *rtc_vm(uint64_t ram, uint64_t cpus)
{
    struct devharness *h = open_plugin();
    devharness_set_vm_facts(h, cpus, ram);
    int rc = devharness_construct(h, "rtc", 0, base_2020);
    if (rc != 0)
        fail_msg("construct failed (%d): %s", rc, devharness_last_error(h));
    return h;
}

/* A 16-bit little-endian CMOS value. */
static unsigned rd16(struct devharness *h, uint8_t idx)
{
    return rd(h, idx) | rd(h, (uint8_t)(idx + 1)) << 8;
}

/* Memory sizes, CPU count, equipment byte as SeaBIOS's qemu_preinit/smp code reads them. */
static void test_cmos_layout(void **state)
{
    (void)state;
    static const struct {
        uint64_t ram, cpus;
        unsigned base, ext, above16, above4g_lo, cpu_byte;
        uint8_t above4g_hi;
    } cases[] = {
        {64ull << 20, 1, 640, 0xfc00, 0x0300, 0x0000, 0, 0x00},
        {512ull << 10, 2, 512, 0, 0, 0, 1, 0x00},
        {3ull << 30, 4, 640, 0xffff, 0xbf00, 0x0000, 3, 0x00},
        {0xe0000000ull, 8, 640, 0xffff, 0xdf00, 0x0000, 7, 0x00},
        {8ull << 30, 4, 640, 0xffff, 0xdf00, 0x2000, 3, 0x01}, /* 4.5 GiB above 4 GiB: 0x012000 units */
        {2ull << 40, 255, 640, 0xffff, 0xdf00, 0xffff, 254, 0xff}, /* 2 TiB: capped at 3 bytes */
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct devharness *h = rtc_vm(cases[i].ram, cases[i].cpus);
        assert_int_equal(rd(h, 0x10), 0x00);
        assert_int_equal(rd(h, 0x14), 0x06);
        assert_int_equal(rd16(h, 0x15), cases[i].base);
        assert_int_equal(rd16(h, 0x17), cases[i].ext);
        assert_int_equal(rd16(h, 0x30), cases[i].ext);
        assert_int_equal(rd16(h, 0x34), cases[i].above16);
        assert_int_equal(rd16(h, 0x5b), cases[i].above4g_lo);
        assert_int_equal(rd(h, 0x5d), cases[i].above4g_hi);
        assert_int_equal(rd(h, 0x5f), cases[i].cpu_byte);
        assert_int_equal(rd(h, CENTURY), 0x20);
        assert_checksum(h);
        rtc_free(h);
    }
}

/* Option `boot` as SeaBIOS's boot_init reads it: 0x3d low/high nibble, 0x38 high nibble. */
static void test_boot_order(void **state)
{
    (void)state;
    static const struct {
        const char *opt;
        uint8_t b3d, b38;
    } cases[] = {
        {NULL, 0x02, 0x00}, {"boot=cd", 0x32, 0x00}, {"boot=dcn", 0x23, 0x40},
        {"boot=cdrom+disk+network", 0x23, 0x40}, {"boot=a", 0x01, 0x00}, {"boot=network", 0x04, 0x00},
        {"boot=floppy+cdrom", 0x31, 0x00},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *const opts[] = {"base=2020-01-01T00:00:00", cases[i].opt, NULL};
        struct devharness *h = rtc_new(opts);
        assert_int_equal(rd(h, 0x3d), cases[i].b3d);
        assert_int_equal(rd(h, 0x38), cases[i].b38);
        rtc_free(h);
    }
}

/* ---- options and construct ---------------------------------------------------------------------- */

/* base=utc (the default) starts at the host's UTC time. */
static void test_base_utc(void **state)
{
    (void)state;
    time_t before = time(NULL);
    struct devharness *h = rtc_new(NULL);
    int64_t t = rtc_epoch(h);
    time_t after = time(NULL);
    assert_true(t >= (int64_t)before && t <= (int64_t)after + 1);
    rtc_free(h);
}

/* base=localtime starts at the host's local time ($TZ is honoured). */
static void test_base_localtime(void **state)
{
    (void)state;
    const char *old = getenv("TZ");
    char *saved = old ? strdup(old) : NULL;
    setenv("TZ", "MVT-5:30", 1); /* UTC+05:30 */
    tzset();
    static const char *const opts[] = {"base=localtime", NULL};
    time_t before = time(NULL);
    struct devharness *h = rtc_new(opts);
    int64_t t = rtc_epoch(h) - 19800;
    time_t after = time(NULL);
    if (saved)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved);
    assert_true(t >= (int64_t)before && t <= (int64_t)after + 1);
    rtc_free(h);
}

/* Bad options fail with one clear line and leave nothing behind. */
static void test_bad_options(void **state)
{
    (void)state;
    static const struct {
        const char *opt;
        const char *needle;
    } cases[] = {
        {"base=now", "option 'base' must be 'utc', 'localtime' or a date"},
        {"base=2021-02-30T00:00:00", "'2021-02-30T00:00:00' is not a valid date"},
        {"base=2020-13-01", "not a valid date"},
        {"base=2020-01-01T24:00:00", "not a valid date"},
        {"base=2020-1-01", "option 'base' must be"},
        {"base=2020-01-01T00:00:00Z", "option 'base' must be"},
        {"base=", "option 'base' must be"},
        {"boot=x", "unknown boot device 'x'"},
        {"boot=cc", "names a device twice"},
        {"boot=cdna", "at most 3"},
        {"boot=disk+", "ends with '+'"},
        {"boot=disk+usb", "unknown boot device 'usb'"},
        {"boot=", "option 'boot' is empty"},
        {"baud=1", "no option 'baud'"},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct devharness *h = open_plugin();
        const char *opts[] = {cases[i].opt, NULL};
        int rc = devharness_construct(h, "rtc", 0, opts);
        assert_true(rc < 0);
        if (!strstr(devharness_last_error(h), cases[i].needle))
            fail_msg("case %s: error '%s' lacks '%s'", cases[i].opt, devharness_last_error(h), cases[i].needle);
        assert_null(strchr(devharness_last_error(h), '\n'));
        assert_null(devharness_dev(h));
        assert_false(devharness_pio_mapped(h, 0x70));
        assert_int_equal(devharness_leaks(h), 0);
        devharness_close(h);
    }
}

/* Failures part-way through construct: a clear message, and destruct frees what was made. */
static void test_construct_failures(void **state)
{
    (void)state;
    static const struct {
        const char *helper;
        int rc;
        const char *needle;
    } cases[] = {
        {"vm_query", -EIO, "RAM size and CPU count"},
        {"timer_create", -ENOMEM, "timer"},
        {"pio_map", -EBUSY, "0x70-0x71 are already in use"},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct devharness *h = open_plugin();
        devharness_fail_next(h, cases[i].helper, cases[i].rc);
        assert_int_equal(devharness_construct(h, "rtc", 0, base_2020), cases[i].rc);
        if (!strstr(devharness_last_error(h), cases[i].needle))
            fail_msg("case %s: error '%s' lacks '%s'", cases[i].helper, devharness_last_error(h),
                     cases[i].needle);
        assert_int_equal(devharness_leaks(h), 0);
        devharness_close(h);
    }
    struct devharness *h = open_plugin();
    devharness_set_vm_facts(h, 300, 0);
    assert_int_equal(devharness_construct(h, "rtc", 0, base_2020), -EINVAL);
    assert_non_null(strstr(devharness_last_error(h), "CPU count 300"));
    devharness_close(h);
}

/* Wide accesses are split into bytes; a core that hands one over whole is counted. */
static void test_access_sizes(void **state)
{
    struct devharness *h = *state;
    devharness_pio_out_whole(h, 0x70, 0x1234, 2);
    devharness_pio_in_whole(h, 0x71, 4);
    assert_int_equal(devharness_guest_errors(h), 2);
    assert_true(strlen(devharness_last_guest_error(h)) > 0);
}

/* SeaBIOS rtc_setup() then a time read the way its handle_1a does (wait while UIP). */
static void test_seabios_sequence(void **state)
{
    (void)state;
    struct devharness *h = rtc_at("2022-03-04T05:06:07");
    wr(h, REG_A, 0x26);
    wr(h, REG_B, (uint8_t)((rd(h, REG_B) & ~0x01) | B_24H));
    (void)rd(h, REG_C);
    (void)rd(h, REG_D);
    for (unsigned i = 0; rd(h, REG_A) & A_UIP; i++)
        assert_true(i < 100);
    assert_time(h, 2022, 3, 4, 5, 6, 7, 6);
    assert_int_equal(rd(h, 0x0f), 0x00); /* shutdown status: a cold boot */
    rtc_free(h);
}

/* ---- saved state -------------------------------------------------------------------------------- */

/* Everything observable without side effects on the flags (C is read last). */
static size_t snapshot(struct devharness *h, uint8_t *out)
{
    size_t n = 0;
    out[n++] = (uint8_t)irq(h);
    for (unsigned i = 0; i < 0x80; i++)
        if (i != REG_C)
            out[n++] = rd(h, (uint8_t)i);
    out[n++] = rd(h, REG_C);
    return n;
}

/* Saves `a` and loads the state into a fresh RTC that started at another time; returns it. */
static struct devharness *clone_via_ssm(struct devharness *a)
{
    uint8_t *buf;
    size_t len;
    assert_int_equal(devharness_save(a, &buf, &len), 0);
    assert_int_equal(len, SS_LEN);
    struct devharness *b = rtc_at("1990-05-05T05:05:05");
    advance(b, 12345678); /* another phase, another virtual clock */
    int rc = devharness_load(b, buf, len, 1);
    if (rc != 0)
        fail_msg("load failed (%d): %s", rc, devharness_last_error(b));
    free(buf);
    return b;
}

/* The whole state round-trips: time, divider phase, alarm, modes, flags, the pending interrupt,
 * the RAM and the index latch. */
static void test_save_load_roundtrip(void **state)
{
    struct devharness *a = *state;
    uint8_t sa[160], sb[160];
    wr(a, REG_A, 0x2f);
    wr(a, REG_B, B_24H | B_DM | B_UIE | B_PIE);
    wr(a, SEC_ALARM, 0xff);
    wr(a, 0x50, 0x77);
    advance(a, 2700 * MS); /* 0.7 s into the divider's second; UF and PF pending, IRQ high */
    assert_int_equal(irq(a), 1);
    devharness_pio_out(a, 0x70, 0x80 | 0x50, 1); /* leave the latch at 0x50 with NMI masked */

    struct devharness *b = clone_via_ssm(a);
    assert_int_equal(irq(b), 1);
    assert_int_equal(devharness_pio_in(b, 0x71, 1), 0x77); /* the latch came along */
    size_t na = snapshot(a, sa), nb = snapshot(b, sb);
    assert_int_equal(na, nb);
    assert_memory_equal(sa, sb, na);
    assert_int_equal(sa[na - 1], C_IRQF | C_PF | C_AF | C_UF); /* AF: the alarm matched 00:00:0x */

    /* Both update at the same moment: the phase was restored. */
    for (unsigned step = 0; step < 40; step++) {
        advance(a, 10 * MS);
        advance(b, 10 * MS);
        assert_int_equal(rd(a, SEC), rd(b, SEC));
        assert_int_equal(rd(a, REG_A), rd(b, REG_A));
        assert_int_equal(irq(a), irq(b));
    }
    assert_int_equal(rd(b, SEC), 3);
    assert_int_equal(devharness_timers_armed(b), devharness_timers_armed(a));
    rtc_free(b);
}

/* A frozen clock (SET) round-trips with its raw bytes; both run the same once SET clears. */
static void test_save_load_frozen(void **state)
{
    struct devharness *a = *state;
    wr(a, REG_B, B_24H | B_SET);
    wr(a, MIN, 0x59);
    wr(a, HOUR, 0x23);
    wr(a, SEC, 0x7a); /* nonsense, kept raw */
    struct devharness *b = clone_via_ssm(a);
    assert_int_equal(rd(b, SEC), 0x7a);
    assert_int_equal(rd(b, REG_B), B_24H | B_SET);
    wr(a, SEC, 0x58);
    wr(b, SEC, 0x58);
    wr(a, REG_B, B_24H);
    wr(b, REG_B, B_24H);
    advance(a, 3 * NS);
    advance(b, 3 * NS);
    assert_time(b, 2020, 1, 2, 0, 0, 1, 5);
    assert_int_equal(rtc_epoch(a), rtc_epoch(b));
    rtc_free(b);
}

/* A tiny deterministic PRNG for the fuzz loop. */
static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* An hour as the registers show it: BCD, 24-hour or 12-hour with bit 7 for PM. */
static uint8_t enc_hour(unsigned hh, bool h12)
{
    if (!h12)
        return bcd(hh);
    return (uint8_t)(bcd(hh % 12 ? hh % 12 : 12) | (hh >= 12 ? 0x80 : 0));
}

/* True when alarm byte `a` matches register value `v` (0xc0-0xff: don't care). */
static bool alarm_match(uint8_t a, uint8_t v)
{
    return (a & 0xc0) == 0xc0 || a == v;
}

/* The alarm against a brute-force search over the next two days: random start times and alarm
 * bytes (values, don't-cares, junk), in 24- and 12-hour BCD. */
static void test_alarm_brute_force(void **state)
{
    (void)state;
    uint32_t seed = 0xa1a2a3;
    for (unsigned iter = 0; iter < 300; iter++) {
        bool h12 = iter & 1;
        unsigned start = xorshift(&seed) % 86400;
        uint8_t al[3]; /* seconds, minutes, hours */
        for (unsigned k = 0; k < 3; k++) {
            unsigned r = xorshift(&seed) % 8;
            if (r < 2)
                al[k] = (uint8_t)(0xc0 | (xorshift(&seed) & 0x3f));
            else if (r == 2)
                al[k] = (uint8_t)xorshift(&seed);
            else
                al[k] = k == 2 ? enc_hour(xorshift(&seed) % 24, h12) : bcd(xorshift(&seed) % 60);
        }
        uint64_t want = 0;
        for (unsigned d = 1; d <= 2 * 86400 && !want; d++) {
            unsigned t = (start + d) % 86400;
            if (alarm_match(al[0], bcd(t % 60)) && alarm_match(al[1], bcd(t / 60 % 60)) &&
                alarm_match(al[2], enc_hour(t / 3600, h12)))
                want = d;
        }

        struct devharness *h = rtc_new(base_2020);
        uint8_t b = h12 ? 0 : B_24H;
        wr(h, REG_A, 0x20);
        wr(h, REG_B, b | B_SET);
        wr(h, SEC, bcd(start % 60));
        wr(h, MIN, bcd(start / 60 % 60));
        wr(h, HOUR, enc_hour(start / 3600, h12));
        wr(h, REG_B, b); /* the divider's next boundary is 1 s away */
        wr(h, SEC_ALARM, al[0]);
        wr(h, MIN_ALARM, al[1]);
        wr(h, HOUR_ALARM, al[2]);
        wr(h, REG_B, b | B_AIE);
        if (!want) {
            assert_int_equal(devharness_timers_armed(h), 0);
            advance(h, 3 * 86400 * NS);
            assert_int_equal(irq(h), 0);
        } else {
            advance(h, want * NS - 1);
            if (irq(h))
                fail_msg("iter %u: alarm %02x:%02x:%02x from %u s fired early (want +%llu s)", iter, al[2], al[1],
                         al[0], start, (unsigned long long)want);
            advance(h, 1);
            if (!irq(h))
                fail_msg("iter %u: alarm %02x:%02x:%02x from %u s did not fire at +%llu s", iter, al[2], al[1],
                         al[0], start, (unsigned long long)want);
        }
        rtc_free(h);
    }
}

/* Loads `good` patched at `off` with `val` and expects rejection mentioning `needle`, with the
 * device untouched. */
static void expect_reject(struct devharness *v, const uint8_t *good, size_t off, uint8_t val, const char *needle)
{
    uint8_t bad[SS_LEN];
    memcpy(bad, good, SS_LEN);
    bad[off] = val;
    assert_int_equal(devharness_load(v, bad, SS_LEN, 1), -EINVAL);
    if (!strstr(devharness_last_error(v), needle))
        fail_msg("error '%s' lacks '%s'", devharness_last_error(v), needle);
    assert_int_equal(rd(v, REG_B), B_24H);
    assert_int_equal(rd(v, 0x40), 0x00);
}

/* Hostile saved states: wrong version, read-only bits, impossible phase, truncation, trailing
 * bytes and random corruption. */
static void test_load_hostile(void **state)
{
    struct devharness *a = *state;
    uint8_t *good;
    size_t len;
    wr(a, 0x40, 0x11);
    assert_int_equal(devharness_save(a, &good, &len), 0);
    assert_int_equal(len, SS_LEN);
    assert_int_equal(good[SS_CMOS + REG_D], 0x80); /* the layout the patches below rely on */
    assert_int_equal(good[SS_CMOS + 0x40], 0x11);
    struct devharness *v = rtc_new(base_2020);
    wr(v, REG_A, 0x20);

    assert_int_equal(devharness_load(v, good, len, 2), -EINVAL);
    assert_non_null(strstr(devharness_last_error(v), "version 2"));
    expect_reject(v, good, SS_CMOS + REG_A, 0xa6, "UIP");
    expect_reject(v, good, SS_CMOS + REG_C, 0x80, "register C");
    expect_reject(v, good, SS_CMOS + REG_C, 0x01, "register C");
    expect_reject(v, good, SS_CMOS + REG_D, 0x00, "register D");
    expect_reject(v, good, SS_PHASE + 3, 0x3c, "phase"); /* 0x3c000000 + ... >= 10^9 */
    for (size_t cut = 0; cut < SS_LEN; cut++) {
        assert_int_equal(devharness_load(v, good, cut, 1), -EINVAL);
        assert_int_equal(rd(v, 0x40), 0x00);
    }
    uint8_t longer[SS_LEN + 1];
    memcpy(longer, good, SS_LEN);
    longer[SS_LEN] = 0;
    assert_int_equal(devharness_load(v, longer, sizeof(longer), 1), -EINVAL);

    /* Random corruption: accepted or rejected, never a crash (run under ASan) or a storm. */
    uint32_t seed = 0x146818;
    for (unsigned iter = 0; iter < 3000; iter++) {
        uint8_t fuzz[SS_LEN];
        memcpy(fuzz, good, SS_LEN);
        for (unsigned k = 1 + xorshift(&seed) % 6; k > 0; k--)
            fuzz[xorshift(&seed) % SS_LEN] = (uint8_t)xorshift(&seed);
        if (iter % 3 == 0)
            fuzz[SS_CMOS + REG_A] = (uint8_t)(0x20 | (xorshift(&seed) & 0x0f)); /* a running divider */
        int rc = devharness_load(v, fuzz, SS_LEN, 1);
        assert_true(rc == 0 || rc == -EINVAL);
        for (unsigned r = 0; r < 0x0e; r++)
            (void)rd(v, (uint8_t)r);
        advance(v, 3 * NS + xorshift(&seed) % NS);
        (void)rd(v, REG_C);
        devharness_reset(v);
    }
    free(good);
    rtc_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registration),
        cmocka_unit_test(test_power_on),
        cmocka_unit_test(test_iso_base),
        cmocka_unit_test(test_calendar_rollover),
        cmocka_unit_test(test_binary_mode),
        cmocka_unit_test(test_12_hour_mode),
        cmocka_unit_test_setup_teardown(test_set_bit, setup_2020, teardown_rtc),
        cmocka_unit_test_setup_teardown(test_set_keeps_phase, setup_2020, teardown_rtc),
        cmocka_unit_test_setup_teardown(test_divider_reset, setup_2020, teardown_rtc),
        cmocka_unit_test_setup_teardown(test_uip_window, setup_2020, teardown_rtc),
        cmocka_unit_test_setup_teardown(test_uip_reader, setup_2020, teardown_rtc),
        cmocka_unit_test_setup_teardown(test_write_while_running, setup_2020, teardown_rtc),
        cmocka_unit_test_setup_teardown(test_day_of_week_kept, setup_2020, teardown_rtc),
        cmocka_unit_test_setup_teardown(test_garbage_time, setup_2020, teardown_rtc),
        cmocka_unit_test_setup_teardown(test_periodic_interrupt, setup_2020, teardown_rtc),
        cmocka_unit_test_setup_teardown(test_periodic_flag_without_interrupt, setup_2020, teardown_rtc),
        cmocka_unit_test_setup_teardown(test_update_interrupt, setup_2020, teardown_rtc),
        cmocka_unit_test_setup_teardown(test_irq_held_until_c_read, setup_2020, teardown_rtc),
        cmocka_unit_test_setup_teardown(test_alarm, setup_2020, teardown_rtc),
        cmocka_unit_test_setup_teardown(test_alarm_dont_care, setup_2020, teardown_rtc),
        cmocka_unit_test_setup_teardown(test_alarm_flag_and_impossible, setup_2020, teardown_rtc),
        cmocka_unit_test(test_alarm_formats),
        cmocka_unit_test(test_alarm_brute_force),
        cmocka_unit_test_setup_teardown(test_c_and_d, setup_2020, teardown_rtc),
        cmocka_unit_test_setup_teardown(test_reset, setup_2020, teardown_rtc),
        cmocka_unit_test_setup_teardown(test_nvram, setup_2020, teardown_rtc),
        cmocka_unit_test(test_cmos_layout),
        cmocka_unit_test(test_boot_order),
        cmocka_unit_test(test_base_utc),
        cmocka_unit_test(test_base_localtime),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_construct_failures),
        cmocka_unit_test_setup_teardown(test_access_sizes, setup_2020, teardown_rtc),
        cmocka_unit_test(test_seabios_sequence),
        cmocka_unit_test_setup_teardown(test_save_load_roundtrip, setup_2020, teardown_rtc),
        cmocka_unit_test_setup_teardown(test_save_load_frozen, setup_2020, teardown_rtc),
        cmocka_unit_test_setup_teardown(test_load_hostile, setup_2020, teardown_rtc),
    };
    return cmocka_run_group_tests_name("rtc", tests, NULL, NULL);
}
