/*
 * dsvmops plan: what an apply would do, field by field, without writing.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_engine.h"
#include "drift.h"
#include "dsvmops/error.h"
#include "plan_file.h"
#include "pr_plan.h"

static void usage(FILE *f)
{
    fputs("usage: dsvmops plan -c CONFIG [--source DIR] [--format text|json|markdown]\n"
          "                    [--detailed-exitcode] [-o FILE] [--target KIND/NAME]\n"
          "       dsvmops plan -c CONFIG [--source DIR] --base REV --head REV\n"
          "                    --format markdown [-o FILE]\n"
          "\n"
          "Compare the manifests with live Azure state and print what an apply would\n"
          "create, update, replace, delete or adopt, field by field. Nothing is written.\n"
          "Secrets never appear: changed write-only fields show as (sensitive).\n"
          "\n"
          "With --base and --head (a pull-request review), both revisions are taken from\n"
          "the Git repository that holds --source DIR (or from the configured source):\n"
          "the manifest objects the change adds, removes or modifies, field by field,\n"
          "then the plan of head against live Azure.\n"
          "\n"
          "Options:\n" DSVM_CLI_TARGET_USAGE
          "      --base REV          pull-request review: the revision the change starts from\n"
          "      --head REV          pull-request review: the revision under review\n"
          "      --format FORMAT     text (default), json or markdown\n"
          "  -o, --output FILE       write the plan to FILE instead of stdout; with --format\n"
          "                          json it is a saved plan for 'apply --plan FILE'\n"
          "      --detailed-exitcode exit 2 when there are changes\n"
          "      --target KIND/NAME  only that object and what it needs\n"
          "      --prune             plan deletes of owned resources no longer in Git\n"
          "  -h, --help              show this help\n"
          "\n"
          "Exit status: 0 success (no changes with --detailed-exitcode), 1 error,\n"
          "2 changes present (with --detailed-exitcode).\n",
          f);
}

int dsvm_cmd_plan(int argc, char **argv)
{
    static const struct option longopts[] = {
        DSVM_CLI_TARGET_LONGOPTS,
        {"base", required_argument, NULL, 'B'},
        {"head", required_argument, NULL, 'H'},
        DSVM_CLI_OUTPUT_LONGOPTS,
        {"detailed-exitcode", no_argument, NULL, 'd'},
        {"target", required_argument, NULL, 't'},
        {"prune", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    dsvm_cli_target target = {0};
    const char *format, *output;
    dsvm_pr_plan_args pr = {0};
    dsvm_reconcile_opts opts = {0};
    int detailed = 0, c, code;
    dsvm_config *cfg = NULL;
    dsvm_engine *e = NULL;
    dsvm_plan *plan = NULL;
    char *text = NULL;

    opts.max_deletes = -1;
    target.format = "text";
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'B':
            pr.base = optarg;
            break;
        case 'H':
            pr.head = optarg;
            break;
        case 'd':
            detailed = 1;
            break;
        case 't':
            opts.target = optarg;
            break;
        case 'p':
            opts.prune = 1;
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
    if (dsvm_cli_args_done("plan", argc, argv, target.format) < 0)
        return DSVM_EXIT_ERROR;
    format = target.format;
    output = target.output;
    if (pr.base || pr.head) {
        if (!pr.base || !pr.head || strcmp(format, "markdown") != 0) {
            dsvm_cli_error("plan", "a pull-request plan needs --base REV, --head REV and "
                                   "--format markdown together");
            return DSVM_EXIT_ERROR;
        }
        pr.output = output;
        pr.detailed = detailed;
        return dsvm_pr_plan_run(&target, &opts, &pr);
    }
    code = dsvm_cli_engine_open(&cfg, &e, "plan", &target, &opts, 1);
    if (code != 0)
        return code;
    code = DSVM_EXIT_ERROR;
    if (dsvm_engine_observe(e) < 0 || dsvm_engine_plan(e, &plan) < 0) {
        dsvm_cli_fail("plan");
        goto out;
    }
    /* objects annotated dsvmops.io/suspend: "true" are left alone */
    dsvm_plan_hold_suspended(plan, dsvm_engine_repo(e));
    if (strcmp(format, "json") == 0) {
        json_t *meta = json_pack("{s:s,s:o}", "subscription", cfg->target.subscription.value,
                                 "requests", dsvm_engine_request_counts(e));
        json_t *saved = NULL;

        /* what apply --plan needs to refuse a stale plan */
        if (!meta || dsvm_plan_file_meta(&saved, e, plan) < 0 ||
            json_object_update(meta, saved) < 0 || dsvm_plan_render_json(&text, plan, meta) < 0)
            text = NULL;
        json_decref(saved);
        json_decref(meta);
    } else if (strcmp(format, "markdown") == 0) {
        if (dsvm_plan_render_markdown(&text, plan, NULL) < 0)
            text = NULL;
    } else if (dsvm_plan_render_text(&text, plan, !output && isatty(STDOUT_FILENO)) < 0) {
        text = NULL;
    }
    if (!text) {
        dsvm_cli_fail("plan");
        goto out;
    }
    if (dsvm_cli_write_output("plan", output, text) < 0)
        goto out;
    code = detailed && dsvm_plan_changes(plan) > 0 ? DSVM_EXIT_CHANGES : DSVM_EXIT_OK;
out:
    free(text);
    dsvm_plan_free(plan);
    dsvm_engine_free(e);
    dsvm_config_free(cfg);
    return code;
}
