"""armsim with --state survives kill -9: resources, soft-deleted vaults, tokens and
in-flight long-running operations are all there after a restart, and an operation started
before the kill completes after it."""

import os
import sys
import tempfile
import time
import unittest
import urllib.parse

from harness import SUB, TENANT, Armsim, rg_path, CLIENT, SECRET

API = "?api-version=2024-11-01"


def path_of(url):
    u = urllib.parse.urlsplit(url)
    return u.path + "?" + u.query


class Restart(unittest.TestCase):
    def test_kill9_keeps_everything(self):
        tmp = tempfile.mkdtemp(prefix="armsim-state-")
        state = os.path.join(tmp, "state.db")
        args = ["--state", state, "--lro-ms", "2500", "--throttle", "off",
                "--client", "%s:%s" % (CLIENT, SECRET)]
        sim = Armsim(*args)
        try:
            tok = sim.token()
            st, _, _ = sim.request("PUT", rg_path("rs") + "?api-version=2022-09-01",
                                   body={"location": "westus"}, token=tok)
            self.assertEqual(st, 201)
            st, _, ident = sim.request(
                "PUT", rg_path("rs") + "/providers/Microsoft.ManagedIdentity/"
                "userAssignedIdentities/keep-me?api-version=2023-01-31",
                body={"location": "westus"}, token=tok)
            self.assertEqual(st, 201)
            vmss = rg_path("rs") + "/providers/Microsoft.Compute/virtualMachineScaleSets/inflight"
            st, hdrs, body = sim.request("PUT", vmss + API,
                                         body={"location": "westus",
                                               "sku": {"name": "Standard_D2s_v5", "capacity": 1}},
                                         token=tok)
            self.assertEqual(st, 201)
            self.assertEqual(body["properties"]["provisioningState"], "Creating")
            op = path_of(hdrs["Azure-AsyncOperation"])
            self.assertEqual(sim.request("GET", op, token=tok)[2]["status"], "InProgress")
            # an in-flight delete, too
            vnet = rg_path("rs") + "/providers/Microsoft.Network/virtualNetworks/going"
            sim.request("PUT", vnet + API, body={"location": "westus"}, token=tok)
            time.sleep(2.6)
            st, hdrs, _ = sim.request("DELETE", vnet + API, token=tok)
            self.assertEqual(st, 202)
            del_op = path_of(hdrs["Location"])
            # a soft-deleted vault
            vault = rg_path("rs") + "/providers/Microsoft.KeyVault/vaults/kv-restart"
            sim.request("PUT", vault + API, body={"location": "westus", "properties": {
                "tenantId": TENANT, "sku": {"family": "A", "name": "standard"},
                "accessPolicies": []}}, token=tok)
            st, _, _ = sim.request("DELETE", vault + API, token=tok)
            self.assertEqual(st, 200)
            st, hdrs, body = sim.request("PUT", vmss + API,
                                         body={"location": "westus",
                                               "sku": {"name": "Standard_D2s_v5", "capacity": 2}},
                                         token=tok)
            self.assertEqual(body["properties"]["provisioningState"], "Updating")
            op = path_of(hdrs["Azure-AsyncOperation"])
            sim.kill9()

            sim = Armsim(*args)
            # the old token is still good: the signing key is part of the state
            st, _, body = sim.request("GET", vmss + API, token=tok)
            self.assertEqual(st, 200)
            self.assertEqual(body["properties"]["provisioningState"], "Updating")
            st, _, again = sim.request("GET", rg_path("rs") + "/providers/"
                                       "Microsoft.ManagedIdentity/userAssignedIdentities/keep-me"
                                       "?api-version=2023-01-31", token=tok)
            self.assertEqual(st, 200)
            self.assertEqual(again["properties"]["principalId"],
                             ident["properties"]["principalId"])
            self.assertEqual(sim.request("GET", op, token=tok)[2]["status"], "InProgress")
            self.assertEqual(sim.request("GET", del_op, token=tok)[0], 202)
            deadline = time.time() + 10
            while sim.request("GET", op, token=tok)[2]["status"] == "InProgress":
                self.assertLess(time.time(), deadline)
                time.sleep(0.2)
            self.assertEqual(sim.request("GET", op, token=tok)[2]["status"], "Succeeded")
            st, _, body = sim.request("GET", vmss + API, token=tok)
            self.assertEqual(body["properties"]["provisioningState"], "Succeeded")
            self.assertEqual(body["sku"]["capacity"], 2)
            self.assertEqual(sim.request("GET", del_op, token=tok)[0], 204)
            self.assertEqual(sim.request("GET", vnet + API, token=tok)[0], 404)
            st, _, dv = sim.request("GET", "/subscriptions/%s/providers/Microsoft.KeyVault/"
                                    "locations/westus/deletedVaults/kv-restart%s" % (SUB, API),
                                    token=tok)
            self.assertEqual(st, 200)
            # a clean stop and another start keep it too
            sim.stop()
            sim = Armsim(*args)
            self.assertEqual(sim.request("GET", vmss + API, token=tok)[0], 200)
        finally:
            sim.stop()
            for f in os.listdir(tmp):
                os.unlink(os.path.join(tmp, f))
            os.rmdir(tmp)

    def test_memory_state_is_gone_after_restart(self):
        sim = Armsim("--throttle", "off", "--client", "%s:%s" % (CLIENT, SECRET))
        tok = sim.token()
        sim.request("PUT", rg_path("mem") + "?api-version=2022-09-01",
                    body={"location": "westus"}, token=tok)
        sim.stop()
        sim = Armsim("--throttle", "off", "--client", "%s:%s" % (CLIENT, SECRET))
        try:
            self.assertEqual(sim.request("GET", rg_path("mem") + "?api-version=2022-09-01",
                                         token=sim.token())[0], 404)
        finally:
            sim.stop()


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2, warnings="ignore")
