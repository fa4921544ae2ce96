#!/usr/bin/python3
"""The daemon end to end: real processes on loopback.

A Git repository served by git http-backend, armsim, an alert receiver and
`dsvmops run`. Checks: the first sync applies; a bad HMAC gets 401; a push
to another branch is ignored; a signed push webhook starts an apply within
the bound (the figure is printed); an out-of-band change under the heal
policy is reverted within one drift interval, with exactly one drift alert
and one resolution; under the alert policy it raises one alert however
many checks run, and one resolution when fixed by hand; /metrics passes
promtool; SIGHUP reloads (auto_apply off: the next commit waits for
`dsvmops approve`); suspend holds applies; SIGTERM exits 0.

usage: test_daemon.py DSVMOPS ARMSIM EXAMPLES_DIR
"""
import json
import contextlib
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_util import (SUB, AlertReceiver, Arm, Armsim, Daemon, GitServer,  # noqa: E402
                         github_push, http, write_config)

RG = f"/subscriptions/{SUB}/resourceGroups/rg-dsvm-dev-westeurope"
SHARE = RG + ("/providers/Microsoft.Storage/storageAccounts/stdsvmdevnfs/fileServices/default"
              "/shares/scratch")
VMSS = RG + "/providers/Microsoft.Compute/virtualMachineScaleSets/dev-sandbox"
DRIFT_S = 2


def quota(arm):
    return arm.get(SHARE, "2025-06-01")["properties"]["shareQuota"]


def main():
    dsvm, armsim_bin, examples = sys.argv[1:4]
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="dsvm-daemon-"))
        armsim = stack.enter_context(Armsim(armsim_bin, "--lro-ms", "100"))
        gs = stack.enter_context(GitServer(tmp, os.path.join(examples, "environments", "dev")))
        rx = stack.enter_context(AlertReceiver("alert-secret"))
        config = os.path.join(tmp, "dsvmops.yaml")
        settings = f"""drift: {{interval: {DRIFT_S}s, kinds: {{SharedStorage: heal}}}}
alerts:
  - {{kind: webhook, url: {rx.url}, secret_env: ALERT_HMAC}}
"""
        write_config(config, armsim, gs.url, settings)
        env = {"DSVMOPS_CLIENT_SECRET": "demo-secret", "DSVMOPS_WEBHOOK_SECRET": "hook-secret",
               "ALERT_HMAC": "alert-secret"}
        daemon = stack.enter_context(Daemon(dsvm, config, env, "--log-level", "debug"))
        assert http("GET", daemon.url + "/healthz")[0] == 200

        # the first poll applies the repository
        daemon.wait_log("event=apply.done", 90)
        code, text = http("GET", daemon.url + "/readyz")
        assert code == 200, (code, text)
        arm = Arm(armsim)
        assert quota(arm) == 100

        # a bad signature: 401, a log line, no sync
        mark = daemon.mark()
        code, _ = github_push(daemon.url, "hook-secret", signature="sha256=" + "0" * 64)
        assert code == 401, code
        daemon.wait_log("refused", 5, mark)
        # another branch: 202 and nothing to do
        code, _ = github_push(daemon.url, "hook-secret", ref="refs/heads/feature")
        assert code == 202, code
        time.sleep(0.5)
        assert not any("event=sync.start" in line for _, line in daemon.lines[mark:])

        # a push and its signed webhook reach Azure
        sha = gs.commit("dev.yaml", lambda t: t.replace("quotaGiB: 100", "quotaGiB: 200"),
                        "grow the scratch share")
        mark = daemon.mark()
        t0 = time.monotonic()
        code, _ = github_push(daemon.url, "hook-secret", after=sha)
        assert code == 202, code
        _, t1 = daemon.wait_log("event=apply.start", 10, mark)
        print(f"test_daemon: signed push webhook to apply start: {(t1 - t0) * 1000:.0f} ms "
              f"(goal 1000 ms)")
        daemon.wait_log("event=apply.done", 60, mark)
        assert quota(arm) == 200
        daemon.wait_status(lambda s: s["appliedCommit"] == sha)

        # heal: an out-of-band change is reverted within one drift interval
        share = arm.get(SHARE, "2025-06-01")
        share["properties"]["shareQuota"] = 150
        t0 = time.monotonic()
        arm.put(SHARE, "2025-06-01", share)
        _, opened = rx.wait("drift.opened", lambda rid: rid.endswith("/shares/scratch"),
                            10 * DRIFT_S)
        assert opened["policy"] == "heal", opened
        assert any("shareQuota" in f["path"] for f in opened["fields"]), opened
        t1, _ = rx.wait("drift.resolved", lambda rid: rid.endswith("/shares/scratch"),
                        10 * DRIFT_S)
        assert quota(arm) == 200
        print(f"test_daemon: out-of-band change healed and resolved in {t1 - t0:.2f} s "
              f"(drift interval {DRIFT_S} s)")

        # alert: one alert however many checks, one resolution when fixed by hand
        rg = arm.get(RG, "2025-04-01")
        saved_tags = dict(rg["tags"])
        rg["tags"]["costCenter"] = "9999"
        arm.put(RG, "2025-04-01", rg)
        _, opened = rx.wait("drift.opened", lambda rid: rid == RG, 10 * DRIFT_S)
        assert opened["policy"] == "alert" and opened["severity"] == "warning", opened
        assert "9999" in str(opened["fields"]), opened
        more = rx.drain(3 * DRIFT_S)
        assert not [e for e in more if e.get("resourceId") == RG], more
        assert arm.get(RG, "2025-04-01")["tags"]["costCenter"] == "9999"  # not healed
        daemon.wait_status(lambda s: [e["resourceId"] for e in s["openDrift"]] == [RG])
        # ignore: the pool says dsvmops.io/drift: ignore; the CLI check lists it, no alert
        vmss = arm.get(VMSS, "2024-11-01")
        vmss["sku"]["capacity"] = 3
        arm.put(VMSS, "2024-11-01", vmss)
        r = subprocess.run([dsvm, "drift", "-c", config, "--format", "json"],
                           capture_output=True, text=True, env=dict(os.environ, **env))
        assert r.returncode == 2, r.stdout + r.stderr
        policies = {d["id"]: d["policy"] for d in json.loads(r.stdout)["drifted"]}
        assert policies == {RG: "alert", VMSS: "ignore"}, policies
        more = rx.drain(2 * DRIFT_S)
        assert not [e for e in more if e.get("resourceId") == VMSS], more
        vmss["sku"]["capacity"] = 1
        arm.put(VMSS, "2024-11-01", vmss)
        rg["tags"] = saved_tags
        arm.put(RG, "2025-04-01", rg)
        rx.wait("drift.resolved", lambda rid: rid == RG, 10 * DRIFT_S)
        r = subprocess.run([dsvm, "drift", "-c", config], capture_output=True, text=True,
                           env=dict(os.environ, **env))
        assert r.returncode == 0 and "No drift" in r.stdout, r.stdout + r.stderr
        assert not rx.bad, "alerts with a bad signature"

        # /metrics passes promtool and carries the figures
        daemon.wait_status(lambda s: s["openDrift"] == [])
        code, metrics = http("GET", daemon.url + "/metrics")
        assert code == 200
        check = subprocess.run(["promtool", "check", "metrics"], input=metrics,
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        for name in ("dsvmops_reconcile_duration_seconds_bucket",
                     'dsvmops_reconcile_runs_total{kind="sync",outcome="succeeded"}',
                     'dsvmops_resources{state="in_sync"}', "dsvmops_drift_episodes_open 0",
                     'dsvmops_arm_requests_total{verb="PUT"}', "dsvmops_git_fetches_total",
                     "dsvmops_last_success_timestamp_seconds", f'commit="{sha}"'):
            assert name in metrics, name

        # SIGHUP: auto_apply off, so the next commit waits for approval
        write_config(config, armsim, gs.url,
                     settings + "reconcile: {auto_apply: false}\n")
        mark = daemon.mark()
        daemon.proc.send_signal(1)
        daemon.wait_log("event=config.reloaded", 10, mark)
        sha2 = gs.commit("dev.yaml", lambda t: t.replace("quotaGiB: 200", "quotaGiB: 300"),
                         "grow again")
        github_push(daemon.url, "hook-secret", after=sha2)
        daemon.wait_log("event=plan.pending", 30, mark)
        st = daemon.wait_status(lambda s: s["pending"] is not None)
        assert st["pending"]["commit"] == sha2 and st["pending"]["summary"]["update"] == 1, st
        assert quota(arm) == 200

        # suspended: approve is refused; resumed and approved: applied
        code, _ = http("POST", daemon.url + "/api/v1/suspend", b'{"suspend": true}')
        assert code == 200
        r = subprocess.run([dsvm, "approve", "-c", config, "--url", daemon.url],
                           capture_output=True, text=True)
        assert r.returncode == 1 and "suspended" in r.stderr, r
        r = subprocess.run([dsvm, "approve", "-c", config, "--url", daemon.url, "--resume"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r
        mark = daemon.mark()
        r = subprocess.run([dsvm, "approve", "-c", config, "--url", daemon.url],
                           capture_output=True, text=True)
        assert r.returncode == 0, r
        daemon.wait_log("event=apply.done", 60, mark)
        assert quota(arm) == 300
        daemon.wait_status(lambda s: s["pending"] is None and s["appliedCommit"] == sha2)
        r = subprocess.run([dsvm, "approve", "-c", config, "--url", daemon.url],
                           capture_output=True, text=True)
        assert r.returncode == 1 and "no plan" in r.stderr, r

        # SIGTERM: a clean stop
        assert daemon.stop() == 0
        assert "webhook-secret" not in "".join(l for _, l in daemon.lines)
    print("test_daemon: ok")


if __name__ == "__main__":
    main()
