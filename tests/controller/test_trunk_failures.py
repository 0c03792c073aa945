"""Outbound legs that fail on a trunk are counted by trunk and hang-up cause
(bizpbx_trunk_call_failures_total); the far end is made of captured frames."""

from __future__ import annotations

import asyncio

from switch_peer import CapturedSwitch, Script, channel_variables

from bizpbx.controller.executor import CallHandler
from bizpbx.controller.metrics import Metrics
from bizpbx.esl.outbound import OutboundServer
from bizpbx.rating import Rater


def test_a_busy_outbound_leg_is_counted_on_its_trunk_by_cause(site):
    lab = site()
    metrics, failed = Metrics(), []

    def trunk_failed(trunk: str, cause: str) -> None:
        failed.append((trunk, cause))
        metrics.trunk_call_failures.inc(trunk=trunk, cause=cause)

    handler = CallHandler(lab, Rater(lab), lambda org, since, until: 0, metrics, lambda event: None, trunk_failed)
    # 12-100 dials a mobile number out through the trunk; the far end is busy (the captured 486's result).
    switch = CapturedSwitch("12-100", "+79161234567", channel_variables("internal", "+79161234567", org_id="12"), Script(bridges=["busy"]))

    async def scenario():
        async with OutboundServer(handler, "127.0.0.1", 0, linger=5) as server:
            return await asyncio.wait_for(switch.call(server.port), 60)

    seen = asyncio.run(scenario())
    [bridge] = [argument for name, argument in seen.applications if name == "bridge"]
    assert bridge.endswith("sofia/gateway/carrier/+79161234567")
    assert failed == [("carrier", "USER_BUSY")]
    assert 'bizpbx_trunk_call_failures_total{cause="USER_BUSY",trunk="carrier"} 1' in metrics.render().splitlines()


def test_an_internal_leg_that_fails_is_no_trunk_failure(site):
    lab = site()
    failed = []
    handler = CallHandler(lab, Rater(lab), lambda org, since, until: 0, Metrics(), lambda event: None, lambda trunk, cause: failed.append(cause))
    switch = CapturedSwitch("12-100", "101", channel_variables("internal", "101", org_id="12"), Script(bridges=["busy", "answer"]))

    async def scenario():
        async with OutboundServer(handler, "127.0.0.1", 0, linger=5) as server:
            return await asyncio.wait_for(switch.call(server.port), 60)

    asyncio.run(scenario())
    assert failed == []
