/*
 * dsvmops.yaml loading: the example, every section, unknown keys with
 * hints, literal secrets, environment fill-in and precedence, and origins.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "dsvmops/error.h"

static char *fixture(const char *name)
{
    const char *dir = getenv("DSVM_TEST_DATA");
    size_t n;
    char *p;

    assert_non_null(dir);
    n = strlen(dir) + strlen(name) + 16;
    p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/config/%s", dir, name);
    return p;
}

static char *example_file(const char *name)
{
    const char *dir = getenv("DSVM_TEST_DATA");
    size_t n;
    char *p;

    assert_non_null(dir);
    n = strlen(dir) + strlen(name) + 32;
    p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/../../examples/%s", dir, name);
    return p;
}

static char *example(void)
{
    return example_file("dsvmops.yaml");
}

static char *const empty_env[] = {NULL};

static void config_loads_the_example(void **state)
{
    char *path = example();
    dsvm_config *cfg = NULL;

    (void)state;
    assert_int_equal(dsvm_config_load(&cfg, path, empty_env), 0);
    assert_string_equal(cfg->target.subscription.value, "00000000-0000-0000-0000-000000000001");
    assert_int_equal(cfg->target.subscription.origin, DSVM_CONFIG_FILE);
    assert_int_equal(cfg->target.subscription.line, 11);
    assert_string_equal(cfg->target.resource_manager.value, "http://127.0.0.1:8443");
    assert_int_equal(cfg->target.credential_kind, DSVM_CREDENTIAL_CLIENT_SECRET);
    assert_string_equal(cfg->target.client_secret_env.value, "DSVMOPS_CLIENT_SECRET");
    /* loopback emulator: tokens are still asked for ARM's audience */
    assert_string_equal(cfg->target.audience.value, "https://management.azure.com");
    assert_int_equal(cfg->target.audience.origin, DSVM_CONFIG_DEFAULT);
    assert_non_null(strstr(cfg->state.path, "/examples/.dsvmops-state.db"));
    assert_true(cfg->state.path[0] == '/');
    assert_int_equal(cfg->source.interval_ms, 30000);
    assert_int_equal(cfg->drift.interval_ms, 60000);
    assert_int_equal(cfg->reconcile.parallelism, 32);
    assert_int_equal(cfg->reconcile.rollout_batch, 20);
    assert_int_equal(cfg->reconcile.rollout_batch_percent, 1);
    assert_int_equal(cfg->nalerts, 1);
    assert_string_equal(cfg->alerts[0].secret.env, "ALERT_HMAC");
    assert_string_equal(cfg->server.webhook_secret.env, "DSVMOPS_WEBHOOK_SECRET");
    dsvm_config_free(cfg);
    free(path);
}

static void config_reads_every_section(void **state)
{
    char *path = fixture("full.yaml");
    char *const env[] = {"HOME=/home/tester", NULL};
    dsvm_config *cfg = NULL;

    (void)state;
    assert_int_equal(dsvm_config_load(&cfg, path, env), 0);
    assert_non_null(strstr(cfg->source.url, "/config/infra-repo"));
    assert_true(cfg->source.url[0] == '/');
    assert_string_equal(cfg->source.ref, "release");
    assert_int_equal(cfg->source.interval_ms, 90000);
    assert_string_equal(cfg->source.auth.password.env, "GIT_TOKEN");
    assert_string_equal(cfg->source.auth.ssh_key_file, "/home/tester/.ssh/id_ed25519");
    /* trailing slash dropped */
    assert_string_equal(cfg->target.resource_manager.value, "http://127.0.0.1:8443");
    assert_int_equal(cfg->target.credential_kind, DSVM_CREDENTIAL_WORKLOAD_IDENTITY);
    assert_non_null(strstr(cfg->target.federated_token_file.value, "/config/secrets/token.jwt"));
    assert_non_null(strstr(cfg->target.ca_file.value, "/config/ca.pem"));
    assert_null(strstr(cfg->target.ca_file.value, "./"));
    assert_non_null(strstr(cfg->state.path, "/config/state/dsvmops.db"));
    assert_int_equal(cfg->reconcile.auto_apply, 0);
    assert_int_equal(cfg->reconcile.prune, 1);
    assert_int_equal(cfg->reconcile.parallelism, 4);
    assert_int_equal(cfg->reconcile.max_deletes, 3);
    assert_int_equal(cfg->reconcile.rollout_batch, 5);
    assert_int_equal(cfg->reconcile.rollout_batch_percent, 0);
    assert_int_equal(cfg->drift.interval_ms, 300000);
    assert_int_equal(cfg->nalerts, 3);
    assert_int_equal(cfg->alerts[1].kind, DSVM_ALERT_SLACK);
    assert_string_equal(cfg->alerts[1].url_secret.env, "SLACK_WEBHOOK_URL");
    assert_int_equal(cfg->alerts[2].kind, DSVM_ALERT_TEAMS);
    assert_string_equal(cfg->alerts[2].url_secret.file, "/run/secrets/teams-url");
    assert_string_equal(cfg->server.listen, "127.0.0.1:9999");
    dsvm_config_free(cfg);
    free(path);
}

static void config_unknown_key_has_position_and_hint(void **state)
{
    char *path = fixture("unknown-key.yaml");
    dsvm_config *cfg = NULL;
    const char *msg;
    char want[512];

    (void)state;
    assert_int_equal(dsvm_config_load(&cfg, path, empty_env), DSVM_EINVALID);
    assert_null(cfg);
    msg = dsvm_error_last()->message;
    snprintf(want, sizeof(want),
             "%s:3:3: error: unknown key \"subscripton\" in target; did you mean "
             "\"subscription\"?",
             path);
    assert_non_null(strstr(msg, want));
    snprintf(want, sizeof(want),
             "%s:6:3: error: unknown key \"paralelism\" in reconcile; did you mean "
             "\"parallelism\"?",
             path);
    assert_non_null(strstr(msg, want));
    free(path);
}

static void config_rejects_literal_secret_with_position(void **state)
{
    char *path = fixture("literal-secret.yaml");
    dsvm_config *cfg = NULL;
    const char *msg;
    char want[512];

    (void)state;
    assert_int_equal(dsvm_config_load(&cfg, path, empty_env), DSVM_EINVALID);
    msg = dsvm_error_last()->message;
    snprintf(want, sizeof(want), "%s:5:3: error: target.client_secret would put a secret", path);
    assert_non_null(strstr(msg, want));
    assert_non_null(strstr(msg, "\"client_secret_env: VARIABLE\""));
    assert_non_null(strstr(msg, "\"client_secret_file: PATH\""));
    /* the secret itself is never repeated */
    assert_null(strstr(msg, "hunter2"));
    free(path);
}

static void config_rejects_literal_slack_webhook_url(void **state)
{
    char *path = fixture("slack-literal-url.yaml");
    dsvm_config *cfg = NULL;
    const char *msg;
    char want[512];

    (void)state;
    assert_int_equal(dsvm_config_load(&cfg, path, empty_env), DSVM_EINVALID);
    msg = dsvm_error_last()->message;
    snprintf(want, sizeof(want), "%s:7:10: error: alerts[].url of a slack alert would put a secret",
             path);
    assert_non_null(strstr(msg, want));
    assert_non_null(strstr(msg, "\"url_env: VARIABLE\""));
    assert_null(strstr(msg, "XXXXSECRET"));
    /* a generic webhook URL is not a secret: only one error */
    assert_null(strchr(msg, '\n'));
    free(path);
}

static void config_rejects_a_key_given_twice(void **state)
{
    char *path = fixture("duplicate-key.yaml");
    dsvm_config *cfg = NULL;
    char want[512];

    (void)state;
    assert_int_equal(dsvm_config_load(&cfg, path, empty_env), DSVM_EINVALID);
    snprintf(want, sizeof(want), "%s:4:3: error: target.subscription is given twice", path);
    assert_non_null(strstr(dsvm_error_last()->message, want));
    free(path);
}

static void config_env_fills_what_the_file_leaves_out(void **state)
{
    char *path = fixture("minimal.yaml");
    char *const env[] = {"AZURE_TENANT_ID=tenant-from-env",
                         "AZURE_CLIENT_ID=client-from-env",
                         "AZURE_CLIENT_SECRET=s3cret-from-env",
                         "AZURE_SUBSCRIPTION_ID=99999999-9999-9999-9999-999999999999",
                         "AZURE_AUTHORITY_HOST=https://login.example.net/",
                         NULL};
    dsvm_config *cfg = NULL;
    char *secret = NULL;
    dsvm_config_secret s;

    (void)state;
    assert_int_equal(dsvm_config_load(&cfg, path, env), 0);
    /* the file wins */
    assert_string_equal(cfg->target.subscription.value, "11111111-1111-1111-1111-111111111111");
    assert_int_equal(cfg->target.subscription.origin, DSVM_CONFIG_FILE);
    /* the environment fills the rest, and says which variable */
    assert_string_equal(cfg->target.tenant.value, "tenant-from-env");
    assert_int_equal(cfg->target.tenant.origin, DSVM_CONFIG_ENV);
    assert_string_equal(cfg->target.tenant.env_name, "AZURE_TENANT_ID");
    assert_string_equal(cfg->target.client_id.value, "client-from-env");
    assert_string_equal(cfg->target.authority.value, "https://login.example.net");
    assert_int_equal(cfg->target.authority.origin, DSVM_CONFIG_ENV);
    assert_string_equal(cfg->target.resource_manager.value, "https://management.azure.com");
    assert_int_equal(cfg->target.resource_manager.origin, DSVM_CONFIG_DEFAULT);
    assert_string_equal(dsvm_config_origin_name(cfg->target.resource_manager.origin), "default");
    /* a secret in the environment selects client_secret, by name only */
    assert_int_equal(cfg->target.credential_kind, DSVM_CREDENTIAL_CLIENT_SECRET);
    assert_int_equal(cfg->target.credential.origin, DSVM_CONFIG_DEFAULT);
    assert_string_equal(cfg->target.client_secret_env.value, "AZURE_CLIENT_SECRET");
    assert_int_equal(cfg->target.client_secret_env.origin, DSVM_CONFIG_ENV);
    s.env = cfg->target.client_secret_env.value;
    s.file = NULL;
    assert_int_equal(dsvm_config_read_secret(&secret, &s, "target.client_secret", env), 0);
    assert_string_equal(secret, "s3cret-from-env");
    free(secret);
    dsvm_config_free(cfg);
    free(path);
}

static void config_target_json_shows_where_each_value_came_from(void **state)
{
    char *path = fixture("minimal.yaml");
    char *const env[] = {"AZURE_TENANT_ID=tenant-from-env", "AZURE_CLIENT_ID=c",
                         "AZURE_CLIENT_SECRET=never-shown", NULL};
    dsvm_config *cfg = NULL;
    json_t *j;
    char *text;

    (void)state;
    assert_int_equal(dsvm_config_load(&cfg, path, env), 0);
    j = dsvm_config_target_json(cfg);
    assert_non_null(j);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "subscription"), "origin")), "file");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "subscription"), "line")), 3);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "tenant"), "origin")),
                        "env");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "tenant"), "env")),
                        "AZURE_TENANT_ID");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "authority"), "origin")), "default");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "client_secret_env"), "value")),
        "AZURE_CLIENT_SECRET");
    assert_null(json_object_get(j, "ca_file"));
    text = json_dumps(j, 0);
    assert_null(strstr(text, "never-shown"));
    free(text);
    json_decref(j);
    dsvm_config_free(cfg);
    free(path);
}

static void config_without_credentials_uses_managed_identity(void **state)
{
    char *path = fixture("minimal.yaml");
    dsvm_config *cfg = NULL;

    (void)state;
    assert_int_equal(dsvm_config_load(&cfg, path, empty_env), 0);
    assert_int_equal(cfg->target.credential_kind, DSVM_CREDENTIAL_MANAGED_IDENTITY);
    assert_string_equal(cfg->target.imds_endpoint.value,
                        "http://169.254.169.254/metadata/identity/oauth2/token");
    assert_null(cfg->target.tenant.value);
    assert_int_equal(cfg->target.tenant.origin, DSVM_CONFIG_UNSET);
    dsvm_config_free(cfg);
    free(path);
}

static void config_workload_identity_from_env(void **state)
{
    char *path = fixture("minimal.yaml");
    char *const env[] = {"AZURE_TENANT_ID=t", "AZURE_CLIENT_ID=c",
                         "AZURE_FEDERATED_TOKEN_FILE=/var/run/secrets/azure/tokens/token", NULL};
    dsvm_config *cfg = NULL;

    (void)state;
    assert_int_equal(dsvm_config_load(&cfg, path, env), 0);
    assert_int_equal(cfg->target.credential_kind, DSVM_CREDENTIAL_WORKLOAD_IDENTITY);
    assert_string_equal(cfg->target.federated_token_file.value,
                        "/var/run/secrets/azure/tokens/token");
    assert_int_equal(cfg->target.federated_token_file.origin, DSVM_CONFIG_ENV);
    dsvm_config_free(cfg);
    free(path);
}

static void config_missing_subscription_says_how_to_set_it(void **state)
{
    char *path = fixture("no-subscription.yaml");
    char *const env[] = {"AZURE_SUBSCRIPTION_ID=33333333-3333-3333-3333-333333333333", NULL};
    dsvm_config *cfg = NULL;
    char want[512];

    (void)state;
    assert_int_equal(dsvm_config_load(&cfg, path, empty_env), DSVM_EINVALID);
    snprintf(want, sizeof(want), "%s:2:3: error: target.subscription is not set", path);
    assert_non_null(strstr(dsvm_error_last()->message, want));
    assert_non_null(strstr(dsvm_error_last()->message, "AZURE_SUBSCRIPTION_ID"));

    assert_int_equal(dsvm_config_load(&cfg, path, env), 0);
    assert_string_equal(cfg->target.subscription.value, "33333333-3333-3333-3333-333333333333");
    assert_int_equal(cfg->target.subscription.origin, DSVM_CONFIG_ENV);
    dsvm_config_free(cfg);
    free(path);

    path = fixture("no-such-file.yaml");
    assert_int_equal(dsvm_config_load(&cfg, path, empty_env), DSVM_EIO);
    assert_non_null(strstr(dsvm_error_last()->message, "cannot open"));
    free(path);
}

static void config_refuses_plain_http_to_remote_host(void **state)
{
    char *path = fixture("http-remote.yaml");
    dsvm_config *cfg = NULL;
    char want[512];

    (void)state;
    assert_int_equal(dsvm_config_load(&cfg, path, empty_env), DSVM_EINVALID);
    snprintf(want, sizeof(want), "%s:4:21: error: target.resource_manager: refusing plain http://",
             path);
    assert_non_null(strstr(dsvm_error_last()->message, want));
    assert_non_null(strstr(dsvm_error_last()->message, "loopback"));
    free(path);
}

static void config_reports_every_bad_value(void **state)
{
    char *path = fixture("bad-values.yaml");
    dsvm_config *cfg = NULL;
    const char *msg;

    (void)state;
    assert_int_equal(dsvm_config_load(&cfg, path, empty_env), DSVM_EINVALID);
    msg = dsvm_error_last()->message;
    assert_non_null(strstr(msg, ":3:15: error: target.credential must be client_secret"));
    assert_non_null(strstr(msg, ":5:10: error: reconcile.prune must be true or false"));
    assert_non_null(strstr(msg, ":6:16: error: reconcile.parallelism must be a whole number"));
    assert_non_null(strstr(msg, ":7:19: error: drift.interval must be a duration"));
    assert_non_null(strstr(msg, "alerts[].kind must be webhook, slack or teams"));
    free(path);
}

static void config_reads_daemon_settings(void **state)
{
    char *path = fixture("daemon.yaml");
    dsvm_config *cfg = NULL;

    (void)state;
    assert_int_equal(dsvm_config_load(&cfg, path, empty_env), 0);
    assert_int_equal(cfg->drift.interval_ms, 30000);
    assert_int_equal(cfg->drift.policy, DSVM_DRIFT_IGNORE);
    assert_int_equal(cfg->drift.kind_policy[DSVM_KIND_SHARED_STORAGE], DSVM_DRIFT_HEAL);
    assert_int_equal(cfg->drift.kind_policy[DSVM_KIND_POOL], DSVM_DRIFT_ALERT);
    assert_int_equal(cfg->drift.kind_policy[DSVM_KIND_KEY_VAULT], DSVM_UNSET);
    assert_non_null(strstr(cfg->server.api_token.file, "/config/api-token"));
    assert_null(cfg->server.api_token.env);
    assert_string_equal(cfg->log.level, "debug");
    assert_string_equal(cfg->log.format, "json");
    dsvm_config_free(cfg);
    free(path);
    /* the defaults: no policy (self_heal decides), the API token from DSVMOPS_API_TOKEN */
    path = fixture("minimal.yaml");
    assert_int_equal(dsvm_config_load(&cfg, path, empty_env), 0);
    assert_int_equal(cfg->drift.policy, DSVM_UNSET);
    assert_int_equal(cfg->drift.kind_policy[DSVM_KIND_POOL], DSVM_UNSET);
    assert_string_equal(cfg->server.api_token.env, "DSVMOPS_API_TOKEN");
    assert_null(cfg->log.format);
    dsvm_config_free(cfg);
    free(path);
}

static void config_loads_the_deploy_example(void **state)
{
    char *path = example_file("deploy/dsvmops.yaml");
    dsvm_config *cfg = NULL;

    (void)state;
    assert_int_equal(dsvm_config_load(&cfg, path, empty_env), 0);
    assert_int_equal(cfg->target.credential_kind, DSVM_CREDENTIAL_MANAGED_IDENTITY);
    assert_int_equal(cfg->drift.kind_policy[DSVM_KIND_SHARED_STORAGE], DSVM_DRIFT_HEAL);
    assert_int_equal(cfg->drift.policy, DSVM_DRIFT_ALERT);
    assert_string_equal(cfg->server.listen, "0.0.0.0:9464");
    assert_int_equal(cfg->nalerts, 2);
    dsvm_config_free(cfg);
    free(path);
}

static void config_reports_bad_daemon_settings(void **state)
{
    char *path = fixture("daemon-bad.yaml");
    dsvm_config *cfg = NULL;
    const char *msg;

    (void)state;
    assert_int_equal(dsvm_config_load(&cfg, path, empty_env), DSVM_EINVALID);
    assert_null(cfg);
    msg = dsvm_error_last()->message;
    assert_non_null(strstr(msg, ":4:11: error: drift.policy must be heal, alert or ignore"));
    assert_non_null(strstr(msg, ":5:11: error: drift.kinds: 'Poool' is not a kind"));
    assert_non_null(strstr(msg, "drift.kinds.KeyVault must be heal, alert or ignore"));
    assert_non_null(strstr(msg, ":6:14: error: log.level must be debug, info, warn or error"));
    assert_non_null(strstr(msg, "log.format must be text or json"));
    free(path);
}

static void config_reads_secret_from_file(void **state)
{
    char *path = fixture("client-secret.txt");
    dsvm_config_secret s = {NULL, path};
    char *secret = NULL;

    (void)state;
    assert_int_equal(dsvm_config_read_secret(&secret, &s, "target.client_secret", empty_env), 0);
    assert_string_equal(secret, "secret-from-file");
    free(secret);
    s.file = NULL;
    s.env = "DSVM_TEST_UNSET_VARIABLE";
    assert_int_equal(dsvm_config_read_secret(&secret, &s, "target.client_secret", empty_env),
                     DSVM_ENOTFOUND);
    assert_non_null(strstr(dsvm_error_last()->message, "DSVM_TEST_UNSET_VARIABLE is not set"));
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_loads_the_example),
        cmocka_unit_test(config_reads_every_section),
        cmocka_unit_test(config_unknown_key_has_position_and_hint),
        cmocka_unit_test(config_rejects_literal_secret_with_position),
        cmocka_unit_test(config_rejects_literal_slack_webhook_url),
        cmocka_unit_test(config_rejects_a_key_given_twice),
        cmocka_unit_test(config_env_fills_what_the_file_leaves_out),
        cmocka_unit_test(config_target_json_shows_where_each_value_came_from),
        cmocka_unit_test(config_without_credentials_uses_managed_identity),
        cmocka_unit_test(config_workload_identity_from_env),
        cmocka_unit_test(config_missing_subscription_says_how_to_set_it),
        cmocka_unit_test(config_refuses_plain_http_to_remote_host),
        cmocka_unit_test(config_reports_every_bad_value),
        cmocka_unit_test(config_reads_secret_from_file),
        cmocka_unit_test(config_reads_daemon_settings),
        cmocka_unit_test(config_reports_bad_daemon_settings),
        cmocka_unit_test(config_loads_the_deploy_example),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
