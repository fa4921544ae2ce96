#!/bin/bash
# Run the libFuzzer targets of tests/fuzz (docs/fuzzing.md).
#
# usage: scripts/fuzz.sh [TARGET|all] [SECONDS] [JOBS]
#   TARGET   manifest, config, arm, plan, webhook, or all (default)
#   SECONDS  per target (default 60)
#   JOBS     targets run at the same time (default 2)
#
# Builds build-fuzz (clang, -DDSVM_FUZZ=ON) when needed. Each target reads
# its seed corpus tests/fuzz/corpus/TARGET read-only and writes what it
# finds to build-fuzz/fuzz-corpus/TARGET, which later runs reuse, so the
# repository's corpus never grows by itself. A crash, leak, timeout (10 s)
# or RSS above 2048 MB is saved under build-fuzz/fuzz-artifacts/TARGET/, and
# the script exits 1 after printing how to reproduce it. The last lines are
# one row per target: runs, exec/s, coverage (cov, ft) and corpus size.
set -u
cd "$(dirname "$0")/.."
what=${1:-all}
secs=${2:-60}
jobs=${3:-2}
build=${DSVM_FUZZ_BUILD:-build-fuzz}
all="manifest config arm plan webhook"

case "$secs$jobs" in *[!0-9]*) echo "usage: $0 [TARGET|all] [SECONDS] [JOBS]" >&2; exit 2 ;; esac
if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz: clang is not installed (scripts/deps.sh test installs it)" >&2
    exit 1
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
    CC=clang cmake -S . -B "$build" -DDSVM_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null ||
        exit 1
fi
cmake --build "$build" --target fuzz -j "$(nproc)" >"$build/fuzz-build.log" 2>&1 || {
    tail -30 "$build/fuzz-build.log"
    echo "fuzz: building the targets failed (log: $build/fuzz-build.log)" >&2
    exit 1
}

targets=""
for t in $([ "$what" = all ] && echo "$all" || echo "$what"); do
    if [ -x "$build/bin/fuzz_$t" ]; then
        targets="$targets $t"
    elif [ "$what" = all ]; then
        echo "fuzz: skipping $t (fuzz_$t is not built; its source has not landed)"
    else
        echo "fuzz: no target \"$t\"; targets: $all" >&2
        exit 2
    fi
done

logs=$build/fuzz-logs
mkdir -p "$logs"
# the targets that load files write each input under TMPDIR: memory is
# faster, and a crashed target's leftovers go with this directory
tmp=$(mktemp -d -p "$([ -w /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")" \
    dsvm-fuzz.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
export TMPDIR=$tmp

# run TARGET: fuzz it for $secs seconds; the exit status is libFuzzer's
run() {
    local t=$1 work=$build/fuzz-corpus/$1 art=$build/fuzz-artifacts/$1 dict=()
    mkdir -p "$work" "$art"
    [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
    # the outer timeout is a net for a hung process, not the fuzzer's budget
    timeout -k 10 $((secs + 120)) "$build/bin/fuzz_$t" "${dict[@]}" \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$art/" "$work" "tests/fuzz/corpus/$t" >"$logs/$t.log" 2>&1
}

declare -A pid_of
running=0
for t in $targets; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    echo "fuzz: $t for ${secs}s (log: $logs/$t.log)"
    run "$t" &
    pid_of[$t]=$!
    running=$((running + 1))
done

failed=0
rows=""
for t in $targets; do
    wait "${pid_of[$t]}"
    rc=$?
    log=$logs/$t.log
    last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED|NEW|REDUCE|pulse)' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    result=ok
    if [ "$rc" != 0 ]; then
        failed=1
        result="FAILED (exit $rc)"
        art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        echo "fuzz: $t FAILED; the report:" >&2
        grep -E -m 12 'ERROR|SUMMARY|#[0-9]+ 0x' "$log" >&2
        if [ -n "$art" ]; then
            echo "fuzz:   input:     $art" >&2
            echo "fuzz:   reproduce: $build/bin/fuzz_$t $art" >&2
            echo "fuzz:   once fixed, keep it: cp $art tests/fuzz/corpus/$t/crash-WHAT" >&2
        fi
        echo "fuzz:   full log:  $log" >&2
    fi
    rows="$rows$(printf '%-9s %10s %8s %6s %7s %12s  %s' "$t" "${runs:--}" "${eps:--}" \
        "${cov:--}" "${ft:--}" "${corp:--}" "$result")"$'\n'
done
printf '%-9s %10s %8s %6s %7s %12s  %s\n' target runs exec/s cov ft corpus result
printf '%s' "$rows"
exit $failed
