/*
 * dsvmops graph: the dependency graph of the expanded resources, as
 * Graphviz DOT. Loads and expands the manifests like plan does, but sends
 * nothing to Azure, and needs no credential.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_engine.h"
#include "dsvmops/error.h"
#include "graph.h"

static void usage(FILE *f)
{
    fputs("usage: dsvmops graph -c CONFIG [--source DIR] [--format dot] [-o FILE]\n"
          "\n"
          "Print the dependency graph of the resources the manifests expand to, in\n"
          "Graphviz DOT: one node per Azure resource, clustered by manifest object,\n"
          "with an edge from each resource to what it needs. Applies create in edge\n"
          "order and delete in the reverse order. Nothing is sent to Azure.\n"
          "Render it with e.g. 'dsvmops graph -c dsvmops.yaml | dot -Tsvg > graph.svg'.\n"
          "\n"
          "Options:\n" DSVM_CLI_TARGET_USAGE
          "      --format FORMAT     dot (the default and only format)\n"
          "  -o, --output FILE       write the graph to FILE instead of stdout\n"
          "  -h, --help              show this help\n"
          "\n"
          "Exit status: 0 success, 1 error (bad options, configuration or manifests,\n"
          "or a dependency cycle).\n",
          f);
}

int dsvm_cmd_graph(int argc, char **argv)
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
    dsvm_config *cfg = NULL;
    dsvm_engine *e = NULL;
    dsvm_graph *g = NULL;
    char *text = NULL;
    int c, code;

    opts.max_deletes = -1;
    target.format = "dot";
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
    if (dsvm_cli_args_done("graph", argc, argv, NULL) < 0)
        return DSVM_EXIT_ERROR;
    format = target.format;
    output = target.output;
    if (strcmp(format, "dot") != 0) {
        dsvm_cli_error("graph", "unknown --format '%s'; only dot is supported", format);
        return DSVM_EXIT_ERROR;
    }
    opts.offline = 1; /* nothing is sent: no credential is needed */
    code = dsvm_cli_engine_open(&cfg, &e, "graph", &target, &opts, 0);
    if (code != 0)
        return code;
    code = DSVM_EXIT_ERROR;
    if (dsvm_graph_new(&g, dsvm_engine_resources(e)) < 0 || dsvm_graph_render_dot(&text, g) < 0) {
        dsvm_cli_fail("graph");
        goto out;
    }
    if (dsvm_cli_write_output("graph", output, text) < 0)
        goto out;
    code = DSVM_EXIT_OK;
out:
    free(text);
    dsvm_graph_free(g);
    dsvm_engine_free(e);
    dsvm_config_free(cfg);
    return code;
}
