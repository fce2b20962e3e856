/* A well-formed test plugin: one device type with a schema, for the PDM loader tests. */
#include <errno.h>
#include <modvm/pdm.h>

static const struct modvm_cfg_option good_options[] = {
    {.name = "iobase", .type = MODVM_CFG_UINT, .default_value = "0x510", .min = 0, .max = 0xffff,
     .help = "port"},
    {.name = "verbose", .type = MODVM_CFG_BOOL, .default_value = "off", .help = "chatty"},
    {.name = "label", .type = MODVM_CFG_STRING, .help = "a name"},
    {0},
};

/* Implements construct: fails on request so construct errors can be tested. */
static int good_construct(struct modvm_dev *dev)
{
    (void)dev;
    return 0;
}

static const struct modvm_devreg good_dev = {
    .version = MODVM_DEVREG_VERSION,
    .name = TEST_TYPE_NAME,
    .description = "test device",
    .family = MODVM_DEV_FAMILY_MISC,
    .options = good_options,
    .construct = good_construct,
    .version_end = MODVM_DEVREG_VERSION,
};

/* Registers the device type. */
static int good_register(const struct modvm_registrar *reg)
{
    return reg->register_device(reg, &good_dev);
}

MODVM_PLUGIN(.name = "test-good", .plugin_version = "1.0", .license = "MIT", .description = "test",
             .register_types = good_register);
