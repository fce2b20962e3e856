/* cli/list.c — `modvm list plugins [-v]`: every plugin found, its version and ABI, the types it
 * registers and, with -v, each type's options with defaults and help; `modvm list machines`: the
 * machine types (--machine) and their devices. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../core/err.h"
#include "../core/machine.h"
#include "../pdm/pdm.h"
#include "cli.h"

#define CLI_MAX_PLUGIN_DIRS 16

static const char list_usage[] =
    "usage: modvm list plugins [-v] [--plugin-path DIR]...\n"
    "       modvm list machines\n"
    "\n"
    "  -v, --verbose        also print each type's options with defaults and help\n"
    "  --plugin-path DIR    also load the plugins in DIR (as 'modvm run' would)\n";

/* Prints one plugin and its types. */
static void list_plugin(const struct pdm *pdm, size_t i, bool verbose)
{
    const struct pdm_plugin_info *p = pdm_plugin_at(pdm, i);
    const struct modvm_plugin_desc *d = p->desc;
    printf("%s %s (ABI %u.%u, %s) — %s\n    %s\n", d->name, d->plugin_version ? d->plugin_version : "?",
           MODVM_VERSION_MAJOR(d->version), MODVM_VERSION_MINOR(d->version), d->license ? d->license : "?",
           d->description ? d->description : "", p->path);
    const struct modvm_devreg *dev;
    for (size_t k = 0; (dev = pdm_devreg_at(pdm, i, k)); k++) {
        printf("  device   %-14s %s\n", dev->name, dev->description ? dev->description : "");
        if (verbose)
            pdm_options_print(dev->options, stdout, "             ");
    }
    const struct modvm_drvreg *drv;
    for (size_t k = 0; (drv = pdm_drvreg_at(pdm, i, k)); k++) {
        printf("  driver   %-14s %s [%s]\n", drv->name, drv->description ? drv->description : "", drv->iface);
        if (verbose)
            pdm_options_print(drv->options, stdout, "             ");
    }
    const struct modvm_uireg *ui;
    for (size_t k = 0; (ui = pdm_uireg_at(pdm, i, k)); k++) {
        printf("  frontend %-14s %s\n", ui->name, ui->description ? ui->description : "");
        if (verbose)
            pdm_options_print(ui->options, stdout, "             ");
    }
}

/* Prints every machine type with its description and devices. */
static void list_machines(void)
{
    const struct machine_type *m;
    for (size_t i = 0; (m = machine_type_at(i)); i++) {
        printf("%-6s %s\n       devices:", m->name, m->description);
        for (const char *const *d = m->devices; *d; d++)
            printf(" %s", *d);
        puts(m->devices[0] ? "" : " (none)");
    }
}

int cli_list(int argc, char **argv)
{
    static const struct option opts[] = {{"verbose", no_argument, NULL, 'v'},
                                         {"plugin-path", required_argument, NULL, 'P'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *dirs[CLI_MAX_PLUGIN_DIRS];
    size_t ndirs = 0;
    bool verbose = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        if (c == 'v')
            verbose = true;
        else if (c == 'P' && ndirs < CLI_MAX_PLUGIN_DIRS)
            dirs[ndirs++] = optarg;
        else if (c == 'h')
            return fputs(list_usage, stdout), 0;
        else
            return cli_error(2, "list: bad option (try 'modvm list --help')");
    }
    if (optind < argc && strcmp(argv[optind], "machines") == 0) {
        list_machines();
        return 0;
    }
    if (optind >= argc || strcmp(argv[optind], "plugins") != 0)
        return cli_error(2, "list: say what to list: 'modvm list plugins' or 'modvm list machines'");
    struct pdm *pdm;
    if (pdm_create(&pdm) < 0)
        return cli_error(1, "out of memory");
    int rc = pdm_load_standard(pdm, dirs, ndirs);
    if (rc < 0) {
        cli_error(1, "%s", modvm_err_get());
        pdm_destroy(pdm);
        return 1;
    }
    for (size_t i = 0; i < pdm_plugin_count(pdm); i++)
        list_plugin(pdm, i, verbose);
    if (pdm_plugin_count(pdm) == 0)
        puts("no plugins found (install them in the plugin directory or use --plugin-path)");
    pdm_destroy(pdm);
    return 0;
}
