"""Delivered call events leave the outbox after the retention period; events
a webhook still waits for, and dead letters, stay."""

from __future__ import annotations

import sqlite3
import time

from bizpbx.controller.outbox import Outbox
from bizpbx.controller.retention import DAY_SECONDS, prune_delivered
from bizpbx.ledger.database import connect

NOW = int(time.time())


def outbox_with_events(path, n: int, age_days: float) -> Outbox:
    outbox = Outbox(path)
    outbox.add([(f"call-{i}:call.ended", f"call-{i}", "call.ended", {"event": "call.ended"}) for i in range(n)])
    db = sqlite3.connect(path)
    db.execute("UPDATE call_events SET created_at = ?", (NOW - int(age_days * DAY_SECONDS),))
    db.commit()
    db.close()
    return outbox


def remaining(outbox: Outbox) -> list[int]:
    return [e.id for e in outbox.after(0, limit=1000)]


def test_events_every_webhook_acknowledged_go_once_old_enough(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    outbox = outbox_with_events(path, 10, age_days=31)
    outbox.acknowledge("crm", 8)
    outbox.acknowledge("audit", 6)  # the slower webhook holds back 7 to 10
    pruned = prune_delivered(connect(path), ["crm", "audit"], NOW, days=30)
    assert (pruned.events, pruned.dead_letters) == (6, 0)
    assert remaining(outbox) == [7, 8, 9, 10]


def test_recent_events_stay_however_delivered(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    outbox = outbox_with_events(path, 5, age_days=29.9)
    outbox.acknowledge("crm", 5)
    assert prune_delivered(connect(path), ["crm"], NOW, days=30).events == 0
    assert remaining(outbox) == [1, 2, 3, 4, 5]


def test_a_webhook_that_never_delivered_holds_every_event(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    outbox = outbox_with_events(path, 5, age_days=100)
    outbox.acknowledge("crm", 5)
    assert prune_delivered(connect(path), ["crm", "new"], NOW, days=30).events == 0
    assert len(remaining(outbox)) == 5


def test_without_webhooks_old_events_go(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    outbox = outbox_with_events(path, 5, age_days=100)
    assert prune_delivered(connect(path), [], NOW, days=30).events == 5
    assert remaining(outbox) == []


def test_dead_letters_are_never_pruned_and_are_counted(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    outbox = outbox_with_events(path, 6, age_days=365)
    outbox.set_aside("crm", 2, attempts=3, reason="HTTP 400", at=NOW)  # the cursor moves past it
    outbox.acknowledge("crm", 6)
    outbox.set_aside("old-webhook", 4, attempts=1, reason="HTTP 410", at=NOW)  # a webhook no longer in the site
    pruned = prune_delivered(connect(path), ["crm"], NOW, days=30)
    assert (pruned.events, pruned.dead_letters) == (4, 2)
    assert remaining(outbox) == [2, 4]
    assert [letter.event.id for letter in outbox.dead_letters()] == [2, 4]
