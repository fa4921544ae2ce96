/*
 * dsvmops version: the program's version and the versions of the libraries
 * it was built against, for bug reports.
 */
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "cli.h"
#include "dsvmops/version.h"

int dsvm_cmd_version(int argc, char **argv)
{
    if (argc > 1 && dsvm_cli_is_help(argv[1])) {
        puts("usage: dsvmops version\n\nPrint the version of dsvmops and of libyaml.");
        return DSVM_EXIT_OK;
    }
    if (argc > 1) {
        dsvm_cli_error("version", "unexpected argument '%s'", argv[1]);
        return DSVM_EXIT_ERROR;
    }
    printf("dsvmops %s\n", DSVM_VERSION);
    printf("libyaml %s\n", yaml_get_version_string());
    return DSVM_EXIT_OK;
}
