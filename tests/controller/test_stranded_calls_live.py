"""A call left parked by a controller that died while routing it goes to the dialplan's
fallback once a controller is back, on a real FreeSWITCH 1.10 (needs FREESWITCH_PREFIX and
SIPp, as test_live.py).

The dying controller is played by a client of the event socket that takes the call as the
controller does (its fallback cancelled), rings the caller and disconnects: the call then waits
in `park` with nothing to resume it.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from contextlib import closing

from local_net import free_port
from test_live import HOTLINE, Live, answered_by_phone, live, sipp, wait_for  # noqa: F401 - live is the fixture
from test_live import pytestmark as live_test_marks

from bizpbx import fs_vocabulary as fs
from bizpbx.controller import parked_calls
from bizpbx.controller.outbox import Outbox
from bizpbx.esl import commands
from bizpbx.esl.aio import InboundClient

pytestmark = live_test_marks


async def say_a_controller_is_there(live: Live) -> None:
    """As the controller does once connected: parked calls wait for it."""
    esl = live.site.esl
    async with InboundClient(str(esl.host), esl.port, esl.password.get_secret_value()) as client:
        told = await client.api(fs.controller_present())
        assert told.startswith("+OK"), told


async def take_one_call_and_die(live: Live) -> str:
    """Take the first call parked, as the controller does, ring its caller, and go; its UUID."""
    esl = live.site.esl
    client = InboundClient(str(esl.host), esl.port, esl.password.get_secret_value(), events=parked_calls.SUBSCRIBED_EVENTS, filters=parked_calls.EVENT_FILTERS)
    async with client:
        async for event in client.events():
            if event.name == parked_calls.PARKED:
                uuid = event.unique_id or ""
                claimed = await client.api(fs.claim(uuid))
                assert fs.claimed(claimed), claimed
                await client.send_ok(commands.execute("ring_ready", uuid=uuid))
                await asyncio.sleep(0.5)  # it runs: the caller hears ringing
                return uuid
    raise AssertionError("the event socket closed before a call was parked")


def test_a_call_left_parked_by_a_controller_that_died_goes_to_the_fallback_once_a_controller_is_back(live: Live):
    live.controller.terminate()
    assert live.controller.wait(60) == 0
    live.controller = None  # type: ignore[assignment]

    def call_stranded_then_taken_back() -> None:
        # The controller stopping said it is gone; the stand-in is about to come.
        asyncio.run(asyncio.wait_for(say_a_controller_is_there(live), 60))
        live.write_caller(HOTLINE, talk_ms=3000)
        caller = subprocess.Popen(
            sipp(live.work, "caller", f"127.0.0.1:{live.external}", "-m", "1", "-p", str(free_port(socket.SOCK_DGRAM))),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=live.work,
        )
        asyncio.run(asyncio.wait_for(take_one_call_and_die(live), 60))
        time.sleep(fs.FALLBACK_AFTER_SECONDS + 2)  # past its cancelled fallback: with no controller it stays parked
        assert caller.poll() is None, "the call is waiting"
        live.start_controller()
        out, err = caller.communicate(timeout=90)
        assert caller.returncode == 0, out[-2000:] + err[-2000:]

    answered_by_phone(live, call_stranded_then_taken_back)
    with closing(Outbox(live.site.controller.ledger)) as outbox:
        wait_for(lambda: any(e.name == "call.answered" for e in outbox.after(0)), "call.answered of the call taken back")
    log = (live.work / "controller.log").read_text(errors="replace")
    assert "a call left parked without a controller goes to the dialplan's fallback" in log
