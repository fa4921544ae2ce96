#!/usr/bin/python3
"""Benchmark: `dsvmops validate` on a generated repository.

usage: validate_bench.py DSVMOPS [--pools N] [--bound SECONDS]

Generates N pools with gen-repo into a temporary directory, runs
`dsvmops validate` on it three times and prints the best wall time, the CPU
time and the peak RSS. Exits 1 when validation fails, or when the best run
exceeds --bound (a generous hang guard, not the goal).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run_validate(dsvmops, repo):
    """Run one validate; return wall s, CPU s, peak RSS KiB, exit code, stdout, stderr."""
    with tempfile.TemporaryFile() as o, tempfile.TemporaryFile() as e:
        t0 = time.monotonic()
        p = subprocess.Popen([dsvmops, "validate", repo], stdout=o, stderr=e)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        o.seek(0)
        e.seek(0)
        return (wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, p.returncode,
                o.read().decode(errors="replace"), e.read().decode(errors="replace"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dsvmops")
    ap.add_argument("--pools", type=int, default=10000)
    ap.add_argument("--bound", type=float, default=10.0,
                    help="fail past this many seconds (default 10: 10x the 1 s goal)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dsvm-bench-") as d:
        subprocess.run([sys.executable, os.path.join(HERE, "gen-repo"),
                        "--pools", str(a.pools), d], check=True)
        best = None
        for _ in range(3):
            wall, cpu, rss, code, out, err = run_validate(a.dsvmops, d)
            if code != 0:
                sys.stderr.write(err[:4000])
                print(f"validate_bench: dsvmops validate exited {code}")
                return 1
            if best is None or wall < best[0]:
                best = (wall, cpu, rss, out.strip())
    wall, cpu, rss, out = best
    print(f"validate_bench: {out}")
    print(f"validate_bench: pools={a.pools} wall={wall * 1000:.0f} ms cpu={cpu * 1000:.0f} ms "
          f"peak_rss={rss / 1024:.1f} MB (best of 3; goal < 1000 ms, bound {a.bound:.0f} s)")
    best = wall
    if best > a.bound:
        print("validate_bench: FAIL: slower than the hang guard")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
