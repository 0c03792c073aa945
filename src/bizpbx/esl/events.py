"""FreeSWITCH events, plain or JSON, decoded on first use.

A busy switch sends thousands of events a second and most consumers look at
the name and a few headers of each, so an :class:`Event` keeps the bytes it
came in and decodes them when its headers or body are first read. The name,
which every dispatcher needs, has a fast path that gives the same answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from types import MappingProxyType

from bizpbx.esl.errors import ProtocolError
from bizpbx.esl.headers import (
    HeaderValue,
    Headers,
    decode_header_block,
    encode_header_block,
    keep_first_values,
    percent_decode,
    split_array,
)

PLAIN = "text/event-plain"
JSON = "text/event-json"
EVENT_CONTENT_TYPES = frozenset({PLAIN, JSON})

# The name is the first header FreeSWITCH writes; when it is plain ASCII it
# can be read without decoding the rest, and is what decoding would give.
_NAME_AT_START = {
    PLAIN: re.compile(rb"Event-Name: ([A-Za-z0-9_]+)\n"),
    JSON: re.compile(rb'\{"Event-Name":"([A-Za-z0-9_]+)"'),
}


@dataclass(frozen=True)
class Event:
    """One event as FreeSWITCH serialised it (the body of a ``text/event-*`` frame)."""

    content_type: str
    raw: bytes = field(repr=False)
    offset: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.content_type not in EVENT_CONTENT_TYPES:
            raise ValueError(f"not an event content type: {self.content_type!r}")

    @classmethod
    def build(cls, content_type: str, headers: Headers, body: str | None = None) -> Event:
        """Serialise headers and body the way FreeSWITCH does (the inverse of decoding)."""
        encode = _encode_plain if content_type == PLAIN else _encode_json
        return cls(content_type, encode(headers, body))

    @property
    def headers(self) -> Headers:
        """The event's own headers (without its Content-Length), values decoded."""
        return self._decoded()[0]

    @property
    def body(self) -> str | None:
        return self._decoded()[1]

    @property
    def name(self) -> str | None:
        """``Event-Name``; for ``CUSTOM`` events see :attr:`subclass`."""
        match = _NAME_AT_START[self.content_type].match(self.raw)
        return match[1].decode() if match else self.get("Event-Name")

    def _decoded(self) -> tuple[Headers, str | None]:
        # Cached by hand: functools.cached_property takes a lock per read on Python 3.11.
        try:
            return self.__dict__["_decoded_cache"]
        except KeyError:
            decode = _decode_plain if self.content_type == PLAIN else _decode_json
            decoded = self.__dict__["_decoded_cache"] = decode(self.raw, self.offset)
            return decoded

    def get(self, name: str, default: HeaderValue | None = None) -> HeaderValue | None:
        return self.headers.get(name, default)

    def __getitem__(self, name: str) -> HeaderValue:
        return self.headers[name]

    @property
    def subclass(self) -> str | None:
        return self._get_text("Event-Subclass")

    @property
    def unique_id(self) -> str | None:
        """The channel the event is about."""
        return self._get_text("Unique-ID")

    @property
    def job_uuid(self) -> str | None:
        return self._get_text("Job-UUID")

    @property
    def application_uuid(self) -> str | None:
        return self._get_text("Application-UUID")

    def _get_text(self, name: str) -> str | None:
        # What matches replies and completions to their commands is read from the bytes: most
        # events of a call are never looked at further, and decoding one costs a hundred times more.
        if "_decoded_cache" not in self.__dict__ and self.content_type == PLAIN:
            found = _peek_plain(self.raw, name)
            if found is not _UNSURE:
                return found
        value = self.headers.get(name)
        return value if isinstance(value, str) else None


_UNSURE = object()


def _peek_plain(raw: bytes, name: str) -> str | None | object:
    """A plain event's header as decoding would give it, read without decoding the others;
    _UNSURE when only decoding can tell (absent, a list, malformed: decoding then says so)."""
    end = raw.find(b"\n\n")
    if end < 0:
        return _UNSURE
    key = name.encode() + b":"
    if raw.startswith(key):
        start = len(key)
    else:
        found = raw.find(b"\n" + key, 0, end)
        if found < 0:
            return _UNSURE
        start = found + 1 + len(key)
    line_end = raw.find(b"\n", start)
    value = raw[start:line_end].lstrip(b" ")
    if b"%" in value:
        value = percent_decode(value)
    text = value.decode("utf-8", "replace")
    return _UNSURE if text.startswith("ARRAY::") else text


def _decode_plain(raw: bytes, offset: int) -> tuple[Headers, str | None]:
    if raw.startswith(b"\n"):
        head, body_start = b"", 1
    else:
        end = raw.find(b"\n\n")
        if end < 0:
            raise ProtocolError("plain event: headers not ended by a blank line", offset)
        head, body_start = raw[:end], end + 2
    headers = decode_header_block(head, offset)
    length = _pop_content_length(headers, offset)
    rest = raw[body_start:]
    if len(rest) != (length or 0):
        raise ProtocolError(
            f"plain event: {len(rest)} bytes follow the headers, Content-Length says {length or 0}", offset
        )
    return MappingProxyType(headers), None if length is None else rest.decode("utf-8", "replace")


def _pop_content_length(headers: dict[str, HeaderValue], offset: int) -> int | None:
    value = headers.pop("Content-Length", None)
    if value is None:
        return None
    return parse_length(value, offset)


# More digits than any frame size FreeSWITCH sends (and Python refuses to
# read an int of over 4300 digits at all).
MAX_LENGTH_DIGITS = 12


def parse_length(value: HeaderValue, offset: int) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        if len(value.lstrip("0")) > MAX_LENGTH_DIGITS:
            raise ProtocolError(f"Content-Length of {len(value)} digits is not a byte count", offset)
        return int(value)
    raise ProtocolError(f"Content-Length {_excerpt(value)} is not a byte count", offset)


def _excerpt(value: HeaderValue) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "…"


def _decode_json(raw: bytes, offset: int) -> tuple[Headers, str | None]:
    try:
        # Decoded here, strictly: json.loads of bytes guesses UTF-16 or -32
        # from NUL bytes and lets UTF-8-encoded surrogates (ED A0 80) through.
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProtocolError(f"JSON event: not UTF-8 text (byte {error.start} of the event)", offset) from None
    try:
        pairs = json.loads(text, object_pairs_hook=_pairs_as_list)
    except (ValueError, RecursionError) as error:
        raise ProtocolError(f"JSON event: {error}", offset) from None
    if not isinstance(pairs, _PairList):
        raise ProtocolError("JSON event: not a JSON object", offset)
    if _ESCAPED_SURROGATE.search(raw):
        _refuse_surrogates(pairs, offset)
    headers = dict(pairs)
    if len(headers) != len(pairs):
        headers = keep_first_values(pairs)
    headers.pop("Content-Length", None)
    body = headers.pop("_body", None)
    if body is not None and not isinstance(body, str):
        raise ProtocolError("JSON event: _body is not a string", offset)
    for name, value in headers.items():
        if isinstance(value, str):
            if value.startswith("ARRAY::"):
                headers[name] = split_array(value)
        elif not (type(value) is list and all(isinstance(item, str) for item in value)):
            raise ProtocolError(f"JSON event: header {name!r} is neither a string nor a list of strings", offset)
    return MappingProxyType(headers), body


# JSON can escape half of a UTF-16 pair alone (\\ud800), which decodes to a
# string no UTF-8 output can hold; FreeSWITCH writes raw UTF-8, never such escapes.
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_surrogates(pairs: list[tuple[str, object]], offset: int) -> None:
    for name, value in pairs:
        for text in (name, *(value if isinstance(value, list) else [value])):
            if isinstance(text, str) and _SURROGATE.search(text):
                raise ProtocolError(f"JSON event: header {_excerpt(name)} holds an unpaired surrogate escape (not text)", offset)


class _PairList(list):
    """The key/value pairs of one JSON object, in order (duplicates kept)."""


def _pairs_as_list(pairs: list[tuple[str, object]]) -> _PairList:
    return _PairList(pairs)


def _encode_plain(headers: Headers, body: str | None) -> bytes:
    head = encode_header_block(headers).encode()
    if body is None:
        return head + b"\n"
    data = body.encode()
    return head + b"Content-Length: %d\n\n" % len(data) + data


def _encode_json(headers: Headers, body: str | None) -> bytes:
    document: dict[str, HeaderValue] = dict(headers)
    if body is not None:
        document["Content-Length"] = str(len(body.encode()))
        document["_body"] = body
    return json.dumps(document, ensure_ascii=False).encode()
