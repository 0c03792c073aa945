"""Hostile and half-written CDR files (issue 10): one bad line never loses the
file's good lines, a line still being written is not rated with what fields
it has, and a call UUID read twice with different data is told."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from test_cdr_input import GOOD, csv_line
from test_rating_cli import call_line, ledger_path, write  # noqa: F401 - ledger_path is a fixture

from bizpbx.cli import main
from bizpbx.ledger import Ledger
from bizpbx.rating import CallRecord
from bizpbx.rating.cdr_input import CdrError, parse_cdr_file, parse_cdr_line

HOSTILE_LINES = {
    "a JSON number of 5000 digits": '{"uuid":"x","billsec":' + "9" * 5000 + "}",
    "a JSON number of 5000 digits as a key's value inside a list": '{"uuid":["' + "x" + '",' + "1" * 5000 + "]}",
    "a CSV billsec of 4400 digits": csv_line(uuid="big", billsec="9" * 4400),
    "a JSON billsec string of 4400 digits": json.dumps({**GOOD, "billsec": "9" * 4400}),
    "an answer_epoch beyond the year 2286": csv_line(uuid="far", answer_epoch="1" * 11),
    "JSON nested 100000 deep": '{"uuid":' + "[" * 100_000 + "]" * 100_000 + "}",
    "a lone surrogate in the uuid": json.dumps({**GOOD, "uuid": "a\ud800"}),
    "a lone surrogate in the caller": json.dumps({**GOOD, "caller": "\udfff"}),
    "infinity": '{"uuid":"x","billsec":1e999}',
    "NaN": '{"uuid":"x","billsec":NaN}',
    "a float of 5000 digits": '{"uuid":"x","billsec":0.' + "1" * 5000 + "}",
    "a line cut after a comma": csv_line(uuid="cut")[: csv_line(uuid="cut").rindex(",") + 1],
}


@pytest.mark.parametrize("line", HOSTILE_LINES.values(), ids=HOSTILE_LINES.keys())
def test_a_hostile_line_is_a_cdr_error(line: str) -> None:
    with pytest.raises(CdrError) as caught:
        parse_cdr_line(line)
    assert len(str(caught.value)) < 300, "the reason quotes a short excerpt at most"


@given(st.text(max_size=200))
@example('{"uuid":' + "9" * 5000 + "}")
@example('{"a":"\\ud800"}')
@example(csv_line()[:-1])
def test_any_line_is_a_record_or_a_cdr_error(line: str) -> None:
    try:
        record = parse_cdr_line(line.strip())
    except CdrError:
        return
    assert isinstance(record, CallRecord)
    record.uuid.encode("utf-8")  # storable: no surrogate
    assert record.billsec < 10**10 and record.answer_epoch < 10**10


def test_a_bad_line_loses_none_of_the_good_ones(lab_site_copy: Path, ledger_path: Path, tmp_path: Path, capsys) -> None:  # noqa: F811
    cdrs = write(
        tmp_path / "Master.csv",
        [
            call_line("good-1", "+74951112233", 61),
            HOSTILE_LINES["a JSON number of 5000 digits"],
            call_line("good-2", "+74951112233", 62),
            HOSTILE_LINES["a lone surrogate in the uuid"],
            call_line("good-3", "+74951112233", 63),
            HOSTILE_LINES["a CSV billsec of 4400 digits"],
            call_line("good-4", "+74951112233", 64),
        ],
    )
    assert main(["rate", str(lab_site_copy), str(cdrs)]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert f"{cdrs}:2: a number of 5000 digits is no CDR value" in err
    assert f"{cdrs}:4: uuid holds an unpaired surrogate escape" in err
    assert f"{cdrs}:6: billsec '" in err and "is not a whole number of seconds (at most 10 digits)" in err
    assert out.startswith("4 new, 0 already stored") and out.strip().endswith("3 bad lines")
    with Ledger(ledger_path) as ledger:
        assert [ledger.has(f"good-{n}") for n in range(1, 5)] == [True] * 4


def test_a_last_line_without_its_newline_is_not_rated_yet(lab_site_copy: Path, ledger_path: Path, tmp_path: Path, capsys) -> None:  # noqa: F811
    whole = call_line("late", "+74951112233", 61)
    cut = whole[: whole.rindex(",") + 1]  # mod_cdr_csv was writing its last column
    cdrs = tmp_path / "Master.csv"
    cdrs.write_text(call_line("early", "+74951112233", 30) + "\n" + cut, encoding="utf-8")
    assert [(n, type(item).__name__) for n, item in parse_cdr_file(cdrs)] == [(1, "CallRecord"), (2, "Incomplete")]
    assert main(["rate", str(lab_site_copy), str(cdrs)]) == 1
    out, err = capsys.readouterr()
    assert f"{cdrs}:2: the last line has no newline (still being written, or cut short): not rated yet" in err
    assert out.strip().endswith(", 1 incomplete (not rated yet)")
    with Ledger(ledger_path) as ledger:
        assert ledger.has("early") and not ledger.has("late")
    # Once written whole, the next run rates it with every column.
    cdrs.write_text(call_line("early", "+74951112233", 30) + "\n" + whole + "\n", encoding="utf-8")
    assert main(["rate", str(lab_site_copy), str(cdrs)]) == 0
    assert capsys.readouterr().out.startswith("1 new, 1 already stored")
    with Ledger(ledger_path) as ledger:
        [late] = [c for c in ledger.calls("12", 0, 2**40) if c.uuid == "late"]
        assert late.billsec == 61


def test_a_line_cut_after_a_comma_then_ended_is_a_bad_line(tmp_path: Path) -> None:
    cut = csv_line(uuid="cut")[: csv_line(uuid="cut").rindex(",") + 1]
    path = tmp_path / "Master.csv"
    path.write_text(cut + "\n" + csv_line(uuid="next") + "\n", encoding="utf-8")
    [(first, error), (second, record)] = list(parse_cdr_file(path))
    assert (first, second) == (1, 2)
    assert isinstance(error, CdrError) and "cut short" in str(error)
    assert record.uuid == "next"


def test_one_uuid_with_other_data_in_two_files_is_told(lab_site_copy: Path, ledger_path: Path, tmp_path: Path, capsys) -> None:  # noqa: F811
    first = write(tmp_path / "Master.csv.1", [call_line("same", "+74951112233", 61), call_line("twin", "+74951112233", 10)])
    second = write(tmp_path / "Master.csv", [call_line("other", "+74951112233", 5), call_line("same", "+74951112233", 300), call_line("twin", "+74951112233", 10)])
    assert main(["rate", str(lab_site_copy), str(first), str(second)]) == 1
    out, err = capsys.readouterr()
    assert f"{second}:2: call same is already stored from {first}:1 with other data (billsec 61 there, 300 here); that one is kept" in err
    assert "twin" not in err, "the same call read twice is not a conflict"
    assert out.startswith("3 new, 1 already stored") and out.strip().endswith(", 1 differing from the call stored under the same UUID (not stored)")
    with Ledger(ledger_path) as ledger:
        [same] = [c for c in ledger.calls("12", 0, 2**40) if c.uuid == "same"]
        assert (same.billsec, same.source) == (61, f"{first}:1")


def test_two_lines_of_one_batch_with_one_uuid_are_told(lab_site_copy: Path, ledger_path: Path, tmp_path: Path, capsys) -> None:  # noqa: F811
    cdrs = write(tmp_path / "Master.csv", [call_line("dup", "+74951112233", 61), call_line("dup", "+74951112233", 61, hangup_cause="USER_BUSY")])
    assert main(["rate", str(lab_site_copy), str(cdrs)]) == 1
    assert f"{cdrs}:2: call dup is already stored from {cdrs}:1 with other data (hangup_cause 'NORMAL_CLEARING' there, 'USER_BUSY' here)" in capsys.readouterr().err
