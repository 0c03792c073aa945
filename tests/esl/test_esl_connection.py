"""The sans-IO connection: states, and answers matched to the commands that asked for them."""

from __future__ import annotations

import pytest
from esl_captures import Capture
from esl_peers import reply

from bizpbx.esl import commands
from bizpbx.esl.commands import Command, CommandError
from bizpbx.esl.connection import ApplicationCompleted, Connection, JobCompleted, Reply, Role, State
from bizpbx.esl.errors import ProtocolError
from bizpbx.esl.events import PLAIN, Event
from bizpbx.esl.protocol import AUTH_REQUEST, DISCONNECT_NOTICE, Frame, encode


def event(**headers: str) -> bytes:
    return encode(Event.build(PLAIN, headers))


def ready_inbound() -> Connection:
    connection = Connection(Role.INBOUND)
    connection.receive(encode(Frame(AUTH_REQUEST)))
    connection.send(commands.auth("pw"))
    connection.receive(reply("+OK accepted"))
    return connection


def test_inbound_states_follow_the_handshake() -> None:
    connection = Connection(Role.INBOUND)
    assert connection.state is State.GREETING
    with pytest.raises(CommandError, match="cannot send 'api'"):
        connection.send(commands.api("status"))
    connection.receive(encode(Frame(AUTH_REQUEST)))
    assert connection.state is State.AUTH_REQUESTED
    with pytest.raises(CommandError, match="cannot send 'api'"):
        connection.send(commands.api("status"))
    assert connection.send(commands.auth("pw")) == b"auth pw\n\n"
    assert connection.state is State.AUTHENTICATING
    connection.receive(reply("+OK accepted"))
    assert connection.state is State.READY


def test_a_refused_password_closes_the_connection() -> None:
    connection = Connection(Role.INBOUND)
    connection.receive(encode(Frame(AUTH_REQUEST)))
    connection.send(commands.auth("wrong"))
    [answer] = connection.receive(reply("-ERR invalid"))
    assert isinstance(answer, Reply) and not answer.frame.ok
    assert connection.state is State.CLOSED
    with pytest.raises(CommandError, match="closed"):
        connection.send(commands.api("status"))


def test_outbound_starts_with_connect_and_lingers_before_closing() -> None:
    capture = Capture.load("outbound-ivr")
    connection = Connection(Role.OUTBOUND)
    with pytest.raises(CommandError, match="cannot send 'myevents'"):
        connection.send(commands.myevents())
    connection.send(commands.connect())
    states = [connection.state]
    for byte in range(len(capture.fs_bytes)):
        connection.receive(capture.fs_bytes[byte : byte + 1])
        if states[-1] is not connection.state:
            states.append(connection.state)
            if connection.state is State.READY:
                for sent in capture.client_sent[1:]:  # what followed connect in the capture
                    connection.send(Command.decode(sent))
    assert states == [State.GREETING, State.READY, State.LINGERING, State.CLOSED]


def test_replies_go_to_their_commands_in_order() -> None:
    connection = ready_inbound()
    connection.send(commands.api("first"), "token 1")
    connection.send(commands.event("plain", ["ALL"]), "token 2")
    answers = connection.receive(encode(Frame("api/response", body="one")) + reply("+OK event listener enabled plain"))
    assert [(answer.token, answer.command.line) for answer in answers] == [("token 1", "api first"), ("token 2", "event plain ALL")]


def test_a_reply_nobody_asked_for_is_a_protocol_error() -> None:
    connection = ready_inbound()
    with pytest.raises(ProtocolError, match="command/reply with no command waiting for it"):
        connection.receive(reply("+OK"))


def test_a_background_job_completes_the_bgapi_whose_reply_named_it() -> None:
    connection = ready_inbound()
    connection.send(commands.bgapi("status"), "job token")
    [answer] = connection.receive(reply("+OK Job-UUID: J1", **{"Job-UUID": "J1"}))
    assert answer.token == "job token"
    happenings = connection.receive(event(**{"Event-Name": "BACKGROUND_JOB", "Job-UUID": "other"}))
    assert [type(happening) for happening in happenings] == [Event]
    happenings = connection.receive(event(**{"Event-Name": "BACKGROUND_JOB", "Job-UUID": "J1"}))
    assert [type(happening) for happening in happenings] == [Event, JobCompleted]
    assert happenings[1].token == "job token"
    assert connection.connection_lost() == []


def test_executes_are_matched_by_the_application_uuid_their_start_announced() -> None:
    connection = Connection(Role.OUTBOUND)
    connection.send(commands.connect())
    connection.receive(reply("+OK"))
    connection.send(commands.execute("answer"), "answer")
    connection.send(commands.execute("playback", "x", event_uuid="mine"), "playback")
    connection.receive(reply("+OK") + reply("+OK"))
    started = event(**{"Event-Name": "CHANNEL_EXECUTE", "Application": "answer", "Application-UUID": "A1"})
    dialplan = event(**{"Event-Name": "CHANNEL_EXECUTE_COMPLETE", "Application": "socket", "Application-UUID": "S"})
    answered = event(**{"Event-Name": "CHANNEL_EXECUTE_COMPLETE", "Application": "answer", "Application-UUID": "A1"})
    played = event(**{"Event-Name": "CHANNEL_EXECUTE_COMPLETE", "Application": "playback", "Application-UUID": "mine"})
    completions = [
        happening.token
        for happening in connection.receive(started + dialplan + played + answered)
        if isinstance(happening, ApplicationCompleted)
    ]
    assert completions == ["playback", "answer"]


def test_a_lost_connection_gives_back_every_unanswered_token() -> None:
    connection = Connection(Role.OUTBOUND)
    connection.send(commands.connect(), "connect")
    connection.receive(reply("+OK"))
    connection.send(commands.execute("bridge", "user/101"), "bridge")
    connection.receive(reply("+OK"))
    connection.send(commands.api("status"), "api")
    assert sorted(connection.connection_lost()) == ["api", "bridge"]
    assert connection.state is State.CLOSED


def test_the_disconnect_notice_closes() -> None:
    connection = ready_inbound()
    connection.receive(encode(Frame(DISCONNECT_NOTICE, body="bye")))
    assert connection.state is State.CLOSED
