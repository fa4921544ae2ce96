#!/usr/bin/python3
"""SIGTERM in the middle of the daemon's apply leaves a consistent journal.

The daemon applies the dev example against armsim with slow LROs; after
its first writes it gets SIGTERM. It must exit 0 promptly, the run must be
recorded as interrupted with no journal entry left without an outcome,
and every PUT armsim saw must have been journalled first. A restarted
daemon finishes the job: the next plan is empty and nothing was created
twice.

usage: test_daemon_sigterm.py DSVMOPS ARMSIM EXAMPLES_DIR
"""
import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_util import Armsim, Daemon, GitServer, http, write_config  # noqa: E402


def journal(state):
    db = sqlite3.connect(state)
    try:
        return (db.execute("SELECT id, kind, outcome FROM runs ORDER BY id").fetchall(),
                db.execute("SELECT count(*) FROM journal WHERE outcome = ''").fetchone()[0],
                db.execute("SELECT count(*) FROM journal WHERE method = 'PUT'").fetchone()[0])
    finally:
        db.close()


def main():
    dsvm, armsim_bin, examples = sys.argv[1:4]
    env = {"DSVMOPS_CLIENT_SECRET": "demo-secret", "DSVMOPS_WEBHOOK_SECRET": "hook-secret"}
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="dsvm-daemon-term-"))
        arm = stack.enter_context(Armsim(armsim_bin, "--lro-ms", "1500"))
        gs = stack.enter_context(GitServer(tmp, os.path.join(examples, "environments", "dev")))
        config = os.path.join(tmp, "dsvmops.yaml")
        write_config(config, arm, gs.url, "drift: {interval: 60s}\n")
        state = os.path.join(tmp, "state.db")
        daemon = stack.enter_context(Daemon(dsvm, config, env))
        daemon.wait_log("event=apply.start", 60)
        deadline = time.monotonic() + 30
        while arm.stats()["by_verb"].get("PUT", 0) < 3:
            assert time.monotonic() < deadline, "the daemon sent no writes"
            time.sleep(0.05)
        # the gauge of LROs in flight sees the slow operations
        in_flight = 0
        while in_flight < 1 and time.monotonic() < deadline:
            _, metrics = http("GET", daemon.url + "/metrics")
            line = [l for l in metrics.splitlines() if l.startswith("dsvmops_lro_in_flight ")]
            in_flight = float(line[0].split()[1]) if line else 0
            time.sleep(0.05)
        assert in_flight >= 1, "dsvmops_lro_in_flight never rose during the apply"
        print(f"test_daemon_sigterm: {in_flight:.0f} LROs in flight when stopped")
        t0 = time.monotonic()
        assert daemon.stop(timeout=60) == 0
        print(f"test_daemon_sigterm: stopped {time.monotonic() - t0:.2f} s after SIGTERM")
        assert any("event=daemon.stopping" in l for _, l in daemon.lines)
        runs, unfinished, journalled = journal(state)
        assert runs and runs[-1][2] == "interrupted", runs
        assert unfinished == 0, unfinished
        seen = arm.stats()["by_verb"]["PUT"]
        assert seen <= journalled, (seen, journalled)
        puts_first = seen

        # a new daemon finishes the job
        daemon = stack.enter_context(Daemon(dsvm, config, env))
        daemon.wait_log("event=apply.done", 90)
        assert daemon.stop() == 0
        r = subprocess.run([dsvm, "plan", "-c", config, "--detailed-exitcode"],
                           capture_output=True, text=True, env=dict(os.environ, **env))
        assert r.returncode == 0, r.stdout + r.stderr
        runs, unfinished, journalled = journal(state)
        assert unfinished == 0 and runs[-1][2] == "succeeded", runs
        total = arm.stats()["by_verb"]["PUT"]
        assert total <= journalled, (total, journalled)
        # nothing written twice: the second daemon wrote only what was left
        r = subprocess.run([dsvm, "plan", "-c", config, "--format", "json"],
                           capture_output=True, text=True, env=dict(os.environ, **env))
        n_resources = r.stdout.count('"action": "no-op"')
        assert total <= n_resources + 1, (total, n_resources, puts_first)
        print(f"test_daemon_sigterm: {puts_first} PUTs before SIGTERM, {total} in all "
              f"for {n_resources} resources")
    print("test_daemon_sigterm: ok")


if __name__ == "__main__":
    main()
