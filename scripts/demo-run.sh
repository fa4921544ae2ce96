#!/bin/sh
# The demo, run by scripts/demo.sh after the build: GitOps for the example
# repository against armsim, the local ARM emulator, on loopback.
#   1. validate the manifests; start armsim on a free port;
#   2. turn examples/ into a Git repository that dsvmops reconciles from;
#   3. plan (everything is new), apply (with progress), plan again (no changes);
#   4. commit a one-field change, show its pull-request plan in Markdown,
#      apply it; print the history; show what armsim saw; stop armsim.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
bin=${DSVM_BIN:-$top/build/bin}
work=$(mktemp -d "${TMPDIR:-/tmp}/dsvmops-demo.XXXXXX")
armsim_pid=""
cleanup() {
    [ -n "$armsim_pid" ] && kill "$armsim_pid" 2>/dev/null && wait "$armsim_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "dsvmops version"
"$bin/dsvmops" version

step "validate the example repository (examples/)"
"$bin/dsvmops" validate examples/

step "start armsim, the local Azure Resource Manager"
"$bin/armsim" --listen 127.0.0.1:0 --lro-ms 300 >"$work/armsim.out" 2>"$work/armsim.err" &
armsim_pid=$!
i=0
while [ ! -s "$work/armsim.out" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
url=$(head -n 1 "$work/armsim.out" | sed 's/^armsim listening on //')
[ -n "$url" ] || { echo "demo: armsim did not start" >&2; cat "$work/armsim.err" >&2; exit 1; }
echo "armsim is serving ARM at $url"

step "turn examples/ into a Git repository (the platform team's infra repo)"
repo=$work/infra-repo
mkdir -p "$repo" && cp -R examples/environments "$repo/"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=platform -c user.email=platform@example.com \
    commit -q -m "Data-science landing zone"
git -C "$repo" log --oneline

# the demo configuration: this repository, this armsim, a private state file
sed -e "s#http://127.0.0.1:8443#$url#g" -e "s#\./\.dsvmops-state\.db#$work/state.db#" \
    -e "s#url: \.\./#url: $repo#" -e "s#path: examples/environments/prod#path: environments/prod#" \
    examples/dsvmops.yaml >"$work/dsvmops.yaml"
export DSVMOPS_CLIENT_SECRET=demo-secret
cfg="-c $work/dsvmops.yaml --instance demo"

step "plan: what would change in Azure"
"$bin/dsvmops" plan $cfg

step "apply --target KeyVault/kv-dsvm-prod: the vault first, and what it needs"
"$bin/dsvmops" apply $cfg --target KeyVault/kv-dsvm-prod

step "the security team puts the secrets into the vault (never into Git)"
token=$(curl -s -X POST "$url/00000000-0000-0000-0000-0000000000aa/oauth2/v2.0/token" \
    -d grant_type=client_credentials -d client_id=dsvmops-demo \
    -d client_secret="$DSVMOPS_CLIENT_SECRET" -d scope=https://vault.azure.net/.default |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
put_secret() {
    curl -sf -X PUT "$url/keyvault/kv-dsvm-prod/secrets/$1?api-version=7.4" \
        -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d "{\"value\": \"$2\"}" >/dev/null
    echo "stored secret $1"
}
put_secret ad-join-protected-settings '{\\\"Password\\\": \\\"demo-join-password\\\"}'
put_secret vision-local-admin "Demo-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')!"
put_secret stdsvmprodsmb-key "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"

step "apply: everything else, in dependency order"
"$bin/dsvmops" apply $cfg

step "plan again: the same commit applied twice changes nothing"
"$bin/dsvmops" plan $cfg

step "a pull request: team Vision moves to bigger GPUs (one line)"
sed -i 's/vmSize: Standard_NC6s_v3/vmSize: Standard_NC12s_v3/' \
    "$repo/environments/prod/pools/team-vision.yaml"
git -C "$repo" -c user.name=vision -c user.email=vision@example.com \
    commit -q -am "vision-gpu: Standard_NC12s_v3"
git -C "$repo" log --oneline -1
"$bin/dsvmops" plan $cfg --source "$repo/environments/prod" --base HEAD~1 --head HEAD \
    --format markdown

step "merge and apply: exactly that change"
"$bin/dsvmops" apply $cfg

step "history"
"$bin/dsvmops" history -c "$work/dsvmops.yaml"

step "what armsim saw"
curl -s "$url/_armsim/stats" | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)["requests"]
print("ARM requests: %d (%s); throttled: %d" % (r["total"],
      ", ".join("%s %d" % kv for kv in sorted(r["by_verb"].items())), r["throttled"]))'
echo
echo "demo: done"
