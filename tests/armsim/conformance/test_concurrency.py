"""armsim serves at least 256 concurrent connections: 300 clients each hold a connection
and wait on an answer delayed by --latency-ms; all are answered, concurrently."""

import http.client
import sys
import threading
import time
import unittest
import urllib.parse

from harness import Armsim, rg_path, CLIENT, SECRET

N = 300
LATENCY_MS = 1500


class Concurrency(unittest.TestCase):
    def test_300_connections(self):
        sim = Armsim("--throttle", "off", "--latency-ms", str(LATENCY_MS),
                     "--client", "%s:%s" % (CLIENT, SECRET))
        try:
            tok = sim.token()
            sim.request("PUT", rg_path("cc") + "?api-version=2022-09-01",
                        body={"location": "westus"}, token=tok)
            u = urllib.parse.urlsplit(sim.url)
            conns = [http.client.HTTPConnection(u.hostname, u.port, timeout=60) for _ in range(N)]
            for c in conns:
                c.connect()
            barrier = threading.Barrier(N)
            results = [None] * N
            inflight = [0, 0]
            lock = threading.Lock()

            def worker(i):
                barrier.wait()
                with lock:
                    inflight[0] += 1
                    inflight[1] = max(inflight[1], inflight[0])
                try:
                    conns[i].request("GET", rg_path("cc") + "?api-version=2022-09-01",
                                     headers={"Authorization": "Bearer " + tok})
                    r = conns[i].getresponse()
                    r.read()
                    results[i] = r.status
                except Exception as e:  # recorded and asserted below
                    results[i] = repr(e)
                with lock:
                    inflight[0] -= 1

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(N)]
            t0 = time.time()
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            elapsed = time.time() - t0
            for c in conns:
                c.close()
            self.assertEqual(results.count(200), N, [r for r in results if r != 200][:5])
            # served concurrently: far less than N x latency
            self.assertLess(elapsed, 20, elapsed)
            self.assertGreaterEqual(elapsed, LATENCY_MS / 1000.0 - 0.1)
            self.assertGreaterEqual(inflight[1], 256)
            self.assertEqual(sim.stats()["requests"]["by_status"]["200"], N)
        finally:
            sim.stop()


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2, warnings="ignore")
