#!/usr/bin/python3
"""The example repository, through the Azure provider, against armsim.

usage: test_example_repo.py DSVMOPS ARMSIM EXAMPLES_DIR

Checks the first slice end to end: apply of examples/environments/prod on a
fresh armsim succeeds; the next plan shows no changes (armsim's server
defaults and lower-cased IDs are not changes); a second apply sends zero
writes; a change of the autoscaled scale set's capacity behind dsvmops' back
is no change (its autoscale setting owns sku.capacity); changing only a secret
reference is exactly one update, shown as (sensitive), the update keeps the
live capacity, and the secret never reaches the plan or the state database;
changing autoscale.max is exactly one update, of the autoscale setting.
"""
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import Armsim, Workdir, dsvmops, put_secret  # noqa: E402

ADMIN_SECRET = "Vision-Admin-Secret-4711!"
PROV = ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/"
        "rg-dsvm-prod-eastus/providers/")
VMSS = PROV + "Microsoft.Compute/virtualMachineScaleSets/vision-gpu?api-version=2024-11-01"
AUTOSCALE = (PROV + "Microsoft.Insights/autoscalesettings/vision-gpu-autoscale"
             "?api-version=2022-10-01")


def arm_call(arm, method, path, body=None):
    """A management-plane request to armsim, as someone outside dsvmops."""
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": "dsvmops-demo",
        "client_secret": "demo-secret",
        "scope": "https://management.azure.com/.default"}).encode()
    with urllib.request.urlopen(
            f"{arm.url}/00000000-0000-0000-0000-0000000000aa/oauth2/v2.0/token", form) as r:
        token = json.load(r)["access_token"]
    req = urllib.request.Request(
        arm.url + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def settle(arm, path):
    """Wait until the resource's provisioning state has left Updating."""
    for _ in range(100):
        state = arm_call(arm, "GET", path).get("properties", {}).get("provisioningState")
        if state not in ("Creating", "Updating"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} still {state}")


def plan_json(dsvm, c):
    _, js, _ = dsvmops(dsvm, "plan", *c, "--format", "json", check=0)
    doc = json.loads(js)
    return doc, [r for r in doc["resources"] if r["action"] != "no-op"]


def main():
    dsvm, armsim_bin, examples = sys.argv[1:4]
    with Armsim(armsim_bin, "--lro-ms", "100", "--page-size", "5") as arm, \
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

            # the autoscale setting targets the scale set; capacity starts at min
            setting = arm_call(arm, "GET", AUTOSCALE)
            assert setting["properties"]["targetResourceUri"].lower() == \
                VMSS.split("?")[0].lower(), setting
            assert setting["properties"]["profiles"][0]["capacity"] == \
                {"minimum": "1", "maximum": "6", "default": "1"}, setting
            assert arm_call(arm, "GET", VMSS)["sku"]["capacity"] == 1

            # the autoscaler moves the capacity (a PUT behind dsvmops' back):
            # sku.capacity is the autoscale setting's, so that is no change
            vmss = arm_call(arm, "GET", VMSS)
            vmss["sku"]["capacity"] = 3
            arm_call(arm, "PUT", VMSS, vmss)
            settle(arm, VMSS)
            rc, out, err = dsvmops(dsvm, "plan", *c, "--detailed-exitcode")
            assert rc == 0 and out.startswith("No changes."), (rc, out, err)

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
            # the update sent the live capacity back, not autoscale.min
            settle(arm, VMSS)
            assert arm_call(arm, "GET", VMSS)["sku"]["capacity"] == 3

            # autoscale.max changes: exactly one update, of the autoscale setting
            with open(pool) as f:
                text = f.read()
            with open(pool, "w") as f:
                f.write(text.replace("autoscale: {min: 1, max: 6}", "autoscale: {min: 1, max: 8}"))
            rc, out, _ = dsvmops(dsvm, "plan", *c, "--detailed-exitcode")
            assert rc == 2 and "Plan: 0 to create, 1 to update, 0 to replace" in out, (rc, out)
            doc, changed = plan_json(dsvm, c)
            assert len(changed) == 1, changed
            assert changed[0]["action"] == "update", changed
            assert changed[0]["type"] == "Microsoft.Insights/autoscalesettings", changed
            assert changed[0]["id"].lower() == AUTOSCALE.split("?")[0].lower(), changed
            assert [(ch["path"], ch["before"], ch["after"]) for ch in changed[0]["changes"]] == \
                [("properties.profiles.0.capacity.maximum", "6", "8")], changed
            arm.reset_stats()
            dsvmops(dsvm, "apply", *c, check=0)
            assert arm.stats()["by_verb"].get("PUT", 0) == 1, arm.stats()
            setting = arm_call(arm, "GET", AUTOSCALE)
            assert setting["properties"]["profiles"][0]["capacity"]["maximum"] == "8", setting
            assert arm_call(arm, "GET", VMSS)["sku"]["capacity"] == 3
            rc, out, _ = dsvmops(dsvm, "plan", *c, "--detailed-exitcode")
            assert rc == 0, out
    print("test_example_repo: ok")


if __name__ == "__main__":
    main()
