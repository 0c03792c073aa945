"""The static fallback and the controller route every call alike: on random
sites, at random times, with phones that answer or not and callers who press
keys or not, recorded or not, the rendered dialplan (run as FreeSWITCH hunts it) and the
controller's plans take the caller through the same rings, menus, voicemail
and hang-up cause. The one difference on purpose: without the controller no
phone may call out (its toll-fraud guard is not there)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from call_machines import ControllerMachine, DialplanMachine, World
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plan_paths import runs
from site_strategies import MAIN, calls, sites

from bizpbx import fs_vocabulary
from bizpbx.render import dialplan
from bizpbx.routing import Call, Source, route
from bizpbx.routing.graph import route_graph
from bizpbx.settings import Site

START = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)  # a Monday; the strategies' holidays follow
RINGS = st.lists(st.sampled_from(["answer", "busy", "no_answer", "unavailable"]), max_size=8)
KEYS = st.lists(st.sampled_from(["", "1", "2", "5", "#", "*", "23", "45", "678", "99"]), max_size=6)


def fallback_machine(site, now) -> DialplanMachine:
    routes = route_graph(site)
    site_wide, per_org = dialplan.contexts(site, routes)
    contexts = {context.name: context for context in (*site_wide, *(c for pair in per_org.values() for c in pair))}
    return DialplanMachine(site, contexts, dialplan.ivr_menus(site, routes), now)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), site=sites(), minutes=st.integers(0, 14 * 24 * 60), rings=RINGS, keys=KEYS)
def test_fallback_and_controller_take_every_call_the_same_way(data, site, minutes, rings, keys):
    now = START + timedelta(minutes=minutes)
    call = data.draw(calls(site))
    routed = ControllerMachine(site, now).run(call, World(list(rings), list(keys)))
    context = fs_vocabulary.PUBLIC_CONTEXT if call.source is Source.TRUNK else fs_vocabulary.phones_context(call.org_id)
    fallback = fallback_machine(site, now).run(context, call.destination, call.caller, World(list(rings), list(keys)), call.user)
    if route(call, site, now).direction == "outbound" and any(move[0] == "dial" for move in routed):  # a phone calling out
        armed = [move for move in routed if move[0] == "record"]  # the recording is armed before the guard
        assert fallback == [*armed, ("hangup", dialplan.GUARD_DOWN_CAUSE)], (call, fallback, routed)
    else:
        assert fallback == routed, (call, fallback, routed)


def site_of(organization: dict):
    return Site(
        esl={"password": "property-test-secret"},
        trunks={"carrier": {"proxy": "192.0.2.1", "auth": "ip", "source_addresses": ["192.0.2.1/32"], "numbers": [MAIN]}},
        numbers={MAIN: {"kind": "main"}},
        organizations={"1": {"name": "org", "plan": "profi", "owner": "10", **organization}},
    )


def test_a_group_rung_after_a_forward_ends_with_its_own_failure_in_both():
    # Found by the property test: the fallback's plain group ring went on after an
    # earlier ring had set continue_on_fail, and the call ended NORMAL_CLEARING.
    site = site_of({
        "employees": {"10": {"name": "a", "forwarding": {"no_answer": {"after_seconds": 10, "to": "group:g1"}}}},
        "ring_groups": {"g1": {"extension": "600", "members": ["10"], "ring_seconds": 10}},
    })
    call = Call(Source.PHONE, "10", "10", org_id="1")
    routed = ControllerMachine(site, START).run(call, World([], []))
    fallback = fallback_machine(site, START).run("org-1", "10", "10", World([], []))
    assert fallback == routed == [("ring", ("10",)), ("ring", ("10",)), ("hangup", "NO_ANSWER")]


def test_steps_shared_between_branches_are_never_jumped_back_to():
    # Found by the property test: a step laid out for one branch was reused by a
    # bridge placed after it ("step 9 jumps back to 5").
    site = site_of({
        "employees": {
            "10": {"name": "a", "forwarding": {"unconditional": "extension:10"}},
            "12": {"name": "b", "forwarding": {"unavailable": "extension:10"}},
        },
        "ring_groups": {"g2": {"extension": "610", "members": ["12"], "ring_seconds": 10, "fallback": "extension:12"}},
    })
    for dialled in ("610", "12", "10"):
        for run in runs(route(Call(Source.PHONE, "12", dialled, org_id="1"), site, START)):
            assert run
