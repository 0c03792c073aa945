"""A forwarding loop ends with the cause of the failure that closed it, in the
controller's plan and in the static fallback (issue 10: a loop on busy ended
with NO_ANSWER)."""

from __future__ import annotations

import pytest
from moments import WEDNESDAY_MORNING

from bizpbx.render.dialplan import contexts
from bizpbx.routing import Bridge, Call, Hangup, Outcome, Source, route
from bizpbx.routing.graph import Ivr, Ring, route_graph

OUTCOMES = {
    "busy": (Outcome.BUSY, "USER_BUSY"),
    "unavailable": (Outcome.UNAVAILABLE, "USER_NOT_REGISTERED"),
    "no_answer": (Outcome.NO_ANSWER, "NO_ANSWER"),
}


def loop_between_200_and_201(outcome: str):
    def change(data):
        employees = data["organizations"]["34"]["employees"]
        for ext, other in (("200", "201"), ("201", "200")):
            target = f"extension:{other}"
            employees[ext]["forwarding"] = {outcome: {"after_seconds": 10, "to": target} if outcome == "no_answer" else target}

    return change


@pytest.mark.parametrize("outcome", sorted(OUTCOMES))
def test_a_forwarding_loop_ends_with_the_cause_that_closed_it(site_with, outcome):
    failure, cause = OUTCOMES[outcome]
    site = site_with(loop_between_200_and_201(outcome))
    plan = route(Call(Source.PHONE, "202", "200", org_id="34"), site, WEDNESDAY_MORNING)
    first = plan.steps[0]
    second = plan.steps[first.next_step(failure)]
    assert isinstance(second, Bridge) and second.target.value == "201"
    end = plan.steps[second.next_step(failure)]
    assert isinstance(end, Hangup) and "already tried" in end.reason
    assert end.cause == cause


def test_a_loop_through_an_unconditional_forward_keeps_the_cause(site_with):
    def change(data):
        employees = data["organizations"]["34"]["employees"]
        employees["200"]["forwarding"] = {"busy": "extension:201"}
        employees["201"]["forwarding"] = {"unconditional": "extension:200"}

    plan = route(Call(Source.PHONE, "202", "200", org_id="34"), site_with(change), WEDNESDAY_MORNING)
    end = plan.steps[plan.steps[0].on_busy]
    assert isinstance(end, Hangup) and end.cause == "USER_BUSY"


def test_the_fallback_stops_a_forwarding_loop_with_the_last_bridges_cause(site_with):
    site = site_with(loop_between_200_and_201("busy"))
    routes = {org.org_id: org for org in route_graph(site).organizations}
    nodes = {node.node: node for node in routes["34"].nodes}
    assert nodes["ext-200"].in_loop and nodes["ext-201"].in_loop
    assert not nodes["ext-202"].in_loop and not nodes["group-support"].in_loop
    incoming = {c.name: c for c in contexts(site, route_graph(site))[1]["34"]}["org-34-incoming"]
    ring = next(e for e in incoming.extensions if e.name == "ext-200")
    here, seen = ring.conditions
    assert here.expression == "^ext\\-200$"
    # Rung already since the caller's last input: the loop is closed, and the
    # call ends with what the last bridge ended with (USER_BUSY on busy).
    assert seen.field == "${bizpbx_rung}" and seen.expression == "(?:^|,)ext\\-200,"
    assert [(a.application, a.data) for a in seen.actions] == [("hangup", "${originate_disposition}")]
    assert [(a.application, a.data) for a in seen.anti_actions][:1] == [("set", "bizpbx_rung=${bizpbx_rung}ext-200,")]
    # The ringing call may be picked up by the organization's phones until answered.
    offer = "{api_on_originate=hash insert/bizpbx_pickup/34/${uuid},api_on_answer=hash delete_ifmatch/bizpbx_pickup/34/${uuid}}"
    assert ("bridge", offer + "user/34-200@${domain}") in [(a.application, a.data) for a in seen.anti_actions]


def test_the_fallback_of_a_site_without_loops_is_unchanged(lab_site):
    for org in route_graph(lab_site).organizations:
        assert not any(isinstance(node, Ring) and node.in_loop for node in org.nodes)
        assert not any(isinstance(node, Ivr) and node.counts_loops for node in org.nodes)
