"""Day-2 operations on the lab (issue 12): a site change provisioned by the playbook reloads the
controller and the switch without dropping a call or restarting the controller; the carrier's
Kamailio stopped and started again reaches a webhook receiver as trunk.down / trunk.up and the
metrics endpoint as bizpbx_trunk_up 0 / 1.

How long detection takes: the lab's trunk registers for 60 s (register_expires) and FreeSWITCH
tries a failed registration again after retry-seconds (30 s), so trunk.down comes when the next
REGISTER fails, up to a minute after Kamailio stops (plus the transaction's timeout when no ICMP
error answers it), and trunk.up up to 30 s after it is back (more once FreeSWITCH backs off).
The waits below leave room for that; the times seen are printed.

Skipped, saying why, when FreeSWITCH was not installed in the lab.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import time
from collections.abc import Callable

import pytest
import yaml

from bizpbx_lab.site_secrets import LAB_SECRETS

from .acceptance import MAIN, WORK, Pbx, Phone, assert_sipp_ok, burst, burst_result, lab_site_with, next_caller, put, stop_burst, switch  # noqa: F401 - fixture
from .conftest import playbook

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("needs_freeswitch")]

# At 1 a second, more than a converge lasts: the burst is stopped once the converge (whose handlers
# reload at its end) is over, and the calls then up end as usual.
BURST_CALLS = 1800
BURST_SECONDS = BURST_CALLS * 2
RECEIVER_PORT = 8099
DETECTION_BOUND = 180  # seconds: a registration period, a SIP transaction's timeout, FreeSWITCH's backoff
RECEIVER = """
import hashlib, hmac, json, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = open(sys.argv[2], "rb").read().strip()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        stamp = self.headers.get("X-Bizpbx-Timestamp", "")
        expected = "sha256=" + hmac.new(SECRET, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        record = {"received_at": time.time(), "header": self.headers.get("X-Bizpbx-Event"),
                  "signed": hmac.compare_digest(expected, self.headers.get("X-Bizpbx-Signature", "")), "body": json.loads(body)}
        with open(sys.argv[3], "a") as out:
            out.write(json.dumps(record) + "\\n")
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()
"""


def controller_identity(switch: Pbx) -> str:
    """The controller process systemd runs: its MainPID and when it became active."""
    return switch.host.check_output("systemctl show bizpbx-controller -p MainPID -p ActiveEnterTimestamp")


def reload_lines(switch: Pbx, since: str) -> list[str]:
    """The controller's "site reloaded" log lines since `since` (journalctl's time)."""
    lines = switch.host.check_output(f"journalctl -u bizpbx-controller --since {shlex.quote(since)} -o cat --no-pager")
    messages = [json.loads(line).get("message", "") for line in lines.splitlines() if line.startswith("{")]
    return [message for message in messages if message.startswith("site reloaded from")]


def wait_until(what: str, condition: Callable[[], bool], bound: float, explain: Callable[[], object] = lambda: "") -> float:
    """Seconds until `condition` held (polled every 2 s), failing after `bound` with `explain()`."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < bound, f"{what}: not within {bound:.0f} s {explain()}"
        time.sleep(2)
    return time.monotonic() - start


def test_an_employee_added_by_the_playbook_while_calls_are_up(switch: Pbx, carrier, phone, tmp_path) -> None:
    """No call dropped, the controller reloaded (not restarted), the new extension answers."""
    anchor = '      "102":\n        name: Пётр Иванов\n'
    changed = lab_site_with(tmp_path, anchor, '      "103":\n        name: Новый Сотрудник\n' + anchor)
    before = controller_identity(switch)
    reloads = switch.status().get("site_reloads", 0)
    since = switch.host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    caller = next_caller("7495")
    try:
        burst(carrier, caller, MAIN, BURST_CALLS, 1, background=True, timeout=BURST_SECONDS)
        time.sleep(5)  # calls are up when the converge begins
        try:
            run = playbook("--limit", "pbx", "-e", f"bizpbx__site_file={changed}")
        finally:
            stop_burst(carrier)
        assert run.returncode == 0, run.explain()
        assert "Reload the bizpbx controller" in run.output and "Restart the bizpbx controller" not in run.output, run.explain()
        lines = reload_lines(switch, since)
        assert lines, "the controller logged no reload"
        in_progress = [int(m[1]) for line in lines if (m := re.search(r"(\d+) call\(s\) in progress keep their own", line))]
        assert in_progress and max(in_progress) >= 1, f"no call was up when the controller reloaded: {lines}"
        assert_sipp_ok(burst_result(carrier))  # stopped: every call it placed completed
        assert controller_identity(switch) == before, "the controller was restarted"
        assert switch.status()["site_reloads"] >= reloads + 1
        switch.wait_no_calls()
        answering = Phone(phone, switch, "12-103", 5082)  # registers with the password bizpbx generated for it
        calling = Phone(phone, switch, "12-100", 5084)
        placed = int(time.time())
        try:
            assert_sipp_ok(calling.place("103", talk_ms=3000))
        finally:
            calling.stop()
            answering.stop()
        [call] = switch.wait_rows("SELECT * FROM calls WHERE caller = '12-100' AND callee = '103' AND answer_epoch >= ?", str(placed))
        assert call["direction"] == "internal" and call["billsec"] >= 2
        print(f"\nday-2 site change: {len(lines)} controller reload(s), calls in progress at the reload: {in_progress}; controller {before.split()[0]} kept")
    finally:
        restored = playbook("--limit", "pbx")
        assert restored.returncode == 0, restored.explain()


class TrunkWatch:
    """What a webhook receiver on the pbx got, and what the metrics endpoint says of the trunk."""

    def __init__(self, switch: Pbx, received: str) -> None:
        self.switch, self.received = switch, received

    def events(self, name: str, after: float) -> list[dict]:
        text = self.switch.host.run(f"cat {self.received} 2>/dev/null").stdout
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
        return [r for r in records if r["body"]["event"] == name and r["body"]["trunk"] == "carrier" and r["received_at"] >= after]

    def trunk_up(self) -> float | None:
        listen = yaml.safe_load(self.switch.host.file("/etc/bizpbx/site.yml").content_string).get("controller", {}).get("metrics", {})
        url = f"http://127.0.0.1:{listen.get('port', 9464)}/metrics"
        code = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).read().decode())"
        text = self.switch.host.run(f"python3 -c {shlex.quote(code)}").stdout
        found = re.search(r'^bizpbx_trunk_up\{trunk="carrier"\} (\S+)$', text, re.MULTILINE)
        return float(found[1]) if found else None


def test_the_carrier_going_away_and_back_reaches_a_webhook_and_the_metrics(switch: Pbx, carrier, tmp_path) -> None:
    secret_file, received = f"{WORK}/receiver.secret", f"{WORK}/received.jsonl"
    secret = secrets.token_urlsafe(24)
    put(switch.host, f"{WORK}/receiver.py", RECEIVER)
    put(switch.host, secret_file, secret)
    switch.host.run(f"rm -f {received}; cd {WORK} && (python3 receiver.py {RECEIVER_PORT} {secret_file} {received} > receiver.out 2>&1 & echo $! > receiver.pid)")
    site = lab_site_with(
        tmp_path, "controller:\n", f'controller:\n  webhooks:\n    lab_receiver: {{url: "http://127.0.0.1:{RECEIVER_PORT}/", events: ["trunk.*"]}}\n'
    )
    lab_secrets = yaml.safe_load(LAB_SECRETS.read_text())
    lab_secrets.setdefault("controller", {})["webhooks"] = {"lab_receiver": {"secret": secret}}
    extra = tmp_path / "secrets.json"
    extra.write_text(json.dumps({"bizpbx__secrets": lab_secrets}))
    extra.chmod(0o600)
    watch = TrunkWatch(switch, received)
    stopped = False
    try:
        run = playbook("--limit", "pbx", "-e", f"bizpbx__site_file={site}", "-e", f"@{extra}")
        assert run.returncode == 0, run.explain()
        wait_until("the trunk up before Kamailio stops", lambda: watch.trunk_up() == 1, 120, lambda: switch.status().get("trunks"))

        stop_at = time.time()
        carrier.check_output("systemctl stop kamailio")
        stopped = True
        down_after = wait_until("trunk.down at the receiver", lambda: bool(watch.events("trunk.down", stop_at)), DETECTION_BOUND)
        metric_down_after = wait_until("bizpbx_trunk_up 0", lambda: watch.trunk_up() == 0, 30) + down_after

        start_at = time.time()
        carrier.check_output("systemctl start kamailio")
        stopped = False
        up_after = wait_until("trunk.up at the receiver", lambda: bool(watch.events("trunk.up", start_at)), DETECTION_BOUND)
        metric_up_after = wait_until("bizpbx_trunk_up 1", lambda: watch.trunk_up() == 1, 30) + up_after

        [down] = watch.events("trunk.down", stop_at)
        [up] = watch.events("trunk.up", start_at)
        for record in (down, up):
            assert record["signed"] and record["header"] == record["body"]["event"], record
        assert down["body"]["state"] in ("failing", "down") and down["body"]["reason"], down
        assert up["body"]["state"] == "up" and up["body"]["reason"] is None, up
        print(
            f"\nday-2 trunk: trunk.down received {down['received_at'] - stop_at:.1f} s after Kamailio stopped "
            f"(registration {down['body']['registration']}: {down['body']['reason']}), metric 0 seen within {metric_down_after:.0f} s; "
            f"trunk.up received {up['received_at'] - start_at:.1f} s after it started, metric 1 seen within {metric_up_after:.0f} s"
        )
    finally:
        if stopped:
            carrier.run("systemctl start kamailio")
        switch.host.run(f"kill $(cat {WORK}/receiver.pid) 2>/dev/null; true")
        restored = playbook("--limit", "pbx")
        assert restored.returncode == 0, restored.explain()
