"""Against a real FreeSWITCH 1.10 built under FREESWITCH_PREFIX: the client and the server end to end.

The switch is started with a configuration of its own (event socket on a free
loopback port, a dialplan that hands one extension to the outbound server);
a loopback call reaches the server, which answers, sets a variable and hangs
up with USER_BUSY, while the inbound client watches the events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_switch import NEEDS_FREESWITCH, connect_when_up, running_switch
from local_net import free_port

from bizpbx.esl import Event
from bizpbx.esl.aio import OutboundServer, OutboundSession

pytestmark = NEEDS_FREESWITCH

DIALPLAN = """
      <extension name="controller">
        <condition field="destination_number" expression="^controller$">
          <action application="socket" data="127.0.0.1:{outbound_port} async full"/>
        </condition>
      </extension>
"""


@pytest.fixture
def switch(tmp_path: Path) -> Iterator[dict]:
    with running_switch(tmp_path, DIALPLAN, outbound_port=free_port()) as settings:
        yield settings


def test_a_call_through_the_outbound_server_is_seen_by_the_inbound_client(switch: dict) -> None:
    seen: list[Event] = []
    handled: dict = {}

    async def controller(session: OutboundSession) -> None:
        handled["channel_data"] = session.channel_data
        handled["answer"] = await session.execute("answer")
        handled["set"] = await session.execute("set", "bizlive=1")
        handled["hangup"] = await session.hangup("USER_BUSY")
        await session.wait_closed()

    async def scenario() -> str:
        async with OutboundServer(controller, "127.0.0.1", switch["outbound_port"]):
            client = await connect_when_up(
                switch, events=["BACKGROUND_JOB", "CHANNEL_HANGUP_COMPLETE"], on_event=seen.append
            )
            status = await client.api("status")
            assert "is ready" in status
            assert "is ready" in await client.bgapi("status")
            await client.bgapi("originate loopback/controller/default &park")
            while not any(event.get("variable_bizlive") == "1" for event in seen):
                await asyncio.sleep(0.1)
            await client.close()
        return status

    asyncio.run(asyncio.wait_for(scenario(), 120))
    assert handled["channel_data"]["Event-Name"] == "CHANNEL_DATA"
    assert handled["channel_data"]["Reply-Text"] == "+OK\n"
    assert handled["answer"]["Application"] == "answer"
    assert handled["set"]["Application-Data"] == "bizlive=1"
    assert handled["hangup"].ok
    hangup = next(event for event in seen if event.get("variable_bizlive") == "1")
    assert hangup["Hangup-Cause"] == "USER_BUSY"
