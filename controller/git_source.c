/*
 * The Git source: a bare cache fetched with libgit2, and plain checkouts of
 * one subdirectory per commit written straight from the object database.
 * The layout, ref resolution and failure behaviour are described in
 * git_source.h.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <git2.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fmt.h"
#include "dsvmops/error.h"
#include "git_source.h"

#define FETCH_HEADS "+refs/heads/*:refs/remotes/origin/*"
#define FETCH_TAGS  "+refs/tags/*:refs/tags/*"
#define WANTED_REF  "refs/dsvmops/wanted"
/* Each fetch adds a pack and libgit2 cannot repack: past this many, clone afresh. */
#define MAX_PACKS 50

struct dsvm_source {
    char *url;
    char *url_safe; /* url without user information, for messages */
    char *ref;      /* NULL: the remote's HEAD */
    char *path;     /* normalised: no leading, trailing or doubled '/'; "" for the root */
    char *path_tag; /* "" or "-" and 8 hex digits of a hash of path */
    char *cache_dir;
    char *repo_dir;
    char *username;
    char *password;
    char *ssh_key_file;
    char *known_hosts;
    int ssh_port;
    git_repository *repo;
    dsvm_source_result last_good;
    int have_last_good;
};

/* What one fetch or resolve learns on the way; the payload of callbacks. */
typedef struct {
    dsvm_source *src;
    unsigned int user_offers;
    unsigned int pass_offers;
    unsigned int key_offers;
    int auth_refused;
    int auth_missing;
    int hostkey_refused;
    char *hostkey_msg;
    char *user_tried; /* the user name last offered to the server */
    int key_errno;    /* why ssh_key_file could not be read, or 0 */
    int cache_broken;
    dsvm_source_result res;
} op_state;

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} strbuf;

static int sb_add(strbuf *sb, const char *data, size_t len)
{
    if (len > SIZE_MAX / 2 - sb->len)
        return DSVM_ENOMEM;
    if (sb->len + len + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 128;
        char *p;

        while (cap < sb->len + len + 1)
            cap *= 2;
        p = realloc(sb->data, cap);
        if (!p)
            return DSVM_ENOMEM;
        sb->data = p;
        sb->cap = cap;
    }
    memcpy(sb->data + sb->len, data, len);
    sb->len += len;
    sb->data[sb->len] = '\0';
    return 0;
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/*
 * Copy `msg` with the user information of every "scheme://user:pw@" removed
 * and every occurrence of `secret` masked. NULL when out of memory.
 */
static char *scrub(const char *msg, const char *secret)
{
    strbuf sb = {0};
    const char *p = msg;
    size_t slen = secret ? strlen(secret) : 0;

    if (sb_add(&sb, "", 0))
        return NULL;
    while (*p) {
        const char *sep = strstr(p, "://");
        const char *end, *at = NULL;

        if (!sep) {
            if (sb_add(&sb, p, strlen(p)))
                goto oom;
            break;
        }
        sep += 3;
        if (sb_add(&sb, p, (size_t)(sep - p)))
            goto oom;
        for (end = sep; *end && !strchr("/ \t\r\n'\"", *end); end++) {
            if (*end == '@')
                at = end;
        }
        p = at ? at + 1 : sep;
    }
    if (slen) {
        strbuf out = {0};
        const char *q = sb.data;

        if (sb_add(&out, "", 0))
            goto oom;
        for (;;) {
            const char *hit = strstr(q, secret);

            if (!hit) {
                if (sb_add(&out, q, strlen(q))) {
                    free(out.data);
                    goto oom;
                }
                break;
            }
            if (sb_add(&out, q, (size_t)(hit - q)) || sb_add(&out, "***", 3)) {
                free(out.data);
                goto oom;
            }
            q = hit + slen;
        }
        free(sb.data);
        return out.data;
    }
    return sb.data;
oom:
    free(sb.data);
    return NULL;
}

/* Set the last error, scrubbed of credentials, and return `code`. */
static int fail(const dsvm_source *src, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(const dsvm_source *src, int code, const char *fmt, ...)
{
    va_list ap;
    char *raw, *clean;

    va_start(ap, fmt);
    raw = dsvm_vfmt(fmt, ap);
    va_end(ap);
    if (!raw) {
        dsvm_error_oom();
        return code;
    }
    clean = scrub(raw, src ? src->password : NULL);
    free(raw);
    if (!clean) {
        dsvm_error_oom();
        return code;
    }
    dsvm_error_set(DSVM_ERRCLASS_SOURCE, "%s", clean);
    free(clean);
    return code;
}

static const char *git_msg(void)
{
    const git_error *e = git_error_last();

    return e && e->message ? e->message : "unknown libgit2 error";
}

int dsvm_source_redact_url(char **out, const char *url)
{
    char *s = scrub(url ? url : "", NULL);

    if (!s)
        return dsvm_error_oom();
    *out = s;
    return 0;
}

/* ---- file system helpers ---- */

/* Remove `name` under `dfd` and everything below it; absent is fine. */
static int remove_tree_at(int dfd, const char *name)
{
    struct stat st;
    DIR *d;
    int fd, rc = 0;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dfd, name, 0);
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    for (;;) {
        struct dirent *de = readdir(d);

        if (!de)
            break;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (remove_tree_at(dirfd(d), de->d_name) != 0)
            rc = -1;
    }
    closedir(d);
    if (unlinkat(dfd, name, AT_REMOVEDIR) != 0)
        rc = -1;
    return rc;
}

static int remove_tree(const char *path)
{
    return remove_tree_at(AT_FDCWD, path);
}

/* mkdir -p with `mode` for the directories it creates. */
static int mkdir_p(const char *path, mode_t mode)
{
    char *copy = strdup(path);
    char *p;
    int rc = 0;

    if (!copy) {
        errno = ENOMEM;
        return -1;
    }
    for (p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, mode) != 0 && errno != EEXIST) {
            rc = -1;
            goto out;
        }
        *p = '/';
    }
    if (mkdir(copy, mode) != 0 && errno != EEXIST)
        rc = -1;
out:
    free(copy);
    return rc;
}

static int is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- known_hosts ---- */

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode standard base64 (padding optional). -1 for bad input or no memory. */
static int b64_decode(unsigned char **out, size_t *out_len, const char *in, size_t len)
{
    unsigned char *buf;
    size_t n = 0, i;
    uint32_t acc = 0;
    int bits = 0;

    while (len > 0 && in[len - 1] == '=')
        len--;
    buf = malloc(len * 3 / 4 + 1);
    if (!buf)
        return -1;
    for (i = 0; i < len; i++) {
        int v = b64_value((unsigned char)in[i]);

        if (v < 0) {
            free(buf);
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (unsigned char)(acc >> bits);
        }
    }
    *out = buf;
    *out_len = n;
    return 0;
}

/* Does a "|1|salt|hash" entry name `candidate`? */
static int hashed_host_matches(const char *entry, size_t len, const char *candidate)
{
    const char *salt = entry + 3, *bar, *end = entry + len;
    unsigned char *salt_raw = NULL, *hash_raw = NULL;
    size_t salt_len, hash_len;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    int match = 0;

    bar = memchr(salt, '|', (size_t)(end - salt));
    if (!bar)
        return 0;
    if (b64_decode(&salt_raw, &salt_len, salt, (size_t)(bar - salt)) != 0)
        goto out;
    if (b64_decode(&hash_raw, &hash_len, bar + 1, (size_t)(end - bar - 1)) != 0)
        goto out;
    if (!HMAC(EVP_sha1(), salt_raw, (int)salt_len, (const unsigned char *)candidate,
              strlen(candidate), mac, &mac_len))
        goto out;
    match = hash_len == mac_len && memcmp(hash_raw, mac, mac_len) == 0;
out:
    free(salt_raw);
    free(hash_raw);
    return match;
}

/* OpenSSH's host pattern match: '*' and '?' are wildcards, nothing else is special. */
static int pattern_matches(const char *pat, const char *s)
{
    for (; *pat; pat++, s++) {
        if (*pat == '*') {
            for (;; s++) {
                if (pattern_matches(pat + 1, s))
                    return 1;
                if (!*s)
                    return 0;
            }
        }
        if (!*s || (*pat != '?' && *pat != *s))
            return 0;
    }
    return *s == '\0';
}

static void lower_copy(char *dst, const char *src, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[len] = '\0';
}

/*
 * Does the host field of a known_hosts line name `candidate` (already lower
 * case)? Handles hashed names, comma lists, patterns and negations.
 */
static int hosts_field_matches(const char *field, size_t len, const char *candidate)
{
    const char *p = field, *end = field + len;
    int positive = 0;
    char *pat;

    if (len > 3 && !strncmp(field, "|1|", 3))
        return hashed_host_matches(field, len, candidate);
    pat = malloc(len + 1);
    if (!pat)
        return 0;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t n = comma ? (size_t)(comma - p) : (size_t)(end - p);
        int negate = n > 0 && *p == '!';

        lower_copy(pat, p + negate, n - (size_t)negate);
        if (pattern_matches(pat, candidate)) {
            if (negate) {
                positive = 0;
                break;
            }
            positive = 1;
        }
        p += n + 1;
    }
    free(pat);
    return positive;
}

static size_t field_len(const char *p)
{
    size_t n = 0;

    while (p[n] && !isspace((unsigned char)p[n]))
        n++;
    return n;
}

static const char *skip_space(const char *p)
{
    while (*p && isspace((unsigned char)*p))
        p++;
    return p;
}

/*
 * Check a host key against a known_hosts file. `key` is the raw blob, or
 * NULL with `sha256` its digest when the transport gave only that.
 */
static int check_host_key(const char *file, const char *host, int port, const unsigned char *key,
                          size_t key_len, const unsigned char *sha256)
{
    FILE *fp;
    char *line = NULL, *candidate = NULL, *display = NULL;
    size_t cap = 0;
    int matched = 0, mismatched = 0, revoked = 0, rc;

    if (port == 22)
        display = strdup(host);
    else
        display = dsvm_fmt("[%s]:%d", host, port);
    candidate = display ? malloc(strlen(display) + 1) : NULL;
    if (!candidate) {
        free(display);
        return dsvm_error_oom();
    }
    lower_copy(candidate, display, strlen(display));
    fp = fopen(file, "r");
    if (!fp) {
        rc = fail(NULL, DSVM_EIO,
                  "cannot read the known_hosts file %s: %s; set source.auth.known_hosts_file "
                  "to a file that lists the SSH host key of %s",
                  file, strerror(errno), display);
        goto out;
    }
    while (getline(&line, &cap, fp) >= 0) {
        const char *p = skip_space(line), *hosts, *b64;
        size_t hosts_len, b64_len, raw_len = 0;
        unsigned char *raw = NULL;
        int is_revoked = 0, same;

        if (*p == '\0' || *p == '#')
            continue;
        if (*p == '@') {
            size_t n = field_len(p);

            if (n == 8 && !strncmp(p, "@revoked", 8))
                is_revoked = 1;
            else
                continue; /* @cert-authority and unknown markers */
            p = skip_space(p + n);
        }
        hosts = p;
        hosts_len = field_len(p);
        p = skip_space(p + hosts_len);
        p = skip_space(p + field_len(p)); /* key type: the blob names it too */
        b64 = p;
        b64_len = field_len(p);
        if (!hosts_len || !b64_len)
            continue;
        if (!is_revoked && !hosts_field_matches(hosts, hosts_len, candidate))
            continue;
        if (b64_decode(&raw, &raw_len, b64, b64_len) != 0)
            continue;
        if (key) {
            same = raw_len == key_len && memcmp(raw, key, key_len) == 0;
        } else {
            unsigned char md[EVP_MAX_MD_SIZE];
            unsigned int md_len = 0;

            same = EVP_Digest(raw, raw_len, md, &md_len, EVP_sha256(), NULL) == 1 && md_len == 32 &&
                   memcmp(md, sha256, 32) == 0;
        }
        free(raw);
        if (is_revoked) {
            if (same)
                revoked = 1;
            continue;
        }
        if (same)
            matched = 1;
        else
            mismatched = 1;
    }
    fclose(fp);
    if (revoked)
        rc = fail(NULL, DSVM_EAUTH,
                  "the SSH host key of %s is marked @revoked in %s; refusing to connect", display,
                  file);
    else if (matched)
        rc = 0;
    else if (mismatched)
        rc = fail(NULL, DSVM_EAUTH,
                  "the SSH host key of %s does not match %s: someone may be intercepting the "
                  "connection, or the server's key changed; verify the new key out of band and "
                  "update that file",
                  display, file);
    else
        rc = fail(NULL, DSVM_EAUTH,
                  "unknown SSH host %s: it is not listed in %s; verify its key and add it (for "
                  "example with ssh-keyscan%s%.0d %s >> %s)",
                  display, file, port == 22 ? "" : " -p ", port == 22 ? 0 : port, host, file);
out:
    free(line);
    free(candidate);
    free(display);
    return rc;
}

int dsvm_source_check_host_key(const char *known_hosts_file, const char *host, int port,
                               const unsigned char *key, size_t key_len)
{
    if (!known_hosts_file || !host || !key)
        return fail(NULL, DSVM_EINVALID, "dsvm_source_check_host_key: missing argument");
    return check_host_key(known_hosts_file, host, port, key, key_len, NULL);
}

/* The port of an ssh:// URL; 22 for scp-like and other URLs. */
static int ssh_port_of(const char *url)
{
    const char *auth, *end, *at, *colon;
    long port;

    auth = strstr(url, "://");
    if (!auth)
        return 22;
    auth += 3;
    end = auth + strcspn(auth, "/");
    at = NULL;
    for (colon = auth; colon < end; colon++) {
        if (*colon == '@')
            at = colon;
    }
    if (at)
        auth = at + 1;
    if (*auth == '[') {
        const char *close = memchr(auth, ']', (size_t)(end - auth));

        colon = close && close + 1 < end && close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = memchr(auth, ':', (size_t)(end - auth));
    }
    if (!colon)
        return 22;
    port = strtol(colon + 1, NULL, 10);
    return port > 0 && port < 65536 ? (int)port : 22;
}

/* ---- libgit2 callbacks ---- */

static int cred_refused(op_state *op)
{
    op->auth_refused = 1;
    git_error_set_str(GIT_ERROR_NET, "credentials refused");
    return GIT_EAUTH;
}

static int cred_cb(git_credential **out, const char *url, const char *username_from_url,
                   unsigned int allowed, void *payload)
{
    op_state *op = payload;
    const dsvm_source *src = op->src;
    const char *http_user = src->username       ? src->username
                            : username_from_url ? username_from_url
                                                : "git";
    const char *ssh_user = username_from_url ? username_from_url : http_user;

    (void)url;
    free(op->user_tried);
    op->user_tried = strdup(
        (allowed & (GIT_CREDENTIAL_SSH_KEY | GIT_CREDENTIAL_USERNAME)) ? ssh_user : http_user);
    if ((allowed & GIT_CREDENTIAL_SSH_KEY) && src->ssh_key_file) {
        if (op->key_offers++)
            return cred_refused(op);
        if (access(src->ssh_key_file, R_OK) != 0) {
            op->key_errno = errno ? errno : ENOENT;
            git_error_set_str(GIT_ERROR_SSH, "cannot read the SSH key");
            return GIT_EAUTH;
        }
        return git_credential_ssh_key_new(out, ssh_user, NULL, src->ssh_key_file, NULL);
    }
    if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && src->password) {
        if (op->pass_offers++)
            return cred_refused(op);
        return git_credential_userpass_plaintext_new(out, http_user, src->password);
    }
    if (allowed & GIT_CREDENTIAL_USERNAME) {
        if (op->user_offers++ > 1)
            return cred_refused(op);
        return git_credential_username_new(out, ssh_user);
    }
    op->auth_missing = 1;
    git_error_set_str(GIT_ERROR_NET, "no credentials configured");
    return GIT_EAUTH;
}

static int cert_cb(git_cert *cert, int valid, const char *host, void *payload)
{
    op_state *op = payload;
    const dsvm_source *src = op->src;
    const git_cert_hostkey *hk;
    char *home_file = NULL;
    const char *file = src->known_hosts;
    int rc;

    (void)valid;
    if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
        return GIT_PASSTHROUGH; /* TLS: libgit2's own verification decides */
    hk = (const git_cert_hostkey *)cert;
    if (!file) {
        const char *home = getenv("HOME");

        home_file = dsvm_fmt("%s/.ssh/known_hosts", home ? home : "");
        if (!home_file)
            return -1;
        file = home_file;
    }
    if (hk->type & GIT_CERT_SSH_RAW)
        rc = check_host_key(file, host, src->ssh_port, (const unsigned char *)hk->hostkey,
                            hk->hostkey_len, NULL);
    else if (hk->type & GIT_CERT_SSH_SHA256)
        rc = check_host_key(file, host, src->ssh_port, NULL, 0, hk->hash_sha256);
    else
        rc = fail(src, DSVM_EAUTH,
                  "the SSH transport gave no usable host key for %s; cannot check it", host);
    free(home_file);
    if (rc == 0)
        return 0;
    op->hostkey_refused = 1;
    free(op->hostkey_msg);
    op->hostkey_msg = strdup(dsvm_error_last()->message);
    git_error_set_str(GIT_ERROR_SSH, "host key refused");
    return GIT_ECERTIFICATE;
}

static int progress_cb(const git_indexer_progress *stats, void *payload)
{
    op_state *op = payload;

    (void)stats;
    op->res.progress_calls++;
    return 0;
}

static void init_callbacks(git_remote_callbacks *cb, op_state *op)
{
    git_remote_init_callbacks(cb, GIT_REMOTE_CALLBACKS_VERSION);
    cb->credentials = cred_cb;
    cb->certificate_check = cert_cb;
    cb->transfer_progress = progress_cb;
    cb->payload = op;
}

/* Turn a failed connect, ls or fetch into a message that says what to check. */
static int remote_error(op_state *op, const char *failed, int gitrc)
{
    const dsvm_source *src = op->src;

    if (op->hostkey_refused)
        return fail(src, DSVM_EAUTH, "%s", op->hostkey_msg ? op->hostkey_msg : "host key refused");
    if (op->key_errno)
        return fail(src, DSVM_EINVALID,
                    "%s: cannot read the SSH key %s (source.auth.ssh_key_file): %s", src->url_safe,
                    src->ssh_key_file, strerror(op->key_errno));
    if (op->auth_refused)
        return fail(src, DSVM_EAUTH,
                    "%s: the server refused the credentials of user '%s'; check "
                    "source.auth.username and the token (password_env or password_file) or "
                    "ssh_key_file",
                    src->url_safe, op->user_tried ? op->user_tried : "?");
    if (op->auth_missing)
        return fail(src, DSVM_EAUTH,
                    "%s: the server asks for credentials; set source.auth.username and "
                    "password_env or password_file (HTTPS), or ssh_key_file (SSH)",
                    src->url_safe);
    if (gitrc == GIT_EAUTH)
        return fail(src, DSVM_EAUTH, "%s: authentication failed: %s; check source.auth",
                    src->url_safe, git_msg());
    if (gitrc == GIT_ECERTIFICATE)
        return fail(src, DSVM_EAUTH,
                    "%s: the server's TLS certificate is not trusted: %s; check the system CA "
                    "certificates",
                    src->url_safe, git_msg());
    return fail(src, DSVM_ENET,
                "%s %s: %s; check source.url, that the repository exists, and the network", failed,
                src->url_safe, git_msg());
}

/* ---- the cache ---- */

static void close_cache(dsvm_source *src)
{
    git_repository_free(src->repo);
    src->repo = NULL;
}

/* Delete the cache repository and start an empty one. */
static int recreate_cache(op_state *op)
{
    dsvm_source *src = op->src;
    git_repository *repo = NULL;
    git_config *cfg = NULL;
    int rc;

    close_cache(src);
    if (remove_tree(src->repo_dir) != 0)
        return fail(src, DSVM_EIO, "cannot remove the damaged Git cache %s: %s", src->repo_dir,
                    strerror(errno));
    if (git_repository_init(&repo, src->repo_dir, 1) != 0)
        return fail(src, DSVM_EIO, "cannot create the Git cache %s: %s", src->repo_dir, git_msg());
    rc = git_repository_config(&cfg, repo);
    if (!rc)
        rc = git_config_set_string(cfg, "dsvmops.url", src->url_safe);
    git_config_free(cfg);
    if (rc) {
        rc = fail(src, DSVM_EIO, "cannot write the configuration of the Git cache %s: %s",
                  src->repo_dir, git_msg());
        git_repository_free(repo);
        return rc;
    }
    src->repo = repo;
    return 0;
}

/* How many packs the cache holds. */
static int count_packs(const char *repo_dir)
{
    char *dir = dsvm_fmt("%s/objects/pack", repo_dir);
    DIR *d = dir ? opendir(dir) : NULL;
    int n = 0;

    if (d) {
        for (;;) {
            struct dirent *de = readdir(d);
            size_t len;

            if (!de)
                break;
            len = strlen(de->d_name);
            if (len > 5 && !strcmp(de->d_name + len - 5, ".pack"))
                n++;
        }
        closedir(d);
    }
    free(dir);
    return n;
}

/*
 * Open the cache, or create it. A cache that does not open, whose HEAD
 * cannot be read, that was made for another URL, or that has piled up more
 * than MAX_PACKS packs is started afresh.
 */
static int open_cache(op_state *op)
{
    dsvm_source *src = op->src;
    git_repository *repo = NULL;
    git_reference *head = NULL;
    git_config *cfg = NULL;
    git_buf url = {0};
    int healthy = 0, fresh = !is_dir(src->repo_dir), rc;

    if (src->repo)
        return 0;
    if (!fresh && git_repository_open_bare(&repo, src->repo_dir) == 0 &&
        git_reference_lookup(&head, repo, "HEAD") == 0 && git_repository_config(&cfg, repo) == 0 &&
        git_config_get_string_buf(&url, cfg, "dsvmops.url") == 0 && url.ptr &&
        strcmp(url.ptr, src->url_safe) == 0 && count_packs(src->repo_dir) <= MAX_PACKS)
        healthy = 1;
    git_buf_dispose(&url);
    git_config_free(cfg);
    git_reference_free(head);
    if (healthy) {
        src->repo = repo;
        return 0;
    }
    git_repository_free(repo);
    rc = recreate_cache(op);
    if (!rc && !fresh)
        op->res.recloned = 1;
    return rc;
}

/* Length of `s` when it is 4 to 40 hex digits, else 0. */
static size_t hex_length(const char *s)
{
    size_t n = 0;

    if (!s)
        return 0;
    while (isxdigit((unsigned char)s[n]))
        n++;
    return s[n] == '\0' && n >= 4 && n <= GIT_OID_HEXSZ ? n : 0;
}

/*
 * Mark the cache as damaged, so that obtain() clones it again, and say
 * what could not be read.
 */
static int damaged(op_state *op, const char *what)
{
    op->cache_broken = 1;
    return fail(op->src, DSVM_EIO,
                "the Git cache %s is damaged (reading %s): %s; if cloning it again does not "
                "help, check the disk and delete that directory",
                op->src->repo_dir, what, git_msg());
}

/* Peel `obj` to a commit id; DSVM_EINVALID when it is not one. */
static int peel_commit(op_state *op, git_object *obj, const char *rev, git_oid *out)
{
    git_object *commit = NULL;

    if (git_object_peel(&commit, obj, GIT_OBJECT_COMMIT) != 0) {
        if (git_error_last() && git_error_last()->klass == GIT_ERROR_ODB)
            return damaged(op, rev ? rev : "HEAD");
        return fail(op->src, DSVM_EINVALID, "'%s' in %s names a %s, not a commit; check source.ref",
                    rev ? rev : "HEAD", op->src->url_safe,
                    git_object_type2string(git_object_type(obj)));
    }
    git_oid_cpy(out, git_object_id(commit));
    git_object_free(commit);
    return 0;
}

/*
 * Look up a commit by full or abbreviated SHA in the cache. DSVM_ENOTFOUND
 * (no message) when it is not there.
 */
static int local_commit(op_state *op, const char *hex, size_t len, git_oid *out)
{
    git_object *obj = NULL;
    git_oid oid;
    int rc;

    if (git_oid_fromstrn(&oid, hex, len) != 0)
        return DSVM_ENOTFOUND;
    if (len == GIT_OID_HEXSZ)
        rc = git_object_lookup(&obj, op->src->repo, &oid, GIT_OBJECT_ANY);
    else
        rc = git_object_lookup_prefix(&obj, op->src->repo, &oid, len, GIT_OBJECT_ANY);
    if (rc == GIT_ENOTFOUND)
        return DSVM_ENOTFOUND;
    if (rc == GIT_EAMBIGUOUS)
        return fail(op->src, DSVM_EINVALID,
                    "the commit prefix '%s' is ambiguous in %s; give more hex digits in source.ref",
                    hex, op->src->url_safe);
    if (rc)
        return damaged(op, hex);
    rc = peel_commit(op, obj, hex, out);
    git_object_free(obj);
    return rc;
}

/*
 * Is the object `oid` (from the remote's ref list) in the cache? 0 with
 * its commit in `out` when it is, DSVM_ENOTFOUND when it is not.
 */
static int cached_object(op_state *op, const git_oid *oid, const char *rev, git_oid *out)
{
    git_odb *odb = NULL;
    git_object *obj = NULL;
    int exists, rc;

    if (git_repository_odb(&odb, op->src->repo) != 0)
        return damaged(op, "the object database");
    exists = git_odb_exists(odb, oid);
    git_odb_free(odb);
    if (!exists)
        return DSVM_ENOTFOUND;
    if (git_object_lookup(&obj, op->src->repo, oid, GIT_OBJECT_ANY) != 0)
        return damaged(op, git_oid_tostr_s(oid));
    rc = peel_commit(op, obj, rev, out);
    git_object_free(obj);
    return rc;
}

static const git_remote_head *find_head(const git_remote_head **heads, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!strcmp(heads[i]->name, name))
            return heads[i];
    }
    return NULL;
}

/* The remote ref that `rev` names, in git rev-parse order; NULL when none. */
static const git_remote_head *match_ref(const git_remote_head **heads, size_t n, const char *rev)
{
    const git_remote_head *h = NULL;
    char *name;

    if (!rev || !strcmp(rev, "HEAD"))
        return find_head(heads, n, "HEAD");
    if (!strncmp(rev, "refs/", 5))
        return find_head(heads, n, rev);
    name = dsvm_fmt("refs/tags/%s", rev);
    if (name)
        h = find_head(heads, n, name);
    free(name);
    if (h)
        return h;
    name = dsvm_fmt("refs/heads/%s", rev);
    if (name)
        h = find_head(heads, n, name);
    free(name);
    return h;
}

/*
 * Download the remote ref `only` (a name from the ref list), or all
 * branches and tags when it is NULL. Branches land in refs/remotes/origin/,
 * tags in refs/tags/, anything else (HEAD, refs/pull/...) in WANTED_REF.
 */
static int download(op_state *op, git_remote *remote, const char *only)
{
    char heads[] = FETCH_HEADS, tags[] = FETCH_TAGS;
    char *specs[2] = {heads, tags};
    char *one = NULL;
    git_strarray arr = {specs, 2};
    git_fetch_options fo;
    const git_indexer_progress *stats;
    int rc;

    if (only) {
        if (!strncmp(only, "refs/heads/", 11))
            one = dsvm_fmt("+%s:refs/remotes/origin/%s", only, only + 11);
        else if (!strncmp(only, "refs/tags/", 10))
            one = dsvm_fmt("+%s:%s", only, only);
        else
            one = dsvm_fmt("+%s:" WANTED_REF, only);
        if (!one)
            return dsvm_error_oom();
        specs[0] = one;
        arr.count = 1;
    }
    git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
    init_callbacks(&fo.callbacks, op);
    fo.prune = GIT_FETCH_NO_PRUNE;
    fo.update_fetchhead = 0;
    fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
    fo.proxy_opts.type = GIT_PROXY_AUTO;
    rc = git_remote_fetch(remote, &arr, &fo, "dsvmops fetch");
    free(one);
    stats = git_remote_stats(remote);
    op->res.fetched = 1;
    if (stats) {
        op->res.received_objects = stats->received_objects;
        op->res.received_bytes = stats->received_bytes;
    }
    if (rc == 0)
        return 0;
    if (op->hostkey_refused || op->auth_refused || op->auth_missing || op->key_errno ||
        rc == GIT_EAUTH || rc == GIT_ECERTIFICATE)
        return remote_error(op, "cannot fetch from", rc);
    {
        const git_error *e = git_error_last();
        int klass = e ? e->klass : GIT_ERROR_NONE;

        if (klass == GIT_ERROR_NET || klass == GIT_ERROR_HTTP || klass == GIT_ERROR_SSH ||
            klass == GIT_ERROR_SSL)
            return remote_error(op, "cannot fetch from", rc);
    }
    op->cache_broken = 1;
    return fail(op->src, DSVM_EIO, "fetching from %s into the Git cache %s failed: %s",
                op->src->url_safe, op->src->repo_dir, git_msg());
}

/* Resolve `rev` to a commit in the cache, fetching only when needed. */
static int find_commit(op_state *op, const char *rev, git_oid *out)
{
    dsvm_source *src = op->src;
    git_remote *remote = NULL;
    git_remote_create_options ropts;
    git_remote_callbacks cb;
    git_proxy_options proxy;
    const git_remote_head **heads = NULL;
    const git_remote_head *head;
    size_t nheads = 0, hexlen = hex_length(rev);
    int rc;

    if (hexlen == GIT_OID_HEXSZ) {
        rc = local_commit(op, rev, hexlen, out);
        if (rc != DSVM_ENOTFOUND)
            return rc; /* a full SHA in the cache needs no network */
    }
    /*
     * An in-memory remote. url.*.insteadOf rules are not applied: the URL in
     * dsvmops.yaml is the one used (and libgit2 1.5 leaks pcre2 match data
     * while applying them).
     */
    git_remote_create_options_init(&ropts, GIT_REMOTE_CREATE_OPTIONS_VERSION);
    ropts.repository = src->repo;
    ropts.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF;
    if (git_remote_create_with_opts(&remote, src->url, &ropts) != 0)
        return fail(src, DSVM_EINVALID, "source.url %s is not a usable Git URL: %s; check it",
                    src->url_safe, git_msg());
    op->user_offers = op->pass_offers = op->key_offers = 0;
    init_callbacks(&cb, op);
    git_proxy_options_init(&proxy, GIT_PROXY_OPTIONS_VERSION);
    proxy.type = GIT_PROXY_AUTO;
    rc = git_remote_connect(remote, GIT_DIRECTION_FETCH, &cb, &proxy, NULL);
    if (rc) {
        rc = remote_error(op, "cannot reach", rc);
        goto out;
    }
    rc = git_remote_ls(&heads, &nheads, remote);
    if (rc) {
        rc = remote_error(op, "cannot list the refs of", rc);
        goto out;
    }
    op->res.remote_checked = 1;
    head = match_ref(heads, nheads, rev);
    if (head) {
        git_oid wanted;

        git_oid_cpy(&wanted, &head->oid);
        rc = cached_object(op, &wanted, rev, out);
        if (rc != DSVM_ENOTFOUND)
            goto out;
        rc = download(op, remote, head->name);
        if (rc)
            goto out;
        rc = cached_object(op, &wanted, rev, out);
        if (rc == DSVM_ENOTFOUND) {
            op->cache_broken = 1;
            rc = fail(src, DSVM_EIO, "the fetch from %s did not bring %s (object %.12s)",
                      src->url_safe, rev ? rev : "HEAD", git_oid_tostr_s(&wanted));
        }
        goto out;
    }
    if (!hexlen) {
        rc = fail(src, DSVM_ENOTFOUND,
                  "%s has no %s%s%s; check source.ref (a branch, a tag or a commit SHA)",
                  src->url_safe, rev ? "branch or tag '" : "HEAD (is the repository empty?)",
                  rev ? rev : "", rev ? "'" : "");
        goto out;
    }
    rc = local_commit(op, rev, hexlen, out);
    if (rc != DSVM_ENOTFOUND)
        goto out;
    rc = download(op, remote, NULL);
    if (rc)
        goto out;
    rc = local_commit(op, rev, hexlen, out);
    if (rc == DSVM_ENOTFOUND)
        rc = fail(src, DSVM_ENOTFOUND,
                  "%s has no branch, tag or commit '%s'; check source.ref (a commit must be "
                  "reachable from a branch or tag)",
                  src->url_safe, rev);
out:
    if (remote) {
        git_remote_disconnect(remote);
        git_remote_free(remote);
    }
    return rc;
}

/* ---- checkouts ---- */

static int entry_name_ok(const char *name)
{
    return name[0] && strcmp(name, ".") && strcmp(name, "..") && !strchr(name, '/') &&
           strcasecmp(name, ".git");
}

/* May a symbolic link at `depth` below the checkout root point to `target`? */
static int link_target_ok(const char *target, int depth)
{
    const char *p = target;

    if (*p == '/' || *p == '\0')
        return 0;
    while (*p) {
        size_t n = strcspn(p, "/");

        if (n == 2 && !strncmp(p, "..", 2)) {
            if (--depth < 0)
                return 0;
        } else if (n > 0 && !(n == 1 && *p == '.')) {
            depth++;
        }
        p += n;
        if (*p == '/')
            p++;
    }
    return 1;
}

static int write_tree(op_state *op, const git_tree *tree, int dfd, const char *rel, int depth);

/* Create the directory of tree entry `e` under `dfd` and fill it. */
static int write_subdir(op_state *op, const git_tree_entry *e, int dfd, const char *path, int depth)
{
    const char *name = git_tree_entry_name(e);
    git_tree *sub = NULL;
    int fd, rc;

    if (mkdirat(dfd, name, 0755) != 0)
        return fail(op->src, DSVM_EIO, "cannot create %s in the checkout: %s", path,
                    strerror(errno));
    if (git_tree_lookup(&sub, op->src->repo, git_tree_entry_id(e)) != 0)
        return damaged(op, path);
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        rc = fail(op->src, DSVM_EIO, "cannot open %s in the checkout: %s", path, strerror(errno));
    } else {
        rc = write_tree(op, sub, fd, path, depth + 1);
        close(fd);
    }
    git_tree_free(sub);
    return rc;
}

/* Write `tree` into the directory `dfd`; `rel` names it for messages. */
static int write_tree(op_state *op, const git_tree *tree, int dfd, const char *rel, int depth)
{
    size_t i, n = git_tree_entrycount(tree);
    int rc = 0;

    for (i = 0; i < n && !rc; i++) {
        const git_tree_entry *e = git_tree_entry_byindex(tree, i);
        const char *name = git_tree_entry_name(e);
        git_filemode_t mode = git_tree_entry_filemode(e);
        char *path = dsvm_fmt("%s%s%s", rel, *rel ? "/" : "", name);
        git_blob *blob = NULL;
        int fd = -1;

        if (!path)
            return dsvm_error_oom();
        if (!entry_name_ok(name)) {
            rc =
                fail(op->src, DSVM_EINVALID,
                     "the tree entry '%s' is not a safe file name; refusing to check it out", path);
        } else if (mode == GIT_FILEMODE_TREE) {
            rc = write_subdir(op, e, dfd, path, depth);
        } else if (mode == GIT_FILEMODE_COMMIT) {
            if (mkdirat(dfd, name, 0755) != 0)
                rc = fail(op->src, DSVM_EIO, "cannot create %s in the checkout: %s", path,
                          strerror(errno));
        } else if (git_blob_lookup(&blob, op->src->repo, git_tree_entry_id(e)) != 0) {
            rc = damaged(op, path);
        } else if (mode == GIT_FILEMODE_LINK) {
            size_t len = (size_t)git_blob_rawsize(blob);
            char *target = malloc(len + 1);

            if (!target) {
                rc = dsvm_error_oom();
            } else {
                memcpy(target, git_blob_rawcontent(blob), len);
                target[len] = '\0';
                if (strlen(target) != len || !link_target_ok(target, depth))
                    rc =
                        fail(op->src, DSVM_EINVALID,
                             "the symbolic link %s points outside the checkout; refusing it", path);
                else if (symlinkat(target, dfd, name) != 0)
                    rc = fail(op->src, DSVM_EIO, "cannot create the link %s: %s", path,
                              strerror(errno));
                free(target);
            }
        } else {
            mode_t fmode = mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644;

            fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, fmode);
            if (fd < 0 ||
                write_all(fd, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob)) != 0)
                rc = fail(op->src, DSVM_EIO, "cannot write %s in the checkout: %s", path,
                          strerror(errno));
        }
        if (fd >= 0)
            close(fd);
        git_blob_free(blob);
        free(path);
    }
    return rc;
}

/* The tree of `path` in `commit`, with messages for a missing or non-directory path. */
static int subtree(op_state *op, const git_oid *commit, git_tree **out)
{
    dsvm_source *src = op->src;
    git_commit *c = NULL;
    git_tree *root = NULL, *sub = NULL;
    git_tree_entry *e = NULL;
    int rc = 0, grc;

    if (git_commit_lookup(&c, src->repo, commit) != 0 || git_commit_tree(&root, c) != 0) {
        rc = damaged(op, git_oid_tostr_s(commit));
        goto out;
    }
    if (!*src->path) {
        *out = root;
        root = NULL;
        goto out;
    }
    grc = git_tree_entry_bypath(&e, root, src->path);
    if (grc == GIT_ENOTFOUND) {
        rc = fail(src, DSVM_ENOTFOUND,
                  "the path '%s' does not exist in commit %.12s of %s; check source.path",
                  src->path, git_oid_tostr_s(commit), src->url_safe);
        goto out;
    }
    if (grc) {
        rc = damaged(op, src->path);
        goto out;
    }
    if (git_tree_entry_type(e) != GIT_OBJECT_TREE) {
        rc = fail(src, DSVM_EINVALID,
                  "the path '%s' in commit %.12s of %s is a file, not a directory; "
                  "source.path must name the directory that holds the manifests",
                  src->path, git_oid_tostr_s(commit), src->url_safe);
        goto out;
    }
    if (git_tree_lookup(&sub, src->repo, git_tree_entry_id(e)) != 0) {
        rc = damaged(op, src->path);
        goto out;
    }
    *out = sub;
out:
    git_tree_entry_free(e);
    git_tree_free(root);
    git_commit_free(c);
    return rc;
}

/*
 * Write `path` of `commit` to `final` through a temporary sibling, so that
 * `final` appears complete or not at all. With `reuse`, an existing `final`
 * is taken as it is; without, it is an error.
 */
static int materialise(op_state *op, const git_oid *commit, const char *final, int reuse)
{
    git_tree *tree = NULL;
    char *tmp = NULL;
    int fd = -1, rc;

    if (is_dir(final)) {
        if (reuse)
            return 0;
        return fail(op->src, DSVM_EEXISTS, "%s already exists; choose a new directory", final);
    }
    rc = subtree(op, commit, &tree);
    if (rc)
        return rc;
    tmp = dsvm_fmt("%s.tmp-%ld", final, (long)getpid());
    if (!tmp) {
        rc = dsvm_error_oom();
        goto out;
    }
    remove_tree(tmp);
    if (mkdir(tmp, 0755) == 0)
        fd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        rc = fail(op->src, DSVM_EIO, "cannot create the checkout directory %s: %s", tmp,
                  strerror(errno));
        goto out;
    }
    rc = write_tree(op, tree, fd, op->src->path, 0);
    if (rc)
        goto out;
    if (rename(tmp, final) != 0) {
        if (reuse && (errno == EEXIST || errno == ENOTEMPTY) && is_dir(final))
            goto out;
        rc = fail(op->src, DSVM_EIO, "cannot move the checkout to %s: %s", final, strerror(errno));
    }
out:
    if (fd >= 0)
        close(fd);
    if (tmp)
        remove_tree(tmp);
    free(tmp);
    git_tree_free(tree);
    return rc;
}

/* The checkout directory name of `commit` for this source's path. */
static char *checkout_name(const dsvm_source *src, const git_oid *commit)
{
    char hex[GIT_OID_HEXSZ + 1];

    git_oid_tostr(hex, sizeof(hex), commit);
    return dsvm_fmt("%s%s", hex, src->path_tag);
}

/*
 * Resolve `rev` and write its checkout. `dest` names the directory, or NULL
 * for one under cache_dir/`area`. A damaged cache is re-cloned once.
 */
static int obtain(op_state *op, const char *rev, const char *area, const char *dest,
                  git_oid *commit_out, char **dir_out)
{
    dsvm_source *src = op->src;
    git_oid commit;
    char *dir = NULL;
    int attempt, rc = 0;

    for (attempt = 0;; attempt++) {
        op->cache_broken = 0;
        rc = open_cache(op);
        if (!rc)
            rc = find_commit(op, rev, &commit);
        if (!rc && !dest) {
            char *name = checkout_name(src, &commit);

            free(dir);
            dir = name ? dsvm_fmt("%s/%s/%s", src->cache_dir, area, name) : NULL;
            free(name);
            if (!dir)
                rc = dsvm_error_oom();
        }
        if (!rc)
            rc = materialise(op, &commit, dest ? dest : dir, dest == NULL);
        if (!rc || !op->cache_broken || attempt > 0)
            break;
        rc = recreate_cache(op);
        if (rc)
            break;
        op->res.recloned = 1;
    }
    if (rc) {
        free(dir);
        return rc;
    }
    if (dest) {
        dir = strdup(dest);
        if (!dir)
            return dsvm_error_oom();
    }
    git_oid_cpy(commit_out, &commit);
    *dir_out = dir;
    return 0;
}

static int lock_cache(const dsvm_source *src, int *out)
{
    char *path = dsvm_fmt("%s/lock", src->cache_dir);
    int fd;

    if (!path)
        return dsvm_error_oom();
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        int rc = fail(src, DSVM_EIO, "cannot lock the Git cache %s: %s", path, strerror(errno));

        if (fd >= 0)
            close(fd);
        free(path);
        return rc;
    }
    free(path);
    *out = fd;
    return 0;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

/* Remove checkouts other than `keep` and `keep2` (base names, may be NULL). */
static void prune_checkouts(const dsvm_source *src, const char *keep, const char *keep2)
{
    char *dir = dsvm_fmt("%s/checkouts", src->cache_dir);
    DIR *d = dir ? opendir(dir) : NULL;

    if (d) {
        for (;;) {
            struct dirent *de = readdir(d);

            if (!de)
                break;
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
                (keep && !strcmp(de->d_name, keep)) || (keep2 && !strcmp(de->d_name, keep2)))
                continue;
            remove_tree_at(dirfd(d), de->d_name);
        }
        closedir(d);
    }
    free(dir);
}

/* Record the last good fetch in cache_dir/last-good, atomically. */
static int save_last_good(const dsvm_source *src, const dsvm_source_result *res)
{
    char *path = dsvm_fmt("%s/last-good", src->cache_dir);
    char *tmp = dsvm_fmt("%s/last-good.tmp", src->cache_dir);
    char *text = dsvm_fmt("%s %s\n", res->commit, base_name(res->dir));
    FILE *fp = NULL;
    int rc = 0;

    if (!path || !tmp || !text) {
        rc = dsvm_error_oom();
        goto out;
    }
    fp = fopen(tmp, "w");
    if (!fp || fputs(text, fp) == EOF || fclose(fp) != 0 || rename(tmp, path) != 0)
        rc = fail(src, DSVM_EIO, "cannot write %s: %s", path, strerror(errno));
    else
        fp = NULL;
    if (rc && fp)
        fclose(fp);
out:
    free(path);
    free(tmp);
    free(text);
    return rc;
}

/* Pick up cache_dir/last-good from an earlier process when its checkout still exists. */
static void load_last_good(dsvm_source *src)
{
    char *path = dsvm_fmt("%s/last-good", src->cache_dir);
    FILE *fp = path ? fopen(path, "r") : NULL;
    char *line = NULL, *dir = NULL;
    size_t cap = 0;
    ssize_t n;

    if (!fp)
        goto out;
    n = getline(&line, &cap, fp);
    if (n < GIT_OID_HEXSZ + 2 || line[GIT_OID_HEXSZ] != ' ')
        goto out;
    line[strcspn(line, "\n")] = '\0';
    line[GIT_OID_HEXSZ] = '\0';
    if (strlen(line) != GIT_OID_HEXSZ || hex_length(line) != GIT_OID_HEXSZ ||
        strchr(line + GIT_OID_HEXSZ + 1, '/') || line[GIT_OID_HEXSZ + 1] == '.')
        goto out;
    dir = dsvm_fmt("%s/checkouts/%s", src->cache_dir, line + GIT_OID_HEXSZ + 1);
    if (!dir || !is_dir(dir))
        goto out;
    memcpy(src->last_good.commit, line, GIT_OID_HEXSZ + 1);
    src->last_good.dir = dir;
    dir = NULL;
    src->have_last_good = 1;
out:
    if (fp)
        fclose(fp);
    free(dir);
    free(line);
    free(path);
}

/* ---- public API ---- */

void dsvm_source_result_clear(dsvm_source_result *res)
{
    if (!res)
        return;
    free(res->dir);
    memset(res, 0, sizeof(*res));
}

/* Normalise `path` into a malloc'd string; DSVM_EINVALID for "..". */
static int normalise_path(char **out, const char *path)
{
    strbuf sb = {0};
    const char *p = path ? path : "";

    if (sb_add(&sb, "", 0))
        return dsvm_error_oom();
    while (*p) {
        size_t n = strcspn(p, "/");

        if (n == 2 && !strncmp(p, "..", 2)) {
            free(sb.data);
            return fail(NULL, DSVM_EINVALID,
                        "source.path '%s' leaves the repository; give a path inside it", path);
        }
        if (n > 0 && !(n == 1 && *p == '.')) {
            if ((sb.len && sb_add(&sb, "/", 1)) || sb_add(&sb, p, n)) {
                free(sb.data);
                return dsvm_error_oom();
            }
        }
        p += n;
        if (*p == '/')
            p++;
    }
    *out = sb.data;
    return 0;
}

void dsvm_source_free(dsvm_source *src)
{
    if (!src)
        return;
    close_cache(src);
    free(src->url);
    free(src->url_safe);
    free(src->ref);
    free(src->path);
    free(src->path_tag);
    free(src->cache_dir);
    free(src->repo_dir);
    free(src->username);
    if (src->password) {
        memset(src->password, 0, strlen(src->password));
        free(src->password);
    }
    free(src->ssh_key_file);
    free(src->known_hosts);
    dsvm_source_result_clear(&src->last_good);
    free(src);
    git_libgit2_shutdown();
}

int dsvm_source_new(dsvm_source **out, const dsvm_source_opts *opts)
{
    dsvm_source *src;
    int rc;

    if (!opts || !opts->url || !*opts->url)
        return fail(NULL, DSVM_EINVALID, "source.url is missing; give a path or a Git URL");
    if (!opts->cache_dir || !*opts->cache_dir)
        return fail(NULL, DSVM_EINVALID, "the Git source needs a cache directory");
    if (git_libgit2_init() < 0)
        return fail(NULL, DSVM_ERROR, "cannot initialise libgit2: %s", git_msg());
    src = calloc(1, sizeof(*src));
    if (!src) {
        git_libgit2_shutdown();
        return dsvm_error_oom();
    }
    src->url = strdup(opts->url);
    src->ref = xstrdup(opts->ref && *opts->ref ? opts->ref : NULL);
    src->cache_dir = strdup(opts->cache_dir);
    src->username = xstrdup(opts->auth.username);
    src->password = xstrdup(opts->auth.password);
    src->ssh_key_file = xstrdup(opts->auth.ssh_key_file);
    src->known_hosts = xstrdup(opts->auth.ssh_known_hosts_file);
    if (!src->url || !src->cache_dir || (opts->ref && *opts->ref && !src->ref) ||
        (opts->auth.username && !src->username) || (opts->auth.password && !src->password) ||
        (opts->auth.ssh_key_file && !src->ssh_key_file) ||
        (opts->auth.ssh_known_hosts_file && !src->known_hosts)) {
        rc = dsvm_error_oom();
        goto fail;
    }
    src->url_safe = scrub(src->url, src->password);
    src->repo_dir = dsvm_fmt("%s/repo.git", src->cache_dir);
    if (!src->url_safe || !src->repo_dir) {
        rc = dsvm_error_oom();
        goto fail;
    }
    rc = normalise_path(&src->path, opts->path);
    if (rc)
        goto fail;
    if (*src->path) {
        git_oid h;

        if (git_odb_hash(&h, src->path, strlen(src->path), GIT_OBJECT_BLOB) != 0) {
            rc = fail(src, DSVM_ERROR, "cannot hash source.path: %s", git_msg());
            goto fail;
        }
        src->path_tag = dsvm_fmt("-%.8s", git_oid_tostr_s(&h));
    } else {
        src->path_tag = strdup("");
    }
    if (!src->path_tag) {
        rc = dsvm_error_oom();
        goto fail;
    }
    src->ssh_port = ssh_port_of(src->url);
    if (mkdir_p(src->cache_dir, 0700) != 0) {
        rc = fail(src, DSVM_EIO, "cannot create the Git cache directory %s: %s", src->cache_dir,
                  strerror(errno));
        goto fail;
    }
    load_last_good(src);
    *out = src;
    return 0;
fail:
    dsvm_source_free(src);
    return rc;
}

int dsvm_source_fetch(dsvm_source_result *out, dsvm_source *src)
{
    op_state op;
    git_oid commit;
    dsvm_source_result res;
    char *area = NULL, *keep_prev = NULL;
    int lockfd = -1, rc;

    memset(&op, 0, sizeof(op));
    memset(&res, 0, sizeof(res));
    op.src = src;
    rc = lock_cache(src, &lockfd);
    if (rc)
        return rc;
    area = dsvm_fmt("%s/checkouts", src->cache_dir);
    if (!area || mkdir_p(area, 0700) != 0) {
        rc = area ? fail(src, DSVM_EIO, "cannot create %s: %s", area, strerror(errno))
                  : dsvm_error_oom();
        goto out;
    }
    rc = obtain(&op, src->ref, "checkouts", NULL, &commit, &res.dir);
    if (rc)
        goto out;
    git_oid_tostr(res.commit, sizeof(res.commit), &commit);
    res.changed = !src->have_last_good || strcmp(src->last_good.dir, res.dir) != 0;
    res.remote_checked = op.res.remote_checked;
    res.fetched = op.res.fetched;
    res.recloned = op.res.recloned;
    res.progress_calls = op.res.progress_calls;
    res.received_objects = op.res.received_objects;
    res.received_bytes = op.res.received_bytes;
    rc = save_last_good(src, &res);
    if (rc)
        goto out;
    if (src->have_last_good) {
        keep_prev = strdup(base_name(src->last_good.dir));
        if (!keep_prev) {
            rc = dsvm_error_oom();
            goto out;
        }
    }
    prune_checkouts(src, base_name(res.dir), keep_prev);
    {
        char *copy = strdup(res.dir);

        if (!copy) {
            rc = dsvm_error_oom();
            goto out;
        }
        dsvm_source_result_clear(&src->last_good);
        src->last_good = res;
        src->last_good.dir = copy;
        src->have_last_good = 1;
    }
    *out = res;
    res.dir = NULL;
out:
    free(res.dir);
    free(keep_prev);
    free(area);
    free(op.hostkey_msg);
    free(op.user_tried);
    close_cache(src);
    close(lockfd);
    return rc;
}

int dsvm_source_resolve(dsvm_source_result *out, dsvm_source *src, const char *rev,
                        const char *dest_dir)
{
    op_state op;
    git_oid commit;
    dsvm_source_result res;
    char *area = NULL;
    int lockfd = -1, rc;

    memset(&op, 0, sizeof(op));
    memset(&res, 0, sizeof(res));
    op.src = src;
    if (dest_dir && is_dir(dest_dir))
        return fail(src, DSVM_EEXISTS, "%s already exists; choose a new directory", dest_dir);
    rc = lock_cache(src, &lockfd);
    if (rc)
        return rc;
    if (!dest_dir) {
        area = dsvm_fmt("%s/revisions", src->cache_dir);
        if (!area || mkdir_p(area, 0700) != 0) {
            rc = area ? fail(src, DSVM_EIO, "cannot create %s: %s", area, strerror(errno))
                      : dsvm_error_oom();
            goto out;
        }
    }
    rc = obtain(&op, rev, "revisions", dest_dir, &commit, &res.dir);
    if (rc)
        goto out;
    git_oid_tostr(res.commit, sizeof(res.commit), &commit);
    res.remote_checked = op.res.remote_checked;
    res.fetched = op.res.fetched;
    res.recloned = op.res.recloned;
    res.progress_calls = op.res.progress_calls;
    res.received_objects = op.res.received_objects;
    res.received_bytes = op.res.received_bytes;
    *out = res;
out:
    free(area);
    free(op.hostkey_msg);
    free(op.user_tried);
    close_cache(src);
    close(lockfd);
    return rc;
}

const dsvm_source_result *dsvm_source_last_good(const dsvm_source *src)
{
    return src && src->have_last_good ? &src->last_good : NULL;
}

const char *dsvm_source_url(const dsvm_source *src)
{
    return src->url_safe;
}
