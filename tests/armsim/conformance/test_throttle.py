"""armsim throttling: per-subscription token buckets for reads, writes and deletes, 429 with
Retry-After and the x-ms-ratelimit-remaining-subscription-* headers; LRO polls are reads."""

import sys
import time
import unittest

from harness import SUB, Armsim, CLIENT, SECRET

OTHER = "00000000-0000-0000-0000-000000000002"


def rg(sub, name):
    return "/subscriptions/%s/resourceGroups/%s?api-version=2022-09-01" % (sub, name)


class Throttle(unittest.TestCase):
    def test_buckets(self):
        sim = Armsim("--throttle", "reads=5/2,writes=3/1,deletes=2/1",
                     "--client", "%s:%s" % (CLIENT, SECRET))
        try:
            tok = sim.token()
            left = []
            for _ in range(5):
                st, h, _ = sim.request("GET", rg(SUB, "t"), token=tok)
                self.assertEqual(st, 404)
                left.append(int(h["x-ms-ratelimit-remaining-subscription-reads"]))
            self.assertEqual(left, [4, 3, 2, 1, 0])
            st, h, body = sim.request("GET", rg(SUB, "t"), token=tok)
            self.assertEqual(st, 429)
            self.assertEqual(body["error"]["code"], "TooManyRequests")
            self.assertGreaterEqual(int(h["Retry-After"]), 1)
            self.assertEqual(h["x-ms-ratelimit-remaining-subscription-reads"], "0")
            # another subscription has its own bucket; writes have their own
            self.assertEqual(sim.request("GET", rg(OTHER, "t"), token=tok)[0], 404)
            for i in range(3):
                st, h, _ = sim.request("PUT", rg(SUB, "w%d" % i), body={"location": "westus"},
                                       token=tok)
                self.assertEqual(st, 201)
                self.assertEqual(int(h["x-ms-ratelimit-remaining-subscription-writes"]), 2 - i)
            self.assertEqual(sim.request("PUT", rg(SUB, "w9"), body={"location": "westus"},
                                         token=tok)[0], 429)
            st, h, _ = sim.request("DELETE", rg(SUB, "w0"), token=tok)
            self.assertEqual(st, 202)
            self.assertEqual(h["x-ms-ratelimit-remaining-subscription-deletes"], "1")
            # LRO polls draw from the read bucket
            time.sleep(1.1)
            loc = h["Location"]
            st, h, _ = sim.request("GET", loc, token=tok)
            self.assertIn("x-ms-ratelimit-remaining-subscription-reads", h)
            # the read bucket refills at 2/s
            time.sleep(1.0)
            self.assertEqual(sim.request("GET", rg(SUB, "t"), token=tok)[0], 404)
            stats = sim.stats()["requests"]
            self.assertEqual(stats["throttled"], 2)
            self.assertEqual(stats["by_status"]["429"], 2)
        finally:
            sim.stop()

    def test_default_is_arm_limits(self):
        sim = Armsim("--client", "%s:%s" % (CLIENT, SECRET))
        try:
            tok = sim.token()
            st, h, _ = sim.request("GET", rg(SUB, "t"), token=tok)
            self.assertEqual(h["x-ms-ratelimit-remaining-subscription-reads"], "249")
            st, h, _ = sim.request("PUT", rg(SUB, "t"), body={"location": "westus"}, token=tok)
            self.assertEqual(h["x-ms-ratelimit-remaining-subscription-writes"], "199")
            st, h, _ = sim.request("DELETE", rg(SUB, "t"), token=tok)
            self.assertEqual(h["x-ms-ratelimit-remaining-subscription-deletes"], "199")
            for _ in range(600):
                st, h, _ = sim.request("GET", rg(SUB, "t"), token=tok)
                if st == 429:
                    break
            self.assertEqual(st, 429)
        finally:
            sim.stop()

    def test_off(self):
        sim = Armsim("--throttle", "off", "--client", "%s:%s" % (CLIENT, SECRET))
        try:
            tok = sim.token()
            for _ in range(300):
                st, h, _ = sim.request("GET", rg(SUB, "t"), token=tok)
                self.assertEqual(st, 404)
            self.assertNotIn("x-ms-ratelimit-remaining-subscription-reads", h)
        finally:
            sim.stop()

    def test_bad_spec(self):
        import subprocess
        from harness import armsim_path
        p = subprocess.run([armsim_path(), "--listen", "127.0.0.1:0", "--throttle", "reads=x"],
                           capture_output=True, text=True, timeout=10)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--throttle", p.stderr)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2, warnings="ignore")
