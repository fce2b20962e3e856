; =============================================================================
; cf9-reset.asm - modvm test guest: the PIIX3 reset control register at 0xCF9
;
; Tests:   RC (82371SB datasheet 4.1.16) reads 0 at power-on, keeps the
;          SRST bit (bit 1) a byte write sets without resetting, and a write
;          with RCPU (bit 2) resets the system.  Run with --no-reboot (QEMU:
;          -no-reboot) so that the reset ends the VM with status 0.
; Follows: 82371SB (PIIX3) datasheet 4.1.16; Multiboot 0.6.96 (boot.inc).
; Output:  "cf9-reset: rc 00"
;          "cf9-reset: rc 02"
;          "cf9-reset: resetting"                   then the VM resets
;          "cf9-reset: FAIL <what>"                 debug-exit 0x7f (status 255)
; =============================================================================
%define GUEST_NAME "cf9-reset"
%include "boot.inc"

RC_PORT         equ 0xCF9
RC_SRST         equ 0x02
RC_RCPU         equ 0x04

section .text

print_rc:                           ; "cf9-reset: rc NN" for the value read now
    PUTS "cf9-reset: rc "
    mov dx, RC_PORT
    in al, dx
    movzx eax, al
    mov ecx, 2
    call serial_put_hex_n
    call serial_newline
    ret

guest_main:
    call serial_init
    call print_rc
    mov dx, RC_PORT
    mov al, RC_SRST
    out dx, al
    call print_rc
    PUTS "cf9-reset: resetting", 10
    call serial_drain
    mov dx, RC_PORT
    mov al, RC_SRST | RC_RCPU
    out dx, al
    call wd_start
.wait:
    call wd_expired
    jnc .wait
    FAIL "no reset after writing 06h to port 0xCF9"
