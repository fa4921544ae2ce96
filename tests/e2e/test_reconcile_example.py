#!/usr/bin/python3
"""plan -> apply -> plan against armsim through the example provider.

usage: test_reconcile_example.py DSVMOPS ARMSIM EXAMPLE_PLUGIN_DIR

The example provider only knows resource groups, which keeps this test
about the engine: observe by list, diff, journalled apply, idempotence,
guards and exit codes.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import Armsim, Workdir, dsvmops  # noqa: E402

RG = """apiVersion: dsvmops.io/v1
kind: ResourceGroup
metadata: {{name: {name}}}
spec: {{location: {location}, tags: {{team: {team}}}}}
"""

def write_repo(d, groups):
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    for i, (name, location, team) in enumerate(groups):
        with open(os.path.join(d, f"{i:02d}.yaml"), "w") as f:
            f.write(RG.format(name=name, location=location, team=team))

def main():
    dsvm, armsim_bin, plugins = sys.argv[1:4]
    p = ["--provider-dir", plugins, "--instance", "e2e"]
    with Armsim(armsim_bin) as arm, tempfile.TemporaryDirectory() as repo, \
            Workdir(arm, repo) as wd:
        c = ["-c", wd.config]
        write_repo(repo, [("rg-a", "eastus", "a"), ("rg-b", "westeurope", "b")])

        # a cold plan shows two creates and writes nothing
        _, out, _ = dsvmops(dsvm, "plan", *c, *p, "--detailed-exitcode", check=2)
        assert "Plan: 2 to create" in out, out
        assert arm.stats()["by_verb"].get("PUT", 0) == 0

        # apply creates both, journalled, with one line per resource
        _, out, _ = dsvmops(dsvm, "apply", *c, *p, check=0)
        assert out.count(": done") == 2, out

        stats = arm.stats()
        assert stats["by_verb"]["PUT"] == 2, stats

        # in sync: plan is empty, apply sends zero writes
        arm.reset_stats()
        _, out, _ = dsvmops(dsvm, "plan", *c, *p, "--detailed-exitcode", check=0)
        assert "No changes. 2 resources are up to date." in out, out
        dsvmops(dsvm, "apply", *c, *p, check=0)
        stats = arm.stats()
        assert stats["by_verb"].get("PUT", 0) == 0 and stats["by_verb"].get("DELETE", 0) == 0, stats
        # each observe is one list request per type, not one GET per resource
        assert stats["by_verb"]["GET"] == 2, stats

        # a tag change is one field-level update
        write_repo(repo, [("rg-a", "eastus", "a2"), ("rg-b", "westeurope", "b")])
        _, out, _ = dsvmops(dsvm, "plan", *c, *p, check=0)
        assert '~ tags.team: "a" -> "a2"' in out, out
        _, out, _ = dsvmops(dsvm, "plan", *c, *p, "--format", "markdown", check=0)
        assert "| `tags.team` | `\"a\"` | `\"a2\"` |" in out, out

        # a location change is a replace; resource groups are not stateful
        write_repo(repo, [("rg-a", "eastus", "a2"), ("rg-b", "northeurope", "b")])
        _, out, _ = dsvmops(dsvm, "plan", *c, *p, check=0)
        assert "location forces replacement" in out, out

        # dropping a group: kept (a warning) unless --prune; the delete limit guards
        write_repo(repo, [("rg-a", "eastus", "a2")])
        _, out, _ = dsvmops(dsvm, "plan", *c, *p, check=0)
        assert "no longer in Git" in out and "to delete" not in out.split("Plan:")[-1][:30], out
        rc, _, err = dsvmops(dsvm, "apply", *c, *p, "--prune", "--allow-deletes", "0")
        assert rc == 4 and "--allow-deletes 1" in err, (rc, err)
        arm.reset_stats()
        _, out, _ = dsvmops(dsvm, "apply", *c, *p, "--prune", check=0)
        assert arm.stats()["by_verb"].get("DELETE", 0) == 1

        # resources of another instance are never touched
        rc, out, err = dsvmops(dsvm, "plan", *c, "--provider-dir", plugins, "--instance", "other")
        assert rc == 0 and 'managed by dsvmops instance "e2e"' in out, (rc, out, err)
        rc, _, err = dsvmops(dsvm, "apply", *c, "--provider-dir", plugins, "--instance", "other")
        assert rc == 1 and "the plan has errors" in err, (rc, err)

        # bad input: a broken manifest is reported with file:line:col, exit 1
        with open(os.path.join(repo, "99.yaml"), "w") as f:
            f.write("apiVersion: dsvmops.io/v1\nkind: ResourceGroup\nmetadata: {name: x}\n"
                    "spec: {locaton: eastus}\n")
        rc, _, err = dsvmops(dsvm, "plan", *c, *p)
        assert rc == 1 and "99.yaml:4:" in err, (rc, err)
    print("test_reconcile_example: ok")

if __name__ == "__main__":
    main()
