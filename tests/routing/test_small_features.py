"""Do-not-disturb, the blocklist and call pickup, decided in the route graph;
the blocklist's regular expression (the fallback's) reads caller numbers as
the controller does."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from bizpbx.routing import Call, Hangup, Pickup, Source, route, route_after_digits
from bizpbx.routing.callers import blocked_expression, blocking_entry

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
ENTRIES = ["+7843*", "+79161234567", "+49*", "+7*", "+8*", "+81012*", "+1*", "+4930123*", "+810*"]
CALLER_IDS = st.one_of(
    st.text("0123456789", max_size=17),
    st.builds(lambda first, rest: first + rest, st.sampled_from(["+", "7", "8", "810", "49"]), st.text("0123456789", max_size=15)),
)


@settings(max_examples=3000, deadline=None)
@given(caller=CALLER_IDS, entry=st.sampled_from(ENTRIES))
def test_the_fallbacks_expression_blocks_exactly_what_the_controller_blocks(caller, entry):
    assert (re.search(blocked_expression((entry,)), caller) is not None) == (blocking_entry(caller, (entry,)) is not None), (caller, entry)


def test_a_blocked_caller_is_refused_before_answer_and_after_the_main_number(site_with):
    def block(data):
        data["organizations"]["34"]["blocklist"] = ["+7843*"]
        data["organizations"]["12"]["blocklist"] = ["+78432123456"]

    site = site_with(block)
    plan = route(Call(Source.TRUNK, "88432123456", "+78005553535"), site, NOW)
    assert plan.steps == (Hangup("CALL_REJECTED", "caller 88432123456 is on organization 34's blocklist (+7843*)"),)
    assert not isinstance(route(Call(Source.TRUNK, "84952123456", "+78005553535"), site, NOW).steps[0], Hangup), "a caller not on the list rings"
    after_id = route_after_digits(Call(Source.TRUNK, "+78432123456", "+74952121562"), site, NOW, "12")
    assert after_id.steps == (Hangup("CALL_REJECTED", "caller +78432123456 is on organization 12's blocklist (+78432123456)"),)


def test_a_phone_on_do_not_disturb_is_busy(site_with):
    def dnd(data):
        employee = data["organizations"]["12"]["employees"]["101"]
        employee["do_not_disturb"] = True
        employee.setdefault("forwarding", {}).pop("unconditional", None)
        employee["forwarding"]["busy"] = "extension:102"

    site = site_with(dnd)
    plan = route(Call(Source.PHONE, "102", "101", org_id="12"), site, NOW)
    first = plan.steps[0]
    assert first.legs[0].extension == "102" and first.forwarded_from == "101" and first.reason == "101 is on do-not-disturb"


def test_star_8_picks_up_within_the_callers_organization_only(lab_site):
    plan = route(Call(Source.PHONE, "101", "*8", org_id="12"), lab_site, NOW)
    assert plan.steps == (Pickup("12", "call pickup: the call now ringing a phone of organization 12 (never another organization's)"),)
