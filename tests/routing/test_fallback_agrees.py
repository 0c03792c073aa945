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
from site_strategies import calls, sites

from bizpbx import fs_vocabulary
from bizpbx.render import dialplan
from bizpbx.routing import Source, route
from bizpbx.routing.graph import route_graph

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
