"""Roll-outs (design rule 11) against armsim over real HTTP.

The dev environment's pool (upgradePolicy Manual by default) with three
instances. A planned model change says that the instances will fall behind
and who upgrades them; without reconcile.rollout apply leaves them on the old
model, and the next plan that updates the scale set says how many are behind.
With reconcile.rollout {batch: 50%} apply upgrades them through manualupgrade
in batches (counted in /_armsim/stats), after which none is behind.
"""
import json
import os
import shutil
import sys
import tempfile
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from e2e import Armsim, Workdir, dsvmops  # noqa: E402

SUB = "00000000-0000-0000-0000-000000000001"
TENANT = "00000000-0000-0000-0000-0000000000aa"
VMSS = (f"/subscriptions/{SUB}/resourceGroups/rg-dsvm-dev-westeurope/providers/"
        "Microsoft.Compute/virtualMachineScaleSets/dev-sandbox")


def instances(arm):
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": "dsvmops-demo",
        "client_secret": "demo-secret", "scope": "https://management.azure.com/.default"}).encode()
    with urllib.request.urlopen(f"{arm.url}/{TENANT}/oauth2/v2.0/token", form) as r:
        token = json.load(r)["access_token"]
    req = urllib.request.Request(f"{arm.url}{VMSS}/virtualMachines?api-version=2024-11-01",
                                 headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req) as r:
        return [vm["properties"]["latestModelApplied"] for vm in json.load(r)["value"]]


def vmss_verbs(arm):
    return arm.stats()["by_type"].get("Microsoft.Compute/virtualMachineScaleSets", {})


def instance_lists(arm):
    by_type = arm.stats()["by_type"]
    return by_type.get("Microsoft.Compute/virtualMachineScaleSets/virtualMachines", {}).get("GET", 0)


def main():
    dsvm, armsim_bin, examples = sys.argv[1:4]
    with Armsim(armsim_bin, "--lro-ms", "100") as arm, tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "dev")
        shutil.copytree(os.path.join(examples, "environments", "dev"), repo)
        manifest = os.path.join(repo, "dev.yaml")
        with open(manifest) as f:
            original = f.read().replace("capacity: 1\n", "capacity: 3\n")
        with open(manifest, "w") as f:
            f.write(original)
        with Workdir(arm, repo) as wd, \
                Workdir(arm, repo, "reconcile:\n  rollout: {batch: 50%}\n") as wr:
            c = ["-c", wd.config, "--instance", "e2e"]
            _, out, _ = dsvmops(dsvm, "apply", *c, check=0)
            assert "Apply complete" in out, out
            assert instances(arm) == [True] * 3

            # a planned model change: the plan says all 3 will fall behind
            with open(manifest, "w") as f:
                f.write(original.replace("entraLogin: true", "entraLogin: false"))
            arm.reset_stats()
            _, out, _ = dsvmops(dsvm, "plan", *c)
            assert "~ update  Microsoft.Compute/virtualMachineScaleSets dev-sandbox" in out, out
            assert ("warning: Pool/dev-sandbox: 0 of 3 instances are not on the latest model "
                    "(upgradePolicy Manual); this update changes the model, so all 3 will be: "
                    "they keep the old model until upgraded: set reconcile.rollout") in out, out
            # one instance list, for the one scale set that the plan updates
            assert instance_lists(arm) == 1, arm.stats()
            _, out, _ = dsvmops(dsvm, "plan", "-c", wr.config, "--instance", "e2e")
            assert "apply upgrades them in batches of 50% (reconcile.rollout)" in out, out

            # apply without reconcile.rollout: no manualupgrade, instances fall behind
            arm.reset_stats()
            dsvmops(dsvm, "apply", *c, check=0)
            assert vmss_verbs(arm).get("POST", 0) == 0, arm.stats()
            assert instances(arm) == [False] * 3

            # the next plan that updates the scale set says how many are behind
            changed = original.replace("entraLogin: true", "entraLogin: false")
            with open(manifest, "w") as f:
                f.write(changed.replace("capacity: 3\n", "capacity: 4\n"))
            _, out, _ = dsvmops(dsvm, "plan", *c)
            assert ("warning: Pool/dev-sandbox: 3 of 3 instances are not on the latest model "
                    "(upgradePolicy Manual): they keep the old model") in out, out

            # with reconcile.rollout {batch: 50%}: 3 outdated of 4 instances after the
            # update, in batches of 2 -> two manualupgrade POSTs, then none behind
            arm.reset_stats()
            rc, out, err = dsvmops(dsvm, "apply", "-c", wr.config, "--instance", "e2e")
            assert rc == 0, (rc, out, err)
            assert vmss_verbs(arm).get("POST", 0) == 2, arm.stats()
            assert instances(arm) == [True] * 4, instances(arm)
            assert "rolling out Pool/dev-sandbox: upgrading 2 of 3 instances (batch 1 of 2)" \
                in out + err, (out, err)

            # in sync: no instance list
            arm.reset_stats()
            rc, out, _ = dsvmops(dsvm, "plan", "-c", wr.config, "--instance", "e2e",
                                 "--detailed-exitcode")
            assert rc == 0 and "instances" not in out, out
            assert instance_lists(arm) == 0, arm.stats()
    print("test_rollout: ok")


if __name__ == "__main__":
    main()
