#!/usr/bin/python3
"""dsvmops status: where each target setting came from, and the state store.

usage: test_status.py DSVMOPS ARMSIM EXAMPLES_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import Armsim, Workdir  # noqa: E402


def status(dsvm, config, env=None):
    r = subprocess.run([dsvm, "status", "-c", config, "--format", "json"], capture_output=True,
                       text=True, env=dict(os.environ, **(env or {})), timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), r.stdout


def main():
    dsvm, armsim_bin, examples = sys.argv[1:4]
    with Armsim(armsim_bin) as arm, tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "dev")
        shutil.copytree(os.path.join(examples, "environments", "dev"), repo)
        with Workdir(arm, repo) as wd:
            # the tenant comes from the Azure SDK variable when the file leaves it out
            with open(wd.config) as f:
                text = f.read()
            with open(wd.config, "w") as f:
                f.write(text.replace("  tenant: 00000000-0000-0000-0000-0000000000aa\n", ""))
            env = {"AZURE_TENANT_ID": "00000000-0000-0000-0000-0000000000aa",
                   "DSVMOPS_CLIENT_SECRET": "never-printed-secret"}
            doc, raw = status(dsvm, wd.config, env)
            t = doc["target"]
            assert t["tenant"]["origin"] == "env" and t["tenant"]["env"] == "AZURE_TENANT_ID", t
            assert t["subscription"]["origin"] == "file" and t["subscription"]["line"] == 3, t
            assert t["audience"]["origin"] == "default", t
            assert "never-printed-secret" not in raw
            assert doc["state"]["exists"] is False and "lastRun" not in doc["state"]

            r = subprocess.run([dsvm, "apply", "-c", wd.config, "--instance", "e2e", "-q"],
                               capture_output=True, text=True, timeout=120,
                               env=dict(os.environ, **dict(env, DSVMOPS_CLIENT_SECRET="demo-secret")))
            assert r.returncode == 0, r.stderr
            doc, _ = status(dsvm, wd.config, env)
            st = doc["state"]
            assert st["exists"] and st["lastRun"]["outcome"] == "succeeded", st
            assert st["unfinishedWrites"] == 0 and st["openDrift"] == [], st
            out = subprocess.run([dsvm, "status", "-c", wd.config], capture_output=True,
                                 text=True, env=dict(os.environ, **env)).stdout
            assert "env (AZURE_TENANT_ID)" in out and "last run       1 apply" in out, out
    print("test_status: ok")


if __name__ == "__main__":
    main()
