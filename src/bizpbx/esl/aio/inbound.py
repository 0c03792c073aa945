"""An asyncio client for FreeSWITCH's event socket (inbound ESL).

It authenticates, subscribes, runs ``api`` and ``bgapi`` commands and hands
out events; when the connection drops it reconnects with capped exponential
backoff and subscribes again. The password is kept out of every repr, log
line and exception message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Self

from bizpbx.backoff import backoff_delays
from bizpbx.esl import commands
from bizpbx.esl.aio.session import Session
from bizpbx.esl.commands import Command
from bizpbx.esl.connection import Role, State
from bizpbx.esl.errors import AuthenticationError, CommandFailed, ConnectionLost, ConnectionRejected, EslError, ProtocolError
from bizpbx.esl.events import Event
from bizpbx.esl.protocol import Frame

log = logging.getLogger(__name__)

_END_OF_EVENTS = object()


class InboundClient:
    """Connects to FreeSWITCH's event socket.

    ``events`` and ``custom`` (CUSTOM subclasses) are subscribed in
    ``event_format`` after every (re)connection, then ``filters`` applied,
    then the API commands of ``api_on_connect`` run (each must answer +OK);
    with neither events nor custom, nothing is subscribed. :meth:`bgapi` needs BACKGROUND_JOB
    (or ALL) among ``events``. ``on_event`` is called for every event, in
    order; :meth:`events` is an async iterator over them. One attempt to
    connect, authenticate and subscribe may take ``connect_timeout`` seconds.
    """

    def __init__(
        self,
        host: str,
        port: int,
        password: str,
        *,
        events: Iterable[str] = (),
        custom: Iterable[str] = (),
        event_format: str = "plain",
        filters: Iterable[tuple[str, str]] = (),
        api_on_connect: Iterable[str] = (),
        on_event: Callable[[Event], None] | None = None,
        reconnect: bool = True,
        retry_refusals: bool = False,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self._password = password
        names, subclasses = list(events), list(custom)
        self._setup = [commands.event(event_format, names, subclasses)] if names or subclasses else []
        self._setup += [commands.filter(header, value) for header, value in filters]
        # API commands each connection runs once subscribed, before it counts as connected; each
        # must answer +OK. A list the owner may change: a connection made later runs it as it is then.
        self.api_on_connect = list(api_on_connect)
        self._jobs_subscribed = bool({"ALL", "BACKGROUND_JOB"} & set(names))
        self._on_event = on_event
        self._reconnect = reconnect
        self._retry_refusals = retry_refusals
        self.refusals = 0  # reconnections the switch refused (password, ACL)
        self._backoff = (backoff_initial, backoff_max)
        self._connect_timeout = connect_timeout
        self._session: Session | None = None
        self._ready = asyncio.Event()
        self._queues: set[asyncio.Queue] = set()
        self._supervisor: asyncio.Task | None = None
        self._closing = False
        self._fatal: EslError | None = None
        self.connections = 0  # how many times a connection was established

    def __repr__(self) -> str:
        return f"InboundClient({self.host!r}, {self.port!r}, connected={self.connected})"

    @property
    def connected(self) -> bool:
        """Authenticated and subscribed: events raised from now on reach the client."""
        return self._ready.is_set()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Connect, authenticate and subscribe; raises if the first attempt fails (TimeoutError after ``connect_timeout``)."""
        await self._establish()
        self._supervisor = asyncio.create_task(self._supervise())

    async def send(self, command: Command) -> Frame:
        """Send any command; returns its reply frame. Waits while a reconnection is under way."""
        return await (await self._live_session()).send(command)

    async def send_ok(self, command: Command) -> Frame:
        """Like :meth:`send`, but a ``-ERR`` reply raises :class:`CommandFailed`."""
        return await (await self._live_session()).send_ok(command)

    async def api(self, command: str) -> str:
        """Run an API command and return its output (FreeSWITCH's ``-ERR …`` text included)."""
        reply = await self.send(commands.api(command))
        return reply.body or ""

    async def bgapi(self, command: str, job_uuid: str | None = None) -> str:
        """Run an API command in the background; returns its output from the BACKGROUND_JOB event."""
        if not self._jobs_subscribed:
            raise EslError("bgapi needs BACKGROUND_JOB (or ALL) among the subscribed events")
        event = await (await self._live_session()).complete(commands.bgapi(command, job_uuid))
        return event.body or ""

    def events(self) -> AsyncIterator[Event]:
        """Every event from this call on, until the client closes (or fails for good, which is raised)."""
        queue: asyncio.Queue = asyncio.Queue()
        if self._closing:
            queue.put_nowait(_END_OF_EVENTS)
        else:
            self._queues.add(queue)
        return self._drain(queue)

    async def _drain(self, queue: asyncio.Queue) -> AsyncIterator[Event]:
        try:
            while (item := await queue.get()) is not _END_OF_EVENTS:
                yield item
            if self._fatal is not None:
                raise self._fatal
        finally:
            self._queues.discard(queue)

    async def close(self, timeout: float = 5.0) -> None:
        """Say ``exit``, wait (up to ``timeout`` seconds) for FreeSWITCH to hang up, stop reconnecting."""
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        session = self._session
        if session is not None:
            if session.state is State.READY:
                with contextlib.suppress(ConnectionLost, TimeoutError):
                    await asyncio.wait_for(self._say_goodbye(session), timeout)
            await session.aclose()
        self._finish()

    @staticmethod
    async def _say_goodbye(session: Session) -> None:
        await session.send(commands.exit())
        await session.wait_closed()

    async def _live_session(self) -> Session:
        while not self._ready.is_set():
            if self._closing or self._fatal is not None:
                raise self._fatal or ConnectionLost("the client is closed")
            await self._ready.wait()
        if self._session is None:
            raise ConnectionLost("the client is not connected")
        return self._session

    async def _establish(self) -> None:
        # A switch that accepts but never answers (starting, overloaded) must not stall reconnection for good.
        try:
            async with asyncio.timeout(self._connect_timeout):
                await self._connect_and_subscribe()
        except TimeoutError:
            raise TimeoutError(
                f"FreeSWITCH at {self.host}:{self.port} did not accept and subscribe us within {self._connect_timeout} s"
            ) from None

    async def _connect_and_subscribe(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        session = Session(reader, writer, Role.INBOUND, self._deliver)
        try:
            await session.greeting()
            reply = await session.send(commands.auth(self._password))
            if not reply.ok:
                raise AuthenticationError(f"FreeSWITCH at {self.host}:{self.port} refused the password: {reply.reply_text}")
            for command in self._setup:
                await session.send_ok(command)
            for api_command in self.api_on_connect:
                said = (await session.send(commands.api(api_command))).body or ""
                if not said.startswith("+OK"):
                    raise CommandFailed(f"api {api_command!r} failed: {said.strip()}")
        except BaseException:
            await session.aclose()
            raise
        self._session = session
        self.connections += 1
        self._ready.set()

    async def _supervise(self) -> None:
        while self._session is not None:
            await self._session.wait_closed()
            self._ready.clear()
            if self._closing:
                break
            if not self._reconnect:
                self._fatal = ConnectionLost(f"the connection to FreeSWITCH at {self.host}:{self.port} closed")
                break
            log.warning("event socket %s:%s: connection lost, reconnecting", self.host, self.port)
            try:
                await self._reestablish()
            except (AuthenticationError, ConnectionRejected) as error:
                log.error("event socket %s:%s: %s; giving up", self.host, self.port, error)
                self._fatal = error
                break
        self._finish()

    async def _reestablish(self) -> None:
        for delay in backoff_delays(*self._backoff):
            await asyncio.sleep(delay)
            try:
                await self._establish()
                return
            except (AuthenticationError, ConnectionRejected) as error:
                if not self._retry_refusals:
                    raise
                self.refusals += 1
                log.error("event socket %s:%s: %s; trying again", self.host, self.port, error)
            except (OSError, EslError, ProtocolError) as error:
                log.warning("event socket %s:%s: %s; trying again", self.host, self.port, error)

    def _finish(self) -> None:
        """No connection will come any more: wake whoever waits for one or for an event."""
        self._closing = True
        self._ready.set()  # wakes the waiters, who then see _closing
        self._ready.clear()
        for queue in self._queues:
            queue.put_nowait(_END_OF_EVENTS)
        self._queues.clear()

    def _deliver(self, event: Event) -> None:
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # a consumer's bug must not stop the event stream
                log.exception("event socket %s:%s: the event callback failed", self.host, self.port)
        for queue in self._queues:
            queue.put_nowait(event)
