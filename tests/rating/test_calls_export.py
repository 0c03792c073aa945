"""`bizpbx calls`: every call of a period from the ledger, one row each, for
the CRM or an accountant; bad dates and organizations named."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

import pytest
from test_rating_cli import ledger_path, write  # noqa: F401 (a fixture)
from test_cdr_input import csv_line

from bizpbx.cli import main


def epoch(moment: str) -> str:
    return str(int(datetime.fromisoformat(moment).timestamp()))


def cdr(uuid: str, start: str, *, answered: bool = True, billsec: int = 61, **changes: str) -> str:
    values = {"called_number": "+74951112233", "callee": "84951112233", **changes}
    return csv_line(uuid=uuid, start_epoch=epoch(start), answer_epoch=epoch(start) if answered else "0", billsec=str(billsec if answered else 0), **values)


@pytest.fixture
def rated(lab_site_copy: Path, ledger_path: Path, tmp_path: Path, capsys) -> Path:  # noqa: F811
    lines = [
        cdr("before", "2026-10-31T23:59:59+03:00"),
        cdr("first", "2026-11-01T00:00:00+03:00"),
        cdr("missed", "2026-11-15T09:30:00+03:00", answered=False, hangup_cause="NO_ANSWER"),
        cdr("hotline", "2026-11-20T12:00:00+03:00", organization="34", direction="inbound", called_number="+78005553535",
            number_kind="hotline", caller="+78432123456", callee="78005553535"),
        cdr("last", "2026-11-30T23:59:59+03:00", caller="=HYPERLINK(\"http://x\")"),
        cdr("after", "2026-12-01T00:00:00+03:00"),
    ]
    main(["rate", str(lab_site_copy), str(write(tmp_path / "Master.csv", lines))])
    capsys.readouterr()
    return lab_site_copy


def test_csv_lists_the_days_given_both_included_in_order_of_start(rated: Path, capsys) -> None:
    assert main(["calls", str(rated), "--from", "2026-11-01", "--to", "2026-11-30"]) == 0
    out = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert out.splitlines()[0] == "uuid,time,direction,organization,from,to,number_kind,answered,duration,billed_seconds,cost,currency,rating,cause"
    assert [r["uuid"] for r in rows] == ["first", "missed", "hotline", "last"]
    first, missed, hotline, last = rows
    assert first["time"] == "2026-11-01T00:00:00+03:00"
    assert (first["answered"], first["duration"], first["billed_seconds"], first["rating"], first["currency"]) == ("yes", "61", "120", "billed", "RUB")
    assert (missed["answered"], missed["duration"], missed["cost"], missed["cause"]) == ("no", "0", "0.00", "NO_ANSWER")
    assert (hotline["organization"], hotline["direction"], hotline["number_kind"], hotline["from"]) == ("34", "inbound", "hotline", "+78432123456")
    assert hotline["cost"] == "7.00"  # two started minutes from Kazan at 3.50
    assert last["from"] == "'=HYPERLINK(\"http://x\")"  # a spreadsheet shows it, never runs it


def test_json_and_one_organization(rated: Path, capsys) -> None:
    assert main(["calls", str(rated), "--from", "2026-11-01", "--to", "2026-11-30", "--org", "34", "--format", "json"]) == 0
    (hotline,) = json.loads(capsys.readouterr().out)
    assert hotline["uuid"] == "hotline" and hotline["answered"] is True and hotline["duration"] == 61 and hotline["cost"] == "7.00"


def test_a_period_without_calls_is_a_header_alone(rated: Path, capsys) -> None:
    assert main(["calls", str(rated), "--from", "2025-01-01", "--to", "2025-01-31"]) == 0
    assert capsys.readouterr().out.count("\n") == 1


@pytest.mark.parametrize(
    ("option", "value", "reason"),
    [
        ("--from", "2026-13-01", "'2026-13-01' is not a date: month must be in 1..12"),
        ("--to", "2026-02-30", "'2026-02-30' is not a date: day is out of range for month"),
        ("--from", "1.11.2026", "'1.11.2026' is not a date such as 2026-11-30 (YYYY-MM-DD)"),
        ("--to", "2026-11", "'2026-11' is not a date such as 2026-11-30 (YYYY-MM-DD)"),
    ],
)
def test_a_bad_date_is_named(rated: Path, option: str, value: str, reason: str, capsys) -> None:
    dates = {"--from": "2026-11-01", "--to": "2026-11-30", option: value}
    with pytest.raises(SystemExit) as exit:
        main(["calls", str(rated), "--from", dates["--from"], "--to", dates["--to"]])
    assert exit.value.code == 2
    assert f"argument {option}: {reason}" in capsys.readouterr().err


def test_dates_the_wrong_way_round_and_an_unknown_organization_are_named(rated: Path, capsys) -> None:
    assert main(["calls", str(rated), "--from", "2026-11-30", "--to", "2026-11-01"]) == 2
    assert capsys.readouterr().err == "bizpbx calls: --to 2026-11-01 is before --from 2026-11-30\n"
    assert main(["calls", str(rated), "--from", "2026-11-01", "--to", "2026-11-30", "--org", "99"]) == 2
    assert "--org 99: no such organization" in capsys.readouterr().err


def test_no_ledger_is_named(lab_site_copy: Path, ledger_path: Path, capsys) -> None:  # noqa: F811
    assert main(["calls", str(lab_site_copy), "--from", "2026-11-01", "--to", "2026-11-30"]) == 2
    assert capsys.readouterr().err.startswith(f"{ledger_path}: no ledger there")
    assert not ledger_path.exists()
