"""The ledger's call recordings: each tied to its call, kept until the
retention deletes its file (`bizpbx.controller.recordings`)."""

from __future__ import annotations

from bizpbx.ledger.database import immediate_transaction
from bizpbx.ledger.store import Ledger, StoredRecording  # stored with its call: `Ledger.record`


def recording_of(ledger: Ledger, call_uuid: str) -> StoredRecording | None:
    """The kept (not deleted) recording of a call."""
    row = ledger.connection.execute(
        "SELECT call_uuid, organization, path, seconds, bytes, recorded_at FROM recordings WHERE call_uuid = ? AND deleted_at IS NULL", (call_uuid,)
    ).fetchone()
    return StoredRecording(*row) if row else None


def mark_deleted(ledger: Ledger, paths: list[str], at: int) -> None:
    with immediate_transaction(ledger.connection):
        ledger.connection.executemany("UPDATE recordings SET deleted_at = ? WHERE path = ? AND deleted_at IS NULL", [(at, path) for path in paths])
