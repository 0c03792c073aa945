"""Properties of routing over random sites: every call gets a plan that ends in a
bridge, a message or a hangup, and no call loops, whatever the forwarding,
ring groups and menus (cycles included: the loader would refuse some of these
sites, routing must cope with them anyway)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plan_paths import ending, runs
from site_strategies import MENUS, calls, sites

from bizpbx.routing import Collect, Menu, route, route_after_digits, route_menu_choice

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
ENDINGS = {"bridge", "forward", "message", "hangup", "voicemail", "collect", "menu", "pickup"}


def assert_plan_is_sound(plan) -> list:
    """Check every run of one plan; return the steps that wait for the caller."""
    waiting = []
    for run in runs(plan):
        assert ending(run) in ENDINGS, run
        if isinstance(run[-1], (Collect, Menu)):
            waiting.append(run[-1])
    return waiting


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), site=sites(), minutes=st.integers(0, 7 * 24 * 60))
def test_every_call_ends_in_a_bridge_a_message_or_a_hangup_and_never_loops(data, site, minutes):
    now = NOW + timedelta(minutes=minutes)
    call = data.draw(calls(site))
    pending = assert_plan_is_sound(route(call, site, now))
    # Follow the caller through prompts and menus with random keys; with no
    # keys at all (every menu timing out) the chain must end by itself.
    for _ in range(20):
        if not pending:
            break
        step = data.draw(st.sampled_from(pending))
        if isinstance(step, Collect):
            entered = data.draw(st.sampled_from(["", "99", *step.valid]))
            pending = assert_plan_is_sound(route_after_digits(call, site, now, entered))
        else:
            key = data.draw(st.sampled_from([None, "5", *[d for d, _ in step.options]]))
            pending = assert_plan_is_sound(route_menu_choice(call, site, now, step, key))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), site=sites())
def test_menus_that_time_out_again_and_again_reach_an_end(data, site):
    call = data.draw(calls(site))
    pending = [s for s in assert_plan_is_sound(route(call, site, NOW)) if isinstance(s, Menu)]
    steps_without_input = 0
    while pending:
        steps_without_input += 1
        # Each timeout continues the path of targets reached without input;
        # a target cannot repeat on it, so the chain is bounded by the menus.
        assert steps_without_input <= len(MENUS) + 1, "menus fall back to each other forever"
        menu = pending[0]
        pending = [s for s in assert_plan_is_sound(route_menu_choice(call, site, NOW, menu, None)) if isinstance(s, Menu)]
