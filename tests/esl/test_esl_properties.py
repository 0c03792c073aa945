"""Property tests: no input crashes the decoder, and encoding then decoding gives back what went in."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

import pytest
from esl_captures import Capture

from bizpbx.esl import commands
from bizpbx.esl.commands import Command, CommandError
from bizpbx.esl.errors import ProtocolError
from bizpbx.esl.events import JSON, PLAIN, Event
from bizpbx.esl.headers import ARRAY_PREFIX, ARRAY_SEPARATOR
from bizpbx.esl.protocol import (
    API_RESPONSE,
    AUTH_REQUEST,
    COMMAND_REPLY,
    DISCONNECT_NOTICE,
    LOG_DATA,
    RUDE_REJECTION,
    Frame,
    FrameParser,
    decoded_form,
    encode,
)


def decode_fully(chunks: list[bytes]) -> list[dict]:
    """Feed the chunks and read every decoded field (events decode lazily)."""
    parser = FrameParser()
    decoded = []
    for chunk in chunks:
        decoded += [decoded_form(item) for item in parser.feed(chunk)]
    parser.end_of_stream()
    return decoded


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[start:end] for start, end in zip(points, points[1:])]


# Inputs close to valid frames reach deeper than uniformly random bytes.
_FRAGMENTS = [
    b"Content-Type: ",
    b"text/event-plain",
    b"text/event-json",
    b"command/reply",
    b"api/response",
    b"Content-Length: ",
    b"Content-Length: 5",
    b"Content-Length: 99999999999",
    b"Event-Name: X",
    b"ARRAY::",
    b"ARRAY%3A%3Aa%7C%3Ab",
    b"%",
    b"%0A",
    b"%zz",
    b"%00",
    b": ",
    b":",
    b"\n",
    b"\n\n",
    b"{",
    b'{"Event-Name":"X"}',
    b'"_body":',
    b"\xff\xfe",
    b"\\x",
]
stream_like = st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.binary(max_size=12)), max_size=30).map(b"".join)


@given(data=st.one_of(st.binary(), stream_like), cuts=st.lists(st.integers(min_value=0), max_size=5))
@example(data=b"Content-Type: text/event-json\nContent-Length: 2\n\n[]", cuts=[])
@example(data=b"Content-Type: text/event-plain\nContent-Length: 3\n\nA:b", cuts=[])
@example(data=b"Content-Length: 1\n\nx", cuts=[])
def test_any_bytes_decode_or_raise_protocol_error(data: bytes, cuts: list[int]) -> None:
    try:
        decode_fully(split_at(data, cuts))
    except ProtocolError as error:
        assert 0 <= error.offset <= len(data)


@given(position=st.integers(min_value=0), replacement=st.binary(max_size=4), cuts=st.lists(st.integers(), max_size=3))
def test_damaged_captures_decode_or_raise_protocol_error(position: int, replacement: bytes, cuts: list[int]) -> None:
    data = Capture.load("outbound-hangup").fs_bytes
    position %= len(data)
    damaged = data[:position] + replacement + data[position + 2 :]
    try:
        decode_fully(split_at(damaged, cuts))
    except ProtocolError as error:
        assert 0 <= error.offset <= len(damaged)


def test_oversized_frames_are_refused_before_they_are_read() -> None:
    with pytest.raises(ProtocolError, match="over the 16777216-byte limit"):
        FrameParser().feed(b"Content-Type: api/response\nContent-Length: 16777217\n\n")
    with pytest.raises(ProtocolError, match="larger than 16777216 bytes"):
        FrameParser().feed(b"Content-Type: api/response\nX: " + b"x" * (16 * 1024 * 1024))


@pytest.mark.parametrize(
    ("data", "message", "offset"),
    [
        (b"Content-Type: command/reply\n\n\nX", "blank line where a frame's headers should start", 29),
        (b"Reply-Text: +OK\n\n", "frame without a Content-Type", 0),
        (b"Content-Type: command/reply\n\nno colon here\n\n", "header line without a colon", 29),
        (b"Content-Type: api/response\nContent-Length: -1\n\n", "is not a byte count", 0),
        (b"Content-Type: text/event-plain\n\n", "frame without a Content-Length", 0),
    ],
)
def test_malformed_frames_are_named_with_their_offset(data: bytes, message: str, offset: int) -> None:
    with pytest.raises(ProtocolError, match=message) as raised:
        decode_fully([data])
    assert raised.value.offset == offset
    assert f"(at byte {offset})" in str(raised.value)


def test_frames_before_bad_bytes_come_out_before_the_error() -> None:
    parser = FrameParser()
    good = b"Content-Type: auth/request\n\n"
    [frame] = parser.feed(good + b"no colon\n\n")
    assert frame.content_type == AUTH_REQUEST
    for later_call in (lambda: parser.feed(b"more"), parser.end_of_stream):
        with pytest.raises(ProtocolError, match="header line without a colon") as raised:
            later_call()
        assert raised.value.offset == len(good)


def test_a_stream_cut_inside_a_frame_is_an_error() -> None:
    parser = FrameParser()
    parser.feed(b"Content-Type: auth/request\n\nContent-Type: api/response\nContent-Length: 10\n\nabc")
    with pytest.raises(ProtocolError, match="inside the body of a api/response frame") as raised:
        parser.end_of_stream()
    assert raised.value.offset == 28


# Names FreeSWITCH could send: no colon or line break, not the frame's own headers.
header_names = st.text(st.characters(blacklist_characters=":\n\0", blacklist_categories=("Cs",)), min_size=1).filter(
    lambda name: name not in ("Content-Type", "Content-Length", "_body")
)
texts = st.text(st.characters(blacklist_categories=("Cs",)))
array_items = texts.filter(lambda item: ARRAY_SEPARATOR not in item)
header_values = st.one_of(
    texts.filter(lambda value: not value.startswith(ARRAY_PREFIX)),
    st.lists(array_items, min_size=1).filter(lambda items: not (len(items) == 1 and items[0].startswith(ARRAY_PREFIX))),
)
headers = st.dictionaries(header_names, header_values, max_size=8)
frame_types = st.sampled_from([AUTH_REQUEST, COMMAND_REPLY, API_RESPONSE, DISCONNECT_NOTICE, RUDE_REJECTION, LOG_DATA])
frames = st.builds(Frame, frame_types, headers, st.none() | texts)
events = st.builds(Event.build, st.sampled_from([PLAIN, JSON]), headers, st.none() | texts)


@given(items=st.lists(frames | events, max_size=5), cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_frames_and_events_round_trip(items: list, cuts: list[int]) -> None:
    data = b"".join(encode(item) for item in items)
    assert decode_fully(split_at(data, cuts)) == [decoded_form(item) for item in items]


@given(content_type=st.sampled_from([PLAIN, JSON]), event_headers=headers, body=st.none() | texts)
def test_event_build_then_decode_gives_back_headers_and_body(content_type, event_headers, body) -> None:
    event = Event.build(content_type, event_headers, body)
    assert (dict(event.headers), event.body) == (event_headers, body)


@given(event_headers=headers, name=st.sampled_from(["Unique-ID", "Application-UUID", "Job-UUID", "Event-Subclass"]), value=header_values, body=st.none() | texts)
def test_the_headers_read_without_decoding_are_what_decoding_gives(event_headers, name, value, body) -> None:
    """Unique-ID, Application-UUID and the like are read from a plain event's bytes; the answer must be decoding's."""
    built = Event.build(PLAIN, {**event_headers, name: value}, body)
    fresh = Event(PLAIN, built.raw)  # not decoded yet
    peeked = {"Unique-ID": fresh.unique_id, "Application-UUID": fresh.application_uuid, "Job-UUID": fresh.job_uuid, "Event-Subclass": fresh.subclass}[name]
    decoded = built.headers.get(name)
    assert peeked == (decoded if isinstance(decoded, str) else None)


words = st.text(st.characters(blacklist_categories=("Cs", "Zs", "Cc", "Zl", "Zp")), min_size=1)
arguments = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), min_size=1)
command_builders = st.one_of(
    st.builds(commands.auth, arguments),
    st.builds(commands.api, arguments),
    st.builds(commands.bgapi, arguments, st.none() | words),
    st.builds(commands.event, st.sampled_from(commands.EVENT_FORMATS), st.lists(words, min_size=1), st.lists(words)),
    st.builds(commands.filter, words, arguments),
    st.builds(commands.execute, words, st.none() | arguments, uuid=st.none() | words, event_uuid=st.none() | words),
    st.builds(commands.hangup, words, uuid=st.none() | words),
    st.builds(commands.myevents, st.none() | st.sampled_from(commands.EVENT_FORMATS), uuid=st.none() | words),
    st.builds(commands.linger, st.none() | st.integers(min_value=0, max_value=3600)),
    st.builds(commands.log, st.integers(min_value=0, max_value=7)),
    st.sampled_from(
        [commands.connect(), commands.exit(), commands.noevents(), commands.nolog(), commands.nolinger()]
    ),
)


@given(command=command_builders)
def test_commands_round_trip(command: Command) -> None:
    encoded = command.encode()
    head, blank, body = encoded.partition(b"\n\n")  # one blank line ends the head; a body, if any, follows
    assert blank and body == command.body.encode() and b"\n\n" not in head
    assert Command.decode(encoded) == command


line_breaks = st.sampled_from(["\n", "\r", "\r\n"])


@given(before=arguments, line_break=line_breaks, after=arguments)
def test_a_line_break_in_any_argument_is_refused(before: str, line_break: str, after: str) -> None:
    value = before + line_break + after
    for build in (
        commands.api,
        commands.bgapi,
        lambda value: commands.bgapi("status", value),
        lambda value: commands.execute("playback", value),
        lambda value: commands.execute("playback", "x", uuid=value),
        lambda value: commands.filter("Unique-ID", value),
        lambda value: commands.hangup(value),
        lambda value: commands.log(value),
    ):
        with pytest.raises(CommandError):
            build(value)


@given(before=arguments, line_break=line_breaks, after=arguments)
def test_a_refused_password_is_not_quoted(before: str, line_break: str, after: str) -> None:
    with pytest.raises(CommandError) as raised:
        commands.auth(before + line_break + after)
    with pytest.raises(CommandError) as other:
        commands.auth("another\npassword")
    assert str(raised.value) == str(other.value)  # the message does not depend on the password


def test_the_password_is_not_in_the_repr_of_auth() -> None:
    assert "labsecret" not in repr(commands.auth("labsecret"))
    assert commands.auth("labsecret").encode() == b"auth labsecret\n\n"


def test_custom_subclasses_go_last() -> None:
    command = commands.event("plain", ["CHANNEL_CREATE", "CUSTOM", "DTMF"], ["sofia::register"])
    assert command.encode() == b"event plain CHANNEL_CREATE DTMF CUSTOM sofia::register\n\n"


def test_a_cyrillic_caller_name_percent_encoded_byte_by_byte_decodes() -> None:
    """FACTS: caller names arrive as UTF-8, percent-encoded byte by byte, in plain events."""
    name = "Иван Петров"
    encoded = "".join(f"%{byte:02X}" for byte in name.encode())
    raw = f"Event-Name: CHANNEL_CREATE\nCaller-Caller-ID-Name: {encoded}\n\n".encode()
    assert Event(PLAIN, raw).headers["Caller-Caller-ID-Name"] == name


def test_content_length_counts_bytes_not_characters() -> None:
    body = "Иван\n"
    data = b"Content-Type: api/response\nContent-Length: %d\n\n" % len(body.encode()) + body.encode()
    frames = FrameParser().feed(data + b"Content-Type: auth/request\n\n")
    assert [frame.content_type for frame in frames] == [API_RESPONSE, AUTH_REQUEST]  # the next frame found
    assert frames[0].body == body
