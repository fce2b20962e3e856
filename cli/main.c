/* cli/main.c — `modvm`: dispatches to the verbs (run, list, doctor) and prints help and version. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <modvm/plugin.h>

#include "cli.h"

static const char usage[] =
    "usage: modvm <command> [options]\n"
    "\n"
    "commands:\n"
    "  run      run a VM from command-line options (modvm run --help)\n"
    "  list     list plugins and the device types, drivers and frontends they provide\n"
    "  doctor   check whether this host can run VMs with KVM, and what to do if not\n"
    "\n"
    "  modvm --version    print the version\n"
    "  modvm --help       print this help\n";

int cli_error(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("modvm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return fputs(usage, stderr), 2;
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0)
        return fputs(usage, stdout), 0;
    if (strcmp(cmd, "--version") == 0) {
        printf("modvm %s (plugin ABI %d.%d)\n", MODVM_VERSION, MODVM_ABI_MAJOR, MODVM_ABI_MINOR);
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return cli_run(argc - 1, argv + 1);
    if (strcmp(cmd, "list") == 0)
        return cli_list(argc - 1, argv + 1);
    if (strcmp(cmd, "doctor") == 0)
        return cli_doctor(argc - 1, argv + 1);
    return cli_error(2, "unknown command '%s' (try 'modvm --help')", cmd);
}
