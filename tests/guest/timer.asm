; =============================================================================
; timer.asm - modvm test guest: 8254 PIT channel 0 -> IRQ0 via 8259A PIC
;
; Tests:   PIT channel 0 in mode 2 (rate generator) at ~1000 Hz, counter
;          latch read-back, IRQ0 delivery through the remapped master PIC
;          (vector 0x20) with EOI, waking the CPU from `sti; hlt`.
; Follows: Intel 8254 PIT datasheet (pit.inc); Intel 8259A datasheet
;          (pic.inc); Multiboot 0.6.96 (boot.inc).
; Watchdog: the first tick is awaited by polling (no hlt) against the TSC /
;          2^30-iteration watchdog from boot.inc; only once ticks are known
;          to arrive does the guest sleep in `sti; hlt` for the rest.
; Output:  "timer: ok 50 ticks"                    debug-exit 0x12 (status 37)
;          "timer: FAIL <what>"                    debug-exit 0x7f (status 255)
; =============================================================================
%define GUEST_NAME "timer"
%include "boot.inc"
%include "pic.inc"
%include "pit.inc"

TIMER_VECTOR equ PIC1_VECTOR + 0        ; IRQ0 -> 0x20
TICKS_WANTED equ 50

section .text
guest_main:
    call serial_init
    call pic_init
    mov eax, TIMER_VECTOR
    mov edx, timer_isr
    call idt_set_gate

    mov ax, PIT_TICKS_1MS
    call pit_ch0_periodic
    ; A latched read must lie inside the programmed period (mode 2 counts
    ; N..1).
    call pit_ch0_read
    test eax, eax
    jz .bad_count
    cmp eax, PIT_TICKS_1MS
    jbe .count_ok
.bad_count:
    FAIL_VAL "PIT channel 0 latched count outside 1..1193"
.count_ok:

    mov ax, 0xFF00 | (0xFF & ~(1 << 0))  ; only IRQ0 unmasked
    call pic_set_masks

    ; Phase 1: poll for the first tick (interrupts on, no hlt).
    call wd_start
    sti
.first_tick:
    cmp dword [ticks], 0
    WAIT_UNTIL ja, .first_tick, "no timer tick arrived (watchdog)"

    ; Phase 2: ticks are flowing; sleep until enough have arrived.
.sleep:
    cli
    cmp dword [ticks], TICKS_WANTED
    jae .done
    sti                                 ; sti; hlt - no lost-wakeup window
    hlt
    jmp .sleep
.done:
    mov ax, 0xFFFF
    call pic_set_masks
    PUTS "timer: ok "
    mov eax, TICKS_WANTED
    call serial_put_dec
    PUTS " ticks", 10
    mov eax, 0x12
    ret

timer_isr:
    inc dword [ticks]
    call pic_eoi_master
    IRQ_RETURN

section .data
align 4
ticks: dd 0
