"""Rating into the ledger: the SQLite file beside PostgreSQL, calls per second.

The same synthetic calls (bench/rating_bench.py's deck and mix) rated and
stored the two ways the controller stores them, each with its call.ended
event in the same transaction:

- one call per transaction, as each hang-up event from the event socket;
- 500 calls per transaction, as a CDR sweep's batch.

PostgreSQL is a throwaway cluster from Debian's packages on loopback,
started here (tests/postgres_server.py), with fsync off as in the tests:
the figures compare the ledger's own work and the round trips, not disks.
Wall-clock time (PostgreSQL's work is in its own processes). Skipped, saying
why, where PostgreSQL's binaries are absent.

Run: .venv/bin/python bench/ledger_backends_bench.py
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from postgres_server import ThrowawayPostgres, postgres_missing  # noqa: E402
from rating_bench import SEED, synthetic_calls, synthetic_deck, synthetic_site  # noqa: E402

from bizpbx.ledger import Ledger, RatedCall  # noqa: E402
from bizpbx.rating import Rater  # noqa: E402
from bizpbx.settings import PostgresLedger  # noqa: E402

CALLS = 20_000
SINGLE = 3_000  # calls stored one per transaction
BATCH = 500


def store(ledger: Ledger, rater: Rater, calls, batch: int) -> tuple[float, int]:
    """Seconds to rate and store `calls`, `batch` per transaction; how many were new."""
    new = 0
    started = time.perf_counter()
    for offset in range(0, len(calls), batch):
        chunk = calls[offset : offset + batch]
        rated = [RatedCall(call, rater.rate(call), "bench") for call in chunk]
        events = [(f"{c.uuid}:call.ended", c.uuid, "call.ended", json.dumps({"event": "call.ended", "call_uuid": c.uuid}), 0) for c in chunk]
        new += ledger.record(rated, events)
    return time.perf_counter() - started, new


def measure(where, rater: Rater, calls) -> dict[str, float]:
    with Ledger(where) as ledger:
        single_seconds, single_new = store(ledger, rater, calls[:SINGLE], 1)
        batch_seconds, batch_new = store(ledger, rater, calls[SINGLE:], BATCH)
        again_seconds, again_new = store(ledger, rater, calls[SINGLE:], BATCH)  # every call seen again: nothing new
        if (single_new, batch_new, again_new, ledger.count()) != (SINGLE, len(calls) - SINGLE, 0, len(calls)):
            raise SystemExit(f"FAIL: {where}: stored {single_new} + {batch_new} (+{again_new} again), {ledger.count()} in all, of {len(calls)}")
    return {"single": SINGLE / single_seconds, "batch": (len(calls) - SINGLE) / batch_seconds, "again": (len(calls) - SINGLE) / again_seconds}


def main() -> int:
    missing = postgres_missing()
    if missing:
        print(f"skipped: {missing}")
        return 0
    rng = random.Random(SEED)
    deck, prefixes = synthetic_deck(rng)
    rater = Rater(synthetic_site(deck))
    calls = synthetic_calls(CALLS, prefixes, rng)
    with tempfile.TemporaryDirectory() as directory:
        sqlite = measure(Path(directory) / "ledger.sqlite3", rater, calls)
    server = ThrowawayPostgres().start()
    try:
        where = PostgresLedger(dsn=server.create_database("bench"), password=server.password, node="bench")
        postgres = measure(where, rater, calls)
    finally:
        server.stop()
    print(f"load average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {CALLS} calls, each with its call.ended event")
    print(f"{'calls/s (wall clock)':<44}{'SQLite':>10}{'PostgreSQL':>12}")
    for key, what in (("single", f"one call per transaction ({SINGLE} calls)"), ("batch", f"{BATCH} per transaction"), ("again", f"{BATCH} per transaction, all seen before")):
        print(f"{what:<44}{sqlite[key]:>10,.0f}{postgres[key]:>12,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
