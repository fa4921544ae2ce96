/*
 * What plan, apply and drift share on the command line: reading the
 * configuration, finding the manifests, and setting up the reconcile
 * engine, with errors printed once, here.
 */
#ifndef DSVM_CLI_ENGINE_H
#define DSVM_CLI_ENGINE_H

#include "config.h"
#include "reconcile.h"

/** Options common to the commands that talk to Azure. */
typedef struct {
    const char *config_path;  /**< -c FILE */
    const char *source_dir;   /**< --source DIR, or NULL */
    const char *provider_dir; /**< --provider-dir DIR, or NULL */
    const char *format;       /**< --format WORD (commands with DSVM_CLI_OUTPUT_LONGOPTS) */
    const char *output;       /**< -o, --output FILE, or NULL for stdout */
} dsvm_cli_target;

/**
 * The long options every command that talks to Azure takes, to splice into
 * a `struct option` array; dsvm_cli_target_option() handles them.
 */
/* clang-format off */
#define DSVM_CLI_TARGET_LONGOPTS                                                   \
    {"config", required_argument, NULL, 'c'},                                      \
    {"source", required_argument, NULL, 's'},                                      \
    {"provider-dir", required_argument, NULL, 'P'},                                \
    {"instance", required_argument, NULL, 'i'},                                    \
    {"rate-limits", required_argument, NULL, 'r'}
/* clang-format on */

/** --format and -o/--output, for the commands that print a document. */
/* clang-format off */
#define DSVM_CLI_OUTPUT_LONGOPTS                                                   \
    {"format", required_argument, NULL, 'f'},                                      \
    {"output", required_argument, NULL, 'o'}
/* clang-format on */

/** Their usage lines, for --help. */
#define DSVM_CLI_TARGET_USAGE                                                                      \
    "  -c, --config FILE       controller configuration (dsvmops.yaml)\n"                          \
    "      --source DIR        read manifests from DIR instead of the configured source\n"         \
    "      --provider-dir DIR  where provider plugins live\n"                                      \
    "      --instance NAME     ownership tag value (default: default)\n"                           \
    "      --rate-limits SPEC  client token buckets: off, or reads=B/R,writes=B/R,\n"              \
    "                          deletes=B/R (default ARM's: 250/25, 200/10, 200/10)\n"

/**
 * Take option `c` (with `arg`) when it is one of DSVM_CLI_TARGET_LONGOPTS
 * or DSVM_CLI_OUTPUT_LONGOPTS.
 * Returns 1 when it was, 0 when it is the caller's.
 */
int dsvm_cli_target_option(int c, const char *arg, dsvm_cli_target *target,
                           dsvm_reconcile_opts *opts);

/**
 * Write `text` to `path`, or to stdout when `path` is NULL, ending it with
 * a newline if it has none. On failure
 * prints why, prefixed with `cmd`, and returns -1.
 */
int dsvm_cli_write_output(const char *cmd, const char *path, const char *text);

/** Print each diagnostic on stderr as path:line:col: error: message. */
void dsvm_cli_print_diags(const dsvm_diags *diags, const char *cmd);

/**
 * Load the configuration, build the engine, load and expand the manifests.
 * On failure prints why (prefixed with `cmd`) and returns an exit code (1);
 * on success returns 0 with *out_cfg and *out_engine set.
 */
int dsvm_cli_engine_open(dsvm_config **out_cfg, dsvm_engine **out_engine, const char *cmd,
                         const dsvm_cli_target *target, dsvm_reconcile_opts *opts, int with_state);

/** A Git source (struct dsvm_source, git_source.h) for the configuration's source block. */
struct dsvm_source;

/**
 * Build the configured Git source: source.url, ref, path and auth (the
 * password read from its *_env or *_file key now), cached in
 * <config dir>/.dsvmops-cache, shared by every command and the daemon.
 * Returns 0 or DSVM_E* with the error set.
 */
int dsvm_cli_source_new(struct dsvm_source **out, const dsvm_config *cfg);

/** Whether source.url is a plain local directory (no Git repository): read as it is. */
int dsvm_cli_source_is_plain_directory(const char *url);

/**
 * After getopt: returns 0 when no argument is left over (argv[optind]) and
 * `format`, unless NULL, is text, json or markdown; else prints why,
 * prefixed with `cmd`, and returns -1.
 */
int dsvm_cli_args_done(const char *cmd, int argc, char **argv, const char *format);

/** Print the last error as "dsvmops CMD: message" and return 1. */
int dsvm_cli_fail(const char *cmd);

#endif
