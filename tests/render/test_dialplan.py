"""The rendered dialplan: every call parked for the controller first, the
static fallback in the context's twin, from the same rules."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from xml.etree.ElementTree import Element

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rendered_tree import edit_site, parse

from bizpbx import fs_vocabulary as fs
from bizpbx.render.dialplan_parts import number_pattern
from bizpbx.numbers.e164 import e164_digits, is_russian
from bizpbx.render import render_site
from bizpbx.site_loader import SiteError, load_site
from bizpbx.routing.graph import EXTERNAL_NUMBER, RUSSIAN_CALLER, SOUND_INTERNAL_ONLY, SOUND_INVALID_NUMBER


def contexts(tree: Path) -> dict[str, Element]:
    found = {}
    for path in sorted((tree / "dialplan").glob("*.xml")):
        for context in parse(path).findall("context"):
            assert context.get("name") not in found, f"context {context.get('name')} twice"
            found[context.get("name")] = context
    return found


REFUSED_AS_NOT_A_NUMBER = [("answer", ""), ("playback", SOUND_INVALID_NUMBER), ("hangup", "UNALLOCATED_NUMBER")]


def actions(condition: Element, tag: str = "action") -> list[tuple[str, str]]:
    return [(a.get("application"), a.get("data") or "") for a in condition.findall(tag)]


def variables_set(steps: list[tuple[str, str]]) -> dict[str, str]:
    """The channel variables the steps set, by `set` or by `multiset` (its words split on spaces)."""
    pairs = [pair for app, data in steps for pair in ([data] if app == "set" else data.split() if app == "multiset" else [])]
    return dict(pair.split("=", 1) for pair in pairs)


def matching(context: Element, destination: str) -> Element:
    """The first extension whose destination_number condition matches, as the switch hunts."""
    for extension in context.findall("extension"):
        first = extension.find("condition")
        if first.get("field") == "destination_number" and re.search(first.get("expression"), destination):
            return extension
    raise AssertionError(f"no extension of {context.get('name')} matches {destination}")


def parked_in(context: str) -> list[tuple[str, str]]:
    """How a call is handed to the controller: its fallback scheduled (after as long as the
    controller said it will take, a global), then parked."""
    return [("sched_transfer", f"+${{bizpbx_fallback_after}} ${{destination_number}} XML {context}-fallback"), ("park", "")]


def fallback(every: dict[str, Element], context: str, dialled: str) -> list[tuple[str, str]]:
    """What the switch does alone with `dialled`: its extension in the context's fallback twin."""
    extension = matching(every[f"{context}-fallback"], dialled)
    return [s for c in extension.findall("condition") for s in actions(c) + actions(c, "anti-action")]


def test_every_number_is_parked_for_the_controller_with_a_fallback(rendered: Path, lab_site):
    every = contexts(rendered)
    for number, entry in {**lab_site.numbers}.items():
        for dialled in (number, number.lstrip("+"), "8" + number[2:]):
            extension = matching(every["public"], dialled)
            steps = actions(extension.find("condition"))
            assert steps[-2:] == parked_in("public"), f"{dialled}: not parked"
            expected = {"hangup_after_bridge": "true", "continue_on_fail": "true", "bizpbx_direction": "inbound", "bizpbx_called": number}
            expected |= {"bizpbx_number_kind": str(entry.kind), "bizpbx_trunk": "carrier"}
            if entry.organization:
                expected["bizpbx_org_id"] = entry.organization
            assert expected.items() <= variables_set(steps).items(), f"{dialled}: {steps}"
            assert [app for app, _ in steps].count("multiset") == 1, "the controller's variables in one application"
            assert fallback(every, "public", dialled), f"{dialled}: no fallback"


def test_the_fallback_twins_hold_no_park(rendered: Path):
    every = contexts(rendered)
    twins = [name for name in every if name.endswith("-fallback")]
    assert sorted(twins) == ["org-12-fallback", "org-34-fallback", "org-7-fallback", "public-fallback"]
    for name in twins:
        applications = {a.get("application") for a in every[name].iter("action")} | {a.get("application") for a in every[name].iter("anti-action")}
        assert not applications & {"park", "sched_transfer"}, name


def test_public_refuses_anything_else(rendered: Path):
    public = contexts(rendered)["public"]
    for dialled in ("74950000000", "101", "ext-101", "in-74951234567", "main"):
        refused = matching(public, dialled)
        assert actions(refused.find("condition")) == [("hangup", "UNALLOCATED_NUMBER")], dialled


def test_main_number_fallback_asks_for_the_organization_id(rendered: Path):
    steps = fallback(contexts(rendered), "public", "+74952121562")
    collect = next(data for app, data in steps if app == "play_and_get_digits").split(" ")
    # Two-digit IDs; room for a third digit, so that the pound the prompt asks for ends the entry.
    assert collect[:5] == ["2", "3", "3", "5000", "#"]
    assert collect[7] == "bizpbx_org_id"
    ids = collect[8]
    assert re.fullmatch(ids, "12") and re.fullmatch(ids, "34")
    assert not re.fullmatch(ids, "7"), "organization 7 has no telephony plan: not reachable from the main number"
    assert collect[10:] == ["refused", "XML", "main-number"]
    assert steps[-1] == ("transfer", "${bizpbx_org_id} XML main-number")
    # The ID entered leads (through its recording, where the organization records) to its `main` node.
    entered = contexts(rendered)["main-number"]
    assert actions(matching(entered, "12").find("condition"))[-1] == ("transfer", "main XML org-12-incoming")
    with pytest.raises(AssertionError, match="no extension"):
        matching(entered, "7")
    # What the caller reaches there: organization 12 has no rule for main, so its owner (the lab
    # found the caller hung up with NO_ROUTE_DESTINATION when `main` was missing).
    incoming = contexts(rendered)["org-12-incoming"]
    assert actions(matching(incoming, "main").find("condition")) == [("transfer", "ext-100 XML org-12-incoming")]
    assert matching(incoming, "ext-100") is not None


def test_number_with_business_hours(rendered: Path):
    assert fallback(contexts(rendered), "public", "+74951234567")[-1] == ("transfer", "in-74951234567 XML org-12-incoming")
    hours = matching(contexts(rendered)["org-12-incoming"], "in-74951234567").findall("condition")[1]
    assert hours.get("wday") == "mon,tue,wed,thu,fri"
    assert hours.get("time-of-day") == "09:00:00-17:59:59"
    assert actions(hours) == [("transfer", "ivr-main XML org-12-incoming")]
    assert actions(hours, "anti-action") == [("transfer", "vm-100 XML org-12-incoming")]


def test_holidays_go_to_after_hours(lab_site_copy: Path):
    edit_site(lab_site_copy, lambda d: d["organizations"]["12"]["incoming"][0]["hours"].update(closed_dates=[date(2027, 1, 7)]))
    files = render_site(load_site(lab_site_copy, generate_missing_secrets=True))
    incoming = next(c for c in parse_bytes(files["dialplan/org-12.xml"]).findall("context") if c.get("name") == "org-12-incoming")
    holiday = matching(incoming, "in-74951234567").findall("condition")[1]
    assert (holiday.get("year"), holiday.get("mon"), holiday.get("mday")) == ("2027", "1", "7")
    assert actions(holiday) == [("transfer", "vm-100 XML org-12-incoming")]


def parse_bytes(content: bytes) -> Element:
    from xml.etree.ElementTree import fromstring

    return fromstring(content)


def test_hotline_takes_callers_in_russia_only(rendered: Path):
    extension = matching(contexts(rendered)["public-fallback"], "88005553535")
    screening = extension.findall("condition")[1]
    assert screening.get("field") == "caller_id_number"
    assert actions(screening) == [("transfer", "group-support XML org-34-incoming")]
    assert actions(screening, "anti-action") == [("hangup", "CALL_REJECTED")]


@pytest.mark.parametrize(
    "caller",
    ["+74951112233", "+78432123456", "+79161234567", "+73832123456", "+77012345678", "+76172123456", "+380441234567", "+12025550123", "+4930123456"],
)
def test_the_russian_caller_pattern_agrees_with_phonenumbers(caller: str):
    in_russia = phonenumbers.region_code_for_number(phonenumbers.parse(caller)) == "RU"
    # Without the +, only +7 numbers read unambiguously (10 bare digits are a national number).
    forms = {caller, caller[1:], "8" + caller[2:], caller[2:]} if caller.startswith("+7") else {caller}
    for form in forms:
        assert bool(re.search(RUSSIAN_CALLER, form)) == in_russia, form


@given(st.from_regex(r"\A\+?(?:810|[78])?[0-9]{0,15}\Z"))
def test_the_russian_caller_pattern_is_the_controllers_notion(caller: str):
    digits = e164_digits(caller)
    assert bool(re.search(RUSSIAN_CALLER, caller)) == (digits is not None and is_russian(digits)), caller


def test_number_pattern_accepts_the_forms_a_trunk_sends():
    assert all(re.search(number_pattern("+74951234567"), form) for form in ("+74951234567", "74951234567", "84951234567", "4951234567"))
    assert not re.search(number_pattern("+74951234567"), "749512345670")
    assert re.search(number_pattern("+4930123456"), "4930123456") and re.search(number_pattern("+4930123456"), "+4930123456")


def test_phones_reach_their_own_organization_only(rendered: Path):
    every = contexts(rendered)
    phones = every["org-12"]
    employees = matching(phones, "101").find("condition")
    assert re.search(employees.get("expression"), "101").group(1) == "101"
    steps = actions(employees)
    assert steps[-2:] == parked_in("org-12")
    assert {"bizpbx_direction": "internal", "bizpbx_org_id": "12"}.items() <= variables_set(steps).items()
    assert fallback(every, "org-12", "101") == [("transfer", "ext-${destination_number} XML org-12-incoming")]
    assert fallback(every, "org-12", "600") == [("transfer", "group-sales XML org-12-incoming")]
    # An extension of organization 34 is not a number for organization 12's phones.
    assert fallback(every, "org-12", "200") == REFUSED_AS_NOT_A_NUMBER


def test_outbound_goes_to_the_guard_and_refuses_without_it(rendered: Path):
    every = contexts(rendered)
    outbound = matching(every["org-12"], "+79161112233")
    assert outbound.get("name") == "outbound"
    steps = actions(outbound.find("condition"))
    assert steps[-2:] == parked_in("org-12")
    assert ("set", "effective_caller_id_number=+74951234567") in steps
    assert {"bizpbx_direction": "outbound", "bizpbx_trunk": "carrier"}.items() <= variables_set(steps).items()
    assert fallback(every, "org-12", "+79161112233") == [("hangup", "NORMAL_TEMPORARY_FAILURE")], "without the controller nothing leaves through the trunk"


def test_an_organization_without_a_plan_has_no_outbound(rendered: Path):
    every = contexts(rendered)
    phones = every["org-7"]
    assert not any(app == "bridge" and "sofia/gateway" in data for c in phones.iter("condition") for app, data in actions(c))
    refused = fallback(every, "org-7", "+79161112233")
    assert refused[-3:] == [("answer", ""), ("playback", SOUND_INTERNAL_ONLY), ("hangup", "CALL_REJECTED")]
    incoming = contexts(rendered)["org-7-incoming"]
    assert not any("sofia/gateway" in (a.get("data") or "") for a in incoming.iter("action"))


def test_a_number_of_an_organization_without_a_plan_is_refused(lab_site_copy: Path):
    def give_number_to_7(data):
        data["numbers"]["+74951234567"]["organization"] = "7"
        data["organizations"]["12"].pop("incoming")
        data["organizations"]["12"].pop("caller_id")

    # Such a site is refused (it could never answer the number): nothing is rendered for it.
    edit_site(lab_site_copy, give_number_to_7)
    with pytest.raises(SiteError) as caught:
        load_site(lab_site_copy, generate_missing_secrets=True)
    assert "numbers.+74951234567.organization" in [path for path, _ in caught.value.problems]


def test_forwarding_outcomes(rendered: Path):
    incoming = contexts(rendered)["org-12-incoming"]
    ring = actions(matching(incoming, "ext-101").find("condition"))
    assert ring == [
        ("set", "call_timeout=15"),
        ("set", "continue_on_fail=true"),
        # While it rings, the organization's phones may pick it up (*8): offered by each leg the switch
        # creates, withdrawn by an answer or the bridge's end.
        ("bridge", "{api_on_originate=hash insert/bizpbx_pickup/12/${uuid},api_on_answer=hash delete_ifmatch/bizpbx_pickup/12/${uuid}}user/12-101@${domain}"),
        ("hash", "delete_ifmatch/bizpbx_pickup/12/${uuid}"),
        ("transfer", "ext-101-failed XML org-12-incoming"),
    ]
    branches = [e for e in incoming.findall("extension") if e.find("condition").get("expression") == r"^ext\-101\-failed$"]
    outcomes = {}
    for extension in branches:
        conditions = extension.findall("condition")
        key = conditions[1].get("expression") if len(conditions) > 1 else "otherwise"
        outcomes[key] = actions(conditions[-1])
    assert outcomes["^(?:USER_BUSY|CALL_REJECTED)$"] == [("transfer", "ext-102 XML org-12-incoming")]
    assert outcomes["^(?:NO_ANSWER|ALLOTTED_TIMEOUT|NO_USER_RESPONSE)$"] == [("transfer", "out-79161234567 XML org-12-incoming")]
    assert outcomes["otherwise"] == [("hangup", "${originate_disposition}")]
    assert branches[-1].findall("condition")[0].find("action") is not None, "the catch-all comes last"
    out = actions(matching(incoming, "out-79161234567").find("condition"))
    assert out[-2:] == [("bridge", "sofia/gateway/carrier/+79161234567"), ("hangup", "NORMAL_TEMPORARY_FAILURE")]
    assert ("set", "effective_caller_id_number=+74951234567") in out


def test_ring_groups(rendered: Path):
    every = contexts(rendered)
    sales = actions(matching(every["org-12-incoming"], "group-sales").find("condition"))
    pickup = "{api_on_originate=hash insert/bizpbx_pickup/12/${uuid},api_on_answer=hash delete_ifmatch/bizpbx_pickup/12/${uuid}}"
    assert ("bridge", pickup + "[leg_timeout=15]user/12-101@${domain}|[leg_timeout=15]user/12-102@${domain}") in sales
    support = actions(matching(every["org-34-incoming"], "group-support").find("condition"))
    assert ("set", "call_timeout=25") in support
    assert ("bridge", pickup.replace("/12/", "/34/") + "user/34-200@${domain},user/34-201@${domain},user/34-202@${domain}") in support


def test_every_user_the_dialplan_rings_is_in_the_directory(rendered: Path):
    users = {u.get("id") for path in (rendered / "directory").glob("org-*.xml") for u in parse(path).iter("user")}
    rung = set()
    for context in contexts(rendered).values():
        for condition in context.iter("condition"):
            alternatives = re.fullmatch(r"\^(?P<prefix>.*?)\((?P<alts>[^()]*)\)\$", condition.get("expression") or "")
            for app, data in actions(condition):
                if app != "bridge":
                    continue
                for leg in re.findall(r"user/([^@]+)@", data):
                    if "$1" in leg:
                        assert alternatives, f"{data}: $1 without a capture"
                        rung.update(leg.replace("$1", alt.replace("\\", "")) for alt in alternatives["alts"].split("|"))
                    else:
                        rung.add(leg)
    assert rung and rung <= users, rung - users
    assert {"12-100", "34-200", "7-300", "7-301"} <= rung


def test_voicemail_boxes_are_the_directory_users(rendered: Path):
    incoming = contexts(rendered)["org-12-incoming"]
    assert actions(matching(incoming, "vm-100").find("condition")) == [
        ("set", "bizpbx_voicemail=100"),
        ("set", "voicemail_alternate_greet_id=100"),  # the greeting says 100, not the box's user 12-100
        ("answer", ""),
        ("voicemail", "default ${domain} 12-100"),
        ("hangup", ""),
    ]
    check = actions(matching(contexts(rendered)["org-12"], "*97").find("condition"))
    assert check[-1] == ("voicemail", "check default ${domain} ${bizpbx_user_id}")
