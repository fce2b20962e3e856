; =============================================================================
; pam.asm - modvm test guest: the i440FX PAM registers switch 0xC0000-0xFFFFF
;
; Tests:   PAM0-PAM6 (host bridge 00:00.0, registers 0x59-0x5F) as a
;          directly booted guest finds them (modvm plays the firmware that
;          opened the area: 30 33 33 33 33 33 33), then on segment 0xD0000
;          (PAM3 bits 1:0) every mode: read-only drops writes, disabled
;          reads the PCI side (all ones: no firmware) and drops writes,
;          write-only writes RAM while reads still see the PCI side, and
;          read/write shows what the write-only phase stored; the
;          neighbouring segment 0xD4000 (PAM3 bits 5:4) stays RAM
;          throughout; code copied to 0xD8000 runs after PAM4 makes it
;          read-only; and PAM0 switches the 64 KiB 0xF0000 segment.
; Follows: Intel 82441FX datasheet (290549) 3.2.18 PAM registers (RE bit
;          0/4, WE bit 1/5; PAM0 has only bits 5:4); PCI Local Bus 3.0
;          3.2.2.3.2 (pcicfg.inc); Multiboot 0.6.96 (boot.inc).
; Output:  "pam: power-on 30 33 33 33 33 33 33"
;          "pam: read-only drops writes"
;          "pam: disabled reads the pci side"
;          "pam: write-only writes ram"
;          "pam: code runs from read-only shadow"
;          "pam: f segment switches"
;          "pam: done"                              debug-exit 1 (status 3)
;          "pam: FAIL <what>"                       debug-exit 0x7f (status 255)
; Needs the i440fx device.  Under QEMU, SeaBIOS runs first and leaves other
; PAM values, so this guest is modvm's alone.
; =============================================================================
%define GUEST_NAME "pam"
%include "boot.inc"
%include "pcicfg.inc"

PAM0            equ 0x59
PAM3            equ 0x5C
PAM4            equ 0x5D
PAM_COUNT       equ 7
SEG_D0          equ 0xD0000         ; PAM3 bits 1:0
SEG_D4          equ 0xD4000         ; PAM3 bits 5:4
SEG_D8          equ 0xD8000         ; PAM4 bits 1:0
SEG_F0          equ 0xF0000         ; PAM0 bits 5:4

section .text

set_pam3:                           ; PAM3 := cl
    push ebx
    mov ebx, PAM3
    call cfg_write8
    pop ebx
    ret

guest_main:
    call serial_init

    ; --- power-on values, printed in register order -------------------------
    PUTS "pam: power-on"
    mov ebx, PAM0
.print:
    call cfg_read8
    mov [pam_seen + ebx - PAM0], al
    mov al, ' '
    call serial_putc
    mov eax, [pam_seen + ebx - PAM0]
    mov ecx, 2
    call serial_put_hex_n
    inc ebx
    cmp ebx, PAM0 + PAM_COUNT
    jb .print
    call serial_newline
    cmp byte [pam_seen], 0x30
    jne .bad_power_on
    mov ecx, 1
.check_rest:
    cmp byte [pam_seen + ecx], 0x33
    jne .bad_power_on
    inc ecx
    cmp ecx, PAM_COUNT
    jb .check_rest

    ; --- read-only: writes dropped, the neighbour stays RAM ----------------
    mov dword [SEG_D0], 0x11111111
    mov dword [SEG_D4], 0x66666666
    mov cl, 0x31                    ; D0 RE, D4 RE|WE
    call set_pam3
    mov dword [SEG_D0], 0x22222222
    mov eax, [SEG_D0]
    cmp eax, 0x11111111
    je .ro_ok
    FAIL_VAL "a write to a read-only segment reached RAM"
.ro_ok:
    mov dword [SEG_D4], 0x77777777
    mov eax, [SEG_D4]
    cmp eax, 0x77777777
    je .ro_neighbour_ok
    FAIL_VAL "the read/write neighbour segment lost a write"
.ro_neighbour_ok:
    PUTS "pam: read-only drops writes", 10

    ; --- disabled: reads the PCI side (all ones), writes dropped -----------
    mov cl, 0x30
    call set_pam3
    mov eax, [SEG_D0]
    cmp eax, 0xFFFFFFFF
    je .off_read_ok
    FAIL_VAL "a disabled segment did not read the PCI side"
.off_read_ok:
    mov dword [SEG_D0], 0x44444444
    mov eax, [SEG_D0 + 0x3FFC]      ; the segment's last dword
    cmp eax, 0xFFFFFFFF
    je .off_ok
    FAIL_VAL "a disabled segment's end did not read all ones"
.off_ok:
    PUTS "pam: disabled reads the pci side", 10

    ; --- write-only: writes RAM, reads the PCI side -------------------------
    mov cl, 0x32
    call set_pam3
    mov dword [SEG_D0], 0x55555555
    mov eax, [SEG_D0]
    cmp eax, 0xFFFFFFFF
    je .wo_read_ok
    FAIL_VAL "a write-only segment read RAM"
.wo_read_ok:
    mov cl, 0x33
    call set_pam3
    mov eax, [SEG_D0]
    cmp eax, 0x55555555
    je .wo_ok
    FAIL_VAL "the write-only phase's write is not in RAM"
.wo_ok:
    mov eax, [SEG_D4]
    cmp eax, 0x77777777
    je .wo_neighbour_ok
    FAIL_VAL "the neighbour segment changed"
.wo_neighbour_ok:
    PUTS "pam: write-only writes ram", 10

    ; --- code in a read-only segment runs ----------------------------------
    mov esi, shadow_code
    mov edi, SEG_D8
    mov ecx, shadow_code_end - shadow_code
    rep movsb
    mov ebx, PAM4
    mov cl, 0x31                    ; D8 RE only, DC RE|WE
    call cfg_write8
    mov eax, SEG_D8
    call eax
    cmp eax, 0x600DC0DE
    je .code_ok
    FAIL_VAL "code in a read-only shadow segment returned"
.code_ok:
    mov byte [SEG_D8], 0x90         ; dropped: the code is still there
    mov eax, SEG_D8
    call eax
    cmp eax, 0x600DC0DE
    je .code_kept
    FAIL_VAL "a write changed read-only shadowed code; it returned"
.code_kept:
    PUTS "pam: code runs from read-only shadow", 10

    ; --- PAM0 switches the whole 64 KiB F segment ---------------------------
    mov dword [SEG_F0 + 0xFFFC], 0x12345678
    mov ebx, PAM0
    mov cl, 0x00
    call cfg_write8
    mov eax, [SEG_F0 + 0xFFFC]
    cmp eax, 0xFFFFFFFF
    je .f_off_ok
    FAIL_VAL "PAM0 = 0 did not switch 0xFFFFC to the PCI side"
.f_off_ok:
    mov cl, 0x10                    ; read-only: RAM again
    call cfg_write8
    mov eax, [SEG_F0 + 0xFFFC]
    cmp eax, 0x12345678
    je .f_ok
    FAIL_VAL "PAM0 read-only did not show the RAM at 0xFFFFC"
.f_ok:
    PUTS "pam: f segment switches", 10

    PUTS "pam: done", 10
    mov eax, 1
    ret

.bad_power_on:
    FAIL "PAM power-on values are not 30 33 33 33 33 33 33 (a kernel booted directly)"

; Copied to 0xD8000 and called there (position-independent).
shadow_code:
    mov eax, 0x600DC0DE
    ret
shadow_code_end:

section .bss
pam_seen: resb PAM_COUNT
