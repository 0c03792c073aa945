"""The ledger in PostgreSQL (psycopg 3): the same tables and statements as the
SQLite file, for controllers on several nodes sharing one database.

`PostgresConnection` speaks the ledger's SQL: its ``?`` placeholders become
psycopg's ``%s``, so `bizpbx.ledger.store` and the controller's outbox write
one text for both databases. The connection is in autocommit mode, as the
SQLite one is; `bizpbx.ledger.database.immediate_transaction` opens its
transactions.

Concurrent controllers are kept apart by transaction-scoped advisory locks,
released at COMMIT or ROLLBACK (a dead node's session holds none):

- `MIGRATION_LOCK`: two controllers starting at once migrate the schema once
  (PostgreSQL's DDL is transactional: all steps, or none);
- `OUTBOX_LOCK`: call events are numbered in the order they commit, so a
  delivery loop reading "ids after my cursor" never passes over an event a
  slower transaction commits later with a smaller id.

The password comes apart from the URL (the site's secrets) and is never part
of an error message: psycopg's messages name the host and user only.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from functools import lru_cache
from typing import Protocol

import psycopg

MIGRATION_LOCK = 0x62697A_01  # "biz" and a number of our own: no other lock of the database's users is likely to take it
OUTBOX_LOCK = 0x62697A_02
CONNECT_TIMEOUT_SECONDS = 10


class PostgresTarget(Protocol):
    """Where the ledger's database is (`bizpbx.settings.PostgresLedger`)."""

    dsn: str

    @property
    def password(self): ...  # a pydantic SecretStr, or None when the site gave none


class MissingPassword(ValueError):
    """The site gives no password for the ledger's database."""


@lru_cache(maxsize=256)
def postgres_sql(statement: str) -> str:
    """The ledger's SQL in psycopg's placeholders: ``?`` as ``%s``, a literal ``%`` doubled."""
    return statement.replace("%", "%%").replace("?", "%s")


class PostgresConnection:
    """One psycopg connection, in autocommit mode, taking the ledger's SQL."""

    def __init__(self, target: PostgresTarget, *, read_only: bool = False) -> None:
        if target.password is None:
            raise MissingPassword(
                "controller.postgresql.password: required to reach the ledger: put it in site.secrets.yml, or set BIZPBX_CONTROLLER__POSTGRESQL__PASSWORD"
            )
        options = "-c default_transaction_read_only=on" if read_only else None
        self.raw = psycopg.connect(
            target.dsn, password=target.password.get_secret_value(), autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS, options=options,
            application_name="bizpbx",
        )

    def execute(self, statement: str, parameters: Sequence[object] = ()) -> psycopg.Cursor:
        return self.raw.execute(postgres_sql(statement), tuple(parameters))

    def executemany(self, statement: str, rows: Sequence[Sequence[object]]) -> int:
        """Run the statement for every row; return the rows it changed, all together."""
        with self.raw.cursor() as cursor:
            cursor.executemany(postgres_sql(statement), rows)
            return max(cursor.rowcount, 0)

    def transaction(self) -> AbstractContextManager:
        return self.raw.transaction()

    def lock(self, key: int) -> None:
        """Take a transaction-scoped advisory lock: held until the transaction ends."""
        self.execute("SELECT pg_advisory_xact_lock(?)", (key,))

    def close(self) -> None:
        self.raw.close()


def migrate_postgres(db: PostgresConnection, steps: Sequence[str], check) -> int:
    """Apply the PostgreSQL statements of the steps the database lacks, under
    `MIGRATION_LOCK`, in one transaction; return the version afterwards.
    `check(version)` refuses a database a newer bizpbx wrote."""
    with db.transaction():
        db.lock(MIGRATION_LOCK)
        db.execute("CREATE TABLE IF NOT EXISTS bizpbx_schema (version INTEGER NOT NULL)")
        row = db.execute("SELECT version FROM bizpbx_schema").fetchone()
        version = check(row[0] if row else 0)
        for sql in steps[version:]:
            for statement in sql.split(";"):
                if statement.strip():
                    db.execute(statement)
        if row is None:
            db.execute("INSERT INTO bizpbx_schema (version) VALUES (?)", (len(steps),))
        else:
            db.execute("UPDATE bizpbx_schema SET version = ?", (len(steps),))
    return len(steps)


def postgres_version(db: PostgresConnection) -> int:
    """The schema version, 0 for a database no bizpbx has migrated."""
    if db.execute("SELECT to_regclass('bizpbx_schema')").fetchone()[0] is None:
        return 0
    row = db.execute("SELECT version FROM bizpbx_schema").fetchone()
    return row[0] if row else 0
