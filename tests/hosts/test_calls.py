"""Acceptance: real SIP calls through the converged lab (FreeSWITCH, the controller, Kamailio, SIPp),
each asserted on what the CRM sees (call events) and on the ledger. See acceptance.py for the parts.

Skipped, saying why, when FreeSWITCH was not installed in the lab.
"""

from __future__ import annotations

import re
import shlex
import time
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from sipp_scenarios import BUSY_PHONE_SCENARIO, REGISTRATION_SCENARIO, SPEAKS, UNANSWERED_PHONE_SCENARIO

import bizpbx_lab as lab

from .acceptance import HOTLINE, MAIN, PBX, ROMASHKA, WORK, Phone, assert_sipp_ok, call_in, next_caller, pstn, put, sipp, switch  # noqa: F401 - fixtures

# An address of the lab's subnet that no host, nor the gateway, nor the void has.
SPARE_ADDRESS = next(
    str(address)
    for address in lab.PLAN.network.subnet.hosts()
    if str(address) not in {lab.PLAN.network.gateway, lab.PLAN.network.void, *(host.address for host in lab.HOSTS)}
)

def listed(address: str, text: str) -> bool:
    """`address` in `text` as a whole address (10.231.0.2 is not in 10.231.0.20)."""
    return re.search(rf"(?<![\d.]){re.escape(address)}(?![\d])", text) is not None


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
    [answered] = [e for e in events if e["event"] == "call.answered"]
    assert answered["answered_by"]["kind"] == "extension" and answered["answered_by"]["name"], answered


# The ID with the pound the prompt asks for, and without it (taken at the digit timeout).
@pytest.mark.parametrize(("rfc2833", "keys"), [(False, "12#"), (True, "12")], ids=["SIP INFO, with the pound", "RFC 2833, without"])
def test_the_main_number_takes_the_organization_id_however_the_digits_come(switch, carrier, rfc2833: bool, keys: str) -> None:
    caller = next_caller("7495")
    out = call_in(carrier, caller, MAIN, keys=keys, rfc2833=rfc2833)
    assert_sipp_ok(out)
    call, events = switch.the_call(caller)
    assert call["organization"] == "12", "the ID keyed was not taken"
    [transfer] = [e for e in events if e["event"] == "call.transferred"]
    # 12's owner, extension 100, has no phone registered: the call goes to its voicemail.
    assert (transfer["organization"], transfer["to"]["target"], transfer["reason"]) == ("12", "voicemail:100", "100: unavailable")
    assert "call.answered" not in [e["event"] for e in events] and "call.missed" in [e["event"] for e in events]
    assert events[0]["number_kind"] == "main"


# The caller speaks from the end of the box's greeting on (spoken, it lasts about 7 s) without a
# pause: the box stops recording after 2 s of silence. SIPp plays sip-tester's 8 s G.711 pcap
# without waiting for it, so twice, 8 s apart, and stays on through the second.
AFTER_THE_GREETING = '  <pause milliseconds="6000"/>\n' + SPEAKS + '\n  <pause milliseconds="8000"/>\n' + SPEAKS


def test_a_caller_leaves_a_message_in_voicemail_which_speaks_the_sites_language(switch, pbx, carrier) -> None:
    """12's owner (100) has no phone registered: the main number's caller reaches the box, hears its
    greeting (voicemail's own Russian sounds: without them the box hangs up at once) and leaves a message."""
    since = int(pbx.check_output("date +%s"))
    caller = next_caller("7495")
    assert_sipp_ok(call_in(carrier, caller, MAIN, keys="12#", then=AFTER_THE_GREETING, talk_ms=8000))
    call, events = switch.the_call(caller)
    assert [e["box"]["extension"] for e in events if e["event"] == "call.voicemail"] == ["100"], events
    storage = "/var/lib/freeswitch/storage/voicemail"
    messages = pbx.check_output(f"find {storage} -name 'msg_*.wav' -newermt @{since}").split()
    assert len(messages) == 1, f"one message in the box, found {messages}"
    seconds = float(pbx.check_output(f"/opt/bizpbx/venv/bin/python -c {shlex.quote(WAV_SECONDS)} {messages[0]}"))
    assert seconds >= 3, f"the message holds {seconds:.1f} s of the caller's 8 s"
    log = pbx.check_output("journalctl -u freeswitch --since @%d --no-pager" % since)
    assert "/voicemail/" not in "".join(line for line in log.splitlines() if "Can't open" in line or "File not found" in line), log[-3000:]


WAV_SECONDS = "import sys, wave; w = wave.open(sys.argv[1]); print(w.getnframes() / w.getframerate())"


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


def test_a_caller_from_abroad_is_refused_on_the_hotline_before_answer(switch, carrier) -> None:
    caller = "4930" + next_caller("")[:7]  # Berlin: 8-800 is for callers in Russia (RULES.md)
    out = call_in(carrier, caller, HOTLINE)
    assert "sipp-exit=1" in out and "603 Decline" in out, out  # CALL_REJECTED, never answered
    [call] = switch.wait_calls(caller)
    assert (call["answer_epoch"], Decimal(call["cost"]), call["hangup_cause"]) == (0, 0, "CALL_REJECTED")


def test_an_ivr_menu_leads_to_a_ring_group_whose_phone_answers(switch, carrier, phone) -> None:
    """Romashka's number in business hours: its menu, key 1 → the sales group (101, then 102)."""
    answering = Phone(phone, switch, "12-101", 5070)
    try:
        caller = next_caller("7495")
        out = call_in(carrier, caller, ROMASHKA, keys="1")
    finally:
        answering.stop()
    call, events = switch.the_call(caller)
    if not is_business_hours():
        # After hours: the rule's after_hours target, the owner's voicemail, and the call is missed.
        boxes = [e["box"]["extension"] for e in events if e["event"] == "call.voicemail"]
        assert boxes == ["100"], events
        assert "call.missed" in [e["event"] for e in events]
        return
    assert_sipp_ok(out)
    assert call["organization"] == "12" and "call.answered" in [e["event"] for e in events]


def test_internal_calls_are_free(switch, phone) -> None:
    answering = Phone(phone, switch, "12-102", 5072)
    calling = Phone(phone, switch, "12-100", 5074)
    since = int(time.time())
    try:
        assert_sipp_ok(calling.place("102", talk_ms=3000))
    finally:
        calling.stop()
        answering.stop()
    [call] = switch.wait_rows("SELECT * FROM calls WHERE caller = '12-100' AND callee = '102' AND answer_epoch >= ?", str(since))
    assert (call["direction"], call["outcome"], Decimal(call["cost"])) == ("internal", "free", 0)
    assert call["billsec"] >= 2


def test_failed_registrations_get_the_address_banned_then_unbanned(switch, phone) -> None:
    """fail2ban reads the switch's auth failures and drops the address (a second address of the
    phone host, so the phones' own address stays usable)."""
    attacker = SPARE_ADDRESS
    # The card with the phone's lab address: eth0 in the nspawn lab, eth1 in a VM (eth0 is Vagrant's).
    card = phone.check_output(f"ip -o -4 addr show to {lab.BY_NAME['phone'].address}").split()[1]
    phone.run(f"ip addr add {attacker}/{lab.PLAN.network.subnet.prefixlen} dev {card} 2>/dev/null; true")
    try:
        wrong = REGISTRATION_SCENARIO.format(domain=PBX, user="12-101", password="not-the-password", contact_port=5099, expires=60)
        put(phone, f"{WORK}/wrong.xml", wrong.replace('<recv response="200"/>', '<recv response="403"/>'))
        for _ in range(6):
            sipp(phone, "wrong", f"{PBX}:5060", "-i", attacker, "-p", "5098", timeout=10)
        deadline = time.monotonic() + 60
        while not listed(attacker, switch.host.check_output("fail2ban-client status freeswitch-bizpbx")):
            assert time.monotonic() < deadline, switch.host.run("tail -20 /var/log/fail2ban.log").stdout
            time.sleep(2)
        assert listed(attacker, switch.host.check_output("nft list ruleset"))
        options = sipp(phone, "wrong", f"{PBX}:5060", "-i", attacker, "-p", "5098", timeout=5)
        assert "timed out" in options or "sipp-exit=0" not in options  # dropped: nothing answers
        switch.host.check_output(f"fail2ban-client set freeswitch-bizpbx unbanip {attacker}")
        assert not listed(attacker, switch.host.check_output("nft list ruleset"))
        assert "401" in sipp(phone, "wrong", f"{PBX}:5060", "-i", attacker, "-p", "5098", timeout=10)  # answered again
    finally:
        switch.host.run(f"fail2ban-client set freeswitch-bizpbx unbanip {attacker}")
        phone.run(f"ip addr del {attacker}/{lab.PLAN.network.subnet.prefixlen} dev {card}")


def is_business_hours() -> bool:
    """Romashka's hours in the lab site: Monday to Friday, 09:00 to 18:00 Moscow time."""
    now = datetime.now(ZoneInfo("Europe/Moscow"))
    return now.weekday() < 5 and 9 <= now.hour < 18


@pytest.mark.parametrize(
    ("behaviour", "forwarded_to", "reason"),
    [(BUSY_PHONE_SCENARIO, "extension:102", "101: busy"), (UNANSWERED_PHONE_SCENARIO, "number:+79161234567", "101: no answer")],
    ids=["busy", "no answer"],
)
def test_forwarding_by_outcome(switch, phone, pstn, behaviour: str, forwarded_to: str, reason: str) -> None:
    """12-101 forwards on busy to 102 and, after 15 s without an answer, to a mobile (the PSTN)."""
    ringing = Phone(phone, switch, "12-101", 5076, behaviour=behaviour)
    answering = Phone(phone, switch, "12-102", 5078)
    calling = Phone(phone, switch, "12-100", 5080)
    since = int(time.time())
    try:
        assert_sipp_ok(calling.place("101", talk_ms=3000))
    finally:
        for one in (calling, answering, ringing):
            one.stop()
    [call] = switch.wait_rows("SELECT * FROM calls WHERE caller = '12-100' AND callee = '101' AND answer_epoch >= ?", str(since))
    transfers = [(e["to"]["target"], e["reason"]) for e in switch.events_of(call["uuid"]) if e["event"] == "call.transferred"]
    assert (forwarded_to, reason) in transfers, transfers
    assert call["billsec"] >= 2
