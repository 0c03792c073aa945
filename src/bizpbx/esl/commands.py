"""Commands a client sends over the Event Socket, and their exact bytes.

A command is one line, optional ``name: value`` header lines, then a blank
line. A line break inside an argument would end the command early and let the
rest be read as a second command, so every builder refuses CR and LF.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

EVENT_FORMATS = ("plain", "json")  # xml exists too, but this package decodes only these


class CommandError(ValueError):
    """A command that cannot be sent as asked (the message never quotes a secret)."""


@dataclass(frozen=True)
class Command:
    line: str
    headers: tuple[tuple[str, str], ...] = ()
    secret: bool = field(default=False, compare=False)
    body: str = ""  # sent after a Content-Length header, which encode adds

    def __post_init__(self) -> None:
        if not self.line or _has_line_break(self.line):
            raise CommandError(f"the {self.verb!r} command line is empty or holds a line break (CR or LF)")
        for name, value in self.headers:
            if not name or ":" in name or _has_line_break(name) or _has_line_break(value):
                raise CommandError(f"the {self.verb!r} command header {name!r} is invalid or holds a line break")
            if self.body and name.lower() == "content-length":
                raise CommandError(f"the {self.verb!r} command's Content-Length is its body's, not a header to give")
        if _has_line_break(self.body):
            raise CommandError(f"the {self.verb!r} command's body holds a line break (CR or LF)")

    @property
    def verb(self) -> str:
        words = self.line.split(None, 1)
        return words[0] if words else ""

    def header(self, name: str) -> str | None:
        return next((value for header, value in self.headers if header == name), None)

    def __repr__(self) -> str:
        line = f"{self.verb} ***" if self.secret else self.line
        body = f", body={self.body!r}" if self.body else ""
        return f"Command({line!r}, headers={self.headers!r}{body})"

    def encode(self) -> bytes:
        body = self.body.encode()
        headers = (*self.headers, ("Content-Length", str(len(body)))) if body else self.headers
        head = "".join(f"{name}: {value}\n" for name, value in headers)
        return f"{self.line}\n{head}\n".encode() + body

    @classmethod
    def decode(cls, data: bytes) -> Command:
        """The inverse of :meth:`encode`, for one command's bytes (blank line and body included)."""
        head, blank, body = data.partition(b"\n\n")
        if not blank:
            raise CommandError("a command's head ends with a blank line")
        line, *header_lines = head.decode().split("\n") if head else [""]
        headers = tuple(_split_header(header_line) for header_line in header_lines)
        length = next((value for name, value in headers if name == "Content-Length"), None)
        if length is not None and not length.isdigit() or len(body) != int(length or 0):
            raise CommandError(f"a command's body is {len(body)} bytes, its Content-Length says {length or 'none'}")
        headers = tuple(header for header in headers if header[0] != "Content-Length") if length else headers
        return cls(line, headers, secret=line.startswith("auth "), body=body.decode())


def _split_header(line: str) -> tuple[str, str]:
    name, colon, value = line.partition(": ")
    if not colon:
        raise CommandError(f"command header line without ': ': {line!r}")
    return name, value


def _has_line_break(text: str) -> bool:
    return "\n" in text or "\r" in text


def _words(kind: str, words: Iterable[str]) -> list[str]:
    words = list(words)
    for word in words:
        if not word or any(character.isspace() for character in word):
            raise CommandError(f"{kind} {word!r} is empty or holds whitespace")
    return words


def _with_argument(verb: str, argument: str | None) -> str:
    return verb if argument is None else f"{verb} {argument}"


def auth(password: str) -> Command:
    return Command(f"auth {password}", secret=True)


def api(command: str) -> Command:
    return Command(f"api {command}")


def bgapi(command: str, job_uuid: str | None = None) -> Command:
    """Without ``job_uuid`` FreeSWITCH picks one and names it in its reply."""
    headers = () if job_uuid is None else (("Job-UUID", job_uuid),)
    return Command(f"bgapi {command}", headers)


def event(event_format: str, names: Iterable[str] = ("ALL",), custom: Iterable[str] = ()) -> Command:
    """Subscribe to events; CUSTOM subclasses go last, after the word CUSTOM, as FreeSWITCH reads them."""
    if event_format not in EVENT_FORMATS:
        raise CommandError(f"event format {event_format!r} is not one of {', '.join(EVENT_FORMATS)}")
    words = [name for name in _words("event name", names) if name != "CUSTOM"]
    subclasses = _words("CUSTOM subclass", custom)
    if subclasses:
        words += ["CUSTOM", *subclasses]
    if not words:
        raise CommandError("subscribe to at least one event")
    return Command(f"event {event_format} {' '.join(words)}")


def filter(header: str, value: str) -> Command:  # noqa: A001 - the command's own name
    _words("filter header", [header])
    return Command(f"filter {header} {value}")


def execute(
    application: str,
    argument: str | None = None,
    *,
    uuid: str | None = None,
    event_uuid: str | None = None,
    event_lock: bool = True,
) -> Command:
    """``sendmsg`` that runs a dialplan application on the channel.

    ``event_lock`` queues it behind the applications sent before it, so they
    run in the order sent. ``event_uuid`` becomes the Application-UUID of its
    CHANNEL_EXECUTE and CHANNEL_EXECUTE_COMPLETE events. The argument goes as
    the body: FreeSWITCH reads a command's head a byte at a time (a system call
    and a yield each), its body at once; a bridge's dial string is hundreds of bytes.
    """
    _words("application", [application])
    headers = [("call-command", "execute"), ("execute-app-name", application)]
    if argument:
        headers.append(("content-type", "text/plain"))
    elif argument is not None:
        headers.append(("execute-app-arg", argument))
    if event_lock:
        headers.append(("event-lock", "true"))
    if event_uuid is not None:
        headers.append(("Event-UUID", event_uuid))
    return Command(_with_argument("sendmsg", uuid), tuple(headers), body=argument or "")


def hangup(cause: str = "NORMAL_CLEARING", *, uuid: str | None = None) -> Command:
    _words("hangup cause", [cause])
    return Command(_with_argument("sendmsg", uuid), (("call-command", "hangup"), ("hangup-cause", cause)))


def myevents(event_format: str | None = None, *, uuid: str | None = None) -> Command:
    """Events of one channel only: the outbound socket's channel, or ``uuid`` on an inbound one."""
    if event_format is not None and event_format not in EVENT_FORMATS:
        raise CommandError(f"event format {event_format!r} is not one of {', '.join(EVENT_FORMATS)}")
    words = [word for word in ("myevents", uuid, event_format) if word is not None]
    return Command(" ".join(words))


def nixevent(names: Iterable[str]) -> Command:
    """Unsubscribe from some events, keeping the others (``myevents``' own included)."""
    words = _words("event name", names)
    if not words:
        raise CommandError("name at least one event to unsubscribe from")
    return Command(f"nixevent {' '.join(words)}")


def linger(seconds: int | None = None) -> Command:
    """Keep the outbound socket open this long after hangup, for the last events."""
    return Command(_with_argument("linger", None if seconds is None else str(int(seconds))))


def nolinger() -> Command:
    return Command("nolinger")


def connect() -> Command:
    return Command("connect")


def noevents() -> Command:
    return Command("noevents")


def log(level: int | str) -> Command:
    return Command(f"log {level}")


def nolog() -> Command:
    return Command("nolog")


def exit() -> Command:  # noqa: A001 - the command's own name
    return Command("exit")
