/* cli/doctor.c — `modvm doctor`: the host checks of kmod/doctor.c. */
#include <stdio.h>
#include <string.h>

#include "../kmod/doctor.h"
#include "cli.h"

int cli_doctor(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        puts("usage: modvm doctor\n\nChecks /dev/kvm, permissions, the KVM module (and whether it is\n"
             "software-nested), other hypervisors' drivers, the KVM API version and capabilities.\n"
             "Exit status 0 when KVM is usable, 1 when not.");
        return 0;
    }
    if (argc > 1)
        return cli_error(2, "doctor: unexpected argument '%s' (try 'modvm doctor --help')", argv[1]);
    return kmod_doctor_report(stdout);
}
