#!/usr/bin/python3
"""The pull-request plan: plan --base REV --head REV --format markdown.

usage: test_pr_plan.py DSVMOPS ARMSIM EXAMPLES_DIR

A real Git repository (made with the git command) holds the example prod
environment under environments/prod. Its first commit is applied to
armsim; a second commit changes one field of one pool (its VM size). The pull-request
plan lists exactly that object and field under "Desired-state changes",
and its live plan shows exactly one resource update with that one field.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import Armsim, Workdir, dsvmops, put_secret  # noqa: E402


VMSIZE = '`spec.vmSize`: `"Standard_NC6s_v3"` \u2192 `"Standard_NC12s_v3"`'


def git(repo, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    subprocess.run(["git", "-C", repo, *args], check=True, env=env, capture_output=True)


def main():
    dsvm, armsim_bin, examples = sys.argv[1:4]
    with Armsim(armsim_bin, "--lro-ms", "50") as arm, tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "infra")
        env_dir = os.path.join(repo, "environments", "prod")
        shutil.copytree(os.path.join(examples, "environments", "prod"), env_dir)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "prod")
        with Workdir(arm, env_dir) as wd:
            c = ["-c", wd.config, "--instance", "e2e", "--source", env_dir]

            # base is live
            dsvmops(dsvm, "apply", *c, "--target", "KeyVault/kv-dsvm-prod", check=0)
            put_secret(arm, "kv-dsvm-prod", "ad-join-protected-settings", '{"Password": "x"}')
            put_secret(arm, "kv-dsvm-prod", "vision-local-admin", "Vision-Admin-1!")
            put_secret(arm, "kv-dsvm-prod", "stdsvmprodsmb-key", "c21iLWtleQ==")
            dsvmops(dsvm, "apply", *c, check=0)

            # the pull request: one field of one pool
            pool = os.path.join(env_dir, "pools", "team-vision.yaml")
            with open(pool) as f:
                text = f.read()
            assert "vmSize: Standard_NC6s_v3" in text
            with open(pool, "w") as f:
                f.write(text.replace("vmSize: Standard_NC6s_v3", "vmSize: Standard_NC12s_v3"))
            git(repo, "commit", "-q", "-am", "vision: bigger GPUs")

            # the review writes nothing; the live plan has changes (exit 2)
            arm.reset_stats()
            rc, md, err = dsvmops(dsvm, "plan", *c, "--base", "HEAD~1", "--head", "HEAD",
                                  "--format", "markdown", "--detailed-exitcode")
            assert rc == 2, (rc, md, err)
            verbs = arm.stats()["by_verb"]
            assert verbs.get("PUT", 0) == 0 and verbs.get("DELETE", 0) == 0, verbs

            head = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True,
                                  text=True, check=True).stdout.strip()
            assert f"head `{head[:12]}` (HEAD)" in md, md
            changes = md.split("### Desired-state changes")[1].split("### dsvmops plan")[0]
            rows = [l for l in changes.splitlines() if l.startswith("| ") and "Change" not in l]
            assert rows == ["| \u270f\ufe0f modified | `Pool/vision-gpu` | "
                            "`spec.vmSize`: `\"Standard_NC6s_v3\"` \u2192 `\"Standard_NC12s_v3\"` |"], rows

            live = md.split("### dsvmops plan")[1]
            assert "| \u270f\ufe0f update | 1 |" in live, live
            assert "| \u2795 create | 0 |" in live and "| \u274c delete | 0 |" in live, live
            field_rows = [l for l in live.splitlines()
                          if l.startswith("| `") and "`" in l[3:]]
            assert len(field_rows) == 1, field_rows
            assert field_rows[0] == ('| `sku.name` | `"Standard_NC6s_v3"` | '
                                     '`"Standard_NC12s_v3"` |'), field_rows
            assert live.count("<details>") == 1 and "Pool/vision-gpu" in live, live
            print(field_rows[0])

            # -o writes the comment to a file; an unchanged range says so
            out = os.path.join(tmp, "plan.md")
            dsvmops(dsvm, "plan", *c, "--base", "HEAD", "--head", "HEAD", "--format",
                    "markdown", "-o", out, check=0)
            with open(out) as f:
                same = f.read()
            assert "No manifest object changed between base and head." in same, same

            # the repository's top plus source.path from the configuration
            with open(wd.config) as f:
                cfg = f.read()
            with open(wd.config, "w") as f:
                f.write(cfg.replace(f"source: {{url: {env_dir}}}",
                                    f"source: {{url: {repo}, path: environments/prod}}"))
            rc, md2, err = dsvmops(dsvm, "plan", "-c", wd.config, "--instance", "e2e",
                                   "--source", repo, "--base", "HEAD~1", "--head", "HEAD",
                                   "--format", "markdown")
            assert rc == 0 and VMSIZE in md2, (rc, md2, err)
            # ... and without --source, the configured local repository
            rc, md3, err = dsvmops(dsvm, "plan", "-c", wd.config, "--instance", "e2e",
                                   "--base", "HEAD~1", "--head", "main", "--format", "markdown")
            assert rc == 0 and VMSIZE in md3, (rc, md3, err)

            # bad input
            rc, _, err = dsvmops(dsvm, "plan", *c, "--base", "nope", "--head", "HEAD",
                                 "--format", "markdown")
            assert rc == 1 and "no commit 'nope'" in err, (rc, err)
            rc, _, err = dsvmops(dsvm, "plan", *c, "--base", "HEAD~1", "--head", "HEAD")
            assert rc == 1 and "--format markdown" in err, (rc, err)
            rc, _, err = dsvmops(dsvm, "plan", "-c", wd.config, "--source", tmp, "--base",
                                 "HEAD~1", "--head", "HEAD", "--format", "markdown")
            assert rc == 1 and "not in a Git repository" in err, (rc, err)

            # a head that does not validate: errors name the files as in the repository
            with open(os.path.join(env_dir, "99.yaml"), "w") as f:
                f.write("apiVersion: dsvmops.io/v1\nkind: ResourceGroup\nmetadata: {name: x}\n"
                        "spec: {locaton: eastus}\n")
            git(repo, "add", "-A")
            git(repo, "commit", "-q", "-m", "broken")
            rc, _, err = dsvmops(dsvm, "plan", *c, "--base", "HEAD~1", "--head", "HEAD",
                                 "--format", "markdown")
            assert rc == 1 and "\nenvironments/prod/99.yaml:4:8: error: unknown field" in \
                "\n" + err and "have errors" in err, (rc, err)
    print("test_pr_plan: ok")


if __name__ == "__main__":
    main()
