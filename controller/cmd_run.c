/*
 * dsvmops run: the daemon. The work is in daemon.c.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "cli_engine.h"
#include "daemon.h"

static void usage(FILE *f)
{
    fputs("usage: dsvmops run -c CONFIG [--listen HOST:PORT] [--log-format text|json]\n"
          "                   [--log-level LEVEL]\n"
          "\n"
          "Run the controller: poll the Git source every source.interval (or at once on\n"
          "a signed push webhook), plan each new commit, apply it (reconcile.auto_apply)\n"
          "or keep it for 'dsvmops approve'; every drift.interval check live state for\n"
          "drift, heal or alert per policy; serve /metrics, /healthz, /readyz,\n"
          "/api/v1/status and the webhooks on server.listen.\n"
          "\n"
          "Options:\n" DSVM_CLI_TARGET_USAGE
          "      --listen HOST:PORT  serve here instead of server.listen (port 0: any)\n"
          "      --log-format FMT    text (default: one line, key=value fields) or json\n"
          "      --log-level LEVEL   debug, info (default), warn or error\n"
          "  -h, --help              show this help\n"
          "\n"
          "The first line on stdout is 'dsvmops listening on http://HOST:PORT'. Logs go\n"
          "to stderr. SIGTERM or SIGINT: writes on the wire finish and are journalled,\n"
          "then exit 0. SIGHUP: reload the configuration and its secrets.\n"
          "\n"
          "Exit status: 0 after SIGTERM or SIGINT, 1 when the daemon cannot start.\n",
          f);
}

int dsvm_cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        DSVM_CLI_TARGET_LONGOPTS,
        {"listen", required_argument, NULL, 'L'},
        {"log-format", required_argument, NULL, 'F'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    dsvm_cli_target target = {0};
    dsvm_reconcile_opts ropts = {0};
    dsvm_daemon_opts opts = {0};
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'L':
            opts.listen = optarg;
            break;
        case 'F':
            opts.log_format = optarg;
            break;
        case 'l':
            opts.log_level = optarg;
            break;
        case 'h':
            usage(stdout);
            return DSVM_EXIT_OK;
        default:
            if (dsvm_cli_target_option(c, optarg, &target, &ropts))
                break;
            usage(stderr);
            return DSVM_EXIT_ERROR;
        }
    }
    if (dsvm_cli_args_done("run", argc, argv, NULL) < 0)
        return DSVM_EXIT_ERROR;
    if (!target.config_path) {
        dsvm_cli_error("run", "-c CONFIG is required (e.g. -c dsvmops.yaml)");
        return DSVM_EXIT_ERROR;
    }
    if (target.source_dir) {
        dsvm_cli_error("run", "--source is for one-off commands; the daemon reads source.url");
        return DSVM_EXIT_ERROR;
    }
    opts.config_path = target.config_path;
    opts.provider_dir = target.provider_dir;
    opts.instance = ropts.instance;
    opts.rate_limits = ropts.rate_limits;
    return dsvm_daemon_run(&opts);
}
