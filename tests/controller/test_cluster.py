"""Controllers on two nodes sharing one PostgreSQL ledger (a real server, see
tests/postgres_server.py): the toll-fraud guard's limit holds across them, a
dead node's calls stop counting, a call seen by both is stored and announced
once, and each webhook event is delivered once, by whichever holds the lease."""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import closing
from decimal import Decimal

import pytest
from burst import call, event_of
from local_net import until
from test_webhooks import FAST, SECRET, Endpoint, event

from bizpbx.controller.accounting import Accounting
from bizpbx.controller.guard import check_outbound
from bizpbx.controller.metrics import Metrics
from bizpbx.controller.outbox import Outbox
from bizpbx.controller.webhooks import Delivery
from bizpbx.ledger import Ledger
from bizpbx.ledger.cluster import ActiveCalls, Lease
from bizpbx.ledger.database import open_database
from bizpbx.rating import Rater
from bizpbx.settings import OutboundPolicy, Webhook
from bizpbx.site_loader import load_site

LIMIT = 3
POLICY = OutboundPolicy(max_concurrent_calls=LIMIT, daily_spend_cap=Decimal("1000.00"))


def at_once(workers: list) -> list:
    """Run each worker in a thread of its own, all released together; their results in order."""
    start = threading.Barrier(len(workers))
    results: list = [None] * len(workers)

    def run(index: int, work) -> None:
        start.wait(timeout=30)
        results[index] = work()

    threads = [threading.Thread(target=run, args=(i, work)) for i, work in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def decide(calls: int):
    return check_outbound(POLICY, "12", "+79161234567", calls_in_progress=calls, spent_today=Decimal(0), price=None) if calls >= LIMIT else None


def test_of_limit_plus_one_calls_at_once_over_two_nodes_one_is_refused(postgres_ledger):
    Ledger(postgres_ledger).close()
    nodes = {name: open_database(postgres_ledger) for name in ("node-a", "node-b")}
    try:
        for round_ in range(10):
            calls = [(node, f"r{round_}-{n}") for n, node in enumerate(["node-a", "node-b"] * 2)]  # LIMIT + 1 = 4
            # Each thread its own connection, as each call's claim is on its node's.
            connections = [open_database(postgres_ledger) for _ in calls]
            try:
                results = at_once([lambda db=db, node=node, uuid=uuid: ActiveCalls(db, node).claim("12", uuid, decide) for db, (node, uuid) in zip(connections, calls)])
            finally:
                for db in connections:
                    db.close()
            refused = [r for r in results if r is not None]
            assert len(refused) == 1 and refused[0].rule == "concurrent-calls", results
            tally = ActiveCalls(nodes["node-a"], "node-a")
            assert tally.in_progress("12") == LIMIT
            for (_, uuid), result in zip(calls, results):
                if result is None:
                    tally.release(uuid)
            assert tally.in_progress("12") == 0
    finally:
        for db in nodes.values():
            db.close()


def test_a_dead_nodes_calls_lapse_and_a_live_nodes_are_kept_alive(postgres_ledger):
    Ledger(postgres_ledger).close()
    with closing(open_database(postgres_ledger)) as a_db, closing(open_database(postgres_ledger)) as b_db:
        dead, alive = ActiveCalls(a_db, "node-a", ttl=1.0), ActiveCalls(b_db, "node-b", ttl=1.0)
        assert dead.claim("12", "a-1", decide) is None and dead.claim("12", "a-2", decide) is None
        assert alive.claim("12", "b-1", decide) is None
        assert alive.claim("12", "b-2", decide).rule == "concurrent-calls"
        for _ in range(4):  # node-a stops beating; node-b beats
            time.sleep(0.4)
            assert alive.keep_alive() == 1
        assert alive.in_progress("12") == 1  # node-a's two lapsed, node-b's is still counted
        assert alive.claim("12", "b-2", decide) is None


def test_a_lease_is_held_by_one_node_and_taken_over_once_it_lapses(postgres_ledger):
    Ledger(postgres_ledger).close()
    with closing(open_database(postgres_ledger)) as a_db, closing(open_database(postgres_ledger)) as b_db:
        a, b = Lease(a_db, "webhook:crm", "node-a", ttl=1.0), Lease(b_db, "webhook:crm", "node-b", ttl=1.0)
        assert a.hold() and not b.hold() and a.hold()  # renewing
        assert b.holder_now() == "node-a"
        time.sleep(1.2)  # node-a stopped renewing
        assert b.hold() and not a.hold()
        b.release()
        assert a.hold()


def test_two_nodes_seeing_the_same_hang_ups_store_and_announce_each_call_once(postgres_ledger, site):
    lab = site()
    Ledger(postgres_ledger).close()
    calls = [call(i) for i in range(200)]

    def node() -> int:
        with Ledger(postgres_ledger) as ledger, closing(Outbox(postgres_ledger)) as outbox:
            accounting = Accounting(Rater(lab), ledger, outbox, Metrics(), lab)
            for c in calls:  # both nodes get every hang-up event, in the same order
                accounting.on_event(event_of(c))
            return ledger.count()

    at_once([node, node])
    with Ledger(postgres_ledger) as ledger, closing(Outbox(postgres_ledger)) as outbox:
        assert ledger.count() == len(calls)
        ended = [e.call_uuid for e in outbox.after(0, limit=10 * len(calls)) if e.name == "call.ended"]
    assert sorted(ended) == sorted(c["uuid"] for c in calls)


def test_two_nodes_delivery_loops_deliver_each_event_once(postgres_ledger):
    events = [event(f"call-{n}", "call.started") for n in range(120)]
    endpoint = Endpoint()

    async def scenario() -> None:
        await endpoint.start()
        hook = Webhook(url=endpoint.url(), secret=SECRET, timeout_seconds=2)
        outboxes = [Outbox(postgres_ledger), Outbox(postgres_ledger)]
        lease_dbs = [open_database(postgres_ledger), open_database(postgres_ledger)]
        loops = [
            Delivery("crm", hook, outbox, backoff=FAST, lease=Lease(db, "webhook:crm", node, ttl=3.0))
            for outbox, db, node in zip(outboxes, lease_dbs, ("node-a", "node-b"))
        ]
        tasks = [asyncio.create_task(loop.run()) for loop in loops]
        try:
            half = len(events) // 2
            for start in range(0, half, 20):  # events keep coming while both loops run, stored by either node
                outboxes[start // 20 % 2].add(events[start : start + 20])
                await asyncio.sleep(0.05)
            await until(lambda: outboxes[0].cursor("crm") == outboxes[0].last_id(), "the first half delivered and acknowledged")
            # The holder stops (its node dies, the lease not given back) while idle: a death between
            # a 2xx and the cursor's update would deliver that event again, as documented.
            holder = Lease(lease_dbs[0], "webhook:crm", "", 0).holder_now()
            dead = 0 if holder == "node-a" else 1
            tasks[dead].cancel()
            await asyncio.gather(tasks[dead], return_exceptions=True)
            outboxes[dead].add(events[half:])
            await until(lambda: len(endpoint.accepted) >= len(events), "the rest delivered by the other node, once the lease lapsed")
            assert Lease(lease_dbs[0], "webhook:crm", "", 0).holder_now() == ("node-b" if dead == 0 else "node-a")
            await asyncio.sleep(1.5)  # anything sent twice would arrive by now
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for resource in (*outboxes, *lease_dbs):
                resource.close()
            await endpoint.stop()

    asyncio.run(scenario())
    delivered = [request.event["id"] for request in endpoint.accepted]
    assert len(endpoint.requests) == len(events)
    assert sorted(delivered) == sorted(key for key, *_ in events), "each event once"
    assert delivered == [key for key, *_ in events], "in order"
