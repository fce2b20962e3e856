; =============================================================================
; exit-code.asm - modvm test guest: multiboot command line -> exit status
;
; Tests:   the loader's command line (--append / -append) reaching the
;          guest through the Multiboot info structure, and the debug-exit
;          status mapping status = (N << 1) | 1.
; Follows: Multiboot 0.6.96 3.3 (mbi.flags bit 2, mbi.cmdline at offset 16,
;          zero-terminated string); PC16550D datasheet for output.
; Input:   a whitespace-separated token "exit=N", N decimal 0..255 (first
;          such token wins; QEMU prefixes the kernel file name).
; Output:  "exit-code: N"                          debug-exit N (status 2N+1)
;          "exit-code: FAIL <what> ..."            debug-exit 0x7f (status 255)
; =============================================================================
%define GUEST_NAME "exit-code"
%include "boot.inc"

CMDLINE_MAX equ 4096

section .text
guest_main:
    call serial_init
    mov ebx, [mb_info]
    test ebx, ebx
    jnz .have_mbi
    FAIL "multiboot info pointer is 0"
.have_mbi:
    mov eax, [ebx]
    test eax, MBI_FLAG_CMDLINE
    jnz .have_cmdline
    FAIL_VAL "no command line in multiboot info (flags)"
.have_cmdline:
    mov esi, [ebx + MBI_CMDLINE]
    mov [cmdline], esi
    lea edi, [esi + CMDLINE_MAX]        ; scan limit

.skip_space:
    cmp esi, edi
    jae .not_found
    mov al, [esi]
    test al, al
    jz .not_found
    cmp al, ' '
    je .space
    cmp al, 9
    jne .token
.space:
    inc esi
    jmp .skip_space

.token:                                 ; esi = start of a token
    mov ecx, 5
    push esi
    push edi
    mov edi, exit_prefix
    repe cmpsb
    pop edi
    pop esi
    je .parse
.skip_token:
    cmp esi, edi
    jae .not_found
    mov al, [esi]
    test al, al
    jz .not_found
    cmp al, ' '
    je .skip_space
    cmp al, 9
    je .skip_space
    inc esi
    jmp .skip_token

.parse:                                 ; esi -> "exit=..."
    add esi, 5
    xor eax, eax                        ; value
    xor ecx, ecx                        ; digits
.digit:
    movzx edx, byte [esi]
    sub edx, '0'
    cmp edx, 9
    ja .end_digits
    imul eax, eax, 10
    add eax, edx
    inc ecx
    inc esi
    cmp ecx, 3
    jbe .digit
    jmp .garbled                        ; more than 3 digits
.end_digits:
    test ecx, ecx
    jz .garbled
    cmp eax, 255
    ja .garbled
    mov dl, [esi]                       ; token must end here
    test dl, dl
    jz .found
    cmp dl, ' '
    je .found
    cmp dl, 9
    je .found
.garbled:
    call fail_begin
    PUTS "garbled exit=N on command line: "
    jmp .print_cmdline
.not_found:
    call fail_begin
    PUTS "no exit=N on command line: "
.print_cmdline:
    mov al, '"'
    call serial_putc
    mov esi, [cmdline]
    mov ecx, 200                        ; print at most 200 characters
.pc:
    lodsb
    test al, al
    jz .pc_done
    cmp al, ' '
    jb .pc_done
    call serial_putc
    dec ecx
    jnz .pc
.pc_done:
    mov al, '"'
    call serial_putc
    jmp fail_end

.found:
    mov ebx, eax
    PUTS "exit-code: "
    call serial_put_dec
    call serial_newline
    mov eax, ebx
    ret

section .rodata
exit_prefix: db "exit="

section .data
cmdline: dd 0
