#!/usr/bin/python3
"""The daemon's failure alerts: once per failure, not once per retry.

- a push with a manifest error: one source.failed alert naming file:line,
  however many polls retry it; a fixing push applies;
- an apply that ARM refuses (an armsim fault on the share's PUT): one
  apply.failed alert over several polls; when ARM accepts again, the next
  poll applies it;
- the Git server gone: one source.failed alert, and /readyz stays ready
  on the last good checkout.

usage: test_daemon_failures.py DSVMOPS ARMSIM EXAMPLES_DIR
"""
import json
import contextlib
import os
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_util import (SUB, AlertReceiver, Arm, Armsim, Daemon, GitServer,  # noqa: E402
                         github_push, http, write_config)

SHARE = (f"/subscriptions/{SUB}/resourceGroups/rg-dsvm-dev-westeurope/providers/"
         "Microsoft.Storage/storageAccounts/stdsvmdevnfs/fileServices/default/shares/scratch")


def fault(armsim, rule):
    req = urllib.request.Request(armsim.url + "/_armsim/faults", method="POST",
                                 data=json.dumps(rule).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()


def clear_faults(armsim):
    req = urllib.request.Request(armsim.url + "/_armsim/faults", method="DELETE")
    urllib.request.urlopen(req).read()


def events(rx, name, seconds):
    return [e for e in rx.drain(seconds) if e.get("event") == name]


def main():
    dsvm, armsim_bin, examples = sys.argv[1:4]
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="dsvm-daemon-fail-"))
        armsim = stack.enter_context(Armsim(armsim_bin, "--lro-ms", "100"))
        gs = stack.enter_context(GitServer(tmp, os.path.join(examples, "environments", "dev")))
        rx = stack.enter_context(AlertReceiver("alert-secret"))
        config = os.path.join(tmp, "dsvmops.yaml")
        write_config(config, armsim, gs.url, f"""drift: {{interval: 60s}}
alerts:
  - {{kind: webhook, url: {rx.url}, secret_env: ALERT_HMAC}}
""")
        with open(config) as f:
            text = f.read()
        with open(config, "w") as f:
            f.write(text.replace("interval: 60s}", "interval: 1s}", 1))
        env = {"DSVMOPS_CLIENT_SECRET": "demo-secret", "DSVMOPS_WEBHOOK_SECRET": "hook-secret",
               "ALERT_HMAC": "alert-secret"}
        daemon = stack.enter_context(Daemon(dsvm, config, env))
        daemon.wait_log("event=apply.done", 90)
        arm = Arm(armsim)

        # a manifest error: one alert naming the place, however many polls
        sha = gs.commit("dev.yaml", lambda t: t.replace("quotaGiB: 100", "quotaGiB: lots"),
                        "a typo")
        github_push(daemon.url, "hook-secret", after=sha)
        failed = events(rx, "source.failed", 4)
        assert len(failed) == 1, failed
        assert "dev.yaml:" in failed[0]["summary"] and "quotaGiB" in failed[0]["summary"], \
            failed
        assert failed[0]["commit"] == sha, failed
        st = daemon.status()
        assert st["lastError"] and "quotaGiB" in st["lastError"]["message"], st
        mark = daemon.mark()
        sha = gs.commit("dev.yaml", lambda t: t.replace("quotaGiB: lots", "quotaGiB: 200"),
                        "fix the typo")
        github_push(daemon.url, "hook-secret", after=sha)
        daemon.wait_log("event=apply.done", 30, mark)
        assert arm.get(SHARE, "2025-06-01")["properties"]["shareQuota"] == 200

        # ARM refuses the write: one apply.failed alert over several polls
        fault(armsim, {"method": "PUT", "type": "Microsoft.Storage/storageAccounts/"
                       "fileServices/shares", "name": "*", "status": 400, "count": 1000})
        sha = gs.commit("dev.yaml", lambda t: t.replace("quotaGiB: 200", "quotaGiB: 300"),
                        "grow")
        github_push(daemon.url, "hook-secret", after=sha)
        failed = events(rx, "apply.failed", 5)
        assert len(failed) == 1, failed
        assert failed[0]["severity"] == "error" and failed[0]["failed"] == 1, failed
        assert any("shares/scratch" in e for e in failed[0]["errors"]), failed
        retries = sum("event=apply.failed" in l for _, l in daemon.lines)
        assert retries >= 2, f"the failed apply was retried {retries} times"
        clear_faults(armsim)
        mark = daemon.mark()
        daemon.wait_log("event=apply.done", 30, mark)
        assert arm.get(SHARE, "2025-06-01")["properties"]["shareQuota"] == 300

        # the Git server is gone: one alert, still ready on the last checkout
        gs.close()
        failed = events(rx, "source.failed", 4)
        assert len(failed) == 1, failed
        assert http("GET", daemon.url + "/readyz")[0] == 200
        assert not rx.bad
        assert daemon.stop() == 0
    print("test_daemon_failures: ok")


if __name__ == "__main__":
    main()
