"""Which of the switch's channels are calls left parked in the socket application (stranded_calls)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from bizpbx.controller import stranded_calls as stranded_module
from bizpbx.controller.stranded_calls import StrandedCalls, stranded_calls


def test_only_calls_in_socket_since_before_the_limit_and_not_handled_are_stranded():
    rows = [
        {"uuid": "a", "application": "socket", "created_epoch": "100", "dest": "78005553535", "context": "public"},
        {"uuid": "b", "application": "socket", "created_epoch": "100", "dest": "101", "context": "phones-12"},
        {"uuid": "c", "application": "bridge", "created_epoch": "100", "dest": "102", "context": "phones-12"},
        {"uuid": "d", "application": "socket", "created_epoch": "300", "dest": "103", "context": "phones-12"},
    ]
    found = stranded_calls(json.dumps({"row_count": 4, "rows": rows}), began_before=200, handled={"b"})
    assert [(c.uuid, c.transfer_command()) for c in found] == [("a", "uuid_transfer a 78005553535 XML public")]
    assert stranded_calls("", 200, set()) == [] and stranded_calls('{"row_count": 0}', 200, set()) == []
    with pytest.raises(ValueError, match="row 0: KeyError 'dest'"):
        stranded_calls(json.dumps({"rows": [{"uuid": "a", "application": "socket", "created_epoch": "1"}]}), 200, set())


class ListingSwitch:
    """The event socket's side the sweep uses: `show channels as json` answered from `rows`, every
    other command (the transfers) recorded and answered +OK, as FreeSWITCH 1.10 answers them."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows, self.sent, self.connected, self.connections = rows, [], True, 1

    async def api(self, command: str) -> str:
        if command == "show channels as json":
            return json.dumps({"row_count": len(self.rows), "rows": self.rows})
        self.sent.append(command)
        return "+OK\n"


def test_a_running_controller_takes_back_a_call_parked_longer_than_the_switch_waits_for_connect(monkeypatch):
    now = time.time()
    rows = [
        {"uuid": "parked", "application": "socket", "created_epoch": str(int(now - 40)), "dest": "78005553535", "context": "public"},
        {"uuid": "arriving", "application": "socket", "created_epoch": str(int(now - 5)), "dest": "78005553535", "context": "public"},
        {"uuid": "ours", "application": "socket", "created_epoch": str(int(now - 40)), "dest": "101", "context": "phones-12"},
    ]
    switch = ListingSwitch(rows)
    sweep = StrandedCalls(started_at=now - 3600, handled=lambda: {"ours"})  # started an hour ago
    monkeypatch.setattr(stranded_module, "SWEEP_SECONDS", 0.2)
    monkeypatch.setattr(stranded_module, "CONNECTION_POLL_SECONDS", 0.05)

    async def follow_a_while() -> None:
        task = asyncio.ensure_future(sweep.follow(switch))
        await asyncio.sleep(0.5)  # the connection's look, then at least one sweep
        task.cancel()

    asyncio.run(follow_a_while())
    assert set(switch.sent) == {"uuid_transfer parked 78005553535 XML public"}, switch.sent
    assert sweep.taken_back == len(switch.sent) >= 2, "looked at the connection and again while it was up"
