/*
 * Pool: an interactive pool becomes a VM scale set with inline extensions
 * (domain join by OS, Entra login, antimalware, the Azure Monitor agent,
 * a boot script for mounts), a data collection rule association and, for
 * an endpoint, a public IP, a Standard load balancer with NAT pools and a
 * network security group. A batch pool becomes a pool in the group's
 * shared Batch account (one per group and region, created once).
 *
 * No secret is ever written into a body: the Windows admin password and
 * SMB keys are write-only Key Vault references for the host; Windows AD
 * join makes Azure fetch the secret itself (protectedSettingsFromKeyVault);
 * Linux boot scripts read secrets with the pool's managed identity.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dsvmops/error.h"
#include "expand.h"

#define VMSS_TYPE      "Microsoft.Compute/virtualMachineScaleSets"
#define AUTOSCALE_TYPE "Microsoft.Insights/autoscalesettings"
#define EXT_PATH       "properties.virtualMachineProfile.extensionProfile.extensions"

/* The extension catalogue (arm-wire.md C.1), as data. */
typedef struct {
    const char *name, *publisher, *type, *version;
    int auto_upgrade; /* enableAutomaticUpgrade */
} ext_def;

static const ext_def EXT_AAD_LINUX = {"AADSSHLoginForLinux", "Microsoft.Azure.ActiveDirectory",
                                      "AADSSHLoginForLinux", "1.0", 0};
static const ext_def EXT_AAD_WINDOWS = {"AADLoginForWindows", "Microsoft.Azure.ActiveDirectory",
                                        "AADLoginForWindows", "1.0", 0};
static const ext_def EXT_AD_JOIN = {"JsonADDomainExtension", "Microsoft.Compute",
                                    "JsonADDomainExtension", "1.3", 0};
static const ext_def EXT_ANTIMALWARE = {"IaaSAntimalware", "Microsoft.Azure.Security",
                                        "IaaSAntimalware", "1.3", 0};
static const ext_def EXT_AMA_LINUX = {"AzureMonitorLinuxAgent", "Microsoft.Azure.Monitor",
                                      "AzureMonitorLinuxAgent", "1.0", 1};
static const ext_def EXT_AMA_WINDOWS = {"AzureMonitorWindowsAgent", "Microsoft.Azure.Monitor",
                                        "AzureMonitorWindowsAgent", "1.0", 1};
static const ext_def EXT_BOOT_LINUX = {"dsvmops-boot", "Microsoft.Azure.Extensions", "CustomScript",
                                       "2.1", 0};
static const ext_def EXT_BOOT_WINDOWS = {"dsvmops-boot", "Microsoft.Compute",
                                         "CustomScriptExtension", "1.10", 0};

static const ext_def EXT_HEALTH_LINUX = {"ApplicationHealthLinux", "Microsoft.ManagedServices",
                                         "ApplicationHealthLinux", "1.0", 0};
static const ext_def EXT_HEALTH_WINDOWS = {"ApplicationHealthWindows", "Microsoft.ManagedServices",
                                           "ApplicationHealthWindows", "1.0", 0};

/* Endpoint protocols and their backend ports. */
static const struct {
    const char *name;
    int port;
} protocols[] = {{"ssh", 22}, {"rdp", 3389}, {"jupyter", 8000}};

/* Frontend NAT port ranges: one block of 1000 per protocol. */
#define NAT_PORT_BASE  50000
#define NAT_PORT_BLOCK 1000

typedef struct {
    const char *publisher, *offer, *sku, *version, *os, *agent;
} pool_image;

static int resolve_image(az_ex *ex, const json_t *obj, pool_image *out)
{
    const json_t *image = json_object_get(json_object_get(obj, "spec"), "image");
    const az_image *row;

    if (json_is_string(image)) {
        row = az_image_find(json_string_value(image));
        if (!row)
            return az_fail(ex, "Pool/%s: unknown image alias '%s' (image table %s)",
                           az_str(obj, "name", "?"), json_string_value(image),
                           AZ_IMAGE_TABLE_VERSION);
        *out = (pool_image){row->publisher, row->offer, row->sku,
                            "latest",       row->os,    row->node_agent_sku_id};
        return 0;
    }
    if (!json_is_object(image) || !az_str(image, "publisher", NULL) ||
        !az_str(image, "offer", NULL) || !az_str(image, "sku", NULL))
        return az_fail(ex, "Pool/%s: image must be an alias or {publisher, offer, sku}",
                       az_str(obj, "name", "?"));
    *out = (pool_image){az_str(image, "publisher", NULL), az_str(image, "offer", NULL),
                        az_str(image, "sku", NULL),       az_str(image, "version", "latest"),
                        az_str(image, "os", "linux"),     az_str(image, "nodeAgentSkuId", NULL)};
    return 0;
}

const char *az_pool_os(const json_t *spec)
{
    const json_t *image = json_object_get(spec, "image");
    const az_image *row = az_image_find(json_string_value(image));

    if (row)
        return row->os;
    return az_str(image, "os", "linux");
}

static int is_batch(const json_t *obj)
{
    return strcmp(az_str(json_object_get(obj, "spec"), "mode", ""), "batch") == 0;
}

/* The shared Batch account of a group and region: "ba" + 10 hex digits of
 * SHA-1(subscription/group/location), lower-cased and without spaces so
 * that "East US" and "eastus" name the same account. */
static json_t *batch_account_id(az_ex *ex, const char *rg, const char *loc)
{
    json_t *seed = json_sprintf("%s/%s/%s", ex->sub, rg, loc), *id;
    char *p, *q, hash[11];

    if (!seed)
        return NULL;
    for (p = q = (char *)json_string_value(seed); *p; p++)
        if (*p != ' ')
            *q++ = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
    *q = '\0';
    az_short_hash(hash, 5, json_string_value(seed));
    json_decref(seed);
    id = json_sprintf("ba%s", hash);
    if (!id)
        return NULL;
    seed = id;
    id = az_id(ex, rg, "Microsoft.Batch/batchAccounts", json_string_value(seed));
    json_decref(seed);
    return id;
}

json_t *az_pool_resource_id(az_ex *ex, const json_t *pool)
{
    const char *name = az_str(pool, "name", "");
    const char *loc;
    json_t *account, *id;

    if (!is_batch(pool))
        return az_id_of(ex, pool, VMSS_TYPE, name);
    loc = az_location(ex, pool);
    account = loc ? batch_account_id(ex, az_str(pool, "resourceGroup", ""), loc) : NULL;
    id = account ? json_sprintf("%s/pools/%s", json_string_value(account), name) : NULL;
    json_decref(account);
    return id;
}

/* The network dsvmops creates for a pool that names no subnet. */
static json_t *auto_vnet_id(az_ex *ex, const json_t *pool)
{
    json_t *name = json_sprintf("%s-vnet", az_str(pool, "name", "")), *id;

    id = name ? az_id_of(ex, pool, "Microsoft.Network/virtualNetworks", json_string_value(name))
              : NULL;
    json_decref(name);
    return id;
}

json_t *az_pool_subnet(az_ex *ex, json_t *res, const json_t *pool)
{
    const char *ref = az_str(json_object_get(pool, "spec"), "subnet", NULL);
    json_t *vnet, *id;

    if (ref)
        return az_subnet_id(ex, res, pool, ref);
    vnet = auto_vnet_id(ex, pool);
    id = vnet ? json_sprintf("%s/subnets/default", json_string_value(vnet)) : NULL;
    if (!id || az_dep_json(res, vnet) < 0) {
        json_decref(id);
        id = NULL;
        az_fail(ex, "out of memory");
    }
    json_decref(vnet);
    return id;
}

static int emit_auto_vnet(az_ex *ex, const json_t *obj)
{
    json_t *id = auto_vnet_id(ex, obj), *name, *res;

    if (!id)
        return az_fail(ex, "out of memory");
    name = json_sprintf("%s-vnet", az_str(obj, "name", ""));
    json_decref(id);
    res = name ? az_emit_tracked(
                     ex, obj, "Microsoft.Network/virtualNetworks", json_string_value(name),
                     json_pack("{s:{s:{s:[s]},s:[{s:s,s:{s:s,s:[{s:s},{s:s}]}}]}}", "properties",
                               "addressSpace", "addressPrefixes", "10.0.0.0/16", "subnets", "name",
                               "default", "properties", "addressPrefix", "10.0.0.0/24",
                               "serviceEndpoints", "service", "Microsoft.Storage", "service",
                               "Microsoft.KeyVault"))
               : NULL;
    json_decref(name);
    return res ? 0 : DSVM_EINVALID;
}

static json_t *extension(const ext_def *d, json_t *settings)
{
    json_t *ext = json_pack("{s:s,s:{s:s,s:s,s:s,s:b}}", "name", d->name, "properties", "publisher",
                            d->publisher, "type", d->type, "typeHandlerVersion", d->version,
                            "autoUpgradeMinorVersion", 1);
    json_t *props = json_object_get(ext, "properties");

    if (ext && d->auto_upgrade)
        json_object_set_new(props, "enableAutomaticUpgrade", json_true());
    if (ext && settings)
        json_object_set(props, "settings", settings);
    json_decref(settings);
    return ext;
}

/* The storage object and share a mount names, checked. */
static const json_t *mount_storage(az_ex *ex, const json_t *obj, const json_t *m)
{
    const json_t *st = az_find(ex, "SharedStorage", az_str(m, "storage", NULL));
    const json_t *s;
    size_t i;

    if (!st) {
        az_fail(ex,
                "Pool/%s: sharedStorage names SharedStorage '%s', which the repository "
                "does not declare",
                az_str(obj, "name", "?"), az_str(m, "storage", "(none)"));
        return NULL;
    }
    json_array_foreach(json_object_get(json_object_get(st, "spec"), "shares"), i, s)
    {
        if (strcmp(az_str(s, "name", ""), az_str(m, "share", "")) == 0)
            return st;
    }
    az_fail(ex, "Pool/%s: SharedStorage/%s has no share '%s'", az_str(obj, "name", "?"),
            az_str(m, "storage", ""), az_str(m, "share", "(none)"));
    return NULL;
}

static int mount_is_nfs(const json_t *st)
{
    return strcasecmp(az_str(json_object_get(st, "spec"), "protocol", "NFS"), "NFS") == 0;
}

/* Depend on the storage account and the share a mount uses. */
static int dep_mount(az_ex *ex, json_t *res, const json_t *st, const json_t *m)
{
    json_t *acct = az_id_of(ex, st, "Microsoft.Storage/storageAccounts", az_str(st, "name", ""));
    json_t *share = acct ? json_sprintf("%s/fileServices/default/shares/%s",
                                        json_string_value(acct), az_str(m, "share", ""))
                         : NULL;
    int rc = share ? az_dep_json(res, acct) : DSVM_ENOMEM;

    if (rc == 0)
        rc = az_dep_json(res, share);
    json_decref(acct);
    json_decref(share);
    return rc < 0 ? az_fail(ex, "out of memory") : 0;
}

/* The pool identity that boot scripts use to read the vault: the first one
 * that the vault grants access to, else the first one. */
static json_t *script_identity(az_ex *ex, const json_t *obj)
{
    const json_t *ids = json_object_get(json_object_get(obj, "spec"), "identities");
    const json_t *pick = json_array_get(ids, 0), *v;
    const json_t *idobj;
    size_t i;

    json_array_foreach(ids, i, v)
    {
        if (json_object_get(ex->access, json_string_value(v))) {
            pick = v;
            break;
        }
    }
    idobj = az_find(ex, "Identity", json_string_value(pick));
    if (!idobj) {
        az_fail(ex,
                "Pool/%s: reading secrets at boot needs one of the pool's identities in "
                "the vault's readers",
                az_str(obj, "name", "?"));
        return NULL;
    }
    return az_id_of(ex, idobj, "Microsoft.ManagedIdentity/userAssignedIdentities",
                    json_string_value(pick));
}

/* Append printf-style text to the JSON string *s. */
static int append(json_t **s, const char *fmt, const char *a, const char *b, const char *c,
                  const char *d)
{
    json_t *line = json_sprintf(fmt, a, b, c, d), *joined;

    joined = line ? json_sprintf("%s%s", json_string_value(*s), json_string_value(line)) : NULL;
    json_decref(line);
    if (!joined)
        return DSVM_ENOMEM;
    json_decref(*s);
    *s = joined;
    return 0;
}

/*
 * `s` in single quotes for the shell ('it'\''s'), kept alive in `holder`
 * (a JSON array) and returned borrowed from it. "" when out of memory; the
 * caller then fails on the holder's size.
 */
static const char *sh(json_t *holder, const char *s)
{
    size_t n = 3, i, o = 0;
    char *buf;
    json_t *q;

    for (i = 0; s[i]; i++)
        n += s[i] == '\'' ? 4 : 1;
    buf = malloc(n);
    if (!buf)
        return "";
    buf[o++] = '\'';
    for (i = 0; s[i]; i++) {
        if (s[i] == '\'') {
            memcpy(buf + o, "'\\''", 4);
            o += 4;
        } else {
            buf[o++] = s[i];
        }
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    q = json_string(buf);
    free(buf);
    if (!q || json_array_append_new(holder, q) < 0)
        return "";
    return json_string_value(q);
}

static const char linux_prelude[] =
    "#!/bin/sh\n"
    "# dsvmops boot script for %s. It holds no secret: secrets are read from\n"
    "# Key Vault with the pool's managed identity.\n"
    "set -eu\n"
    "env=$(curl -sf -H Metadata:true 'http://169.254.169.254/metadata/instance/compute/"
    "azEnvironment?api-version=2021-02-01&format=text' || echo AzurePublicCloud)\n"
    "case \"$env\" in\n"
    "AzureUSGovernmentCloud) st=core.usgovcloudapi.net; kv=vault.usgovcloudapi.net ;;\n"
    "AzureChinaCloud) st=core.chinacloudapi.cn; kv=vault.azure.cn ;;\n"
    "*) st=core.windows.net; kv=vault.azure.net ;;\n"
    "esac\n"
    "mi='%s'\n"
    "secret() {\n"
    "  tok=$(curl -sf -H Metadata:true \"http://169.254.169.254/metadata/identity/oauth2/token?"
    "api-version=2018-02-01&resource=https%%3A%%2F%%2F$kv&msi_res_id=$mi\" |\n"
    "    python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')\n"
    "  curl -sf -H \"Authorization: Bearer $tok\" \"https://$1.$kv/secrets/$2?api-version=7.4\" "
    "|\n"
    "    python3 -c 'import json,sys\n"
    "v = json.load(sys.stdin)[\"value\"]\n"
    "try:\n"
    "    v = json.loads(v)[\"Password\"]\n"
    "except Exception:\n"
    "    pass\n"
    "print(v)'\n"
    "}\n"
    "mount_share() {\n"
    "  mkdir -p \"$2\"\n"
    "  grep -q \" $2 \" /etc/fstab || echo \"$1 $2 $3 $4 0 0\" >> /etc/fstab\n"
    "  mountpoint -q \"$2\" || mount \"$2\"\n"
    "}\n";

/*
 * The Linux boot script: NFS mounts (no key), SMB mounts (key read from
 * the vault at boot), and the AD join (password read from the vault at
 * boot). NULL script when there is nothing to do.
 */
static int linux_boot(az_ex *ex, const json_t *obj, json_t *res, json_t **out)
{
    const json_t *spec = json_object_get(obj, "spec"), *m;
    const json_t *dj = az_find(ex, "DomainJoin", az_str(spec, "domainJoin", NULL));
    json_t *script = NULL, *mi = NULL, *q = NULL;
    size_t i;
    int rc = DSVM_EINVALID;

    *out = NULL;
    if (az_str(spec, "domainJoin", NULL) && !dj)
        return az_fail(ex,
                       "Pool/%s: names DomainJoin '%s', which the repository does not "
                       "declare",
                       az_str(obj, "name", "?"), az_str(spec, "domainJoin", ""));
    if (!dj && json_array_size(json_object_get(spec, "sharedStorage")) == 0)
        return 0;
    mi = json_array_size(json_object_get(spec, "identities")) ? script_identity(ex, obj) : NULL;
    if (!mi && ex->err)
        return DSVM_EINVALID;
    q = json_array();
    if (!q)
        goto oom;
    script = json_sprintf(linux_prelude, json_string_value(json_object_get(res, "object")),
                          mi ? json_string_value(mi) : "");
    if (!script)
        goto oom;
    json_array_foreach(json_object_get(spec, "sharedStorage"), i, m)
    {
        const json_t *st = mount_storage(ex, obj, m), *key;
        const char *acct = az_str(st, "name", "");
        json_t *vault;

        if (!st || dep_mount(ex, res, st, m) < 0)
            goto out;
        if (mount_is_nfs(st)) {
            if (append(&script,
                       "mount_share \"%s.file.$st:/%s/%s\" %s nfs "
                       "vers=4,minorversion=1,sec=sys,nofail\n",
                       acct, acct, az_str(m, "share", ""), sh(q, az_str(m, "mountPath", ""))) < 0)
                goto oom;
            continue;
        }
        if (!mi) {
            az_fail(ex, "Pool/%s: an SMB mount on Linux needs an identity that reads the vault",
                    az_str(obj, "name", "?"));
            goto out;
        }
        key = json_object_get(json_object_get(st, "spec"), "accountKey");
        vault = az_vault_id(ex, res, az_str(key, "keyVault", NULL));
        if (!vault)
            goto out;
        json_decref(vault);
        if (append(&script,
                   "mkdir -p /etc/smbcredentials && umask 077 && printf 'username=%%s\\n"
                   "password=%%s\\n' %s \"$(secret %s %s)\" > /etc/smbcredentials/%s.cred\n",
                   acct, sh(q, az_str(key, "keyVault", "")), sh(q, az_str(key, "secret", "")),
                   acct) < 0 ||
            append(&script,
                   "mount_share \"//%s.file.$st/%s\" %s cifs "
                   "vers=3.1.1,credentials=/etc/smbcredentials/%s.cred,serverino,nofail\n",
                   acct, az_str(m, "share", ""), sh(q, az_str(m, "mountPath", "")), acct) < 0)
            goto oom;
    }
    if (dj) {
        const json_t *djs = json_object_get(dj, "spec");
        const json_t *pw = json_object_get(djs, "password");
        const char *ou = az_str(djs, "ouPath", NULL);
        json_t *vault;

        if (!mi) {
            az_fail(ex, "Pool/%s: a Linux domain join needs an identity that reads the vault",
                    az_str(obj, "name", "?"));
            goto out;
        }
        vault = az_vault_id(ex, res, az_str(pw, "keyVault", NULL));
        if (!vault)
            goto out;
        json_decref(vault);
        if (append(&script, "realm list | grep -qiF -- %s || secret %s %s | realm join %s",
                   sh(q, az_str(djs, "domain", "")), sh(q, az_str(pw, "keyVault", "")),
                   sh(q, az_str(pw, "secret", "")), "--unattended") < 0 ||
            append(&script, " --user=%s%s%s %s\n", sh(q, az_str(djs, "user", "")),
                   ou ? " --computer-ou=" : "", ou ? sh(q, ou) : "",
                   sh(q, az_str(djs, "domain", ""))) < 0)
            goto oom;
    }
    *out = script;
    script = NULL;
    rc = 0;
    goto out;
oom:
    az_fail(ex, "out of memory");
out:
    json_decref(script);
    json_decref(mi);
    json_decref(q);
    return rc;
}

/*
 * Windows SMB mounts: one CustomScriptExtension whose protectedSettings
 * command maps the shares for all users. The account key enters only as a
 * write-only template reference that the host fills from the vault.
 */
static int windows_mounts(az_ex *ex, const json_t *obj, json_t *res, json_t *exts)
{
    const json_t *mounts = json_object_get(json_object_get(obj, "spec"), "sharedStorage"), *m;
    const json_t *key = NULL;
    json_t *cmd, *path;
    size_t i;
    int rc;

    if (json_array_size(mounts) == 0)
        return 0;
    cmd = json_string("powershell -NoProfile -ExecutionPolicy Bypass -Command \"");
    if (!cmd)
        return az_fail(ex, "out of memory");
    json_array_foreach(mounts, i, m)
    {
        const json_t *st = mount_storage(ex, obj, m), *k;
        const char *acct = az_str(st, "name", "");
        const char *drive = az_str(m, "mountPath", "");

        if (!st || dep_mount(ex, res, st, m) < 0)
            goto fail;
        /* a drive letter: nothing in it needs quoting in the command */
        if (strlen(drive) != 2 || drive[1] != ':' || !isalpha((unsigned char)drive[0])) {
            az_fail(ex, "Pool/%s: Windows mounts need a drive letter such as \"Z:\", not \"%s\"",
                    az_str(obj, "name", "?"), drive);
            goto fail;
        }
        k = json_object_get(json_object_get(st, "spec"), "accountKey");
        if (mount_is_nfs(st) || !k) {
            az_fail(ex,
                    "Pool/%s: Windows pools mount SMB shares with an accountKey; "
                    "SharedStorage/%s is not one",
                    az_str(obj, "name", "?"), acct);
            goto fail;
        }
        if (key && !json_equal((json_t *)key, (json_t *)k)) {
            az_fail(ex, "Pool/%s: Windows pools mount shares of one SMB storage account only",
                    az_str(obj, "name", "?"));
            goto fail;
        }
        key = k;
        if (append(&cmd,
                   "$c = New-Object PSCredential('localhost\\%s', (ConvertTo-SecureString "
                   "'{{secret}}' -AsPlainText -Force)); ",
                   acct, NULL, NULL, NULL) < 0 ||
            append(&cmd,
                   "New-SmbGlobalMapping -RemotePath '\\\\%s.file.core.windows.net\\%s' "
                   "-LocalPath '%s' -Credential $c -Persistent $true; ",
                   acct, az_str(m, "share", ""), drive, NULL) < 0) {
            az_fail(ex, "out of memory");
            goto fail;
        }
    }
    if (append(&cmd, "\"", NULL, NULL, NULL, NULL) < 0) {
        az_fail(ex, "out of memory");
        goto fail;
    }
    path = json_sprintf("%s.%zu.properties.protectedSettings.commandToExecute", EXT_PATH,
                        json_array_size(exts));
    rc = path ? az_push(ex, exts, extension(&EXT_BOOT_WINDOWS, NULL)) : DSVM_ENOMEM;
    if (rc == 0)
        rc = az_write_only_ref(ex, res, json_string_value(path), key, json_string_value(cmd));
    json_decref(path);
    json_decref(cmd);
    return rc < 0 ? az_fail(ex, "out of memory") : 0;
fail:
    json_decref(cmd);
    return DSVM_EINVALID;
}

/* Windows AD join: Azure reads the whole protected-settings JSON from the
 * vault itself (design rule 5); dsvmops never sees it. */
static json_t *windows_ad_join(az_ex *ex, const json_t *obj, json_t *res)
{
    const char *djname = az_str(json_object_get(obj, "spec"), "domainJoin", NULL);
    const json_t *dj = az_find(ex, "DomainJoin", djname), *djs, *pw;
    json_t *vault, *secret_url, *ext;

    if (!dj) {
        az_fail(ex, "Pool/%s: names DomainJoin '%s', which the repository does not declare",
                az_str(obj, "name", "?"), djname);
        return NULL;
    }
    djs = json_object_get(dj, "spec");
    pw = json_object_get(djs, "password");
    vault = az_vault_id(ex, res, az_str(pw, "keyVault", NULL));
    if (!vault)
        return NULL;
    secret_url = json_sprintf("secrets/%s", az_str(pw, "secret", ""));
    ext = extension(&EXT_AD_JOIN,
                    json_pack("{s:s,s:s,s:s,s:s}", "Name", az_str(djs, "domain", ""), "User",
                              az_str(djs, "user", ""), "Restart",
                              az_bool(djs, "restart", 1) ? "true" : "false", "Options", "3"));
    if (ext && az_str(djs, "ouPath", NULL))
        json_object_set_new(json_object_get(json_object_get(ext, "properties"), "settings"),
                            "OUPath", json_string(az_str(djs, "ouPath", "")));
    if (ext && secret_url)
        json_object_set_new(json_object_get(ext, "properties"), "protectedSettingsFromKeyVault",
                            json_pack("{s:o,s:{s:O}}", "secretUrl",
                                      az_kaa(json_string_value(vault), "properties.vaultUri",
                                             json_string_value(secret_url)),
                                      "sourceVault", "id", vault));
    json_decref(secret_url);
    json_decref(vault);
    return ext;
}

/* Standard public IP, Standard load balancer with one NAT pool per
 * protocol and an outbound rule, and an NSG allowing `allowFrom`. */
static int endpoint(az_ex *ex, const json_t *obj, json_t *vmss, json_t *nic, json_t *ipc)
{
    const json_t *ep = json_object_get(json_object_get(obj, "spec"), "endpoint"), *p;
    const char *name = az_str(obj, "name", "");
    json_t *pip = NULL, *lb, *nsg, *lb_name, *pip_name, *nsg_name, *lb_id, *fe, *be;
    json_t *nat = json_array(), *rules = json_array(), *nat_refs = json_array();
    size_t i, k;
    int rc = DSVM_EINVALID;

    lb_name = json_sprintf("%s-lb", name);
    pip_name = json_sprintf("%s-pip", name);
    nsg_name = json_sprintf("%s-nsg", name);
    lb_id = lb_name
                ? az_id_of(ex, obj, "Microsoft.Network/loadBalancers", json_string_value(lb_name))
                : NULL;
    fe = lb_id ? json_sprintf("%s/frontendIPConfigurations/fe", json_string_value(lb_id)) : NULL;
    be = lb_id ? json_sprintf("%s/backendAddressPools/be", json_string_value(lb_id)) : NULL;
    if (!nat || !rules || !nat_refs || !pip_name || !nsg_name || !fe || !be)
        goto oom;
    json_array_foreach(json_object_get(ep, "protocols"), i, p)
    {
        for (k = 0; json_is_string(p) && k < sizeof(protocols) / sizeof(protocols[0]); k++)
            if (strcmp(protocols[k].name, json_string_value(p)) == 0)
                break;
        if (!json_is_string(p) || k == sizeof(protocols) / sizeof(protocols[0])) {
            az_fail(ex, "Pool/%s: unknown endpoint protocol '%s'", name,
                    json_string_value(p) ? json_string_value(p) : "?");
            goto out;
        }
        if (az_push(ex, nat,
                    json_pack("{s:s,s:{s:{s:O},s:s,s:i,s:i,s:i}}", "name", protocols[k].name,
                              "properties", "frontendIPConfiguration", "id", fe, "protocol", "Tcp",
                              "frontendPortRangeStart", NAT_PORT_BASE + (int)i * NAT_PORT_BLOCK,
                              "frontendPortRangeEnd",
                              NAT_PORT_BASE + (int)i * NAT_PORT_BLOCK + NAT_PORT_BLOCK - 1,
                              "backendPort", protocols[k].port)) < 0 ||
            az_push(ex, nat_refs,
                    json_sprintf("%s/inboundNatPools/%s", json_string_value(lb_id),
                                 protocols[k].name)) < 0 ||
            az_push(ex, rules,
                    json_pack("{s:o,s:{s:i,s:s,s:s,s:s,s:O,s:s,s:s,s:o}}", "name",
                              json_sprintf("allow-%s", protocols[k].name), "properties", "priority",
                              100 + 10 * (int)i, "direction", "Inbound", "access", "Allow",
                              "protocol", "Tcp", "sourceAddressPrefixes",
                              json_object_get(ep, "allowFrom"), "sourcePortRange", "*",
                              "destinationAddressPrefix", "*", "destinationPortRange",
                              json_sprintf("%d", protocols[k].port))) < 0)
            goto out;
    }
    pip =
        az_emit_tracked(ex, obj, "Microsoft.Network/publicIPAddresses", json_string_value(pip_name),
                        json_pack("{s:{s:s,s:s},s:{s:s,s:s}}", "sku", "name", "Standard", "tier",
                                  "Regional", "properties", "publicIPAllocationMethod", "Static",
                                  "publicIPAddressVersion", "IPv4"));
    if (!pip)
        goto out;
    lb = az_emit_tracked(
        ex, obj, "Microsoft.Network/loadBalancers", json_string_value(lb_name),
        json_pack("{s:{s:s,s:s},s:{s:[{s:s,s:{s:{s:O}}}],s:[{s:s}],s:O,s:[{s:s,s:{s:[{s:O}],"
                  "s:{s:O},s:s}}]}}",
                  "sku", "name", "Standard", "tier", "Regional", "properties",
                  "frontendIPConfigurations", "name", "fe", "properties", "publicIPAddress", "id",
                  json_object_get(pip, "id"), "backendAddressPools", "name", "be",
                  "inboundNatPools", nat, "outboundRules", "name", "outbound", "properties",
                  "frontendIPConfigurations", "id", fe, "backendAddressPool", "id", be, "protocol",
                  "All"));
    nsg = lb ? az_emit_tracked(ex, obj, "Microsoft.Network/networkSecurityGroups",
                               json_string_value(nsg_name),
                               json_pack("{s:{s:O}}", "properties", "securityRules", rules))
             : NULL;
    if (!lb || !nsg || az_dep_json(lb, json_object_get(pip, "id")) < 0 ||
        az_dep_json(vmss, json_object_get(lb, "id")) < 0 ||
        az_dep_json(vmss, json_object_get(nsg, "id")) < 0)
        goto out;
    if (az_set(ex, nic, "networkSecurityGroup",
               json_pack("{s:O}", "id", json_object_get(nsg, "id"))) < 0 ||
        az_set(ex, ipc, "loadBalancerBackendAddressPools", json_pack("[{s:O}]", "id", be)) < 0)
        goto out;
    {
        json_t *refs = json_array(), *r;

        json_array_foreach(nat_refs, i, r)
        {
            az_push(ex, refs, json_pack("{s:O}", "id", r));
        }
        if (az_set(ex, ipc, "loadBalancerInboundNatPools", refs) < 0)
            goto out;
    }
    rc = ex->err ? DSVM_EINVALID : 0;
    goto out;
oom:
    az_fail(ex, "out of memory");
out:
    json_decref(nat);
    json_decref(rules);
    json_decref(nat_refs);
    json_decref(lb_name);
    json_decref(pip_name);
    json_decref(nsg_name);
    json_decref(lb_id);
    json_decref(fe);
    json_decref(be);
    return rc;
}

/* Depend on the identities' vault access (rule 6: identity, then the vault
 * access naming it, then the pool). */
static int dep_identities_access(az_ex *ex, json_t *res, const json_t *spec)
{
    json_t *v;
    size_t i;

    json_array_foreach(json_object_get(spec, "identities"), i, v)
    {
        if (az_dep_access(ex, res, json_string_value(v)) < 0)
            return az_fail(ex, "out of memory");
    }
    return 0;
}

/* The Azure Monitor agent settings: authenticate with the pool's first
 * user-assigned identity when it has one. */
static json_t *ama_settings(az_ex *ex, const json_t *obj)
{
    const json_t *ids = json_object_get(json_object_get(obj, "spec"), "identities");
    const json_t *first = az_find(ex, "Identity", json_string_value(json_array_get(ids, 0)));
    json_t *id;

    if (!first)
        return NULL;
    id = az_id_of(ex, first, "Microsoft.ManagedIdentity/userAssignedIdentities",
                  az_str(first, "name", ""));
    return id ? json_pack("{s:{s:{s:s,s:o}}}", "authentication", "managedIdentity",
                          "identifier-name", "mi_res_id", "identifier-value", id)
              : NULL;
}

/* The data collection rule of Monitoring/name, as an ARM ID. */
static json_t *dcr_id(az_ex *ex, const json_t *obj, const char *monitoring)
{
    const json_t *mon = az_find(ex, "Monitoring", monitoring);
    json_t *name, *id;

    if (!mon) {
        az_fail(ex,
                "Pool/%s: security.monitoring names Monitoring '%s', which the repository "
                "does not declare",
                az_str(obj, "name", "?"), monitoring);
        return NULL;
    }
    name = json_sprintf("%s-dcr", monitoring);
    id = name ? az_id_of(ex, mon, "Microsoft.Insights/dataCollectionRules", json_string_value(name))
              : NULL;
    json_decref(name);
    return id;
}

/* One autoscale rule on the scale set's average CPU: `op` `threshold` for
 * ten minutes changes the count by one in `direction`. NULL on OOM. */
static json_t *cpu_rule(const char *vmss, const char *op, int threshold, const char *direction)
{
    return json_pack("{s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i},s:{s:s,s:s,s:s,s:s}}",
                     "metricTrigger", "metricName", "Percentage CPU", "metricNamespace",
                     "microsoft.compute/virtualmachinescalesets", "metricResourceUri", vmss,
                     "timeGrain", "PT1M", "statistic", "Average", "timeWindow", "PT10M",
                     "timeAggregation", "Average", "operator", op, "threshold", threshold,
                     "scaleAction", "direction", direction, "type", "ChangeCount", "value", "1",
                     "cooldown", "PT5M");
}

/*
 * An interactive pool's autoscale: a Microsoft.Insights/autoscalesettings
 * resource "{pool}-autoscale" on the scale set, between min and max (ARM
 * takes the capacities as strings), scaling out above 75% CPU and in below
 * 25%. The autoscaler owns sku.capacity from then on, so the scale set's
 * resource lists it in "ignoreFields". Failures are sticky in ex->err.
 */
static int scale_set_autoscale(az_ex *ex, const json_t *obj, json_t *vmss)
{
    const json_t *as = json_object_get(json_object_get(obj, "spec"), "autoscale");
    const char *id = json_string_value(json_object_get(vmss, "id"));
    json_t *name, *min, *max, *body = NULL, *res = NULL;

    name = json_sprintf("%s-autoscale", az_str(obj, "name", ""));
    min = json_sprintf("%" JSON_INTEGER_FORMAT, az_int(as, "min", 0));
    max = json_sprintf("%" JSON_INTEGER_FORMAT, az_int(as, "max", 0));
    if (name && min && max && id)
        body = json_pack("{s:{s:b,s:s,s:[{s:s,s:{s:O,s:O,s:O},s:[o,o]}]}}", "properties", "enabled",
                         1, "targetResourceUri", id, "profiles", "name", "default", "capacity",
                         "minimum", min, "maximum", max, "default", min, "rules",
                         cpu_rule(id, "GreaterThan", 75, "Increase"),
                         cpu_rule(id, "LessThan", 25, "Decrease"));
    if (body)
        res = az_emit_tracked(ex, obj, AUTOSCALE_TYPE, json_string_value(name), body);
    else
        az_fail(ex, "out of memory");
    json_decref(name);
    json_decref(min);
    json_decref(max);
    if (!res)
        return DSVM_EINVALID;
    if (az_dep(res, id) < 0)
        return az_fail(ex, "out of memory");
    return az_set(ex, vmss, "ignoreFields", json_pack("[s]", "sku.capacity"));
}

/*
 * upgradePolicy Rolling needs a rolling policy and a health signal: the
 * application health extension on the admin port (ssh or rdp).
 */
static int rolling_upgrade(az_ex *ex, json_t *props, json_t *exts, int windows)
{
    json_t *policy = json_object_get(props, "upgradePolicy");

    if (az_set(ex, policy, "rollingUpgradePolicy",
               json_pack("{s:i,s:i,s:i,s:s}", "maxBatchInstancePercent", 20,
                         "maxUnhealthyInstancePercent", 20, "maxUnhealthyUpgradedInstancePercent",
                         20, "pauseTimeBetweenBatches", "PT0S")) < 0)
        return DSVM_EINVALID;
    return az_push(
        ex, exts,
        extension(windows ? &EXT_HEALTH_WINDOWS : &EXT_HEALTH_LINUX,
                  json_pack("{s:s,s:i}", "protocol", "tcp", "port", windows ? 3389 : 22)));
}

/* The scale set's inline extensions, by OS (design rules 5 and 7). */
static void scale_set_extensions(az_ex *ex, const json_t *obj, json_t *res, json_t *exts,
                                 int windows)
{
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *security = json_object_get(spec, "security");
    int entra = az_bool(spec, "entraLogin", 0);
    json_t *script = NULL;

    if (windows) {
        if (az_str(spec, "domainJoin", NULL))
            az_push(ex, exts, windows_ad_join(ex, obj, res));
        if (entra)
            az_push(ex, exts, extension(&EXT_AAD_WINDOWS, NULL));
        if (az_bool(security, "antimalware", 0))
            az_push(ex, exts,
                    extension(&EXT_ANTIMALWARE,
                              json_pack("{s:b,s:s,s:{s:s,s:s,s:s,s:s}}", "AntimalwareEnabled", 1,
                                        "RealtimeProtectionEnabled", "true",
                                        "ScheduledScanSettings", "isEnabled", "true", "day", "7",
                                        "time", "120", "scanType", "Quick")));
        if (!ex->err)
            windows_mounts(ex, obj, res, exts);
    } else {
        if (entra)
            az_push(ex, exts, extension(&EXT_AAD_LINUX, NULL));
        if (linux_boot(ex, obj, res, &script) == 0 && script)
            az_push(ex, exts,
                    extension(&EXT_BOOT_LINUX, json_pack("{s:o}", "script",
                                                         az_base64(json_string_value(script),
                                                                   json_string_length(script)))));
        json_decref(script);
    }
    if (az_str(security, "monitoring", NULL) && !ex->err)
        az_push(ex, exts,
                extension(windows ? &EXT_AMA_WINDOWS : &EXT_AMA_LINUX, ama_settings(ex, obj)));
}

/* The association of the scale set with the Monitoring object's DCR. */
static void dcr_association(az_ex *ex, const json_t *obj, json_t *vmss, const char *monitoring)
{
    json_t *dcr = dcr_id(ex, obj, monitoring), *assoc;
    const json_t *owner = json_object_get(vmss, "object");

    assoc = dcr ? az_emit(ex, "Microsoft.Insights/dataCollectionRuleAssociations",
                          json_sprintf("%s/providers/Microsoft.Insights/"
                                       "dataCollectionRuleAssociations/%s-dcra",
                                       json_string_value(json_object_get(vmss, "id")),
                                       az_str(obj, "name", "")),
                          owner,
                          json_pack("{s:{s:O,s:o}}", "properties", "dataCollectionRuleId", dcr,
                                    "description", az_mark_text(ex, owner)))
                : NULL;
    if (assoc &&
        (az_dep_json(assoc, json_object_get(vmss, "id")) < 0 || az_dep_json(assoc, dcr) < 0))
        az_fail(ex, "out of memory");
    json_decref(dcr);
}

/*
 * An interactive pool: the scale set first (so that every helper can add
 * its edges to it), then its body, extensions, DCR association, rolling
 * policy, endpoint resources and, without a subnet, its own network.
 * Failures are sticky in ex->err.
 */
static int expand_scale_set(az_ex *ex, const json_t *obj, const pool_image *img)
{
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *security = json_object_get(spec, "security");
    const json_t *autoscale = json_object_get(spec, "autoscale");
    const char *name = az_str(obj, "name", "");
    const char *user = az_str(json_object_get(spec, "admin"), "username", "");
    const char *monitoring = az_str(security, "monitoring", NULL);
    const json_t *password = json_object_get(json_object_get(spec, "admin"), "password");
    int windows = strcmp(img->os, "windows") == 0;
    int entra = az_bool(spec, "entraLogin", 0);
    json_t *res, *body, *identity, *os, *vp, *nic, *ipc, *exts, *subnet;
    int fail = 0;

    res = az_emit_tracked(ex, obj, VMSS_TYPE, name, json_object());
    if (!res)
        return DSVM_EINVALID;
    body = json_object_get(res, "body");
    az_set(ex, body, "sku",
           json_pack("{s:s,s:s,s:I}", "name", az_str(spec, "vmSize", ""), "tier", "Standard",
                     "capacity",
                     json_object_get(spec, "capacity") ? az_int(spec, "capacity", 0)
                                                       : az_int(autoscale, "min", 0)));
    /* Entra login extensions need a system-assigned identity. */
    identity = az_identity_block(ex, res, json_object_get(spec, "identities"), entra, &fail);
    if (fail)
        return DSVM_EINVALID;
    if (identity)
        az_set(ex, body, "identity", identity);
    if (dep_identities_access(ex, res, spec) < 0)
        return DSVM_EINVALID;

    os = json_pack("{s:o,s:s}", "computerNamePrefix", json_sprintf("%.*s", windows ? 9 : 58, name),
                   "adminUsername", user);
    if (os && windows) {
        json_object_set_new(
            os, "windowsConfiguration",
            json_pack("{s:b,s:b}", "provisionVMAgent", 1, "enableAutomaticUpdates", 1));
    } else if (os) {
        json_object_set_new(
            os, "linuxConfiguration",
            json_pack("{s:b,s:{s:[{s:o,s:s}]}}", "disablePasswordAuthentication", 1, "ssh",
                      "publicKeys", "path", json_sprintf("/home/%s/.ssh/authorized_keys", user),
                      "keyData", az_str(json_object_get(spec, "admin"), "sshPublicKey", "")));
    }
    subnet = az_pool_subnet(ex, res, obj);
    if (!subnet) {
        json_decref(os);
        return DSVM_EINVALID;
    }
    ipc = json_pack("{s:{s:o}}", "subnet", "id", subnet);
    nic = json_pack("{s:b,s:[{s:s,s:O}]}", "primary", 1, "ipConfigurations", "name", "ipconfig0",
                    "properties", ipc);
    exts = json_array();
    vp = json_pack("{s:{s:{s:s,s:s,s:s,s:s},s:{s:s,s:s,s:{s:s}}},s:o,s:{s:[{s:s,s:O}]},"
                   "s:{s:O}}",
                   "storageProfile", "imageReference", "publisher", img->publisher, "offer",
                   img->offer, "sku", img->sku, "version", img->version, "osDisk", "createOption",
                   "FromImage", "caching", "ReadWrite", "managedDisk", "storageAccountType",
                   "Premium_LRS", "osProfile", os, "networkProfile",
                   "networkInterfaceConfigurations", "name", "nic0", "properties", nic,
                   "extensionProfile", "extensions", exts);
    az_set(ex, body, "properties",
           json_pack("{s:s,s:{s:s},s:b,s:o}", "orchestrationMode", "Uniform", "upgradePolicy",
                     "mode", az_str(spec, "upgradePolicy", "Manual"), "overprovision", 0,
                     "virtualMachineProfile", vp));
    if (ex->err)
        goto out;
    if (az_bool(security, "encryptionAtHost", 0))
        az_set(ex, vp, "securityProfile", json_pack("{s:b}", "encryptionAtHost", 1));
    if (windows && json_is_object(password))
        az_write_only_ref(ex, res, "properties.virtualMachineProfile.osProfile.adminPassword",
                          password, NULL);
    else if (windows)
        az_fail(ex, "Pool/%s: a Windows admin needs password: {keyVault, secret}", name);
    if (ex->err)
        goto out;

    scale_set_extensions(ex, obj, res, exts, windows);
    if (monitoring && !ex->err)
        dcr_association(ex, obj, res, monitoring);
    if (strcmp(az_str(spec, "upgradePolicy", "Manual"), "Rolling") == 0 && !ex->err)
        rolling_upgrade(ex, json_object_get(body, "properties"), exts, windows);
    if (autoscale && !ex->err)
        scale_set_autoscale(ex, obj, res);
    if (json_object_get(spec, "endpoint") && !ex->err)
        endpoint(ex, obj, res, nic, ipc);
    if (!az_str(spec, "subnet", NULL) && !ex->err)
        emit_auto_vnet(ex, obj);
out:
    json_decref(nic);
    json_decref(ipc);
    json_decref(exts);
    return ex->err ? DSVM_EINVALID : 0;
}

/* "15m" -> "PT15M"; "1h" -> "PT1H"; "30s" -> "PT30S". */
static json_t *iso_duration(const char *d)
{
    size_t n = strlen(d);
    char unit;

    if (n < 2)
        return NULL;
    unit = d[n - 1];
    if (unit != 's' && unit != 'm' && unit != 'h')
        return NULL;
    return json_sprintf("PT%.*s%c", (int)(n - 1), d, unit - 'a' + 'A');
}

/* The group's shared Batch account for `loc`, emitted once. */
static json_t *batch_account(az_ex *ex, const json_t *obj, const char *loc)
{
    const char *rg = az_str(obj, "resourceGroup", "");
    json_t *id = batch_account_id(ex, rg, loc), *owner, *res, *body;

    if (!id) {
        az_fail(ex, "out of memory");
        return NULL;
    }
    res = az_lookup(ex, json_string_value(id));
    if (res) {
        json_decref(id);
        return res;
    }
    owner = json_sprintf("ResourceGroup/%s", rg);
    body = owner
               ? json_pack("{s:s,s:{s:s,s:O},s:{s:s,s:s}}", "location", loc, "tags",
                           "dsvmops-instance", ex->instance, "dsvmops-object", owner, "properties",
                           "poolAllocationMode", "BatchService", "publicNetworkAccess", "Enabled")
               : NULL;
    res = owner ? az_emit(ex, "Microsoft.Batch/batchAccounts", id, owner, body) : NULL;
    if (!owner)
        json_decref(id);
    json_decref(owner);
    if (res && az_dep_rg(ex, res, rg) < 0)
        res = NULL;
    return res;
}

/* Batch mounts: NFS by source path, SMB with the key as a write-only
 * vault reference. Batch mounts under its own mount root, so only the last
 * component of mountPath is kept. */
static int batch_mounts(az_ex *ex, const json_t *obj, json_t *res, json_t *props)
{
    const json_t *m;
    json_t *mounts = json_array();
    size_t i;

    if (!mounts)
        return az_fail(ex, "out of memory");
    json_array_foreach(json_object_get(json_object_get(obj, "spec"), "sharedStorage"), i, m)
    {
        const json_t *st = mount_storage(ex, obj, m);
        const char *acct = az_str(st, "name", ""), *mp = az_str(m, "mountPath", "");
        const char *rel = strrchr(mp, '/') ? strrchr(mp, '/') + 1 : mp;
        json_t *path;

        if (!st || dep_mount(ex, res, st, m) < 0)
            break;
        if (mount_is_nfs(st)) {
            az_push(ex, mounts,
                    json_pack("{s:{s:o,s:s,s:s}}", "nfsMountConfiguration", "source",
                              json_sprintf("%s.file.core.windows.net:/%s/%s", acct, acct,
                                           az_str(m, "share", "")),
                              "relativeMountPath", rel, "mountOptions",
                              "-o vers=4,minorversion=1,sec=sys"));
            continue;
        }
        az_push(ex, mounts,
                json_pack("{s:{s:s,s:o,s:s,s:s}}", "azureFileShareConfiguration", "accountName",
                          acct, "azureFileUrl",
                          json_sprintf("https://%s.file.core.windows.net/%s", acct,
                                       az_str(m, "share", "")),
                          "relativeMountPath", rel, "mountOptions",
                          "-o vers=3.1.1,dir_mode=0777,file_mode=0777"));
        path = json_sprintf("properties.mountConfiguration.%zu.azureFileShareConfiguration."
                            "accountKey",
                            i);
        if (path)
            az_write_only_ref(ex, res, json_string_value(path),
                              json_object_get(json_object_get(st, "spec"), "accountKey"), NULL);
        json_decref(path);
        if (ex->err)
            break;
    }
    if (ex->err || json_array_size(mounts) == 0) {
        json_decref(mounts);
        return ex->err ? DSVM_EINVALID : 0;
    }
    return az_set(ex, props, "mountConfiguration", mounts);
}

static int expand_batch_pool(az_ex *ex, const json_t *obj, const pool_image *img)
{
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *autoscale = json_object_get(spec, "autoscale");
    const char *name = az_str(obj, "name", "");
    const char *loc = az_location(ex, obj);
    const char *monitoring = az_str(json_object_get(spec, "security"), "monitoring", NULL);
    json_t *account, *res, *owner, *body, *props, *vmc, *identity, *scale, *subnet;
    int fail = 0;

    if (!loc)
        return DSVM_EINVALID;
    if (!img->agent)
        return az_fail(ex, "Pool/%s: batch pools need an image with a nodeAgentSkuId", name);
    account = batch_account(ex, obj, loc);
    if (!account)
        return DSVM_EINVALID;
    owner = az_owner(obj);
    vmc = json_pack("{s:{s:s,s:s,s:s,s:s},s:s}", "imageReference", "publisher", img->publisher,
                    "offer", img->offer, "sku", img->sku, "version", img->version, "nodeAgentSkuId",
                    img->agent);
    if (autoscale) {
        const char *formula = az_str(autoscale, "formula", NULL);
        json_t *f = formula
                        ? json_string(formula)
                        : json_sprintf("$tasks = max(0, $PendingTasks.GetSample(1));\n"
                                       "$TargetDedicatedNodes = max(%" JSON_INTEGER_FORMAT
                                       ", min(%" JSON_INTEGER_FORMAT ", $tasks));\n"
                                       "$NodeDeallocationOption = taskcompletion;",
                                       az_int(autoscale, "min", 0), az_int(autoscale, "max", 0));

        scale = json_pack("{s:{s:o,s:o}}", "autoScale", "formula", f, "evaluationInterval",
                          iso_duration(az_str(autoscale, "evaluationInterval", "15m")));
    } else {
        scale = json_pack("{s:{s:I,s:i}}", "fixedScale", "targetDedicatedNodes",
                          az_int(spec, "capacity", 0), "targetLowPriorityNodes", 0);
    }
    props = json_pack(
        "{s:s,s:I,s:{s:o},s:o,s:[{s:s,s:s},{s:s,s:O}]}", "vmSize", az_str(spec, "vmSize", ""),
        "taskSlotsPerNode", az_int(spec, "maxTasksPerNode", 1), "deploymentConfiguration",
        "virtualMachineConfiguration", vmc, "scaleSettings", scale, "metadata", "name",
        "dsvmops-instance", "value", ex->instance, "name", "dsvmops-object", "value", owner);
    body = json_pack("{s:O}", "properties", props);
    res = body ? az_emit(ex, "Microsoft.Batch/batchAccounts/pools",
                         json_sprintf("%s/pools/%s",
                                      json_string_value(json_object_get(account, "id")), name),
                         owner, body)
               : NULL;
    json_decref(owner);
    if (!res) {
        json_decref(props);
        return az_fail(ex, "out of memory");
    }
    az_dep_json(res, json_object_get(account, "id"));
    az_dep_rg(ex, res, az_str(obj, "resourceGroup", NULL));
    identity = az_identity_block(ex, res, json_object_get(spec, "identities"), 0, &fail);
    if (identity)
        az_set(ex, json_object_get(res, "body"), "identity", identity);
    if (!fail)
        dep_identities_access(ex, res, spec);
    subnet = fail ? NULL : az_pool_subnet(ex, res, obj);
    if (subnet)
        az_set(ex, props, "networkConfiguration", json_pack("{s:o}", "subnetId", subnet));
    if (!ex->err)
        batch_mounts(ex, obj, res, props);
    if (monitoring && !ex->err) {
        json_t *ext =
            json_pack("{s:s,s:s,s:s,s:s,s:b,s:b}", "name", EXT_AMA_LINUX.name, "publisher",
                      EXT_AMA_LINUX.publisher, "type",
                      strcmp(img->os, "windows") == 0 ? EXT_AMA_WINDOWS.type : EXT_AMA_LINUX.type,
                      "typeHandlerVersion", EXT_AMA_LINUX.version, "autoUpgradeMinorVersion", 1,
                      "enableAutomaticUpgrade", 1);
        json_t *settings = ama_settings(ex, obj), *dcr;

        if (ext && settings)
            json_object_set_new(ext, "settings", settings);
        else
            json_decref(settings);
        dcr = dcr_id(ex, obj, monitoring);
        if (dcr && az_dep_json(res, dcr) == 0)
            az_set(ex, vmc, "extensions", json_pack("[o]", ext));
        else
            json_decref(ext);
        json_decref(dcr);
    }
    if (!az_str(spec, "subnet", NULL) && !ex->err)
        emit_auto_vnet(ex, obj);
    json_decref(props);
    return ex->err ? DSVM_EINVALID : 0;
}

int az_expand_pool(az_ex *ex, const json_t *obj)
{
    pool_image img = {0};
    int rc = resolve_image(ex, obj, &img);

    if (rc < 0)
        return rc;
    return is_batch(obj) ? expand_batch_pool(ex, obj, &img) : expand_scale_set(ex, obj, &img);
}
