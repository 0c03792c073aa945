"""Properties of routing over random sites: every call gets a plan that ends in a
bridge, a message or a hangup, and no call loops, whatever the forwarding,
ring groups and menus (cycles included: the loader would refuse some of these
sites, routing must cope with them anyway)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plan_paths import ending, runs

from bizpbx.routing import Call, Collect, Menu, Source, route, route_after_digits, route_menu_choice
from bizpbx.settings import Site

EXTENSIONS = ["10", "11", "12", "13", "14"]
GROUPS = ["g1", "g2"]
MENUS = ["m1", "m2", "m3"]
NUMBERS = ["+74951234567", "+78005553535"]
MAIN = "+74952121562"


def targets() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from([f"extension:{e}" for e in EXTENSIONS]),
        st.sampled_from([f"voicemail:{e}" for e in EXTENSIONS]),
        st.sampled_from([f"group:{g}" for g in GROUPS]),
        st.sampled_from([f"ivr:{m}" for m in MENUS]),
        st.just("number:+79161234567"),
        st.just("number:+493012345678"),
        st.just("hangup"),
    )


@st.composite
def forwarding(draw) -> dict:
    result = {}
    for field in ("unconditional", "busy", "unavailable"):
        if draw(st.booleans()):
            result[field] = draw(targets())
    if draw(st.booleans()):
        result["no_answer"] = {"after_seconds": draw(st.integers(5, 60)), "to": draw(targets())}
    return result


@st.composite
def organization(draw) -> dict:
    extensions = draw(st.lists(st.sampled_from(EXTENSIONS), min_size=1, max_size=5, unique=True))
    employees = {
        ext: {"name": f"employee {ext}", "forwarding": draw(forwarding()), "voicemail": {"enabled": draw(st.booleans())}}
        for ext in extensions
    }
    groups = {
        name: {
            "extension": f"6{index}0",
            "strategy": draw(st.sampled_from(["simultaneous", "sequential"])),
            "members": draw(st.lists(st.sampled_from(EXTENSIONS), min_size=1, max_size=4, unique=True)),
            "ring_seconds": draw(st.integers(5, 60)),
            **({"fallback": draw(targets())} if draw(st.booleans()) else {}),
        }
        for index, name in enumerate(draw(st.lists(st.sampled_from(GROUPS), unique=True)))
    }
    menus = {
        name: {
            "greeting": "ivr/ivr-welcome.wav",
            "options": draw(st.dictionaries(st.sampled_from("0123456789*#"), targets(), min_size=1, max_size=4)),
            "fallback": draw(targets()),
        }
        for name in draw(st.lists(st.sampled_from(MENUS), unique=True))
    }
    incoming = [
        {"number": number, "target": draw(targets())}
        for number in draw(st.lists(st.sampled_from(["main", *NUMBERS]), unique=True))
    ]
    return {
        "name": "org",
        "plan": draw(st.sampled_from(["profi", "vip", None])),
        "owner": draw(st.sampled_from(extensions)),
        "employees": employees,
        "ring_groups": groups,
        "ivr_menus": menus,
        "incoming": incoming,
    }


@st.composite
def sites(draw) -> Site:
    org_ids = draw(st.lists(st.sampled_from(["1", "23", "45", "678"]), min_size=1, max_size=3, unique=True))
    organizations = {org_id: draw(organization()) for org_id in org_ids}
    numbers = {
        MAIN: {"kind": "main"},
        NUMBERS[0]: {"kind": "individual", "organization": draw(st.sampled_from(org_ids))},
        NUMBERS[1]: {"kind": "hotline", "organization": draw(st.sampled_from(org_ids))},
    }
    return Site(
        esl={"password": "property-test-secret"},
        trunks={"carrier": {"proxy": "192.0.2.1", "auth": "ip", "source_addresses": ["192.0.2.1/32"], "numbers": [MAIN, *NUMBERS]}},
        numbers=numbers,
        organizations=organizations,
    )


@st.composite
def calls(draw, site: Site) -> Call:
    if draw(st.booleans()):
        destination = draw(st.sampled_from([MAIN, MAIN[1:], *NUMBERS, "+74950000000", "garbage"]))
        caller = draw(st.sampled_from(["78432123456", "493012345678", "", "79161234567"]))
        return Call(Source.TRUNK, caller, destination)
    org_id = draw(st.sampled_from(sorted(site.organizations)))
    org = site.organizations[org_id]
    caller = draw(st.sampled_from(sorted(org.employees)))
    destination = draw(st.sampled_from([*EXTENSIONS, "600", "610", "89161234567", "+493012345678", "999", ""]))
    return Call(Source.PHONE, caller, destination, org_id=org_id)


NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
ENDINGS = {"bridge", "forward", "message", "hangup", "voicemail", "collect", "menu"}


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
