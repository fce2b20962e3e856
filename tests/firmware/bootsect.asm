; bootsect.asm — a two-sector test disk for firmware boot (modvm + SeaBIOS, and QEMU + SeaBIOS).
;
; Sector 0 is an MBR-style boot sector (512 bytes ending in 55 AA) that the BIOS loads at 0000:7C00
; with the boot drive in DL. It prints a line through INT 10h AH=0Eh (SeaBIOS's serial console
; mirrors the text screen to COM1), reads sector 1 through INT 13h (AH=42h when the BIOS has the
; extensions, else AH=02h), prints the string it finds there, checks that the BIOS left its code at
; F000:0000-FFFF write-protected (SeaBIOS does so through the i440FX PAM0 register once it has shadowed
; itself), and ends the VM through the
; isa-debug-exit port 0xF4: status (0x21 << 1) | 1 = 67 on success, (0x3E << 1) | 1 = 125 when the
; read failed. Before exiting it waits three timer ticks: SeaBIOS's serial console buffers its output
; and flushes it from the timer interrupt, so text printed just before the exit would be lost.
; Sector 1 holds the NUL-terminated message.
;
; Build: nasm -f bin -I tests/firmware/ -o bootsect.bin bootsect.asm  (1024 bytes; the test pads the image to 1 MiB)

        bits 16
        org 0x7c00

EXIT_PORT       equ 0xf4
EXIT_OK         equ 0x21
EXIT_READ_FAIL  equ 0x3e
BUFFER          equ 0x7e00

start:
        cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7c00
        sti
        cld
        mov [boot_drive], dl

        mov si, msg_hello
        call print

        ; INT 13h extensions present? (AH=41h, BX=55AAh -> CF clear, BX=AA55h, CX bit 0)
        mov ah, 0x41
        mov bx, 0x55aa
        mov dl, [boot_drive]
        int 0x13
        jc .chs
        cmp bx, 0xaa55
        jne .chs
        test cx, 1
        jz .chs

        mov si, msg_lba
        call print
        mov si, dap
        mov ah, 0x42
        mov dl, [boot_drive]
        int 0x13
        jc read_failed
        jmp .got

.chs:   mov si, msg_chs
        call print
        mov ax, 0x0201          ; AH=02h read, AL=1 sector
        mov cx, 0x0002          ; cylinder 0, sector 2 (sectors count from 1)
        xor dh, dh              ; head 0
        mov dl, [boot_drive]
        mov bx, BUFFER
        int 0x13
        jc read_failed

.got:   mov si, BUFFER
        call print
        call check_bios_ro
        mov si, msg_done
        call print
        mov al, EXIT_OK
        jmp exit

read_failed:
        mov si, msg_fail
        call print
        mov al, EXIT_READ_FAIL

exit:   mov dl, al
        call settle
        mov al, dl
        out EXIT_PORT, al
.halt:  cli
        hlt
        jmp .halt

; Writes the complement of a byte of the BIOS's F segment and reports whether the write stuck
; (restoring the byte if it did).
check_bios_ro:
        push ds
        mov ax, 0xf000
        mov ds, ax
        mov al, [0xe000]
        mov ah, al
        not al
        mov [0xe000], al
        mov al, [0xe000]
        mov [0xe000], ah
        pop ds
        mov si, msg_bios_ro
        cmp al, ah
        je .report
        mov si, msg_bios_rw
.report:
        jmp print

%include "bios16.inc"

; The disk address packet for AH=42h: 1 sector at LBA 1 to 0000:7E00.
dap:    db 0x10, 0
        dw 1
        dw BUFFER, 0
        dq 1

boot_drive: db 0
msg_hello:  db "bootsect: hello from sector 0", 13, 10, 0
msg_lba:    db "bootsect: reading sector 1 (int 13h ah=42h)", 13, 10, 0
msg_chs:    db "bootsect: reading sector 1 (int 13h ah=02h)", 13, 10, 0
msg_done:   db "bootsect: done", 13, 10, 0
msg_bios_ro: db "bootsect: bios area write-protected", 13, 10, 0
msg_bios_rw: db "bootsect: bios area writable", 13, 10, 0
msg_fail:   db "bootsect: reading sector 1 failed", 13, 10, 0

        times 510 - ($ - $$) db 0
        dw 0xaa55

; ---- sector 1 ----
        db "bootsect: sector 1 says hello", 13, 10, 0
        times 1024 - ($ - $$) db 0
