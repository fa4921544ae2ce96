#!/usr/bin/python3
"""Saved plans: plan -o plan.json --format json, then apply --plan plan.json.

usage: test_saved_plan.py DSVMOPS ARMSIM EXAMPLES_DIR

A saved plan applies exactly what it shows, with the options it was made
with. When the live state moves after the plan was made (a tag changed
out of band, straight through the ARM API), the manifests change, or the
Git source has a new commit, apply --plan refuses with exit 4, says what moved, and writes nothing.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import Armsim, Workdir, dsvmops  # noqa: E402

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-dsvm-prod-eastus"
RG_API = "2025-04-01"


def arm_token(arm):
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": "dsvmops-demo",
        "client_secret": "demo-secret", "scope": "https://management.azure.com/.default"}).encode()
    tenant = "00000000-0000-0000-0000-0000000000aa"
    with urllib.request.urlopen(f"{arm.url}/{tenant}/oauth2/v2.0/token", form) as r:
        return json.load(r)["access_token"]


def arm_call(arm, method, path, body=None):
    req = urllib.request.Request(
        f"{arm.url}{path}?api-version={RG_API}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": "Bearer " + arm_token(arm),
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def git(repo, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", "-C", repo, *args], check=True, env=env, capture_output=True,
                          text=True).stdout.strip()


def writes(arm):
    v = arm.stats()["by_verb"]
    return v.get("PUT", 0) + v.get("PATCH", 0) + v.get("DELETE", 0)


def main():
    dsvm, armsim_bin, examples = sys.argv[1:4]
    with Armsim(armsim_bin, "--lro-ms", "50") as arm, tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "prod")
        shutil.copytree(os.path.join(examples, "environments", "prod"), repo)
        with Workdir(arm, repo) as wd:
            c = ["-c", wd.config, "--instance", "e2e"]
            saved = os.path.join(tmp, "plan.json")

            # a saved plan of the vault and what it needs: nothing is written yet
            dsvmops(dsvm, "plan", *c, "--target", "KeyVault/kv-dsvm-prod", "-o", saved,
                    "--format", "json", check=0)
            assert writes(arm) == 0
            with open(saved) as f:
                doc = json.load(f)
            assert doc["formatVersion"] == 1 and len(doc["liveFingerprint"]) == 64, doc.keys()
            assert doc["options"] == {"instance": "e2e", "target": "KeyVault/kv-dsvm-prod",
                                      "prune": False, "adopt": False}, doc["options"]
            assert doc["commit"] is None  # a plain directory has no commit
            creates = [r["id"] for r in doc["resources"] if r["action"] == "create"]
            assert len(creates) == doc["summary"]["create"] > 3, doc["summary"]
            assert set(doc["liveResources"].values()) == {"absent"}, doc["liveResources"]

            # it applies exactly that plan: the target comes from the file
            rc, out, err = dsvmops(dsvm, "apply", "-c", wd.config, "--plan", saved)
            assert rc == 0 and "Apply complete" in out, (rc, out, err)
            st = arm.stats()
            assert st["by_verb"]["PUT"] == len(creates), (st, creates)
            assert writes(arm) == len(creates)

            # a plan that conflicts with the file's options is refused up front
            rc, _, err = dsvmops(dsvm, "apply", "-c", wd.config, "--plan", saved,
                                 "--instance", "other")
            assert rc == 1 and "made for --instance e2e" in err, (rc, err)

            # the manifests change: a new tag on the group, saved as a plan
            rgs = os.path.join(repo, "00-resource-groups.yaml")
            with open(rgs) as f:
                text = f.read()
            with open(rgs, "w") as f:
                f.write(text.replace("    environment: prod\n",
                                     "    environment: prod\n    tier: gold\n", 1))
            dsvmops(dsvm, "plan", *c, "--target", "ResourceGroup/rg-dsvm-prod-eastus",
                    "-o", saved, "--format", "json", check=0)
            with open(saved) as f:
                doc = json.load(f)
            assert doc["summary"]["update"] == 1, doc["summary"]

            # someone changes the group's tags straight through ARM
            body = arm_call(arm, "GET", RG)
            tags = dict(body.get("tags") or {}, changedBy="portal")
            arm_call(arm, "PUT", RG, {"location": body["location"], "tags": tags})
            arm.reset_stats()
            rc, out, err = dsvmops(dsvm, "apply", "-c", wd.config, "--plan", saved)
            assert rc == 4, (rc, out, err)
            assert "the live state changed since the plan was made" in err, err
            assert "rg-dsvm-prod-eastus (ResourceGroup/rg-dsvm-prod-eastus)" in err, err
            assert "run plan again" in err, err
            assert writes(arm) == 0, arm.stats()
            assert arm_call(arm, "GET", RG)["tags"]["changedBy"] == "portal"

            # plan again: now the plan applies, and the out-of-band tag is gone
            dsvmops(dsvm, "plan", *c, "--target", "ResourceGroup/rg-dsvm-prod-eastus",
                    "-o", saved, "--format", "json", check=0)
            with open(saved) as f:
                doc = json.load(f)
            planned = {r["id"] for r in doc["resources"] if r["action"] in ("create", "update")}
            assert RG in planned, planned
            # ... unless the manifests move in between
            with open(rgs, "w") as f:
                f.write(text.replace("    environment: prod\n",
                                     "    environment: prod\n    tier: silver\n", 1))
            arm.reset_stats()
            rc, _, err = dsvmops(dsvm, "apply", *c, "--plan", saved)
            assert rc == 4 and "the manifests or the options changed" in err, (rc, err)
            assert writes(arm) == 0, arm.stats()
            with open(rgs, "w") as f:
                f.write(text.replace("    environment: prod\n",
                                     "    environment: prod\n    tier: gold\n", 1))
            rc, out, err = dsvmops(dsvm, "apply", *c, "--plan", saved)
            assert rc == 0, (rc, out, err)
            # exactly the saved plan: one PUT per planned write, nothing else
            assert arm.stats()["by_verb"]["PUT"] == len(planned), (arm.stats(), out)
            assert writes(arm) == len(planned)
            tags = arm_call(arm, "GET", RG)["tags"]
            assert tags.get("tier") == "gold" and "changedBy" not in tags, tags

            # from a Git source: the plan records the commit, and a new commit
            # on the branch makes the saved plan stale
            git_repo = os.path.join(tmp, "infra")
            shutil.copytree(repo, os.path.join(git_repo, "environments", "prod"))
            git(git_repo, "init", "-q", "-b", "main")
            git(git_repo, "add", "-A")
            git(git_repo, "commit", "-q", "-m", "prod")
            with open(wd.config) as f:
                cfg = f.read()
            with open(wd.config, "w") as f:
                f.write(cfg.replace(f"source: {{url: {repo}}}",
                                    f"source: {{url: {git_repo}, ref: main, "
                                    f"path: environments/prod}}"))
            g = ["-c", wd.config, "--instance", "e2e"]
            dsvmops(dsvm, "plan", *g, "--target", "ResourceGroup/rg-dsvm-prod-eastus",
                    "-o", saved, "--format", "json", check=0)
            with open(saved) as f:
                doc = json.load(f)
            sha = git(git_repo, "rev-parse", "HEAD")
            assert doc["commit"] == sha, (doc["commit"], sha)
            dsvmops(dsvm, "apply", "-c", wd.config, "--plan", saved, check=0)
            with open(os.path.join(git_repo, "README"), "w") as f:
                f.write("a commit that changes no manifest still moves the source\n")
            git(git_repo, "add", "README")
            git(git_repo, "commit", "-q", "-m", "readme")
            arm.reset_stats()
            rc, _, err = dsvmops(dsvm, "apply", "-c", wd.config, "--plan", saved)
            assert rc == 4 and "the source moved since the plan was made" in err, (rc, err)
            assert sha[:12] in err and "run plan again" in err, err
            assert writes(arm) == 0, arm.stats()

            # not a saved plan: exit 1 with what to do
            with open(saved, "w") as f:
                f.write('{"formatVersion": 1}')
            rc, _, err = dsvmops(dsvm, "apply", *c, "--plan", saved)
            assert rc == 1 and "is not a saved plan" in err and "plan -o" in err, (rc, err)
            rc, _, err = dsvmops(dsvm, "apply", *c, "--plan", os.path.join(tmp, "missing.json"))
            assert rc == 1 and "cannot read the saved plan" in err, (rc, err)
    print("test_saved_plan: ok")


if __name__ == "__main__":
    main()
