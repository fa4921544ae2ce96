"""Helpers for the daemon tests: a Git repository served over smart HTTP, an
alert receiver, out-of-band ARM writes, and a running `dsvmops run`.

Each server is a context manager, so that a test can stack them with
contextlib.ExitStack and have them all stopped, in reverse order, however
it ends."""
import hashlib
import hmac
import http.server as httpserver
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from e2e import Armsim  # noqa: E402,F401

TENANT = "00000000-0000-0000-0000-0000000000aa"
SUB = "00000000-0000-0000-0000-000000000001"


def git(cwd, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


class GitServer:
    """A bare repository under `root`, a working clone, and git http-backend."""

    def __init__(self, root, manifests):
        self.root = root
        self.bare = os.path.join(root, "infra.git")
        self.work = os.path.join(root, "work")
        git(root, "init", "-q", "--bare", "-b", "main", self.bare)
        git(self.bare, "config", "http.receivepack", "true")
        shutil.copytree(manifests, os.path.join(self.work, "env"))
        git(self.work, "init", "-q", "-b", "main")
        git(self.work, "add", ".")
        git(self.work, "commit", "-q", "-m", "first")
        git(self.work, "push", "-q", self.bare, "main")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "..", "git", "git_http_server.py"), root],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("port "), line
        self.url = f"http://127.0.0.1:{int(line.split()[1])}/infra.git"

    def commit(self, path, edit, message):
        """Apply `edit` (text -> text) to env/`path`, commit and push; return the SHA."""
        p = os.path.join(self.work, "env", path)
        with open(p) as f:
            text = f.read()
        new = edit(text)
        assert new != text, "the edit changed nothing"
        with open(p, "w") as f:
            f.write(new)
        git(self.work, "commit", "-q", "-am", message)
        git(self.work, "push", "-q", self.bare, "main")
        return git(self.work, "rev-parse", "HEAD")

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AlertReceiver:
    """Collects alert webhook deliveries; checks each HMAC signature."""

    def __init__(self, secret):
        self.secret = secret.encode()
        self.events = queue.Queue()
        self.bad = []
        self.seen = []
        receiver = self

        class Handler(httpserver.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                want = "sha256=" + hmac.new(receiver.secret, body, hashlib.sha256).hexdigest()
                if self.headers.get("X-Dsvmops-Signature") != want:
                    receiver.bad.append(body)
                    self.send_response(401)
                    self.end_headers()
                    return
                receiver.events.put((time.monotonic(), json.loads(body)))
                self.send_response(204)
                self.end_headers()

        self.server = httpserver.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, event, match, timeout):
        """(arrival time, alert) of the first alert `event` whose resourceId satisfies `match`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                t, ev = self.events.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(ev)
            if ev.get("event") == event and match(ev.get("resourceId", "")):
                return t, ev
        raise AssertionError(f"no matching {event} alert within {timeout}s; "
                             f"seen {[e.get('event') for e in self.seen]}")

    def drain(self, seconds):
        """Every alert that arrives within `seconds`."""
        out = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                out.append(self.events.get(timeout=0.1)[1])
            except queue.Empty:
                pass
        self.seen.extend(out)
        return out

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Arm:
    """Out-of-band ARM calls, as an operator in the portal would make them."""

    def __init__(self, armsim):
        self.base = armsim.url
        form = urllib.parse.urlencode({
            "grant_type": "client_credentials", "client_id": "dsvmops-demo",
            "client_secret": "demo-secret",
            "scope": "https://management.azure.com/.default"}).encode()
        with urllib.request.urlopen(f"{self.base}/{TENANT}/oauth2/v2.0/token", form) as r:
            self.token = json.load(r)["access_token"]

    def call(self, method, rid, api, body=None):
        req = urllib.request.Request(
            f"{self.base}{rid}?api-version={api}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": "Bearer " + self.token,
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            text = r.read()
            return json.loads(text) if text else None

    def get(self, rid, api):
        return self.call("GET", rid, api)

    def put(self, rid, api, body):
        body = {k: v for k, v in body.items() if k not in ("id", "name", "type", "etag")}
        return self.call("PUT", rid, api, body)


def http(method, url, body=b"", headers=None):
    """(status, body text) of one request; HTTP errors are answers too."""
    req = urllib.request.Request(url, method=method, data=body if method != "GET" else None,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def github_push(base, secret, ref="refs/heads/main", after="0" * 40, signature=None):
    body = json.dumps({"ref": ref, "after": after, "repository": {"full_name": "team/infra"}})
    body = body.encode()
    sig = signature or "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return http("POST", base + "/hooks/github", body,
                {"X-GitHub-Event": "push", "X-Hub-Signature-256": sig,
                 "Content-Type": "application/json"})


class Daemon:
    """`dsvmops run` on port 0; stderr lines are kept with their arrival time."""

    def __init__(self, dsvm, config, env, *extra):
        self.proc = subprocess.Popen([dsvm, "run", "-c", config, "--listen", "127.0.0.1:0",
                                      *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=dict(os.environ, **env))
        line = self.proc.stdout.readline()
        if not line.startswith("dsvmops listening on "):
            self.proc.kill()
            raise AssertionError("the daemon did not start: " + line + self.proc.stderr.read())
        self.url = line.split()[-1]
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self.cond.notify_all()

    def wait_log(self, needle, timeout, start=0):
        """(index, time) of the first log line at or after `start` containing `needle`."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.lines)):
                    if needle in self.lines[i][1]:
                        return i, self.lines[i][0]
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"no log line with {needle!r} within {timeout}s:\n" +
                                         "\n".join(l for _, l in self.lines[-40:]))
                self.cond.wait(left)

    def mark(self):
        with self.cond:
            return len(self.lines)

    def status(self):
        code, text = http("GET", self.url + "/api/v1/status")
        assert code == 200, (code, text)
        return json.loads(text)

    def wait_status(self, pred, timeout=10):
        """The status document once `pred` holds for it (it is refreshed after each pass)."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.status()
            if pred(st):
                return st
            if time.monotonic() > deadline:
                raise AssertionError(f"status never matched: {json.dumps(st)[:2000]}")
            time.sleep(0.1)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


def write_config(path, armsim, source_url, extra):
    with open(path, "w") as f:
        f.write(f"""source: {{url: {source_url}, ref: main, path: env, interval: 60s}}
target:
  subscription: {SUB}
  tenant: {TENANT}
  resource_manager: {armsim.url}
  authority: {armsim.url}
  credential: client_secret
  client_id: dsvmops-demo
  client_secret_env: DSVMOPS_CLIENT_SECRET
state: {{path: ./state.db}}
{extra}""")
