"""The inbound client against replayed FreeSWITCH captures and a fake FreeSWITCH."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from esl_captures import Capture
from esl_peers import FakeFreeSwitch, replay_server, run

from bizpbx.backoff import backoff_delays
from bizpbx.esl import commands
from bizpbx.esl.aio import InboundClient
from bizpbx.esl.errors import AuthenticationError, ConnectionLost, ConnectionRejected, EslError
from bizpbx.esl.events import Event
from bizpbx.esl.protocol import decoded_form

LAB_PASSWORD = "labsecret"  # the password of the switch that recorded the captures
SCRIPT_EVENTS = [
    "CHANNEL_CREATE",
    "CHANNEL_ANSWER",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_EXECUTE_COMPLETE",
    "DTMF",
    "BACKGROUND_JOB",
    "HEARTBEAT",
]
CHOSEN_JOB_UUID = "00000000-0000-4000-8000-000000001ab5"
UNKNOWN_CHANNEL = "00000000-0000-0000-0000-000000000000"
REGISTRATION_EVENTS = ["sofia::register", "sofia::unregister", "sofia::expire", "sofia::register_attempt", "sofia::register_failure"]


async def collect(events: AsyncIterator[Event]) -> list[Event]:
    return [event async for event in events]


@pytest.mark.parametrize(("name", "event_format"), [("inbound-plain", "plain"), ("inbound-json", "json")])
def test_the_inbound_script_replays(name: str, event_format: str) -> None:
    capture = Capture.load(name)
    events: list[Event] = []

    async def scenario() -> tuple:
        async with replay_server(capture) as (port, peer):
            client = InboundClient(
                "127.0.0.1",
                port,
                LAB_PASSWORD,
                events=SCRIPT_EVENTS,
                custom=["sofia::register", "sofia::unregister"],
                event_format=event_format,
                on_event=events.append,
                reconnect=False,
            )
            await client.connect()
            outputs = [await client.api(command) for command in ("status", "no_such_command", "show channels as json")]
            jobs = [await client.bgapi("status", job_uuid=CHOSEN_JOB_UUID), await client.bgapi("no_such_command")]
            outputs.append(await client.api(f"uuid_kill {UNKNOWN_CHANNEL}"))
            stopped = await client.send(commands.noevents())
            await client.close()
        return peer.received, outputs, jobs, stopped

    received, outputs, jobs, stopped = run(scenario())
    assert received == list(capture.client_sent)
    assert outputs == [frame["body"] for frame in capture.frames_of_type("api/response")]
    assert outputs[1] == "-ERR no_such_command Command not found!\n"
    assert jobs == [frame["body"] for frame in capture.events if frame["headers"]["Event-Name"] == "BACKGROUND_JOB"]
    assert jobs[1] == "-ERR no_such_command Command not found!\n"
    assert stopped.ok
    assert [decoded_form(event) for event in events] == capture.events


def test_registrations_are_seen_as_custom_events() -> None:
    capture = Capture.load("inbound-register")
    events: list[Event] = []

    async def scenario() -> tuple:
        async with replay_server(capture) as (port, peer):
            client = InboundClient("127.0.0.1", port, LAB_PASSWORD, custom=REGISTRATION_EVENTS, on_event=events.append)
            iterated = asyncio.create_task(collect(client.events()))
            await client.connect()
            contact = "sofia_contact 101@127.0.0.1"
            outputs = [await client.api(contact)]
            outputs += [await client.api(contact), await client.api("sofia status profile internal reg")]
            outputs.append(await client.api(contact))
            await client.close()
        return peer.received, outputs, await iterated

    received, outputs, iterated = run(scenario())
    assert iterated == events
    assert received == list(capture.client_sent)
    assert outputs == [frame["body"] for frame in capture.frames_of_type("api/response")]
    assert outputs[0] == outputs[3] == "error/user_not_registered"
    assert outputs[1] == "sofia/internal/sip:101@127.0.0.1:5077"
    assert [(event.name, event.subclass) for event in events] == [
        ("CUSTOM", "sofia::register_attempt"),
        ("CUSTOM", "sofia::register_failure"),
        ("CUSTOM", "sofia::register_attempt"),
        ("CUSTOM", "sofia::register"),
        ("CUSTOM", "sofia::register_attempt"),
        ("CUSTOM", "sofia::unregister"),
    ]


def test_log_lines_can_be_asked_for_without_subscribing_to_events() -> None:
    capture = Capture.load("log-data")

    async def scenario() -> tuple:
        async with replay_server(capture) as (port, peer):
            client = InboundClient("127.0.0.1", port, LAB_PASSWORD)
            await client.connect()
            replies = [await client.send(commands.log(7)), await client.send(commands.nolog())]
            await client.close()
            after_close = [event async for event in client.events()]
        return peer.received, replies, after_close

    received, replies, after_close = run(scenario())
    assert after_close == []
    assert received == list(capture.client_sent)
    assert [reply.reply_text for reply in replies] == ["+OK log level 7 [7]", "+OK no longer logging"]


def test_a_wrong_password_is_a_clear_error_that_does_not_quote_it(caplog: pytest.LogCaptureFixture) -> None:
    capture = Capture.load("auth-failure")
    wrong_password = "not-the-password"
    caplog.set_level(logging.DEBUG)

    async def scenario() -> tuple:
        async with replay_server(capture) as (port, peer):
            client = InboundClient("127.0.0.1", port, wrong_password)
            with pytest.raises(AuthenticationError) as raised:
                await client.connect()
        return peer.received, raised.value, client

    received, error, client = run(scenario())
    assert received == list(capture.client_sent)
    assert "refused the password: -ERR invalid" in str(error)
    for text in (str(error), repr(error), repr(client), caplog.text):
        assert wrong_password not in text


def test_a_rude_rejection_is_a_clear_error() -> None:
    capture = Capture.load("rude-rejection")

    async def scenario() -> tuple:
        async with replay_server(capture) as (port, peer):
            client = InboundClient("127.0.0.1", port, LAB_PASSWORD)
            with pytest.raises(ConnectionRejected, match="Access Denied, go away"):
                await client.connect()
        return peer.received

    assert run(scenario()) == list(capture.client_sent) == []


@pytest.mark.parametrize(("call", "events"), [("api", []), ("bgapi", ["BACKGROUND_JOB"])])
def test_a_cancelled_caller_does_not_take_the_next_callers_answer(call: str, events: list[str]) -> None:
    async def scenario() -> tuple:
        async with FakeFreeSwitch("secret") as switch:
            client = InboundClient("127.0.0.1", switch.port, "secret", events=events)
            await client.connect()
            for _ in range(1 + len(events)):  # auth, then the subscription if any
                await switch.seen.get()
            ask = getattr(client, call)
            first = asyncio.create_task(ask("first"))
            assert await switch.seen.get() == f"{call} first\n\n".encode()
            first.cancel()
            second = asyncio.create_task(ask("second"))
            await switch.answers.put("answer to first")
            assert await switch.seen.get() == f"{call} second\n\n".encode()
            await switch.answers.put("answer to second")
            answer = await second
            await client.close()
        return first.cancelled(), answer

    assert run(scenario()) == (True, "answer to second")


def test_bgapi_needs_background_job_events() -> None:
    async def scenario() -> None:
        async with FakeFreeSwitch("secret") as switch:
            client = InboundClient("127.0.0.1", switch.port, "secret", events=["CHANNEL_CREATE"])
            await client.connect()
            with pytest.raises(EslError, match="BACKGROUND_JOB"):
                await client.bgapi("status")
            await client.close()

    run(scenario())


def test_after_a_drop_it_reconnects_resubscribes_and_works_again(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> tuple:
        async with FakeFreeSwitch("secret") as switch:
            client = InboundClient(
                "127.0.0.1",
                switch.port,
                "secret",
                events=["CHANNEL_CREATE", "BACKGROUND_JOB"],
                filters=[("Event-Name", "CHANNEL_CREATE")],
                backoff_initial=0.001,
            )
            await client.connect()
            for _ in range(3):  # auth, event, filter
                await switch.seen.get()
            waiting = asyncio.create_task(client.api("lost with the line"))
            assert await switch.seen.get() == b"api lost with the line\n\n"
            switch.drop()
            with pytest.raises(ConnectionLost):
                await waiting
            for _ in range(3):  # the same again, on the new connection
                await switch.seen.get()
            await switch.answers.put("UP")
            output = await client.api("status")
            await client.close()
        return switch.connections, client.connections, output

    connections, count, output = run(scenario())
    assert count == 2 and len(connections) == 2
    setup = [b"auth secret\n\n", b"event plain CHANNEL_CREATE BACKGROUND_JOB\n\n", b"filter Event-Name CHANNEL_CREATE\n\n"]
    assert connections[0] == setup + [b"api lost with the line\n\n"]
    assert connections[1] == setup + [b"api status\n\n", b"exit\n\n"]
    assert output == "UP"
    assert "connection lost, reconnecting" in caplog.text
    assert "secret" not in caplog.text


def test_api_commands_on_connect_run_on_every_connection_before_it_counts_as_connected() -> None:
    async def scenario() -> tuple:
        async with FakeFreeSwitch("secret") as switch:
            client = InboundClient("127.0.0.1", switch.port, "secret", events=["CHANNEL_PARK"], api_on_connect=["global_setvar here=1"], backoff_initial=0.001)
            connecting = asyncio.create_task(client.connect())
            for _ in range(3):  # auth, event, the api command
                await switch.seen.get()
            connected_before_the_answer = client.connected
            await switch.answers.put("+OK")
            await connecting
            switch.drop()
            for _ in range(3):
                await switch.seen.get()
            await switch.answers.put("-ERR no reading of globals here")  # refused: not connected, tried again
            for _ in range(3):
                await switch.seen.get()
            client.api_on_connect.clear()  # the owner changed its mind meanwhile: not said on the next one
            await switch.answers.put("+OK")
            while client.connections < 2:
                await asyncio.sleep(0.01)
            switch.drop()
            for _ in range(2):  # auth, event
                await switch.seen.get()
            while client.connections < 3:
                await asyncio.sleep(0.01)
            await client.close()
        return switch.connections, connected_before_the_answer

    connections, connected_before_the_answer = run(scenario())
    assert not connected_before_the_answer
    setup = [b"auth secret\n\n", b"event plain CHANNEL_PARK\n\n"]
    assert [c[:3] for c in connections[:3]] == [setup + [b"api global_setvar here=1\n\n"]] * 3
    assert connections[3] == setup + [b"exit\n\n"]


def test_a_password_refused_on_reconnection_ends_the_client() -> None:
    async def scenario() -> tuple:
        async with FakeFreeSwitch("secret") as switch:
            client = InboundClient("127.0.0.1", switch.port, "secret", backoff_initial=0.001)
            await client.connect()
            next_event = asyncio.ensure_future(anext(client.events()))
            switch.password = "changed"
            switch.drop()
            with pytest.raises(AuthenticationError):
                await next_event
            with pytest.raises(AuthenticationError):
                await client.api("status")
            await client.close()

    run(scenario())


def test_backoff_doubles_up_to_its_cap() -> None:
    delays = backoff_delays(0.5, 4.0)
    assert [next(delays) for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


def test_a_switch_that_never_greets_is_a_timeout_not_a_hang() -> None:
    async def scenario() -> None:
        async with FakeFreeSwitch("secret") as switch:
            switch.silent = True
            client = InboundClient("127.0.0.1", switch.port, "secret", connect_timeout=0.2)
            with pytest.raises(TimeoutError, match=rf"FreeSWITCH at 127.0.0.1:{switch.port} did not accept and subscribe us within 0.2 s"):
                await client.connect()

    run(scenario())


def test_a_silent_switch_does_not_stall_reconnection() -> None:
    async def scenario() -> tuple:
        async with FakeFreeSwitch("secret") as switch:
            client = InboundClient("127.0.0.1", switch.port, "secret", backoff_initial=0.001, connect_timeout=0.2)
            await client.connect()
            switch.silent = True
            switch.drop()
            while len(switch.connections) < 2:  # the client is now on a connection nobody answers
                await asyncio.sleep(0.01)
            switch.silent = False
            await switch.answers.put("UP")
            output = await client.api("status")  # waits for the reconnection after the silent one timed out
            await client.close()
        return len(switch.connections), client.connections, output

    connections, established, output = run(scenario())
    assert connections >= 3 and established == 2
    assert output == "UP"


def test_without_reconnection_a_lost_connection_is_an_error_not_an_end() -> None:
    async def scenario() -> None:
        async with FakeFreeSwitch("secret") as switch:
            client = InboundClient("127.0.0.1", switch.port, "secret", events=["CHANNEL_CREATE"], reconnect=False)
            await client.connect()
            next_event = asyncio.ensure_future(anext(client.events()))
            switch.drop()
            with pytest.raises(ConnectionLost, match=f"the connection to FreeSWITCH at 127.0.0.1:{switch.port} closed"):
                await next_event
            with pytest.raises(ConnectionLost):
                await client.api("status")
            with pytest.raises(ConnectionLost):  # so does a later iterator, at once
                await anext(client.events())
            await client.close()

    run(scenario())
