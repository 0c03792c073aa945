"""The Event Socket wire format, without I/O: bytes in any chunking in, frames out.

A frame is a header block ended by a blank line, then as many body bytes as its
``Content-Length`` says. Frames whose ``Content-Type`` is ``text/event-plain``
or ``text/event-json`` carry one FreeSWITCH event and come out as
:class:`~bizpbx.esl.events.Event`; every other frame comes out as
:class:`Frame`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from bizpbx.esl.errors import ProtocolError
from bizpbx.esl.events import EVENT_CONTENT_TYPES, Event, parse_length
from bizpbx.esl.headers import Headers, decode_header_block, encode_header_block

MAX_FRAME_SIZE = 16 * 1024 * 1024

_EVENT_HEAD = re.compile(rb"Content-Length: ([0-9]{1,12})\nContent-Type: (text/event-(?:plain|json))")

AUTH_REQUEST = "auth/request"
COMMAND_REPLY = "command/reply"
API_RESPONSE = "api/response"
DISCONNECT_NOTICE = "text/disconnect-notice"
RUDE_REJECTION = "text/rude-rejection"
LOG_DATA = "log/data"


@dataclass(frozen=True)
class Frame:
    """A frame that is not an event: headers without Content-Type and Content-Length."""

    content_type: str
    headers: Headers = field(default_factory=lambda: MappingProxyType({}))
    body: str | None = None
    offset: int = field(default=0, compare=False)

    @property
    def reply_text(self) -> str:
        """A command reply's ``Reply-Text`` (``+OK …`` or ``-ERR …``), else ``""``."""
        value = self.headers.get("Reply-Text", "")
        return value if isinstance(value, str) else ""

    @property
    def ok(self) -> bool:
        return self.reply_text.startswith("+OK")


Received = Frame | Event


def encode(item: Received) -> bytes:
    """The bytes FreeSWITCH would send for a frame or an event (the inverse of parsing)."""
    if isinstance(item, Event):
        return b"Content-Length: %d\nContent-Type: %s\n\n" % (len(item.raw), item.content_type.encode()) + item.raw
    head = f"Content-Type: {item.content_type}\n{encode_header_block(item.headers)}"
    if item.body is None:
        return f"{head}\n".encode()
    body = item.body.encode()
    return f"{head}Content-Length: {len(body)}\n\n".encode() + body


def decoded_form(item: Received) -> dict[str, Any]:
    """The JSON-ready form of a frame or event (what ``bizpbx esl-dump`` prints)."""
    return {"type": item.content_type, "headers": dict(item.headers), "body": item.body}


@dataclass
class _Head:
    offset: int
    content_type: str
    headers: dict
    length: int | None


class FrameParser:
    """Splits a byte stream from FreeSWITCH into frames.

    Feed it bytes as they arrive, in any chunking; each call returns the frames
    completed so far. Call :meth:`end_of_stream` when the peer closes, to learn
    whether it stopped in the middle of a frame. Malformed bytes raise
    :class:`ProtocolError`; when good frames came before them in the same
    call, those are returned first and the error is raised by the next call.
    """

    def __init__(self, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        self._max_frame_size = max_frame_size
        self._buffer = bytearray()
        self._buffer_offset = 0  # stream offset of self._buffer[0]
        self._scan_from = 0  # where the search for the blank line resumes
        self._head: _Head | None = None
        self._error: ProtocolError | None = None

    def feed(self, data: bytes) -> list[Received]:
        if self._error is not None:
            raise self._error
        self._buffer += data
        received: list[Received] = []
        try:
            self._extract(received)
        except ProtocolError as error:
            if not received:
                raise
            self._error = error
        return received

    def _extract(self, received: list[Received]) -> None:
        """Append the complete frames in the buffer to ``received`` and drop their bytes."""
        buffer = self._buffer
        position = 0
        head = self._head
        while True:
            if head is None:
                if buffer[position : position + 1] == b"\n":
                    raise ProtocolError("blank line where a frame's headers should start", self._offset(position))
                end = buffer.find(b"\n\n", max(position, self._scan_from))
                if end < 0:
                    self._refuse_oversized(len(buffer) - position, position)
                    self._scan_from = max(position, len(buffer) - 1)
                    break
                self._refuse_oversized(end - position, position)
                head = self._parse_head(buffer, position, end)
                position = end + 2
            if head.length is None:
                received.append(Frame(head.content_type, MappingProxyType(head.headers), None, head.offset))
            elif len(buffer) - position < head.length:
                break
            else:
                body = bytes(buffer[position : position + head.length])
                position += head.length
                received.append(_complete(head, body))
            head = None
        self._head = head
        if position:
            del buffer[:position]
            self._buffer_offset += position
            self._scan_from = max(0, self._scan_from - position)

    def end_of_stream(self) -> None:
        """Raise :class:`ProtocolError` if the stream ended inside a frame (or after bad bytes)."""
        if self._error is not None:
            raise self._error
        if self._head is not None:
            raise ProtocolError(f"stream ended inside the body of a {self._head.content_type} frame", self._head.offset)
        if self._buffer:
            raise ProtocolError("stream ended inside a frame's headers", self._buffer_offset)

    def _offset(self, position: int) -> int:
        return self._buffer_offset + position

    def _refuse_oversized(self, size: int, position: int) -> None:
        if size > self._max_frame_size:
            raise ProtocolError(f"frame larger than {self._max_frame_size} bytes", self._offset(position))

    def _parse_head(self, buffer: bytearray, start: int, end: int) -> _Head:
        offset = self._offset(start)
        # Nearly every frame is an event whose head is exactly these two lines.
        event_head = _EVENT_HEAD.fullmatch(buffer, start, end)
        if event_head:
            headers: dict = {}
            content_type, length = event_head[2].decode(), int(event_head[1])
        else:
            headers = decode_header_block(bytes(buffer[start:end]), offset)
            content_type = headers.pop("Content-Type", None)
            if not isinstance(content_type, str):
                raise ProtocolError("frame without a Content-Type", offset)
            length_value = headers.pop("Content-Length", None)
            length = None if length_value is None else parse_length(length_value, offset)
        if length is not None and length > self._max_frame_size:
            raise ProtocolError(f"Content-Length {length} is over the {self._max_frame_size}-byte limit", offset)
        if length is None and content_type in EVENT_CONTENT_TYPES:
            raise ProtocolError(f"{content_type} frame without a Content-Length", offset)
        return _Head(offset, content_type, headers, length)


def _complete(head: _Head, body: bytes) -> Received:
    if head.content_type in EVENT_CONTENT_TYPES:
        return Event(head.content_type, body, head.offset)
    return Frame(head.content_type, MappingProxyType(head.headers), body.decode("utf-8", "replace"), head.offset)
