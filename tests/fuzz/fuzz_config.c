/*
 * Fuzz target: the controller configuration (dsvm_config_load). The input
 * is written as dsvmops.yaml in this process's temporary directory and
 * loaded with a fixed environment holding the Azure SDK variables, so that
 * the file-versus-environment merging runs too. A loaded configuration is
 * rendered with dsvm_config_target_json(), and the secrets it names by a
 * variable are read from that environment (never a file the input names).
 */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *const fuzz_env[] = {
    "AZURE_SUBSCRIPTION_ID=00000000-0000-0000-0000-000000000001",
    "AZURE_TENANT_ID=00000000-0000-0000-0000-000000000002",
    "AZURE_CLIENT_ID=00000000-0000-0000-0000-000000000003",
    "AZURE_CLIENT_SECRET=not-a-secret",
    "AZURE_AUTHORITY_HOST=https://login.microsoftonline.com",
    "DSVMOPS_WEBHOOK_SECRET=hook-secret",
    "HOME=/nonexistent",
    NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[4200];
    dsvm_config *cfg = NULL;
    char *secret = NULL;
    json_t *target;
    size_t i;

    snprintf(path, sizeof(path), "%s/dsvmops.yaml", fuzz_tmpdir());
    fuzz_write_file(path, data, size);
    if (dsvm_config_load(&cfg, path, fuzz_env) != 0)
        return 0;
    target = dsvm_config_target_json(cfg);
    json_decref(target);
    dsvm_config_credential_name(cfg->target.credential_kind);
    /* Secrets named by a variable only: a file could be /dev/stdin. */
    if (!cfg->server.webhook_secret.file &&
        dsvm_config_read_secret(&secret, &cfg->server.webhook_secret, "the webhook secret",
                                fuzz_env) == 0)
        free(secret);
    for (i = 0; i < cfg->nalerts; i++) {
        secret = NULL;
        if (!cfg->alerts[i].secret.file &&
            dsvm_config_read_secret(&secret, &cfg->alerts[i].secret, "an alert secret", fuzz_env) ==
                0)
            free(secret);
    }
    dsvm_config_free(cfg);
    return 0;
}
