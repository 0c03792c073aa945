"""Rating throughput: 1 000 000 synthetic calls against a deck of 10 000 prefixes.

Prints calls per second on one core for the rater alone, for the rater and the
SQLite ledger (a fresh file, batches of 10 000 calls, WAL; every call stored,
the unrated ones too, which `bizpbx rate` would report instead), and for a naive
rater: the same `Rater` whose prefix index is replaced by a linear scan of the
deck. The naive one is far too slow for a million calls: it runs on a sample
and its rate is extrapolated, as the output says. Both raters are checked to
give the same rating on that sample.

Run: `make bench` or `.venv/bin/python bench/rating_bench.py [--calls N]`.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from unittest import mock

from bizpbx.ledger import Ledger, RatedCall
from bizpbx.rating import CallRecord, Direction, Rater, deck
from bizpbx.settings import Esl, Increments, NumberKind, RateDeck, RateRow, Site, Trunk

DECK_SIZE = 10_000
NAIVE_SAMPLE = 2_000
LEDGER_BATCH = 10_000
RUNS = 3
SEED = 20261125


class LinearScanIndex:
    """The naive lookup: every prefix of the deck tried, the longest kept."""

    def __init__(self, entries):
        self._entries = list(entries)

    def longest(self, digits: str):
        best, best_length = None, -1
        for prefix, value in self._entries:
            if len(prefix) > best_length and digits.startswith(prefix):
                best, best_length = value, len(prefix)
        return best


def synthetic_deck(rng: random.Random) -> tuple[RateDeck, list[str]]:
    increments = [Increments(), Increments(initial=1, subsequent=1), Increments(initial=30, subsequent=6, free_seconds=3)]
    prefixes: set[str] = {"7", "79", "7495", "7499", "7812", "49", "375", "1"}
    while len(prefixes) < DECK_SIZE:
        head = rng.choice(["79", "749", "78", "73", "375", "49", "44", "33", "86", "1"])
        prefixes.add(head + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 5))))
    rows = tuple(
        RateRow(
            prefix=prefix,
            rate=Decimal(rng.randint(0, 2500)) / 100,
            increments=rng.choice(increments),
            connect_fee=Decimal(rng.choice([0, 0, 0, 50])) / 100,
            line=line,
        )
        for line, prefix in enumerate(sorted(prefixes), start=2)
    )
    return RateDeck(path=Path("synthetic.csv"), rows=rows), sorted(prefixes)


def synthetic_site(rate_deck: RateDeck) -> Site:
    trunk = Trunk(proxy="192.0.2.1", auth="ip", source_addresses=["192.0.2.1/32"], numbers=["+74952121562", "+78005553535"], rate_deck=rate_deck)
    return Site(
        trunks={"bench": trunk},
        numbers={"+74952121562": {"kind": "main"}, "+78005553535": {"kind": "hotline", "organization": "1"}},
        organizations={"1": {"name": "Bench", "plan": "vip", "owner": "100", "employees": {"100": {"name": "Bench"}}}},
        esl=Esl(password="bench-only-password"),
    )


def synthetic_calls(count: int, prefixes: list[str], rng: random.Random) -> list[CallRecord]:
    """85 % outbound (1 in 50 to a number no prefix matches), 10 % 8-800, 5 % internal;
    1 in 10 unanswered; answered ones last 1 s to 20 min."""
    calls = []
    for n in range(count):
        billsec = 0 if n % 10 == 0 else rng.randint(1, 1200)
        answer = 1795590000 + n if billsec else 0
        kind = n % 20
        if kind == 0:
            calls.append(CallRecord(f"c{n}", "1", Direction.INTERNAL, "", None, "100", "101", answer, billsec))
        elif kind in (1, 2):
            caller = rng.choice(["7495", "7846300", "784635", "7916", "4930"]) + f"{rng.randrange(10**7):07d}"
            calls.append(CallRecord(f"c{n}", "1", Direction.INBOUND, "+78005553535", NumberKind.HOTLINE, caller, "88005553535", answer, billsec, "", "bench"))
        else:
            head = "999" if n % 50 == 3 else rng.choice(prefixes)
            number = "+" + (head + f"{rng.randrange(10**12):012d}")[:12]
            calls.append(CallRecord(f"c{n}", "1", Direction.OUTBOUND, number, None, "100", number, answer, billsec, "", "bench"))
    return calls


class Timing:
    """Wall-clock and CPU seconds of a block. On a shared machine the CPU time
    of this one process is the fair measure of what one core does."""

    def __enter__(self) -> Timing:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu

    def line(self, name: str, count: int, note: str) -> str:
        return f"{name:<27}{count / self.cpu:>10,.0f} calls/s on one core (CPU time); {count / self.wall:>10,.0f} calls/s wall clock  ({note})"


def rate_all(rater: Rater, calls: list[CallRecord]) -> Timing:
    """Rates every call, keeping no rating (as `bizpbx rate` streams them):
    a list of a million ratings would time the garbage collector instead."""
    rate = rater.rate
    with Timing() as timing:
        for call in calls:
            rate(call)
    return timing


def rate_into_ledger(rater: Rater, calls: list[CallRecord], ledger: Ledger) -> tuple[Timing, int]:
    rate = rater.rate
    stored = 0
    with Timing() as timing:
        for offset in range(0, len(calls), LEDGER_BATCH):
            stored += ledger.record([RatedCall(call, rate(call), "bench") for call in calls[offset : offset + LEDGER_BATCH]])
    return timing, stored


def _essence(rating) -> tuple:
    return rating.rule, rating.kopecks, rating.billed_seconds, rating.prefix


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    calls_wanted = parser.parse_args().calls
    rng = random.Random(SEED)

    rate_deck, prefixes = synthetic_deck(rng)
    site = synthetic_site(rate_deck)
    calls = synthetic_calls(calls_wanted, prefixes, rng)
    rater = Rater(site)
    with mock.patch.object(deck, "PrefixIndex", LinearScanIndex):
        naive = Rater(site)
    # A million calls held in memory is the benchmark's doing (`bizpbx rate`
    # streams them): keep them out of the collector's passes.
    gc.collect()
    gc.freeze()
    print(f"deck: {len(rate_deck.rows)} prefixes; calls: {len(calls)} synthetic (85% outbound, 10% 8-800, 5% internal; 10% unanswered)")

    # The machine may be shared: three runs, the median one reported.
    runs = sorted((rate_all(rater, calls) for _ in range(RUNS)), key=lambda timing: timing.cpu)
    indexed = runs[len(runs) // 2]
    outcomes: dict[str, int] = {}
    total = Decimal(0)
    for call in calls:
        rating = rater.rate(call)
        outcomes[rating.outcome] = outcomes.get(rating.outcome, 0) + 1
        total += rating.cost
    print(f"outcomes: {', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))}; total cost {total} RUB")

    sample = calls[:NAIVE_SAMPLE]
    naive_timing = rate_all(naive, sample)
    if [_essence(naive.rate(call)) for call in sample] != [_essence(rater.rate(call)) for call in sample]:
        print("FAIL: the naive and the indexed rater disagree on the sample", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory() as directory, Ledger(Path(directory) / "ledger.sqlite3") as ledger:
        with_ledger, stored = rate_into_ledger(rater, calls, ledger)
    if stored != len(calls):
        print(f"FAIL: {stored} calls stored of {len(calls)}", file=sys.stderr)
        return 1

    print(f"load average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    spread = f"{len(calls) / runs[-1].cpu:,.0f} to {len(calls) / runs[0].cpu:,.0f}"
    print(indexed.line("indexed rater, no ledger", len(calls), f"median of {RUNS} runs of {len(calls)} calls, {spread}; aim 200,000"))
    print(with_ledger.line("indexed rater + ledger", len(calls), f"{len(calls)} calls rated and stored once each, batches of {LEDGER_BATCH}; aim 50,000"))
    print(
        naive_timing.line(
            "naive linear-scan rater",
            len(sample),
            f"measured on the first {len(sample)} calls only, same ratings; {calls_wanted} calls extrapolated: ~{calls_wanted * naive_timing.cpu / len(sample):,.0f} s",
        )
    )
    ratio = (len(calls) / indexed.cpu) / (len(sample) / naive_timing.cpu)
    print(f"{'indexed / naive':<27}{ratio:>10,.0f} x (CPU time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
