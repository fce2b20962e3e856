/* Test plugins with broken descriptors, selected by BAD_KIND at compile time: 1 = ABI major from the
 * future, 2 = ABI minor newer than the core, 3 = end marker missing, 4 = a device registration of a
 * newer minor, 5 = a malformed device name, 6 = a schema default that does not parse. */
#include <modvm/pdm.h>

static int bad_construct(struct modvm_dev *dev)
{
    (void)dev;
    return 0;
}

static const struct modvm_cfg_option bad_options[] = {
    {.name = "size", .type = MODVM_CFG_UINT, .default_value = BAD_KIND == 6 ? "12q" : "12"},
    {0},
};

static const struct modvm_devreg bad_dev = {
    .version = BAD_KIND == 4 ? MODVM_VERSION_MAKE(0xd740, 1, 9) : MODVM_DEVREG_VERSION,
    .name = BAD_KIND == 5 ? "Bad Name" : "bad-device",
    .options = bad_options,
    .construct = bad_construct,
    .version_end = BAD_KIND == 4 ? MODVM_VERSION_MAKE(0xd740, 1, 9) : MODVM_DEVREG_VERSION,
};

static int bad_register(const struct modvm_registrar *reg)
{
    return reg->register_device(reg, &bad_dev);
}

#define BAD_VERSION                                                                            \
    (BAD_KIND == 1   ? MODVM_VERSION_MAKE(0xd7e5, MODVM_ABI_MAJOR + 1, 0)                      \
     : BAD_KIND == 2 ? MODVM_VERSION_MAKE(0xd7e5, MODVM_ABI_MAJOR, MODVM_ABI_MINOR + 1)        \
                     : MODVM_PLUGIN_DESC_VERSION)

MODVM_EXTERN_C MODVM_EXPORT const struct modvm_plugin_desc MODVM_PLUGIN_SYMBOL = {
    .version = BAD_VERSION,
    .name = "bad",
    .plugin_version = "1",
    .license = "MIT",
    .register_types = bad_register,
    .version_end = BAD_KIND == 3 ? 0 : BAD_VERSION,
};
