/* uart16550.c — the 16550A UART, as a modvm device plugin.
 *
 * Spec: 16550A, National Semiconductor PC16550D / TI TL16C550 datasheet ("UART with FIFOs"). The
 * model is what Linux's 8250 driver (autoconfig, size_fifo, the THRE tests in startup) and SeaBIOS
 * (detect_serial, polled debug output) probe for: eight registers at iobase..iobase+7, the divisor
 * latch behind LCR.DLAB, 16-byte receive and transmit FIFOs (FCR), IIR priorities with the FIFO
 * character timeout, MSR deltas and the internal loopback of MCR bit 4. With the `fifo` option off
 * it is a 16450: no FIFOs, FCR writes ignored, IIR bits 7:6 read 0.
 *
 * PC wiring: the UART's INTR pin reaches the interrupt controller through a buffer enabled by the
 * OUT2 pin, so the IRQ line is (interrupt pending && MCR.OUT2 && !MCR.LOOP) — in loopback the
 * datasheet forces the OUT pins inactive, which disconnects INTR on a PC just the same.
 *
 * Attacker model: every register access comes from the guest; every saved state comes from a file.
 * Indices into the FIFOs are bounded by UART_FIFO_SIZE everywhere (push/pop wrap with `% SIZE`) and
 * a loaded state is checked in full before any of it is used. The host side (the char driver) is
 * trusted to follow drv.h, but a driver handing more bytes than can_receive() allowed only causes an
 * overrun, as on a real wire. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <modvm/drv.h>
#include <modvm/pdm.h>
#include <modvm/plugin.h>

/* ---- registers (offsets from iobase) and their bits --------------------------------------------- */

#define UART_NPORTS 8u
#define UART_REG_RBR_THR 0u /* DLL when LCR.DLAB */
#define UART_REG_IER 1u     /* DLM when LCR.DLAB */
#define UART_REG_IIR_FCR 2u
#define UART_REG_LCR 3u
#define UART_REG_MCR 4u
#define UART_REG_LSR 5u
#define UART_REG_MSR 6u
#define UART_REG_SCR 7u

#define UART_IER_ERBFI 0x01u /* received data available (and character timeout) */
#define UART_IER_ETBEI 0x02u /* transmitter holding register empty */
#define UART_IER_ELSI 0x04u  /* receiver line status */
#define UART_IER_EDSSI 0x08u /* modem status */
#define UART_IER_MASK 0x0fu  /* bits 7:4 read 0 on a 16550A (Linux's XScale/UUE probe relies on it) */

#define UART_IIR_NONE 0x01u /* bit 0 set: no interrupt pending */
#define UART_IIR_MSR 0x00u
#define UART_IIR_THRE 0x02u
#define UART_IIR_RDA 0x04u
#define UART_IIR_RLS 0x06u
#define UART_IIR_CTI 0x0cu  /* character timeout */
#define UART_IIR_FIFO 0xc0u /* bits 7:6: FIFOs enabled */

#define UART_FCR_ENABLE 0x01u
#define UART_FCR_CLEAR_RX 0x02u
#define UART_FCR_CLEAR_TX 0x04u
#define UART_FCR_DMA 0x08u     /* only changes the RXRDY/TXRDY pins, which a PC leaves unconnected */
#define UART_FCR_TRIGGER 0xc0u /* receive trigger level: 1, 4, 8, 14 bytes */
#define UART_FCR_KEPT (UART_FCR_ENABLE | UART_FCR_DMA | UART_FCR_TRIGGER)

#define UART_LCR_WLS 0x03u  /* word length - 5 */
#define UART_LCR_STB 0x04u  /* 1.5 (5-bit words) or 2 stop bits */
#define UART_LCR_PEN 0x08u  /* parity bit present */
#define UART_LCR_DLAB 0x80u /* offsets 0/1 address the divisor latch */

#define UART_MCR_DTR 0x01u
#define UART_MCR_RTS 0x02u
#define UART_MCR_OUT1 0x04u
#define UART_MCR_OUT2 0x08u
#define UART_MCR_LOOP 0x10u
#define UART_MCR_MASK 0x1fu /* bits 7:5 read 0 on a 16550A */

#define UART_LSR_DR 0x01u
#define UART_LSR_OE 0x02u
#define UART_LSR_PE 0x04u
#define UART_LSR_FE 0x08u
#define UART_LSR_BI 0x10u
#define UART_LSR_THRE 0x20u
#define UART_LSR_TEMT 0x40u
#define UART_LSR_RXFE 0x80u /* FIFO mode: an error (PE/FE/BI) somewhere in the RX FIFO */
#define UART_LSR_BYTE_ERR (UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)
#define UART_LSR_INT_ERR (UART_LSR_OE | UART_LSR_BYTE_ERR)
#define UART_LSR_LATCHED (UART_LSR_INT_ERR | UART_LSR_RXFE)

#define UART_MSR_DCTS 0x01u
#define UART_MSR_DDSR 0x02u
#define UART_MSR_TERI 0x04u /* RI went from on to off */
#define UART_MSR_DDCD 0x08u
#define UART_MSR_DELTA 0x0fu
#define UART_MSR_CTS 0x10u
#define UART_MSR_DSR 0x20u
#define UART_MSR_RI 0x40u
#define UART_MSR_DCD 0x80u

#define UART_FIFO_SIZE 16u
#define UART_CLOCK_HZ 1843200u     /* the PC's 1.8432 MHz crystal: baud = 115200 / divisor */
#define UART_RESET_DIVISOR 12u     /* 9600 baud, what BIOSes program; the chip leaves it undefined */
#define UART_TIMEOUT_CHARS 4u      /* datasheet: RX timeout after 4 character times */
#define UART_MAX_INSTANCES 4u
#define UART_MAX_IRQ 23u
#define UART_MAX_IOBASE (0x10000u - UART_NPORTS)
#define UART_SAVED_STATE_V1 1u

/* ---- state -------------------------------------------------------------------------------------- */

/* A 16-entry ring. `err` holds the PE/FE/BI bits of each received byte (unused for TX). */
struct uart_fifo {
    uint8_t data[UART_FIFO_SIZE];
    uint8_t err[UART_FIFO_SIZE];
    uint8_t head;  /* index of the oldest byte, < UART_FIFO_SIZE */
    uint8_t count; /* bytes held, <= UART_FIFO_SIZE */
};

/* The instance data (dev->data, zeroed by the core). */
struct uart_state {
    struct modvm_dev *dev;
    /* configuration, fixed after construct */
    uint16_t iobase;
    uint8_t irq;
    bool fifo_capable;
    /* guest-visible registers */
    uint8_t ier, lcr, mcr, fcr, scr;
    uint16_t divisor;
    uint8_t rbr;       /* last byte read: what RBR returns once the receiver is empty */
    uint8_t lsr_err;   /* latched LSR bits (UART_LSR_LATCHED), cleared by reading LSR */
    uint8_t msr_delta; /* MSR bits 3:0, cleared by reading MSR */
    bool thr_ipending; /* THRE interrupt source armed (only ever set while IER.ETBEI) */
    bool timeout_ipending;
    struct uart_fifo rx, tx;
    /* plumbing */
    bool irq_level;     /* what we last drove onto the line */
    bool rx_owe_ready;  /* can_receive() said 0: call receive_ready once there is room */
    modvm_pio_handle pio;
    modvm_timer_handle timeout_timer;
    struct modvm_drv *drv;
    const struct modvm_char_conn *conn;
};

/* ---- FIFOs -------------------------------------------------------------------------------------- */

/* Empties a FIFO. */
static void uart_fifo_clear(struct uart_fifo *f)
{
    memset(f, 0, sizeof(*f));
}

/* Appends a byte; the caller has checked there is room. */
static void uart_fifo_push(struct uart_fifo *f, uint8_t byte, uint8_t err)
{
    unsigned tail = (f->head + f->count) % UART_FIFO_SIZE;
    f->data[tail] = byte;
    f->err[tail] = err;
    f->count++;
}

/* Removes and returns the oldest byte; the caller has checked the FIFO is not empty. */
static uint8_t uart_fifo_pop(struct uart_fifo *f)
{
    uint8_t byte = f->data[f->head];
    f->err[f->head] = 0;
    f->head = (uint8_t)((f->head + 1) % UART_FIFO_SIZE);
    f->count--;
    return byte;
}

/* True when any byte held carries a PE/FE/BI error. */
static bool uart_fifo_has_error(const struct uart_fifo *f)
{
    for (unsigned i = 0; i < f->count; i++)
        if (f->err[(f->head + i) % UART_FIFO_SIZE])
            return true;
    return false;
}

/* True when FCR has switched the FIFOs on. */
static bool uart_fifo_on(const struct uart_state *s)
{
    return (s->fcr & UART_FCR_ENABLE) != 0;
}

/* Bytes each direction holds at most: the FIFO, or the single RBR/THR of 16450 mode. */
static unsigned uart_fifo_capacity(const struct uart_state *s)
{
    return uart_fifo_on(s) ? UART_FIFO_SIZE : 1u;
}

/* The receive trigger level of FCR bits 7:6. */
static unsigned uart_rx_trigger(const struct uart_state *s)
{
    static const uint8_t levels[4] = {1, 4, 8, 14};
    return levels[(s->fcr & UART_FCR_TRIGGER) >> 6];
}

/* ---- interrupts --------------------------------------------------------------------------------- */

/* The highest-priority pending interrupt as IIR bits 3:0 (datasheet table "Interrupt Control
 * Functions"): line status > received data / timeout > THR empty > modem status. */
static uint8_t uart_iir_id(const struct uart_state *s)
{
    if ((s->ier & UART_IER_ELSI) && (s->lsr_err & UART_LSR_INT_ERR))
        return UART_IIR_RLS;
    if (s->ier & UART_IER_ERBFI) {
        if (s->timeout_ipending)
            return UART_IIR_CTI;
        if (s->rx.count > 0 && (!uart_fifo_on(s) || s->rx.count >= uart_rx_trigger(s)))
            return UART_IIR_RDA;
    }
    if ((s->ier & UART_IER_ETBEI) && s->thr_ipending)
        return UART_IIR_THRE;
    if ((s->ier & UART_IER_EDSSI) && s->msr_delta)
        return UART_IIR_MSR;
    return UART_IIR_NONE;
}

/* The level of the ISA IRQ line: INTR gated by the OUT2 pin as on every PC serial port (Linux
 * sets OUT2 before it expects interrupts; DOS-era code relies on clearing it to silence a port). */
static bool uart_irq_line(const struct uart_state *s)
{
    if (!(s->mcr & UART_MCR_OUT2) || (s->mcr & UART_MCR_LOOP))
        return false;
    return uart_iir_id(s) != UART_IIR_NONE;
}

/* Drives the IRQ line when its level changed (or always, with `force`, after a load). */
static void uart_irq_update(struct uart_state *s, bool force)
{
    bool level = uart_irq_line(s);
    if (level == s->irq_level && !force)
        return;
    s->irq_level = level;
    modvm_dev_irq_set(s->dev, s->irq, level ? MODVM_IRQ_HIGH : MODVM_IRQ_LOW);
}

/* ---- the receive timeout ------------------------------------------------------------------------ */

/* Nanoseconds one frame takes on the wire at the programmed divisor and LCR: start bit, 5-8 data
 * bits, optional parity, 1/1.5/2 stop bits; counted in half bits for the 1.5. */
static uint64_t uart_char_time_ns(const struct uart_state *s)
{
    unsigned data_bits = 5u + (s->lcr & UART_LCR_WLS);
    unsigned parity = (s->lcr & UART_LCR_PEN) ? 1u : 0u;
    unsigned stop_half = !(s->lcr & UART_LCR_STB) ? 2u : (data_bits == 5u ? 3u : 4u);
    uint64_t half_bits = 2u * (1u + data_bits + parity) + stop_half;
    /* Divisor 0 makes the baud generator's counter wrap: it divides by 65536. */
    uint64_t divisor = s->divisor ? s->divisor : 0x10000u;
    /* bit time = 16 * divisor / UART_CLOCK_HZ seconds */
    return half_bits * divisor * 16u * 1000000000u / (2u * UART_CLOCK_HZ);
}

/* Restarts the character-timeout timer: called whenever a byte enters the RX FIFO or the guest
 * reads one, which also clears a pending timeout (datasheet: "the timer is reset"). */
static void uart_timeout_restart(struct uart_state *s)
{
    s->timeout_ipending = false;
    if (!s->timeout_timer)
        return;
    if (!uart_fifo_on(s) || s->rx.count == 0) {
        (void)modvm_timer_stop(s->dev, s->timeout_timer);
        return;
    }
    uint64_t now = modvm_clock_now(s->dev, MODVM_CLOCK_VIRTUAL);
    (void)modvm_timer_arm(s->dev, s->timeout_timer, now + UART_TIMEOUT_CHARS * uart_char_time_ns(s));
}

/* Timer callback (modvm_timer_fn): four character times passed without RX FIFO activity. */
static void uart_timeout_fire(struct modvm_dev *dev, void *user)
{
    struct uart_state *s = user;
    (void)dev;
    if (uart_fifo_on(s) && s->rx.count > 0) {
        s->timeout_ipending = true;
        uart_irq_update(s, false);
    }
}

/* ---- receiver ----------------------------------------------------------------------------------- */

/* Moves the error bits of the byte now at the head of the receiver into LSR: the datasheet reveals
 * a byte's PE/FE/BI when it reaches the top of the FIFO. */
static void uart_rx_reveal_head(struct uart_state *s)
{
    if (s->rx.count > 0)
        s->lsr_err |= s->rx.err[s->rx.head];
}

/* A byte (with PE/FE/BI bits `err`) completes in the receiver shift register. */
static void uart_rx_push(struct uart_state *s, uint8_t byte, uint8_t err)
{
    if (s->rx.count >= uart_fifo_capacity(s)) {
        s->lsr_err |= UART_LSR_OE;
        /* 16450 mode: the new byte overwrites the unread RBR. FIFO mode: it is lost, the FIFO
         * keeps its contents (datasheet, LSR bit 1). */
        if (!uart_fifo_on(s)) {
            s->rx.data[s->rx.head] = byte;
            s->rx.err[s->rx.head] = err;
            s->lsr_err |= err;
        }
        return;
    }
    uart_fifo_push(&s->rx, byte, err);
    if (s->rx.count == 1)
        uart_rx_reveal_head(s);
    if (err && uart_fifo_on(s))
        s->lsr_err |= UART_LSR_RXFE;
    uart_timeout_restart(s);
}

/* The guest reads RBR: the oldest byte, or the last one again when the receiver is empty. */
static uint8_t uart_rx_pop(struct uart_state *s)
{
    if (s->rx.count == 0)
        return s->rbr;
    s->rbr = uart_fifo_pop(&s->rx);
    uart_rx_reveal_head(s);
    uart_timeout_restart(s);
    return s->rbr;
}

/* Empties the receiver (FCR bit 1, FIFO mode changes). LSR's latched bits stay, as on the chip,
 * except the FIFO-error summary, which has nothing left to summarise. */
static void uart_rx_clear(struct uart_state *s)
{
    uart_fifo_clear(&s->rx);
    s->lsr_err &= (uint8_t)~UART_LSR_RXFE;
    uart_timeout_restart(s);
}

/* ---- transmitter -------------------------------------------------------------------------------- */

/* Sends everything in the TX FIFO at once. There is no baud-rate pacing: guests only poll THRE (or
 * wait for its interrupt) before writing more, so finishing each byte instantly is indistinguishable
 * to them — and pacing at 9600 or even 115200 baud would slow every boot that logs to the console.
 * In loopback the bytes go to our own receiver; with no driver attached they are dropped, as on an
 * unconnected port. */
static void uart_tx_drain(struct uart_state *s)
{
    uint8_t buf[UART_FIFO_SIZE];
    size_t n = 0;
    bool had_bytes = s->tx.count > 0;

    while (s->tx.count > 0) {
        uint8_t byte = uart_fifo_pop(&s->tx);
        if (s->mcr & UART_MCR_LOOP)
            uart_rx_push(s, byte, 0);
        else
            buf[n++] = byte;
    }
    /* A backend that takes fewer bytes drops the rest, like a wire without flow control. */
    if (n > 0 && s->conn)
        (void)s->conn->write(s->drv, buf, n);
    if (had_bytes)
        s->thr_ipending = (s->ier & UART_IER_ETBEI) != 0;
}

/* The guest writes THR. The THRE interrupt drops before the byte leaves and rises again once it
 * has: an edge-triggered PIC sees a fresh edge per byte, as with real hardware (a guest that sends
 * one byte per interrupt and does not re-read IIR depends on it). */
static void uart_tx_write(struct uart_state *s, uint8_t byte)
{
    s->thr_ipending = false;
    uart_irq_update(s, false);
    /* Cannot be full: every write drains it. Checked anyway so the index stays bounded. */
    if (s->tx.count < UART_FIFO_SIZE)
        uart_fifo_push(&s->tx, byte, 0);
    uart_tx_drain(s);
}

/* Empties the transmitter (FCR bit 2); a FIFO that held bytes becoming empty raises THRE. */
static void uart_tx_clear(struct uart_state *s)
{
    bool had_bytes = s->tx.count > 0;
    uart_fifo_clear(&s->tx);
    if (had_bytes)
        s->thr_ipending = (s->ier & UART_IER_ETBEI) != 0;
}

/* ---- modem lines -------------------------------------------------------------------------------- */

/* The modem-status inputs (MSR bits 7:4). In loopback they are wired to MCR's outputs; otherwise
 * the host end behaves as an always-ready null-modem peer (modvm.char.1 carries no modem lines). */
static uint8_t uart_msr_inputs(const struct uart_state *s)
{
    if (!(s->mcr & UART_MCR_LOOP))
        return UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD;
    uint8_t in = 0;
    if (s->mcr & UART_MCR_RTS)
        in |= UART_MSR_CTS;
    if (s->mcr & UART_MCR_DTR)
        in |= UART_MSR_DSR;
    if (s->mcr & UART_MCR_OUT1)
        in |= UART_MSR_RI;
    if (s->mcr & UART_MCR_OUT2)
        in |= UART_MSR_DCD;
    return in;
}

/* Latches MSR's delta bits for an input change from `old` to `now`. */
static void uart_msr_note_change(struct uart_state *s, uint8_t old, uint8_t now)
{
    uint8_t changed = old ^ now;
    if (changed & UART_MSR_CTS)
        s->msr_delta |= UART_MSR_DCTS;
    if (changed & UART_MSR_DSR)
        s->msr_delta |= UART_MSR_DDSR;
    if (changed & UART_MSR_DCD)
        s->msr_delta |= UART_MSR_DDCD;
    if ((old & UART_MSR_RI) && !(now & UART_MSR_RI))
        s->msr_delta |= UART_MSR_TERI;
}

/* ---- register reads ----------------------------------------------------------------------------- */

/* IIR read: reporting THRE is what acknowledges it (datasheet: "reading IIR if source"). */
static uint8_t uart_read_iir(struct uart_state *s)
{
    uint8_t id = uart_iir_id(s);
    if (id == UART_IIR_THRE)
        s->thr_ipending = false;
    return (uint8_t)(id | (uart_fifo_on(s) ? UART_IIR_FIFO : 0u));
}

/* LSR read: clears OE/PE/FE/BI; RXFE stays while an error byte remains in the FIFO. Transmission
 * is instantaneous, so THRE and TEMT are set whenever the TX FIFO is empty. */
static uint8_t uart_read_lsr(struct uart_state *s)
{
    uint8_t v = s->lsr_err;
    if (s->rx.count > 0)
        v |= UART_LSR_DR;
    if (s->tx.count == 0)
        v |= UART_LSR_THRE | UART_LSR_TEMT;
    s->lsr_err = (uart_fifo_on(s) && uart_fifo_has_error(&s->rx)) ? UART_LSR_RXFE : 0u;
    return v;
}

/* MSR read: current inputs plus deltas; reading clears the deltas. */
static uint8_t uart_read_msr(struct uart_state *s)
{
    uint8_t v = (uint8_t)(uart_msr_inputs(s) | s->msr_delta);
    s->msr_delta = 0;
    return v;
}

/* A guest read of register `reg` with its side effects. */
static uint8_t uart_read_reg(struct uart_state *s, unsigned reg)
{
    bool dlab = (s->lcr & UART_LCR_DLAB) != 0;
    switch (reg) {
    case UART_REG_RBR_THR:
        return dlab ? (uint8_t)s->divisor : uart_rx_pop(s);
    case UART_REG_IER:
        return dlab ? (uint8_t)(s->divisor >> 8) : s->ier;
    case UART_REG_IIR_FCR:
        return uart_read_iir(s);
    case UART_REG_LCR:
        return s->lcr;
    case UART_REG_MCR:
        return s->mcr;
    case UART_REG_LSR:
        return uart_read_lsr(s);
    case UART_REG_MSR:
        return uart_read_msr(s);
    case UART_REG_SCR:
    default:
        return s->scr;
    }
}

/* ---- register writes ---------------------------------------------------------------------------- */

/* IER write. Setting ETBEI while THR is empty raises THRE at once (Linux's UART_BUG_THRE/TXEN
 * probes and SeaBIOS's detect_serial check exactly this); clearing it drops a pending THRE. Only
 * the rising edge re-samples, like QEMU and Bochs: Windows toggles IER to re-arm it. */
static void uart_write_ier(struct uart_state *s, uint8_t val)
{
    uint8_t changed = (uint8_t)((s->ier ^ val) & UART_IER_MASK);
    s->ier = val & UART_IER_MASK;
    if (changed & UART_IER_ETBEI)
        s->thr_ipending = (s->ier & UART_IER_ETBEI) && s->tx.count == 0;
}

/* FCR write. FIFO enable must be set for the other bits to take; changing it clears both FIFOs.
 * A 16450 has no FCR: the write is ignored. */
static void uart_write_fcr(struct uart_state *s, uint8_t val)
{
    if (!s->fifo_capable)
        return;
    if ((val ^ s->fcr) & UART_FCR_ENABLE) {
        s->fcr = val & UART_FCR_ENABLE; /* capacities change: clear under the new mode */
        uart_rx_clear(s);
        uart_tx_clear(s);
    }
    if (!(val & UART_FCR_ENABLE)) {
        s->fcr = 0;
        return;
    }
    s->fcr = val & UART_FCR_KEPT;
    if (val & UART_FCR_CLEAR_RX)
        uart_rx_clear(s);
    if (val & UART_FCR_CLEAR_TX)
        uart_tx_clear(s);
}

/* MCR write: loopback and the OUT/RTS/DTR outputs, which in loopback feed MSR. */
static void uart_write_mcr(struct uart_state *s, uint8_t val)
{
    uint8_t old_inputs = uart_msr_inputs(s);
    s->mcr = val & UART_MCR_MASK;
    uart_msr_note_change(s, old_inputs, uart_msr_inputs(s));
}

/* A guest write of `val` to register `reg`. LSR and MSR writes (factory test on the chip) are
 * ignored; no guest relies on them. */
static void uart_write_reg(struct uart_state *s, unsigned reg, uint8_t val)
{
    bool dlab = (s->lcr & UART_LCR_DLAB) != 0;
    switch (reg) {
    case UART_REG_RBR_THR:
        if (dlab)
            s->divisor = (uint16_t)((s->divisor & 0xff00u) | val);
        else
            uart_tx_write(s, val);
        break;
    case UART_REG_IER:
        if (dlab)
            s->divisor = (uint16_t)((s->divisor & 0x00ffu) | (unsigned)val << 8);
        else
            uart_write_ier(s, val);
        break;
    case UART_REG_IIR_FCR:
        uart_write_fcr(s, val);
        break;
    case UART_REG_LCR:
        s->lcr = val;
        break;
    case UART_REG_MCR:
        uart_write_mcr(s, val);
        break;
    case UART_REG_SCR:
        s->scr = val;
        break;
    default:
        break;
    }
}

/* ---- the char-driver side ----------------------------------------------------------------------- */

/* modvm_char_port.can_receive: room in the receiver. None in loopback, where SIN is disconnected
 * (the host's bytes wait rather than vanish). Saying 0 obliges us to call receive_ready later. */
static size_t uart_can_receive(void *ctx)
{
    struct uart_state *s = ctx;
    size_t room = 0;
    if (!(s->mcr & UART_MCR_LOOP))
        room = uart_fifo_capacity(s) - s->rx.count;
    if (room == 0)
        s->rx_owe_ready = true;
    return room;
}

/* modvm_char_port.receive: bytes from the outside world. More than can_receive() allowed
 * overruns (OE), exactly as a sender ignoring flow control would. */
static void uart_receive(void *ctx, const uint8_t *buf, size_t len)
{
    struct uart_state *s = ctx;
    if (s->mcr & UART_MCR_LOOP)
        return; /* SIN is disconnected in loopback */
    for (size_t i = 0; i < len; i++)
        uart_rx_push(s, buf[i], 0);
    uart_irq_update(s, false);
}

static const struct modvm_char_port uart_char_port = {
    .version = MODVM_CHAR_PORT_VERSION,
    .can_receive = uart_can_receive,
    .receive = uart_receive,
};

/* Tells the driver it may deliver again, if we refused it earlier and now have room. Called last
 * in every guest access: the driver may call uart_receive() from inside receive_ready. */
static void uart_kick_driver(struct uart_state *s)
{
    if (!s->rx_owe_ready || !s->conn)
        return;
    if ((s->mcr & UART_MCR_LOOP) || s->rx.count >= uart_fifo_capacity(s))
        return;
    s->rx_owe_ready = false;
    s->conn->receive_ready(s->drv);
}

/* ---- port I/O ----------------------------------------------------------------------------------- */

/* modvm_pio_in_fn: a guest read of iobase+offset. The line is updated before the driver may
 * deliver more, so a read that drains below the trigger level shows as an edge. */
static uint32_t uart_pio_in(struct modvm_dev *dev, void *user, uint16_t offset, unsigned size)
{
    struct uart_state *s = user;
    if (size != 1 || offset >= UART_NPORTS) {
        modvm_dev_guest_error(dev, "%u-byte read at offset %u (8 one-byte registers)", size, offset);
        return 0xffffffffu;
    }
    uint8_t v = uart_read_reg(s, offset);
    uart_irq_update(s, false);
    uart_kick_driver(s);
    return v;
}

/* modvm_pio_out_fn: a guest write of iobase+offset. */
static void uart_pio_out(struct modvm_dev *dev, void *user, uint16_t offset, uint32_t value, unsigned size)
{
    struct uart_state *s = user;
    if (size != 1 || offset >= UART_NPORTS) {
        modvm_dev_guest_error(dev, "%u-byte write at offset %u (8 one-byte registers)", size, offset);
        return;
    }
    uart_write_reg(s, offset, (uint8_t)value);
    uart_irq_update(s, false);
    uart_kick_driver(s);
}

static const struct modvm_pio_ops uart_pio_ops = {
    .version = MODVM_PIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_1, /* wider accesses are split into bytes by the core */
    .in = uart_pio_in,
    .out = uart_pio_out,
};

/* ---- lifecycle ---------------------------------------------------------------------------------- */

/* Power-on register values (datasheet table "UART Reset Configuration"); the divisor, undefined on
 * the chip, gets 9600 baud. Does not touch the IRQ line or the timer. */
static void uart_reset_regs(struct uart_state *s)
{
    s->ier = 0;
    s->lcr = 0;
    s->mcr = 0;
    s->fcr = 0;
    s->scr = 0;
    s->divisor = UART_RESET_DIVISOR;
    s->rbr = 0;
    s->lsr_err = 0;
    s->msr_delta = 0;
    s->thr_ipending = false;
    s->timeout_ipending = false;
    uart_fifo_clear(&s->rx);
    uart_fifo_clear(&s->tx);
}

/* Reads an unsigned option with a per-instance default (used when the schema gives none). */
static int uart_cfg_uint(struct modvm_dev *dev, const char *key, uint64_t dflt, uint64_t max, uint64_t *out)
{
    int rc = modvm_dev_cfg_uint(dev, key, out);
    if (rc == -ENOENT) {
        if (dev->instance >= UART_MAX_INSTANCES)
            return modvm_dev_set_error(dev, -EINVAL, "option '%s' has no default for instance %u; give one",
                                       key, dev->instance);
        *out = dflt;
        return 0;
    }
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "cannot read option '%s' (error %d)", key, rc);
    if (*out > max)
        return modvm_dev_set_error(dev, -EINVAL, "option '%s' %llu is above %llu", key,
                                   (unsigned long long)*out, (unsigned long long)max);
    return 0;
}

/* Reads iobase, irq and fifo. COM1..COM4 defaults follow the instance number. */
static int uart_read_config(struct modvm_dev *dev, struct uart_state *s)
{
    static const uint16_t iobases[UART_MAX_INSTANCES] = {0x3f8, 0x2f8, 0x3e8, 0x2e8};
    static const uint8_t irqs[UART_MAX_INSTANCES] = {4, 3, 4, 3};
    unsigned i = dev->instance < UART_MAX_INSTANCES ? dev->instance : 0;
    uint64_t iobase, irq;
    bool fifo;
    int rc;

    if ((rc = uart_cfg_uint(dev, "iobase", iobases[i], UART_MAX_IOBASE, &iobase)) != 0)
        return rc;
    if (iobase % UART_NPORTS)
        return modvm_dev_set_error(dev, -EINVAL, "option 'iobase' 0x%llx is not 8-byte aligned",
                                   (unsigned long long)iobase);
    if ((rc = uart_cfg_uint(dev, "irq", irqs[i], UART_MAX_IRQ, &irq)) != 0)
        return rc;
    if ((rc = modvm_dev_cfg_bool(dev, "fifo", &fifo)) != 0)
        return modvm_dev_set_error(dev, rc, "cannot read option 'fifo' (error %d)", rc);
    s->iobase = (uint16_t)iobase;
    s->irq = (uint8_t)irq;
    s->fifo_capable = fifo;
    return 0;
}

/* Attaches the char driver at LUN 0; none configured is fine (output is dropped). */
static int uart_attach_driver(struct modvm_dev *dev, struct uart_state *s)
{
    struct modvm_drv *drv = NULL;
    const void *down = NULL;
    int rc = modvm_dev_driver_attach(dev, 0, MODVM_IFACE_CHAR, &uart_char_port, s, &drv, &down);
    if (rc == -ENOENT) {
        modvm_dev_log(dev, MODVM_LOG_DEBUG, "no serial backend at LUN 0: output is dropped");
        return 0;
    }
    if (rc != 0)
        return rc; /* the core has said what went wrong with the backend */
    const struct modvm_char_conn *conn = down;
    /* We use only the 1.0 fields, so any minor of major 1 will do. */
    if (!conn || MODVM_VERSION_MAGIC(conn->version) != MODVM_VERSION_MAGIC(MODVM_CHAR_CONN_VERSION) ||
        MODVM_VERSION_MAJOR(conn->version) != MODVM_VERSION_MAJOR(MODVM_CHAR_CONN_VERSION) || !conn->write ||
        !conn->receive_ready)
        return modvm_dev_set_error(dev, -EINVAL, "the serial backend at LUN 0 speaks another char interface");
    s->drv = drv;
    s->conn = conn;
    return 0;
}

/* Devreg construct callback: config, timer, ports, backend. */
static int uart_construct(struct modvm_dev *dev)
{
    struct uart_state *s = dev->data;
    int rc;

    s->dev = dev;
    if ((rc = uart_read_config(dev, s)) != 0)
        return rc;
    uart_reset_regs(s);
    rc = modvm_timer_create(dev, MODVM_CLOCK_VIRTUAL, uart_timeout_fire, s, "rx timeout", &s->timeout_timer);
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "cannot create the receive-timeout timer (error %d)", rc);
    rc = modvm_pio_register(dev, s->iobase, UART_NPORTS, &uart_pio_ops, s, "uart16550", &s->pio);
    if (rc != 0)
        return rc; /* the core's message names the device that holds the ports */
    return uart_attach_driver(dev, s);
}

/* Devreg destruct callback. Copes with a construct that stopped anywhere (handles start NULL). The
 * driver belongs to the core, which destroys it with the device. */
static void uart_destruct(struct modvm_dev *dev)
{
    struct uart_state *s = dev->data;
    modvm_pio_destroy(dev, s->pio);
    s->pio = NULL;
    modvm_timer_destroy(dev, s->timeout_timer);
    s->timeout_timer = NULL;
    s->conn = NULL;
    s->drv = NULL;
}

/* Devreg reset callback: the chip's MR pin. */
static void uart_reset(struct modvm_dev *dev)
{
    struct uart_state *s = dev->data;
    uart_reset_regs(s);
    uart_timeout_restart(s); /* stops the timer: the FIFO is empty */
    uart_irq_update(s, false);
    uart_kick_driver(s);
}

/* ---- saved state -------------------------------------------------------------------------------- */

/* Put/get with the first error remembered, so a unit is written or read straight through. */
struct uart_ssm {
    struct modvm_dev *dev;
    struct modvm_ssm *ssm;
    int rc;
};

/* Puts a byte. */
static void uart_put8(struct uart_ssm *c, uint8_t v)
{
    if (c->rc == 0)
        c->rc = modvm_ssm_put_u8(c->dev, c->ssm, v);
}

/* Puts a 16-bit value. */
static void uart_put16(struct uart_ssm *c, uint16_t v)
{
    if (c->rc == 0)
        c->rc = modvm_ssm_put_u16(c->dev, c->ssm, v);
}

/* Puts raw bytes. */
static void uart_put_bytes(struct uart_ssm *c, const uint8_t *buf, size_t len)
{
    if (c->rc == 0)
        c->rc = modvm_ssm_put_bytes(c->dev, c->ssm, buf, len);
}

/* Gets a byte (0 once anything failed). */
static uint8_t uart_get8(struct uart_ssm *c)
{
    uint8_t v = 0;
    int rc = modvm_ssm_get_u8(c->dev, c->ssm, &v);
    if (c->rc == 0)
        c->rc = rc;
    return c->rc == 0 ? v : 0;
}

/* Gets a 16-bit value. */
static uint16_t uart_get16(struct uart_ssm *c)
{
    uint16_t v = 0;
    int rc = modvm_ssm_get_u16(c->dev, c->ssm, &v);
    if (c->rc == 0)
        c->rc = rc;
    return c->rc == 0 ? v : 0;
}

/* Gets raw bytes (zeros once anything failed). */
static void uart_get_bytes(struct uart_ssm *c, uint8_t *buf, size_t len)
{
    int rc = modvm_ssm_get_bytes(c->dev, c->ssm, buf, len);
    if (c->rc == 0)
        c->rc = rc;
    if (c->rc != 0)
        memset(buf, 0, len);
}

/* Saved state v1, in order (67 bytes):
 *   u16 iobase, u8 irq, u8 fifo_capable                        the topology it was saved with
 *   u8 ier, lcr, mcr, fcr, scr; u16 divisor; u8 rbr, lsr_err, msr_delta
 *   u8 flags: bit 0 thr_ipending, bit 1 timeout_ipending
 *   RX: u8 head, u8 count, u8 data[16], u8 err[16]
 *   TX: u8 head, u8 count, u8 data[16]
 * The timeout timer is not saved: a non-empty RX FIFO without a pending timeout re-arms it. */
#define UART_FLAG_THR_IPENDING 0x01u
#define UART_FLAG_TIMEOUT_IPENDING 0x02u

/* Writes the register block; uart_load_regs reads it back in the same order. */
static void uart_save_regs(struct uart_ssm *c, const struct uart_state *s)
{
    uart_put16(c, s->iobase);
    uart_put8(c, s->irq);
    uart_put8(c, s->fifo_capable);
    uart_put8(c, s->ier);
    uart_put8(c, s->lcr);
    uart_put8(c, s->mcr);
    uart_put8(c, s->fcr);
    uart_put8(c, s->scr);
    uart_put16(c, s->divisor);
    uart_put8(c, s->rbr);
    uart_put8(c, s->lsr_err);
    uart_put8(c, s->msr_delta);
    uart_put8(c, (uint8_t)((s->thr_ipending ? UART_FLAG_THR_IPENDING : 0u) |
                           (s->timeout_ipending ? UART_FLAG_TIMEOUT_IPENDING : 0u)));
}

/* Devreg save callback. */
static int uart_save(struct modvm_dev *dev, struct modvm_ssm *ssm)
{
    struct uart_state *s = dev->data;
    struct uart_ssm c = {.dev = dev, .ssm = ssm};

    uart_save_regs(&c, s);
    uart_put8(&c, s->rx.head);
    uart_put8(&c, s->rx.count);
    uart_put_bytes(&c, s->rx.data, UART_FIFO_SIZE);
    uart_put_bytes(&c, s->rx.err, UART_FIFO_SIZE);
    uart_put8(&c, s->tx.head);
    uart_put8(&c, s->tx.count);
    uart_put_bytes(&c, s->tx.data, UART_FIFO_SIZE);
    return c.rc;
}

/* The saved topology, checked against the configured one. */
struct uart_saved_topology {
    uint16_t iobase;
    uint8_t irq, fifo_capable;
};

/* Reads the register block of a v1 unit into `t` (a copy of the live state). */
static void uart_load_regs(struct uart_ssm *c, struct uart_state *t, struct uart_saved_topology *topo,
                           uint8_t *flags)
{
    topo->iobase = uart_get16(c);
    topo->irq = uart_get8(c);
    topo->fifo_capable = uart_get8(c);
    t->ier = uart_get8(c);
    t->lcr = uart_get8(c);
    t->mcr = uart_get8(c);
    t->fcr = uart_get8(c);
    t->scr = uart_get8(c);
    t->divisor = uart_get16(c);
    t->rbr = uart_get8(c);
    t->lsr_err = uart_get8(c);
    t->msr_delta = uart_get8(c);
    *flags = uart_get8(c);
}

/* Reads a FIFO (with per-byte errors when `with_err`). */
static void uart_load_fifo(struct uart_ssm *c, struct uart_fifo *f, bool with_err)
{
    f->head = uart_get8(c);
    f->count = uart_get8(c);
    uart_get_bytes(c, f->data, UART_FIFO_SIZE);
    memset(f->err, 0, sizeof(f->err));
    if (with_err)
        uart_get_bytes(c, f->err, UART_FIFO_SIZE);
}

/* Checks a loaded FIFO: indices in range, count within what the mode allows, error bits valid. */
static int uart_check_fifo(struct modvm_dev *dev, const char *name, const struct uart_fifo *f, unsigned cap)
{
    if (f->head >= UART_FIFO_SIZE)
        return modvm_dev_set_error(dev, -EINVAL, "saved state: %s FIFO head %u is not below %u", name, f->head,
                                   UART_FIFO_SIZE);
    if (f->count > cap)
        return modvm_dev_set_error(dev, -EINVAL, "saved state: %s FIFO count %u exceeds %u", name, f->count, cap);
    for (unsigned i = 0; i < UART_FIFO_SIZE; i++)
        if (f->err[i] & (uint8_t)~UART_LSR_BYTE_ERR)
            return modvm_dev_set_error(dev, -EINVAL, "saved state: %s FIFO error bits 0x%02x are invalid", name,
                                       f->err[i]);
    return 0;
}

/* Checks the registers of a loaded state `t` against what the hardware can hold. */
static int uart_check_regs(struct modvm_dev *dev, const struct uart_state *t)
{
    if (t->ier & (uint8_t)~UART_IER_MASK)
        return modvm_dev_set_error(dev, -EINVAL, "saved state: IER 0x%02x has reserved bits", t->ier);
    if (t->mcr & (uint8_t)~UART_MCR_MASK)
        return modvm_dev_set_error(dev, -EINVAL, "saved state: MCR 0x%02x has reserved bits", t->mcr);
    if ((t->fcr & (uint8_t)~UART_FCR_KEPT) || (t->fcr && !(t->fcr & UART_FCR_ENABLE)) ||
        (t->fcr && !t->fifo_capable))
        return modvm_dev_set_error(dev, -EINVAL, "saved state: FCR 0x%02x is impossible here", t->fcr);
    if (t->lsr_err & (uint8_t)~UART_LSR_LATCHED)
        return modvm_dev_set_error(dev, -EINVAL, "saved state: LSR bits 0x%02x are invalid", t->lsr_err);
    if (t->msr_delta & (uint8_t)~UART_MSR_DELTA)
        return modvm_dev_set_error(dev, -EINVAL, "saved state: MSR deltas 0x%02x are invalid", t->msr_delta);
    return 0;
}

/* Checks everything about a loaded state `t`; the configured device is `s`. */
static int uart_check_loaded(struct modvm_dev *dev, const struct uart_state *s, const struct uart_state *t,
                             const struct uart_saved_topology *topo, uint8_t flags)
{
    int rc;
    if (topo->iobase != s->iobase || topo->irq != s->irq || topo->fifo_capable != (uint8_t)s->fifo_capable)
        return modvm_dev_set_error(dev, -EINVAL,
                                   "saved state is for iobase 0x%x irq %u fifo %s, but the device is configured "
                                   "with iobase 0x%x irq %u fifo %s",
                                   topo->iobase, topo->irq, topo->fifo_capable ? "on" : "off", s->iobase, s->irq,
                                   s->fifo_capable ? "on" : "off");
    if ((rc = uart_check_regs(dev, t)) != 0)
        return rc;
    if (flags & (uint8_t)~(UART_FLAG_THR_IPENDING | UART_FLAG_TIMEOUT_IPENDING))
        return modvm_dev_set_error(dev, -EINVAL, "saved state: flags 0x%02x are invalid", flags);
    if ((rc = uart_check_fifo(dev, "RX", &t->rx, uart_fifo_capacity(t))) != 0)
        return rc;
    if ((rc = uart_check_fifo(dev, "TX", &t->tx, uart_fifo_capacity(t))) != 0)
        return rc;
    if ((flags & UART_FLAG_TIMEOUT_IPENDING) && (!uart_fifo_on(t) || t->rx.count == 0))
        return modvm_dev_set_error(dev, -EINVAL, "saved state: a receive timeout is pending on an empty FIFO");
    return 0;
}

/* Brings the plumbing in line with a freshly loaded state: send what the TX FIFO held, re-arm the
 * timeout, drive the IRQ line, and let the driver deliver again. */
static void uart_post_load(struct uart_state *s)
{
    if (s->timeout_ipending)
        (void)modvm_timer_stop(s->dev, s->timeout_timer);
    else
        uart_timeout_restart(s);
    uart_tx_drain(s); /* after the timer: in loopback this receives, which restarts it */
    uart_irq_update(s, true);
    s->rx_owe_ready = true;
    uart_kick_driver(s);
}

/* Devreg load callback. Reads into a copy, validates it whole, and only then commits: a rejected
 * state leaves the device as it was. */
static int uart_load(struct modvm_dev *dev, struct modvm_ssm *ssm, uint32_t version)
{
    struct uart_state *s = dev->data;
    struct uart_state t = *s;
    struct uart_saved_topology topo;
    struct uart_ssm c = {.dev = dev, .ssm = ssm};
    uint8_t flags;
    int rc;

    if (version != UART_SAVED_STATE_V1)
        return modvm_dev_set_error(dev, -EINVAL, "saved state version %u is not supported (this build reads %u)",
                                   version, UART_SAVED_STATE_V1);
    uart_load_regs(&c, &t, &topo, &flags);
    uart_load_fifo(&c, &t.rx, true);
    uart_load_fifo(&c, &t.tx, false);
    if (c.rc != 0)
        return modvm_dev_set_error(dev, -EINVAL, "saved state is truncated or unreadable (error %d)", c.rc);
    if ((rc = uart_check_loaded(dev, s, &t, &topo, flags)) != 0)
        return rc;
    t.thr_ipending = (flags & UART_FLAG_THR_IPENDING) && (t.ier & UART_IER_ETBEI);
    t.timeout_ipending = (flags & UART_FLAG_TIMEOUT_IPENDING) != 0;
    *s = t;
    uart_post_load(s);
    return 0;
}

/* ---- registration ------------------------------------------------------------------------------- */

static const struct modvm_cfg_option uart_options[] = {
    {.name = "iobase", .type = MODVM_CFG_UINT, .default_value = NULL, .min = 0, .max = UART_MAX_IOBASE,
     .help = "base I/O port, 8-byte aligned (default by instance: 0x3f8, 0x2f8, 0x3e8, 0x2e8 = COM1-COM4)"},
    {.name = "irq", .type = MODVM_CFG_UINT, .default_value = NULL, .min = 0, .max = UART_MAX_IRQ,
     .help = "interrupt line (default by instance: 4, 3, 4, 3)"},
    {.name = "fifo", .type = MODVM_CFG_BOOL, .default_value = "on",
     .help = "16-byte FIFOs (16550A); off behaves as a 16450"},
    {.name = NULL},
};

static const struct modvm_devreg uart_devreg = {
    .version = MODVM_DEVREG_VERSION,
    .flags = 0,
    .name = "uart16550",
    .description = "16550A UART (PC serial port, COM1-COM4)",
    .family = MODVM_DEV_FAMILY_SYSTEM,
    .max_instances = UART_MAX_INSTANCES,
    .instance_size = sizeof(struct uart_state),
    .options = uart_options,
    .saved_state_version = UART_SAVED_STATE_V1,
    .construct = uart_construct,
    .destruct = uart_destruct,
    .reset = uart_reset,
    .save = uart_save,
    .load = uart_load,
    .version_end = MODVM_DEVREG_VERSION,
};

/* The plugin's register_types: one device type. */
static int uart_register(const struct modvm_registrar *reg)
{
    return reg->register_device(reg, &uart_devreg);
}

MODVM_PLUGIN(.name = "uart16550", .plugin_version = "1.0.0", .license = "MIT",
             .description = "16550A UART (NS16550A / TI TL16C550)", .register_types = uart_register);
