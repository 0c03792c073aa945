"""The durable side of call events, in the ledger's database (migrations 2, 3).

`call_events` is the outbox: every normalized call event, stored once under
its key (call UUID, name, sequence), in order of its id. Each webhook has a
cursor, the last id it acknowledged, so an event is waiting for a webhook
until the webhook said 2xx, across restarts and outages. The cursor's row
also keeps the webhook's delivery health (failed attempts in a row, last
success, last error). `cdr_offsets` remembers how far each CDR file was
processed.

An event a webhook refused for good is set aside in `webhook_dead_letters`
(state ``dead``) and the cursor moves past it, so later events flow.
`requeue` (``bizpbx events retry``) turns dead letters into state ``retry``:
the webhook's delivery loop takes those first, in id order, before newer
events; `discard` (``bizpbx events skip``) forgets them.

The statements are the same for the SQLite file and for PostgreSQL (see
`bizpbx.ledger.postgres`); the delivery loops of several controllers sharing
one PostgreSQL ledger take turns by lease (`bizpbx.ledger.cluster`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bizpbx.ledger import Ledger
from bizpbx.ledger.database import LedgerLocation, change_many, immediate_transaction, open_database
from bizpbx.ledger.store import insert_events

# The cursor never moves back: a slower writer's smaller id keeps the larger one.
_LATER_CURSOR = (
    "CASE WHEN excluded.delivered_id > webhook_cursors.delivered_id THEN excluded.delivered_id ELSE webhook_cursors.delivered_id END"
)


def event_rows(events: Iterable[tuple[str, str, str, dict]], now: int) -> list[tuple[str, str, str, str, int]]:
    """(key, call UUID, name, body) events as the outbox stores them: the body as the JSON delivered."""
    return [(key, uuid, name, json.dumps(body, ensure_ascii=False, separators=(",", ":")), now) for key, uuid, name, body in events]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    call_uuid: str
    name: str
    body: str

    @property
    def data(self) -> dict:
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    webhook: str
    event: StoredEvent
    state: str  # dead, or retry once queued again
    attempts: int
    reason: str
    dead_at: int


@dataclass(frozen=True, slots=True)
class Health:
    """How a webhook's deliveries go (every value survives a restart)."""

    consecutive_failures: int = 0
    last_success_at: int | None = None
    last_failure_at: int | None = None
    last_error: str | None = None


class Outbox:
    """One connection to the ledger database for the controller's own tables."""

    def __init__(self, where: LedgerLocation) -> None:
        Ledger(where).close()  # creates the file and runs the migrations, ours included
        self._db = open_database(where)

    def close(self) -> None:
        self._db.close()

    def add(self, events: Iterable[tuple[str, str, str, dict]]) -> int:
        """Store (key, call UUID, name, body) events in one transaction; a key
        already stored is skipped. Returns how many were new."""
        rows = event_rows(events, int(time.time()))
        if not rows:
            return 0
        with immediate_transaction(self._db):
            return insert_events(self._db, rows)

    def after(self, last_id: int, limit: int = 100) -> list[StoredEvent]:
        rows = self._db.execute("SELECT id, call_uuid, name, body FROM call_events WHERE id > ? ORDER BY id LIMIT ?", (last_id, limit))
        return [StoredEvent(*row) for row in rows]

    def last_name(self, subject: str) -> str | None:
        """The name of the last event stored about `subject` (a call UUID, or a trunk's subject)."""
        row = self._db.execute("SELECT name FROM call_events WHERE call_uuid = ? ORDER BY id DESC LIMIT 1", (subject,)).fetchone()
        return row[0] if row else None

    def last_id(self) -> int:
        return self._db.execute("SELECT coalesce(max(id), 0) FROM call_events").fetchone()[0]

    def cursor(self, webhook: str) -> int:
        row = self._db.execute("SELECT delivered_id FROM webhook_cursors WHERE webhook = ?", (webhook,)).fetchone()
        return row[0] if row else 0

    def acknowledge(self, webhook: str, event_id: int) -> None:
        self._db.execute(
            "INSERT INTO webhook_cursors (webhook, delivered_id) VALUES (?, ?)"
            f" ON CONFLICT(webhook) DO UPDATE SET delivered_id = {_LATER_CURSOR}",
            (webhook, event_id),
        )

    def depth(self, webhooks: Iterable[str]) -> int:
        """Events still waiting for the slowest webhook (dead letters queued again included)."""
        names = list(webhooks)
        if not names:
            return 0
        waiting = self._db.execute("SELECT count(*) FROM call_events WHERE id > ?", (min(self.cursor(name) for name in names),)).fetchone()[0]
        marks = ",".join("?" * len(names))
        requeued = self._db.execute(f"SELECT count(DISTINCT event_id) FROM webhook_dead_letters WHERE state = 'retry' AND webhook IN ({marks})", names).fetchone()[0]
        return waiting + requeued

    # --- delivery outcomes, dead letters, health ----------------------------------

    def delivered(self, webhook: str, event_id: int, at: int) -> None:
        """The webhook answered 2xx: the cursor moves (or the requeued dead letter goes), the failure count resets."""
        with immediate_transaction(self._db):
            self._db.execute("DELETE FROM webhook_dead_letters WHERE webhook = ? AND event_id = ?", (webhook, event_id))
            self._db.execute(
                "INSERT INTO webhook_cursors (webhook, delivered_id, consecutive_failures, last_success_at) VALUES (?, ?, 0, ?)"
                f" ON CONFLICT(webhook) DO UPDATE SET delivered_id = {_LATER_CURSOR},"
                " consecutive_failures = 0, last_success_at = excluded.last_success_at",
                (webhook, event_id, at),
            )

    def failed(self, webhook: str, at: int, error: str) -> int:
        """Note a failed attempt; return the failed attempts in a row, this one included."""
        with immediate_transaction(self._db):
            self._db.execute(
                "INSERT INTO webhook_cursors (webhook, delivered_id, consecutive_failures, last_failure_at, last_error) VALUES (?, 0, 1, ?, ?)"
                " ON CONFLICT(webhook) DO UPDATE SET consecutive_failures = webhook_cursors.consecutive_failures + 1,"
                " last_failure_at = excluded.last_failure_at, last_error = excluded.last_error",
                (webhook, at, error),
            )
            return self._db.execute("SELECT consecutive_failures FROM webhook_cursors WHERE webhook = ?", (webhook,)).fetchone()[0]

    def health(self, webhook: str) -> Health:
        row = self._db.execute(
            "SELECT consecutive_failures, last_success_at, last_failure_at, last_error FROM webhook_cursors WHERE webhook = ?", (webhook,)
        ).fetchone()
        return Health(*row) if row else Health()

    def set_aside(self, webhook: str, event_id: int, attempts: int, reason: str, at: int) -> None:
        """Make the event a dead letter of the webhook and move the cursor past it, in one transaction."""
        with immediate_transaction(self._db):
            self._db.execute(
                "INSERT INTO webhook_dead_letters (webhook, event_id, state, attempts, reason, dead_at) VALUES (?, ?, 'dead', ?, ?, ?)"
                " ON CONFLICT(webhook, event_id) DO UPDATE SET state = 'dead', attempts = webhook_dead_letters.attempts + excluded.attempts,"
                " reason = excluded.reason, dead_at = excluded.dead_at",
                (webhook, event_id, attempts, reason, at),
            )
            self._db.execute(
                "INSERT INTO webhook_cursors (webhook, delivered_id) VALUES (?, ?)"
                f" ON CONFLICT(webhook) DO UPDATE SET delivered_id = {_LATER_CURSOR}",
                (webhook, event_id),
            )

    def requeued(self, webhook: str, limit: int = 100) -> list[StoredEvent]:
        """Dead letters queued again for the webhook, oldest event first."""
        rows = self._db.execute(
            "SELECT e.id, e.call_uuid, e.name, e.body FROM webhook_dead_letters d JOIN call_events e ON e.id = d.event_id"
            " WHERE d.webhook = ? AND d.state = 'retry' ORDER BY e.id LIMIT ?",
            (webhook, limit),
        )
        return [StoredEvent(*row) for row in rows]

    def dead_letters(self, webhook: str | None = None, *, state: str | None = None) -> list[DeadLetter]:
        query = (
            "SELECT d.webhook, e.id, e.call_uuid, e.name, e.body, d.state, d.attempts, d.reason, d.dead_at"
            " FROM webhook_dead_letters d JOIN call_events e ON e.id = d.event_id WHERE 1 = 1"
        )
        arguments: list[object] = []
        if webhook is not None:
            query += " AND d.webhook = ?"
            arguments.append(webhook)
        if state is not None:
            query += " AND d.state = ?"
            arguments.append(state)
        rows = self._db.execute(query + " ORDER BY d.webhook, e.id", arguments)
        return [DeadLetter(row[0], StoredEvent(*row[1:5]), *row[5:]) for row in rows]

    def dead_count(self, webhook: str) -> int:
        return self._db.execute("SELECT count(*) FROM webhook_dead_letters WHERE webhook = ? AND state = 'dead'", (webhook,)).fetchone()[0]

    def requeue(self, letters: Iterable[DeadLetter]) -> int:
        """Queue these dead letters again (state retry); return how many changed."""
        return self._change_letters("UPDATE webhook_dead_letters SET state = 'retry' WHERE webhook = ? AND event_id = ? AND state = 'dead'", letters)

    def discard(self, letters: Iterable[DeadLetter]) -> int:
        """Forget these dead letters: their events are never delivered to their webhooks."""
        return self._change_letters("DELETE FROM webhook_dead_letters WHERE webhook = ? AND event_id = ?", letters)

    def _change_letters(self, statement: str, letters: Iterable[DeadLetter]) -> int:
        rows = [(letter.webhook, letter.event.id) for letter in letters]
        with immediate_transaction(self._db):
            return change_many(self._db, statement, rows)

    def offset(self, file_key: str) -> int:
        row = self._db.execute('SELECT "offset" FROM cdr_offsets WHERE file_key = ?', (file_key,)).fetchone()
        return row[0] if row else 0

    def set_offset(self, file_key: str, path: Path, offset: int) -> None:
        self._db.execute(
            'INSERT INTO cdr_offsets (file_key, path, "offset", updated_at) VALUES (?, ?, ?, ?)'
            ' ON CONFLICT(file_key) DO UPDATE SET path = excluded.path, "offset" = excluded."offset", updated_at = excluded.updated_at',
            (file_key, str(path), offset, int(time.time())),
        )

    def last_cdr(self) -> tuple[str, int] | None:
        """The CDR file processed last and when (epoch seconds)."""
        return self._db.execute("SELECT path, updated_at FROM cdr_offsets ORDER BY updated_at DESC LIMIT 1").fetchone()
