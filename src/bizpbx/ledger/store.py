"""The call ledger: every rated call stored once under its UUID.

`record` inserts a batch in one transaction with ``ON CONFLICT(uuid) DO
NOTHING``: a call seen again (the same CDR fed twice, an ESL event and the
CDR of the same call, two processes at once) keeps its first row, and a batch
is stored whole or not at all; the call events that go with the calls
(``call.ended``) are stored in the same transaction, so a call and its
events are stored together or not at all, once, whichever controller gets
there first. The connection settings (WAL, busy timeout) are those of
`bizpbx.ledger.database`; the ledger is a SQLite file or a PostgreSQL
database, with the same statements.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import astuple, dataclass
from decimal import Decimal

from bizpbx.ledger.database import Database, LedgerLocation, change_many, immediate_transaction, number_in_commit_order, open_database
from bizpbx.ledger.migrations import check_version, migrate
from bizpbx.rating.rate import CallRecord, Rating

_INSERT = """
INSERT INTO calls (uuid, organization, direction, called_number, number_kind, caller, callee,
                   answer_epoch, billsec, hangup_cause, trunk, outcome, rule, prefix,
                   billed_seconds, cost, source, recorded_at, start_epoch)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(uuid) DO NOTHING
"""
_INSERT_EVENT = "INSERT INTO call_events (key, call_uuid, name, body, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING"
# A recording is stored once (by its call), with its call (`bizpbx.ledger.recordings` reads them).
_INSERT_RECORDING = "INSERT INTO recordings (call_uuid, organization, path, seconds, bytes, recorded_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(call_uuid) DO NOTHING"


def insert_events(db: Database, rows: Sequence[tuple[str, str, str, str, int]]) -> int:
    """Add (key, call UUID, name, JSON body, created_at) call events, within the
    caller's transaction; an event whose key is stored is skipped. Returns how many were new."""
    if not rows:
        return 0
    number_in_commit_order(db)
    return change_many(db, _INSERT_EVENT, rows)


@dataclass(frozen=True, slots=True)
class RatedCall:
    """A call, its rating, and where it was read (``FILE:LINE`` or ``esl``)."""

    call: CallRecord
    rating: Rating
    source: str


@dataclass(frozen=True, slots=True)
class StoredRecording:
    call_uuid: str
    organization: str
    path: str
    seconds: float
    bytes: int
    recorded_at: int


@dataclass(frozen=True, slots=True)
class StoredCall:
    uuid: str
    organization: str
    direction: str
    answer_epoch: int
    billsec: int
    outcome: str
    rule: str
    prefix: str | None
    billed_seconds: int
    cost: Decimal
    source: str


@dataclass(frozen=True, slots=True)
class ListedCall:
    """A call as `bizpbx calls` lists it."""

    uuid: str
    start_epoch: int
    direction: str
    organization: str
    caller: str
    callee: str
    number_kind: str
    answer_epoch: int
    billsec: int
    billed_seconds: int
    cost: Decimal
    outcome: str
    hangup_cause: str


class Ledger:
    """One ledger (a SQLite file, or a PostgreSQL database); open it once per process (or thread)."""

    def __init__(self, where: LedgerLocation, *, read_only: bool = False):
        self._db = open_database(where, read_only=read_only)
        try:
            self.version = check_version(self._db) if read_only else migrate(self._db)
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def read_only(cls, where: LedgerLocation) -> Ledger:
        """An existing ledger, for reading only: never created, migrated or
        written (FileNotFoundError when there is no SQLite file at `where`)."""
        return cls(where, read_only=True)

    @property
    def connection(self):
        """The ledger's connection, for the tables kept beside the calls (`bizpbx.ledger.recordings`)."""
        return self._db

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def record(self, calls: Iterable[RatedCall], events: Sequence[tuple[str, str, str, str, int]] = (), recordings: Sequence[StoredRecording] = ()) -> int:
        """Store a batch, the call events that go with it (as `insert_events`
        takes them) and the calls' recordings, in one transaction (one commit: under
        load the disk made each commit cost the controller up to seconds); return
        how many calls were new."""
        now = int(time.time())
        # In the order of their UUIDs: writers on several nodes storing the same calls then take
        # their rows' locks in one order (PostgreSQL would end one of them as a deadlock).
        rows = [_row(rated, now) for rated in sorted(calls, key=lambda rated: rated.call.uuid)]
        if not rows and not events and not recordings:
            return 0
        with immediate_transaction(self._db):
            new = change_many(self._db, _INSERT, rows) if rows else 0
            if recordings:
                change_many(self._db, _INSERT_RECORDING, [astuple(recording) for recording in recordings])
            insert_events(self._db, events)
        return new

    def differing(self, calls: Sequence[RatedCall]) -> list[tuple[RatedCall, str, str]]:
        """Of `calls`, those whose UUID is stored with other call data (the
        same call read from two files that disagree): (call, the stored row's
        source, what differs)."""
        found = []
        by_uuid = {}
        uuids = sorted({rated.call.uuid for rated in calls})
        for start in range(0, len(uuids), 500):
            chunk = uuids[start : start + 500]
            cursor = self._db.execute(
                f"SELECT uuid, {', '.join(_CALL_COLUMNS)}, source FROM calls WHERE uuid IN ({', '.join('?' * len(chunk))})", chunk
            )
            by_uuid.update((row[0], row[1:]) for row in cursor)
        for rated in calls:
            stored = by_uuid.get(rated.call.uuid)
            if stored is None:
                continue
            row = _row(rated, 0)
            mine = tuple(row[_ROW_INDEX[column]] for column in _CALL_COLUMNS)
            for column, there, here in zip(_CALL_COLUMNS, stored[:-1], mine, strict=True):
                if there != here:
                    found.append((rated, stored[-1], f"{column} {there!r} there, {here!r} here"))
                    break
        return found

    def has(self, uuid: str) -> bool:
        return self._db.execute("SELECT 1 FROM calls WHERE uuid = ?", (uuid,)).fetchone() is not None

    def calls(self, organization: str, since: int, until: int) -> Iterator[StoredCall]:
        """The organization's calls answered in [since, until) (epoch seconds),
        in order of answer time."""
        cursor = self._db.execute(
            "SELECT uuid, organization, direction, answer_epoch, billsec, outcome, rule, prefix, billed_seconds, cost, source"
            " FROM calls WHERE organization = ? AND answer_epoch >= ? AND answer_epoch < ?"
            " ORDER BY answer_epoch, uuid",
            (organization, since, until),
        )
        for row in cursor:
            yield StoredCall(*row[:9], Decimal(row[9]), row[10])

    def listed(self, since: int, until: int, organization: str | None = None) -> Iterator[ListedCall]:
        """Every call that started in [since, until) (epoch seconds), of one
        organization or all, in order of start time."""
        query = (
            "SELECT uuid, start_epoch, direction, organization, caller, callee, number_kind, answer_epoch, billsec,"
            " billed_seconds, cost, outcome, hangup_cause FROM calls WHERE start_epoch >= ? AND start_epoch < ?"
        )
        arguments: list[object] = [since, until]
        if organization is not None:
            query += " AND organization = ?"
            arguments.append(organization)
        for row in self._db.execute(query + " ORDER BY start_epoch, uuid", arguments):
            yield ListedCall(*row[:10], Decimal(row[10]), *row[11:])

    def spend(self, organization: str, since: int, until: int) -> Decimal:
        """What the organization's calls answered in [since, until) cost (before
        any call credit): for the daily spend cap."""
        cursor = self._db.execute(
            "SELECT cost FROM calls WHERE organization = ? AND answer_epoch >= ? AND answer_epoch < ?",
            (organization, since, until),
        )
        return sum((Decimal(cost) for (cost,) in cursor), Decimal("0.00"))

    def count(self) -> int:
        return self._db.execute("SELECT count(*) FROM calls").fetchone()[0]


# The columns that describe the call itself (the rest is its rating and where it was read).
_CALL_COLUMNS = ("direction", "called_number", "number_kind", "caller", "callee", "answer_epoch", "billsec", "hangup_cause", "trunk")
_ROW_INDEX = {name: index for index, name in enumerate(
    ("uuid", "organization", "direction", "called_number", "number_kind", "caller", "callee", "answer_epoch", "billsec",
     "hangup_cause", "trunk", "outcome", "rule", "prefix", "billed_seconds", "cost", "source", "recorded_at", "start_epoch")
)}


def _row(rated: RatedCall, now: int) -> tuple[object, ...]:
    # The enums are StrEnums, stored as their text; reading `.value` would
    # cost more than the rest of the row.
    call, rating = rated.call, rated.rating
    return (
        call.uuid,
        rating.payer,
        call.direction,
        call.called_number,
        call.number_kind or "",
        call.caller,
        call.callee,
        call.answer_epoch,
        call.billsec,
        call.hangup_cause,
        call.trunk,
        rating.outcome,
        rating.rule,
        rating.prefix,
        rating.billed_seconds,
        str(rating.cost),
        rated.source,
        now,
        # Unknown in a CDR written before bizpbx recorded it: the answer time, else the rating time.
        call.start_epoch or call.answer_epoch or now,
    )
