"""FreeSWITCH's end of the controller's sockets, made of captured frames.

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
import gzip
import re
import uuid as uuid_module
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from switch_side import read_command

from bizpbx import fs_vocabulary as fs
from bizpbx.esl.commands import Command
from bizpbx.esl.events import PLAIN, Event
from bizpbx.esl.protocol import COMMAND_REPLY, DISCONNECT_NOTICE, Frame, FrameParser, encode

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
    talk_wait: float = 0  # seconds the conversation really lasts before the bridge returns (after the socket, if let go)


@dataclass
class CallSeen:
    """What the controller did on the call."""

    commands: list[str] = field(default_factory=list)
    applications: list[tuple[str, str]] = field(default_factory=list)
    api: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    hangup_cause: str | None = None
    let_go_talking: bool = False  # the controller let go of the socket of the answered call (`exit`), which went on


def channel_variables(direction: str, called: str, **more: str) -> dict[str, str]:
    """The variables the rendered dialplan sets before `socket`: bizpbx_* and the bridges' settings."""
    bizpbx = {"direction": direction, "called": called, **more}
    return {**{f"variable_{k}": v for k, v in fs.BRIDGE_SETTINGS.items()}, **{f"variable_bizpbx_{k}": v for k, v in bizpbx.items()}}


class CapturedSwitch:
    """Connects to the controller's socket as the `socket` application does, for one call."""

    def __init__(self, caller: str, destination: str, variables: dict[str, str], script: Script) -> None:
        self.uuid = str(uuid_module.uuid4())
        self.caller = caller
        self.destination = destination
        self.variables = dict(variables)
        self.script = script
        self.seen = CallSeen()
        self._ringing: Event | None = None  # the completion of a bridge that rings on
        self._conversation: asyncio.Task | None = None
        self._subscribed: set[str] | None = None  # the call's events the controller reads; None: all (myevents)

    def _channel(self, event: Event, changes: dict[str, str | None] | None = None) -> Event:
        identity = {
            "Unique-ID": self.uuid,
            "Channel-Call-UUID": self.uuid,
            "Caller-Unique-ID": self.uuid,
            "Caller-Caller-ID-Number": self.caller,
            "Caller-Destination-Number": self.destination,
        }
        return replaced(event, {**identity, **(changes or {})})

    async def call(self, port: int) -> CallSeen:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await self._serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the controller closed the socket
        finally:
            writer.close()
        return self.seen

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ok = encode(_reply("outbound-forward", "+OK"))
        while True:
            command = Command.decode(await read_command(reader))
            line, headers = command.line, dict(command.headers)
            self.seen.commands.append(line)
            verb = line.split(" ", 1)[0]
            if verb == "connect":
                data = frames("outbound-ivr")[0]
                channel = self._channel(Event.build(PLAIN, dict(data.headers)), self.variables)
                writer.write(encode(Frame(COMMAND_REPLY, channel.headers)))
            elif verb == "myevents":
                writer.write(encode(_reply("outbound-ivr", "+OK Events")))
            # Replies as mod_event_socket 1.10.12 words them; the subscriptions the controller makes.
            elif verb == "nixevent":
                assert line == "nixevent ALL", f"the peer models nixing every event at once only: {line}"
                self._subscribed = set()
                writer.write(encode(Frame(COMMAND_REPLY, {"Reply-Text": "+OK events nixed"})))
            elif verb == "event":
                self._subscribed = (self._subscribed or set()) | set(line.split(" ")[2:])
                writer.write(encode(Frame(COMMAND_REPLY, {"Reply-Text": "+OK event listener enabled plain"})))
            elif verb == "noevents":
                self._subscribed = set()
                writer.write(encode(Frame(COMMAND_REPLY, {"Reply-Text": "+OK no longer listening for events"})))
            elif verb == "linger":
                writer.write(encode(_reply("outbound-ivr", "+OK will linger")))
            elif verb == "exit":
                writer.write(encode(Frame(COMMAND_REPLY, {"Reply-Text": "+OK bye"})))
                await writer.drain()
                if self._conversation is not None:
                    # The bridge goes on without the socket; its end is told elsewhere (the event socket).
                    self._conversation.cancel()
                    self.seen.let_go_talking = True
                return
            elif verb == "api":
                writer.write(self._api(line.split(" ", 1)[1]))
            elif headers.get("call-command") == "hangup":
                writer.write(ok)
                self.seen.hangup_cause = headers.get("hangup-cause")
                await self._end(writer)
                return
            elif headers.get("call-command") == "execute":
                writer.write(ok)
                await writer.drain()
                ended = await self._execute(writer, headers["execute-app-name"], headers.get("execute-app-arg", command.body), headers.get("Event-UUID"))
                if ended:
                    await self._end(writer)
                    return
            await writer.drain()

    def _api(self, command: str) -> bytes:
        self.seen.api.append(command)
        response = next(item for item in frames("inbound-register") if isinstance(item, Frame) and item.content_type == "api/response")
        if command.startswith("sofia_contact"):
            registered = self.script.registered.pop(0) if self.script.registered else True
            body = "sofia/internal/sip:101@127.0.0.1:5077" if registered else "error/user_not_registered"
        elif command.startswith("uuid_kill") and self._ringing is not None:
            ended, self._ringing = encode(self._ringing), None
            return encode(Frame(response.content_type, response.headers, "+OK\n")) + ended
        else:
            body = "-ERR no_such_command Command not found!\n"
        return encode(Frame(response.content_type, response.headers, body))

    def _send(self, writer: asyncio.StreamWriter, event: Event) -> None:
        """An event of the call's channel, if the controller subscribed to its kind."""
        if self._subscribed is None or event.name in self._subscribed:
            writer.write(encode(event))

    async def _execute(self, writer: asyncio.StreamWriter, application: str, argument: str, event_uuid: str | None) -> bool:
        """Run one application; True when the call is over afterwards."""
        self.seen.applications.append((application, argument))
        app_uuid = event_uuid or str(uuid_module.uuid4())  # the switch names the application by the Event-UUID sent
        template = captured_events("outbound-forward", "CHANNEL_EXECUTE", "set")[0]
        application_headers = {"Application": application, "Application-Data": argument, "Application-UUID": app_uuid}
        self._send(writer, self._channel(template, application_headers))
        completion_template = captured_events("outbound-forward", "CHANNEL_EXECUTE_COMPLETE", "set")[0]
        extra: dict[str, str | None] = {}
        ended = False
        if application == "answer":
            self._send(writer, self._channel(captured_events("outbound-forward", "CHANNEL_ANSWER")[0]))
        elif application in ("set", "multiset"):
            for assignment in argument.split(" ") if application == "multiset" else [argument]:
                name, _, value = assignment.partition("=")
                self.seen.variables[name] = value
                self.variables[f"variable_{name}"] = value
        elif application == "play_and_get_digits":
            words = argument.split(" ")
            entered = self.script.digits.pop(0) if self.script.digits else ""
            dtmf = captured_events("outbound-ivr", "DTMF")[0]
            for digit in entered:
                self._send(writer, self._channel(dtmf, {"DTMF-Digit": digit}))
            completion_template = captured_events("outbound-ivr", "CHANNEL_EXECUTE_COMPLETE", "play_and_get_digits")[0]
            extra = {f"variable_{words[7]}": entered or None, "variable_bizlab_org_id": None, "variable_read_result": "success" if entered else "failure"}
        elif application == "bridge":
            busy, ringing = captured_events("outbound-forward", "CHANNEL_EXECUTE_COMPLETE", "bridge")
            behaviour = self.script.bridges.pop(0) if self.script.bridges else "answer"
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
                legs = argument.split("origination_uuid=")[1:]
                answering = legs[int(behaviour.partition(":")[2] or 0)]
                leg = answering.split(",")[0].split("]")[0]
                for name, value in re.findall(rf"api_on_answer\w*=uuid_setvar {self.uuid} (\w+) ([^,\]]+)", answering):
                    self.variables[f"variable_{name}"] = value
                bridged = captured_events("inbound-plain", "CHANNEL_BRIDGE")[0]
                self._send(writer, self._channel(bridged, {"Bridge-A-Unique-ID": self.uuid, "Bridge-B-Unique-ID": leg, "Other-Leg-Unique-ID": leg}))
                self.variables["variable_answer_epoch"] = self.variables.get("variable_answer_epoch", "1795637077")
                self.variables["variable_bridge_epoch"] = "1795637080"
                self.variables["variable_billsec"] = str(self.script.talk_seconds)
                answered = {**application_headers, "variable_originate_disposition": "SUCCESS", "variable_DIALSTATUS": "ANSWER", **self.variables}
                self._conversation = asyncio.create_task(self._hang_up_after_talking(writer, self._channel(busy, answered)))
                return False
        elif application == "voicemail":
            ended = True
        self._send(writer, self._channel(completion_template, {**application_headers, **self.variables, **extra}))
        return ended

    async def _hang_up_after_talking(self, writer: asyncio.StreamWriter, bridge_completion: Event) -> None:
        await asyncio.sleep(self.script.talk_wait)
        writer.write(encode(bridge_completion))
        await self._end(writer)

    async def _end(self, writer: asyncio.StreamWriter) -> None:
        """The call ends: the captured hangup events, then linger and disconnect notices."""
        for event in (captured_events("outbound-ivr", "CHANNEL_HANGUP")[0], captured_events("outbound-ivr", "CHANNEL_HANGUP_COMPLETE")[0]):
            self._send(writer, self._channel(event, self.variables))
        for notice in (item for item in frames("outbound-ivr") if isinstance(item, Frame) and item.content_type == DISCONNECT_NOTICE):
            writer.write(encode(notice))
        await writer.drain()


async def call_through(switch: CapturedSwitch, port: int, handler) -> CallSeen:
    """One call on the controller's socket, to its end: an answered call whose socket the
    controller let go of talks on, then its hang-up is told to the handler (`hung_up`) as the
    event consumer tells it; returns once the handler is done with the call."""
    seen = await switch.call(port)
    if seen.let_go_talking:
        await asyncio.sleep(switch.script.talk_wait)
        handler.hung_up(switch.uuid)
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
    """FreeSWITCH's inbound event socket: the captured greeting and replies,
    then whatever events the test pushes (`send`), to every connected client."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.commands: list[str] = []
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

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        greeting, accepted, *_ = frames("inbound-plain")
        writer.write(encode(greeting))
        try:
            while True:
                command = (await reader.readuntil(b"\n\n")).decode().strip()
                self.commands.append(command.split(" ", 1)[0] if command.startswith("auth ") else command)
                if command.startswith("auth "):
                    if command != f"auth {self.password}":
                        writer.write(encode(_reply("auth-failure", "-ERR")))
                        return
                    writer.write(encode(accepted))
                elif command.startswith("event "):
                    writer.write(encode(_reply("inbound-plain", "+OK event listener enabled plain")))
                    self._writers.append(writer)
                    self.subscribed.set()
                else:
                    writer.write(encode(Frame(COMMAND_REPLY, {"Reply-Text": "+OK"})))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if writer in self._writers:
                self._writers.remove(writer)
            writer.close()
