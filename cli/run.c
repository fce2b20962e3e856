/* cli/run.c — `modvm run`: an ephemeral VM built from command-line options.
 *
 * The options become a CFGM tree (RamSize, CPUCount, Kernel/..., Firmware/Path,
 * Devices/<type>/<n>/{Config,LUN#0}, UI/...), the plugins are loaded, the VM is built and powered on,
 * and the frontend runs on this thread until the VM is off. The machine type (core/machine.h: --machine,
 * 'pc' by default for a firmware boot — --firmware, or --disk without --kernel — and 'none' for a
 * kernel) adds its devices before the disks. The exit status is the guest's debug-exit status, 0
 * after a clean power-off, 1 after an error, 128+N after signal N. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/cfgm.h"
#include "../core/err.h"
#include "../core/machine.h"
#include "../core/vm.h"
#include "../pdm/pdm.h"
#include "cli.h"

#define RUN_MAX_PLUGIN_DIRS 16
#define RUN_MAX_SERIALS 4
#define RUN_MAX_DISKS 16

static const char run_usage[] =
    "usage: modvm run [options]\n"
    "\n"
    "  --kernel FILE          the guest, as QEMU -kernel: a Linux bzImage, a multiboot kernel (ELF32 or\n"
    "                         a.out kludge) or an ELF kernel with a PVH entry note (vmlinux, CONFIG_PVH)\n"
    "  --append STRING        the kernel command line\n"
    "  --initrd FILE          an initial ramdisk for Linux (module 0 for a multiboot kernel)\n"
    "  --kernel-addr ADDR     load FILE as a flat binary at ADDR and start there\n"
    "  --kernel-mode MODE     with --kernel-addr: 'prot32' (flat 32-bit, default) or 'real' (CS:IP = ADDR)\n"
    "  --firmware NAME|FILE   boot firmware from the reset vector instead of a kernel: 'seabios' (Debian's\n"
    "                         seabios package) or an image file; the default with --disk and no --kernel\n"
    "  --disk FILE[,K=V...]   a virtio-blk disk: format=raw (default), readonly=on|off, bus=virtio (default),\n"
    "                         serial=S\n"
    "  --boot ORDER           the firmware's boot order: 'disk' (the disks in --disk order, which then sit in\n"
    "                         PCI slots 2, 3, ...)\n"
    "  --machine TYPE         the machine's devices: 'pc' (i440fx, piix3, rtc, i8042, port92, fw-cfg, acpi;\n"
    "                         the default for a firmware boot) or 'none' (the default with --kernel)\n"
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
    "The machine adds its devices that are not given with --device and whose plugins are loaded (-v names\n"
    "those left out); 'modvm list machines' shows the types.\n"
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
    const char *disks[RUN_MAX_DISKS]; /* --disk arguments, checked while parsing, added after the machine's devices */
    unsigned ndisks;
    const char *boot;    /* --boot */
    const char *machine; /* --machine, or NULL for the boot's default */
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

/* --device TYPE[,k=v...] */
static int run_opt_device(struct run_opts *o, const char *arg)
{
    char *copy = strdup(arg), *cursor = copy;
    char *type = run_next_part(&cursor);
    int rc = 0;
    struct cfgm_node *dev = type && *type ? machine_add_device(o->root, type) : NULL;
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
    struct cfgm_node *dev = machine_add_device(o->root, "uart16550");
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

/* One --disk, split (pointers into a copy of the argument the caller frees). */
struct run_disk {
    const char *path, *readonly, *serial;
};

/* Splits and checks --disk FILE[,format=raw][,readonly=on|off][,bus=virtio][,serial=S]. */
static int run_disk_parse(const char *arg, struct run_disk *d, char **copy)
{
    char *cursor = *copy = strdup(arg);
    char *part = cursor ? run_next_part(&cursor) : NULL;
    *d = (struct run_disk){.path = part};
    if (!part || !*part)
        return modvm_err_set(-EINVAL, "--disk '%s': expected FILE[,format=raw][,readonly=on|off][,bus=virtio]"
                                      "[,serial=S]", arg);
    while ((part = run_next_part(&cursor)) != NULL) {
        char *eq = strchr(part, '=');
        if (!eq)
            return modvm_err_set(-EINVAL, "--disk %s: option '%s' must be written key=value", d->path, part);
        *eq = '\0';
        const char *v = eq + 1;
        if (strcmp(part, "format") == 0 && strcmp(v, "raw") != 0)
            return modvm_err_set(-EINVAL, "--disk %s: format '%s' is not supported (only format=raw)", d->path, v);
        else if (strcmp(part, "bus") == 0 && strcmp(v, "virtio") != 0)
            return modvm_err_set(-EINVAL, "--disk %s: bus '%s' is not supported (only bus=virtio)", d->path, v);
        else if (strcmp(part, "readonly") == 0)
            d->readonly = v;
        else if (strcmp(part, "serial") == 0)
            d->serial = v;
        else if (strcmp(part, "format") != 0 && strcmp(part, "bus") != 0)
            return modvm_err_set(-EINVAL, "--disk %s: unknown option '%s' (format, readonly, bus, serial)", d->path,
                                 part);
    }
    return 0;
}

/* --disk: checked now, added to the tree once the machine's devices are in (run_finish_config). */
static int run_opt_disk(struct run_opts *o, const char *arg)
{
    struct run_disk d;
    char *copy = NULL;
    int rc = o->ndisks < RUN_MAX_DISKS ? run_disk_parse(arg, &d, &copy)
                                       : modvm_err_set(-EINVAL, "--disk: at most %d disks", RUN_MAX_DISKS);
    free(copy);
    if (rc == 0)
        o->disks[o->ndisks++] = arg;
    return rc;
}

/* --boot disk[,...]: device classes in boot order; only disks exist so far. */
static int run_opt_boot(struct run_opts *o, const char *arg)
{
    char *copy = strdup(arg), *cursor = copy, *part;
    int rc = copy ? 0 : -ENOMEM;
    while (rc == 0 && (part = run_next_part(&cursor)) != NULL) {
        if (strcmp(part, "cdrom") == 0 || strcmp(part, "net") == 0)
            rc = modvm_err_set(-EINVAL, "--boot: booting from %s is not supported yet (only disk)", part);
        else if (strcmp(part, "disk") != 0)
            rc = modvm_err_set(-EINVAL, "--boot: expected a list of disk, cdrom, net; got '%s'", part);
    }
    free(copy);
    if (rc == 0)
        o->boot = arg;
    return rc;
}

/* The PCI slot of the first --disk when --boot needs to name the disks: the slots after the
 * PC machine's i440fx (00.0) and piix3 (01.0), in --disk order. */
#define RUN_FIRST_DISK_SLOT 2u

/* Adds --disk `arg` as Devices/virtio-blk/N with the raw driver at LUN#0; in PCI slot `slot`, or the
 * first free one when slot < 0. */
static int run_add_disk(struct run_opts *o, const char *arg, int slot)
{
    struct run_disk d;
    char *copy = NULL;
    int rc = run_disk_parse(arg, &d, &copy);
    struct cfgm_node *dev = rc == 0 ? machine_add_device(o->root, "virtio-blk") : NULL;
    struct cfgm_node *lun = dev ? cfgm_ensure(dev, "LUN#0") : NULL;
    struct cfgm_node *dcfg = lun ? cfgm_ensure(lun, "Config") : NULL;
    if (rc == 0 && !dcfg)
        rc = -ENOMEM;
    if (rc == 0)
        rc = cfgm_set_string(lun, "Driver", "raw");
    if (rc == 0)
        rc = cfgm_set_string(dcfg, "path", d.path);
    if (rc == 0 && d.readonly)
        rc = cfgm_set_string(dcfg, "readonly", d.readonly);
    if (rc == 0 && d.serial)
        rc = cfgm_set_string(cfgm_ensure(dev, "Config"), "serial", d.serial);
    char addr[8];
    snprintf(addr, sizeof(addr), "%d", slot);
    if (rc == 0 && slot >= 0)
        rc = cfgm_set_string(cfgm_ensure(dev, "Config"), "addr", addr);
    free(copy);
    return rc;
}

/* Adds the machine's devices (core/machine.h): --machine, else 'pc' for a firmware boot and 'none'
 * for a kernel. */
static int run_add_machine(struct run_opts *o, struct pdm *pdm, bool firmware)
{
    const char *name = o->machine ? o->machine : firmware ? "pc" : "none";
    const struct machine_type *m = machine_type_find(name); /* --machine was checked while parsing */
    if (!m)
        return -EINVAL;
    char missing[256];
    int rc = machine_compose(o->root, pdm, m, missing, sizeof(missing));
    uint64_t verbosity = 0;
    cfgm_get_uint(o->root, "Verbosity", &verbosity);
    if (rc == 0 && missing[0] && verbosity)
        fprintf(stderr, "modvm: machine '%s': no plugin provides %s; the VM runs without\n", name, missing);
    return rc;
}

/* Completes the tree once the plugins are loaded: the firmware default (SeaBIOS for disks without a
 * kernel), the machine's devices, the disks, and fw-cfg's boot order from --boot. */
static int run_finish_config(struct run_opts *o, struct pdm *pdm)
{
    const char *unused;
    struct cfgm_node *k = cfgm_child(o->root, "Kernel"), *f = cfgm_child(o->root, "Firmware");
    bool kernel = k && cfgm_get_string(k, "Path", &unused) == 0;
    bool firmware = f && cfgm_get_string(f, "Path", &unused) == 0;
    int rc = 0;
    if (!kernel && !firmware && o->ndisks) {
        rc = cfgm_set_string(cfgm_ensure(o->root, "Firmware"), "Path", "seabios");
        firmware = true;
    }
    if (rc == 0 && o->boot && (!firmware || kernel))
        return modvm_err_set(-EINVAL, "--boot orders the firmware's boot devices: use it with --firmware, or with "
                                      "--disk and no --kernel");
    if (rc == 0)
        rc = run_add_machine(o, pdm, firmware && !kernel);
    /* --boot names the disks by PCI slot, so they get fixed slots; otherwise the first free ones */
    for (unsigned i = 0; rc == 0 && i < o->ndisks; i++)
        rc = run_add_disk(o, o->disks[i], o->boot ? (int)(RUN_FIRST_DISK_SLOT + i) : -1);
    struct cfgm_node *fwcfg = cfgm_lookup(o->root, "Devices/fw-cfg/0");
    if (rc == 0 && o->boot && !fwcfg)
        fprintf(stderr, "modvm: warning: --boot needs the fw-cfg device, which is not loaded; SeaBIOS uses its "
                        "default order\n");
    struct cfgm_node *fcfg = fwcfg ? cfgm_ensure(fwcfg, "Config") : NULL;
    if (rc == 0 && o->boot && fcfg && !cfgm_value_type(fcfg, "bootorder")) {
        /* "disk" is the only class so far: every --disk, in order, by the path QEMU gives a
         * virtio-blk disk with a bootindex (SeaBIOS matches "/pci@i0cf8/<any>@SLOT" against it) */
        char order[RUN_MAX_DISKS * 32] = "";
        size_t len = 0;
        for (unsigned i = 0; i < o->ndisks; i++)
            len += (size_t)snprintf(order + len, sizeof(order) - len, "%s/pci@i0cf8/scsi@%x/disk@0,0", i ? " " : "",
                                    RUN_FIRST_DISK_SLOT + i);
        rc = cfgm_set_string(fcfg, "bootorder", order);
    }
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
    case 'F': return cfgm_set_string(cfgm_ensure(root, "Firmware"), "Path", arg);
    case 'D': return run_opt_disk(o, arg);
    case 'B': return run_opt_boot(o, arg);
    case 'd': return run_opt_device(o, arg);
    case 'u': o->ui = arg; return 0;
    case 'P':
        if (o->nplugin_dirs == RUN_MAX_PLUGIN_DIRS)
            return modvm_err_set(-EINVAL, "--plugin-path: at most %d directories", RUN_MAX_PLUGIN_DIRS);
        o->plugin_dirs[o->nplugin_dirs++] = arg;
        return 0;
    case 'R': return cfgm_set_bool(root, "NoReboot", true);
    case 'T':
        if (!machine_type_find(arg))
            return modvm_err_set(-EINVAL, "--machine '%s': unknown machine type ('modvm list machines' shows them)",
                                 arg);
        o->machine = arg;
        return 0;
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
        {"firmware", required_argument, NULL, 'F'},    {"disk", required_argument, NULL, 'D'},
        {"boot", required_argument, NULL, 'B'},        {"machine", required_argument, NULL, 'T'},
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
        (rc = run_finish_config(&o, pdm)) < 0 || (rc = vm_create(o.root, pdm, &vm)) < 0)
        cli_error(1, "%s", *modvm_err_get() ? modvm_err_get() : strerror(-rc));
    else
        status = run_vm(pdm, vm, &o);
    vm_destroy(vm);
    pdm_destroy(pdm);
    cfgm_destroy(o.root);
    return status;
}
