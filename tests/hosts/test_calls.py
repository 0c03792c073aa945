"""Acceptance: real SIP calls through the converged lab (FreeSWITCH, the controller, Kamailio, SIPp).

Callers dial from the carrier host through Kamailio, as the customer's provider delivers calls;
phones register from the phone host with the passwords bizpbx generated; the outside world
("PSTN") is a SIPp callee on the carrier host that Kamailio relays the PBX's calls to. Each test
asserts on what the CRM sees (the call events in the outbox) and on the ledger, read on the pbx.
Every call has a caller number of its own, so a test finds its calls among all the others.

Skipped, saying why, when FreeSWITCH was not installed in the lab.
"""

from __future__ import annotations

import itertools
import json
import shlex
import time
from decimal import Decimal

import pytest
import yaml
from sipp_scenarios import (
    CALLER_SCENARIO,
    DIGIT_NAMES,
    KEY_2833,
    KEY_INFO,
    PHONE_CALLER_SCENARIO,
    PHONE_REFUSED_SCENARIO,
    PHONE_SCENARIO,
    REGISTRATION_SCENARIO,
    SDP,
    SDP_2833,
)

from bizpbx import lab

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("needs_freeswitch")]

CARRIER, PHONE, PBX = lab.BY_NAME["carrier"].address, lab.BY_NAME["phone"].address, lab.BY_NAME["pbx"].address
KAMAILIO = f"{CARRIER}:5060"
PSTN_PORT = 5090  # kamailio__pstn_callee in inventory/lab/group_vars/sip_carrier.yml
MAIN, HOTLINE, ROMASHKA = "74952121562", "78005553535", "74951234567"
WORK = "/tmp/bizpbx-acceptance"
SETTLE_SECONDS = 60
_callers = itertools.count(1)


def next_caller(prefix: str) -> str:
    """A caller number no other call of the session has (prefix + a 4-digit sequence)."""
    return f"{prefix}{int(time.time()) % 1000:03d}{next(_callers):04d}"[: len(prefix) + 7]


def put(host, path: str, text: str) -> None:
    host.run(f"mkdir -p {WORK}")
    result = host.run(f"cat > {shlex.quote(path)} <<'SCENARIO_END'\n{text}\nSCENARIO_END")
    assert result.rc == 0, result.stderr


def sipp(host, name: str, target: str, *args: str) -> str:
    """SIPp runs scenario `name` once from `host`; returns its output (failures carry it)."""
    command = (
        f"cd {WORK} && sipp {target} -sf {name}.xml -m 1 -timeout 60s -timeout_error -nostdin "
        f"-trace_err -error_file {name}.err {' '.join(args)} > {name}.out 2>&1; echo sipp-exit=$?; tail -c 3000 {name}.err {name}.out"
    )
    out = host.run(command).stdout  # echo: SIPp's exit 255 would look like an SSH failure to testinfra
    return out


def assert_sipp_ok(out: str) -> None:
    assert "sipp-exit=0" in out, out


class Pbx:
    """The pbx as the CRM and the accountant see it: call events and the ledger."""

    def __init__(self, host) -> None:
        self.host = host

    def query(self, sql: str, *params: str) -> list[dict]:
        code = (
            "import json, sqlite3, sys; db = sqlite3.connect('file:/var/lib/bizpbx/ledger.sqlite3?mode=ro', uri=True); "
            "db.row_factory = sqlite3.Row; "
            "print(json.dumps([dict(r) for r in db.execute(sys.argv[1], sys.argv[2:])]))"
        )
        out = self.host.check_output(f"python3 -c {shlex.quote(code)} {shlex.quote(sql)} {' '.join(shlex.quote(p) for p in params)}")
        return json.loads(out)

    def events_of(self, uuid: str) -> list[dict]:
        return [json.loads(row["body"]) for row in self.query("SELECT body FROM call_events WHERE call_uuid = ? ORDER BY id", uuid)]

    def wait_rows(self, sql: str, *params: str, count: int = 1) -> list[dict]:
        """The rows, once there are `count` of them (or what there is when the wait is over)."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while len(rows := self.query(sql, *params)) < count and time.monotonic() < deadline:
            time.sleep(1)
        assert len(rows) == count, f"{len(rows)} row(s) for {sql} {params}, expected {count}"
        return rows

    def wait_calls(self, caller: str, count: int = 1) -> list[dict]:
        return self.wait_rows("SELECT * FROM calls WHERE caller IN (?, ?)", caller, "+" + caller, count=count)

    def the_call(self, caller: str) -> tuple[dict, list[dict]]:
        [call] = self.wait_calls(caller)
        events = self.events_of(call["uuid"])
        names = [e["event"] for e in events]
        assert names.count("call.started") == 1 and names.count("call.ended") == 1, names
        return call, events

    def status(self) -> dict:
        out = self.host.run("/opt/bizpbx/venv/bin/bizpbx status /etc/bizpbx/site.yml --json").stdout
        return json.loads(out) if out.strip().startswith("{") else {}

    def wait_routing(self) -> None:
        """The controller runs and is subscribed: calls from now on are routed and seen by it."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while not (self.status().get("esl_connected") is True):
            assert time.monotonic() < deadline, self.host.run("journalctl -u bizpbx-controller -n 30 --no-pager").stdout
            time.sleep(1)

    def sip_password(self, user: str) -> str:
        data = yaml.safe_load(self.host.file("/etc/bizpbx/site.sip-passwords.yml").content_string)
        org, extension = user.split("-")
        return data["organizations"][org]["employees"][extension]["password"]


@pytest.fixture(scope="module")
def switch(pbx, carrier, phone) -> Pbx:
    switch = Pbx(pbx)
    switch.wait_routing()
    for host in (carrier, phone):
        host.run(f"rm -rf {WORK}; mkdir -p {WORK}")
    return switch


def call_in(carrier, caller: str, called: str, *, keys: str = "", rfc2833: bool = False) -> str:
    """A call from the provider's side: dials, keys digits (SIP INFO or RFC 2833), talks, hangs up."""
    fields = {"called": called, "caller": caller}
    if rfc2833:
        keyed = "".join(KEY_2833.format(name=DIGIT_NAMES.get(d, d)) for d in keys)
    else:
        keyed = "".join(KEY_INFO.format(cseq=2 + n, digit=d, **fields) for n, d in enumerate(keys))
    put(carrier, f"{WORK}/caller.xml", CALLER_SCENARIO.format(keys=keyed, sdp=SDP_2833 if rfc2833 else SDP, **fields))
    return sipp(carrier, "caller", KAMAILIO, "-i", CARRIER, "-p", "5070", "-mi", CARRIER)


class Phone:
    """A SIPp phone on the phone host: registered as `user`, answering on `port` in the background."""

    def __init__(self, host, switch: Pbx, user: str, port: int) -> None:
        self.host, self.user, self.port = host, user, port
        self.password = switch.sip_password(user)
        name = f"phone-{user}"
        put(host, f"{WORK}/{name}.xml", PHONE_SCENARIO.replace("{sdp}", SDP))
        host.run(f"cd {WORK} && (sipp -sf {name}.xml -i {PHONE} -p {port} -nostdin -trace_err -error_file {name}.err > {name}.out 2>&1 & echo $! > {name}.pid)")
        put(host, f"{WORK}/register-{user}.xml", REGISTRATION_SCENARIO.format(domain=PBX, user=user, password=self.password, contact_port=port))
        assert_sipp_ok(sipp(host, f"register-{user}", f"{PBX}:5060", "-i", PHONE, "-p", str(port + 1000)))

    def stop(self) -> None:
        self.host.run(f"kill $(cat {WORK}/phone-{self.user}.pid) 2>/dev/null; true")

    def place(self, called: str, talk_ms: int = 3000, refused_with: int | None = None) -> str:
        """Calls `called`: answered and talked for `talk_ms`, or refused with the status `refused_with`."""
        fields = {"called": called, "domain": PBX, "user": self.user, "password": self.password, "sdp": SDP}
        scenario = PHONE_REFUSED_SCENARIO.format(status=refused_with, **fields) if refused_with else PHONE_CALLER_SCENARIO.format(talk_ms=talk_ms, **fields)
        put(self.host, f"{WORK}/out-{self.user}.xml", scenario)
        return sipp(self.host, f"out-{self.user}", f"{PBX}:5060", "-i", PHONE, "-p", str(self.port + 2000))


@pytest.fixture
def pstn(carrier):
    """The outside world: a SIPp callee on the carrier host answering the calls Kamailio relays."""
    put(carrier, f"{WORK}/pstn.xml", PHONE_SCENARIO.replace("{sdp}", SDP))
    carrier.run(f"cd {WORK} && (sipp -sf pstn.xml -i {CARRIER} -p {PSTN_PORT} -nostdin -trace_err -error_file pstn.err > pstn.out 2>&1 & echo $! > pstn.pid)")
    yield
    carrier.run(f"kill $(cat {WORK}/pstn.pid) 2>/dev/null; true")


def test_a_hotline_call_answered_by_a_registered_phone_is_billed_by_the_callers_origin(switch, carrier, phone) -> None:
    answering = Phone(phone, switch, "34-200", 5062)
    try:
        caller = next_caller("7843")  # Kazan: 3.50 a minute on 8-800 (RULES.md)
        assert_sipp_ok(call_in(carrier, caller, HOTLINE))
    finally:
        answering.stop()
    call, events = switch.the_call(caller)
    assert (call["organization"], call["rule"], Decimal(call["cost"])) == ("34", "hotline-origin", Decimal("3.50"))
    started = events[0]
    assert (started["event"], started["direction"], started["organization"], started["number_kind"]) == ("call.started", "inbound", "34", "hotline")
    assert "call.answered" in [e["event"] for e in events]


@pytest.mark.parametrize("rfc2833", [False, True], ids=["SIP INFO", "RFC 2833"])
def test_the_main_number_takes_the_organization_id_however_the_digits_come(switch, carrier, rfc2833: bool) -> None:
    caller = next_caller("7495")
    out = call_in(carrier, caller, MAIN, keys="12#", rfc2833=rfc2833)
    assert_sipp_ok(out)
    call, events = switch.the_call(caller)
    assert call["organization"] == "12", "the ID keyed was not taken"
    [transfer] = [e for e in events if e["event"] == "call.transferred"]
    # 12's owner, extension 100, has no phone registered: the call goes to its voicemail.
    assert (transfer["organization"], transfer["to"], transfer["reason"]) == ("12", "voicemail:100", "100: unavailable")
    assert events[0]["number_kind"] == "main"


def test_an_outbound_call_goes_through_the_trunk_and_is_priced_from_the_deck(switch, phone, pstn) -> None:
    calling = Phone(phone, switch, "12-101", 5064)
    try:
        called = "+7495" + next_caller("")[:7]
        assert_sipp_ok(calling.place(called, talk_ms=3000))
    finally:
        calling.stop()
    [call] = switch.wait_rows("SELECT * FROM calls WHERE called_number = ?", called)
    assert (call["organization"], call["direction"], call["outcome"], call["trunk"]) == ("12", "outbound", "billed", "carrier")
    assert Decimal(call["cost"]) > 0 and call["prefix"]


def test_an_international_call_is_refused_by_the_guard(switch, phone, pstn) -> None:
    calling = Phone(phone, switch, "12-102", 5066)
    try:
        out = calling.place("+4930123456", refused_with=603)
    finally:
        calling.stop()
    assert_sipp_ok(out)  # the refusal's prompt as early media, then 603 Decline
    [call] = switch.wait_rows("SELECT * FROM calls WHERE callee = ? AND caller = ?", "+4930123456", "12-102")
    assert (call["hangup_cause"], call["answer_epoch"], Decimal(call["cost"])) == ("CALL_REJECTED", 0, 0), call
