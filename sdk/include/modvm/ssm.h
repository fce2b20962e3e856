/* modvm/ssm.h — saved state: what a device writes in its save callback and reads in its load
 * callback.
 *
 * The core frames each device's data as a unit (type name, instance, unit version) and ends the
 * stream with a terminator; the device only puts and gets its fields in order, with the typed
 * wrappers in pdm.h (modvm_ssm_put_u32(dev, ssm, v), modvm_ssm_get_u32(dev, ssm, &v), ...). Values
 * are stored little-endian.
 *
 * Saved state is untrusted input: a load callback checks the unit version it is handed, bounds every
 * restored index and size against the configured device, and returns -EINVAL (with
 * modvm_dev_set_error) for anything it cannot accept. A get fails with -EIO once the unit's data is
 * exhausted; after the first failure every later get fails too (and fills with zeros), so a loader
 * may check the result once at the end. */
#ifndef MODVM_SSM_H
#define MODVM_SSM_H

#ifdef __cplusplus
extern "C" {
#endif

/** A saved-state stream positioned at one device's unit (opaque). */
struct modvm_ssm;

#ifdef __cplusplus
}
#endif
#endif
