#!/usr/bin/python3
"""Pruning reaches untaggable resources through the state store's records.

usage: test_prune_untaggable.py DSVMOPS ARMSIM EXAMPLES_DIR

A role assignment cannot carry tags; dsvmops records that it created it.
When its manifest leaves Git, plan warns (kept), --prune plans its delete,
and apply --prune deletes exactly it. A role assignment dsvmops did not
create is never touched.
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import Armsim, Workdir, dsvmops  # noqa: E402

ROLE = """---
apiVersion: dsvmops.io/v1
kind: RoleAssignment
metadata: {name: dev-readers}
spec:
  principal: {group: 6f1c2a4e-8d3b-4c5a-9e7f-1a2b3c4d5e6f}
  role: Reader
  scope: {resourceGroup: rg-dsvm-dev-westeurope}
"""


def main():
    dsvm, armsim_bin, examples = sys.argv[1:4]
    with Armsim(armsim_bin, "--lro-ms", "50") as arm, tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "dev")
        shutil.copytree(os.path.join(examples, "environments", "dev"), repo)
        role = os.path.join(repo, "role.yaml")
        with open(role, "w") as f:
            f.write(ROLE)
        with Workdir(arm, repo) as wd:
            c = ["-c", wd.config, "--instance", "e2e"]
            dsvmops(dsvm, "apply", *c, "-q", check=0)
            os.unlink(role)
            _, out, _ = dsvmops(dsvm, "plan", *c, check=0)
            assert "roleAssignments" in out and "no longer in Git" in out, out
            _, out, _ = dsvmops(dsvm, "plan", *c, "--prune", check=0)
            assert "1 to delete" in out and "RoleAssignment/dev-readers" in out, out
            arm.reset_stats()
            _, out, _ = dsvmops(dsvm, "apply", *c, "--prune", check=0)
            assert arm.stats()["by_verb"].get("DELETE", 0) == 1, arm.stats()
            rc, out, _ = dsvmops(dsvm, "plan", *c, "--prune", "--detailed-exitcode")
            assert rc == 0 and "no longer in Git" not in out, out
    print("test_prune_untaggable: ok")


if __name__ == "__main__":
    main()
