"""Header blocks as libesl reads and FreeSWITCH writes them.

A header block is ``Name: value`` lines. Values are percent-decoded after the
lines are split (so an encoded ``%0A`` stays inside its value), a header that
occurs twice keeps its first value (libesl's ``get_header`` answers the first),
and ``ARRAY::a|:b`` becomes the list ``["a", "b"]``.
"""

from __future__ import annotations

import codecs
from itertools import compress, repeat
from collections.abc import Iterable, Mapping, Sequence
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
    # Events carry 100-300 headers: map() over method descriptors and work on
    # all names or all values joined keep the per-line work in C.
    lines = block.split(b"\n")
    names, colons, values = zip(*map(bytes.partition, lines, repeat(b":")))
    if b"" in colons:
        raise ProtocolError(f"header line without a colon: {lines[colons.index(b'')][:80]!r}", offset)
    if b"" in names:
        raise ProtocolError(f"header line with an empty name: {lines[names.index(b'')][:80]!r}", offset)
    name_texts = _decode_texts(names)
    value_texts = _decode_texts(list(map(bytes.lstrip, values, repeat(b" "))), percent=True)  # libesl skips the spaces
    headers: dict[str, HeaderValue] = dict(zip(name_texts, value_texts))
    if len(headers) != len(name_texts):
        headers = keep_first_values(zip(name_texts, value_texts))
    if b"ARRAY" in block:  # also catches the percent-encoded form, ARRAY%3A%3A
        for name in compress(name_texts, map(str.startswith, value_texts, repeat(ARRAY_PREFIX))):
            headers[name] = split_array(headers[name])
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


def _decode_texts(items: Sequence[bytes], *, percent: bool = False) -> list[str]:
    """UTF-8 decode every item, percent-decoding it first if asked."""
    # Decoding all items joined on NUL is much faster than one by one, and
    # exact: a NUL cannot start or end a UTF-8 sequence or an escape. An item
    # that holds a NUL, raw or encoded, is caught by the piece count or the
    # %00 test, and then every item is decoded on its own.
    joined = _NUL.join(items)
    if percent and b"%" in joined:
        if b"%00" in joined:
            return [_decode_text(item, percent) for item in items]
        joined = percent_decode(joined)
    texts = joined.decode("utf-8", "replace").split("\0")
    if len(texts) != len(items):
        return [_decode_text(item, percent) for item in items]
    return texts


def _decode_text(item: bytes, percent: bool) -> str:
    return (percent_decode(item) if percent else item).decode("utf-8", "replace")


def percent_decode(data: bytes) -> bytes:
    """``%XX`` to the byte XX, as libesl's esl_url_decode; anything else stays."""
    try:
        # escape_decode runs in C; %XX becomes \\xXX once existing backslashes are escaped.
        return codecs.escape_decode(data.replace(b"\\", b"\\\\").replace(b"%", b"\\x"))[0]
    except ValueError:  # a % not followed by two hex digits
        return unquote_to_bytes(data)
