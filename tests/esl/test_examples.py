"""docs/examples run against FreeSWITCH's recorded bytes (../shared/esl-captures)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from esl_captures import Capture
from esl_peers import ScriptedPeer, replay_server, run

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


# outbound-ivr's frames as FreeSWITCH would send them to ivr_app: the channel's data, the
# subscription's reply, answer's reply and events, play_and_get_digits' reply, the keyed 1 2 #
# and its completion (the digits in bizlab_org_id), a command's +OK, then the caller hanging up.
IVR_CONVERSATION = [
    (b"connect\n\n", [0]),
    (b"myevents\n\n", [1]),
    (b"sendmsg\ncall-command: execute\nexecute-app-name: answer\n", [3, 5, 6, 7]),
    (b"sendmsg\ncall-command: execute\nexecute-app-name: play_and_get_digits\n", [4, 8, 11, 12, 13, 14]),
    (b"sendmsg\ncall-command: execute\nexecute-app-name: bridge\n", [10, 17, 24]),
]


def test_ivr_app_answers_collects_digits_and_bridges_the_route_chosen() -> None:
    capture = Capture.load("outbound-ivr")
    peer = ScriptedPeer(capture, IVR_CONVERSATION)

    async def scenario() -> tuple:
        ivr = await start_example(
            "ivr_app.py", "--listen", "127.0.0.1:0", "--route", "12=user/101", "--route", "3=user/103",
            "--variable", "bizlab_org_id",
        )
        listening = (await ivr.stdout.readline()).decode()
        port = int(listening.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await peer.play(reader, writer)
        lines = [(await ivr.stdout.readline()).decode() for _ in range(3)]
        ivr.send_signal(signal.SIGINT)
        rest, errors = await ivr.communicate()
        return listening, lines, rest, errors, ivr.returncode

    listening, lines, rest, errors, code = run(scenario())
    uuid = capture.frames[0]["headers"]["Unique-ID"]
    assert listening.startswith("listening on 127.0.0.1:")
    assert lines == [
        f"{uuid} call from 78432123456\n",
        f"{uuid} digits 12: bridging to user/101\n",
        f"{uuid} the caller hung up\n",
    ]
    assert (code, rest, errors) == (0, b"", b"")
    collect = (
        "1 2 3 5000 # ivr/ivr-please_enter_extension_followed_by_pound.wav ivr/ivr-that_was_an_invalid_entry.wav"
        " bizlab_org_id ^(12|3)$"
    )
    assert [command.split(b"\n")[:4] for command in peer.received] == [
        [b"connect", b"", b""],
        [b"myevents", b"", b""],
        [b"sendmsg", b"call-command: execute", b"execute-app-name: answer", b"event-lock: true"],
        [b"sendmsg", b"call-command: execute", b"execute-app-name: play_and_get_digits", b"content-type: text/plain"],
        [b"sendmsg", b"call-command: execute", b"execute-app-name: bridge", b"content-type: text/plain"],
    ]
    # The arguments are the commands' bodies (the switch reads a body at once, a head a byte at a time).
    assert [command.partition(b"\n\n")[2] for command in peer.received[3:]] == [collect.encode(), b"user/101"]
