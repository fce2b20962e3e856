; =============================================================================
; pci-scan.asm - modvm test guest: PCI bus 0 through configuration mechanism #1
;
; Tests:   the host bridge's CONFADD latch (0xCF8, dword only) and CONFDATA
;          byte lanes (0xCFC-0xCFF, 1/2/4-byte accesses); a scan of bus 0
;          (32 slots, functions 1-7 only behind a multi-function header);
;          unpopulated functions, bus 1 and a disabled CONFADD reading all
;          ones; BAR sizing (all-ones write, read-back mask) of every BAR of
;          every type 0 function; with a pci-testdev (1b36:0005, QEMU's
;          test device or modvm's) present: its I/O BAR1 and memory BAR0
;          decode at a programmed address only while the command register
;          enables them; with a PIIX3 (8086:7000): the PIRQ route control
;          registers 0x60-0x63 read 0a 0a 0b 0b and take writes.
; Follows: PCI Local Bus 3.0 ch. 3.2.2.3.2 (configuration mechanism #1),
;          ch. 6 (configuration header, BARs and their sizing); 82441FX and
;          82371SB (PIIX3) datasheets; Multiboot 0.6.96 (boot.inc).
; Output:  "pci-scan: confadd latch ok"
;          "pci: 00:SS.F VVVV:DDDD class CCSS"        one per function
;          "pci: 00:SS.F barN io|mem32|mem64[ pref] size 0xN"  per BAR
;          "pci-scan: empty functions read all ones"
;          "pci-scan: testdev io bar decodes" / "...mem bar decodes"
;          "pci-scan: pirq 0a 0a 0b 0b", "pci-scan: pirq read back ok"
;          "pci-scan: N functions"      debug-exit N (status 2N+1)
;          "pci-scan: FAIL <what>"      debug-exit 0x7f (status 255)
; Under modvm with --device i440fx --device piix3: 2 functions; QEMU -M pc
; has more (IDE, PM, VGA, NIC...): compare the lines both print.
; =============================================================================
%define GUEST_NAME "pci-scan"
%include "boot.inc"
%include "pcicfg.inc"


PCI_VENDOR      equ 0x00
PCI_DEVICE      equ 0x02
PCI_COMMAND     equ 0x04
PCI_SUBCLASS    equ 0x0A
PCI_CLASS       equ 0x0B
PCI_HEADER_TYPE equ 0x0E
PCI_BAR0        equ 0x10
CMD_IO          equ 0x1
CMD_MEM         equ 0x2

PIIX3_ID        equ 0x70008086      ; device << 16 | vendor
TESTDEV_ID      equ 0x00051B36
PIIX3_PIRQRC    equ 0x60

TESTDEV_IO_BASE  equ 0xD000         ; free under modvm and QEMU -M pc
TESTDEV_MEM_BASE equ 0xE0000000     ; below SeaBIOS's PCI window, above RAM

section .text

; --- output helpers -------------------------------------------------------------

put_bdf:                            ; "pci: 00:SS.F" for devfn in [cur_devfn]
    push eax
    push ecx
    PUTS "pci: 00:"
    mov eax, [cur_devfn]
    shr eax, 3
    mov ecx, 2
    call serial_put_hex_n
    mov al, '.'
    call serial_putc
    mov eax, [cur_devfn]
    and eax, 7
    mov ecx, 1
    call serial_put_hex_n
    pop ecx
    pop eax
    ret

; --- BAR sizing -----------------------------------------------------------------

; size_bars: sizes BAR0-5 of the function [cur_devfn] (type 0 header).  Decode
; is switched off around the all-ones write, except on bridges (class 06),
; whose command register may gate the path to the console.
size_bars:
    pushad
    mov ebx, [cur_devfn]
    shl ebx, 8
    mov [cur_base], ebx
    mov dword [cur_bar], 0
.next_bar:
    cmp dword [cur_bar], 6
    jae .done
    mov ebx, [cur_base]
    or ebx, PCI_COMMAND
    call cfg_read16
    mov [saved_cmd], eax
    mov ebx, [cur_base]
    or ebx, PCI_CLASS
    call cfg_read8
    cmp eax, 0x06
    je .no_decode_off
    mov ebx, [cur_base]
    or ebx, PCI_COMMAND
    mov ecx, [saved_cmd]
    and ecx, ~(CMD_IO | CMD_MEM)
    call cfg_write16
.no_decode_off:
    mov ebx, [cur_bar]
    lea ebx, [PCI_BAR0 + ebx * 4]
    or ebx, [cur_base]
    call cfg_read32
    mov [saved_bar], eax
    mov ecx, 0xFFFFFFFF
    call cfg_write32
    call cfg_read32
    mov [bar_mask], eax
    mov ecx, [saved_bar]
    call cfg_write32
    mov dword [bar_mask_hi], 0
    ; a 64-bit memory BAR: size the upper half too
    mov eax, [bar_mask]
    test eax, 1
    jnz .sized
    and eax, 6
    cmp eax, 4
    jne .sized
    add ebx, 4
    call cfg_read32
    mov [saved_bar], eax
    mov ecx, 0xFFFFFFFF
    call cfg_write32
    call cfg_read32
    mov [bar_mask_hi], eax
    mov ecx, [saved_bar]
    call cfg_write32
.sized:
    mov ebx, [cur_base]
    or ebx, PCI_COMMAND
    mov ecx, [saved_cmd]
    call cfg_write16
    call print_bar
    ; next BAR (skip the upper half of a 64-bit one)
    mov eax, [bar_mask]
    inc dword [cur_bar]
    test eax, 1
    jnz .next_bar
    and eax, 6
    cmp eax, 4
    jne .next_bar
    inc dword [cur_bar]
    jmp .next_bar
.done:
    popad
    ret

; print_bar: one line for BAR [cur_bar] from [bar_mask]/[bar_mask_hi]; none
; for an unimplemented BAR (mask 0).
print_bar:
    pushad
    mov eax, [bar_mask]
    test eax, eax
    jz .done
    call put_bdf
    PUTS " bar"
    mov eax, [cur_bar]
    call serial_put_dec
    mov eax, [bar_mask]
    test eax, 1
    jz .mem
    PUTS " io size 0x"
    and eax, 0xFFFFFFFC
    or eax, 0xFFFF0000               ; the upper 16 bits may be hardwired 0
    not eax
    inc eax
    call serial_put_hex
    jmp .eol
.mem:
    mov ecx, eax
    and ecx, 6
    cmp ecx, 4
    je .mem64
    PUTS " mem32"
    jmp .pref
.mem64:
    PUTS " mem64"
.pref:
    test eax, 8
    jz .size
    PUTS " pref"
.size:
    PUTS " size 0x"
    ; 64-bit size = ~(hi:lo & ~0xf) + 1; print it as one hex number
    and eax, 0xFFFFFFF0
    mov edx, [bar_mask_hi]
    mov ecx, [bar_mask]
    and ecx, 6
    cmp ecx, 4
    je .have_hi
    mov edx, 0xFFFFFFFF             ; 32-bit BAR: the upper half is all ones
.have_hi:
    not eax
    not edx
    add eax, 1
    adc edx, 0
    test edx, edx
    jz .low_only
    push eax
    mov eax, edx
    call serial_put_hex
    pop eax
    mov ecx, 8
    call serial_put_hex_n
    jmp .eol
.low_only:
    call serial_put_hex
.eol:
    call serial_newline
.done:
    popad
    ret

; --- the scan -------------------------------------------------------------------

; probe_function: [cur_devfn] exists?  Prints it, sizes its BARs, remembers
; piix3/testdev.  Returns ZF=1 when the function is absent (and checks that
; its whole ID dword reads all ones).
probe_function:
    pushad
    mov ebx, [cur_devfn]
    shl ebx, 8
    call cfg_read16
    cmp eax, 0xFFFF
    jne .present
    call cfg_read32
    cmp eax, 0xFFFFFFFF
    je .absent
    FAIL_VAL "absent function's ID dword is not all ones"
.absent:
    popad
    xor eax, eax                    ; ZF=1
    ret
.present:
    inc dword [nfuncs]
    mov esi, eax                    ; vendor
    call put_bdf
    mov al, ' '
    call serial_putc
    mov eax, esi
    mov ecx, 4
    call serial_put_hex_n
    mov al, ':'
    call serial_putc
    or ebx, PCI_DEVICE
    call cfg_read16                 ; byte lane 2
    mov edi, eax
    mov ecx, 4
    call serial_put_hex_n
    PUTS " class "
    and ebx, ~0xFF
    or ebx, PCI_CLASS
    call cfg_read8                  ; byte lane 3
    mov ecx, 2
    call serial_put_hex_n
    and ebx, ~0xFF
    or ebx, PCI_SUBCLASS
    call cfg_read8                  ; byte lane 2
    call serial_put_hex_n
    call serial_newline
    ; remember the functions the later checks need
    shl edi, 16
    or edi, esi
    cmp edi, PIIX3_ID
    jne .not_piix3
    mov eax, [cur_devfn]
    mov [piix3_devfn], eax
.not_piix3:
    cmp edi, TESTDEV_ID
    jne .not_testdev
    mov eax, [cur_devfn]
    mov [testdev_devfn], eax
.not_testdev:
    and ebx, ~0xFF
    or ebx, PCI_HEADER_TYPE
    call cfg_read8
    mov [cur_hdr], eax
    and eax, 0x7F
    jnz .no_bars
    call size_bars
.no_bars:
    popad
    or eax, 1                       ; ZF=0
    ret

scan_bus0:
    mov dword [cur_slot], 0
.slot:
    mov eax, [cur_slot]
    shl eax, 3
    mov [cur_devfn], eax
    call probe_function
    jz .next_slot
    test dword [cur_hdr], 0x80      ; multi-function: functions 1-7 too
    jz .next_slot
.func:
    inc dword [cur_devfn]
    mov eax, [cur_devfn]
    test eax, 7
    jz .next_slot
    call probe_function
    jmp .func
.next_slot:
    inc dword [cur_slot]
    cmp dword [cur_slot], 32
    jb .slot
    ret

; --- checks ---------------------------------------------------------------------

check_confadd:
    mov dx, CONFADD
    mov eax, CONFADD_ENABLE
    out dx, eax
    in eax, dx
    cmp eax, CONFADD_ENABLE
    je .ok1
    FAIL_VAL "CONFADD does not read back 0x80000000"
.ok1:
    mov eax, CONFADD_ENABLE | 0x0800        ; 00:01.0 register 0
    out dx, eax
    in eax, dx
    cmp eax, CONFADD_ENABLE | 0x0800
    je .ok2
    FAIL_VAL "CONFADD does not read back 0x80000800"
.ok2:
    ; a disabled CONFADD: CONFDATA reads all ones
    xor eax, eax
    out dx, eax
    mov dx, CONFDATA
    in eax, dx
    cmp eax, 0xFFFFFFFF
    je .ok3
    FAIL_VAL "CONFDATA with CONFADD disabled is not all ones"
.ok3:
    PUTS "pci-scan: confadd latch ok", 10
    ret

check_bus1:
    mov ebx, 0x010000               ; bus 1, 00.0, register 0
    call cfg_read32
    cmp eax, 0xFFFFFFFF
    je .ok
    FAIL_VAL "bus 1 device 0 does not read all ones"
.ok:
    mov ebx, (31 << 11) | (7 << 8)  ; 00:1f.7, empty on both machines
    call cfg_read32
    cmp eax, 0xFFFFFFFF
    je .ok2
    FAIL_VAL "00:1f.7 does not read all ones"
.ok2:
    PUTS "pci-scan: empty functions read all ones", 10
    ret

; check_testdev: BAR1 (I/O, 256 bytes) and BAR0 (memory, 4 KiB) of the test
; device decode only with their command bit set.  The device (QEMU's
; hw/misc/pci-testdev.c protocol): writing N < 3 at offset 0 selects test N of
; that space; reads then return the bytes of the test's header (name at
; offset 16: "mmio-..." / "portio-..."; the test's trigger offset at 4, the
; data byte it counts at 8, the count of matching byte writes there at 12).
check_testdev:
    mov ebx, [testdev_devfn]
    cmp ebx, -1
    je .done
    shl ebx, 8
    mov [cur_base], ebx
    or ebx, PCI_COMMAND
    xor ecx, ecx
    call cfg_write16                ; decode off while moving the BARs
    mov ebx, [cur_base]
    or ebx, PCI_BAR0 + 4
    mov ecx, TESTDEV_IO_BASE
    call cfg_write32
    mov ebx, [cur_base]
    or ebx, PCI_BAR0
    mov ecx, TESTDEV_MEM_BASE
    call cfg_write32
    mov ebx, [cur_base]
    or ebx, PCI_COMMAND             ; ebx stays on the command register
    ; --- I/O BAR: on ---
    mov ecx, CMD_IO
    call cfg_write16
    mov dx, TESTDEV_IO_BASE
    xor eax, eax
    out dx, al                      ; select test 0 ("portio-no-eventfd")
    mov dx, TESTDEV_IO_BASE + 16
    in eax, dx
    cmp eax, 'port'
    je .io_name_ok
    FAIL_VAL "testdev I/O BAR at 0xd000: no 'port' test name"
.io_name_ok:
    mov dx, TESTDEV_IO_BASE + 4
    in eax, dx                      ; the test's trigger offset
    cmp eax, 0xF0
    jb .io_trigger_ok
    FAIL_VAL "testdev I/O trigger offset out of range"
.io_trigger_ok:
    lea ecx, [eax + TESTDEV_IO_BASE]
    mov dx, TESTDEV_IO_BASE + 8
    in al, dx                       ; the data the test counts
    mov edx, ecx
    out dx, al                      ; one matching byte write at the trigger
    mov dx, TESTDEV_IO_BASE + 12
    in eax, dx
    cmp eax, 1
    je .io_count_ok
    FAIL_VAL "testdev I/O write count is not 1"
.io_count_ok:
    ; --- I/O BAR: off ---
    xor ecx, ecx
    call cfg_write16
    mov dx, TESTDEV_IO_BASE + 16
    in eax, dx
    cmp eax, 0xFFFFFFFF
    je .io_off_ok
    FAIL_VAL "testdev I/O BAR still decodes with COMMAND.IO clear"
.io_off_ok:
    PUTS "pci-scan: testdev io bar decodes", 10
    ; --- memory BAR: on ---
    mov ecx, CMD_MEM
    call cfg_write16
    mov byte [TESTDEV_MEM_BASE], 0  ; select test 0 ("mmio-no-eventfd")
    mov eax, [TESTDEV_MEM_BASE + 16]
    cmp eax, 'mmio'
    je .mem_name_ok
    FAIL_VAL "testdev memory BAR at 0xe0000000: no 'mmio' test name"
.mem_name_ok:
    mov eax, [TESTDEV_MEM_BASE + 4]
    cmp eax, 0xFF0
    jb .mem_trigger_ok
    FAIL_VAL "testdev memory trigger offset out of range"
.mem_trigger_ok:
    mov cl, [TESTDEV_MEM_BASE + 8]  ; the data the test counts
    mov [TESTDEV_MEM_BASE + eax], cl
    mov eax, [TESTDEV_MEM_BASE + 12]
    cmp eax, 1
    je .mem_count_ok
    FAIL_VAL "testdev memory write count is not 1"
.mem_count_ok:
    ; --- memory BAR: off (QEMU reads unassigned memory as 0, modvm as ones) ---
    xor ecx, ecx
    call cfg_write16
    mov eax, [TESTDEV_MEM_BASE + 16]
    cmp eax, 'mmio'
    jne .mem_off_ok
    FAIL_VAL "testdev memory BAR still decodes with COMMAND.MEMORY clear"
.mem_off_ok:
    PUTS "pci-scan: testdev mem bar decodes", 10
.done:
    ret

; check_pirq: PIIX3's PIRQ route control registers.
check_pirq:
    mov ebx, [piix3_devfn]
    cmp ebx, -1
    je .done
    shl ebx, 8
    or ebx, PIIX3_PIRQRC
    PUTS "pci-scan: pirq"
    mov esi, 4
.show:
    mov al, ' '
    call serial_putc
    call cfg_read8
    mov ecx, 2
    call serial_put_hex_n
    inc ebx
    dec esi
    jnz .show
    call serial_newline
    sub ebx, 4
    call cfg_read32
    cmp eax, 0x0B0B0A0A
    je .values_ok
    FAIL_VAL "PIRQA-D are not 0a 0a 0b 0b"
.values_ok:
    add ebx, 3                      ; PIRQD: disable, route to IRQ 5, restore
    mov ecx, 0x80
    call cfg_write8
    call cfg_read8
    cmp eax, 0x80
    je .dis_ok
    FAIL_VAL "PIRQD does not read back 0x80"
.dis_ok:
    mov ecx, 0x05
    call cfg_write8
    call cfg_read8
    cmp eax, 0x05
    je .irq_ok
    FAIL_VAL "PIRQD does not read back 0x05"
.irq_ok:
    mov ecx, 0x0B
    call cfg_write8
    sub ebx, 3
    call cfg_read32
    cmp eax, 0x0B0B0A0A
    je .restored
    FAIL_VAL "PIRQA-D not restored"
.restored:
    PUTS "pci-scan: pirq read back ok", 10
.done:
    ret

guest_main:
    call serial_init
    call check_confadd
    call scan_bus0
    call check_bus1
    call check_testdev
    call check_pirq
    PUTS "pci-scan: "
    mov eax, [nfuncs]
    call serial_put_dec
    PUTS " functions", 10
    mov eax, [nfuncs]
    ret

section .data
align 4
nfuncs:         dd 0
cur_slot:       dd 0
cur_devfn:      dd 0
cur_hdr:        dd 0
cur_base:       dd 0
cur_bar:        dd 0
saved_cmd:      dd 0
saved_bar:      dd 0
bar_mask:       dd 0
bar_mask_hi:    dd 0
piix3_devfn:    dd -1
testdev_devfn:  dd -1
