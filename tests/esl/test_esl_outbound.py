"""The outbound server against FreeSWITCH's recorded side of the socket application."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from esl_captures import Capture
from esl_peers import ReplayPeer, run

from bizpbx.esl.aio import OutboundServer, OutboundSession
from bizpbx.esl.commands import Command
from bizpbx.esl.errors import ConnectionLost
from bizpbx.esl.events import Event
from bizpbx.esl.protocol import COMMAND_REPLY, Frame, FrameParser, decoded_form, encode

IVR_DIGITS = "1 4 1 6000 # tone_stream://%(100,0,800) silence_stream://250 bizlab_org_id \\d+"
BRIDGES = [
    "[leg_timeout=5]sofia/lab/busy@127.0.0.1:5091",
    "[leg_timeout=3]sofia/lab/noanswer@127.0.0.1:5092",
    "[leg_timeout=5]sofia/lab/ext101@127.0.0.1:5090",
]


def serve_capture(
    name: str, handler: Callable[[OutboundSession], Awaitable[dict]], **server_options: object
) -> tuple[Capture, ReplayPeer, dict]:
    """Run the handler on our server while the peer plays FreeSWITCH's side of the capture."""
    capture = Capture.load(name)
    peer = ReplayPeer(capture)
    outcome: dict = {}

    handled = asyncio.Event()

    async def record(session: OutboundSession) -> None:
        try:
            outcome.update(await handler(session))
            await session.wait_closed()
            outcome["events"] = drain(session.events)
            outcome["linger_notice"] = session.linger_notice
            outcome["disconnect_notice"] = session.disconnect_notice
        finally:
            handled.set()

    async def scenario() -> None:
        async with OutboundServer(record, "127.0.0.1", 0, **server_options) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            await peer.play(reader, writer)
            await handled.wait()

    run(scenario())
    return capture, peer, outcome


def drain(queue: asyncio.Queue[Event]) -> list[Event]:
    return [queue.get_nowait() for _ in range(queue.qsize())]


def completion_summary(event: Event) -> tuple:
    return event.name, event.get("Application"), event.get("Application-Data")


def as_the_switch_reads(command: bytes) -> tuple:
    """A command's meaning to the switch: an execute's argument from its header (as the captured
    client sent it) or its body (as this client does) alike."""
    decoded = Command.decode(command)
    headers = dict(decoded.headers)
    argument = decoded.body if headers.pop("content-type", None) == "text/plain" else headers.get("execute-app-arg")
    headers.pop("execute-app-arg", None)
    return decoded.line, sorted(headers.items()), argument


def assert_matches_capture(capture: Capture, peer: ReplayPeer, outcome: dict) -> None:
    assert [as_the_switch_reads(sent) for sent in peer.received] == [as_the_switch_reads(sent) for sent in capture.client_sent]
    assert [decoded_form(event) for event in outcome["events"]] == capture.events
    notices = [frame for frame in capture.frames if frame["type"] == "text/disconnect-notice"]
    seen = [notice for notice in (outcome["linger_notice"], outcome["disconnect_notice"]) if notice is not None]
    assert [decoded_form(notice) for notice in seen] == notices


def test_an_ivr_collects_digits_and_sees_the_linger_notice() -> None:
    async def ivr(session: OutboundSession) -> dict:
        answered = asyncio.ensure_future(session.execute("answer"))
        digits = asyncio.ensure_future(session.execute("play_and_get_digits", IVR_DIGITS))
        await answered
        early_value = await session.api(f"uuid_getvar {session.uuid} bizlab_org_id")
        playback = asyncio.ensure_future(session.execute("playback", "tone_stream://%(300,0,500)"))
        return {
            "channel_data": session.channel_data,
            "uuid": session.uuid,
            "early_value": early_value,
            "completions": [await answered, await digits, await playback],
        }

    capture, peer, outcome = serve_capture("outbound-ivr", ivr, linger=5)
    assert_matches_capture(capture, peer, outcome)
    assert dict(outcome["channel_data"]) == capture.frames[0]["headers"]
    assert outcome["channel_data"]["Reply-Text"] == "+OK\n"
    assert outcome["early_value"] == "_undef_"  # asked before the caller had keyed the digits
    assert [completion_summary(event) for event in outcome["completions"]] == [
        ("CHANNEL_EXECUTE_COMPLETE", "answer", None),
        ("CHANNEL_EXECUTE_COMPLETE", "play_and_get_digits", IVR_DIGITS),
        ("CHANNEL_EXECUTE_COMPLETE", "playback", "tone_stream://%(300,0,500)"),
    ]
    assert outcome["completions"][1].get("variable_bizlab_org_id") == "12"
    assert outcome["linger_notice"].headers["Linger-Time"] == "5"


def test_forwarding_runs_queued_bridges_and_reports_each_outcome() -> None:
    async def forward(session: OutboundSession) -> dict:
        applications = [
            session.execute("answer"),
            session.execute("set", "continue_on_fail=true"),
            session.execute("set", "hangup_after_bridge=true"),
            *(session.execute("bridge", target) for target in BRIDGES),
        ]
        return {"results": await asyncio.gather(*applications, return_exceptions=True)}

    capture, peer, outcome = serve_capture("outbound-forward", forward, linger=3)
    assert_matches_capture(capture, peer, outcome)
    *completed, never_ran = outcome["results"]
    assert [completion_summary(event) for event in completed] == [
        ("CHANNEL_EXECUTE_COMPLETE", "answer", None),
        ("CHANNEL_EXECUTE_COMPLETE", "set", "continue_on_fail=true"),
        ("CHANNEL_EXECUTE_COMPLETE", "set", "hangup_after_bridge=true"),
        ("CHANNEL_EXECUTE_COMPLETE", "bridge", BRIDGES[0]),
        ("CHANNEL_EXECUTE_COMPLETE", "bridge", BRIDGES[1]),
    ]
    busy, no_answer = completed[3], completed[4]
    assert (busy["variable_originate_disposition"], busy["variable_DIALSTATUS"]) == ("USER_BUSY", "BUSY")
    assert (no_answer["variable_originate_disposition"], no_answer["variable_DIALSTATUS"]) == ("ORIGINATOR_CANCEL", "CANCEL")
    assert isinstance(never_ran, ConnectionLost)  # the caller was gone before the third bridge


def test_a_hangup_with_a_cause_closes_the_socket_at_once() -> None:
    async def refuse(session: OutboundSession) -> dict:
        answered = session.execute("answer")
        marked = session.execute("set", "bizlab_route=owner")
        hung_up = session.hangup("USER_BUSY")
        return {"results": await asyncio.gather(answered, marked, hung_up)}

    capture, peer, outcome = serve_capture("outbound-hangup", refuse, event_format="json")
    assert_matches_capture(capture, peer, outcome)
    answered, marked, hung_up = outcome["results"]
    assert completion_summary(marked) == ("CHANNEL_EXECUTE_COMPLETE", "set", "bizlab_route=owner")
    assert hung_up.ok
    assert outcome["linger_notice"] is None
    hangup = next(event for event in outcome["events"] if event.name == "CHANNEL_HANGUP")
    assert hangup["Hangup-Cause"] == "USER_BUSY"


def test_a_failing_handler_is_logged_and_its_call_let_go(caplog: pytest.LogCaptureFixture) -> None:
    capture = Capture.load("outbound-hangup")
    peer = ReplayPeer(capture)

    async def broken(session: OutboundSession) -> None:
        raise RuntimeError("a bug in the controller")

    async def scenario() -> None:
        async with OutboundServer(broken, "127.0.0.1", 0, event_format="json") as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            await peer.play(reader, writer)

    run(scenario())
    assert "outbound socket handler failed" in caplog.text and "a bug in the controller" in caplog.text
    # connect and myevents, then the server said exit and let the call go on in the dialplan
    assert peer.received[:3] == [*capture.client_sent[:2], b"exit\n\n"]


def test_a_server_told_its_events_nixes_the_others_and_names_its_applications() -> None:
    """Only the events the handler reads cross the socket; without CHANNEL_EXECUTE (which names an
    application otherwise) each execute carries an Event-UUID, and its completion is matched by it."""
    capture = Capture.load("outbound-forward")
    channel_data = FrameParser().feed(capture.fs_bytes)[0]
    completion = next(e for e in FrameParser().feed(capture.fs_bytes) if isinstance(e, Event) and e.name == "CHANNEL_EXECUTE_COMPLETE" and e.get("Application") == "answer")
    seen: dict = {}

    async def answer(session: OutboundSession) -> None:
        seen["completion"] = await session.execute("answer")

    async def switch(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["setup"] = [(await reader.readuntil(b"\n\n")).decode() for _ in range(4)]
        replies = ("+OK Events Enabled", "+OK events nixed", "+OK event listener enabled plain")  # mod_event_socket 1.10.12's
        writer.write(encode(channel_data) + b"".join(encode(Frame(COMMAND_REPLY, {"Reply-Text": reply})) for reply in replies))
        command = Command.decode(await reader.readuntil(b"\n\n"))
        seen["event_uuid"] = command.header("Event-UUID")
        headers = dict(completion.headers)
        headers["Application-UUID"] = "someone else's"
        unmatched = Event.build(completion.content_type, headers)
        headers["Application-UUID"] = seen["event_uuid"]
        writer.write(encode(Frame(COMMAND_REPLY, {"Reply-Text": "+OK"})) + encode(unmatched) + encode(Event.build(completion.content_type, headers)))
        await reader.readuntil(b"\n\n")  # the server's exit once the handler is done
        writer.close()

    async def scenario() -> None:
        async with OutboundServer(answer, "127.0.0.1", 0, events=["CHANNEL_EXECUTE_COMPLETE", "CHANNEL_BRIDGE"]) as server:
            await switch(*await asyncio.open_connection("127.0.0.1", server.port))

    run(scenario())
    # Every event nixed in one word, the two read subscribed again: a few bytes, which the switch reads one at a time.
    assert seen["setup"] == ["connect\n\n", "myevents\n\n", "nixevent ALL\n\n", "event plain CHANNEL_BRIDGE CHANNEL_EXECUTE_COMPLETE\n\n"]
    assert seen["event_uuid"] and seen["completion"].application_uuid == seen["event_uuid"]
    with pytest.raises(ValueError, match="CHANNEL_EXECUTE_COMPLETE"):
        OutboundServer(answer, events=["CHANNEL_BRIDGE"])


def test_a_call_the_switch_has_said_is_over_gets_no_exit_and_its_socket_is_closed(caplog: pytest.LogCaptureFixture) -> None:
    """The disconnect notice came, the socket is still open: no command may follow, and the server
    closes its end (it once raised sending `exit` there and left the socket open)."""
    frames = FrameParser().feed(Capture.load("outbound-hangup").fs_bytes)
    notice = next(f for f in frames if isinstance(f, Frame) and f.content_type == "text/disconnect-notice")
    seen: dict = {}

    async def wait_for_the_notice(session: OutboundSession) -> None:
        while session.disconnect_notice is None:
            await asyncio.sleep(0.01)

    async def switch(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["setup"] = [(await reader.readuntil(b"\n\n")).decode() for _ in range(2)]
        writer.write(encode(frames[0]) + encode(Frame(COMMAND_REPLY, {"Reply-Text": "+OK Events Enabled"})) + encode(notice))
        seen["after"] = await asyncio.wait_for(reader.read(), 10)  # until the server closes its end
        writer.close()

    async def scenario() -> None:
        async with OutboundServer(wait_for_the_notice, "127.0.0.1", 0) as server:
            await switch(*await asyncio.open_connection("127.0.0.1", server.port))

    run(scenario())
    assert seen["setup"] == ["connect\n\n", "myevents\n\n"] and seen["after"] == b""
    assert "never retrieved" not in caplog.text and "cannot send" not in caplog.text
