/*
 * Tests of the manifest model: every kind parses into typed values with
 * defaults, every class of validation error is reported at the right
 * file:line:col with the right message, and hostile input ends with a clear
 * error, quickly. Fixtures are under tests/data (DSVM_TEST_DATA); large
 * hostile inputs are generated into a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "dsvmops/error.h"
#include "dsvmops/manifest.h"

/* ---- helpers ------------------------------------------------------------------ */

static const char *data_dir(void)
{
    const char *d = getenv("DSVM_TEST_DATA");

    return d ? d : "tests/data";
}

static char *data_path(const char *rel)
{
    size_t n = strlen(data_dir()) + strlen(rel) + 2;
    char *p = malloc(n);

    assert_non_null(p);
    snprintf(p, n, "%s/%s", data_dir(), rel);
    return p;
}

/* Replace every occurrence of `prefix` in `s` (in place). */
static void strip_all(char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    char *at = strstr(s, prefix);

    while (at) {
        memmove(at, at + n, strlen(at + n) + 1);
        at = strstr(s, prefix);
    }
}

/* CPU time of the process: time bounds should not depend on the machine's load. */
static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Load a fixture that must fail and compare every diagnostic, formatted as
 * the CLI prints it and with the data directory stripped, to `expected`
 * (NULL-terminated).
 */
static void expect_diags(const char *rel, const char *const *expected)
{
    char *path = data_path(rel);
    char *prefix = data_path("");
    dsvm_diags *d = NULL;
    dsvm_repo *r = NULL;
    size_t i, n = 0;
    int rc;

    while (expected[n])
        n++;
    assert_int_equal(dsvm_diags_new(&d), 0);
    rc = dsvm_repo_load(&r, path, NULL, d);
    assert_int_equal(rc, DSVM_EINVALID);
    assert_null(r);
    for (i = 0; i < dsvm_diags_count(d); i++) {
        char *line = NULL;

        assert_int_equal(dsvm_diag_format(&line, dsvm_diags_get(d, i)), 0);
        strip_all(line, prefix);
        if (i >= n || strcmp(line, expected[i]) != 0)
            fail_msg("%s: diagnostic %zu\n  got:      %s\n  expected: %s", rel, i, line,
                     i < n ? expected[i] : "(none)");
        free(line);
    }
    assert_int_equal(dsvm_diags_count(d), n);
    assert_int_equal(dsvm_diags_errors(d), n);
    dsvm_diags_free(d);
    free(prefix);
    free(path);
}

/* Load a path that must fail with one diagnostic; returns its formatted text. */
static char *one_diag(const char *path, const dsvm_limits *lim, int want_rc)
{
    dsvm_diags *d = NULL;
    dsvm_repo *r = NULL;
    char *line = NULL;

    assert_int_equal(dsvm_diags_new(&d), 0);
    assert_int_equal(dsvm_repo_load(&r, path, lim, d), want_rc);
    assert_null(r);
    assert_int_equal(dsvm_diags_count(d), 1);
    assert_int_equal(dsvm_diag_format(&line, dsvm_diags_get(d, 0)), 0);
    dsvm_diags_free(d);
    return line;
}

static dsvm_repo *load_valid(const char *rel)
{
    char *path = data_path(rel);
    dsvm_diags *d = NULL;
    dsvm_repo *r = NULL;
    int rc;

    assert_int_equal(dsvm_diags_new(&d), 0);
    rc = dsvm_repo_load(&r, path, NULL, d);
    if (rc != 0) {
        char *line = NULL;

        if (dsvm_diags_count(d))
            dsvm_diag_format(&line, dsvm_diags_get(d, 0));
        fail_msg("%s: load failed (%d): %s", rel, rc, line ? line : dsvm_error_last()->message);
    }
    assert_int_equal(dsvm_diags_count(d), 0);
    dsvm_diags_free(d);
    free(path);
    return r;
}

static const dsvm_object *must_find(const dsvm_repo *r, dsvm_kind k, const char *name)
{
    const dsvm_object *o = dsvm_repo_find(r, k, name);

    if (!o)
        fail_msg("%s/%s not found", dsvm_kind_name(k), name);
    return o;
}

static char *tmpdir_new(void)
{
    char tmpl[] = "/tmp/dsvm-test-XXXXXX";
    char *d = mkdtemp(tmpl);

    assert_non_null(d);
    return strdup(d);
}

static char *tmp_file(const char *dir, const char *name, const void *data, size_t len)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    FILE *f;

    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    f = fopen(p, "wb");
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    return p;
}

static void rm_rf(const char *dir)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- valid repositories -------------------------------------------------------- */

static void load_all_kinds_counts_and_order(void **state)
{
    dsvm_repo *r = load_valid("valid/all-kinds");
    const dsvm_object *o;

    (void)state;
    assert_int_equal(dsvm_repo_count(r), 15);
    assert_int_equal(dsvm_repo_file_count(r), 6);
    assert_int_equal(dsvm_repo_count_kind(r, DSVM_KIND_POOL), 3);
    assert_int_equal(dsvm_repo_count_kind(r, DSVM_KIND_IDENTITY), 2);
    assert_int_equal(dsvm_repo_count_kind(r, DSVM_KIND_ROLE_ASSIGNMENT), 2);
    /* byte order of the relative path: 00-groups, access, pools/..., security, storage */
    assert_string_equal(dsvm_repo_object(r, 0)->name, "rg-ds");
    assert_string_equal(dsvm_repo_object(r, 3)->name, "team-a-login");
    assert_string_equal(dsvm_repo_object(r, 6)->name, "team-a-gpu");
    assert_string_equal(dsvm_repo_object(r, 14)->name, "stdssmb");
    assert_string_equal(dsvm_repo_object_of_kind(r, DSVM_KIND_POOL, 1)->name, "team-b-win");
    assert_null(dsvm_repo_object(r, 15));
    assert_null(dsvm_repo_find(r, DSVM_KIND_POOL, "nope"));
    o = must_find(r, DSVM_KIND_POOL, "team-a-gpu");
    assert_true(strstr(o->pos.file, "valid/all-kinds/pools/linux.yaml") != NULL);
    assert_int_equal(o->pos.line, 1);
    assert_int_equal(o->pos.col, 1);
    dsvm_repo_free(r);
}

static void group_identity_and_metadata(void **state)
{
    dsvm_repo *r = load_valid("valid/all-kinds");
    const dsvm_object *rg = must_find(r, DSVM_KIND_RESOURCE_GROUP, "rg-ds");
    const dsvm_object *a = must_find(r, DSVM_KIND_IDENTITY, "id-team-a");
    const dsvm_object *b = must_find(r, DSVM_KIND_IDENTITY, "id-team-b");

    (void)state;
    assert_string_equal(rg->spec.resource_group->location, "westeurope");
    assert_int_equal(rg->spec.resource_group->tags.n, 1);
    assert_string_equal(rg->spec.resource_group->tags.items[0].key, "costCenter");
    assert_string_equal(rg->spec.resource_group->tags.items[0].value, "4711");
    assert_null(rg->resource_group);
    assert_ptr_equal(a->resource_group, rg);
    assert_string_equal(a->resource_group_name, "rg-ds");
    assert_string_equal(a->location, "westeurope"); /* the group's */
    assert_null(a->spec.identity->location);
    assert_string_equal(b->location, "northeurope");
    assert_int_equal(a->labels.n, 1);
    assert_string_equal(a->labels.items[0].value, "a");
    assert_int_equal(a->drift, DSVM_UNSET);
    assert_false(a->suspend);
    assert_int_equal(a->n_deps, 1);
    assert_ptr_equal(a->deps[0], rg);
    dsvm_repo_free(r);
}

static void key_vault_defaults_and_readers(void **state)
{
    dsvm_repo *r = load_valid("valid/all-kinds");
    const dsvm_object *kv = must_find(r, DSVM_KIND_KEY_VAULT, "kv-ds");
    const dsvm_key_vault_spec *s = kv->spec.key_vault;
    json_t *j = NULL;

    (void)state;
    assert_int_equal(s->sku, DSVM_VAULT_SKU_STANDARD);
    assert_true(s->rbac);
    assert_int_equal(s->soft_delete_retention_days, 90);
    assert_true(s->purge_protection);
    assert_int_equal(s->public_network_access, DSVM_ACCESS_ENABLED);
    assert_null(s->network_acls);
    assert_int_equal(s->readers.n, 1);
    assert_string_equal(s->readers.items[0].identity.name, "id-team-a");
    assert_ptr_equal(s->readers.items[0].identity.target,
                     must_find(r, DSVM_KIND_IDENTITY, "id-team-a"));
    assert_int_equal(s->readers.items[0].type, DSVM_UNSET);
    assert_int_equal(s->secrets_users.n, 1);
    assert_null(s->secrets_users.items[0].identity.name);
    assert_string_equal(s->secrets_users.items[0].object_id,
                        "00000000-0000-0000-0000-0000000000ab");
    assert_int_equal(s->secrets_users.items[0].type, DSVM_PRINCIPAL_GROUP);

    assert_int_equal(dsvm_object_spec_json(&j, kv), 0);
    assert_string_equal(json_string_value(json_object_get(j, "sku")), "standard");
    assert_true(json_is_true(json_object_get(j, "rbac")));
    assert_int_equal(json_integer_value(json_object_get(j, "softDeleteRetentionDays")), 90);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "readers"), 0)),
                        "id-team-a");
    json_decref(j);
    dsvm_repo_free(r);
}

static void storage_defaults_and_tiers(void **state)
{
    dsvm_repo *r = load_valid("valid/all-kinds");
    const dsvm_shared_storage_spec *nfs =
        must_find(r, DSVM_KIND_SHARED_STORAGE, "stdsnfs")->spec.shared_storage;
    const dsvm_shared_storage_spec *smb =
        must_find(r, DSVM_KIND_SHARED_STORAGE, "stdssmb")->spec.shared_storage;

    (void)state;
    assert_int_equal(nfs->protocol, DSVM_PROTOCOL_NFS);
    assert_int_equal(nfs->sku, DSVM_STORAGE_PREMIUM_LRS);
    assert_int_equal(nfs->account_kind, DSVM_STORAGE_KIND_FILE_STORAGE);
    assert_int_equal(nfs->public_network_access, DSVM_ACCESS_ENABLED);
    assert_null(nfs->account_key);
    assert_int_equal(nfs->shares.n, 1);
    assert_string_equal(nfs->shares.items[0].name, "data");
    assert_int_equal(nfs->shares.items[0].quota_gib, 100);
    assert_int_equal(nfs->shares.items[0].root_squash, DSVM_ROOT_SQUASH_NONE);
    assert_int_equal(nfs->shares.items[0].access_tier, DSVM_TIER_PREMIUM);
    assert_int_equal(nfs->shares.items[0].line, 8);
    assert_int_equal(nfs->shares.items[0].col, 7);
    assert_int_equal(smb->protocol, DSVM_PROTOCOL_SMB);
    assert_int_equal(smb->sku, DSVM_STORAGE_STANDARD_LRS);
    assert_int_equal(smb->account_kind, DSVM_STORAGE_KIND_STORAGE_V2);
    assert_non_null(smb->account_key);
    assert_string_equal(smb->account_key->secret, "smb-key");
    assert_ptr_equal(smb->account_key->vault.target, must_find(r, DSVM_KIND_KEY_VAULT, "kv-ds"));
    assert_int_equal(smb->shares.items[0].access_tier, DSVM_TIER_TRANSACTION_OPTIMIZED);
    dsvm_repo_free(r);
}

static void domain_join_monitoring_network(void **state)
{
    dsvm_repo *r = load_valid("valid/all-kinds");
    const dsvm_domain_join_spec *dj = must_find(r, DSVM_KIND_DOMAIN_JOIN, "corp")->spec.domain_join;
    const dsvm_monitoring_spec *mon = must_find(r, DSVM_KIND_MONITORING, "log-ds")->spec.monitoring;
    const dsvm_network_spec *net = must_find(r, DSVM_KIND_NETWORK, "vnet-ds")->spec.network;

    (void)state;
    assert_string_equal(dj->domain, "corp.example.com");
    assert_string_equal(dj->ou_path, "OU=DSVM,DC=corp,DC=example,DC=com");
    assert_string_equal(dj->user, "join@corp.example.com");
    assert_string_equal(dj->password->vault.name, "kv-ds");
    assert_string_equal(dj->password->secret, "domain-join");
    assert_true(dj->restart);

    assert_int_equal(mon->retention_days, 30);
    assert_string_equal(mon->sku, "PerGB2018");
    assert_int_equal(mon->performance_counters.n, 2);
    assert_string_equal(mon->performance_counters.items[1], "\\Memory\\Available Bytes");
    assert_int_equal(mon->sample_seconds, 60);
    assert_int_equal(mon->syslog.n, 4);
    assert_string_equal(mon->syslog.items[3], "syslog");
    assert_int_equal(mon->windows_events.n, 1);
    assert_null(mon->location);

    assert_int_equal(net->address_space.n, 1);
    assert_string_equal(net->address_space.items[0], "10.10.0.0/16");
    assert_int_equal(net->subnets.n, 2);
    assert_string_equal(net->subnets.items[0].name, "pools");
    assert_string_equal(net->subnets.items[0].address_prefix, "10.10.0.0/22");
    assert_int_equal(net->subnets.items[0].service_endpoints.n, 1);
    assert_string_equal(net->subnets.items[1].name, "batch");
    assert_int_equal(net->subnets.items[1].service_endpoints.n, 0);
    dsvm_repo_free(r);
}

static void linux_pool_typed_values(void **state)
{
    dsvm_repo *r = load_valid("valid/all-kinds");
    const dsvm_object *o = must_find(r, DSVM_KIND_POOL, "team-a-gpu");
    const dsvm_pool_spec *p = o->spec.pool;
    size_t i;
    bool has_net = false, has_dj = false;

    (void)state;
    assert_int_equal(p->mode, DSVM_POOL_INTERACTIVE);
    assert_string_equal(p->image.alias, "ubuntu-2204");
    assert_string_equal(p->image.publisher, "microsoft-dsvm");
    assert_string_equal(p->image.offer, "ubuntu-2204");
    assert_string_equal(p->image.sku, "2204-gen2");
    assert_string_equal(p->image.version, "latest");
    assert_int_equal(p->image.os, DSVM_OS_LINUX);
    assert_string_equal(p->image.node_agent_sku_id, "batch.node.ubuntu 22.04");
    assert_string_equal(p->vm_size, "Standard_NC6s_v3");
    assert_true(p->has_capacity);
    assert_int_equal(p->capacity, 2);
    assert_null(p->autoscale);
    assert_non_null(p->subnet);
    assert_null(p->subnet->id);
    assert_string_equal(p->subnet->network.name, "vnet-ds");
    assert_ptr_equal(p->subnet->network.target, must_find(r, DSVM_KIND_NETWORK, "vnet-ds"));
    assert_string_equal(p->subnet->subnet, "pools");
    assert_int_equal(p->identities.n, 1);
    assert_ptr_equal(p->identities.items[0].target, must_find(r, DSVM_KIND_IDENTITY, "id-team-a"));
    assert_string_equal(p->admin->username, "dsvmadmin");
    assert_null(p->admin->password);
    assert_ptr_equal(p->domain_join.target, must_find(r, DSVM_KIND_DOMAIN_JOIN, "corp"));
    assert_false(p->entra_login);
    assert_false(p->has_entra_login);
    assert_int_equal(p->shared_storage.n, 1);
    assert_string_equal(p->shared_storage.items[0].mount_path, "/mnt/data");
    assert_string_equal(p->shared_storage.items[0].share_def->name, "data");
    assert_true(p->security->encryption_at_host);
    assert_false(p->security->antimalware);
    assert_ptr_equal(p->security->monitoring.target, must_find(r, DSVM_KIND_MONITORING, "log-ds"));
    assert_int_equal(p->upgrade_policy, DSVM_UPGRADE_MANUAL);
    assert_false(p->has_upgrade_policy);
    assert_int_equal(p->endpoint->protocols.n, 2);
    assert_int_equal(p->endpoint->protocols.items[0], DSVM_PROTO_SSH);
    assert_int_equal(p->endpoint->protocols.items[1], DSVM_PROTO_JUPYTER);
    assert_string_equal(p->endpoint->allow_from.items[0], "10.0.0.0/8");
    assert_int_equal(p->max_tasks_per_node, 1);
    assert_false(p->has_max_tasks_per_node);

    /* annotations */
    assert_int_equal(o->drift, DSVM_DRIFT_ALERT);
    assert_true(o->suspend);
    assert_int_equal(o->ignore_fields.n, 2);
    assert_string_equal(o->ignore_fields.items[0], "spec.capacity");
    assert_string_equal(o->ignore_fields.items[1], "tags.owner");

    /* dependencies: group, identity, domain join, storage, monitoring, network */
    assert_int_equal(o->n_deps, 6);
    for (i = 0; i < o->n_deps; i++) {
        has_net = has_net || o->deps[i]->kind == DSVM_KIND_NETWORK;
        has_dj = has_dj || o->deps[i]->kind == DSVM_KIND_DOMAIN_JOIN;
    }
    assert_true(has_net);
    assert_true(has_dj);
    assert_string_equal(dsvm_enum_text(DSVM_KIND_POOL, "mode", p->mode), "interactive");
    {
        dsvm_srcpos pos = {NULL, 0, 0};

        assert_int_equal(dsvm_object_field_pos(&pos, o, "spec.vmSize"), 0);
        assert_int_equal(pos.line, 13);
        assert_int_equal(pos.col, 11);
        assert_ptr_equal(pos.file, o->pos.file);
        assert_int_equal(dsvm_object_field_pos(&pos, o, "spec.endpoint.protocols.1"), 0);
        assert_int_equal(pos.line, 25);
        assert_int_equal(pos.col, 22);
        assert_int_equal(dsvm_object_field_pos(&pos, o, "spec.nope"), DSVM_ENOTFOUND);
    }
    dsvm_repo_free(r);
}

static void windows_and_batch_pools(void **state)
{
    dsvm_repo *r = load_valid("valid/all-kinds");
    const dsvm_pool_spec *w = must_find(r, DSVM_KIND_POOL, "team-b-win")->spec.pool;
    const dsvm_pool_spec *b = must_find(r, DSVM_KIND_POOL, "nightly")->spec.pool;

    (void)state;
    assert_int_equal(w->image.os, DSVM_OS_WINDOWS);
    assert_string_equal(w->image.offer, "dsvm-win-2022");
    assert_false(w->has_capacity);
    assert_int_equal(w->autoscale->min, 0);
    assert_int_equal(w->autoscale->max, 4);
    assert_string_equal(w->admin->password->secret, "win-admin");
    assert_null(w->admin->ssh_public_key);
    assert_true(w->entra_login);
    assert_true(w->security->antimalware);
    assert_int_equal(w->endpoint->protocols.items[0], DSVM_PROTO_RDP);
    assert_string_equal(w->shared_storage.items[0].mount_path, "Z:");

    assert_int_equal(b->mode, DSVM_POOL_BATCH);
    assert_null(b->image.alias);
    assert_string_equal(b->image.sku, "2204");
    assert_string_equal(b->image.version, "latest");
    assert_string_equal(b->image.node_agent_sku_id, "batch.node.ubuntu 22.04");
    assert_string_equal(b->autoscale->formula, "$TargetDedicatedNodes = 0;");
    assert_string_equal(b->autoscale->evaluation_interval, "15m");
    assert_non_null(b->subnet->id);
    assert_null(b->subnet->network.name);
    assert_int_equal(b->max_tasks_per_node, 4);
    assert_true(b->has_max_tasks_per_node);
    assert_string_equal(dsvm_enum_text(DSVM_KIND_POOL, "mode", b->mode), "batch");
    dsvm_repo_free(r);
}

static void role_and_policy_assignments(void **state)
{
    dsvm_repo *r = load_valid("valid/all-kinds");
    const dsvm_role_assignment_spec *ra =
        must_find(r, DSVM_KIND_ROLE_ASSIGNMENT, "team-a-login")->spec.role_assignment;
    const dsvm_role_assignment_spec *rd =
        must_find(r, DSVM_KIND_ROLE_ASSIGNMENT, "readers")->spec.role_assignment;
    const dsvm_object *pa_obj = must_find(r, DSVM_KIND_POLICY_ASSIGNMENT, "allowed-locations");
    const dsvm_policy_assignment_spec *pa = pa_obj->spec.policy_assignment;
    json_t *locs;

    (void)state;
    assert_ptr_equal(ra->principal.identity.target, must_find(r, DSVM_KIND_IDENTITY, "id-team-a"));
    assert_null(ra->principal.group);
    assert_string_equal(ra->role_guid, "fb879df8-f326-4884-b1cf-06f3ad86be52");
    assert_int_equal(ra->scope.ref.kind, DSVM_KIND_POOL);
    assert_ptr_equal(ra->scope.ref.target, must_find(r, DSVM_KIND_POOL, "team-a-gpu"));
    assert_false(ra->scope.subscription);
    assert_string_equal(ra->description, "team A logs in to its pool");
    assert_string_equal(rd->principal.group, "00000000-0000-0000-0000-0000000000cd");
    assert_string_equal(rd->role_guid, "acdd72a7-3385-48ef-bd42-f606fba81ae7");
    assert_ptr_equal(rd->scope.resource_group.target,
                     must_find(r, DSVM_KIND_RESOURCE_GROUP, "rg-ds"));

    assert_true(pa->scope.subscription);
    assert_int_equal(pa->enforcement_mode, DSVM_ENFORCE_DEFAULT);
    assert_int_equal(pa->identity, DSVM_POLICY_IDENTITY_NONE);
    assert_string_equal(pa->non_compliance_message, "Use a European region.");
    locs = json_object_get(pa->parameters, "listOfAllowedLocations");
    assert_int_equal(json_array_size(locs), 2);
    assert_string_equal(json_string_value(json_array_get(locs, 1)), "northeurope");
    assert_null(pa_obj->resource_group);
    dsvm_repo_free(r);
}

static void merge_keys_are_applied(void **state)
{
    dsvm_repo *r = load_valid("valid/merge-keys");
    const dsvm_network_spec *net = must_find(r, DSVM_KIND_NETWORK, "vnet")->spec.network;
    const dsvm_policy_assignment_spec *pa =
        must_find(r, DSVM_KIND_POLICY_ASSIGNMENT, "pa")->spec.policy_assignment;
    json_t *merged = json_object_get(pa->parameters, "merged");

    (void)state;
    assert_int_equal(net->subnets.n, 2);
    assert_string_equal(net->subnets.items[1].name, "b");
    assert_string_equal(net->subnets.items[1].address_prefix, "10.0.1.0/24");
    assert_int_equal(net->subnets.items[1].service_endpoints.n, 1);
    assert_string_equal(net->subnets.items[1].service_endpoints.items[0], "Microsoft.Storage");
    assert_int_equal(json_object_size(merged), 3);
    assert_int_equal(json_integer_value(json_object_get(merged, "a")), 9);
    assert_int_equal(json_integer_value(json_object_get(merged, "b")), 2);
    assert_int_equal(json_integer_value(json_object_get(merged, "c")), 4);
    dsvm_repo_free(r);
}

static void skips_hidden_config_and_empty_documents(void **state)
{
    dsvm_repo *r = load_valid("valid/skips");

    (void)state;
    assert_int_equal(dsvm_repo_count(r), 2);
    assert_int_equal(dsvm_repo_file_count(r), 1);
    dsvm_repo_free(r);
}

/* Format every diagnostic of a load with `threads` parser threads, one per line. */
static char *load_text(const char *rel, unsigned threads)
{
    char *path = data_path(rel);
    dsvm_limits lim;
    dsvm_diags *d = NULL;
    dsvm_repo *r = NULL;
    size_t i, len = 0;
    char *all = calloc(1, 1);

    assert_non_null(all);
    dsvm_limits_init(&lim);
    lim.parse_threads = threads;
    assert_int_equal(dsvm_diags_new(&d), 0);
    if (dsvm_repo_load(&r, path, &lim, d) == 0) {
        for (i = 0; i < dsvm_repo_count(r); i++) {
            const dsvm_object *o = dsvm_repo_object(r, i);
            size_t n = strlen(o->name) + strlen(o->pos.file) + 64;

            all = realloc(all, len + n);
            assert_non_null(all);
            len += (size_t)snprintf(all + len, n, "%s %s:%u\n", o->name, o->pos.file, o->pos.line);
        }
    }
    for (i = 0; i < dsvm_diags_count(d); i++) {
        char *line = NULL;

        assert_int_equal(dsvm_diag_format(&line, dsvm_diags_get(d, i)), 0);
        all = realloc(all, len + strlen(line) + 2);
        assert_non_null(all);
        len += (size_t)sprintf(all + len, "%s\n", line);
        free(line);
    }
    dsvm_repo_free(r);
    dsvm_diags_free(d);
    free(path);
    return all;
}

static void parse_threads_do_not_change_results(void **state)
{
    static const char *const cases[] = {"valid/all-kinds", "invalid/multiple-mistakes",
                                        "invalid/duplicate-name", "invalid/pool-os-rules"};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *one = load_text(cases[i], 1);
        char *four = load_text(cases[i], 4);

        assert_true(strlen(one) > 0);
        assert_string_equal(one, four);
        free(one);
        free(four);
    }
}

static void warnings_do_not_fail_the_load(void **state)
{
    char *path = data_path("valid/warnings");
    char *prefix = data_path("");
    dsvm_diags *d = NULL;
    dsvm_repo *r = NULL;
    char *line = NULL;

    (void)state;
    assert_int_equal(dsvm_diags_new(&d), 0);
    assert_int_equal(dsvm_repo_load(&r, path, NULL, d), 0);
    assert_non_null(r);
    assert_int_equal(dsvm_repo_count(r), 2);
    assert_int_equal(dsvm_diags_count(d), 1);
    assert_int_equal(dsvm_diags_errors(d), 0);
    assert_int_equal(dsvm_diags_get(d, 0)->severity, DSVM_DIAG_WARNING);
    assert_int_equal(dsvm_diag_format(&line, dsvm_diags_get(d, 0)), 0);
    strip_all(line, prefix);
    assert_string_equal(line, "valid/warnings/pool.yaml:16:56: warning: Pool \"open\" opens its "
                              "endpoint to the whole internet (0.0.0.0/0); list the networks "
                              "that need access");
    free(line);
    dsvm_repo_free(r);
    dsvm_diags_free(d);
    free(prefix);
    free(path);
}

static void builtin_roles_table(void **state)
{
    static const char *const roles[][2] = {
        {"Owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"},
        {"Contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c"},
        {"Reader", "acdd72a7-3385-48ef-bd42-f606fba81ae7"},
        {"Key Vault Secrets User", "4633458b-17de-408a-b874-0445c86b69e6"},
        {"Virtual Machine Contributor", "9980e02c-c2be-4d73-94e8-173b1dc7cf3c"},
        {"Managed Identity Operator", "f1a07417-d97a-45cb-824c-7a7467783830"},
        {"Key Vault Reader", "21090545-7ca7-4776-b22c-e363652d74d2"},
        {"Key Vault Administrator", "00482a5a-887f-4fb3-b363-3b7fe8e74483"},
        {"Virtual Machine User Login", "fb879df8-f326-4884-b1cf-06f3ad86be52"},
        {"Virtual Machine Administrator Login", "1c0163c0-47e6-4577-8991-ea5c82e286e4"},
        {"Storage File Data SMB Share Contributor", "0c867c2a-1d8c-454a-a3db-ab2ea1bdc8bb"},
        {"Storage File Data Privileged Contributor", "69566ab7-960f-475b-8e7c-b3118f30c6bd"},
        {"Monitoring Metrics Publisher", "3913510d-42f4-4e42-8a64-420c390055eb"},
        {"Log Analytics Reader", "73c42c96-874c-492b-b04d-ab87d138a893"},
        {"Log Analytics Contributor", "92aaf0da-9dab-42b6-94a3-d43ce8d16293"},
    };
    size_t i, n;

    (void)state;
    dsvm_builtin_roles(&n);
    assert_int_equal(n, sizeof(roles) / sizeof(roles[0]));
    for (i = 0; i < n; i++)
        assert_string_equal(dsvm_role_guid(roles[i][0]), roles[i][1]);
    assert_null(dsvm_role_guid("owner"));
}

static void image_alias_table(void **state)
{
    size_t n;
    const dsvm_image_alias *t = dsvm_image_aliases(&n);

    (void)state;
    assert_int_equal(n, 4);
    assert_string_equal(t[1].alias, "win-2022");
    assert_string_equal(t[1].offer, "dsvm-win-2022");
    assert_string_equal(t[1].sku, "winserver-2022");
    assert_int_equal(t[1].os, DSVM_OS_WINDOWS);
    assert_string_equal(t[3].alias, "ubuntu-hpc-2204");
}

static void schema_is_generated_from_tables(void **state)
{
    json_t *s = NULL, *pool, *spec;

    (void)state;
    assert_int_equal(dsvm_schema_build(&s, NULL), 0);
    assert_string_equal(json_string_value(json_object_get(s, "$schema")),
                        "http://json-schema.org/draft-07/schema#");
    assert_int_equal(json_array_size(json_object_get(s, "oneOf")), DSVM_KIND_COUNT);
    pool = json_object_get(json_object_get(s, "definitions"), "Pool");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(pool, "properties"), "kind"), "const")),
                        "Pool");
    spec = json_object_get(json_object_get(pool, "properties"), "spec");
    assert_non_null(json_object_get(json_object_get(spec, "properties"), "vmSize"));
    assert_true(json_is_false(json_object_get(spec, "additionalProperties")));
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(json_object_get(spec, "properties"), "mode"), "enum")),
                     2);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(spec, "properties"), "capacity"), "maximum")),
        1000);
    json_decref(s);

    assert_int_equal(dsvm_schema_build(&s, "KeyVault"), 0);
    assert_int_equal(json_array_size(json_object_get(s, "oneOf")), 1);
    spec = json_object_get(
        json_object_get(json_object_get(json_object_get(s, "definitions"), "KeyVault"),
                        "properties"),
        "spec");
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(spec, "properties"), "sku"), "default")),
        "standard");
    json_decref(s);
    s = NULL;
    assert_int_equal(dsvm_schema_build(&s, "Pools"), DSVM_ENOTFOUND);
    assert_null(s);
}

/* ---- validation errors ----------------------------------------------------------- */

static void error_yaml_syntax(void **state)
{
    static const char *const e[] = {
        "invalid/yaml-syntax/bad.yaml:5:16: error: YAML syntax error: did not find expected "
        "',' or ']' while parsing a flow sequence",
        NULL};
    (void)state;
    expect_diags("invalid/yaml-syntax", e);
}

static void error_unknown_kind(void **state)
{
    static const char *const e[] = {
        "invalid/unknown-kind/objects.yaml:2:7: error: unknown kind \"Pools\"; did you mean "
        "\"Pool\"?",
        NULL};
    (void)state;
    expect_diags("invalid/unknown-kind", e);
}

static void error_api_version(void **state)
{
    static const char *const e[] = {
        "invalid/api-version/rg.yaml:1:13: error: unsupported apiVersion \"dsvmops.io/v2\"; use "
        "\"dsvmops.io/v1\"",
        NULL};
    (void)state;
    expect_diags("invalid/api-version", e);
}

static void error_unknown_field_did_you_mean(void **state)
{
    static const char *const e[] = {
        "invalid/unknown-field/pool.yaml:13:1: error: missing required field \"vmSize\" in "
        "Pool.spec",
        "invalid/unknown-field/pool.yaml:16:3: error: unknown field \"vmsize\" in Pool.spec; did "
        "you mean \"vmSize\"?",
        NULL};
    (void)state;
    expect_diags("invalid/unknown-field", e);
}

static void error_wrong_type(void **state)
{
    static const char *const e[] = {
        "invalid/wrong-type/vault.yaml:14:9: error: wrong type for KeyVault.spec.rbac: expected "
        "true or false, got a string",
        "invalid/wrong-type/vault.yaml:15:28: error: wrong type for "
        "KeyVault.spec.softDeleteRetentionDays: expected an integer, got a string",
        "invalid/wrong-type/vault.yaml:16:12: error: wrong type for KeyVault.spec.readers: "
        "expected a list, got a string",
        NULL};
    (void)state;
    expect_diags("invalid/wrong-type", e);
}

static void error_missing_required(void **state)
{
    static const char *const e[] = {
        "invalid/missing-required/storage.yaml:13:1: error: missing required field \"shares\" in "
        "SharedStorage.spec",
        NULL};
    (void)state;
    expect_diags("invalid/missing-required", e);
}

static void error_empty_required_field(void **state)
{
    static const char *const e[] = {
        "invalid/empty-required/pool.yaml:14:3: error: required field \"admin\" in Pool.spec is "
        "empty",
        "invalid/empty-required/pool.yaml:15:3: error: unknown field \"username\" in Pool.spec; "
        "\"username\" is a field of admin; check the indentation",
        NULL};
    (void)state;
    expect_diags("invalid/empty-required", e);
}

static void error_enum_values(void **state)
{
    static const char *const e[] = {
        "invalid/enum-value/pool.yaml:14:9: error: invalid value \"interactve\" for "
        "Pool.spec.mode: must be one of interactive, batch; did you mean \"interactive\"?",
        "invalid/enum-value/pool.yaml:15:10: error: invalid value \"ubuntu-2024\" for "
        "Pool.spec.image: must be one of ubuntu-2204, win-2022, win-2019, ubuntu-hpc-2204; did "
        "you mean \"ubuntu-2204\"?",
        NULL};
    (void)state;
    expect_diags("invalid/enum-value", e);
}

static void error_naming_rules(void **state)
{
    static const char *const e[] = {
        "invalid/naming-rules/names.yaml:11:9: error: invalid KeyVault name \"kv--bad-\": 3-24 "
        "letters, digits and '-', starting with a letter, ending with a letter or digit, no '--'",
        "invalid/naming-rules/names.yaml:17:9: error: invalid SharedStorage name \"St_Data\": "
        "3-24 lowercase letters and digits",
        "invalid/naming-rules/names.yaml:20:19: error: invalid name \"Bad--Share\" for "
        "SharedStorage.spec.shares[0].name: 3-63 lowercase letters, digits and single hyphens, "
        "starting and ending with a letter or digit",
        "invalid/naming-rules/names.yaml:25:9: error: invalid Pool name \"9pool\": 1-64 letters, "
        "digits and '-', starting with a letter",
        NULL};
    (void)state;
    expect_diags("invalid/naming-rules", e);
}

static void error_formats(void **state)
{
    static const char *const e[] = {
        "invalid/formats/objects.yaml:6:11: error: invalid value \"corp\" for "
        "DomainJoin.spec.domain: expected a domain name such as corp.example.com",
        "invalid/formats/objects.yaml:7:9: error: invalid value \"joiner\" for "
        "DomainJoin.spec.user: expected user@domain or DOMAIN\\user",
        "invalid/formats/objects.yaml:8:24: error: DomainJoin \"corp\" references KeyVault "
        "\"kv\", which is not defined",
        "invalid/formats/objects.yaml:14:18: error: KeyVault \"kv-formats\" names ResourceGroup "
        "\"rg\", which is not defined",
        "invalid/formats/objects.yaml:16:27: error: invalid value \"10.0.0.0/33\" for "
        "KeyVault.spec.networkAcls.ipRules[0]: expected an IPv4 CIDR such as 10.0.0.0/16",
        "invalid/formats/objects.yaml:16:51: error: invalid subnet \"not-a-subnet\" for "
        "KeyVault.spec.networkAcls.subnets[0]: expected Network-name/subnet-name or an ARM "
        "subnet ID (/subscriptions/.../subnets/NAME)",
        "invalid/formats/objects.yaml:17:29: error: invalid value \"not-a-guid\" for "
        "KeyVault.spec.secretsUsers[0].objectId: expected a GUID such as "
        "00000000-0000-0000-0000-000000000000",
        NULL};
    (void)state;
    expect_diags("invalid/formats", e);
}

static void error_duplicate_names(void **state)
{
    static const char *const e[] = {
        "invalid/duplicate-name/b.yaml:4:9: error: duplicate Identity \"id-a\"; first defined at "
        "invalid/duplicate-name/a.yaml:11:9; rename one of them",
        NULL};
    (void)state;
    expect_diags("invalid/duplicate-name", e);
}

static void error_dangling_references(void **state)
{
    static const char *const e[] = {
        "invalid/dangling-reference/vault.yaml:18:18: error: KeyVault \"kv-one\" names "
        "ResourceGroup \"rg-missing\", which is not defined",
        "invalid/dangling-reference/vault.yaml:20:13: error: KeyVault \"kv-one\" references "
        "Identity \"id-team-b\", which is not defined; did you mean \"id-team-a\"?",
        NULL};
    (void)state;
    expect_diags("invalid/dangling-reference", e);
}

static void error_reference_cycle(void **state)
{
    static const char *const e[] = {
        "invalid/reference-cycle/ids.yaml:8:1: error: reference cycle: Identity/id-a -> "
        "Identity/id-b -> Identity/id-a; break the cycle: remove one of these references",
        NULL};
    (void)state;
    expect_diags("invalid/reference-cycle", e);
}

static void error_literal_secrets(void **state)
{
    static const char *const e[] = {
        "invalid/literal-secret/domain.yaml:8:13: error: literal secret in field \"password\"; "
        "write {keyVault: <vault>, secret: <name>} instead",
        "invalid/literal-secret/domain.yaml:9:3: error: unknown field \"extra\" in "
        "DomainJoin.spec",
        "invalid/literal-secret/domain.yaml:10:19: error: literal secret in field "
        "\"clientSecret\"; write {keyVault: <vault>, secret: <name>} instead",
        NULL};
    (void)state;
    expect_diags("invalid/literal-secret", e);
}

static void error_literal_secret_keys(void **state)
{
    static const char *const e[] = {
        "invalid/literal-secret-keys/policy.yaml:9:17: error: literal secret in field "
        "\"storageKey\"; write {keyVault: <vault>, secret: <name>} instead",
        "invalid/literal-secret-keys/policy.yaml:13:16: error: literal secret in field "
        "\"SAS_TOKEN\"; write {keyVault: <vault>, secret: <name>} instead",
        "invalid/literal-secret-keys/policy.yaml:14:23: error: literal secret in field "
        "\"db-password-file\"; write {keyVault: <vault>, secret: <name>} instead",
        "invalid/literal-secret-keys/policy.yaml:15:36: error: literal secret in field "
        "\"clientSecret\"; write {keyVault: <vault>, secret: <name>} instead",
        NULL};
    (void)state;
    expect_diags("invalid/literal-secret-keys", e);
}

static void error_metadata_and_tags(void **state)
{
    static const char *const e[] = {
        "invalid/metadata/objects.yaml:5:3: error: ResourceGroup takes no metadata.resourceGroup",
        "invalid/metadata/objects.yaml:7:23: error: invalid value \"heel\" for annotation "
        "dsvmops.io/drift: must be one of heal, alert, ignore",
        "invalid/metadata/objects.yaml:8:5: error: unknown annotation \"dsvmops.io/suspnd\"; did "
        "you mean \"dsvmops.io/suspend\"?",
        "invalid/metadata/objects.yaml:11:10: error: tag name \"dsvmops-owner\" in "
        "ResourceGroup.spec.tags is reserved: dsvmops- tags mark ownership",
        "invalid/metadata/objects.yaml:11:29: error: invalid tag name \"a/b\" in "
        "ResourceGroup.spec.tags: / < > % & \\ ? are not allowed",
        "invalid/metadata/objects.yaml:15:1: error: missing required field \"resourceGroup\" in "
        "Identity.metadata",
        NULL};
    (void)state;
    expect_diags("invalid/metadata", e);
}

static void error_envelope_and_yaml_keys(void **state)
{
    static const char *const e[] = {
        "invalid/envelope/docs.yaml:1:1: error: missing required field \"metadata\" in Identity",
        "invalid/envelope/docs.yaml:3:1: error: unknown top-level field \"metdata\"; did you mean "
        "\"metadata\"?",
        "invalid/envelope/docs.yaml:5:1: error: missing required field \"apiVersion\"; add "
        "\"apiVersion: dsvmops.io/v1\"",
        "invalid/envelope/docs.yaml:9:21: error: duplicate key \"team\" in "
        "Identity.metadata.labels",
        "invalid/envelope/docs.yaml:9:40: error: literal secret in field \"apiToken\"; write "
        "{keyVault: <vault>, secret: <name>} instead",
        "invalid/envelope/docs.yaml:10:3: error: duplicate field \"labels\" in Identity.metadata",
        "invalid/envelope/docs.yaml:12:1: error: missing required field \"kind\"",
        "invalid/envelope/docs.yaml:15:1: error: missing required field \"spec\" in Pool",
        "invalid/envelope/docs.yaml:22:7: error: wrong type for ResourceGroup.spec: expected a "
        "mapping, got a list",
        "invalid/envelope/docs.yaml:30:5: error: mapping keys must be strings in Network.spec",
        "invalid/envelope/docs.yaml:37:13: error: unknown alias *nowhere; define the anchor with "
        "&name earlier in the same document",
        NULL};
    (void)state;
    expect_diags("invalid/envelope", e);
}

static void error_document_not_a_mapping(void **state)
{
    static const char *const e[] = {
        "invalid/not-a-mapping/list.yaml:1:1: error: a manifest must be a mapping with "
        "apiVersion, kind, metadata and spec, not a list",
        NULL};
    (void)state;
    expect_diags("invalid/not-a-mapping", e);
}

static void error_pool_os_rules(void **state)
{
    static const char *const e[] = {
        "invalid/pool-os-rules/pools.yaml:12:5: error: Pool \"win-both\": a Windows admin needs "
        "password (a Key Vault reference); add password: {keyVault: <vault>, secret: <name>}",
        "invalid/pool-os-rules/pools.yaml:13:19: error: Pool \"win-both\": a Windows admin takes "
        "no sshPublicKey; remove sshPublicKey",
        "invalid/pool-os-rules/pools.yaml:15:15: error: Pool \"win-both\": on Windows, "
        "domainJoin and entraLogin exclude each other; use one of them",
        "invalid/pool-os-rules/pools.yaml:16:26: error: Pool \"win-both\": ssh endpoints need a "
        "Linux image; use rdp",
        "invalid/pool-os-rules/pools.yaml:30:5: error: Pool \"linux-wrong\": a Linux admin needs "
        "sshPublicKey; add sshPublicKey: \"ssh-ed25519 AAAA...\"",
        "invalid/pool-os-rules/pools.yaml:30:15: error: Pool \"linux-wrong\": admin username "
        "\"root\" is reserved by Azure; choose another name, e.g. dsvmadmin",
        "invalid/pool-os-rules/pools.yaml:31:15: error: Pool \"linux-wrong\": a Linux admin "
        "takes no password; remove password; Linux admins log in with SSH keys",
        "invalid/pool-os-rules/pools.yaml:32:15: error: Linux Pool \"linux-wrong\" joins the "
        "domain with a boot script that reads the password from KeyVault \"kv-one\", but none of "
        "its identities reads that vault; add one of the pool's identities to the readers of "
        "KeyVault \"kv-one\"",
        "invalid/pool-os-rules/pools.yaml:33:27: error: Pool \"linux-wrong\": antimalware needs "
        "a Windows image",
        "invalid/pool-os-rules/pools.yaml:34:26: error: Pool \"linux-wrong\": rdp endpoints need "
        "a Windows image; use ssh",
        NULL};
    (void)state;
    expect_diags("invalid/pool-os-rules", e);
}

static void error_pool_and_subnet_locations(void **state)
{
    static const char *const e[] = {
        "invalid/pool-location/objects.yaml:41:11: error: Pool \"other\" is in West Europe but "
        "Network \"vnet-neu\" is in northeurope; a pool and its subnet must be in one location",
        NULL};
    (void)state;
    expect_diags("invalid/pool-location", e);
}

static void error_batch_rules(void **state)
{
    static const char *const e[] = {
        "invalid/batch-rules/pool.yaml:8:10: error: batch Pool \"nightly\": the image has no "
        "Batch nodeAgentSkuId; add image.nodeAgentSkuId or use an alias such as ubuntu-hpc-2204",
        "invalid/batch-rules/pool.yaml:11:14: error: Pool \"nightly\" takes exactly one of "
        "capacity and autoscale; remove capacity or autoscale",
        "invalid/batch-rules/pool.yaml:11:20: error: Pool \"nightly\": autoscale min (3) is "
        "greater than max (1)",
        "invalid/batch-rules/pool.yaml:12:18: error: batch Pool \"nightly\" takes no "
        "upgradePolicy",
        "invalid/batch-rules/pool.yaml:13:15: error: batch Pool \"nightly\" takes no entraLogin",
        "invalid/batch-rules/pool.yaml:14:13: error: batch Pool \"nightly\" takes no endpoint",
        NULL};
    (void)state;
    expect_diags("invalid/batch-rules", e);
}

static void error_storage_rules(void **state)
{
    static const char *const e[] = {
        "invalid/storage-rules/storage.yaml:14:8: error: SharedStorage \"stnfs\": NFS shares need "
        "a Premium_* sku; use sku Premium_LRS or Premium_ZRS, or protocol SMB",
        "invalid/storage-rules/storage.yaml:17:14: error: SharedStorage \"stnfs\" has two shares "
        "named \"data\"",
        "invalid/storage-rules/storage.yaml:25:13: error: SharedStorage \"stsmb\": protocol SMB "
        "needs accountKey; add accountKey: {keyVault: <vault>, secret: <name>}",
        "invalid/storage-rules/storage.yaml:27:30: error: share \"home\": Premium shares need at "
        "least 100 GiB, got 10; use quotaGiB: 100 or more",
        "invalid/storage-rules/storage.yaml:27:46: error: share \"home\": rootSquash applies to "
        "NFS shares only",
        NULL};
    (void)state;
    expect_diags("invalid/storage-rules", e);
}

static void error_mounts(void **state)
{
    static const char *const e[] = {
        "invalid/mounts/all.yaml:28:31: error: SharedStorage \"stnfs\" has no share \"dataset\"; "
        "did you mean \"datasets\"?",
        "invalid/mounts/all.yaml:29:52: error: invalid mountPath \"data\": Linux pools mount on "
        "an absolute path such as /mnt/data",
        NULL};
    (void)state;
    expect_diags("invalid/mounts", e);
}

static void error_network_rules(void **state)
{
    static const char *const e[] = {
        "invalid/network/net.yaml:17:32: error: subnet \"b\" (10.0.0.128/25) overlaps subnet "
        "\"a\" (10.0.0.0/24)",
        "invalid/network/net.yaml:18:32: error: subnet \"c\": prefix 10.1.0.0/24 is outside the "
        "address space of Network \"vnet\"",
        "invalid/network/net.yaml:19:32: error: subnet \"d\": prefix 10.0.1.1/24 has host bits "
        "set",
        "invalid/network/net.yaml:31:11: error: Network \"vnet\" has no subnet \"e\"", NULL};
    (void)state;
    expect_diags("invalid/network", e);
}

static void error_role_assignment(void **state)
{
    static const char *const e[] = {
        "invalid/role-assignment/ra.yaml:6:14: error: RoleAssignment.spec.principal takes "
        "exactly one of identity, group, user, servicePrincipal",
        "invalid/role-assignment/ra.yaml:8:16: error: invalid reference \"Vault/kv\" for "
        "RoleAssignment.spec.scope.ref: expected Kind/name with Kind one of Identity, KeyVault, "
        "SharedStorage, Pool, Monitoring, Network",
        "invalid/role-assignment/ra.yaml:16:9: error: unknown role \"Virtual Machine Users "
        "Login\" in RoleAssignment \"ra-2\"; did you mean \"Virtual Machine User Login\"?",
        "invalid/role-assignment/ra.yaml:31:9: error: RoleAssignment \"ra-4\" grants the same "
        "role to the same principal at the same scope as RoleAssignment \"ra-3\"; remove one of "
        "them",
        NULL};
    (void)state;
    expect_diags("invalid/role-assignment", e);
}

static void error_policy_assignment(void **state)
{
    static const char *const e[] = {
        "invalid/policy-assignment/pa.yaml:4:9: error: invalid PolicyAssignment name "
        "\"bad:name\": 1-64 characters, none of < > * % & : \\ ? . + /, not ending in a space",
        "invalid/policy-assignment/pa.yaml:6:17: error: invalid value "
        "\"/providers/Microsoft.Authorization/policies/x\" for PolicyAssignment.spec.definitionId: "
        "expected /providers/Microsoft.Authorization/policyDefinitions/{id} or "
        ".../policySetDefinitions/{id}",
        "invalid/policy-assignment/pa.yaml:7:3: error: PolicyAssignment.spec.scope takes exactly "
        "one of subscription, resourceGroup",
        "invalid/policy-assignment/pa.yaml:17:15: error: wrong type for "
        "PolicyAssignment.spec.parameters: expected a mapping, got a list",
        "invalid/policy-assignment/pa.yaml:26:13: error: PolicyAssignment \"deploy-agents-2\": "
        "identity system needs location; add location: <region>",
        NULL};
    (void)state;
    expect_diags("invalid/policy-assignment", e);
}

static void error_many_mistakes_sorted(void **state)
{
    static const char *const e[] = {
        "invalid/multiple-mistakes/pools.yaml:13:1: error: missing required field \"vmSize\" in "
        "Pool.spec",
        "invalid/multiple-mistakes/pools.yaml:16:3: error: unknown field \"vmsize\" in "
        "Pool.spec; did you mean \"vmSize\"?",
        "invalid/multiple-mistakes/pools.yaml:17:13: error: Pool.spec.capacity must be between 0 "
        "and 1000, got 2000",
        "invalid/multiple-mistakes/pools.yaml:18:16: error: Pool \"team-a\" references Identity "
        "\"id-team-a\", which is not defined",
        "invalid/multiple-mistakes/pools.yaml:22:15: error: literal secret in field "
        "\"password\"; write {keyVault: <vault>, secret: <name>} instead",
        "invalid/multiple-mistakes/vault.yaml:4:9: error: invalid KeyVault name \"kv_bad\": 3-24 "
        "letters, digits and '-', starting with a letter, ending with a letter or digit, no '--'",
        "invalid/multiple-mistakes/vault.yaml:7:8: error: invalid value \"gold\" for "
        "KeyVault.spec.sku: must be one of standard, premium",
        NULL};
    (void)state;
    expect_diags("invalid/multiple-mistakes", e);
}

static void missing_directory_is_not_found(void **state)
{
    dsvm_diags *d = NULL;
    dsvm_repo *r = NULL;

    (void)state;
    assert_int_equal(dsvm_diags_new(&d), 0);
    assert_int_equal(dsvm_repo_load(&r, "/nonexistent/dsvm-manifests", NULL, d), DSVM_ENOTFOUND);
    assert_null(r);
    assert_int_equal(dsvm_diags_count(d), 0);
    assert_non_null(strstr(dsvm_error_last()->message, "/nonexistent/dsvm-manifests"));
    dsvm_diags_free(d);
    dsvm_repo_free(NULL);
    dsvm_diags_free(NULL);
}

/* ---- hostile input ------------------------------------------------------------------ */

static void hostile_alias_bomb(void **state)
{
    char *path = data_path("hostile/alias-bomb.yaml");
    double t0 = now_seconds();
    char *msg = one_diag(path, NULL, DSVM_EINVALID);

    (void)state;
    assert_true(now_seconds() - t0 < 1.0);
    assert_non_null(strstr(msg, "hostile/alias-bomb.yaml:14:12: error: alias expansion exceeds "
                                "the limit of 10000 nodes"));
    free(msg);
    free(path);
}

static void hostile_file_over_size_limit(void **state)
{
    char *dir = tmpdir_new();
    size_t len = 20u << 20;
    char *big = malloc(len);
    char *path, *msg;
    double t0;

    (void)state;
    assert_non_null(big);
    memset(big, 'x', len);
    memcpy(big, "a: ", 3);
    path = tmp_file(dir, "big.yaml", big, len);
    free(big);
    t0 = now_seconds();
    msg = one_diag(dir, NULL, DSVM_ELIMIT);
    assert_true(now_seconds() - t0 < 1.0);
    assert_non_null(strstr(msg, "big.yaml: error: file is 20971520 bytes, more than the limit "
                                "of 8388608 bytes; split it into smaller files"));
    free(msg);
    free(path);
    rm_rf(dir);
    free(dir);
}

static void hostile_deep_nesting(void **state)
{
    char *dir = tmpdir_new();
    size_t len = 5u << 20;
    char *deep = malloc(len);
    char *path, *msg;
    double t0;

    (void)state;
    assert_non_null(deep);
    memset(deep, '[', len);
    memcpy(deep, "a: ", 3);
    path = tmp_file(dir, "deep.yaml", deep, len);
    free(deep);
    t0 = now_seconds();
    msg = one_diag(path, NULL, DSVM_EINVALID);
    assert_true(now_seconds() - t0 < 1.0);
    assert_non_null(strstr(msg, "deep.yaml:1:67: error: nesting deeper than the limit of 64 "
                                "levels"));
    free(msg);
    free(path);
    rm_rf(dir);
    free(dir);
}

static void hostile_deep_nesting_through_aliases(void **state)
{
    char *dir = tmpdir_new();
    char *text = malloc(4096);
    char *path, *msg, *p;
    int i;

    (void)state;
    assert_non_null(text);
    /* an anchor 40 levels deep, used 40 levels deep: 80 levels in all */
    p = text + sprintf(text, "a: &x ");
    for (i = 0; i < 40; i++)
        *p++ = '[';
    for (i = 0; i < 40; i++)
        *p++ = ']';
    p += sprintf(p, "\nb: ");
    for (i = 0; i < 40; i++)
        *p++ = '[';
    p += sprintf(p, "*x");
    for (i = 0; i < 40; i++)
        *p++ = ']';
    *p++ = '\n';
    path = tmp_file(dir, "alias-deep.yaml", text, (size_t)(p - text));
    free(text);
    msg = one_diag(path, NULL, DSVM_EINVALID);
    assert_non_null(strstr(msg, "alias-deep.yaml:2:44: error: nesting deeper than the limit of "
                                "64 levels (through an alias)"));
    free(msg);
    free(path);
    rm_rf(dir);
    free(dir);
}

static void hostile_huge_scalar(void **state)
{
    char *dir = tmpdir_new();
    size_t n = 2u << 20;
    char *text = malloc(n + 64);
    char *path, *msg;
    int head;

    (void)state;
    assert_non_null(text);
    head = sprintf(text, "apiVersion: dsvmops.io/v1\nkind: Identity\nmetadata: {name: \"");
    memset(text + head, 'x', n);
    memcpy(text + head + n, "\"}\n", 3);
    path = tmp_file(dir, "scalar.yaml", text, (size_t)head + n + 3);
    free(text);
    msg = one_diag(path, NULL, DSVM_EINVALID);
    assert_non_null(strstr(msg, "scalar.yaml:3:18: error: scalar of 2097152 bytes is longer "
                                "than the limit of 1048576 bytes"));
    free(msg);
    free(path);
    rm_rf(dir);
    free(dir);
}

static void hostile_nul_byte(void **state)
{
    static const char text[] = "apiVersion: dsvmops.io/v1\nkind: Iden\0tity\n";
    char *dir = tmpdir_new();
    char *path = tmp_file(dir, "nul.yaml", text, sizeof(text) - 1);
    char *msg = one_diag(path, NULL, DSVM_EINVALID);

    (void)state;
    assert_non_null(strstr(msg, "nul.yaml:2:11: error: NUL byte in file; manifests are UTF-8 "
                                "text"));
    free(msg);
    free(path);
    rm_rf(dir);
    free(dir);
}

static void hostile_invalid_utf8(void **state)
{
    static const char text[] = "apiVersion: dsvmops.io/v1\n# caf\xc3\xa9\nkind: Id\xc3\x28x\n";
    char *dir = tmpdir_new();
    char *path = tmp_file(dir, "utf8.yaml", text, sizeof(text) - 1);
    char *msg = one_diag(path, NULL, DSVM_EINVALID);

    (void)state;
    assert_non_null(strstr(msg, "utf8.yaml:3:9: error: invalid UTF-8 (byte 0xc3); manifests are "
                                "UTF-8 text"));
    free(msg);
    free(path);
    rm_rf(dir);
    free(dir);
}

static void hostile_symlinks(void **state)
{
    static const char ident[] = "apiVersion: dsvmops.io/v1\nkind: ResourceGroup\n"
                                "metadata: {name: rg}\nspec: {location: westeurope}\n";
    char *dir = tmpdir_new();
    char *real = tmp_file(dir, "real.txt", ident, sizeof(ident) - 1);
    char link[512], msg_want[600];
    dsvm_diags *d = NULL;
    dsvm_repo *r = NULL;
    char *msg;

    (void)state;
    /* a link inside the directory is followed; a loop is walked once */
    snprintf(link, sizeof(link), "%s/inside.yaml", dir);
    assert_int_equal(symlink("real.txt", link), 0);
    snprintf(link, sizeof(link), "%s/loop", dir);
    assert_int_equal(symlink(".", link), 0);
    assert_int_equal(dsvm_diags_new(&d), 0);
    assert_int_equal(dsvm_repo_load(&r, dir, NULL, d), 0);
    assert_int_equal(dsvm_repo_count(r), 1);
    dsvm_repo_free(r);
    dsvm_diags_free(d);

    /* a link leaving it is an error */
    snprintf(link, sizeof(link), "%s/escape.yaml", dir);
    assert_int_equal(symlink("/etc/hostname", link), 0);
    unlink(real);
    free(real);
    snprintf(link, sizeof(link), "%s/inside.yaml", dir);
    unlink(link);
    msg = one_diag(dir, NULL, DSVM_EINVALID);
    snprintf(msg_want, sizeof(msg_want),
             "%s/escape.yaml: error: symbolic link leaves the "
             "manifest directory (to /etc/hostname)",
             dir);
    assert_string_equal(msg, msg_want);
    free(msg);
    rm_rf(dir);
    free(dir);
}

static void hostile_fifo_is_not_read(void **state)
{
    char *dir = tmpdir_new();
    char path[512];
    char *msg;

    (void)state;
    snprintf(path, sizeof(path), "%s/pipe.yaml", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    msg = one_diag(dir, NULL, DSVM_EINVALID);
    assert_non_null(strstr(msg, "pipe.yaml: error: not a regular file"));
    free(msg);
    rm_rf(dir);
    free(dir);
}

static void hostile_limits_are_configurable(void **state)
{
    char *dir = tmpdir_new();
    char *text = malloc(64 * 20);
    char *path, *msg;
    dsvm_limits lim;
    size_t n = 0;
    int i;

    (void)state;
    assert_non_null(text);
    for (i = 0; i < 11; i++)
        n += (size_t)sprintf(text + n, "---\n# empty document %d\n", i);
    path = tmp_file(dir, "docs.yaml", text, n);
    free(text);
    dsvm_limits_init(&lim);
    assert_int_equal(lim.max_file_bytes, 8u << 20);
    assert_int_equal(lim.max_depth, 64);
    lim.max_documents = 10;
    msg = one_diag(path, &lim, DSVM_ELIMIT);
    assert_non_null(strstr(msg, "docs.yaml:21:1: error: too many documents: the limit is 10"));
    free(msg);

    dsvm_limits_init(&lim);
    lim.max_total_bytes = 16;
    msg = one_diag(dir, &lim, DSVM_ELIMIT);
    assert_non_null(strstr(msg, "error: manifests add up to more than the limit of 16 bytes"));
    free(msg);
    free(path);
    rm_rf(dir);
    free(dir);
}

static void hostile_error_flood_is_capped(void **state)
{
    char *dir = tmpdir_new();
    size_t cap = 2u << 20, n = 0;
    char *text = malloc(cap);
    char *path;
    dsvm_diags *d = NULL;
    dsvm_repo *r = NULL;
    double t0;

    (void)state;
    assert_non_null(text);
    n += (size_t)sprintf(text, "apiVersion: dsvmops.io/v1\nkind: Identity\n"
                               "metadata: {name: id-a, resourceGroup: rg}\nspec:\n");
    while (n + 64 < cap)
        n += (size_t)sprintf(text + n, "  unknownfieldnumber%zu: x\n", n);
    path = tmp_file(dir, "flood.yaml", text, n);
    free(text);
    assert_int_equal(dsvm_diags_new(&d), 0);
    t0 = now_seconds();
    assert_int_equal(dsvm_repo_load(&r, path, NULL, d), DSVM_EINVALID);
    assert_true(now_seconds() - t0 < 2.0);
    assert_int_equal(dsvm_diags_count(d), 1000);
    assert_true(dsvm_diags_errors(d) > 50000);
    dsvm_diags_free(d);
    free(path);
    rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(load_all_kinds_counts_and_order),
        cmocka_unit_test(group_identity_and_metadata),
        cmocka_unit_test(key_vault_defaults_and_readers),
        cmocka_unit_test(storage_defaults_and_tiers),
        cmocka_unit_test(domain_join_monitoring_network),
        cmocka_unit_test(linux_pool_typed_values),
        cmocka_unit_test(windows_and_batch_pools),
        cmocka_unit_test(role_and_policy_assignments),
        cmocka_unit_test(merge_keys_are_applied),
        cmocka_unit_test(skips_hidden_config_and_empty_documents),
        cmocka_unit_test(parse_threads_do_not_change_results),
        cmocka_unit_test(warnings_do_not_fail_the_load),
        cmocka_unit_test(builtin_roles_table),
        cmocka_unit_test(image_alias_table),
        cmocka_unit_test(schema_is_generated_from_tables),
        cmocka_unit_test(error_yaml_syntax),
        cmocka_unit_test(error_unknown_kind),
        cmocka_unit_test(error_api_version),
        cmocka_unit_test(error_unknown_field_did_you_mean),
        cmocka_unit_test(error_wrong_type),
        cmocka_unit_test(error_missing_required),
        cmocka_unit_test(error_empty_required_field),
        cmocka_unit_test(error_enum_values),
        cmocka_unit_test(error_naming_rules),
        cmocka_unit_test(error_formats),
        cmocka_unit_test(error_duplicate_names),
        cmocka_unit_test(error_dangling_references),
        cmocka_unit_test(error_reference_cycle),
        cmocka_unit_test(error_literal_secrets),
        cmocka_unit_test(error_literal_secret_keys),
        cmocka_unit_test(error_metadata_and_tags),
        cmocka_unit_test(error_envelope_and_yaml_keys),
        cmocka_unit_test(error_document_not_a_mapping),
        cmocka_unit_test(error_pool_os_rules),
        cmocka_unit_test(error_pool_and_subnet_locations),
        cmocka_unit_test(error_batch_rules),
        cmocka_unit_test(error_storage_rules),
        cmocka_unit_test(error_mounts),
        cmocka_unit_test(error_network_rules),
        cmocka_unit_test(error_role_assignment),
        cmocka_unit_test(error_policy_assignment),
        cmocka_unit_test(error_many_mistakes_sorted),
        cmocka_unit_test(missing_directory_is_not_found),
        cmocka_unit_test(hostile_alias_bomb),
        cmocka_unit_test(hostile_file_over_size_limit),
        cmocka_unit_test(hostile_deep_nesting),
        cmocka_unit_test(hostile_deep_nesting_through_aliases),
        cmocka_unit_test(hostile_huge_scalar),
        cmocka_unit_test(hostile_nul_byte),
        cmocka_unit_test(hostile_invalid_utf8),
        cmocka_unit_test(hostile_symlinks),
        cmocka_unit_test(hostile_fifo_is_not_read),
        cmocka_unit_test(hostile_limits_are_configurable),
        cmocka_unit_test(hostile_error_flood_is_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
