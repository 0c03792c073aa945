"""Random sites and calls for routing's property tests: forwarding, ring
groups and menus of every shape, cycles included (the loader would refuse
some of these sites; routing must cope with them anyway)."""

from __future__ import annotations

from hypothesis import strategies as st

from bizpbx.routing import Call, Source
from bizpbx.settings import Site

EXTENSIONS = ["10", "11", "12", "13", "14"]
GROUPS = ["g1", "g2"]
MENUS = ["m1", "m2", "m3"]
NUMBERS = ["+74951234567", "+78005553535"]
MAIN = "+74952121562"
# Caller numbers and blocklist entries meant to meet in every form a trunk gives a number.
CALLERS = ["78432123456", "88432123456", "8432123456", "+78432123456", "493012345678", "81049301234567", "", "79161234567", "Anonymous"]
BLOCKLIST_ENTRIES = ["+7843*", "+78432123456", "+49*", "+4930123*", "+79161234567", "+7*", "+1*"]


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
def business_hours(draw) -> dict:
    """None, or hours of an incoming rule with where calls go outside them."""
    if not draw(st.booleans()):
        return {}
    opening = draw(st.integers(0, 22))
    hours = {
        "days": draw(st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1, unique=True)),
        "open": f"{opening:02d}:00",
        "close": f"{draw(st.integers(opening + 1, 23)):02d}:{draw(st.sampled_from(['00', '30']))}",
        "closed_dates": draw(st.lists(st.sampled_from(["2026-11-25", "2026-11-26", "2026-12-31"]), unique=True)),
    }
    return {"hours": hours, "after_hours": draw(targets())}


@st.composite
def organization(draw) -> dict:
    extensions = draw(st.lists(st.sampled_from(EXTENSIONS), min_size=1, max_size=5, unique=True))
    employees = {
        ext: {
            "name": f"employee {ext}",
            "forwarding": draw(forwarding()),
            "voicemail": {"enabled": draw(st.booleans())},
            "record_calls": draw(st.sampled_from([None, None, True, False])),
            "do_not_disturb": draw(st.booleans()),
        }
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
        {"number": number, "target": draw(targets()), **draw(business_hours())}
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
        "recording": {"calls": draw(st.sampled_from(["all", "inbound", "off"])), "notice": draw(st.booleans())},
        "blocklist": draw(st.lists(st.sampled_from(BLOCKLIST_ENTRIES), max_size=3, unique=True)),
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
        caller = draw(st.sampled_from(CALLERS))
        return Call(Source.TRUNK, caller, destination)
    org_id = draw(st.sampled_from(sorted(site.organizations)))
    org = site.organizations[org_id]
    caller = draw(st.sampled_from(sorted(org.employees)))
    destination = draw(st.sampled_from([*EXTENSIONS, "600", "610", "89161234567", "+493012345678", "999", "", "*8"]))
    return Call(Source.PHONE, caller, destination, org_id=org_id, user=f"{org_id}-{caller}")
