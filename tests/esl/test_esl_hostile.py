"""Hostile bytes on an event socket (issue 10): the decoder answers with its
own ProtocolError, never a ValueError or UnicodeError from inside Python."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bizpbx.cli import main
from bizpbx.esl.errors import ProtocolError
from bizpbx.esl.events import JSON
from bizpbx.esl.protocol import FrameParser, decoded_form

HUGE = b"9" * 4400  # over Python's 4300-digit limit for int()


def json_event(body: bytes) -> bytes:
    return b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(body) + body


def decode_all(data: bytes) -> list[dict]:
    parser = FrameParser()
    decoded = [decoded_form(item) for item in parser.feed(data)]
    parser.end_of_stream()
    return decoded


@pytest.mark.parametrize(
    "head",
    [
        b"Content-Length: " + HUGE + b"\nContent-Type: text/event-plain\n\n",  # the events' fast path
        b"Content-Type: api/response\nContent-Length: " + HUGE + b"\n\n",
    ],
)
def test_a_content_length_of_thousands_of_digits_is_a_protocol_error(head):
    with pytest.raises(ProtocolError, match=r"Content-Length of \d+ digits is not a byte count \(at byte 0\)"):
        FrameParser().feed(head)


def test_leading_zeros_alone_do_not_make_a_length_too_long():
    [frame] = decode_all(b"Content-Type: api/response\nContent-Length: 00000000000000000002\n\nok")
    assert frame["body"] == "ok"


def test_a_plain_event_whose_own_length_is_huge_is_a_protocol_error():
    body = b"Event-Name: CUSTOM\nContent-Length: " + HUGE + b"\n\n"
    data = b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body
    with pytest.raises(ProtocolError, match="digits is not a byte count"):
        decode_all(data)


@pytest.mark.parametrize(
    "body",
    [
        rb'{"Event-Name":"CUSTOM","Caller-Caller-ID-Name":"\ud800"}',
        rb'{"Event-Name":"CUSTOM","\udfff":"x"}',
        rb'{"Event-Name":"CUSTOM","variable_DP_MATCH":["a","\uDBFF"]}',
        rb'{"Event-Name":"CUSTOM","_body":"\ud800 hello","Content-Length":"10"}',
    ],
)
def test_a_json_event_with_a_lone_surrogate_is_a_protocol_error(body):
    with pytest.raises(ProtocolError, match=r"JSON event: header .* holds an unpaired surrogate escape \(not text\) \(at byte 0\)"):
        decode_all(json_event(body))


def test_a_surrogate_pair_is_one_character():
    [event] = decode_all(json_event(rb'{"Event-Name":"CUSTOM","Caller-Caller-ID-Name":"\ud83d\ude00 \u0418"}'))
    assert event["headers"]["Caller-Caller-ID-Name"] == "\U0001f600 И"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"Content-Type: api/response\nContent-Length: " + HUGE + b"\n\n", "Content-Length of 4400 digits is not a byte count (at byte 0)"),
        (json_event(rb'{"Event-Name":"CUSTOM","x":"\ud800"}'), "JSON event: header 'x' holds an unpaired surrogate escape (not text) (at byte 0)"),
        (b"\x1f\x8b\x08\x00" + b"\xff" * 40, "not a readable gzip file"),
    ],
)
def test_esl_dump_reports_hostile_input_without_a_traceback(tmp_path: Path, capsys, content, message):
    path = tmp_path / "stream.bin"
    path.write_bytes(content)
    assert main(["esl-dump", str(path)]) == 1
    printed = capsys.readouterr()
    assert printed.err.startswith(f"bizpbx esl-dump: {path}: ") and message in printed.err


text_with_surrogates = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=20)


@given(st.dictionaries(text_with_surrogates, text_with_surrogates | st.lists(text_with_surrogates, max_size=3), max_size=5))
def test_every_decoded_json_event_is_utf8_text_or_a_protocol_error(document):
    # json.dumps escapes what UTF-8 cannot carry: \ud800 on its own included.
    data = json_event(json.dumps({"Event-Name": "CUSTOM", **document}).encode())
    try:
        decoded = decode_all(data)
    except ProtocolError:
        return
    assert decoded[0]["type"] == JSON
    json.dumps(decoded, ensure_ascii=False).encode("utf-8")  # what esl-dump writes: must not raise


def test_gzip_of_a_hostile_stream_is_read_like_the_stream(tmp_path: Path, capsys):
    path = tmp_path / "stream.bin.gz"
    path.write_bytes(gzip.compress(b"Content-Type: api/response\nContent-Length: " + HUGE + b"\n\n"))
    assert main(["esl-dump", str(path)]) == 1
    assert "Content-Length of 4400 digits is not a byte count" in capsys.readouterr().err


# --- found by bench/fuzz_inputs.py ------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"Event-Name":"CUSTOM","x":"\xed\xa0\x80"}',  # a surrogate encoded in UTF-8: json.loads(bytes) let it through
        b'{"Event-Name":"CUSTOM","x":"\xff"}',
        b'\x00{\x00"\x00a\x00"\x00:\x00"\x00b\x00"\x00}',  # json.loads(bytes) would have read this as UTF-16
    ],
)
def test_a_json_event_that_is_not_utf8_is_a_protocol_error(body):
    with pytest.raises(ProtocolError, match=r"JSON event: not UTF-8 text \(byte \d+ of the event\)|JSON event: Expecting value"):
        decode_all(json_event(body))
