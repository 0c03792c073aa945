"""One live Event Socket connection over asyncio streams.

A :class:`Session` writes commands, reads frames in a task of its own and
hands every answer to the future that waits for it. A caller that is
cancelled leaves its future in place, so its reply is still consumed in turn
and never given to the next caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from bizpbx.esl.commands import Command
from bizpbx.esl.connection import ApplicationCompleted, Connection, JobCompleted, Reply, Role, State
from bizpbx.esl.errors import CommandFailed, ConnectionLost, ConnectionRejected, ProtocolError
from bizpbx.esl.events import Event
from bizpbx.esl.protocol import AUTH_REQUEST, DISCONNECT_NOTICE, RUDE_REJECTION, Frame

READ_SIZE = 65536


@dataclass
class _Call:
    reply: asyncio.Future[Frame]
    completion: asyncio.Future[Event]  # awaited only for bgapi and execute


class Session:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        role: Role,
        on_event: Callable[[Event], None],
    ) -> None:
        self._connection = Connection(role)
        self._reader = reader
        self._writer = writer
        self._on_event = on_event
        self._greeting: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self.linger_notice: Frame | None = None
        self.disconnect_notice: Frame | None = None
        self.closed = asyncio.Event()
        self.channel_over = asyncio.Event()  # an outbound socket's disconnect notice came, or the connection closed
        self._reading = asyncio.create_task(self._read())

    @property
    def state(self) -> State:
        return self._connection.state

    async def greeting(self) -> Frame:
        """The auth/request an inbound connection starts with; raises ConnectionRejected if refused."""
        return await asyncio.shield(self._greeting)

    async def send(self, command: Command) -> Frame:
        """Send a command and return its reply frame (command/reply or api/response)."""
        return await self.start(command).reply

    async def send_ok(self, command: Command) -> Frame:
        """Like :meth:`send`, but a ``-ERR`` reply raises :class:`CommandFailed`."""
        reply = await self.send(command)
        _raise_unless_ok(command, reply)
        return reply

    async def send_all_ok(self, commands: list[Command]) -> list[Frame]:
        """Send several commands in one write (one round trip, not one each) and return their
        replies; the first ``-ERR`` raises :class:`CommandFailed`."""
        if self.closed.is_set():
            raise ConnectionLost("cannot send: the connection is closed")
        loop = asyncio.get_running_loop()
        calls = [_Call(loop.create_future(), loop.create_future()) for _ in commands]
        self._writer.write(b"".join(self._connection.send(command, call) for command, call in zip(commands, calls)))
        # gather: a connection lost fails every reply, and the first is raised, not one logged per command.
        replies = await asyncio.gather(*(call.reply for call in calls))
        for command, reply in zip(commands, replies):
            _raise_unless_ok(command, reply)
        return replies

    async def complete(self, command: Command) -> Event:
        """Send a bgapi or execute command and return the event that completes it."""
        call = self.start(command)
        _raise_unless_ok(command, await call.reply)
        return await call.completion

    def start(self, command: Command) -> _Call:
        """Write a command now (so calls go out in the order made) and return its futures."""
        if self.closed.is_set():
            raise ConnectionLost(f"cannot send {command.verb!r}: the connection is closed")
        loop = asyncio.get_running_loop()
        call = _Call(loop.create_future(), loop.create_future())
        self._writer.write(self._connection.send(command, call))
        return call

    async def wait_closed(self) -> None:
        await self.closed.wait()

    async def aclose(self) -> None:
        """Close the socket now and wait until every waiter has been told."""
        self._writer.close()
        self._reading.cancel()
        await asyncio.gather(self._reading, return_exceptions=True)

    async def _read(self) -> None:
        reason = "the peer closed the connection"
        try:
            while data := await self._reader.read(READ_SIZE):
                for happening in self._connection.receive(data):
                    self._dispatch(happening)
            self._connection.end_of_stream()
        except (OSError, ProtocolError) as error:
            reason = str(error)
        finally:
            self._writer.close()
            self._fail_waiters(ConnectionLost(reason))
            self.closed.set()
            self.channel_over.set()

    def _dispatch(self, happening: object) -> None:
        if isinstance(happening, Reply):
            _resolve(happening.token.reply, happening.frame)
        elif isinstance(happening, (JobCompleted, ApplicationCompleted)):
            _resolve(happening.token.completion, happening.event)
        elif isinstance(happening, Event):
            self._on_event(happening)
        elif isinstance(happening, Frame):
            self._notice(happening)

    def _notice(self, frame: Frame) -> None:
        if frame.content_type == AUTH_REQUEST:
            _resolve(self._greeting, frame)
        elif frame.content_type == RUDE_REJECTION:
            if not self._greeting.done():
                self._greeting.set_exception(ConnectionRejected(f"FreeSWITCH refused the connection: {frame.body!r}"))
        elif frame.content_type == DISCONNECT_NOTICE:
            if frame.headers.get("Content-Disposition") == "linger":
                self.linger_notice = frame
            else:
                self.disconnect_notice = frame
            self.channel_over.set()

    def _fail_waiters(self, error: ConnectionLost) -> None:
        if not self._greeting.done():
            if self._connection.role is Role.INBOUND:
                self._greeting.set_exception(error)
            else:
                self._greeting.cancel()  # an outbound connection has no greeting to wait for
        # Each future that nobody may await (a cancelled caller's reply, the completion of a
        # command that has none) is marked retrieved, so asyncio does not log it; whoever awaits
        # one still gets the error.
        for call in self._connection.connection_lost():
            if not call.reply.done():
                call.reply.set_exception(error)
                call.reply.exception()
                call.completion.cancel()  # nobody awaits it before the reply came
            elif not call.completion.done():
                call.completion.set_exception(error)
                call.completion.exception()


def _resolve(future: asyncio.Future, value: object) -> None:
    if not future.done():  # a cancelled caller's answer is dropped here
        future.set_result(value)


def _raise_unless_ok(command: Command, reply: Frame) -> None:
    if not reply.ok:
        raise CommandFailed(f"{command.verb!r} failed: {reply.reply_text or reply.body!r}")
