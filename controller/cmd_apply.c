/*
 * dsvmops apply: plan, check the guards, and apply in dependency order.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_engine.h"
#include "drift.h"
#include "dsvmops/error.h"
#include "plan_file.h"

/* The shutdown flag: a signal handler can only set a flag of this type,
 * so it is the one file-scope variable here. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *f)
{
    fputs("usage: dsvmops apply -c CONFIG [--source DIR | --plan FILE] [--prune]\n"
          "                     [--allow-deletes N] [--allow-replace] [--parallelism N]\n"
          "                     [--target KIND/NAME]\n"
          "\n"
          "Plan, then write the changes to Azure in dependency order: independent\n"
          "resources in parallel, deletes in reverse order. Every write is journalled\n"
          "in the state store before it is sent. A failure stops only what depends on it.\n"
          "\n"
          "Options:\n" DSVM_CLI_TARGET_USAGE
          "      --plan FILE         apply a plan saved by 'plan -o FILE --format json', only\n"
          "                          if the commit and the live state are still the same\n"
          "      --prune             delete owned resources that are no longer in Git\n"
          "      --allow-deletes N   allow up to N deletes (default: reconcile.max_deletes)\n"
          "      --allow-replace     allow replacing stateful resources (vaults, storage)\n"
          "      --parallelism N     writes in flight at once (default: reconcile.parallelism)\n"
          "      --target KIND/NAME  only that object and what it needs\n"
          "      --resend-secrets    re-send write-only fields that have no fingerprint\n"
          "  -q, --quiet             no per-resource progress\n"
          "  -h, --help              show this help\n"
          "\n"
          "Exit status: 0 success, 1 error (nothing written), 3 some resources failed\n"
          "(the rest were applied; the run is recorded), 4 refused by a safety guard\n"
          "(also a saved plan whose commit or live state has moved; nothing written).\n",
          f);
}

int dsvm_cmd_apply(int argc, char **argv)
{
    static const struct option longopts[] = {
        DSVM_CLI_TARGET_LONGOPTS,
        {"plan", required_argument, NULL, 'F'},
        {"prune", no_argument, NULL, 'p'},
        {"allow-deletes", required_argument, NULL, 'D'},
        {"allow-replace", no_argument, NULL, 'R'},
        {"parallelism", required_argument, NULL, 'j'},
        {"target", required_argument, NULL, 't'},
        {"resend-secrets", no_argument, NULL, 'S'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    dsvm_cli_target target = {0};
    dsvm_reconcile_opts opts = {0};
    dsvm_apply_result res = {0};
    dsvm_config *cfg = NULL;
    dsvm_engine *e = NULL;
    dsvm_plan *plan = NULL;
    char *text = NULL, *end;
    const char *plan_path = NULL;
    json_t *saved = NULL;
    int c, code, quiet = 0, rc;

    opts.max_deletes = -1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            opts.prune = 1;
            break;
        case 'D':
            opts.max_deletes = (int)strtol(optarg, &end, 10);
            if (*end || opts.max_deletes < 0) {
                dsvm_cli_error("apply", "--allow-deletes takes a count, not '%s'", optarg);
                return DSVM_EXIT_ERROR;
            }
            break;
        case 'R':
            opts.allow_replace = 1;
            break;
        case 'j':
            opts.parallelism = (int)strtol(optarg, &end, 10);
            if (*end || opts.parallelism < 1 || opts.parallelism > 256) {
                dsvm_cli_error("apply", "--parallelism takes 1 to 256, not '%s'", optarg);
                return DSVM_EXIT_ERROR;
            }
            break;
        case 't':
            opts.target = optarg;
            break;
        case 'S':
            opts.resend_secrets = 1;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'F':
            plan_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return DSVM_EXIT_OK;
        default:
            if (dsvm_cli_target_option(c, optarg, &target, &opts))
                break;
            usage(stderr);
            return DSVM_EXIT_ERROR;
        }
    }
    if (dsvm_cli_args_done("apply", argc, argv, NULL) < 0)
        return DSVM_EXIT_ERROR;
    opts.progress = quiet ? NULL : stdout;
    {
        /* SIGTERM or ^C: writes on the wire finish and are journalled,
         * nothing new starts (design rule 9) */
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        opts.stop = &stop_requested;
    }
    if (plan_path && (dsvm_plan_file_load(&saved, plan_path) < 0 ||
                      dsvm_plan_file_options(&opts, saved, plan_path) < 0)) {
        json_decref(saved);
        return dsvm_cli_fail("apply");
    }
    code = dsvm_cli_engine_open(&cfg, &e, "apply", &target, &opts, 1);
    if (code != 0)
        return code;
    code = DSVM_EXIT_ERROR;
    if (dsvm_engine_observe(e) < 0 || dsvm_engine_plan(e, &plan) < 0) {
        dsvm_cli_fail("apply");
        goto out;
    }
    /* objects annotated dsvmops.io/suspend: "true" are left alone */
    dsvm_plan_hold_suspended(plan, dsvm_engine_repo(e));
    rc = saved ? dsvm_plan_file_check(saved, e, plan) : 0;
    if (rc < 0) {
        dsvm_cli_fail("apply");
        code = rc == DSVM_EREFUSED ? DSVM_EXIT_REFUSED : DSVM_EXIT_ERROR;
        goto out;
    }
    dsvm_engine_settle(e);
    if (!quiet && dsvm_plan_render_text(&text, plan, 0) == 0)
        fputs(text, stdout);
    if (dsvm_plan_first_error(plan)) {
        dsvm_cli_error("apply", "the plan has errors; fix them first: %s",
                       dsvm_plan_first_error(plan));
        goto out;
    }
    if (dsvm_plan_changes(plan) == 0) {
        code = DSVM_EXIT_OK;
        goto out;
    }
    rc = dsvm_engine_apply(e, plan, &res);
    if (rc == DSVM_EREFUSED || rc == DSVM_EBUSY) {
        dsvm_cli_fail("apply");
        code = DSVM_EXIT_REFUSED;
        goto out;
    }
    if (res.interrupted && res.run_id) {
        printf("Apply interrupted: %zu succeeded, %zu failed, %zu not started (run %lld); "
               "run apply again to finish.\n",
               res.succeeded, res.failed, res.blocked, (long long)res.run_id);
        code = DSVM_EXIT_PARTIAL;
        goto out;
    }
    if (rc == DSVM_ERROR && res.run_id) {
        printf("Apply incomplete: %zu succeeded, %zu failed, %zu blocked by a failed "
               "dependency (run %lld).\n",
               res.succeeded, res.failed, res.blocked, (long long)res.run_id);
        code = DSVM_EXIT_PARTIAL;
        goto out;
    }
    if (rc < 0) {
        dsvm_cli_fail("apply");
        goto out;
    }
    printf("Apply complete: %zu resources changed (run %lld).\n", res.succeeded,
           (long long)res.run_id);
    code = DSVM_EXIT_OK;
out:
    json_decref(saved);
    free(text);
    dsvm_plan_free(plan);
    dsvm_engine_free(e);
    dsvm_config_free(cfg);
    return code;
}
