; acpi-boot.asm — a boot disk that checks, from inside the guest, the ACPI tables SeaBIOS installed,
; then powers the machine off through ACPI S5 the way an OS does.
;
; Spec: ACPI 6.5 5.2.5.1 (finding the RSDP: 16-byte boundaries of 0xE0000-0xFFFFF), 5.2.5.3 (RSDP),
; 5.2.7/5.2.8 (RSDT/XSDT), 5.2.9 (FADT: FIRMWARE_CTRL at 36, DSDT at 40, PM1a_CNT_BLK at 64,
; PM_TMR_BLK at 76), 7.4.2 (\_S5: SLP_TYPa is the package's first element), 4.8.3.2.1 (SLP_EN).
;
; Sector 0 loads sectors 1-3 (INT 13h) and jumps there. The checks run in "unreal" mode (FS with a
; 4 GiB limit, interrupts off while it is used, since BIOS code may reload FS) because the HIGH
; tables live near the top of RAM:
;   1. an RSDP with a valid checksum in the F segment area; with revision >= 2 its extended
;      checksum and an XSDT below 4 GiB with a valid checksum;
;   2. the RSDT (SeaBIOS itself finds the FADT through it) lists a FADT, whose checksum, DSDT
;      (signature, checksum) and FACS (signature, 64-byte alignment) are right;
;   3. the PM timer (FADT PM_TMR_BLK) advances three times as fast as PIT channel 2 counts, within
;      a factor of two (24 bits compared, so QEMU's 24-bit timer passes too);
;   4. \_S5's SLP_TYPa is found in the DSDT and written with SLP_EN to PM1a_CNT: the VM must power
;      off, which ends modvm (and QEMU) with exit status 0.
; Each step prints a line on the screen (mirrored to COM1 by SeaBIOS's serial console). A failure
; prints "acpi-boot: FAILED at step X" and ends the VM through the isa-debug-exit port 0xF4 with a
; non-zero status. Identical lines under QEMU (whose tables differ) show the checks are the OS's.
;
; Build: nasm -f bin -I tests/firmware/ -o acpi-boot.bin acpi-boot.asm  (2048 bytes; the test pads the image to 1 MiB)

        bits 16
        org 0x7c00

EXIT_PORT       equ 0xf4
MORE_SECTORS    equ 3
SLP_EN          equ 0x2000
FSEG_START      equ 0xe0000
FSEG_END        equ 0x100000

start:  cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7c00
        sti
        cld
        mov [drive], dl
        mov si, dap
        mov ah, 0x42
        int 0x13
        jnc main
        mov ax, 0x0200 | MORE_SECTORS   ; no LBA extensions: CHS cylinder 0, head 0, sector 2
        mov cx, 0x0002
        xor dh, dh
        mov dl, [drive]
        mov bx, 0x7e00
        int 0x13
        jnc main
        mov al, 'L'
        jmp fail

; Prints "FAILED at step <AL>" and ends the VM through debug-exit with status (AL << 1) | 1.
fail:   mov [code], al
        mov [msg_fail_step], al
        mov si, msg_fail
        call print
        call settle
        mov al, [code]
        out EXIT_PORT, al
.halt:  cli
        hlt
        jmp .halt

%include "bios16.inc"

dap:    db 0x10, 0
        dw MORE_SECTORS
        dw 0x7e00, 0
        dq 1
drive:  db 0
code:   db 0
msg_fail:       db "acpi-boot: FAILED at step "
msg_fail_step:  db "?", 13, 10, 0

        times 510 - ($ - $$) db 0
        dw 0xaa55

; ---- sectors 1-3 ----------------------------------------------------------------------------------

main:   mov si, msg_hello
        call print
        cli
        call unreal
        call check_tables       ; AL = 0 or the failing step
        sti
        test al, al
        jnz fail
        mov si, msg_tables
        call print

        ; 3. the PM timer against PIT channel 2: a one-shot count of 0xFFFF at 1.193182 MHz (mode 0,
        ; OUT2 on port 0x61 bit 5 rises at terminal count) lasts 3 * 0xFFFF PM timer ticks, since the
        ; PM timer runs at exactly three times the PIT's rate. (BIOS ticks are no reference under KVM:
        ; its PIT re-injects ticks lost while interrupts were off, in bursts.)
        in al, 0x61
        and al, 0xfc            ; speaker off, gate off
        or al, 0x01             ; gate on
        out 0x61, al
        mov al, 0xb0            ; channel 2, LSB then MSB, mode 0, binary
        out 0x43, al
        mov al, 0xff
        out 0x42, al
        mov dx, [pm_tmr]
        out 0x42, al            ; the count starts now
        in eax, dx
        mov [t0], eax
        mov ecx, 0x200000       ; give up after ~2M polls
.poll:  in al, 0x61
        test al, 0x20
        jnz .expired
        dec ecx
        jnz .poll
        mov al, 'C'             ; the PIT never reached its terminal count
        jmp fail
.expired:
        in eax, dx
        sub eax, [t0]
        and eax, 0xffffff
        cmp eax, 3 * 0xffff / 2
        jb .timer_bad
        cmp eax, 3 * 0xffff * 2
        jb .timer_ok
.timer_bad:
        push eax
        mov si, msg_delta
        call print
        pop eax
        call print_hex
        mov al, 'T'
        jmp fail
.timer_ok:
        mov si, msg_timer
        call print

        ; 4. \_S5
        cli
        call unreal
        call find_s5            ; AL = 0 and [s5_value], or the failing step
        sti
        test al, al
        jnz fail
        mov si, msg_s5
        call print
        call settle
        mov dx, [pm1a_cnt]
        mov ax, [s5_value]
        out dx, ax
        call settle             ; the VM should be gone by now
        call settle
        mov al, 'P'
        jmp fail

; Prints EAX as 8 hex digits and a line break.
print_hex:
        mov cx, 8
.digit: rol eax, 4
        push eax
        push cx
        and al, 0x0f
        add al, '0'
        cmp al, '9'
        jbe .out
        add al, 'a' - '0' - 10
.out:   mov ah, 0x0e
        mov bx, 0x0007
        int 0x10
        pop cx
        pop eax
        loop .digit
        mov si, msg_crlf
        call print
        ret

; Loads FS with a flat 4 GiB data segment and returns to real mode with the limit kept. Call with
; interrupts off, and keep them off while FS is used.
unreal: push ds
        lgdt [gdtr]
        mov eax, cr0
        or al, 1
        mov cr0, eax
        jmp $ + 2
        mov bx, 0x08
        mov fs, bx
        and al, 0xfe
        mov cr0, eax
        jmp $ + 2
        xor bx, bx
        mov fs, bx
        pop ds
        ret

; The byte sum of ECX (> 0) bytes at FS:ESI in AL; ZF set when it is 0. Keeps ESI and ECX.
sum:    push esi
        push ecx
        xor al, al
.loop:  add al, [fs:esi]
        inc esi
        dec ecx
        jnz .loop
        pop ecx
        pop esi
        test al, al
        ret

; Checks the table at EDI: signature EAX, a sane length (returned in ECX), a zero sum. CF on failure.
table:  cmp [fs:edi], eax
        jne .bad
        mov ecx, [fs:edi + 4]
        cmp ecx, 36
        jb .bad
        cmp ecx, 0x100000
        ja .bad
        mov esi, edi
        call sum
        jnz .bad
        clc
        ret
.bad:   stc
        ret

; Steps 1 and 2 (FS flat, interrupts off). Returns AL = 0, or the step letter that failed.
check_tables:
        mov esi, FSEG_START
.scan:  cmp dword [fs:esi], 'RSD '
        jne .next
        cmp dword [fs:esi + 4], 'PTR '
        jne .next
        mov ecx, 20
        call sum
        jz .found
.next:  add esi, 16
        cmp esi, FSEG_END
        jb .scan
        mov al, 'R'
        ret
.found: mov [rsdp], esi
        cmp byte [fs:esi + 15], 2
        jb .rsdt
        mov ecx, [fs:esi + 20]          ; revision 2+: extended checksum and the XSDT
        cmp ecx, 36
        jb .bad_x
        call sum
        jnz .bad_x
        cmp dword [fs:esi + 28], 0
        jne .bad_x
        mov edi, [fs:esi + 24]
        mov eax, 'XSDT'
        call table
        jnc .rsdt
.bad_x: mov al, 'X'
        ret
.rsdt:  mov esi, [rsdp]
        mov edi, [fs:esi + 16]
        mov eax, 'RSDT'
        call table
        jc .bad_r
        lea ebx, [edi + 36]
        add ecx, edi                    ; end of the RSDT
.entry: cmp ebx, ecx
        jae .bad_r
        mov edi, [fs:ebx]
        add ebx, 4
        cmp dword [fs:edi], 'FACP'
        jne .entry
        mov eax, 'FACP'
        call table
        jc .bad_f
        mov [fadt], edi
        mov ax, [fs:edi + 64]
        mov [pm1a_cnt], ax
        mov ax, [fs:edi + 76]
        mov [pm_tmr], ax
        mov edi, [fs:edi + 36]          ; FACS: signature, 64-byte alignment
        test edi, 63
        jnz .bad_f
        cmp dword [fs:edi], 'FACS'
        jne .bad_f
        mov edi, [fadt]
        mov edi, [fs:edi + 40]
        mov eax, 'DSDT'
        call table
        jc .bad_d
        mov [dsdt], edi
        mov [dsdt_len], ecx
        xor al, al
        ret
.bad_r: mov al, 'S'
        ret
.bad_f: mov al, 'F'
        ret
.bad_d: mov al, 'D'
        ret

; Step 4 (FS flat, interrupts off): finds Name (_S5, Package () {SLP_TYPa, ...}) in the DSDT and
; computes the PM1a_CNT value. Returns AL = 0, or 'Z' when there is no usable _S5.
find_s5:
        mov esi, [dsdt]
        mov ecx, [dsdt_len]
        sub ecx, 8
        add ecx, esi
.s5:    cmp dword [fs:esi], '_S5_'
        jne .s5n
        cmp byte [fs:esi + 4], 0x12     ; PackageOp
        je .s5f
.s5n:   inc esi
        cmp esi, ecx
        jb .s5
.bad:   mov al, 'Z'
        ret
.s5f:   movzx eax, byte [fs:esi + 5]    ; PkgLeadByte: bits 7:6 count the bytes that follow
        shr al, 6
        add esi, eax
        mov al, [fs:esi + 7]            ; NameSeg(4) PackageOp PkgLength NumElements, then element 0
        cmp al, 0x0a                    ; BytePrefix
        jne .s5c
        mov al, [fs:esi + 8]
        jmp .s5v
.s5c:   cmp al, 1                       ; ZeroOp or OneOp
        ja .bad
.s5v:   movzx ax, al
        and ax, 7
        shl ax, 10
        or ax, SLP_EN
        mov [s5_value], ax
        xor al, al
        ret

gdt:    dq 0
        dw 0xffff, 0
        db 0, 0x92, 0xcf, 0
gdtr:   dw 15
        dd gdt

rsdp:     dd 0
fadt:     dd 0
dsdt:     dd 0
dsdt_len: dd 0
t0:       dd 0
pm_tmr:   dw 0
pm1a_cnt: dw 0
s5_value: dw 0

msg_hello:  db "acpi-boot: looking for the RSDP", 13, 10, 0
msg_tables: db "acpi-boot: RSDP, RSDT, FADT, FACS and DSDT are valid", 13, 10, 0
msg_timer:  db "acpi-boot: the PM timer runs", 13, 10, 0
msg_s5:     db "acpi-boot: entering S5 through PM1a_CNT", 13, 10, 0
msg_delta:  db "acpi-boot: PM timer ticks while the PIT counted 0xffff: 0x", 0
msg_crlf:   db 13, 10, 0

        times 2048 - ($ - $$) db 0
