"""Transfers through the click-to-call API on a real FreeSWITCH 1.10 (issue 15): a click-to-call
call (the employee's SIPp phone 12-101 answers, then the client, a SIPp behind the trunk) is
transferred to extension 102, whose registered SIPp phone answers.

- blind: the client goes to 102 at once, 101's leg ends;
- attended: 101 consults 102 while the client is held; 101 hanging up connects the client with
  102; a 102 that does not answer gives 101 back to the client.

Each time the ledger holds the employee's leg billed until the transfer and the client's leg
billed from then (its CDR's billed_from), both as organization 12's outbound call to the client,
seen at once on the event socket (not recovered from the CDR files), and nothing else.

Needs FREESWITCH_PREFIX and SIPp, as test_live.py.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from contextlib import closing

import pytest
from local_net import free_port
from sipp_scenarios import UNANSWERED_PHONE_SCENARIO
from test_click_to_call_live import CLIENT_NUMBER, answering, api, events_of, with_the_api
from test_live import HOTLINE, Live, live, sipp, wait_for  # noqa: F401 - live is the fixture
from test_live import pytestmark as live_test_marks

from bizpbx.controller import transfers
from bizpbx.controller.outbox import Outbox
from bizpbx.ledger import Ledger
from bizpbx.rating.cdr_input import parse_cdr_file

pytestmark = live_test_marks


def registered_phone(live: Live, extension: str, scenario: str | None = None) -> subprocess.Popen:
    """Extension `extension` of organization 12 registered by a SIPp that answers (or runs `scenario`)."""
    port = free_port(socket.SOCK_DGRAM)
    name = f"phone{extension}"
    if scenario is None:
        phone = answering(live, name, port, registered=True)
    else:
        (live.work / f"{name}.xml").write_text(scenario)
        phone = subprocess.Popen(sipp(live.work, name, "-p", str(port)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=live.work)
    live.register("12", extension, port)
    return phone


def stopped(answerers: dict[str, subprocess.Popen]) -> None:
    """Every SIPp stopped; each must have had no failed call."""
    for answerer in answerers.values():
        answerer.send_signal(signal.SIGUSR1)
    for name, answerer in answerers.items():
        out, err = answerer.communicate(timeout=60)
        assert answerer.returncode == 0, f"{name}: " + out[-2000:] + err[-2000:]


def clicked_call(live: Live) -> str:
    status, answer = api(live, "POST", "/v1/calls", {"organization": "12", "extension": "101", "number": CLIENT_NUMBER, "reference": "deal-9"})
    assert status == 202, answer
    wait_for(lambda: "call.answered" in events_of(live, answer["uuid"]), "the client to answer", bound=60)
    return answer["uuid"]


def invites_received(live: Live, name: str) -> int:
    log = live.work / f"{name}_messages.log"
    return log.read_text(errors="replace").count("\nINVITE sip:") if log.exists() else 0


def answered_invite(live: Live, name: str) -> bool:
    """The SIPp `name` got its call's ACK (it answered, the switch confirmed)."""
    log = live.work / f"{name}_messages.log"
    return log.exists() and "\nACK sip:" in log.read_text(errors="replace")


def all_events(live: Live) -> list:
    with closing(Outbox(live.site.controller.ledger)) as outbox:
        return list(outbox.after(0, limit=1000))


def ledger_rows(live: Live) -> list:
    """Every call in the ledger (of any organization), as stored for organization 12's bill."""
    with Ledger(live.site.controller.ledger) as ledger:
        assert {row.organization for row in ledger.listed(0, 2**31)} <= {"12"}
        return list(ledger.calls("12", 0, 2**31))


def cdr_records(live: Live) -> dict:
    records = {}
    for path in sorted((live.site.freeswitch.log_dir / "cdr-csv").glob("Master.csv*")):
        records.update((record.uuid, record) for _, record in parse_cdr_file(path) if not isinstance(record, Exception))
    return records


def the_billed_parts(live: Live, employee_leg: str, client_leg: str, talked_after: float) -> None:
    """The employee's leg billed until the transfer, the client's leg from then: once each, org 12's
    call out; the client talked `talked_after` seconds (at least) after the transfer."""
    wait_for(lambda: len(ledger_rows(live)) >= 2, "both legs in the ledger", bound=60)
    wait_for(lambda: employee_leg in cdr_records(live), "the employee leg's CDR line", bound=60)
    time.sleep(1)  # a stray third row would be in by now: the two legs' hang-ups came together
    rows = {row.uuid: row for row in ledger_rows(live)}
    assert rows.keys() == {employee_leg, client_leg}, rows
    for row in rows.values():
        assert (row.organization, row.direction, row.outcome, row.source) == ("12", "outbound", "billed", "esl") and row.cost > 0, row
    employee_part = events_of(live, employee_leg)["call.ended"]["duration"]
    client = events_of(live, client_leg)["call.ended"]
    # The client's leg was up (billsec) from its answer: billed only from the transfer on.
    assert talked_after - 1 <= client["duration"] <= rows[client_leg].billsec - employee_part + 1, (employee_part, client, rows[client_leg])
    assert client["duration"] < rows[client_leg].billsec
    assert (client["organization"], client["direction"], client["to"], client["answered_by"]["extension"]) == ("12", "outbound", CLIENT_NUMBER, "102")


def the_events_seen_live(live: Live, course_from_the_record: str | None = None) -> dict[str, list[str]]:
    """Every call's event names, by call; none made from a CDR (both legs' hang-ups crossed the event
    socket) but the course (started, answered) of `course_from_the_record`, a call never routed by the controller."""
    events = all_events(live)
    recovered = [(e.call_uuid, e.name) for e in events if e.data.get("recovered")]
    assert recovered == [(course_from_the_record, name) for name in ("call.started", "call.answered") if course_from_the_record], recovered
    names: dict[str, list[str]] = {}
    for event in events:
        names.setdefault(event.call_uuid, []).append(event.name)
    return names


@pytest.mark.parametrize("live", [with_the_api], indirect=True)
def test_a_blind_transfer_sends_the_client_to_another_phone_and_bills_the_client_once(live: Live):
    answerers = {"phone101": registered_phone(live, "101"), "phone102": registered_phone(live, "102")}
    answerers["client"] = answering(live, "client", live.site.trunks["carrier"].port)
    try:
        employee_leg = clicked_call(live)
        time.sleep(4)  # the employee talks with the client past the deck's free seconds
        status, answer = api(live, "POST", f"/v1/calls/{employee_leg}/transfer", {"to": "102"})
        assert status == 200 and answer["status"] == "transferred", answer
        client_leg = answer["continued_as"]
        wait_for(lambda: "call.ended" in events_of(live, employee_leg), "the employee's leg to end", bound=30)
        wait_for(lambda: "call.answered" in events_of(live, client_leg), "102 to answer the client", bound=30)
        assert events_of(live, client_leg)["call.answered"]["answered_by"]["extension"] == "102"
        assert [call["uuid"] for call in api(live, "GET", "/v1/organizations/12/calls")[1]["calls"]] == [client_leg]
        time.sleep(3)  # the client talks with 102
        assert answered_invite(live, "phone102") and "call.ended" not in events_of(live, client_leg)
        assert api(live, "DELETE", f"/v1/calls/{client_leg}")[0] == 200
        wait_for(lambda: "call.ended" in events_of(live, client_leg), "the client's call.ended", bound=30)
    finally:
        stopped(answerers)
    assert invites_received(live, "phone101") == invites_received(live, "phone102") == invites_received(live, "client") == 1

    the_billed_parts(live, employee_leg, client_leg, talked_after=3)
    # Its CDR line (the switch writes one for a leg transferred into the dialplan) says so too.
    wait_for(lambda: client_leg in cdr_records(live), "the client leg's CDR line", bound=60)
    employee, client = cdr_records(live)[employee_leg], cdr_records(live)[client_leg]
    # The employee's leg is billed from the client's answer (the click-to-call rang the employee first).
    assert abs(employee.billed_from - employee.bridge_epoch) <= 1 and abs(client.billed_from - employee.end_epoch) <= 1, (employee, client)
    assert (client.called_number, client.trunk, client.organization) == (CLIENT_NUMBER, "carrier", "12")
    names = the_events_seen_live(live)
    assert names == {
        employee_leg: ["call.started", "call.answered", "call.transferred", "call.ended"],
        client_leg: ["call.started", "call.answered", "call.ended"],
    }, names
    transferred = events_of(live, employee_leg)["call.transferred"]
    assert (transferred["from"]["extension"], transferred["to"]["extension"], transferred["continued_as"]) == ("101", "102", client_leg)
    started = events_of(live, client_leg)["call.started"]
    assert (started["organization"], started["direction"], started["number"]) == ("12", "outbound", CLIENT_NUMBER)


@pytest.mark.parametrize("live", [with_the_api], indirect=True)
def test_an_attended_transfer_connects_the_client_with_the_consulted_phone_once_the_employee_hangs_up(live: Live):
    answerers = {"phone101": registered_phone(live, "101"), "phone102": registered_phone(live, "102")}
    answerers["client"] = answering(live, "client", live.site.trunks["carrier"].port)
    try:
        employee_leg = clicked_call(live)
        time.sleep(4)  # the employee talks with the client past the deck's free seconds
        status, answer = api(live, "POST", f"/v1/calls/{employee_leg}/transfer", {"to": "102", "attended": True})
        assert status == 202 and answer["status"] == "consulting", answer
        client_leg = answer["continued_as"]
        wait_for(lambda: answered_invite(live, "phone102"), "102 to answer the employee's consultation", bound=30)
        time.sleep(2)  # the employee tells 102 who is calling; the client is held
        assert "call.ended" not in events_of(live, employee_leg)
        # The employee hangs up (the API's hang-up: the switch ends 101's leg as for its BYE).
        assert api(live, "DELETE", f"/v1/calls/{employee_leg}")[0] == 200
        wait_for(lambda: "call.transferred" in events_of(live, employee_leg), "the transfer to complete", bound=30)
        time.sleep(3)  # the client talks with 102
        assert "call.ended" not in events_of(live, client_leg), "the client is still on, with 102"
        assert api(live, "DELETE", f"/v1/calls/{client_leg}")[0] == 200
        wait_for(lambda: "call.ended" in events_of(live, client_leg), "the client's call.ended", bound=30)
    finally:
        stopped(answerers)
    assert invites_received(live, "phone101") == invites_received(live, "phone102") == invites_received(live, "client") == 1

    the_billed_parts(live, employee_leg, client_leg, talked_after=3)
    # The switch writes no CDR for the client's leg here (a leg it dialled: legs=a), so this part of the call
    # is rated from its hang-up event alone (see transfers); the call's course comes from that record.
    assert client_leg not in cdr_records(live)
    names = the_events_seen_live(live, course_from_the_record=client_leg)
    assert names == {
        employee_leg: ["call.started", "call.answered", "call.ended", "call.transferred"],
        client_leg: ["call.started", "call.answered", "call.ended"],
    }, names
    transferred = events_of(live, employee_leg)["call.transferred"]
    assert (transferred["from"]["extension"], transferred["to"]["extension"], transferred["continued_as"]) == ("101", "102", client_leg)


@pytest.mark.parametrize("live", [with_the_api], indirect=True)
def test_a_consulted_phone_that_does_not_answer_gives_the_employee_back_to_the_client(live: Live):
    answerers = {"phone101": registered_phone(live, "101"), "phone102": registered_phone(live, "102", UNANSWERED_PHONE_SCENARIO)}
    answerers["client"] = answering(live, "client", live.site.trunks["carrier"].port)
    try:
        employee_leg = clicked_call(live)
        time.sleep(4)  # the employee talks with the client past the deck's free seconds
        status, answer = api(live, "POST", f"/v1/calls/{employee_leg}/transfer", {"to": "102", "attended": True})
        assert status == 202 and answer["status"] == "consulting", answer
        client_leg = answer["continued_as"]
        wait_for(lambda: invites_received(live, "phone102") == 1, "102 to ring", bound=30)
        log = live.work / "phone102_messages.log"
        wait_for(lambda: "\nCANCEL sip:" in log.read_text(errors="replace"), "102's ringing to be given up", bound=transfers.CONSULT_RING_SECONDS + 30)
        time.sleep(3)  # the employee talks with the client again
        calls = api(live, "GET", "/v1/organizations/12/calls")[1]["calls"]
        assert [call["uuid"] for call in calls] == [employee_leg], "the employee is still on the call"
        assert "call.ended" not in events_of(live, employee_leg), "the employee is still on the call"
        assert api(live, "DELETE", f"/v1/calls/{employee_leg}")[0] == 200  # the employee hangs up: the call ends
        wait_for(lambda: "call.ended" in events_of(live, employee_leg), "the call's call.ended", bound=30)
    finally:
        stopped(answerers)
    assert invites_received(live, "phone101") == invites_received(live, "client") == 1
    client_log = (live.work / "client_messages.log").read_text(errors="replace")
    assert "\nBYE sip:" in client_log, "the client was hung up on when the employee hung up, not before"

    time.sleep(2)  # anything else to store would be in by now
    [row] = ledger_rows(live)
    assert (row.uuid, row.organization, row.direction, row.outcome, row.source) == (employee_leg, "12", "outbound", "billed", "esl"), row
    names = the_events_seen_live(live)
    assert names == {employee_leg: ["call.started", "call.answered", "call.ended"]}, names
    ended = events_of(live, employee_leg)["call.ended"]
    assert ended["answered_by"]["number"] == CLIENT_NUMBER and ended["talk_seconds"] >= 4 + transfers.CONSULT_RING_SECONDS, ended
    assert client_leg not in {row.uuid for row in ledger_rows(live)}


@pytest.mark.parametrize("live", [with_the_api], indirect=True)
def test_a_call_from_outside_is_not_transferred_and_goes_on(live: Live):
    """The call's own leg is the caller's: refused with 409, the phone that answered keeps the call."""
    port = free_port(socket.SOCK_DGRAM)
    answerers = {"phone200": answering(live, "phone200", port, registered=True)}
    live.register("34", "200", port)
    caller = threading.Thread(target=live.call, args=(HOTLINE,), kwargs={"talk_ms": 8000})
    caller.start()
    try:
        wait_for(lambda: api(live, "GET", "/v1/organizations/34/calls")[1]["calls"], "the hotline call listed", bound=30)
        [call] = api(live, "GET", "/v1/organizations/34/calls")[1]["calls"]
        wait_for(lambda: "call.answered" in events_of(live, call["uuid"]), "34-200 to answer", bound=30)
        status, answer = api(live, "POST", f"/v1/calls/{call['uuid']}/transfer", {"to": "201"})
        assert status == 409 and "came from outside" in answer["error"], answer
    finally:
        caller.join(timeout=60)
        stopped(answerers)
    assert invites_received(live, "phone200") == 1
    wait_for(lambda: "call.ended" in events_of(live, call["uuid"]), "the call's call.ended", bound=30)
    ended = events_of(live, call["uuid"])["call.ended"]
    assert ended["answered_by"]["extension"] == "200" and ended["talk_seconds"] >= 6, ended
    assert [(e.name, e.call_uuid) for e in all_events(live) if e.name == "call.transferred"] == []
