"""Feature registration (Microsoft.Features) through Debian's SDK FeatureClient, and compute
quotas set with --quota: defaults, overrides, loose family names, what counts as used, and
the flags refused at start-up."""

import os
import subprocess
import sys
import tempfile
import unittest

from harness import Armsim, client, armsim_path, rg_path, CLIENT, SECRET, SUB

from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.resource import FeatureClient

FEATURE_TYPE = "Microsoft.Features/providers/features"
EAH = ("/subscriptions/%s/providers/Microsoft.Features/providers/Microsoft.Compute/features/"
       "EncryptionAtHost" % SUB)
API = "?api-version=2021-07-01"
CLIENT_ARG = ("--client", "%s:%s" % (CLIENT, SECRET))


class Features(unittest.TestCase):
    def test_registration_with_the_sdk(self):
        sim = Armsim(*CLIENT_ARG, "--unregistered-feature", "Microsoft.Compute/EncryptionAtHost")
        try:
            fc = client(FeatureClient, sim)
            f = fc.features.get("Microsoft.Compute", "EncryptionAtHost")
            self.assertEqual(f.name, "Microsoft.Compute/EncryptionAtHost")
            self.assertEqual(f.type, FEATURE_TYPE)
            self.assertEqual(f.id, EAH)
            self.assertEqual(f.properties.state, "NotRegistered")
            # names compare without case; any other feature is registered
            self.assertEqual(fc.features.get("microsoft.compute", "encryptionathost")
                             .properties.state, "NotRegistered")
            self.assertEqual(fc.features.get("Microsoft.Compute", "UltraSSDWithVMSS")
                             .properties.state, "Registered")
            self.assertEqual(fc.features.register("Microsoft.Compute", "EncryptionAtHost")
                             .properties.state, "Registered")
            self.assertEqual(fc.features.get("Microsoft.Compute", "EncryptionAtHost")
                             .properties.state, "Registered")
            self.assertEqual(fc.features.unregister("Microsoft.Compute", "EncryptionAtHost")
                             .properties.state, "NotRegistered")
            self.assertEqual(fc.features.get("Microsoft.Compute", "EncryptionAtHost")
                             .properties.state, "NotRegistered")
        finally:
            sim.stop()

    def test_raw_http_token_and_stats(self):
        sim = Armsim(*CLIENT_ARG, "--throttle", "off")
        try:
            tok = sim.token()
            sim.request("POST", "/_armsim/stats/reset")
            st, h, body = sim.request("GET", EAH + API, token=tok)
            self.assertEqual(st, 200)
            self.assertEqual(body, {"id": EAH, "name": "Microsoft.Compute/EncryptionAtHost",
                                    "type": FEATURE_TYPE,
                                    "properties": {"state": "Registered"}})
            self.assertIn("x-ms-request-id", {k.lower() for k in h})
            st, _, body = sim.request("GET", EAH + API)
            self.assertEqual((st, body["error"]["code"]), (401, "AuthenticationFailed"))
            st, _, body = sim.request("GET", EAH, token=tok)
            self.assertEqual((st, body["error"]["code"]), (400, "MissingApiVersionParameter"))
            st, _, body = sim.request("POST", EAH + "/unregister" + API, token=tok)
            self.assertEqual((st, body["properties"]["state"]), (200, "NotRegistered"))
            st, _, body = sim.request("POST", EAH + "/register" + API, token=tok)
            self.assertEqual((st, body["properties"]["state"]), (200, "Registered"))
            self.assertEqual(sim.request("PUT", EAH + API, body={}, token=tok)[0], 405)
            self.assertEqual(sim.request("POST", EAH + "/enable" + API, token=tok)[0], 404)
            self.assertEqual(sim.request("GET", EAH + "/register" + API, token=tok)[0], 404)
            self.assertEqual(sim.request("GET", EAH.rsplit("/", 1)[0] + API, token=tok)[0], 404)
            req = sim.stats()["requests"]
            self.assertEqual(req["by_type"][FEATURE_TYPE], {"GET": 5, "POST": 3, "PUT": 1})
            self.assertEqual(req["by_status"]["401"], 1)
            self.assertEqual(req["by_status"]["400"], 1)
        finally:
            sim.stop()

    def test_register_call_outlives_the_flag_with_state(self):
        with tempfile.TemporaryDirectory() as tmp:
            args = (*CLIENT_ARG, "--state", os.path.join(tmp, "s.db"),
                    "--unregistered-feature", "Microsoft.Compute/EncryptionAtHost")
            sim = Armsim(*args)
            try:
                tok = sim.token()
                self.assertEqual(sim.request("POST", EAH + "/register" + API, token=tok)[0], 200)
            finally:
                sim.stop()
            sim = Armsim(*args)
            try:
                st, _, body = sim.request("GET", EAH + API, token=sim.token())
                self.assertEqual(body["properties"]["state"], "Registered")
            finally:
                sim.stop()


def usages(sim, location="westeurope"):
    cm = client(ComputeManagementClient, sim)
    return {u.name.value: u for u in cm.usage.list(location)}


class Quotas(unittest.TestCase):
    def test_defaults(self):
        sim = Armsim(*CLIENT_ARG)
        try:
            u = usages(sim)
            for name in ("cores", "virtualMachineScaleSets", "standardNCSv3Family",
                         "Standard NCASv3_T4 Family", "StandardNCADSA100v4Family",
                         "standardDSv5Family"):
                self.assertEqual(u[name].limit, 1000000, name)
                self.assertEqual(u[name].current_value, 0, name)
        finally:
            sim.stop()

    def test_flags_set_limits_and_scale_sets_use_them(self):
        sim = Armsim(*CLIENT_ARG, "--lro-ms", "50",
                     "--quota", "standardNCASv3_T4Family=8",       # loose: the served name has spaces
                     "--quota", "CORES=100", "--quota", "cores=40",  # the last one wins
                     "--quota", "standardNCSv3Family=0")
        try:
            u = usages(sim)
            self.assertEqual(u["Standard NCASv3_T4 Family"].limit, 8)
            self.assertEqual(u["cores"].limit, 40)
            self.assertEqual(u["standardNCSv3Family"].limit, 0)
            self.assertEqual(u["StandardNCADSA100v4Family"].limit, 1000000)
            tok = sim.token()
            self.assertEqual(sim.request("PUT", rg_path("q") + "?api-version=2022-09-01",
                                         body={"location": "westeurope"}, token=tok)[0], 201)
            for name, size, cap in (("t4", "Standard_NC8as_T4_v3", 2),
                                    ("v3", "Standard_NC12s_v3", 1)):
                st, _, _ = sim.request(
                    "PUT", rg_path("q") + "/providers/Microsoft.Compute/virtualMachineScaleSets/"
                    "%s?api-version=2024-11-01" % name,
                    body={"location": "West Europe", "sku": {"name": size, "capacity": cap}},
                    token=tok)
                self.assertEqual(st, 201)
            u = usages(sim)
            self.assertEqual(u["Standard NCASv3_T4 Family"].current_value, 16)
            self.assertEqual(u["standardNCSv3Family"].current_value, 12)
            self.assertEqual(u["cores"].current_value, 28)
            self.assertEqual(u["virtualMachineScaleSets"].current_value, 2)
            self.assertEqual(usages(sim, "eastus")["cores"].current_value, 0)
        finally:
            sim.stop()

    def test_bad_flags_refused(self):
        for args, says in ((["--quota", "standardNCFamily=8"], "no compute usage is named"),
                           (["--quota", "cores"], "needs NAME=N"),
                           (["--quota", "cores=-1"], "at least 0"),
                           (["--quota", "cores=lots"], "at least 0"),
                           (["--unregistered-feature", "EncryptionAtHost"], "NAMESPACE/NAME"),
                           (["--unregistered-feature", "Microsoft.Compute/"], "NAMESPACE/NAME")):
            with self.subTest(args=args):
                r = subprocess.run([armsim_path(), "--listen", "127.0.0.1:0", *args],
                                   capture_output=True, text=True, timeout=30)
                self.assertNotEqual(r.returncode, 0)
                self.assertEqual(r.stdout, "")
                self.assertIn(says, r.stderr)

    def test_post_to_usages_refused(self):
        sim = Armsim(*CLIENT_ARG)
        try:
            st, _, body = sim.request(
                "POST", "/subscriptions/%s/providers/Microsoft.Compute/locations/westeurope/"
                "usages?api-version=2024-07-01" % SUB, token=sim.token())
            self.assertEqual((st, body["error"]["code"]), (405, "MethodNotAllowed"))
        finally:
            sim.stop()


if __name__ == "__main__":
    armsim_path()
    unittest.main(argv=sys.argv[:1], verbosity=2, warnings="ignore")
