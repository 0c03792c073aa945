"""docs/examples against a real FreeSWITCH 1.10 (FREESWITCH_PREFIX): a call through the IVR, watched.

A loopback call reaches ``ivr_app.py`` through the ``socket`` application;
the test keys 2 when the prompt plays; the app bridges to the ``sales``
extension, which answers and hangs up. ``watch_calls.py`` prints the calls.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_switch import NEEDS_FREESWITCH, connect_when_up, running_switch
from local_net import free_port, until

from bizpbx.esl import Event

pytestmark = NEEDS_FREESWITCH

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "docs" / "examples"
SALES = "loopback/sales/default"
DIALPLAN = """
      <extension name="ivr">
        <condition field="destination_number" expression="^ivr$">
          <action application="socket" data="127.0.0.1:{ivr_port} async full"/>
        </condition>
      </extension>
      <extension name="sales">
        <condition field="destination_number" expression="^sales$">
          <action application="answer"/>
          <action application="sleep" data="300"/>
          <action application="hangup"/>
        </condition>
      </extension>
"""


@pytest.fixture
def switch(tmp_path: Path) -> Iterator[dict]:
    with running_switch(tmp_path, DIALPLAN, ivr_port=free_port()) as settings:
        yield settings


async def start_example(name: str, *arguments: str, **environment: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / name), *arguments,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO / "src"), **environment},
    )


async def read_lines(stream: asyncio.StreamReader, into: list[str]) -> None:
    while line := await stream.readline():
        into.append(line.decode().rstrip("\n"))


async def stop(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGINT)
    return await process.wait()


def test_a_call_through_the_ivr_example_is_bridged_and_watched(switch: dict) -> None:
    seen: list[Event] = []

    async def scenario() -> tuple:
        client = await connect_when_up(switch, events=["CHANNEL_EXECUTE", "BACKGROUND_JOB"], on_event=seen.append)
        watcher = await start_example("watch_calls.py", "--port", str(switch["esl_port"]), ESL_PASSWORD=switch["password"])
        assert (await watcher.stderr.readline()).startswith(b"watching FreeSWITCH at 127.0.0.1:")
        ivr = await start_example(
            "ivr_app.py", "--listen", f"127.0.0.1:{switch['ivr_port']}", "--route", f"2={SALES}",
            "--prompt", "tone_stream://%(200,0,800)", "--invalid-prompt", "tone_stream://%(200,0,400)",
        )
        assert (await ivr.stdout.readline()).decode() == f"listening on 127.0.0.1:{switch['ivr_port']}\n"
        watched: list[str] = []
        ivr_said: list[str] = []
        reading = [asyncio.create_task(read_lines(watcher.stdout, watched)), asyncio.create_task(read_lines(ivr.stdout, ivr_said))]
        await client.bgapi("originate loopback/ivr/default &park")
        await until(lambda: any(event.get("Application") == "play_and_get_digits" for event in seen), "the IVR's prompt")
        prompt = next(event for event in seen if event.get("Application") == "play_and_get_digits")
        assert (await client.api(f"uuid_recv_dtmf {prompt.unique_id} 2")).startswith("+OK")
        await until(lambda: any("bridge ended" in line for line in ivr_said), "the bridge to end")
        await until(lambda: sum(" to=sales " in line and line.startswith("CHANNEL_HANGUP_COMPLETE") for line in watched) >= 1, "the sales leg's end")
        await until(lambda: sum(line.startswith("CHANNEL_HANGUP_COMPLETE") for line in watched) >= 4, "every leg's end")
        codes = (await stop(ivr), await stop(watcher))
        await asyncio.gather(*reading)
        await client.close()
        return prompt.unique_id, ivr_said, watched, codes

    caller, ivr_said, watched, codes = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert codes == (0, 0)
    assert ivr_said[0] == f"{caller} call from 0000000000"
    assert ivr_said[1:] == [f"{caller} digits 2: bridging to {SALES}", f"{caller} bridge ended: SUCCESS"]
    # two loopback calls (ivr and sales), two legs each: created, answered, ended
    for name in ("CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE"):
        assert sum(line.startswith(f"{name} ") for line in watched) == 4, watched
    ivr_end = next(line for line in watched if line.startswith(f"CHANNEL_HANGUP_COMPLETE {caller} "))
    assert " to=ivr cause=NORMAL_CLEARING billsec=" in ivr_end
