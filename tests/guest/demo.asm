; =============================================================================
; demo.asm - modvm acceptance guest: "unmodified QEMU guest"
;
; Tests:   a small but complete PC guest: COM1 output and scratch register,
;          LAPIC + INIT-SIPI-SIPI bring-up of all APs (shared with smp.asm),
;          PIT channel 2 delays, debug-exit.
; Follows: Multiboot 0.6.96 (boot.inc); PC16550D datasheet (serial.inc);
;          Intel SDM vol 3A ch. 8.4 and ch. 10/11 (smp.inc); Intel 8254
;          datasheet (pit.inc).
; Output:  "modvm demo guest"
;          "demo: apic ids: bsp B, aps A1 A2 ..."  (informational)
;          "demo: N cpus, ok"                      debug-exit 0x20+N (status 65+2N)
;          "demo: FAIL <what>"                     debug-exit 0x7f (status 255)
; =============================================================================
%define GUEST_NAME "demo"
%include "boot.inc"
%include "pit.inc"
%include "smp.inc"

section .text
guest_main:
    call serial_init
    PUTS "modvm demo guest", 10
    call serial_check_scratch
    call smp_start_aps
    call smp_print_ids
    inc eax                             ; + BSP
    mov ebx, eax
    PUTS "demo: "
    call serial_put_dec
    PUTS " cpus, ok", 10
    lea eax, [ebx + 0x20]
    ret
