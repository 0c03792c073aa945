"""Click-to-call on a real FreeSWITCH 1.10 (issue 15): the CRM asks the controller's API, the
employee's registered phone (SIPp) rings and answers, then the client behind the trunk (a SIPp
answering on the carrier's address) is called and answers; the CRM's reference and both ends
are in the call's events; the API hangs the call up.

Needs FREESWITCH_PREFIX and SIPp, as test_live.py.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from contextlib import closing

import pytest
from crm_api import crm_request
from local_net import free_port
from sipp_scenarios import answering_phone
from test_live import Live, live, sipp, wait_for  # noqa: F401 - live is the fixture
from test_live import pytestmark as live_test_marks

from bizpbx.controller.outbox import Outbox

pytestmark = live_test_marks

TOKEN = "crm-token-0123456789-abcdefghijklmnop"
CLIENT_NUMBER = "+79161234567"
CLIENT_RINGS_MS = 4000


def with_the_api(data: dict) -> None:
    data["controller"]["api"] = {"port": free_port(), "clients": {"crm": {"token": TOKEN}}}


def api(live: Live, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    listen = live.site.controller.api
    return crm_request(f"http://{listen.host}:{listen.port}", TOKEN, method, path, body)


def answering(live: Live, name: str, port: int, *, registered: bool = False, ring_ms: int = 0) -> subprocess.Popen:
    """A SIPp that answers one call on `port` (after ringing `ring_ms`) and waits for its BYE;
    `registered`: it also takes the NOTIFY a registration brings (which would end a SIPp limited
    to one call), until SIGUSR1."""
    (live.work / f"{name}.xml").write_text(answering_phone(ring_ms))
    limit = () if registered else ("-m", "1")
    return subprocess.Popen(sipp(live.work, name, "-p", str(port), *limit), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=live.work)


def events_of(live: Live, call_uuid: str) -> dict[str, dict]:
    with closing(Outbox(live.site.controller.ledger)) as outbox:
        return {e.name: e.data for e in outbox.after(0, limit=1000) if e.call_uuid == call_uuid}


@pytest.mark.parametrize("live", [with_the_api], indirect=True)
def test_click_to_call_rings_the_employee_then_the_client_and_the_crm_sees_both(live: Live):
    phone_port = free_port(socket.SOCK_DGRAM)
    status, answer = api(live, "POST", "/v1/calls", {"organization": "12", "extension": "101", "number": CLIENT_NUMBER, "reference": "deal-42"})
    assert status == 409 and "no phone registered" in answer["error"], "nothing rings for an extension with no phone"

    phone = answering(live, "phone", phone_port)
    client = answering(live, "client", live.site.trunks["carrier"].port, ring_ms=CLIENT_RINGS_MS)
    try:
        live.register("12", "101", phone_port)
        status, answer = api(live, "POST", "/v1/calls", {"organization": "12", "extension": "101", "number": CLIENT_NUMBER, "reference": "deal-42"})
        assert status == 202 and answer["status"] == "ringing", answer
        call_uuid = answer["uuid"]
        wait_for(lambda: "call.answered" in events_of(live, call_uuid), "the client to answer", bound=60)
        time.sleep(2)  # the employee and the client talk
        listed = api(live, "GET", "/v1/organizations/12/calls")
        assert listed[0] == 200 and call_uuid in [call["uuid"] for call in listed[1]["calls"]], listed
        assert api(live, "DELETE", f"/v1/calls/{call_uuid}")[0] == 200
        wait_for(lambda: "call.ended" in events_of(live, call_uuid), "call.ended", bound=60)
    finally:
        for answerer in (phone, client):
            answerer.send_signal(signal.SIGUSR1)
    for name, answerer in (("phone", phone), ("client", client)):
        out, err = answerer.communicate(timeout=60)
        assert answerer.returncode == 0, f"{name}: " + out[-2000:] + err[-2000:]

    events = events_of(live, call_uuid)
    started, answered, ended = events["call.started"], events["call.answered"], events["call.ended"]
    assert started["reference"] == "deal-42" and started["direction"] == "outbound" and started["organization"] == "12"
    assert started["employee"]["extension"] == "101", "the employee's end"
    assert answered["answered_by"]["kind"] == "number" and answered["answered_by"]["number"].endswith(CLIENT_NUMBER[1:]), "the client's end"
    assert ended["answered"] is True
    # Billed from the client's answer: the employee's phone answered first, then the client's rang.
    assert ended["wait_seconds"] >= CLIENT_RINGS_MS // 1000 and ended["talk_seconds"] >= 2
    assert abs(ended["duration"] - ended["talk_seconds"]) <= 1, ended
    invite_to_client = (live.work / "client_messages.log").read_text(errors="replace")
    assert f"INVITE sip:{CLIENT_NUMBER}" in invite_to_client or f"INVITE sip:{CLIENT_NUMBER[1:]}" in invite_to_client
