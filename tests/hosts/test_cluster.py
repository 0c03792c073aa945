"""The cluster lab (BIZPBX_LAB=cluster): a Kamailio proxy in front of two FreeSWITCH nodes with
one ledger in PostgreSQL. Calls spread over both nodes; a node whose FreeSWITCH stops gets no new
call once the proxy's probe has found it out, and none fails after that; the node back takes calls
again; every call is rated once and each of its events reaches the CRM once; an organization's
concurrency limit holds over both nodes.

Every call is a phone of the phone host calling out through the proxy, a node and the trunk to
the carrier's "PSTN" callee, each to a number of its own by which the test finds it in the
ledger and in the nodes' CDR files."""

from __future__ import annotations

import collections
import time

import pytest
import yaml

import bizpbx_lab as lab
from bizpbx_lab.local import LAB_NAME
from bizpbx_lab.site_secrets import LAB_SECRETS

from .cluster_lab import SETTLE_SECONDS, Cluster
from .conftest import testinfra_host as host_named
from .sipp_runs import WORK, assert_sipp_ok, next_caller, pstn_callee

pytestmark = pytest.mark.skipif(LAB_NAME != "cluster", reason="the cluster lab's tests: run with BIZPBX_LAB=cluster (make lab LAB=cluster, its own lab)")

CALLS = 10  # per step: the chance that a hash over ten Call-IDs leaves a node out is 1 in 512
PROBE_SECONDS = 2  # cluster.proxy.probe_seconds in inventory/cluster/site.yml
NODE_ANSWER_SECONDS = 1.5  # bizpbx.render.proxy.NODE_ANSWER_MS
ORG, LIMIT = "12", 6  # organizations.12.outbound.max_concurrent_calls
PSTN_PORT = 5090  # kamailio__pstn_callee in inventory/cluster/group_vars/sip_carrier.yml


@pytest.fixture(scope="module")
def cluster(converged, carrier, phone) -> Cluster:
    secrets = yaml.safe_load(LAB_SECRETS.read_text())
    passwords = {f"{org}-{ext}": e["password"] for org, o in secrets["organizations"].items() for ext, e in o["employees"].items()}
    nodes = {name: host_named(name) for name in ("pbx1", "pbx2")}
    addresses = {host.name: host.address for host in lab.HOSTS}
    cluster = Cluster(host_named("proxy"), nodes, host_named("db"), carrier, phone, addresses, passwords)
    for host in (carrier, phone):
        host.run(f"pkill -x sipp; rm -rf {WORK}; mkdir -p {WORK}")
    cluster.start_crm()
    cluster.wait_ready()
    yield cluster
    cluster.stop_crm()


@pytest.fixture
def pstn(carrier):
    yield from pstn_callee(carrier, lab.BY_NAME["carrier"].address, PSTN_PORT)


def numbers(count: int) -> list[str]:
    return ["+7495" + next_caller("")[:7] for _ in range(count)]


def assert_rated_once(cluster: Cluster, called: list[str], outcome: str = "billed") -> list[str]:
    """Each number has one call in the ledger, with `outcome`; their UUIDs."""
    rows = cluster.calls_to(called)
    counts = {n: len(r) for n, r in rows.items()}
    assert set(counts.values()) == {1}, f"calls in the ledger per number: {counts}"
    assert {r[0]["outcome"] for r in rows.values()} == {outcome}, rows
    return [r[0]["uuid"] for r in rows.values()]


def assert_each_event_delivered_once(cluster: Cluster, uuids: list[str]) -> int:
    """Every event the ledger holds of these calls reached the CRM once, and nothing else of theirs did."""
    stored = cluster.events_of(uuids)
    names = collections.Counter((e["call_uuid"], e["name"]) for e in stored)
    assert all(names[(u, "call.started")] == 1 and names[(u, "call.ended")] == 1 for u in uuids), names
    wanted = {e["key"] for e in stored}
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        delivered = collections.Counter(d["id"] for d in cluster.deliveries() if d.get("call_uuid") in uuids)  # trunk.up/down have none
        if set(delivered) >= wanted or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert set(delivered) == wanted, f"not delivered: {wanted - set(delivered)}; not stored: {set(delivered) - wanted}"
    twice = {key: n for key, n in delivered.items() if n != 1}
    assert not twice, f"delivered more than once: {twice}"
    return len(wanted)


def spread(cluster: Cluster, called: list[str]) -> collections.Counter:
    return collections.Counter(cluster.node_of(n) for n in called)


def test_calls_spread_over_both_nodes(cluster, pstn) -> None:
    called = numbers(CALLS)
    assert_sipp_ok(cluster.place("12-101", called))
    per_node = spread(cluster, called)
    print(f"\ncalls per node: {dict(per_node)}")
    assert set(per_node) == {"pbx1", "pbx2"}, per_node
    uuids = assert_rated_once(cluster, called)
    print(f"events delivered once each: {assert_each_event_delivered_once(cluster, uuids)}")


def test_a_stopped_node_gets_no_new_call_and_takes_calls_again_once_back(cluster, pstn) -> None:
    pbx1 = cluster.nodes["pbx1"]
    stopped = time.monotonic()
    assert pbx1.run("systemctl stop freeswitch").rc == 0
    try:
        # The proxy marks a node down after one probe (every PROBE_SECONDS) gets no answer.
        stop_took = time.monotonic() - stopped
        detection = cluster.wait_dispatcher("pbx1", "I")
        print(
            f"\ndetection time: {detection:.1f} s after FreeSWITCH stopped on pbx1, {stop_took + detection:.1f} s after "
            f"the stop was ordered (systemctl stop took {stop_took:.1f} s; probe every {PROBE_SECONDS} s)"
        )
        after = numbers(CALLS)
        out = cluster.place("12-101", after)
        assert_sipp_ok(out)  # not one call failed once the proxy knew
        per_node = spread(cluster, after)
        print(f"calls per node with pbx1 down: {dict(per_node)}")
        assert per_node == {"pbx2": CALLS}, per_node
    finally:
        assert pbx1.run("systemctl start freeswitch").rc == 0
    back = cluster.wait_dispatcher("pbx1", "A", timeout=120)
    print(f"pbx1 active at the proxy {back:.1f} s after FreeSWITCH started again ({time.monotonic() - stopped:.0f} s down in all)")
    cluster.wait_ready()
    again = numbers(CALLS)
    assert_sipp_ok(cluster.place("12-101", again))
    per_node = spread(cluster, again)
    print(f"calls per node with pbx1 back: {dict(per_node)}")
    assert per_node["pbx1"] > 0, per_node
    uuids = assert_rated_once(cluster, after + again)
    print(f"events delivered once each: {assert_each_event_delivered_once(cluster, uuids)}")


def test_one_call_more_than_the_organization_s_limit_over_two_nodes_is_refused(cluster, pstn) -> None:
    held = numbers(LIMIT)
    cluster.place("12-101", held, talk_ms=30_000, per_second=10, at_once=LIMIT, background=True)
    deadline = time.monotonic() + SETTLE_SECONDS
    while len(active := cluster.active_calls(ORG)) < LIMIT:
        assert time.monotonic() < deadline, f"{len(active)} of {LIMIT} calls in progress: {cluster.background_result('12-101')}"
        time.sleep(0.5)
    nodes_in_progress = collections.Counter(a["node"] for a in active)
    refused: list[str] = []
    # One more call, refused wherever it lands; placed again while the calls in progress and the
    # refused ones all sit on one node, since only a node counting the other's calls shows the
    # limit is shared (at most six tries: one in 64 that every one lands on the same node).
    while not refused or (len(refused) < 6 and len(set(nodes_in_progress) | {cluster.node_of(n) for n in refused}) < 2):
        [extra] = numbers(1)
        assert_sipp_ok(cluster.place_refused("12-102", extra, status=603))
        refused.append(extra)
    refused_on = collections.Counter(cluster.node_of(n) for n in refused)
    print(f"\n{LIMIT} calls in progress per node: {dict(nodes_in_progress)}; refused: {len(refused)} (per node {dict(refused_on)})")
    assert set(nodes_in_progress) | set(refused_on) == {"pbx1", "pbx2"}
    assert_sipp_ok(cluster.background_result("12-101"))
    assert_rated_once(cluster, held)
    rows = cluster.calls_to(refused)
    assert all(r[0]["hangup_cause"] == "CALL_REJECTED" and len(r) == 1 for r in rows.values()), rows
