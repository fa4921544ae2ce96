#!/usr/bin/python3
"""Benchmark: plan and apply of a generated repository against armsim.

usage: reconcile_bench.py DSVMOPS ARMSIM [--pools N] [--latency-ms MS] [--json FILE]

1. Seeds armsim (throttling off, no latency, state in a file) by applying a
   repository of N pools from gen-repo: each group's vault first, then the
   secrets a security team would store, then everything (client buckets off).
2. Restarts armsim on the same state with --latency-ms and ARM's default
   throttling, and measures:
   - plan of the in-sync repository (wall time, ARM requests by verb, 429s);
   - no-op apply (must send zero writes);
   - the baseline: Terraform's read pattern, one GET per resource with 10
     in flight, against the same armsim.
Prints one table and optionally writes the figures as JSON.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from e2e import Armsim, Workdir, dsvmops, put_secret  # noqa: E402

def token(arm):
    import urllib.parse
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": "dsvmops-demo",
        "client_secret": "demo-secret",
        "scope": "https://management.azure.com/.default"}).encode()
    with urllib.request.urlopen(
            f"{arm.url}/00000000-0000-0000-0000-0000000000aa/oauth2/v2.0/token", form) as r:
        return json.load(r)["access_token"]


def baseline(arm, resources):
    """One GET per resource, 10 at a time, as Terraform refreshes."""
    tok = token(arm)
    todo = list(resources)
    lock = threading.Lock()
    errors = [0]

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                rid, api = todo.pop()
            req = urllib.request.Request(f"{arm.url}{rid}?api-version={api}",
                                         headers={"Authorization": "Bearer " + tok})
            for _ in range(20):
                try:
                    urllib.request.urlopen(req).read()
                    break
                except urllib.error.HTTPError as e:
                    if e.code != 429:
                        with lock:
                            errors[0] += 1
                        break
                    # as the Azure SDK does: wait as long as ARM asks
                    time.sleep(float(e.headers.get("Retry-After", "1")))

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0, errors[0]


def timed(fn):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    out = fn()
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out, wall, cpu, after.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dsvmops")
    ap.add_argument("armsim")
    ap.add_argument("--pools", type=int, default=100)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--json")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="dsvm-bench-") as tmp:
        repo = os.path.join(tmp, "repo")
        state = os.path.join(tmp, "armsim.db")
        subprocess.run([sys.executable, os.path.join(HERE, "gen-repo"), "--pools",
                        str(a.pools), repo], check=True, stderr=subprocess.DEVNULL)
        groups = sorted(d for d in os.listdir(repo) if d.startswith("rg-bench-"))
        with Armsim(a.armsim, "--state", state, "--throttle", "off", "--lro-ms", "0") as arm, \
                Workdir(arm, repo) as wd:
            c = ["-c", wd.config, "--rate-limits", "off", "--instance", "bench", "-q"]
            for g in groups:
                kv = "kv-bench-" + g.split("-")[-1]
                dsvmops(a.dsvmops, "apply", *c, "--target", "KeyVault/" + kv, check=0)
                put_secret(arm, kv, "local-admin", "Bench-Admin-Secret-1!")
            (_, out, _), wall, cpu, rss = timed(
                lambda: dsvmops(a.dsvmops, "apply", *c, "--parallelism", "64", check=0))
            seeded = arm.stats()
            rows.append(("seed apply (unthrottled)", wall, cpu, rss, seeded))
            live = json.loads(dsvmops(a.dsvmops, "plan", "-c", wd.config, "--instance", "bench",
                                      "--format", "json", "--rate-limits", "off",
                                      check=0)[1])["resources"]
        with Armsim(a.armsim, "--state", state, "--latency-ms", str(a.latency_ms)) as arm, \
                Workdir(arm, repo) as wd:
            c = ["-c", wd.config, "--instance", "bench"]
            arm.reset_stats()
            (rc, out, _), wall, cpu, rss = timed(
                lambda: dsvmops(a.dsvmops, "plan", *c, "--detailed-exitcode"))
            assert rc == 0, out[-2000:]
            rows.append(("plan, in sync", wall, cpu, rss, arm.stats()))
            arm.reset_stats()
            (rc, out, _), wall, cpu, rss = timed(lambda: dsvmops(a.dsvmops, "apply", *c, "-q"))
            st = arm.stats()
            assert rc == 0 and st["by_verb"].get("PUT", 0) == 0, (rc, st)
            rows.append(("no-op apply", wall, cpu, rss, st))
            arm.reset_stats()
            ids = [(r["id"], r["apiVersion"]) for r in live]
            _, wall, _, _ = timed(lambda: baseline(arm, ids))
            rows.append(("baseline: GET each, 10 parallel", wall, 0.0, 0.0, arm.stats()))
    print(f"\nreconcile_bench: {a.pools} pools, {len(live)} resources, "
          f"armsim --latency-ms {a.latency_ms}, ARM default throttling (seed unthrottled)")
    print(f"{'row':34} {'wall s':>8} {'cpu s':>7} {'rss MB':>7} {'GET':>6} {'PUT':>6} "
          f"{'DEL':>5} {'429':>5}")
    out = []
    for name, wall, cpu, rss, st in rows:
        v = st["by_verb"]
        print(f"{name:34} {wall:8.2f} {cpu:7.2f} {rss:7.1f} {v.get('GET', 0):6d} "
              f"{v.get('PUT', 0):6d} {v.get('DELETE', 0):5d} {st.get('throttled', 0):5d}")
        out.append({"row": name, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                    "peak_rss_mb": round(rss, 1), "requests": v,
                    "throttled": st.get("throttled", 0)})
    plan_gets = rows[1][4]["by_verb"].get("GET", 0)
    base = rows[3]
    print(f"plan reads vs baseline: {plan_gets} vs {base[4]['by_verb'].get('GET', 0)} GETs; "
          f"wall {rows[1][1]:.2f} s vs {base[1]:.2f} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"pools": a.pools, "resources": len(live), "latency_ms": a.latency_ms,
                       "rows": out}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
