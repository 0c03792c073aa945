"""The ledger database's connection settings and its one write pattern,
shared by every writer of the file (the call ledger, the controller's tables).

- `connect_read_only`: for the commands that only read (`bizpbx invoice`):
  an existing file, opened read-only, never created, migrated or written.
- `connect`: autocommit mode (transactions are explicit), WAL so readers never
  block the writer, a busy timeout so two writers wait for each other
  instead of failing, synchronous=NORMAL (a process crash loses nothing; a
  power loss may lose the last batches, which the CDR files still hold).
- `immediate_transaction`: takes the write lock at BEGIN, so a transaction
  never fails half-way for another writer's sake; rolled back on any error.
- `insert_once`: a batch of ``INSERT … ON CONFLICT DO NOTHING`` rows in one
  such transaction; returns how many were new.
"""

from __future__ import annotations

import errno
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_MS = 30_000


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    _use_wal(db)
    db.execute("PRAGMA synchronous = NORMAL")
    return db


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that can only read an existing ledger: it never creates
    the file (nor its directory) and never writes to it. FileNotFoundError
    names the path when there is no file there."""
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "no ledger there", str(path))
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return db


def _use_wal(db: sqlite3.Connection) -> None:
    # Switching a new file to WAL needs an exclusive lock, and SQLite answers
    # BUSY at once, without its busy handler, when another process is opening
    # the same new file: wait for it here. The mode then stays with the file.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@contextmanager
def immediate_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def insert_once(db: sqlite3.Connection, statement: str, rows: Sequence[tuple[object, ...]]) -> int:
    """Run an ``INSERT … ON CONFLICT DO NOTHING`` for every row, all or none;
    return how many rows were inserted."""
    if not rows:
        return 0
    with immediate_transaction(db):
        before = db.total_changes
        db.executemany(statement, rows)
        return db.total_changes - before
