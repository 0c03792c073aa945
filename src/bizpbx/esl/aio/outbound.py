"""An asyncio server for FreeSWITCH's ``socket`` application (outbound ESL, ``async full``).

For each call FreeSWITCH connects; the server says ``connect`` (the reply is
the channel's data), subscribes to the channel's own events (``myevents``,
narrowed to the ``events`` the handler reads), optionally asks
FreeSWITCH to ``linger`` (all in one write: one round trip), then runs
``handler(session)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid as uuid_module
from collections.abc import Awaitable, Callable, Iterable
from typing import Self

from bizpbx.esl import commands
from bizpbx.esl.aio.session import Session
from bizpbx.esl.connection import Role, State
from bizpbx.esl.errors import ConnectionLost, EslError, ProtocolError
from bizpbx.esl.events import Event
from bizpbx.esl.headers import Headers
from bizpbx.esl.protocol import Frame

log = logging.getLogger(__name__)

EXIT_TIMEOUT = 5.0  # seconds to wait for FreeSWITCH to acknowledge exit before the socket is closed anyway


class OutboundSession:
    """One call handed to the controller.

    ``channel_data`` holds the channel's variables as the ``connect`` reply
    gave them; ``events`` receives every event of the channel subscribed to, in order.
    ``name_applications``: each ``execute`` carries an Event-UUID of its own, so its
    completion is matched without the CHANNEL_EXECUTE event that names it otherwise.
    """

    def __init__(self, session: Session, channel_data: Headers, events: asyncio.Queue[Event], *, name_applications: bool = False) -> None:
        self._session = session
        self.channel_data = channel_data
        self.events = events
        self._name_applications = name_applications

    def __repr__(self) -> str:
        return f"OutboundSession(uuid={self.uuid!r}, closed={self.closed})"

    @property
    def uuid(self) -> str | None:
        value = self.channel_data.get("Unique-ID")
        return value if isinstance(value, str) else None

    @property
    def closed(self) -> bool:
        return self._session.closed.is_set()

    @property
    def linger_notice(self) -> Frame | None:
        """The ``text/disconnect-notice`` (linger) sent when the channel ended, if any yet."""
        return self._session.linger_notice

    @property
    def disconnect_notice(self) -> Frame | None:
        return self._session.disconnect_notice

    async def execute(self, application: str, argument: str | None = None, *, event_uuid: str | None = None, event_lock: bool = True) -> Event:
        """Run a dialplan application; returns its CHANNEL_EXECUTE_COMPLETE event (`event_lock`: see commands.execute).

        Raises :class:`CommandFailed` if FreeSWITCH refuses it and
        :class:`ConnectionLost` if the call ends before it ran to completion.
        The command is written before the first ``await``, so applications
        started together (``asyncio.gather``) are queued in the order given.
        """
        if event_uuid is None and self._name_applications:
            event_uuid = str(uuid_module.uuid4())
        return await self._session.complete(commands.execute(application, argument, event_uuid=event_uuid, event_lock=event_lock))

    async def hangup(self, cause: str = "NORMAL_CLEARING") -> Frame:
        return await self._session.send_ok(commands.hangup(cause))

    async def api(self, command: str) -> str:
        reply = await self._session.send(commands.api(command))
        return reply.body or ""

    async def send(self, command: commands.Command) -> Frame:
        return await self._session.send(command)

    async def wait_closed(self) -> None:
        """Until FreeSWITCH closes the socket (after the linger time, if any)."""
        await self._session.wait_closed()

    async def let_go(self) -> bool:
        """Hand the channel back to the switch (``exit``): the socket closes, the call goes on
        without it (an application running, a bridge, runs to its end). False when the channel
        had already ended (after its disconnect notice no command may follow)."""
        if self._session.channel_over.is_set():
            return False
        with contextlib.suppress(TimeoutError):  # closed without its word, the socket goes the same way
            await asyncio.wait_for(self._session.send(commands.exit()), EXIT_TIMEOUT)
        await self._session.aclose()
        return True

    async def stop_events(self) -> None:
        """No more events on this socket (``noevents``): an execute's completion never comes after it."""
        await self._session.send_ok(commands.noevents())

    async def wait_channel_over(self) -> None:
        """Until the channel ends: its disconnect notice (linger's included), or the socket closed."""
        await self._session.channel_over.wait()


Handler = Callable[[OutboundSession], Awaitable[None]]


class OutboundServer:
    """Listens for FreeSWITCH's ``socket`` application; ``port=0`` picks a free port (see :attr:`port`).

    ``events``: the channel events the handler reads (CHANNEL_EXECUTE_COMPLETE among them, which
    completes ``execute``); the others are not subscribed to. None: all those of ``myevents``.
    """

    def __init__(
        self,
        handler: Handler,
        host: str = "127.0.0.1",
        port: int = 8084,
        *,
        event_format: str | None = None,
        linger: int | None = None,
        events: Iterable[str] | None = None,
    ) -> None:
        self._handler = handler
        self.host = host
        self._port = port
        self._setup = [commands.myevents(event_format)]
        self._name_applications = False
        if events is not None:
            wanted = set(events)
            if "CHANNEL_EXECUTE_COMPLETE" not in wanted:
                raise ValueError("events: CHANNEL_EXECUTE_COMPLETE is needed, it completes every execute")
            # FreeSWITCH reads a command a byte at a time (a system call and a yield each, in the call's
            # own thread): every event is nixed in one word and the wanted ones subscribed again
            # (myevents still keeps them to the call's channel), rather than each unwanted one named.
            self._setup += [commands.nixevent(["ALL"]), commands.event(event_format or "plain", sorted(wanted))]
            self._name_applications = "CHANNEL_EXECUTE" not in wanted
        if linger is not None:
            self._setup.append(commands.linger(linger))
        self._server: asyncio.Server | None = None
        self._sessions: set[Session] = set()

    @property
    def port(self) -> int:
        if self._server is None:
            return self._port
        return self._server.sockets[0].getsockname()[1]

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self._port)

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        await self._server.serve_forever()  # type: ignore[union-attr]  # start() set it

    def stop_listening(self) -> None:
        """Refuse new connections (FreeSWITCH's dialplan then goes on at once); sessions go on."""
        if self._server is not None:
            self._server.close()

    async def close(self) -> None:
        """Stop listening and drop the calls still connected (FreeSWITCH's dialplan then goes on)."""
        if self._server is not None:
            self._server.close()
        await asyncio.gather(*(session.aclose() for session in list(self._sessions)))
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        events: asyncio.Queue[Event] = asyncio.Queue()
        session = Session(reader, writer, Role.OUTBOUND, events.put_nowait)
        self._sessions.add(session)
        try:
            channel_data, *_ = await session.send_all_ok([commands.connect(), *self._setup])
            await self._handler(OutboundSession(session, channel_data.headers, events, name_applications=self._name_applications))
        except (EslError, ProtocolError, OSError) as error:
            log.warning("outbound socket from %s: %s", writer.get_extra_info("peername"), error)
        except Exception:
            log.exception("outbound socket handler failed")
        finally:
            self._sessions.discard(session)
            # Let the call go on in the dialplan, unless the switch has already said it is over (its
            # disconnect notice came, the socket not yet closed: no command may follow).
            if not session.closed.is_set() and session.state is not State.CLOSED:
                with contextlib.suppress(ConnectionLost, TimeoutError):
                    await asyncio.wait_for(session.send(commands.exit()), EXIT_TIMEOUT)
            await session.aclose()
