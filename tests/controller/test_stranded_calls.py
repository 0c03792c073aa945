"""Which of the switch's channels are calls left parked without a controller (stranded_calls)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from bizpbx.controller import stranded_calls as stranded_module
from bizpbx.controller.stranded_calls import PARKED_AND_SETTLED, StrandedCall, StrandedCalls, stranded_calls

PARKING = {"public", "org-12"}


def test_only_calls_in_a_parking_context_since_before_the_limit_or_lost_and_not_handled_are_stranded():
    rows = [
        {"uuid": "a", "application": "park", "created_epoch": "100", "dest": "78005553535", "context": "public"},
        {"uuid": "b", "application": "park", "created_epoch": "100", "dest": "101", "context": "org-12"},
        {"uuid": "c", "application": "bridge", "created_epoch": "100", "dest": "ext-102", "context": "org-12-incoming"},
        {"uuid": "d", "application": "playback", "created_epoch": "300", "dest": "103", "context": "org-12"},
        {"uuid": "e", "application": "playback", "created_epoch": "300", "dest": "104", "context": "org-12"},
        {"uuid": "f", "application": "answer", "created_epoch": "100", "dest": "78005553535", "context": "public-fallback"},
    ]
    found = stranded_calls(json.dumps({"row_count": 6, "rows": rows}), began_before=200, handled={"b"}, lost={"e"}, park_contexts=PARKING)
    assert [(c.uuid, c.transfer_command()) for c in found] == [
        ("a", "uuid_transfer a 78005553535 XML public-fallback"),
        ("e", "uuid_transfer e 104 XML org-12-fallback"),
    ]
    assert found[0].state_query() == f"eval uuid:a {PARKED_AND_SETTLED}"


def test_a_call_is_left_unfinished_when_parked_by_the_dialplan_and_neither_answered_nor_in_voicemail():
    # As FreeSWITCH 1.10.12's `eval` answers for each (a leg a bridge dialled has no direction of bizpbx's).
    assert StrandedCall.left_unfinished("inbound||\n")
    assert not StrandedCall.left_unfinished("||\n"), "a leg a bridge dialled"
    assert not StrandedCall.left_unfinished("inbound|extension:101|\n")
    assert not StrandedCall.left_unfinished("internal||101\n")
    assert not StrandedCall.left_unfinished("-ERR no reply\n")
    assert stranded_calls("", 200, set(), set(), PARKING) == [] and stranded_calls('{"row_count": 0}', 200, set(), set(), PARKING) == []
    with pytest.raises(ValueError, match="row 0: KeyError 'dest'"):
        stranded_calls(json.dumps({"rows": [{"uuid": "a", "application": "park", "created_epoch": "1", "context": "public"}]}), 200, set(), set(), PARKING)


class ListingSwitch:
    """The event socket's side the sweep uses: `show channels as json` answered from `rows`, each
    channel's settled variables from `settled`, every other command (the transfers) recorded and
    answered +OK, as FreeSWITCH 1.10 answers them."""

    def __init__(self, rows: list[dict], settled: dict[str, str]) -> None:
        self.rows, self.settled, self.sent, self.connected, self.connections = rows, settled, [], True, 1

    async def api(self, command: str) -> str:
        if command == "show channels as json":
            return json.dumps({"row_count": len(self.rows), "rows": self.rows})
        if command.startswith("eval uuid:"):
            return self.settled.get(command.split(" ")[1].removeprefix("uuid:"), "inbound||")
        self.sent.append(command)
        return "+OK\n"


def test_a_running_controller_sends_calls_nobody_finishes_to_the_fallback(monkeypatch):
    now = time.time()
    old = str(int(now - 40))
    rows = [
        {"uuid": "parked", "application": "playback", "created_epoch": old, "dest": "78005553535", "context": "public"},
        {"uuid": "arriving", "application": "park", "created_epoch": str(int(now - 1)), "dest": "78005553535", "context": "public"},
        {"uuid": "ours", "application": "bridge", "created_epoch": old, "dest": "101", "context": "org-12"},
        {"uuid": "talking", "application": "bridge", "created_epoch": old, "dest": "102", "context": "org-12"},
        {"uuid": "in-voicemail", "application": "voicemail", "created_epoch": old, "dest": "103", "context": "org-12"},
    ]
    switch = ListingSwitch(rows, {"talking": "internal|extension:102|", "in-voicemail": "inbound||103"})
    lost = {"gone"}
    sweep = StrandedCalls(started_at=now - 3600, handled=lambda: {"ours"}, lost=lost, park_contexts=lambda: PARKING)  # started an hour ago
    monkeypatch.setattr(stranded_module, "SWEEP_SECONDS", 0.2)
    monkeypatch.setattr(stranded_module, "CONNECTION_POLL_SECONDS", 0.05)

    async def follow_a_while() -> None:
        task = asyncio.ensure_future(sweep.follow(switch, switch))
        await asyncio.sleep(0.5)  # the connection's look, then at least one sweep
        task.cancel()

    asyncio.run(follow_a_while())
    assert set(switch.sent) == {"uuid_transfer parked 78005553535 XML public-fallback"}, switch.sent
    assert sweep.taken_back == len(switch.sent) >= 2, "looked at the connection and again while it was up"
    assert lost == set(), "the calls lost are looked for once: those not listed ended"
