/* i8042.c — the PC's keyboard controller (Intel 8042 / PS/2 controller) with a PS/2 keyboard and a
 * PS/2 mouse behind it, as a modvm device plugin.
 *
 * Spec: the IBM PC/AT and PS/2 keyboard-controller interface (IBM "Keyboard and Auxiliary Device
 * Controller", PS/2 Hardware Interface Technical Reference), the IBM PS/2 keyboard command set
 * (Technical Reference, "Keyboard and Auxiliary Device Controller" and "101/102-key keyboard"), and
 * the IBM PS/2 mouse command set ("Pointing Device"), with Microsoft's IntelliMouse extension (sample
 * rates 200, 100, 80 switch the ID to 3 and add a wheel byte). Behaviour checked against what Linux
 * (drivers/input/serio/i8042.c, keyboard/atkbd.c, mouse/psmouse-base.c) and SeaBIOS (src/hw/ps2port.c)
 * send and expect.
 *
 * Ports: 0x60 data, 0x64 status (read) / command (write). IRQ 1 is the keyboard's output-buffer-full
 * line, IRQ 12 the mouse's; both are levels (the controller's P24/P25 pins) gated by the command byte,
 * so a read of 0x60 drops the line and the next byte raises it again: an edge per byte.
 *
 * Data flow. Each device has a 16-byte queue of bytes it wants to send (the keyboard's buffer of the
 * IBM spec); the controller moves one byte at a time into its output buffer when that is empty and
 * the device's interface is enabled (command byte bits 4/5), keyboard first. Bytes from the keyboard
 * pass the set-2 to set-1 translation when command byte bit 6 (XLATE) is set: each byte through the
 * 8042's table, an F0 prefix swallowed and bit 7 set on the next byte. Bytes the controller itself
 * produces (command responses, and the 0xD2/0xD3 "write output buffer" commands) go ahead of the
 * queues and ignore the interface-disable bits, as Linux's AUX loopback probe needs. 0xD2's byte
 * enters as if the keyboard had sent it, so XLATE applies to it (controllers differ here; this is
 * the behaviour that lets a guest or a test inject scan codes through the real receive path). A
 * future keyboard/mouse frontend interface feeds the same device queues.
 *
 * A20 and reset: output port bit 1 is the A20 gate. Under KVM guest memory is never masked at 1 MiB,
 * so the gate is always open; the bit is kept and reads back (0xD0) as written by 0xD1/0xDD/0xDF.
 * Output port bit 0 low (0xD1) or a pulse of it (0xFE, any 0xF0-0xFF with bit 0 clear) asks the VM
 * for a reset (MODVM_VM_REQ_RESET).
 *
 * Not modelled: typematic repeat and key scanning (no key source exists yet; the rate/delay and the
 * LED state are kept and saved), mouse movement (no pointer source yet: stream mode sends nothing,
 * 0xEB reports no motion), the keyboard lock switch (never locked) and parity/timeout errors except
 * the timeout of a command sent to an absent mouse (option mouse=off).
 *
 * Attacker model: every port access comes from the guest and every saved state from a file. Queue
 * indices wrap with `% I8042_QUEUE_SIZE`, a full queue drops bytes rather than growing, controller
 * RAM is addressed with 5 bits, and a loaded state is checked whole before any of it is used. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <modvm/pdm.h>
#include <modvm/plugin.h>

/* ---- ports, registers, commands ----------------------------------------------------------------- */

#define I8042_DATA_PORT 0x60u
#define I8042_CMD_PORT 0x64u
#define I8042_KBD_IRQ 1u
#define I8042_AUX_IRQ 12u

#define I8042_STR_OBF 0x01u      /* output buffer full */
#define I8042_STR_SYS 0x04u      /* system flag: set by self-test or command byte bit 2 */
#define I8042_STR_CMD 0x08u      /* A2: the last write went to port 0x64 */
#define I8042_STR_UNLOCKED 0x10u /* keyboard not inhibited by the key lock */
#define I8042_STR_AUXDATA 0x20u  /* the output buffer holds a mouse byte */
#define I8042_STR_TIMEOUT 0x40u
#define I8042_STR_STORED (I8042_STR_SYS | I8042_STR_CMD)

#define I8042_CTR_KBDINT 0x01u
#define I8042_CTR_AUXINT 0x02u
#define I8042_CTR_SYS 0x04u
#define I8042_CTR_KBDDIS 0x10u
#define I8042_CTR_AUXDIS 0x20u
#define I8042_CTR_XLATE 0x40u
#define I8042_CTR_POWER_ON (I8042_CTR_KBDINT | I8042_CTR_AUXINT) /* what QEMU's controller starts with */

#define I8042_OUT_RESET 0x01u    /* low: CPU reset asserted */
#define I8042_OUT_A20 0x02u
#define I8042_OUT_OBF 0x10u      /* computed on read: keyboard byte waiting (IRQ1 pin) */
#define I8042_OUT_AUXOBF 0x20u   /* computed on read: mouse byte waiting (IRQ12 pin) */
#define I8042_OUT_POWER_ON 0xcfu /* reset high, A20 on, clock/data lines idle high */

#define I8042_CMD_READ_RAM 0x20u  /* 0x20-0x3f: read controller RAM byte cmd & 0x1f (0 = command byte) */
#define I8042_CMD_WRITE_RAM 0x60u /* 0x60-0x7f: write it */
#define I8042_CMD_AUX_DISABLE 0xa7u
#define I8042_CMD_AUX_ENABLE 0xa8u
#define I8042_CMD_AUX_TEST 0xa9u
#define I8042_CMD_SELF_TEST 0xaau
#define I8042_CMD_KBD_TEST 0xabu
#define I8042_CMD_KBD_DISABLE 0xadu
#define I8042_CMD_KBD_ENABLE 0xaeu
#define I8042_CMD_READ_INPUT 0xc0u
#define I8042_CMD_READ_OUTPUT 0xd0u
#define I8042_CMD_WRITE_OUTPUT 0xd1u
#define I8042_CMD_WRITE_KBD_OBUF 0xd2u
#define I8042_CMD_WRITE_AUX_OBUF 0xd3u
#define I8042_CMD_WRITE_AUX 0xd4u
#define I8042_CMD_A20_OFF 0xddu /* HP Vectra style, some controllers */
#define I8042_CMD_A20_ON 0xdfu
#define I8042_CMD_READ_TEST 0xe0u
#define I8042_CMD_PULSE 0xf0u   /* 0xf0-0xff: pulse output port bits 3:0 that are 0 in the command */

#define I8042_SELF_TEST_OK 0x55u
#define I8042_INPUT_PORT 0x80u  /* bit 7: keyboard not inhibited */
#define I8042_RAM_SIZE 32u

/* PS/2 device commands and replies (keyboard and mouse share the common ones). */
#define PS2_ACK 0xfau
#define PS2_RESEND 0xfeu
#define PS2_BAT_OK 0xaau
#define PS2_ECHO 0xeeu
#define PS2_CMD_RESET 0xffu
#define PS2_CMD_RESEND 0xfeu
#define PS2_CMD_SET_DEFAULT 0xf6u
#define PS2_CMD_DISABLE 0xf5u
#define PS2_CMD_ENABLE 0xf4u
#define PS2_CMD_SET_RATE 0xf3u  /* keyboard: typematic rate/delay; mouse: sample rate */
#define PS2_CMD_GET_ID 0xf2u

#define KBD_CMD_SET_LEDS 0xedu
#define KBD_CMD_ECHO 0xeeu
#define KBD_CMD_SCAN_SET 0xf0u
#define KBD_CMD_ALL_TYPES_FIRST 0xf7u /* 0xf7-0xfa: set-3 "all keys" type commands, no argument */
#define KBD_CMD_ALL_TYPES_LAST 0xfau
#define KBD_CMD_KEY_TYPE_FIRST 0xfbu  /* 0xfb-0xfd: set-3 per-key types, followed by a key list */
#define KBD_CMD_KEY_TYPE_LAST 0xfdu
#define KBD_CMD_FIRST 0xedu           /* bytes at or above this are commands, even where an argument is due */
#define KBD_ID_1 0xabu
#define KBD_ID_2 0x83u                /* MF2 keyboard; 0x41 once translated */
#define KBD_TYPEMATIC_DEFAULT 0x2bu   /* 10.9 characters/s after 500 ms */

#define MOUSE_CMD_SET_SCALE11 0xe6u
#define MOUSE_CMD_SET_SCALE21 0xe7u
#define MOUSE_CMD_SET_RES 0xe8u
#define MOUSE_CMD_STATUS 0xe9u
#define MOUSE_CMD_SET_STREAM 0xeau
#define MOUSE_CMD_READ_DATA 0xebu
#define MOUSE_CMD_RESET_WRAP 0xecu
#define MOUSE_CMD_SET_WRAP 0xeeu
#define MOUSE_CMD_SET_REMOTE 0xf0u
#define MOUSE_RATE_DEFAULT 100u
#define MOUSE_RES_DEFAULT 2u      /* 4 counts/mm */
#define MOUSE_ID_PS2 0x00u
#define MOUSE_ID_INTELLI 0x03u
#define MOUSE_STATUS_REMOTE 0x40u
#define MOUSE_STATUS_ENABLED 0x20u
#define MOUSE_STATUS_SCALE21 0x10u
#define MOUSE_PACKET_ALWAYS1 0x08u

#define I8042_QUEUE_SIZE 16u
#define I8042_SAVED_STATE_V1 1u

/* The 8042's scan-code translation, set 2 (index) to set 1 (value), for 0x00-0x7f; 0x80-0xff pass
 * unchanged except 0x83 (F7) and 0x84 (Alt+SysRq). The table is the controller's ROM: the keys of
 * the set-2 map go to their set-1 codes and the unused codes fill the remaining values in order. */
static const uint8_t i8042_xlate[128] = {
    0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
    0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
    0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
    0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
    0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
    0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
    0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
    0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45, 0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
};
#define I8042_XLATE_BREAK 0xf0u /* set-2 break prefix: swallowed, sets bit 7 of the next byte */

/* ---- state -------------------------------------------------------------------------------------- */

/* Bytes a device wants to send to the controller. */
struct i8042_queue {
    uint8_t data[I8042_QUEUE_SIZE];
    uint8_t head;  /* oldest byte, < I8042_QUEUE_SIZE */
    uint8_t count; /* <= I8042_QUEUE_SIZE */
};

/* A byte in (or waiting for) the controller's output buffer. */
struct i8042_obyte {
    bool full;
    bool aux;     /* from the mouse side: status AUXDATA, IRQ 12 */
    bool timeout; /* status TIMEOUT: no device answered */
    uint8_t value;
};

/* The PS/2 keyboard. */
struct i8042_kbd {
    struct i8042_queue q;
    uint8_t scan_set;  /* 1, 2 or 3 */
    uint8_t leds;      /* bits 2:0: caps, num, scroll lock */
    uint8_t typematic; /* rate/delay byte of 0xF3 */
    bool scanning;     /* 0xF4 / 0xF5: whether keys are reported (kept for the future key source) */
    uint8_t pending;   /* command waiting for its argument: 0, 0xED, 0xF0, 0xF3 or 0xFB-0xFD */
    uint8_t last_sent; /* what 0xFE (resend) repeats */
};

/* The PS/2 mouse. */
struct i8042_mouse {
    struct i8042_queue q;
    bool reporting, remote, wrap, scale21;
    uint8_t rate, resolution, id;
    uint8_t pending;   /* 0, 0xE8 or 0xF3 */
    uint8_t knock[3];  /* the last three sample rates, newest last: 200, 100, 80 -> IntelliMouse */
    uint8_t buttons;   /* bits 2:0 middle, right, left as in the packet */
    uint8_t last_sent;
};

/* The instance data (dev->data, zeroed by the core). */
struct i8042_state {
    struct modvm_dev *dev;
    bool mouse_present; /* option `mouse` */
    uint8_t ram[I8042_RAM_SIZE]; /* ram[0] is the command byte */
    uint8_t status;     /* only I8042_STR_STORED bits; the rest is derived */
    uint8_t outport;    /* output port as last written (bits 4/5 are derived on read) */
    uint8_t pending;    /* controller command waiting for its data byte: 0, 0x60-0x7f, 0xD1-0xD4 */
    struct i8042_obyte ob;  /* the output buffer */
    struct i8042_obyte ctl; /* a controller-made byte waiting for the output buffer */
    bool xlate_break;   /* XLATE swallowed an F0: the next keyboard byte gets bit 7 */
    struct i8042_kbd kbd;
    struct i8042_mouse mouse;
    bool irq_kbd, irq_aux; /* levels last driven */
    modvm_pio_handle pio_data, pio_cmd;
};

/* ---- queues ------------------------------------------------------------------------------------- */

/* Empties a queue. */
static void i8042_q_clear(struct i8042_queue *q)
{
    memset(q, 0, sizeof(*q));
}

/* Appends a byte; a full queue drops it (the device's buffer has overrun). */
static void i8042_q_push(struct i8042_queue *q, uint8_t b)
{
    if (q->count >= I8042_QUEUE_SIZE)
        return;
    q->data[(q->head + q->count) % I8042_QUEUE_SIZE] = b;
    q->count++;
}

/* Removes the oldest byte into *b; false when empty. */
static bool i8042_q_pop(struct i8042_queue *q, uint8_t *b)
{
    if (q->count == 0)
        return false;
    *b = q->data[q->head];
    q->head = (uint8_t)((q->head + 1) % I8042_QUEUE_SIZE);
    q->count--;
    return true;
}

/* ---- the controller's output buffer and IRQ lines ----------------------------------------------- */

/* The command byte. */
static uint8_t i8042_ctr(const struct i8042_state *s)
{
    return s->ram[0];
}

/* Drives IRQ 1 and IRQ 12 from the output buffer and the command byte's interrupt enables; only
 * changes are driven, unless `force` (after a load). */
static void i8042_irq_update(struct i8042_state *s, bool force)
{
    bool kbd = s->ob.full && !s->ob.aux && (i8042_ctr(s) & I8042_CTR_KBDINT);
    bool aux = s->ob.full && s->ob.aux && (i8042_ctr(s) & I8042_CTR_AUXINT);
    if (kbd != s->irq_kbd || force) {
        s->irq_kbd = kbd;
        modvm_dev_irq_set(s->dev, I8042_KBD_IRQ, kbd ? MODVM_IRQ_HIGH : MODVM_IRQ_LOW);
    }
    if (aux != s->irq_aux || force) {
        s->irq_aux = aux;
        modvm_dev_irq_set(s->dev, I8042_AUX_IRQ, aux ? MODVM_IRQ_HIGH : MODVM_IRQ_LOW);
    }
}

/* A byte the controller produces: straight into the output buffer when it is empty, otherwise it
 * waits ahead of the devices' bytes (a second one replaces the first, as a one-byte latch would). */
static void i8042_ctl_send(struct i8042_state *s, uint8_t v, bool aux, bool timeout)
{
    s->ctl = (struct i8042_obyte){.full = true, .aux = aux, .timeout = timeout, .value = v};
}

/* One keyboard byte through XLATE: returns false when it was an F0 the translation swallowed. */
static bool i8042_translate(struct i8042_state *s, uint8_t in, uint8_t *out)
{
    if (!(i8042_ctr(s) & I8042_CTR_XLATE)) {
        *out = in;
        return true;
    }
    if (in == I8042_XLATE_BREAK) {
        s->xlate_break = true;
        return false;
    }
    uint8_t v = in < 0x80 ? i8042_xlate[in] : in == 0x83 ? 0x41 : in == 0x84 ? 0x54 : in;
    *out = (uint8_t)(v | (s->xlate_break ? 0x80u : 0u));
    s->xlate_break = false;
    return true;
}

/* Fills an empty output buffer: the controller's own byte first, then the keyboard (through XLATE),
 * then the mouse, each device only while its interface is enabled. */
static void i8042_refill(struct i8042_state *s)
{
    uint8_t b, v;
    if (s->ob.full)
        return;
    if (s->ctl.full) {
        s->ob = s->ctl;
        s->ctl = (struct i8042_obyte){0};
        return;
    }
    if (!(i8042_ctr(s) & I8042_CTR_KBDDIS)) {
        while (i8042_q_pop(&s->kbd.q, &b)) {
            if (i8042_translate(s, b, &v)) {
                s->ob = (struct i8042_obyte){.full = true, .value = v};
                return;
            }
        }
    }
    if (!(i8042_ctr(s) & I8042_CTR_AUXDIS) && i8042_q_pop(&s->mouse.q, &b))
        s->ob = (struct i8042_obyte){.full = true, .aux = true, .value = b};
}

/* After any access: move bytes along, then drive the lines. */
static void i8042_update(struct i8042_state *s)
{
    i8042_refill(s);
    i8042_irq_update(s, false);
}

/* ---- the keyboard ------------------------------------------------------------------------------- */

/* The keyboard sends a byte (remembered for 0xFE). */
static void i8042_kbd_send(struct i8042_state *s, uint8_t b)
{
    i8042_q_push(&s->kbd.q, b);
    s->kbd.last_sent = b;
}

/* Power-on / 0xFF defaults (the BAT reply is the caller's). */
static void i8042_kbd_defaults(struct i8042_kbd *k)
{
    i8042_q_clear(&k->q);
    k->scan_set = 2;
    k->leds = 0;
    k->typematic = KBD_TYPEMATIC_DEFAULT;
    k->scanning = true;
    k->pending = 0;
}

/* The argument of a pending keyboard command (v is below KBD_CMD_FIRST). */
static void i8042_kbd_argument(struct i8042_state *s, uint8_t cmd, uint8_t v)
{
    struct i8042_kbd *k = &s->kbd;
    switch (cmd) {
    case KBD_CMD_SET_LEDS:
        k->leds = v & 0x07u;
        i8042_kbd_send(s, PS2_ACK);
        return;
    case PS2_CMD_SET_RATE:
        k->typematic = v & 0x7fu;
        i8042_kbd_send(s, PS2_ACK);
        return;
    case KBD_CMD_SCAN_SET:
        if (v > 3) {
            i8042_kbd_send(s, PS2_RESEND);
            return;
        }
        i8042_kbd_send(s, PS2_ACK);
        if (v == 0)
            i8042_kbd_send(s, k->scan_set); /* "get": the number, which XLATE turns into 0x43/0x41/0x3f */
        else
            k->scan_set = v;
        return;
    default: /* 0xFB-0xFD: one key of the list; the list goes on until a command */
        k->pending = cmd;
        i8042_kbd_send(s, PS2_ACK);
        return;
    }
}

/* A byte the guest sends to the keyboard (port 0x60 with no controller command pending). */
static void i8042_kbd_write(struct i8042_state *s, uint8_t v)
{
    struct i8042_kbd *k = &s->kbd;
    uint8_t cmd = k->pending;
    k->pending = 0;
    /* A command byte where an argument was due aborts the command (IBM: "the keyboard ... treats
     * the byte as a new command"). */
    if (cmd && v < KBD_CMD_FIRST) {
        i8042_kbd_argument(s, cmd, v);
        return;
    }
    switch (v) {
    case PS2_CMD_RESET:
        i8042_kbd_defaults(k);
        i8042_kbd_send(s, PS2_ACK);
        i8042_kbd_send(s, PS2_BAT_OK);
        return;
    case PS2_CMD_RESEND:
        i8042_q_push(&k->q, k->last_sent);
        return;
    case PS2_CMD_SET_DEFAULT:
    case PS2_CMD_DISABLE:
        i8042_q_clear(&k->q);
        k->typematic = KBD_TYPEMATIC_DEFAULT;
        k->scanning = v == PS2_CMD_SET_DEFAULT;
        i8042_kbd_send(s, PS2_ACK);
        return;
    case PS2_CMD_ENABLE:
        i8042_q_clear(&k->q);
        k->scanning = true;
        i8042_kbd_send(s, PS2_ACK);
        return;
    case PS2_CMD_GET_ID:
        i8042_kbd_send(s, PS2_ACK);
        i8042_kbd_send(s, KBD_ID_1);
        i8042_kbd_send(s, KBD_ID_2);
        return;
    case KBD_CMD_ECHO:
        i8042_kbd_send(s, PS2_ECHO);
        return;
    case KBD_CMD_SET_LEDS:
    case PS2_CMD_SET_RATE:
    case KBD_CMD_SCAN_SET:
        k->pending = v;
        i8042_kbd_send(s, PS2_ACK);
        return;
    default:
        if (v >= KBD_CMD_KEY_TYPE_FIRST && v <= KBD_CMD_KEY_TYPE_LAST) {
            k->pending = v;
            i8042_kbd_send(s, PS2_ACK);
        } else if (v >= KBD_CMD_ALL_TYPES_FIRST && v <= KBD_CMD_ALL_TYPES_LAST) {
            i8042_kbd_send(s, PS2_ACK); /* key types only matter in set 3, which we never scan */
        } else {
            i8042_kbd_send(s, PS2_RESEND); /* not a command: the IBM keyboard asks again */
        }
        return;
    }
}

/* ---- the mouse ---------------------------------------------------------------------------------- */

/* The mouse sends a byte (remembered for 0xFE). */
static void i8042_mouse_send(struct i8042_state *s, uint8_t b)
{
    i8042_q_push(&s->mouse.q, b);
    s->mouse.last_sent = b;
}

/* 0xF6 defaults: sample rate 100, 4 counts/mm, 1:1, reporting off, stream mode. */
static void i8042_mouse_set_defaults(struct i8042_mouse *m)
{
    m->reporting = false;
    m->remote = false;
    m->scale21 = false;
    m->rate = MOUSE_RATE_DEFAULT;
    m->resolution = MOUSE_RES_DEFAULT;
    memset(m->knock, 0, sizeof(m->knock));
}

/* Power-on / 0xFF: the defaults, the plain PS/2 ID, no wrap mode, nothing queued. */
static void i8042_mouse_defaults(struct i8042_mouse *m)
{
    i8042_q_clear(&m->q);
    i8042_mouse_set_defaults(m);
    m->wrap = false;
    m->id = MOUSE_ID_PS2;
    m->pending = 0;
    m->buttons = 0;
}

/* A movement packet of the current protocol (0xEB): buttons, no motion (no pointer source yet). */
static void i8042_mouse_packet(struct i8042_state *s)
{
    i8042_mouse_send(s, (uint8_t)(MOUSE_PACKET_ALWAYS1 | (s->mouse.buttons & 0x07u)));
    i8042_mouse_send(s, 0);
    i8042_mouse_send(s, 0);
    if (s->mouse.id == MOUSE_ID_INTELLI)
        i8042_mouse_send(s, 0);
}

/* The argument of a pending mouse command. */
static void i8042_mouse_argument(struct i8042_state *s, uint8_t cmd, uint8_t v)
{
    struct i8042_mouse *m = &s->mouse;
    if (cmd == PS2_CMD_SET_RATE) {
        m->rate = v;
        m->knock[0] = m->knock[1];
        m->knock[1] = m->knock[2];
        m->knock[2] = v;
        if (m->knock[0] == 200 && m->knock[1] == 100 && m->knock[2] == 80)
            m->id = MOUSE_ID_INTELLI;
    } else { /* MOUSE_CMD_SET_RES */
        m->resolution = v & 0x03u;
    }
    i8042_mouse_send(s, PS2_ACK);
}

/* A byte the guest sends to the mouse (0xD4 then port 0x60). */
static void i8042_mouse_write(struct i8042_state *s, uint8_t v)
{
    struct i8042_mouse *m = &s->mouse;
    if (m->wrap && v != MOUSE_CMD_RESET_WRAP && v != PS2_CMD_RESET) {
        i8042_mouse_send(s, v); /* wrap (echo) mode */
        return;
    }
    if (m->pending) {
        uint8_t cmd = m->pending;
        m->pending = 0;
        i8042_mouse_argument(s, cmd, v);
        return;
    }
    switch (v) {
    case PS2_CMD_RESET:
        i8042_mouse_defaults(m);
        i8042_mouse_send(s, PS2_ACK);
        i8042_mouse_send(s, PS2_BAT_OK);
        i8042_mouse_send(s, MOUSE_ID_PS2);
        return;
    case PS2_CMD_RESEND:
        i8042_q_push(&m->q, m->last_sent);
        return;
    case PS2_CMD_SET_DEFAULT:
        i8042_mouse_set_defaults(m);
        break;
    case PS2_CMD_DISABLE:
        m->reporting = false;
        break;
    case PS2_CMD_ENABLE:
        m->reporting = true;
        break;
    case PS2_CMD_SET_RATE:
    case MOUSE_CMD_SET_RES:
        m->pending = v;
        break;
    case PS2_CMD_GET_ID:
        i8042_mouse_send(s, PS2_ACK);
        i8042_mouse_send(s, m->id);
        return;
    case MOUSE_CMD_SET_REMOTE:
        m->remote = true;
        break;
    case MOUSE_CMD_SET_WRAP:
        m->wrap = true;
        break;
    case MOUSE_CMD_RESET_WRAP:
        m->wrap = false;
        break;
    case MOUSE_CMD_READ_DATA:
        i8042_mouse_send(s, PS2_ACK);
        i8042_mouse_packet(s);
        return;
    case MOUSE_CMD_SET_STREAM:
        m->remote = false;
        break;
    case MOUSE_CMD_STATUS:
        i8042_mouse_send(s, PS2_ACK);
        i8042_mouse_send(s, (uint8_t)((m->remote ? MOUSE_STATUS_REMOTE : 0u) |
                                      (m->reporting ? MOUSE_STATUS_ENABLED : 0u) |
                                      (m->scale21 ? MOUSE_STATUS_SCALE21 : 0u) |
                                      /* status order: left (bit 2), middle (bit 1), right (bit 0) */
                                      ((m->buttons & 1u) << 2) | ((m->buttons & 4u) >> 1) |
                                      ((m->buttons & 2u) >> 1)));
        i8042_mouse_send(s, m->resolution);
        i8042_mouse_send(s, m->rate);
        return;
    case MOUSE_CMD_SET_SCALE21:
        m->scale21 = true;
        break;
    case MOUSE_CMD_SET_SCALE11:
        m->scale21 = false;
        break;
    default:
        i8042_mouse_send(s, PS2_RESEND);
        return;
    }
    i8042_mouse_send(s, PS2_ACK);
}

/* ---- the controller ----------------------------------------------------------------------------- */

/* Asks the VM to reset: what the output port's reset line does to the CPU. */
static void i8042_request_reset(struct i8042_state *s, const char *why)
{
    modvm_dev_log(s->dev, MODVM_LOG_INFO, "system reset through the keyboard controller (%s)", why);
    (void)modvm_dev_vm_request(s->dev, MODVM_VM_REQ_RESET, 0);
}

/* Writes the command byte: its SYS bit becomes the status register's; leaving XLATE forgets a
 * half-translated break prefix. */
static void i8042_write_ctr(struct i8042_state *s, uint8_t v)
{
    s->ram[0] = v;
    s->status = (uint8_t)((s->status & (uint8_t)~I8042_STR_SYS) | (v & I8042_CTR_SYS ? I8042_STR_SYS : 0u));
    if (!(v & I8042_CTR_XLATE))
        s->xlate_break = false;
}

/* Sets or clears command byte bits from inside the controller (0xA7/0xA8/0xAD/0xAE, a byte sent to
 * the keyboard): unlike a 0x60 write this leaves the status register's SYS flag alone. */
static void i8042_ctr_bits(struct i8042_state *s, uint8_t bits, bool on)
{
    s->ram[0] = on ? (uint8_t)(s->ram[0] | bits) : (uint8_t)(s->ram[0] & ~bits);
}

/* 0xD2: a byte enters the output buffer as if the keyboard had sent it (through XLATE). */
static void i8042_write_kbd_obuf(struct i8042_state *s, uint8_t v)
{
    uint8_t out;
    if (i8042_translate(s, v, &out))
        i8042_ctl_send(s, out, false, false);
}

/* The data byte of a pending controller command. */
static void i8042_command_data(struct i8042_state *s, uint8_t cmd, uint8_t v)
{
    if (cmd >= I8042_CMD_WRITE_RAM && cmd < I8042_CMD_WRITE_RAM + I8042_RAM_SIZE) {
        if (cmd == I8042_CMD_WRITE_RAM)
            i8042_write_ctr(s, v);
        else
            s->ram[cmd - I8042_CMD_WRITE_RAM] = v;
        return;
    }
    switch (cmd) {
    case I8042_CMD_WRITE_OUTPUT:
        s->outport = v;
        if (!(v & I8042_OUT_RESET))
            i8042_request_reset(s, "output port bit 0 written low");
        return;
    case I8042_CMD_WRITE_KBD_OBUF:
        i8042_write_kbd_obuf(s, v);
        return;
    case I8042_CMD_WRITE_AUX_OBUF:
        i8042_ctl_send(s, v, true, false);
        return;
    case I8042_CMD_WRITE_AUX:
        if (s->mouse_present)
            i8042_mouse_write(s, v);
        else
            i8042_ctl_send(s, PS2_RESEND, true, true); /* nothing clocked the byte in: timeout */
        return;
    default:
        return; /* not reached: only the commands above are left pending */
    }
}

/* A command written to port 0x64. */
static void i8042_command(struct i8042_state *s, uint8_t cmd)
{
    s->pending = 0; /* a new command abandons one still waiting for its data */
    if (cmd >= I8042_CMD_READ_RAM && cmd < I8042_CMD_READ_RAM + I8042_RAM_SIZE) {
        i8042_ctl_send(s, s->ram[cmd - I8042_CMD_READ_RAM], false, false);
        return;
    }
    if ((cmd >= I8042_CMD_WRITE_RAM && cmd < I8042_CMD_WRITE_RAM + I8042_RAM_SIZE) ||
        (cmd >= I8042_CMD_WRITE_OUTPUT && cmd <= I8042_CMD_WRITE_AUX)) {
        s->pending = cmd;
        return;
    }
    if (cmd >= I8042_CMD_PULSE) {
        if (!(cmd & I8042_OUT_RESET))
            i8042_request_reset(s, "reset line pulsed");
        return; /* pulsing the other bits (A20 among them) leaves them as they were */
    }
    switch (cmd) {
    case I8042_CMD_AUX_DISABLE:
        i8042_ctr_bits(s, I8042_CTR_AUXDIS, true);
        return;
    case I8042_CMD_AUX_ENABLE:
        i8042_ctr_bits(s, I8042_CTR_AUXDIS, false);
        return;
    case I8042_CMD_AUX_TEST:
    case I8042_CMD_KBD_TEST:
        i8042_ctl_send(s, 0x00, false, false); /* no clock or data line stuck */
        return;
    case I8042_CMD_SELF_TEST:
        s->status |= I8042_STR_SYS;
        i8042_ctl_send(s, I8042_SELF_TEST_OK, false, false);
        return;
    case I8042_CMD_KBD_DISABLE:
        i8042_ctr_bits(s, I8042_CTR_KBDDIS, true);
        return;
    case I8042_CMD_KBD_ENABLE:
        i8042_ctr_bits(s, I8042_CTR_KBDDIS, false);
        return;
    case I8042_CMD_READ_INPUT:
        i8042_ctl_send(s, I8042_INPUT_PORT, false, false);
        return;
    case I8042_CMD_READ_OUTPUT: {
        uint8_t v = s->outport & (uint8_t)~(I8042_OUT_OBF | I8042_OUT_AUXOBF);
        if (s->ob.full)
            v |= s->ob.aux ? I8042_OUT_AUXOBF : I8042_OUT_OBF;
        i8042_ctl_send(s, v, false, false);
        return;
    }
    case I8042_CMD_A20_OFF:
        s->outport &= (uint8_t)~I8042_OUT_A20;
        return;
    case I8042_CMD_A20_ON:
        s->outport |= I8042_OUT_A20;
        return;
    case I8042_CMD_READ_TEST:
        i8042_ctl_send(s, 0x00, false, false);
        return;
    default:
        modvm_dev_guest_error(s->dev, "unknown keyboard-controller command 0x%02x ignored", cmd);
        return;
    }
}

/* The status register. */
static uint8_t i8042_status(const struct i8042_state *s)
{
    uint8_t v = (uint8_t)(s->status | I8042_STR_UNLOCKED);
    if (s->ob.full)
        v |= (uint8_t)(I8042_STR_OBF | (s->ob.aux ? I8042_STR_AUXDATA : 0u) |
                       (s->ob.timeout ? I8042_STR_TIMEOUT : 0u));
    return v;
}

/* A read of port 0x60: the output buffer (its last value again when empty). Emptying it drops the
 * IRQ line before the next byte raises it: an edge per byte. */
static uint8_t i8042_read_data(struct i8042_state *s)
{
    uint8_t v = s->ob.value;
    if (s->ob.full) {
        s->ob.full = false;
        s->ob.aux = false;
        s->ob.timeout = false;
        i8042_irq_update(s, false);
    }
    return v;
}

/* A write of port 0x60: the data of a pending controller command, or a byte for the keyboard.
 * Sending to the keyboard enables its interface, as the controller drives its clock line to send
 * (Linux and QEMU rely on it). */
static void i8042_write_data(struct i8042_state *s, uint8_t v)
{
    uint8_t cmd = s->pending;
    s->status &= (uint8_t)~I8042_STR_CMD;
    s->pending = 0;
    if (cmd) {
        i8042_command_data(s, cmd, v);
        return;
    }
    i8042_ctr_bits(s, I8042_CTR_KBDDIS, false);
    i8042_kbd_write(s, v);
}

/* ---- port I/O ----------------------------------------------------------------------------------- */

/* modvm_pio_in_fn of both one-port ranges (`user` is the state, the port is told apart by the
 * range: see i8042_construct). */
static uint32_t i8042_pio_in_common(struct i8042_state *s, bool cmd_port, uint16_t offset, unsigned size)
{
    if (size != 1 || offset != 0) {
        modvm_dev_guest_error(s->dev, "%u-byte read at port 0x%x+%u (one-byte ports)", size,
                              cmd_port ? I8042_CMD_PORT : I8042_DATA_PORT, offset);
        return 0xffffffffu;
    }
    uint8_t v = cmd_port ? i8042_status(s) : i8042_read_data(s);
    i8042_update(s);
    return v;
}

/* modvm_pio_in_fn: port 0x60. */
static uint32_t i8042_data_in(struct modvm_dev *dev, void *user, uint16_t offset, unsigned size)
{
    (void)dev;
    return i8042_pio_in_common(user, false, offset, size);
}

/* modvm_pio_in_fn: port 0x64. */
static uint32_t i8042_status_in(struct modvm_dev *dev, void *user, uint16_t offset, unsigned size)
{
    (void)dev;
    return i8042_pio_in_common(user, true, offset, size);
}

/* modvm_pio_out_fn: port 0x60. */
static void i8042_data_out(struct modvm_dev *dev, void *user, uint16_t offset, uint32_t value, unsigned size)
{
    struct i8042_state *s = user;
    if (size != 1 || offset != 0) {
        modvm_dev_guest_error(dev, "%u-byte write at port 0x60+%u (one-byte ports)", size, offset);
        return;
    }
    i8042_write_data(s, (uint8_t)value);
    i8042_update(s);
}

/* modvm_pio_out_fn: port 0x64. */
static void i8042_cmd_out(struct modvm_dev *dev, void *user, uint16_t offset, uint32_t value, unsigned size)
{
    struct i8042_state *s = user;
    if (size != 1 || offset != 0) {
        modvm_dev_guest_error(dev, "%u-byte write at port 0x64+%u (one-byte ports)", size, offset);
        return;
    }
    s->status |= I8042_STR_CMD;
    i8042_command(s, (uint8_t)value);
    i8042_update(s);
}

static const struct modvm_pio_ops i8042_data_ops = {
    .version = MODVM_PIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_1,
    .in = i8042_data_in,
    .out = i8042_data_out,
};

static const struct modvm_pio_ops i8042_cmd_ops = {
    .version = MODVM_PIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_1,
    .in = i8042_status_in,
    .out = i8042_cmd_out,
};

/* ---- lifecycle ---------------------------------------------------------------------------------- */

/* Power-on state of controller, keyboard and mouse (the IRQ lines are the caller's). */
static void i8042_reset_state(struct i8042_state *s)
{
    memset(s->ram, 0, sizeof(s->ram));
    s->ram[0] = I8042_CTR_POWER_ON;
    s->status = 0; /* SYS clear: a cold start until the BIOS's self-test */
    s->outport = I8042_OUT_POWER_ON;
    s->pending = 0;
    s->ob = (struct i8042_obyte){0};
    s->ctl = (struct i8042_obyte){0};
    s->xlate_break = false;
    i8042_kbd_defaults(&s->kbd);
    s->kbd.last_sent = 0;
    i8042_mouse_defaults(&s->mouse);
    s->mouse.last_sent = 0;
}

/* Devreg construct callback: option `mouse`, then the two ports. */
static int i8042_construct(struct modvm_dev *dev)
{
    struct i8042_state *s = dev->data;
    int rc;

    s->dev = dev;
    if ((rc = modvm_dev_cfg_bool(dev, "mouse", &s->mouse_present)) != 0)
        return modvm_dev_set_error(dev, rc, "cannot read option 'mouse' (error %d)", rc);
    i8042_reset_state(s);
    rc = modvm_pio_register(dev, I8042_DATA_PORT, 1, &i8042_data_ops, s, "i8042 data", &s->pio_data);
    if (rc == 0)
        rc = modvm_pio_register(dev, I8042_CMD_PORT, 1, &i8042_cmd_ops, s, "i8042 command", &s->pio_cmd);
    if (rc == -EBUSY)
        return modvm_dev_set_error(dev, rc, "I/O port 0x%x is already in use",
                                   s->pio_data ? I8042_CMD_PORT : I8042_DATA_PORT);
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "cannot register I/O ports 0x60/0x64 (error %d)", rc);
    return 0;
}

/* Devreg destruct callback; copes with a construct that stopped anywhere. */
static void i8042_destruct(struct modvm_dev *dev)
{
    struct i8042_state *s = dev->data;
    modvm_pio_destroy(dev, s->pio_data);
    s->pio_data = NULL;
    modvm_pio_destroy(dev, s->pio_cmd);
    s->pio_cmd = NULL;
}

/* Devreg reset callback: controller and devices back to power-on, both lines low. */
static void i8042_reset(struct modvm_dev *dev)
{
    struct i8042_state *s = dev->data;
    i8042_reset_state(s);
    i8042_irq_update(s, false);
}

/* ---- saved state -------------------------------------------------------------------------------- */

/* Put/get with the first error remembered, so a unit is written or read straight through. */
struct i8042_ssm {
    struct modvm_dev *dev;
    struct modvm_ssm *ssm;
    int rc;
};

/* Puts a byte. */
static void i8042_put8(struct i8042_ssm *c, uint8_t v)
{
    if (c->rc == 0)
        c->rc = modvm_ssm_put_u8(c->dev, c->ssm, v);
}

/* Puts raw bytes. */
static void i8042_put_bytes(struct i8042_ssm *c, const uint8_t *buf, size_t len)
{
    if (c->rc == 0)
        c->rc = modvm_ssm_put_bytes(c->dev, c->ssm, buf, len);
}

/* Gets a byte (0 once anything failed). */
static uint8_t i8042_get8(struct i8042_ssm *c)
{
    uint8_t v = 0;
    int rc = modvm_ssm_get_u8(c->dev, c->ssm, &v);
    if (c->rc == 0)
        c->rc = rc;
    return c->rc == 0 ? v : 0;
}

/* Gets raw bytes (zeros once anything failed). */
static void i8042_get_bytes(struct i8042_ssm *c, uint8_t *buf, size_t len)
{
    int rc = modvm_ssm_get_bytes(c->dev, c->ssm, buf, len);
    if (c->rc == 0)
        c->rc = rc;
    if (c->rc != 0)
        memset(buf, 0, len);
}

/* Saved state v1, in order (93 bytes):
 *   u8 mouse_present                                          the topology it was saved with
 *   u8 ram[32], status (SYS|CMD), outport, pending command
 *   output buffer: u8 flags (bit 0 full, 1 aux, 2 timeout), u8 value; the same for the controller's
 *   waiting byte; u8 xlate_break
 *   keyboard: u8 queue head, count, data[16]; u8 scan_set, leds, typematic, scanning, pending,
 *   last_sent
 *   mouse: u8 queue head, count, data[16]; u8 flags (bit 0 reporting, 1 remote, 2 wrap, 3 scale
 *   2:1), rate, resolution, id, pending, knock[3], buttons, last_sent */
#define I8042_OB_FULL 0x01u
#define I8042_OB_AUX 0x02u
#define I8042_OB_TIMEOUT 0x04u
#define I8042_MOUSE_REPORTING 0x01u
#define I8042_MOUSE_REMOTE 0x02u
#define I8042_MOUSE_WRAP 0x04u
#define I8042_MOUSE_SCALE21 0x08u

/* An output-buffer byte's flags. */
static uint8_t i8042_obyte_flags(const struct i8042_obyte *o)
{
    return (uint8_t)((o->full ? I8042_OB_FULL : 0u) | (o->aux ? I8042_OB_AUX : 0u) |
                     (o->timeout ? I8042_OB_TIMEOUT : 0u));
}

/* Writes a queue. */
static void i8042_save_queue(struct i8042_ssm *c, const struct i8042_queue *q)
{
    i8042_put8(c, q->head);
    i8042_put8(c, q->count);
    i8042_put_bytes(c, q->data, I8042_QUEUE_SIZE);
}

/* Devreg save callback. */
static int i8042_save(struct modvm_dev *dev, struct modvm_ssm *ssm)
{
    struct i8042_state *s = dev->data;
    const struct i8042_kbd *k = &s->kbd;
    const struct i8042_mouse *m = &s->mouse;
    struct i8042_ssm c = {.dev = dev, .ssm = ssm};

    i8042_put8(&c, s->mouse_present);
    i8042_put_bytes(&c, s->ram, I8042_RAM_SIZE);
    i8042_put8(&c, s->status);
    i8042_put8(&c, s->outport);
    i8042_put8(&c, s->pending);
    i8042_put8(&c, i8042_obyte_flags(&s->ob));
    i8042_put8(&c, s->ob.value);
    i8042_put8(&c, i8042_obyte_flags(&s->ctl));
    i8042_put8(&c, s->ctl.value);
    i8042_put8(&c, s->xlate_break);

    i8042_save_queue(&c, &k->q);
    i8042_put8(&c, k->scan_set);
    i8042_put8(&c, k->leds);
    i8042_put8(&c, k->typematic);
    i8042_put8(&c, k->scanning);
    i8042_put8(&c, k->pending);
    i8042_put8(&c, k->last_sent);

    i8042_save_queue(&c, &m->q);
    i8042_put8(&c, (uint8_t)((m->reporting ? I8042_MOUSE_REPORTING : 0u) | (m->remote ? I8042_MOUSE_REMOTE : 0u) |
                             (m->wrap ? I8042_MOUSE_WRAP : 0u) | (m->scale21 ? I8042_MOUSE_SCALE21 : 0u)));
    i8042_put8(&c, m->rate);
    i8042_put8(&c, m->resolution);
    i8042_put8(&c, m->id);
    i8042_put8(&c, m->pending);
    i8042_put_bytes(&c, m->knock, sizeof(m->knock));
    i8042_put8(&c, m->buttons);
    i8042_put8(&c, m->last_sent);
    return c.rc;
}

/* Reads an output-buffer byte; false when its flags are impossible. */
static bool i8042_load_obyte(struct i8042_ssm *c, struct i8042_obyte *o)
{
    uint8_t flags = i8042_get8(c);
    o->value = i8042_get8(c);
    o->full = (flags & I8042_OB_FULL) != 0;
    o->aux = (flags & I8042_OB_AUX) != 0;
    o->timeout = (flags & I8042_OB_TIMEOUT) != 0;
    return !(flags & (uint8_t)~(I8042_OB_FULL | I8042_OB_AUX | I8042_OB_TIMEOUT)) &&
           (o->full || flags == 0);
}

/* Reads a queue; false when its indices are out of range. */
static bool i8042_load_queue(struct i8042_ssm *c, struct i8042_queue *q)
{
    q->head = i8042_get8(c);
    q->count = i8042_get8(c);
    i8042_get_bytes(c, q->data, I8042_QUEUE_SIZE);
    return q->head < I8042_QUEUE_SIZE && q->count <= I8042_QUEUE_SIZE;
}

/* Reads a byte that must be 0 or 1. */
static bool i8042_load_bool(struct i8042_ssm *c, bool *out)
{
    uint8_t v = i8042_get8(c);
    *out = v == 1;
    return v <= 1;
}

/* True for a controller command that waits for a data byte. */
static bool i8042_valid_pending(uint8_t cmd)
{
    return cmd == 0 || (cmd >= I8042_CMD_WRITE_RAM && cmd < I8042_CMD_WRITE_RAM + I8042_RAM_SIZE) ||
           (cmd >= I8042_CMD_WRITE_OUTPUT && cmd <= I8042_CMD_WRITE_AUX);
}

/* True for a keyboard command that waits for an argument. */
static bool i8042_kbd_valid_pending(uint8_t cmd)
{
    return cmd == 0 || cmd == KBD_CMD_SET_LEDS || cmd == KBD_CMD_SCAN_SET || cmd == PS2_CMD_SET_RATE ||
           (cmd >= KBD_CMD_KEY_TYPE_FIRST && cmd <= KBD_CMD_KEY_TYPE_LAST);
}

/* Reads the keyboard's part into `k`; the name of the first bad field, or NULL. */
static const char *i8042_load_kbd(struct i8042_ssm *c, struct i8042_kbd *k)
{
    if (!i8042_load_queue(c, &k->q))
        return "keyboard queue indices";
    k->scan_set = i8042_get8(c);
    k->leds = i8042_get8(c);
    k->typematic = i8042_get8(c);
    bool scanning_ok = i8042_load_bool(c, &k->scanning);
    k->pending = i8042_get8(c);
    k->last_sent = i8042_get8(c);
    if (c->rc != 0)
        return NULL; /* reported as truncation by the caller */
    if (k->scan_set < 1 || k->scan_set > 3)
        return "keyboard scan code set";
    if (k->leds > 7 || k->typematic > 0x7f || !scanning_ok)
        return "keyboard LEDs, typematic byte or scanning flag";
    if (!i8042_kbd_valid_pending(k->pending))
        return "pending keyboard command";
    return NULL;
}

/* Reads the mouse's part into `m`; the name of the first bad field, or NULL. */
static const char *i8042_load_mouse(struct i8042_ssm *c, struct i8042_mouse *m)
{
    if (!i8042_load_queue(c, &m->q))
        return "mouse queue indices";
    uint8_t flags = i8042_get8(c);
    m->reporting = (flags & I8042_MOUSE_REPORTING) != 0;
    m->remote = (flags & I8042_MOUSE_REMOTE) != 0;
    m->wrap = (flags & I8042_MOUSE_WRAP) != 0;
    m->scale21 = (flags & I8042_MOUSE_SCALE21) != 0;
    m->rate = i8042_get8(c);
    m->resolution = i8042_get8(c);
    m->id = i8042_get8(c);
    m->pending = i8042_get8(c);
    i8042_get_bytes(c, m->knock, sizeof(m->knock));
    m->buttons = i8042_get8(c);
    m->last_sent = i8042_get8(c);
    if (c->rc != 0)
        return NULL;
    if (flags & (uint8_t)~(I8042_MOUSE_REPORTING | I8042_MOUSE_REMOTE | I8042_MOUSE_WRAP | I8042_MOUSE_SCALE21))
        return "mouse mode flags";
    if (m->resolution > 3 || m->buttons > 7 || (m->id != MOUSE_ID_PS2 && m->id != MOUSE_ID_INTELLI))
        return "mouse resolution, buttons or ID";
    if (m->pending != 0 && m->pending != PS2_CMD_SET_RATE && m->pending != MOUSE_CMD_SET_RES)
        return "pending mouse command";
    return NULL;
}

/* Devreg load callback. Reads into a copy, validates it whole, and only then commits: a rejected
 * state leaves the device as it was. Loading never requests a reset. */
static int i8042_load(struct modvm_dev *dev, struct modvm_ssm *ssm, uint32_t version)
{
    struct i8042_state *s = dev->data;
    struct i8042_state t = *s;
    struct i8042_ssm c = {.dev = dev, .ssm = ssm};
    const char *bad = NULL;

    if (version != I8042_SAVED_STATE_V1)
        return modvm_dev_set_error(dev, -EINVAL, "saved state version %u is not supported (this build reads %u)",
                                   version, I8042_SAVED_STATE_V1);
    bool mouse_present = false;
    if (!i8042_load_bool(&c, &mouse_present))
        bad = "mouse presence flag";
    i8042_get_bytes(&c, t.ram, I8042_RAM_SIZE);
    t.status = i8042_get8(&c);
    t.outport = i8042_get8(&c);
    t.pending = i8042_get8(&c);
    if (!i8042_load_obyte(&c, &t.ob) && !bad)
        bad = "output buffer flags";
    if (!i8042_load_obyte(&c, &t.ctl) && !bad)
        bad = "controller byte flags";
    if (!i8042_load_bool(&c, &t.xlate_break) && !bad)
        bad = "translation state";
    const char *kbd_bad = i8042_load_kbd(&c, &t.kbd);
    const char *mouse_bad = i8042_load_mouse(&c, &t.mouse);
    if (c.rc != 0)
        return modvm_dev_set_error(dev, -EINVAL, "saved state is truncated or unreadable (error %d)", c.rc);
    if (!bad && (t.status & (uint8_t)~I8042_STR_STORED))
        bad = "status register";
    if (!bad && !i8042_valid_pending(t.pending))
        bad = "pending controller command";
    if (!bad)
        bad = kbd_bad ? kbd_bad : mouse_bad;
    if (bad)
        return modvm_dev_set_error(dev, -EINVAL, "saved state: invalid %s", bad);
    if (mouse_present != s->mouse_present)
        return modvm_dev_set_error(dev, -EINVAL, "saved state is for a controller %s a mouse, but this one is "
                                   "configured %s one",
                                   mouse_present ? "with" : "without", s->mouse_present ? "with" : "without");
    if (!mouse_present && t.mouse.q.count)
        return modvm_dev_set_error(dev, -EINVAL, "saved state: bytes queued by a mouse that is not there");
    *s = t;
    i8042_irq_update(s, true);
    return 0;
}

/* ---- registration ------------------------------------------------------------------------------- */

static const struct modvm_cfg_option i8042_options[] = {
    {.name = "mouse", .type = MODVM_CFG_BOOL, .default_value = "on",
     .help = "a PS/2 mouse on the auxiliary port (off: commands to it time out, as with nothing plugged in)"},
    {.name = NULL},
};

static const struct modvm_devreg i8042_devreg = {
    .version = MODVM_DEVREG_VERSION,
    .flags = 0,
    .name = "i8042",
    .description = "PS/2 keyboard controller with keyboard and mouse (ports 0x60/0x64, IRQ 1 and 12)",
    .family = MODVM_DEV_FAMILY_INPUT,
    .max_instances = 1,
    .instance_size = sizeof(struct i8042_state),
    .options = i8042_options,
    .saved_state_version = I8042_SAVED_STATE_V1,
    .construct = i8042_construct,
    .destruct = i8042_destruct,
    .reset = i8042_reset,
    .save = i8042_save,
    .load = i8042_load,
    .version_end = MODVM_DEVREG_VERSION,
};

/* The plugin's register_types: one device type. */
static int i8042_register(const struct modvm_registrar *reg)
{
    return reg->register_device(reg, &i8042_devreg);
}

MODVM_PLUGIN(.name = "i8042", .plugin_version = "1.0.0", .license = "MIT",
             .description = "8042 PS/2 keyboard controller, PS/2 keyboard and mouse", .register_types = i8042_register);
