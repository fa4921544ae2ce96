/*
 * The provider host: loads provider plugins, checks their ABI, and calls
 * them with host-owned buffers.
 */
#ifndef DSVM_PROVIDER_HOST_H
#define DSVM_PROVIDER_HOST_H

#include <jansson.h>

#include "dsvmops/provider.h"

/** A loaded provider plugin. */
typedef struct dsvm_plugin dsvm_plugin;

/**
 * Find the default provider directory: `lib/dsvmops` next to the `bin`
 * directory that holds the running program (build/bin/dsvmops ->
 * build/lib/dsvmops). Never a path from a Git checkout.
 *
 * @param out set to a malloc'd path on success
 * @return 0, or DSVM_ENOTFOUND when the program's own path is unknown
 */
int dsvm_provider_dir_default(char **out);

/**
 * Load the provider `name` from `dir` (file `dir/name.so`), or from `path`
 * when `name` contains a '/'. Refuses, with DSVM_EABI and a message that
 * says what to do, a plugin built for another ABI or without an ABI stamp.
 *
 * @param out  set to the loaded plugin on success; free with dsvm_plugin_free()
 * @param dir  the provider directory (see dsvm_provider_dir_default())
 * @param name the provider's name, e.g. "azure"
 * @return 0, or a negative DSVM_E* code with dsvm_error_last() set
 */
int dsvm_plugin_load(dsvm_plugin **out, const char *dir, const char *name);

/** The provider's description; borrowed from the plugin. */
const dsvm_provider *dsvm_plugin_provider(const dsvm_plugin *plugin);

/** The per-type rules for `type` (case-insensitive), or NULL. Borrowed. */
const dsvm_type_rules *dsvm_plugin_type_rules(const dsvm_plugin *plugin, const char *type);

/**
 * Call the provider's expand().
 *
 * @param out set to a malloc'd, NUL-terminated JSON array of resources
 * @return 0, or a negative DSVM_E* code with the provider's message in
 *         dsvm_error_last()
 */
int dsvm_plugin_expand(char **out, dsvm_plugin *plugin, const char *context_json,
                       const char *objects_json);

/**
 * Expand jansson documents: the provider's expand_tree() when it has one
 * built against this jansson, else expand() through JSON text.
 *
 * @param out set to a new reference to the resources array (the caller's)
 * @return 0, or a negative DSVM_E* code as for dsvm_plugin_expand()
 */
int dsvm_plugin_expand_tree(json_t **out, dsvm_plugin *plugin, const json_t *context,
                            const json_t *objects);

/** Call describe_reads(); `out` as for dsvm_plugin_expand(). */
int dsvm_plugin_describe_reads(char **out, dsvm_plugin *plugin, const char *scope_json);

/**
 * Call classify(). `out_class` gets a DSVM_ANSWER_* value; `out_doc` a
 * malloc'd JSON document (a parsed list page) or NULL when the provider
 * wrote none.
 */
int dsvm_plugin_classify(int *out_class, char **out_doc, dsvm_plugin *plugin,
                         const char *request_json, int status, const char *body, size_t body_len);

/** Unload the plugin; accepts NULL. */
void dsvm_plugin_free(dsvm_plugin *plugin);

#endif
