/*
 * The Azure provider: entry point and ABI glue. The work is done in
 * expand*.c (objects to ARM resources), types.c (per-type rules as data),
 * reads.c (describe_reads), classify.c and images.c. JSON crosses the
 * boundary as text in host buffers; jansson's allocations stay here.
 */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "dsvmops/error.h"
#include "dsvmops/provider.h"
#include "azure.h"

DSVM_PROVIDER_EXPORT const uint32_t dsvm_provider_abi = DSVM_PROVIDER_ABI;

#define AZURE_RELEASE "0.1.0"

typedef struct {
    const dsvm_host_api *host;
    dsvm_provider desc;
} azure_ctx;

/* Serialise `v` (stolen) into the host buffer. */
static int32_t emit(const azure_ctx *ctx, dsvm_buf *out, json_t *v)
{
    char *text;
    int32_t rc;

    if (!v)
        return DSVM_ENOMEM;
    text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(v);
    if (!text)
        return DSVM_ENOMEM;
    rc = ctx->host->buf_append(out, text, strlen(text));
    free(text);
    return rc;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Write {"error": message} (message stolen) and return `code`. */
static int32_t fail(const azure_ctx *ctx, dsvm_buf *out, int32_t code, json_t *message)
{
    int32_t rc = emit(ctx, out, json_pack("{s:o}", "error", message));

    return rc < 0 ? rc : code;
}

static int32_t azure_expand(void *pctx, const char *context_json, const char *objects_json,
                            dsvm_buf *out)
{
    azure_ctx *ctx = pctx;
    json_t *context = json_loads(context_json ? context_json : "", 0, NULL);
    json_t *objects = json_loads(objects_json ? objects_json : "", 0, NULL);
    json_t *resources = NULL, *err = NULL;
    int32_t rc;

    if (!json_is_object(context) || !json_is_array(objects)) {
        rc = fail(ctx, out, DSVM_EINVALID,
                  json_string("expand: context must be a JSON object and objects a JSON array"));
        goto out;
    }
    rc = az_expand(&resources, context, objects, &err);
    if (rc < 0)
        rc = fail(ctx, out, rc, err);
    else
        rc = emit(ctx, out, resources);
out:
    json_decref(context);
    json_decref(objects);
    return rc;
}

/* A copy of `v` whose objects have their keys in sorted order, as the text
 * form has them, and which shares no container with `v` (scalars are
 * shared: nothing changes them in place). NULL when out of memory. */
static json_t *sorted_copy(json_t *v)
{
    json_t *out, *child;
    size_t i, n;

    if (json_is_array(v)) {
        out = json_array();
        json_array_foreach(v, i, child)
        {
            if (!out || json_array_append_new(out, sorted_copy(child)) < 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    if (!json_is_object(v))
        return json_incref(v);
    n = json_object_size(v);
    out = json_object();
    if (out && n > 0) {
        const char **keys = malloc(n * sizeof(*keys)), *key;

        if (!keys) {
            json_decref(out);
            return NULL;
        }
        i = 0;
        json_object_foreach(v, key, child) keys[i++] = key;
        qsort(keys, n, sizeof(*keys), by_key);
        for (i = 0; i < n; i++) {
            if (json_object_set_new(out, keys[i], sorted_copy(json_object_get(v, keys[i]))) < 0) {
                json_decref(out);
                out = NULL;
                break;
            }
        }
        free(keys);
    }
    return out;
}

/* ABI 2: expand() on jansson documents, without the text round trip. */
static int32_t azure_expand_tree(void *pctx, const json_t *context, const json_t *objects,
                                 json_t **out, dsvm_buf *err_out)
{
    azure_ctx *ctx = pctx;
    json_t *resources = NULL, *err = NULL, *r;
    size_t i;
    int32_t rc;

    if (!json_is_object(context) || !json_is_array(objects))
        return fail(ctx, err_out, DSVM_EINVALID,
                    json_string("expand: context must be a JSON object and objects a JSON array"));
    rc = az_expand(&resources, context, objects, &err);
    if (rc < 0)
        return fail(ctx, err_out, rc, err);
    /* one resource at a time, so that the copy never doubles the memory */
    json_array_foreach(resources, i, r)
    {
        if (json_array_set_new(resources, i, sorted_copy(r)) < 0) {
            json_decref(resources);
            return DSVM_ENOMEM;
        }
    }
    *out = resources;
    return 0;
}

static int32_t azure_describe_reads(void *pctx, const char *scope_json, dsvm_buf *out)
{
    azure_ctx *ctx = pctx;
    json_t *scope = json_loads(scope_json ? scope_json : "", 0, NULL);
    json_t *reqs = NULL, *err = NULL;
    int32_t rc;

    if (!json_is_object(scope)) {
        json_decref(scope);
        return fail(ctx, out, DSVM_EINVALID,
                    json_string("describe_reads: scope must be a JSON object"));
    }
    rc = az_describe_reads(&reqs, scope, &err);
    json_decref(scope);
    if (rc < 0)
        return err ? fail(ctx, out, rc, err) : rc;
    return emit(ctx, out, reqs);
}

static int32_t azure_classify(void *pctx, const char *request_json, int32_t status,
                              const char *body, size_t body_len, dsvm_buf *out, int32_t *out_class)
{
    azure_ctx *ctx = pctx;
    json_t *doc = NULL;
    int32_t klass;
    int rc;

    (void)request_json;
    rc = az_classify(&klass, &doc, status, body, body_len);
    if (rc < 0)
        return rc;
    *out_class = klass;
    return doc ? emit(ctx, out, doc) : 0;
}

static void azure_unload(void *pctx)
{
    azure_ctx *ctx = pctx;

    ctx->host->free(ctx);
}

DSVM_PROVIDER_EXPORT int dsvm_provider_entry(const dsvm_host_api *host, uint32_t host_abi,
                                             const dsvm_provider **out);

DSVM_PROVIDER_EXPORT int dsvm_provider_entry(const dsvm_host_api *host, uint32_t host_abi,
                                             const dsvm_provider **out)
{
    azure_ctx *ctx;
    uint32_t n;

    if (host_abi != DSVM_PROVIDER_ABI)
        return DSVM_EABI;
    if (!host || host->version < 1 || !host->buf_append || !host->alloc || !host->free)
        return DSVM_EINVALID;
    ctx = host->alloc(sizeof(*ctx));
    if (!ctx)
        return DSVM_ENOMEM;
    memset(ctx, 0, sizeof(*ctx));
    ctx->host = host;
    ctx->desc.version = DSVM_PROVIDER_VERSION;
    ctx->desc.name = "azure";
    ctx->desc.release = AZURE_RELEASE;
    ctx->desc.ctx = ctx;
    ctx->desc.types = az_types(&n);
    ctx->desc.n_types = n;
    ctx->desc.expand = azure_expand;
    ctx->desc.describe_reads = azure_describe_reads;
    ctx->desc.classify = azure_classify;
    ctx->desc.unload = azure_unload;
    ctx->desc.jansson_major = JANSSON_MAJOR_VERSION;
    ctx->desc.expand_tree = azure_expand_tree;
    *out = &ctx->desc;
    return 0;
}
