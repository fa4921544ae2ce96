#!/bin/sh
# The bench table of docs/performance.md in one command:
#   scripts/bench.sh [100|1000|10000] [run-bench options...]
# Builds a Release tree in build-release (configures it if needed, then an
# incremental build, so it always measures the checkout), and runs
# tests/bench/run-bench against build-release/bin. 100 and 1000 run every row
# (1000: apply rows with armsim's and dsvmops' buckets raised 10x); 10000 is
# the opt-in long run of the read rows only, on a state seeded by an
# unthrottled apply. The table goes to stdout, the figures to
# bench-results-POOLS.json in the current directory (or --json FILE).
set -eu
pools=${1:-100}
[ $# -gt 0 ] && shift
case $pools in
    ''|*[!0-9]*) echo "usage: scripts/bench.sh [100|1000|10000] [run-bench options...]" >&2; exit 2 ;;
esac
out=$PWD
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ ! -f build-release/CMakeCache.txt ]; then
    cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build build-release -j2 >/dev/null
extra=
[ "$pools" -ge 10000 ] && extra=--read-only
# shellcheck disable=SC2086
exec /usr/bin/python3 tests/bench/run-bench --pools "$pools" --bin build-release/bin \
    --json "$out/bench-results-$pools.json" $extra "$@"
