#!/usr/bin/python3
"""Fault campaigns: applies under armsim's fault injection converge.

usage: test_campaigns.py DSVMOPS ARMSIM EXAMPLES_DIR

Each campaign applies examples/environments/dev against an armsim that
injects one kind of fault, applies again if the first run could not finish,
and checks convergence:
  - the next plan is empty (exit 0 with --detailed-exitcode);
  - no resource exists twice (the generic resource list holds each owned
    resource once);
  - the journal has no write without an outcome;
  - every PUT armsim answered was journalled first.
Campaigns: 20% 503s; a 429 storm with long Retry-After; connection resets;
an LRO that ends Failed and succeeds on retry; armsim killed with -9 and
restarted on its state file in the middle of an apply.
"""
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from e2e import Armsim, Workdir, dsvmops  # noqa: E402

SUB = "00000000-0000-0000-0000-000000000001"


def token(url):
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": "dsvmops-demo",
        "client_secret": "demo-secret",
        "scope": "https://management.azure.com/.default"}).encode()
    with urllib.request.urlopen(
            f"{url}/00000000-0000-0000-0000-0000000000aa/oauth2/v2.0/token", form) as r:
        return json.load(r)["access_token"]


def owned_ids(url):
    """IDs of the resources tagged by instance e2e, via the generic list."""
    tok = token(url)
    out, link = [], (f"{url}/subscriptions/{SUB}/resources?api-version=2021-04-01&"
                     "$filter=" + urllib.parse.quote("tagName eq 'dsvmops-instance' and "
                                                     "tagValue eq 'e2e'"))
    while link:
        req = urllib.request.Request(link, headers={"Authorization": "Bearer " + tok})
        with urllib.request.urlopen(req) as r:
            page = json.load(r)
        out += [x["id"].lower() for x in page.get("value", [])]
        link = page.get("nextLink")
    return out


def journal(state):
    db = sqlite3.connect(state)
    try:
        unfinished = db.execute("SELECT count(*) FROM journal WHERE outcome = ''").fetchone()[0]
        puts = db.execute("SELECT count(DISTINCT lower(resource_id)) FROM journal"
                          " WHERE method = 'PUT'").fetchone()[0]
        runs = [r[0] for r in db.execute("SELECT outcome FROM runs ORDER BY id")]
        return unfinished, puts, runs
    finally:
        db.close()


def converge(dsvm, wd, arm_url, puts_seen, label, max_runs=6):
    """Apply until it succeeds (at most max_runs), then check convergence."""
    c = ["-c", wd.config, "--instance", "e2e", "-q"]
    codes = []
    for _ in range(max_runs):
        rc, out, err = dsvmops(dsvm, "apply", *c)
        codes.append(rc)
        if rc == 0:
            break
        # 3: some writes failed, the rest applied; 1: live state could not be
        # read even after retries, so nothing was written. Both are retried.
        assert rc == 3 or (rc == 1 and "reading live state" in err), \
            (label, rc, out[-1500:], err[-1500:])
    assert codes[-1] == 0, (label, codes)
    # the checks below read armsim themselves: no more injected faults
    urllib.request.urlopen(urllib.request.Request(arm_url + "/_armsim/faults",
                                                  method="DELETE")).read()
    if len(codes) > 1:
        # the run after a failure really wrote (a Failed resource is re-applied)
        assert journal(os.path.join(wd.dir, "state.db"))[2][-1] == "succeeded", label
    rc, out, _ = dsvmops(dsvm, "plan", *c[:-1], "--detailed-exitcode")
    assert rc == 0, (label, out[-2000:])
    ids = owned_ids(arm_url)
    assert len(ids) == len(set(ids)), (label, "a resource exists twice", ids)
    unfinished, journalled, runs = journal(os.path.join(wd.dir, "state.db"))
    assert unfinished == 0, (label, "journal entries without an outcome")
    # every resource was written through a journalled intent; armsim saw at
    # least that many PUTs (retries of one write are one journal entry)
    _, js, _ = dsvmops(dsvm, "plan", *c[:-1], "--format", "json", check=0)
    resources = len(json.loads(js)["resources"])
    assert journalled == resources <= puts_seen(), (label, journalled, resources, puts_seen())
    print(f"{label}: converged after {len(codes)} apply run(s) {codes}; runs {runs}; "
          f"{resources} resources, {puts_seen()} PUTs seen by armsim")


def campaign(dsvm, armsim_bin, examples, label, *armsim_args):
    with tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "dev")
        shutil.copytree(os.path.join(examples, "environments", "dev"), repo)
        with Armsim(armsim_bin, "--lro-ms", "200", *armsim_args) as arm, \
                Workdir(arm, repo) as wd:
            converge(dsvm, wd, arm.url, lambda: arm.stats()["by_verb"].get("PUT", 0), label)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def armsim_restart(dsvm, armsim_bin, examples):
    """armsim is killed with -9 mid-apply and restarted on its state file."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "dev")
        shutil.copytree(os.path.join(examples, "environments", "dev"), repo)
        state = os.path.join(tmp, "armsim.db")
        port = free_port()
        args = [armsim_bin, "--listen", f"127.0.0.1:{port}", "--state", state, "--lro-ms", "1500"]

        def start():
            p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 text=True)
            assert p.stdout.readline().startswith("armsim listening on ")
            return p

        class Url:
            url = f"http://127.0.0.1:{port}"

        arm = start()
        puts = [0]
        try:
            with Workdir(Url, repo) as wd:
                env = dict(os.environ, DSVMOPS_CLIENT_SECRET="demo-secret")
                p = subprocess.Popen([dsvm, "apply", "-c", wd.config, "--instance", "e2e", "-q"],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
                end = time.monotonic() + 20
                while time.monotonic() < end:
                    with urllib.request.urlopen(Url.url + "/_armsim/stats") as r:
                        n = json.load(r)["requests"]["by_verb"].get("PUT", 0)
                    if n >= 3:
                        break
                    time.sleep(0.05)
                puts[0] = n
                arm.send_signal(signal.SIGKILL)
                arm.wait()
                time.sleep(1.0)
                arm = start()
                out, err = p.communicate(timeout=120)
                assert p.returncode in (0, 3), (p.returncode, out[-1500:], err[-1500:])
                # armsim's statistics start again after the restart
                def seen():
                    with urllib.request.urlopen(Url.url + "/_armsim/stats") as r:
                        return puts[0] + json.load(r)["requests"]["by_verb"].get("PUT", 0)

                converge(dsvm, wd, Url.url, seen, "armsim kill -9 and restart")
        finally:
            arm.terminate()
            arm.wait()


def main():
    dsvm, armsim_bin, examples = sys.argv[1:4]
    campaign(dsvm, armsim_bin, examples, "20% 503s",
             "--fault", '{"method": "*", "type": "*", "status": 503, "probability": 0.2}')
    campaign(dsvm, armsim_bin, examples, "429 storm, Retry-After 2",
             "--fault", '{"method": "*", "type": "*", "status": 429, "retry_after": 2, '
                        '"count": 12}')
    campaign(dsvm, armsim_bin, examples, "connection resets",
             "--fault", '{"method": "*", "type": "*", "reset": true, "probability": 0.15, '
                        '"count": 10}')
    campaign(dsvm, armsim_bin, examples, "LRO Failed, then succeeds",
             "--fault", '{"method": "PUT", "type": "Microsoft.Compute/virtualMachineScaleSets", '
                        '"lro_result": "Failed", "count": 1}')
    armsim_restart(dsvm, armsim_bin, examples)
    print("test_campaigns: ok")


if __name__ == "__main__":
    main()
