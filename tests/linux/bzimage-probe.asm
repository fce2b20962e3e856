; =============================================================================
; bzimage-probe.asm - modvm test guest: a minimal Linux bzImage that checks the
;                     entry state the boot loader gives it, instead of booting.
;
; Follows: Documentation/arch/x86/boot.rst (setup header at 0x1f1, protocol
;          2.15; "64-bit BOOT PROTOCOL": long mode, paging on, identity map,
;          __BOOT_CS 0x10 / __BOOT_DS 0x18, RSI = boot_params, interrupts off;
;          "32-bit BOOT PROTOCOL": protected mode, paging off, ESI =
;          boot_params, EBX/EBP/EDI = 0) and zero-page.rst (e820 table).
; Build:   nasm -f bin -DKERNEL64=1 (XLF_KERNEL_64, relocatable: the loader
;          puts it at pref_address 16 MiB and enters at +0x200) or
;          -DKERNEL64=0 (not relocatable, entered at 0x100000 in 32-bit mode).
; Output:  COM1 "bzimage-probe: OK ..." and debug-exit 0x10 (status 33), or
;          "bzimage-probe: FAIL <what>" and debug-exit <n> (status 2n+1).
; =============================================================================
%ifndef KERNEL64
%define KERNEL64 1
%endif

SETUP_SECTS  equ 1
PM_SIZE      equ 0x1000
%if KERNEL64
LOAD_ADDR    equ 0x1000000
%else
LOAD_ADDR    equ 0x100000
%endif
COM1         equ 0x3f8
DEBUG_EXIT   equ 0xf4

; ---- boot sector and setup header (file offsets = boot_params offsets) ----
bits 16
section .text start=0
    times 0x1f1 db 0
    db SETUP_SECTS                  ; 0x1f1 setup_sects
    dw 0                            ; root_flags
    dd PM_SIZE / 16                 ; syssize
    dw 0                            ; ram_size
    dw 0xfffd                       ; vid_mode ("ask"; the loader sets 0xffff)
    dw 0                            ; root_dev
    dw 0xaa55                       ; 0x1fe boot_flag
jump:
    db 0xeb, hdr_end - (jump + 2)   ; 0x200 jump: the header's length
    db "HdrS"                       ; 0x202
    dw 0x020f                       ; 0x206 version 2.15
    dd 0                            ; realmode_swtch
    dw 0, 0                         ; start_sys_seg, kernel_version
    db 0                            ; 0x210 type_of_loader
    db 0x01                         ; 0x211 loadflags: LOADED_HIGH
    dw 0                            ; setup_move_size
    dd 0x100000                     ; 0x214 code32_start
    dd 0, 0                         ; ramdisk_image, ramdisk_size
    dd 0                            ; bootsect_kludge
    dw 0                            ; heap_end_ptr
    db 0, 0                         ; ext_loader_ver/type
    dd 0                            ; 0x228 cmd_line_ptr
    dd 0x7fffffff                   ; 0x22c initrd_addr_max
    dd 0x200000                     ; 0x230 kernel_alignment
    db KERNEL64                     ; 0x234 relocatable_kernel
    db 21                           ; min_alignment
    dw KERNEL64                     ; 0x236 xloadflags: XLF_KERNEL_64
    dd 255                          ; 0x238 cmdline_size
    dd 0                            ; hardware_subarch
    dq 0                            ; hardware_subarch_data
    dd 0, 0                         ; payload_offset, payload_length
    dq 0                            ; 0x250 setup_data
    dq 0x1000000                    ; 0x258 pref_address
    dd 0x100000                     ; 0x260 init_size
    dd 0                            ; handover_offset
    dd 0                            ; kernel_info_offset
hdr_end:
    times (SETUP_SECTS + 1) * 512 - ($ - $$) db 0

; ---- protected-mode kernel, loaded at LOAD_ADDR ----
section .pm vstart=LOAD_ADDR align=1 follows=.text

bits 32
entry32:
%if KERNEL64
    mov al, 1
    jmp fail32                      ; the 64-bit kernel must be entered at +0x200
%else
    pushfd
    test dword [esp], 0x200
    jnz fail_if32
    popfd
    mov eax, cr0
    test eax, 1                     ; PE
    jz fail_mode32
    test eax, 0x80000000            ; PG must be off
    jnz fail_mode32
    mov ax, cs
    cmp ax, 0x10
    jne fail_sel32
    mov ax, ds
    cmp ax, 0x18
    jne fail_sel32
    mov ax, ss
    cmp ax, 0x18
    jne fail_sel32
    test ebx, ebx
    jnz fail_regs32
    test ebp, ebp
    jnz fail_regs32
    test edi, edi
    jnz fail_regs32
    cmp esi, 0x7000
    jne fail_regs32
    mov al, 6
    cmp byte [esi + 0x210], 0xff    ; type_of_loader
    jne fail32
    cmp word [esi + 0x1fa], 0xffff  ; vid_mode
    jne fail32
    cmp dword [esi + 0x214], LOAD_ADDR ; code32_start
    jne fail32
    mov al, 7
    cmp byte [esi + 0x1e8], 3       ; e820_entries
    jb fail32
    cmp dword [esi + 0x2d0 + 16], 1 ; entry 0: RAM
    jne fail32
    mov al, 8
    mov edx, [esi + 0x228]          ; cmd_line_ptr
    cmp dword [edx], 'prob'
    jne fail32
    mov al, 9
    mov edx, [esi + 0x21c]          ; ramdisk_size
    test edx, edx
    jz .no_initrd
    mov ecx, [esi + 0x218]
    cmp dword [ecx], 'INIT'         ; the initrd's first bytes
    jne fail32
.no_initrd:
    mov esi, ok32_msg
    call puts32
    mov al, 0x10
    out DEBUG_EXIT, al
    hlt
fail_if32:   mov al, 2
             jmp fail32
fail_mode32: mov al, 3
             jmp fail32
fail_sel32:  mov al, 4
             jmp fail32
fail_regs32: mov al, 5
             jmp fail32
%endif

; AL = failure code: report it and exit with it.
fail32:
    mov bl, al
    mov esi, fail_msg
    call puts32
    mov al, bl
    add al, '@'
    mov dx, COM1
    out dx, al
    mov al, 10
    out dx, al
    mov al, bl
    out DEBUG_EXIT, al
    hlt

; Writes the NUL-terminated string at ESI to COM1 (32-bit code).
puts32:
    mov dx, COM1
.next:
    lodsb
    test al, al
    jz .done
    out dx, al
    jmp .next
.done:
    ret

    times 0x200 - ($ - $$) db 0xcc

bits 64
entry64:                            ; LOAD_ADDR + 0x200
%if KERNEL64 == 0
    mov al, 1
    jmp fail64
%else
    pushfq
    test qword [rsp], 0x200
    jnz .fail_if
    popfq
    mov rax, cr0
    mov ecx, 0x80000001             ; PG | PE
    and eax, ecx
    cmp eax, ecx
    jne .fail_mode
    mov rax, cr4
    test eax, 0x20                  ; PAE
    jz .fail_mode
    mov ecx, 0xc0000080             ; EFER
    rdmsr
    and eax, 0x500                  ; LMA | LME
    cmp eax, 0x500
    jne .fail_mode
    mov ax, cs
    cmp ax, 0x10
    jne .fail_sel
    mov ax, ds
    cmp ax, 0x18
    jne .fail_sel
    mov ax, es
    cmp ax, 0x18
    jne .fail_sel
    mov ax, ss
    cmp ax, 0x18
    jne .fail_sel
    cmp rsi, 0x7000
    jne .fail_regs
    lea rax, [rel entry64]          ; running where the loader said: pref_address + 0x200
    cmp rax, LOAD_ADDR + 0x200
    jne .fail_regs
    mov al, 6
    cmp byte [rsi + 0x210], 0xff    ; type_of_loader
    jne fail64
    cmp word [rsi + 0x1fa], 0xffff  ; vid_mode
    jne fail64
    cmp dword [rsi + 0x214], LOAD_ADDR ; code32_start
    jne fail64
    cmp word [rsi + 0x206], 0x020f  ; the setup header was copied
    jne fail64
    mov al, 7
    cmp byte [rsi + 0x1e8], 3       ; e820_entries
    jb fail64
    movzx ecx, byte [rsi + 0x1e8]
    lea rdx, [rsi + 0x2d0]
.find_1m:                           ; some entry is RAM from 1 MiB
    cmp qword [rdx], 0x100000
    jne .next_entry
    cmp dword [rdx + 16], 1
    je .found_1m
.next_entry:
    add rdx, 20
    loop .find_1m
    jmp fail64
.found_1m:
    mov al, 8
    mov edx, [rsi + 0x228]          ; cmd_line_ptr
    cmp dword [rdx], 'prob'
    jne fail64
    mov al, 9
    mov edx, [rsi + 0x21c]          ; ramdisk_size
    test edx, edx
    jz .no_initrd
    mov ecx, [rsi + 0x218]
    cmp dword [rcx], 'INIT'
    jne fail64
.no_initrd:
    ; The identity map covers 4 GiB: touch RAM far from the kernel through it (64 MiB - 8).
    mov al, 10
    mov rdx, 0x3fffff8
    mov qword [rdx], 0x1234
    cmp qword [rdx], 0x1234
    jne fail64
    ; ... and the GDT the loader points at holds __BOOT_CS (L=1) and __BOOT_DS.
    mov al, 11
    sub rsp, 16
    sgdt [rsp]
    mov rdx, [rsp + 2]
    add rsp, 16
    mov rcx, [rdx + 0x10]
    bt rcx, 53                      ; L
    jnc fail64
    mov rcx, [rdx + 0x18]
    shr rcx, 40
    cmp cl, 0x93
    jne fail64
    lea rsi, [rel ok64_msg]
    call puts64
    mov al, 0x10
    out DEBUG_EXIT, al
    hlt
.fail_if:   mov al, 2
            jmp fail64
.fail_mode: mov al, 3
            jmp fail64
.fail_sel:  mov al, 4
            jmp fail64
.fail_regs: mov al, 5
            jmp fail64
%endif

fail64:
    mov bl, al
    lea rsi, [rel fail_msg]
    call puts64
    mov al, bl
    add al, '@'
    mov dx, COM1
    out dx, al
    mov al, 10
    out dx, al
    mov al, bl
    out DEBUG_EXIT, al
    hlt

; Writes the NUL-terminated string at RSI to COM1 (64-bit code).
puts64:
    mov dx, COM1
.next:
    lodsb
    test al, al
    jz .done
    out dx, al
    jmp .next
.done:
    ret

ok32_msg: db "bzimage-probe: OK 32-bit entry", 10, 0
ok64_msg: db "bzimage-probe: OK 64-bit entry", 10, 0
fail_msg: db "bzimage-probe: FAIL check ", 0

    times PM_SIZE - ($ - $$) db 0
