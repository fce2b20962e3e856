; =============================================================================
; pio-loop.asm - modvm benchmark guest: port writes handled in userspace
;
; Tests:   nothing (a benchmark): N byte writes to the COM1 scratch register
;          (port 0x3FF), each a VM exit that the VMM handles in userspace
;          (modvm's uart16550 plugin, QEMU's serial device).
; Follows: Multiboot 0.6.96 (boot.inc, command line in mbi.cmdline);
;          PC16550D datasheet (SCR at base + 7).
; Input:   a whitespace-separated token "iters=N" (N decimal, up to 9
;          digits) anywhere on the command line; missing means 0.
; Output:  "pio-loop: start"                       right after serial_init
;          "pio-loop: N writes, scratch ok"         debug-exit 0x30 (status 97)
;          "pio-loop: FAIL <what>"                  debug-exit 0x7f (status 255)
; Build:   nasm -f elf32 -I tests/guest/ pio-loop.asm, then ld with
;          tests/guest/link.ld (tests/bench/bench.sh does this).
; =============================================================================
%define GUEST_NAME "pio-loop"
%include "boot.inc"

CMDLINE_MAX equ 4096
MAX_DIGITS  equ 9

section .text
guest_main:
    call serial_init
    PUTS "pio-loop: start", 10
    call parse_iters                    ; eax = N
    mov ebx, eax

    ; The measured loop: two instructions per write (every instruction in
    ; guest kernel mode is expensive on software-nested KVM).
    mov ecx, ebx
    mov dx, COM1_BASE + UART_SCR
    mov al, 0x5A
    out dx, al                          ; once, so iters=0 leaves it set too
    jecxz .done
.loop:
    out dx, al
    loop .loop
.done:
    in al, dx                           ; the last value written must stick
    cmp al, 0x5A
    je .scratch_ok
    movzx eax, al
    FAIL_VAL "scratch register does not hold the value written"
.scratch_ok:
    PUTS "pio-loop: "
    mov eax, ebx
    call serial_put_dec
    PUTS " writes, scratch ok", 10
    mov eax, 0x30
    ret

; parse_iters: eax = N from "iters=N" on the multiboot command line (0 if
; there is none); FAILs on a malformed number.
parse_iters:
    mov ebx, [mb_info]
    test ebx, ebx
    jz .none
    test dword [ebx], MBI_FLAG_CMDLINE
    jz .none
    mov esi, [ebx + MBI_CMDLINE]
    lea edi, [esi + CMDLINE_MAX]
.scan:                                  ; at the start of a token?
    cmp esi, edi
    jae .none
    mov al, [esi]
    test al, al
    jz .none
    cmp al, ' '
    je .next_char
    push esi
    push edi
    mov edi, iters_prefix
    mov ecx, iters_prefix_len
    repe cmpsb
    pop edi
    pop esi
    je .number
.skip_token:
    inc esi
    cmp esi, edi
    jae .none
    mov al, [esi]
    test al, al
    jz .none
    cmp al, ' '
    jne .skip_token
.next_char:
    inc esi
    jmp .scan
.number:
    add esi, iters_prefix_len
    xor eax, eax
    xor ecx, ecx
.digit:
    movzx edx, byte [esi]
    sub edx, '0'
    cmp edx, 9
    ja .end
    imul eax, eax, 10
    add eax, edx
    inc esi
    inc ecx
    cmp ecx, MAX_DIGITS
    jbe .digit
    jmp .bad
.end:
    test ecx, ecx
    jz .bad
    mov dl, [esi]
    test dl, dl
    jz .ok
    cmp dl, ' '
    je .ok
.bad:
    FAIL "malformed iters=N on the command line"
.none:
    xor eax, eax
.ok:
    ret

section .rodata
iters_prefix: db "iters="
iters_prefix_len equ $ - iters_prefix
