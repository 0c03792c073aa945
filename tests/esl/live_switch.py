"""A real FreeSWITCH 1.10 (built under FREESWITCH_PREFIX) on free loopback ports, with a dialplan of the test's own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_switch import stop_switch
from local_net import free_port

from bizpbx.esl.aio import InboundClient

PREFIX = os.environ.get("FREESWITCH_PREFIX")
NEEDS_FREESWITCH = [
    pytest.mark.live,
    pytest.mark.skipif(not PREFIX, reason="set FREESWITCH_PREFIX to a FreeSWITCH 1.10 install to run the live ESL tests"),
]
START_SECONDS = 60  # how long the switch may take to open its event socket

CONFIGURATION = """<?xml version="1.0"?>
<document type="freeswitch/xml">
  <section name="configuration">
    <configuration name="modules.conf"><modules>
      <load module="mod_event_socket"/><load module="mod_commands"/><load module="mod_dptools"/>
      <load module="mod_loopback"/><load module="mod_dialplan_xml"/><load module="mod_tone_stream"/>
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
{dialplan}
    </context>
  </section>
</document>
"""


@contextlib.contextmanager
def running_switch(work: Path, dialplan: str, **ports: int) -> Iterator[dict]:
    """Start FreeSWITCH in ``work``; yields its settings: esl_port, password and ``ports`` (which the dialplan may use)."""
    settings = {"esl_port": free_port(), "password": secrets.token_hex(8), **ports}
    for directory in ("conf", "log", "db", "run"):
        (work / directory).mkdir()
    (work / "conf" / "freeswitch.xml").write_text(CONFIGURATION.format(dialplan=dialplan.format(**settings), **settings))
    binary = Path(PREFIX or "") / "bin" / "freeswitch"
    if not binary.exists():
        pytest.fail(f"FREESWITCH_PREFIX is set but {binary} does not exist")
    command = [str(binary), "-nonat", "-nf", "-nc", "-conf", str(work / "conf"), "-log", str(work / "log"),
               "-db", str(work / "db"), "-run", str(work / "run")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield settings
    finally:
        stop_switch(process)


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
