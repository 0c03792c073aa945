"""Commands that only read the ledger never create or change one (issue 10:
`invoice` with a mistyped ledger path created an empty database and printed an
empty invoice with exit 0)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bizpbx.ledger import Ledger, LedgerVersionError, MIGRATIONS
from bizpbx.rating import CallRecord, Direction, Rater
from bizpbx.ledger import RatedCall
from bizpbx.site_loader import load_site

ANSWERED = 1795590000  # 2026-11-25 10:00 Moscow


def bizpbx(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bizpbx.cli", *args], capture_output=True, text=True, check=False)


def test_invoice_with_a_mistyped_ledger_creates_nothing(lab_site_copy, monkeypatch, tmp_path):
    typo = tmp_path / "no-such-dir" / "ledgr.sqlite3"
    monkeypatch.setenv("BIZPBX_CONTROLLER__LEDGER", str(typo))
    result = bizpbx("invoice", str(lab_site_copy), "--month", "2026-11")
    assert result.returncode == 2, result.stdout
    assert str(typo) in result.stderr and "Traceback" not in result.stderr
    assert "controller.ledger" in result.stderr
    assert result.stdout == ""
    assert not typo.parent.exists()


def test_invoice_reads_a_ledger_it_cannot_write(lab_site_copy, monkeypatch, tmp_path):
    path = tmp_path / "ledger.sqlite3"
    site = load_site(lab_site_copy)
    call = CallRecord("c1", "12", Direction.OUTBOUND, "+79161234567", None, "101", "+79161234567", ANSWERED, 61, "NORMAL_CLEARING", "carrier")
    with Ledger(path) as ledger:
        ledger.record([RatedCall(call, Rater(site).rate(call), "test")])
    before = path.read_bytes()
    monkeypatch.setenv("BIZPBX_CONTROLLER__LEDGER", str(path))
    result = bizpbx("invoice", str(lab_site_copy), "--month", "2026-11", "--org", "12", "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert "12,2026-11,total,\"total, RUB\",5490.00" in result.stdout  # the call is within the call credit
    # SQLite may add the -wal and -shm files of a WAL database beside it; the database itself is as it was.
    assert path.read_bytes() == before


def test_a_read_only_ledger_is_never_created(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        Ledger.read_only(tmp_path / "absent.sqlite3")
    assert str(tmp_path / "absent.sqlite3") in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_ledger_is_never_migrated(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[0].sql + ";PRAGMA user_version = 1")
    with Ledger.read_only(path) as ledger:
        assert ledger.count() == 0
        with pytest.raises(sqlite3.OperationalError):
            ledger._db.execute("CREATE TABLE t (x)")
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1


def test_a_read_only_ledger_of_a_newer_bizpbx_is_refused(tmp_path):
    path = tmp_path / "new.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(LedgerVersionError):
        Ledger.read_only(path)


def test_a_path_with_uri_characters_opens(tmp_path):
    path = tmp_path / "a dir?mode=rw#x" / "ledger.sqlite3"
    path.parent.mkdir()
    Ledger(path).close()
    with Ledger.read_only(path) as ledger:
        assert ledger.count() == 0
