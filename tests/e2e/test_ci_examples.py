#!/usr/bin/python3
"""The CI examples in examples/ci/ keep ONE plan comment per pull request.

usage: test_ci_examples.py EXAMPLES_DIR

Runs the comment step of each example, twice, the way its CI would run it:
the GitHub Actions step against a stand-in `gh` (same arguments, comments
kept in a file, --jq through the real jq), the Azure Pipelines step against
a stand-in of the Azure DevOps pull-request threads REST API. The first run
posts one comment, the second updates it; a comment that someone else wrote
with the same marker is left alone. Also checks that both run validate and
the pull-request plan with --source . --base --head --format markdown.
"""
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

import yaml

FAKE_GH = r'''#!/usr/bin/python3
import json, subprocess, sys
store = sys.argv[0] + ".json"
comments = json.load(open(store))
a = sys.argv[1:]
assert a[0] == "api", a
method, path, jq, body = "GET", None, None, None
i = 1
while i < len(a):
    if a[i] == "-X": method = a[i + 1]; i += 2
    elif a[i] == "--jq": jq = a[i + 1]; i += 2
    elif a[i] == "-F": body = open(a[i + 1].split("=@", 1)[1]).read(); i += 2
    elif a[i] in ("--paginate", "--silent"): i += 1
    else: path = a[i]; i += 1
if method == "GET":
    out = json.dumps(comments)
    if jq:
        out = subprocess.run(["jq", "-r", jq], input=out, text=True, capture_output=True,
                             check=True).stdout
    sys.stdout.write(out)
elif method == "POST":
    comments.append({"id": 1000 + len(comments), "user": {"login": "github-actions[bot]"},
                     "body": body})
elif method == "PATCH":
    cid = int(path.rsplit("/", 1)[1])
    [c for c in comments if c["id"] == cid][0]["body"] = body
json.dump(comments, open(store, "w"))
'''


def check_commands(text):
    assert re.search(r"dsvmops validate ", text), "no validate"
    plan = re.search(r"dsvmops plan [^\n]*", text.replace("\\\n", " ")).group(0)
    for opt in ("--source .", "--base ", "--head ", "--format markdown", "-o "):
        assert opt in plan, (opt, plan)


def github(examples, tmp):
    path = os.path.join(examples, "ci", ".github", "workflows", "dsvmops-plan.yml")
    with open(path) as f:
        text = f.read()
    check_commands(text)
    doc = yaml.safe_load(text)
    assert "pull_request_target" in doc[True], doc[True]
    steps = doc["jobs"]["plan"]["steps"]
    step = [s for s in steps if s["name"].startswith("Post or update")][0]
    # credentials only from the secret store
    values = re.findall(r"AZURE_[A-Z_]+: (.*)", text)
    assert values and all(v.startswith("${{ secrets.") for v in values), values
    work = os.path.join(tmp, "gh")
    os.makedirs(os.path.join(work, "bin"))
    gh = os.path.join(work, "bin", "gh")
    with open(gh, "w") as f:
        f.write(FAKE_GH)
    os.chmod(gh, 0o755)
    # someone else's comment that happens to start with the marker
    with open(gh + ".json", "w") as f:
        json.dump([{"id": 7, "user": {"login": "mallory"}, "body": "<!-- dsvmops-plan -->x"}], f)
    env = dict(os.environ, PATH=os.path.join(work, "bin") + ":" + os.environ["PATH"],
               GH_TOKEN="t", REPO="o/r", PR="5", HEAD_SHA="a" * 40, VALIDATE="success",
               PLAN="success", RUN_URL="https://example.invalid/run")
    for n in (1, 2):
        with open(os.path.join(work, "plan.md"), "w") as f:
            f.write(f"### dsvmops plan: push {n}\n")
        subprocess.run(["bash", "-e", "-c", step["run"]], cwd=work, env=env, check=True,
                       capture_output=True)
    with open(gh + ".json") as f:
        comments = json.load(f)
    ours = [c for c in comments if c["user"]["login"] == "github-actions[bot]"]
    assert len(ours) == 1, comments
    assert ours[0]["body"].startswith("<!-- dsvmops-plan -->\n### dsvmops plan: push 2"), ours
    assert comments[0]["body"] == "<!-- dsvmops-plan -->x", comments
    # a manifest error is posted instead of a plan
    env["VALIDATE"] = "failure"
    with open(os.path.join(work, "validate.txt"), "w") as f:
        f.write("pools.yaml:3:1: error: bad\n")
    subprocess.run(["bash", "-e", "-c", step["run"]], cwd=work, env=env, check=True,
                   capture_output=True)
    with open(gh + ".json") as f:
        comments = json.load(f)
    assert len(comments) == 2 and "do not validate" in comments[1]["body"], comments


class Threads(http.server.BaseHTTPRequestHandler):
    threads = []
    auth = []

    def log_message(self, *a):
        pass

    def reply(self, obj):
        data = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_GET(self):
        Threads.auth.append(self.headers.get("Authorization"))
        assert self.path.endswith("/pullRequests/42/threads?api-version=7.1"), self.path
        self.reply({"value": Threads.threads, "count": len(Threads.threads)})

    def do_POST(self):
        b = self.body()
        t = {"id": 100 + len(Threads.threads), "status": b["status"],
             "comments": [{"id": 1, "content": b["comments"][0]["content"]}]}
        Threads.threads.append(t)
        self.reply(t)

    def do_PATCH(self):
        m = re.search(r"/threads/(\d+)/comments/(\d+)\?", self.path)
        t = [t for t in Threads.threads if t["id"] == int(m.group(1))][0]
        t["comments"][int(m.group(2)) - 1]["content"] = self.body()["content"]
        self.reply(t["comments"][0])


def azure(examples, tmp):
    path = os.path.join(examples, "ci", ".azuredevops", "azure-pipelines.yml")
    with open(path) as f:
        text = f.read()
    check_commands(text)
    doc = yaml.safe_load(text)
    step = [s for s in doc["steps"] if s.get("displayName", "").startswith("Post or update")][0]
    values = re.findall(r"AZURE_[A-Z_]+: (.*)", text)
    assert values and all(re.fullmatch(r"\$\(AZURE_[A-Z_]+\)", v) for v in values), values
    assert step["env"]["SYSTEM_ACCESSTOKEN"] == "$(System.AccessToken)", step["env"]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Threads)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    Threads.threads.append({"id": 9, "comments": [{"id": 1, "content": "LGTM"}]})
    work = os.path.join(tmp, "ado")
    os.makedirs(work)
    macros = {
        "Agent.TempDirectory": work, "System.PullRequest.SourceCommitId": "b" * 40,
        "System.CollectionUri": f"http://127.0.0.1:{srv.server_address[1]}/org/",
        "System.TeamProjectId": "p1", "Build.BuildId": "77", "Build.BuildNumber": "20261203.1",
        "Build.Repository.ID": "r1", "System.PullRequest.PullRequestId": "42"}
    script = re.sub(r"\$\(([A-Za-z.]+)\)", lambda m: macros.get(m.group(1), m.group(0)),
                    step["script"])
    env = dict(os.environ, SYSTEM_ACCESSTOKEN="ado-token")
    with open(os.path.join(work, "validate.rc"), "w") as f:
        f.write("0\n")
    try:
        for n in (1, 2):
            with open(os.path.join(work, "plan.md"), "w") as f:
                f.write(f"### dsvmops plan: push {n}\n")
            subprocess.run(["bash", "-c", script], env=env, check=True, capture_output=True)
    finally:
        srv.shutdown()
    ours = [t for t in Threads.threads if t["comments"][0]["content"].startswith("<!--")]
    assert len(Threads.threads) == 2 and len(ours) == 1, Threads.threads
    assert "### dsvmops plan: push 2" in ours[0]["comments"][0]["content"], ours
    assert ours[0]["status"] == "closed", ours
    assert set(Threads.auth) == {"Bearer ado-token"}, Threads.auth


def main():
    examples = sys.argv[1]
    if not shutil.which("jq") or not shutil.which("curl"):
        print("test_ci_examples: skipped (jq or curl is not installed)")
        sys.exit(77)
    with tempfile.TemporaryDirectory() as tmp:
        github(examples, tmp)
        azure(examples, tmp)
    print("test_ci_examples: ok")


if __name__ == "__main__":
    main()
