#!/usr/bin/python3
"""Benchmark: a full apply against armsim, held against design rule 7's bound.

usage: apply_bench.py DSVMOPS ARMSIM [--pools N] [--latency-ms MS] [--lro-ms MS]
                      [--throttle SPEC] [--json FILE]

Generates N pools, applies each group's vault first and stores the secrets a
security team would (not measured), then measures one full apply with ARM's
default throttling on both sides. The lower bound is the largest of:
  longest dependency chain x (latency + LRO time);
  (writes - 200 burst) / 10 per s;  (deletes - 200) / 10 per s;
  (reads incl. LRO polls - 250 burst) / 25 per s.
Prints wall time, requests by verb, 429s, the bound and the ratio.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from e2e import Armsim, Workdir, dsvmops, put_secret  # noqa: E402


def longest_chain(dot):
    """Longest path, in nodes, through the DOT graph dsvmops graph prints."""
    edges = re.findall(r"n(\d+) -> n(\d+);", dot)
    nodes = set(re.findall(r"^\s+n(\d+) \[", dot, re.M))
    succ = {n: [] for n in nodes}
    indeg = {n: 0 for n in nodes}
    for a, b in edges:
        succ[a].append(b)
        indeg[b] += 1
    depth = {n: 1 for n in nodes}
    ready = [n for n in nodes if indeg[n] == 0]
    while ready:
        n = ready.pop()
        for m in succ[n]:
            depth[m] = max(depth[m], depth[n] + 1)
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    return max(depth.values()) if depth else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dsvmops")
    ap.add_argument("armsim")
    ap.add_argument("--pools", type=int, default=200)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--lro-ms", type=int, default=2000)
    ap.add_argument("--settle", type=float, default=25.0,
                    help="seconds to let the client buckets refill after the set-up")
    ap.add_argument("--json")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dsvm-apply-bench-") as tmp:
        repo = os.path.join(tmp, "repo")
        subprocess.run([sys.executable, os.path.join(HERE, "gen-repo"), "--pools",
                        str(a.pools), repo], check=True, stderr=subprocess.DEVNULL)
        groups = sorted(d for d in os.listdir(repo) if d.startswith("rg-bench-"))
        with Armsim(a.armsim, "--latency-ms", str(a.latency_ms), "--lro-ms",
                    str(a.lro_ms)) as arm, Workdir(arm, repo) as wd:
            c = ["-c", wd.config, "--instance", "bench"]
            for g in groups:
                kv = "kv-bench-" + g.split("-")[-1]
                dsvmops(a.dsvmops, "apply", *c, "-q", "--target", "KeyVault/" + kv, check=0)
                put_secret(arm, kv, "local-admin", "Bench-Admin-Secret-1!")
            _, dot, _ = dsvmops(a.dsvmops, "graph", *c, "--format", "dot", check=0)
            chain = longest_chain(dot)
            # let the buckets refill after the set-up, as a fresh run would see them
            time.sleep(a.settle)
            arm.reset_stats()
            t0 = time.monotonic()
            rc, out, err = dsvmops(a.dsvmops, "apply", *c, "-q")
            wall = time.monotonic() - t0
            st = arm.stats()
    assert rc == 0, (rc, out[-3000:], err[-3000:])
    v = st["by_verb"]
    writes = v.get("PUT", 0) + v.get("PATCH", 0) + v.get("POST", 0)
    deletes = v.get("DELETE", 0)
    reads = v.get("GET", 0) + v.get("HEAD", 0)
    lat = a.latency_ms / 1000.0
    bounds = {
        "chain": chain * (lat + a.lro_ms / 1000.0),
        "writes": max(0, writes - 200) / 10.0,
        "deletes": max(0, deletes - 200) / 10.0,
        "reads": max(0, reads - 250) / 25.0,
    }
    bound_name = max(bounds, key=bounds.get)
    bound = bounds[bound_name]
    total = st["total"]
    print(f"\napply_bench: {a.pools} pools, armsim --latency-ms {a.latency_ms} "
          f"--lro-ms {a.lro_ms}, ARM default throttling")
    print(f"  wall {wall:.1f} s; requests {total} ({', '.join(f'{k} {n}' for k, n in sorted(v.items()))}); "
          f"LRO polls {st.get('lro_polls', 0)}; 429s {st.get('throttled', 0)} "
          f"({100.0 * st.get('throttled', 0) / max(total, 1):.2f}% of requests)")
    print(f"  lower bound {bound:.1f} s ({bound_name}; chain {chain} x "
          f"{lat + a.lro_ms / 1000.0:.2f} s = {bounds['chain']:.1f} s, writes {bounds['writes']:.1f} s, "
          f"reads {bounds['reads']:.1f} s); ratio {wall / bound if bound else 0:.2f} (goal <= 1.3)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"pools": a.pools, "wall_s": wall, "requests": v, "stats": st,
                       "bounds": bounds, "ratio": wall / bound if bound else None}, f, indent=2)
    if bound and wall > 10 * bound:
        print("apply_bench: FAIL: more than 10x the lower bound (a hang, not a slow run)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
