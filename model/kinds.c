/*
 * The manifest contract as data: one field-descriptor table per kind, the
 * naming rules, the string formats, the image alias table and the built-in
 * role table. parse.c, rules.c and schema.c are driven by these tables;
 * docs/manifests.md describes the same contract for people.
 */
#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define F(nm, ty, st, mb) .name = nm, .type = ty, .off = offsetof(st, mb)
#define N(a)              (sizeof(a) / sizeof((a)[0]))
#define TAGS(st)                                                                                   \
    {                                                                                              \
        F("tags", FT_STRMAP, st, tags), .flags = FD_TAGS, .doc = "Azure tags"                      \
    }
#define LOCATION(st)                                                                               \
    {                                                                                              \
        F("location", FT_STRING, st, location),                                                    \
            .fmt = FMT_NONBLANK, .doc = "Azure region; defaults to the resource group's location"  \
    }
#define STRITEM(fm)                                                                                \
    {                                                                                              \
        .type = FT_STRING, .fmt = fm                                                               \
    }

/* ---- enum values (order matches the DSVM_* enums of manifest.h) ---------- */

static const char *const e_vault_sku[] = {"standard", "premium", NULL};
static const char *const e_access[] = {"Enabled", "Disabled", NULL};
static const char *const e_acl_action[] = {"Allow", "Deny", NULL};
static const char *const e_bypass[] = {"AzureServices", "None", NULL};
static const char *const e_principal_type[] = {"User", "Group", "ServicePrincipal", NULL};
static const char *const e_protocol[] = {"NFS", "SMB", NULL};
static const char *const e_storage_sku[] = {"Premium_LRS",  "Premium_ZRS",  "Standard_LRS",
                                            "Standard_ZRS", "Standard_GRS", NULL};
static const char *const e_storage_kind[] = {"FileStorage", "StorageV2", NULL};
static const char *const e_root_squash[] = {"NoRootSquash", "RootSquash", "AllSquash", NULL};
static const char *const e_tier[] = {"TransactionOptimized", "Hot", "Cool", "Premium", NULL};
static const char *const e_pool_mode[] = {"interactive", "batch", NULL};
static const char *const e_os[] = {"linux", "windows", NULL};
static const char *const e_upgrade[] = {"Manual", "Automatic", "Rolling", NULL};
static const char *const e_proto[] = {"ssh", "rdp", "jupyter", NULL};
static const char *const e_enforce[] = {"Default", "DoNotEnforce", NULL};
static const char *const e_pa_identity[] = {"none", "system", NULL};
static const char *const e_mon_sku[] = {"PerGB2018", NULL};
static const char *const e_syslog[] = {"auth",   "authpriv", "cron",   "daemon", "kern",
                                       "local0", "local1",   "local2", "local3", "local4",
                                       "local5", "local6",   "local7", "lpr",    "mail",
                                       "news",   "syslog",   "user",   "uucp",   NULL};
static const char *const e_image_alias[] = {"ubuntu-2204", "win-2022", "win-2019",
                                            "ubuntu-hpc-2204", NULL};

/* ---- image and role tables ------------------------------------------------ */

static const dsvm_image_alias image_table[] = {
    {"ubuntu-2204", "microsoft-dsvm", "ubuntu-2204", "2204-gen2", DSVM_OS_LINUX,
     "batch.node.ubuntu 22.04"},
    {"win-2022", "microsoft-dsvm", "dsvm-win-2022", "winserver-2022", DSVM_OS_WINDOWS,
     "batch.node.windows amd64"},
    {"win-2019", "microsoft-dsvm", "dsvm-win-2019", "server-2019", DSVM_OS_WINDOWS,
     "batch.node.windows amd64"},
    {"ubuntu-hpc-2204", "microsoft-dsvm", "ubuntu-hpc", "2204", DSVM_OS_LINUX,
     "batch.node.ubuntu 22.04"},
};

const dsvm_image_alias *dsvm_image_aliases(size_t *n_out)
{
    *n_out = N(image_table);
    return image_table;
}

static const dsvm_builtin_role role_table[] = {
    {"Owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"},
    {"Contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c"},
    {"Reader", "acdd72a7-3385-48ef-bd42-f606fba81ae7"},
    {"Key Vault Secrets User", "4633458b-17de-408a-b874-0445c86b69e6"},
    {"Key Vault Reader", "21090545-7ca7-4776-b22c-e363652d74d2"},
    {"Key Vault Administrator", "00482a5a-887f-4fb3-b363-3b7fe8e74483"},
    {"Virtual Machine Contributor", "9980e02c-c2be-4d73-94e8-173b1dc7cf3c"},
    {"Virtual Machine User Login", "fb879df8-f326-4884-b1cf-06f3ad86be52"},
    {"Virtual Machine Administrator Login", "1c0163c0-47e6-4577-8991-ea5c82e286e4"},
    {"Storage File Data SMB Share Contributor", "0c867c2a-1d8c-454a-a3db-ab2ea1bdc8bb"},
    {"Storage File Data Privileged Contributor", "69566ab7-960f-475b-8e7c-b3118f30c6bd"},
    {"Managed Identity Operator", "f1a07417-d97a-45cb-824c-7a7467783830"},
    {"Monitoring Metrics Publisher", "3913510d-42f4-4e42-8a64-420c390055eb"},
    {"Log Analytics Reader", "73c42c96-874c-492b-b04d-ab87d138a893"},
    {"Log Analytics Contributor", "92aaf0da-9dab-42b6-94a3-d43ce8d16293"},
};

const dsvm_builtin_role *dsvm_builtin_roles(size_t *n_out)
{
    *n_out = N(role_table);
    return role_table;
}

const char *dsvm_role_guid(const char *name)
{
    size_t i;

    for (i = 0; i < N(role_table); i++)
        if (strcmp(role_table[i].name, name) == 0)
            return role_table[i].guid;
    return NULL;
}

/* ---- naming rules ---------------------------------------------------------- */

static bool chars_ok(const char *s, const char *extra, bool lower_only)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if (lower_only ? (islower(ch) || isdigit(ch)) : isalnum(ch))
            continue;
        if (ch < 0x80 && strchr(extra, ch))
            continue;
        return false;
    }
    return true;
}

static bool len_in(const char *s, size_t lo, size_t hi)
{
    size_t n = strlen(s);

    return n >= lo && n <= hi;
}

static bool nr_resource_group(const char *s)
{
    return len_in(s, 1, 90) && chars_ok(s, "_-.()", false) && s[strlen(s) - 1] != '.';
}

static bool nr_identity(const char *s)
{
    return len_in(s, 3, 128) && chars_ok(s, "-_", false) && isalnum((unsigned char)s[0]);
}

static bool nr_key_vault(const char *s)
{
    size_t n = strlen(s);

    return len_in(s, 3, 24) && chars_ok(s, "-", false) && isalpha((unsigned char)s[0]) &&
           isalnum((unsigned char)s[n - 1]) && !strstr(s, "--");
}

static bool nr_storage(const char *s)
{
    return len_in(s, 3, 24) && chars_ok(s, "", true);
}

static bool nr_simple(const char *s)
{
    return len_in(s, 1, 64) && chars_ok(s, "-_.", false);
}

static bool nr_pool(const char *s)
{
    return len_in(s, 1, 64) && chars_ok(s, "-", false) && isalpha((unsigned char)s[0]);
}

static bool nr_policy(const char *s)
{
    const char *p;

    if (!len_in(s, 1, 64) || s[strlen(s) - 1] == ' ')
        return false;
    for (p = s; *p; p++)
        if (strchr("<>*%&:\\?.+/", *p) || (unsigned char)*p < 0x20)
            return false;
    return true;
}

static bool nr_monitoring(const char *s)
{
    size_t n = strlen(s);

    return len_in(s, 4, 63) && chars_ok(s, "-", false) && isalnum((unsigned char)s[0]) &&
           isalnum((unsigned char)s[n - 1]);
}

static bool nr_network(const char *s)
{
    return len_in(s, 2, 64) && chars_ok(s, "_-.", false);
}

static bool nr_share(const char *s)
{
    size_t n = strlen(s);

    return len_in(s, 3, 63) && chars_ok(s, "-", true) && s[0] != '-' && s[n - 1] != '-' &&
           !strstr(s, "--");
}

static bool nr_subnet(const char *s)
{
    return len_in(s, 1, 80) && chars_ok(s, "_-.", false) && isalnum((unsigned char)s[0]);
}

const name_rule_desc dsvm_name_rules[NR_COUNT] = {
    [NR_NONE] = {"", NULL},
    [NR_RESOURCE_GROUP] = {"1-90 letters, digits, '_', '-', '.', '(' and ')', not ending in '.'",
                           nr_resource_group},
    [NR_IDENTITY] = {"3-128 letters, digits, '-' and '_', starting with a letter or digit",
                     nr_identity},
    [NR_KEY_VAULT] = {"3-24 letters, digits and '-', starting with a letter, ending with a "
                      "letter or digit, no '--'",
                      nr_key_vault},
    [NR_STORAGE_ACCOUNT] = {"3-24 lowercase letters and digits", nr_storage},
    [NR_DOMAIN_JOIN] = {"1-64 letters, digits, '-', '_' and '.'", nr_simple},
    [NR_POOL] = {"1-64 letters, digits and '-', starting with a letter", nr_pool},
    [NR_ROLE_ASSIGNMENT] = {"1-64 letters, digits, '-', '_' and '.'", nr_simple},
    [NR_POLICY_ASSIGNMENT] = {"1-64 characters, none of < > * % & : \\ ? . + /, not ending in "
                              "a space",
                              nr_policy},
    [NR_MONITORING] = {"4-63 letters, digits and '-', starting and ending with a letter or "
                       "digit",
                       nr_monitoring},
    [NR_NETWORK] = {"2-64 letters, digits, '_', '-' and '.'", nr_network},
    [NR_SHARE] = {"3-63 lowercase letters, digits and single hyphens, starting and ending with a "
                  "letter or digit",
                  nr_share},
    [NR_SUBNET] = {"1-80 letters, digits, '_', '-' and '.', starting with a letter or digit",
                   nr_subnet},
};

/* ---- string formats ---------------------------------------------------------- */

static bool f_cidr(const char *s)
{
    return text_is_cidr(s, NULL, NULL);
}

static bool f_duration(const char *s)
{
    return text_is_duration(s, NULL);
}

static bool f_armid(const char *s)
{
    if (strncasecmp(s, "/subscriptions/", 15) != 0 && strncasecmp(s, "/providers/", 11) != 0)
        return false;
    for (; *s; s++)
        if (isspace((unsigned char)*s))
            return false;
    return true;
}

static bool f_vmsize(const char *s)
{
    if (strncmp(s, "Standard_", 9) != 0 || !s[9])
        return false;
    for (s += 9; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

static bool f_policydef(const char *s)
{
    static const char *const kinds[] = {"/providers/Microsoft.Authorization/policyDefinitions/",
                                        "/providers/Microsoft.Authorization/policySetDefinitions/"};
    size_t i;

    if (s[0] != '/')
        return false;
    for (i = 0; i < N(kinds); i++) {
        size_t kl = strlen(kinds[i]), sl = strlen(s), at;

        for (at = 0; at + kl <= sl; at++) {
            if (strncasecmp(s + at, kinds[i], kl) == 0) {
                const char *id = s + at + kl;

                return *id && !strchr(id, '/') && !strchr(id, ' ');
            }
        }
    }
    return false;
}

static bool f_service_endpoint(const char *s)
{
    if (strncmp(s, "Microsoft.", 10) != 0 || !s[10])
        return false;
    return chars_ok(s + 10, ".", false);
}

static bool f_domain_user(const char *s)
{
    const char *at = strchr(s, '@'), *bs = strchr(s, '\\');

    if (strchr(s, ' '))
        return false;
    if (at && !bs)
        return at != s && at[1] && !strchr(at + 1, '@');
    if (bs && !at)
        return bs != s && bs[1] && !strchr(bs + 1, '\\');
    return false;
}

static bool f_nonblank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return true;
    return false;
}

const fmt_desc dsvm_formats[FMT_COUNT] = {
    [FMT_NONE] = {"", NULL},
    [FMT_CIDR] = {"an IPv4 CIDR such as 10.0.0.0/16", f_cidr},
    [FMT_GUID] = {"a GUID such as 00000000-0000-0000-0000-000000000000", text_is_guid},
    [FMT_DURATION] = {"a duration such as 30s, 5m or 1h", f_duration},
    [FMT_FQDN] = {"a domain name such as corp.example.com", text_is_fqdn},
    [FMT_ARMID] = {"an ARM ID starting with /subscriptions/ or /providers/", f_armid},
    [FMT_VMSIZE] = {"an Azure VM size such as Standard_NC6s_v3", f_vmsize},
    [FMT_POLICYDEF] = {"/providers/Microsoft.Authorization/policyDefinitions/{id} or "
                       ".../policySetDefinitions/{id}",
                       f_policydef},
    [FMT_SERVICE_ENDPOINT] = {"a service endpoint such as Microsoft.Storage", f_service_endpoint},
    [FMT_DOMAIN_USER] = {"user@domain or DOMAIN\\user", f_domain_user},
    [FMT_NONBLANK] = {"a non-empty string", f_nonblank},
};

/* ---- shared pieces ----------------------------------------------------------- */

static const field_desc secret_fields[] = {
    {F("keyVault", FT_REF, dsvm_secret_ref, vault), .flags = FD_REQUIRED,
     .ref_kind = DSVM_KIND_KEY_VAULT, .doc = "KeyVault object holding the secret"},
    {F("secret", FT_STRING, dsvm_secret_ref, secret), .flags = FD_REQUIRED, .fmt = FMT_NONBLANK,
     .doc = "secret name in that vault"},
};
const obj_desc dsvm_secret_desc = {
    "SecretRef", secret_fields, N(secret_fields), sizeof(dsvm_secret_ref), 0, 0};

/* ---- metadata ---------------------------------------------------------------- */

static const field_desc depends_item = {.type = FT_KINDREF, .kinds = 0x3ff};

static const field_desc metadata_fields[] = {
    {F("name", FT_STRING, dsvm_object, name), .flags = FD_REQUIRED,
     .doc = "object name; naming rules depend on the kind"},
    {F("resourceGroup", FT_STRING, dsvm_object, resource_group_name),
     .doc = "name of a ResourceGroup object"},
    {F("labels", FT_STRMAP, dsvm_object, labels), .doc = "free-form string labels"},
    {F("annotations", FT_STRMAP, dsvm_object, annotations),
     .doc = "controller settings: dsvmops.io/drift, dsvmops.io/ignore-fields, "
            "dsvmops.io/suspend"},
    {F("dependsOn", FT_LIST, dsvm_object, depends_on), .item = &depends_item,
     .item_size = sizeof(dsvm_ref), .doc = "extra ordering: a list of Kind/name"},
};
const obj_desc dsvm_metadata_desc = {
    "Metadata", metadata_fields, N(metadata_fields), sizeof(dsvm_object), 0, 0};

/* ---- ResourceGroup, Identity ------------------------------------------------ */

static const field_desc rg_fields[] = {
    {F("location", FT_STRING, dsvm_resource_group_spec, location), .flags = FD_REQUIRED,
     .fmt = FMT_NONBLANK, .doc = "Azure region (a change replaces the group)"},
    TAGS(dsvm_resource_group_spec),
};
static const obj_desc rg_desc = {
    "ResourceGroupSpec", rg_fields, N(rg_fields), sizeof(dsvm_resource_group_spec), 0, 0};

static const field_desc identity_fields[] = {
    LOCATION(dsvm_identity_spec),
    TAGS(dsvm_identity_spec),
};
static const obj_desc identity_desc = {
    "IdentitySpec", identity_fields, N(identity_fields), sizeof(dsvm_identity_spec), 0, 0};

/* ---- KeyVault ------------------------------------------------------------------ */

static const field_desc subnet_item = {.type = FT_SUBNET};
static const field_desc acl_fields[] = {
    {F("defaultAction", FT_ENUM, dsvm_network_acls, default_action), .flags = FD_DEF,
     .enums = e_acl_action, .dint = DSVM_ACL_ALLOW},
    {F("bypass", FT_ENUM, dsvm_network_acls, bypass), .flags = FD_DEF, .enums = e_bypass,
     .dint = DSVM_BYPASS_AZURE_SERVICES},
    {F("ipRules", FT_LIST, dsvm_network_acls, ip_rules),
     .item = &(const field_desc)STRITEM(FMT_CIDR), .item_size = sizeof(const char *),
     .doc = "allowed IPv4 CIDRs"},
    {F("subnets", FT_LIST, dsvm_network_acls, subnets), .item = &subnet_item,
     .item_size = sizeof(dsvm_subnet_ref),
     .doc = "allowed subnets: Network-name/subnet-name or ARM subnet IDs"},
};
static const obj_desc acl_desc = {
    "NetworkAcls", acl_fields, N(acl_fields), sizeof(dsvm_network_acls), 0, 0};

static const field_desc principal_scalar = {.name = "identity",
                                            .type = FT_REF,
                                            .off = offsetof(dsvm_vault_principal, identity),
                                            .ref_kind = DSVM_KIND_IDENTITY};
static const field_desc principal_fields[] = {
    {F("objectId", FT_STRING, dsvm_vault_principal, object_id), .flags = FD_REQUIRED,
     .fmt = FMT_GUID, .doc = "Entra object ID"},
    {F("type", FT_ENUM, dsvm_vault_principal, type), .flags = FD_REQUIRED,
     .enums = e_principal_type},
};
static const obj_desc principal_desc = {
    "Principal", principal_fields, N(principal_fields), sizeof(dsvm_vault_principal), 0, 0};
static const field_desc principal_item = {.type = FT_UNION,
                                          .item = &principal_scalar,
                                          .sub = &principal_desc,
                                          .doc = "an Identity name or {objectId, type}"};

static const field_desc vault_fields[] = {
    LOCATION(dsvm_key_vault_spec),
    {F("sku", FT_ENUM, dsvm_key_vault_spec, sku), .flags = FD_DEF, .enums = e_vault_sku,
     .dint = DSVM_VAULT_SKU_STANDARD},
    {F("rbac", FT_BOOL, dsvm_key_vault_spec, rbac), .flags = FD_DEF, .dint = 1,
     .doc = "RBAC authorisation instead of access policies"},
    {F("softDeleteRetentionDays", FT_INT, dsvm_key_vault_spec, soft_delete_retention_days),
     .flags = FD_DEF, .min = 7, .max = 90, .dint = 90},
    {F("purgeProtection", FT_BOOL, dsvm_key_vault_spec, purge_protection), .flags = FD_DEF,
     .dint = 1, .doc = "cannot be turned off once on"},
    {F("publicNetworkAccess", FT_ENUM, dsvm_key_vault_spec, public_network_access), .flags = FD_DEF,
     .enums = e_access, .dint = DSVM_ACCESS_ENABLED},
    {F("networkAcls", FT_OBJECT, dsvm_key_vault_spec, network_acls), .sub = &acl_desc},
    {F("readers", FT_LIST, dsvm_key_vault_spec, readers), .item = &principal_item,
     .item_size = sizeof(dsvm_vault_principal), .doc = "granted secret get and list"},
    {F("secretsUsers", FT_LIST, dsvm_key_vault_spec, secrets_users), .item = &principal_item,
     .item_size = sizeof(dsvm_vault_principal), .doc = "same grant as readers"},
    TAGS(dsvm_key_vault_spec),
};
static const obj_desc vault_desc = {
    "KeyVaultSpec", vault_fields, N(vault_fields), sizeof(dsvm_key_vault_spec), 0, 0};

/* ---- SharedStorage -------------------------------------------------------------- */

static const field_desc share_fields[] = {
    {F("name", FT_STRING, dsvm_share, name), .flags = FD_REQUIRED, .name_rule = NR_SHARE},
    {F("quotaGiB", FT_INT, dsvm_share, quota_gib), .flags = FD_REQUIRED, .min = 1, .max = 102400,
     .doc = "Premium shares need at least 100"},
    {F("rootSquash", FT_ENUM, dsvm_share, root_squash), .flags = FD_DEF, .enums = e_root_squash,
     .dint = DSVM_ROOT_SQUASH_NONE, .doc = "NFS only"},
    {F("accessTier", FT_ENUM, dsvm_share, access_tier), .enums = e_tier,
     .doc = "Premium accounts take only Premium (their default); TransactionOptimized "
            "otherwise"},
};
static const obj_desc share_desc = {
    "Share", share_fields, N(share_fields), sizeof(dsvm_share), OD_POS, offsetof(dsvm_share, line)};
static const field_desc share_item = {.type = FT_OBJECT, .sub = &share_desc};

static const field_desc storage_fields[] = {
    LOCATION(dsvm_shared_storage_spec),
    {F("protocol", FT_ENUM, dsvm_shared_storage_spec, protocol), .flags = FD_DEF,
     .enums = e_protocol, .dint = DSVM_PROTOCOL_NFS, .doc = "NFS 4.1 needs no account key"},
    {F("sku", FT_ENUM, dsvm_shared_storage_spec, sku), .flags = FD_DEF, .enums = e_storage_sku,
     .dint = DSVM_STORAGE_PREMIUM_LRS, .doc = "NFS needs a Premium_* sku"},
    {F("kind", FT_ENUM, dsvm_shared_storage_spec, account_kind), .flags = FD_DEF,
     .enums = e_storage_kind, .dint = DSVM_STORAGE_KIND_FILE_STORAGE,
     .doc = "NFS needs FileStorage"},
    {F("publicNetworkAccess", FT_ENUM, dsvm_shared_storage_spec, public_network_access),
     .flags = FD_DEF, .enums = e_access, .dint = DSVM_ACCESS_ENABLED},
    {F("accountKey", FT_SECRET, dsvm_shared_storage_spec, account_key),
     .doc = "Key Vault reference; required with protocol SMB"},
    {F("shares", FT_LIST, dsvm_shared_storage_spec, shares), .flags = FD_REQUIRED | FD_NONEMPTY,
     .item = &share_item, .item_size = sizeof(dsvm_share)},
    TAGS(dsvm_shared_storage_spec),
};
static const obj_desc storage_desc = {
    "SharedStorageSpec", storage_fields, N(storage_fields), sizeof(dsvm_shared_storage_spec), 0, 0};

/* ---- DomainJoin ------------------------------------------------------------------ */

static const field_desc dj_fields[] = {
    {F("domain", FT_STRING, dsvm_domain_join_spec, domain), .flags = FD_REQUIRED, .fmt = FMT_FQDN,
     .doc = "e.g. corp.example.com"},
    {F("ouPath", FT_STRING, dsvm_domain_join_spec, ou_path),
     .doc = "LDAP DN such as OU=DSVM,DC=corp,DC=example,DC=com"},
    {F("user", FT_STRING, dsvm_domain_join_spec, user), .flags = FD_REQUIRED,
     .fmt = FMT_DOMAIN_USER, .doc = "user@domain or DOMAIN\\user"},
    {F("password", FT_SECRET, dsvm_domain_join_spec, password), .flags = FD_REQUIRED,
     .doc = "Key Vault reference; never a literal"},
    {F("restart", FT_BOOL, dsvm_domain_join_spec, restart), .flags = FD_DEF, .dint = 1,
     .doc = "Windows only"},
};
static const obj_desc dj_desc = {
    "DomainJoinSpec", dj_fields, N(dj_fields), sizeof(dsvm_domain_join_spec), 0, 0};

/* ---- Pool -------------------------------------------------------------------------- */

static const field_desc image_scalar = {
    .name = "alias", .type = FT_STRING, .off = offsetof(dsvm_image, alias), .enums = e_image_alias};
static const field_desc image_fields[] = {
    {F("publisher", FT_STRING, dsvm_image, publisher), .flags = FD_REQUIRED, .fmt = FMT_NONBLANK},
    {F("offer", FT_STRING, dsvm_image, offer), .flags = FD_REQUIRED, .fmt = FMT_NONBLANK},
    {F("sku", FT_STRING, dsvm_image, sku), .flags = FD_REQUIRED, .fmt = FMT_NONBLANK},
    {F("version", FT_STRING, dsvm_image, version), .flags = FD_DEF, .dstr = "latest"},
    {F("os", FT_ENUM, dsvm_image, os), .flags = FD_REQUIRED, .enums = e_os},
    {F("nodeAgentSkuId", FT_STRING, dsvm_image, node_agent_sku_id), .doc = "batch only"},
};
static const obj_desc image_desc = {"Image", image_fields, N(image_fields), sizeof(dsvm_image), 0,
                                    0};

static const field_desc autoscale_fields[] = {
    {F("min", FT_INT, dsvm_autoscale, min), .flags = FD_REQUIRED, .min = 0, .max = 1000},
    {F("max", FT_INT, dsvm_autoscale, max), .flags = FD_REQUIRED, .min = 0, .max = 1000},
    {F("formula", FT_STRING, dsvm_autoscale, formula), .doc = "batch only"},
    {F("evaluationInterval", FT_STRING, dsvm_autoscale, evaluation_interval), .fmt = FMT_DURATION,
     .doc = "batch only; 5m-168h"},
};
static const obj_desc autoscale_desc = {
    "Autoscale", autoscale_fields, N(autoscale_fields), sizeof(dsvm_autoscale), 0, 0};

static const field_desc admin_fields[] = {
    {F("username", FT_STRING, dsvm_admin, username), .flags = FD_REQUIRED},
    {F("sshPublicKey", FT_STRING, dsvm_admin, ssh_public_key), .doc = "Linux: required"},
    {F("password", FT_SECRET, dsvm_admin, password),
     .doc = "Windows: required Key Vault reference"},
};
static const obj_desc admin_desc = {"Admin", admin_fields, N(admin_fields), sizeof(dsvm_admin), 0,
                                    0};

static const field_desc mount_fields[] = {
    {F("storage", FT_REF, dsvm_mount, storage), .flags = FD_REQUIRED,
     .ref_kind = DSVM_KIND_SHARED_STORAGE},
    {F("share", FT_STRING, dsvm_mount, share), .flags = FD_REQUIRED,
     .doc = "a share of that storage"},
    {F("mountPath", FT_STRING, dsvm_mount, mount_path), .flags = FD_REQUIRED,
     .doc = "/path on Linux, a drive such as Z: on Windows"},
};
static const obj_desc mount_desc = {
    "Mount", mount_fields, N(mount_fields), sizeof(dsvm_mount), OD_POS, offsetof(dsvm_mount, line)};
static const field_desc mount_item = {.type = FT_OBJECT, .sub = &mount_desc};

static const field_desc security_fields[] = {
    {F("antimalware", FT_BOOL, dsvm_pool_security, antimalware), .flags = FD_DEF, .dint = 0,
     .doc = "Windows only"},
    {F("encryptionAtHost", FT_BOOL, dsvm_pool_security, encryption_at_host), .flags = FD_DEF,
     .dint = 0},
    {F("monitoring", FT_REF, dsvm_pool_security, monitoring), .ref_kind = DSVM_KIND_MONITORING},
};
static const obj_desc security_desc = {
    "Security", security_fields, N(security_fields), sizeof(dsvm_pool_security), 0, 0};

static const field_desc endpoint_fields[] = {
    {F("protocols", FT_LIST, dsvm_endpoint, protocols), .flags = FD_REQUIRED | FD_NONEMPTY,
     .item = &(const field_desc){.type = FT_ENUM, .enums = e_proto}, .item_size = sizeof(int),
     .doc = "ssh (22), rdp (3389), jupyter (8000)"},
    {F("allowFrom", FT_LIST, dsvm_endpoint, allow_from), .flags = FD_REQUIRED | FD_NONEMPTY,
     .item = &(const field_desc)STRITEM(FMT_CIDR), .item_size = sizeof(const char *)},
};
static const obj_desc endpoint_desc = {
    "Endpoint", endpoint_fields, N(endpoint_fields), sizeof(dsvm_endpoint), 0, 0};

static const field_desc identity_ref_item = {.type = FT_REF, .ref_kind = DSVM_KIND_IDENTITY};

static const field_desc pool_fields[] = {
    {F("mode", FT_ENUM, dsvm_pool_spec, mode), .flags = FD_REQUIRED, .enums = e_pool_mode},
    LOCATION(dsvm_pool_spec),
    {F("image", FT_UNION, dsvm_pool_spec, image), .flags = FD_REQUIRED, .item = &image_scalar,
     .sub = &image_desc, .doc = "an alias from the image table, or {publisher, offer, sku, ...}"},
    {F("vmSize", FT_STRING, dsvm_pool_spec, vm_size), .flags = FD_REQUIRED, .fmt = FMT_VMSIZE},
    {F("capacity", FT_INT, dsvm_pool_spec, capacity), .flags = FD_HAS,
     .has_off = offsetof(dsvm_pool_spec, has_capacity), .min = 0, .max = 1000,
     .doc = "exactly one of capacity and autoscale"},
    {F("autoscale", FT_OBJECT, dsvm_pool_spec, autoscale), .sub = &autoscale_desc},
    {F("subnet", FT_SUBNET, dsvm_pool_spec, subnet),
     .doc = "Network-name/subnet-name or an ARM subnet ID"},
    {F("identities", FT_LIST, dsvm_pool_spec, identities), .item = &identity_ref_item,
     .item_size = sizeof(dsvm_ref)},
    {F("admin", FT_OBJECT, dsvm_pool_spec, admin), .flags = FD_REQUIRED, .sub = &admin_desc},
    {F("domainJoin", FT_REF, dsvm_pool_spec, domain_join), .ref_kind = DSVM_KIND_DOMAIN_JOIN},
    {F("entraLogin", FT_BOOL, dsvm_pool_spec, entra_login), .flags = FD_DEF | FD_HAS,
     .has_off = offsetof(dsvm_pool_spec, has_entra_login), .dint = 0},
    {F("sharedStorage", FT_LIST, dsvm_pool_spec, shared_storage), .item = &mount_item,
     .item_size = sizeof(dsvm_mount)},
    {F("security", FT_OBJECT, dsvm_pool_spec, security), .sub = &security_desc},
    {F("upgradePolicy", FT_ENUM, dsvm_pool_spec, upgrade_policy), .flags = FD_DEF | FD_HAS,
     .has_off = offsetof(dsvm_pool_spec, has_upgrade_policy), .enums = e_upgrade,
     .dint = DSVM_UPGRADE_MANUAL, .doc = "interactive only"},
    {F("endpoint", FT_OBJECT, dsvm_pool_spec, endpoint), .sub = &endpoint_desc,
     .doc = "interactive only"},
    {F("maxTasksPerNode", FT_INT, dsvm_pool_spec, max_tasks_per_node), .flags = FD_DEF | FD_HAS,
     .has_off = offsetof(dsvm_pool_spec, has_max_tasks_per_node), .min = 1, .max = 256, .dint = 1,
     .doc = "batch only"},
    TAGS(dsvm_pool_spec),
};
static const obj_desc pool_desc = {
    "PoolSpec", pool_fields, N(pool_fields), sizeof(dsvm_pool_spec), 0, 0};

/* ---- RoleAssignment ------------------------------------------------------------- */

static const field_desc ra_principal_fields[] = {
    {F("identity", FT_REF, dsvm_ra_principal, identity), .ref_kind = DSVM_KIND_IDENTITY},
    {F("group", FT_STRING, dsvm_ra_principal, group), .fmt = FMT_GUID},
    {F("user", FT_STRING, dsvm_ra_principal, user), .fmt = FMT_GUID},
    {F("servicePrincipal", FT_STRING, dsvm_ra_principal, service_principal), .fmt = FMT_GUID},
};
static const obj_desc ra_principal_desc = {
    "RolePrincipal",           ra_principal_fields, N(ra_principal_fields),
    sizeof(dsvm_ra_principal), OD_ONE_KEY,          0};

#define SCOPE_REF_KINDS                                                                            \
    ((1u << DSVM_KIND_KEY_VAULT) | (1u << DSVM_KIND_SHARED_STORAGE) | (1u << DSVM_KIND_POOL) |     \
     (1u << DSVM_KIND_IDENTITY) | (1u << DSVM_KIND_MONITORING) | (1u << DSVM_KIND_NETWORK))

static const field_desc ra_scope_fields[] = {
    {F("subscription", FT_BOOL, dsvm_scope, subscription), .doc = "true: the subscription"},
    {F("resourceGroup", FT_REF, dsvm_scope, resource_group), .ref_kind = DSVM_KIND_RESOURCE_GROUP},
    {F("ref", FT_KINDREF, dsvm_scope, ref), .kinds = SCOPE_REF_KINDS,
     .doc = "Kind/name of a KeyVault, SharedStorage, Pool, Identity, Monitoring or Network"},
};
static const obj_desc ra_scope_desc = {"RoleScope",        ra_scope_fields, N(ra_scope_fields),
                                       sizeof(dsvm_scope), OD_ONE_KEY,      0};

static const field_desc ra_fields[] = {
    {F("principal", FT_OBJECT, dsvm_role_assignment_spec, principal),
     .flags = FD_REQUIRED | FD_INLINE, .sub = &ra_principal_desc},
    {F("role", FT_STRING, dsvm_role_assignment_spec, role), .flags = FD_REQUIRED,
     .doc = "a built-in role name or a role definition GUID"},
    {F("scope", FT_OBJECT, dsvm_role_assignment_spec, scope), .flags = FD_REQUIRED | FD_INLINE,
     .sub = &ra_scope_desc},
    {F("description", FT_STRING, dsvm_role_assignment_spec, description)},
};
static const obj_desc ra_desc = {
    "RoleAssignmentSpec", ra_fields, N(ra_fields), sizeof(dsvm_role_assignment_spec), 0, 0};

/* ---- PolicyAssignment ------------------------------------------------------------- */

static const obj_desc pa_scope_desc = {"PolicyScope",      ra_scope_fields, 2,
                                       sizeof(dsvm_scope), OD_ONE_KEY,      0};

static const field_desc pa_fields[] = {
    {F("definitionId", FT_STRING, dsvm_policy_assignment_spec, definition_id), .flags = FD_REQUIRED,
     .fmt = FMT_POLICYDEF},
    {F("scope", FT_OBJECT, dsvm_policy_assignment_spec, scope), .flags = FD_REQUIRED | FD_INLINE,
     .sub = &pa_scope_desc},
    {F("displayName", FT_STRING, dsvm_policy_assignment_spec, display_name)},
    {F("description", FT_STRING, dsvm_policy_assignment_spec, description)},
    {F("parameters", FT_ANY, dsvm_policy_assignment_spec, parameters),
     .doc = "name -> value; sent wrapped as {\"value\": ...}"},
    {F("enforcementMode", FT_ENUM, dsvm_policy_assignment_spec, enforcement_mode), .flags = FD_DEF,
     .enums = e_enforce, .dint = DSVM_ENFORCE_DEFAULT},
    {F("nonComplianceMessage", FT_STRING, dsvm_policy_assignment_spec, non_compliance_message)},
    {F("identity", FT_ENUM, dsvm_policy_assignment_spec, identity), .flags = FD_DEF,
     .enums = e_pa_identity, .dint = DSVM_POLICY_IDENTITY_NONE, .doc = "system needs location"},
    {F("location", FT_STRING, dsvm_policy_assignment_spec, location), .fmt = FMT_NONBLANK},
    {F("notScopes", FT_LIST, dsvm_policy_assignment_spec, not_scopes),
     .item = &(const field_desc)STRITEM(FMT_ARMID), .item_size = sizeof(const char *)},
};
static const obj_desc pa_desc = {
    "PolicyAssignmentSpec", pa_fields, N(pa_fields), sizeof(dsvm_policy_assignment_spec), 0, 0};

/* ---- Monitoring --------------------------------------------------------------------- */

static const char *const d_counters[] = {"\\Processor(_Total)\\% Processor Time",
                                         "\\Memory\\Available Bytes", NULL};
static const char *const d_syslog[] = {"auth", "authpriv", "daemon", "syslog", NULL};
static const char *const d_events[] = {"System!*[System[(Level=1 or Level=2 or Level=3)]]", NULL};

static const field_desc mon_fields[] = {
    LOCATION(dsvm_monitoring_spec),
    {F("retentionDays", FT_INT, dsvm_monitoring_spec, retention_days), .flags = FD_DEF, .min = 30,
     .max = 730, .dint = 30},
    {F("sku", FT_STRING, dsvm_monitoring_spec, sku), .flags = FD_DEF, .enums = e_mon_sku,
     .dstr = "PerGB2018"},
    {F("performanceCounters", FT_LIST, dsvm_monitoring_spec, performance_counters), .flags = FD_DEF,
     .item = &(const field_desc)STRITEM(FMT_NONBLANK), .item_size = sizeof(const char *),
     .dlist = d_counters},
    {F("sampleSeconds", FT_INT, dsvm_monitoring_spec, sample_seconds), .flags = FD_DEF, .min = 10,
     .max = 1800, .dint = 60},
    {F("syslog", FT_LIST, dsvm_monitoring_spec, syslog), .flags = FD_DEF,
     .item = &(const field_desc){.type = FT_STRING, .enums = e_syslog},
     .item_size = sizeof(const char *), .dlist = d_syslog},
    {F("windowsEvents", FT_LIST, dsvm_monitoring_spec, windows_events), .flags = FD_DEF,
     .item = &(const field_desc)STRITEM(FMT_NONBLANK), .item_size = sizeof(const char *),
     .dlist = d_events},
    TAGS(dsvm_monitoring_spec),
};
static const obj_desc mon_desc = {
    "MonitoringSpec", mon_fields, N(mon_fields), sizeof(dsvm_monitoring_spec), 0, 0};

/* ---- Network ------------------------------------------------------------------------- */

static const field_desc subnet_fields[] = {
    {F("name", FT_STRING, dsvm_subnet, name), .flags = FD_REQUIRED, .name_rule = NR_SUBNET},
    {F("addressPrefix", FT_STRING, dsvm_subnet, address_prefix), .flags = FD_REQUIRED,
     .fmt = FMT_CIDR, .doc = "inside the address space; subnets must not overlap"},
    {F("serviceEndpoints", FT_LIST, dsvm_subnet, service_endpoints),
     .item = &(const field_desc)STRITEM(FMT_SERVICE_ENDPOINT), .item_size = sizeof(const char *)},
};
static const obj_desc subnet_desc = {"Subnet",         subnet_fields,
                                     N(subnet_fields), sizeof(dsvm_subnet),
                                     OD_POS,           offsetof(dsvm_subnet, line)};
static const field_desc subnet_def_item = {.type = FT_OBJECT, .sub = &subnet_desc};

static const field_desc net_fields[] = {
    LOCATION(dsvm_network_spec),
    {F("addressSpace", FT_LIST, dsvm_network_spec, address_space),
     .flags = FD_REQUIRED | FD_NONEMPTY, .item = &(const field_desc)STRITEM(FMT_CIDR),
     .item_size = sizeof(const char *)},
    {F("subnets", FT_LIST, dsvm_network_spec, subnets), .flags = FD_REQUIRED | FD_NONEMPTY,
     .item = &subnet_def_item, .item_size = sizeof(dsvm_subnet)},
    TAGS(dsvm_network_spec),
};
static const obj_desc net_desc = {
    "NetworkSpec", net_fields, N(net_fields), sizeof(dsvm_network_spec), 0, 0};

/* ---- the kinds -------------------------------------------------------------------------- */

#define LOC(st) ((long)offsetof(st, location))

const kind_desc dsvm_kinds[DSVM_KIND_COUNT] = {
    [DSVM_KIND_RESOURCE_GROUP] = {"ResourceGroup", &rg_desc, NR_RESOURCE_GROUP, RG_FORBIDDEN,
                                  LOC(dsvm_resource_group_spec), true, NULL,
                                  "An Azure resource group."},
    [DSVM_KIND_IDENTITY] = {"Identity", &identity_desc, NR_IDENTITY, RG_REQUIRED,
                            LOC(dsvm_identity_spec), false, NULL,
                            "A user-assigned managed identity."},
    [DSVM_KIND_KEY_VAULT] = {"KeyVault", &vault_desc, NR_KEY_VAULT, RG_REQUIRED,
                             LOC(dsvm_key_vault_spec), false, rule_key_vault,
                             "A Key Vault; readers are granted secret get and list."},
    [DSVM_KIND_SHARED_STORAGE] = {"SharedStorage", &storage_desc, NR_STORAGE_ACCOUNT, RG_REQUIRED,
                                  LOC(dsvm_shared_storage_spec), true, rule_shared_storage,
                                  "An Azure Files storage account and its shares."},
    [DSVM_KIND_DOMAIN_JOIN] = {"DomainJoin", &dj_desc, NR_DOMAIN_JOIN, RG_OPTIONAL, -1, true,
                               rule_domain_join, "How pools join Active Directory."},
    [DSVM_KIND_POOL] = {"Pool", &pool_desc, NR_POOL, RG_REQUIRED, LOC(dsvm_pool_spec), true,
                        rule_pool, "A pool of Data Science VMs (scale set or Batch pool)."},
    [DSVM_KIND_ROLE_ASSIGNMENT] = {"RoleAssignment", &ra_desc, NR_ROLE_ASSIGNMENT, RG_OPTIONAL, -1,
                                   true, rule_role_assignment, "An Azure role assignment."},
    [DSVM_KIND_POLICY_ASSIGNMENT] = {"PolicyAssignment", &pa_desc, NR_POLICY_ASSIGNMENT,
                                     RG_OPTIONAL, -1, true, rule_policy_assignment,
                                     "An Azure Policy assignment."},
    [DSVM_KIND_MONITORING] = {"Monitoring", &mon_desc, NR_MONITORING, RG_REQUIRED,
                              LOC(dsvm_monitoring_spec), false, NULL,
                              "A Log Analytics workspace and a data collection rule."},
    [DSVM_KIND_NETWORK] = {"Network", &net_desc, NR_NETWORK, RG_REQUIRED, LOC(dsvm_network_spec),
                           true, rule_network, "A virtual network with subnets."},
};

static const char *const kind_names[] = {
    "ResourceGroup",  "Identity",         "KeyVault",   "SharedStorage", "DomainJoin", "Pool",
    "RoleAssignment", "PolicyAssignment", "Monitoring", "Network",       NULL};

const char *const *dsvm_kind_names(void)
{
    return kind_names;
}

const char *dsvm_kind_name(dsvm_kind kind)
{
    if ((unsigned)kind >= DSVM_KIND_COUNT)
        return NULL;
    return dsvm_kinds[kind].name;
}

int dsvm_kind_lookup(dsvm_kind *out, const char *name)
{
    int k;

    for (k = 0; k < DSVM_KIND_COUNT; k++) {
        if (strcmp(dsvm_kinds[k].name, name) == 0) {
            *out = (dsvm_kind)k;
            return 0;
        }
    }
    return -3; /* DSVM_ENOTFOUND */
}

/* Find a field by dotted path below an object descriptor. */
static const field_desc *find_field(const obj_desc *d, const char *path)
{
    const char *dot = strchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : strlen(path);
    size_t i;

    for (i = 0; i < d->n_fields; i++) {
        const field_desc *f = &d->fields[i];

        if (strlen(f->name) != len || strncmp(f->name, path, len) != 0)
            continue;
        if (!dot)
            return f;
        if (f->type == FT_LIST && f->item && f->item->sub)
            return find_field(f->item->sub, dot + 1);
        if (f->sub)
            return find_field(f->sub, dot + 1);
        return NULL;
    }
    return NULL;
}

const char *dsvm_enum_text(dsvm_kind kind, const char *field_path, int value)
{
    const field_desc *f;
    const char *const *e;
    int i;

    if ((unsigned)kind >= DSVM_KIND_COUNT || !field_path || value < 0)
        return NULL;
    f = find_field(dsvm_kinds[kind].spec, field_path);
    if (!f)
        return NULL;
    e = f->enums ? f->enums : (f->item ? f->item->enums : NULL);
    if (!e)
        return NULL;
    for (i = 0; e[i]; i++)
        if (i == value)
            return e[i];
    return NULL;
}
