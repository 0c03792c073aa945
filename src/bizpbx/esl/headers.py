"""Header blocks as libesl reads and FreeSWITCH writes them.

A header block is ``Name: value`` lines. Values are percent-decoded after the
lines are split (so an encoded ``%0A`` stays inside its value), a header that
occurs twice keeps its first value (libesl's ``get_header`` answers the first),
and ``ARRAY::a|:b`` becomes the list ``["a", "b"]``.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote_to_bytes

from bizpbx.esl.errors import ProtocolError

HeaderValue = str | list[str]
Headers = Mapping[str, HeaderValue]

ARRAY_PREFIX = "ARRAY::"
ARRAY_SEPARATOR = "|:"

_NUL = b"\0"
# What FreeSWITCH's switch_url_encode leaves as it is.
_UNENCODED = "-_.!~*'()/@[];=,+&?$#"


def decode_header_block(block: bytes, offset: int) -> dict[str, HeaderValue]:
    """Decode the lines of one header block (without its terminating blank line)."""
    if not block:
        return {}
    names: list[bytes] = []
    values: list[bytes] = []
    for line in block.split(b"\n"):
        name, colon, value = line.partition(b":")
        if not colon:
            raise ProtocolError(f"header line without a colon: {line[:80]!r}", offset)
        if not name:
            raise ProtocolError(f"header line with an empty name: {line[:80]!r}", offset)
        names.append(name)
        values.append(value.lstrip(b" "))
    pairs = list(zip(_decode_texts(names), _percent_decode_texts(values)))
    headers = dict(pairs)
    if len(headers) != len(pairs):
        headers = keep_first_values(pairs)
    if b"ARRAY" in block:  # also catches the percent-encoded form, ARRAY%3A%3A
        return {name: split_array(value) for name, value in headers.items()}
    return headers


def keep_first_values(pairs: Iterable[tuple[str, HeaderValue]]) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    for name, value in pairs:
        headers.setdefault(name, value)
    return headers


def split_array(value: HeaderValue) -> HeaderValue:
    if isinstance(value, str) and value.startswith(ARRAY_PREFIX):
        return value[len(ARRAY_PREFIX) :].split(ARRAY_SEPARATOR)
    return value


def encode_header_block(headers: Headers) -> str:
    """The inverse of :func:`decode_header_block`, one ``Name: value`` line each, newline-ended."""
    return "".join(f"{name}: {quote(join_array(value), safe=_UNENCODED)}\n" for name, value in headers.items())


def join_array(value: HeaderValue) -> str:
    return value if isinstance(value, str) else ARRAY_PREFIX + ARRAY_SEPARATOR.join(value)


def _decode_texts(items: list[bytes]) -> list[str]:
    # Decoding all items at once is much faster than one by one. A NUL cannot
    # start or end a UTF-8 sequence, so joining on it changes no decoding; an
    # item that holds one shows in the piece count and is decoded on its own.
    texts = _NUL.join(items).decode("utf-8", "replace").split("\0")
    if len(texts) != len(items):
        texts = [item.decode("utf-8", "replace") for item in items]
    return texts


def _percent_decode_texts(values: list[bytes]) -> list[str]:
    joined = _NUL.join(values)
    if b"%" not in joined:
        return _decode_texts(values)
    if b"%00" in joined:  # a decoded NUL would pass for a separator
        return _decode_texts([percent_decode(value) for value in values])
    return _decode_texts(percent_decode(joined).split(_NUL))


def percent_decode(data: bytes) -> bytes:
    """``%XX`` to the byte XX, as libesl's esl_url_decode; anything else stays."""
    try:
        # escape_decode runs in C; %XX becomes \\xXX once existing backslashes are escaped.
        return codecs.escape_decode(data.replace(b"\\", b"\\\\").replace(b"%", b"\\x"))[0]
    except ValueError:  # a % not followed by two hex digits
        return unquote_to_bytes(data)
