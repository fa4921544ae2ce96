#!/bin/sh
# armsim's own GET throughput with wrk on loopback: one connection and 64 connections,
# throttling off and no latency injected.
# usage: tests/bench/armsim_bench.sh [ARMSIM] [SECONDS] [MIN_GET_PER_SEC]
# Fails when wrk is missing, when any answer is not 200, or when a figure is below
# MIN_GET_PER_SEC (default 500, a tenth of the 5,000 GET/s goal).
set -eu
armsim=${1:-build/bin/armsim}
secs=${2:-5}
min=${3:-500}
sub=00000000-0000-0000-0000-000000000001

command -v wrk >/dev/null 2>&1 || { echo "armsim_bench: wrk is not installed" >&2; exit 1; }
command -v python3 >/dev/null 2>&1 || { echo "armsim_bench: python3 is not installed" >&2; exit 1; }
[ -x "$armsim" ] || { echo "armsim_bench: no armsim at $armsim" >&2; exit 1; }

tmp=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

"$armsim" --listen 127.0.0.1:0 --throttle off --client bench:bench-secret \
    >"$tmp/out" 2>"$tmp/err" &
pid=$!
i=0
while ! grep -q '^armsim listening on ' "$tmp/out" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 100 ]; then
        echo "armsim_bench: armsim did not start:" >&2
        cat "$tmp/err" >&2
        exit 1
    fi
    sleep 0.1
done
url=$(sed -n 's/^armsim listening on //p' "$tmp/out")

# a token, a resource group and one identity to GET, with python3's standard library
target=$(python3 - "$url" "$sub" <<'PYEOF'
import json, sys, urllib.parse, urllib.request
url, sub = sys.argv[1], sys.argv[2]
form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "bench",
                               "client_secret": "bench-secret",
                               "scope": "https://management.azure.com/.default"}).encode()
with urllib.request.urlopen(url + "/tenant/oauth2/v2.0/token", form) as r:
    tok = json.load(r)["access_token"]
def put(path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="PUT",
                                 headers={"Authorization": "Bearer " + tok,
                                          "Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
rg = "/subscriptions/%s/resourceGroups/bench" % sub
put(rg + "?api-version=2022-09-01", {"location": "westus"})
ident = (rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/bench-id"
         "?api-version=2023-01-31")
put(ident, {"location": "westus", "tags": {"dsvmops-instance": "bench"}})
print(tok, url + ident)
PYEOF
) || { echo "armsim_bench: could not prepare the benchmark resource" >&2; exit 1; }
tok=${target%% *}
target=${target#* }

run() {
    conns=$1
    threads=$2
    wrk -t "$threads" -c "$conns" -d "${secs}s" -H "Authorization: Bearer $tok" "$target" \
        >"$tmp/wrk$conns" 2>&1 || { cat "$tmp/wrk$conns" >&2; exit 1; }
    if grep -q 'Non-2xx' "$tmp/wrk$conns"; then
        echo "armsim_bench: some answers were not 200:" >&2
        cat "$tmp/wrk$conns" >&2
        exit 1
    fi
    sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$tmp/wrk$conns"
}

one=$(run 1 1)
many=$(run 64 2)
echo "armsim GET throughput (wrk, loopback, ${secs}s each, throttle off, no latency):"
echo "  1 connection:   $one GET/s"
echo "  64 connections: $many GET/s"
echo "  goal: > 5000 GET/s; this check fails below $min GET/s"
fail=0
for v in "$one" "$many"; do
    if [ "$(echo "$v" | awk -v m="$min" '{print ($1 < m)}')" = 1 ]; then
        fail=1
    fi
done
if [ $fail = 1 ]; then
    echo "armsim_bench: throughput below $min GET/s" >&2
    exit 1
fi
