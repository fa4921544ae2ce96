#!/usr/bin/python3
"""The in-sync plan against armsim, for one or more dsvmops builds.

usage: plan_armsim.py ARMSIM DSVMOPS [DSVMOPS...] [--pools N] [--latency-ms MS]
                      [--runs R] [--keep DIR]

Seeds armsim as reconcile_bench.py does (each vault, its secret, then an
unthrottled apply of gen-repo's N pools, with the first DSVMOPS), then
restarts armsim on that state with --latency-ms and ARM's default
throttling and runs `dsvmops plan` R times with each build, alternating,
so that builds can be compared on the same live state and the same load.
Prints wall, CPU, peak RSS, GETs and 429s per run. With --keep DIR the
repository and armsim's state live in DIR and a later run reuses them.
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from e2e import Armsim, Workdir, dsvmops, put_secret  # noqa: E402


def seed(dsv, armsim, repo, state, pools):
    subprocess.run([sys.executable, os.path.join(HERE, "..", "bench", "gen-repo"), "--pools",
                    str(pools), repo], check=True, stderr=subprocess.DEVNULL)
    groups = sorted(d for d in os.listdir(repo) if d.startswith("rg-bench-"))
    with Armsim(armsim, "--state", state, "--throttle", "off", "--lro-ms", "0") as arm, \
            Workdir(arm, repo) as wd:
        c = ["-c", wd.config, "--rate-limits", "off", "--instance", "bench", "-q"]
        for g in groups:
            kv = "kv-bench-" + g.split("-")[-1]
            dsvmops(dsv, "apply", *c, "--target", "KeyVault/" + kv, check=0)
            put_secret(arm, kv, "local-admin", "Bench-Admin-Secret-1!")
        rc, out, _ = dsvmops(dsv, "apply", *c, "--parallelism", "64", check=0)
        if rc != 0:
            sys.exit(f"plan_armsim: seeding apply failed: {out[-2000:]}")


def run(dir_, a):
    repo, state = os.path.join(dir_, "repo"), os.path.join(dir_, "armsim.db")
    if not os.path.exists(state):
        seed(a.dsvmops[0], a.armsim, repo, state, a.pools)
    print(f"plan_armsim: {a.pools} pools, armsim --latency-ms {a.latency_ms}, "
          f"ARM default throttling; load average {os.getloadavg()[0]:.1f}")
    print(f"{'build':40} {'wall s':>7} {'cpu s':>6} {'rss MB':>7} {'GET':>5} {'429':>4} load")
    with Armsim(a.armsim, "--state", state, "--latency-ms", str(a.latency_ms)) as arm:
        # a state store per build: builds may differ in its schema
        wds = [Workdir(arm, repo) for _ in a.dsvmops]
        for _ in range(a.runs):
            for dsv, wd in zip(a.dsvmops, wds):
                arm.reset_stats()
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.monotonic()
                p = subprocess.run([dsv, "plan", "-c", wd.config, "--instance", "bench",
                                    "--detailed-exitcode"], capture_output=True, text=True,
                                   env=dict(os.environ, DSVMOPS_CLIENT_SECRET="demo-secret"))
                wall = time.monotonic() - t0
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                st = arm.stats()
                if p.returncode != 0:
                    sys.exit(f"plan_armsim: {dsv} plan exited {p.returncode}: "
                             f"{(p.stdout + p.stderr)[-2000:]}")
                # ru_maxrss of children is the largest so far, not this run's
                print(f"{dsv[-40:]:40} {wall:7.2f} {cpu:6.2f} {after.ru_maxrss / 1024:7.1f} "
                      f"{st['by_verb'].get('GET', 0):5d} {st.get('throttled', 0):4d} "
                      f"{os.getloadavg()[0]:.1f}")
        for wd in wds:
            wd.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("armsim")
    ap.add_argument("dsvmops", nargs="+")
    ap.add_argument("--pools", type=int, default=1000)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep")
    a = ap.parse_args()
    if a.keep:
        os.makedirs(a.keep, exist_ok=True)
        run(a.keep, a)
    else:
        with tempfile.TemporaryDirectory(prefix="dsvm-plan-") as tmp:
            run(tmp, a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
