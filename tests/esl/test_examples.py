"""docs/examples run against FreeSWITCH's recorded bytes (../shared/esl-captures)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from esl_captures import Capture
from esl_peers import replay_server, run

from bizpbx.esl import API_RESPONSE, COMMAND_REPLY, Event, Received

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "docs" / "examples"
LAB_PASSWORD = "labsecret"  # the password of the switch that recorded the captures
WATCHED = ("CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE")
# The replies FreeSWITCH gives the commands watch_calls sends: auth, its subscription, exit.
WATCH_REPLIES = ("+OK accepted", "+OK event listener enabled plain", "+OK bye")


def sent_to_a_watcher(frame: Received) -> bool:
    """What FreeSWITCH sends a client that subscribed to the call events only and ran no other command."""
    if isinstance(frame, Event):
        return frame.name in WATCHED
    if frame.content_type in (COMMAND_REPLY, API_RESPONSE):
        return frame.reply_text in WATCH_REPLIES
    return True  # auth/request, the disconnect notice


async def start_example(name: str, *arguments: str, **environment: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / name), *arguments,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO / "src"), **environment},
    )


def test_watch_calls_prints_each_call_event_on_one_line() -> None:
    capture = Capture.load("inbound-plain")
    expected = [frame["headers"] for frame in capture.events if frame["headers"]["Event-Name"] in WATCHED]

    async def scenario() -> tuple:
        async with replay_server(capture, sent_to_a_watcher) as (port, peer):
            watcher = await start_example("watch_calls.py", "--port", str(port), ESL_PASSWORD=LAB_PASSWORD)
            lines = [(await watcher.stdout.readline()).decode() for _ in expected]
            watcher.send_signal(signal.SIGINT)
            rest, errors = await watcher.communicate()
        return port, peer.received, lines, rest, errors, watcher.returncode

    port, received, lines, rest, errors, code = run(scenario())
    assert code == 0 and rest == b""
    assert errors.decode() == f"watching FreeSWITCH at 127.0.0.1:{port}\n"
    assert received == [b"auth labsecret\n\n", b"event plain " + " ".join(WATCHED).encode() + b"\n\n", b"exit\n\n"]
    assert len(lines) == len(expected) == 21  # 7 channels: created, answered, ended
    for line, headers in zip(lines, expected):
        words = line.split()
        assert words[:5] == [
            headers["Event-Name"],
            headers["Unique-ID"],
            headers["Call-Direction"],
            f"from={headers['Caller-Caller-ID-Number']}",
            f"to={headers['Caller-Destination-Number']}",
        ]
        if headers["Event-Name"] == "CHANNEL_HANGUP_COMPLETE":
            assert words[5:] == [f"cause={headers['Hangup-Cause']}", f"billsec={headers['variable_billsec']}"]
        else:
            assert len(words) == 5


def test_watch_calls_says_why_it_cannot_start() -> None:
    async def scenario() -> tuple:
        async with replay_server(Capture.load("auth-failure")) as (port, _):
            watcher = await start_example("watch_calls.py", "--port", str(port), ESL_PASSWORD="not-the-password")
            out, errors = await watcher.communicate()
        return port, out, errors.decode(), watcher.returncode

    port, out, errors, code = run(scenario())
    assert code == 1 and out == b""
    assert errors == f"watch_calls: FreeSWITCH at 127.0.0.1:{port}: FreeSWITCH at 127.0.0.1:{port} refused the password: -ERR invalid\n"
    assert "not-the-password" not in errors
