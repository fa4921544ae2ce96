#!/bin/sh
# End-to-end checks of 'dsvmops validate' and 'dsvmops schema'.
# usage: cli_validate.sh DSVMOPS DATA_DIR
set -u
bin=$1
data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "cli_validate: $*" >&2
    exit 1
}

cd "$data" || fail "no data directory $data"

# several mistakes: every one on stderr, sorted, nothing on stdout, exit 1
"$bin" validate invalid/multiple-mistakes >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" = 1 ] || fail "validate with mistakes exited $rc, want 1"
[ -s "$tmp/out" ] && fail "validate with mistakes wrote to stdout"
diff -u cli/multiple-mistakes.stderr "$tmp/err" || fail "stderr differs"

# a valid tree: the summary on stdout, exit 0; --quiet prints nothing
"$bin" validate valid/all-kinds >"$tmp/out" 2>"$tmp/err" || fail "valid tree rejected: $(cat "$tmp/err")"
grep -qx 'validated 15 objects in 6 files (1 ResourceGroup, 2 Identity, 1 KeyVault, 2 SharedStorage, 1 DomainJoin, 3 Pool, 2 RoleAssignment, 1 PolicyAssignment, 1 Monitoring, 1 Network)' "$tmp/out" ||
    fail "unexpected summary: $(cat "$tmp/out")"
"$bin" validate --quiet valid/all-kinds >"$tmp/out" 2>&1 || fail "--quiet failed"
[ -s "$tmp/out" ] && fail "--quiet printed something"

# warnings: shown on stderr, counted in the summary, and the exit status is 0
"$bin" validate valid/warnings >"$tmp/out" 2>"$tmp/err" || fail "warnings made validate fail"
grep -q '^valid/warnings/pool.yaml:16:56: warning: Pool "open" opens its endpoint' "$tmp/err" ||
    fail "no warning on stderr: $(cat "$tmp/err")"
grep -q ', 1 warning$' "$tmp/out" || fail "summary does not count the warning: $(cat "$tmp/out")"

# the default directory is the current one
(cd valid/skips && "$bin" validate >/dev/null) || fail "validate without DIR failed"

# usage errors and help
"$bin" validate a b >/dev/null 2>&1 && fail "two directories accepted"
"$bin" validate --bogus >/dev/null 2>&1 && fail "unknown option accepted"
"$bin" validate --help | grep -q '^usage: dsvmops validate' || fail "validate --help"
"$bin" validate /nonexistent/dir 2>"$tmp/err" && fail "missing directory accepted"
grep -q 'cannot read manifest directory /nonexistent/dir' "$tmp/err" || fail "missing dir message"

# schema: JSON Schema with every kind; one kind; unknown kind
"$bin" schema >"$tmp/schema.json" || fail "schema failed"
grep -q '"\$schema": "http://json-schema.org/draft-07/schema#"' "$tmp/schema.json" || fail "no \$schema"
for k in ResourceGroup Identity KeyVault SharedStorage DomainJoin Pool RoleAssignment \
    PolicyAssignment Monitoring Network; do
    grep -q "\"\$ref\": \"#/definitions/$k\"" "$tmp/schema.json" || fail "schema lacks $k"
done
"$bin" schema --kind Pool --compact | grep -q '"oneOf":\[{"\$ref":"#/definitions/Pool"}\]' ||
    fail "schema --kind Pool"
"$bin" schema --kind Pools >/dev/null 2>&1 && fail "schema accepted an unknown kind"
"$bin" schema --help | grep -q '^usage: dsvmops schema' || fail "schema --help"
echo "cli_validate: ok"
