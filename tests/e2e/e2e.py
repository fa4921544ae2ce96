"""Helpers for end-to-end tests: a real armsim on port 0, real dsvmops runs."""
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request


class Armsim:
    """Start armsim on a free loopback port; stop it on exit."""

    def __init__(self, binary, *args):
        self.proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("armsim listening on "):
            self.proc.kill()
            raise RuntimeError(f"armsim did not start: {line!r}")
        self.url = line.split()[-1].rstrip("/")

    def stats(self):
        with urllib.request.urlopen(self.url + "/_armsim/stats") as r:
            return json.load(r)["requests"]

    def reset_stats(self):
        req = urllib.request.Request(self.url + "/_armsim/stats/reset", method="POST", data=b"")
        urllib.request.urlopen(req).read()

    def get(self, path):
        with urllib.request.urlopen(self.url + path) as r:
            return json.load(r)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Workdir:
    """A temporary directory with a dsvmops.yaml pointing at `armsim`."""

    def __init__(self, armsim, manifests, extra=""):
        self.dir = tempfile.mkdtemp(prefix="dsvm-e2e-")
        self.config = os.path.join(self.dir, "dsvmops.yaml")
        with open(self.config, "w") as f:
            f.write(f"""source: {{url: {manifests}}}
target:
  subscription: 00000000-0000-0000-0000-000000000001
  tenant: 00000000-0000-0000-0000-0000000000aa
  resource_manager: {armsim.url}
  authority: {armsim.url}
  credential: client_secret
  client_id: dsvmops-demo
  client_secret_env: DSVMOPS_CLIENT_SECRET
state: {{path: ./state.db}}
{extra}""")

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def dsvmops(binary, *args, check=None):
    """Run dsvmops; return (exit code, stdout, stderr)."""
    env = dict(os.environ, DSVMOPS_CLIENT_SECRET="demo-secret")
    r = subprocess.run([binary, *args], capture_output=True, text=True, env=env, timeout=120)
    if check is not None and r.returncode != check:
        raise AssertionError(f"dsvmops {' '.join(args)} exited {r.returncode}, wanted {check}\n"
                             f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    return r.returncode, r.stdout, r.stderr


def put_secret(armsim, vault, name, value):
    """Store a secret in armsim's Key Vault data plane, as a security team would."""
    import urllib.parse
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": "dsvmops-demo",
        "client_secret": "demo-secret", "scope": "https://vault.azure.net/.default"}).encode()
    tenant = "00000000-0000-0000-0000-0000000000aa"
    with urllib.request.urlopen(f"{armsim.url}/{tenant}/oauth2/v2.0/token", form) as r:
        token = json.load(r)["access_token"]
    req = urllib.request.Request(
        f"{armsim.url}/keyvault/{vault}/secrets/{name}?api-version=7.4", method="PUT",
        data=json.dumps({"value": value}).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
