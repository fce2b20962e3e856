; =============================================================================
; example-device.asm - modvm test guest for the SDK example device plugin
;
; Tests:   32-bit port I/O to the example plugin device: port 0x704 reads
;          the magic 0x4d564d31 ('MVM1'); a 32-bit write of X to port 0x700
;          stores X and a 32-bit read of 0x700 returns X + 1 (mod 2^32).
; Follows: the modvm SDK example-device contract above; Multiboot 0.6.96
;          (boot.inc); PC16550D datasheet for output.
; Output:  "example-device: ok"                    debug-exit 0x13 (status 39)
;          "example-device: FAIL <what> (got 0x..)" debug-exit 0x7f (status 255)
;          (under plain QEMU there is no such device: "FAIL magic ...")
; =============================================================================
%define GUEST_NAME "example-device"
%include "boot.inc"

EXDEV_DATA  equ 0x700
EXDEV_MAGIC equ 0x704
EXDEV_MAGIC_VALUE equ 0x4d564d31

section .text
guest_main:
    call serial_init

    mov dx, EXDEV_MAGIC
    in eax, dx
    cmp eax, EXDEV_MAGIC_VALUE
    je .magic_ok
    FAIL_VAL "magic at port 0x704 is not 0x4d564d31"
.magic_ok:
    mov dx, EXDEV_DATA
    mov eax, 41
    out dx, eax
    in eax, dx
    cmp eax, 42
    je .plus_one_ok
    FAIL_VAL "wrote 41 to port 0x700, read back is not 42"
.plus_one_ok:
    mov eax, 0xFFFFFFFF
    out dx, eax
    in eax, dx
    test eax, eax
    jz .wrap_ok
    FAIL_VAL "wrote 0xffffffff to port 0x700, read back is not 0"
.wrap_ok:
    PUTS "example-device: ok", 10
    mov eax, 0x13
    ret
