"""The ledger's schema, as an ordered list of migration steps.

The steps so far: the rated calls (``calls``, written by
`bizpbx.ledger.store`); the controller's call events for consumers, webhook
cursors and CDR file offsets; webhook dead letters and delivery health (the
controller's tables, written by `bizpbx.controller.outbox`).

The database's ``PRAGMA user_version`` is the number of steps applied. On
opening, the steps not yet applied run in order, all in one ``BEGIN
IMMEDIATE`` transaction, so two processes opening a new ledger at once
migrate it once. A database with a version above ``len(MIGRATIONS)`` was
written by a newer bizpbx and is refused.

To change the schema, append a `Migration` (what it adds, and its SQL) at the
end of `MIGRATIONS`. Never edit, reorder or remove a step once released:
existing ledgers have already run it. Steps are plain SQL statements
separated by ';' (no triggers with inner ';').
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from bizpbx.ledger.database import immediate_transaction


@dataclass(frozen=True)
class Migration:
    description: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "rated calls, one row per call UUID",
        """
        CREATE TABLE calls (
            uuid TEXT PRIMARY KEY NOT NULL,
            organization TEXT NOT NULL,      -- who pays: the caller's organization, the 8-800 number's owner
            direction TEXT NOT NULL,
            called_number TEXT NOT NULL,
            number_kind TEXT NOT NULL,
            caller TEXT NOT NULL,
            callee TEXT NOT NULL,
            answer_epoch INTEGER NOT NULL,   -- 0 when never answered
            billsec INTEGER NOT NULL,
            hangup_cause TEXT NOT NULL,
            trunk TEXT NOT NULL,
            outcome TEXT NOT NULL,           -- billed, free, rejected, unrated
            rule TEXT NOT NULL,
            prefix TEXT,
            billed_seconds INTEGER NOT NULL,
            cost TEXT NOT NULL,              -- roubles, exact decimal text such as 12.40
            source TEXT NOT NULL,            -- FILE:LINE of the CDR, or esl
            recorded_at INTEGER NOT NULL
        );
        CREATE INDEX calls_by_payer_and_time ON calls(organization, answer_epoch);
        """,
    ),
    Migration(
        "controller: call events for consumers, webhook cursors, CDR file offsets",
        """
        CREATE TABLE call_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL UNIQUE,        -- call UUID, event name and sequence: an event is stored once
            call_uuid TEXT NOT NULL,
            name TEXT NOT NULL,              -- call.started, call.answered, call.transferred, call.ended
            body TEXT NOT NULL,              -- the JSON delivered, as delivered
            created_at INTEGER NOT NULL
        );
        CREATE TABLE webhook_cursors (
            webhook TEXT PRIMARY KEY NOT NULL,
            delivered_id INTEGER NOT NULL    -- every call_events row up to this id is delivered
        );
        CREATE TABLE cdr_offsets (
            file_key TEXT PRIMARY KEY NOT NULL,  -- device:inode, so a rotated (renamed) file keeps its offset
            path TEXT NOT NULL,
            offset INTEGER NOT NULL,         -- bytes of whole lines processed
            updated_at INTEGER NOT NULL
        )
        """,
    ),
    Migration(
        "controller: webhook dead letters and delivery health",
        """
        CREATE TABLE webhook_dead_letters (
            webhook TEXT NOT NULL,
            event_id INTEGER NOT NULL REFERENCES call_events(id),
            state TEXT NOT NULL,             -- dead (set aside) or retry (queued again, delivered before newer events)
            attempts INTEGER NOT NULL,
            reason TEXT NOT NULL,            -- the last failure, without secrets
            dead_at INTEGER NOT NULL,
            PRIMARY KEY (webhook, event_id)
        );
        ALTER TABLE webhook_cursors ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE webhook_cursors ADD COLUMN last_success_at INTEGER;
        ALTER TABLE webhook_cursors ADD COLUMN last_failure_at INTEGER;
        ALTER TABLE webhook_cursors ADD COLUMN last_error TEXT
        """,
    ),
    Migration(
        "calls: when each call started (exports list unanswered calls by time too)",
        """
        ALTER TABLE calls ADD COLUMN start_epoch INTEGER NOT NULL DEFAULT 0;
        UPDATE calls SET start_epoch = CASE WHEN answer_epoch > 0 THEN answer_epoch ELSE recorded_at END;
        CREATE INDEX calls_by_start ON calls(start_epoch)
        """,
    ),
)


class LedgerVersionError(RuntimeError):
    """The ledger was written by a newer bizpbx than this one."""


def check_version(connection: sqlite3.Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """The database's version, refused when a newer bizpbx wrote it; changes nothing."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > len(migrations):
        raise LedgerVersionError(f"the ledger is at schema version {version}; this bizpbx knows {len(migrations)}: upgrade bizpbx")
    return version


def migrate(connection: sqlite3.Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Apply the steps the database lacks; return its version afterwards.

    `connection` comes from `bizpbx.ledger.database.connect`.
    """
    with immediate_transaction(connection):
        version = check_version(connection, migrations)
        for step in migrations[version:]:
            for statement in step.sql.split(";"):
                if statement.strip():
                    connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {len(migrations)}")
    return len(migrations)
