"""One Event Socket connection as a state machine, without I/O.

The asyncio client and server drive it: :meth:`Connection.send` turns a
command into bytes and remembers who waits for its answer (an opaque token),
:meth:`Connection.receive` turns bytes into what happened. Every command gets
exactly one reply frame, in the order sent; a ``bgapi`` also gets a
BACKGROUND_JOB event and an ``execute`` a CHANNEL_EXECUTE_COMPLETE, which are
matched here, so the callers only map tokens to waiters.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import Any

from bizpbx.esl.commands import Command, CommandError
from bizpbx.esl.errors import ProtocolError
from bizpbx.esl.events import Event
from bizpbx.esl.protocol import (
    API_RESPONSE,
    AUTH_REQUEST,
    COMMAND_REPLY,
    DISCONNECT_NOTICE,
    RUDE_REJECTION,
    Frame,
    FrameParser,
    Received,
)


class Role(enum.Enum):
    INBOUND = "inbound"  # we connected to FreeSWITCH's event socket
    OUTBOUND = "outbound"  # FreeSWITCH's socket application connected to us


class State(enum.Enum):
    GREETING = "greeting"  # inbound: before auth/request; outbound: before the connect reply
    AUTH_REQUESTED = "auth requested"
    AUTHENTICATING = "authenticating"
    READY = "ready"
    LINGERING = "lingering"  # outbound: the channel is gone, the last events still come
    CLOSED = "closed"


@dataclass(frozen=True)
class Reply:
    """The reply frame (command/reply or api/response) to a command sent with ``token``."""

    token: Any
    command: Command
    frame: Frame


@dataclass(frozen=True)
class JobCompleted:
    """The BACKGROUND_JOB event of a ``bgapi`` sent with ``token``."""

    token: Any
    event: Event


@dataclass(frozen=True)
class ApplicationCompleted:
    """The CHANNEL_EXECUTE_COMPLETE event of an ``execute`` sent with ``token``."""

    token: Any
    event: Event


Happening = Received | Reply | JobCompleted | ApplicationCompleted

_REPLY_TYPES = frozenset({COMMAND_REPLY, API_RESPONSE})


@dataclass
class _QueuedExecute:
    application: str
    channel: str | None  # None: the outbound socket's own channel
    token: Any


class Connection:
    """One connection's side of the protocol: :meth:`send` gives the bytes to write, :meth:`receive` what they led to.

    ``token`` is whatever the caller wants back with the answer (a future, a
    callback, a number); the connection only hands it back, in a
    :class:`Reply`, :class:`JobCompleted` or :class:`ApplicationCompleted`.
    """

    def __init__(self, role: Role) -> None:
        self.role = role
        self.state = State.GREETING
        self._parser = FrameParser()
        self._awaiting_reply: deque[tuple[Command, Any]] = deque()
        self._jobs: dict[str, Any] = {}  # Job-UUID -> token
        self._executes: dict[str, Any] = {}  # Application-UUID -> token
        self._queued_executes: deque[_QueuedExecute] = deque()  # running, Application-UUID not yet seen
        self._connect_sent = False

    def send(self, command: Command, token: Any = None) -> bytes:
        allowed = self._allowed_verbs()
        if allowed is not None and command.verb not in allowed:
            raise CommandError(f"cannot send {command.verb!r} on an {self.role.value} connection that is {self.state.value}")
        if command.verb == "auth":
            self.state = State.AUTHENTICATING
        elif command.verb == "connect":
            self._connect_sent = True
        self._awaiting_reply.append((command, token))
        return command.encode()

    def receive(self, data: bytes) -> list[Happening]:
        happenings: list[Happening] = []
        for item in self._parser.feed(data):
            happenings.append(item)
            if isinstance(item, Event):
                happenings.extend(self._match_event(item))
            elif item.content_type in _REPLY_TYPES:
                happenings[-1] = self._match_reply(item)
            else:
                self._notice(item)
        return happenings

    def end_of_stream(self) -> None:
        """The peer closed: raises ProtocolError if it stopped inside a frame or after bad bytes."""
        self._parser.end_of_stream()

    def connection_lost(self) -> list[Any]:
        """The tokens that will now never be answered; the connection is closed."""
        self.state = State.CLOSED
        tokens = [token for _, token in self._awaiting_reply]
        tokens += [*self._jobs.values(), *self._executes.values()]
        tokens += [queued.token for queued in self._queued_executes]
        self._awaiting_reply.clear()
        self._jobs.clear()
        self._executes.clear()
        self._queued_executes.clear()
        return tokens

    def _allowed_verbs(self) -> frozenset[str] | None:
        if self.state is State.CLOSED:
            return frozenset()
        if self.state is State.GREETING:
            if self.role is Role.INBOUND:
                return frozenset()
            # FreeSWITCH reads the commands that follow connect in turn: they may go with it, in one write.
            return None if self._connect_sent else frozenset({"connect"})
        if self.state is State.AUTH_REQUESTED:
            return frozenset({"auth"})
        return None

    def _notice(self, frame: Frame) -> None:
        if frame.content_type == AUTH_REQUEST:
            if self.role is not Role.INBOUND or self.state is not State.GREETING:
                raise ProtocolError(f"auth/request on an {self.role.value} connection that is {self.state.value}", frame.offset)
            self.state = State.AUTH_REQUESTED
        elif frame.content_type == RUDE_REJECTION:
            self.state = State.CLOSED
        elif frame.content_type == DISCONNECT_NOTICE:
            lingering = frame.headers.get("Content-Disposition") == "linger"
            self.state = State.LINGERING if lingering else State.CLOSED

    def _match_reply(self, frame: Frame) -> Reply:
        if not self._awaiting_reply:
            raise ProtocolError(f"{frame.content_type} with no command waiting for it", frame.offset)
        command, token = self._awaiting_reply.popleft()
        if command.verb in ("auth", "connect"):
            self.state = State.READY if frame.ok else State.CLOSED
        elif frame.ok and command.verb == "bgapi":
            job_uuid = frame.headers.get("Job-UUID")
            if isinstance(job_uuid, str):
                self._jobs[job_uuid] = token
        elif frame.ok and command.header("call-command") == "execute":
            self._expect_execute(command, token)
        return Reply(token, command, frame)

    def _expect_execute(self, command: Command, token: Any) -> None:
        event_uuid = command.header("Event-UUID")
        if event_uuid is not None:
            self._executes[event_uuid] = token
            return
        channel = command.line.partition(" ")[2] or None
        self._queued_executes.append(_QueuedExecute(command.header("execute-app-name") or "", channel, token))

    def _match_event(self, event: Event) -> list[Happening]:
        name = event.name
        if name == "BACKGROUND_JOB" and self._jobs:
            token = self._jobs.pop(event.job_uuid or "", _UNMATCHED)
            return [] if token is _UNMATCHED else [JobCompleted(token, event)]
        if name == "CHANNEL_EXECUTE" and self._queued_executes:
            self._learn_application_uuid(event)
        elif name == "CHANNEL_EXECUTE_COMPLETE" and self._executes:
            token = self._executes.pop(event.application_uuid or "", _UNMATCHED)
            return [] if token is _UNMATCHED else [ApplicationCompleted(token, event)]
        return []

    def _learn_application_uuid(self, event: Event) -> None:
        # Applications queued with event-lock start in the order sent, so the
        # first one waiting on this channel is the one that just started.
        application_uuid = event.application_uuid
        if application_uuid is None or application_uuid in self._executes:
            return
        for queued in self._queued_executes:
            if queued.channel in (None, event.unique_id):
                if queued.application == event.get("Application"):
                    self._queued_executes.remove(queued)
                    self._executes[application_uuid] = queued.token
                return


_UNMATCHED = object()
