#!/usr/bin/python3
"""The safety guards of design rules 2 and 10, through the real CLI (exit 4).

usage: test_guards.py DSVMOPS ARMSIM EXAMPLES_DIR

- replacing a stateful resource (a vault whose location changes) needs
  --allow-replace;
- a resource group that holds a resource dsvmops does not own is never
  deleted, even with --prune;
- a second writer on the same target is refused while the first holds the
  lease, with a message naming the holder.
Each refusal writes nothing (armsim's statistics).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import Armsim, Workdir, dsvmops  # noqa: E402

SUB = "00000000-0000-0000-0000-000000000001"


def arm_put(arm, path, body):
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": "dsvmops-demo",
        "client_secret": "demo-secret",
        "scope": "https://management.azure.com/.default"}).encode()
    with urllib.request.urlopen(
            f"{arm.url}/00000000-0000-0000-0000-0000000000aa/oauth2/v2.0/token", form) as r:
        token = json.load(r)["access_token"]
    req = urllib.request.Request(arm.url + path, method="PUT", data=json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json"})
    urllib.request.urlopen(req).read()


def writes(arm):
    v = arm.stats()["by_verb"]
    return v.get("PUT", 0) + v.get("DELETE", 0) + v.get("POST", 0) + v.get("PATCH", 0)


def main():
    dsvm, armsim_bin, examples = sys.argv[1:4]
    with Armsim(armsim_bin, "--lro-ms", "50") as arm, tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "dev")
        shutil.copytree(os.path.join(examples, "environments", "dev"), repo)
        manifest = os.path.join(repo, "dev.yaml")
        with open(manifest) as f:
            original = f.read()
        with Workdir(arm, repo) as wd:
            c = ["-c", wd.config, "--instance", "e2e"]
            dsvmops(dsvm, "apply", *c, "-q", check=0)

            # 1. a vault moved to another region is a replace: refused without the flag
            with open(manifest, "w") as f:
                f.write(original.replace("  rbac: false\n", "  rbac: false\n  location: northeurope\n"))
            before = writes(arm)
            rc, _, err = dsvmops(dsvm, "apply", *c)
            assert rc == 4 and "--allow-replace" in err and "kv-dsvm-dev" in err, (rc, err)
            assert writes(arm) == before
            with open(manifest, "w") as f:
                f.write(original)

            # 2. an unowned resource in the group: the group is not deleted
            arm_put(arm, f"/subscriptions/{SUB}/resourceGroups/rg-dsvm-dev-westeurope/providers/"
                         "Microsoft.ManagedIdentity/userAssignedIdentities/someone-elses?"
                         "api-version=2023-01-31", {"location": "westeurope"})
            with open(manifest, "w") as f:
                f.write("# everything removed\n")
            before = writes(arm)
            rc, _, err = dsvmops(dsvm, "apply", *c, "--prune", "--allow-deletes", "50")
            assert rc == 4 and "does not own" in err and "someone-elses" in err, (rc, err)
            assert writes(arm) == before
            with open(manifest, "w") as f:
                f.write(original)

        # 3. one writer per target: a second apply while the first holds the lease
        with Armsim(armsim_bin, "--lro-ms", "3000") as slow, \
                Workdir(slow, repo) as wd2:
            env = dict(os.environ, DSVMOPS_CLIENT_SECRET="demo-secret")
            first = subprocess.Popen([dsvm, "apply", "-c", wd2.config, "--instance", "e2e", "-q"],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
            end = time.monotonic() + 20
            while slow.stats()["by_verb"].get("PUT", 0) == 0 and time.monotonic() < end:
                time.sleep(0.05)
            rc, _, err = dsvmops(dsvm, "apply", "-c", wd2.config, "--instance", "e2e")
            assert rc == 4 and "locked by dsvmops apply (pid" in err, (rc, err)
            out, err = first.communicate(timeout=60)
            assert first.returncode == 0, (out, err)
    print("test_guards: ok")


if __name__ == "__main__":
    main()
