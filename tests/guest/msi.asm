; =============================================================================
; msi.asm - modvm test guest: plain MSI from pci-testdev to the local APIC
;
; Tests:   the PCI core's MSI capability end to end with the test plugin
;          pci-testdev,msi=on (1b36:0005 on bus 0; its doorbell at BAR0+F00h
;          sends MSI vector 0, or with MSI off raises INTA#, lowered by a
;          write at BAR0+F04h): the capability in the list (64-bit,
;          per-vector masking, one vector, off at power-on); a message to
;          the BSP's APIC ID with data 0x40 arriving as vector 0x40 and
;          nothing else; the device's INTx
;          status clear while MSI carries its interrupts; a masked vector
;          sending nothing and setting its pending bit, then arriving when
;          unmasked (pending bit clear again); with MSI disabled the doorbell
;          setting the status register's interrupt bit (3) and sending no
;          message, and the bit clearing when the device lowers INTx.
; Follows: PCI Local Bus 3.0 §6.2.3 (status bits 3 and 4), §6.7
;          (capability list), §6.8.1 (MSI capability: message control,
;          64-bit address, data, mask and pending bits), §6.8.3 (delivery);
;          Intel SDM vol 3A ch. 10 (local APIC: SVR software enable, ID, EOI; §10.11 message address 0xFEExx000 with the destination ID in
;          bits 19:12 and data with the vector in bits 7:0, fixed, edge).
; Output:  "msi: delivered vector 0x40"
;          "msi: masked vector pending, delivered on unmask"
;          "msi: off falls back to intx"
;          debug-exit 0x15 (status 43); "msi: FAIL <what>", 0x7f otherwise.
; Needs:   --device i440fx --device pci-testdev,msi=on (modvm only: QEMU's
;          pci-testdev has no MSI capability and no doorbell).
; =============================================================================
%define GUEST_NAME "msi"
%include "boot.inc"
%include "pcicfg.inc"
%include "pic.inc"

PCI_COMMAND     equ 0x04
PCI_STATUS      equ 0x06
PCI_BAR0        equ 0x10
PCI_CAP_PTR     equ 0x34
PCI_INT_PIN     equ 0x3D
CMD_MEM         equ 0x2
CMD_MASTER      equ 0x4
STATUS_INTX     equ 0x08
STATUS_CAPLIST  equ 0x10
CAP_ID_MSI      equ 0x05
MAX_CAPS        equ 48                  ; (256 - 64) / 4: a longer list loops

MSI_CONTROL     equ 2                   ; offsets in the 64-bit, maskable layout
MSI_ADDR_LO     equ 4
MSI_ADDR_HI     equ 8
MSI_DATA        equ 12
MSI_MASK        equ 16
MSI_PENDING     equ 20
MSI_CTRL_ENABLE equ 0x0001
MSI_CTRL_MMC    equ 0x000E
MSI_CTRL_64BIT  equ 0x0080
MSI_CTRL_MASKABLE equ 0x0100

TESTDEV_ID       equ 0x00051B36         ; device << 16 | vendor
TESTDEV_MEM_BASE equ 0xE0000000         ; above RAM, as pci-scan uses it
TESTDEV_DOORBELL equ 0xF00
TESTDEV_INTX_ACK equ 0xF04

LAPIC_BASE      equ 0xFEE00000
LAPIC_ID        equ 0x020
LAPIC_EOI       equ 0x0B0
LAPIC_SVR       equ 0x0F0
LAPIC_SPURIOUS  equ 0xFF
MSI_VECTOR      equ 0x40
MSI_ADDRESS     equ 0xFEE00000           ; | destination APIC ID << 12

QUIET_SPINS     equ 0x40000              ; how long an interrupt may not come

section .text

; --- config helpers: ebx = [tdev] | reg --------------------------------------
; MSIREG reg -- ebx := the function's config address of capability register reg
%macro MSIREG 1
    mov ebx, [tdev]
    or ebx, [msi_cap]
    add ebx, %1
%endmacro
%macro TDEVREG 1
    mov ebx, [tdev]
    or ebx, %1
%endmacro

; find_testdev: [tdev] := devfn << 8 of the first pci-testdev on bus 0.
find_testdev:
    xor ebx, ebx
.slot:
    call cfg_read32
    cmp eax, TESTDEV_ID
    je .found
    add ebx, 1 << 11
    cmp ebx, 32 << 11
    jb .slot
    FAIL "no pci-testdev (1b36:0005) on bus 0"
.found:
    mov [tdev], ebx
    ret

; find_msi: [msi_cap] := the offset of the MSI capability; checks its
; control register (64-bit, maskable, one vector, off).
find_msi:
    TDEVREG PCI_STATUS
    call cfg_read16
    test eax, STATUS_CAPLIST
    jnz .has_list
    FAIL_VAL "status has no capability list (is msi=on given?)"
.has_list:
    TDEVREG PCI_CAP_PTR
    call cfg_read8
    mov ecx, MAX_CAPS
.next:
    and eax, 0xFC
    jz .none
    mov [msi_cap], eax
    MSIREG 0
    call cfg_read8
    cmp eax, CAP_ID_MSI
    je .found
    MSIREG 1
    call cfg_read8
    dec ecx
    jnz .next
.none:
    FAIL "no MSI capability in the list"
.found:
    MSIREG MSI_CONTROL
    call cfg_read16
    and eax, MSI_CTRL_ENABLE | MSI_CTRL_MMC | MSI_CTRL_64BIT | MSI_CTRL_MASKABLE
    cmp eax, MSI_CTRL_64BIT | MSI_CTRL_MASKABLE
    je .ok
    FAIL_VAL "MSI control is not 64-bit, maskable, 1 vector, off"
.ok:
    ret

; set_msi_control: the MSI enable bit := cl (0 or 1).
set_msi_control:
    push ecx
    MSIREG MSI_CONTROL
    call cfg_read16
    and eax, ~MSI_CTRL_ENABLE
    movzx ecx, cl
    or ecx, eax
    call cfg_write16
    pop ecx
    ret

; intx_status: eax = the status register's interrupt bit (0 or 8).
intx_status:
    TDEVREG PCI_STATUS
    call cfg_read16
    and eax, STATUS_INTX
    ret

; ring: the doorbell, with interrupts off.
ring:
    mov byte [TESTDEV_MEM_BASE + TESTDEV_DOORBELL], 1
    ret

; wait_msi: eax = the count to reach.  Interrupts on until [msi_count] gets
; there (watchdog: FAIL), then off; FAILs unless it stopped exactly there.
wait_msi:
    mov edx, eax
    call wd_start
    sti
.poll:
    cmp [msi_count], edx
    WAIT_UNTIL jae, .poll, "no MSI arrived (watchdog)"
    cli
    mov eax, [msi_count]
    cmp eax, edx
    je .count_ok
    FAIL_VAL "more MSIs than doorbell rings"
.count_ok:
    ret

; quiet: interrupts on for QUIET_SPINS pauses; FAILs if an MSI came.
quiet:
    mov edx, [msi_count]
    mov ecx, QUIET_SPINS
    sti
.spin:
    pause
    dec ecx
    jnz .spin
    cli
    mov eax, [msi_count]
    cmp eax, edx
    je .ok
    FAIL_VAL "an MSI arrived that must not (count)"
.ok:
    ret

guest_main:
    call serial_init
    call pic_init                       ; every 8259 line masked
    call find_testdev
    TDEVREG PCI_INT_PIN
    call cfg_read8
    cmp eax, 1
    je .pin_ok
    FAIL_VAL "interrupt pin is not INTA#"
.pin_ok:
    call find_msi

    ; BAR0 at TESTDEV_MEM_BASE, memory decode and bus mastering on
    TDEVREG PCI_COMMAND
    xor ecx, ecx
    call cfg_write16
    TDEVREG PCI_BAR0
    mov ecx, TESTDEV_MEM_BASE
    call cfg_write32
    TDEVREG PCI_COMMAND
    mov ecx, CMD_MEM | CMD_MASTER
    call cfg_write16

    ; the local APIC: software-enabled, our handler at MSI_VECTOR
    mov dword [LAPIC_BASE + LAPIC_SVR], 0x100 | LAPIC_SPURIOUS
    mov eax, MSI_VECTOR
    mov edx, msi_isr
    call idt_set_gate

    ; the message: to the BSP (this CPU), fixed, edge, vector MSI_VECTOR
    mov ecx, [LAPIC_BASE + LAPIC_ID]
    shr ecx, 24
    shl ecx, 12
    or ecx, MSI_ADDRESS
    MSIREG MSI_ADDR_LO
    call cfg_write32
    MSIREG MSI_ADDR_HI
    xor ecx, ecx
    call cfg_write32
    MSIREG MSI_DATA
    mov ecx, MSI_VECTOR
    call cfg_write16
    mov cl, 1
    call set_msi_control

    ; 1. delivered
    call ring
    mov eax, 1
    call wait_msi
    call intx_status
    test eax, eax
    jz .no_intx1
    FAIL_VAL "status shows INTx with MSI on"
.no_intx1:
    PUTS "msi: delivered vector 0x40", 10

    ; 2. masked: nothing, pending; unmasked: delivered, not pending
    MSIREG MSI_MASK
    mov ecx, 1
    call cfg_write32
    call ring
    call quiet
    MSIREG MSI_PENDING
    call cfg_read32
    cmp eax, 1
    je .pending_ok
    FAIL_VAL "pending bits after a masked ring are not 1"
.pending_ok:
    MSIREG MSI_MASK
    xor ecx, ecx
    call cfg_write32
    mov eax, 2
    call wait_msi
    MSIREG MSI_PENDING
    call cfg_read32
    test eax, eax
    jz .unpending_ok
    FAIL_VAL "pending bits after unmasking are not 0"
.unpending_ok:
    PUTS "msi: masked vector pending, delivered on unmask", 10

    ; 3. MSI off: the doorbell raises INTx (status bit 3), no message
    mov cl, 0
    call set_msi_control
    call intx_status
    test eax, eax
    jz .no_intx2
    FAIL_VAL "status shows INTx before the ring with MSI off"
.no_intx2:
    call ring
    call quiet
    call intx_status
    test eax, eax
    jnz .intx_ok
    FAIL_VAL "status does not show INTx after a ring with MSI off"
.intx_ok:
    mov byte [TESTDEV_MEM_BASE + TESTDEV_INTX_ACK], 1
    call intx_status
    test eax, eax
    jz .intx_low
    FAIL_VAL "status still shows INTx after the device lowered it"
.intx_low:
    PUTS "msi: off falls back to intx", 10
    mov eax, 0x15
    ret

; The MSI handler (only vector 0x40 has it: any other vector FAILs in
; boot.inc's stubs): counts, EOI.
msi_isr:
    inc dword [msi_count]
    mov dword [LAPIC_BASE + LAPIC_EOI], 0
    IRQ_RETURN

section .data
align 4
tdev:           dd 0                    ; devfn << 8 of the pci-testdev
msi_cap:        dd 0                    ; its MSI capability's offset
msi_count:      dd 0
