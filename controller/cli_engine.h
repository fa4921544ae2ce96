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
} dsvm_cli_target;

/** Print each diagnostic on stderr as path:line:col: error: message. */
void dsvm_cli_print_diags(const dsvm_diags *diags, const char *cmd);

/**
 * Load the configuration, build the engine, load and expand the manifests.
 * On failure prints why (prefixed with `cmd`) and returns an exit code (1);
 * on success returns 0 with *out_cfg and *out_engine set.
 */
int dsvm_cli_engine_open(dsvm_config **out_cfg, dsvm_engine **out_engine, const char *cmd,
                         const dsvm_cli_target *target, dsvm_reconcile_opts *opts, int with_state);

/** Print the last error as "dsvmops CMD: message" and return 1. */
int dsvm_cli_fail(const char *cmd);

#endif
