/*
 * Fuzz target: the manifest loader (dsvm_repo_load), end to end: YAML
 * parsing, the per-kind field tables, defaults, references, cross-field
 * rules, then each object's spec as JSON and the formatted diagnostics.
 *
 * The loader reads a directory, so the input is written to this process's
 * temporary directory. A line "#@file" splits the input into up to eight
 * files (f0.yaml, f1.yaml, ...), which exercises cross-file references and
 * duplicate names.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsvmops/manifest.h"
#include "fuzz_util.h"

#define SPLIT     "\n#@file\n"
#define MAX_FILES 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The first SPLIT in [p, end), or NULL. */
static const uint8_t *find_split(const uint8_t *p, const uint8_t *end)
{
    size_t n = strlen(SPLIT);

    for (; (size_t)(end - p) >= n; p++)
        if (memcmp(p, SPLIT, n) == 0)
            return p;
    return NULL;
}

/* Write the input's parts as f0.yaml..., and remove the files of a larger earlier input. */
static void write_parts(const char *dir, const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size, *cut;
    char path[4200];
    int i;

    for (i = 0; i < MAX_FILES; i++) {
        snprintf(path, sizeof(path), "%s/f%d.yaml", dir, i);
        if (!p) {
            unlink(path);
            continue;
        }
        cut = i + 1 < MAX_FILES ? find_split(p, end) : NULL;
        fuzz_write_file(path, p, cut ? (size_t)(cut - p + 1) : (size_t)(end - p));
        p = cut ? cut + strlen(SPLIT) : NULL;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fuzz_tmpdir();
    dsvm_limits limits;
    dsvm_diags *diags = NULL;
    dsvm_repo *repo = NULL;
    size_t i;

    write_parts(dir, data, size);
    dsvm_limits_init(&limits);
    limits.parse_threads = 1;
    limits.max_file_bytes = 1024 * 1024;
    limits.max_document_nodes = 100000;
    if (dsvm_diags_new(&diags) < 0)
        return 0;
    if (dsvm_repo_load(&repo, dir, &limits, diags) == 0) {
        for (i = 0; i < dsvm_repo_count(repo); i++) {
            const dsvm_object *obj = dsvm_repo_object(repo, i);
            json_t *spec = NULL;
            dsvm_srcpos pos;

            if (dsvm_object_spec_json(&spec, obj) == 0)
                json_decref(spec);
            dsvm_object_field_pos(&pos, obj, "spec");
            dsvm_object_field_pos(&pos, obj, "metadata.name");
        }
        dsvm_repo_free(repo);
    }
    for (i = 0; i < dsvm_diags_count(diags); i++) {
        char *line = NULL;

        if (dsvm_diag_format(&line, dsvm_diags_get(diags, i)) == 0)
            free(line);
    }
    dsvm_diags_free(diags);
    return 0;
}
