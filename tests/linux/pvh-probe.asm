; =============================================================================
; pvh-probe.asm - modvm test guest: a minimal PVH kernel (an ELF32 with the
;                 Xen PHYS32_ENTRY note) that checks the start state and
;                 hvm_start_info the loader gives it.
;
; Follows: Xen's PVH ABI (docs/misc/pvh.pandoc: 32-bit protected mode, paging
;          off, EBX = physical address of struct hvm_start_info) and
;          xen/include/public/arch-x86/hvm/start_info.h (magic 0x336ec578,
;          version 1 with the memory map; hvm_modlist_entry for modules).
; Build:   nasm -f bin (the ELF header and program headers are written here).
; Output:  COM1 "pvh-probe: OK" and debug-exit 0x10 (status 33), or
;          "pvh-probe: FAIL check <letter>" and debug-exit <n> (status 2n+1).
; =============================================================================
BASE        equ 0x200000
COM1        equ 0x3f8
DEBUG_EXIT  equ 0xf4

bits 32
org BASE

ehdr:
    db 0x7f, "ELF", 1, 1, 1, 0      ; ELF32, little-endian
    times 8 db 0
    dw 2                            ; ET_EXEC
    dw 3                            ; EM_386
    dd 1
    dd entry                        ; e_entry (not used by PVH)
    dd phdrs - ehdr                 ; e_phoff
    dd 0                            ; e_shoff
    dd 0                            ; e_flags
    dw 52, 32, 2                    ; e_ehsize, e_phentsize, e_phnum
    dw 0, 0, 0                      ; no sections
phdrs:
    dd 1, 0, BASE, BASE             ; PT_LOAD: the whole file at BASE
    dd file_end - ehdr, file_end - ehdr + 0x1000, 7, 0x1000
    dd 4, notes - ehdr, notes, notes ; PT_NOTE
    dd notes_end - notes, notes_end - notes, 4, 4
notes:
    dd 4, 4, 18                     ; "Xen", XEN_ELFNOTE_PHYS32_ENTRY
    db "Xen", 0
    dd entry
notes_end:

entry:
    mov esp, stack_top              ; PVH gives no stack
    mov al, 1
    cmp ebx, 0x1000                 ; somewhere sane in low memory
    jb fail
    mov eax, cr0
    test eax, 0x80000000            ; paging off
    jnz fail_mode
    test eax, 1                     ; protected mode
    jz fail_mode
    pushfd
    test dword [esp], 0x200         ; interrupts off
    jnz fail_mode
    popfd
    mov al, 3
    cmp dword [ebx], 0x336ec578     ; magic
    jne fail
    cmp dword [ebx + 4], 1          ; version
    jb fail
    mov al, 4
    mov edx, [ebx + 24]             ; cmdline_paddr
    cmp dword [edx], 'prob'
    jne fail
    mov al, 5
    mov ecx, [ebx + 48]             ; memmap_entries
    cmp ecx, 3
    jb fail
    mov edx, [ebx + 40]             ; memmap_paddr
    cmp dword [edx + 16], 1         ; entry 0: RAM
    jne fail
.find_1m:                           ; some RAM entry starts at 1 MiB
    cmp dword [edx], 0x100000
    jne .next_entry
    cmp dword [edx + 16], 1
    je .found_1m
.next_entry:
    add edx, 24
    loop .find_1m
    jmp fail
.found_1m:
    mov al, 6
    mov ecx, [ebx + 12]             ; nr_modules
    test ecx, ecx
    jz .no_module
    mov edx, [ebx + 16]             ; modlist_paddr
    mov edx, [edx]                  ; module 0 paddr
    test edx, 0xfff
    jnz fail
    cmp dword [edx], 'INIT'
    jne fail
.no_module:
    mov al, 7
    cmp dword [bss], 0              ; memsz beyond the file is zeroed
    jne fail
    mov esi, ok_msg
    call puts
    mov al, 0x10
    out DEBUG_EXIT, al
    hlt
fail_mode:
    mov al, 2
; AL = failure code: report it and exit with it.
fail:
    mov bl, al
    mov esi, fail_msg
    call puts
    mov al, bl
    add al, '@'
    mov dx, COM1
    out dx, al
    mov al, 10
    out dx, al
    mov al, bl
    out DEBUG_EXIT, al
    hlt

; Writes the NUL-terminated string at ESI to COM1.
puts:
    mov dx, COM1
.next:
    lodsb
    test al, al
    jz .done
    out dx, al
    jmp .next
.done:
    ret

ok_msg:   db "pvh-probe: OK", 10, 0
fail_msg: db "pvh-probe: FAIL check ", 0
    align 16
file_end:
bss equ file_end + 0x800
stack_top equ file_end + 0x1000
