"""Against a real FreeSWITCH 1.10 built under FREESWITCH_PREFIX: the client and the server end to end.

The switch is started with a configuration of its own (event socket on a free
loopback port, a dialplan that hands one extension to the outbound server);
a loopback call reaches the server, which answers, sets a variable and hangs
up with USER_BUSY, while the inbound client watches the events.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bizpbx.esl.events import Event
from bizpbx.esl.aio import InboundClient, OutboundServer, OutboundSession

PREFIX = os.environ.get("FREESWITCH_PREFIX")
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not PREFIX, reason="set FREESWITCH_PREFIX to a FreeSWITCH 1.10 install to run the live ESL test"),
]
START_SECONDS = 60  # how long the switch may take to open its event socket

CONFIGURATION = """<?xml version="1.0"?>
<document type="freeswitch/xml">
  <section name="configuration">
    <configuration name="modules.conf"><modules>
      <load module="mod_event_socket"/><load module="mod_commands"/><load module="mod_dptools"/>
      <load module="mod_loopback"/><load module="mod_dialplan_xml"/>
    </modules></configuration>
    <configuration name="switch.conf"><settings><param name="loglevel" value="info"/></settings></configuration>
    <configuration name="event_socket.conf"><settings>
      <param name="nat-map" value="false"/>
      <param name="listen-ip" value="127.0.0.1"/>
      <param name="listen-port" value="{esl_port}"/>
      <param name="password" value="{password}"/>
    </settings></configuration>
  </section>
  <section name="dialplan">
    <context name="default">
      <extension name="controller">
        <condition field="destination_number" expression="^controller$">
          <action application="socket" data="127.0.0.1:{outbound_port} async full"/>
        </condition>
      </extension>
    </context>
  </section>
</document>
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def switch(tmp_path: Path) -> Iterator[dict]:
    settings = {"esl_port": free_port(), "outbound_port": free_port(), "password": secrets.token_hex(8)}
    for directory in ("conf", "log", "db", "run"):
        (tmp_path / directory).mkdir()
    (tmp_path / "conf" / "freeswitch.xml").write_text(CONFIGURATION.format(**settings))
    binary = Path(PREFIX or "") / "bin" / "freeswitch"
    if not binary.exists():
        pytest.fail(f"FREESWITCH_PREFIX is set but {binary} does not exist")
    command = [str(binary), "-nonat", "-nf", "-nc", "-conf", str(tmp_path / "conf"), "-log", str(tmp_path / "log"),
               "-db", str(tmp_path / "db"), "-run", str(tmp_path / "run")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield settings
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def connect_when_up(settings: dict, **options: object) -> InboundClient:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_SECONDS
    while True:
        client = InboundClient("127.0.0.1", settings["esl_port"], settings["password"], **options)
        try:
            await client.connect()
            return client
        except OSError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.2)


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
