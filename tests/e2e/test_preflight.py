"""Preflight at plan time (design rule 12) against armsim over real HTTP.

The dev environment of examples/: a plan with creates checks that each
resource provider it writes to is registered (an unregistered one is a plan
error and apply refuses), and that the planned vCPUs fit in the compute
quota (a capacity of 1000 is reported, naming the family). An in-sync plan
sends no preflight request at all.
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


def arm_post(arm, path):
    """POST to armsim's ARM API with a token, as an operator with az would."""
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": "dsvmops-demo",
        "client_secret": "demo-secret", "scope": "https://management.azure.com/.default"}).encode()
    with urllib.request.urlopen(f"{arm.url}/{TENANT}/oauth2/v2.0/token", form) as r:
        token = json.load(r)["access_token"]
    req = urllib.request.Request(arm.url + path, method="POST", data=b"",
                                 headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def preflight_gets(arm):
    by_type = arm.stats()["by_type"]
    return (by_type.get("Microsoft.Resources/providers", {}).get("GET", 0),
            by_type.get("Microsoft.Compute/locations/usages", {}).get("GET", 0))


def main():
    dsvm, armsim_bin, examples = sys.argv[1:4]
    with Armsim(armsim_bin, "--lro-ms", "100") as arm, tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "dev")
        shutil.copytree(os.path.join(examples, "environments", "dev"), repo)
        manifest = os.path.join(repo, "dev.yaml")
        with open(manifest) as f:
            original = f.read()
        with Workdir(arm, repo) as wd:
            c = ["-c", wd.config, "--instance", "e2e"]

            # an unregistered provider: a plan error naming the fix, and apply refuses
            arm_post(arm, f"/subscriptions/{SUB}/providers/Microsoft.Compute/unregister"
                          "?api-version=2021-04-01")
            arm.reset_stats()
            rc, out, err = dsvmops(dsvm, "plan", *c)
            assert "error: resource provider Microsoft.Compute is NotRegistered" in out, (out, err)
            assert "az provider register --namespace Microsoft.Compute" in out, out
            assert "Microsoft.Storage" not in [l for l in out.splitlines()
                                               if l.startswith("error:")], out
            providers, usages = preflight_gets(arm)
            # one GET per namespace written to, one usages list per location
            assert providers >= 5 and usages == 1, arm.stats()
            _, js, _ = dsvmops(dsvm, "plan", *c, "--format", "json", check=None)
            findings = json.loads(js)["findings"]
            assert any(f["severity"] == "error" and "Microsoft.Compute" in f["message"]
                       for f in findings), findings
            arm.reset_stats()
            rc, out, err = dsvmops(dsvm, "apply", *c)
            assert rc != 0 and "Microsoft.Compute" in out + err, (rc, out, err)
            assert arm.stats()["by_verb"].get("PUT", 0) == 0, arm.stats()
            arm_post(arm, f"/subscriptions/{SUB}/providers/Microsoft.Compute/register"
                          "?api-version=2021-04-01")

            # compute quota: 1000 x 4 vCPUs of the T4 family in westeurope
            with open(manifest, "w") as f:
                f.write(original.replace("capacity: 1\n", "capacity: 1000\n"))
            _, out, _ = dsvmops(dsvm, "plan", *c)
            line = [l for l in out.splitlines() if "quota:" in l]
            assert len(line) >= 1, out
            assert ("Pool/dev-sandbox (1000 x Standard_NC4as_T4_v3) in westeurope needs 4000 "
                    "more vCPUs of standardNCASv3_T4Family, but only 24 are free") in line[0], line
            assert any("Total Regional vCPUs" in l and "only 350 are free" in l for l in line), line

            # the dev environment as it is: no findings; after apply, an in-sync
            # plan sends no preflight request
            with open(manifest, "w") as f:
                f.write(original)
            _, out, _ = dsvmops(dsvm, "plan", *c)
            assert "error:" not in out and "warning:" not in out, out
            _, out, _ = dsvmops(dsvm, "apply", *c, check=0)
            assert "Apply complete" in out, out
            arm.reset_stats()
            rc, out, err = dsvmops(dsvm, "plan", *c, "--detailed-exitcode")
            assert rc == 0 and out.startswith("No changes."), (rc, out, err)
            assert preflight_gets(arm) == (0, 0), arm.stats()

            # a planned update: the quota counts only what grows (5 x 4 of 20 free fit)
            with open(manifest, "w") as f:
                f.write(original.replace("capacity: 1\n", "capacity: 6\n"))
            arm.reset_stats()
            _, out, _ = dsvmops(dsvm, "plan", *c)
            assert "1 to update" in out and "quota:" not in out, out
            assert preflight_gets(arm) == (1, 1), arm.stats()
            with open(manifest, "w") as f:
                f.write(original.replace("capacity: 1\n", "capacity: 8\n"))
            _, out, _ = dsvmops(dsvm, "plan", *c)
            assert ("(7 x Standard_NC4as_T4_v3) in westeurope needs 28 more vCPUs of "
                    "standardNCASv3_T4Family, but only 20 are free (limit 24, in use 4)") in out, out
    print("test_preflight: ok")


if __name__ == "__main__":
    main()
