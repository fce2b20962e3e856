/* cli/cli.h — the `modvm` verbs. The CLI only parses what people type and calls the core's API. */
#ifndef MODVM_CLI_H
#define MODVM_CLI_H

/** `modvm run ...`: returns the process exit status. */
int cli_run(int argc, char **argv);
/** `modvm list plugins [-v] [--plugin-path DIR]`. */
int cli_list(int argc, char **argv);
/** `modvm doctor`. */
int cli_doctor(int argc, char **argv);
/** Prints "modvm: <message>" to stderr and returns 1 (or 2 for usage errors). */
int cli_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
