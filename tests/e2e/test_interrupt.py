#!/usr/bin/python3
"""Interrupted applies converge (design rule 9).

usage: test_interrupt.py DSVMOPS ARMSIM EXAMPLES_DIR

- kill -9 at random points of repeated applies, then apply again: the journal's
  unfinished writes are settled against what is observed, the run is marked
  interrupted, nothing is created twice, and the next plan is empty;
- SIGTERM in the middle of an apply: writes on the wire finish, nothing new
  starts, the exit code is 3 and the run is recorded as interrupted; the
  next apply finishes the job.
"""
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import Armsim, Workdir, dsvmops  # noqa: E402


def start_apply(dsvm, config):
    env = dict(os.environ, DSVMOPS_CLIENT_SECRET="demo-secret")
    return subprocess.Popen([dsvm, "apply", "-c", config, "--instance", "e2e"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_puts(arm, n, p, timeout=20):
    """Wait until armsim has seen `n` PUTs; False if the apply ended first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if arm.stats()["by_verb"].get("PUT", 0) >= n:
            return True
        if p.poll() is not None:
            return False
        time.sleep(0.05)
    raise AssertionError("the apply sent no writes")


def runs(state):
    db = sqlite3.connect(state)
    try:
        return db.execute("SELECT id, outcome FROM runs ORDER BY id").fetchall(), \
            db.execute("SELECT count(*) FROM journal WHERE outcome = ''").fetchone()[0]
    finally:
        db.close()


def journal_puts(state):
    db = sqlite3.connect(state)
    try:
        return db.execute("SELECT count(*) FROM journal WHERE method = 'PUT'").fetchone()[0]
    finally:
        db.close()


def scenario(dsvm, armsim_bin, examples, sig, kills=1):
    rnd = random.Random(4711)
    with Armsim(armsim_bin, "--lro-ms", "1500") as arm, tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "dev")
        shutil.copytree(os.path.join(examples, "environments", "dev"), repo)
        with Workdir(arm, repo) as wd:
            state = os.path.join(wd.dir, "state.db")
            for k in range(kills):
                seen = arm.stats()["by_verb"].get("PUT", 0)
                p = start_apply(dsvm, wd.config)
                if wait_for_puts(arm, seen + rnd.randint(1, 3), p):
                    time.sleep(rnd.uniform(0, 0.8))
                    p.send_signal(sig)
                out, err = p.communicate(timeout=60)
                if p.returncode == 0:
                    break  # it finished before the signal: nothing left to cut
                if sig == signal.SIGKILL:
                    assert p.returncode == -signal.SIGKILL
            if sig != signal.SIGKILL:
                assert p.returncode == 3, (p.returncode, out, err)
                assert "Apply interrupted" in out, out
                (r1,), unfinished = runs(state)
                assert r1[1] == "interrupted" and unfinished == 0, (r1, unfinished)
            puts_before = arm.stats()["by_verb"].get("PUT", 0)
            _, unfinished_before = runs(state)

            rc, out, err = dsvmops(dsvm, "apply", "-c", wd.config, "--instance", "e2e")
            assert rc == 0, (rc, out, err)
            if unfinished_before:
                assert "writes of an interrupted earlier run" in out, out
            history, unfinished = runs(state)
            # the last run finished what was left, unless nothing was left
            assert history[0][1] == "interrupted", history
            assert history[-1][1] == "succeeded" or "No changes." in out, (history, out)
            assert all(o in ("interrupted", "succeeded") for _, o in history), history
            assert unfinished == 0
            # history agrees with armsim: every PUT armsim saw was journalled
            # first (an intent may have been cut off before it was sent)
            seen = arm.stats()["by_verb"]["PUT"]
            journalled = journal_puts(state)
            assert seen <= journalled <= seen + len(history) * 16, (seen, journalled)
            rc, out, _ = dsvmops(dsvm, "plan", "-c", wd.config, "--instance", "e2e",
                                 "--detailed-exitcode")
            assert rc == 0, out
            # no resource was created twice: every PUT of the second run went to
            # a resource the first run had not written
            total = arm.stats()["by_verb"]["PUT"]
            rc, js, _ = dsvmops(dsvm, "plan", "-c", wd.config, "--instance", "e2e",
                                "--format", "json", check=0)
            n_resources = js.count('"action": "no-op"')
            assert total <= n_resources + 1, (total, n_resources, puts_before)
            print(f"{signal.Signals(sig).name}: first run sent {puts_before} PUTs, "
                  f"{total} in all for {n_resources} resources")


def main():
    dsvm, armsim_bin, examples = sys.argv[1:4]
    scenario(dsvm, armsim_bin, examples, signal.SIGKILL, kills=4)
    scenario(dsvm, armsim_bin, examples, signal.SIGTERM)
    print("test_interrupt: ok")


if __name__ == "__main__":
    main()
