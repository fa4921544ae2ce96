/*
 * The pull-request review: `dsvmops plan --base REV --head REV --format
 * markdown`. Which manifest objects a change adds, removes or modifies
 * (field by field), and what applying `head` would do to live Azure.
 */
#ifndef DSVM_PR_PLAN_H
#define DSVM_PR_PLAN_H

#include "cli_engine.h"

/** What `plan --base --head` was asked for. */
typedef struct {
    const char *base;   /**< the revision the change starts from (branch, tag, SHA, HEAD~1) */
    const char *head;   /**< the revision under review */
    const char *output; /**< -o FILE, or NULL for stdout */
    int detailed;       /**< --detailed-exitcode: exit 2 when the live plan has changes */
} dsvm_pr_plan_args;

/**
 * Run the pull-request plan and print it as Markdown.
 *
 * The revisions come from the Git repository that holds `target->source_dir`
 * (its own path inside the repository names the manifests; at the top of
 * the repository, the configuration's source.path does), or without
 * --source from the configured source. Both are written to temporary
 * directories, loaded and compared object by object; then `head` is planned
 * against live Azure, with its commit recorded.
 *
 * @return a process exit code: 0; 1 for an error (printed once, here); 2
 *         with `detailed` when the live plan has changes
 */
int dsvm_pr_plan_run(const dsvm_cli_target *target, dsvm_reconcile_opts *opts,
                     const dsvm_pr_plan_args *args);

#endif
