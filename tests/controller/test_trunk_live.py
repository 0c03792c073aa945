"""A trunk that cannot register, on a real FreeSWITCH 1.10 (freeswitch#1960).

Needs FREESWITCH_PREFIX and SIPp, as test_live.py. The demo site gets a
second trunk, `backup`, registering to a loopback port where nothing
answers. While it fails, calls from the first trunk (`carrier`) and a call
answered by a registered phone (the internal profile) must go through; the
controller learns of the failure from the switch (sofia::gateway_state, or
`sofia xmlstatus gateway` at start) and sends `trunk.down`. Then a SIPp
registrar starts answering on that port: the gateway registers at its next
retry and `trunk.up` follows.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from contextlib import closing

import pytest
from local_net import free_port
from test_live import HOTLINE, MAIN_NUMBER, PREFIX, SIPP, Live, answered_by_phone, live, sipp, wait_for  # noqa: F401 - live is the fixture

from bizpbx.commands.status import scrape
from bizpbx.controller.outbox import Outbox

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not PREFIX, reason="FREESWITCH_PREFIX is unset: point it at a FreeSWITCH 1.10 install prefix to run the live trunk test"),
    pytest.mark.skipif(SIPP is None, reason="sipp is not on PATH: install Debian's sip-tester"),
]

REGISTRAR_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="the backup trunk's registrar accepts every REGISTER">
  <recv request="REGISTER"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Contact:];expires=600
Expires: 600
Content-Length: 0
]]></send>
</scenario>
"""


def with_a_backup_trunk_nobody_answers(data: dict) -> None:
    """A second trunk registering to a loopback port where nothing listens (yet); the
    organizations keep the first, and a webhook takes the trunk events."""
    dead = free_port(socket.SOCK_DGRAM)
    data["trunks"]["backup"] = {"proxy": "127.0.0.1", "port": dead, "auth": "registration", "username": "pbx", "register_expires": 600, "source_addresses": ["127.0.0.1/32"]}
    for org in data["organizations"].values():
        org.setdefault("trunk", "carrier")
    data["controller"]["webhooks"] = {"noc": {"url": "http://127.0.0.1:9/", "secret": "a-webhook-secret-of-16", "events": ["trunk.*"]}}


@pytest.fixture
def backup_password(monkeypatch) -> None:
    monkeypatch.setenv("BIZPBX_TRUNKS__BACKUP__PASSWORD", "backup-trunk-secret-1")


def trunk_events(live: Live) -> list[dict]:
    with closing(Outbox(live.site.controller.ledger)) as outbox:
        return [e.data for e in outbox.after(0, limit=10_000) if e.name.startswith("trunk.")]


def trunk_up(live: Live) -> dict[str, float]:
    """bizpbx_trunk_up as the controller serves it: trunk -> value."""
    listen = live.site.controller.metrics
    families = scrape(f"http://{listen.host}:{listen.port}/metrics") or []
    return {sample.labels["trunk"]: sample.value for family in families for sample in family.samples if sample.name == "bizpbx_trunk_up"}


@pytest.mark.parametrize("live", [with_a_backup_trunk_nobody_answers], indirect=True)
def test_a_trunk_failing_to_register_stops_no_other_call_and_is_watched(backup_password, live: Live):
    dead_port = live.site.trunks["backup"].port
    wait_for(lambda: [e["event"] for e in trunk_events(live)] == ["trunk.down"], "trunk.down for the backup trunk", bound=120)
    [down] = trunk_events(live)
    assert down["trunk"] == "backup" and down["state"] == "failing" and down["reason"].startswith("registration")
    assert trunk_up(live) == {"backup": 0, "carrier": 1}

    # Calls on the other trunk, and a phone's, go through while backup keeps failing.
    live.call(MAIN_NUMBER, keys="12#")
    answered_by_phone(live, lambda: live.call(HOTLINE))
    live.the_one_call("12")
    _, events = live.the_one_call("34")
    assert "call.answered" in [e.name for e in events], "the registered phone answered"
    status = subprocess.run([sys.executable, "-m", "bizpbx.cli", "status", str(live.work / "site.yml"), "--json"], capture_output=True, text=True, check=False)
    assert json.loads(status.stdout)["trunks"]["backup"]["state"] == "failing"

    # The registrar answers from now on: at its next retry the gateway registers.
    (live.work / "registrar.xml").write_text(REGISTRAR_SCENARIO)
    registrar = subprocess.Popen(sipp(live.work, "registrar", "-p", str(dead_port)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=live.work)
    try:
        wait_for(lambda: [e["event"] for e in trunk_events(live)] == ["trunk.down", "trunk.up"], "trunk.up for the backup trunk", bound=180)
    finally:
        registrar.send_signal(signal.SIGUSR1)
        registrar.communicate(timeout=60)
    assert trunk_up(live)["backup"] == 1
