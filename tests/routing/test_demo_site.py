"""Each routing rule (RULES.md, issue 5) on the demo site inventory/lab/site.yml."""

from __future__ import annotations

from datetime import date, datetime, timezone

from moments import SATURDAY_MORNING, WEDNESDAY_EVENING, WEDNESDAY_MORNING
from plan_paths import runs

from bizpbx.routing import (
    Answer,
    Bridge,
    Call,
    Collect,
    Hangup,
    Leg,
    Menu,
    Play,
    Source,
    Voicemail,
    route,
    route_after_digits,
    route_menu_choice,
)
from bizpbx.routing.graph import SOUND_INTERNAL_ONLY, SOUND_INVALID_NUMBER
from bizpbx.settings import Target, TargetKind

MAIN = Call(Source.TRUNK, "78432123456", "74952121562")


def from_trunk(to: str, caller: str = "79161112233") -> Call:
    return Call(Source.TRUNK, caller, to)


def from_phone(org: str, caller: str, to: str) -> Call:
    return Call(Source.PHONE, caller, to, org_id=org)


def actions(plan) -> list[str]:
    return [step.action for step in plan.steps]


# --- the main number ------------------------------------------------------------------


def test_main_number_answers_and_collects_the_organization_id(lab_site):
    plan = route(MAIN, lab_site, WEDNESDAY_MORNING)
    assert actions(plan) == ["answer", "collect"]
    collect = plan.steps[1]
    assert isinstance(collect, Collect)
    # Organization 7 has no telephony plan, so it is not an ID the main number takes.
    assert collect.valid == ("12", "34")
    assert (collect.max_attempts, collect.timeout_seconds) == (3, 5)
    assert collect.prompt == lab_site.main_number.prompt
    assert collect.invalid_prompt == lab_site.main_number.invalid_prompt
    assert plan.org_id is None and plan.direction == "inbound"


def test_main_number_with_the_plus_or_without_is_the_same_number(lab_site):
    assert route(from_trunk("+74952121562"), lab_site, WEDNESDAY_MORNING) == route(MAIN, lab_site, WEDNESDAY_MORNING)


def test_after_the_id_an_organization_without_a_main_rule_rings_its_owner(lab_site):
    plan = route_after_digits(MAIN, lab_site, WEDNESDAY_MORNING, "12")
    assert plan.org_id == "12"
    first = plan.steps[0]
    assert isinstance(first, Bridge) and first.legs == (Leg("12", extension="100"),)
    # The owner has voicemail and no forwarding: every failure ends there.
    for next_index in (first.on_busy, first.on_no_answer, first.on_unavailable):
        assert plan.steps[next_index] == Voicemail("12", "100", plan.steps[next_index].reason, forwarded_from="100")


def test_after_the_id_the_organizations_main_rule_applies(site_with):
    def add_main_rule(data):
        data["organizations"]["34"]["incoming"].append({"number": "main", "target": "extension:201"})

    site = site_with(add_main_rule)
    plan = route_after_digits(MAIN, site, WEDNESDAY_MORNING, "34")
    assert plan.steps[0].legs == (Leg("34", extension="201"),)


def test_an_unknown_or_missing_id_hears_the_invalid_prompt(lab_site):
    for digits in ("99", ""):
        plan = route_after_digits(MAIN, lab_site, WEDNESDAY_MORNING, digits)
        assert actions(plan) == ["play", "hangup"]
        assert plan.steps[0].sound == lab_site.main_number.invalid_prompt


def test_an_organization_without_telephony_takes_no_calls_from_outside(lab_site):
    plan = route_after_digits(MAIN, lab_site, WEDNESDAY_MORNING, "7")
    assert actions(plan) == ["play", "hangup"]
    assert "7" in plan.steps[1].reason


# --- individual numbers and business hours ------------------------------------------------


def test_individual_number_within_hours_goes_to_its_rule_the_ivr(lab_site):
    plan = route(from_trunk("74951234567"), lab_site, WEDNESDAY_MORNING)
    assert actions(plan) == ["answer", "menu"]
    assert plan.steps[1].name == "main" and plan.org_id == "12"


def test_individual_number_outside_hours_goes_to_after_hours(lab_site):
    for moment in (WEDNESDAY_EVENING, SATURDAY_MORNING):
        plan = route(from_trunk("74951234567"), lab_site, moment)
        assert actions(plan) == ["voicemail"], moment
        assert plan.steps[0].extension == "100"


def test_business_hours_are_read_in_the_site_time_zone(lab_site):
    # 06:30 UTC is 09:30 in Moscow (open); 15:30 UTC is 18:30 (closed).
    open_utc = datetime(2026, 11, 25, 6, 30, tzinfo=timezone.utc)
    closed_utc = datetime(2026, 11, 25, 15, 30, tzinfo=timezone.utc)
    assert actions(route(from_trunk("74951234567"), lab_site, open_utc)) == ["answer", "menu"]
    assert actions(route(from_trunk("74951234567"), lab_site, closed_utc)) == ["voicemail"]


def test_a_closed_date_is_after_hours_on_a_weekday(site_with):
    def holiday(data):
        data["organizations"]["12"]["incoming"][0]["hours"]["closed_dates"] = [date(2026, 11, 25)]

    site = site_with(holiday)
    assert actions(route(from_trunk("74951234567"), site, WEDNESDAY_MORNING)) == ["voicemail"]


def test_a_number_without_a_rule_rings_the_owner(site_with):
    def drop_rules(data):
        data["organizations"]["12"]["incoming"] = []

    site = site_with(drop_rules)
    plan = route(from_trunk("74951234567"), site, WEDNESDAY_MORNING)
    assert plan.steps[0].legs == (Leg("12", extension="100"),)


def test_a_number_the_site_does_not_have_is_unallocated(lab_site):
    plan = route(from_trunk("74950000000"), lab_site, WEDNESDAY_MORNING)
    assert plan.steps == (Hangup("UNALLOCATED_NUMBER", plan.steps[0].reason),)


# --- 8-800 ---------------------------------------------------------------------------------


def test_hotline_from_russia_rings_its_simultaneous_group_then_the_fallback(lab_site):
    plan = route(from_trunk("88005553535", caller="78432123456"), lab_site, WEDNESDAY_MORNING)
    group = plan.steps[0]
    assert isinstance(group, Bridge)
    assert group.legs == tuple(Leg("34", extension=e) for e in ("200", "201", "202"))
    assert group.ring_seconds == 25 and plan.org_id == "34"
    fallback = plan.steps[group.on_no_answer]
    assert isinstance(fallback, Bridge) and fallback.legs == (Leg("34", extension="200"),)
    assert group.on_busy == group.on_no_answer == group.on_unavailable


def test_hotline_refuses_a_caller_outside_russia_before_answer(lab_site):
    for caller in ("493012345678", "77012345678", ""):  # Germany, Kazakhstan (+7 too), no caller ID
        plan = route(from_trunk("88005553535", caller=caller), lab_site, WEDNESDAY_MORNING)
        assert actions(plan) == ["hangup"], caller
        assert plan.steps[0].cause == "CALL_REJECTED"


# --- extensions and forwarding -------------------------------------------------------------


def test_forwarding_on_busy_no_answer_and_unavailable(lab_site):
    plan = route(from_phone("12", "100", "101"), lab_site, WEDNESDAY_MORNING)
    first = plan.steps[0]
    assert first.action == "bridge" and first.legs == (Leg("12", extension="101"),)
    assert first.ring_seconds == 15 and first.check_registration
    busy = plan.steps[first.on_busy]
    assert busy.action == "forward" and busy.legs == (Leg("12", extension="102"),) and busy.forwarded_from == "101"
    no_answer = plan.steps[first.on_no_answer]
    assert no_answer.action == "forward"
    assert no_answer.legs == (Leg("12", number="+79161234567", trunk="carrier", caller_id="+74951234567"),)
    unavailable = plan.steps[first.on_unavailable]
    assert unavailable == Hangup("USER_NOT_REGISTERED", unavailable.reason)
    # 102, reached on busy, forwards to voicemail when unavailable.
    assert plan.steps[busy.on_unavailable] == Voicemail("12", "100", plan.steps[busy.on_unavailable].reason, forwarded_from="102")


def test_unconditional_forwarding_skips_the_phone(site_with):
    def forward_all(data):
        data["organizations"]["12"]["employees"]["102"]["forwarding"] = {"unconditional": "extension:100"}

    site = site_with(forward_all)
    plan = route(from_phone("12", "101", "102"), site, WEDNESDAY_MORNING)
    assert plan.steps[0].legs == (Leg("12", extension="100"),) and plan.steps[0].forwarded_from == "102"


def test_a_busy_forwarding_cycle_ends_instead_of_looping(site_with):
    def cycle(data):
        employees = data["organizations"]["34"]["employees"]
        employees["200"]["forwarding"] = {"busy": "extension:201"}
        employees["201"]["forwarding"] = {"busy": "extension:200"}

    site = site_with(cycle)
    plan = route(from_phone("34", "202", "200"), site, WEDNESDAY_MORNING)
    to_201 = plan.steps[plan.steps[0].on_busy]
    assert to_201.legs == (Leg("34", extension="201"),)
    back = plan.steps[to_201.on_busy]
    assert isinstance(back, Hangup) and "already tried" in back.reason
    assert all(len(run) <= len(plan.steps) for run in runs(plan))


# --- ring groups -----------------------------------------------------------------------------


def test_sequential_group_rings_members_in_turn_then_its_fallback(lab_site):
    plan = route(from_phone("12", "100", "600"), lab_site, WEDNESDAY_MORNING)
    first, second = plan.steps[0], plan.steps[plan.steps[0].on_no_answer]
    assert first.legs == (Leg("12", extension="101"),) and second.legs == (Leg("12", extension="102"),)
    assert first.ring_seconds == second.ring_seconds == 15
    assert first.on_busy == first.on_unavailable == first.on_no_answer
    after = plan.steps[second.on_no_answer]
    assert isinstance(after, Voicemail) and after.extension == "100"


# --- IVR menus ---------------------------------------------------------------------------------


def menu_of(plan) -> Menu:
    return next(step for step in plan.steps if isinstance(step, Menu))


def test_menu_options_nested_menus_and_fallback(lab_site):
    main = menu_of(route(from_trunk("74951234567"), lab_site, WEDNESDAY_MORNING))
    assert dict(main.options) == {"0": Target(TargetKind.IVR, "support"), "1": Target(TargetKind.GROUP, "sales"), "2": Target(TargetKind.EXTENSION, "102")}
    assert (main.timeout_seconds, main.max_failures) == (5, 3)
    sales = route_menu_choice(MAIN, lab_site, WEDNESDAY_MORNING, main, "1")
    assert sales.steps[0].legs == (Leg("12", extension="101"),)
    # The nested menu is not answered again and is itself planned only when chosen.
    support = route_menu_choice(MAIN, lab_site, WEDNESDAY_MORNING, main, "0")
    assert actions(support) == ["menu"] and support.steps[0].name == "support"
    # support's 9 leads back to main: a fresh menu, planned lazily, no expansion.
    again = route_menu_choice(MAIN, lab_site, WEDNESDAY_MORNING, support.steps[0], "9")
    assert actions(again) == ["menu"] and again.steps[0].name == "main"
    for no_valid_key in (None, "7"):
        fallback = route_menu_choice(MAIN, lab_site, WEDNESDAY_MORNING, main, no_valid_key)
        assert fallback.steps[0].legs == (Leg("12", extension="100"),)


def test_cyclic_menu_fallbacks_stop_without_input(site_with):
    def cyclic(data):
        menus = data["organizations"]["12"]["ivr_menus"]
        menus["main"]["fallback"] = "ivr:support"
        menus["support"]["fallback"] = "ivr:main"

    # The loader refuses such a site; routing must not loop on one anyway.
    site = site_with(cyclic, checked=False)
    main = menu_of(route(from_trunk("74951234567"), site, WEDNESDAY_MORNING))
    support = route_menu_choice(MAIN, site, WEDNESDAY_MORNING, main, None)
    assert actions(support) == ["menu"] and support.steps[0].name == "support"
    back = route_menu_choice(MAIN, site, WEDNESDAY_MORNING, support.steps[0], None)
    assert actions(back) == ["hangup"] and "already tried" in back.steps[0].reason


# --- calls from phones ------------------------------------------------------------------------


def test_outbound_call_goes_through_the_organizations_trunk_with_its_caller_id(lab_site):
    plan = route(from_phone("12", "100", "89161234567"), lab_site, WEDNESDAY_MORNING)
    assert plan.direction == "outbound"
    assert plan.steps[0].legs == (Leg("12", number="+79161234567", trunk="carrier", caller_id="+74951234567"),)
    assert plan.steps[0].action == "bridge"


def test_an_organization_without_telephony_makes_internal_calls_only(lab_site):
    internal = route(from_phone("7", "300", "301"), lab_site, WEDNESDAY_MORNING)
    assert internal.steps[0].legs == (Leg("7", extension="301"),)
    outside = route(from_phone("7", "300", "+74951234567"), lab_site, WEDNESDAY_MORNING)
    assert actions(outside) == ["answer", "play", "hangup"]
    assert outside.steps[1].sound == SOUND_INTERNAL_ONLY


def test_a_dialled_string_that_is_nothing_hears_why(lab_site):
    plan = route(from_phone("12", "100", "999"), lab_site, WEDNESDAY_MORNING)
    assert plan.steps[:2] == (Answer(), Play(SOUND_INVALID_NUMBER, plan.steps[1].reason))
    assert plan.steps[2].cause == "UNALLOCATED_NUMBER"
