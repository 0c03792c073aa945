"""In-process stand-ins for FreeSWITCH's end of an event socket.

:class:`ReplayPeer` plays back a capture's bytes, holding each reply frame
until the client's command for it has arrived, and records what the client
sent. :class:`FakeFreeSwitch` answers the few commands the client tests need,
holding api/bgapi answers until the test releases them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from esl_captures import Capture
from switch_side import read_command

from bizpbx.esl.events import PLAIN, Event
from bizpbx.esl.protocol import (
    API_RESPONSE,
    AUTH_REQUEST,
    COMMAND_REPLY,
    DISCONNECT_NOTICE,
    Frame,
    FrameParser,
    Received,
    encode,
)

_REPLY_TYPES = (COMMAND_REPLY, API_RESPONSE)
T = TypeVar("T")
GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


def _segments(data: bytes, sent: Callable[[Received], bool]) -> list[tuple[bytes, bool]]:
    """The capture cut into the frames ``sent`` keeps, each with whether it answers a command."""
    items = FrameParser().feed(data)
    ends = [item.offset for item in items[1:]] + [len(data)]
    return [
        (data[item.offset : end], item.content_type in _REPLY_TYPES) for item, end in zip(items, ends) if sent(item)
    ]


class ReplayPeer:
    """Plays a capture's bytes; ``sent`` leaves out frames FreeSWITCH would not have sent this client
    (events it did not subscribe to, answers to commands it does not send), the rest byte for byte."""

    def __init__(self, capture: Capture, sent: Callable[[Received], bool] = lambda frame: True) -> None:
        self._segments = _segments(capture.fs_bytes, sent)
        self.received: list[bytes] = []
        self.finished = asyncio.Event()

    async def play(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for segment, answers_a_command in self._segments:
                if answers_a_command:
                    self.received.append(await read_command(reader))
                writer.write(segment)
                await writer.drain()
            writer.write_eof()  # FreeSWITCH hangs up after its last frame; see what else comes
            rest = await reader.read()
            self.received += [command + b"\n\n" for command in rest.split(b"\n\n") if command]
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            self.received.append(b"<connection ended early: %s>" % str(error).encode())
        finally:
            writer.close()
            self.finished.set()


class ScriptedPeer:
    """FreeSWITCH's recorded frames in the order another client's commands call for them.

    ``steps`` pairs the start of each command the client is expected to send
    with the indices of the capture's frames FreeSWITCH answered such a
    command with; after the last step the peer closes the socket, as
    FreeSWITCH does after its disconnect notice. A command that is not the
    one expected ends the play, recorded in ``received``.
    """

    def __init__(self, capture: Capture, steps: list[tuple[bytes, list[int]]]) -> None:
        frames = [segment for segment, _ in _segments(capture.fs_bytes, lambda frame: True)]
        self._steps = [(expected, [frames[index] for index in indices]) for expected, indices in steps]
        self.received: list[bytes] = []

    async def play(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for expected, frames in self._steps:
                command = await read_command(reader)
                self.received.append(command)
                if not command.startswith(expected):
                    return
                writer.writelines(frames)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            self.received.append(b"<connection ended early: %s>" % str(error).encode())
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def replay_server(
    capture: Capture, sent: Callable[[Received], bool] = lambda frame: True
) -> AsyncIterator[tuple[int, ReplayPeer]]:
    """A one-connection server on 127.0.0.1 that replays the capture; yields its port and the peer."""
    peer = ReplayPeer(capture, sent)
    server = await asyncio.start_server(peer.play, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], peer
        await peer.finished.wait()
    finally:
        server.close()
        await server.wait_closed()


def run(scenario: Awaitable[T]) -> T:
    """asyncio.run, bounded: the bound only turns a hang into a failure, nothing measures time."""
    return asyncio.run(asyncio.wait_for(scenario, 60))


def reply(text: str, **headers: str) -> bytes:
    return encode(Frame(COMMAND_REPLY, {"Reply-Text": text, **headers}))


class FakeFreeSwitch:
    """Enough of FreeSWITCH's inbound event socket for the client's own behaviour.

    ``answers`` feeds the output of each api and bgapi command, in order;
    ``seen`` gets every command as it arrives; ``drop()`` cuts the line;
    while ``silent``, new connections are accepted and never spoken to.
    """

    def __init__(self, password: str) -> None:
        self.password = password
        self.answers: asyncio.Queue[str] = asyncio.Queue()
        self.seen: asyncio.Queue[bytes] = asyncio.Queue()
        self.connections: list[list[bytes]] = []
        self._serving: list[asyncio.Task] = []
        self._jobs = 0
        self.silent = False
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> FakeFreeSwitch:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._serving:
            task.cancel()
        await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    def drop(self) -> None:
        """Cut the latest connection, whatever it was doing."""
        self._serving[-1].cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received: list[bytes] = []
        self.connections.append(received)
        self._serving.append(asyncio.current_task())
        try:
            if self.silent:
                await reader.read()  # until the client gives up
                return
            writer.write(encode(Frame(AUTH_REQUEST)))
            while True:
                command = await read_command(reader)
                received.append(command)
                await self.seen.put(command)
                if not await self._answer(command.decode(), writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client left, or the test cut the line
        finally:
            writer.close()

    async def _answer(self, command: str, writer: asyncio.StreamWriter) -> bool:
        """Answer one command; False when the connection is to end."""
        line = command.split("\n", 1)[0]
        verb, _, argument = line.partition(" ")
        if verb == "auth":
            accepted = argument == self.password
            writer.write(reply("+OK accepted" if accepted else "-ERR invalid"))
            return accepted or self._goodbye(writer)
        if verb == "exit":
            writer.write(reply("+OK bye"))
            return self._goodbye(writer)
        if verb == "api":
            writer.write(encode(Frame(API_RESPONSE, body=await self.answers.get())))
        elif verb == "bgapi":
            self._jobs += 1
            job_uuid = f"job-{self._jobs}"
            writer.write(reply(f"+OK Job-UUID: {job_uuid}", **{"Job-UUID": job_uuid}))
            output = await self.answers.get()
            job = Event.build(PLAIN, {"Event-Name": "BACKGROUND_JOB", "Job-UUID": job_uuid}, output)
            writer.write(encode(job))
        else:
            writer.write(reply("+OK"))
        return True

    @staticmethod
    def _goodbye(writer: asyncio.StreamWriter) -> bool:
        writer.write(encode(Frame(DISCONNECT_NOTICE, body=GOODBYE)))
        return False
