"""The ledger's call recordings: each tied to its call, kept until the
retention deletes its file (`bizpbx.controller.recordings`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bizpbx.ledger.database import immediate_transaction

if TYPE_CHECKING:  # the ledger stores recordings with their calls (`Ledger.record`)
    from bizpbx.ledger.store import Ledger


@dataclass(frozen=True, slots=True)
class StoredRecording:
    call_uuid: str
    organization: str
    path: str
    seconds: float
    bytes: int
    recorded_at: int


# A recording is stored once (by its call), in the transaction of its call (`Ledger.record`).
INSERT_RECORDING = "INSERT INTO recordings (call_uuid, organization, path, seconds, bytes, recorded_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(call_uuid) DO NOTHING"


def recording_row(recording: StoredRecording) -> tuple[object, ...]:
    return (recording.call_uuid, recording.organization, recording.path, recording.seconds, recording.bytes, recording.recorded_at)


def recording_of(ledger: Ledger, call_uuid: str) -> StoredRecording | None:
    """The kept (not deleted) recording of a call."""
    row = ledger.connection.execute(
        "SELECT call_uuid, organization, path, seconds, bytes, recorded_at FROM recordings WHERE call_uuid = ? AND deleted_at IS NULL", (call_uuid,)
    ).fetchone()
    return StoredRecording(*row) if row else None


def mark_deleted(ledger: Ledger, paths: list[str], at: int) -> None:
    with immediate_transaction(ledger.connection):
        ledger.connection.executemany("UPDATE recordings SET deleted_at = ? WHERE path = ? AND deleted_at IS NULL", [(at, path) for path in paths])
