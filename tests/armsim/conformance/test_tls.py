"""armsim over HTTPS (--tls-cert/--tls-key) with a self-signed certificate whose SAN is
IP:127.0.0.1: the Azure SDK works with its stock bearer policy and connection_verify."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from harness import Armsim, ArmsimCredential, SUB, CLIENT, SECRET

from azure.mgmt.resource import ResourceManagementClient


class Tls(unittest.TestCase):
    def test_sdk_over_https(self):
        if not shutil.which("openssl"):
            self.skipTest("openssl command not installed")
        tmp = tempfile.mkdtemp(prefix="armsim-tls-")
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        sim = Armsim("--tls-cert", cert, "--tls-key", key, "--client", "%s:%s" % (CLIENT, SECRET))
        try:
            self.assertTrue(sim.url.startswith("https://127.0.0.1:"))
            cred = ArmsimCredential(sim)
            import ssl
            import urllib.request
            ctx = ssl.create_default_context(cafile=cert)
            handler = urllib.request.HTTPSHandler(context=ctx)
            urllib.request.install_opener(urllib.request.build_opener(handler))
            rm = ResourceManagementClient(cred, SUB, base_url=sim.url, connection_verify=cert,
                                          polling_interval=0.05)
            rg = rm.resource_groups.create_or_update("tls-rg", {"location": "westus"})
            self.assertEqual(rg.name, "tls-rg")
            self.assertTrue(rm.resource_groups.check_existence("tls-rg"))
            self.assertEqual(cred.calls, 1)
        finally:
            sim.stop()
            shutil.rmtree(tmp)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2, warnings="ignore")
