"""The call in the CRM's terms: which events a call gives, in which order, with whom.
(Every event here is also held to docs/call-events.schema.json by conftest.)"""

from __future__ import annotations

import copy
import re
import json
import wave

import pytest
from event_schema import problems
from switch_peer import CapturedSwitch, Script, channel_variables
from test_accounting import accounting_for
from test_calls import always_open, place

from bizpbx.controller import call_events
from bizpbx.ledger.recordings import recording_of
from bizpbx.rating import CallRecord, Direction, Rater
from bizpbx.settings import NumberKind

START = 1795636467
HOTLINE = "+78005553535"


def hotline_call(**changes) -> CallRecord:
    """An 8-800 call of organization 34 from Kazan, as its CDR gives it."""
    fields = dict(
        uuid="c0ffee00-0000-4000-8000-000000000001",
        organization="34",
        direction=Direction.INBOUND,
        called_number=HOTLINE,
        number_kind=NumberKind.HOTLINE,
        caller="78432123456",
        callee=HOTLINE[1:],
        answer_epoch=0,
        billsec=0,
        hangup_cause="ORIGINATOR_CANCEL",
        trunk="carrier",
        start_epoch=START,
        end_epoch=START + 17,
        bridge_epoch=0,
    )
    return CallRecord(**{**fields, **changes})


def stored(site, *calls: CallRecord, recovered: bool = True) -> list[dict]:
    accounting, _, outbox, _ = accounting_for(site)
    accounting.finished([(call, "test") for call in calls], recovered=recovered)
    return [json.loads(event.body) for event in outbox.after(0)]


def test_the_schema_refuses_what_consumers_were_not_promised(site):
    lab = site()
    answered = hotline_call(answer_epoch=START + 3, bridge_epoch=START + 5, billsec=14, hangup_cause="NORMAL_CLEARING", answered_by="extension:200")
    events = [e.body for e in call_events.finished(lab, answered, Rater(lab).rate(answered))]
    assert [e["event"] for e in events] == ["call.started", "call.answered", "call.ended"]
    assert all(problems(e) == [] for e in events)
    started, answer, ended = events
    broken = [
        {k: v for k, v in started.items() if k != "schema"},
        {**started, "schema": 2},
        {**answer, "answered_by": "extension:200"},
        {**answer, "answerd_by": answer["answered_by"]},
        {**ended, "at": "2026-11-25 19:54:27"},
        {**ended, "cost": 7.0},
        {**ended, "event": "call.finished"},
    ]
    nested = copy.deepcopy(answer)
    nested["answered_by"]["kind"] = "person"
    for event in (*broken, nested):
        assert problems(event), event


def test_an_ivr_call_tells_each_menu_then_who_answered(site):
    lab = site(always_open)
    switch = CapturedSwitch("79161112233", "74951234567", channel_variables("inbound", "+74951234567", number_kind="individual", org_id="12", trunk="carrier"), Script(digits=["0", "1"]))
    _, emitted, _ = place(lab, switch)
    assert [(e.name, e.body.get("menu")) for e in emitted] == [("call.started", None), ("call.ivr", "main"), ("call.ivr", "support"), ("call.answered", None)]
    assert len({e.key for e in emitted}) == len(emitted), "each menu entered is an event of its own"
    assert emitted[0].body["number_kind"] == "individual" and emitted[0].body["organization"] == "12"
    assert emitted[-1].body["answered_by"]["target"] == "extension:101"


def test_a_call_out_from_a_phone_starts_as_outbound_with_its_employee_and_is_answered_by_the_number(site):
    lab = site()
    switch = CapturedSwitch("12-100", "89161234567", channel_variables("internal", "89161234567", org_id="12"), Script(bridges=["answer"]))
    _, emitted, _ = place(lab, switch)
    started, answered = (e.body for e in emitted)
    assert (started["direction"], started["number"], started["number_kind"]) == ("outbound", "+79161234567", None)
    assert started["employee"] == {"target": "extension:100", "kind": "extension", "extension": "100", "name": lab.organizations["12"].employees["100"].name}
    assert answered["answered_by"] == {"target": "number:+79161234567", "kind": "number", "number": "+79161234567"}


def test_a_ring_group_answered_by_its_second_phone_names_that_phone(site):
    lab = site()
    switch = CapturedSwitch("78432123456", "78005553535", channel_variables("inbound", HOTLINE, number_kind="hotline", org_id="34", trunk="carrier"), Script(bridges=["answer:1"]))
    seen, emitted, _ = place(lab, switch)
    [answered] = [e.body for e in emitted if e.name == "call.answered"]
    assert answered["answered_by"]["target"] == "extension:201"
    assert switch.variables["variable_bizpbx_answered_by"] == "extension:201"


def test_once_answered_the_ring_deadline_no_longer_ends_the_call(site):
    def quick_no_answer(data):
        data["organizations"]["12"]["employees"]["101"]["forwarding"]["no_answer"]["after_seconds"] = 5

    lab = site(quick_no_answer)
    # Answered at once, the conversation lasts longer than the five-second deadline.
    switch = CapturedSwitch("12-100", "101", channel_variables("internal", "101", org_id="12"), Script(bridges=["answer"], talk_wait=6))
    seen, emitted, _ = place(lab, switch)
    assert not [command for command in seen.api if command.startswith("uuid_kill")], "the answered leg was cut off at the ring deadline"
    assert [name for name, _ in seen.applications].count("bridge") == 1
    assert [e.name for e in emitted] == ["call.started", "call.answered"]


def test_a_caller_who_hangs_up_while_it_rings_is_a_missed_call(site):
    events = stored(site(), hotline_call())
    assert [e["event"] for e in events] == ["call.started", "call.missed", "call.ended"]
    missed, ended = events[1], events[2]
    assert (missed["wait_seconds"], missed["voicemail"], missed["hangup_cause"], missed["number"]) == (17, False, "ORIGINATOR_CANCEL", HOTLINE)
    assert (ended["answered"], ended["answered_by"], ended["talk_seconds"], ended["wait_seconds"]) == (False, None, 0, 17)


def test_a_call_ending_in_voicemail_is_missed_with_voicemail(site):
    lab = site()
    # The switch answered for voicemail after 30 s of ringing; nobody was bridged.
    events = stored(lab, hotline_call(answer_epoch=START + 30, end_epoch=START + 50, billsec=20, hangup_cause="NORMAL_CLEARING", voicemail="200"))
    assert [e["event"] for e in events] == ["call.started", "call.voicemail", "call.missed", "call.ended"]
    box, missed, ended = events[1]["box"], events[2], events[3]
    assert box == {"target": "voicemail:200", "kind": "voicemail", "extension": "200", "name": lab.organizations["34"].employees["200"].name}
    assert missed["voicemail"] is True and missed["wait_seconds"] == 50
    assert (ended["answered"], ended["voicemail"], ended["duration"], ended["talk_seconds"]) == (False, True, 20, 0)


def test_a_call_out_nobody_answered_is_not_a_missed_call(site):
    out = hotline_call(direction=Direction.OUTBOUND, organization="12", called_number="+79161234567", number_kind=None, caller="12-101", callee="89161234567")
    events = stored(site(), out)
    assert [e["event"] for e in events] == ["call.started", "call.ended"]
    assert events[0]["employee"]["extension"] == "101"


def test_a_cdr_from_before_the_answer_columns_still_says_the_call_was_answered(site):
    old = hotline_call(answer_epoch=START + 3, billsec=14, hangup_cause="NORMAL_CLEARING", bridge_epoch=None)
    events = stored(site(), old)
    assert [e["event"] for e in events] == ["call.started", "call.answered", "call.ended"]
    assert events[1]["answered_by"] is None and events[2]["talk_seconds"] == 14 and events[2]["wait_seconds"] == 3


@pytest.mark.parametrize("recovered", [True, False])
def test_every_event_of_a_finished_call_is_stored_once_in_order(site, recovered):
    lab = site()
    call = hotline_call(answer_epoch=START + 3, bridge_epoch=START + 5, billsec=14, hangup_cause="NORMAL_CLEARING", answered_by="extension:200")
    accounting, _, outbox, _ = accounting_for(lab)
    for _ in range(2):  # its hang-up event and its CDR line
        accounting.finished([(call, "test")], recovered=recovered)
    events = [json.loads(e.body) for e in outbox.after(0)]
    assert [e["event"] for e in events] == ["call.started", "call.answered", "call.ended"]
    assert ("recovered" in events[-1]) is recovered
    assert [e["id"] for e in events] == [f"{call.uuid}:{name}" for name in ("call.started", "call.answered", "call.ended")]


def test_the_schema_describes_every_event_and_the_readme_examples_match_it():
    from event_schema import SCHEMA_FILE

    from bizpbx.settings import EVENT_NAMES

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert sorted(ref["$ref"].rsplit("/", 1)[1] for ref in schema["oneOf"]) == sorted(EVENT_NAMES)
    readme = (SCHEMA_FILE.parents[1] / "README.md").read_text(encoding="utf-8")
    examples = [json.loads(line_group) for line_group in re.findall(r'^(\{"schema": .*?\})$', readme, flags=re.MULTILINE | re.DOTALL)]
    assert [e["event"] for e in examples] == ["call.started", "call.answered", "call.ended", "trunk.down"]
    assert all(problems(e) == [] for e in examples), [problems(e) for e in examples]


def test_the_ledger_takes_a_callers_leg_and_a_leg_the_switch_dialled_that_carries_a_call():
    from bizpbx.esl.events import PLAIN, Event

    def hang_up(**headers: str) -> Event:
        return Event.build(PLAIN, {"Event-Name": "CHANNEL_HANGUP_COMPLETE", **headers})

    is_call_leg = call_events.is_call_leg
    assert is_call_leg(hang_up(**{"Call-Direction": "inbound"}))
    assert not is_call_leg(hang_up(**{"Call-Direction": "outbound"})), "a B-leg: its caller's leg is the call"
    # A click-to-call's employee leg, a transferred client's leg: the switch dialled them.
    assert is_call_leg(hang_up(**{"Call-Direction": "outbound", "variable_bizpbx_ledger_leg": "true"}))


def test_a_batch_is_one_commit_with_the_events_emitted_before_it_and_the_recordings(site, tmp_path):
    """Each commit cost the controller up to seconds of disk under load: the events of calls in
    progress, the calls that ended, their events and their recordings go in one transaction."""
    accounting, ledger, outbox, _ = accounting_for(site())
    recording = tmp_path / "recorded.wav"
    with wave.open(str(recording), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"\0\0" * 8000)  # one second
    recorded = hotline_call(answer_epoch=START + 3, bridge_epoch=START + 5, billsec=14, hangup_cause="NORMAL_CLEARING", answered_by="extension:200", recording=str(recording))
    missed = hotline_call(uuid="c0ffee00-0000-4000-8000-000000000002")
    in_progress = call_events.answered("c0ffee00-0000-4000-8000-000000000003", call_events.epoch_time(START), "34", None).as_row()
    statements: list[str] = []
    ledger.connection.set_trace_callback(statements.append)
    assert accounting.finished([(recorded, "esl"), (missed, "esl")], before=[in_progress]) == 2
    ledger.connection.set_trace_callback(None)
    assert statements.count("COMMIT") == 1, statements
    names = [(event.call_uuid[-1], event.name) for event in outbox.after(0)]
    assert names[0] == ("3", "call.answered"), "the events emitted before the hang-ups come first"
    assert ("1", "call.recorded") in names and names.index(("1", "call.recorded")) > names.index(("1", "call.ended"))
    stored = recording_of(ledger, recorded.uuid)
    assert stored is not None and stored.seconds == 1.0
