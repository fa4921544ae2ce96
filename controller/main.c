/*
 * dsvmops: GitOps for Data Science VM pools on Azure.
 *
 * main() only dispatches to a subcommand; each command lives in its own
 * cmd_*.c file and parses its own options.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

const dsvm_command dsvm_commands[] = {
    {"validate", dsvm_cmd_validate, "check the manifests in a directory"},
    {"plan", dsvm_cmd_plan, "show what an apply would change, field by field"},
    {"apply", dsvm_cmd_apply, "apply the manifests to Azure in dependency order"},
    {"drift", dsvm_cmd_drift, "check once whether live state has drifted from Git"},
    {"run", dsvm_cmd_run, "run the controller: poll, webhooks, apply, drift, alerts, metrics"},
    {"approve", dsvm_cmd_approve, "approve the daemon's pending plan (or suspend, resume)"},
    {"history", dsvm_cmd_history, "list recorded runs, or the journal of one run"},
    {"graph", dsvm_cmd_graph, "print the resource dependency graph (Graphviz DOT)"},
    {"status", dsvm_cmd_status, "show the target, where each setting came from, and state"},
    {"schema", dsvm_cmd_schema, "print the JSON Schema of the manifests"},
    {"version", dsvm_cmd_version, "print the version of dsvmops and its libraries"},
    {NULL, NULL, NULL},
};

int dsvm_cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

void dsvm_cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "dsvmops %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void usage(FILE *f)
{
    const dsvm_command *c;

    fputs("usage: dsvmops COMMAND [OPTIONS]\n"
          "\n"
          "GitOps controller for Data Science VM pools on Azure.\n"
          "\n"
          "Commands:\n",
          f);
    for (c = dsvm_commands; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
    fputs("\n"
          "Run 'dsvmops COMMAND --help' for the options of one command.\n"
          "Exit codes: 0 success, 1 error, 2 changes or drift, 3 partial failure,\n"
          "4 refused by a safety guard.\n",
          f);
}

int main(int argc, char **argv)
{
    const dsvm_command *c;

    /* a peer that hangs up (a Git server, an HTTP client) must not kill us:
     * the write fails with EPIPE and is handled where it happens */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return DSVM_EXIT_ERROR;
    }
    if (dsvm_cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        if (argc > 2 && strcmp(argv[1], "help") == 0) {
            char *help_argv[] = {argv[2], "--help", NULL};

            for (c = dsvm_commands; c->name; c++)
                if (strcmp(c->name, argv[2]) == 0)
                    return c->run(2, help_argv);
        }
        usage(stdout);
        return DSVM_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0)
        return dsvm_cmd_version(1, argv + 1);

    for (c = dsvm_commands; c->name; c++)
        if (strcmp(c->name, argv[1]) == 0)
            return c->run(argc - 1, argv + 1);

    fprintf(stderr, "dsvmops: unknown command '%s'; run 'dsvmops --help' for the list\n", argv[1]);
    return DSVM_EXIT_ERROR;
}
