/* rtc.c — the PC's real-time clock and CMOS RAM (Motorola MC146818A), as a modvm device plugin.
 *
 * Spec: Motorola MC146818A datasheet ("Real-Time Clock Plus RAM"), wired as on the IBM PC/AT and
 * every chipset since: index port 0x70 (bit 7 masks NMI), data port 0x71, the IRQ pin on ISA IRQ 8,
 * and 128 bytes of which 0x00-0x0d are the clock and 0x0e-0x7f battery-backed RAM. The RAM is
 * filled at construct with what SeaBIOS (src/fw/paravirt.c, src/boot.c) and Linux read from it on
 * a PC without fw_cfg: memory sizes, CPU count, equipment byte, boot order, the century byte.
 *
 * Time model. The clock runs on the VIRTUAL clock (it stops while the VM is paused). Nothing ticks
 * once per second: while the clock runs, the time registers are computed on demand from
 * `time_sec` (the RTC's own seconds count, a calendar with no time zone) at `origin_ns`, a second
 * boundary of the 32.768 kHz divider chain. Each update happens exactly on a boundary, and UIP
 * (register A bit 7) reads 1 for the 244 us before it, which is what Linux's mc146818_get_time()
 * and SeaBIOS's rtc_updating() wait on. While register B's SET bit is 1 or the divider is held
 * (register A DV bits other than 000/001/010) the clock is frozen: the time registers are plain
 * bytes the guest may write, parsed back into `time_sec` when the clock restarts — SET keeps the
 * divider's phase, releasing the divider starts it half a second before the next update (datasheet:
 * "the first update cycle begins one-half second later").
 *
 * Flags are also computed on demand: register C's PF, AF and UF are folded in up to the present
 * whenever something that changes them is touched (PF is set at the periodic rate and AF/UF at
 * updates whether or not their interrupts are enabled, per the datasheet). One timer exists only
 * to raise IRQF at the next enabled event while IRQF is clear; with no interrupt enabled, or
 * IRQF already set, no timer is armed. The IRQ pin is a level (IRQF), as on the chip; ISA's
 * inverter makes it the rising edge the PIC sees, and reading C drops it.
 *
 * Not modelled: the daylight-saving bit DSE (stored, but no April/October jumps: Linux and SeaBIOS
 * leave it clear), the square-wave pin (not connected on a PC), time bases other than 32.768 kHz
 * (DV 000 and 001 run at the PC's crystal rate, as QEMU does), and NMI (the mask bit is kept and
 * saved; nothing in modvm raises an ISA NMI yet).
 *
 * Attacker model: every port access comes from the guest and every saved state from a file. The
 * index is 7 bits by construction, every time byte (BCD nibbles above 9, hours of 25, month 0) is
 * turned into a time by plain arithmetic that normalises instead of indexing, and a loaded state is
 * checked whole before any of it is used. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <modvm/pdm.h>
#include <modvm/plugin.h>

/* ---- registers and their bits ------------------------------------------------------------------- */

#define RTC_IOBASE 0x70u
#define RTC_NPORTS 2u
#define RTC_IRQ 8u
#define RTC_CMOS_SIZE 128u
#define RTC_INDEX_MASK 0x7fu
#define RTC_NMI_MASK 0x80u /* port 0x70 bit 7: NMI disabled */

#define RTC_SECONDS 0x00u
#define RTC_SECONDS_ALARM 0x01u
#define RTC_MINUTES 0x02u
#define RTC_MINUTES_ALARM 0x03u
#define RTC_HOURS 0x04u
#define RTC_HOURS_ALARM 0x05u
#define RTC_DAY_OF_WEEK 0x06u
#define RTC_DAY_OF_MONTH 0x07u
#define RTC_MONTH 0x08u
#define RTC_YEAR 0x09u
#define RTC_REG_A 0x0au
#define RTC_REG_B 0x0bu
#define RTC_REG_C 0x0cu
#define RTC_REG_D 0x0du
#define RTC_CENTURY 0x32u /* IBM's century byte, BCD (binary with DM); ACPI's FADT points here */

#define RTC_A_UIP 0x80u
#define RTC_A_DV 0x70u        /* divider: 010 = 32.768 kHz time base; 11x = held in reset */
#define RTC_A_DV_RUNNING_MAX 0x20u
#define RTC_A_RS 0x0fu        /* periodic rate select */
#define RTC_A_POWER_ON 0x26u  /* 32.768 kHz, 1024 Hz: what BIOSes program and QEMU starts with */
#define RTC_B_SET 0x80u
#define RTC_B_PIE 0x40u
#define RTC_B_AIE 0x20u
#define RTC_B_UIE 0x10u
#define RTC_B_SQWE 0x08u
#define RTC_B_DM 0x04u        /* 1: binary, 0: BCD */
#define RTC_B_24H 0x02u
#define RTC_B_POWER_ON 0x02u  /* 24-hour BCD */
#define RTC_C_IRQF 0x80u
#define RTC_C_PF 0x40u        /* bit positions match RTC_B_PIE/AIE/UIE */
#define RTC_C_AF 0x20u
#define RTC_C_UF 0x10u
#define RTC_C_FLAGS (RTC_C_PF | RTC_C_AF | RTC_C_UF)
#define RTC_D_VRT 0x80u       /* valid RAM and time: the battery is fine */
#define RTC_ALARM_DONT_CARE 0xc0u /* an alarm byte with both top bits set matches every value */

/* The PC's CMOS map (IBM PC/AT technical reference, plus the bytes SeaBIOS reads on emulators). */
#define CMOS_FLOPPY_TYPES 0x10u
#define CMOS_EQUIPMENT 0x14u
#define CMOS_BASE_MEM 0x15u      /* KiB, 0x15 low, 0x16 high */
#define CMOS_EXT_MEM 0x17u       /* KiB above 1 MiB, 0x17/0x18 */
#define CMOS_CHECKSUM 0x2eu      /* sum of 0x10-0x2d, 0x2e high byte, 0x2f low */
#define CMOS_CHECKSUM_FIRST 0x10u
#define CMOS_CHECKSUM_LAST 0x2du
#define CMOS_EXT_MEM_POST 0x30u  /* the same, as POST found it, 0x30/0x31 */
#define CMOS_MEM_ABOVE_16M 0x34u /* 64 KiB units between 16 MiB and 4 GiB, 0x34/0x35 */
#define CMOS_BOOT_FLAGS 0x38u    /* bits 7:4 third boot device, bit 0 skip the floppy signature check */
#define CMOS_BOOT_ORDER 0x3du    /* bits 3:0 first boot device, bits 7:4 second */
#define CMOS_MEM_ABOVE_4G 0x5bu  /* 64 KiB units above 4 GiB, 0x5b-0x5d */
#define CMOS_CPU_COUNT 0x5fu     /* CPUs - 1 (QEMU's convention, read by SeaBIOS) */
#define CMOS_EQUIPMENT_VALUE 0x06u /* no floppy, FPU present, PS/2 mouse port; display: own BIOS */
#define CMOS_BASE_MEM_KIB 640u

#define RTC_KIB 1024ull
#define RTC_MIB (1024ull * 1024ull)
#define RTC_LOW_RAM_LIMIT 0xe0000000ull /* RAM below 4 GiB ends at the 3.5 GiB PCI hole (as PGM lays it out) */

/* Boot device codes of CMOS 0x3d/0x38 as SeaBIOS's boot_init() reads them. */
#define RTC_BOOT_FLOPPY 1u
#define RTC_BOOT_DISK 2u
#define RTC_BOOT_CDROM 3u
#define RTC_BOOT_NETWORK 4u
#define RTC_BOOT_MAX 3u

#define RTC_NS_PER_SEC 1000000000ll
#define RTC_UIP_NS 244000ll            /* datasheet t_BUC: UIP rises 244 us before the update */
#define RTC_RELEASE_NS 500000000ll     /* divider released: first update half a second later */
#define RTC_DIVIDER_HZ 32768ll
#define RTC_SECS_PER_DAY 86400ll
#define RTC_EPOCH_WEEKDAY 4            /* 1970-01-01 was a Thursday; the RTC counts Sunday = 1 */

#define RTC_SAVED_STATE_V1 1u

/* ---- state -------------------------------------------------------------------------------------- */

/* The instance data (dev->data, zeroed by the core). */
struct rtc_state {
    struct modvm_dev *dev;
    /* The 128 bytes. While the clock runs, 0x00/0x02/0x04/0x06-0x09 and 0x32 are stale and rendered
     * from time_sec on demand; register A never holds UIP, register C holds only PF/AF/UF. */
    uint8_t cmos[RTC_CMOS_SIZE];
    uint8_t latch;      /* the last byte written to port 0x70: index (6:0) and NMI mask (7) */
    int64_t time_sec;   /* the RTC's seconds count at origin_ns (meaningful while the clock runs) */
    int64_t origin_ns;  /* a second boundary of the divider, never after any time we evaluate */
    int64_t flags_ns;   /* register C holds every event up to this virtual time */
    uint8_t dow_adjust; /* 0..6: the guest's day-of-week register minus the true weekday */
    bool irq_level;     /* what we last drove onto IRQ 8 */
    modvm_pio_handle pio;
    modvm_timer_handle timer;
};

/* ---- arithmetic --------------------------------------------------------------------------------- */

/* a / b rounded towards minus infinity (b > 0). */
static int64_t rtc_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b < 0) ? q - 1 : q;
}

/* a mod b in [0, b) (b > 0). */
static int64_t rtc_floor_mod(int64_t a, int64_t b)
{
    return a - rtc_floor_div(a, b) * b;
}

/* Days from 1970-01-01 to the proleptic Gregorian date y-m-d (m 1..12, any d): the era/day-of-era
 * method, exact for any year and without tables. */
static int64_t rtc_days_from_civil(int64_t y, unsigned m, int64_t d)
{
    y -= m <= 2;
    int64_t era = rtc_floor_div(y, 400);
    int64_t yoe = y - era * 400;                              /* [0, 399] */
    int64_t mp = m > 2 ? m - 3 : m + 9;                       /* March = 0 */
    int64_t doy = (153 * mp + 2) / 5 + d - 1;                 /* day of the March-based year */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;      /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

/* The inverse: the date of day `z` since 1970-01-01. */
static void rtc_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = rtc_floor_div(z, 146097);
    int64_t doe = z - era * 146097;                                   /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);            /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                 /* [0, 11] */
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Days in month m (1..12) of year y. */
static unsigned rtc_days_in_month(int64_t y, unsigned m)
{
    static const uint8_t days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29u : days[m - 1];
}

/* ---- register formats (BCD or binary, 12 or 24 hours) ------------------------------------------- */

/* A value as the time registers hold it in the current data mode (register B DM). Values that do
 * not fit wrap: the chip has no wider registers either. */
static uint8_t rtc_encode(const struct rtc_state *s, int64_t v)
{
    if (s->cmos[RTC_REG_B] & RTC_B_DM)
        return (uint8_t)(v & 0xff);
    int64_t two = rtc_floor_mod(v, 100);
    return (uint8_t)(((two / 10) << 4) | (two % 10));
}

/* A register byte as a number. BCD nibbles above 9 count as their value (0x5a = 60): whatever the
 * guest wrote becomes some time, never an index. */
static unsigned rtc_decode(const struct rtc_state *s, uint8_t b)
{
    if (s->cmos[RTC_REG_B] & RTC_B_DM)
        return b;
    return (unsigned)(b >> 4) * 10u + (b & 0x0fu);
}

/* Hour 0..23 in the current format: 12-hour mode counts 12, 1, ..., 11 with bit 7 for PM. */
static uint8_t rtc_encode_hour(const struct rtc_state *s, unsigned h)
{
    if (s->cmos[RTC_REG_B] & RTC_B_24H)
        return rtc_encode(s, h);
    unsigned h12 = h % 12 ? h % 12 : 12;
    return (uint8_t)(rtc_encode(s, h12) | (h >= 12 ? 0x80u : 0u));
}

/* An hours register as hours since midnight (may exceed 23 for garbage; the caller normalises). */
static unsigned rtc_decode_hour(const struct rtc_state *s, uint8_t b)
{
    if (s->cmos[RTC_REG_B] & RTC_B_24H)
        return rtc_decode(s, b);
    return rtc_decode(s, b & 0x7fu) % 12u + ((b & 0x80u) ? 12u : 0u);
}

/* ---- the clock ---------------------------------------------------------------------------------- */

/* The virtual clock, signed for the arithmetic below (it starts at 0 and will not reach 2^63). */
static int64_t rtc_now(const struct rtc_state *s)
{
    return (int64_t)modvm_clock_now(s->dev, MODVM_CLOCK_VIRTUAL);
}

/* True while the divider chain runs: DV 000/001/010. 11x holds it in reset; the test modes stop it. */
static bool rtc_divider_running(const struct rtc_state *s)
{
    return (s->cmos[RTC_REG_A] & RTC_A_DV) <= RTC_A_DV_RUNNING_MAX;
}

/* True while updates happen: the divider runs and SET is clear. Otherwise the time bytes are the
 * truth and time_sec is not. */
static bool rtc_clock_running(const struct rtc_state *s)
{
    return rtc_divider_running(s) && !(s->cmos[RTC_REG_B] & RTC_B_SET);
}

/* The RTC's seconds count at virtual time t (clock running). */
static int64_t rtc_sec_at(const struct rtc_state *s, int64_t t)
{
    return s->time_sec + rtc_floor_div(t - s->origin_ns, RTC_NS_PER_SEC);
}

/* The virtual time at which the seconds count becomes `sec`. */
static int64_t rtc_time_of_sec(const struct rtc_state *s, int64_t sec)
{
    return s->origin_ns + (sec - s->time_sec) * RTC_NS_PER_SEC;
}

/* Moves origin_ns to the last divider second boundary at or before `now` (same phase), carrying
 * time_sec along, so later arithmetic works on small differences. */
static void rtc_rebase(struct rtc_state *s, int64_t now)
{
    int64_t whole = rtc_floor_div(now - s->origin_ns, RTC_NS_PER_SEC);
    s->origin_ns += whole * RTC_NS_PER_SEC;
    s->time_sec += whole;
}

/* Writes the seconds count `sec` into the time registers in the current format. */
static void rtc_render(struct rtc_state *s, int64_t sec)
{
    int64_t days = rtc_floor_div(sec, RTC_SECS_PER_DAY);
    int64_t sod = sec - days * RTC_SECS_PER_DAY;
    int64_t year;
    unsigned month, mday;
    rtc_civil_from_days(days, &year, &month, &mday);
    s->cmos[RTC_SECONDS] = rtc_encode(s, sod % 60);
    s->cmos[RTC_MINUTES] = rtc_encode(s, (sod / 60) % 60);
    s->cmos[RTC_HOURS] = rtc_encode_hour(s, (unsigned)(sod / 3600));
    s->cmos[RTC_DAY_OF_WEEK] = rtc_encode(s, rtc_floor_mod(days + RTC_EPOCH_WEEKDAY + s->dow_adjust, 7) + 1);
    s->cmos[RTC_DAY_OF_MONTH] = rtc_encode(s, mday);
    s->cmos[RTC_MONTH] = rtc_encode(s, month);
    s->cmos[RTC_YEAR] = rtc_encode(s, rtc_floor_mod(year, 100));
    s->cmos[RTC_CENTURY] = rtc_encode(s, rtc_floor_div(year, 100));
}

/* Reads the time registers (in the current format) into time_sec and dow_adjust. Out-of-range
 * fields carry over as mktime() would: minute 75 is a quarter past the next hour, month 0 is the
 * December before. Every field is below 256, so nothing overflows. */
static void rtc_parse(struct rtc_state *s)
{
    const uint8_t *c = s->cmos;
    int64_t year = (int64_t)rtc_decode(s, c[RTC_CENTURY]) * 100 + rtc_decode(s, c[RTC_YEAR]);
    int64_t months = year * 12 + (int64_t)rtc_decode(s, c[RTC_MONTH]) - 1;
    int64_t y = rtc_floor_div(months, 12);
    unsigned m = (unsigned)(months - y * 12) + 1;
    int64_t days = rtc_days_from_civil(y, m, 1) + (int64_t)rtc_decode(s, c[RTC_DAY_OF_MONTH]) - 1;
    s->time_sec = days * RTC_SECS_PER_DAY + (int64_t)rtc_decode_hour(s, c[RTC_HOURS]) * 3600 +
                  (int64_t)rtc_decode(s, c[RTC_MINUTES]) * 60 + rtc_decode(s, c[RTC_SECONDS]);
    /* The chip counts the weekday on its own; keep what the guest wrote, as an offset. */
    int64_t true_days = rtc_floor_div(s->time_sec, RTC_SECS_PER_DAY);
    int64_t written = rtc_decode(s, c[RTC_DAY_OF_WEEK]);
    s->dow_adjust = (uint8_t)rtc_floor_mod(written - 1 - (true_days + RTC_EPOCH_WEEKDAY), 7);
}

/* Brings the time registers up to date when the clock runs (before a read or a save). */
static void rtc_sync_regs(struct rtc_state *s, int64_t now)
{
    if (rtc_clock_running(s))
        rtc_render(s, rtc_sec_at(s, now));
}

/* UIP: the 244 us before each update, while updates happen. */
static bool rtc_uip(const struct rtc_state *s, int64_t now)
{
    if (!rtc_clock_running(s))
        return false;
    return rtc_floor_mod(now - s->origin_ns, RTC_NS_PER_SEC) >= RTC_NS_PER_SEC - RTC_UIP_NS;
}

/* ---- periodic rate, alarm ----------------------------------------------------------------------- */

/* The periodic interrupt's period in 32.768 kHz divider ticks, 0 for none. Datasheet table 4:
 * RS 1 and 2 give 256 and 128 Hz (the 4.19 MHz base's 32.768 and 16.384 kHz taps), 3..15 give
 * 8192 Hz down to 2 Hz. */
static unsigned rtc_period_ticks(const struct rtc_state *s)
{
    unsigned rs = s->cmos[RTC_REG_A] & RTC_A_RS;
    if (rs == 0)
        return 0;
    return rs <= 2 ? 1u << (rs + 6) : 1u << (rs - 1);
}

/* Divider ticks since origin_ns at virtual time t (rounded down). */
static int64_t rtc_ticks_at(const struct rtc_state *s, int64_t t)
{
    int64_t d = t - s->origin_ns;
    int64_t sec = rtc_floor_div(d, RTC_NS_PER_SEC);
    int64_t ns = d - sec * RTC_NS_PER_SEC;
    return sec * RTC_DIVIDER_HZ + ns * RTC_DIVIDER_HZ / RTC_NS_PER_SEC;
}

/* The first virtual time at which tick n has happened (the inverse of rtc_ticks_at, rounded up so
 * that rtc_ticks_at(rtc_tick_time(n)) == n). */
static int64_t rtc_tick_time(const struct rtc_state *s, int64_t n)
{
    int64_t sec = rtc_floor_div(n, RTC_DIVIDER_HZ);
    int64_t rem = n - sec * RTC_DIVIDER_HZ;
    return s->origin_ns + sec * RTC_NS_PER_SEC + (rem * RTC_NS_PER_SEC + RTC_DIVIDER_HZ - 1) / RTC_DIVIDER_HZ;
}

/* True when an alarm byte matches every value. */
static bool rtc_alarm_dont_care(uint8_t b)
{
    return (b & RTC_ALARM_DONT_CARE) == RTC_ALARM_DONT_CARE;
}

/* The first seconds count after `after` whose hours, minutes and seconds, as the registers would
 * show them in the current format, equal the alarm bytes (datasheet: the comparison is made at
 * each update); INT64_MAX when no time can ever match (e.g. an alarm second of 0x60). A match
 * repeats at least daily, so the rest of today and all of tomorrow suffice; the walk starts at the
 * current minute, so an alarm that matches soon is found in a few steps and the worst case stays
 * below two days of minutes. */
static int64_t rtc_alarm_next(const struct rtc_state *s, int64_t after)
{
    uint8_t as = s->cmos[RTC_SECONDS_ALARM], am = s->cmos[RTC_MINUTES_ALARM], ah = s->cmos[RTC_HOURS_ALARM];
    bool sec_ok[60], min_ok[60], hour_ok[24];
    for (unsigned i = 0; i < 60; i++) {
        sec_ok[i] = rtc_alarm_dont_care(as) || rtc_encode(s, i) == as;
        min_ok[i] = rtc_alarm_dont_care(am) || rtc_encode(s, i) == am;
    }
    for (unsigned i = 0; i < 24; i++)
        hour_ok[i] = rtc_alarm_dont_care(ah) || rtc_encode_hour(s, i) == ah;

    int64_t day0 = rtc_floor_div(after, RTC_SECS_PER_DAY);
    int64_t sod = after - day0 * RTC_SECS_PER_DAY;
    for (int64_t day = day0; day <= day0 + 1; day++)
        for (unsigned h = day == day0 ? (unsigned)(sod / 3600) : 0; h < 24; h++) {
            if (!hour_ok[h])
                continue;
            for (unsigned m = 0; m < 60; m++) {
                int64_t minute = day * RTC_SECS_PER_DAY + h * 3600 + m * 60;
                if (!min_ok[m] || minute + 59 <= after)
                    continue;
                for (unsigned sec = 0; sec < 60; sec++)
                    if (sec_ok[sec] && minute + sec > after)
                        return minute + sec;
            }
        }
    return INT64_MAX;
}

/* ---- flags and the interrupt -------------------------------------------------------------------- */

/* Folds every event in (flags_ns, now] into register C with the current settings: PF for each
 * periodic tap edge (divider running), UF for each update and AF for each update that matched the
 * alarm (clock running). Called before anything changes what those events would be. */
static void rtc_fold(struct rtc_state *s, int64_t now)
{
    int64_t from = s->flags_ns;
    if (now <= from)
        return;
    s->flags_ns = now;
    if (!rtc_divider_running(s))
        return;
    unsigned period = rtc_period_ticks(s);
    if (period && rtc_floor_div(rtc_ticks_at(s, now), period) > rtc_floor_div(rtc_ticks_at(s, from), period))
        s->cmos[RTC_REG_C] |= RTC_C_PF;
    if (!rtc_clock_running(s))
        return;
    int64_t sec_from = rtc_sec_at(s, from), sec_now = rtc_sec_at(s, now);
    if (sec_now <= sec_from)
        return;
    s->cmos[RTC_REG_C] |= RTC_C_UF;
    if (!(s->cmos[RTC_REG_C] & RTC_C_AF) && rtc_alarm_next(s, sec_from) <= sec_now)
        s->cmos[RTC_REG_C] |= RTC_C_AF;
}

/* IRQF: a flag whose interrupt is enabled (PF/AF/UF line up with PIE/AIE/UIE). */
static bool rtc_irqf(const struct rtc_state *s)
{
    return (s->cmos[RTC_REG_C] & s->cmos[RTC_REG_B] & RTC_C_FLAGS) != 0;
}

/* Drives IRQ 8 when IRQF changed (or always, with `force`, after a load). */
static void rtc_irq_update(struct rtc_state *s, bool force)
{
    bool level = rtc_irqf(s);
    if (level == s->irq_level && !force)
        return;
    s->irq_level = level;
    modvm_dev_irq_set(s->dev, RTC_IRQ, level ? MODVM_IRQ_HIGH : MODVM_IRQ_LOW);
}

/* The virtual time of the next event whose interrupt is enabled, INT64_MAX if none. */
static int64_t rtc_next_enabled_event(const struct rtc_state *s, int64_t now)
{
    uint8_t b = s->cmos[RTC_REG_B];
    int64_t next = INT64_MAX;
    if (!rtc_divider_running(s))
        return next;
    unsigned period = rtc_period_ticks(s);
    if ((b & RTC_B_PIE) && period) {
        int64_t k = rtc_floor_div(rtc_ticks_at(s, now), period) + 1;
        next = rtc_tick_time(s, k * period);
    }
    if (!rtc_clock_running(s))
        return next;
    int64_t sec = rtc_sec_at(s, now);
    if ((b & RTC_B_UIE) && rtc_time_of_sec(s, sec + 1) < next)
        next = rtc_time_of_sec(s, sec + 1);
    if (b & RTC_B_AIE) {
        int64_t alarm = rtc_alarm_next(s, sec);
        if (alarm != INT64_MAX && rtc_time_of_sec(s, alarm) < next)
            next = rtc_time_of_sec(s, alarm);
    }
    return next;
}

/* Brings flags, the IRQ line and the timer up to date. The timer is armed only while IRQF is clear
 * and some enabled event lies ahead: once IRQF is set, only a read of C (or disabling) can change
 * the line, and both come back here. */
static void rtc_schedule(struct rtc_state *s, int64_t now, bool force_irq)
{
    rtc_fold(s, now);
    rtc_irq_update(s, force_irq);
    int64_t next = rtc_irqf(s) ? INT64_MAX : rtc_next_enabled_event(s, now);
    if (!s->timer)
        return;
    if (next == INT64_MAX)
        (void)modvm_timer_stop(s->dev, s->timer);
    else
        (void)modvm_timer_arm(s->dev, s->timer, (uint64_t)next);
}

/* Timer callback (modvm_timer_fn): an enabled event is due. */
static void rtc_timer_fire(struct modvm_dev *dev, void *user)
{
    struct rtc_state *s = user;
    (void)dev;
    rtc_schedule(s, rtc_now(s), false);
}

/* ---- registers ---------------------------------------------------------------------------------- */

/* True for the bytes that hold the running time (the century byte included: "kept in sync"). */
static bool rtc_is_time_reg(unsigned idx)
{
    return idx == RTC_SECONDS || idx == RTC_MINUTES || idx == RTC_HOURS ||
           (idx >= RTC_DAY_OF_WEEK && idx <= RTC_YEAR) || idx == RTC_CENTURY;
}

/* Register A write: UIP is read-only; stopping the divider freezes the time into the registers,
 * releasing it restarts the phase half a second before the next update. */
static void rtc_write_a(struct rtc_state *s, uint8_t v, int64_t now)
{
    bool was_running = rtc_divider_running(s);
    rtc_fold(s, now);
    if (was_running)
        rtc_sync_regs(s, now);
    s->cmos[RTC_REG_A] = v & (uint8_t)~RTC_A_UIP;
    if (!was_running && rtc_divider_running(s)) {
        s->origin_ns = now - RTC_RELEASE_NS;
        rtc_parse(s); /* harmless under SET: parsed again when SET clears */
    }
}

/* Register B write: SET freezes the time (and clears UIE, datasheet); clearing it parses what the
 * guest wrote, in the new format, keeping the divider's phase. */
static void rtc_write_b(struct rtc_state *s, uint8_t v, int64_t now)
{
    bool was_set = (s->cmos[RTC_REG_B] & RTC_B_SET) != 0;
    rtc_fold(s, now);
    if (v & RTC_B_SET)
        v &= (uint8_t)~RTC_B_UIE;
    if (!was_set && (v & RTC_B_SET))
        rtc_sync_regs(s, now);
    s->cmos[RTC_REG_B] = v;
    if (was_set && !(v & RTC_B_SET) && rtc_divider_running(s)) {
        rtc_rebase(s, now);
        rtc_parse(s);
    }
}

/* A time byte written while the clock runs: the others are rendered, the byte replaced, and the
 * whole parsed back at the current second boundary (the divider's phase is not touched). */
static void rtc_write_time(struct rtc_state *s, unsigned idx, uint8_t v, int64_t now)
{
    if (!rtc_clock_running(s)) {
        s->cmos[idx] = v;
        return;
    }
    rtc_fold(s, now);
    rtc_sync_regs(s, now);
    s->cmos[idx] = v;
    rtc_rebase(s, now);
    rtc_parse(s);
}

/* A guest read of register `idx` (0..127). */
static uint8_t rtc_read_reg(struct rtc_state *s, unsigned idx)
{
    int64_t now = rtc_now(s);
    if (rtc_is_time_reg(idx)) {
        rtc_sync_regs(s, now);
        return s->cmos[idx];
    }
    switch (idx) {
    case RTC_REG_A:
        return (uint8_t)(s->cmos[RTC_REG_A] | (rtc_uip(s, now) ? RTC_A_UIP : 0u));
    case RTC_REG_C: {
        /* Reading C returns and clears every flag, which drops IRQF and the line. */
        rtc_fold(s, now);
        uint8_t v = (uint8_t)(s->cmos[RTC_REG_C] | (rtc_irqf(s) ? RTC_C_IRQF : 0u));
        s->cmos[RTC_REG_C] = 0;
        rtc_schedule(s, now, false);
        return v;
    }
    default:
        return s->cmos[idx];
    }
}

/* A guest write of register `idx` (0..127). */
static void rtc_write_reg(struct rtc_state *s, unsigned idx, uint8_t v)
{
    int64_t now = rtc_now(s);
    if (rtc_is_time_reg(idx)) {
        rtc_write_time(s, idx, v, now);
    } else {
        switch (idx) {
        case RTC_SECONDS_ALARM:
        case RTC_MINUTES_ALARM:
        case RTC_HOURS_ALARM:
            rtc_fold(s, now); /* matches so far were against the old alarm */
            s->cmos[idx] = v;
            break;
        case RTC_REG_A:
            rtc_write_a(s, v, now);
            break;
        case RTC_REG_B:
            rtc_write_b(s, v, now);
            break;
        case RTC_REG_C:
        case RTC_REG_D:
            return; /* read-only on the chip; writing them is harmless */
        default:
            s->cmos[idx] = v; /* battery-backed RAM */
            return;
        }
    }
    rtc_schedule(s, now, false);
}

/* ---- port I/O ----------------------------------------------------------------------------------- */

/* modvm_pio_in_fn: port 0x70 is write-only (reads float high, as QEMU's); port 0x71 reads the
 * addressed register. */
static uint32_t rtc_pio_in(struct modvm_dev *dev, void *user, uint16_t offset, unsigned size)
{
    struct rtc_state *s = user;
    if (size != 1 || offset >= RTC_NPORTS) {
        modvm_dev_guest_error(dev, "%u-byte read at offset %u (two one-byte ports)", size, offset);
        return 0xffffffffu;
    }
    if (offset == 0)
        return 0xff;
    return rtc_read_reg(s, s->latch & RTC_INDEX_MASK);
}

/* modvm_pio_out_fn: port 0x70 latches the index and the NMI mask; port 0x71 writes the register. */
static void rtc_pio_out(struct modvm_dev *dev, void *user, uint16_t offset, uint32_t value, unsigned size)
{
    struct rtc_state *s = user;
    if (size != 1 || offset >= RTC_NPORTS) {
        modvm_dev_guest_error(dev, "%u-byte write at offset %u (two one-byte ports)", size, offset);
        return;
    }
    if (offset == 0)
        s->latch = (uint8_t)value;
    else
        rtc_write_reg(s, s->latch & RTC_INDEX_MASK, (uint8_t)value);
}

static const struct modvm_pio_ops rtc_pio_ops = {
    .version = MODVM_PIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_1, /* outw 0x70 (index, then data) is split into bytes by the core */
    .in = rtc_pio_in,
    .out = rtc_pio_out,
};

/* ---- configuration ------------------------------------------------------------------------------ */

/* Reads `n` decimal digits at *p. */
static bool rtc_digits(const char **p, unsigned n, unsigned *out)
{
    unsigned v = 0;
    for (unsigned i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10u + (unsigned)(c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* Reads the character `c` at *p. */
static bool rtc_char(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* Parses "YYYY-MM-DD[THH:MM[:SS]]" (a space may stand for the T) into seconds since 1970. Returns
 * -EINVAL for the wrong shape, -ERANGE for fields out of range (Feb 30, hour 24). */
static int rtc_parse_iso(const char *str, int64_t *out)
{
    const char *p = str;
    unsigned y, mo, d, h = 0, mi = 0, sec = 0;
    if (!rtc_digits(&p, 4, &y) || !rtc_char(&p, '-') || !rtc_digits(&p, 2, &mo) || !rtc_char(&p, '-') ||
        !rtc_digits(&p, 2, &d))
        return -EINVAL;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (!rtc_digits(&p, 2, &h) || !rtc_char(&p, ':') || !rtc_digits(&p, 2, &mi))
            return -EINVAL;
        if (*p == ':') {
            p++;
            if (!rtc_digits(&p, 2, &sec))
                return -EINVAL;
        }
    }
    if (*p != '\0')
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > rtc_days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return -ERANGE;
    *out = rtc_days_from_civil(y, mo, d) * RTC_SECS_PER_DAY + h * 3600 + mi * 60 + sec;
    return 0;
}

/* The starting time from option `base`: seconds since 1970 of the RTC's calendar and the
 * nanoseconds already elapsed in that second (the host's, so our updates tick with its clock). */
static int rtc_base_time(struct modvm_dev *dev, int64_t *sec, int64_t *frac_ns)
{
    const char *base;
    int rc = modvm_dev_cfg_string(dev, "base", &base);
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "cannot read option 'base' (error %d)", rc);
    if (strcmp(base, "utc") == 0 || strcmp(base, "localtime") == 0) {
        struct timespec ts;
        struct tm tm;
        if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
            return modvm_dev_set_error(dev, -errno, "cannot read the host's clock");
        if (strcmp(base, "utc") == 0) {
            *sec = (int64_t)ts.tv_sec;
        } else {
            tzset();
            time_t t = ts.tv_sec;
            if (!localtime_r(&t, &tm))
                return modvm_dev_set_error(dev, -EINVAL, "cannot convert the host's time to local time");
            *sec = rtc_days_from_civil((int64_t)tm.tm_year + 1900, (unsigned)tm.tm_mon + 1, tm.tm_mday) *
                       RTC_SECS_PER_DAY +
                   tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
        }
        *frac_ns = ts.tv_nsec;
        return 0;
    }
    rc = rtc_parse_iso(base, sec);
    if (rc == -ERANGE)
        return modvm_dev_set_error(dev, -EINVAL, "option 'base': '%s' is not a valid date and time", base);
    if (rc != 0)
        return modvm_dev_set_error(dev, -EINVAL,
                                   "option 'base' must be 'utc', 'localtime' or a date and time like "
                                   "2020-01-01T00:00:00, got '%s'",
                                   base);
    *frac_ns = 0;
    return 0;
}

/* The SeaBIOS code of one boot device name, 0 if unknown. */
static unsigned rtc_boot_word(const char *w, size_t len)
{
    static const struct {
        const char *name;
        unsigned code;
    } words[] = {{"floppy", RTC_BOOT_FLOPPY}, {"disk", RTC_BOOT_DISK}, {"cdrom", RTC_BOOT_CDROM},
                 {"network", RTC_BOOT_NETWORK}};
    for (unsigned i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strlen(words[i].name) == len && strncmp(words[i].name, w, len) == 0)
            return words[i].code;
    return 0;
}

/* The SeaBIOS code of a QEMU-style boot letter, 0 if not one. */
static unsigned rtc_boot_letter(char c)
{
    switch (c) {
    case 'a':
    case 'b':
        return RTC_BOOT_FLOPPY;
    case 'c':
        return RTC_BOOT_DISK;
    case 'd':
        return RTC_BOOT_CDROM;
    case 'n':
        return RTC_BOOT_NETWORK;
    default:
        return 0;
    }
}

/* Parses option `boot` into up to three device codes: QEMU's letters ("cdn": disk, CD-ROM,
 * network; a/b floppy) or names joined by '+' ("cdrom+disk"). */
static int rtc_parse_boot(struct modvm_dev *dev, const char *str, uint8_t codes[RTC_BOOT_MAX])
{
    static const char usage[] = "letters a, c, d, n (as QEMU's -boot order=) or floppy, disk, cdrom, network "
                                "joined by '+'";
    unsigned n = 0;
    bool letters = str[0] != '\0' && strspn(str, "abcdn") == strlen(str);
    const char *p = str;

    memset(codes, 0, RTC_BOOT_MAX);
    while (*p) {
        unsigned code;
        size_t len = letters ? 1 : strcspn(p, "+");
        code = letters ? rtc_boot_letter(*p) : rtc_boot_word(p, len);
        if (code == 0)
            return modvm_dev_set_error(dev, -EINVAL, "option 'boot': unknown boot device '%.*s' (use %s)",
                                       (int)len, p, usage);
        if (n == RTC_BOOT_MAX)
            return modvm_dev_set_error(dev, -EINVAL, "option 'boot': at most %u boot devices, got '%s'",
                                       RTC_BOOT_MAX, str);
        for (unsigned i = 0; i < n; i++)
            if (codes[i] == code)
                return modvm_dev_set_error(dev, -EINVAL, "option 'boot': '%s' names a device twice", str);
        codes[n++] = (uint8_t)code;
        p += len;
        if (!letters && *p == '+' && *++p == '\0')
            return modvm_dev_set_error(dev, -EINVAL, "option 'boot': '%s' ends with '+'", str);
    }
    if (n == 0)
        return modvm_dev_set_error(dev, -EINVAL, "option 'boot' is empty (use %s)", usage);
    return 0;
}

/* Stores a little-endian value of `bytes` bytes at CMOS offset `at`. */
static void rtc_cmos_put(struct rtc_state *s, unsigned at, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        s->cmos[at + i] = (uint8_t)(v >> (8 * i));
}

/* Fills the battery-backed RAM the way a BIOS setup would have left it for this VM: memory sizes
 * (the layout PGM uses: RAM below 4 GiB up to the 3.5 GiB PCI hole, the rest from 4 GiB), the CPU
 * count, the equipment byte, the boot order and the AT checksum. */
static int rtc_fill_nvram(struct modvm_dev *dev, struct rtc_state *s, const uint8_t boot[RTC_BOOT_MAX])
{
    uint64_t ram, cpus;
    int rc = modvm_dev_vm_query(dev, MODVM_VM_FACT_RAM_SIZE, &ram);
    if (rc == 0)
        rc = modvm_dev_vm_query(dev, MODVM_VM_FACT_CPU_COUNT, &cpus);
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "cannot learn the VM's RAM size and CPU count (error %d)", rc);
    if (cpus == 0 || cpus > 256)
        return modvm_dev_set_error(dev, -EINVAL, "the VM's CPU count %llu does not fit CMOS byte 0x5f",
                                   (unsigned long long)cpus);

    uint64_t below = ram < RTC_LOW_RAM_LIMIT ? ram : RTC_LOW_RAM_LIMIT;
    uint64_t above = ram - below;
    uint64_t base_kib = below / RTC_KIB < CMOS_BASE_MEM_KIB ? below / RTC_KIB : CMOS_BASE_MEM_KIB;
    uint64_t ext_kib = below > RTC_MIB ? (below - RTC_MIB) / RTC_KIB : 0;
    uint64_t above_16m = below > 16 * RTC_MIB ? (below - 16 * RTC_MIB) / (64 * RTC_KIB) : 0;
    uint64_t above_4g = above / (64 * RTC_KIB);
    if (ext_kib > 0xffff)
        ext_kib = 0xffff;
    if (above_16m > 0xffff)
        above_16m = 0xffff;
    if (above_4g > 0xffffff)
        above_4g = 0xffffff;

    s->cmos[CMOS_FLOPPY_TYPES] = 0;
    s->cmos[CMOS_EQUIPMENT] = CMOS_EQUIPMENT_VALUE;
    rtc_cmos_put(s, CMOS_BASE_MEM, base_kib, 2);
    rtc_cmos_put(s, CMOS_EXT_MEM, ext_kib, 2);
    rtc_cmos_put(s, CMOS_EXT_MEM_POST, ext_kib, 2);
    rtc_cmos_put(s, CMOS_MEM_ABOVE_16M, above_16m, 2);
    rtc_cmos_put(s, CMOS_MEM_ABOVE_4G, above_4g, 3);
    s->cmos[CMOS_CPU_COUNT] = (uint8_t)(cpus - 1);
    s->cmos[CMOS_BOOT_ORDER] = (uint8_t)(boot[0] | boot[1] << 4);
    s->cmos[CMOS_BOOT_FLAGS] = (uint8_t)(boot[2] << 4); /* bit 0 clear: check the floppy boot signature */

    unsigned sum = 0;
    for (unsigned i = CMOS_CHECKSUM_FIRST; i <= CMOS_CHECKSUM_LAST; i++)
        sum += s->cmos[i];
    rtc_cmos_put(s, CMOS_CHECKSUM + 1, sum & 0xff, 1);
    rtc_cmos_put(s, CMOS_CHECKSUM, (sum >> 8) & 0xff, 1);
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------------------------------- */

/* Devreg construct callback: options, CMOS contents, the time, then the timer and the ports. */
static int rtc_construct(struct modvm_dev *dev)
{
    struct rtc_state *s = dev->data;
    const char *boot_str;
    uint8_t boot[RTC_BOOT_MAX];
    int64_t sec = 0, frac = 0;
    int rc;

    s->dev = dev;
    if ((rc = rtc_base_time(dev, &sec, &frac)) != 0)
        return rc;
    if ((rc = modvm_dev_cfg_string(dev, "boot", &boot_str)) != 0)
        return modvm_dev_set_error(dev, rc, "cannot read option 'boot' (error %d)", rc);
    if ((rc = rtc_parse_boot(dev, boot_str, boot)) != 0)
        return rc;

    s->cmos[RTC_REG_A] = RTC_A_POWER_ON;
    s->cmos[RTC_REG_B] = RTC_B_POWER_ON;
    s->cmos[RTC_REG_C] = 0;
    s->cmos[RTC_REG_D] = RTC_D_VRT;
    if ((rc = rtc_fill_nvram(dev, s, boot)) != 0)
        return rc;
    int64_t now = rtc_now(s);
    s->time_sec = sec;
    s->origin_ns = now - frac;
    s->flags_ns = now;
    s->dow_adjust = 0;
    rtc_render(s, sec); /* the century byte now holds the right value for anyone dumping the RAM */

    rc = modvm_timer_create(dev, MODVM_CLOCK_VIRTUAL, rtc_timer_fire, s, "rtc interrupt", &s->timer);
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "cannot create the interrupt timer (error %d)", rc);
    rc = modvm_pio_register(dev, RTC_IOBASE, RTC_NPORTS, &rtc_pio_ops, s, "rtc", &s->pio);
    if (rc == -EBUSY)
        return modvm_dev_set_error(dev, rc, "I/O ports 0x70-0x71 are already in use");
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "cannot register I/O ports 0x70-0x71 (error %d)", rc);
    return 0;
}

/* Devreg destruct callback; copes with a construct that stopped anywhere. */
static void rtc_destruct(struct modvm_dev *dev)
{
    struct rtc_state *s = dev->data;
    modvm_pio_destroy(dev, s->pio);
    s->pio = NULL;
    modvm_timer_destroy(dev, s->timer);
    s->timer = NULL;
}

/* Devreg reset callback: the chip's RESET pin clears the interrupt enables, SQWE and every flag;
 * the time, the divider and the RAM are battery-backed and stay. */
static void rtc_reset(struct modvm_dev *dev)
{
    struct rtc_state *s = dev->data;
    int64_t now = rtc_now(s);
    rtc_fold(s, now);
    s->cmos[RTC_REG_B] &= (uint8_t)~(RTC_B_PIE | RTC_B_AIE | RTC_B_UIE | RTC_B_SQWE);
    s->cmos[RTC_REG_C] = 0;
    rtc_schedule(s, now, false);
}

/* ---- saved state -------------------------------------------------------------------------------- */

/* Saved state v1 (133 bytes):
 *   u8  the port-0x70 latch (index and NMI mask)
 *   u8  cmos[128], the time bytes rendered at the moment of saving; register A without UIP,
 *       register C with only PF/AF/UF, register D = 0x80
 *   u32 nanoseconds since the divider's last second boundary (< 10^9)
 * The time travels as register contents, not as a virtual-clock value, so a state loads into a VM
 * whose virtual clock started elsewhere; the interrupt timer is recomputed. */
#define RTC_SS_LEN (1u + RTC_CMOS_SIZE + 4u)

/* Devreg save callback. */
static int rtc_save(struct modvm_dev *dev, struct modvm_ssm *ssm)
{
    struct rtc_state *s = dev->data;
    int64_t now = rtc_now(s);
    rtc_fold(s, now);
    rtc_sync_regs(s, now);
    uint32_t phase = (uint32_t)rtc_floor_mod(now - s->origin_ns, RTC_NS_PER_SEC);
    int rc = modvm_ssm_put_u8(dev, ssm, s->latch);
    if (rc == 0)
        rc = modvm_ssm_put_bytes(dev, ssm, s->cmos, RTC_CMOS_SIZE);
    if (rc == 0)
        rc = modvm_ssm_put_u32(dev, ssm, phase);
    return rc;
}

/* Devreg load callback: reads into copies, checks them, and only then commits (a rejected state
 * leaves the device as it was). */
static int rtc_load(struct modvm_dev *dev, struct modvm_ssm *ssm, uint32_t version)
{
    struct rtc_state *s = dev->data;
    uint8_t latch = 0, cmos[RTC_CMOS_SIZE];
    uint32_t phase = 0;

    if (version != RTC_SAVED_STATE_V1)
        return modvm_dev_set_error(dev, -EINVAL, "saved state version %u is not supported (this build reads %u)",
                                   version, RTC_SAVED_STATE_V1);
    int rc = modvm_ssm_get_u8(dev, ssm, &latch);
    if (rc == 0)
        rc = modvm_ssm_get_bytes(dev, ssm, cmos, RTC_CMOS_SIZE);
    if (rc == 0)
        rc = modvm_ssm_get_u32(dev, ssm, &phase);
    if (rc != 0)
        return modvm_dev_set_error(dev, -EINVAL, "saved state is truncated or unreadable (error %d)", rc);
    if (cmos[RTC_REG_A] & RTC_A_UIP)
        return modvm_dev_set_error(dev, -EINVAL, "saved state: register A 0x%02x has the read-only UIP bit",
                                   cmos[RTC_REG_A]);
    if (cmos[RTC_REG_C] & (uint8_t)~RTC_C_FLAGS)
        return modvm_dev_set_error(dev, -EINVAL, "saved state: register C 0x%02x has bits beyond PF/AF/UF",
                                   cmos[RTC_REG_C]);
    if (cmos[RTC_REG_D] != RTC_D_VRT)
        return modvm_dev_set_error(dev, -EINVAL, "saved state: register D is 0x%02x, not 0x%02x", cmos[RTC_REG_D],
                                   RTC_D_VRT);
    if (phase >= RTC_NS_PER_SEC)
        return modvm_dev_set_error(dev, -EINVAL, "saved state: divider phase %u ns is not below one second",
                                   phase);

    int64_t now = rtc_now(s);
    s->latch = latch;
    memcpy(s->cmos, cmos, RTC_CMOS_SIZE);
    s->origin_ns = now - (int64_t)phase;
    s->flags_ns = now;
    rtc_parse(s); /* the time if the clock runs; otherwise parsed again when it restarts */
    rtc_schedule(s, now, true);
    return 0;
}

/* ---- registration ------------------------------------------------------------------------------- */

static const struct modvm_cfg_option rtc_options[] = {
    {.name = "base", .type = MODVM_CFG_STRING, .default_value = "utc",
     .help = "starting time: utc (the host's clock), localtime, or a date like 2020-01-01T00:00:00"},
    {.name = "boot", .type = MODVM_CFG_STRING, .default_value = "disk",
     .help = "BIOS boot order in CMOS: letters a/c/d/n as QEMU's -boot order=, or floppy+disk+cdrom+network"},
    {.name = NULL},
};

static const struct modvm_devreg rtc_devreg = {
    .version = MODVM_DEVREG_VERSION,
    .flags = 0,
    .name = "rtc",
    .description = "MC146818 real-time clock and CMOS RAM (ports 0x70-0x71, IRQ 8)",
    .family = MODVM_DEV_FAMILY_SYSTEM,
    .max_instances = 1,
    .instance_size = sizeof(struct rtc_state),
    .options = rtc_options,
    .saved_state_version = RTC_SAVED_STATE_V1,
    .construct = rtc_construct,
    .destruct = rtc_destruct,
    .reset = rtc_reset,
    .save = rtc_save,
    .load = rtc_load,
    .version_end = MODVM_DEVREG_VERSION,
};

/* The plugin's register_types: one device type. */
static int rtc_register(const struct modvm_registrar *reg)
{
    return reg->register_device(reg, &rtc_devreg);
}

MODVM_PLUGIN(.name = "rtc", .plugin_version = "1.0.0", .license = "MIT",
             .description = "MC146818A real-time clock and CMOS RAM", .register_types = rtc_register);
