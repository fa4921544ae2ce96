"""Preflight at plan time (design rule 12) against armsim over real HTTP.

The dev environment of examples/ (one Standard_NC4as_T4_v3 pool in
westeurope), with armsim's T4 quota lowered to 8 vCPUs and its regional
total to 20, and EncryptionAtHost not registered. A plan with creates or
updates checks that each resource provider it writes to is registered, that
the planned vCPUs fit in the family's and the region's free quota, and that
EncryptionAtHost is registered when a planned scale set sets it; each
failure is a plan error naming the fix, and apply then exits 1 and writes
nothing. An in-sync plan sends no preflight request at all.
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
    """(provider GETs, usages GETs, feature GETs) since the last stats reset."""
    by_type = arm.stats()["by_type"]
    return (by_type.get("Microsoft.Resources/providers", {}).get("GET", 0),
            by_type.get("Microsoft.Compute/locations/usages", {}).get("GET", 0),
            by_type.get("Microsoft.Features/providers/features", {}).get("GET", 0))


def errors(out):
    return [l for l in out.splitlines() if l.startswith("error:")]


def refused(dsvm, arm, c, fix):
    """apply exits 1 naming `fix` and sends no write."""
    arm.reset_stats()
    rc, out, err = dsvmops(dsvm, "apply", *c)
    assert rc == 1 and fix in out + err, (rc, out, err)
    verbs = arm.stats()["by_verb"]
    assert not any(verbs.get(v) for v in ("PUT", "PATCH", "POST", "DELETE")), verbs


FEATURE = (f"/subscriptions/{SUB}/providers/Microsoft.Features/providers/Microsoft.Compute/"
           "features/EncryptionAtHost")
FEATURE_FIX = "register it: az feature register --namespace Microsoft.Compute --name EncryptionAtHost"


def main():
    dsvm, armsim_bin, examples = sys.argv[1:4]
    with Armsim(armsim_bin, "--lro-ms", "100", "--quota", "standardNCASv3_T4Family=8",
                "--quota", "cores=20", "--unregistered-feature",
                "Microsoft.Compute/EncryptionAtHost") as arm, \
            tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "dev")
        shutil.copytree(os.path.join(examples, "environments", "dev"), repo)
        manifest = os.path.join(repo, "dev.yaml")
        with open(manifest) as f:
            original = f.read()
        assert "vmSize: Standard_NC4as_T4_v3\n  capacity: 1\n" in original, original
        assert "encryptionAtHost" not in original, original
        eah = original.replace("  entraLogin: true\n",
                               "  entraLogin: true\n  security: {encryptionAtHost: true}\n")

        def write(text):
            with open(manifest, "w") as f:
                f.write(text)

        with Workdir(arm, repo) as wd:
            c = ["-c", wd.config, "--instance", "e2e"]

            # an unregistered provider: a plan error naming the fix, and apply refuses
            arm_post(arm, f"/subscriptions/{SUB}/providers/Microsoft.Compute/unregister"
                          "?api-version=2021-04-01")
            arm.reset_stats()
            rc, out, err = dsvmops(dsvm, "plan", *c)
            assert "error: resource provider Microsoft.Compute is NotRegistered" in out, (out, err)
            assert "az provider register --namespace Microsoft.Compute" in out, out
            assert not any("Microsoft.Storage" in l for l in errors(out)), out
            providers, usages, features = preflight_gets(arm)
            # one GET per namespace written to, one usages list per location, and no
            # feature GET: nothing sets encryptionAtHost
            assert providers >= 5 and usages == 1 and features == 0, arm.stats()
            _, js, _ = dsvmops(dsvm, "plan", *c, "--format", "json", check=None)
            findings = json.loads(js)["findings"]
            assert any(f["severity"] == "error" and "Microsoft.Compute" in f["message"]
                       for f in findings), findings
            refused(dsvm, arm, c, "Microsoft.Compute")
            arm_post(arm, f"/subscriptions/{SUB}/providers/Microsoft.Compute/register"
                          "?api-version=2021-04-01")

            # compute quota of the family: 3 x 4 vCPUs of T4 do not fit in 8
            write(original.replace("capacity: 1\n", "capacity: 3\n"))
            _, out, _ = dsvmops(dsvm, "plan", *c)
            assert errors(out) == [
                "error: quota: Pool/dev-sandbox (3 x Standard_NC4as_T4_v3) in westeurope needs "
                "12 more vCPUs of standardNCASv3_T4Family, but only 8 are free (limit 8, in use "
                "0); request a quota increase for standardNCASv3_T4Family in westeurope or lower "
                "the capacity"], out
            assert "warning:" not in out, out
            _, js, _ = dsvmops(dsvm, "plan", *c, "--format", "json")
            assert [f["severity"] for f in json.loads(js)["findings"]] == ["error"], js
            refused(dsvm, arm, c, "quota")

            # and of the region: 6 x 4 fit in no family of 8, nor in 20 regional vCPUs
            write(original.replace("capacity: 1\n", "capacity: 6\n"))
            _, out, _ = dsvmops(dsvm, "plan", *c)
            assert len(errors(out)) == 2, out
            assert any("24 more vCPUs of Total Regional vCPUs (all families), but only 20 are "
                       "free (limit 20, in use 0)" in l for l in errors(out)), out

            # EncryptionAtHost not registered: one GET of the feature, a plan error
            write(eah)
            arm.reset_stats()
            _, out, _ = dsvmops(dsvm, "plan", *c)
            assert preflight_gets(arm)[2] == 1, arm.stats()
            assert len(errors(out)) == 1, out
            assert ("error: feature Microsoft.Compute/EncryptionAtHost is NotRegistered in "
                    f"subscription {SUB} and is needed by Pool/dev-sandbox; ") in out, out
            assert FEATURE_FIX in out, out
            refused(dsvm, arm, c, FEATURE_FIX)
            assert arm_post(arm, FEATURE + "/register?api-version=2021-07-01") \
                ["properties"]["state"] == "Registered"

            # registered, 1 x 4 of 8 free: no findings; apply; then an in-sync plan
            # sends no preflight request
            _, out, _ = dsvmops(dsvm, "plan", *c)
            assert "error:" not in out and "warning:" not in out, out
            _, out, _ = dsvmops(dsvm, "apply", *c, check=0)
            assert "Apply complete" in out, out
            arm.reset_stats()
            rc, out, err = dsvmops(dsvm, "plan", *c, "--detailed-exitcode")
            assert rc == 0 and out.startswith("No changes."), (rc, out, err)
            assert preflight_gets(arm) == (0, 0, 0), arm.stats()

            # a planned update: the quota counts only what grows (1 x 4 of 4 free fit)
            write(eah.replace("capacity: 1\n", "capacity: 2\n"))
            arm.reset_stats()
            _, out, _ = dsvmops(dsvm, "plan", *c)
            assert "1 to update" in out and "error:" not in out and "warning:" not in out, out
            assert preflight_gets(arm) == (1, 1, 1), arm.stats()
            write(eah.replace("capacity: 1\n", "capacity: 3\n"))
            _, out, _ = dsvmops(dsvm, "plan", *c)
            assert ("(2 x Standard_NC4as_T4_v3) in westeurope needs 8 more vCPUs of "
                    "standardNCASv3_T4Family, but only 4 are free (limit 8, in use 4)") in out, out
            refused(dsvm, arm, c, "quota")
    print("test_preflight: ok")


if __name__ == "__main__":
    main()
