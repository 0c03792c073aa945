"""Copies of the ledger that can be trusted, and putting one back.

`take` copies the ledger with SQLite's online backup API while the
controller goes on writing: the copy is one consistent state of the
database (a transaction is in it whole or not at all). The copy is written
under a temporary name in the backup directory, switched out of WAL (one
self-contained file), checked with ``PRAGMA integrity_check``, synced, and
only then renamed to its final name, so a name ``ledger-<UTC>.sqlite3``
always holds a whole, verified copy. `prune` keeps the newest copies and
removes only files that carry this naming.

`restore` checks a copy the same way, then writes it into the ledger with
the same backup API (the ledger's own locks and WAL take care of the rest),
after the controller is stopped.
"""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bizpbx.ledger.database import BUSY_TIMEOUT_MS, connect
from bizpbx.ledger.migrations import LedgerVersionError, check_version

class BackupError(RuntimeError):
    """A copy that could not be made, or that is not a ledger one can restore."""


@dataclass(frozen=True)
class Taken:
    path: Path
    calls: int
    removed: tuple[Path, ...]  # older copies beyond the number kept


def backup_name(ledger: Path, at: datetime) -> str:
    return f"{ledger.stem}-{at.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}.sqlite3"


def _copies(ledger: Path, directory: Path) -> list[Path]:
    """This ledger's copies in `directory`, oldest first (their names sort by time)."""
    pattern = re.compile(rf"{re.escape(ledger.stem)}-\d{{8}}T\d{{6}}Z\.sqlite3")
    return sorted(p for p in directory.iterdir() if pattern.fullmatch(p.name) and p.is_file())


def take(ledger: Path, directory: Path, keep: int, at: datetime | None = None) -> Taken:
    """Copy `ledger` into `directory`, verified; keep the newest `keep` copies."""
    if not ledger.is_file():
        raise BackupError(f"{ledger}: no ledger there (controller.ledger)")
    directory.mkdir(parents=True, exist_ok=True, mode=0o750)
    final = directory / backup_name(ledger, at or datetime.now(timezone.utc))
    partial = directory / f".{final.name}.{os.getpid()}.partial"
    try:
        source = sqlite3.connect(f"{ledger.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            _copy(source, partial)
        finally:
            source.close()
        calls = verify(partial)
        _sync(partial)
        os.replace(partial, final)
        _sync(directory)
    finally:
        partial.unlink(missing_ok=True)
    return Taken(final, calls, prune(ledger, directory, keep))


def _copy(source: sqlite3.Connection, target: Path) -> None:
    old = os.umask(0o077)  # the ledger's data: readable by its owner only
    try:
        copy = sqlite3.connect(target, isolation_level=None)
    finally:
        os.umask(old)
    try:
        # One step: a single read transaction, one snapshot. (Steps would start
        # over at every write of the controller's, and might never end.) In WAL
        # mode the controller goes on writing meanwhile.
        source.backup(copy)
        # The copy inherits WAL mode from the ledger's header; a backup is one file.
        copy.execute("PRAGMA journal_mode = DELETE")
    finally:
        copy.close()


def verify(path: Path) -> int:
    """Check a copy: SQLite's integrity check, a ledger schema this bizpbx
    knows; returns how many calls it holds. BackupError says what is wrong."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise BackupError(f"{path}: cannot open: {error}") from None
    try:
        problems = [row[0] for row in db.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"{path}: integrity check failed: {'; '.join(problems[:5])}")
        version = check_version(db)
        if version == 0:
            raise BackupError(f"{path}: not a bizpbx ledger (no schema)")
        return db.execute("SELECT count(*) FROM calls").fetchone()[0]
    except (sqlite3.Error, LedgerVersionError) as error:
        raise BackupError(f"{path}: not a ledger: {error}") from None
    finally:
        db.close()


def prune(ledger: Path, directory: Path, keep: int) -> tuple[Path, ...]:
    removed = tuple(_copies(ledger, directory)[:-keep])
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def restore(copy: Path, ledger: Path) -> int:
    """Replace the ledger's content with a verified copy; returns the calls it holds."""
    calls = verify(copy)
    source = sqlite3.connect(f"{copy.resolve().as_uri()}?mode=ro", uri=True)
    target = connect(ledger)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return calls


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
