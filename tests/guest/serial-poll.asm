; =============================================================================
; serial-poll.asm - modvm test guest: polled 16550A UART at COM1 (0x3F8)
;
; Tests:   LSR reset state (THRE|TEMT), scratch register, divisor latch
;          (DLAB) write/read-back incl. 115200 baud, LCR read-back, IER
;          behind DLAB, FCR -> IIR FIFO bits (7:6 = 11 with FIFOs on, 00
;          off), polled transmit through THR/LSR.THRE.
; Follows: PC16550D (16550A) UART datasheet; Multiboot 0.6.96 (boot.inc).
; Output:  "serial-poll: ok"                       debug-exit 0x10 (status 33)
;          "serial-poll: FAIL <what>"              debug-exit 0x7f (status 255)
; =============================================================================
%define GUEST_NAME "serial-poll"
%include "boot.inc"

section .text
guest_main:
    ; Nothing has been transmitted yet: LSR must show THRE|TEMT.
    UART_EXPECT UART_LSR, LSR_THRE | LSR_TEMT, LSR_THRE | LSR_TEMT, "LSR after reset lacks THRE|TEMT"

    call serial_check_scratch

    ; Divisor 0x0180 (300 baud) first, so DLM is distinguishable from IER.
    UART_OUT UART_LCR, LCR_DLAB | LCR_8N1
    UART_OUT UART_DLL, 0x80
    UART_OUT UART_DLM, 0x01
    UART_EXPECT UART_DLL, 0xFF, 0x80, "DLL read-back (divisor 0x0180)"
    UART_EXPECT UART_DLM, 0xFF, 0x01, "DLM read-back (divisor 0x0180)"
    UART_EXPECT UART_LCR, 0xFF, LCR_DLAB | LCR_8N1, "LCR read-back with DLAB set"

    ; DLAB off: offset 1 is IER again (0 after reset), not DLM.
    UART_OUT UART_LCR, LCR_8N1
    UART_EXPECT UART_LCR, 0xFF, LCR_8N1, "LCR read-back with DLAB clear"
    UART_OUT UART_IER, 0x00
    UART_EXPECT UART_IER, 0xFF, 0x00, "IER with DLAB clear"

    ; DLAB on again: divisor survived, then program 115200 (divisor 1).
    UART_OUT UART_LCR, LCR_DLAB | LCR_8N1
    UART_EXPECT UART_DLL, 0xFF, 0x80, "DLL lost across DLAB toggle"
    UART_EXPECT UART_DLM, 0xFF, 0x01, "DLM lost across DLAB toggle"
    UART_OUT UART_DLL, 0x01
    UART_OUT UART_DLM, 0x00
    UART_EXPECT UART_DLL, 0xFF, 0x01, "DLL read-back (115200 baud)"
    UART_EXPECT UART_DLM, 0xFF, 0x00, "DLM read-back (115200 baud)"
    UART_OUT UART_LCR, LCR_8N1
    UART_EXPECT UART_LCR, 0xFF, LCR_8N1, "LCR read-back after setting 115200"

    ; FIFO control: IIR bits 7:6 mirror FCR bit 0; no interrupt pending
    ; (IER=0) so IIR bits 3:0 = 0001.  Expected 0xC1 / 0x01.
    UART_OUT UART_FCR, FCR_ENABLE_CLEAR
    UART_EXPECT UART_IIR, 0xCF, 0xC1, "IIR with FIFOs enabled (want 0xc1)"
    UART_OUT UART_FCR, 0x00
    UART_EXPECT UART_IIR, 0xCF, 0x01, "IIR with FIFOs disabled (want 0x01)"
    UART_OUT UART_FCR, FCR_ENABLE_CLEAR
    UART_EXPECT UART_IIR, 0xCF, 0xC1, "IIR with FIFOs re-enabled (want 0xc1)"

    UART_OUT UART_MCR, MCR_DTR | MCR_RTS
    UART_EXPECT UART_MCR, 0x1F, MCR_DTR | MCR_RTS, "MCR read-back"

    PUTS "serial-poll: ok", 10
    mov eax, 0x10
    ret
