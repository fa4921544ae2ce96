/*
 * dsvmops schema [--kind K]: print the JSON Schema (draft-07) of the
 * manifests, generated from the model's field tables. Editors use it through
 * yaml-language-server (see docs/manifests.md, "Editor support").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "dsvmops/error.h"
#include "dsvmops/manifest.h"

static void usage(FILE *f)
{
    fputs("usage: dsvmops schema [--kind KIND] [--compact]\n"
          "\n"
          "Print the JSON Schema (draft-07) of the dsvmops.io/v1 manifests on stdout,\n"
          "generated from the same field tables that 'dsvmops validate' uses.\n"
          "\n"
          "Options:\n"
          "  --kind KIND   describe one kind only (Pool, KeyVault, ...)\n"
          "  --compact     print the schema on one line\n"
          "  -h, --help    show this help\n",
          f);
}

int dsvm_cmd_schema(int argc, char **argv)
{
    const char *kind = NULL;
    size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER;
    json_t *schema = NULL;
    char *text;
    int i;

    for (i = 1; i < argc; i++) {
        if (dsvm_cli_is_help(argv[i])) {
            usage(stdout);
            return DSVM_EXIT_OK;
        } else if (strcmp(argv[i], "--kind") == 0 && i + 1 < argc) {
            kind = argv[++i];
        } else if (strncmp(argv[i], "--kind=", 7) == 0) {
            kind = argv[i] + 7;
        } else if (strcmp(argv[i], "--compact") == 0) {
            flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
        } else {
            dsvm_cli_error("schema", "unexpected argument '%s'; see 'dsvmops schema --help'",
                           argv[i]);
            return DSVM_EXIT_ERROR;
        }
    }
    if (dsvm_schema_build(&schema, kind) < 0) {
        dsvm_cli_error("schema", "%s", dsvm_error_last()->message);
        return DSVM_EXIT_ERROR;
    }
    text = json_dumps(schema, flags);
    json_decref(schema);
    if (!text) {
        dsvm_cli_error("schema", "out of memory");
        return DSVM_EXIT_ERROR;
    }
    puts(text);
    free(text);
    return DSVM_EXIT_OK;
}
