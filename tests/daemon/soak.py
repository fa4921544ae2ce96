#!/usr/bin/python3
"""Soak the daemon: pushes every 10 s and random out-of-band changes.

Runs `dsvmops run` against armsim and a Git repository over smart HTTP for
--duration seconds. Every --push-every seconds it commits a change, pushes
it and sends the signed webhook; at random it changes a resource in armsim
behind the daemon's back (one healed by policy, one only alerted). It
samples the daemon's resident memory and open file descriptors, and prints
them at the start (after the first apply), the end, and their peaks.

It fails when the descriptors grow by more than --fd-bound or memory by
more than --rss-bound-mb between the first and the last quarter of the run,
when a push is not applied, or when the daemon dies. The issue's soak is
`soak.py DSVMOPS ARMSIM EXAMPLES --duration 600`; ctest runs 40 s.

usage: soak.py DSVMOPS ARMSIM EXAMPLES [--duration S] [--push-every S]
               [--fd-bound N] [--rss-bound-mb N] [--json FILE]
"""
import argparse
import json
import contextlib
import os
import random
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_util import (SUB, AlertReceiver, Arm, Armsim, Daemon, GitServer,  # noqa: E402
                         github_push, write_config)

RG = f"/subscriptions/{SUB}/resourceGroups/rg-dsvm-dev-westeurope"
SHARE = RG + ("/providers/Microsoft.Storage/storageAccounts/stdsvmdevnfs/fileServices/default"
              "/shares/scratch")


def sample(pid):
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return {"rss_kb": int(fields["VmRSS"].split()[0]),
            "threads": int(fields["Threads"].strip()),
            "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dsvmops")
    ap.add_argument("armsim")
    ap.add_argument("examples")
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--push-every", type=float, default=10)
    ap.add_argument("--drift-interval", type=int, default=5)
    ap.add_argument("--fd-bound", type=int, default=8)
    ap.add_argument("--rss-bound-mb", type=float, default=24)
    ap.add_argument("--json")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    samples = []
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="dsvm-soak-"))
        armsim = stack.enter_context(Armsim(a.armsim, "--lro-ms", "100"))
        gs = stack.enter_context(GitServer(tmp, os.path.join(a.examples, "environments", "dev")))
        rx = stack.enter_context(AlertReceiver("alert-secret"))
        config = os.path.join(tmp, "dsvmops.yaml")
        write_config(config, armsim, gs.url, f"""drift: {{interval: {a.drift_interval}s, kinds: {{SharedStorage: heal}}}}
alerts:
  - {{kind: webhook, url: {rx.url}, secret_env: ALERT_HMAC}}
""")
        env = {"DSVMOPS_CLIENT_SECRET": "demo-secret", "DSVMOPS_WEBHOOK_SECRET": "hook-secret",
               "ALERT_HMAC": "alert-secret"}
        daemon = stack.enter_context(Daemon(a.dsvmops, config, env))
        daemon.wait_log("event=apply.done", 120)
        arm = Arm(armsim)
        pid = daemon.proc.pid
        t_start = time.monotonic()
        samples.append((0.0, sample(pid)))
        pushes = oob = 0
        last_sha = None
        next_push = t_start + a.push_every
        next_oob = None
        while time.monotonic() - t_start < a.duration:
            now = time.monotonic()
            if now >= next_push:
                new = 4000 + pushes
                last_sha = gs.commit(
                    "dev.yaml",
                    lambda t, n=new: re.sub(r'costCenter: "\d+"', f'costCenter: "{n}"', t, 1),
                    f"push {pushes}")
                code, _ = github_push(daemon.url, "hook-secret", after=last_sha)
                assert code == 202, code
                pushes += 1
                next_push += a.push_every
                next_oob = now + rng.uniform(2, max(2.5, a.push_every - 1))
            if next_oob and now >= next_oob:
                # behind the daemon's back, between pushes
                next_oob = None
                if rng.random() < 0.7:
                    share = arm.get(SHARE, "2025-06-01")
                    share["properties"]["shareQuota"] = rng.choice([110, 120, 130])
                    arm.put(SHARE, "2025-06-01", share)
                    oob += 1
                else:
                    rg = arm.get(RG, "2025-04-01")
                    rg["tags"]["owner"] = f"portal-{pushes}"
                    arm.put(RG, "2025-04-01", rg)
                    oob += 1
            time.sleep(0.5)
            samples.append((time.monotonic() - t_start, sample(pid)))
            assert daemon.proc.poll() is None, "the daemon died"
        st = daemon.wait_status(lambda s: last_sha is None or s["appliedCommit"] == last_sha,
                                timeout=60)
        end = sample(pid)
        samples.append((time.monotonic() - t_start, end))
        # every episode opened or resolved gives exactly one alert: the
        # daemon goes on checking, so count until both stand still
        alerts, logged, settled = [], [], 0
        deadline = time.monotonic() + 60
        while settled < 4 and time.monotonic() < deadline:
            alerts += [e for e in rx.drain(0.5) if e.get("event", "").startswith("drift.")]
            logged = [l for _, l in list(daemon.lines)
                      if "event=drift.opened" in l or "event=drift.resolved" in l]
            settled = settled + 1 if len(alerts) == len(logged) else 0
        assert daemon.stop() == 0
        heals = sum("event=apply.done kind=heal" in l for _, l in daemon.lines)

    first, last = samples[0][1], samples[-1][1]
    quarter = max(1, len(samples) // 4)
    # a leak raises the floor: compare the lowest values of the first and last
    # quarters (the peaks are connections and buffers of a pass in progress)
    early = min(s["rss_kb"] for _, s in samples[:quarter])
    late = min(s["rss_kb"] for _, s in samples[-quarter:])
    early_fd = min(s["fds"] for _, s in samples[:quarter])
    late_fd = min(s["fds"] for _, s in samples[-quarter:])
    peak = max(s["rss_kb"] for _, s in samples)
    peak_fd = max(s["fds"] for _, s in samples)
    print(f"soak: {a.duration:.0f} s, {pushes} pushes, {oob} out-of-band changes, "
          f"{len(logged)} drift episodes opened or resolved, {len(alerts)} alerts, {heals} heals")
    print(f"{'':22}{'RSS MiB':>10}{'fds':>6}{'threads':>9}")
    print(f"{'start':22}{first['rss_kb'] / 1024:>10.1f}{first['fds']:>6}{first['threads']:>9}")
    print(f"{'end':22}{last['rss_kb'] / 1024:>10.1f}{last['fds']:>6}{last['threads']:>9}")
    print(f"{'peak':22}{peak / 1024:>10.1f}{peak_fd:>6}")
    print(f"{'floor, first quarter':22}{early / 1024:>10.1f}{early_fd:>6}")
    print(f"{'floor, last quarter':22}{late / 1024:>10.1f}{late_fd:>6}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"duration_s": a.duration, "pushes": pushes, "oob": oob,
                       "samples": [{"t": t, **s} for t, s in samples]}, f)
    assert len(alerts) == len(logged), (len(alerts), len(logged))
    assert late_fd - early_fd <= a.fd_bound, (early_fd, late_fd)
    assert (late - early) / 1024 <= a.rss_bound_mb, (early, late)
    print("soak: ok")


if __name__ == "__main__":
    main()
