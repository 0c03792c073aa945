"""Outbound legs that fail on a trunk are counted by trunk and hang-up cause
(bizpbx_trunk_call_failures_total); the far end is made of captured frames."""

from __future__ import annotations

import asyncio

from switch_peer import CapturedSwitch, Script, call_through, channel_variables

from bizpbx.controller.executor import CallHandler
from bizpbx.controller.metrics import Metrics
from bizpbx.rating import Rater


def trunk_failures(metrics: Metrics) -> dict[tuple[str, str], float]:
    """bizpbx_trunk_call_failures_total as it is served: (trunk, cause) -> count."""
    [family] = [family for family in metrics.registry.collect() if family.name == "bizpbx_trunk_call_failures"]
    return {(s.labels["trunk"], s.labels["cause"]): s.value for s in family.samples if s.name.endswith("_total")}


def test_a_busy_outbound_leg_is_counted_on_its_trunk_by_cause(site):
    lab = site()
    metrics = Metrics()
    handler = CallHandler(lab, Rater(lab), lambda org, since, until: 0, metrics, lambda event: None)
    # 12-100 dials a mobile number out through the trunk; the far end is busy (the captured 486's result).
    switch = CapturedSwitch("12-100", "+79161234567", channel_variables("internal", "+79161234567", org_id="12"), Script(bridges=["busy"]))

    async def scenario():
        return await asyncio.wait_for(call_through(switch, handler), 60)

    seen = asyncio.run(scenario())
    [bridge] = [argument for name, argument in seen.applications if name == "bridge"]
    assert bridge.endswith("sofia/gateway/carrier/+79161234567")
    assert trunk_failures(metrics) == {("carrier", "USER_BUSY"): 1}


def test_an_internal_leg_that_fails_is_no_trunk_failure(site):
    lab = site()
    metrics = Metrics()
    handler = CallHandler(lab, Rater(lab), lambda org, since, until: 0, metrics, lambda event: None)
    switch = CapturedSwitch("12-100", "101", channel_variables("internal", "101", org_id="12"), Script(bridges=["busy", "answer"]))

    async def scenario():
        return await asyncio.wait_for(call_through(switch, handler), 60)

    seen = asyncio.run(scenario())
    assert [name for name, _ in seen.applications].count("bridge") == 2  # both legs were tried
    assert trunk_failures(metrics) == {}
