"""The acceptance suite's parts: callers, phones and the outside world as SIPp on the lab hosts,
and the pbx as the CRM and the accountant see it (call events, the ledger).

Callers dial from the carrier host through Kamailio, as the customer's provider delivers calls;
phones register from the phone host with the passwords bizpbx generated; the outside world
("PSTN") is a SIPp callee on the carrier host that Kamailio relays the PBX's calls to. Every
call has a caller (or called) number of its own, so a test finds its calls among all the others.
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import pytest
import yaml
from sipp_scenarios import (
    CALLER_SCENARIO,
    DIGIT_NAMES,
    KEY_2833,
    KEY_INFO,
    PHONE_CALLER_SCENARIO,
    PHONE_REFUSED_SCENARIO,
    REGISTRATION_SCENARIO,
    SDP,
    SDP_2833,
    answering_phone,
)

import bizpbx_lab as lab

from .sipp_runs import WORK, assert_sipp_ok, next_caller, pstn_callee, put, sipp  # noqa: F401 - the suite's tests take them from here

REPO = Path(__file__).resolve().parents[2]

CARRIER, PHONE, PBX = lab.BY_NAME["carrier"].address, lab.BY_NAME["phone"].address, lab.BY_NAME["pbx"].address
KAMAILIO = f"{CARRIER}:5060"
PSTN_PORT = 5090  # kamailio__pstn_callee in inventory/lab/group_vars/sip_carrier.yml
MAIN, HOTLINE, ROMASHKA = "74952121562", "78005553535", "74951234567"
SETTLE_SECONDS = 60
ESL_API = """
import asyncio, sys
from pathlib import Path
from bizpbx.esl.aio import InboundClient
from bizpbx.site_loader import load_site
async def main():
    site = load_site(Path("/etc/bizpbx/site.yml"))
    client = InboundClient(str(site.esl.host), site.esl.port, site.esl.password.get_secret_value(), reconnect=False)
    await client.connect()
    print(await client.api(sys.argv[1]))
    await client.close()
asyncio.run(main())
"""


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
        """The switch takes calls on both profiles, the controller runs and is subscribed: calls
        from now on are routed and seen by it."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while not (self.status().get("esl_connected") is True and self.profiles_running()):
            assert time.monotonic() < deadline, self.host.run("journalctl -u bizpbx-controller -n 30 --no-pager").stdout
            time.sleep(1)

    def profiles_running(self) -> bool:
        listing = self.host.run(f"/opt/bizpbx/venv/bin/python -c {shlex.quote(ESL_API)} 'sofia status'").stdout
        rows = [line.split("\t") for line in listing.splitlines()]
        return {row[0].strip() for row in rows if len(row) == 4 and row[1].strip() == "profile" and row[3].startswith("RUNNING")} >= {"internal", "external"}

    def api(self, command: str) -> str:
        """A FreeSWITCH API command over the event socket, as the controller's own code runs it."""
        return self.host.check_output(f"/opt/bizpbx/venv/bin/python -c {shlex.quote(ESL_API)} {shlex.quote(command)}")

    def calls_up(self) -> int:
        """Calls the switch has up now (channels parked for the controller included)."""
        return int(self.api("show channels count").split()[0] or 0)

    def wait_no_calls(self, bound: float = SETTLE_SECONDS) -> None:
        deadline = time.monotonic() + bound
        while (up := self.calls_up()) and time.monotonic() < deadline:
            time.sleep(1)
        assert up == 0, f"{up} channel(s) still up: {self.api('show channels')}"

    def sip_password(self, user: str) -> str:
        data = yaml.safe_load(self.host.file("/etc/bizpbx/site.sip-passwords.yml").content_string)
        org, extension = user.split("-")
        return data["organizations"][org]["employees"][extension]["password"]


@pytest.fixture(scope="module")
def switch(pbx, carrier, phone) -> Pbx:
    switch = Pbx(pbx)
    switch.wait_routing()
    for host in (carrier, phone):
        host.run(f"pkill -x sipp; rm -rf {WORK}; mkdir -p {WORK}")  # nothing left of an earlier session
    return switch


def call_in(carrier, caller: str, called: str, *, keys: str = "", rfc2833: bool = False, then: str = "", talk_ms: int = 6000) -> str:
    """A call from the provider's side: dials, keys digits (SIP INFO or RFC 2833), does `then` (SIPp
    scenario actions), talks `talk_ms`, hangs up."""
    fields = {"called": called, "caller": caller}
    if rfc2833:
        keyed = "".join(KEY_2833.format(name=DIGIT_NAMES.get(d, d)) for d in keys)
    else:
        keyed = "".join(KEY_INFO.format(cseq=2 + n, digit=d, **fields) for n, d in enumerate(keys))
    put(carrier, f"{WORK}/caller.xml", CALLER_SCENARIO.format(keys=keyed + then, sdp=SDP_2833 if rfc2833 else SDP, talk_ms=talk_ms, **fields))
    return sipp(carrier, "caller", KAMAILIO, "-i", CARRIER, "-p", "5070", "-mi", CARRIER)


class Phone:
    """A SIPp phone on the phone host: registered as `user`, answering on `port` in the background."""

    def __init__(self, host, switch: Pbx, user: str, port: int, behaviour: str = answering_phone()) -> None:
        self.host, self.user, self.port = host, user, port
        self.password = switch.sip_password(user)
        name = f"phone-{user}"
        put(host, f"{WORK}/{name}.xml", behaviour)
        host.run(f"cd {WORK} && (sipp -sf {name}.xml -i {PHONE} -p {port} -nostdin -trace_err -error_file {name}.err > {name}.out 2>&1 & echo $! > {name}.pid)")
        self.register(300)

    def register(self, expires: int) -> None:
        scenario = REGISTRATION_SCENARIO.format(domain=PBX, user=self.user, password=self.password, contact_port=self.port, expires=expires)
        put(self.host, f"{WORK}/register-{self.user}.xml", scenario)
        assert_sipp_ok(sipp(self.host, f"register-{self.user}", f"{PBX}:5060", "-i", PHONE, "-p", str(self.port + 1000)))

    def stop(self) -> None:
        """Unregistered (so no later call rings it), then gone."""
        self.register(0)
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
    yield from pstn_callee(carrier, CARRIER, PSTN_PORT)


def lab_site_with(directory: Path, anchor: str, replacement: str) -> Path:
    """The lab's site with `anchor` replaced (its rate deck beside it), written in `directory`."""
    text = (REPO / "inventory/lab/site.yml").read_text()
    assert anchor in text, f"the lab site no longer has {anchor!r}"
    changed = directory / "site.yml"
    changed.write_text(text.replace(anchor, replacement))
    (directory / "rates.csv").write_bytes((REPO / "inventory/lab/rates.csv").read_bytes())
    return changed


def burst(carrier, caller: str, called: str, calls: int, per_second: float, *, background: bool = False, timeout: int = 120) -> str:
    """`calls` calls from `caller` at `per_second`, each talking six seconds unless the switch ends it,
    all within `timeout` seconds. In the background: returns at once; `burst_result` waits for it."""
    put(carrier, f"{WORK}/burst.xml", CALLER_SCENARIO.format(keys="", sdp=SDP, called=called, caller=caller, talk_ms=6000))
    args = ("-i", CARRIER, "-p", "5072", "-mi", CARRIER, "-r", str(per_second))
    if background:
        carrier.run(f"rm -f {WORK}/burst.rc")
        # Nothing of the background job keeps the ssh session's stdin or output open: ssh returns at once.
        carrier.run(f"(cd {WORK} && sipp {KAMAILIO} -sf burst.xml -m {calls} {' '.join(args)} -timeout {timeout}s -timeout_error -nostdin -trace_err -error_file burst.err > burst.out 2>&1; echo $? > {WORK}/burst.rc) < /dev/null > /dev/null 2>&1 &")
        return ""
    return sipp(carrier, "burst", KAMAILIO, *args, calls=calls, timeout=timeout)


def stop_burst(carrier) -> None:
    """The background burst places no more calls; those up end as their scenario says (SIPp's SIGUSR1)."""
    carrier.run("pkill -USR1 -x sipp")  # SIPp alone: a shell around it would die of the signal


def burst_result(carrier, timeout: int = 120) -> str:
    deadline = time.monotonic() + timeout + 60
    while carrier.run(f"test -f {WORK}/burst.rc").rc != 0:
        assert time.monotonic() < deadline, "the burst did not end"
        time.sleep(1)
    return "sipp-exit=" + carrier.check_output(f"cat {WORK}/burst.rc") + "\n" + carrier.run(f"tail -c 3000 {WORK}/burst.err {WORK}/burst.out").stdout
