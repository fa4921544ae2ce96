"""Shared helpers for the armsim tests: start and stop armsim on port 0, get tokens,
make raw HTTP calls, and build Azure SDK clients that talk to armsim over plain http."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings

warnings.simplefilter("ignore", ResourceWarning)

SUB = "00000000-0000-0000-0000-000000000001"
TENANT = "00000000-0000-0000-0000-0000000000aa"
CLIENT = "conformance"
SECRET = "s3cret"


def armsim_path():
    path = os.environ.get("ARMSIM")
    if not path and len(sys.argv) > 1 and os.path.exists(sys.argv[1]):
        path = os.environ["ARMSIM"] = sys.argv.pop(1)
    if not path:
        raise SystemExit("usage: test.py /path/to/armsim (or set ARMSIM)")
    return path


def _die_with_parent():
    """In the child: SIGTERM when the test process dies, even if it never calls stop()."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Armsim:
    """One armsim process on a free port; stop() sends SIGTERM and checks the exit."""

    def __init__(self, *args, binary=None):
        self.binary = binary or armsim_path()
        self.args = list(args)
        self.proc = None
        self.url = None
        self.start()

    def start(self):
        cmd = [self.binary, "--listen", "127.0.0.1:0"] + self.args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     preexec_fn=_die_with_parent)
        line = self.proc.stdout.readline()
        if not line.startswith("armsim listening on "):
            err = self.proc.stderr.read()
            raise RuntimeError("armsim did not start: %r %s" % (line, err))
        self.url = line.split()[-1].strip()

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc.stdout.close()
        self.proc.stderr.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("armsim did not stop on SIGTERM")
            err = self.proc.stderr.read()
            self.proc.stdout.close()
            self.proc.stderr.close()
            if rc != 0:
                raise RuntimeError("armsim exited with %d: %s" % (rc, err))

    # ---- raw HTTP ----
    def request(self, method, path, body=None, headers=None, token=None, raw=False, form=None):
        url = path if path.startswith("http") else self.url + path
        hdrs = dict(headers or {})
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if token:
            hdrs["Authorization"] = "Bearer " + token
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, rh, text = resp.status, dict(resp.headers), resp.read().decode()
        except urllib.error.HTTPError as e:
            status, rh, text = e.code, dict(e.headers), e.read().decode()
        if raw:
            return status, rh, text
        return status, rh, (json.loads(text) if text else None)

    def token(self, client=CLIENT, secret=SECRET, scope="https://management.azure.com/.default"):
        status, _, body = self.request(
            "POST",
            "/%s/oauth2/v2.0/token" % TENANT,
            form={"grant_type": "client_credentials", "client_id": client,
                  "client_secret": secret, "scope": scope})
        if status != 200:
            raise RuntimeError("token: %d %s" % (status, body))
        return body["access_token"]

    def stats(self):
        return self.request("GET", "/_armsim/stats")[2]


class ArmsimCredential:
    """A TokenCredential that asks armsim's client-credentials endpoint for tokens."""

    def __init__(self, sim, client=CLIENT, secret=SECRET):
        self.sim = sim
        self.client = client
        self.secret = secret
        self.calls = 0

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken
        self.calls += 1
        status, _, body = self.sim.request(
            "POST", "/%s/oauth2/v2.0/token" % TENANT,
            form={"grant_type": "client_credentials", "client_id": self.client,
                  "client_secret": self.secret, "scope": " ".join(scopes)})
        if status != 200:
            from azure.core.exceptions import ClientAuthenticationError
            raise ClientAuthenticationError(message="armsim token: %s" % body)
        return AccessToken(body["access_token"], int(time.time()) + int(body["expires_in"]))


def http_auth_policy(credential):
    """The SDK's ARM bearer policy, allowed to send tokens over http to a loopback armsim."""
    from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy

    class LoopbackPolicy(ARMChallengeAuthenticationPolicy):
        def _enforce_https(self, request):  # armsim listens on plain http
            return None

    return LoopbackPolicy(credential, "https://management.azure.com/.default")


def client(cls, sim, credential=None, **kwargs):
    cred = credential or ArmsimCredential(sim)
    return cls(cred, SUB, base_url=sim.url, authentication_policy=http_auth_policy(cred),
               polling_interval=0.05, retry_total=2, **kwargs)


def rg_path(rg):
    return "/subscriptions/%s/resourceGroups/%s" % (SUB, rg)
