"""The calls the dialplan parks for the controller, taken from the event socket.

The dialplan schedules a transfer to the context's fallback twin and parks the call
(`fs.park_steps`); the switch announces it (CHANNEL_PARK) on the controller's event socket. The
controller takes it by cancelling that transfer (`fs.claim`: taken only if the transfer was still
pending, so a call is never the controller's and the fallback's at once) and runs its plan with
`sendmsg <uuid>`: a few connections for every call, where a socket per call cost the switch a
thread polling every 20 ms and weighing every event of every call (README, performance).

The switch reads each command's head a byte at a time (a system call and a yield each) in the
thread of the connection it came on, and sends that connection's events from the same thread
between commands: with every call's commands on the event socket, its events came seconds late
under load (in the lab at 60 calls/s, the fallback took most calls). So the calls' commands go on
connections of their own (`CommandSockets`: a call's always on the same one, keeping their
order), and the event socket carries only events; an application's completion is matched there by
the Event-UUID it was sent with.

The switch makes a parked call wait for the controller only while one is there: each connection
of the controller's event socket says so once subscribed, before it counts as connected
(`fs.controller_present`, `PRESENT`), and the controller unsays it as it stops (`stop_parking`);
meanwhile the fallback runs at once.

A call the handler leaves without finishing it (hung up, let go once answered) goes to the
fallback at once (`fs.hand_back`): a call pickup, a call arriving while the controller stops, a
handler's failure. One whose connection was lost cannot be sent anywhere then: it is kept in
`lost` for the stranded calls' sweep once the socket is back (`StrandedCalls`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bizpbx import fs_vocabulary as fs
from bizpbx.controller.call_events import header_text
from bizpbx.esl import commands
from bizpbx.esl.aio import InboundClient
from bizpbx.esl.errors import ConnectionLost, EslError
from bizpbx.esl.events import Event
from bizpbx.fs_vocabulary import DIRECTIONS, Var

log = logging.getLogger(__name__)

PARKED = "CHANNEL_PARK"
ENDED = "CHANNEL_HANGUP_COMPLETE"
COMPLETED = "CHANNEL_EXECUTE_COMPLETE"
BRIDGED = "CHANNEL_BRIDGE"  # tells who answered
SUBSCRIBED_EVENTS = (PARKED, COMPLETED, BRIDGED)
COMMAND_SOCKETS = 4  # the switch's threads reading the calls' commands
LOST_POLL_SECONDS = 0.2
# Every channel the dialplan parks carries the direction it set (a leg the switch dialled too,
# sent through the dialplan by a transfer, whose hang-up the ledger does not rate). The dialplan's
# scheduling of the fallback and the park complete too, events the controller never reads: each
# one the switch writes costs it a serialization of the channel's every variable.
EVENT_FILTERS = (*((f"variable_{Var.DIRECTION}", direction) for direction in DIRECTIONS), ("Application", "-sched_transfer"), ("Application", "-park"))
PRESENT = (fs.controller_present(),)  # the event socket's API commands on connecting (`api_on_connect`)


class ParkedCall:
    """One parked call as its handler drives it: applications run on it over its command socket."""

    def __init__(self, client: InboundClient, parked: Event) -> None:
        self._client = client
        self.uuid = parked.unique_id or ""
        self.channel_data = parked.headers  # the channel's variables as the park announced them
        self.events: asyncio.Queue[Event] = asyncio.Queue()  # the channel's CHANNEL_BRIDGE events, in order
        self._completions: dict[str, asyncio.Future[Event]] = {}  # by the Event-UUID sent
        self._sent = 0  # names the call's applications (Event-UUID): the fewer bytes, the sooner read
        self._ended = asyncio.Event()
        self._lost: ConnectionLost | None = None
        self.finished = False  # hung up, handed back or let go by the controller: nothing more to do on it

    def __repr__(self) -> str:
        return f"ParkedCall(uuid={self.uuid!r}, over={self.over})"

    @property
    def connected(self) -> bool:
        """Its command socket is up."""
        return self._client.connected

    @property
    def over(self) -> bool:
        """The switch said the call ended."""
        return self._ended.is_set()

    def end(self) -> None:
        self._ended.set()

    async def wait_over(self) -> None:
        await self._ended.wait()

    def completed(self, event: Event) -> None:
        future = self._completions.get(event.application_uuid or "")
        if future is not None and not future.done():
            future.set_result(event)

    def events_lost(self, error: ConnectionLost) -> None:
        """The event socket was lost: no completion will come for what was sent."""
        self._lost = error
        for future in self._completions.values():
            if not future.done():
                future.set_exception(error)

    async def execute(self, application: str, argument: str | None = None, *, event_lock: bool = True) -> Event:
        """Run a dialplan application on the call; its CHANNEL_EXECUTE_COMPLETE. Raises
        ConnectionLost when the call ends before the application completed (one queued behind
        others never runs then) or a socket is lost, and CommandFailed when the switch refuses it."""
        if self._lost is not None:
            raise self._lost
        self._sent += 1
        event_uuid = str(self._sent)
        completion = self._completions[event_uuid] = asyncio.get_running_loop().create_future()
        ending = asyncio.ensure_future(self._ended.wait())
        try:
            await self._client.send_ok(commands.execute(application, argument, uuid=self.uuid, event_uuid=event_uuid, event_lock=event_lock))
            done, _ = await asyncio.wait({completion, ending}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ending.cancel()
            del self._completions[event_uuid]
        if completion in done:
            return completion.result()
        raise ConnectionLost(f"{application}: the call ended before it completed")

    async def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        self.finished = True
        await self._client.send_ok(commands.hangup(cause, uuid=self.uuid))

    async def api(self, command: str) -> str:
        return await self._client.api(command)

    def let_go(self) -> None:
        """Answered: the bridge is the switch's to finish; the call's end comes as its hang-up."""
        self.finished = True

    async def hand_back(self) -> str:
        """Through the extension it parked in again, in the context's fallback twin; the switch's reply."""
        self.finished = True
        destination, context = header_text(self.channel_data, "Caller-Destination-Number"), header_text(self.channel_data, "Caller-Context")
        return await self._client.api(fs.hand_back(self.uuid, destination, context))


Handler = Callable[[ParkedCall], Awaitable[None]]


class ParkedCalls:
    """Takes each call parked for the controller and runs `handler` on it."""

    def __init__(self, handler: Handler, commands_of: Callable[[str], InboundClient], on_late: Callable[[], None]) -> None:
        self._handler = handler
        self._commands_of = commands_of  # a call's command socket, by its UUID (a reload may connect anew)
        self._on_late = on_late  # the fallback took a call before the controller could
        self.calls: dict[str, ParkedCall] = {}  # being handled, by UUID
        self.lost: set[str] = set()  # being handled when the event socket was lost
        self._taking: set[asyncio.Task] = set()

    def on_event(self, event: Event) -> None:
        name = event.name
        if name == PARKED:
            task = asyncio.create_task(self._take(ParkedCall(self._commands_of(event.unique_id or ""), event)))
            self._taking.add(task)
            task.add_done_callback(self._taking.discard)
            return
        call = self.calls.get(event.unique_id or "")
        if call is None:
            return
        if name == COMPLETED:
            call.completed(event)
        elif name == BRIDGED:
            call.events.put_nowait(event)
        elif name == ENDED:
            call.end()

    async def _take(self, call: ParkedCall) -> None:
        if (previous := self.calls.get(call.uuid)) is not None:
            previous.end()  # parked again (transferred): its earlier handling is over
        self.calls[call.uuid] = call
        try:
            if not fs.claimed(await call.api(fs.claim(call.uuid))):
                self._on_late()
                log.warning("the dialplan's fallback took the call: the controller came too late", extra={"call_uuid": call.uuid})
                return
            try:
                await self._handler(call)
            except Exception:
                log.exception("the call's handler failed: the call goes to the dialplan's fallback", extra={"call_uuid": call.uuid})
            if not call.finished and not call.over:
                await self._hand_back(call)
        except EslError as error:
            self._unfinished(call, error)
        finally:
            if self.calls.get(call.uuid) is call:
                del self.calls[call.uuid]

    async def _hand_back(self, call: ParkedCall) -> None:
        if not call.connected:
            self._unfinished(call, ConnectionLost("the event socket is not connected"))
            return
        reply = await call.hand_back()
        if not reply.startswith("+OK"):
            log.info("not handed to the fallback: %s", reply.strip(), extra={"call_uuid": call.uuid})  # it ended meanwhile

    def _unfinished(self, call: ParkedCall, error: EslError) -> None:
        log.warning("a call left unfinished (%s): to the fallback once the event socket is back", error, extra={"call_uuid": call.uuid})
        self.lost.add(call.uuid)

    async def follow(self, event_socket: InboundClient) -> None:
        """While the event socket is down, what the calls wait for cannot come: they are told."""
        while True:
            if not event_socket.connected:
                for call in list(self.calls.values()):
                    call.events_lost(ConnectionLost("the event socket was lost"))
            await asyncio.sleep(LOST_POLL_SECONDS)

    @staticmethod
    async def stop_parking(event_socket: InboundClient) -> None:
        """From now on the calls the dialplan parks go to the fallback without waiting (and a
        reconnection while stopping does not say otherwise)."""
        event_socket.api_on_connect.clear()
        if not event_socket.connected:
            return  # the switch is gone or restarting: it comes back without the controller's word
        try:
            reply = await event_socket.api(fs.controller_absent())
        except EslError as error:
            log.warning("the switch was not told that parked calls no longer wait (%s): they wait %d s", error, fs.FALLBACK_AFTER_SECONDS)
            return
        if reply.startswith("+OK"):
            log.info("the switch is told: parked calls go to the fallback at once")
        else:
            log.error("the switch refused %r: %s", fs.controller_absent(), reply.strip())

    async def close(self) -> None:
        """Stop handling calls: those not finished go to the fallback."""
        unfinished = [call for call in self.calls.values() if not call.finished and not call.over]
        for task in self._taking:
            task.cancel()
        await asyncio.gather(*self._taking, return_exceptions=True)
        for call in unfinished:
            with contextlib.suppress(EslError):
                await self._hand_back(call)


class CommandSockets:
    """The connections the calls' commands go on (no events on them): a call's always on the same
    one, by its UUID, so that they run in the order sent; and one for the controller's slow
    questions (`housekeeping`: the switch's channel list takes seconds under load, and the
    connection's thread answers nothing else meanwhile)."""

    def __init__(self, clients: list[InboundClient], housekeeping: InboundClient) -> None:
        self.clients = clients
        self.housekeeping = housekeeping

    def of(self, call_uuid: str) -> InboundClient:
        return self.clients[hash(call_uuid) % len(self.clients)]

    async def close(self) -> None:
        await asyncio.gather(*(client.close() for client in (*self.clients, self.housekeeping)))
