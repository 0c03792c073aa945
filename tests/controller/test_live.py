"""The controller with a real FreeSWITCH 1.10 and calls placed by SIPp.

Needs FREESWITCH_PREFIX (the install prefix: $FREESWITCH_PREFIX/bin/freeswitch)
and SIPp (`sipp` on PATH: Debian's sip-tester). The demo site is rendered into a
temporary directory with every port on loopback; the trunk is IP-authenticated
so nothing registers towards a carrier. A source build installs no sounds, so
the test gives the main number's prompts (silence) to the switch itself.

A SIPp caller from Kazan dials a number, keys digits as SIP INFO and hangs up
after a few seconds. When the call ends it must be in the ledger once, charged
to the right organization, with its call events:
- the main number, keying the organization ID 12: the controller answers,
  collects the ID and routes the call (the owner's phone is not registered, so
  to voicemail);
- organization 34's 8-800 hotline: a SIPp phone registers as extension 200 of
  the support group and answers; the owner pays by where the caller is.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from local_net import answers, free_port
from local_switch import freeswitch_command, put_on_loopback
from scraped import Scrape, scrape
from sipp_scenarios import CALLER_SCENARIO, KEY_INFO, REGISTRATION_SCENARIO, SDP, SPEAKS, answering_phone

from bizpbx.commands.status import read_metrics
from bizpbx.controller.outbox import Outbox
from bizpbx.ledger import Ledger
from bizpbx.settings import Site
from bizpbx.site_loader import load_site

PREFIX = os.environ.get("FREESWITCH_PREFIX")
SIPP = shutil.which("sipp")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not PREFIX, reason="FREESWITCH_PREFIX is unset: point it at a FreeSWITCH 1.10 install prefix to run the live controller test"),
    pytest.mark.skipif(SIPP is None, reason="sipp is not on PATH: install Debian's sip-tester to place the live test's calls"),
]

STARTUP_SECONDS = 60
CALLER = "78432123456"  # Kazan: 3.50 a minute on 8-800 (RULES.md)
MAIN_NUMBER = "74952121562"
HOTLINE = "78005553535"  # organization 34's; rings the support group 200, 201, 202

def wait_for(condition, what: str, bound: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.25)


def sipp(work: Path, name: str, *arguments: str) -> list[str]:
    """A SIPp command line on loopback, its scenario `name`.xml and its SIP messages traced in `work`."""
    return [SIPP, *arguments, "-sf", str(work / f"{name}.xml"), "-i", "127.0.0.1", "-timeout", "60s", "-trace_err", "-trace_msg", "-message_file", str(work / f"{name}_messages.log")]


def one_call(work: Path, name: str, to_port: int) -> None:
    """SIPp runs the scenario `name`.xml once, towards the switch's port; it must succeed."""
    command = sipp(work, name, f"127.0.0.1:{to_port}", "-m", "1", "-p", str(free_port(socket.SOCK_DGRAM)))
    run = subprocess.run(command, capture_output=True, text=True, cwd=work, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]


@dataclass
class Live:
    site: Site
    work: Path
    external: int
    internal: int
    controller: subprocess.Popen
    site_file: Path

    def start_controller(self) -> None:
        """A controller (again) for the site; returns once it is on the event socket."""
        log = (self.work / "controller.log").open("ab")
        self.controller = subprocess.Popen([sys.executable, "-m", "bizpbx.cli", "controller", str(self.site_file)], stdout=log, stderr=subprocess.STDOUT)
        # A call placed before the controller subscribes would start unseen (no call.started).
        metrics = f"http://127.0.0.1:{self.site.controller.metrics.port}/metrics"
        wait_for(lambda: (read_metrics(metrics) or {}).get("bizpbx_esl_connected") == 1, "the controller on the event socket")

    def call(self, called: str, keys: str = "", talk_ms: int = 6000, speaks: bool = False) -> None:
        """A call from the trunk side; returns once the caller has hung up."""
        self.write_caller(called, keys, talk_ms, speaks)
        one_call(self.work, "caller", self.external)

    def write_caller(self, called: str, keys: str = "", talk_ms: int = 6000, speaks: bool = False) -> None:
        """`speaks`: the caller sends G.711 audio (sip-tester's pcap) after its keys."""
        fields = {"called": called, "caller": CALLER}
        keyed = "".join(KEY_INFO.format(cseq=2 + n, digit=digit, **fields) for n, digit in enumerate(keys))
        keyed += SPEAKS if speaks else ""
        (self.work / "caller.xml").write_text(CALLER_SCENARIO.format(keys=keyed, sdp=SDP, talk_ms=talk_ms, **fields))

    def register(self, org_id: str, extension: str, contact_port: int) -> None:
        password = self.site.organizations[org_id].employees[extension].password.get_secret_value()
        scenario = REGISTRATION_SCENARIO.format(domain=self.site.freeswitch.sip_domain, user=f"{org_id}-{extension}", password=password, contact_port=contact_port, expires=300)
        (self.work / "register.xml").write_text(scenario)
        one_call(self.work, "register", self.internal)

    def the_one_call(self, org_id: str):
        """The call charged to `org_id`, once a CDR sweep has been over it too, and its call events."""

        def stored() -> list:
            with Ledger(self.site.controller.ledger) as ledger:
                return list(ledger.calls(org_id, 0, 2**31))

        wait_for(lambda: len(stored()) == 1, "the call in the ledger")
        with closing(Outbox(self.site.controller.ledger)) as outbox:
            # The call's CDR line, once swept, must not add a second row.
            wait_for(lambda: outbox.last_cdr() is not None, "a CDR sweep to read the call's CDR")
            [call] = stored()
            events = [e for e in outbox.after(0) if e.call_uuid == call.uuid]
        names = [e.name for e in events]
        assert names[0] == "call.started" and names.count("call.ended") == 1
        return call, events

    def metrics_of_the_one_call(self, call) -> Scrape:
        """The controller's metrics scraped over HTTP, checked to have counted `call` (from the ledger) once."""
        metrics = asyncio.run(scrape(self.site.controller.metrics.port))
        assert metrics.value("bizpbx_calls_total", direction=call.direction) == 1
        assert metrics.value("bizpbx_routing_seconds_count") == 1 and metrics.value("bizpbx_routing_seconds_bucket", le="+Inf") == 1
        assert metrics.labels("bizpbx_calls_rated_total") == [{"organization": call.organization, "direction": call.direction, "outcome": call.outcome}]
        assert metrics.value("bizpbx_calls_rated_total", organization=call.organization, direction=call.direction, outcome=call.outcome) == 1
        [hangup] = metrics.labels("bizpbx_hangups_total")
        assert hangup["direction"] == call.direction and metrics.value("bizpbx_hangups_total", **hangup) == 1
        assert metrics.value("bizpbx_esl_connected") == 1 and metrics.value("bizpbx_active_calls") == 0
        return metrics


@pytest.fixture
def live(lab_site_copy: Path, tmp_path: Path, monkeypatch, request):
    """FreeSWITCH and the controller running the demo site, on loopback (a test may
    give, as its indirect parameter, a function that changes the site's data first)."""
    monkeypatch.delenv("BIZPBX_TRUNKS__CARRIER__PASSWORD")  # an IP-authenticated trunk has none
    data = yaml.safe_load(lab_site_copy.read_text(encoding="utf-8"))
    external, internal = put_on_loopback(data, tmp_path, Path(PREFIX))
    getattr(request, "param", lambda data: None)(data)
    lab_site_copy.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    site = load_site(lab_site_copy, generate_missing_secrets=True)
    esl = site.esl.port
    command = freeswitch_command(site, tmp_path, Path(PREFIX))
    switch = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=tmp_path)
    running = Live(site, tmp_path, external, internal, None, lab_site_copy)  # type: ignore[arg-type]
    try:
        wait_for(lambda: answers(esl), "FreeSWITCH's event socket")
        running.start_controller()
        yield running
    finally:
        if running.controller is not None:
            running.controller.terminate()
            assert running.controller.wait(60) == 0, (tmp_path / "controller.log").read_text(errors="replace")[-3000:]
        switch.terminate()
        try:
            switch.wait(30)
        except subprocess.TimeoutExpired:
            switch.kill()


def test_a_main_number_call_through_freeswitch_is_routed_and_rated_once(live: Live):
    live.call(MAIN_NUMBER, keys="12#")
    call, events = live.the_one_call("12")
    assert call.direction == "inbound"
    # The switch answered for the prompt and for voicemail: no person answered, a missed call.
    names = [e.name for e in events]
    assert names == ["call.started", "call.organization_entered", "call.transferred", "call.voicemail", "call.missed", "call.ended"]
    started, entered, transfer, voicemail, missed, ended = (e.data for e in events)
    assert (started["number"], started["number_kind"], started["organization"]) == ("+74952121562", "main", None)
    assert entered["organization"] == "12"
    assert transfer["organization"] == "12" and (transfer["from"]["target"], transfer["to"]["target"]) == ("extension:100", "voicemail:100")
    assert transfer["reason"] == "100: unavailable", "no phone registered as 12-100 in this test"
    assert voicemail["box"]["extension"] == "100" and voicemail["box"]["name"] == live.site.organizations["12"].employees["100"].name
    assert missed["voicemail"] is True and ended["voicemail"] is True and ended["answered"] is False and ended["answered_by"] is None
    assert ended["talk_seconds"] == 0 and ended["duration"] > 0  # billed time from the switch's answer, no conversation
    assert not any(e.data.get("recovered") for e in events), "the controller followed the call live"
    metrics = live.metrics_of_the_one_call(call)
    assert metrics.labels("bizpbx_hangups_total") == [{"direction": "inbound", "trunk": "carrier", "cause": "NORMAL_CLEARING"}]
    # The caller keyed 12# into the main number's prompt: the routing latency stops at the first step (answer), not after the digits.
    assert metrics.value("bizpbx_routing_seconds_bucket", le="1.0") == 1


def answered_by_phone(live: Live, place_call) -> None:
    """Phone 34-200 registers and answers while `place_call` runs; it must have succeeded."""
    phone_port = free_port(socket.SOCK_DGRAM)
    (live.work / "phone.xml").write_text(answering_phone())
    # Without -m: the phone takes a NOTIFY and the call, then SIGUSR1 stops it;
    # it exits non-zero if any of them failed.
    phone = subprocess.Popen(sipp(live.work, "phone", "-p", str(phone_port)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=live.work)
    try:
        live.register("34", "200", phone_port)
        place_call()
    finally:
        phone.send_signal(signal.SIGUSR1)
        out, err = phone.communicate(timeout=60)
    assert phone.returncode == 0, out[-2000:] + err[-2000:]


def test_a_hotline_call_answered_by_a_registered_phone_is_paid_by_the_owner_by_the_callers_origin(live: Live):
    answered_by_phone(live, lambda: live.call(HOTLINE))
    call, events = live.the_one_call("34")
    assert call.direction == "inbound" and call.rule == "hotline-origin"
    assert call.cost == Decimal("3.50")  # a few seconds: one started minute at Kazan's price
    names = [e.name for e in events]
    # Organization 34 records its calls from outside (the demo site): announced once the call is stored.
    assert names == ["call.started", "call.answered", "call.ended", "call.recorded"], names
    started, answered, ended, _ = (e.data for e in events)
    assert (started["number"], started["number_kind"], started["organization"]) == ("+78005553535", "hotline", "34")
    # The phone registered as 34-200 answered: CHANNEL_BRIDGE named its leg, the CDR carries who it was.
    employee = {"target": "extension:200", "kind": "extension", "extension": "200", "name": live.site.organizations["34"].employees["200"].name}
    assert answered["answered_by"] == ended["answered_by"] == employee
    assert "recovered" not in answered and ended["answered"] is True
    assert ended["talk_seconds"] >= 4 and ended["wait_seconds"] is not None  # the caller talks about 6 s
    metrics = live.metrics_of_the_one_call(call)
    assert metrics.value("bizpbx_calls_rated_total", organization="34", direction="inbound", outcome="billed") == 1
