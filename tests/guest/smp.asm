; =============================================================================
; smp.asm - modvm test guest: bring up all application processors
;
; Tests:   LAPIC enable, INIT-SIPI-SIPI to all-excluding-self, AP real-mode
;          trampoline at 0x8000 (SIPI vector 0x08) -> protected mode, AP
;          check-in with lock-prefixed counters, distinct LAPIC IDs; PIT
;          channel 2 for the 10 ms / 200 us delays.
; Follows: Intel SDM vol 3A ch. 8.4 (MP initialisation) and ch. 10/11
;          (local APIC, ICR) via smp.inc; Intel 8254 datasheet (pit.inc);
;          Multiboot 0.6.96 (boot.inc).
; Output:  "smp: apic ids: bsp B, aps A1 A2 ..."   (informational)
;          "smp: N cpus"                           debug-exit N (status 2N+1)
;          "smp: FAIL <what>"                      debug-exit 0x7f (status 255)
;          N = APs that checked in + 1 (waits up to 1 s; stops 200 ms after
;          the count last changed once at least one AP is up).
; =============================================================================
%define GUEST_NAME "smp"
%include "boot.inc"
%include "pit.inc"
%include "smp.inc"

section .text
guest_main:
    call serial_init
    call smp_start_aps
    call smp_print_ids
    inc eax                             ; + BSP
    mov ebx, eax
    PUTS "smp: "
    call serial_put_dec
    PUTS " cpus", 10
    mov eax, ebx
    ret
