/* test-uart16550.c — register-model tests of the uart16550 plugin, run through the device harness.
 *
 * Spec: 16550A, National Semiconductor PC16550D / TI TL16C550 datasheet; the probe sequences of
 * Linux's 8250 driver (autoconfig, size_fifo) and SeaBIOS (detect_serial). The real uart16550.so
 * is loaded from $UART_PLUGIN. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devharness.h"

/* Register offsets and the bits the tests name. */
enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };
#define IER_RDA 0x01
#define IER_THRE 0x02
#define IER_RLS 0x04
#define IER_MSR 0x08
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_IDLE 0x60 /* THRE | TEMT */
#define LCR_DLAB 0x80

/* Layout of saved-state unit v1 (uart_save); pinned by test_save_format_pinned. */
#define SS_LEN 67
#define SS_FCR 7
#define SS_RX_HEAD 15
#define SS_RX_COUNT 16
#define SS_TX_COUNT 50

/* One UART under test. */
struct uart {
    struct devharness *h;
    uint16_t base;
    uint32_t irq;
};

/* Opens the plugin (failing the test if it cannot). */
static struct devharness *open_plugin(void)
{
    const char *path = getenv("UART_PLUGIN");
    if (!path)
        fail_msg("UART_PLUGIN is not set (path of uart16550.so)");
    struct devharness *h = devharness_open(path);
    assert_non_null(h);
    return h;
}

/* Builds instance `instance` with `opts` (NULL-terminated or NULL) and the test char driver. */
static struct uart *uart_new_opts(uint32_t instance, const char *const *opts, uint16_t base, uint32_t irq)
{
    struct uart *u = calloc(1, sizeof(*u));
    assert_non_null(u);
    u->h = open_plugin();
    u->base = base;
    u->irq = irq;
    int rc = devharness_construct(u->h, "uart16550", instance, opts);
    if (rc != 0)
        fail_msg("construct failed (%d): %s", rc, devharness_last_error(u->h));
    return u;
}

/* COM1 with the defaults. */
static struct uart *uart_new(void)
{
    return uart_new_opts(0, NULL, 0x3f8, 4);
}

/* A 16450 (fifo=off) at COM1. */
static struct uart *uart_new_16450(void)
{
    static const char *const opts[] = {"fifo=off", NULL};
    return uart_new_opts(0, opts, 0x3f8, 4);
}

/* Tears a UART down, checking destruct freed everything. */
static void uart_free(struct uart *u)
{
    if (!u)
        return;
    assert_int_equal(devharness_destruct(u->h), 0);
    devharness_close(u->h);
    free(u);
}

/* cmocka setup/teardown: a default COM1 in *state. */
static int setup_com1(void **state)
{
    *state = uart_new();
    return 0;
}

static int teardown_uart(void **state)
{
    uart_free(*state);
    return 0;
}

/* Register access. */
static uint8_t rd(struct uart *u, unsigned reg)
{
    return (uint8_t)devharness_pio_in(u->h, (uint16_t)(u->base + reg), 1);
}

static void wr(struct uart *u, unsigned reg, uint8_t v)
{
    devharness_pio_out(u->h, (uint16_t)(u->base + reg), v, 1);
}

/* Sets the divisor latch. */
static void set_divisor(struct uart *u, uint16_t div, uint8_t lcr)
{
    wr(u, LCR, LCR_DLAB);
    wr(u, DLL, (uint8_t)div);
    wr(u, DLM, (uint8_t)(div >> 8));
    wr(u, LCR, lcr);
}

/* Host input through the test char driver. */
static void input(struct uart *u, const char *s)
{
    devharness_char_input(u->h, (const uint8_t *)s, strlen(s));
}

/* Reads RBR while LSR.DR, at most `max` bytes; returns how many. */
static size_t drain(struct uart *u, uint8_t *buf, size_t max)
{
    size_t n = 0;
    while (n < max && (rd(u, LSR) & LSR_DR))
        buf[n++] = rd(u, RBR);
    return n;
}

static int irq(struct uart *u)
{
    return devharness_irq_level(u->h, u->irq);
}

static unsigned raises(struct uart *u)
{
    return devharness_irq_raises(u->h, u->irq);
}

/* Asserts that the captured output equals `s`. */
static void assert_output(struct uart *u, const char *s)
{
    size_t len;
    const uint8_t *out = devharness_char_output(u->h, &len);
    assert_int_equal(len, strlen(s));
    if (len)
        assert_memory_equal(out, s, len);
}

/* ---- the plugin --------------------------------------------------------------------------------- */

/* The descriptor and registration say what the brief asks. */
static void test_registration(void **state)
{
    (void)state;
    struct devharness *h = open_plugin();
    const struct modvm_plugin_desc *d = devharness_plugin(h);
    assert_string_equal(d->name, "uart16550");
    assert_string_equal(d->license, "MIT");
    assert_int_equal(devharness_device_types(h), 1);
    assert_int_equal(devharness_driver_types(h), 0);
    const struct modvm_devreg *r = devharness_devreg(h, "uart16550");
    assert_non_null(r);
    assert_int_equal(r->family, MODVM_DEV_FAMILY_SYSTEM);
    assert_int_equal(r->max_instances, 4);
    assert_int_equal(r->saved_state_version, 1);
    assert_non_null(r->destruct);
    assert_non_null(r->reset);
    assert_non_null(r->save);
    assert_non_null(r->load);
    const char *names[] = {"iobase", "irq", "fifo"};
    for (unsigned i = 0; i < 3; i++) {
        assert_non_null(r->options[i].name);
        assert_string_equal(r->options[i].name, names[i]);
    }
    assert_null(r->options[3].name);
    assert_null(r->options[0].default_value); /* iobase and irq default by instance */
    assert_null(r->options[1].default_value);
    assert_int_equal(r->options[0].max, 0xfff8);
    assert_int_equal(r->options[1].max, 23);
    assert_string_equal(r->options[2].default_value, "on");
    devharness_close(h);
}

/* The harness refuses what the core's loader would: no file, no descriptor. */
static void test_harness_rejects_non_plugins(void **state)
{
    (void)state;
    assert_null(devharness_open("/nonexistent/uart16550.so"));
    assert_null(devharness_open("libc.so.6")); /* loads, but exports no descriptor */
}

/* ---- reset values and plain registers ----------------------------------------------------------- */

/* Every register at its datasheet reset value (divisor: 9600 baud). */
static void assert_reset_state(struct uart *u)
{
    assert_int_equal(rd(u, IER), 0x00);
    assert_int_equal(rd(u, IIR), 0x01);
    assert_int_equal(rd(u, LCR), 0x00);
    assert_int_equal(rd(u, MCR), 0x00);
    assert_int_equal(rd(u, LSR), 0x60);
    assert_int_equal(rd(u, MSR), 0xb0);
    assert_int_equal(rd(u, SCR), 0x00);
    assert_int_equal(rd(u, RBR), 0x00);
    wr(u, LCR, LCR_DLAB);
    assert_int_equal(rd(u, DLL), 0x0c);
    assert_int_equal(rd(u, DLM), 0x00);
    wr(u, LCR, 0);
    assert_int_equal(irq(u), 0);
    assert_int_equal(devharness_timers_armed(u->h), 0);
}

static void test_reset_values(void **state)
{
    struct uart *u = *state;
    assert_reset_state(u);
    assert_int_equal(raises(u), 0);

    set_divisor(u, 0x0201, 0x1b);
    wr(u, IER, 0x0f);
    wr(u, FCR, 0xc1);
    wr(u, MCR, 0x0b);
    wr(u, SCR, 0xaa);
    input(u, "xyz");
    assert_int_equal(irq(u), 1);
    devharness_reset(u->h);
    assert_reset_state(u);
}

/* A reset drops the line and lets queued input flow into the (now 1-byte) receiver. */
static void test_reset_kicks_driver(void **state)
{
    struct uart *u = *state;
    wr(u, FCR, 0x01);
    input(u, "0123456789abcdefghij");
    assert_int_equal(devharness_char_pending(u->h), 4);
    devharness_reset(u->h);
    assert_int_equal(devharness_char_pending(u->h), 3);
    assert_int_equal(rd(u, RBR), 'g');
}

static void test_scratch(void **state)
{
    struct uart *u = *state;
    for (unsigned v = 0; v < 256; v++) {
        wr(u, SCR, (uint8_t)v);
        assert_int_equal(rd(u, SCR), v);
    }
    wr(u, LCR, LCR_DLAB); /* DLAB does not move SCR */
    wr(u, SCR, 0x5a);
    assert_int_equal(rd(u, SCR), 0x5a);
}

static void test_lcr_readback(void **state)
{
    struct uart *u = *state;
    for (unsigned v = 0; v < 256; v++) {
        wr(u, LCR, (uint8_t)v);
        assert_int_equal(rd(u, LCR), v);
    }
}

/* IER bits 7:4 read 0 (Linux's existence and XScale probes). */
static void test_ier_mask(void **state)
{
    struct uart *u = *state;
    wr(u, IER, 0xff);
    assert_int_equal(rd(u, IER), 0x0f);
    wr(u, IER, 0xf0);
    assert_int_equal(rd(u, IER), 0x00);
}

/* DLAB switches offsets 0/1 to the divisor latch and back. */
static void test_dlab_divisor(void **state)
{
    struct uart *u = *state;
    wr(u, LCR, 0x83);
    wr(u, DLL, 0x34);
    wr(u, DLM, 0x12);
    assert_int_equal(rd(u, DLL), 0x34);
    assert_int_equal(rd(u, DLM), 0x12);
    assert_int_equal(rd(u, LCR), 0x83);
    assert_output(u, ""); /* DLL writes are not transmitted */
    input(u, "Q");
    assert_int_equal(rd(u, DLL), 0x34); /* not RBR */
    assert_true(rd(u, LSR) & LSR_DR);

    wr(u, LCR, 0x03);
    assert_int_equal(rd(u, IER), 0x00); /* DLM write did not reach IER */
    wr(u, IER, 0x05);
    assert_int_equal(rd(u, IER), 0x05);
    assert_int_equal(rd(u, RBR), 'Q');
    wr(u, LCR, 0x83);
    assert_int_equal(rd(u, DLM), 0x12); /* IER write did not reach DLM */
    assert_int_equal(rd(u, DLL), 0x34);
}

/* ---- FIFOs -------------------------------------------------------------------------------------- */

static void test_fifo_iir_bits(void **state)
{
    struct uart *u = *state;
    assert_int_equal(rd(u, IIR), 0x01);
    wr(u, FCR, 0xc0); /* other bits need FCR0 */
    assert_int_equal(rd(u, IIR), 0x01);
    wr(u, FCR, 0x01);
    assert_int_equal(rd(u, IIR), 0xc1);
    wr(u, FCR, 0x21); /* the 16750's 64-byte bit: not on a 16550A */
    assert_int_equal(rd(u, IIR), 0xc1);
    wr(u, FCR, 0x00);
    assert_int_equal(rd(u, IIR), 0x01);
}

/* fifo=off is a 16450: FCR is ignored, IIR bits 7:6 stay 0. */
static void test_16450_has_no_fifo(void **state)
{
    (void)state;
    struct uart *u = uart_new_16450();
    wr(u, FCR, 0xc7);
    assert_int_equal(rd(u, IIR), 0x01);
    input(u, "ab");
    assert_int_equal(devharness_char_pending(u->h), 1);
    uart_free(u);
}

static void test_fifo_clear(void **state)
{
    struct uart *u = *state;
    uint8_t buf[32];
    wr(u, FCR, 0x01);
    input(u, "abcde");
    assert_true(rd(u, LSR) & LSR_DR);
    wr(u, FCR, 0x03); /* clear RX */
    assert_int_equal(rd(u, LSR), LSR_IDLE);
    input(u, "fg");
    assert_int_equal(rd(u, RBR), 'f');
    wr(u, FCR, 0x05); /* clear TX: RX untouched */
    assert_int_equal(rd(u, RBR), 'g');
    input(u, "hi");
    wr(u, FCR, 0x00); /* disabling clears */
    assert_int_equal(rd(u, LSR), LSR_IDLE);
    input(u, "j");
    wr(u, FCR, 0x01); /* enabling clears too */
    assert_int_equal(drain(u, buf, sizeof(buf)), 0);
    assert_int_equal(devharness_timers_armed(u->h), 0);
}

/* RDA rises exactly at the trigger level (1/4/8/14) and falls below it. */
static void test_rx_trigger_levels(void **state)
{
    (void)state;
    static const unsigned levels[4] = {1, 4, 8, 14};
    for (unsigned t = 0; t < 4; t++) {
        struct uart *u = uart_new();
        wr(u, IER, IER_RDA);
        wr(u, MCR, MCR_OUT2);
        wr(u, FCR, (uint8_t)(0x01 | t << 6));
        for (unsigned i = 0; i + 1 < levels[t]; i++)
            input(u, "x");
        assert_int_equal(rd(u, IIR), 0xc1);
        assert_int_equal(irq(u), 0);
        input(u, "y");
        assert_int_equal(rd(u, IIR), 0xc4);
        assert_int_equal(irq(u), 1);
        (void)rd(u, RBR);
        assert_int_equal(rd(u, IIR), 0xc1);
        assert_int_equal(irq(u), 0);
        uart_free(u);
    }
}

static void test_rx_fifo_order(void **state)
{
    struct uart *u = *state;
    uint8_t buf[32];
    wr(u, FCR, 0x01);
    input(u, "hello, world!");
    assert_int_equal(drain(u, buf, sizeof(buf)), 13);
    assert_memory_equal(buf, "hello, world!", 13);
    assert_int_equal(rd(u, LSR), LSR_IDLE);
    assert_int_equal(rd(u, RBR), '!'); /* empty receiver repeats the last byte */
}

/* 16450 mode: one RBR, RDA per byte, the next byte waits in the driver. */
static void test_rx_16450(void **state)
{
    (void)state;
    struct uart *u = uart_new_16450();
    wr(u, IER, IER_RDA);
    wr(u, MCR, MCR_OUT2);
    input(u, "AB");
    assert_int_equal(devharness_char_pending(u->h), 1);
    assert_int_equal(rd(u, IIR), 0x04);
    assert_int_equal(irq(u), 1);
    assert_int_equal(rd(u, RBR), 'A');
    assert_int_equal(devharness_char_pending(u->h), 0);
    assert_int_equal(raises(u), 2); /* the read dropped the line before 'B' raised it again */
    assert_int_equal(rd(u, IIR), 0x04);
    assert_int_equal(rd(u, RBR), 'B');
    assert_int_equal(rd(u, IIR), 0x01);
    assert_int_equal(irq(u), 0);
    assert_int_equal(rd(u, LSR), LSR_IDLE);
    uart_free(u);
}

/* ---- interrupts --------------------------------------------------------------------------------- */

/* Line status > received data > THR empty > modem status, each cleared by its own action. */
static void test_iir_priorities(void **state)
{
    struct uart *u = *state;
    uint8_t buf[32];
    wr(u, FCR, 0x07);
    wr(u, MCR, MCR_LOOP); /* modem inputs drop: deltas */
    for (unsigned i = 0; i < 17; i++)
        wr(u, THR, (uint8_t)i); /* 16 fill the RX FIFO, the 17th overruns */
    wr(u, MCR, MCR_OUT2);
    wr(u, IER, 0x0f); /* ETBEI rising with THR empty: THRE too */
    assert_int_equal(irq(u), 1);

    assert_int_equal(rd(u, IIR), 0xc6);
    assert_int_equal(rd(u, LSR), LSR_IDLE | LSR_OE | LSR_DR);
    assert_int_equal(rd(u, IIR), 0xc4);
    assert_int_equal(irq(u), 1);
    assert_int_equal(drain(u, buf, sizeof(buf)), 16);
    assert_int_equal(buf[15], 15);
    assert_int_equal(rd(u, IIR), 0xc2); /* reading it acknowledges THRE */
    assert_int_equal(rd(u, IIR), 0xc0);
    assert_int_equal(irq(u), 1);
    assert_int_equal(rd(u, MSR), 0xb0 | 0x0b);
    assert_int_equal(rd(u, IIR), 0xc1);
    assert_int_equal(irq(u), 0);
}

/* THRE: raised by ETBEI's rising edge while THR is empty and by THR emptying; cleared by reading
 * IIR when it is the source, by writing THR, and by clearing ETBEI. */
static void test_thre_interrupt(void **state)
{
    struct uart *u = *state;
    wr(u, MCR, MCR_OUT2);
    assert_int_equal(rd(u, IIR), 0x01);
    wr(u, IER, IER_THRE);
    assert_int_equal(irq(u), 1);
    assert_int_equal(raises(u), 1);
    assert_int_equal(rd(u, IIR), 0x02);
    assert_int_equal(rd(u, IIR), 0x01);
    assert_int_equal(irq(u), 0);

    wr(u, IER, IER_THRE); /* no edge on ETBEI: nothing new */
    assert_int_equal(rd(u, IIR), 0x01);
    wr(u, IER, 0);
    wr(u, IER, IER_THRE); /* toggling re-arms */
    assert_int_equal(raises(u), 2);
    assert_int_equal(rd(u, IIR), 0x02);

    wr(u, THR, 'x'); /* sent at once: THR empties, THRE again */
    assert_int_equal(irq(u), 1);
    assert_int_equal(raises(u), 3);
    wr(u, THR, 'y'); /* the write clears it (the line drops) before it rises again */
    assert_int_equal(raises(u), 4);
    assert_output(u, "xy");
    assert_int_equal(rd(u, LSR), LSR_IDLE);

    wr(u, IER, 0); /* clearing ETBEI drops a pending THRE */
    assert_int_equal(irq(u), 0);
    wr(u, IER, IER_RDA);
    assert_int_equal(rd(u, IIR), 0x01);
}

/* The character timeout fires after four frame times computed from divisor and LCR. */
static void test_char_timeout(void **state)
{
    struct uart *u = *state;
    set_divisor(u, 1, 0x03); /* 115200 8N1: 10 bits = 86805 ns a frame */
    wr(u, FCR, 0xc1);        /* trigger 14 */
    wr(u, IER, IER_RDA);
    wr(u, MCR, MCR_OUT2);
    input(u, "abc");
    assert_int_equal(rd(u, IIR), 0xc1);
    assert_int_equal(devharness_timers_armed(u->h), 1);
    devharness_advance_ns(u->h, 340000);
    assert_int_equal(rd(u, IIR), 0xc1);
    assert_int_equal(irq(u), 0);
    devharness_advance_ns(u->h, 10000);
    assert_int_equal(rd(u, IIR), 0xcc);
    assert_int_equal(irq(u), 1);

    assert_int_equal(rd(u, RBR), 'a'); /* a read clears it and restarts the timer */
    assert_int_equal(rd(u, IIR), 0xc1);
    assert_int_equal(irq(u), 0);
    devharness_advance_ns(u->h, 400000);
    assert_int_equal(rd(u, IIR), 0xcc);
    assert_int_equal(rd(u, RBR), 'b');
    assert_int_equal(rd(u, RBR), 'c');
    assert_int_equal(rd(u, IIR), 0xc1);
    assert_int_equal(devharness_timers_armed(u->h), 0);
    devharness_advance_ns(u->h, 1000000000);
    assert_int_equal(rd(u, IIR), 0xc1);

    /* 9600 baud 7E2 with parity: 11 bits = 1145833 ns a frame, 4583332 ns for four. */
    set_divisor(u, 12, 0x1e);
    input(u, "d");
    devharness_advance_ns(u->h, 4500000);
    assert_int_equal(rd(u, IIR), 0xc1);
    devharness_advance_ns(u->h, 100000);
    assert_int_equal(rd(u, IIR), 0xcc);
}

/* No timeout in 16450 mode: RDA is immediate and nothing is armed. */
static void test_no_timeout_without_fifo(void **state)
{
    struct uart *u = *state;
    wr(u, IER, IER_RDA);
    input(u, "a");
    assert_int_equal(rd(u, IIR), 0x04);
    assert_int_equal(devharness_timers_armed(u->h), 0);
    devharness_advance_ns(u->h, 1000000000);
    assert_int_equal(rd(u, IIR), 0x04);
}

/* OUT2 gates INTR onto the ISA line; loopback disconnects it as well. */
static void test_out2_gating(void **state)
{
    struct uart *u = *state;
    wr(u, IER, IER_THRE);
    wr(u, MCR, 0);
    assert_int_equal(irq(u), 0);
    assert_int_equal(raises(u), 0);
    wr(u, MCR, MCR_DTR | MCR_RTS | MCR_OUT1);
    assert_int_equal(irq(u), 0);
    wr(u, MCR, MCR_OUT2);
    assert_int_equal(irq(u), 1);
    wr(u, MCR, 0);
    assert_int_equal(irq(u), 0);
    wr(u, MCR, MCR_OUT2 | MCR_LOOP);
    assert_int_equal(irq(u), 0);
    wr(u, MCR, MCR_OUT2);
    assert_int_equal(irq(u), 1);
    assert_int_equal(raises(u), 2);
    assert_int_equal(rd(u, IIR), 0x02); /* the source was pending all along */
    assert_int_equal(irq(u), 0);
}

/* ---- loopback and modem status ------------------------------------------------------------------ */

static void test_loopback_data(void **state)
{
    struct uart *u = *state;
    uint8_t buf[8];
    wr(u, FCR, 0x01);
    wr(u, MCR, MCR_LOOP);
    wr(u, THR, 'a');
    wr(u, THR, 'b');
    wr(u, THR, 'c');
    assert_output(u, ""); /* SOUT is held marking */
    assert_int_equal(drain(u, buf, sizeof(buf)), 3);
    assert_memory_equal(buf, "abc", 3);

    input(u, "xy"); /* SIN is disconnected: host bytes wait */
    assert_int_equal(devharness_char_pending(u->h), 2);
    assert_int_equal(rd(u, LSR), LSR_IDLE);
    devharness_char_input_raw(u->h, (const uint8_t *)"z", 1); /* even pushed ones vanish */
    assert_int_equal(rd(u, LSR), LSR_IDLE);
    wr(u, MCR, 0);
    assert_int_equal(devharness_char_pending(u->h), 0);
    assert_int_equal(drain(u, buf, sizeof(buf)), 2);
    assert_memory_equal(buf, "xy", 2);
}

static void test_loopback_modem_lines(void **state)
{
    struct uart *u = *state;
    wr(u, MCR, MCR_LOOP | 0x0a); /* Linux's LOOP test */
    assert_int_equal(rd(u, MSR) & 0xf0, 0x90);
    wr(u, MCR, MCR_LOOP | MCR_DTR);
    assert_int_equal(rd(u, MSR) & 0xf0, 0x20);
    wr(u, MCR, MCR_LOOP | MCR_OUT1);
    assert_int_equal(rd(u, MSR) & 0xf0, 0x40);
    wr(u, MCR, MCR_LOOP | 0x0f);
    (void)rd(u, MSR);
    assert_int_equal(rd(u, MSR), 0xf0); /* deltas cleared by the read */
    wr(u, MCR, MCR_LOOP | 0x0b);        /* RI on -> off: TERI */
    assert_int_equal(rd(u, MSR), 0xb4);
    wr(u, MCR, MCR_LOOP | 0x0f); /* RI off -> on: no TERI */
    assert_int_equal(rd(u, MSR), 0xf0);
    wr(u, MCR, MCR_LOOP | 0x0e); /* DSR off: DDSR */
    assert_int_equal(rd(u, MSR), 0xd2);
    wr(u, MCR, 0); /* back to the host's CTS/DSR/DCD: DSR on, RI off */
    assert_int_equal(rd(u, MSR), 0xb6);
    assert_int_equal(rd(u, MSR), 0xb0);
}

/* Modem-status interrupt with EDSSI; cleared by reading MSR. */
static void test_modem_status_interrupt(void **state)
{
    struct uart *u = *state;
    wr(u, IER, IER_MSR);
    wr(u, MCR, MCR_LOOP | MCR_OUT2);
    wr(u, MCR, MCR_LOOP | MCR_OUT2 | MCR_RTS);
    assert_int_equal(rd(u, IIR), 0x00);
    assert_int_equal(irq(u), 0); /* loopback: INTR not connected */
    wr(u, MCR, MCR_OUT2);
    assert_int_equal(irq(u), 1);
    assert_int_equal(rd(u, IIR), 0x00);
    (void)rd(u, MSR);
    assert_int_equal(rd(u, IIR), 0x01);
    assert_int_equal(irq(u), 0);
}

/* ---- receive errors, transmit, flow control ----------------------------------------------------- */

static void test_overrun(void **state)
{
    struct uart *u = *state;
    uint8_t buf[32];
    wr(u, FCR, 0x01);
    wr(u, MCR, MCR_LOOP);
    for (unsigned i = 0; i < 16; i++)
        wr(u, THR, (uint8_t)i);
    assert_int_equal(rd(u, LSR), LSR_IDLE | LSR_DR);
    wr(u, THR, 0xee);
    assert_int_equal(rd(u, LSR), LSR_IDLE | LSR_DR | LSR_OE);
    assert_int_equal(rd(u, LSR), LSR_IDLE | LSR_DR); /* OE clears on read */
    assert_int_equal(drain(u, buf, sizeof(buf)), 16);
    for (unsigned i = 0; i < 16; i++)
        assert_int_equal(buf[i], i); /* FIFO mode keeps the old bytes */

    /* A driver ignoring can_receive overruns the same way. */
    wr(u, MCR, 0);
    uint8_t many[20];
    for (unsigned i = 0; i < 20; i++)
        many[i] = (uint8_t)(0x40 + i);
    devharness_char_input_raw(u->h, many, sizeof(many));
    assert_int_equal(rd(u, LSR), LSR_IDLE | LSR_DR | LSR_OE);
    assert_int_equal(drain(u, buf, sizeof(buf)), 16);
    assert_memory_equal(buf, many, 16);
}

/* 16450 mode: the new byte overwrites the unread RBR. */
static void test_overrun_16450(void **state)
{
    (void)state;
    struct uart *u = uart_new_16450();
    wr(u, MCR, MCR_LOOP);
    wr(u, THR, 'a');
    wr(u, THR, 'b');
    assert_int_equal(rd(u, LSR), LSR_IDLE | LSR_DR | LSR_OE);
    assert_int_equal(rd(u, RBR), 'b');
    assert_int_equal(rd(u, LSR), LSR_IDLE);
    uart_free(u);
}

static void test_tx_reaches_driver(void **state)
{
    struct uart *u = *state;
    const char *msg = "Hello, serial\r\n";
    for (const char *p = msg; *p; p++) {
        wr(u, THR, (uint8_t)*p);
        assert_int_equal(rd(u, LSR), LSR_IDLE); /* never busy: no pacing */
    }
    assert_output(u, msg);
    wr(u, FCR, 0x01);
    wr(u, THR, '!');
    assert_output(u, "Hello, serial\r\n!");
}

/* Without a driver at LUN 0 the port works and output vanishes. */
static void test_no_driver(void **state)
{
    (void)state;
    struct devharness *h = open_plugin();
    devharness_set_char_driver(h, false);
    assert_int_equal(devharness_construct(h, "uart16550", 0, NULL), 0);
    assert_false(devharness_char_attached(h));
    devharness_pio_out(h, 0x3f8, 'x', 1);
    assert_int_equal(devharness_pio_in(h, 0x3fd, 1), LSR_IDLE);
    size_t len;
    (void)devharness_char_output(h, &len);
    assert_int_equal(len, 0);
    assert_int_equal(devharness_destruct(h), 0);
    devharness_close(h);
}

/* More input than room stays queued in the driver until the guest reads. */
static void test_flow_control(void **state)
{
    struct uart *u = *state;
    char in[41];
    uint8_t buf[64];
    for (unsigned i = 0; i < 40; i++)
        in[i] = (char)('A' + i % 26);
    in[40] = '\0';
    wr(u, FCR, 0x01);
    input(u, in);
    assert_int_equal(devharness_char_pending(u->h), 24);
    assert_int_equal(devharness_char_ready_calls(u->h), 0);
    assert_int_equal(rd(u, RBR), 'A');
    assert_int_equal(devharness_char_ready_calls(u->h), 1);
    assert_int_equal(devharness_char_pending(u->h), 23);
    buf[0] = 'A';
    assert_int_equal(drain(u, buf + 1, sizeof(buf) - 1), 39);
    assert_memory_equal(buf, in, 40);
    assert_int_equal(devharness_char_pending(u->h), 0);
}

/* ---- configuration ------------------------------------------------------------------------------ */

static void test_instance_defaults(void **state)
{
    (void)state;
    static const uint16_t bases[4] = {0x3f8, 0x2f8, 0x3e8, 0x2e8};
    static const uint32_t irqs[4] = {4, 3, 4, 3};
    for (uint32_t i = 0; i < 4; i++) {
        struct uart *u = uart_new_opts(i, NULL, bases[i], irqs[i]);
        assert_true(devharness_pio_mapped(u->h, bases[i]));
        assert_true(devharness_pio_mapped(u->h, (uint16_t)(bases[i] + 7)));
        assert_false(devharness_pio_mapped(u->h, (uint16_t)(bases[i] - 1)));
        assert_false(devharness_pio_mapped(u->h, (uint16_t)(bases[i] + 8)));
        wr(u, MCR, MCR_OUT2);
        wr(u, IER, IER_THRE);
        assert_int_equal(irq(u), 1);
        assert_int_equal(devharness_irq_level(u->h, irqs[i] == 4 ? 3 : 4), 0);
        uart_free(u);
    }
    static const char *const opts[] = {"iobase=1000", "irq=5", NULL}; /* 1000 = 0x3e8 */
    struct uart *u = uart_new_opts(1, opts, 0x3e8, 5);
    assert_false(devharness_pio_mapped(u->h, 0x2f8));
    wr(u, MCR, MCR_OUT2);
    wr(u, IER, IER_THRE);
    assert_int_equal(irq(u), 1);
    assert_int_equal(devharness_irq_level(u->h, 3), 0);
    uart_free(u);
}

/* Bad options fail with one clear line and leave nothing behind. */
static void test_bad_options(void **state)
{
    (void)state;
    static const struct {
        const char *opt;
        uint32_t instance;
        const char *needle;
    } cases[] = {
        {"iobase=0x3f9", 0, "option 'iobase' 0x3f9 is not 8-byte aligned"},
        {"iobase=0x10000", 0, "iobase"},
        {"iobase=x3f8", 0, "iobase"},
        {"irq=24", 0, "irq"},
        {"fifo=maybe", 0, "fifo"},
        {"baud=9600", 0, "baud"},
        {NULL, 4, "at most 4"},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct devharness *h = open_plugin();
        const char *opts[] = {cases[i].opt, NULL};
        int rc = devharness_construct(h, "uart16550", cases[i].instance, opts);
        assert_true(rc < 0);
        if (!strstr(devharness_last_error(h), cases[i].needle))
            fail_msg("case %u: error '%s' lacks '%s'", i, devharness_last_error(h), cases[i].needle);
        assert_null(strchr(devharness_last_error(h), '\n'));
        assert_null(devharness_dev(h));
        assert_false(devharness_pio_mapped(h, 0x3f8));
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
        {"timer_create", -ENOMEM, "timer"},
        {"pio_map", -EBUSY, "ports 0x3f8-0x3ff: injected failure"},
        {"driver_attach", -EIO, "LUN#0 driver: injected failure"},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct devharness *h = open_plugin();
        devharness_fail_next(h, cases[i].helper, cases[i].rc);
        assert_int_equal(devharness_construct(h, "uart16550", 0, NULL), cases[i].rc);
        if (!strstr(devharness_last_error(h), cases[i].needle))
            fail_msg("case %s: error '%s' lacks '%s'", cases[i].helper, devharness_last_error(h),
                     cases[i].needle);
        assert_int_equal(devharness_leaks(h), 0);
        devharness_close(h);
    }
}

/* ---- guest misuse ------------------------------------------------------------------------------- */

/* Wide accesses are split into bytes by the bus; a core that hands us one anyway is counted. */
static void test_access_sizes(void **state)
{
    struct uart *u = *state;
    devharness_pio_out(u->h, 0x3fe, 0xab12, 2); /* MSR (ignored), SCR */
    assert_int_equal(rd(u, SCR), 0xab);
    assert_int_equal(devharness_pio_in(u->h, 0x3fc, 4), 0xabb06000u); /* MCR LSR MSR SCR */
    assert_int_equal(devharness_guest_errors(u->h), 0);

    devharness_pio_out_whole(u->h, 0x3ff, 0x1234, 2);
    assert_int_equal(rd(u, SCR), 0xab);
    assert_int_equal(devharness_guest_errors(u->h), 1);
    assert_int_equal(devharness_pio_in_whole(u->h, 0x3f8, 4), 0xffffffffu);
    assert_int_equal(devharness_guest_errors(u->h), 2);
    assert_true(strlen(devharness_last_guest_error(u->h)) > 0);
}

/* ---- what firmware and Linux probe -------------------------------------------------------------- */

/* Linux 8250 autoconfig() + size_fifo(): must come out as a 16550A with a 16-byte FIFO. */
static void test_linux_autoconfig(void **state)
{
    struct uart *u = *state;
    uint8_t buf[300];
    uint8_t scratch = rd(u, IER);
    wr(u, IER, 0);
    uint8_t scratch2 = rd(u, IER) & 0x0f;
    wr(u, IER, 0x0f);
    uint8_t scratch3 = rd(u, IER) & 0x0f;
    wr(u, IER, scratch);
    assert_int_equal(scratch2, 0);
    assert_int_equal(scratch3, 0x0f);

    uint8_t save_mcr = rd(u, MCR);
    wr(u, MCR, MCR_LOOP | 0x0a);
    assert_int_equal(rd(u, MSR) & 0xf0, 0x90);
    wr(u, MCR, save_mcr);

    wr(u, LCR, 0xbf); /* EFR probe: on a 16550A this just writes FCR */
    wr(u, 2, 0);
    wr(u, LCR, 0);
    wr(u, FCR, 0x01);
    assert_int_equal(rd(u, IIR) >> 6, 3);

    /* size_fifo: loopback at divisor 1, 256 bytes out, count what arrives. */
    wr(u, FCR, 0x07);
    wr(u, MCR, MCR_LOOP);
    set_divisor(u, 1, 0x03);
    for (unsigned i = 0; i < 256; i++)
        wr(u, THR, (uint8_t)i);
    assert_int_equal(drain(u, buf, 256), 16);
    assert_output(u, "");
}

/* SeaBIOS detect_serial(): IER reads back 0x02 and IIR reports THRE. */
static void test_seabios_detect(void **state)
{
    struct uart *u = *state;
    wr(u, IER, 0x02);
    assert_int_equal(rd(u, IER), 0x02);
    assert_int_equal(rd(u, IIR) & 0x3f, 0x02);
    wr(u, IER, 0x00);
}

/* ---- saved state -------------------------------------------------------------------------------- */

/* Reads everything observable, side effects included, in a fixed order. */
static size_t snapshot(struct uart *u, uint8_t *out)
{
    size_t n = 0;
    out[n++] = (uint8_t)irq(u);
    out[n++] = rd(u, LCR);
    out[n++] = rd(u, SCR);
    out[n++] = rd(u, MCR);
    out[n++] = rd(u, IER);
    out[n++] = rd(u, IIR);
    uint8_t lcr = rd(u, LCR);
    wr(u, LCR, lcr | LCR_DLAB);
    out[n++] = rd(u, DLL);
    out[n++] = rd(u, DLM);
    wr(u, LCR, lcr);
    out[n++] = rd(u, LSR);
    out[n++] = rd(u, MSR);
    out[n++] = rd(u, IIR);
    n += drain(u, out + n, 32);
    out[n++] = rd(u, RBR);
    out[n++] = rd(u, IIR);
    return n;
}

/* Saves `u` and loads the state into a fresh COM1; returns it. */
static struct uart *clone_via_ssm(struct uart *u)
{
    uint8_t *buf;
    size_t len;
    assert_int_equal(devharness_save(u->h, &buf, &len), 0);
    assert_int_equal(len, SS_LEN);
    struct uart *v = uart_new();
    int rc = devharness_load(v->h, buf, len, 1);
    if (rc != 0)
        fail_msg("load failed (%d): %s", rc, devharness_last_error(v->h));
    free(buf);
    return v;
}

static void test_save_load_roundtrip(void **state)
{
    struct uart *a = *state;
    uint8_t sa[128], sb[128];
    set_divisor(a, 0x0102, 0x1b);
    wr(a, SCR, 0x5a);
    wr(a, FCR, 0x81); /* trigger 8 */
    wr(a, MCR, MCR_LOOP);
    wr(a, MCR, 0x0b); /* leaves MSR deltas */
    wr(a, IER, IER_RDA | IER_RLS | IER_MSR);
    input(a, "ABCDEFGHIJKLMNOP");
    for (unsigned i = 0; i < 14; i++)
        (void)rd(a, RBR);
    input(a, "abcde"); /* the ring wraps */
    devharness_char_input_raw(a->h, (const uint8_t *)"0123456789", 10); /* fills, then OE */

    struct uart *b = clone_via_ssm(a);
    assert_int_equal(irq(b), 1);
    size_t na = snapshot(a, sa);
    size_t nb = snapshot(b, sb);
    assert_int_equal(na, nb);
    assert_memory_equal(sa, sb, na);
    assert_int_equal(na, 13 + 16);
    assert_memory_equal(sa + 11, "OPabcde012345678", 16);
    uart_free(b);
}

/* Pending THRE and character timeout survive, and an armed timeout re-arms after load. */
static void test_save_load_pending(void **state)
{
    struct uart *a = *state;
    set_divisor(a, 1, 0x03);
    wr(a, FCR, 0xc1);
    wr(a, IER, IER_RDA | IER_THRE);
    wr(a, MCR, MCR_OUT2);
    input(a, "xy");

    struct uart *b = clone_via_ssm(a); /* timer armed, timeout not yet due */
    assert_int_equal(irq(b), 1);
    assert_int_equal(devharness_timers_armed(b->h), 1);
    assert_int_equal(rd(b, IIR), 0xc2);
    assert_int_equal(rd(b, IIR), 0xc1);
    devharness_advance_ns(b->h, 400000);
    assert_int_equal(rd(b, IIR), 0xcc);
    uart_free(b);

    devharness_advance_ns(a->h, 400000);
    struct uart *c = clone_via_ssm(a); /* timeout pending */
    assert_int_equal(rd(c, IIR), 0xcc);
    assert_int_equal(rd(c, RBR), 'x');
    assert_int_equal(rd(c, IIR), 0xc2);
    uart_free(c);
}

/* The v1 unit is 67 bytes with the fields where the hostile-state test pokes them. */
static void test_save_format_pinned(void **state)
{
    struct uart *u = *state;
    uint8_t *buf;
    size_t len;
    wr(u, FCR, 0x41);
    input(u, "abc");
    assert_int_equal(devharness_save(u->h, &buf, &len), 0);
    assert_int_equal(len, SS_LEN);
    assert_int_equal(buf[0] | buf[1] << 8, 0x3f8);
    assert_int_equal(buf[2], 4);
    assert_int_equal(buf[SS_FCR], 0x41);
    assert_int_equal(buf[SS_RX_HEAD], 0);
    assert_int_equal(buf[SS_RX_COUNT], 3);
    assert_int_equal(buf[SS_TX_COUNT], 0);
    free(buf);
}

/* The device still behaves after a rejected load (nothing was committed). */
static void assert_untouched(struct uart *u)
{
    assert_int_equal(rd(u, LSR), LSR_IDLE);
    assert_int_equal(rd(u, IIR), 0x01);
    assert_int_equal(rd(u, SCR), 0);
    assert_int_equal(irq(u), 0);
}

/* Loads `buf` patched at `off` with `val` and expects rejection mentioning `needle`. */
static void expect_reject(struct uart *v, const uint8_t *good, size_t off, uint8_t val, const char *needle)
{
    uint8_t bad[SS_LEN];
    memcpy(bad, good, SS_LEN);
    bad[off] = val;
    assert_int_equal(devharness_load(v->h, bad, SS_LEN, 1), -EINVAL);
    if (!strstr(devharness_last_error(v->h), needle))
        fail_msg("error '%s' lacks '%s'", devharness_last_error(v->h), needle);
    assert_untouched(v);
}

/* A tiny deterministic PRNG for the fuzz loop. */
static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void test_load_hostile(void **state)
{
    struct uart *a = *state;
    uint8_t *good;
    size_t len;
    wr(a, FCR, 0x01);
    input(a, "xyz");
    assert_int_equal(devharness_save(a->h, &good, &len), 0);
    assert_int_equal(len, SS_LEN);
    struct uart *v = uart_new();

    assert_int_equal(devharness_load(v->h, good, len, 2), -EINVAL);
    assert_non_null(strstr(devharness_last_error(v->h), "version 2"));
    expect_reject(v, good, SS_RX_COUNT, 200, "count 200");
    expect_reject(v, good, SS_RX_HEAD, 16, "head 16");
    expect_reject(v, good, SS_TX_COUNT, 17, "count 17");
    expect_reject(v, good, SS_FCR, 0x00, "count 3 exceeds 1"); /* FIFOs off, 3 bytes held */
    expect_reject(v, good, SS_FCR, 0x20, "FCR");
    expect_reject(v, good, 0, 0xf9, "configured");
    for (size_t cut = 0; cut < SS_LEN; cut++) {
        assert_int_equal(devharness_load(v->h, good, cut, 1), -EINVAL);
        assert_untouched(v);
    }
    /* A 16450 has no FCR: a state claiming its FIFOs are on is refused. */
    struct uart *w = uart_new_16450();
    uint8_t *s16;
    size_t l16;
    assert_int_equal(devharness_save(w->h, &s16, &l16), 0);
    expect_reject(w, s16, SS_FCR, 0x01, "FCR");
    free(s16);
    uart_free(w);

    uint8_t longer[SS_LEN + 1];
    memcpy(longer, good, SS_LEN);
    longer[SS_LEN] = 0;
    assert_int_equal(devharness_load(v->h, longer, sizeof(longer), 1), -EINVAL);

    /* Random corruption: accepted or rejected, never a crash (run under ASan) or a stuck device. */
    uint32_t seed = 0x16550a;
    for (unsigned iter = 0; iter < 5000; iter++) {
        uint8_t fuzz[SS_LEN], buf[64];
        memcpy(fuzz, good, SS_LEN);
        for (unsigned k = 1 + xorshift(&seed) % 4; k > 0; k--)
            fuzz[xorshift(&seed) % SS_LEN] = (uint8_t)xorshift(&seed);
        int rc = devharness_load(v->h, fuzz, SS_LEN, 1);
        assert_true(rc == 0 || rc == -EINVAL);
        wr(v, LCR, 0x03); /* a loaded DLAB would hide RBR from drain() */
        for (unsigned r = 0; r < 8; r++)
            (void)rd(v, r);
        wr(v, THR, 'q');
        assert_true(drain(v, buf, sizeof(buf)) <= 16);
        devharness_advance_ns(v->h, 1000000000);
        devharness_reset(v->h);
    }
    free(good);
    uart_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registration),
        cmocka_unit_test(test_harness_rejects_non_plugins),
        cmocka_unit_test_setup_teardown(test_reset_values, setup_com1, teardown_uart),
        cmocka_unit_test_setup_teardown(test_reset_kicks_driver, setup_com1, teardown_uart),
        cmocka_unit_test_setup_teardown(test_scratch, setup_com1, teardown_uart),
        cmocka_unit_test_setup_teardown(test_lcr_readback, setup_com1, teardown_uart),
        cmocka_unit_test_setup_teardown(test_ier_mask, setup_com1, teardown_uart),
        cmocka_unit_test_setup_teardown(test_dlab_divisor, setup_com1, teardown_uart),
        cmocka_unit_test_setup_teardown(test_fifo_iir_bits, setup_com1, teardown_uart),
        cmocka_unit_test(test_16450_has_no_fifo),
        cmocka_unit_test_setup_teardown(test_fifo_clear, setup_com1, teardown_uart),
        cmocka_unit_test(test_rx_trigger_levels),
        cmocka_unit_test_setup_teardown(test_rx_fifo_order, setup_com1, teardown_uart),
        cmocka_unit_test(test_rx_16450),
        cmocka_unit_test_setup_teardown(test_iir_priorities, setup_com1, teardown_uart),
        cmocka_unit_test_setup_teardown(test_thre_interrupt, setup_com1, teardown_uart),
        cmocka_unit_test_setup_teardown(test_char_timeout, setup_com1, teardown_uart),
        cmocka_unit_test_setup_teardown(test_no_timeout_without_fifo, setup_com1, teardown_uart),
        cmocka_unit_test_setup_teardown(test_out2_gating, setup_com1, teardown_uart),
        cmocka_unit_test_setup_teardown(test_loopback_data, setup_com1, teardown_uart),
        cmocka_unit_test_setup_teardown(test_loopback_modem_lines, setup_com1, teardown_uart),
        cmocka_unit_test_setup_teardown(test_modem_status_interrupt, setup_com1, teardown_uart),
        cmocka_unit_test_setup_teardown(test_overrun, setup_com1, teardown_uart),
        cmocka_unit_test(test_overrun_16450),
        cmocka_unit_test_setup_teardown(test_tx_reaches_driver, setup_com1, teardown_uart),
        cmocka_unit_test(test_no_driver),
        cmocka_unit_test_setup_teardown(test_flow_control, setup_com1, teardown_uart),
        cmocka_unit_test(test_instance_defaults),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_construct_failures),
        cmocka_unit_test_setup_teardown(test_access_sizes, setup_com1, teardown_uart),
        cmocka_unit_test_setup_teardown(test_linux_autoconfig, setup_com1, teardown_uart),
        cmocka_unit_test_setup_teardown(test_seabios_detect, setup_com1, teardown_uart),
        cmocka_unit_test_setup_teardown(test_save_load_roundtrip, setup_com1, teardown_uart),
        cmocka_unit_test_setup_teardown(test_save_load_pending, setup_com1, teardown_uart),
        cmocka_unit_test_setup_teardown(test_save_format_pinned, setup_com1, teardown_uart),
        cmocka_unit_test_setup_teardown(test_load_hostile, setup_com1, teardown_uart),
    };
    return cmocka_run_group_tests_name("uart16550", tests, NULL, NULL);
}
