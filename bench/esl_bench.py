"""Event Socket parsing speed: bizpbx's parser beside genesis's, on the captured load streams.

Each round feeds a whole load capture (about 15 MB, 3 000 events of 60 calls)
to a parser in 64 KiB reads, as a socket would deliver it, and dispatches
every event by its name to a handler. The best of several rounds is printed
as events per second on one core.

bizpbx decodes an event's headers when they are first read, so it is
measured twice: dispatching on the name only (what a router of events does),
and reading every header of every event (what genesis always does).
genesis runs when it is importable: `make bench-esl` installs it in a
virtualenv of its own, for this benchmark only.
"""

from __future__ import annotations

import gzip
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from bizpbx.esl.events import Event
from bizpbx.esl.protocol import FrameParser

CAPTURES = Path(__file__).resolve().parents[1].parent / "shared" / "esl-captures"
READ_SIZE = 65536
ROUNDS = 5
AIM_EVENTS_PER_SECOND = 100_000
AIM_RATIO = 2.0


def reads(stream: bytes) -> Iterator[bytes]:
    for start in range(0, len(stream), READ_SIZE):
        yield stream[start : start + READ_SIZE]


def bizpbx_parser(name_of: Callable[[Event], object]) -> Callable[[bytes], Counter]:
    def parse(stream: bytes) -> Counter:
        dispatched: Counter = Counter()
        parser = FrameParser()
        for data in reads(stream):
            for item in parser.feed(data):
                if isinstance(item, Event):
                    dispatched[name_of(item)] += 1
        return dispatched

    return parse


bizpbx_by_name = bizpbx_parser(lambda event: event.name)
# Reading one header decodes them all, as genesis does for every event.
bizpbx_every_header = bizpbx_parser(lambda event: event.headers["Event-Name"])


def genesis_parser() -> Callable[[bytes], Counter] | None:
    try:
        from genesis.protocol.reader_fsm import ESLReaderFSM
    except ImportError:
        return None

    def genesis_by_name(stream: bytes) -> Counter:
        # genesis reads a header block, then the body its Content-Length gives,
        # and hands each to its reader state machine: the same work here,
        # minus its socket reads.
        dispatched: Counter = Counter()
        fsm = ESLReaderFSM()
        position = 0
        while position < len(stream):
            end = stream.index(b"\n\n", position) + 2
            events, length = fsm.process_headers(stream[position:end].decode())
            position = end
            if length:
                events = fsm.process_body(stream[position : position + length])
                position += length
            for event in events:
                if event.get("Content-Type", "").startswith("text/event-"):
                    dispatched[event.get("Event-Name")] += 1
        return dispatched

    return genesis_by_name


def events_per_second(parse: Callable[[bytes], Counter], stream: bytes) -> tuple[float, Counter]:
    # CPU time of this process: other work on the machine inflates it far less than wall time.
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        dispatched = parse(stream)
        best = min(best, time.process_time() - started)
    return sum(dispatched.values()) / best, dispatched


def main() -> None:
    genesis = genesis_parser()
    print(f"best of {ROUNDS} rounds, {READ_SIZE // 1024} KiB reads, one core, CPU time")
    if genesis is None:
        print("genesis is not installed here: `make bench-esl` runs the comparison")
    for name in ("load-plain-all", "load-json-all"):
        stream = gzip.decompress((CAPTURES / f"{name}.fs.bin.gz").read_bytes())
        by_name, dispatched = events_per_second(bizpbx_by_name, stream)
        every_header, _ = events_per_second(bizpbx_every_header, stream)
        print(f"\n{name}: {len(stream) / 1e6:.1f} MB, {sum(dispatched.values())} events")
        print(f"  bizpbx, dispatch by name:         {by_name:>10,.0f} events/s")
        print(f"  bizpbx, every header decoded:     {every_header:>10,.0f} events/s")
        if genesis is not None:
            compare_with_genesis(genesis, stream, dispatched, by_name, every_header)
        verdict = "met" if by_name >= AIM_EVENTS_PER_SECOND else "MISSED"
        print(f"  aim {AIM_EVENTS_PER_SECOND:,} events/s dispatching by name: {verdict}")


def compare_with_genesis(
    genesis: Callable[[bytes], Counter], stream: bytes, dispatched: Counter, by_name: float, every_header: float
) -> None:
    rate, genesis_dispatched = events_per_second(genesis, stream)
    if genesis_dispatched != dispatched:
        # genesis passes a JSON event's text through undecoded: it has no name to dispatch on.
        named = sum(count for name, count in genesis_dispatched.items() if name)
        print(f"  genesis: cannot dispatch these events ({named} of {sum(dispatched.values())} have a name);"
              f" it read {rate:,.0f} frames/s")
        return
    print(f"  genesis, every header decoded:    {rate:>10,.0f} events/s")
    for label, ours in (("dispatch by name", by_name), ("every header", every_header)):
        ratio = ours / rate
        verdict = "met" if ratio >= AIM_RATIO else "MISSED"
        print(f"  ratio bizpbx/genesis, {label + ':':<18}{ratio:>6.1f}x  (aim {AIM_RATIO:.0f}x: {verdict})")


if __name__ == "__main__":
    main()
