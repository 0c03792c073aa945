"""Acceptance: real SIP calls through the converged lab (FreeSWITCH, the controller, Kamailio, SIPp),
each asserted on what the CRM sees (call events) and on the ledger. See acceptance.py for the parts.

Skipped, saying why, when FreeSWITCH was not installed in the lab.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from .acceptance import HOTLINE, MAIN, Phone, assert_sipp_ok, call_in, next_caller, pstn, switch  # noqa: F401 - fixtures

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("needs_freeswitch")]


def test_a_hotline_call_answered_by_a_registered_phone_is_billed_by_the_callers_origin(switch, carrier, phone) -> None:
    answering = Phone(phone, switch, "34-200", 5062)
    try:
        caller = next_caller("7843")  # Kazan: 3.50 a minute on 8-800 (RULES.md)
        assert_sipp_ok(call_in(carrier, caller, HOTLINE))
    finally:
        answering.stop()
    call, events = switch.the_call(caller)
    assert (call["organization"], call["rule"], Decimal(call["cost"])) == ("34", "hotline-origin", Decimal("3.50"))
    started = events[0]
    assert (started["event"], started["direction"], started["organization"], started["number_kind"]) == ("call.started", "inbound", "34", "hotline")
    assert "call.answered" in [e["event"] for e in events]


@pytest.mark.parametrize("rfc2833", [False, True], ids=["SIP INFO", "RFC 2833"])
def test_the_main_number_takes_the_organization_id_however_the_digits_come(switch, carrier, rfc2833: bool) -> None:
    caller = next_caller("7495")
    out = call_in(carrier, caller, MAIN, keys="12#", rfc2833=rfc2833)
    assert_sipp_ok(out)
    call, events = switch.the_call(caller)
    assert call["organization"] == "12", "the ID keyed was not taken"
    [transfer] = [e for e in events if e["event"] == "call.transferred"]
    # 12's owner, extension 100, has no phone registered: the call goes to its voicemail.
    assert (transfer["organization"], transfer["to"], transfer["reason"]) == ("12", "voicemail:100", "100: unavailable")
    assert events[0]["number_kind"] == "main"


def test_an_outbound_call_goes_through_the_trunk_and_is_priced_from_the_deck(switch, phone, pstn) -> None:
    calling = Phone(phone, switch, "12-101", 5064)
    try:
        called = "+7495" + next_caller("")[:7]
        assert_sipp_ok(calling.place(called, talk_ms=3000))
    finally:
        calling.stop()
    [call] = switch.wait_rows("SELECT * FROM calls WHERE called_number = ?", called)
    assert (call["organization"], call["direction"], call["outcome"], call["trunk"]) == ("12", "outbound", "billed", "carrier")
    assert Decimal(call["cost"]) > 0 and call["prefix"]


def test_an_international_call_is_refused_by_the_guard(switch, phone, pstn) -> None:
    abroad = "+4930" + next_caller("")[:7]  # Berlin; organization 12 has international calls off
    calling = Phone(phone, switch, "12-102", 5066)
    try:
        out = calling.place(abroad, refused_with=603)
    finally:
        calling.stop()
    assert_sipp_ok(out)  # the refusal's prompt as early media, then 603 Decline
    [call] = switch.wait_rows("SELECT * FROM calls WHERE callee = ?", abroad)
    assert (call["hangup_cause"], call["answer_epoch"], Decimal(call["cost"])) == ("CALL_REJECTED", 0, 0), call
