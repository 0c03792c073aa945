"""FreeSWITCH's end of the controller's event socket, made of captured frames.

The captures in ../shared/esl-captures are what a real FreeSWITCH 1.10.12
sent on the socket application and the event socket. A call of a test is not
byte for byte one of the captured calls (other numbers, other applications in
another order), so `CapturedSwitch` answers the controller's commands with
the captured frames of the same kind, replacing only the headers that differ
for this call: the application and its data, the Application-UUID, the
caller and destination, the bizpbx_* variables the rendered dialplan sets,
and the bridge's result. Every other header, and the framing, is FreeSWITCH's.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import re
import uuid as uuid_module
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from switch_side import read_command

from bizpbx import fs_vocabulary as fs
from bizpbx.controller import parked_calls
from bizpbx.controller.parked_calls import CommandSockets, ParkedCalls
from bizpbx.esl.aio import InboundClient
from bizpbx.esl.commands import Command
from bizpbx.esl.events import Event
from bizpbx.esl.protocol import COMMAND_REPLY, Frame, FrameParser, encode

CAPTURES = Path(__file__).resolve().parents[3] / "shared" / "esl-captures"


@cache
def frames(name: str) -> tuple:
    path = CAPTURES / f"{name}.fs.bin"
    data = path.read_bytes() if path.exists() else gzip.decompress(path.with_name(path.name + ".gz").read_bytes())
    return tuple(FrameParser().feed(data))


def captured_events(name: str, event_name: str, application: str | None = None) -> list[Event]:
    return [
        item
        for item in frames(name)
        if isinstance(item, Event) and item.name == event_name and (application is None or item.get("Application") == application)
    ]


def replaced(event: Event, changes: dict[str, str | None]) -> Event:
    """The captured event with some headers replaced (None removes one)."""
    merged = dict(event.headers)
    for name, value in changes.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return Event.build(event.content_type, merged, event.body)


def _reply(name: str, text_start: str) -> Frame:
    return next(item for item in frames(name) if isinstance(item, Frame) and item.content_type == COMMAND_REPLY and item.reply_text.startswith(text_start))


@dataclass
class Script:
    """How the far end behaves during one call."""

    digits: list[str] = field(default_factory=list)  # one entry per play_and_get_digits
    bridges: list[str] = field(default_factory=list)  # per bridge: answer, answer:N (its leg N), busy, ring (until cancelled)
    registered: list[bool] = field(default_factory=list)  # per sofia_contact
    talk_seconds: int = 5  # how long an answered bridge lasts (in the CDR only)
    talk_wait: float = 0  # seconds the conversation really lasts before the bridge returns


@dataclass
class CallSeen:
    """What the controller did on the call."""

    commands: list[str] = field(default_factory=list)
    applications: list[tuple[str, str]] = field(default_factory=list)
    api: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    hangup_cause: str | None = None


def channel_variables(direction: str, called: str, **more: str) -> dict[str, str]:
    """The variables the rendered dialplan sets before `park`: bizpbx_* and the bridges' settings."""
    bizpbx = {"direction": direction, "called": called, **more}
    return {**{f"variable_{k}": v for k, v in fs.BRIDGE_SETTINGS.items()}, **{f"variable_bizpbx_{k}": v for k, v in bizpbx.items()}}


class CapturedSwitch:
    """One call the switch parks for the controller, carried out as the controller's commands on
    the event socket say (`CapturedEventSocket` routes them here by the call's UUID)."""

    def __init__(self, caller: str, destination: str, variables: dict[str, str], script: Script, *, context: str = "public") -> None:
        self.uuid = str(uuid_module.uuid4())
        self.caller = caller
        self.destination = destination
        self.context = context
        self.variables = dict(variables)
        self.script = script
        self.seen = CallSeen()
        self.fallback_first = False  # the dialplan's scheduled fallback ran before the controller's claim
        self.handed_back: str | None = None  # the uuid_transfer that sent it to the fallback
        self._ringing: Event | None = None  # the completion of a bridge that rings on
        self._legs: list[str] = []  # the UUIDs the last bridge dialled
        self._conversation: asyncio.Task | None = None
        self._done: asyncio.Event | None = None
        self._switch: CapturedEventSocket | None = None

    @property
    def done(self) -> asyncio.Event:
        """Set when the call ended, or left the controller's hands (to the fallback)."""
        if self._done is None:
            self._done = asyncio.Event()
        return self._done

    def _channel(self, event: Event, changes: dict[str, str | None] | None = None) -> Event:
        identity = {
            "Unique-ID": self.uuid,
            "Channel-Call-UUID": self.uuid,
            "Caller-Unique-ID": self.uuid,
            "Caller-Caller-ID-Number": self.caller,
            "Caller-Destination-Number": self.destination,
            "Caller-Context": self.context,
        }
        return replaced(event, {**identity, **(changes or {})})

    def parked(self, switch: CapturedEventSocket) -> Event:
        """The CHANNEL_PARK the switch announces the call with: a captured channel event of the
        call's channel, renamed, with the variables the dialplan set."""
        self._switch = switch
        template = captured_events("inbound-plain", "CHANNEL_EXECUTE_COMPLETE")[0]
        return self._channel(template, {"Event-Name": "CHANNEL_PARK", "Application": None, "Application-Data": None, "Application-UUID": None, **self.variables})

    def mentioned_in(self, text: str) -> bool:
        return self.uuid in text or any(leg in text for leg in self._legs)

    def api(self, command: str) -> str:
        self.seen.api.append(command)
        if command.startswith("sched_del"):
            return "+OK Deleted: 0\n" if self.fallback_first else "+OK Deleted: 1\n"
        if command.startswith("sofia_contact"):
            registered = self.script.registered.pop(0) if self.script.registered else True
            return "sofia/internal/sip:101@127.0.0.1:5077" if registered else "error/user_not_registered"
        if command.startswith("uuid_kill") and self._ringing is not None:
            ended, self._ringing = self._ringing, None
            self._send(ended)
            return "+OK\n"
        if command.startswith("uuid_transfer"):
            self.handed_back = command
            self.done.set()
            return "+OK\n"
        return "-ERR no_such_command Command not found!\n"

    def _send(self, event: Event) -> None:
        assert self._switch is not None  # parked first
        self._switch.send(event)

    async def sendmsg(self, headers: dict[str, str], body: str | None) -> None:
        self.seen.commands.append(headers.get("call-command", ""))
        if headers.get("call-command") == "hangup":
            self.seen.hangup_cause = headers.get("hangup-cause")
            self._end()
        elif headers.get("call-command") == "execute":
            ended = await self._execute(headers["execute-app-name"], headers.get("execute-app-arg", body or ""), headers.get("Event-UUID"))
            if ended:
                self._end()

    async def _execute(self, application: str, argument: str, event_uuid: str | None) -> bool:
        """Run one application; True when the call is over afterwards."""
        self.seen.applications.append((application, argument))
        await asyncio.sleep(0)  # the reply to the sendmsg goes first, as the switch queues the application
        app_uuid = event_uuid or str(uuid_module.uuid4())  # the switch names the application by the Event-UUID sent
        application_headers = {"Application": application, "Application-Data": argument, "Application-UUID": app_uuid}
        completion_template = captured_events("outbound-forward", "CHANNEL_EXECUTE_COMPLETE", "set")[0]
        extra: dict[str, str | None] = {}
        ended = False
        if application in ("set", "multiset"):
            for assignment in argument.split(" ") if application == "multiset" else [argument]:
                name, _, value = assignment.partition("=")
                self.seen.variables[name] = value
                self.variables[f"variable_{name}"] = value
        elif application == "play_and_get_digits":
            words = argument.split(" ")
            entered = self.script.digits.pop(0) if self.script.digits else ""
            completion_template = captured_events("outbound-ivr", "CHANNEL_EXECUTE_COMPLETE", "play_and_get_digits")[0]
            extra = {f"variable_{words[7]}": entered or None, "variable_bizlab_org_id": None, "variable_read_result": "success" if entered else "failure"}
        elif application == "bridge":
            busy, ringing = captured_events("outbound-forward", "CHANNEL_EXECUTE_COMPLETE", "bridge")
            behaviour = self.script.bridges.pop(0) if self.script.bridges else "answer"
            legs = argument.split("origination_uuid=")[1:]
            self._legs = [leg.split(",")[0].split("]")[0] for leg in legs]
            if behaviour == "ring":
                # It rings until the controller cancels the leg (uuid_kill), as the switch's timer did not.
                self._ringing = self._channel(ringing, {**application_headers, **self.variables})
                return False
            completion_template = busy
            if behaviour.startswith("answer"):
                # The leg answers: its api_on_answer… options run (as the switch runs them: only
                # uuid_setvar on this caller's channel is modelled), the caller's channel is bridged to
                # it (FreeSWITCH's CHANNEL_BRIDGE, naming the leg by the UUID the dial string gave it),
                # and the bridge returns when the conversation ends.
                answering = legs[int(behaviour.partition(":")[2] or 0)]
                leg = self._legs[int(behaviour.partition(":")[2] or 0)]
                for name, value in re.findall(rf"api_on_answer\w*=uuid_setvar {self.uuid} (\w+) ([^,\]]+)", answering):
                    self.variables[f"variable_{name}"] = value
                bridged = captured_events("inbound-plain", "CHANNEL_BRIDGE")[0]
                self._send(self._channel(bridged, {"Bridge-A-Unique-ID": self.uuid, "Bridge-B-Unique-ID": leg, "Other-Leg-Unique-ID": leg}))
                # The conversation ends when the captured hang-up did (its end_epoch), talk_seconds after the bridge.
                ended_at = int(str(captured_events("outbound-ivr", "CHANNEL_HANGUP_COMPLETE")[0].get("variable_end_epoch")))
                bridged_at = str(ended_at - self.script.talk_seconds)
                self.variables["variable_answer_epoch"] = self.variables.get("variable_answer_epoch", bridged_at)
                self.variables["variable_bridge_epoch"] = bridged_at
                self.variables["variable_billsec"] = str(self.script.talk_seconds)
                answered = {**application_headers, "variable_originate_disposition": "SUCCESS", "variable_DIALSTATUS": "ANSWER", **self.variables}
                self._conversation = asyncio.create_task(self._hang_up_after_talking(self._channel(busy, answered)))
                return False
        elif application == "voicemail":
            ended = True
        self._send(self._channel(completion_template, {**application_headers, **self.variables, **extra}))
        return ended

    async def _hang_up_after_talking(self, bridge_completion: Event) -> None:
        await asyncio.sleep(self.script.talk_wait)
        self._send(bridge_completion)
        self._end()

    def _end(self) -> None:
        """The call ends: the captured hangup events, with what was set on the channel."""
        if self.done.is_set():
            return
        for event in (captured_events("outbound-ivr", "CHANNEL_HANGUP")[0], captured_events("outbound-ivr", "CHANNEL_HANGUP_COMPLETE")[0]):
            self._send(self._channel(event, self.variables))
        self.done.set()


PASSWORD = "Captured-switch-1"


@contextlib.asynccontextmanager
async def handling(handler, *, hang_ups: bool = True) -> AsyncIterator[CapturedEventSocket]:
    """A captured event socket whose parked calls `handler` runs as the controller runs them
    (`ParkedCalls` on an `InboundClient`); with `hang_ups` each call's hang-up is told to the
    handler (`hung_up`) as the event consumer tells it."""
    async with CapturedEventSocket(PASSWORD) as event_socket:
        parked = ParkedCalls(handler, lambda call_uuid: command_sockets.of(call_uuid), lambda: None)

        def on_event(event: Event) -> None:
            parked.on_event(event)
            if hang_ups and event.name == "CHANNEL_HANGUP_COMPLETE":
                handler.hung_up(event.unique_id)

        events = [*parked_calls.SUBSCRIBED_EVENTS, "CHANNEL_HANGUP_COMPLETE"]
        command_sockets = CommandSockets([InboundClient("127.0.0.1", event_socket.port, PASSWORD)], InboundClient("127.0.0.1", event_socket.port, PASSWORD))
        async with InboundClient("127.0.0.1", event_socket.port, PASSWORD, events=events, on_event=on_event), command_sockets.clients[0]:
            yield event_socket
            await parked.close()


async def call_through(switch: CapturedSwitch, handler) -> CallSeen:
    """One call parked for `handler`, to its end; returns once the handler is done with it."""
    async with handling(handler) as event_socket:
        seen = await event_socket.call(switch)
        while switch.uuid in handler.active:
            await asyncio.sleep(0.01)
    return seen


def hangup_complete(caller: str, destination: str, variables: dict[str, str], *, call_uuid: str, billsec: int) -> Event:
    """A captured A-leg CHANNEL_HANGUP_COMPLETE (inbound event socket) for another call."""
    template = next(e for e in captured_events("inbound-plain", "CHANNEL_HANGUP_COMPLETE") if e.get("Call-Direction") == "inbound")
    answered = template.get("variable_answer_epoch")
    return replaced(
        template,
        {
            "Unique-ID": call_uuid,
            "Caller-Caller-ID-Number": caller,
            "Caller-Destination-Number": destination,
            "variable_billsec": str(billsec),
            "variable_answer_epoch": answered if billsec else "0",
            "variable_bridge_epoch": template.get("variable_bridge_epoch") if billsec else "0",
            **variables,
        },
    )


def events_of(name: str, event_names: Iterable[str]) -> list[Event]:
    return [item for item in frames(name) if isinstance(item, Event) and item.name in set(event_names)]


class CapturedEventSocket:
    """FreeSWITCH's inbound event socket: the captured greeting and replies, the calls parked on
    it (`park`, `call`: each answers the commands naming it), and whatever events the test
    pushes (`send`), to every subscribed client."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.commands: list[str] = []
        self.calls: list[CapturedSwitch] = []
        self.globals: dict[str, str] = {}  # the switch's global variables the controller set
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.subscribed = asyncio.Event()

    async def __aenter__(self) -> CapturedEventSocket:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    def send(self, event: Event) -> None:
        for writer in self._writers:
            writer.write(encode(event))

    def park(self, call: CapturedSwitch) -> None:
        """The dialplan parks `call` for the controller."""
        self.calls.append(call)
        self.send(call.parked(self))

    async def call(self, call: CapturedSwitch) -> CallSeen:
        """Park `call` and wait until it ended or left the controller's hands."""
        self.park(call)
        await call.done.wait()
        if call._conversation is not None:
            await call._conversation
        return call.seen

    def _call_named(self, text: str) -> CapturedSwitch | None:
        named = [call for call in self.calls if call.mentioned_in(text)]
        if named:
            return named[-1]
        # sofia_contact names a phone, not the call: the latest call still up asked.
        up = [call for call in self.calls if not call.done.is_set()]
        return up[-1] if up else None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        greeting, accepted, *_ = frames("inbound-plain")
        response = next(item for item in frames("inbound-register") if isinstance(item, Frame) and item.content_type == "api/response")
        writer.write(encode(greeting))
        try:
            while True:
                command = Command.decode(await read_command(reader))
                line = command.line
                self.commands.append(line.split(" ", 1)[0] if line.startswith("auth ") else line)
                if line.startswith("auth "):
                    if line != f"auth {self.password}":
                        writer.write(encode(_reply("auth-failure", "-ERR")))
                        return
                    writer.write(encode(accepted))
                elif line.startswith("event "):
                    writer.write(encode(_reply("inbound-plain", "+OK event listener enabled plain")))
                    self._writers.append(writer)
                    self.subscribed.set()
                elif line.startswith("api global_setvar "):
                    name, _, value = line.split(" ", 2)[2].partition("=")
                    self.globals[name] = value
                    writer.write(encode(Frame(response.content_type, response.headers, "+OK")))
                elif line.startswith("api "):
                    api_command = line.split(" ", 1)[1]
                    call = self._call_named(api_command)
                    body = call.api(api_command) if call is not None else "-ERR no_such_command Command not found!\n"
                    writer.write(encode(Frame(response.content_type, response.headers, body)))
                elif line.startswith("sendmsg "):
                    call = self._call_named(line.split(" ", 1)[1])
                    if call is None or call.done.is_set():
                        writer.write(encode(Frame(COMMAND_REPLY, {"Reply-Text": "-ERR invalid session id [" + line.split(" ", 1)[1] + "]"})))
                    else:
                        writer.write(encode(_reply("outbound-forward", "+OK")))
                        await writer.drain()
                        await call.sendmsg(dict(command.headers), command.body)
                elif line == "exit":
                    writer.write(encode(Frame(COMMAND_REPLY, {"Reply-Text": "+OK bye"})))
                    await writer.drain()
                    return
                else:
                    writer.write(encode(Frame(COMMAND_REPLY, {"Reply-Text": "+OK"})))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if writer in self._writers:
                self._writers.remove(writer)
            writer.close()
