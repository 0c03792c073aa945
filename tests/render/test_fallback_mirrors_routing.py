"""The static fallback sends each call where the controller's routing sends it
first (`bizpbx.routing.route`): same rules, two implementations, held together."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bizpbx.routing import Bridge, Call, Hangup, Menu, Source, Voicemail, route, route_after_digits
from bizpbx.routing.hours import is_open
from bizpbx.settings import Site
from bizpbx.static_routes import DialOut, Forward, OrganizationRoutes, Refuse, Ring, Schedule, VoicemailBox, static_routes, target_node

MOSCOW = ZoneInfo("Europe/Moscow")
MOMENTS = {
    "wednesday noon": datetime(2026, 11, 25, 12, 0, tzinfo=MOSCOW),
    "wednesday night": datetime(2026, 11, 25, 23, 0, tzinfo=MOSCOW),
    "sunday noon": datetime(2026, 11, 29, 12, 0, tzinfo=MOSCOW),
}


def static_first_step(site: Site, org: OrganizationRoutes, node: str, now: datetime) -> str:
    """Where the fallback's dialplan leads at `now`: the first node that rings,
    plays a menu, takes a message or refuses."""
    nodes = {n.node: n for n in org.nodes}
    for _ in range(len(nodes) + 1):
        found = nodes[node]
        if isinstance(found, Forward):
            node = found.to
        elif isinstance(found, Schedule):
            node = found.open if is_open(found.hours, now, site.zone) else found.closed
        elif isinstance(found, Ring | DialOut):
            return f"ring {found.node}"
        elif isinstance(found, VoicemailBox):
            return f"voicemail {found.extension}"
        elif isinstance(found, Refuse):
            return f"hangup {found.cause}"
        else:
            return f"menu {found.menu}"
    raise AssertionError(f"{node}: the fallback goes round in circles")


def routed_first_step(plan) -> str:
    for step in plan.steps:
        if isinstance(step, Bridge):
            return f"ring {target_node(step.target)}"
        if isinstance(step, Menu):
            return f"menu {step.name}"
        if isinstance(step, Voicemail):
            return f"voicemail {step.extension}"
        if isinstance(step, Hangup):
            return f"hangup {step.cause}"
    raise AssertionError(f"no decisive step in {plan}")


@pytest.mark.parametrize("moment", sorted(MOMENTS))
def test_numbers_from_the_trunk(lab_site, moment: str):
    now = MOMENTS[moment]
    routes = static_routes(lab_site)
    by_id = {org.org_id: org for org in routes.organizations}
    checked = 0
    for entry in routes.incoming:
        if entry.org_id is None or entry.node is None:
            continue
        plan = route(Call(Source.TRUNK, "+74957654321", entry.number), lab_site, now)
        assert static_first_step(lab_site, by_id[entry.org_id], entry.node, now) == routed_first_step(plan), entry.number
        checked += 1
    assert checked == 2


@pytest.mark.parametrize("moment", sorted(MOMENTS))
def test_organization_ids_on_the_main_number(lab_site, moment: str):
    now = MOMENTS[moment]
    routes = static_routes(lab_site)
    for org in routes.organizations:
        plan = route_after_digits(Call(Source.TRUNK, "+74957654321", lab_site.main_number.number), lab_site, now, org.org_id)
        if org.main is None:
            assert routed_first_step(plan) == "hangup NO_ROUTE_DESTINATION"
            assert org.org_id not in routes.main_number_ids
        else:
            assert static_first_step(lab_site, org, org.main, now) == routed_first_step(plan), org.org_id


def test_extensions_dialled_on_phones(lab_site):
    now = MOMENTS["wednesday noon"]
    for org in static_routes(lab_site).organizations:
        caller = next(iter(lab_site.organizations[org.org_id].employees))
        for dialled, node in org.dialable:
            plan = route(Call(Source.PHONE, caller, dialled, org_id=org.org_id), lab_site, now)
            assert static_first_step(lab_site, org, node, now) == routed_first_step(plan), (org.org_id, dialled)


def test_forwarding_outcomes_lead_where_routing_leads(lab_site):
    """For each phone that rings, each way it can fail goes on where the
    controller's plan goes on."""
    now = MOMENTS["wednesday noon"]
    for org in static_routes(lab_site).organizations:
        caller = next(iter(lab_site.organizations[org.org_id].employees))
        for dialled, node in org.dialable:
            ring = {n.node: n for n in org.nodes}[node]
            if not isinstance(ring, Ring) or ring.sequential:
                continue
            plan = route(Call(Source.PHONE, caller, dialled, org_id=org.org_id), lab_site, now)
            bridge = next(step for step in plan.steps if isinstance(step, Bridge))
            for outcome in ("on_busy", "on_no_answer", "on_unavailable"):  # named alike in both
                after = getattr(ring, outcome)
                routed = routed_first_step(type(plan)(plan.steps[getattr(bridge, outcome) :]))
                if after is None:
                    assert routed.startswith("hangup"), (node, outcome, routed)
                else:
                    assert static_first_step(lab_site, org, after, now) == routed, (node, outcome)
