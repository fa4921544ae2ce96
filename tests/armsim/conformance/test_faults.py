"""armsim fault rules (DESIGN.md section 4): status with Retry-After, connection resets,
delays, LROs that end Failed, probability and count; by flag and at run time."""

import http.client
import json
import sys
import time
import unittest
import urllib.parse

from harness import SUB, Armsim, rg_path, CLIENT, SECRET

SIM = None
TOK = None
FLAG_CODES = []
UAMI = "Microsoft.ManagedIdentity/userAssignedIdentities"


def setUpModule():
    global SIM, TOK
    SIM = Armsim("--throttle", "off", "--lro-ms", "100", "--client", "%s:%s" % (CLIENT, SECRET),
                 "--fault", json.dumps({"method": "GET", "type": "Microsoft.Resources/resourceGroups",
                                        "name": "from-flag", "status": 500, "count": 1}))
    TOK = SIM.token()
    SIM.request("PUT", rg_path("flt") + "?api-version=2022-09-01", body={"location": "westus"},
                token=TOK)
    # the --fault rule (count 1) fires once, then requests go through
    path = rg_path("from-flag") + "?api-version=2022-09-01"
    FLAG_CODES.extend(SIM.request("GET", path, token=TOK)[0] for _ in range(2))


def tearDownModule():
    SIM.stop()


def ident(name):
    return rg_path("flt") + "/providers/%s/%s?api-version=2023-01-31" % (UAMI, name)


def add(rule):
    st, _, body = SIM.request("POST", "/_armsim/faults", body=rule)
    if st != 201:
        raise AssertionError("fault rule refused: %s" % body)


class Faults(unittest.TestCase):
    def tearDown(self):
        SIM.request("DELETE", "/_armsim/faults")

    def test_flag_rule(self):
        self.assertEqual(FLAG_CODES, [500, 404])

    def test_status_retry_after_and_count(self):
        add({"method": "PUT", "type": UAMI, "name": "bad-*", "status": 503, "retry_after": 2,
             "count": 2})
        st, h, body = SIM.request("PUT", ident("bad-1"), body={"location": "westus"}, token=TOK)
        self.assertEqual(st, 503)
        self.assertEqual(h["Retry-After"], "2")
        self.assertIn("code", body["error"])
        # a name that does not match the glob is untouched
        self.assertEqual(SIM.request("PUT", ident("good-1"), body={"location": "westus"},
                                     token=TOK)[0], 201)
        self.assertEqual(SIM.request("PUT", ident("BAD-2"), body={"location": "westus"},
                                     token=TOK)[0], 503)
        self.assertEqual(SIM.request("PUT", ident("bad-1"), body={"location": "westus"},
                                     token=TOK)[0], 201)
        rules = SIM.request("GET", "/_armsim/faults")[2]["faults"]
        self.assertEqual(rules[0]["remaining"], 0)

    def test_reset(self):
        add({"method": "GET", "type": UAMI, "name": "*", "reset": True, "count": 1})
        u = urllib.parse.urlsplit(SIM.url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        conn.request("GET", ident("x"), headers={"Authorization": "Bearer " + TOK})
        with self.assertRaises((ConnectionResetError, http.client.RemoteDisconnected,
                                BrokenPipeError)):
            conn.getresponse().read()
        conn.close()
        self.assertEqual(SIM.request("GET", ident("x"), token=TOK)[0], 404)

    def test_delay(self):
        add({"method": "GET", "type": UAMI, "name": "slow", "delay_ms": 600, "count": 1})
        t0 = time.time()
        self.assertEqual(SIM.request("GET", ident("slow"), token=TOK)[0], 404)
        self.assertGreaterEqual(time.time() - t0, 0.55)
        t0 = time.time()
        SIM.request("GET", ident("slow"), token=TOK)
        self.assertLess(time.time() - t0, 0.5)

    def test_lro_failed_async_operation(self):
        add({"method": "PUT", "type": "Microsoft.Compute/virtualMachineScaleSets", "name": "*",
             "lro_result": "Failed", "count": 1})
        path = rg_path("flt") + ("/providers/Microsoft.Compute/virtualMachineScaleSets/doomed"
                                 "?api-version=2024-11-01")
        st, h, body = SIM.request("PUT", path, body={"location": "westus", "sku": {"name": "x"}},
                                  token=TOK)
        self.assertEqual(st, 201)
        time.sleep(0.2)
        st, _, op = SIM.request("GET", h["Azure-AsyncOperation"], token=TOK)
        self.assertEqual(op["status"], "Failed")
        self.assertIn("code", op["error"])
        self.assertEqual(SIM.request("GET", path, token=TOK)[2]["properties"]["provisioningState"],
                         "Failed")

    def test_poll_matches_resource_name(self):
        path = rg_path("flt") + ("/providers/Microsoft.Compute/virtualMachineScaleSets/polled"
                                 "?api-version=2024-11-01")
        st, h, _ = SIM.request("PUT", path, body={"location": "westus", "sku": {"name": "x"}},
                               token=TOK)
        self.assertEqual(st, 201)
        add({"method": "GET", "type": "Microsoft.Compute/virtualMachineScaleSets",
             "name": "poll*", "status": 503, "count": 1})
        self.assertEqual(SIM.request("GET", h["Azure-AsyncOperation"], token=TOK)[0], 503)
        self.assertEqual(SIM.request("GET", h["Azure-AsyncOperation"], token=TOK)[0], 200)

    def test_lro_failed_location(self):
        add({"method": "PUT", "type": "Microsoft.Storage/storageAccounts", "name": "*",
             "lro_result": "Failed"})
        path = rg_path("flt") + ("/providers/Microsoft.Storage/storageAccounts/doomed"
                                 "?api-version=2022-09-01")
        st, h, _ = SIM.request("PUT", path, body={"location": "westus", "kind": "StorageV2",
                                                  "sku": {"name": "Standard_LRS"}}, token=TOK)
        self.assertEqual(st, 202)
        time.sleep(0.2)
        st, _, body = SIM.request("GET", h["Location"], token=TOK)
        self.assertGreaterEqual(st, 400)
        self.assertIn("code", body["error"])

    def test_probability(self):
        add({"method": "GET", "type": UAMI, "name": "never", "status": 500, "probability": 0.0})
        for _ in range(30):
            self.assertEqual(SIM.request("GET", ident("never"), token=TOK)[0], 404)
        add({"method": "GET", "type": UAMI, "name": "half", "status": 500, "probability": 0.5})
        codes = [SIM.request("GET", ident("half"), token=TOK)[0] for _ in range(200)]
        self.assertTrue(40 <= codes.count(500) <= 160, codes.count(500))

    def test_list_clear_and_bad_rules(self):
        add({"method": "*", "type": "*", "name": "*", "status": 418, "count": 5})
        self.assertEqual(len(SIM.request("GET", "/_armsim/faults")[2]["faults"]), 1)
        SIM.request("DELETE", "/_armsim/faults")
        self.assertEqual(SIM.request("GET", "/_armsim/faults")[2]["faults"], [])
        for bad in ("{", {"method": "GET"}, {"status": 99}, {"bogus": 1, "status": 500}):
            st, _, _ = SIM.request("POST", "/_armsim/faults", body=bad)
            self.assertEqual(st, 400, bad)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2, warnings="ignore")
