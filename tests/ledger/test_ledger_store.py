"""The ledger stores each call once, whole batches or nothing, and migrates."""

from __future__ import annotations

import multiprocessing
import sqlite3
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from bizpbx.ledger import MIGRATIONS, Ledger, LedgerVersionError, Migration, RatedCall, migrate
from bizpbx.rating import CallRecord, Direction, Rating, Rule
from bizpbx.settings import PostgresLedger

START = 1795590000


def rated(uuid: str, cost: str = "1.20", *, org: str = "12", at: int = START, caller: str | None = "101") -> RatedCall:
    call = CallRecord(uuid, org, Direction.OUTBOUND, "+74951112233", None, caller, "84951112233", at, 60, "NORMAL_CLEARING", "carrier")
    return RatedCall(call, Rating(Rule.OUTBOUND_DECK, int(Decimal(cost) * 100), 60, org, "74951112233"), f"Master.csv:{uuid}")


@pytest.fixture
def ledger(ledger_location) -> Ledger:
    with Ledger(ledger_location) as opened:
        yield opened


def test_a_call_is_stored_once(ledger: Ledger) -> None:
    batch = [rated("a"), rated("b"), rated("c")]
    assert ledger.record(batch) == 3
    assert ledger.record(batch) == 0
    assert ledger.record([rated("c"), rated("d")]) == 1
    assert ledger.count() == 4
    assert ledger.has("d") and not ledger.has("e")


def test_the_same_uuid_twice_in_one_batch_keeps_the_first(ledger: Ledger) -> None:
    assert ledger.record([rated("a", "1.00"), rated("a", "9.00")]) == 1
    assert [c.cost for c in ledger.calls("12", START, START + 1)] == [Decimal("1.00")]


def test_the_rating_and_source_are_stored(ledger: Ledger) -> None:
    ledger.record([rated("a", "12.70")])
    (stored,) = ledger.calls("12", START, START + 1)
    assert (stored.cost, stored.rule, stored.outcome, stored.prefix, stored.billed_seconds, stored.source) == (
        Decimal("12.70"), "outbound-deck", "billed", None, 60, "Master.csv:a"
    )


def test_a_failing_batch_stores_nothing(ledger: Ledger) -> None:
    ledger.record([rated("first")])
    broken = [rated("a"), rated("b"), rated("c", caller=None), rated("d")]
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.NotNullViolation)):
        ledger.record(broken)
    assert ledger.count() == 1
    assert not ledger.has("a")


def test_spend_is_exact_and_bounded(ledger: Ledger) -> None:
    ledger.record([rated("a", "0.10"), rated("b", "0.10", at=START + 10), rated("c", "0.10", at=START + 20)])
    ledger.record([rated("other", "5.00", org="34"), rated("later", "7.00", at=START + 3600)])
    assert ledger.spend("12", START, START + 3600) == Decimal("0.30")
    assert ledger.spend("12", START, START + 3601) == Decimal("7.30")
    assert ledger.spend("12", START + 1, START + 11) == Decimal("0.10")
    assert ledger.spend("99", START, START + 3600) == Decimal("0.00")


def test_wal_and_schema_version(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    db = sqlite3.connect(tmp_path / "ledger.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == ledger.version


def test_a_ledger_from_a_newer_bizpbx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    Ledger(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(LedgerVersionError, match="upgrade bizpbx"):
        Ledger(path)


def test_an_appended_migration_runs_once_on_an_existing_ledger(tmp_path: Path) -> None:
    Ledger(tmp_path / "ledger.sqlite3").record([rated("a")])
    outbox = Migration("webhook outbox", "CREATE TABLE webhook_outbox (id INTEGER PRIMARY KEY, body TEXT NOT NULL); CREATE INDEX outbox_body ON webhook_outbox(body)")
    db = sqlite3.connect(tmp_path / "ledger.sqlite3", isolation_level=None)
    assert migrate(db, MIGRATIONS + (outbox,)) == len(MIGRATIONS) + 1
    assert migrate(db, MIGRATIONS + (outbox,)) == len(MIGRATIONS) + 1  # a second run would fail on CREATE TABLE
    assert db.execute("SELECT count(*) FROM calls").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM webhook_outbox").fetchone()[0] == 0


def _writer(path: str, uuids: list[str], start: multiprocessing.synchronize.Barrier, inserted: multiprocessing.Queue) -> None:
    try:
        start.wait(timeout=60)
        with Ledger(path) as ledger:
            total = 0
            for offset in range(0, len(uuids), 50):
                total += ledger.record([rated(u) for u in uuids[offset : offset + 50]])
        inserted.put(total)
    except Exception as error:  # reported to the test, which fails on it
        inserted.put(repr(error))


def _run_at_once(path: str, orders: list[list[str]]) -> list[int | str]:
    """Each order written by its own process, all opening the ledger at once."""
    context = multiprocessing.get_context("fork")
    start, inserted = context.Barrier(len(orders)), context.Queue()
    writers = [context.Process(target=_writer, args=(path, order, start, inserted), daemon=True) for order in orders]
    for writer in writers:
        writer.start()
    results = [inserted.get(timeout=120) for _ in writers]
    for writer in writers:
        writer.join(timeout=60)
    return results


def test_two_writer_processes_at_once_store_each_call_once(ledger_location) -> None:
    path = ledger_location if isinstance(ledger_location, PostgresLedger) else str(ledger_location)
    uuids = [f"call-{n}" for n in range(3000)]
    counts = _run_at_once(path, [uuids, list(reversed(uuids))])
    assert all(isinstance(count, int) for count in counts), f"a writer failed: {counts}"
    assert sum(counts) == len(uuids)
    with Ledger(path) as ledger:
        assert ledger.count() == len(uuids)


def test_processes_opening_a_new_ledger_at_once_all_succeed(tmp_path: Path) -> None:
    # A new file is switched to WAL and migrated by whichever comes first;
    # the others wait (SQLite answers BUSY at once for the WAL switch).
    for round_ in range(30):
        path = str(tmp_path / f"ledger-{round_}.sqlite3")
        results = _run_at_once(path, [[f"{round_}-{n}"] for n in range(6)])
        assert results == [1] * 6


def test_controllers_starting_at_once_on_a_new_postgresql_database_migrate_it_once(postgres_server) -> None:
    # Each round a new database, six processes opening it at once: the advisory lock lets one migrate, the others find it done.
    for round_ in range(5):
        where = PostgresLedger(dsn=postgres_server.create_database(f"at_once_{round_}"), password=postgres_server.password)
        results = _run_at_once(where, [[f"{round_}-{n}"] for n in range(6)])
        assert results == [1] * 6
        with Ledger(where) as ledger:
            assert ledger.version == len(MIGRATIONS) and ledger.count() == 6


def test_a_postgresql_ledger_from_a_newer_bizpbx_is_refused(postgres_ledger) -> None:
    Ledger(postgres_ledger).close()
    with psycopg.connect(postgres_ledger.dsn, password=postgres_ledger.password.get_secret_value(), autocommit=True) as db:
        db.execute("UPDATE bizpbx_schema SET version = %s", (len(MIGRATIONS) + 1,))
    with pytest.raises(LedgerVersionError, match="upgrade bizpbx"):
        Ledger(postgres_ledger)
