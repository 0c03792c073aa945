"""Reading cdr_csv and JSON lines: every bad line named by its number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bizpbx.cdr import CDR_COLUMNS, cdr_csv_template
from bizpbx.rating import Direction
from bizpbx.rating.cdr_input import COLUMNS, CdrError, parse_cdr_file, parse_cdr_line
from bizpbx.settings import NumberKind

GOOD = {
    "uuid": "a1",
    "organization": "12",
    "direction": "outbound",
    "called_number": "+74951112233",
    "number_kind": "",
    "caller": "101",
    "callee": "84951112233",
    "start_epoch": "1795589990",
    "answer_epoch": "1795590000",
    "end_epoch": "1795590061",
    "duration": "71",
    "billsec": "61",
    "hangup_cause": "NORMAL_CLEARING",
    "trunk": "carrier",
    "bridge_epoch": "1795590000",
    "answered_by": "number:+74951112233",
    "voicemail": "",
    "recording": "/var/lib/bizpbx/recordings/1b1e4d52-4d8c-4c3e-9d0a-2f0e6c1a7b11.wav",
}


def csv_line(**changes: str) -> str:
    """A line as mod_cdr_csv writes it from the renderer's template: each
    variable of the template replaced raw by its value, or by FreeSWITCH's
    url_encode of it where the template asks for that."""
    values = {**GOOD, **changes}
    line = cdr_csv_template()
    for column, variable in CDR_COLUMNS:
        encoded = "${url_encode(${" + variable + "})}"
        if encoded in line:
            line = line.replace(encoded, fs_url_encode(values[column]), 1)
        else:
            line = line.replace("${" + variable + "}", values[column], 1)
    return line


def fs_url_encode(value: str) -> str:
    """switch_url_encode of FreeSWITCH 1.10: these characters, controls and non-ASCII bytes as %XX."""
    unsafe = set(' <>#%{}|\\^~[]`\'";/?:@&=+$,')
    return "".join(
        f"%{byte:02X}" if byte < 0x20 or byte > 0x7E or chr(byte) in unsafe else chr(byte) for byte in value.encode()
    )


def test_who_answered_and_when_are_read() -> None:
    record = parse_cdr_line(csv_line(bridge_epoch="1795590004", answered_by="extension:101", voicemail=""))
    assert (record.bridge_epoch, record.answered_by, record.end_epoch) == (1795590004, "extension:101", 1795590061)
    assert record.answered_by_person
    unanswered = parse_cdr_line(csv_line(bridge_epoch="0", answered_by="", voicemail="100"))
    assert not unanswered.answered_by_person and unanswered.voicemail == "100"  # the switch answered for voicemail


def test_a_line_written_before_the_later_columns_reads_with_them_unknown() -> None:
    old = ",".join(csv_line().split(",")[:14])
    record = parse_cdr_line(old)
    assert (record.bridge_epoch, record.answered_by, record.voicemail) == (None, "", "")
    assert record.answered_by_person, "without bridge_epoch the switch's answer is all there is"
    with pytest.raises(CdrError, match="15 columns where a bizpbx CDR has 18"):
        parse_cdr_line(",".join(csv_line().split(",")[:15]))
    # Before the recording's column: read without one.
    before_recordings = parse_cdr_line(",".join(csv_line(voicemail="100").split(",")[:17]))
    assert (before_recordings.voicemail, before_recordings.recording) == ("100", "")
    assert parse_cdr_line(csv_line()).recording == GOOD["recording"]


@pytest.mark.parametrize("caller", ['"evil","x', "1%22,2", "line\nbreak", "Иван,\"Петров\""])
def test_a_caller_id_cannot_break_a_cdr_line(caller: str) -> None:
    record = parse_cdr_line(csv_line(caller=caller, callee=caller))
    assert (record.caller, record.callee, record.trunk) == (caller, caller, "carrier")


def test_the_parser_reads_the_renderer_columns() -> None:
    assert COLUMNS == tuple(GOOD)


def test_a_csv_line() -> None:
    record = parse_cdr_line(csv_line())
    assert (record.uuid, record.direction, record.answer_epoch, record.billsec, record.number_kind, record.trunk) == (
        "a1", Direction.OUTBOUND, 1795590000, 61, None, "carrier"
    )


def test_a_json_line_with_numbers_as_numbers() -> None:
    data = {**GOOD, "answer_epoch": 1795590000, "billsec": 61, "number_kind": "hotline", "direction": "inbound"}
    record = parse_cdr_line(json.dumps(data))
    assert (record.billsec, record.number_kind, record.direction) == (61, NumberKind.HOTLINE, Direction.INBOUND)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (csv_line(uuid=""), "uuid is empty"),
        (csv_line(direction="sideways"), "direction 'sideways'"),
        (csv_line(number_kind="premium"), "number_kind 'premium'"),
        (csv_line(billsec="-3"), "billsec '-3'"),
        (csv_line(billsec="1.5"), "billsec '1.5'"),
        (csv_line(answer_epoch="0"), "never answered"),
        (csv_line(answer_epoch=""), "answer_epoch ''"),
        (csv_line() + ',"extra"', "19 columns"),
        ('"a1","12"', "2 columns"),
        ('"a1","12,outbound', "CSV"),
        ("{not json", "not JSON"),
        ("[1, 2]", "2 columns"),  # only a line starting with { is read as JSON
        (json.dumps({"uuid": "x", "direction": "internal", "colour": "red"}), "unknown column(s) colour"),
        (json.dumps({**GOOD, "billsec": 6.5}), "billsec must be"),
        (json.dumps({**GOOD, "billsec": True}), "billsec must be"),
    ],
)
def test_bad_lines_say_why(line: str, reason: str) -> None:
    with pytest.raises(CdrError) as caught:
        parse_cdr_line(line)
    assert reason in str(caught.value)


def test_a_file_gives_every_line_its_number(tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    lines = [csv_line(uuid="a"), "", csv_line(uuid="b", direction="up"), json.dumps({**GOOD, "uuid": "c"}), csv_line(uuid="d")]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'"e","\xff\xfe"\n')
    results = [(n, r.uuid if not isinstance(r, CdrError) else "error") for n, r in parse_cdr_file(path)]
    assert results == [(1, "a"), (3, "error"), (4, "c"), (5, "d"), (6, "error")]
    assert "not UTF-8" in str(dict(parse_cdr_file(path))[6])


def test_a_broken_line_breaks_only_itself(tmp_path: Path) -> None:
    # A line that is not CSV (say, written by a template of before the
    # caller ID was encoded) is reported; the rest are still read.
    broken = csv_line(uuid="b").replace('"101"', '"Иван "Ваня"', 1)
    path = tmp_path / "Master.csv"
    path.write_text("\n".join([csv_line(uuid="a"), broken, csv_line(uuid="c")]) + "\n", encoding="utf-8")
    kinds = [(n, isinstance(r, CdrError)) for n, r in parse_cdr_file(path)]
    assert kinds == [(1, False), (2, True), (3, False)]
