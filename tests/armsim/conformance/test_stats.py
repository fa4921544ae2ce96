"""armsim statistics: the exact JSON shape of GET /_armsim/stats (DESIGN.md section 4), LRO
polls counted as GETs of their type, token calls counted apart, and the reset."""

import sys
import time
import unittest

from harness import Armsim, rg_path, CLIENT, SECRET

VMSS = "Microsoft.Compute/virtualMachineScaleSets"


class Stats(unittest.TestCase):
    def test_counters(self):
        sim = Armsim("--throttle", "off", "--lro-ms", "300", "--client", "%s:%s" % (CLIENT, SECRET))
        try:
            tok = sim.token()
            st, _, body = sim.request("POST", "/_armsim/stats/reset")
            self.assertEqual(st, 200)
            stats = sim.stats()
            self.assertEqual(set(stats), {"requests", "token_requests", "keyvault_requests"})
            req = stats["requests"]
            self.assertEqual(set(req), {"total", "by_verb", "by_status", "by_type", "lro_polls",
                                        "throttled"})
            self.assertEqual(req["total"], 0)
            self.assertEqual(req["by_verb"], {})

            rgp = rg_path("st") + "?api-version=2022-09-01"
            sim.request("PUT", rgp, body={"location": "westus"}, token=tok)
            sim.request("GET", rgp, token=tok)
            sim.request("GET", rg_path("absent") + "?api-version=2022-09-01", token=tok)
            path = rg_path("st") + "/providers/%s/s1?api-version=2024-11-01" % VMSS
            st, h, _ = sim.request("PUT", path, body={"location": "westus", "sku": {"name": "x"}},
                                   token=tok)
            op = h["Azure-AsyncOperation"]
            polls = 0
            while True:
                polls += 1
                if sim.request("GET", op, token=tok)[2]["status"] != "InProgress":
                    break
                time.sleep(0.1)
            sim.request("GET", path, token=tok)
            sim.token()
            sim.request("GET", rgp)  # 401, still an ARM call

            req = sim.stats()["requests"]
            self.assertEqual(req["total"], 6 + polls)
            self.assertEqual(req["by_verb"], {"PUT": 2, "GET": 4 + polls})
            self.assertEqual(req["by_status"]["201"], 2)
            self.assertEqual(req["by_status"]["404"], 1)
            self.assertEqual(req["by_status"]["401"], 1)
            self.assertEqual(req["by_status"]["200"], 2 + polls)
            self.assertEqual(req["by_type"][VMSS], {"PUT": 1, "GET": 1 + polls})
            self.assertEqual(req["by_type"]["Microsoft.Resources/resourceGroups"],
                             {"PUT": 1, "GET": 3})
            self.assertEqual(req["lro_polls"], polls)
            self.assertEqual(req["throttled"], 0)
            self.assertEqual(sim.stats()["token_requests"]["total"], 1)
            sim.request("POST", "/_armsim/stats/reset")
            self.assertEqual(sim.stats()["requests"]["total"], 0)
        finally:
            sim.stop()


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2, warnings="ignore")
