/* armsim entry point: command line, start-up and shutdown. */
#include "armsim.h"
#include "http.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <openssl/rand.h>

static const char usage[] =
    "usage: armsim --listen HOST:PORT [options]\n"
    "\n"
    "A local emulator of Azure Resource Manager, Entra ID tokens, IMDS and the Key Vault\n"
    "secrets data plane, for tests, benchmarks and demos.\n"
    "\n"
    "  --listen HOST:PORT       address to serve (port 0 picks a free port)\n"
    "  --state FILE             keep all state in this SQLite file (default: memory)\n"
    "  --tls-cert F --tls-key F serve HTTPS with this PEM certificate and key\n"
    "  --latency-ms N           delay every ARM and Key Vault answer by N ms\n"
    "  --lro-ms N               time a long-running operation takes (default 1000)\n"
    "  --throttle SPEC          off, or reads=250/25,writes=200/10,deletes=200/10 (default)\n"
    "  --page-size N            list page size (default 100)\n"
    "  --fault JSON             add a fault rule (repeatable; see README.md)\n"
    "  --client ID:SECRET       register a service principal (repeatable)\n"
    "  --federated ID           accept client_assertion JWTs for ID (repeatable)\n"
    "  --token-ttl SECONDS      lifetime of issued tokens (default 3600)\n"
    "  --kv-authz               the Key Vault data plane checks access policies or RBAC\n"
    "  --principal-lag-ms N     role assignments to an identity younger than N ms fail\n"
    "                           with PrincipalNotFound, like Entra replication (default 0)\n"
    "  --quota NAME=N           limit of compute usage NAME (a family such as\n"
    "                           standardNCSv3Family, or cores) in every location;\n"
    "                           repeatable (default 1000000 for every usage)\n"
    "  --unregistered-feature NS/NAME\n"
    "                           start with this feature (Microsoft.Features) not\n"
    "                           registered, e.g. Microsoft.Compute/EncryptionAtHost;\n"
    "                           repeatable (default: every feature is registered)\n"
    "  --threads N              server threads (default 2)\n"
    "  --help                   show this help\n"
    "\n"
    "The first line on stdout is \"armsim listening on URL\".\n";

static int parse_uint(const char *opt, const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *s == '\0' || *end != '\0' || v > max || *s == '-') {
        fprintf(stderr, "armsim: %s needs a number up to %lu, got \"%s\"\n", opt, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Loads the token signing key from the state, or makes and saves a new one. */
static int init_key(struct ctx *c)
{
    if (store_meta_get(c, "signing_key", c->key, sizeof(c->key)) == 0)
        return 0;
    if (RAND_bytes(c->key, sizeof(c->key)) != 1) {
        fprintf(stderr, "armsim: no random bytes for the signing key\n");
        return -1;
    }
    return store_meta_put(c, "signing_key", c->key, sizeof(c->key));
}

static void ctx_free(struct ctx *c)
{
    for (size_t i = 0; i < c->nsubs; i++)
        free(c->subs[i].sub);
    free(c->subs);
    for (size_t i = 0; i < c->nclients; i++) {
        free(c->clients[i].id);
        free(c->clients[i].secret);
    }
    free(c->clients);
    for (size_t i = 0; i < c->nfaults; i++) {
        free(c->faults[i].method);
        free(c->faults[i].type);
        free(c->faults[i].name);
        json_decref(c->faults[i].json);
    }
    free(c->faults);
    for (size_t i = 0; i < c->nquotas; i++)
        free(c->quotas[i].name);
    free(c->quotas);
    for (size_t i = 0; i < c->nfeatures_off; i++)
        free(c->features_off[i]);
    free(c->features_off);
    json_decref(c->stats);
    json_decref(c->token_stats);
    json_decref(c->kv_stats);
    json_decref(c->writes);
    free(c->base_url);
    free(c->tok_cache);
    free(c->tok_appid);
    free(c->tok_oid);
    free(c->tok_aud);
    store_close(c);
    pthread_mutex_destroy(&c->lock);
}

int main(int argc, char **argv)
{
    struct ctx c;
    struct http *h = NULL;
    const char *listen = NULL, *state = NULL, *cert = NULL, *key = NULL;
    const char **faults = NULL;
    size_t nfaults = 0;
    unsigned long v, threads = 2;
    char *host = NULL;
    const char *colon;
    int port, bound = 0, rc = 1;
    sigset_t sigs;
    int sig;
    unsigned char seed[8];

    memset(&c, 0, sizeof(c));
    pthread_mutex_init(&c.lock, NULL);
    c.lro_ms = 1000;
    c.page_size = 100;
    c.token_ttl = 3600;
    c.throttle_on = 1;
    throttle_parse(&c, "reads=250/25,writes=200/10,deletes=200/10");
    stats_reset(&c);
    if (RAND_bytes(seed, sizeof(seed)) != 1)
        memcpy(seed, &(int64_t){now_ms()}, sizeof(seed));
    memcpy(&c.rng, seed, sizeof(seed));
    c.rng |= 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *arg = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            rc = 0;
            goto out;
        }
        if (strcmp(a, "--kv-authz") == 0) {
            c.kv_authz = 1;
            continue;
        }
        if (!arg) {
            fprintf(stderr, "armsim: unknown or incomplete option %s; see --help\n", a);
            goto out;
        }
        i++;
        if (strcmp(a, "--listen") == 0)
            listen = arg;
        else if (strcmp(a, "--state") == 0)
            state = arg;
        else if (strcmp(a, "--tls-cert") == 0)
            cert = arg;
        else if (strcmp(a, "--tls-key") == 0)
            key = arg;
        else if (strcmp(a, "--latency-ms") == 0) {
            if (parse_uint(a, arg, 600000, &v) < 0)
                goto out;
            c.latency_ms = (unsigned)v;
        } else if (strcmp(a, "--lro-ms") == 0) {
            if (parse_uint(a, arg, 86400000, &v) < 0)
                goto out;
            c.lro_ms = (unsigned)v;
        } else if (strcmp(a, "--page-size") == 0) {
            if (parse_uint(a, arg, 100000, &v) < 0 || v == 0) {
                fprintf(stderr, "armsim: --page-size must be at least 1\n");
                goto out;
            }
            c.page_size = (unsigned)v;
        } else if (strcmp(a, "--token-ttl") == 0) {
            if (parse_uint(a, arg, 100000000, &v) < 0)
                goto out;
            c.token_ttl = (long)v;
        } else if (strcmp(a, "--principal-lag-ms") == 0) {
            if (parse_uint(a, arg, 3600000, &v) < 0)
                goto out;
            c.principal_lag_ms = (unsigned)v;
        } else if (strcmp(a, "--threads") == 0) {
            if (parse_uint(a, arg, 64, &v) < 0 || v == 0)
                goto out;
            threads = v;
        } else if (strcmp(a, "--throttle") == 0) {
            if (throttle_parse(&c, arg) < 0)
                goto out;
        } else if (strcmp(a, "--fault") == 0) {
            const char **nf = realloc(faults, (nfaults + 1) * sizeof(*nf));
            if (!nf)
                goto out;
            faults = nf;
            faults[nfaults++] = arg;
        } else if (strcmp(a, "--quota") == 0) {
            if (quota_add(&c, arg) < 0)
                goto out;
        } else if (strcmp(a, "--unregistered-feature") == 0) {
            if (feature_add_unregistered(&c, arg) < 0)
                goto out;
        } else if (strcmp(a, "--client") == 0) {
            if (auth_add_client(&c, arg, 0) < 0)
                goto out;
        } else if (strcmp(a, "--federated") == 0) {
            if (auth_add_client(&c, arg, 1) < 0)
                goto out;
        } else {
            fprintf(stderr, "armsim: unknown option %s; see --help\n", a);
            goto out;
        }
    }
    if (!listen) {
        fprintf(stderr, "armsim: --listen HOST:PORT is required; see --help\n");
        goto out;
    }
    if (!cert != !key) {
        fprintf(stderr, "armsim: --tls-cert and --tls-key go together\n");
        goto out;
    }
    colon = strrchr(listen, ':');
    if (!colon || parse_uint("--listen port", colon + 1, 65535, &v) < 0) {
        fprintf(stderr, "armsim: --listen needs HOST:PORT, got \"%s\"\n", listen);
        goto out;
    }
    port = (int)v;
    host = strndup(listen, (size_t)(colon - listen));
    for (size_t i = 0; i < nfaults; i++) {
        char *err = NULL;
        if (fault_add(&c, faults[i], &err) < 0) {
            fprintf(stderr, "armsim: --fault %s: %s\n", faults[i], err);
            free(err);
            goto out;
        }
    }
    if (c.nclients == 0) {
        auth_add_client(&c, "dsvmops-demo:demo-secret", 0);
        fprintf(stderr, "armsim: no --client given; registered client dsvmops-demo with "
                        "secret demo-secret\n");
    }
    if (store_open(&c, state) < 0 || init_key(&c) < 0)
        goto out;
    raise_fd_limit();

    /* Block the stop signals in every thread; the main thread waits for them. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (http_start(&c, host, port, cert, key, (unsigned)threads, &h, &bound) < 0)
        goto out;
    c.base_url = xasprintf("%s://%s:%d", cert ? "https" : "http", host, bound);
    printf("armsim listening on %s\n", c.base_url);
    fflush(stdout);

    while (sigwait(&sigs, &sig) != 0)
        ;
    fprintf(stderr, "armsim: stopping on signal %d\n", sig);
    rc = 0;
out:
    http_stop(h);
    free(host);
    free(faults);
    ctx_free(&c);
    return rc;
}
