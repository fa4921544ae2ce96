/*
 * Cross-field rules, one small function per kind (listed in the kind table
 * in kinds.c). They run after references resolve, on objects whose own
 * document parsed without errors, and point their errors at the YAML node
 * of the offending field.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* Follow a dotted path ("spec.shares.2.name") from the document root. */
static const ynode *walk_path(const ynode *n, const char *path, bool *complete)
{
    const ynode *last = n;

    *complete = false;
    while (n && *path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        char seg[128];

        if (len >= sizeof(seg))
            return last;
        memcpy(seg, path, len);
        seg[len] = '\0';
        if (n->type == YN_SEQ && isdigit((unsigned char)seg[0])) {
            size_t i = (size_t)strtoul(seg, NULL, 10);

            n = i < n->n ? n->kids[i] : NULL;
        } else {
            n = ynode_get(n, seg, NULL);
        }
        if (!n)
            return last;
        last = n;
        path += len;
        if (*path == '.')
            path++;
    }
    *complete = n != NULL;
    return last;
}

const ynode *obj_node(const obj_ext *o, const char *path)
{
    bool complete;
    const ynode *n = walk_path(o->root, path, &complete);

    return complete ? n : NULL;
}

/*
 * The node of object `o` at the first of the '|'-separated paths that exists
 * in its document; when none does, the deepest node found along the first.
 */
static const ynode *report_node(load_ctx *c, obj_ext *o, const char *paths)
{
    const ynode *best = o->root;
    const char *p = paths;

    while (*p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        char *one = arena_strndup(c->keep, p, len);
        bool complete;
        const ynode *n;

        if (!one)
            break;
        n = walk_path(o->root, one, &complete);
        if (complete)
            return n;
        if (p == paths)
            best = n;
        p += len;
        if (*p == '|')
            p++;
    }
    return best;
}

void obj_error(load_ctx *c, obj_ext *o, const char *paths, const char *hint, const char *fmt, ...)
{
    const ynode *at = report_node(c, o, paths);
    va_list ap;

    va_start(ap, fmt);
    diags_vadd(c->diags, o->file_id, at->line, at->col, hint, fmt, ap);
    va_end(ap);
}

void obj_warn(load_ctx *c, obj_ext *o, const char *paths, const char *hint, const char *fmt, ...)
{
    const ynode *at = report_node(c, o, paths);
    va_list ap;

    va_start(ap, fmt);
    diags_vwarn(c->diags, o->file_id, at->line, at->col, hint, fmt, ap);
    va_end(ap);
}

json_t *obj_subnames(obj_ext *o)
{
    size_t i;

    if (o->subnames || !o->pub.spec.any)
        return o->subnames;
    o->subnames = json_object();
    if (!o->subnames)
        return NULL;
    if (o->pub.kind == DSVM_KIND_SHARED_STORAGE) {
        const dsvm_sharelist *l = &o->pub.spec.shared_storage->shares;

        for (i = 0; i < l->n; i++)
            if (l->items[i].name)
                json_object_set_new(o->subnames, l->items[i].name, json_integer((json_int_t)i));
    } else if (o->pub.kind == DSVM_KIND_NETWORK) {
        const dsvm_subnetdefs *l = &o->pub.spec.network->subnets;

        for (i = 0; i < l->n; i++)
            if (l->items[i].name)
                json_object_set_new(o->subnames, l->items[i].name, json_integer((json_int_t)i));
    }
    return o->subnames;
}

static char *pathf(load_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *pathf(load_ctx *c, const char *fmt, ...)
{
    va_list ap;
    char buf[256];

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return arena_strdup(c->keep, buf);
}

/* ---- KeyVault ------------------------------------------------------------------- */

static void check_principals(load_ctx *c, obj_ext *o, const dsvm_vault_principals *l,
                             const char *field, json_t *seen)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        const dsvm_vault_principal *p = &l->items[i];
        const char *key = p->identity.name ? p->identity.name : p->object_id;
        json_t *prev;

        if (!key)
            continue;
        prev = json_object_get(seen, key);
        if (prev) {
            obj_error(c, o, pathf(c, "spec.%s.%zu", field, i), "keep it in one list",
                      "%s \"%s\" is listed more than once in readers and secretsUsers of KeyVault "
                      "\"%s\"",
                      p->identity.name ? "Identity" : "principal", key, o->pub.name);
            continue;
        }
        json_object_set_new(seen, key, json_true());
    }
}

void rule_key_vault(load_ctx *c, obj_ext *o)
{
    const dsvm_key_vault_spec *s = o->pub.spec.key_vault;
    json_t *seen = json_object();

    if (!seen)
        return;
    check_principals(c, o, &s->readers, "readers", seen);
    check_principals(c, o, &s->secrets_users, "secretsUsers", seen);
    json_decref(seen);
}

/* ---- SharedStorage ---------------------------------------------------------------- */

static bool is_premium(int sku)
{
    return sku == DSVM_STORAGE_PREMIUM_LRS || sku == DSVM_STORAGE_PREMIUM_ZRS;
}

void rule_shared_storage(load_ctx *c, obj_ext *o)
{
    dsvm_shared_storage_spec *s = o->pub.spec.shared_storage;
    const char *name = o->pub.name;
    json_t *seen;
    size_t i;

    if (s->protocol == DSVM_PROTOCOL_NFS && !is_premium(s->sku))
        obj_error(c, o, "spec.sku|spec.protocol|spec",
                  "use sku Premium_LRS or Premium_ZRS, or protocol SMB",
                  "SharedStorage \"%s\": NFS shares need a Premium_* sku", name);
    if (s->protocol == DSVM_PROTOCOL_NFS && s->account_kind != DSVM_STORAGE_KIND_FILE_STORAGE)
        obj_error(c, o, "spec.kind|spec.protocol|spec", "use kind FileStorage",
                  "SharedStorage \"%s\": NFS shares need kind FileStorage", name);
    else if (is_premium(s->sku) && s->account_kind != DSVM_STORAGE_KIND_FILE_STORAGE)
        obj_error(c, o, "spec.kind|spec.sku|spec", "use kind FileStorage",
                  "SharedStorage \"%s\": Premium file shares need kind FileStorage", name);
    if (s->protocol == DSVM_PROTOCOL_SMB && !s->account_key)
        obj_error(c, o, "spec.protocol", "add accountKey: {keyVault: <vault>, secret: <name>}",
                  "SharedStorage \"%s\": protocol SMB needs accountKey", name);

    seen = json_object();
    if (!seen)
        return;
    for (i = 0; i < s->shares.n; i++) {
        dsvm_share *sh = &s->shares.items[i];

        if (json_object_get(seen, sh->name))
            obj_error(c, o, pathf(c, "spec.shares.%zu.name", i), NULL,
                      "SharedStorage \"%s\" has two shares named \"%s\"", name, sh->name);
        json_object_set_new(seen, sh->name, json_true());
        if (is_premium(s->sku) && sh->quota_gib < 100)
            obj_error(c, o, pathf(c, "spec.shares.%zu.quotaGiB", i), "use quotaGiB: 100 or more",
                      "share \"%s\": Premium shares need at least 100 GiB, got %lld", sh->name,
                      (long long)sh->quota_gib);
        if (s->protocol != DSVM_PROTOCOL_NFS &&
            obj_node(o, pathf(c, "spec.shares.%zu.rootSquash", i)))
            obj_error(c, o, pathf(c, "spec.shares.%zu.rootSquash", i), NULL,
                      "share \"%s\": rootSquash applies to NFS shares only", sh->name);
        if (sh->access_tier == DSVM_UNSET) {
            sh->access_tier =
                is_premium(s->sku) ? DSVM_TIER_PREMIUM : DSVM_TIER_TRANSACTION_OPTIMIZED;
        } else if (is_premium(s->sku) != (sh->access_tier == DSVM_TIER_PREMIUM)) {
            obj_error(c, o, pathf(c, "spec.shares.%zu.accessTier", i), NULL, "share \"%s\": %s",
                      sh->name,
                      is_premium(s->sku) ? "Premium accounts take only accessTier Premium"
                                         : "accessTier Premium needs a Premium_* sku");
        }
    }
    json_decref(seen);
}

/* ---- DomainJoin -------------------------------------------------------------------- */

static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return false;
}

void rule_domain_join(load_ctx *c, obj_ext *o)
{
    const dsvm_domain_join_spec *s = o->pub.spec.domain_join;

    if (s->ou_path && !(contains_ci(s->ou_path, "OU=") || contains_ci(s->ou_path, "DC=")))
        obj_error(c, o, "spec.ouPath", "write an LDAP DN such as OU=DSVM,DC=corp,DC=example,DC=com",
                  "invalid value \"%s\" for DomainJoin.spec.ouPath: expected an LDAP DN",
                  s->ou_path);
}

/* ---- Pool ------------------------------------------------------------------------------ */

static const char *const reserved_users[] = {"administrator",
                                             "admin",
                                             "user",
                                             "user1",
                                             "test",
                                             "user2",
                                             "test1",
                                             "user3",
                                             "admin1",
                                             "1",
                                             "123",
                                             "a",
                                             "actuser",
                                             "adm",
                                             "admin2",
                                             "aspnet",
                                             "backup",
                                             "console",
                                             "david",
                                             "guest",
                                             "john",
                                             "owner",
                                             "root",
                                             "server",
                                             "sql",
                                             "support",
                                             "support_388945a0",
                                             "sys",
                                             "test2",
                                             "test3",
                                             "user4",
                                             "user5",
                                             NULL};

static bool fill_image(dsvm_image *img)
{
    size_t n, i;
    const dsvm_image_alias *t = dsvm_image_aliases(&n);

    if (!img->alias)
        return true;
    for (i = 0; i < n; i++) {
        if (strcmp(t[i].alias, img->alias) == 0) {
            img->publisher = t[i].publisher;
            img->offer = t[i].offer;
            img->sku = t[i].sku;
            img->version = "latest";
            img->os = t[i].os;
            img->node_agent_sku_id = t[i].node_agent_sku_id;
            return true;
        }
    }
    return false;
}

/* A Linux pool reading the join password needs an identity that reads the vault. */
static bool identity_reads_vault(const dsvm_pool_spec *p, const dsvm_object *vault)
{
    const dsvm_key_vault_spec *v = vault->spec.key_vault;
    const dsvm_vault_principals *lists[2];
    size_t i, l, k;

    if (!v)
        return false;
    lists[0] = &v->readers;
    lists[1] = &v->secrets_users;
    for (i = 0; i < p->identities.n; i++)
        for (l = 0; l < 2; l++)
            for (k = 0; k < lists[l]->n; k++)
                if (lists[l]->items[k].identity.name &&
                    strcmp(lists[l]->items[k].identity.name, p->identities.items[i].name) == 0)
                    return true;
    return false;
}

/* The admin account: reserved names, OS-specific syntax, and SSH key versus password. */
static void pool_admin(load_ctx *c, obj_ext *o, const dsvm_pool_spec *p, bool win)
{
    const dsvm_admin *a = p->admin;
    const char *name = o->pub.name;
    size_t i;

    if (!a)
        return;
    for (i = 0; reserved_users[i]; i++) {
        if (strcasecmp(a->username, reserved_users[i]) == 0) {
            obj_error(c, o, "spec.admin.username", "choose another name, e.g. dsvmadmin",
                      "Pool \"%s\": admin username \"%s\" is reserved by Azure", name, a->username);
            break;
        }
    }
    if (win) {
        if (strlen(a->username) > 20 || strpbrk(a->username, "\\/\"[]:|<>+=;,?*@ ") ||
            a->username[strlen(a->username) - 1] == '.')
            obj_error(c, o, "spec.admin.username", NULL,
                      "Pool \"%s\": invalid Windows admin username \"%s\": at most 20 "
                      "characters, none of \\ / \" [ ] : | < > + = ; , ? * @ or space",
                      name, a->username);
        if (!a->password)
            obj_error(c, o, "spec.admin", "add password: {keyVault: <vault>, secret: <name>}",
                      "Pool \"%s\": a Windows admin needs password (a Key Vault reference)", name);
        if (a->ssh_public_key)
            obj_error(c, o, "spec.admin.sshPublicKey", "remove sshPublicKey",
                      "Pool \"%s\": a Windows admin takes no sshPublicKey", name);
    } else {
        const char *u = a->username;
        bool ok = strlen(u) <= 32 && (islower((unsigned char)u[0]) || u[0] == '_');

        for (i = 1; ok && u[i]; i++)
            ok = islower((unsigned char)u[i]) || isdigit((unsigned char)u[i]) || u[i] == '_' ||
                 u[i] == '-';
        if (!ok)
            obj_error(c, o, "spec.admin.username", NULL,
                      "Pool \"%s\": invalid Linux admin username \"%s\": at most 32 lowercase "
                      "letters, digits, '_' and '-', starting with a letter or '_'",
                      name, u);
        if (!a->ssh_public_key)
            obj_error(c, o, "spec.admin", "add sshPublicKey: \"ssh-ed25519 AAAA...\"",
                      "Pool \"%s\": a Linux admin needs sshPublicKey", name);
        else if (strncmp(a->ssh_public_key, "ssh-rsa ", 8) != 0 &&
                 strncmp(a->ssh_public_key, "ssh-ed25519 ", 12) != 0 &&
                 strncmp(a->ssh_public_key, "ecdsa-sha2-", 11) != 0)
            obj_error(c, o, "spec.admin.sshPublicKey", NULL,
                      "Pool \"%s\": sshPublicKey must be an OpenSSH public key (ssh-ed25519, "
                      "ssh-rsa or ecdsa-sha2-...)",
                      name);
        if (a->password)
            obj_error(c, o, "spec.admin.password",
                      "remove password; Linux admins log in with SSH keys",
                      "Pool \"%s\": a Linux admin takes no password", name);
    }
}

/* Shared storage mounts: the share exists, SMB has a key, NFS is not for Windows, paths. */
static void pool_mounts(load_ctx *c, obj_ext *o, const dsvm_pool_spec *p, bool win)
{
    json_t *paths = json_object();
    size_t i;

    if (!paths)
        return;
    for (i = 0; i < p->shared_storage.n; i++) {
        dsvm_mount *m = &p->shared_storage.items[i];
        const dsvm_object *st = m->storage.target;
        const dsvm_shared_storage_spec *ss = st ? st->spec.shared_storage : NULL;

        if (ss) {
            obj_ext *sx = (obj_ext *)(void *)((char *)st - offsetof(obj_ext, pub));
            json_t *names = obj_subnames(sx);
            json_t *idx = names ? json_object_get(names, m->share) : NULL;

            if (!idx) {
                const char **cands = malloc((ss->shares.n + 1) * sizeof(*cands));
                const char *best = NULL;
                size_t k;

                if (cands && ss->shares.n <= 1000) {
                    size_t nc = 0;

                    for (k = 0; k < ss->shares.n; k++)
                        if (ss->shares.items[k].name)
                            cands[nc++] = ss->shares.items[k].name;
                    best = text_suggest(m->share, cands, nc);
                }
                obj_error(c, o, pathf(c, "spec.sharedStorage.%zu.share", i),
                          best ? arena_printf(c->keep, "did you mean \"%s\"?", best) : NULL,
                          "SharedStorage \"%s\" has no share \"%s\"", st->name, m->share);
                free(cands);
            } else {
                m->share_def = &ss->shares.items[json_integer_value(idx)];
            }
            if (ss->protocol == DSVM_PROTOCOL_SMB && !ss->account_key)
                obj_error(c, o, pathf(c, "spec.sharedStorage.%zu.storage", i), NULL,
                          "SMB mount of SharedStorage \"%s\" needs the storage's accountKey",
                          st->name);
            if (ss->protocol == DSVM_PROTOCOL_NFS && win)
                obj_error(c, o, pathf(c, "spec.sharedStorage.%zu.storage", i),
                          "use a SharedStorage with protocol SMB",
                          "Windows pools cannot mount NFS SharedStorage \"%s\"", st->name);
        }
        if (win ? !(isalpha((unsigned char)m->mount_path[0]) && m->mount_path[1] == ':' &&
                    m->mount_path[2] == '\0')
                : m->mount_path[0] != '/')
            obj_error(c, o, pathf(c, "spec.sharedStorage.%zu.mountPath", i), NULL,
                      "invalid mountPath \"%s\": %s", m->mount_path,
                      win ? "Windows pools mount on a drive letter such as Z:"
                          : "Linux pools mount on an absolute path such as /mnt/data");
        else if (json_object_get(paths, m->mount_path))
            obj_error(c, o, pathf(c, "spec.sharedStorage.%zu.mountPath", i), NULL,
                      "mountPath \"%s\" is used twice", m->mount_path);
        json_object_set_new(paths, m->mount_path, json_true());
    }
    json_decref(paths);
}

/* Locations compare case- and space-insensitively: "East US" is "eastus". */
static bool same_location(const char *a, const char *b)
{
    for (;;) {
        while (*a == ' ')
            a++;
        while (*b == ' ')
            b++;
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
        if (!*a)
            return true;
        a++;
        b++;
    }
}

void rule_pool(load_ctx *c, obj_ext *o)
{
    dsvm_pool_spec *p = o->pub.spec.pool;
    const char *name = o->pub.name;
    bool batch = p->mode == DSVM_POOL_BATCH;
    bool win;
    size_t i;

    if (!fill_image(&p->image))
        return;
    win = p->image.os == DSVM_OS_WINDOWS;

    /* size */
    if (p->has_capacity && p->autoscale)
        obj_error(c, o, "spec.autoscale", "remove capacity or autoscale",
                  "Pool \"%s\" takes exactly one of capacity and autoscale", name);
    else if (!p->has_capacity && !p->autoscale)
        obj_error(c, o, "spec.mode", "add capacity: N or autoscale: {min, max}",
                  "Pool \"%s\" needs capacity or autoscale", name);
    if (p->autoscale) {
        const dsvm_autoscale *a = p->autoscale;
        uint64_t secs;

        if (a->min > a->max)
            obj_error(c, o, "spec.autoscale.min", NULL,
                      "Pool \"%s\": autoscale min (%lld) is greater than max (%lld)", name,
                      (long long)a->min, (long long)a->max);
        if (!batch && a->formula)
            obj_error(c, o, "spec.autoscale.formula", NULL,
                      "Pool \"%s\": autoscale formula is for batch pools only", name);
        if (!batch && a->evaluation_interval)
            obj_error(c, o, "spec.autoscale.evaluationInterval", NULL,
                      "Pool \"%s\": autoscale evaluationInterval is for batch pools only", name);
        else if (a->evaluation_interval && text_is_duration(a->evaluation_interval, &secs) &&
                 (secs < 300 || secs > 168 * 3600))
            obj_error(c, o, "spec.autoscale.evaluationInterval", NULL,
                      "Pool \"%s\": evaluationInterval must be between 5m and 168h", name);
    }

    /* mode */
    if (batch) {
        if (p->endpoint)
            obj_error(c, o, "spec.endpoint", NULL, "batch Pool \"%s\" takes no endpoint", name);
        if (p->has_upgrade_policy)
            obj_error(c, o, "spec.upgradePolicy", NULL, "batch Pool \"%s\" takes no upgradePolicy",
                      name);
        if (p->has_entra_login)
            obj_error(c, o, "spec.entraLogin", NULL, "batch Pool \"%s\" takes no entraLogin", name);
        if (!p->image.node_agent_sku_id)
            obj_error(c, o, "spec.image",
                      "add image.nodeAgentSkuId or use an alias such as ubuntu-hpc-2204",
                      "batch Pool \"%s\": the image has no Batch nodeAgentSkuId", name);
    } else {
        if (p->has_max_tasks_per_node)
            obj_error(c, o, "spec.maxTasksPerNode", NULL,
                      "interactive Pool \"%s\" takes no maxTasksPerNode (batch only)", name);
        if (!p->image.alias && p->image.node_agent_sku_id)
            obj_error(c, o, "spec.image.nodeAgentSkuId", NULL,
                      "interactive Pool \"%s\": nodeAgentSkuId is for batch pools only", name);
    }

    /* OS */
    if (p->endpoint) {
        for (i = 0; i < p->endpoint->allow_from.n; i++) {
            unsigned bits = 32;

            if (text_is_cidr(p->endpoint->allow_from.items[i], NULL, &bits) && bits == 0)
                obj_warn(c, o, pathf(c, "spec.endpoint.allowFrom.%zu", i),
                         "list the networks that need access",
                         "Pool \"%s\" opens its endpoint to the whole internet (%s)", name,
                         p->endpoint->allow_from.items[i]);
        }
        for (i = 0; i < p->endpoint->protocols.n; i++) {
            int pr = p->endpoint->protocols.items[i];

            if (pr == DSVM_PROTO_RDP && !win)
                obj_error(c, o, pathf(c, "spec.endpoint.protocols.%zu", i), "use ssh",
                          "Pool \"%s\": rdp endpoints need a Windows image", name);
            if (pr == DSVM_PROTO_SSH && win)
                obj_error(c, o, pathf(c, "spec.endpoint.protocols.%zu", i), "use rdp",
                          "Pool \"%s\": ssh endpoints need a Linux image", name);
        }
    }
    if (p->security && p->security->antimalware && !win)
        obj_error(c, o, "spec.security.antimalware", NULL,
                  "Pool \"%s\": antimalware needs a Windows image", name);
    pool_admin(c, o, p, win);
    if (win && p->domain_join.name && p->entra_login)
        obj_error(c, o, "spec.entraLogin", "use one of them",
                  "Pool \"%s\": on Windows, domainJoin and entraLogin exclude each other", name);
    if (!win && p->domain_join.target && p->domain_join.target->spec.domain_join) {
        const dsvm_secret_ref *pw = p->domain_join.target->spec.domain_join->password;

        if (pw && pw->vault.target && !identity_reads_vault(p, pw->vault.target))
            obj_error(c, o, "spec.domainJoin",
                      arena_printf(c->keep,
                                   "add one of the pool's identities to the readers of KeyVault "
                                   "\"%s\"",
                                   pw->vault.name),
                      "Linux Pool \"%s\" joins the domain with a boot script that reads the "
                      "password from KeyVault \"%s\", but none of its identities reads that vault",
                      name, pw->vault.name);
    }
    pool_mounts(c, o, p, win);
    if (p->subnet && p->subnet->network.target && o->pub.location &&
        p->subnet->network.target->location &&
        !same_location(o->pub.location, p->subnet->network.target->location))
        obj_error(c, o, "spec.subnet", NULL,
                  "Pool \"%s\" is in %s but Network \"%s\" is in %s; a pool and its subnet "
                  "must be in one location",
                  name, o->pub.location, p->subnet->network.target->name,
                  p->subnet->network.target->location);
    for (i = 0; i < p->identities.n; i++) {
        size_t k;

        for (k = 0; k < i && i < 1000; k++) {
            if (strcmp(p->identities.items[k].name, p->identities.items[i].name) == 0) {
                obj_error(c, o, pathf(c, "spec.identities.%zu", i), NULL,
                          "Pool \"%s\" lists Identity \"%s\" twice", name,
                          p->identities.items[i].name);
                break;
            }
        }
    }
}

/* ---- RoleAssignment, PolicyAssignment ----------------------------------------------- */

/*
 * Two RoleAssignments with the same principal, role and scope would be the
 * same Azure role assignment (its name is derived from those three).
 */
static void check_same_grant(load_ctx *c, obj_ext *o, const dsvm_role_assignment_spec *s)
{
    const dsvm_ra_principal *p = &s->principal;
    const char *who = p->identity.name ? p->identity.name
                      : p->group       ? p->group
                      : p->user        ? p->user
                                       : p->service_principal;
    const char *scope = s->scope.subscription          ? "subscription"
                        : s->scope.resource_group.name ? s->scope.resource_group.name
                                                       : s->scope.ref.name;
    char *key, *g;
    json_t *prev;

    if (!who || !scope)
        return;
    if (!c->grants) {
        c->grants = json_object();
        if (!c->grants)
            return;
    }
    key = arena_printf(c->keep, "%d/%s|%s|%d/%d/%s", p->identity.name ? 1 : 0, who, s->role_guid,
                       s->scope.resource_group.name ? 1 : 0,
                       s->scope.ref.name ? (int)s->scope.ref.kind : -1, scope);
    if (!key)
        return;
    for (g = key; *g; g++)
        *g = (char)tolower((unsigned char)*g);
    prev = json_object_get(c->grants, key);
    if (prev) {
        obj_error(c, o, "metadata.name", "remove one of them",
                  "RoleAssignment \"%s\" grants the same role to the same principal at the same "
                  "scope as RoleAssignment \"%s\"",
                  o->pub.name, json_string_value(prev));
        return;
    }
    json_object_set_new(c->grants, key, json_string(o->pub.name));
}

void rule_role_assignment(load_ctx *c, obj_ext *o)
{
    dsvm_role_assignment_spec *s = o->pub.spec.role_assignment;

    if (text_is_guid(s->role)) {
        s->role_guid = s->role;
    } else {
        s->role_guid = dsvm_role_guid(s->role);
        if (!s->role_guid) {
            size_t n, i;
            const dsvm_builtin_role *t = dsvm_builtin_roles(&n);
            const char *names[32];
            const char *best;

            for (i = 0; i < n && i < 32; i++)
                names[i] = t[i].name;
            best = text_suggest(s->role, names, i);
            obj_error(c, o, "spec.role",
                      best ? arena_printf(c->keep, "did you mean \"%s\"?", best)
                           : "use a built-in role name (see docs/manifests.md) or a role "
                             "definition GUID",
                      "unknown role \"%s\" in RoleAssignment \"%s\"", s->role, o->pub.name);
        }
    }
    if (obj_node(o, "spec.scope.subscription") && !s->scope.subscription)
        obj_error(c, o, "spec.scope.subscription", NULL,
                  "scope.subscription must be true when given");
    if (s->role_guid)
        check_same_grant(c, o, s);
}

void rule_policy_assignment(load_ctx *c, obj_ext *o)
{
    const dsvm_policy_assignment_spec *s = o->pub.spec.policy_assignment;

    if (s->identity == DSVM_POLICY_IDENTITY_SYSTEM && !s->location)
        obj_error(c, o, "spec.identity", "add location: <region>",
                  "PolicyAssignment \"%s\": identity system needs location", o->pub.name);
    if (obj_node(o, "spec.scope.subscription") && !s->scope.subscription)
        obj_error(c, o, "spec.scope.subscription", NULL,
                  "scope.subscription must be true when given");
}

/* ---- Network -------------------------------------------------------------------------- */

typedef struct {
    uint64_t lo, hi;
    size_t idx;
} range;

static int cmp_range(const void *a, const void *b)
{
    const range *x = a, *y = b;

    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/* The address range of a CIDR, and whether host bits are set. */
static void cidr_range(const char *s, uint64_t *lo, uint64_t *hi, bool *host_bits)
{
    uint32_t addr = 0;
    unsigned bits = 0;
    uint64_t size;

    text_is_cidr(s, &addr, &bits);
    size = 1ull << (32 - bits);
    *lo = addr & ~(uint32_t)(size - 1);
    *hi = *lo + size - 1;
    *host_bits = (uint64_t)addr != *lo;
}

void rule_network(load_ctx *c, obj_ext *o)
{
    const dsvm_network_spec *s = o->pub.spec.network;
    size_t n_sub = s->subnets.n, n_as = s->address_space.n, i, k;
    range *sub = malloc((n_sub + 1) * sizeof(*sub));
    range *as = malloc((n_as + 1) * sizeof(*as));
    json_t *names = json_object();

    if (!sub || !as || !names)
        goto out;
    for (i = 0; i < n_as; i++) {
        bool hb;

        cidr_range(s->address_space.items[i], &as[i].lo, &as[i].hi, &hb);
        as[i].idx = i;
        if (hb)
            obj_error(c, o, pathf(c, "spec.addressSpace.%zu", i), NULL,
                      "address space %s has host bits set", s->address_space.items[i]);
    }
    for (i = 0; i < n_sub; i++) {
        const dsvm_subnet *sn = &s->subnets.items[i];
        bool hb, inside = false;

        if (json_object_get(names, sn->name))
            obj_error(c, o, pathf(c, "spec.subnets.%zu.name", i), NULL,
                      "Network \"%s\" has two subnets named \"%s\"", o->pub.name, sn->name);
        json_object_set_new(names, sn->name, json_true());
        cidr_range(sn->address_prefix, &sub[i].lo, &sub[i].hi, &hb);
        sub[i].idx = i;
        if (hb)
            obj_error(c, o, pathf(c, "spec.subnets.%zu.addressPrefix", i), NULL,
                      "subnet \"%s\": prefix %s has host bits set", sn->name, sn->address_prefix);
        for (k = 0; k < n_as && !inside; k++)
            inside = sub[i].lo >= as[k].lo && sub[i].hi <= as[k].hi;
        if (!inside)
            obj_error(c, o, pathf(c, "spec.subnets.%zu.addressPrefix", i), NULL,
                      "subnet \"%s\": prefix %s is outside the address space of Network \"%s\"",
                      sn->name, sn->address_prefix, o->pub.name);
    }
    /* overlaps: sort by start, compare with the furthest end seen so far */
    qsort(sub, n_sub, sizeof(*sub), cmp_range);
    for (i = 1, k = 0; i < n_sub; i++) {
        if (sub[i].lo <= sub[k].hi) {
            size_t a = sub[k].idx < sub[i].idx ? sub[k].idx : sub[i].idx;
            size_t b = sub[k].idx < sub[i].idx ? sub[i].idx : sub[k].idx;

            obj_error(c, o, pathf(c, "spec.subnets.%zu.addressPrefix", b), NULL,
                      "subnet \"%s\" (%s) overlaps subnet \"%s\" (%s)", s->subnets.items[b].name,
                      s->subnets.items[b].address_prefix, s->subnets.items[a].name,
                      s->subnets.items[a].address_prefix);
        }
        if (sub[i].hi > sub[k].hi)
            k = i;
    }
    qsort(as, n_as, sizeof(*as), cmp_range);
    for (i = 1, k = 0; i < n_as; i++) {
        if (as[i].lo <= as[k].hi)
            obj_error(c, o, pathf(c, "spec.addressSpace.%zu", as[i].idx), NULL,
                      "address space %s overlaps %s", s->address_space.items[as[i].idx],
                      s->address_space.items[as[k].idx]);
        if (as[i].hi > as[k].hi)
            k = i;
    }
out:
    free(sub);
    free(as);
    json_decref(names);
}
