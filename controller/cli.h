/*
 * The dsvmops command line: one entry per subcommand.
 *
 * Every command takes (argc, argv) with argv[0] set to the command name, and
 * returns a process exit code from the table in README.md ("Exit codes").
 */
#ifndef DSVM_CLI_H
#define DSVM_CLI_H

#include <stdio.h>

/** Exit codes shared by all commands (DESIGN.md section 4). */
enum {
    DSVM_EXIT_OK = 0,
    DSVM_EXIT_ERROR = 1,
    DSVM_EXIT_CHANGES = 2,
    DSVM_EXIT_PARTIAL = 3,
    DSVM_EXIT_REFUSED = 4,
};

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} dsvm_command;

/** The command table, terminated by an entry whose name is NULL. */
extern const dsvm_command dsvm_commands[];

/** True when `arg` asks for help ("-h" or "--help"). */
int dsvm_cli_is_help(const char *arg);

/** Print "dsvmops CMD: " and a formatted message to stderr. */
void dsvm_cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The commands, one file each (cmd_NAME.c). */
int dsvm_cmd_validate(int argc, char **argv);
int dsvm_cmd_plan(int argc, char **argv);
int dsvm_cmd_apply(int argc, char **argv);
int dsvm_cmd_drift(int argc, char **argv);
int dsvm_cmd_run(int argc, char **argv);
int dsvm_cmd_approve(int argc, char **argv);
int dsvm_cmd_history(int argc, char **argv);
int dsvm_cmd_graph(int argc, char **argv);
int dsvm_cmd_status(int argc, char **argv);
int dsvm_cmd_schema(int argc, char **argv);
int dsvm_cmd_version(int argc, char **argv);

#endif
