/*
 * The provider host: dlopen() a plugin, check its ABI stamp before calling
 * anything, hand it the host services, and wrap its calls so that results
 * land in host-owned memory.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "dsvmops/error.h"
#include "provider_host.h"

struct dsvm_buf {
    char *data;
    size_t len;
    size_t cap;
};

struct dsvm_plugin {
    void *handle;
    char *path;
    dsvm_host_api host;
    const dsvm_provider *provider;
};

static int32_t host_buf_append(dsvm_buf *buf, const char *data, size_t len)
{
    if (len > SIZE_MAX - buf->len - 1)
        return DSVM_ENOMEM;
    if (buf->len + len + 1 > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 256;
        char *p;

        while (cap < buf->len + len + 1)
            cap *= 2;
        p = realloc(buf->data, cap);
        if (!p)
            return DSVM_ENOMEM;
        buf->data = p;
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
    return 0;
}

static void *host_alloc(size_t size)
{
    return malloc(size);
}

static void host_free(void *ptr)
{
    free(ptr);
}

/* Providers log through the host. Until the controller's logger is wired
 * in, lines go to stderr with the provider's level. */
static void host_log(void *host_ctx, int32_t level, const char *message)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    const char *who = host_ctx;

    if (level < DSVM_LOG_ERROR || level > DSVM_LOG_DEBUG)
        level = DSVM_LOG_INFO;
    fprintf(stderr, "provider %s: %s: %s\n", who ? who : "?", names[level], message);
}

static uint64_t host_clock_ms(void *host_ctx)
{
    struct timespec ts;

    (void)host_ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int dsvm_provider_dir_default(char **out)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash, *dir;
    size_t len;

    if (n <= 0) {
        dsvm_error_set(DSVM_ERRCLASS_OS,
                       "cannot find the program's own path; pass --provider-dir DIR");
        return DSVM_ENOTFOUND;
    }
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (!slash) {
        dsvm_error_set(DSVM_ERRCLASS_OS, "unexpected program path '%s'", exe);
        return DSVM_ENOTFOUND;
    }
    *slash = '\0';
    len = strlen(exe) + sizeof("/../lib/dsvmops");
    dir = malloc(len);
    if (!dir)
        return dsvm_error_oom();
    snprintf(dir, len, "%s/../lib/dsvmops", exe);
    *out = dir;
    return 0;
}

static char *plugin_path(const char *dir, const char *name)
{
    size_t len;
    char *path;

    if (strchr(name, '/'))
        return strdup(name);
    len = strlen(dir) + strlen(name) + sizeof("/.so");
    path = malloc(len);
    if (path)
        snprintf(path, len, "%s/%s.so", dir, name);
    return path;
}

int dsvm_plugin_load(dsvm_plugin **out, const char *dir, const char *name)
{
    dsvm_plugin *p = calloc(1, sizeof(*p));
    const uint32_t *stamp;
    dsvm_provider_entry_fn entry;
    int rc;

    if (!p)
        return dsvm_error_oom();
    p->path = plugin_path(dir, name);
    if (!p->path) {
        rc = dsvm_error_oom();
        goto fail;
    }
    p->handle = dlopen(p->path, RTLD_NOW | RTLD_LOCAL);
    if (!p->handle) {
        dsvm_error_set(DSVM_ERRCLASS_PROVIDER,
                       "cannot load provider '%s': %s; check --provider-dir", name, dlerror());
        rc = DSVM_ENOTFOUND;
        goto fail;
    }
    stamp = dlsym(p->handle, DSVM_PROVIDER_ABI_SYMBOL);
    if (!stamp) {
        dsvm_error_set(DSVM_ERRCLASS_PROVIDER,
                       "%s is not a dsvmops provider: it has no '%s' stamp; rebuild it "
                       "against include/dsvmops/provider.h (ABI %d)",
                       p->path, DSVM_PROVIDER_ABI_SYMBOL, DSVM_PROVIDER_ABI);
        rc = DSVM_EABI;
        goto fail;
    }
    if (*stamp != DSVM_PROVIDER_ABI) {
        dsvm_error_set(DSVM_ERRCLASS_PROVIDER,
                       "%s was built for provider ABI %u, but this dsvmops speaks ABI %d; "
                       "rebuild the provider against this version's include/dsvmops/provider.h",
                       p->path, (unsigned)*stamp, DSVM_PROVIDER_ABI);
        rc = DSVM_EABI;
        goto fail;
    }
    *(void **)&entry = dlsym(p->handle, DSVM_PROVIDER_ENTRY);
    if (!entry) {
        dsvm_error_set(DSVM_ERRCLASS_PROVIDER, "%s has no '%s' function", p->path,
                       DSVM_PROVIDER_ENTRY);
        rc = DSVM_EABI;
        goto fail;
    }
    p->host.version = DSVM_HOST_API_VERSION;
    p->host.buf_append = host_buf_append;
    p->host.alloc = host_alloc;
    p->host.free = host_free;
    p->host.log = host_log;
    p->host.clock_ms = host_clock_ms;
    p->host.host_ctx = NULL;
    rc = entry(&p->host, DSVM_PROVIDER_ABI, &p->provider);
    if (rc < 0 || !p->provider) {
        dsvm_error_set(DSVM_ERRCLASS_PROVIDER, "provider %s refused to start (code %d)", p->path,
                       rc);
        p->provider = NULL;
        rc = rc < 0 ? rc : DSVM_EABI;
        goto fail;
    }
    if (p->provider->version < 1 || !p->provider->name) {
        dsvm_error_set(DSVM_ERRCLASS_PROVIDER, "provider %s returned no valid description",
                       p->path);
        rc = DSVM_EABI;
        goto fail;
    }
    p->host.host_ctx = (void *)p->provider->name;
    *out = p;
    return 0;
fail:
    dsvm_plugin_free(p);
    return rc;
}

const dsvm_provider *dsvm_plugin_provider(const dsvm_plugin *plugin)
{
    return plugin->provider;
}

const dsvm_type_rules *dsvm_plugin_type_rules(const dsvm_plugin *plugin, const char *type)
{
    const dsvm_provider *pr = plugin->provider;
    uint32_t i;

    for (i = 0; pr->types && i < pr->n_types; i++)
        if (pr->types[i].version >= 1 && strcasecmp(pr->types[i].type, type) == 0)
            return &pr->types[i];
    return NULL;
}

/* Turn a provider failure into the last error, using the {"error": "..."}
 * document it may have written. */
static int provider_failed(const dsvm_plugin *plugin, const char *call, int rc, const dsvm_buf *buf)
{
    json_t *doc = buf->data ? json_loads(buf->data, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(doc, "error"));

    if (msg)
        dsvm_error_set(DSVM_ERRCLASS_PROVIDER, "provider %s: %s", plugin->provider->name, msg);
    else
        dsvm_error_set(DSVM_ERRCLASS_PROVIDER, "provider %s: %s failed (code %d)",
                       plugin->provider->name, call, rc);
    json_decref(doc);
    return rc < 0 ? rc : DSVM_ERROR;
}

static int finish(char **out, const dsvm_plugin *plugin, const char *call, int rc, dsvm_buf *buf)
{
    if (rc < 0) {
        rc = provider_failed(plugin, call, rc, buf);
        free(buf->data);
        return rc;
    }
    if (!buf->data && host_buf_append(buf, "", 0) < 0)
        return dsvm_error_oom();
    *out = buf->data;
    return 0;
}

int dsvm_plugin_expand(char **out, dsvm_plugin *plugin, const char *context_json,
                       const char *objects_json)
{
    dsvm_buf buf = {0};
    int rc;

    if (plugin->provider->version < 1 || !plugin->provider->expand) {
        dsvm_error_set(DSVM_ERRCLASS_PROVIDER, "provider %s does not implement expand",
                       plugin->provider->name);
        return DSVM_EINVALID;
    }
    rc = plugin->provider->expand(plugin->provider->ctx, context_json, objects_json, &buf);
    return finish(out, plugin, "expand", rc, &buf);
}

int dsvm_plugin_expand_tree(json_t **out, dsvm_plugin *plugin, const json_t *context,
                            const json_t *objects)
{
    const dsvm_provider *pr = plugin->provider;
    char *context_text = NULL, *objects_text = NULL, *text = NULL;
    json_t *res = NULL;
    json_error_t jerr;
    dsvm_buf buf = {0};
    int rc;

    if (pr->version >= 2 && pr->expand_tree && pr->jansson_major == JANSSON_MAJOR_VERSION) {
        rc = pr->expand_tree(pr->ctx, context, objects, &res, &buf);
        if (rc < 0 || !json_is_array(res)) {
            json_decref(res);
            rc = provider_failed(plugin, "expand", rc < 0 ? rc : DSVM_EINVALID, &buf);
        }
        free(buf.data);
        if (rc == 0)
            *out = res;
        return rc;
    }
    context_text = json_dumps(context, JSON_COMPACT);
    objects_text = json_dumps(objects, JSON_COMPACT);
    rc = context_text && objects_text ? 0 : dsvm_error_oom();
    if (rc == 0)
        rc = dsvm_plugin_expand(&text, plugin, context_text, objects_text);
    if (rc == 0) {
        res = json_loads(text, 0, &jerr);
        if (json_is_array(res)) {
            *out = res;
        } else {
            json_decref(res);
            dsvm_error_set(DSVM_ERRCLASS_PROVIDER, "provider expand returned invalid JSON: %s",
                           jerr.text);
            rc = DSVM_EINVALID;
        }
    }
    free(context_text);
    free(objects_text);
    free(text);
    return rc;
}

int dsvm_plugin_describe_reads(char **out, dsvm_plugin *plugin, const char *scope_json)
{
    dsvm_buf buf = {0};
    int rc;

    if (plugin->provider->version < 1 || !plugin->provider->describe_reads) {
        dsvm_error_set(DSVM_ERRCLASS_PROVIDER, "provider %s does not implement describe_reads",
                       plugin->provider->name);
        return DSVM_EINVALID;
    }
    rc = plugin->provider->describe_reads(plugin->provider->ctx, scope_json, &buf);
    return finish(out, plugin, "describe_reads", rc, &buf);
}

int dsvm_plugin_classify(int *out_class, char **out_doc, dsvm_plugin *plugin,
                         const char *request_json, int status, const char *body, size_t body_len)
{
    dsvm_buf buf = {0};
    int32_t klass = DSVM_ANSWER_FATAL;
    int rc;

    if (plugin->provider->version < 1 || !plugin->provider->classify) {
        dsvm_error_set(DSVM_ERRCLASS_PROVIDER, "provider %s does not implement classify",
                       plugin->provider->name);
        return DSVM_EINVALID;
    }
    rc = plugin->provider->classify(plugin->provider->ctx, request_json, status, body ? body : "",
                                    body_len, &buf, &klass);
    if (rc < 0)
        return finish(out_doc, plugin, "classify", rc, &buf);
    *out_class = klass;
    *out_doc = buf.data;
    return 0;
}

void dsvm_plugin_free(dsvm_plugin *plugin)
{
    if (!plugin)
        return;
    if (plugin->provider && plugin->provider->unload)
        plugin->provider->unload(plugin->provider->ctx);
    if (plugin->handle)
        dlclose(plugin->handle);
    free(plugin->path);
    free(plugin);
}
