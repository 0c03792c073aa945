"""The controller's speed: routing decisions, and a replayed event stream end to end.

1. Routing: `route` and its continuations over the demo site
   (inventory/lab/site.yml) for a mix of calls; decisions per second and the
   latency of one decision (p50, p99, max). Aim: p99 under 1 ms.
2. Metrics: what the controller's metrics add to each call (the counters,
   the gauge and the histogram a call touches, and the ledger lookup that
   counts each stored call once), and one scrape of a registry holding
   the series of 30 and of 1000 organizations.
3. Event stream: ../shared/esl-captures/load-plain-all (60 bridged calls at
   10 a second, every event of a real FreeSWITCH 1.10.12) sent over a local
   TCP socket into the controller's inbound client and runtime rating, with
   a real ledger and outbox on disk. The capture was recorded with the lab's
   own dialplan, which sets no bizpbx_* variables; a second run adds to each
   A-leg hangup the variables the rendered dialplan sets (an 8-800 call), so
   every call is rated and stored. Its CPU time per call, with a routing
   decision's, is printed last: the figure that shows a regression without a lab.

Run: .venv/bin/python bench/controller_bench.py
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
CAPTURE = REPO.parent / "shared" / "esl-captures" / "load-plain-all.fs.bin.gz"
# The demo site keeps its secrets outside the file; these stand in for them here.
os.environ.setdefault("BIZPBX_ESL__PASSWORD", "bench-esl-secret-1")
os.environ.setdefault("BIZPBX_TRUNKS__CARRIER__PASSWORD", "bench-carrier-secret")
os.environ.setdefault("BIZPBX_CONTROLLER__API__CLIENTS__CRM__TOKEN", "bench-crm-token-of-32-characters-at-least")

from bizpbx.controller.accounting import Accounting  # noqa: E402
from bizpbx.controller.metrics import Metrics  # noqa: E402
from bizpbx.controller.outbox import Outbox  # noqa: E402
from bizpbx.esl.aio import InboundClient  # noqa: E402
from bizpbx.esl.events import Event  # noqa: E402
from bizpbx.esl.protocol import FrameParser, encode  # noqa: E402
from bizpbx.ledger import Ledger  # noqa: E402
from bizpbx.rating import CallRecord, Direction, Rater  # noqa: E402
from bizpbx.settings import NumberKind  # noqa: E402
from bizpbx.routing import Call, Menu, Source, route, route_after_digits, route_menu_choice  # noqa: E402
from bizpbx.site_loader import load_site  # noqa: E402

ROUNDS = 20_000


def routing(site) -> float:
    """Prints the figures; returns the mean seconds of one decision."""
    moscow = ZoneInfo(site.timezone)
    open_hours, closed = datetime(2026, 11, 25, 10, tzinfo=moscow), datetime(2026, 11, 25, 20, tzinfo=moscow)
    main = Call(Source.TRUNK, "78432123456", "74952121562")
    individual = Call(Source.TRUNK, "79161112233", "74951234567")
    menu = next(step for step in route(individual, site, open_hours).steps if isinstance(step, Menu))
    decisions = [
        ("main number", lambda: route(main, site, open_hours)),
        ("main number + org ID", lambda: route_after_digits(main, site, open_hours, "12")),
        ("individual, open", lambda: route(individual, site, open_hours)),
        ("individual, closed", lambda: route(individual, site, closed)),
        ("8-800", lambda: route(Call(Source.TRUNK, "78432123456", "88005553535"), site, open_hours)),
        ("extension with forwards", lambda: route(Call(Source.PHONE, "100", "101", org_id="12"), site, open_hours)),
        ("sequential group", lambda: route(Call(Source.PHONE, "100", "600", org_id="12"), site, open_hours)),
        ("outbound", lambda: route(Call(Source.PHONE, "100", "89161234567", org_id="12"), site, open_hours)),
        ("menu key", lambda: route_menu_choice(individual, site, open_hours, menu, "1")),
    ]
    for _, decide in decisions:  # warm the caches as a running controller has
        decide()
    latencies: list[int] = []
    started = time.perf_counter()
    for _ in range(ROUNDS):
        for _, decide in decisions:
            before = time.perf_counter_ns()
            decide()
            latencies.append(time.perf_counter_ns() - before)
    elapsed = time.perf_counter() - started
    latencies.sort()
    count = len(latencies)
    print(f"routing: {count} decisions ({len(decisions)} kinds x {ROUNDS}) in {elapsed:.2f} s: {count / elapsed:,.0f} decisions/s")
    print(
        f"routing latency: p50 {latencies[count // 2] / 1000:.1f} us, p99 {latencies[int(count * 0.99)] / 1000:.1f} us, "
        f"max {latencies[-1] / 1000:.1f} us, mean {statistics.fmean(latencies) / 1000:.1f} us"
    )
    return statistics.fmean(latencies) / 1e9


HOTLINE_VARIABLES = {
    "variable_bizpbx_direction": "inbound",
    "variable_bizpbx_called": "+78005553535",
    "variable_bizpbx_number_kind": "hotline",
    "variable_bizpbx_org_id": "34",
    "variable_bizpbx_trunk": "carrier",
}


def stream_frames(with_dialplan_variables: bool) -> list[bytes]:
    items = FrameParser().feed(gzip.decompress(CAPTURE.read_bytes()))
    out = []
    for item in items:
        if isinstance(item, Event) and with_dialplan_variables and item.get("Call-Direction") == "inbound" and item.name == "CHANNEL_HANGUP_COMPLETE":
            item = Event.build(item.content_type, {**item.headers, **HOTLINE_VARIABLES}, item.body)
        out.append(encode(item))
    return out


async def replay(frames: list[bytes], accounting: Accounting) -> tuple[float, float, int]:
    """Serve the captured stream to a real inbound client, its hang-ups held and flushed a read at
    a time as the controller does; seconds from the first event to the last handled, and the CPU
    seconds of this process meanwhile (the switch's side, the same each run, included)."""
    greeting, accepted, subscribed, *events = frames[:-2]  # the stream ends with `exit`'s reply and the notice
    done = asyncio.Event()
    handled = 0

    async def switch(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        await reader.readuntil(b"\n\n")
        writer.write(accepted)
        await reader.readuntil(b"\n\n")
        writer.write(subscribed)
        await writer.drain()
        for frame in events:
            writer.write(frame)
        await writer.drain()
        await done.wait()
        writer.close()

    flush_due = False

    def flush() -> None:
        nonlocal flush_due
        flush_due = False
        accounting.flush()
        if handled == len(events):
            done.set()

    def on_event(event: Event) -> None:
        nonlocal handled, flush_due
        accounting.hold(event)
        handled += 1
        if not flush_due:
            flush_due = True
            asyncio.get_running_loop().call_soon(flush)

    server = await asyncio.start_server(switch, "127.0.0.1", 0)
    client = InboundClient("127.0.0.1", server.sockets[0].getsockname()[1], "bench-password", events=["ALL"], on_event=on_event, reconnect=False)
    started, cpu = time.perf_counter(), time.process_time()
    await client.connect()
    await asyncio.wait_for(done.wait(), 300)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await client.close(timeout=1)
    server.close()
    return elapsed, cpu, handled


def event_stream(site) -> float:
    """Prints the figures; returns the CPU seconds per call of the stream with the dialplan's variables."""
    for with_variables in (False, True):
        frames = stream_frames(with_variables)
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "ledger.sqlite3"
            ledger, outbox, metrics = Ledger(path), Outbox(path), Metrics()
            accounting = Accounting(Rater(site), ledger, outbox, metrics, site)
            elapsed, cpu, handled = asyncio.run(replay(frames, accounting))
            size = sum(len(f) for f in frames)
            label = "with the rendered dialplan's variables" if with_variables else "as captured (no bizpbx_* variables)"
            print(
                f"event stream {label}: {handled} events, {size / 1e6:.1f} MB in {elapsed:.2f} s: "
                f"{handled / elapsed:,.0f} events/s, {size / 1e6 / elapsed:.1f} MB/s; "
                f"calls in the ledger {ledger.count()}, call events {len(outbox.after(0, limit=10_000))}, rating errors {metrics.registry.get_sample_value('bizpbx_rating_errors_total'):.0f}"
            )
            if with_variables:
                calls = ledger.count()
                per_call = cpu / calls
                print(f"event stream CPU per call: {per_call * 1e3:.2f} ms ({calls} calls, {handled / calls:.0f} events each, every channel event of both legs read, the hang-ups rated and stored)")
            ledger.close()
            outbox.close()
    return per_call


def metrics_overhead(site) -> None:
    metrics, rounds = Metrics(), 100_000
    record = CallRecord("bench-call", "34", Direction.INBOUND, "+78005553535", NumberKind.HOTLINE, "78432123456", "78005553535", 1795636467, 65, "NORMAL_CLEARING", "carrier")
    rating = Rater(site).rate(record)
    started = time.perf_counter()
    for _ in range(rounds):
        # What one call does to the metrics: started, active (in and out), routed, stored.
        metrics.call_started("inbound")
        metrics.active_calls.set(1)
        metrics.routing_seconds.observe(0.0012)
        metrics.active_calls.set(0)
        metrics.call_stored(record, rating)
    per_call = (time.perf_counter() - started) / rounds
    with tempfile.TemporaryDirectory() as directory:
        ledger = Ledger(Path(directory) / "ledger.sqlite3")
        uuids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(20_000)]
        started = time.perf_counter()
        for uuid in uuids:
            ledger.has(uuid)
        lookup = (time.perf_counter() - started) / len(uuids)
        ledger.close()
    print(f"metrics per call: {per_call * 1e6:.1f} µs of counters, gauge and histogram; {lookup * 1e6:.1f} µs of ledger lookup to count a stored call once")
    for organizations in (30, 1000):
        metrics = Metrics()
        for org in range(organizations):
            for outcome in ("billed", "free"):
                metrics.calls_rated.labels(organization=str(org), direction="inbound", outcome=outcome).inc()
        samples = sum(len(family.samples) for family in metrics.registry.collect())
        started = time.perf_counter()
        for _ in range(20):
            body, _ = metrics.exposition()
        elapsed = (time.perf_counter() - started) / 20
        print(f"metrics scrape, {organizations} organizations with calls: {samples} samples, {len(body) / 1e3:.0f} kB in {elapsed * 1e3:.1f} ms (on the event loop)")


def main() -> int:
    logging.disable(logging.ERROR)  # the captured calls' rating errors are counted below, not printed one by one
    site = load_site(REPO / "inventory" / "lab" / "site.yml")
    print(f"python {sys.version.split()[0]}")
    decision = routing(site)
    metrics_overhead(site)
    stream = event_stream(site)
    # The regression figure: what a call costs the controller's CPU apart from driving its applications
    # (measured live by bench/local_load.py and bench/lab_load.py): a routing decision, its events, rating and ledger.
    print(f"controller CPU per call (replayed): {(decision + stream) * 1e3:.2f} ms = routing {decision * 1e3:.3f} ms + events, rating and ledger {stream * 1e3:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
