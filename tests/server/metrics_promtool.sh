#!/bin/sh
# usage: metrics_promtool.sh METRICS_DUMP WORKDIR
# Renders a populated registry and lints it with `promtool check metrics`.
# Any problem promtool reports (its exit status or any output) fails the
# test; a known-bad sample first proves promtool does report problems.
# Exit 77 (skipped) only when promtool is not installed.
set -u
dump=$1
dir=$2
promtool=$(command -v promtool) || { echo "promtool not installed; skipping"; exit 77; }
mkdir -p "$dir"

printf '# HELP bad Counter without _total.\n# TYPE bad counter\nbad 1\n' >"$dir/bad.prom"
if "$promtool" check metrics <"$dir/bad.prom" >"$dir/bad.out" 2>&1; then
    echo "FAIL: promtool accepted a counter without _total; the check below would prove nothing"
    exit 1
fi

"$dump" "$dir/metrics.prom" || { echo "FAIL: metrics_dump failed"; exit 1; }
cat "$dir/metrics.prom"
"$promtool" check metrics <"$dir/metrics.prom" >"$dir/check.out" 2>&1
rc=$?
if [ $rc -ne 0 ] || [ -s "$dir/check.out" ]; then
    echo "FAIL: promtool check metrics (exit $rc):"
    cat "$dir/check.out"
    exit 1
fi
for name in dsvmops_reconcile_duration_seconds_bucket dsvmops_reconcile_runs_total \
    dsvmops_resources dsvmops_drift_episodes_open dsvmops_arm_requests_total \
    dsvmops_arm_throttle_waits_total dsvmops_lro_in_flight dsvmops_git_fetches_total \
    dsvmops_last_success_timestamp_seconds dsvmops_info; do
    grep -q "^$name[{ ]" "$dir/metrics.prom" || { echo "FAIL: no sample of $name"; exit 1; }
done
echo "promtool: ok"
