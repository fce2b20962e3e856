; optionrom.asm — a one-block PCI expansion ROM for pci-testdev (1b36:0005, class 00/ffh), for the
; firmware test 'optionrom' (modvm + SeaBIOS, and QEMU + SeaBIOS).
;
; Layout (PCI Firmware Specification 3.0 §5.1 and PCI Local Bus 3.0 §6.3.1): the legacy ROM header
; (55 AAh, size in 512-byte blocks, the init entry at offset 3, the PCI data structure pointer at 18h),
; a PnP expansion header (Plug and Play BIOS Specification 1.0A, appendix A: SeaBIOS calls the init
; entry with AX = the device's bus/devfn only for PnP ROMs; a legacy ROM's entry becomes a boot
; connection vector called without it) with no boot vectors, and the "PCIR" data structure with the
; device's IDs and class code, code type 0 (x86), last image.
;
; The init routine, far-called by the BIOS with AH = bus and AL = devfn, prints
; "optionrom: hello from bus BB devfn DD" through INT 10h AH=0Eh (SeaBIOS's serial console mirrors the
; text screen to COM1), keeps its size (one block) and returns with RETF, every register preserved.
;
; The last byte is the checksum: nasm leaves it 0 and rom-checksum.py sets it so that all bytes of the
; image add up to 0 mod 256 (SeaBIOS refuses a ROM whose sum is not 0).
;
; Build: nasm -f bin -o optionrom.raw optionrom.asm && rom-checksum.py optionrom.raw optionrom.bin

        bits 16
        org 0

ROM_BLOCKS      equ 1
VENDOR_ID       equ 0x1b36
DEVICE_ID       equ 0x0005
CLASS_BASE      equ 0x00
CLASS_SUB       equ 0xff
CLASS_PROG_IF   equ 0x00

; ---- legacy ROM header ----
header:
        db 0x55, 0xaa
        db ROM_BLOCKS
        jmp near init           ; offset 3: the init entry (3 bytes)
        times 0x18 - ($ - $$) db 0
        dw pcir                 ; 18h: the PCI data structure
        dw pnp                  ; 1Ah: the PnP expansion header

; ---- PnP expansion header (16-byte aligned, 32 bytes) ----
        align 16, db 0
pnp:
        db "$PnP"
        db 1                    ; structure revision
        db 2                    ; length in 16-byte units
        dw 0                    ; next header: none
        db 0                    ; reserved
        db pnp_sum              ; checksum of these 32 bytes
        dd 0                    ; device identifier
        dw str_vendor           ; manufacturer string
        dw str_product          ; product name string
        db CLASS_PROG_IF, CLASS_SUB, CLASS_BASE ; device type code
        db 0                    ; device indicators
        dw 0                    ; boot connection vector: none
        dw 0                    ; disconnect vector
        dw 0                    ; bootstrap entry vector: none
        dw 0                    ; reserved
        dw 0                    ; static resource information vector
; The header's checksum byte makes its 32 bytes add up to 0 (every other byte is a constant above).
%define BYTES16(x) (((x) - header) & 0xff) + (((x) - header) >> 8)
pnp_sum equ (-('$' + 'P' + 'n' + 'P' + 1 + 2 + BYTES16(str_vendor) + BYTES16(str_product) + \
               CLASS_PROG_IF + CLASS_SUB + CLASS_BASE)) & 0xff

; ---- PCI data structure (PCI 3.0 layout, 1Ch bytes, dword aligned) ----
        align 4, db 0
pcir:
        db "PCIR"
        dw VENDOR_ID
        dw DEVICE_ID
        dw 0                    ; device list pointer: none
        dw pcir_end - pcir      ; structure length
        db 3                    ; structure revision (PCI 3.0)
        db CLASS_PROG_IF, CLASS_SUB, CLASS_BASE
        dw ROM_BLOCKS           ; image length in 512-byte blocks
        dw 1                    ; revision level of the code
        db 0                    ; code type: x86 PC-AT compatible
        db 0x80                 ; indicator: last image
        dw ROM_BLOCKS           ; maximum run-time image length
        dw 0                    ; configuration utility code header: none
        dw 0                    ; DMTF CLP entry point: none
pcir_end:

str_vendor:  db "modvm tests", 0
str_product: db "pci-testdev option ROM", 0
msg_hello:   db "optionrom: hello from bus ", 0
msg_devfn:   db " devfn ", 0
msg_eol:     db 13, 10, 0

; ---- init entry: AX = bus/devfn; far return, all registers preserved ----
init:
        pushf
        pusha
        push ds
        cld
        mov dx, ax              ; the BDF, kept across the prints
        push cs
        pop ds
        mov si, msg_hello
        call print
        mov al, dh
        call print_hex8
        mov si, msg_devfn
        call print
        mov al, dl
        call print_hex8
        mov si, msg_eol
        call print
        pop ds
        popa
        popf
        retf

; Prints the NUL-terminated string at DS:SI through INT 10h teletype output (clobbers AX, BX, SI).
print:  lodsb
        test al, al
        jz .ret
        call putc
        jmp print
.ret:   ret

; Prints AL as two lower-case hex digits (clobbers AX, BX).
print_hex8:
        push ax
        shr al, 4
        call print_nibble
        pop ax
print_nibble:
        and al, 0x0f
        add al, '0'
        cmp al, '9'
        jbe putc
        add al, 'a' - '9' - 1
; Prints the character in AL (clobbers AX, BX; INT 10h AH=0Eh may change BP on old BIOSes: pusha
; in init covers it).
putc:   mov ah, 0x0e
        mov bx, 0x0007          ; page 0, light grey
        int 0x10
        ret

        times ROM_BLOCKS * 512 - 1 - ($ - $$) db 0
        db 0                    ; checksum, set by rom-checksum.py
