/* core/ssm.h — SSM, the saved-state stream.
 *
 * Stream layout (all integers little-endian):
 *   header  "MODVMSSM" (8 bytes), u32 stream version (SSM_STREAM_VERSION), u32 reserved 0
 *   units   u32 magic "UNIT" 0x54494e55, u8 name length + name bytes (1..63, [a-z0-9-]),
 *           u32 instance, u32 unit version, u64 data length, data bytes, u32 CRC-32 of the data
 *   end     u32 magic "END!" 0x21444e45
 * A reader treats the stream as hostile: every length is bounded (name ≤ 63, data ≤ remaining
 * stream), CRCs are checked, and a unit's reader can never read past its own data. */
#ifndef MODVM_CORE_SSM_H
#define MODVM_CORE_SSM_H

#include <stddef.h>
#include <stdint.h>

#define SSM_STREAM_VERSION 1

struct ssm_writer;
struct ssm_reader;
struct modvm_ssm; /* the per-unit handle devices see (sdk/include/modvm/ssm.h) */

/** A writer building a stream in memory. */
struct ssm_writer *ssm_writer_create(void);
void ssm_writer_destroy(struct ssm_writer *w);
/** Starts a unit and returns the handle the device's save callback writes into. -EINVAL if a unit is
 * already open, the stream is finished or the name is bad. */
int ssm_writer_begin_unit(struct ssm_writer *w, const char *name, uint32_t instance, uint32_t version,
                          struct modvm_ssm **unit);
/** Appends bytes to the open unit (what modvm_ssm_put_* ends up calling). */
int ssm_unit_put(struct modvm_ssm *unit, const void *buf, size_t len);
/** Closes the open unit (fills in its length and CRC). */
int ssm_writer_end_unit(struct ssm_writer *w);
/** Writes the terminator and returns the finished stream (owned by the writer). */
int ssm_writer_finish(struct ssm_writer *w, const uint8_t **data, size_t *len);

/** A reader over a stream in memory (not copied: keep `data` alive). Validates the header: -EINVAL
 * with a reason in `err` (one line) when it is not a modvm saved state or has another version. */
int ssm_reader_open(const uint8_t *data, size_t len, struct ssm_reader **out, char *err, size_t errlen);
void ssm_reader_destroy(struct ssm_reader *r);
/** Advances to the next unit. Returns 1 and fills name/instance/version and the unit handle; 0 at the
 * terminator; -EINVAL (reason in err) on a malformed stream (bad magic, lengths, CRC, truncation). */
int ssm_reader_next_unit(struct ssm_reader *r, const char **name, uint32_t *instance, uint32_t *version,
                         struct modvm_ssm **unit, char *err, size_t errlen);
/** Reads from the current unit: -EIO (and zero-fills) past its end; sticky after the first failure. */
int ssm_unit_get(struct modvm_ssm *unit, void *buf, size_t len);
/** Bytes of the current unit not read yet (a loader that leaves data unread is an error for PDM). */
size_t ssm_unit_remaining(const struct modvm_ssm *unit);

#endif
