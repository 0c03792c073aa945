"""The durable side of call events, in the ledger's database (migration 2).

`call_events` is the outbox: every normalized call event, stored once under
its key (call UUID, name, sequence), in order of its id. Each webhook has a
cursor, the last id it acknowledged, so an event is waiting for a webhook
until the webhook said 2xx, across restarts and outages. `cdr_offsets`
remembers how far each CDR file was processed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bizpbx.ledger import Ledger
from bizpbx.ledger.database import connect, insert_once


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    call_uuid: str
    name: str
    body: str

    @property
    def data(self) -> dict:
        return json.loads(self.body)


class Outbox:
    """One connection to the ledger database for the controller's own tables."""

    def __init__(self, path: Path | str) -> None:
        Ledger(path).close()  # creates the file and runs the migrations, ours included
        self._db = connect(Path(path))

    def close(self) -> None:
        self._db.close()

    def add(self, events: Iterable[tuple[str, str, str, dict]]) -> int:
        """Store (key, call UUID, name, body) events in one transaction; a key
        already stored is skipped. Returns how many were new."""
        now = int(time.time())
        rows = [(key, uuid, name, json.dumps(body, ensure_ascii=False, separators=(",", ":")), now) for key, uuid, name, body in events]
        return insert_once(self._db, "INSERT INTO call_events (key, call_uuid, name, body, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING", rows)

    def after(self, last_id: int, limit: int = 100) -> list[StoredEvent]:
        rows = self._db.execute("SELECT id, call_uuid, name, body FROM call_events WHERE id > ? ORDER BY id LIMIT ?", (last_id, limit))
        return [StoredEvent(*row) for row in rows]

    def last_id(self) -> int:
        return self._db.execute("SELECT coalesce(max(id), 0) FROM call_events").fetchone()[0]

    def cursor(self, webhook: str) -> int:
        row = self._db.execute("SELECT delivered_id FROM webhook_cursors WHERE webhook = ?", (webhook,)).fetchone()
        return row[0] if row else 0

    def acknowledge(self, webhook: str, event_id: int) -> None:
        self._db.execute(
            "INSERT INTO webhook_cursors (webhook, delivered_id) VALUES (?, ?)"
            " ON CONFLICT(webhook) DO UPDATE SET delivered_id = max(delivered_id, excluded.delivered_id)",
            (webhook, event_id),
        )

    def depth(self, webhooks: Iterable[str]) -> int:
        """Events still waiting for the slowest webhook."""
        cursors = [self.cursor(name) for name in webhooks]
        if not cursors:
            return 0
        return self._db.execute("SELECT count(*) FROM call_events WHERE id > ?", (min(cursors),)).fetchone()[0]

    def offset(self, file_key: str) -> int:
        row = self._db.execute("SELECT offset FROM cdr_offsets WHERE file_key = ?", (file_key,)).fetchone()
        return row[0] if row else 0

    def set_offset(self, file_key: str, path: Path, offset: int) -> None:
        self._db.execute(
            "INSERT INTO cdr_offsets (file_key, path, offset, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(file_key) DO UPDATE SET path = excluded.path, offset = excluded.offset, updated_at = excluded.updated_at",
            (file_key, str(path), offset, int(time.time())),
        )

    def last_cdr(self) -> tuple[str, int] | None:
        """The CDR file processed last and when (epoch seconds)."""
        return self._db.execute("SELECT path, updated_at FROM cdr_offsets ORDER BY updated_at DESC LIMIT 1").fetchone()
