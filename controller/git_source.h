/*
 * The Git source: the first step of a reconcile (DESIGN.md section 2).
 *
 * A dsvm_source turns the `source:` block of dsvmops.yaml (url, ref, path,
 * auth) into a plain directory of manifests for one resolved commit. It uses
 * libgit2 only; it never runs the git command.
 *
 * Cache layout. Give each source configuration its own cache_dir (it is
 * created with mode 0700): the last good checkout and the pruning of old
 * ones are per cache_dir, and a cache made for another URL is started
 * afresh. Processes with the same configuration (the daemon and a CLI
 * command) may share it; they take turns through cache_dir/lock.
 *
 *     cache_dir/lock                  flock()ed during a fetch or resolve
 *     cache_dir/repo.git/             bare repository; remote branches in
 *                                     refs/remotes/origin/NAME, tags in refs/tags/NAME,
 *                                     other refs (HEAD) in refs/dsvmops/wanted
 *     cache_dir/checkouts/NAME/       the `path` subtree of one commit, written
 *                                     from the object database (no index, no
 *                                     .git); NAME is the commit SHA, plus
 *                                     "-" and 8 hex digits of a hash of `path`
 *                                     when `path` is not the root
 *     cache_dir/revisions/NAME/       the same for dsvm_source_resolve()
 *     cache_dir/last-good             the SHA and NAME of the last good fetch
 *
 * Each fetch that downloads adds a pack to the cache, and libgit2 cannot
 * repack; a cache with more than 50 packs is cloned afresh. The repository
 * is opened for each fetch or resolve and closed after it.
 *
 * A checkout directory is written under a temporary name and renamed into
 * place, so a directory that exists is complete. It is not modified after
 * that; callers may read it while a later fetch runs. A fetch keeps the new
 * checkout and the one before it and removes older ones. Blobs are written
 * as they are stored (no .gitattributes filters, no LFS); submodules become
 * empty directories; a symbolic link that is absolute or points outside the
 * checkout is refused.
 *
 * Ref resolution. `ref` (or the `rev` of dsvm_source_resolve()) may be:
 *   - NULL or "HEAD": the remote's HEAD;
 *   - a full reference name ("refs/heads/main", "refs/tags/v1");
 *   - a short name, looked up as refs/tags/NAME, then refs/heads/NAME (the
 *     order of git rev-parse);
 *   - a commit SHA, full (40 hex) or abbreviated (4 to 39 hex). A full SHA
 *     already in the cache needs no network at all. An abbreviated one is
 *     first tried as a ref name, then as a prefix of a cached commit, then
 *     looked up again after fetching all branches and tags.
 * Annotated tags are peeled to their commit.
 *
 * Fetching. A fetch first lists the remote refs (git_remote_connect() and
 * git_remote_ls(), the equivalent of git ls-remote). When the object that
 * the ref names is already in the cache, nothing is downloaded and, when its
 * checkout exists, nothing is written either: a no-change fetch costs one
 * ref advertisement. Otherwise only that ref is fetched; all branches and
 * tags are fetched only to look for a commit SHA that is not in the cache.
 *
 * Failure behaviour. An unreachable repository (DSVM_ENET), refused
 * credentials or an unknown or mismatching SSH host key (DSVM_EAUTH), a
 * missing ref or path (DSVM_ENOTFOUND) fail the fetch with a message that
 * says what to check, and leave the last good checkout and cache_dir/last-good
 * in place (see dsvm_source_last_good()). A cache that cannot be opened, or
 * whose objects or references are damaged, is deleted and cloned again
 * within the same call; the result says so (`recloned`). Credentials never
 * appear in messages: user information is removed from every URL, and the
 * password is masked wherever it would occur.
 *
 * SSH. The key file is offered to the server. The server's host key must be
 * listed in the known_hosts file (default ~/.ssh/known_hosts): plain
 * "host[,host...] keytype base64" lines, "[host]:port" for other ports than
 * 22, hashed "|1|salt|hash" names, "*" and "?" patterns, "!" negations and
 * "@revoked" markers are understood; "@cert-authority" lines are ignored.
 * An unknown host or a different key refuses the connection.
 *
 * HTTP(S). The server's challenge is answered once with username and
 * password (the token); a second challenge means the credentials were
 * refused (DSVM_EAUTH). TLS certificates are checked by libgit2 against the
 * system CA store (Debian 12 builds libgit2 with mbedTLS, which matches DNS
 * names only: an https:// URL with an IP address fails the name check).
 * Proxies come from libgit2's automatic detection (http.proxy, http_proxy
 * and https_proxy).
 *
 * The URL is used as written: url.NAME.insteadOf rules from Git
 * configuration are not applied.
 *
 * Within a process, a dsvm_source is
 * not thread-safe; use one per thread. libgit2 1.5 has no connect or read
 * timeout setting, so a host that drops packets holds a fetch until the
 * operating system gives up on the connection. libgit2 may write to a
 * socket whose peer has gone: the program should ignore SIGPIPE.
 */
#ifndef DSVM_GIT_SOURCE_H
#define DSVM_GIT_SOURCE_H

#include <stddef.h>

typedef struct dsvm_source dsvm_source;

/** Credentials, already resolved by the caller from *_env / *_file keys. */
typedef struct {
    const char *username;             /**< for HTTP(S) and SSH; NULL: from the URL, or "git" */
    const char *password;             /**< HTTP(S) password or token; NULL: none */
    const char *ssh_key_file;         /**< private key for ssh:// URLs; NULL: none */
    const char *ssh_known_hosts_file; /**< NULL: $HOME/.ssh/known_hosts */
} dsvm_source_auth;

/** How to build a source. Strings are copied; the struct may be freed after. */
typedef struct {
    const char *url;       /**< local path, file://, http(s)://, ssh:// or user@host:path */
    const char *ref;       /**< branch, tag, full ref name or commit SHA; NULL: remote HEAD */
    const char *path;      /**< subdirectory holding the manifests; NULL or "": the root */
    const char *cache_dir; /**< created when missing; owned by this source */
    dsvm_source_auth auth;
} dsvm_source_opts;

/** The outcome of a fetch or a resolve. Release with dsvm_source_result_clear(). */
typedef struct {
    char commit[41];               /**< resolved commit SHA, hex */
    char *dir;                     /**< directory holding `path` of that commit; owned */
    int changed;                   /**< fetch: 1 when the commit or path differs from the last good
                                     fetch (or there was none); resolve: always 0 */
    int remote_checked;            /**< 1 when the remote refs were listed (ls-remote) */
    int fetched;                   /**< 1 when objects were downloaded (git fetch ran) */
    int recloned;                  /**< 1 when a damaged cache was deleted and cloned again */
    unsigned int progress_calls;   /**< transfer progress callbacks seen during the call */
    unsigned int received_objects; /**< objects received by the fetch, 0 without one */
    size_t received_bytes;         /**< bytes received by the fetch, 0 without one */
} dsvm_source_result;

/**
 * Create a source from `opts`. Checks the options and creates cache_dir; it
 * does not touch the network. When cache_dir holds a last good checkout from
 * an earlier process, dsvm_source_last_good() returns it at once.
 *
 * @return 0, DSVM_EINVALID for a missing url or cache_dir or a path that
 *         leaves the repository (".."), DSVM_EIO when cache_dir cannot be
 *         created, DSVM_ENOMEM.
 */
int dsvm_source_new(dsvm_source **out, const dsvm_source_opts *opts);

/** Free a source; accepts NULL. Checkouts on disk stay. */
void dsvm_source_free(dsvm_source *src);

/**
 * Bring the cache up to date with the configured ref and return the
 * resolved commit and the directory that holds its `path`. On success the
 * result also becomes the last good checkout.
 *
 * @param out filled on success only; release with dsvm_source_result_clear()
 * @return 0; DSVM_ENET (repository unreachable), DSVM_EAUTH (credentials or
 *         SSH host key refused), DSVM_ENOTFOUND (no such ref, commit or
 *         path), DSVM_EINVALID (the ref is not a commit, `path` is not a
 *         directory, an unsafe tree entry, or an unreadable ssh_key_file), DSVM_EIO (writing the cache
 *         or the checkout failed), DSVM_ENOMEM. On failure the last good
 *         checkout is left as it was.
 */
int dsvm_source_fetch(dsvm_source_result *out, dsvm_source *src);

/**
 * Materialise `path` of an arbitrary revision (a ref or SHA as described
 * above), fetching it when it is not in the cache. For `plan --base REV
 * --head REV`. Does not change the last good checkout.
 *
 * @param dest_dir where to write; it must not exist yet. NULL: a directory
 *        under cache_dir/revisions/, reused when it already exists.
 * @return as for dsvm_source_fetch(); DSVM_EEXISTS when dest_dir exists.
 */
int dsvm_source_resolve(dsvm_source_result *out, dsvm_source *src, const char *rev,
                        const char *dest_dir);

/**
 * The last good fetch (of this process, or recorded in cache_dir by an
 * earlier one), or NULL when there is none. Borrowed from `src`; valid until
 * the next fetch or dsvm_source_free().
 */
const dsvm_source_result *dsvm_source_last_good(const dsvm_source *src);

/** The source URL without user information, for logs; borrowed from `src`. */
const char *dsvm_source_url(const dsvm_source *src);

/** Free what a result owns and zero it; accepts a zeroed result. */
void dsvm_source_result_clear(dsvm_source_result *res);

/**
 * Copy `url` without its user information ("https://user:tok@host/x" gives
 * "https://host/x"; "git@host:x" is left as it is, since it holds no secret).
 *
 * @return 0 or DSVM_ENOMEM.
 */
int dsvm_source_redact_url(char **out, const char *url);

/**
 * Check an SSH host key against a known_hosts file, as the source does
 * during a connection. Exposed for tests and for diagnostics.
 *
 * @param known_hosts_file the file to read
 * @param host the host name or address as written in the URL
 * @param port the SSH port (22 looks up "host", others "[host]:port")
 * @param key the raw public key blob, as sent by the server
 * @param key_len its length
 * @return 0 when a line for the host lists this key; DSVM_EAUTH when the
 *         host is unknown, its key differs, or the key is revoked (the
 *         message says which and how to fix it); DSVM_EIO when the file
 *         cannot be read.
 */
int dsvm_source_check_host_key(const char *known_hosts_file, const char *host, int port,
                               const unsigned char *key, size_t key_len);

#endif
