/*
 * dsvmops drift: one drift check. Reads live state with the same batched
 * reads as plan, writes nothing to Azure, and reports every resource that
 * differs from Git with the policy that applies to it.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_engine.h"
#include "drift.h"
#include "dsvmops/error.h"
#include "engine.h"

static void usage(FILE *f)
{
    fputs("usage: dsvmops drift -c CONFIG [--source DIR] [--format text|json|markdown]\n"
          "                     [-o FILE]\n"
          "\n"
          "Check once whether live Azure state has drifted from Git: the same reads\n"
          "as plan, no writes. Each drifted resource is listed field by field with the\n"
          "policy that applies to it (dsvmops.io/drift, drift.kinds, drift.policy).\n"
          "Fields named by dsvmops.io/ignore-fields are not compared. The daemon\n"
          "(dsvmops run) does this every drift.interval and keeps episodes and alerts;\n"
          "this command only reports.\n"
          "\n"
          "Options:\n" DSVM_CLI_TARGET_USAGE
          "      --format FMT        text (default), json or markdown\n"
          "  -o, --output FILE       write the report to FILE instead of stdout\n"
          "  -h, --help              show this help\n"
          "\n"
          "Exit status: 0 no drift (or only drift whose policy is ignore), 1 error,\n"
          "2 drift found.\n",
          f);
}

int dsvm_cmd_drift(int argc, char **argv)
{
    static const struct option longopts[] = {
        DSVM_CLI_TARGET_LONGOPTS,
        DSVM_CLI_OUTPUT_LONGOPTS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    dsvm_cli_target target = {0};
    const char *format, *output;
    dsvm_reconcile_opts opts = {0};
    dsvm_drift_report report = {0};
    dsvm_config *cfg = NULL;
    dsvm_engine *e = NULL;
    dsvm_plan *plan = NULL;
    char *text = NULL;
    int c, code;

    opts.max_deletes = -1;
    target.format = "text";
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:o:h", longopts, NULL)) != -1) {
        switch (c) {
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
    if (dsvm_cli_args_done("drift", argc, argv, target.format) < 0)
        return DSVM_EXIT_ERROR;
    format = target.format;
    output = target.output;
    code = dsvm_cli_engine_open(&cfg, &e, "drift", &target, &opts, 1);
    if (code != 0)
        return code;
    code = DSVM_EXIT_ERROR;
    if (dsvm_engine_observe(e) < 0 || dsvm_engine_plan(e, &plan) < 0 ||
        dsvm_drift_assess(&report, plan, dsvm_engine_repo(e), cfg) < 0 ||
        dsvm_drift_render(&text, &report, format, e->commit) < 0) {
        dsvm_cli_fail("drift");
        goto out;
    }
    if (dsvm_cli_write_output("drift", output, text) < 0)
        goto out;
    code = report.heal + report.alert > 0 ? DSVM_EXIT_CHANGES : DSVM_EXIT_OK;
out:
    free(text);
    dsvm_drift_report_clear(&report);
    dsvm_plan_free(plan);
    dsvm_engine_free(e);
    dsvm_config_free(cfg);
    return code;
}
