; =============================================================================
; virtio-blk.asm - modvm test guest: a virtio block device through the legacy
;                  (virtio 0.9.5) I/O BAR of a transitional virtio-pci function
;
; Tests:   PCI configuration mechanism #1 (0xCF8/0xCFC) finding 1af4:1001,
;          BAR0 (I/O) and command register setup when no firmware did it,
;          the legacy header (status, features, queue select/size/PFN,
;          notify, ISR), the legacy ring layout, and virtio-blk requests:
;          T_IN, T_OUT, T_FLUSH, T_GET_ID, T_WRITE_ZEROES, T_DISCARD, an
;          out-of-range T_IN (IOERR).
; Follows: Virtual I/O Device (VIRTIO) 1.2, 4.1.4.10 (legacy PCI layout),
;          2.7.2 (legacy virtqueue layout), 2.7.5-2.7.8 (descriptors, avail
;          and used rings), 5.2.6 (block requests); PCI Local Bus 3.0,
;          3.2.2.3.2 (configuration mechanism #1), 6.2.5 (BARs).
; Needs:   a virtio-blk disk of >= 3 sectors whose sector 0 starts with the
;          16 bytes "modvm-disk-sec-0" and sector 1 with "modvm-disk-sec-1",
;          serial "modvm-test-serial"; a host bridge at 0xCF8.
;            modvm: --device i440fx --device piix3
;                   --device virtio-blk,serial=modvm-test-serial (+ the disk
;                   at LUN#0, e.g. --disk disk.img)
;            QEMU:  -drive file=disk.img,format=raw,if=none,id=d0
;                   -device virtio-blk-pci,drive=d0,serial=modvm-test-serial
; Output:  virtio-blk: capacity N sectors
;          virtio-blk: sector 0: modvm-disk-sec-0
;          virtio-blk: sector 1: modvm-disk-sec-1
;          virtio-blk: serial modvm-test-serial
;          virtio-blk: write/read-back ok
;          virtio-blk: out-of-range read -> IOERR
;          virtio-blk: write-zeroes ok
;          virtio-blk: discard ok
;          virtio-blk: ok                          debug-exit 0x14 (status 41)
;          sector 2 of the disk then holds WRITE_PATTERN (the host checks it);
;          sector 1 reads as zeroes.
;          "virtio-blk: FAIL <what>" and debug-exit 0x7f on any failure.
; Polls the used ring with interrupts off; the watchdog bounds every wait.
; =============================================================================
%define GUEST_NAME "virtio-blk"
%include "boot.inc"

EXIT_OK          equ 0x14

PCI_ADDR         equ 0xCF8
PCI_DATA         equ 0xCFC
VIRTIO_ID        equ 0x10011AF4          ; device 1001 (transitional block), vendor 1af4
PCI_COMMAND      equ 0x04
PCI_BAR0         equ 0x10
PCI_CMD_IO       equ 0x1
PCI_CMD_MASTER   equ 0x4
FALLBACK_IOBASE  equ 0xC000              ; when nobody assigned BAR0 (no firmware)

; legacy header offsets
VIO_HOST_FEAT    equ 0x00
VIO_GUEST_FEAT   equ 0x04
VIO_QUEUE_PFN    equ 0x08
VIO_QUEUE_SIZE   equ 0x0C
VIO_QUEUE_SEL    equ 0x0E
VIO_QUEUE_NOTIFY equ 0x10
VIO_STATUS       equ 0x12
VIO_ISR          equ 0x13
VIO_CONFIG       equ 0x14                ; MSI-X stays off: config follows the ISR

ST_ACK           equ 1
ST_DRIVER        equ 2
ST_DRIVER_OK     equ 4
ST_NEEDS_RESET   equ 0x40
F_BLK_FLUSH      equ 1 << 9
F_BLK_DISCARD    equ 1 << 13
F_BLK_WZEROES    equ 1 << 14

DESC_F_NEXT      equ 1
DESC_F_WRITE     equ 2

T_IN             equ 0
T_OUT            equ 1
T_FLUSH          equ 4
T_GET_ID         equ 8
T_DISCARD        equ 11
T_WRITE_ZEROES   equ 13
S_OK             equ 0
S_IOERR          equ 1

; guest-physical scratch memory above the image (RAM is >= 64 MiB everywhere)
RING             equ 0x200000            ; page aligned: the legacy PFN
RING_BYTES       equ 0x8000              ; enough for a 1024-entry queue
MAX_QSIZE        equ 1024
HDR              equ 0x210000
STATUS           equ 0x210100
BUF0             equ 0x211000
BUF1             equ 0x212000
WBUF             equ 0x213000
RBUF             equ 0x214000
IDBUF            equ 0x215000
SEGBUF           equ 0x216000            ; one discard/write-zeroes segment

section .text

; pci_read: eax = (devfn << 8) | reg -> eax = dword
pci_read:
    push edx
    and eax, 0xFFFC
    or eax, 0x80000000
    mov dx, PCI_ADDR
    out dx, eax
    mov dx, PCI_DATA
    in eax, dx
    pop edx
    ret

; pci_write: eax = (devfn << 8) | reg, ecx = dword
pci_write:
    push edx
    and eax, 0xFFFC
    or eax, 0x80000000
    mov dx, PCI_ADDR
    out dx, eax
    mov dx, PCI_DATA
    mov eax, ecx
    out dx, eax
    pop edx
    ret

; find_device: scans bus 0; sets [devfn] or FAILs.
find_device:
    xor ebx, ebx
.next:
    mov eax, ebx
    shl eax, 8
    call pci_read
    cmp eax, VIRTIO_ID
    je .found
    inc ebx
    cmp ebx, 256
    jb .next
    FAIL "no transitional virtio-blk function (1af4:1001) on PCI bus 0"
.found:
    mov [devfn], ebx
    ret

; setup_bar0: uses the assigned I/O BAR0 or assigns FALLBACK_IOBASE; enables
; I/O decoding and bus mastering; sets [iobase].
setup_bar0:
    mov eax, [devfn]
    shl eax, 8
    or eax, PCI_BAR0
    call pci_read
    test eax, 1
    jnz .is_io
    FAIL_VAL "BAR0 is not an I/O BAR"
.is_io:
    and eax, 0xFFFC
    jnz .have_base
    mov eax, [devfn]                    ; size it (all ones) and place it
    shl eax, 8
    or eax, PCI_BAR0
    mov ecx, 0xFFFFFFFF
    call pci_write
    mov eax, [devfn]
    shl eax, 8
    or eax, PCI_BAR0
    call pci_read
    and eax, 0xFFFC
    cmp eax, 0xFFE0                     ; at least 32 ports
    jbe .size_ok
    FAIL_VAL "BAR0 sizing reads"
.size_ok:
    mov eax, [devfn]
    shl eax, 8
    or eax, PCI_BAR0
    mov ecx, FALLBACK_IOBASE
    call pci_write
    mov eax, FALLBACK_IOBASE
.have_base:
    mov [iobase], eax
    mov eax, [devfn]
    shl eax, 8
    or eax, PCI_COMMAND
    call pci_read
    mov ecx, eax
    and ecx, 0xFFFF                     ; do not write-1-clear status bits
    or ecx, PCI_CMD_IO | PCI_CMD_MASTER
    mov eax, [devfn]
    shl eax, 8
    or eax, PCI_COMMAND
    call pci_write
    ret

; virtio_init: reset, ACK, DRIVER, features (FLUSH if offered), queue 0 at
; RING, DRIVER_OK (virtio 1.2 3.1.2, legacy initialisation).
virtio_init:
    mov edx, [iobase]
    add edx, VIO_STATUS
    xor al, al
    out dx, al                          ; reset
    in al, dx
    test al, al
    jz .reset_ok
    movzx eax, al
    FAIL_VAL "status after reset"
.reset_ok:
    mov al, ST_ACK
    out dx, al
    mov al, ST_ACK | ST_DRIVER
    out dx, al

    mov edx, [iobase]                   ; features: FLUSH, DISCARD, WRITE_ZEROES
    in eax, dx
    mov ecx, F_BLK_DISCARD | F_BLK_WZEROES
    and ecx, eax
    cmp ecx, F_BLK_DISCARD | F_BLK_WZEROES
    je .have_dwz
    FAIL_VAL "DISCARD and WRITE_ZEROES not offered: host features"
.have_dwz:
    and eax, F_BLK_FLUSH | F_BLK_DISCARD | F_BLK_WZEROES
    add edx, VIO_GUEST_FEAT
    out dx, eax

    mov edx, [iobase]                   ; queue 0
    add edx, VIO_QUEUE_SEL
    xor eax, eax
    out dx, ax
    mov edx, [iobase]
    add edx, VIO_QUEUE_SIZE
    in ax, dx
    movzx eax, ax
    test eax, eax
    jz .bad_qsize
    cmp eax, MAX_QSIZE
    ja .bad_qsize
    lea ecx, [eax - 1]
    test eax, ecx
    jz .qsize_ok
.bad_qsize:
    FAIL_VAL "queue 0 size"
.qsize_ok:
    mov [qsize], eax
    mov edi, RING                       ; zero the rings
    mov ecx, RING_BYTES / 4
    xor eax, eax
    rep stosd
    mov eax, [qsize]                    ; avail = desc + 16 * qsize
    shl eax, 4
    add eax, RING
    mov [avail], eax
    mov ecx, [qsize]                    ; used = align4k(avail + 6 + 2 * qsize)
    lea eax, [eax + ecx * 2 + 6 + 4095]
    and eax, ~4095
    mov [used], eax
    mov edx, [iobase]
    add edx, VIO_QUEUE_PFN
    mov eax, RING >> 12
    out dx, eax
    in eax, dx
    cmp eax, RING >> 12
    je .pfn_ok
    FAIL_VAL "queue PFN reads back"
.pfn_ok:
    mov edx, [iobase]
    add edx, VIO_STATUS
    mov al, ST_ACK | ST_DRIVER | ST_DRIVER_OK
    out dx, al
    in al, dx
    cmp al, ST_ACK | ST_DRIVER | ST_DRIVER_OK
    je .ok
    movzx eax, al
    FAIL_VAL "status after DRIVER_OK"
.ok:
    ret

; blk_request: eax = type, ebx = sector, edi = data buffer, ecx = data bytes
; (0: none), edx = 1 when the device writes the data.  Builds the chain
; header(desc 0) -> data(desc 1) -> status(desc 2), makes it available,
; notifies queue 0 and polls the used ring.  Returns the status byte in eax.
blk_request:
    mov [HDR], eax
    mov dword [HDR + 4], 0
    mov [HDR + 8], ebx
    mov dword [HDR + 12], 0
    mov byte [STATUS], 0xFF
    ; desc 0: the header
    mov dword [RING + 0], HDR
    mov dword [RING + 4], 0
    mov dword [RING + 8], 16
    mov word [RING + 12], DESC_F_NEXT
    mov word [RING + 14], 2
    test ecx, ecx
    jz .no_data
    mov word [RING + 14], 1
    ; desc 1: the data
    mov [RING + 16], edi
    mov dword [RING + 20], 0
    mov [RING + 24], ecx
    mov ax, DESC_F_NEXT
    test edx, edx
    jz .dir_done
    or ax, DESC_F_WRITE
.dir_done:
    mov [RING + 28], ax
    mov word [RING + 30], 2
.no_data:
    ; desc 2: the status byte
    mov dword [RING + 32], STATUS
    mov dword [RING + 36], 0
    mov dword [RING + 40], 1
    mov word [RING + 44], DESC_F_WRITE
    mov word [RING + 46], 0
    ; avail->ring[idx % qsize] = 0, then avail->idx++ (x86 keeps store order)
    mov esi, [avail]
    movzx eax, word [avail_idx]
    mov ecx, [qsize]
    dec ecx
    and eax, ecx
    mov word [esi + 4 + eax * 2], 0
    inc word [avail_idx]
    mov ax, [avail_idx]
    mov [esi + 2], ax
    ; notify queue 0
    mov edx, [iobase]
    add edx, VIO_QUEUE_NOTIFY
    xor eax, eax
    out dx, ax
    ; wait for used->idx to catch up
    mov esi, [used]
    call wd_start
.wait:
    mov ax, [esi + 2]
    cmp ax, [avail_idx]
    WAIT_UNTIL je, .wait, "no completion in the used ring"
    movzx eax, word [avail_idx]         ; used->ring[(idx - 1) % qsize].id == 0
    dec eax
    mov ecx, [qsize]
    dec ecx
    and eax, ecx
    cmp dword [esi + 4 + eax * 8], 0
    je .id_ok
    mov eax, [esi + 4 + eax * 8]
    FAIL_VAL "used element id"
.id_ok:
    mov edx, [iobase]                   ; acknowledge (INTx)
    add edx, VIO_ISR
    in al, dx
    movzx eax, byte [STATUS]
    ret

; print16: esi = buffer; prints 16 bytes, '.' for anything unprintable.
print16:
    push ecx
    mov ecx, 16
.loop:
    lodsb
    cmp al, ' '
    jb .dot
    cmp al, '~'
    jbe .put
.dot:
    mov al, '.'
.put:
    call serial_putc
    dec ecx
    jnz .loop
    pop ecx
    ret

; segment_request: eax = type (T_DISCARD / T_WRITE_ZEROES), ebx = sector;
; one segment of one sector, flags 0.  Returns the status byte in eax.
segment_request:
    mov [SEGBUF], ebx
    mov dword [SEGBUF + 4], 0
    mov dword [SEGBUF + 8], 1
    mov dword [SEGBUF + 12], 0
    xor ebx, ebx
    mov edi, SEGBUF
    mov ecx, 16
    xor edx, edx
    jmp blk_request

; read_sector: ebx = sector, edi = buffer; FAILs unless the status is OK.
read_sector:
    mov eax, T_IN
    mov ecx, 512
    mov edx, 1
    call blk_request
    cmp eax, S_OK
    je .ok
    FAIL_VAL "T_IN status"
.ok:
    ret

guest_main:
    call serial_init
    call find_device
    call setup_bar0
    call virtio_init

    mov edx, [iobase]                   ; capacity (le64 at config offset 0)
    add edx, VIO_CONFIG + 4
    in eax, dx
    test eax, eax
    jz .cap_ok
    FAIL_VAL "capacity above 2^32 sectors"
.cap_ok:
    sub edx, 4
    in eax, dx
    mov [capacity], eax
    cmp eax, 3
    jae .cap_big_enough
    FAIL_VAL "disk smaller than 3 sectors"
.cap_big_enough:
    PUTS "virtio-blk: capacity "
    call serial_put_dec
    PUTS " sectors", 10

    mov ebx, 0
    mov edi, BUF0
    call read_sector
    PUTS "virtio-blk: sector 0: "
    mov esi, BUF0
    call print16
    call serial_newline

    mov ebx, 1
    mov edi, BUF1
    call read_sector
    PUTS "virtio-blk: sector 1: "
    mov esi, BUF1
    call print16
    call serial_newline

    mov edi, IDBUF                      ; T_GET_ID: 20 bytes, NUL-padded
    mov ecx, 5
    xor eax, eax
    rep stosd
    mov eax, T_GET_ID
    xor ebx, ebx
    mov edi, IDBUF
    mov ecx, 20
    mov edx, 1
    call blk_request
    cmp eax, S_OK
    je .id_ok
    FAIL_VAL "T_GET_ID status"
.id_ok:
    PUTS "virtio-blk: serial "
    mov esi, IDBUF
    mov ecx, 20
.id_char:
    lodsb
    test al, al
    jz .id_done
    call serial_putc
    dec ecx
    jnz .id_char
.id_done:
    call serial_newline

    mov edi, WBUF                       ; sector 2: the pattern, then i & 0xff
    xor ecx, ecx
.fill:
    mov [edi + ecx], cl
    inc ecx
    cmp ecx, 512
    jb .fill
    mov esi, write_pattern
    mov ecx, write_pattern_len
    rep movsb
    mov eax, T_OUT
    mov ebx, 2
    mov edi, WBUF
    mov ecx, 512
    xor edx, edx
    call blk_request
    cmp eax, S_OK
    je .written
    FAIL_VAL "T_OUT status"
.written:
    mov eax, T_FLUSH
    xor ebx, ebx
    xor ecx, ecx
    xor edx, edx
    call blk_request
    cmp eax, S_OK
    je .flushed
    FAIL_VAL "T_FLUSH status"
.flushed:
    mov ebx, 2
    mov edi, RBUF
    call read_sector
    mov esi, WBUF
    mov edi, RBUF
    mov ecx, 512 / 4
    repe cmpsd
    je .same
    FAIL "sector 2 reads back different from what was written"
.same:
    PUTS "virtio-blk: write/read-back ok", 10

    mov eax, T_IN                       ; one sector past the end
    mov ebx, [capacity]
    mov edi, RBUF
    mov ecx, 512
    mov edx, 1
    call blk_request
    cmp eax, S_IOERR
    je .ioerr
    FAIL_VAL "out-of-range T_IN status"
.ioerr:
    PUTS "virtio-blk: out-of-range read -> IOERR", 10

    mov eax, T_WRITE_ZEROES             ; sector 1 becomes zeroes
    mov ebx, 1
    call segment_request
    cmp eax, S_OK
    je .zeroed
    FAIL_VAL "T_WRITE_ZEROES status"
.zeroed:
    mov edi, RBUF
    mov ecx, 512 / 4
    mov eax, 0xFFFFFFFF
    rep stosd
    mov ebx, 1
    mov edi, RBUF
    call read_sector
    mov edi, RBUF
    mov ecx, 512 / 4
    xor eax, eax
    repe scasd
    je .zeroes_ok
    FAIL "sector 1 is not zero after T_WRITE_ZEROES"
.zeroes_ok:
    PUTS "virtio-blk: write-zeroes ok", 10

    mov eax, T_DISCARD                  ; a hint: only the status is checked
    mov ebx, 1
    call segment_request
    cmp eax, S_OK
    je .discarded
    FAIL_VAL "T_DISCARD status"
.discarded:
    PUTS "virtio-blk: discard ok", 10

    mov edx, [iobase]                   ; the device must still be healthy
    add edx, VIO_STATUS
    in al, dx
    test al, ST_NEEDS_RESET
    jz .healthy
    movzx eax, al
    FAIL_VAL "device wants a reset"
.healthy:
    PUTS "virtio-blk: ok", 10
    mov eax, EXIT_OK
    ret

section .rodata
write_pattern:     db "virtio-blk guest wrote sector 2"
write_pattern_len  equ $ - write_pattern

section .data
align 4
devfn:     dd 0
iobase:    dd 0
qsize:     dd 0
avail:     dd 0
used:      dd 0
capacity:  dd 0
avail_idx: dw 0
