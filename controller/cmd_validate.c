/*
 * dsvmops validate [DIR]: load and check every manifest below DIR, print the
 * problems as "path:line:col: error: message" on stderr, or a one-line
 * summary on stdout. Exit 0 when the manifests are valid, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dsvmops/error.h"
#include "dsvmops/manifest.h"

static void usage(FILE *f)
{
    fputs("usage: dsvmops validate [--quiet] [DIR]\n"
          "\n"
          "Check every *.yaml and *.yml manifest below DIR (default: the current\n"
          "directory) against the manifest reference (docs/manifests.md): YAML syntax,\n"
          "kinds, fields, types, enums, Azure naming rules, duplicate names, references,\n"
          "literal secrets and cross-field rules. Every problem is printed on stderr as\n"
          "path:line:col: error: message; risky but valid settings as warnings.\n"
          "\n"
          "Options:\n"
          "  -q, --quiet   print no summary on success (warnings are still shown)\n"
          "  -h, --help    show this help\n"
          "\n"
          "Exit status: 0 when the manifests are valid, 1 otherwise.\n",
          f);
}

static void print_summary(const dsvm_repo *repo, size_t warnings)
{
    size_t n = dsvm_repo_count(repo), files = dsvm_repo_file_count(repo);
    const char *sep = " (";
    int k;

    printf("validated %zu object%s in %zu file%s", n, n == 1 ? "" : "s", files,
           files == 1 ? "" : "s");
    for (k = 0; k < DSVM_KIND_COUNT; k++) {
        size_t c = dsvm_repo_count_kind(repo, (dsvm_kind)k);

        if (c) {
            printf("%s%zu %s", sep, c, dsvm_kind_name((dsvm_kind)k));
            sep = ", ";
        }
    }
    fputs(n ? ")" : "", stdout);
    if (warnings)
        printf(", %zu warning%s", warnings, warnings == 1 ? "" : "s");
    putchar('\n');
}

static int print_diags(const dsvm_diags *diags)
{
    size_t i, n = dsvm_diags_count(diags), total = dsvm_diags_errors(diags), shown = 0;

    for (i = 0; i < n; i++) {
        const dsvm_diag *g = dsvm_diags_get(diags, i);
        char *line = NULL;

        if (dsvm_diag_format(&line, g) < 0)
            return -1;
        fprintf(stderr, "%s\n", line);
        free(line);
        shown += g->severity == DSVM_DIAG_ERROR;
    }
    if (total > shown)
        fprintf(stderr, "dsvmops validate: %zu more errors not shown\n", total - shown);
    return 0;
}

int dsvm_cmd_validate(int argc, char **argv)
{
    const char *dir = NULL;
    dsvm_diags *diags = NULL;
    dsvm_repo *repo = NULL;
    bool quiet = false;
    int i, rc, exit_code = DSVM_EXIT_ERROR;

    for (i = 1; i < argc; i++) {
        if (dsvm_cli_is_help(argv[i])) {
            usage(stdout);
            return DSVM_EXIT_OK;
        } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
            quiet = true;
        } else if (strcmp(argv[i], "--") == 0 && i + 1 < argc && !dir) {
            dir = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            dsvm_cli_error("validate", "unknown option '%s'; see 'dsvmops validate --help'",
                           argv[i]);
            return DSVM_EXIT_ERROR;
        } else if (!dir) {
            dir = argv[i];
        } else {
            dsvm_cli_error("validate", "unexpected argument '%s'", argv[i]);
            return DSVM_EXIT_ERROR;
        }
    }
    if (!dir)
        dir = ".";
    if (dsvm_diags_new(&diags) < 0) {
        dsvm_cli_error("validate", "%s", dsvm_error_last()->message);
        return DSVM_EXIT_ERROR;
    }
    rc = dsvm_repo_load(&repo, dir, NULL, diags);
    if (rc == 0) {
        /* warnings only: the manifests are valid */
        if (print_diags(diags) < 0)
            dsvm_cli_error("validate", "out of memory");
        if (!quiet)
            print_summary(repo, dsvm_diags_count(diags));
        exit_code = DSVM_EXIT_OK;
    } else if (dsvm_diags_errors(diags) > 0) {
        if (print_diags(diags) < 0)
            dsvm_cli_error("validate", "out of memory");
        dsvm_cli_error("validate", "%s", dsvm_error_last()->message);
    } else {
        dsvm_cli_error("validate", "%s", dsvm_error_last()->message);
    }
    dsvm_repo_free(repo);
    dsvm_diags_free(diags);
    return exit_code;
}
