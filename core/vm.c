/* core/vm.c — the VM: builds its managers from the config tree, runs the state machine, and carries
 * out requests on its control thread (so a device asking for power-off from a vCPU never waits for
 * its own vCPU to stop).
 *
 * Config keys read here: RamSize (bytes), CPUCount, Verbosity, NoReboot; Kernel/{Path, Cmdline, Initrd,
 * Flat, LoadAddr, Mode}; Firmware/Path ("seabios" or a file; not with Kernel/); Devices/... (PDM).
 * The e820 map is published as the firmware file "etc/e820" before any device is built. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../pdm/pdm.h"
#include "cfgm.h"
#include "e820.h"
#include "em.h"
#include "err.h"
#include "fw.h"
#include "hm.h"
#include "loader/acpi-place.h"
#include "loader/loader.h"
#include "pgm.h"
#include "tm.h"
#include "vm.h"

#define VM_MAX_CPUS 64

enum { REQ_RESET = 1u << 0, REQ_POWER_OFF = 1u << 1, REQ_PAUSE = 1u << 2, REQ_RESUME = 1u << 3 };

struct vm {
    struct cfgm_node *root;
    struct pdm *pdm;
    struct pgm *pgm;
    struct tm_mgr *tm;
    struct fw_files *fw;
    struct hm *hm;
    struct em *em;
    unsigned ncpus;
    int verbosity;
    bool no_reboot;
    struct loader_request kernel;
    const char *firmware_path;        /* Firmware/Path: firmware boot instead of a kernel */
    bool devices_constructed;
    const void *shadow_owner; /* the device controlling the shadow window */

    pthread_mutex_t lock;
    pthread_cond_t cond;
    int state;
    unsigned pending;
    int poweroff_status;
    int exit_status;
    char failure[512];
    bool failed;
    pthread_t control;
    bool control_started;
};

/* Reads what to boot: Firmware/Path, or the kernel request from Kernel/ (not both). */
static int vm_read_kernel(struct vm *vm)
{
    struct cfgm_node *k = cfgm_child(vm->root, "Kernel"), *f = cfgm_child(vm->root, "Firmware");
    bool has_kernel = k && cfgm_get_string(k, "Path", &vm->kernel.path) == 0;
    if (f && cfgm_get_string(f, "Path", &vm->firmware_path) == 0)
        return has_kernel ? modvm_err_set(-EINVAL, "--kernel and --firmware together are not supported yet: "
                                                   "give one of them")
                          : 0;
    if (!has_kernel)
        return modvm_err_set(-EINVAL, "no guest to run: give --kernel FILE, or --firmware seabios|FILE");
    if (cfgm_get_string(k, "Cmdline", &vm->kernel.cmdline) < 0)
        vm->kernel.cmdline = NULL;
    if (cfgm_get_string(k, "Initrd", &vm->kernel.initrd) < 0)
        vm->kernel.initrd = NULL;
    bool flat = false;
    cfgm_get_bool(k, "Flat", &flat);
    vm->kernel.flat = flat;
    if (flat) {
        const char *mode = "prot32";
        cfgm_get_uint(k, "LoadAddr", &vm->kernel.load_addr);
        cfgm_get_string(k, "Mode", &mode);
        vm->kernel.flat_mode = strcmp(mode, "real") == 0 ? BOOT_MODE_REAL : BOOT_MODE_PROT32;
    }
    return 0;
}

/* Puts the ACPI tables the acpi device published into RAM for a directly booted kernel: the RSDP in
 * the legacy scan area at 0xE0000, the rest at the top of RAM below 4 GiB, which PGM then reports as
 * ACPI memory and the loaders keep free. No acpi device: nothing to do. */
static int vm_place_acpi(struct vm *vm)
{
    uint64_t low_size, high_size;
    int rc = acpi_place_measure(vm->fw, &low_size, &high_size);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    const struct pgm_mem_region *low = pgm_mem_region_at(vm->pgm, 0);
    uint64_t high = (low->size - high_size) & ~0xfffull;
    if (high_size >= low->size || high < (16ull << 20))
        return modvm_err_set(-ENOMEM, "the guest has too little RAM for its ACPI tables (%llu KiB); give it "
                                      "more --memory", (unsigned long long)(high_size >> 10));
    struct acpi_place_result r;
    rc = acpi_place_ex(vm->pgm, vm->fw, 0xe0000, high, &r);
    if (rc == 0)
        pgm_set_acpi_area(vm->pgm, r.high_start, low->size, r.rsdp_gpa);
    return rc;
}

/* Puts the shadow window into its power-on state (modvm/shadow.h): the ROM side for firmware, which
 * shadows itself, plain RAM for a kernel modvm loads itself. Before devices construct or reset. */
static int vm_reset_shadow(struct vm *vm)
{
    int rc = pgm_shadow_set(vm->pgm, PGM_SHADOW_BASE, PGM_SHADOW_SIZE,
                            vm->firmware_path ? 0 : PGM_SHADOW_READ | PGM_SHADOW_WRITE);
    if (rc < 0 && rc != -ENODEV)
        return modvm_err_set(rc, "cannot switch the legacy BIOS area 0xC0000-0xFFFFF: %s", strerror(-rc));
    return 0;
}

bool vm_claim_shadow(struct vm *vm, const void *dev)
{
    pthread_mutex_lock(&vm->lock);
    if (!vm->shadow_owner)
        vm->shadow_owner = dev;
    bool mine = vm->shadow_owner == dev;
    pthread_mutex_unlock(&vm->lock);
    return mine;
}

/* Loads the kernel and puts every CPU in its start state (power-on and every reset). */
static int vm_load_and_reset_cpus(struct vm *vm)
{
    struct boot_state boot = {.mode = BOOT_MODE_RESET}; /* firmware: from the reset vector */
    int rc = 0;
    if (!vm->firmware_path && (rc = vm_place_acpi(vm)) == 0)
        rc = loader_load(vm->pgm, &vm->kernel, &boot);
    return rc < 0 ? rc : hm_reset(vm->hm, &boot);
}

/* Publishes the e820 map as the firmware file "etc/e820" (QEMU's layout, which SeaBIOS reads). */
static int vm_add_e820_file(struct vm *vm)
{
    struct e820_entry map[E820_MAX_ENTRIES];
    uint8_t bytes[E820_MAX_ENTRIES * E820_QEMU_ENTRY_SIZE];
    size_t n = 0;
    int rc = e820_build(vm->pgm, map, E820_MAX_ENTRIES, &n);
    if (rc == 0)
        rc = fw_files_add(vm->fw, "etc/e820", bytes, e820_encode_qemu(map, n, bytes));
    return rc < 0 ? modvm_err_set(rc, "cannot publish the e820 memory map: %s", strerror(-rc)) : 0;
}

/* Reads the machine keys; bad values give one clear line. */
static int vm_read_machine(struct vm *vm, uint64_t *ram)
{
    uint64_t cpus = 1, verbosity = 0;
    if (cfgm_get_uint(vm->root, "RamSize", ram) < 0)
        *ram = 128ull << 20;
    cfgm_get_uint(vm->root, "CPUCount", &cpus);
    cfgm_get_uint(vm->root, "Verbosity", &verbosity);
    cfgm_get_bool(vm->root, "NoReboot", &vm->no_reboot);
    if (cpus < 1 || cpus > VM_MAX_CPUS)
        return modvm_err_set(-EINVAL, "--cpus must be between 1 and %d, got %llu", VM_MAX_CPUS,
                             (unsigned long long)cpus);
    if (*ram < (1ull << 20) || (*ram & 0xfffff))
        return modvm_err_set(-EINVAL, "--memory must be a whole number of MiB, at least 1, got %llu bytes",
                             (unsigned long long)*ram);
    vm->ncpus = (unsigned)cpus;
    vm->verbosity = (int)verbosity;
    return 0;
}

int vm_create(struct cfgm_node *root, struct pdm *pdm, struct vm **out)
{
    struct vm *vm = calloc(1, sizeof(*vm));
    if (!vm)
        return -ENOMEM;
    vm->root = root;
    vm->pdm = pdm;
    vm->state = MODVM_VM_STATE_CREATED;
    pthread_mutex_init(&vm->lock, NULL);
    pthread_cond_init(&vm->cond, NULL);
    uint64_t ram = 0;
    int rc = vm_read_machine(vm, &ram);
    if (rc == 0)
        rc = vm_read_kernel(vm);
    if (rc == 0 && (rc = pgm_create(ram, &vm->pgm)) < 0)
        modvm_err_set(rc, "cannot reserve %llu MiB of guest memory: %s", (unsigned long long)(ram >> 20),
                      strerror(-rc));
    if (rc == 0 && !(vm->fw = fw_files_create()))
        rc = -ENOMEM;
    if (rc == 0)
        rc = vm_add_e820_file(vm);
    if (rc == 0 && vm->firmware_path)
        rc = loader_firmware_load(vm->pgm, vm->firmware_path);
    if (rc == 0 && (rc = tm_create(&vm->tm)) < 0)
        modvm_err_set(rc, "cannot set up timers: %s", strerror(-rc));
    if (rc == 0)
        rc = hm_create(vm->pgm, vm->ncpus, &vm->hm);
    if (rc == 0)
        rc = em_create(vm, vm->hm, vm->ncpus, &vm->em);
    if (rc == 0)
        rc = vm_reset_shadow(vm);
    if (rc == 0) {
        rc = pdm_devices_construct(pdm, vm, cfgm_child(root, "Devices"));
        vm->devices_constructed = rc == 0;
    }
    if (rc == 0)
        rc = vm_load_and_reset_cpus(vm);
    if (rc < 0) {
        char saved[512];
        snprintf(saved, sizeof(saved), "%s", modvm_err_get());
        vm_destroy(vm);
        return modvm_err_set(rc, "%s", saved);
    }
    *out = vm;
    return 0;
}

/* Sets the state and wakes whoever waits for it (vm->lock held). */
static void vm_set_state_locked(struct vm *vm, int state)
{
    vm->state = state;
    pthread_cond_broadcast(&vm->cond);
}

/* Carries out one request with every vCPU stopped. Returns false once the VM is off. */
static bool vm_do_request(struct vm *vm, unsigned req)
{
    int state = vm_state(vm);
    if (req & REQ_POWER_OFF) {
        em_pause(vm->em);
        tm_pause_virtual(vm->tm);
        pdm_devices_notify(vm->pdm, PDM_NOTIFY_POWER_OFF);
        pthread_mutex_lock(&vm->lock);
        vm->exit_status = vm->failed ? 1 : vm->poweroff_status;
        vm_set_state_locked(vm, MODVM_VM_STATE_OFF);
        pthread_mutex_unlock(&vm->lock);
        return false;
    }
    if (req & REQ_RESET) {
        if (vm->no_reboot) {
            vm_request(vm, MODVM_VM_REQ_POWER_OFF, 0);
            return true;
        }
        em_pause(vm->em);
        int rc = vm_reset_shadow(vm);
        if (rc == 0)
            pdm_devices_notify(vm->pdm, PDM_NOTIFY_RESET);
        if (rc < 0 || vm_load_and_reset_cpus(vm) < 0) {
            vm_fail(vm, "reset failed: %s", modvm_err_get());
            return true;
        }
        if (state == MODVM_VM_STATE_RUNNING)
            em_resume(vm->em);
    }
    if ((req & REQ_PAUSE) && state == MODVM_VM_STATE_RUNNING) {
        em_pause(vm->em);
        tm_pause_virtual(vm->tm);
        pdm_devices_notify(vm->pdm, PDM_NOTIFY_SUSPEND);
        pthread_mutex_lock(&vm->lock);
        vm_set_state_locked(vm, MODVM_VM_STATE_PAUSED);
        pthread_mutex_unlock(&vm->lock);
    } else if ((req & REQ_RESUME) && state == MODVM_VM_STATE_PAUSED) {
        pdm_devices_notify(vm->pdm, PDM_NOTIFY_RESUME);
        tm_resume_virtual(vm->tm);
        pthread_mutex_lock(&vm->lock);
        vm_set_state_locked(vm, MODVM_VM_STATE_RUNNING);
        pthread_mutex_unlock(&vm->lock);
        em_resume(vm->em);
    }
    return true;
}

/* The control thread: takes requests in the order power-off, reset, pause, resume. */
static void *vm_control_thread(void *arg)
{
    struct vm *vm = arg;
    for (;;) {
        pthread_mutex_lock(&vm->lock);
        while (!vm->pending)
            pthread_cond_wait(&vm->cond, &vm->lock);
        unsigned req = vm->pending;
        unsigned first = req & REQ_POWER_OFF ? REQ_POWER_OFF : req & REQ_RESET ? REQ_RESET : req;
        vm->pending &= ~first;
        pthread_mutex_unlock(&vm->lock);
        if (!vm_do_request(vm, first))
            break;
    }
    return NULL;
}

int vm_power_on(struct vm *vm)
{
    int rc = tm_start(vm->tm);
    if (rc < 0)
        return modvm_err_set(rc, "cannot start the I/O thread: %s", strerror(-rc));
    rc = pthread_create(&vm->control, NULL, vm_control_thread, vm);
    if (rc)
        return modvm_err_set(-rc, "cannot start the VM control thread: %s", strerror(rc));
    vm->control_started = true;
    pthread_mutex_lock(&vm->lock);
    vm_set_state_locked(vm, MODVM_VM_STATE_RUNNING);
    pthread_mutex_unlock(&vm->lock);
    tm_resume_virtual(vm->tm);
    return em_start(vm->em);
}

void vm_destroy(struct vm *vm)
{
    if (!vm)
        return;
    if (vm->control_started) {
        vm_request(vm, MODVM_VM_REQ_POWER_OFF, 0);
        pthread_join(vm->control, NULL);
    }
    em_destroy(vm->em);
    if (vm->tm)
        tm_stop(vm->tm);
    if (vm->devices_constructed)
        pdm_devices_destruct(vm->pdm);
    hm_destroy(vm->hm);
    tm_destroy(vm->tm);
    fw_files_destroy(vm->fw);
    pgm_destroy(vm->pgm);
    pthread_cond_destroy(&vm->cond);
    pthread_mutex_destroy(&vm->lock);
    free(vm);
}

int vm_request(struct vm *vm, enum modvm_vm_request req, int status)
{
    unsigned bit = req == MODVM_VM_REQ_RESET       ? REQ_RESET
                   : req == MODVM_VM_REQ_POWER_OFF ? REQ_POWER_OFF
                   : req == MODVM_VM_REQ_PAUSE     ? REQ_PAUSE
                   : req == MODVM_VM_REQ_RESUME    ? REQ_RESUME
                                                   : 0;
    if (!bit)
        return -EINVAL;
    pthread_mutex_lock(&vm->lock);
    if (bit == REQ_POWER_OFF && !(vm->pending & REQ_POWER_OFF))
        vm->poweroff_status = status;
    if (bit == REQ_PAUSE)
        vm->pending &= ~REQ_RESUME;
    if (bit == REQ_RESUME)
        vm->pending &= ~REQ_PAUSE;
    vm->pending |= bit;
    pthread_cond_broadcast(&vm->cond);
    bool stop_now = bit != REQ_RESUME && vm->em && vm->state == MODVM_VM_STATE_RUNNING;
    pthread_mutex_unlock(&vm->lock);
    /* Stop the guest before its next instruction, as hardware would: the control thread then finds
     * every vCPU parked. */
    if (stop_now)
        em_request_pause(vm->em);
    return 0;
}

int vm_state(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    int s = vm->state;
    pthread_mutex_unlock(&vm->lock);
    return s;
}

int vm_wait_state(struct vm *vm, int seen, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    if (timeout_ms >= 0) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&vm->lock);
    while (vm->state == seen) {
        if (timeout_ms < 0)
            pthread_cond_wait(&vm->cond, &vm->lock);
        else if (pthread_cond_timedwait(&vm->cond, &vm->lock, &deadline) == ETIMEDOUT)
            break;
    }
    int s = vm->state;
    pthread_mutex_unlock(&vm->lock);
    return s;
}

int vm_exit_status(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    int s = vm->failed ? 1 : vm->exit_status;
    pthread_mutex_unlock(&vm->lock);
    return s;
}

const char *vm_failure(struct vm *vm)
{
    return vm->failed ? vm->failure : NULL;
}

void vm_fail(struct vm *vm, const char *fmt, ...)
{
    pthread_mutex_lock(&vm->lock);
    if (!vm->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(vm->failure, sizeof(vm->failure), fmt, ap);
        va_end(ap);
        vm->failed = true;
    }
    pthread_mutex_unlock(&vm->lock);
    vm_request(vm, MODVM_VM_REQ_POWER_OFF, 1);
}

struct pgm *vm_pgm(struct vm *vm)
{
    return vm->pgm;
}

struct tm_mgr *vm_tm(struct vm *vm)
{
    return vm->tm;
}

struct fw_files *vm_fw_files(struct vm *vm)
{
    return vm->fw;
}

int vm_query(struct vm *vm, enum modvm_vm_fact fact, uint64_t *out)
{
    switch (fact) {
    case MODVM_VM_FACT_CPU_COUNT:
        *out = vm->ncpus;
        return 0;
    case MODVM_VM_FACT_RAM_SIZE:
        *out = pgm_ram_size(vm->pgm);
        return 0;
    }
    return -EINVAL;
}

int vm_irq_set(struct vm *vm, uint32_t gsi, int level)
{
    if (level == MODVM_IRQ_PULSE) {
        int rc = hm_irq_set(vm->hm, gsi, 1);
        return rc < 0 ? rc : hm_irq_set(vm->hm, gsi, 0);
    }
    return hm_irq_set(vm->hm, gsi, level ? 1 : 0);
}

int vm_msi_send(struct vm *vm, uint64_t address, uint32_t data)
{
    return hm_msi_send(vm->hm, address, data);
}

int vm_verbosity(struct vm *vm)
{
    return vm->verbosity;
}
