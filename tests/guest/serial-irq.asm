; =============================================================================
; serial-irq.asm - modvm test guest: interrupt-driven 16550A UART (COM1, IRQ4)
;
; Tests:   THRE interrupt (IER bit 1) driving transmission from a buffer;
;          loopback mode (MCR bit 4) incl. MSR loopback mirror; IIR
;          interrupt IDs and priority (0x04 RDA over 0x02 THRE, 0x01 none);
;          LSR.DR; RX-data-available interrupt (IER bit 0) delivering looped
;          back bytes; IRQ4 through the remapped 8259A pair.  The RX IRQ is
;          taken after leaving loopback (PC wiring: OUT2 gates the IRQ and
;          loopback forces the OUT2 pin inactive), so the guest passes on
;          PC-accurate UARTs and on QEMU (which ignores that gating) alike.
;          Needs an idle serial input (stdin not feeding bytes).
; Follows: PC16550D (16550A) UART datasheet (IER/IIR/FCR/MCR/LSR/MSR,
;          interrupt priorities, loopback); Intel 8259A datasheet (pic.inc);
;          Multiboot 0.6.96 (boot.inc).
; Output:  "serial-irq: tx via THRE interrupts"    (sent by the THRE handler)
;          "serial-irq: ok"                        debug-exit 0x11 (status 35)
;          "serial-irq: FAIL <what>"               debug-exit 0x7f (status 255)
; =============================================================================
%define GUEST_NAME "serial-irq"
%include "boot.inc"
%include "pic.inc"

UART_VECTOR  equ PIC1_VECTOR + COM1_IRQ ; 0x24
RX_BUF_SIZE  equ 64
ISR_MAX_LOOPS equ 64

section .text
guest_main:
    call serial_init
    call pic_init
    mov eax, UART_VECTOR
    mov edx, uart_isr
    call idt_set_gate
    mov ax, 0xFF00 | (0xFF & ~(1 << COM1_IRQ))  ; only IRQ4 unmasked
    call pic_set_masks

    ; --- 1. transmit a line from the THRE interrupt handler -------------
    sti
    call wd_start
    UART_OUT UART_IER, IER_THRE         ; THR is empty: interrupt right away
.wait_tx:
    cmp dword [tx_done], 1
    WAIT_UNTIL je, .wait_tx, "THRE interrupt transmission timed out"
    mov eax, [thre_events]
    cmp eax, tx_msg_len
    jae .thre_count_ok
    FAIL_VAL "fewer THRE interrupts than bytes sent"
.thre_count_ok:
    test dword [iir_seen], 1 << (0x02 >> 1)
    jnz .thre_seen
    mov eax, [iir_seen]
    FAIL_VAL "IIR never reported THRE (0x02)"
.thre_seen:
    call serial_drain
    cli
    UART_EXPECT UART_IIR, 0x0F, 0x01, "IIR after TX with IER=0 (want none, 0x01)"

    ; --- 2. loopback, FIFOs off: IIR priority, polled --------------------
    UART_OUT UART_FCR, 0x00
    UART_OUT UART_MCR, MCR_LOOP | MCR_OUT2 | MCR_RTS | MCR_DTR
    ; loopback mirrors DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD
    UART_EXPECT UART_MSR, 0xF0, 0xB0, "MSR in loopback with DTR|RTS|OUT2 (want 0xb?)"
    call drain_rx
    UART_OUT UART_THR, 0x5A
    call wd_start
.wait_dr:
    UART_IN UART_LSR
    test al, LSR_DR
    WAIT_UNTIL jnz, .wait_dr, "looped-back byte never set LSR.DR"
    call serial_drain
    ; Both RDA and THRE conditions now hold; RDA has the higher priority.
    UART_OUT UART_IER, IER_RDA | IER_THRE
    UART_EXPECT UART_IIR, 0x0F, 0x04, "IIR with RDA and THRE pending (want RDA, 0x04)"
    UART_EXPECT UART_LSR, LSR_DR, LSR_DR, "LSR.DR clear while RDA pending"
    UART_EXPECT UART_RBR, 0xFF, 0x5A, "loopback byte (want 0x5a)"
    UART_EXPECT UART_LSR, LSR_DR, 0, "LSR.DR still set after reading RBR"
    UART_EXPECT UART_IIR, 0x0F, 0x02, "IIR after reading RBR (want THRE, 0x02)"
    UART_EXPECT UART_IIR, 0x0F, 0x01, "IIR after reading THRE IIR (want none, 0x01)"
    UART_OUT UART_IER, 0x00

    ; --- 3. loopback, FIFOs on: receive through the RX interrupt --------
    ; On a PC the UART's IRQ output is gated by the OUT2 *pin*, which
    ; loopback forces inactive, so no IRQ can reach the PIC while MCR bit 4
    ; is set (QEMU raises it anyway).  Each round therefore loops bytes back
    ; into the RX FIFO with IF=0, checks IIR/LSR there, leaves loopback with
    ; the data still pending and lets the RX interrupt handler collect it.
    UART_OUT UART_FCR, FCR_ENABLE_CLEAR   ; RX trigger level 1 byte
    mov dword [iir_seen], 0
    mov dword [rx_count], 0
    xor ebx, ebx                        ; bytes sent so far
    xor edi, edi                        ; round
.rx_round:
    cli
    UART_OUT UART_IER, 0x00
    UART_OUT UART_MCR, MCR_LOOP | MCR_OUT2 | MCR_RTS | MCR_DTR
    movzx ecx, byte [rx_rounds + edi]
.rx_send:
    mov al, [rx_pattern + ebx]
    call serial_putc
    inc ebx
    dec ecx
    jnz .rx_send
    call serial_drain                   ; last byte fully shifted out
    UART_EXPECT UART_LSR, LSR_DR, LSR_DR, "LSR.DR clear after looping bytes back"
    UART_OUT UART_IER, IER_RDA
    ; bit 3 may be set: FIFO character timeout (0x0c) ranks with RDA
    UART_EXPECT UART_IIR, 0x07, 0x04, "IIR in loopback with RX data (want RDA 0x04 or timeout 0x0c)"
    UART_OUT UART_MCR, MCR_OUT2 | MCR_RTS | MCR_DTR
    call wd_start
    sti
.wait_rx:
    cmp [rx_count], ebx
    WAIT_UNTIL jae, .wait_rx, "RX interrupt for looped-back bytes never came"
    inc edi
    cmp edi, RX_ROUNDS
    jb .rx_round
    cli
    mov eax, [rx_count]
    cmp eax, rx_pattern_len
    je .rx_len_ok
    FAIL_VAL "received more bytes than sent"
.rx_len_ok:
    mov esi, rx_buf
    mov edi, rx_pattern
    mov ecx, rx_pattern_len
    repe cmpsb
    je .rx_data_ok
    movzx eax, byte [esi - 1]
    FAIL_VAL "received byte differs from the one sent"
.rx_data_ok:
    test dword [iir_seen], (1 << (0x04 >> 1)) | (1 << (0x0C >> 1))
    jnz .rda_seen
    mov eax, [iir_seen]
    FAIL_VAL "RX handler never saw IIR RDA (0x04) or timeout (0x0c)"
.rda_seen:
    cmp dword [rx_no_dr], 0
    je .dr_ok
    mov eax, [rx_no_dr]
    FAIL_VAL "IIR reported RDA while LSR.DR was clear"
.dr_ok:

    ; --- 4. back to normal ---------------------------------------------
    UART_OUT UART_IER, 0x00
    UART_OUT UART_MCR, MCR_OUT2 | MCR_RTS | MCR_DTR
    UART_EXPECT UART_LSR, LSR_DR, 0, "LSR.DR set after leaving loopback"
    UART_EXPECT UART_IIR, 0x0F, 0x01, "IIR at the end (want none, 0x01)"
    mov ax, 0xFFFF
    call pic_set_masks
    PUTS "serial-irq: ok", 10
    mov eax, 0x11
    ret

; drain_rx: read RBR until LSR.DR is clear.
drain_rx:
    push eax
    push ecx
    push edx
    mov ecx, 64
.next:
    UART_IN UART_LSR
    test al, LSR_DR
    jz .done
    UART_IN UART_RBR
    dec ecx
    jnz .next
.done:
    pop edx
    pop ecx
    pop eax
    ret

; ---------------------------------------------------------------------------
; IRQ4 handler: service IIR until it reports "no interrupt pending".
; ---------------------------------------------------------------------------
uart_isr:
    pushad
    mov ebx, ISR_MAX_LOOPS
.next:
    UART_IN UART_IIR
    test al, 0x01
    jnz .done
    movzx eax, al
    and eax, 0x0E
    mov ecx, eax
    shr ecx, 1
    bts dword [iir_seen], ecx
    dec ebx
    jnz .dispatch
    FAIL_VAL "UART interrupt never cleared (last IIR id)"
.dispatch:
    cmp al, 0x02
    je .thre
    cmp al, 0x04
    je .rx
    cmp al, 0x0C                        ; character timeout (FIFO mode)
    je .rx
    cmp al, 0x06
    je .line_status
    UART_IN UART_MSR                    ; 0x00: modem status
    jmp .next

.line_status:
    UART_IN UART_LSR
    jmp .next

.thre:
    inc dword [thre_events]
    mov ecx, [tx_pos]
    cmp ecx, tx_msg_len
    jae .tx_finished
    mov al, [tx_msg + ecx]
    inc ecx
    mov [tx_pos], ecx
    mov dx, COM1_BASE + UART_THR
    out dx, al
    jmp .next
.tx_finished:
    UART_IN UART_IER
    and al, ~IER_THRE
    out dx, al
    mov dword [tx_done], 1
    jmp .next

.rx:
    UART_IN UART_LSR
    test al, LSR_DR
    jnz .rx_byte
    inc dword [rx_no_dr]
    jmp .next
.rx_loop:
    UART_IN UART_LSR
    test al, LSR_DR
    jz .next
.rx_byte:
    UART_IN UART_RBR
    mov ecx, [rx_count]
    cmp ecx, RX_BUF_SIZE
    jae .rx_drop
    mov [rx_buf + ecx], al
.rx_drop:
    inc dword [rx_count]
    jmp .rx_loop

.done:
    call pic_eoi_master
    popad
    IRQ_RETURN

section .rodata
tx_msg:      db "serial-irq: tx via THRE interrupts", 10
tx_msg_len   equ $ - tx_msg
rx_pattern:  db 0x00, 0x55, 0xAA, 0xFF, "modvm", 0x0A, 0x0D, 0x80, "0123456789"
rx_pattern_len equ $ - rx_pattern
; bytes per round (each <= 16, the FIFO size); must add up to the pattern
%assign rx_total 0
%macro RX_ROUND 1
    db %1
%assign rx_total rx_total + %1
%endmacro
rx_rounds:
    RX_ROUND 1
    RX_ROUND 1
    RX_ROUND 1
    RX_ROUND 1
    RX_ROUND 4
    RX_ROUND 14
RX_ROUNDS    equ $ - rx_rounds
    times -(rx_total != rx_pattern_len) db 0   ; negative TIMES = mismatch

section .data
align 4
tx_pos:      dd 0
tx_done:     dd 0
thre_events: dd 0
iir_seen:    dd 0               ; bit (IIR id >> 1) set when seen
rx_count:    dd 0
rx_no_dr:    dd 0
rx_buf:      times RX_BUF_SIZE db 0
