"""Ledger copies: named by UTC time, verified before they get their name, the
newest kept; a damaged or foreign file is never restored."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from test_ledger_store import rated

from bizpbx.ledger import Ledger, migrate
from bizpbx.ledger.backup import BackupError, restore, take, verify
from bizpbx.ledger.migrations import MIGRATIONS

AT = datetime(2026, 11, 3, 21, 5, 9, tzinfo=timezone(timedelta(hours=3)))


def ledger_with_calls(path, n: int):
    with Ledger(path) as ledger:
        ledger.record([rated(f"call-{i}") for i in range(n)])
    return path


def test_a_copy_is_named_in_utc_and_holds_the_calls(tmp_path):
    ledger = ledger_with_calls(tmp_path / "ledger.sqlite3", 3)
    taken = take(ledger, tmp_path / "b", keep=5, at=AT)
    assert taken.path == tmp_path / "b" / "ledger-20261103T180509Z.sqlite3"
    assert taken.calls == 3 == verify(taken.path)
    assert taken.path.stat().st_mode & 0o077 == 0  # the ledger's data: owner only
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [taken.path.name]  # one file: no -wal, no temporary
    assert sqlite3.connect(taken.path).execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_only_the_newest_copies_are_kept_and_other_files_are_left_alone(tmp_path):
    ledger = ledger_with_calls(tmp_path / "ledger.sqlite3", 1)
    backups = tmp_path / "b"
    backups.mkdir()
    (backups / "notes.txt").write_text("mine")
    (backups / "ledger-2026.sqlite3").write_text("not a copy's name")
    names = [take(ledger, backups, keep=2, at=AT + timedelta(days=d)).path.name for d in range(4)]
    assert sorted(p.name for p in backups.iterdir()) == sorted([*names[2:], "notes.txt", "ledger-2026.sqlite3"])


def test_no_ledger_is_named(tmp_path):
    with pytest.raises(BackupError, match=r"ledger.sqlite3: no ledger there \(controller.ledger\)"):
        take(tmp_path / "ledger.sqlite3", tmp_path / "b", keep=1)
    assert not (tmp_path / "b").exists()


def test_a_damaged_copy_is_refused_and_the_ledger_left_as_it_was(tmp_path):
    ledger = ledger_with_calls(tmp_path / "ledger.sqlite3", 2)
    copy = take(ledger_with_calls(tmp_path / "other.sqlite3", 500), tmp_path / "b", keep=1, at=AT).path
    data = bytearray(copy.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = b"\xff" * 4096  # a page in the middle overwritten
    copy.write_bytes(bytes(data))
    with pytest.raises(BackupError, match=rf"{copy.name}: (integrity check failed|not a ledger)"):
        restore(copy, ledger)
    assert verify(ledger) == 2


def test_a_file_that_is_no_ledger_is_refused(tmp_path):
    foreign = tmp_path / "foreign.sqlite3"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)")
    with pytest.raises(BackupError, match="not a bizpbx ledger"):
        verify(foreign)
    text = tmp_path / "text.sqlite3"
    text.write_text("hello\n" * 1000)
    with pytest.raises(BackupError, match="text.sqlite3: not a ledger: file is not a database"):
        verify(text)
    with pytest.raises(BackupError, match="missing.sqlite3: cannot open"):
        verify(tmp_path / "missing.sqlite3")


def test_a_copy_from_a_newer_bizpbx_is_refused(tmp_path):
    newer = ledger_with_calls(tmp_path / "newer.sqlite3", 1)
    sqlite3.connect(newer).execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(BackupError, match="upgrade bizpbx"):
        verify(newer)


def test_restore_replaces_the_ledgers_content(tmp_path):
    copy = take(ledger_with_calls(tmp_path / "then.sqlite3", 4), tmp_path / "b", keep=1, at=AT).path
    ledger = ledger_with_calls(tmp_path / "ledger.sqlite3", 9)
    assert restore(copy, ledger) == 4
    with Ledger(ledger) as restored:
        assert restored.count() == 4
    assert sqlite3.connect(ledger).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_calls_stored_before_start_times_were_kept_get_their_answer_or_rating_time(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, MIGRATIONS[:3])
    db.executemany(
        "INSERT INTO calls VALUES (?, '12', 'outbound', '', '', '', '', ?, 0, '', '', 'free', '', NULL, 0, '0.00', 'esl', 1700000000)",
        [("answered", 1690000000), ("missed", 0)],
    )
    db.close()
    with Ledger(path) as ledger:
        assert {c.uuid: c.start_epoch for c in ledger.listed(0, 2**40)} == {"answered": 1690000000, "missed": 1700000000}
