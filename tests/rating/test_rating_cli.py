"""`bizpbx rate`, `bizpbx rate --explain` and `bizpbx invoice`, end to end."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import multiprocessing
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from test_cdr_input import csv_line

from bizpbx.cli import main
from bizpbx.ledger import Ledger, RatedCall
from bizpbx.rating import CallRecord, Direction, Rater
from bizpbx.site_loader import load_site

# 2026-11-10 12:00 Moscow.
NOV_10 = str(int(datetime.fromisoformat("2026-11-10T12:00:00+03:00").timestamp()))


@pytest.fixture
def ledger_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "var" / "ledger.sqlite3"
    monkeypatch.setenv("BIZPBX_CONTROLLER__LEDGER", str(path))
    return path


def call_line(uuid: str, to: str, billsec: int, **changes: str) -> str:
    return csv_line(uuid=uuid, called_number=to, callee=to, answer_epoch=NOV_10, billsec=str(billsec), **changes)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_rate_stores_good_lines_and_names_bad_ones(lab_site_copy: Path, ledger_path: Path, tmp_path: Path, capsys) -> None:
    cdrs = write(
        tmp_path / "Master.csv",
        [
            call_line("a", "+74951112233", 61),
            call_line("b", "+74951112233", 30, direction="upward"),
            call_line("c", "+12125551234", 30),
            json.dumps({"uuid": "d", "organization": "34", "direction": "inbound", "called_number": "+78005553535", "number_kind": "hotline", "caller": "+493012345678", "answer_epoch": 0, "billsec": 0}),
            call_line("e", "+79161234567", 60),
        ],
    )
    assert main(["rate", str(lab_site_copy), str(cdrs)]) == 1
    out, err = capsys.readouterr()
    assert f"{cdrs}:2: direction 'upward'" in err
    assert f"{cdrs}:3: unrated, not stored: no prefix" in err
    assert out.strip() == "3 new, 0 already stored, 1 rejected (stored, never billed), 1 unrated (not stored), 0 priced for no organization of the site (stored), 1 bad lines"
    with Ledger(ledger_path) as ledger:
        assert [ledger.has(u) for u in "abcde"] == [True, False, False, True, True]
        assert {c.uuid: (c.cost, c.source) for c in ledger.calls("12", 0, 2**40)} == {
            "a": (Decimal("2.40"), f"{cdrs}:1"),
            "e": (Decimal("2.90"), f"{cdrs}:5"),
        }

    # Fed again: nothing new; once the deck prices the unrated call, it alone is added.
    assert main(["rate", str(lab_site_copy), str(cdrs)]) == 1
    assert capsys.readouterr().out.startswith("0 new, 3 already stored")
    deck = lab_site_copy.with_name("rates.csv")
    deck.write_text(deck.read_text(encoding="utf-8") + "1,5.00,60,60,0,0,North America\n", encoding="utf-8")
    assert main(["rate", str(lab_site_copy), str(cdrs)]) == 1  # the bad line is still bad
    assert capsys.readouterr().out.startswith("1 new, 3 already stored, 1 rejected (stored, never billed), 0 unrated")


def test_rate_exits_zero_when_every_line_is_stored(lab_site_copy: Path, ledger_path: Path, tmp_path: Path, capsys) -> None:
    cdrs = write(tmp_path / "ok.csv", [call_line(f"ok-{n}", "+74951112233", n) for n in range(5)])
    assert main(["rate", str(lab_site_copy), str(cdrs)]) == 0
    assert capsys.readouterr().out.startswith("5 new, 0 already stored")


def test_an_unreadable_file_is_reported_and_the_others_still_rated(lab_site_copy: Path, ledger_path: Path, tmp_path: Path, capsys) -> None:
    good = write(tmp_path / "ok.csv", [call_line("x", "+74951112233", 60)])
    assert main(["rate", str(lab_site_copy), str(tmp_path / "missing.csv"), str(good)]) == 1
    out, err = capsys.readouterr()
    assert "missing.csv: cannot read" in err and out.startswith("1 new")


def _rate_in_child(site: str, cdrs: str) -> None:
    raise SystemExit(main(["rate", site, cdrs]))


def test_two_rate_processes_on_the_same_file_store_each_call_once(lab_site_copy: Path, ledger_path: Path, tmp_path: Path, capfd) -> None:
    calls = 60000
    # 3..302 s: never under the demo deck's 3 free seconds.
    cdrs = write(tmp_path / "Master.csv", [call_line(f"call-{n}", "+79161234567", 3 + n % 300) for n in range(calls)])
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_rate_in_child, args=(str(lab_site_copy), str(cdrs)), daemon=True) for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
        assert process.exitcode == 0
    summaries = [line.split(", ")[:2] for line in capfd.readouterr().out.splitlines()]
    assert sum(int(new.split()[0]) for new, _ in summaries) == calls
    assert sum(int(already.split()[0]) for _, already in summaries) == calls
    with Ledger(ledger_path) as ledger:
        assert ledger.count() == calls
        expected = sum(Decimal("2.90") * ((3 + n % 300 + 59) // 60) for n in range(calls))
        assert ledger.spend("12", 0, 2**40) == expected


def explain(site: Path, *args: str) -> tuple[int, str]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["rate", "--explain", str(site), *args])
    return code, buffer.getvalue()


@pytest.mark.parametrize(
    ("args", "cost", "rule", "prefix"),
    [
        (["--from", "78463051234", "--to", "8 800 555-35-35", "--seconds", "61"], "6.00", "hotline-origin", "784630"),
        (["--from", "+493012345678", "--to", "+78005553535", "--seconds", "61"], "0.00", "hotline-foreign-caller", None),
        (["--from", "101", "--to", "84951112233", "--seconds", "61"], "2.40", "outbound-deck", "7495"),
        (["--from", "200", "--to", "+375291234567", "--seconds", "31"], "5.88", "outbound-deck", "375"),
        (["--from", "100", "--to", "101", "--seconds", "600"], "0.00", "internal", None),
        (["--from", "+79161234567", "--to", "+74951234567", "--seconds", "600"], "0.00", "inbound-free", None),
        (["--from", "101", "--to", "84951112233", "--seconds", "0"], "0.00", "unanswered", None),
    ],
)
def test_explain_json(lab_site_copy: Path, args: list[str], cost: str, rule: str, prefix: str | None) -> None:
    code, out = explain(lab_site_copy, *args, "--json")
    answer = json.loads(out)
    assert code == 0
    assert (answer["cost"], answer["rule"], answer["prefix"]) == (cost, rule, prefix)


def test_explain_text_says_why(lab_site_copy: Path) -> None:
    code, out = explain(lab_site_copy, "--from", "101", "--to", "+4930123456", "--seconds", "10")
    assert code == 0
    # Germany: 12.00/min per second plus a 0.50 connect fee.
    assert out.splitlines()[0] == f"{Decimal('0.50') + Decimal('12.00') * 10 / 60:.2f} RUB  outbound-deck (billed)"
    assert "Germany (prefix 49)" in out and "connect fee 0.50" in out


def test_explain_unrated_exits_one(lab_site_copy: Path) -> None:
    code, out = explain(lab_site_copy, "--from", "101", "--to", "+12125551234", "--seconds", "10", "--json")
    assert code == 1 and json.loads(out)["rule"] == "no-prefix"


@pytest.mark.parametrize(
    "argv",
    [
        ["rate", "--explain", "SITE", "--from", "101", "--to", "102"],
        ["rate", "SITE", "--from", "101"],
        ["rate", "SITE"],
        ["rate", "--explain", "SITE", "FILE", "--from", "1", "--to", "2", "--seconds", "3"],
        ["rate", "--explain", "SITE", "--from", "101", "--to", "102", "--seconds", "1", "--org", "99"],
    ],
)
def test_usage_errors_exit_two(lab_site_copy: Path, argv: list[str], capsys) -> None:
    assert main([str(lab_site_copy) if a == "SITE" else a for a in argv]) == 2
    assert capsys.readouterr().err


def test_invoice_from_the_rated_calls(lab_site_copy: Path, ledger_path: Path, tmp_path: Path, capsys) -> None:
    # Organization 12 calls 250 minutes to Moscow mobiles in November: 725.00, of which 200.00 is credit.
    cdrs = write(tmp_path / "Master.csv", [call_line(f"m{n}", "+79161234567", 60) for n in range(250)])
    assert main(["rate", str(lab_site_copy), str(cdrs)]) == 0
    capsys.readouterr()

    assert main(["invoice", str(lab_site_copy), "--month", "2026-11", "--org", "12", "--format", "json"]) == 0
    (account,) = json.loads(capsys.readouterr().out)
    amounts = {line["kind"]: Decimal(line["amount"]) for line in account["lines"]}
    assert amounts == {
        "plan": Decimal("1990.00"),
        "connection": Decimal("2500.00"),
        "number-plan": Decimal("1000.00"),
        "calls": Decimal("2.90") * 250,
        "credit": Decimal("-200.00"),
    }
    assert Decimal(account["total"]) == sum(amounts.values())
    assert account["call_credit"] == {"granted": "200.00", "used": "200.00", "expired": "0.00"}

    assert main(["invoice", str(lab_site_copy), "--month", "2026-11", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    for org in ("7", "12", "34"):
        lines = [Decimal(r["amount"]) for r in rows if r["organization"] == org and r["kind"] != "total"]
        (total,) = [Decimal(r["amount"]) for r in rows if r["organization"] == org and r["kind"] == "total"]
        assert sum(lines, Decimal(0)) == total

    assert main(["invoice", str(lab_site_copy), "--month", "2026-11"]) == 0
    table = capsys.readouterr().out
    assert "organization 12, 2026-11" in table and f"{Decimal(account['total'])}" in table


def test_invoice_refuses_a_month_that_is_not_one(lab_site_copy: Path, ledger_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["invoice", str(lab_site_copy), "--month", "2026-13"])
    assert exit_.value.code == 2 and "2026-13" in capsys.readouterr().err


def test_invoice_refuses_an_unknown_organization(lab_site_copy: Path, ledger_path: Path, capsys) -> None:
    assert main(["invoice", str(lab_site_copy), "--month", "2026-11", "--org", "99"]) == 2
    assert "--org 99" in capsys.readouterr().err


def test_invoice_flags_unrated_calls_another_writer_stored(lab_site_copy: Path, ledger_path: Path, capsys) -> None:
    # `bizpbx rate` never stores an unrated call, but the controller may.
    call = CallRecord("u1", "12", Direction.OUTBOUND, "+12125551234", None, "101", "", int(NOV_10), 60, "", "carrier")
    with Ledger(ledger_path) as ledger:
        ledger.record([RatedCall(call, Rater(load_site(lab_site_copy)).rate(call), "esl")])
    assert main(["invoice", str(lab_site_copy), "--month", "2026-11", "--org", "12", "--format", "json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)[0]["unrated_calls"] == 1
    assert "organization 12: 1 unrated call(s) in 2026-11" in err


def test_a_priced_call_of_an_unknown_organization_is_stored_and_reported(lab_site_copy: Path, ledger_path: Path, tmp_path: Path, capsys) -> None:
    cdrs = write(tmp_path / "Master.csv", [call_line("gone", "+74951112233", 60, organization="55"), call_line("free", "+74951112233", 0, organization="55")])
    assert main(["rate", str(lab_site_copy), str(cdrs)]) == 1
    out, err = capsys.readouterr()
    assert f"{cdrs}:1: costs 1.20 RUB but organization '55' is not in the site" in err
    assert f"{cdrs}:2" not in err
    assert out.startswith("2 new") and "1 priced for no organization of the site (stored)" in out
