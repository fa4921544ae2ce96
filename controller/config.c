/*
 * dsvmops.yaml: parse with libyaml's document API, walk the node tree with
 * one key table per mapping, collect every problem as
 * "path:line:col: error: ..." and only then fill in the environment and the
 * defaults.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "fmt.h"
#include "config.h"
#include "dsvmops/error.h"
#include "http.h"

extern char **environ;

#define DEFAULT_RESOURCE_MANAGER "https://management.azure.com"
#define DEFAULT_AUTHORITY        "https://login.microsoftonline.com"
#define DEFAULT_IMDS             "http://169.254.169.254/metadata/identity/oauth2/token"
#define DEFAULT_WEBHOOK_ENV      "DSVMOPS_WEBHOOK_SECRET"

/* One problem found, kept until all are sorted by position. */
typedef struct {
    unsigned long line, column;
    int seq;
    char *text;
} problem;

/* The parse context. Problems accumulate in `errs`. */
typedef struct {
    yaml_document_t doc;
    const char *shown_path; /* the path as the user gave it, for messages */
    const char *dir;        /* directory of the file, absolute */
    char *const *envp;
    problem *errs;
    size_t nerrs_cap;
    int nerrors;
    int oom;
} ctx;

static const char *env_get(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    const char *v = NULL;

    if (!envp)
        envp = environ;
    for (; envp && *envp; envp++) {
        if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=') {
            v = *envp + n + 1;
            break;
        }
    }
    return v && *v ? v : NULL;
}

static void add_error(ctx *c, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record "path:line:col: error: message" for `node` (NULL: line 1). */
static void add_error(ctx *c, const yaml_node_t *node, const char *fmt, ...)
{
    va_list ap;
    char *msg, *line;
    problem *p;
    unsigned long ln = node ? (unsigned long)node->start_mark.line + 1 : 1UL;
    unsigned long col = node ? (unsigned long)node->start_mark.column + 1 : 1UL;

    va_start(ap, fmt);
    msg = dsvm_vfmt(fmt, ap);
    va_end(ap);
    if (!msg) {
        c->oom = 1;
        return;
    }
    line = dsvm_fmt("%s:%lu:%lu: error: %s", c->shown_path, ln, col, msg);
    free(msg);
    if (!line) {
        c->oom = 1;
        return;
    }
    if ((size_t)c->nerrors == c->nerrs_cap) {
        size_t cap = c->nerrs_cap ? c->nerrs_cap * 2 : 8;

        p = realloc(c->errs, cap * sizeof(*p));
        if (!p) {
            free(line);
            c->oom = 1;
            return;
        }
        c->errs = p;
        c->nerrs_cap = cap;
    }
    p = &c->errs[c->nerrors];
    p->line = ln;
    p->column = col;
    p->seq = c->nerrors;
    p->text = line;
    c->nerrors++;
}

static int problem_cmp(const void *a, const void *b)
{
    const problem *x = a, *y = b;

    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return x->seq - y->seq;
}

/* All problems in file order, one per line, as the error message. */
static void report_problems(ctx *c)
{
    size_t total = 1;
    char *all, *p;
    int i;

    qsort(c->errs, (size_t)c->nerrors, sizeof(*c->errs), problem_cmp);
    for (i = 0; i < c->nerrors; i++)
        total += strlen(c->errs[i].text) + 1;
    all = malloc(total);
    if (!all) {
        dsvm_error_oom();
        return;
    }
    p = all;
    for (i = 0; i < c->nerrors; i++) {
        size_t n = strlen(c->errs[i].text);

        if (i)
            *p++ = '\n';
        memcpy(p, c->errs[i].text, n);
        p += n;
    }
    *p = '\0';
    dsvm_error_set(DSVM_ERRCLASS_CONFIG, "%s", all);
    free(all);
}

static yaml_node_t *node_at(ctx *c, int id)
{
    return yaml_document_get_node(&c->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Levenshtein distance, for "did you mean" hints on short keys. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i, j, best;
    size_t *row = calloc(lb + 1, sizeof(*row));

    if (!row)
        return SIZE_MAX;
    for (j = 0; j <= lb; j++)
        row[j] = j;
    for (i = 1; i <= la; i++) {
        size_t diag = row[0];

        row[0] = i;
        for (j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost =
                tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t v = diag + cost;

            if (row[j] + 1 < v)
                v = row[j] + 1;
            if (row[j - 1] + 1 < v)
                v = row[j - 1] + 1;
            row[j] = v;
            diag = up;
        }
    }
    best = row[lb];
    free(row);
    return best;
}

/* Compare ignoring case, '_' and '-', so clientId matches client_id. */
static int loose_equal(const char *a, const char *b)
{
    for (;;) {
        while (*a == '_' || *a == '-')
            a++;
        while (*b == '_' || *b == '-')
            b++;
        if (!*a || !*b)
            return *a == *b;
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return 0;
        a++;
        b++;
    }
}

static const char *suggest(const char *key, const char *const *known)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX, limit = strlen(key) / 3 + 1, d;

    if (limit < 2)
        limit = 2;
    for (; *known; known++) {
        if (loose_equal(key, *known))
            return *known;
        d = edit_distance(key, *known);
        if (d <= limit && d < best_d) {
            best = *known;
            best_d = d;
        }
    }
    return best;
}

static int known_has(const char *const *known, const char *key)
{
    for (; *known; known++)
        if (strcmp(*known, key) == 0)
            return 1;
    return 0;
}

/*
 * Check every key of mapping `map` against `known`. A key whose `_env` or
 * `_file` form is known holds a literal secret and is refused with the form
 * to write instead; any other unknown key gets a "did you mean" hint.
 */
static void check_keys(ctx *c, yaml_node_t *map, const char *section, const char *const *known)
{
    yaml_node_pair_t *p;

    for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node_at(c, p->key);
        const char *key = scalar(kn);
        char env_form[128], file_form[128];
        const char *hint;

        if (!key) {
            add_error(c, kn, "keys in %s must be plain strings", section);
            continue;
        }
        if (known_has(known, key)) {
            yaml_node_pair_t *q;

            for (q = map->data.mapping.pairs.start; q < p; q++) {
                const char *earlier = scalar(node_at(c, q->key));

                if (earlier && strcmp(earlier, key) == 0) {
                    add_error(c, kn, "%s.%s is given twice; keep one", section, key);
                    break;
                }
            }
            continue;
        }
        snprintf(env_form, sizeof(env_form), "%s_env", key);
        snprintf(file_form, sizeof(file_form), "%s_file", key);
        if (strlen(key) < 100 && (known_has(known, env_form) || known_has(known, file_form))) {
            add_error(c, kn,
                      "%s.%s would put a secret in the configuration file; name where it is "
                      "instead: \"%s: VARIABLE\" (an environment variable) or \"%s: PATH\" "
                      "(a file)",
                      section, key, env_form, file_form);
            continue;
        }
        hint = suggest(key, known);
        if (hint)
            add_error(c, kn, "unknown key \"%s\" in %s; did you mean \"%s\"?", key, section, hint);
        else
            add_error(c, kn, "unknown key \"%s\" in %s", key, section);
    }
}

static yaml_node_t *get(ctx *c, yaml_node_t *map, const char *key)
{
    yaml_node_pair_t *p;

    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const char *k = scalar(node_at(c, p->key));

        if (k && strcmp(k, key) == 0)
            return node_at(c, p->value);
    }
    return NULL;
}

/* A mapping section, or NULL when absent; a non-mapping is an error. */
static yaml_node_t *get_map(ctx *c, yaml_node_t *map, const char *key, const char *section)
{
    yaml_node_t *n = get(c, map, key);

    if (!n)
        return NULL;
    if (n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0)
        return NULL;
    if (n->type != YAML_MAPPING_NODE) {
        add_error(c, n, "%s must be a mapping", section);
        return NULL;
    }
    return n;
}

static char *dup_or_oom(ctx *c, const char *s)
{
    char *d = strdup(s);

    if (!d)
        c->oom = 1;
    return d;
}

/* A scalar string; a mapping or sequence is an error. Returns the node. */
static yaml_node_t *get_str(ctx *c, yaml_node_t *map, const char *key, const char *section,
                            char **out)
{
    yaml_node_t *n = get(c, map, key);

    if (!n)
        return NULL;
    if (n->type != YAML_SCALAR_NODE) {
        add_error(c, n, "%s.%s must be a string", section, key);
        return NULL;
    }
    free(*out);
    *out = dup_or_oom(c, scalar(n));
    return n;
}

static void get_value(ctx *c, yaml_node_t *map, const char *key, const char *section,
                      dsvm_config_value *out)
{
    yaml_node_t *n = get_str(c, map, key, section, &out->value);

    if (n && out->value && !*out->value) {
        free(out->value);
        out->value = NULL;
        return;
    }
    if (n) {
        out->origin = DSVM_CONFIG_FILE;
        out->line = (int)n->start_mark.line + 1;
        out->column = (int)n->start_mark.column + 1;
    }
}

static void get_bool(ctx *c, yaml_node_t *map, const char *key, const char *section, int *out)
{
    yaml_node_t *n = get(c, map, key);
    const char *s = scalar(n);

    if (!n)
        return;
    if (s && (strcmp(s, "true") == 0 || strcmp(s, "True") == 0))
        *out = 1;
    else if (s && (strcmp(s, "false") == 0 || strcmp(s, "False") == 0))
        *out = 0;
    else
        add_error(c, n, "%s.%s must be true or false", section, key);
}

static void get_int(ctx *c, yaml_node_t *map, const char *key, const char *section, int lo, int hi,
                    int *out)
{
    yaml_node_t *n = get(c, map, key);
    const char *s = scalar(n);
    char *end;
    long v;

    if (!n)
        return;
    errno = 0;
    v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v < lo || v > hi) {
        add_error(c, n, "%s.%s must be a whole number from %d to %d", section, key, lo, hi);
        return;
    }
    *out = (int)v;
}

/* "30s", "5m", "1h", "250ms" or combinations such as "1m30s". */
static int parse_duration(int64_t *out, const char *s)
{
    int64_t total = 0;

    if (!*s)
        return -1;
    while (*s) {
        char *end;
        long long v;
        int64_t unit;

        if (!isdigit((unsigned char)*s))
            return -1;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || v > 1000000000LL)
            return -1;
        s = end;
        if (strncmp(s, "ms", 2) == 0) {
            unit = 1;
            s += 2;
        } else if (*s == 's') {
            unit = 1000;
            s++;
        } else if (*s == 'm') {
            unit = 60000;
            s++;
        } else if (*s == 'h') {
            unit = 3600000;
            s++;
        } else {
            return -1;
        }
        total += (int64_t)v * unit;
    }
    *out = total;
    return 0;
}

static void get_duration(ctx *c, yaml_node_t *map, const char *key, const char *section,
                         int64_t *out)
{
    yaml_node_t *n = get(c, map, key);
    const char *s = scalar(n);

    if (!n)
        return;
    if (!s || parse_duration(out, s) < 0 || *out <= 0)
        add_error(c, n, "%s.%s must be a duration such as \"30s\", \"5m\" or \"1h\"", section, key);
}

/* Make `p` absolute: "~/" is $HOME, a relative path is relative to the file. */
static char *resolve_path(ctx *c, const char *p)
{
    const char *home;
    char *r;

    if (p[0] == '/')
        return dup_or_oom(c, p);
    if (p[0] == '~' && p[1] == '/') {
        home = env_get(c->envp, "HOME");
        r = dsvm_fmt("%s%s", home ? home : "", p + 1);
    } else {
        if (p[0] == '.' && p[1] == '/')
            p += 2;
        r = dsvm_fmt("%s/%s", c->dir, p);
    }
    if (!r)
        c->oom = 1;
    return r;
}

static void resolve_in_place(ctx *c, char **p)
{
    char *r;

    if (!*p)
        return;
    if (!**p) {
        free(*p);
        *p = NULL;
        return;
    }
    r = resolve_path(c, *p);
    free(*p);
    *p = r;
}

static void get_secret(ctx *c, yaml_node_t *map, const char *base, const char *section,
                       dsvm_config_secret *out)
{
    char key[64];

    snprintf(key, sizeof(key), "%s_env", base);
    get_str(c, map, key, section, &out->env);
    snprintf(key, sizeof(key), "%s_file", base);
    get_str(c, map, key, section, &out->file);
    resolve_in_place(c, &out->file);
    if (out->env && out->file) {
        add_error(c, get(c, map, key), "%s: give %s_env or %s_file, not both", section, base, base);
    }
}

static void parse_source(ctx *c, dsvm_config *cfg, yaml_node_t *root)
{
    static const char *const keys[] = {"url", "ref", "path", "interval", "auth", NULL};
    static const char *const auth_keys[] = {"username",     "password_env",     "password_file",
                                            "ssh_key_file", "known_hosts_file", NULL};
    yaml_node_t *m = get_map(c, root, "source", "source"), *a;

    if (!m)
        return;
    check_keys(c, m, "source", keys);
    get_str(c, m, "url", "source", &cfg->source.url);
    get_str(c, m, "ref", "source", &cfg->source.ref);
    get_str(c, m, "path", "source", &cfg->source.path);
    get_duration(c, m, "interval", "source", &cfg->source.interval_ms);
    if (cfg->source.url && !strstr(cfg->source.url, "://") &&
        strncmp(cfg->source.url, "git@", 4) != 0)
        resolve_in_place(c, &cfg->source.url);
    a = get_map(c, m, "auth", "source.auth");
    if (!a)
        return;
    check_keys(c, a, "source.auth", auth_keys);
    get_str(c, a, "username", "source.auth", &cfg->source.auth.username);
    get_secret(c, a, "password", "source.auth", &cfg->source.auth.password);
    get_str(c, a, "ssh_key_file", "source.auth", &cfg->source.auth.ssh_key_file);
    get_str(c, a, "known_hosts_file", "source.auth", &cfg->source.auth.known_hosts_file);
    resolve_in_place(c, &cfg->source.auth.ssh_key_file);
    resolve_in_place(c, &cfg->source.auth.known_hosts_file);
}

static const char *const credential_words[] = {"client_secret", "managed_identity",
                                               "workload_identity", NULL};

const char *dsvm_config_credential_name(dsvm_credential_kind kind)
{
    return (unsigned)kind < 3 ? credential_words[kind] : "unknown";
}

const char *dsvm_config_origin_name(dsvm_config_origin origin)
{
    switch (origin) {
    case DSVM_CONFIG_DEFAULT:
        return "default";
    case DSVM_CONFIG_FILE:
        return "file";
    case DSVM_CONFIG_ENV:
        return "env";
    default:
        return "unset";
    }
}

static void parse_target(ctx *c, dsvm_config *cfg, yaml_node_t *root)
{
    static const char *const keys[] = {"subscription",
                                       "tenant",
                                       "resource_manager",
                                       "authority",
                                       "imds_endpoint",
                                       "credential",
                                       "client_id",
                                       "client_secret_env",
                                       "client_secret_file",
                                       "federated_token_file",
                                       "ca_file",
                                       "audience",
                                       NULL};
    yaml_node_t *m = get_map(c, root, "target", "target");

    if (!m)
        return;
    check_keys(c, m, "target", keys);
    get_value(c, m, "subscription", "target", &cfg->target.subscription);
    get_value(c, m, "tenant", "target", &cfg->target.tenant);
    get_value(c, m, "resource_manager", "target", &cfg->target.resource_manager);
    get_value(c, m, "authority", "target", &cfg->target.authority);
    get_value(c, m, "imds_endpoint", "target", &cfg->target.imds_endpoint);
    get_value(c, m, "credential", "target", &cfg->target.credential);
    get_value(c, m, "client_id", "target", &cfg->target.client_id);
    get_value(c, m, "client_secret_env", "target", &cfg->target.client_secret_env);
    get_value(c, m, "client_secret_file", "target", &cfg->target.client_secret_file);
    get_value(c, m, "federated_token_file", "target", &cfg->target.federated_token_file);
    get_value(c, m, "ca_file", "target", &cfg->target.ca_file);
    get_value(c, m, "audience", "target", &cfg->target.audience);
    resolve_in_place(c, &cfg->target.client_secret_file.value);
    resolve_in_place(c, &cfg->target.federated_token_file.value);
    resolve_in_place(c, &cfg->target.ca_file.value);
    if (cfg->target.client_secret_env.value && cfg->target.client_secret_file.value)
        add_error(c, get(c, m, "client_secret_file"),
                  "target: give client_secret_env or client_secret_file, not both");
}

static void parse_reconcile(ctx *c, dsvm_config *cfg, yaml_node_t *root)
{
    static const char *const keys[] = {"auto_apply",  "prune",   "adopt",
                                       "self_heal",   "suspend", "parallelism",
                                       "max_deletes", "rollout", NULL};
    static const char *const rollout_keys[] = {"batch", NULL};
    yaml_node_t *m = get_map(c, root, "reconcile", "reconcile"), *r, *b;
    const char *s;

    if (!m)
        return;
    check_keys(c, m, "reconcile", keys);
    get_bool(c, m, "auto_apply", "reconcile", &cfg->reconcile.auto_apply);
    get_bool(c, m, "prune", "reconcile", &cfg->reconcile.prune);
    get_bool(c, m, "adopt", "reconcile", &cfg->reconcile.adopt);
    get_bool(c, m, "self_heal", "reconcile", &cfg->reconcile.self_heal);
    get_bool(c, m, "suspend", "reconcile", &cfg->reconcile.suspend);
    get_int(c, m, "parallelism", "reconcile", 1, 1024, &cfg->reconcile.parallelism);
    get_int(c, m, "max_deletes", "reconcile", 0, 1000000, &cfg->reconcile.max_deletes);
    r = get_map(c, m, "rollout", "reconcile.rollout");
    if (!r)
        return;
    cfg->reconcile.rollout_set = 1;
    check_keys(c, r, "reconcile.rollout", rollout_keys);
    b = get(c, r, "batch");
    s = scalar(b);
    if (!b)
        return;
    if (s && *s) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (!errno && end != s && v > 0) {
            if (*end == '%' && end[1] == '\0' && v <= 100) {
                cfg->reconcile.rollout_batch = (int)v;
                cfg->reconcile.rollout_batch_percent = 1;
                return;
            }
            if (*end == '\0' && v <= 1000000) {
                cfg->reconcile.rollout_batch = (int)v;
                cfg->reconcile.rollout_batch_percent = 0;
                return;
            }
        }
    }
    add_error(c, b,
              "reconcile.rollout.batch must be a count such as 5 or a percentage such as 20%%");
}

static void parse_alerts(ctx *c, dsvm_config *cfg, yaml_node_t *root)
{
    static const char *const keys[] = {"kind",       "url",         "url_env", "url_file",
                                       "secret_env", "secret_file", NULL};
    static const char *const kinds[] = {"webhook", "slack", "teams", NULL};
    yaml_node_t *seq = get(c, root, "alerts");
    yaml_node_item_t *it;
    size_t n;

    if (!seq || (seq->type == YAML_SCALAR_NODE && seq->data.scalar.length == 0))
        return;
    if (seq->type != YAML_SEQUENCE_NODE) {
        add_error(c, seq, "alerts must be a list");
        return;
    }
    n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (!n)
        return;
    cfg->alerts = calloc(n, sizeof(*cfg->alerts));
    if (!cfg->alerts) {
        c->oom = 1;
        return;
    }
    for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
        yaml_node_t *m = node_at(c, *it), *kn;
        dsvm_config_alert *a = &cfg->alerts[cfg->nalerts];
        char *kind = NULL;
        int k;

        if (m->type != YAML_MAPPING_NODE) {
            add_error(c, m, "each alert must be a mapping with kind and url");
            continue;
        }
        cfg->nalerts++;
        check_keys(c, m, "alerts[]", keys);
        kn = get_str(c, m, "kind", "alerts[]", &kind);
        for (k = 0; kind && kinds[k]; k++)
            if (strcmp(kinds[k], kind) == 0)
                break;
        if (!kn)
            add_error(c, m, "alerts[]: kind is required (webhook, slack or teams)");
        else if (!kind || !kinds[k])
            add_error(c, kn, "alerts[].kind must be webhook, slack or teams");
        else
            a->kind = (dsvm_alert_kind)k;
        free(kind);
        kn = get_str(c, m, "url", "alerts[]", &a->url);
        if (kn && a->kind != DSVM_ALERT_WEBHOOK)
            /* Slack and Teams webhook URLs carry their own access token */
            add_error(c, kn,
                      "alerts[].url of a %s alert would put a secret in the configuration file "
                      "(the URL carries its token); name where it is instead: \"url_env: "
                      "VARIABLE\" or \"url_file: PATH\"",
                      kinds[a->kind]);
        get_secret(c, m, "url", "alerts[]", &a->url_secret);
        get_secret(c, m, "secret", "alerts[]", &a->secret);
        if (!a->url && !a->url_secret.env && !a->url_secret.file)
            add_error(c, m, "alerts[]: give url, url_env or url_file");
    }
}

static int word_in(const char *w, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(*words, w) == 0)
            return 1;
    return 0;
}

/* "heal", "alert" or "ignore" as DSVM_DRIFT_*, or DSVM_UNSET. */
static int drift_policy_word(const char *w)
{
    static const char *const words[] = {"heal", "alert", "ignore", NULL};
    int i;

    for (i = 0; w && words[i]; i++)
        if (strcmp(words[i], w) == 0)
            return i;
    return DSVM_UNSET;
}

/* drift.policy and drift.kinds: {Kind: policy, ...} */
static void parse_drift_policies(ctx *c, dsvm_config *cfg, yaml_node_t *m)
{
    yaml_node_t *n = get(c, m, "policy"), *kinds;
    yaml_node_pair_t *p;

    if (n) {
        cfg->drift.policy = drift_policy_word(scalar(n));
        if (cfg->drift.policy == DSVM_UNSET)
            add_error(c, n, "drift.policy must be heal, alert or ignore");
    }
    kinds = get(c, m, "kinds");
    if (!kinds)
        return;
    if (kinds->type != YAML_MAPPING_NODE) {
        add_error(c, kinds, "drift.kinds must map kinds to policies, e.g. {Pool: heal}");
        return;
    }
    for (p = kinds->data.mapping.pairs.start; p < kinds->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
        dsvm_kind kind;
        int policy = drift_policy_word(scalar(v));

        if (!scalar(k) || dsvm_kind_lookup(&kind, scalar(k)) < 0 ||
            (size_t)kind >= DSVM_KIND_COUNT) {
            add_error(c, k, "drift.kinds: '%s' is not a kind (Pool, KeyVault, ...)",
                      scalar(k) ? scalar(k) : "");
            continue;
        }
        if (policy == DSVM_UNSET)
            add_error(c, v, "drift.kinds.%s must be heal, alert or ignore", scalar(k));
        else
            cfg->drift.kind_policy[kind] = policy;
    }
}

static void parse_rest(ctx *c, dsvm_config *cfg, yaml_node_t *root)
{
    static const char *const state_keys[] = {"path", NULL};
    static const char *const drift_keys[] = {"interval", "policy", "kinds", NULL};
    static const char *const server_keys[] = {
        "listen",        "webhook_secret_env", "webhook_secret_file",
        "api_token_env", "api_token_file",     NULL};
    static const char *const log_keys[] = {"level", "format", NULL};
    yaml_node_t *m;

    m = get_map(c, root, "state", "state");
    if (m) {
        check_keys(c, m, "state", state_keys);
        get_str(c, m, "path", "state", &cfg->state.path);
    }
    m = get_map(c, root, "drift", "drift");
    if (m) {
        check_keys(c, m, "drift", drift_keys);
        get_duration(c, m, "interval", "drift", &cfg->drift.interval_ms);
        parse_drift_policies(c, cfg, m);
    }
    m = get_map(c, root, "server", "server");
    if (m) {
        check_keys(c, m, "server", server_keys);
        get_str(c, m, "listen", "server", &cfg->server.listen);
        get_secret(c, m, "webhook_secret", "server", &cfg->server.webhook_secret);
        get_secret(c, m, "api_token", "server", &cfg->server.api_token);
    }
    m = get_map(c, root, "log", "log");
    if (m) {
        static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
        static const char *const formats[] = {"text", "json", NULL};
        yaml_node_t *n;

        check_keys(c, m, "log", log_keys);
        n = get_str(c, m, "level", "log", &cfg->log.level);
        if (n && cfg->log.level && !word_in(cfg->log.level, levels))
            add_error(c, n, "log.level must be debug, info, warn or error");
        n = get_str(c, m, "format", "log", &cfg->log.format);
        if (n && cfg->log.format && !word_in(cfg->log.format, formats))
            add_error(c, n, "log.format must be text or json");
    }
}

/* Fill an unset value from the environment variable `env`, else `def`. */
static void fill(ctx *c, dsvm_config_value *v, const char *env, const char *def)
{
    const char *e;

    if (v->value)
        return;
    e = env ? env_get(c->envp, env) : NULL;
    if (e) {
        v->value = dup_or_oom(c, e);
        v->origin = DSVM_CONFIG_ENV;
        v->env_name = env;
    } else if (def) {
        v->value = dup_or_oom(c, def);
        v->origin = DSVM_CONFIG_DEFAULT;
    }
}

static void strip_trailing_slash(char *s)
{
    size_t n;

    if (!s)
        return;
    n = strlen(s);
    while (n > 0 && s[n - 1] == '/' && !(n >= 3 && s[n - 2] == '/' && s[n - 3] == ':'))
        s[--n] = '\0';
}

static yaml_node_t *value_node(ctx *c, yaml_node_t *root, const char *key)
{
    yaml_node_t *t = get(c, root, "target");
    yaml_node_t *v = t ? get(c, t, key) : NULL;

    return v ? v : t;
}

/* Endpoints must be https://, or http:// on a loopback address. */
static void check_endpoint(ctx *c, yaml_node_t *root, const char *key, dsvm_config_value *v,
                           unsigned flags)
{
    if (!v->value)
        return;
    if (dsvm_http_check_url(v->value, flags) < 0)
        add_error(c, v->origin == DSVM_CONFIG_FILE ? value_node(c, root, key) : NULL,
                  "target.%s%s%s: %s", key, v->origin == DSVM_CONFIG_ENV ? " from " : "",
                  v->origin == DSVM_CONFIG_ENV ? v->env_name : "", dsvm_error_last()->message);
}

static void finish_target(ctx *c, dsvm_config *cfg, yaml_node_t *root)
{
    dsvm_config_value *cred = &cfg->target.credential;
    yaml_node_t *tnode = get(c, root, "target");
    const char *secret_env;
    int k;

    fill(c, &cfg->target.subscription, "AZURE_SUBSCRIPTION_ID", NULL);
    fill(c, &cfg->target.tenant, "AZURE_TENANT_ID", NULL);
    fill(c, &cfg->target.client_id, "AZURE_CLIENT_ID", NULL);
    fill(c, &cfg->target.authority, "AZURE_AUTHORITY_HOST", DEFAULT_AUTHORITY);
    fill(c, &cfg->target.resource_manager, NULL, DEFAULT_RESOURCE_MANAGER);
    fill(c, &cfg->target.imds_endpoint, NULL, DEFAULT_IMDS);
    if (!cfg->target.federated_token_file.value) {
        fill(c, &cfg->target.federated_token_file, "AZURE_FEDERATED_TOKEN_FILE", NULL);
        resolve_in_place(c, &cfg->target.federated_token_file.value);
    }
    secret_env = env_get(c->envp, "AZURE_CLIENT_SECRET");
    if (!cfg->target.client_secret_env.value && !cfg->target.client_secret_file.value &&
        secret_env) {
        /* the variable's name, not its value, is what the config keeps */
        cfg->target.client_secret_env.value = dup_or_oom(c, "AZURE_CLIENT_SECRET");
        cfg->target.client_secret_env.origin = DSVM_CONFIG_ENV;
        cfg->target.client_secret_env.env_name = "AZURE_CLIENT_SECRET";
    }
    strip_trailing_slash(cfg->target.authority.value);
    strip_trailing_slash(cfg->target.resource_manager.value);

    if (cred->value) {
        for (k = 0; credential_words[k]; k++)
            if (strcmp(credential_words[k], cred->value) == 0)
                break;
        if (!credential_words[k]) {
            add_error(c, value_node(c, root, "credential"),
                      "target.credential must be client_secret, managed_identity or "
                      "workload_identity");
            return;
        }
        cfg->target.credential_kind = (dsvm_credential_kind)k;
    } else {
        if (cfg->target.client_secret_env.value || cfg->target.client_secret_file.value)
            cfg->target.credential_kind = DSVM_CREDENTIAL_CLIENT_SECRET;
        else if (cfg->target.federated_token_file.value)
            cfg->target.credential_kind = DSVM_CREDENTIAL_WORKLOAD_IDENTITY;
        else
            cfg->target.credential_kind = DSVM_CREDENTIAL_MANAGED_IDENTITY;
        cred->value = dup_or_oom(c, credential_words[cfg->target.credential_kind]);
        cred->origin = DSVM_CONFIG_DEFAULT;
    }

    if (!cfg->target.audience.value) {
        const char *rm = cfg->target.resource_manager.value;

        /* a loopback emulator stands in for ARM and expects ARM's audience */
        if (rm && strncmp(rm, "http://", 7) == 0)
            fill(c, &cfg->target.audience, NULL, DEFAULT_RESOURCE_MANAGER);
        else
            fill(c, &cfg->target.audience, NULL, rm);
    }
    strip_trailing_slash(cfg->target.audience.value);

    if (!cfg->target.subscription.value)
        add_error(c, tnode,
                  "target.subscription is not set; add \"subscription: GUID\" under target "
                  "or set AZURE_SUBSCRIPTION_ID");
    if (cfg->target.credential_kind != DSVM_CREDENTIAL_MANAGED_IDENTITY) {
        if (!cfg->target.tenant.value)
            add_error(c, tnode,
                      "target.tenant is not set; credential %s needs it: add \"tenant: GUID\" "
                      "under target or set AZURE_TENANT_ID",
                      cred->value ? cred->value : "?");
        if (!cfg->target.client_id.value)
            add_error(c, tnode,
                      "target.client_id is not set; credential %s needs it: add "
                      "\"client_id: ID\" under target or set AZURE_CLIENT_ID",
                      cred->value ? cred->value : "?");
    }
    if (cfg->target.credential_kind == DSVM_CREDENTIAL_CLIENT_SECRET &&
        !cfg->target.client_secret_env.value && !cfg->target.client_secret_file.value)
        add_error(c, tnode,
                  "credential client_secret needs a secret: add \"client_secret_env: "
                  "VARIABLE\" or \"client_secret_file: PATH\" under target, or set "
                  "AZURE_CLIENT_SECRET");
    if (cfg->target.credential_kind == DSVM_CREDENTIAL_WORKLOAD_IDENTITY &&
        !cfg->target.federated_token_file.value)
        add_error(c, tnode,
                  "credential workload_identity needs a token file: add "
                  "\"federated_token_file: PATH\" under target or set "
                  "AZURE_FEDERATED_TOKEN_FILE");
    check_endpoint(c, root, "resource_manager", &cfg->target.resource_manager, 0);
    check_endpoint(c, root, "authority", &cfg->target.authority, 0);
    check_endpoint(c, root, "imds_endpoint", &cfg->target.imds_endpoint, DSVM_HTTP_IMDS);
}

static void set_defaults(dsvm_config *cfg)
{
    cfg->source.interval_ms = 30000;
    cfg->reconcile.auto_apply = 1;
    cfg->reconcile.parallelism = 32;
    cfg->reconcile.max_deletes = 10;
    cfg->reconcile.rollout_batch = 20;
    cfg->reconcile.rollout_batch_percent = 1;
    cfg->drift.interval_ms = 60000;
    cfg->drift.policy = DSVM_UNSET;
    for (size_t k = 0; k < sizeof(cfg->drift.kind_policy) / sizeof(cfg->drift.kind_policy[0]); k++)
        cfg->drift.kind_policy[k] = DSVM_UNSET;
}

static void finish_rest(ctx *c, dsvm_config *cfg)
{
    if (!cfg->source.ref)
        cfg->source.ref = dup_or_oom(c, "main");
    if (!cfg->state.path)
        cfg->state.path = dup_or_oom(c, "dsvmops-state.db");
    resolve_in_place(c, &cfg->state.path);
    if (!cfg->server.listen)
        cfg->server.listen = dup_or_oom(c, "127.0.0.1:9464");
    if (!cfg->server.webhook_secret.env && !cfg->server.webhook_secret.file)
        cfg->server.webhook_secret.env = dup_or_oom(c, DEFAULT_WEBHOOK_ENV);
    if (!cfg->server.api_token.env && !cfg->server.api_token.file)
        cfg->server.api_token.env = dup_or_oom(c, "DSVMOPS_API_TOKEN");
}

static void value_clear(dsvm_config_value *v)
{
    free(v->value);
}

static void secret_clear(dsvm_config_secret *s)
{
    free(s->env);
    free(s->file);
}

void dsvm_config_free(dsvm_config *cfg)
{
    size_t i;

    if (!cfg)
        return;
    free(cfg->source.url);
    free(cfg->source.ref);
    free(cfg->source.path);
    free(cfg->source.auth.username);
    secret_clear(&cfg->source.auth.password);
    free(cfg->source.auth.ssh_key_file);
    free(cfg->source.auth.known_hosts_file);
    value_clear(&cfg->target.subscription);
    value_clear(&cfg->target.tenant);
    value_clear(&cfg->target.resource_manager);
    value_clear(&cfg->target.authority);
    value_clear(&cfg->target.imds_endpoint);
    value_clear(&cfg->target.credential);
    value_clear(&cfg->target.client_id);
    value_clear(&cfg->target.client_secret_env);
    value_clear(&cfg->target.client_secret_file);
    value_clear(&cfg->target.federated_token_file);
    value_clear(&cfg->target.ca_file);
    value_clear(&cfg->target.audience);
    free(cfg->state.path);
    for (i = 0; i < cfg->nalerts; i++) {
        free(cfg->alerts[i].url);
        secret_clear(&cfg->alerts[i].url_secret);
        secret_clear(&cfg->alerts[i].secret);
    }
    free(cfg->alerts);
    free(cfg->server.listen);
    secret_clear(&cfg->server.webhook_secret);
    secret_clear(&cfg->server.api_token);
    free(cfg->log.level);
    free(cfg->log.format);
    free(cfg->path);
    free(cfg->dir);
    free(cfg);
}

/* Absolute path of the file and of its directory. */
static int absolute_paths(dsvm_config *cfg, const char *path)
{
    char *cwd = NULL, *slash;

    if (path[0] == '/') {
        cfg->path = strdup(path);
    } else {
        cwd = getcwd(NULL, 0);
        if (!cwd) {
            dsvm_error_set(DSVM_ERRCLASS_OS, "cannot get the working directory: %s",
                           strerror(errno));
            return DSVM_EIO;
        }
        cfg->path = dsvm_fmt("%s/%s", cwd, path[0] == '.' && path[1] == '/' ? path + 2 : path);
        free(cwd);
    }
    if (!cfg->path)
        return dsvm_error_oom();
    cfg->dir = strdup(cfg->path);
    if (!cfg->dir)
        return dsvm_error_oom();
    slash = strrchr(cfg->dir, '/');
    if (slash == cfg->dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    return 0;
}

int dsvm_config_load(dsvm_config **out, const char *path, char *const *envp)
{
    static const char *const top_keys[] = {"source", "target", "state", "reconcile", "drift",
                                           "alerts", "server", "log",   NULL};
    yaml_parser_t parser;
    dsvm_config *cfg = NULL;
    yaml_node_t *root;
    FILE *f = NULL;
    ctx c;
    int rc = 0, parser_ready = 0, doc_ready = 0, i;

    memset(&c, 0, sizeof(c));
    c.shown_path = path;
    c.envp = envp;
    cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return dsvm_error_oom();
    set_defaults(cfg);
    rc = absolute_paths(cfg, path);
    if (rc < 0)
        goto out;
    c.dir = cfg->dir;

    f = fopen(path, "rb");
    if (!f) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG, "%s: error: cannot open the configuration: %s", path,
                       strerror(errno));
        rc = DSVM_EIO;
        goto out;
    }
    if (!yaml_parser_initialize(&parser)) {
        rc = dsvm_error_oom();
        goto out;
    }
    parser_ready = 1;
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &c.doc)) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG, "%s:%lu:%lu: error: %s", path,
                       (unsigned long)parser.problem_mark.line + 1,
                       (unsigned long)parser.problem_mark.column + 1,
                       parser.problem ? parser.problem : "invalid YAML");
        rc = DSVM_EINVALID;
        goto out;
    }
    doc_ready = 1;
    root = yaml_document_get_root_node(&c.doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                       "%s:1:1: error: the configuration must be a mapping with target: and "
                       "the other sections",
                       path);
        rc = DSVM_EINVALID;
        goto out;
    }
    check_keys(&c, root, "the configuration", top_keys);
    parse_source(&c, cfg, root);
    parse_target(&c, cfg, root);
    parse_reconcile(&c, cfg, root);
    parse_alerts(&c, cfg, root);
    parse_rest(&c, cfg, root);
    if (!get_map(&c, root, "target", "target") && !c.nerrors)
        add_error(&c, root, "the configuration has no target: section");
    finish_target(&c, cfg, root);
    finish_rest(&c, cfg);
    if (c.oom) {
        rc = dsvm_error_oom();
        goto out;
    }
    if (c.nerrors) {
        report_problems(&c);
        rc = DSVM_EINVALID;
        goto out;
    }
    *out = cfg;
    cfg = NULL;
out:
    if (doc_ready)
        yaml_document_delete(&c.doc);
    if (parser_ready)
        yaml_parser_delete(&parser);
    if (f)
        fclose(f);
    for (i = 0; i < c.nerrors; i++)
        free(c.errs[i].text);
    free(c.errs);
    dsvm_config_free(cfg);
    return rc;
}

int dsvm_config_read_secret(char **out, const dsvm_config_secret *secret, const char *what,
                            char *const *envp)
{
    const char *v;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    FILE *f;

    if (secret->env) {
        v = env_get(envp, secret->env);
        if (!v) {
            dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                           "%s: the environment variable %s is not set; export it with the "
                           "secret, or name a file with %s_file",
                           what, secret->env, what);
            return DSVM_ENOTFOUND;
        }
        buf = strdup(v);
        if (!buf)
            return dsvm_error_oom();
        *out = buf;
        return 0;
    }
    if (!secret->file) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG, "%s: no secret is configured; give %s_env or %s_file",
                       what, what, what);
        return DSVM_ENOTFOUND;
    }
    f = fopen(secret->file, "rb");
    if (!f) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG, "%s: cannot read %s: %s", what, secret->file,
                       strerror(errno));
        return DSVM_EIO;
    }
    for (;;) {
        if (cap - len < 4096) {
            char *g = realloc(buf, cap + 4096 + 1);

            if (!g) {
                free(buf);
                fclose(f);
                return dsvm_error_oom();
            }
            buf = g;
            cap += 4096;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    if (!buf)
        buf = calloc(1, 1);
    if (!buf)
        return dsvm_error_oom();
    buf[len] = '\0';
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    if (!len) {
        free(buf);
        dsvm_error_set(DSVM_ERRCLASS_CONFIG, "%s: the file %s is empty", what, secret->file);
        return DSVM_ENOTFOUND;
    }
    *out = buf;
    return 0;
}

static int add_value(json_t *obj, const char *key, const dsvm_config_value *v)
{
    json_t *o;

    if (!v->value)
        return 0;
    o = json_pack("{s:s,s:s}", "value", v->value, "origin", dsvm_config_origin_name(v->origin));
    if (!o)
        return -1;
    if (v->origin == DSVM_CONFIG_FILE && v->line) {
        json_object_set_new(o, "line", json_integer(v->line));
        json_object_set_new(o, "column", json_integer(v->column));
    }
    if (v->origin == DSVM_CONFIG_ENV && v->env_name)
        json_object_set_new(o, "env", json_string(v->env_name));
    return json_object_set_new(obj, key, o);
}

json_t *dsvm_config_target_json(const dsvm_config *cfg)
{
    const struct {
        const char *key;
        const dsvm_config_value *v;
    } rows[] = {
        {"subscription", &cfg->target.subscription},
        {"tenant", &cfg->target.tenant},
        {"resource_manager", &cfg->target.resource_manager},
        {"authority", &cfg->target.authority},
        {"imds_endpoint", &cfg->target.imds_endpoint},
        {"credential", &cfg->target.credential},
        {"client_id", &cfg->target.client_id},
        {"client_secret_env", &cfg->target.client_secret_env},
        {"client_secret_file", &cfg->target.client_secret_file},
        {"federated_token_file", &cfg->target.federated_token_file},
        {"ca_file", &cfg->target.ca_file},
        {"audience", &cfg->target.audience},
    };
    json_t *obj = json_object();
    size_t i;

    if (!obj)
        return NULL;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (add_value(obj, rows[i].key, rows[i].v) < 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}
