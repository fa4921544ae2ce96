#!/bin/sh
# The demo, run by scripts/demo.sh after the build: GitOps for the example
# repository against armsim, the local ARM emulator, on loopback.
#   1. validate the manifests; start armsim on a free port;
#   2. turn examples/ into a Git repository that dsvmops reconciles from;
#   3. plan (everything is new), apply (with progress), plan again (no changes);
#   4. commit a one-field change, show its pull-request plan in Markdown,
#      apply it;
#   5. run the daemon: a signed push webhook reaches Azure at once, and a
#      vault opened to the internet in the "portal" is healed, with one alert
#      when the drift opens and one when it resolves; status and metrics;
#   6. print the history; show what armsim saw; stop armsim.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
bin=${DSVM_BIN:-$top/build/bin}
work=$(mktemp -d "${TMPDIR:-/tmp}/dsvmops-demo.XXXXXX")
armsim_pid=""
daemon_pid=""
receiver_pid=""
cleanup() {
    rc=$?
    for p in $daemon_pid $receiver_pid $armsim_pid; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
    done
    rm -rf "$work"
    exit $rc
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

step "the daemon: dsvmops run watches the repository, checks drift and alerts"
# an alert receiver standing in for the on-call webhook: prints what arrives
/usr/bin/python3 -u -c '
import http.server, json
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        ev = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        print("  alert received: %s: %s" % (ev["event"], ev["summary"]), flush=True)
        self.send_response(204); self.end_headers()
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()' >"$work/receiver.out" &
receiver_pid=$!
i=0
while [ ! -s "$work/receiver.out" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
alert_port=$(head -n 1 "$work/receiver.out")
# the daemon's settings: alerts to the receiver, drift checked every 3 s
sed -e "s#http://127.0.0.1:9000/alerts#http://127.0.0.1:$alert_port/alerts#" \
    -e "s#drift: {interval: 60s}#drift: {interval: 3s}#" "$work/dsvmops.yaml" >"$work/daemon.yaml"
export DSVMOPS_WEBHOOK_SECRET=demo-webhook-secret ALERT_HMAC=demo-alert-key
"$bin/dsvmops" run -c "$work/daemon.yaml" --instance demo --listen 127.0.0.1:0 \
    >"$work/daemon.out" 2>"$work/daemon.log" &
daemon_pid=$!
i=0
while ! grep -q "event=drift.checked" "$work/daemon.log" 2>/dev/null && [ $i -lt 300 ]; do
    sleep 0.1; i=$((i + 1))
done
daemon=$(head -n 1 "$work/daemon.out" | sed 's/^dsvmops listening on //')
echo "the daemon serves $daemon (/metrics, /healthz, /readyz, /api/v1/status, /hooks/*)"
printf 'readyz: '; curl -s "$daemon/readyz"; echo

step "a merge and its signed GitHub push webhook: the daemon applies at once"
sed -i 's/dataClassification: confidential/dataClassification: confidential, owner: platform/' \
    "$repo/environments/prod/keyvault.yaml"
git -C "$repo" -c user.name=platform -c user.email=platform@example.com \
    commit -q -am "kv-dsvm-prod: tag the owner"
sha=$(git -C "$repo" rev-parse HEAD)
body="{\"ref\": \"refs/heads/main\", \"after\": \"$sha\"}"
sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$DSVMOPS_WEBHOOK_SECRET" | sed 's/^.* //')
mark=$(wc -l <"$work/daemon.log")
curl -s -o /dev/null -w 'webhook answered %{http_code}\n' -X POST "$daemon/hooks/github" \
    -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: sha256=$sig" \
    -H 'Content-Type: application/json' -d "$body"
i=0
while ! tail -n +"$((mark + 1))" "$work/daemon.log" | grep -q "event=apply.done" && [ $i -lt 300 ]; do
    sleep 0.1; i=$((i + 1))
done
tail -n +"$((mark + 1))" "$work/daemon.log" | grep -E "event=(webhook.push|sync.start|apply)" |
    cut -c1-160

step "someone opens the vault to the internet in the portal; policy heal puts it back"
vault=/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-dsvm-prod-eastus/providers/Microsoft.KeyVault/vaults/kv-dsvm-prod
arm_token=$(curl -s -X POST "$url/00000000-0000-0000-0000-0000000000aa/oauth2/v2.0/token" \
    -d grant_type=client_credentials -d client_id=dsvmops-demo \
    -d client_secret="$DSVMOPS_CLIENT_SECRET" -d scope=https://management.azure.com/.default |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
curl -s "$url$vault?api-version=2024-11-01" -H "Authorization: Bearer $arm_token" |
    /usr/bin/python3 -c '
import json, sys
v = json.load(sys.stdin)
v["properties"]["networkAcls"]["defaultAction"] = "Allow"
print(json.dumps({k: v[k] for k in ("location", "tags", "properties") if k in v}))' >"$work/vault.json"
curl -s -o /dev/null -w 'the portal PUT answered %{http_code}\n' -X PUT \
    "$url$vault?api-version=2024-11-01" -H "Authorization: Bearer $arm_token" \
    -H 'Content-Type: application/json' -d @"$work/vault.json"
i=0
while ! grep -q "drift.resolved" "$work/receiver.out" && [ $i -lt 300 ]; do
    sleep 0.1; i=$((i + 1))
done
grep "alert received" "$work/receiver.out" || true
printf 'networkAcls.defaultAction is now: '
curl -s "$url$vault?api-version=2024-11-01" -H "Authorization: Bearer $arm_token" |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["properties"]["networkAcls"]["defaultAction"])'

step "the daemon's status and metrics"
curl -s "$daemon/api/v1/status" | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
states = {}
for r in s["resources"]:
    states[r["state"]] = states.get(r["state"], 0) + 1
print("applied commit %s; resources %s; open drift %d; last runs: %s" % (
      s["appliedCommit"][:12], states, len(s["openDrift"]),
      ", ".join("%s %s" % (r["kind"], r["outcome"]) for r in s["runs"][:4])))'
curl -s "$daemon/metrics" | grep -E '^dsvmops_(reconcile_runs_total|resources|drift_episodes_open|git_fetches_total|arm_requests_total)' |
    head -n 14
kill -TERM "$daemon_pid" && wait "$daemon_pid" && echo "daemon stopped cleanly (SIGTERM, exit 0)"
daemon_pid=""

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
