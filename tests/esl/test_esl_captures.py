"""Every capture decodes to exactly its .frames.jsonl, however the bytes are chunked."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterable
from pathlib import Path

import pytest
from esl_captures import Capture

from bizpbx.cli import main
from bizpbx.esl.events import Event
from bizpbx.esl.protocol import FrameParser, Received, decoded_form


def decode_chunks(chunks: Iterable[bytes]) -> list[dict]:
    parser = FrameParser()
    items: list[Received] = []
    for chunk in chunks:
        items += parser.feed(chunk)
    parser.end_of_stream()
    return [decoded_form(item) for item in items]


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)]


def random_chunks(data: bytes, seed: str) -> list[bytes]:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, 200)))
    return [data[start:end] for start, end in zip([0, *cuts], [*cuts, len(data)])]


def test_decodes_whole(capture: Capture) -> None:
    assert decode_chunks([capture.fs_bytes]) == capture.frames


@pytest.mark.parametrize("size", [1, 7, 4096])
def test_decodes_in_chunks_of_fixed_size(capture: Capture, size: int) -> None:
    assert decode_chunks(chunked(capture.fs_bytes, size)) == capture.frames


@pytest.mark.parametrize("seed", ["a", "b", "c"])
def test_decodes_in_random_chunks(capture: Capture, seed: str) -> None:
    assert decode_chunks(random_chunks(capture.fs_bytes, seed + capture.name)) == capture.frames


def test_decodes_split_at_every_byte(small_capture: Capture) -> None:
    data = small_capture.fs_bytes
    for split in range(len(data) + 1):
        assert decode_chunks([data[:split], data[split:]]) == small_capture.frames, f"split at byte {split}"


def test_esl_dump_prints_the_frames_file(capture: Capture, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["esl-dump", str(capture.fs_path)]) == 0
    assert capsys.readouterr().out == capture.frames_text


def test_esl_dump_reads_standard_input(
    capture: Capture, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(capture.fs_bytes))))
    assert main(["esl-dump", "-"]) == 0
    assert capsys.readouterr().out == capture.frames_text


def test_esl_dump_names_the_offset_of_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = Capture.load("auth-failure")
    damaged = tmp_path / "damaged.bin"
    first_frame = b"Content-Type: auth/request\n\n"
    assert capture.fs_bytes.startswith(first_frame)
    damaged.write_bytes(first_frame + b"Content-Type: api/response\nContent-Length: many\n\n")
    assert main(["esl-dump", str(damaged)]) == 1
    printed = capsys.readouterr()
    assert printed.out == capture.frames_text.splitlines(keepends=True)[0]
    assert f"Content-Length 'many' is not a byte count (at byte {len(first_frame)})" in printed.err


def test_esl_dump_says_when_the_file_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["esl-dump", str(tmp_path / "absent.bin")]) == 1
    assert "absent.bin" in capsys.readouterr().err


def test_event_name_fast_path_agrees_with_the_headers(capture: Capture) -> None:
    events = [item for item in FrameParser().feed(capture.fs_bytes) if isinstance(item, Event)]
    assert [event.name for event in events] == [event.headers.get("Event-Name") for event in events]
    assert [event.name for event in events] == [frame["headers"]["Event-Name"] for frame in capture.events]


def test_a_header_sent_twice_keeps_its_first_value() -> None:
    """FACTS: plain hangup events carry Hangup-Cause twice (here CHANNEL_HANGUP_COMPLETE, both values alike)."""
    capture = Capture.load("inbound-plain")
    events = [item for item in FrameParser().feed(capture.fs_bytes) if isinstance(item, Event)]
    twice = [event for event in events if event.raw.count(b"\nHangup-Cause: ") == 2]
    assert twice
    for event in twice:
        first = event.raw.split(b"\nHangup-Cause: ", 1)[1].split(b"\n", 1)[0].decode()
        assert event.headers["Hangup-Cause"] == first


def test_of_two_different_values_the_first_wins() -> None:
    raw = b"Event-Name: CHANNEL_HANGUP\nHangup-Cause: USER_BUSY\nHangup-Cause: NORMAL_CLEARING\n\n"
    assert Event("text/event-plain", raw).headers["Hangup-Cause"] == "USER_BUSY"
    document = b'{"Event-Name":"CHANNEL_HANGUP","Hangup-Cause":"USER_BUSY","Hangup-Cause":"NORMAL_CLEARING"}'
    assert Event("text/event-json", document).headers["Hangup-Cause"] == "USER_BUSY"


def test_the_connect_reply_is_the_channel_data_percent_decoded() -> None:
    """FACTS: Reply-Text arrives as %2BOK%0A; variable_DP_MATCH as an ARRAY."""
    capture = Capture.load("outbound-ivr")
    assert b"Reply-Text: %2BOK%0A\n" in capture.fs_bytes
    connect_reply = FrameParser().feed(capture.fs_bytes)[0]
    assert connect_reply.headers["Reply-Text"] == "+OK\n"
    assert connect_reply.headers["Event-Name"] == "CHANNEL_DATA"
    assert connect_reply.headers["variable_DP_MATCH"] == ["74952121562", "74952121562"]


def test_plain_and_json_events_have_the_same_shape() -> None:
    def shapes(capture: Capture) -> dict[str, set[tuple[str, type]]]:
        by_name: dict[str, set[tuple[str, type]]] = {}
        for frame in capture.events:
            kinds = {(name, type(value)) for name, value in frame["headers"].items()}
            by_name.setdefault(frame["headers"]["Event-Name"], set()).update(kinds)
        return by_name

    plain, json_ = Capture.load("inbound-plain"), Capture.load("inbound-json")
    assert shapes(plain) == shapes(json_)
    assert [frame["body"] for frame in plain.events if frame["body"] is not None] != []


def test_the_frames_files_are_json_lines_in_the_decoded_form(capture: Capture) -> None:
    for line in capture.frames_text.splitlines():
        assert list(json.loads(line)) == ["type", "headers", "body"]
