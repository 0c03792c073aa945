"""Delivered call events leave the outbox after a retention period.

An event goes only when every configured webhook has acknowledged it (its
id is at or below each webhook's cursor; a webhook that never delivered
anything has no cursor and holds every event back) and no dead letter, of
any webhook, refers to it: dead letters stay until `bizpbx events retry` or
`skip` deals with them, and `prune_delivered` reports how many there are.
The calls themselves (the ledger's `calls`) are never pruned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bizpbx.ledger.database import Database, change_many, immediate_transaction

DAY_SECONDS = 86_400


@dataclass(frozen=True)
class Pruned:
    events: int  # delivered events removed
    dead_letters: int  # dead letters kept (never pruned)


def prune_delivered(db: Database, webhooks: Iterable[str], now: int, days: int) -> Pruned:
    """Remove the events created more than `days` before `now` that every webhook
    in `webhooks` has acknowledged and no dead letter holds, in one transaction."""
    names = sorted(set(webhooks))
    with immediate_transaction(db):
        if names:
            marks = ",".join("?" * len(names))
            cursors = db.execute(f"SELECT count(*), min(delivered_id) FROM webhook_cursors WHERE webhook IN ({marks})", names).fetchone()
            delivered_up_to = cursors[1] if cursors[0] == len(names) else 0
        else:
            delivered_up_to = db.execute("SELECT coalesce(max(id), 0) FROM call_events").fetchone()[0]  # nobody to deliver to
        removed = change_many(
            db,
            "DELETE FROM call_events WHERE created_at < ? AND id <= ?"
            " AND NOT EXISTS (SELECT 1 FROM webhook_dead_letters d WHERE d.event_id = call_events.id)",
            [(now - days * DAY_SECONDS, delivered_up_to)],
        )
        kept = db.execute("SELECT count(*) FROM webhook_dead_letters").fetchone()[0]
    return Pruned(removed, kept)
