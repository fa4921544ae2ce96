#!/usr/bin/python3
"""dsvmops history and dsvmops graph against armsim, through the example provider.

usage: test_history_graph.py DSVMOPS ARMSIM EXAMPLE_PLUGIN_DIR

history lists the recorded runs newest first (text and JSON, --limit) and,
with --run ID, the journal of one run; it never creates a state store.
graph prints the dependency graph as DOT without talking to Azure.
"""
import json
import os
import subprocess
import sys
import tempfile

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


def main():
    dsvm, armsim_bin, plugins = sys.argv[1:4]
    p = ["--provider-dir", plugins, "--instance", "e2e"]
    with Armsim(armsim_bin) as arm, tempfile.TemporaryDirectory() as repo, \
            Workdir(arm, repo) as wd:
        c = ["-c", wd.config]
        db = os.path.join(wd.dir, "state.db")

        # no store yet: an empty history, and the store is not created
        _, out, _ = dsvmops(dsvm, "history", *c, check=0)
        assert "No runs recorded yet" in out, out
        _, out, _ = dsvmops(dsvm, "history", *c, "--format", "json", check=0)
        assert json.loads(out) == {"runs": []}, out
        assert not os.path.exists(db)

        # graph: DOT, and not one request to Azure
        write_repo(repo, [("rg-a", "a"), ("rg-b", "b")])
        _, out, _ = dsvmops(dsvm, "graph", *c, *p, "--format", "dot", check=0)
        assert out.startswith("digraph"), out
        assert "rg-a" in out and "rg-b" in out, out
        assert arm.stats()["total"] == 0, arm.stats()
        # graph needs no credential: it runs without the client secret
        env = {k: v for k, v in os.environ.items() if k != "DSVMOPS_CLIENT_SECRET"}
        r = subprocess.run([dsvm, "graph", *c, *p], capture_output=True, text=True, env=env)
        assert r.returncode == 0 and r.stdout.startswith("digraph"), r.stderr
        rc, _, err = dsvmops(dsvm, "graph", *c, *p, "--format", "svg")
        assert rc == 1 and "only dot" in err, (rc, err)

        # two applies: the first creates two groups, the second updates one
        dsvmops(dsvm, "apply", *c, *p, check=0)
        write_repo(repo, [("rg-a", "a2"), ("rg-b", "b")])
        dsvmops(dsvm, "apply", *c, *p, check=0)

        _, out, _ = dsvmops(dsvm, "history", *c, check=0)
        lines = out.splitlines()
        assert lines[0].split()[:3] == ["RUN", "KIND", "COMMIT"], out
        assert len(lines) == 3, out
        # newest first
        assert lines[1].split()[0] == "2" and lines[2].split()[0] == "1", out
        assert "succeeded" in lines[1] and "1 succeeded" in lines[1], out
        assert "2 succeeded" in lines[2], out

        _, out, _ = dsvmops(dsvm, "history", *c, "--format", "json", check=0)
        runs = json.loads(out)["runs"]
        assert [r["id"] for r in runs] == [2, 1], runs
        assert runs[1]["outcome"] == "succeeded" and runs[1]["summary"]["writes"] == 2, runs
        assert runs[0]["endedMs"] >= runs[0]["startedMs"] > 0, runs

        _, out, _ = dsvmops(dsvm, "history", *c, "--format", "json", "--limit", "1", check=0)
        assert [r["id"] for r in json.loads(out)["runs"]] == [2], out

        # the journal of run 1: two PUTs that succeeded
        _, out, _ = dsvmops(dsvm, "history", *c, "--run", "1", "--format", "json", check=0)
        doc = json.loads(out)
        assert doc["run"]["id"] == 1, doc
        ents = doc["entries"]
        assert len(ents) == 2 and all(e["method"] == "PUT" and e["action"] == "create"
                                      and e["outcome"] == "succeeded" for e in ents), ents
        assert sorted(e["resource"].rsplit("/", 1)[1] for e in ents) == ["rg-a", "rg-b"], ents
        _, out, _ = dsvmops(dsvm, "history", *c, "--run", "2", check=0)
        assert "update" in out and "rg-a" in out and "rg-b" not in out, out

        rc, _, err = dsvmops(dsvm, "history", *c, "--run", "99")
        assert rc == 1 and "no run 99" in err, (rc, err)
        rc, _, err = dsvmops(dsvm, "history", *c, "--limit", "x")
        assert rc == 1 and "--limit" in err, (rc, err)
        for cmd in ("history", "graph"):
            rc, out, _ = dsvmops(dsvm, cmd, "--help")
            assert rc == 0 and "Exit status" in out, (cmd, rc, out)
    print("test_history_graph: ok")


if __name__ == "__main__":
    main()
