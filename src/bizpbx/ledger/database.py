"""The ledger database's connection settings and its one write pattern,
shared by every writer of the file (the call ledger, the controller's tables).

The ledger is a SQLite file (below) or a PostgreSQL database
(`bizpbx.ledger.postgres`); `open_database` opens either, and the functions
here take either.

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

import psycopg

from bizpbx.ledger.postgres import OUTBOX_LOCK, MissingPassword, PostgresConnection, PostgresTarget

BUSY_TIMEOUT_MS = 30_000

Database = sqlite3.Connection | PostgresConnection
LedgerLocation = Path | str | PostgresTarget  # a SQLite file, or a PostgreSQL database
# What opening or using the ledger can raise, whichever database it is in.
DATABASE_ERRORS = (sqlite3.Error, psycopg.Error, MissingPassword)


def open_database(where: LedgerLocation, *, read_only: bool = False) -> Database:
    if isinstance(where, (str, Path)):
        return connect_read_only(Path(where)) if read_only else connect(Path(where))
    return PostgresConnection(where, read_only=read_only)


def ledger_exists(where: LedgerLocation) -> bool:
    """Whether there is a ledger to read: the SQLite file is there (a PostgreSQL database is asked when connecting)."""
    return Path(where).exists() if isinstance(where, (str, Path)) else True


def describe(where: LedgerLocation) -> str:
    """The ledger's location for messages: the file, or the database URL (which holds no password)."""
    return str(where) if isinstance(where, (str, Path)) else where.dsn


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
def immediate_transaction(db: Database) -> Iterator[Database]:
    if isinstance(db, PostgresConnection):
        with db.transaction():
            yield db
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def insert_once(db: Database, statement: str, rows: Sequence[tuple[object, ...]]) -> int:
    """Run an ``INSERT … ON CONFLICT DO NOTHING`` for every row, all or none;
    return how many rows were inserted."""
    if not rows:
        return 0
    with immediate_transaction(db):
        return change_many(db, statement, rows)


def change_many(db: Database, statement: str, rows: Sequence[Sequence[object]]) -> int:
    """Run a statement for every row; return how many rows it inserted, changed or deleted."""
    if isinstance(db, PostgresConnection):
        return db.executemany(statement, rows)
    before = db.total_changes
    db.executemany(statement, rows)
    return db.total_changes - before


def number_in_commit_order(db: Database) -> None:
    """Within a transaction about to add call events: make their ids follow
    the order transactions commit in. SQLite's write lock already does
    (BEGIN IMMEDIATE); PostgreSQL takes its sequence numbers outside any lock."""
    if isinstance(db, PostgresConnection):
        db.lock(OUTBOX_LOCK)
