/* aml.h — a small encoder of ACPI Machine Language (AML) byte code and resource descriptors.
 *
 * Spec: ACPI 6.5, section 20.2 "AML Grammar Definition" (name strings 20.2.2, package length
 * 20.2.4, data objects 20.2.3, named objects 20.2.5.2, statements and expressions 20.2.5.3-4) and
 * section 6.4 "Resource Data Types for ACPI" (small and large resource descriptors).
 *
 * The model is a byte stream: callers write terms in the prefix order AML uses. Terms that carry a
 * PkgLength (Scope, Device, Method, Package) are opened and closed: aml_close() measures what was
 * written since the matching open and inserts the PkgLength in front of it, in the shortest of its
 * 1-4 byte encodings. Buffers (resource templates among them) are built in a separate `struct aml`
 * and appended whole with aml_buffer(), because their size must be known before their bytes.
 *
 * Errors are sticky: the first bad input (an invalid name, an integer that does not fit, an
 * unbalanced close) or allocation failure is remembered in `err` and every later call does nothing,
 * so a table is built straight through and checked once at the end with aml_error(). */
#ifndef MODVM_ACPI_AML_H
#define MODVM_ACPI_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Largest AML stream we build (the fw-file limit is 16 MiB; a PkgLength holds up to 2^28 - 1). */
#define AML_MAX_LEN (1u << 24)

/** An AML byte stream. Zero-initialise or aml_init() it; aml_free() it. */
struct aml {
    uint8_t *buf;
    size_t len, cap;
    int err; /* first error: 0 or a negative errno */
};

void aml_init(struct aml *a);
void aml_free(struct aml *a);
/** The first error met while building (0 when none). */
int aml_error(const struct aml *a);

/* ---- raw bytes --------------------------------------------------------------------------------- */

void aml_byte(struct aml *a, uint8_t b);
void aml_bytes(struct aml *a, const void *data, size_t len);
/** Little-endian integers of 2, 4 and 8 bytes. */
void aml_le16(struct aml *a, uint16_t v);
void aml_le32(struct aml *a, uint32_t v);
void aml_le64(struct aml *a, uint64_t v);
/** Appends another stream (and inherits its error). */
void aml_append(struct aml *a, const struct aml *b);

/* ---- encodings (pure functions, for the builder and for tests) ----------------------------------- */

/** Encodes the PkgLength of a term whose bytes after the PkgLength number `content_len`: the value
 * counts the PkgLength bytes themselves. Returns the number of bytes written to `out` (1-4), or 0
 * when the length cannot be encoded (2^28 - 1 or more). */
size_t aml_pkglen_encode(size_t content_len, uint8_t out[4]);
/** Compresses a 7-character EISA ID ("PNP0A03": three letters A-Z, four hex digits) into the
 * 32-bit value AML stores (ACPI 6.5, 19.6.43 EISAID). Returns false for a malformed ID. */
bool aml_eisaid_value(const char *id, uint32_t *out);

/* ---- names, data objects ----------------------------------------------------------------------- */

/** A NameString: an optional root prefix '\' or parent prefixes '^', then zero or more NameSegs of
 * 1-4 characters ([A-Z_] then [A-Z0-9_]) separated by '.'; short segments are padded with '_'
 * ("ISA" -> "ISA_"). Anything else is an error (-EINVAL). */
void aml_name(struct aml *a, const char *name);
/** An Integer in its shortest encoding: ZeroOp, OneOp, OnesOp (all 64 bits set), or a Byte, Word,
 * DWord or QWord constant. */
void aml_int(struct aml *a, uint64_t v);
/** A String (ASCII 0x01-0x7f, NUL-terminated in the stream). */
void aml_string(struct aml *a, const char *s);
/** An EISA ID (EisaId ("PNP0A03")): its compressed value as an Integer, in the shortest encoding. */
void aml_eisaid(struct aml *a, const char *id);
/** A Buffer holding `data` (BufferOp, PkgLength, BufferSize, bytes). */
void aml_buffer(struct aml *a, const void *data, size_t len);
/** ArgN (0-6) and LocalN (0-7) objects. */
void aml_arg(struct aml *a, unsigned n);
void aml_local(struct aml *a, unsigned n);

/* ---- terms with a PkgLength: open, write the contents, close ------------------------------------ */

/** Opens a term: returns the mark aml_close() needs. Used by the functions below. */
size_t aml_open(struct aml *a, uint8_t op, bool ext_prefix);
/** Closes the term opened at `mark`: inserts its PkgLength. */
void aml_close(struct aml *a, size_t mark);

/** Name (name, <data object written next>). */
void aml_name_decl(struct aml *a, const char *name);
/** Scope (name) { ... }, Device (name) { ... }. */
size_t aml_scope(struct aml *a, const char *name);
size_t aml_device(struct aml *a, const char *name);
/** Method (name, nargs 0-7, Serialized/NotSerialized) { ... } (sync level 0). */
size_t aml_method(struct aml *a, const char *name, unsigned nargs, bool serialized);
/** Package (nelem) { ... }: the caller writes exactly `nelem` (≤ 255) data objects before closing. */
size_t aml_package(struct aml *a, unsigned nelem);

/* ---- statements and expressions (prefix order: write the opcode, then the operands) -------------- */

/** Return (<operand written next>). */
void aml_return(struct aml *a);
/** Store (<source>, <target>): write both operands next. */
void aml_store(struct aml *a);
/** And/Or/ShiftLeft (<operand>, <operand>, <target>): write the three operands next; aml_no_target()
 * for a result that is only returned. */
void aml_and(struct aml *a);
void aml_or(struct aml *a);
void aml_shift_left(struct aml *a);
/** The NullName target (the result is discarded or only used as a value). */
void aml_no_target(struct aml *a);

/* ---- resource descriptors (ACPI 6.5, 6.4), written into a resource template buffer -------------- */

/** Address space descriptor resource types (6.4.3.5). */
enum aml_rt_space { AML_RT_MEMORY = 0, AML_RT_IO = 1, AML_RT_BUS = 2 };

/** General flags of an address space descriptor (6.4.3.5, Table 6.46). */
#define AML_RT_CONSUMER 0x01u  /* 1: ResourceConsumer, 0: ResourceProducer */
#define AML_RT_SUB_DECODE 0x02u /* subtractive decode (0: positive) */
#define AML_RT_MIN_FIXED 0x04u
#define AML_RT_MAX_FIXED 0x08u

/** Type-specific flags: memory (Table 6.47) and I/O (Table 6.48) ranges. */
#define AML_RT_MEM_RW 0x01u
#define AML_RT_MEM_NONCACHEABLE 0x00u
#define AML_RT_MEM_CACHEABLE 0x02u
#define AML_RT_MEM_WRITE_COMBINING 0x04u
#define AML_RT_MEM_PREFETCHABLE 0x06u
#define AML_RT_IO_ENTIRE_RANGE 0x03u

/** Extended interrupt flags (6.4.3.6). */
#define AML_RT_INT_CONSUMER 0x01u
#define AML_RT_INT_EDGE 0x02u       /* 0: level */
#define AML_RT_INT_ACTIVE_LOW 0x04u /* 0: active high */
#define AML_RT_INT_SHARED 0x08u

/** IO (Decode16/Decode10, min, max, alignment, length) — small descriptor, 6.4.2.5. */
void aml_rt_io(struct aml *a, bool decode16, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
/** IRQNoFlags () {irqs in `mask`} — small descriptor, 6.4.2.1 (2-byte form: edge, active high). */
void aml_rt_irq_noflags(struct aml *a, uint16_t mask);
/** Interrupt (flags) {gsis} — extended interrupt descriptor, 6.4.3.6; 1-255 interrupts. */
void aml_rt_interrupt(struct aml *a, uint8_t flags, const uint32_t *gsis, unsigned n);
/** Memory32Fixed (ReadWrite/ReadOnly, base, length) — 6.4.3.4. */
void aml_rt_memory32_fixed(struct aml *a, bool rw, uint32_t base, uint32_t len);
/** An address space descriptor of `width` 2 (Word), 4 (DWord) or 8 (QWord) bytes (6.4.3.5.1-3):
 * values that do not fit the width are an error. */
void aml_rt_address(struct aml *a, unsigned width, enum aml_rt_space space, uint8_t general_flags,
                    uint8_t type_flags, uint64_t granularity, uint64_t min, uint64_t max, uint64_t translation,
                    uint64_t len);
/** WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, min, max, 0, len). */
void aml_rt_word_bus_number(struct aml *a, uint16_t min, uint16_t max);
/** DWordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, min, max, 0, len). */
void aml_rt_dword_io(struct aml *a, uint32_t min, uint32_t max);
/** DWordMemory / QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, `cache`, ReadWrite,
 * 0, min, max, 0, len); `cache` is one of AML_RT_MEM_NONCACHEABLE ... PREFETCHABLE. */
void aml_rt_dword_memory(struct aml *a, uint8_t cache, uint32_t min, uint32_t max);
void aml_rt_qword_memory(struct aml *a, uint8_t cache, uint64_t min, uint64_t max);
/** EndTag with checksum 0 ("the checksum is treated as correct"), 6.4.2.9. */
void aml_rt_end(struct aml *a);

#endif
