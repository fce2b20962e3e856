; reboot.asm — a boot sector that resets the machine once: the firmware's reset path (modvm re-copies
; SeaBIOS into the legacy BIOS area, so the BIOS runs its POST again rather than its resume path).
;
; It keeps a boot count in CMOS byte 0x7E (battery-backed RAM that a reset keeps; unused by SeaBIOS
; and QEMU). First boot: prints a line, sets the byte, resets through System Control Port A (port
; 0x92 bit 0, "fast reset"). Second boot: prints a line, clears the byte and exits through the
; isa-debug-exit port 0xF4 with status (0x22 << 1) | 1 = 69. Like bootsect.asm it waits three timer
; ticks before a reset or exit so SeaBIOS's serial console flushes its buffer.
;
; Build: nasm -f bin -I tests/firmware/ -o reboot.bin reboot.asm  (512 bytes)

        bits 16
        org 0x7c00

EXIT_PORT       equ 0xf4
EXIT_OK         equ 0x22
CMOS_INDEX      equ 0x70
CMOS_DATA       equ 0x71
CMOS_MARK       equ 0x7e
MARK            equ 0xa5

start:
        cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7c00
        sti
        cld

        mov al, CMOS_MARK
        out CMOS_INDEX, al
        in al, CMOS_DATA
        cmp al, MARK
        je second

        mov si, msg_first
        call print
        mov al, CMOS_MARK
        out CMOS_INDEX, al
        mov al, MARK
        out CMOS_DATA, al
        call settle
        in al, 0x92
        or al, 1                ; fast reset
        out 0x92, al
.wait:  hlt                     ; the reset takes effect once the VM acts on it
        jmp .wait

second:
        mov si, msg_second
        call print
        mov al, CMOS_MARK
        out CMOS_INDEX, al
        xor al, al
        out CMOS_DATA, al
        call settle
        mov al, EXIT_OK
        out EXIT_PORT, al
.halt:  cli
        hlt
        jmp .halt

%include "bios16.inc"

msg_first:  db "reboot: first boot, resetting through port 0x92", 13, 10, 0
msg_second: db "reboot: second boot after the reset", 13, 10, 0

        times 510 - ($ - $$) db 0
        dw 0xaa55
