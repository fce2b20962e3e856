/* cli/run.c — `modvm run`: an ephemeral VM built from command-line options.
 *
 * The options become a CFGM tree (RamSize, CPUCount, Kernel/..., Devices/<type>/<n>/{Config,LUN#0},
 * UI/...), the plugins are loaded, the VM is built and powered on, and the frontend runs on this
 * thread until the VM is off. The exit status is the guest's debug-exit status, 0 after a clean
 * power-off, 1 after an error, 128+N after signal N. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/cfgm.h"
#include "../core/err.h"
#include "../core/vm.h"
#include "../pdm/pdm.h"
#include "cli.h"

#define RUN_MAX_PLUGIN_DIRS 16
#define RUN_MAX_SERIALS 4

static const char run_usage[] =
    "usage: modvm run [options]\n"
    "\n"
    "  --kernel FILE          the guest, as QEMU -kernel: a Linux bzImage, a multiboot kernel (ELF32 or\n"
    "                         a.out kludge) or an ELF kernel with a PVH entry note (vmlinux, CONFIG_PVH)\n"
    "  --append STRING        the kernel command line\n"
    "  --initrd FILE          an initial ramdisk for Linux (module 0 for a multiboot kernel)\n"
    "  --kernel-addr ADDR     load FILE as a flat binary at ADDR and start there\n"
    "  --kernel-mode MODE     with --kernel-addr: 'prot32' (flat 32-bit, default) or 'real' (CS:IP = ADDR)\n"
    "  --memory MIB           guest RAM in MiB (default 128)\n"
    "  --cpus N               number of vCPUs (default 1); APs wait for INIT-SIPI-SIPI\n"
    "  --serial BACKEND       the next COM port (COM1, COM2, ...): stdio, file:PATH, unix:PATH[,server=off]\n"
    "                         or none (no such port); default: COM1 on stdio\n"
    "  --device TYPE[,K=V...] add a device; 'modvm list plugins -v' shows types and options (',,' = ',')\n"
    "  --ui NAME[,K=V...]     the frontend (default headless: Ctrl-A x quits, Ctrl-A h for help)\n"
    "  --plugin-path DIR      also load the plugins in DIR (may repeat; also $MODVM_PLUGIN_PATH)\n"
    "  --no-reboot            power off instead of resetting when the guest resets or triple-faults\n"
    "  -v, --verbose          more messages (repeat for debug messages)\n"
    "  -h, --help             this help\n"
    "\n"
    "Exit status: the guest's debug-exit status ((value << 1) | 1), 0 after a clean power-off, 1 after an\n"
    "error, 128+N after signal N.\n";

struct run_opts {
    struct cfgm_node *root;
    const char *plugin_dirs[RUN_MAX_PLUGIN_DIRS];
    size_t nplugin_dirs;
    unsigned nserials;
    bool serial_given;
    const char *ui;
};

/* Splits "a,b,,c" at single commas (",," stands for a comma) in place; returns the next part. */
static char *run_next_part(char **cursor)
{
    char *start = *cursor, *w = start, *r = start;
    if (!start)
        return NULL;
    for (; *r; r++) {
        if (*r == ',' && r[1] == ',') {
            *w++ = ',';
            r++;
        } else if (*r == ',') {
            break;
        } else {
            *w++ = *r;
        }
    }
    *cursor = *r ? r + 1 : NULL;
    *w = '\0';
    return start;
}

/* Stores "k=v,k=v" parts as strings under `cfg` (typed later by PDM against the schema). */
static int run_store_options(struct cfgm_node *cfg, char **cursor, const char *what)
{
    char *part;
    while ((part = run_next_part(cursor)) != NULL) {
        char *eq = strchr(part, '=');
        if (!eq || eq == part)
            return modvm_err_set(-EINVAL, "%s: option '%s' must be written key=value", what, part);
        *eq = '\0';
        if (cfgm_value_type(cfg, part))
            return modvm_err_set(-EINVAL, "%s: option '%s' is given twice", what, part);
        if (cfgm_set_string(cfg, part, eq + 1) < 0)
            return modvm_err_set(-EINVAL, "%s: '%s' is not a valid option name", what, part);
    }
    return 0;
}

/* Adds Devices/<type>/<n> and returns it. */
static struct cfgm_node *run_add_device(struct cfgm_node *root, const char *type)
{
    struct cfgm_node *t = cfgm_ensure(root, "Devices");
    t = t ? cfgm_ensure(t, type) : NULL;
    if (!t)
        return NULL;
    unsigned n = 0;
    for (struct cfgm_node *c = cfgm_first_child(t); c; c = cfgm_next_sibling(c))
        n++;
    char idx[16];
    snprintf(idx, sizeof(idx), "%u", n);
    return cfgm_ensure(t, idx);
}

/* --device TYPE[,k=v...] */
static int run_opt_device(struct run_opts *o, const char *arg)
{
    char *copy = strdup(arg), *cursor = copy;
    char *type = run_next_part(&cursor);
    int rc = 0;
    struct cfgm_node *dev = type && *type ? run_add_device(o->root, type) : NULL;
    if (!dev)
        rc = modvm_err_set(-EINVAL, "--device '%s': expected TYPE[,key=value...] with a type name of "
                                    "letters, digits and '-'", arg);
    char what[96];
    snprintf(what, sizeof(what), "--device %s", type ? type : "");
    if (rc == 0)
        rc = run_store_options(cfgm_ensure(dev, "Config"), &cursor, what);
    free(copy);
    return rc;
}

/* --serial stdio|file:PATH|unix:PATH[,opts]|none: the next COM port. */
static int run_opt_serial(struct run_opts *o, const char *arg)
{
    if (o->nserials >= RUN_MAX_SERIALS)
        return modvm_err_set(-EINVAL, "--serial: at most %d serial ports", RUN_MAX_SERIALS);
    o->serial_given = true;
    unsigned port = o->nserials++;
    if (strcmp(arg, "none") == 0)
        return 0;
    char iobase[16];
    static const unsigned bases[] = {0x3f8, 0x2f8, 0x3e8, 0x2e8}, irqs[] = {4, 3, 4, 3};
    struct cfgm_node *dev = run_add_device(o->root, "uart16550");
    struct cfgm_node *cfg = dev ? cfgm_ensure(dev, "Config") : NULL;
    struct cfgm_node *lun = dev ? cfgm_ensure(dev, "LUN#0") : NULL;
    if (!cfg || !lun)
        return -ENOMEM;
    snprintf(iobase, sizeof(iobase), "0x%x", bases[port]);
    cfgm_set_string(cfg, "iobase", iobase);
    snprintf(iobase, sizeof(iobase), "%u", irqs[port]);
    cfgm_set_string(cfg, "irq", iobase);
    if (strcmp(arg, "stdio") == 0)
        return cfgm_set_string(lun, "Driver", "stdio");
    const char *colon = strchr(arg, ':');
    if (!colon || colon == arg || !colon[1] ||
        (strncmp(arg, "file:", 5) != 0 && strncmp(arg, "unix:", 5) != 0))
        return modvm_err_set(-EINVAL, "--serial '%s': expected stdio, file:PATH, unix:PATH or none", arg);
    char driver[8];
    snprintf(driver, sizeof(driver), "%.*s", (int)(colon - arg), arg);
    cfgm_set_string(lun, "Driver", driver);
    char *copy = strdup(colon + 1), *cursor = copy;
    struct cfgm_node *dcfg = cfgm_ensure(lun, "Config");
    char *path = run_next_part(&cursor);
    int rc = cfgm_set_string(dcfg, "path", path);
    char what[64];
    snprintf(what, sizeof(what), "--serial %s", driver);
    if (rc == 0)
        rc = run_store_options(dcfg, &cursor, what);
    free(copy);
    return rc;
}

/* Parses a positive decimal number option. */
static int run_parse_count(const char *opt, const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
    if (cfgm_parse_uint(arg, out) < 0 || *out < min || *out > max)
        return modvm_err_set(-EINVAL, "%s must be a number from %llu to %llu, got '%s'", opt,
                             (unsigned long long)min, (unsigned long long)max, arg);
    return 0;
}

/* Handles one parsed option; returns 0, 1 for "--help printed", or a negative errno. */
static int run_handle_opt(struct run_opts *o, int c, const char *arg, int *verbosity)
{
    struct cfgm_node *root = o->root;
    uint64_t n;
    int rc = 0;
    switch (c) {
    case 'k': return cfgm_set_string(cfgm_ensure(root, "Kernel"), "Path", arg);
    case 'a': return cfgm_set_string(cfgm_ensure(root, "Kernel"), "Cmdline", arg);
    case 'I': return cfgm_set_string(cfgm_ensure(root, "Kernel"), "Initrd", arg);
    case 'A':
        if ((rc = run_parse_count("--kernel-addr", arg, 0, UINT32_MAX, &n)) == 0) {
            cfgm_set_bool(cfgm_ensure(root, "Kernel"), "Flat", true);
            rc = cfgm_set_uint(cfgm_ensure(root, "Kernel"), "LoadAddr", n);
        }
        return rc;
    case 'M':
        if (strcmp(arg, "real") != 0 && strcmp(arg, "prot32") != 0)
            return modvm_err_set(-EINVAL, "--kernel-mode must be 'real' or 'prot32', got '%s'", arg);
        return cfgm_set_string(cfgm_ensure(root, "Kernel"), "Mode", arg);
    case 'm':
        if ((rc = run_parse_count("--memory", arg, 1, 1u << 20, &n)) == 0)
            rc = cfgm_set_uint(root, "RamSize", n << 20);
        return rc;
    case 'c':
        if ((rc = run_parse_count("--cpus", arg, 1, 64, &n)) == 0)
            rc = cfgm_set_uint(root, "CPUCount", n);
        return rc;
    case 's': return run_opt_serial(o, arg);
    case 'd': return run_opt_device(o, arg);
    case 'u': o->ui = arg; return 0;
    case 'P':
        if (o->nplugin_dirs == RUN_MAX_PLUGIN_DIRS)
            return modvm_err_set(-EINVAL, "--plugin-path: at most %d directories", RUN_MAX_PLUGIN_DIRS);
        o->plugin_dirs[o->nplugin_dirs++] = arg;
        return 0;
    case 'R': return cfgm_set_bool(root, "NoReboot", true);
    case 'v': (*verbosity)++; return 0;
    case 'h': fputs(run_usage, stdout); return 1;
    default: return modvm_err_set(-EINVAL, "run: unknown or incomplete option (try 'modvm run --help')");
    }
}

/* Parses argv into o; returns 0, 1 (help printed) or a negative errno with the message set. */
static int run_parse(struct run_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {
        {"kernel", required_argument, NULL, 'k'},      {"append", required_argument, NULL, 'a'},
        {"initrd", required_argument, NULL, 'I'},
        {"kernel-addr", required_argument, NULL, 'A'}, {"kernel-mode", required_argument, NULL, 'M'},
        {"memory", required_argument, NULL, 'm'},      {"cpus", required_argument, NULL, 'c'},
        {"serial", required_argument, NULL, 's'},      {"device", required_argument, NULL, 'd'},
        {"ui", required_argument, NULL, 'u'},          {"plugin-path", required_argument, NULL, 'P'},
        {"no-reboot", no_argument, NULL, 'R'},         {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},              {0}};
    int c, verbosity = 0, rc = 0;
    optind = 1;
    opterr = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        if (c == '?')
            return modvm_err_set(-EINVAL, "run: unknown or incomplete option '%s' (try 'modvm run --help')",
                                 argv[optind - 1]);
        rc = run_handle_opt(o, c, optarg, &verbosity);
    }
    if (rc == 0 && optind < argc)
        return modvm_err_set(-EINVAL, "run: unexpected argument '%s' (try 'modvm run --help')", argv[optind]);
    if (rc == 0 && verbosity)
        cfgm_set_uint(o->root, "Verbosity", (uint64_t)verbosity);
    if (rc == 0 && !o->serial_given)
        rc = run_opt_serial(o, "stdio");
    return rc;
}

/* Signals that end the VM: a thread waits for them and asks for power-off. */
static sigset_t run_stop_signals;
static volatile bool run_finished;

static void *run_signal_thread(void *arg)
{
    struct vm *vm = arg;
    int sig;
    while (sigwait(&run_stop_signals, &sig) == 0 && !run_finished)
        vm_request(vm, MODVM_VM_REQ_POWER_OFF, 128 + sig);
    return NULL;
}

/* Builds the frontend, powers the VM on and runs the frontend until the VM is off. */
static int run_vm(struct pdm *pdm, struct vm *vm, struct run_opts *o)
{
    char *copy = strdup(o->ui), *cursor = copy;
    char *name = run_next_part(&cursor);
    struct cfgm_node *ui_cfg = cfgm_ensure(o->root, "UI/Config");
    int rc = run_store_options(ui_cfg, &cursor, "--ui");
    struct pdm_ui *ui = NULL;
    if (rc == 0)
        rc = pdm_ui_construct(pdm, vm, name, ui_cfg, &ui);
    free(copy);
    if (rc < 0)
        return cli_error(1, "%s", modvm_err_get());
    pthread_t sigthread;
    bool have_sigthread = pthread_create(&sigthread, NULL, run_signal_thread, vm) == 0;
    rc = vm_power_on(vm);
    if (rc < 0)
        vm_fail(vm, "%s", modvm_err_get());
    int ui_rc = pdm_ui_run(ui);
    if (ui_rc < 0)
        cli_error(1, "%s", modvm_err_get());
    vm_request(vm, MODVM_VM_REQ_POWER_OFF, 0);
    for (int st = vm_state(vm); st != MODVM_VM_STATE_OFF;)
        st = vm_wait_state(vm, st, -1);
    int status = vm_exit_status(vm);
    const char *failure = vm_failure(vm);
    pdm_ui_destruct(ui);
    if (failure)
        cli_error(1, "%s", failure);
    if (have_sigthread) {
        run_finished = true;
        pthread_kill(sigthread, SIGTERM);
        pthread_join(sigthread, NULL);
    }
    return ui_rc < 0 ? 1 : status;
}

int cli_run(int argc, char **argv)
{
    struct run_opts o = {.root = cfgm_create_root(), .ui = "headless"};
    if (!o.root)
        return cli_error(1, "out of memory");
    int rc = run_parse(&o, argc, argv);
    if (rc != 0) {
        cfgm_destroy(o.root);
        return rc == 1 ? 0 : cli_error(2, "%s", modvm_err_get());
    }
    /* Block the stop signals in every thread; the signal thread takes them. */
    sigemptyset(&run_stop_signals);
    sigaddset(&run_stop_signals, SIGINT);
    sigaddset(&run_stop_signals, SIGTERM);
    sigaddset(&run_stop_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &run_stop_signals, NULL);
    /* A closed pipe on stdout (modvm run | head) is the backend's error to handle, not a death. */
    signal(SIGPIPE, SIG_IGN);
    struct pdm *pdm = NULL;
    struct vm *vm = NULL;
    int status = 1;
    if ((rc = pdm_create(&pdm)) < 0 || (rc = pdm_load_standard(pdm, o.plugin_dirs, o.nplugin_dirs)) < 0 ||
        (rc = vm_create(o.root, pdm, &vm)) < 0)
        cli_error(1, "%s", *modvm_err_get() ? modvm_err_get() : strerror(-rc));
    else
        status = run_vm(pdm, vm, &o);
    vm_destroy(vm);
    pdm_destroy(pdm);
    cfgm_destroy(o.root);
    return status;
}
