#!/usr/bin/python3
"""apply's progress on a terminal and off it, against armsim.

usage: test_apply_tty.py DSVMOPS ARMSIM EXAMPLE_PLUGIN_DIR

Off a terminal: one line per resource. On a terminal (a pseudo-terminal
here): one status line "done N, running M, queued K, elapsed T" redrawn in
place with carriage returns, a line per failure, and no per-resource lines.
"""
import os
import pty
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import Armsim, Workdir, dsvmops  # noqa: E402

RG = """apiVersion: dsvmops.io/v1
kind: ResourceGroup
metadata: {{name: {name}}}
spec: {{location: eastus, tags: {{team: {team}}}}}
"""


def write_repo(d, groups):
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    for i, (name, team) in enumerate(groups):
        with open(os.path.join(d, f"{i:02d}.yaml"), "w") as f:
            f.write(RG.format(name=name, team=team))


def run_on_tty(binary, *args):
    """Run dsvmops with stdout on a pseudo-terminal; return (exit code, output)."""
    master, slave = pty.openpty()
    env = dict(os.environ, DSVMOPS_CLIENT_SECRET="demo-secret")
    p = subprocess.Popen([binary, *args], stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO once the child has closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    rc = p.wait(timeout=60)
    return rc, b"".join(chunks).decode()


def main():
    dsvm, armsim_bin, plugins = sys.argv[1:4]
    p = ["--provider-dir", plugins, "--instance", "e2e"]
    with Armsim(armsim_bin) as arm, tempfile.TemporaryDirectory() as repo, \
            Workdir(arm, repo) as wd:
        c = ["-c", wd.config]

        # off a terminal: one line per resource
        write_repo(repo, [("rg-a", "a"), ("rg-b", "b")])
        _, out, _ = dsvmops(dsvm, "apply", *c, *p, check=0)
        assert out.count(": done") == 2 and "elapsed" not in out, out

        # on a terminal: the status line, redrawn; no per-resource lines
        write_repo(repo, [("rg-a", "a2"), ("rg-b", "b2"), ("rg-c", "c")])
        rc, out = run_on_tty(dsvm, "apply", *c, *p)
        assert rc == 0, out
        assert ": done" not in out, out
        assert "\r\x1b[Kdone 0, running " in out, repr(out)
        assert "\r\x1b[Kdone 3, running 0, blocked 0, elapsed " in out, repr(out)
        assert "Apply complete: 3 resources changed" in out, out
        # the final status line ends before the summary
        assert "s\r\nApply complete" in out or "s\nApply complete" in out, repr(out)

        # a failure on a terminal gets its own line and its message
        req = urllib.request.Request(
            arm.url + "/_armsim/faults", method="POST",
            data=b'{"method": "PUT", "type": "Microsoft.Resources/resourceGroups",'
                 b' "name": "rg-b", "status": 400, "count": 100}')
        urllib.request.urlopen(req).read()
        write_repo(repo, [("rg-a", "a3"), ("rg-b", "b3"), ("rg-c", "c")])
        rc, out = run_on_tty(dsvm, "apply", *c, *p)
        assert rc == 3, (rc, out)
        assert "rg-b (ResourceGroup/rg-b): FAILED" in out, out
        assert "done 2 (1 failed), running 0, blocked 0" in out, repr(out)
    print("test_apply_tty: ok")


if __name__ == "__main__":
    main()
