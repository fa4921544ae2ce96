#!/bin/sh
# The bench table of docs/performance.md in one command:
#   scripts/bench.sh [100|1000|10000] [run-bench options...]
# Measures the committed HEAD: exports it (git archive) to build-release/src
# when HEAD has moved, builds it there as a Release tree (build-release/build,
# incremental while HEAD stays), and runs tests/bench/run-bench against
# build-release/build/bin. Uncommitted edits in the working tree are not
# measured (several people share it); BENCH_TREE=1 builds the working tree
# instead, in build-release/tree; BENCH_REV=REV measures that commit (so that
# two sizes can share one build while others commit).
# 100 and 1000 run every row (1000: apply rows with armsim's and dsvmops'
# buckets raised 10x); 10000 is the opt-in long run of the read rows only, on
# a state seeded by an unthrottled apply. The table goes to stdout, the
# figures to bench-results-POOLS.json in the current directory (or --json FILE).
set -eu
pools=${1:-100}
[ $# -gt 0 ] && shift
case $pools in
    ''|*[!0-9]*) echo "usage: scripts/bench.sh [100|1000|10000] [run-bench options...]" >&2; exit 2 ;;
esac
out=$PWD
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p build-release
if [ -n "${BENCH_TREE:-}" ]; then
    src=$root bld=build-release/tree rev="$(git rev-parse --short HEAD)+working tree"
else
    rev=$(git rev-parse --short "${BENCH_REV:-HEAD}")
    src=build-release/src bld=build-release/build
    if [ "$(cat build-release/src/.commit 2>/dev/null)" != "$rev" ]; then
        rm -rf build-release/src
        mkdir -p build-release/src
        git archive "$rev" | tar -x -C build-release/src
        echo "$rev" > build-release/src/.commit
    fi
fi
if [ ! -f "$bld/CMakeCache.txt" ]; then
    cmake -S "$src" -B "$bld" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
echo "bench: building $rev (Release) in $bld ..." >&2
cmake --build "$bld" -j2 >"$bld/build.log" 2>&1 || { tail -30 "$bld/build.log" >&2; exit 1; }
extra=
[ "$pools" -ge 10000 ] && extra=--read-only
# shellcheck disable=SC2086
exec /usr/bin/python3 tests/bench/run-bench --pools "$pools" --bin "$bld/bin" \
    --commit "$rev" --json "$out/bench-results-$pools.json" $extra "$@"
