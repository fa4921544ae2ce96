#!/usr/bin/python3
"""The example repository, through the Azure provider, against armsim.

usage: test_example_repo.py DSVMOPS ARMSIM EXAMPLES_DIR

Checks the first slice end to end: apply of examples/environments/prod on a
fresh armsim succeeds; the next plan shows no changes (armsim's server
defaults and lower-cased IDs are not changes); a second apply sends zero
writes; changing only a secret reference is exactly one update, shown as
(sensitive), and the secret never reaches the plan or the state database.
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import Armsim, Workdir, dsvmops, put_secret  # noqa: E402

ADMIN_SECRET = "Vision-Admin-Secret-4711!"


def main():
    dsvm, armsim_bin, examples = sys.argv[1:4]
    with Armsim(armsim_bin, "--lro-ms", "100") as arm, \
            tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "prod")
        shutil.copytree(os.path.join(examples, "environments", "prod"), repo)
        with Workdir(arm, repo) as wd:
            c = ["-c", wd.config, "--instance", "e2e"]
            dsvmops(dsvm, "apply", *c, "--target", "KeyVault/kv-dsvm-prod", check=0)
            put_secret(arm, "kv-dsvm-prod", "ad-join-protected-settings", '{"Password": "x"}')
            put_secret(arm, "kv-dsvm-prod", "vision-local-admin", ADMIN_SECRET)
            put_secret(arm, "kv-dsvm-prod", "vision-local-admin-2", ADMIN_SECRET + "2")
            put_secret(arm, "kv-dsvm-prod", "stdsvmprodsmb-key", "c21iLWtleQ==")
            _, out, _ = dsvmops(dsvm, "apply", *c, check=0)
            assert "Apply complete" in out, out

            # in sync: no noise from server defaults or ID casing
            arm.reset_stats()
            rc, out, err = dsvmops(dsvm, "plan", *c, "--detailed-exitcode")
            assert rc == 0 and out.startswith("No changes."), (rc, out, err)
            dsvmops(dsvm, "apply", *c, check=0)
            verbs = arm.stats()["by_verb"]
            assert verbs.get("PUT", 0) == 0 and verbs.get("DELETE", 0) == 0, verbs
            reads = verbs["GET"]
            print(f"in-sync plan + apply: {reads} GETs, 0 writes")

            # only a secret reference changes: exactly one update, (sensitive)
            pool = os.path.join(repo, "pools", "team-vision.yaml")
            with open(pool) as f:
                text = f.read()
            with open(pool, "w") as f:
                f.write(text.replace("secret: vision-local-admin}", "secret: vision-local-admin-2}"))
            rc, out, _ = dsvmops(dsvm, "plan", *c, "--detailed-exitcode")
            assert rc == 2 and "Plan: 0 to create, 1 to update, 0 to replace" in out, (rc, out)
            assert "vision-gpu (Pool/vision-gpu)" in out and "(sensitive)" in out, out
            _, js, _ = dsvmops(dsvm, "plan", *c, "--format", "json", check=0)
            assert ADMIN_SECRET not in out and ADMIN_SECRET not in js
            arm.reset_stats()
            dsvmops(dsvm, "apply", *c, check=0)
            assert arm.stats()["by_verb"].get("PUT", 0) == 1, arm.stats()
            rc, out, _ = dsvmops(dsvm, "plan", *c, "--detailed-exitcode")
            assert rc == 0, out
            with open(os.path.join(wd.dir, "state.db"), "rb") as f:
                assert ADMIN_SECRET.encode() not in f.read()
    print("test_example_repo: ok")


if __name__ == "__main__":
    main()
