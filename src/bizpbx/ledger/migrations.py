"""The ledger's schema, as an ordered list of migration steps.

The steps so far: the rated calls (``calls``, written by
`bizpbx.ledger.store`); the controller's call events for consumers, webhook
cursors and CDR file offsets; webhook dead letters and delivery health (the
controller's tables, written by `bizpbx.controller.outbox`); call recordings
(`bizpbx.controller.recordings`).

Each step is written for SQLite (`sql`) and for PostgreSQL (`postgresql`,
the same tables in its dialect: BIGINT for epoch seconds, identity columns,
``"offset"`` quoted); a step without a PostgreSQL text uses the SQLite one.

SQLite's ``PRAGMA user_version`` (PostgreSQL: the table ``bizpbx_schema``)
is the number of steps applied. On opening, the steps not yet applied run in
order, all in one transaction (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: under
an advisory lock), so two processes opening a new ledger at once migrate it
once. A database with a version above ``len(MIGRATIONS)`` was
written by a newer bizpbx and is refused.

To change the schema, append a `Migration` (what it adds, and its SQL) at the
end of `MIGRATIONS`. Never edit, reorder or remove a step once released:
existing ledgers have already run it. Steps are plain SQL statements
separated by ';' (no triggers with inner ';').
"""

from __future__ import annotations

from dataclasses import dataclass

from bizpbx.ledger.database import Database, immediate_transaction
from bizpbx.ledger.postgres import PostgresConnection, migrate_postgres, postgres_version


@dataclass(frozen=True)
class Migration:
    description: str
    sql: str
    postgresql: str = ""  # the step in PostgreSQL's dialect, when the SQLite text does not serve


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
        """
        CREATE TABLE calls (
            uuid TEXT PRIMARY KEY NOT NULL,
            organization TEXT NOT NULL,
            direction TEXT NOT NULL,
            called_number TEXT NOT NULL,
            number_kind TEXT NOT NULL,
            caller TEXT NOT NULL,
            callee TEXT NOT NULL,
            answer_epoch BIGINT NOT NULL,
            billsec BIGINT NOT NULL,
            hangup_cause TEXT NOT NULL,
            trunk TEXT NOT NULL,
            outcome TEXT NOT NULL,
            rule TEXT NOT NULL,
            prefix TEXT,
            billed_seconds BIGINT NOT NULL,
            cost TEXT NOT NULL,
            source TEXT NOT NULL,
            recorded_at BIGINT NOT NULL
        );
        CREATE INDEX calls_by_payer_and_time ON calls(organization, answer_epoch)
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
        """
        CREATE TABLE call_events (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            call_uuid TEXT NOT NULL,
            name TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at BIGINT NOT NULL
        );
        CREATE TABLE webhook_cursors (
            webhook TEXT PRIMARY KEY NOT NULL,
            delivered_id BIGINT NOT NULL
        );
        CREATE TABLE cdr_offsets (
            file_key TEXT PRIMARY KEY NOT NULL,
            path TEXT NOT NULL,
            "offset" BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
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
        """
        CREATE TABLE webhook_dead_letters (
            webhook TEXT NOT NULL,
            event_id BIGINT NOT NULL REFERENCES call_events(id),
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            reason TEXT NOT NULL,
            dead_at BIGINT NOT NULL,
            PRIMARY KEY (webhook, event_id)
        );
        ALTER TABLE webhook_cursors ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE webhook_cursors ADD COLUMN last_success_at BIGINT;
        ALTER TABLE webhook_cursors ADD COLUMN last_failure_at BIGINT;
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
        """
        ALTER TABLE calls ADD COLUMN start_epoch BIGINT NOT NULL DEFAULT 0;
        UPDATE calls SET start_epoch = CASE WHEN answer_epoch > 0 THEN answer_epoch ELSE recorded_at END;
        CREATE INDEX calls_by_start ON calls(start_epoch)
        """,
    ),
    Migration(
        "controllers on several nodes (used with PostgreSQL): outbound calls in progress, leases",
        """
        CREATE TABLE active_calls (
            call_uuid TEXT PRIMARY KEY NOT NULL,
            organization TEXT NOT NULL,      -- whose outbound call: the toll-fraud guard counts them
            node TEXT NOT NULL,              -- the controller handling it
            expires_at REAL NOT NULL         -- epoch seconds, moved on by the node's heartbeat: a dead node's rows lapse
        );
        CREATE INDEX active_calls_by_organization ON active_calls(organization);
        CREATE TABLE leases (
            name TEXT PRIMARY KEY NOT NULL,  -- a job one controller of the cluster does: a webhook's delivery, a CDR sweep
            holder TEXT NOT NULL,
            expires_at REAL NOT NULL         -- renewed by the holder, taken by another node once lapsed
        )
        """,
        """
        CREATE TABLE active_calls (
            call_uuid TEXT PRIMARY KEY NOT NULL,
            organization TEXT NOT NULL,
            node TEXT NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX active_calls_by_organization ON active_calls(organization);
        CREATE TABLE leases (
            name TEXT PRIMARY KEY NOT NULL,
            holder TEXT NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL
        )
        """,
    ),
    Migration(
        "call recordings: each tied to its call, until the retention deletes its file",
        """
        CREATE TABLE recordings (
            call_uuid TEXT PRIMARY KEY NOT NULL,  -- the call (calls.uuid) it recorded
            organization TEXT NOT NULL,
            path TEXT NOT NULL,              -- the WAV the switch wrote
            seconds REAL NOT NULL,           -- its length
            bytes INTEGER NOT NULL,
            recorded_at INTEGER NOT NULL,    -- when the controller found it (epoch)
            deleted_at INTEGER               -- when the retention deleted the file, NULL while kept
        )
        """,
        """
        CREATE TABLE recordings (
            call_uuid TEXT PRIMARY KEY NOT NULL,
            organization TEXT NOT NULL,
            path TEXT NOT NULL,
            seconds DOUBLE PRECISION NOT NULL,
            bytes BIGINT NOT NULL,
            recorded_at BIGINT NOT NULL,
            deleted_at BIGINT
        )
        """,
    ),
)


class LedgerVersionError(RuntimeError):
    """The ledger was written by a newer bizpbx than this one."""


def check_version(connection: Database, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """The database's version, refused when a newer bizpbx wrote it; changes nothing."""
    if isinstance(connection, PostgresConnection):
        return _refuse_newer(postgres_version(connection), migrations)
    return _refuse_newer(connection.execute("PRAGMA user_version").fetchone()[0], migrations)


def _refuse_newer(version: int, migrations: tuple[Migration, ...]) -> int:
    if version > len(migrations):
        raise LedgerVersionError(f"the ledger is at schema version {version}; this bizpbx knows {len(migrations)}: upgrade bizpbx")
    return version


def migrate(connection: Database, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Apply the steps the database lacks; return its version afterwards.

    `connection` comes from `bizpbx.ledger.database.open_database`.
    """
    if isinstance(connection, PostgresConnection):
        steps = [step.postgresql or step.sql for step in migrations]
        return migrate_postgres(connection, steps, lambda version: _refuse_newer(version, migrations))
    with immediate_transaction(connection):
        version = check_version(connection, migrations)
        for step in migrations[version:]:
            for statement in step.sql.split(";"):
                if statement.strip():
                    connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {len(migrations)}")
    return len(migrations)
