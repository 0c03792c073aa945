"""Acceptance of what a company expects of its PBX and CRM, on the converged lab with real calls:
a recorded 8-800 call, click-to-call through the controller's API, and a phone over TLS with
SRTP (Debian's baresip on the phone host). See acceptance.py for the parts.

Skipped, saying why, when FreeSWITCH was not installed in the lab.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from decimal import Decimal

import pytest
import yaml
from crm_api import crm_request
from softphone import Account, accounts_line, configuration

from bizpbx_lab.site_secrets import LAB_SECRETS

from .acceptance import HOTLINE, PBX, PHONE, SETTLE_SECONDS, WORK, Phone, call_in, next_caller, pstn, put, switch  # noqa: F401 - fixtures

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("needs_freeswitch")]

CLIENT = "+79161234567"  # a Russian mobile behind the carrier: 2.90 a started minute (inventory/lab/rates.csv)
API = f"http://{PBX}:8095"  # controller.api of the lab site, open to this machine (crm_networks)


def wait_until(condition, what: str, bound: float = SETTLE_SECONDS):
    deadline = time.monotonic() + bound
    while not (found := condition()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(1)
    return found


def event(events: list[dict], name: str) -> dict:
    [found] = [e for e in events if e["event"] == name]
    return found


def test_a_recorded_hotline_call_leaves_a_wav_as_long_as_the_call_announced_by_call_recorded(switch, pbx, carrier, phone) -> None:
    answering = Phone(phone, switch, "34-200", 5062)
    try:
        caller = next_caller("7843")
        out = call_in(carrier, caller, HOTLINE)
    finally:
        answering.stop()
    assert "sipp-exit=0" in out, out
    call, _ = switch.the_call(caller)
    events = wait_until(lambda: (found := switch.events_of(call["uuid"])) and any(e["event"] == "call.recorded" for e in found) and found, "call.recorded")
    ended, recorded = event(events, "call.ended"), event(events, "call.recorded")
    assert ended["answered"] is True and ended["duration"] >= 6, ended  # 2 s before the caller's 6 s of talk
    assert recorded["path"] == f"/var/lib/bizpbx-recordings/{call['uuid']}.wav" and recorded["organization"] == "34"
    # The file on the pbx: a WAV Python's own reader plays, as long as the call from its answer.
    measure = "import json, os, sys, wave; w = wave.open(sys.argv[1]); print(json.dumps([w.getnframes() / w.getframerate(), os.path.getsize(sys.argv[1])]))"
    seconds, size = json.loads(pbx.check_output(f"python3 -c {shlex.quote(measure)} {shlex.quote(recorded['path'])}"))
    assert abs(seconds - ended["duration"]) <= 1.0, (seconds, ended["duration"])
    assert recorded["seconds"] == pytest.approx(seconds, abs=0.01) and recorded["bytes"] == size
    assert events.index(ended) < events.index(recorded), "announced once its call is stored"


def crm_token() -> str:
    return yaml.safe_load(LAB_SECRETS.read_text())["controller"]["api"]["clients"]["crm"]["token"]


def api(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    return crm_request(API, crm_token(), method, path, body)


def test_click_to_call_rings_the_employees_phone_then_the_client_and_the_crm_sees_both(switch, carrier, phone, pstn) -> None:  # noqa: F811 - pstn
    request = {"organization": "12", "extension": "101", "number": CLIENT, "reference": "deal-lab-15"}
    status, answer = api("POST", "/v1/calls", request)
    assert status == 409 and "no phone registered" in answer["error"], (status, answer)
    answering = Phone(phone, switch, "12-101", 5064)
    try:
        status, answer = api("POST", "/v1/calls", request)
        assert status == 202 and answer["status"] == "ringing", (status, answer)
        uuid = answer["uuid"]
        wait_until(lambda: any(e["event"] == "call.answered" for e in switch.events_of(uuid)), "the client to answer")
        status, listed = api("GET", "/v1/organizations/12/calls")
        assert status == 200 and uuid in [c["uuid"] for c in listed["calls"]], listed
        assert api("DELETE", f"/v1/calls/{uuid}")[0] == 200
        events = wait_until(lambda: (found := switch.events_of(uuid)) and any(e["event"] == "call.ended" for e in found) and found, "call.ended")
    finally:
        answering.stop()
    started, answered, ended = (event(events, name) for name in ("call.started", "call.answered", "call.ended"))
    assert (started["reference"], started["direction"], started["organization"]) == ("deal-lab-15", "outbound", "12")
    assert started["employee"]["extension"] == "101", "the employee's end"
    assert answered["answered_by"]["kind"] == "number" and answered["answered_by"]["number"] == CLIENT, "the client's end"
    assert ended["answered"] is True
    [call] = switch.wait_rows("SELECT * FROM calls WHERE uuid = ?", uuid)
    assert (call["organization"], call["direction"]) == ("12", "outbound")


CONSOLE_PORT = 5555  # baresip's console (cons module), on the phone host's loopback


def test_a_phone_registers_over_tls_and_calls_out_with_srtp(switch, pbx, phone, pstn) -> None:  # noqa: F811 - pstn
    user = "12-102"
    directory = f"{WORK}/baresip"
    phone.run(f"rm -rf {directory} && mkdir -p {directory}")
    # The phone trusts the switch's own certificate (the freeswitch role made it, self-signed).
    put(phone, f"{directory}/cafile.pem", pbx.check_output("cat /etc/freeswitch-tls/cafile.pem"))
    account = Account(user, switch.sip_password(user), PBX, f"{PBX}:5061", f"{directory}/cafile.pem")
    put(phone, f"{directory}/config", configuration(sip_listen=f"{PHONE}:5072", cafile=account.cafile, console_port=CONSOLE_PORT, rtp_ports=(46000, 46100)))
    put(phone, f"{directory}/accounts", accounts_line(account))
    phone.run(f"cd {directory} && (baresip -f {directory} -n {PHONE} -v < /dev/null > baresip.log 2>&1 & echo $! > baresip.pid)")
    try:
        # baresip's Contact has a user of its own: the employee is on the registration's User line,
        # and other phones' registrations (the earlier modules' SIPp) may be listed before it.
        def registered() -> str | None:
            blocks = re.split(r"\n\s*\n", switch.api("sofia status profile internal reg"))
            return next((block for block in blocks if re.search(rf"^User:\s+{user}@", block, re.MULTILINE)), None)

        registration = wait_until(registered, f"{user} registered")
        contact = next(line for line in registration.splitlines() if line.startswith("Contact:"))
        assert "transport=tls" in contact, registration
        phone.run(f"echo '/dial 89161234567' > /dev/udp/127.0.0.1/{CONSOLE_PORT}")

        def legs() -> dict[str, str]:
            rows = json.loads(switch.api("show channels as json")).get("rows", [])
            return {row["direction"]: row["uuid"] for row in rows if row.get("callstate") == "ACTIVE"}

        both = wait_until(lambda: (found := legs()).keys() == {"inbound", "outbound"} and found, "the call answered, both legs up")
        phone_leg, trunk_leg = both["inbound"], both["outbound"]
        assert switch.api(f"uuid_getvar {phone_leg} sip_via_protocol").strip() == "tls"
        assert re.match(r"(AEAD_AES|AES_CM)_\d+_", switch.api(f"uuid_getvar {phone_leg} rtp_secure_media_negotiated"))
        offer = switch.api(f"uuid_getvar {phone_leg} switch_r_sdp")
        assert "RTP/SAVP" in offer and "a=crypto:" in offer, offer
        assert switch.api(f"uuid_getvar {trunk_leg} rtp_secure_media_negotiated").strip() == "_undef_", "the trunk's leg stays plain"
        time.sleep(5)  # past the deck's free seconds, to be billed
        phone.run(f"echo '/hangup' > /dev/udp/127.0.0.1/{CONSOLE_PORT}")
    finally:
        phone.run(f"kill $(cat {directory}/baresip.pid) 2>/dev/null; true")
    [call] = switch.wait_rows("SELECT * FROM calls WHERE uuid = ?", phone_leg)
    assert (call["organization"], call["direction"], call["outcome"], Decimal(call["cost"])) == ("12", "outbound", "billed", Decimal("2.90")), call
    names = [e["event"] for e in switch.events_of(phone_leg)]
    assert names == ["call.started", "call.answered", "call.ended"], names
