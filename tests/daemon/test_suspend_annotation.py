#!/usr/bin/python3
"""dsvmops.io/suspend: "true" holds one object back from plan and apply.

The dev example's shared storage is annotated suspended: plan shows its
resources as no-ops with a warning naming the object, apply writes
everything else and not them, and removing the annotation lets the next
apply create them.

usage: test_suspend_annotation.py DSVMOPS ARMSIM EXAMPLES_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from e2e import Armsim, Workdir, dsvmops  # noqa: E402

ANNOTATED = """kind: SharedStorage
metadata:
  name: stdsvmdevnfs
  resourceGroup: rg-dsvm-dev-westeurope
  annotations: {dsvmops.io/suspend: "true"}
"""


def main():
    dsvm, armsim_bin, examples = sys.argv[1:4]
    with Armsim(armsim_bin) as arm, tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "dev")
        shutil.copytree(os.path.join(examples, "environments", "dev"), repo)
        path = os.path.join(repo, "dev.yaml")
        with open(path) as f:
            text = f.read()
        plain = "kind: SharedStorage\nmetadata:\n  name: stdsvmdevnfs\n" \
                "  resourceGroup: rg-dsvm-dev-westeurope\n"
        assert plain in text
        with open(path, "w") as f:
            f.write(text.replace(plain, ANNOTATED))
        with Workdir(arm, repo) as wd:
            _, out, _ = dsvmops(dsvm, "plan", "-c", wd.config, "--format", "json", check=0)
            doc = json.loads(out)
            storage = [r for r in doc["resources"] if r["object"] == "SharedStorage/stdsvmdevnfs"]
            assert storage and all(r["action"] == "no-op" for r in storage), storage
            held = [f for f in doc["findings"] if "dsvmops.io/suspend" in f["message"]]
            assert held and held[0]["severity"] == "warning", doc["findings"]
            assert "SharedStorage/stdsvmdevnfs" in held[0]["message"], held

            _, out, _ = dsvmops(dsvm, "apply", "-c", wd.config, "-q", check=0)
            puts = arm.stats()["by_type"]
            assert "Microsoft.Storage/storageAccounts" not in puts or \
                "PUT" not in puts["Microsoft.Storage/storageAccounts"], puts
            assert puts["Microsoft.Resources/resourceGroups"]["PUT"] == 1, puts

            with open(path, "w") as f:
                f.write(text)
            _, out, _ = dsvmops(dsvm, "apply", "-c", wd.config, "-q", check=0)
            puts = arm.stats()["by_type"]
            assert puts["Microsoft.Storage/storageAccounts"]["PUT"] == 1, puts
            dsvmops(dsvm, "plan", "-c", wd.config, "--detailed-exitcode", check=0)
    print("test_suspend_annotation: ok")


if __name__ == "__main__":
    main()
