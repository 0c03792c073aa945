"""Calls parked for the controller: its handler behind the real `ParkedCalls` and
`InboundClient`, the switch's end made of captured FreeSWITCH frames."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

from local_net import until
from scraped import serving
from switch_peer import CapturedSwitch, Script, call_through, captured_events, channel_variables, handling

from bizpbx.controller import call_events
from bizpbx.controller.executor import CallHandler
from bizpbx.controller.guard import SOUND_REFUSED
from bizpbx.controller.metrics import Metrics
from bizpbx.rating import Rater

MAIN = "74952121562"
KAZAN_CALLER = "78432123456"


def place(site, switch: CapturedSwitch, *, spent: Decimal = Decimal(0)):
    """Serve one call; return what the controller did, the events it emitted and its metrics, scraped after."""
    emitted, metrics = [], Metrics()
    handler = CallHandler(site, Rater(site), lambda org, since, until: spent, metrics, emitted.append)

    async def scenario():
        async with serving(metrics) as scrape:
            # The bound only turns a hang into a failure; nothing here measures time.
            seen = await asyncio.wait_for(call_through(switch, handler), 60)
            return seen, await scrape()

    seen, scraped = asyncio.run(scenario())
    return seen, emitted, scraped


def test_main_number_call_enters_the_organization_id_and_reaches_its_owner(site):
    lab = site()
    switch = CapturedSwitch(KAZAN_CALLER, MAIN, channel_variables("inbound", "+74952121562", number_kind="main", trunk="carrier"), Script(digits=["12"]))
    seen, emitted, metrics = place(lab, switch)
    applications = [name for name, _ in seen.applications]
    # The dialplan set the bridges' settings before the socket (no multiset: a round trip saved), the
    # organization keyed is set by a set of its own.
    assert applications == ["answer", "play_and_get_digits", "set", "bridge"]
    collect = seen.applications[1][1].split(" ")
    # min max tries timeout terminator prompt invalid variable pattern; max: room for the pound
    assert collect[:5] == ["2", "3", "3", "5000", "#"]
    assert collect[5:7] == [lab.main_number.prompt, lab.main_number.invalid_prompt]
    assert collect[8] == "^(12|34)$"
    assert seen.variables["bizpbx_org_id"] == "12"  # the CDR carries the chosen organization
    dial = seen.applications[3][1]
    assert dial.endswith("]user/12-100@${domain}") and "leg_timeout=30" in dial
    # While it rings the organization's phones may pick it up (*8): each leg offers the call as the
    # switch creates it; the answer withdraws the offer, and sets who answered on the caller's channel.
    offer = f"api_on_originate=hash insert/bizpbx_pickup/12/{switch.uuid},api_on_answer=hash delete_ifmatch/bizpbx_pickup/12/{switch.uuid}"
    assert dial.startswith("{" + offer + "}[")
    assert f"api_on_answer_bizpbx=uuid_setvar {switch.uuid} bizpbx_answered_by extension:100," in dial
    # One observation a call, however many digits and menus follow its first step.
    assert metrics.value("bizpbx_routing_seconds_count") == 1 and metrics.value("bizpbx_routing_seconds_bucket", le="+Inf") == 1
    assert metrics.value("bizpbx_routing_seconds_sum") > 0
    assert metrics.value("bizpbx_calls_total", direction="inbound") == 1
    # The owner answered; who did is on the caller's channel for its hang-up event and CDR (the leg's own option).
    # The controller took the call by cancelling the dialplan's fallback first.
    assert seen.api == [f"sched_del {switch.uuid}", "sofia_contact 12-100@pbx.lab"]
    assert switch.variables["variable_bizpbx_answered_by"] == "extension:100"
    assert [e.name for e in emitted] == ["call.started", "call.organization_entered", "call.answered"]
    started, entered, answered = (e.body for e in emitted)
    assert (started["organization"], started["number"], started["number_kind"], started["direction"]) == (None, "+74952121562", "main", "inbound")
    assert entered["organization"] == "12"
    assert answered["answered_by"] == {"target": "extension:100", "kind": "extension", "extension": "100", "name": lab.organizations["12"].employees["100"].name}
    assert answered["at"] == "2026-11-25T19:54:27.305+00:00"  # the bridge's moment, from its CHANNEL_BRIDGE


def test_call_started_carries_what_the_dialplan_knew(site):
    lab = site()
    switch = CapturedSwitch(KAZAN_CALLER, "78005553535", channel_variables("inbound", "+78005553535", number_kind="hotline", trunk="carrier", org_id="34"), Script())
    _, emitted, metrics = place(lab, switch)
    started = emitted[0].body
    assert started["event"] == "call.started"
    assert (started["direction"], started["organization"], started["number"], started["number_kind"]) == ("inbound", "34", "+78005553535", "hotline")
    assert (started["from"], started["to"]) == (KAZAN_CALLER, "78005553535")
    assert metrics.labels("bizpbx_calls_total") == [{"direction": "inbound"}] and metrics.value("bizpbx_calls_total", direction="inbound") == 1


def test_a_wrong_organization_id_hears_the_invalid_prompt(site):
    lab = site()
    switch = CapturedSwitch(KAZAN_CALLER, MAIN, channel_variables("inbound", "+74952121562"), Script(digits=[""]))
    seen, _, _ = place(lab, switch)
    assert seen.applications[-1] == ("playback", lab.main_number.invalid_prompt)
    assert seen.hangup_cause == "NO_ROUTE_DESTINATION"


def test_forwarding_on_no_answer_cancels_the_ringing_leg_and_forwards(site):
    def quick_no_answer(data):
        data["organizations"]["12"]["employees"]["101"]["forwarding"]["no_answer"]["after_seconds"] = 5

    lab = site(quick_no_answer)
    switch = CapturedSwitch("12-100", "101", channel_variables("internal", "101", org_id="12"), Script(bridges=["ring", "answer"]))
    seen, emitted, _ = place(lab, switch)
    bridges = [argument for name, argument in seen.applications if name == "bridge"]
    assert len(bridges) == 2
    assert bridges[0].endswith("]user/12-101@${domain}")
    ringing_leg = bridges[0].split("origination_uuid=")[1].split(",")[0]
    # The controller's own deadline ended the ringing leg, not the switch's timer.
    assert f"uuid_kill {ringing_leg} NO_ANSWER" in seen.api
    assert bridges[1].endswith("]sofia/gateway/carrier/+79161234567")
    assert "origination_caller_id_number=+74951234567" in bridges[1]
    [transfer] = [event for event in emitted if event.name == "call.transferred"]
    assert transfer.body["to"] == {"target": "number:+79161234567", "kind": "number", "number": "+79161234567"} and transfer.body["organization"] == "12"
    assert transfer.body["from"]["target"] == "extension:101" and transfer.body["from"]["name"] == lab.organizations["12"].employees["101"].name
    [answered] = [event.body for event in emitted if event.name == "call.answered"]
    assert answered["answered_by"]["target"] == "number:+79161234567"  # the outside party took the forwarded call


def test_busy_forwards_to_the_busy_target(site):
    lab = site()
    switch = CapturedSwitch("12-100", "101", channel_variables("internal", "101", org_id="12"), Script(bridges=["busy", "answer"]))
    seen, _, _ = place(lab, switch)
    bridges = [argument for name, argument in seen.applications if name == "bridge"]
    assert bridges[0].endswith("user/12-101@${domain}") and bridges[1].endswith("user/12-102@${domain}")


def test_an_unregistered_phone_goes_to_its_unavailable_target_without_ringing(site):
    lab = site()
    switch = CapturedSwitch("12-100", "102", channel_variables("internal", "102", org_id="12"), Script(registered=[False]))
    seen, emitted, _ = place(lab, switch)
    assert not [a for a in seen.applications if a[0] == "bridge"]
    assert seen.applications[-2:] == [("answer", ""), ("voicemail", "default ${domain} 12-100")]  # never in early media
    assert [(e.body["from"]["target"], e.body["to"]["target"]) for e in emitted if e.name == "call.transferred"] == [("extension:102", "voicemail:100")]
    [box] = [e.body["box"] for e in emitted if e.name == "call.voicemail"]
    assert box == {"target": "voicemail:100", "kind": "voicemail", "extension": "100", "name": lab.organizations["12"].employees["100"].name}
    assert seen.variables["bizpbx_voicemail"] == "100"  # the hang-up event and the CDR say it ended in voicemail
    assert "call.answered" not in [e.name for e in emitted], "the switch answering for voicemail is no person answering"


def test_a_refused_international_call_hears_why_and_is_logged(site, caplog):
    lab = site()
    switch = CapturedSwitch("12-100", "81049301234567", channel_variables("internal", "81049301234567", org_id="12"), Script())
    with caplog.at_level(logging.WARNING, logger="bizpbx.controller.executor"):
        seen, _, metrics = place(lab, switch)
    assert [a for a in seen.applications if a[0] == "bridge"] == []
    assert seen.applications[-2:] == [("pre_answer", ""), ("playback", SOUND_REFUSED)]
    assert seen.hangup_cause == "CALL_REJECTED"
    assert metrics.labels("bizpbx_guard_refusals_total") == [{"organization": "12", "rule": "international"}]
    assert metrics.value("bizpbx_guard_refusals_total", organization="12", rule="international") == 1
    assert metrics.value("bizpbx_calls_total", direction="internal") == 1
    [record] = [r for r in caplog.records if "toll-fraud guard refused" in r.getMessage()]
    assert "international" in record.getMessage() and "+49301234567" in record.getMessage()
    assert record.call_uuid == switch.uuid


def test_the_daily_spend_cap_counts_the_first_minute(site):
    lab = site()  # organization 12: cap 1500.00; Russian mobiles 2.90 a minute
    under = CapturedSwitch("12-100", "89161234567", channel_variables("internal", "89161234567", org_id="12"), Script())
    seen, _, _ = place(lab, under, spent=Decimal("1497.10"))
    assert seen.applications[-1][0] == "bridge"
    assert seen.variables["bizpbx_direction"] == "outbound" and seen.variables["bizpbx_trunk"] == "carrier"
    over = CapturedSwitch("12-100", "89161234567", channel_variables("internal", "89161234567", org_id="12"), Script())
    seen, _, metrics = place(lab, over, spent=Decimal("1497.11"))
    assert seen.hangup_cause == "CALL_REJECTED" and metrics.value("bizpbx_guard_refusals_total", organization="12", rule="spend-cap") == 1


def always_open(data):
    """Business hours that cover every moment, so the number's rule (the IVR) applies whenever the test runs."""
    data["organizations"]["12"]["incoming"][0]["hours"] = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59:59"}


def test_an_ivr_menu_collects_one_key_and_follows_its_option(site):
    lab = site(always_open)
    switch = CapturedSwitch("79161112233", "74951234567", channel_variables("inbound", "+74951234567", number_kind="individual", org_id="12", trunk="carrier"), Script(digits=["0", "1"]))
    seen, _, _ = place(lab, switch)
    menus = [argument.split(" ") for name, argument in seen.applications if name == "play_and_get_digits"]
    # The main menu, then (key 0) the nested support menu, then (key 1) extension 101.
    assert [m[5] for m in menus] == ["ivr/ivr-welcome.wav", "ivr/ivr-please_hold.wav"]
    assert menus[0][:5] == ["1", "1", "3", "5000", "#"] and menus[0][8] == "^[012]$"
    assert menus[1][8] == "^[19]$"
    assert [name for name, _ in seen.applications].count("answer") == 1
    assert seen.applications[-1][1].endswith("user/12-101@${domain}")


def test_a_menu_without_a_valid_key_takes_its_fallback(site):
    lab = site(always_open)
    switch = CapturedSwitch("79161112233", "74951234567", channel_variables("inbound", "+74951234567", org_id="12"), Script(digits=[""]))
    seen, _, _ = place(lab, switch)
    assert seen.applications[-1][1].endswith("user/12-100@${domain}")  # main's fallback: extension 100


def test_a_recording_the_dialplan_armed_is_not_armed_again(site):
    """Organization 34 records its calls from outside: the dialplan arms it before the socket
    (bizpbx_recording set); a call reaching the controller without it is armed there."""
    lab = site()
    hotline = channel_variables("inbound", "+78005553535", number_kind="hotline", org_id="34", trunk="carrier")
    armed = {**hotline, "variable_bizpbx_recording": "/var/lib/bizpbx/recordings/${uuid}.wav"}
    seen_armed, _, _ = place(lab, CapturedSwitch(KAZAN_CALLER, "78005553535", armed, Script(bridges=["answer"])))
    seen_bare, _, _ = place(lab, CapturedSwitch(KAZAN_CALLER, "78005553535", hotline, Script(bridges=["answer"])))
    assert [name for name, _ in seen_armed.applications] == ["bridge"]
    bare = [(name, argument.partition("=")[0]) for name, argument in seen_bare.applications]
    assert bare[:2] == [("set", "bizpbx_recording"), ("set", "execute_on_answer_bizpbx_record")] and bare[2][0] == "bridge"


def test_the_bridges_settings_the_dialplan_did_not_set_are_set_in_one_multiset(site):
    # A dialplan rendered before the settings moved in front of the socket (a switch not yet reloaded).
    lab = site()
    hotline = channel_variables("inbound", "+78005553535", number_kind="hotline", org_id="34", trunk="carrier")
    older = {name: value for name, value in hotline.items() if name != "variable_continue_on_fail"}
    seen, _, _ = place(lab, CapturedSwitch(KAZAN_CALLER, "78005553535", older, Script(bridges=["answer"])))
    applications = [name for name, _ in seen.applications]
    assert seen.applications[0] == ("multiset", "continue_on_fail=true") and applications.count("multiset") == 1 and "bridge" in applications


def test_an_answered_call_is_let_go_and_stays_the_controllers_until_its_hang_up(site):
    lab = site()
    metrics = Metrics()
    handler = CallHandler(lab, Rater(lab), lambda org, since, until: Decimal(0), metrics, lambda event: None)
    # 12-100 calls a mobile number out: counted by the guard among organization 12's calls in progress.
    switch = CapturedSwitch("12-100", "89161234567", channel_variables("internal", "89161234567", org_id="12"), Script(bridges=["answer"], talk_wait=30))

    async def scenario():
        async with handling(handler, hang_ups=False) as event_socket:
            event_socket.park(switch)
            await until(lambda: switch.uuid in handler.active and handler.active[switch.uuid].let_go, "the answered call to be let go")
            talking = (switch.uuid in handler.active, handler.outbound_calls.in_progress("12"), metrics.registry.get_sample_value("bizpbx_active_calls"))
            handler.hung_up(switch.uuid)  # as the event consumer tells it (from the hang-up event or the CDR)
            await until(lambda: switch.uuid not in handler.active, "the call to be over")
            switch._conversation.cancel()
            return switch.seen, talking, (switch.uuid in handler.active, handler.outbound_calls.in_progress("12"), metrics.registry.get_sample_value("bizpbx_active_calls"))

    seen, talking, over = asyncio.run(scenario())
    # Nothing more was sent once the number answered: the bridge is the switch's to finish.
    assert seen.applications[-1][0] == "bridge" and "hangup" not in seen.commands
    assert talking == (True, 1, 1), "while the call lasts it is the controller's: listed, counted by the guard"
    assert over == (False, 0, 0)


def test_a_channel_whose_hang_up_the_ledger_does_not_rate_is_followed_until_its_own_hang_up(site):
    """A phone's leg the switch dialled, sent through the dialplan again (a transfer): no CDR of the
    ledger's tells its end, its channel's hang-up does."""
    lab = site()
    handler = CallHandler(lab, Rater(lab), lambda org, since, until: Decimal(0), Metrics(), lambda event: None)
    variables = {**channel_variables("internal", "101", org_id="12"), "Call-Direction": "outbound"}
    switch = CapturedSwitch("12-100", "101", variables, Script(bridges=["answer"], talk_wait=0.5))

    async def scenario():
        async with handling(handler, hang_ups=False) as event_socket:
            await asyncio.wait_for(event_socket.call(switch), 60)
            await until(lambda: switch.uuid not in handler.active, "the call to be over")

    asyncio.run(scenario())


def test_a_channel_routed_again_while_its_answered_call_is_followed_ends_the_earlier_handling(site):
    """The caller's leg transferred by the switch (a phone's transfer) is parked again under the
    same UUID: the new handling is the one its hang-up ends."""
    lab = site()
    handler = CallHandler(lab, Rater(lab), lambda org, since, until: Decimal(0), Metrics(), lambda event: None)
    first = CapturedSwitch("12-100", "101", channel_variables("internal", "101", org_id="12"), Script(bridges=["answer"], talk_wait=30))
    again = CapturedSwitch("12-100", "102", channel_variables("internal", "102", org_id="12"), Script(bridges=["answer"], talk_wait=30))
    again.uuid = first.uuid

    async def scenario():
        async with handling(handler, hang_ups=False) as event_socket:
            event_socket.park(first)
            await until(lambda: first.uuid in handler.active and handler.active[first.uuid].let_go, "the first handling to let the call go")
            earlier = handler.active[first.uuid]
            event_socket.park(again)
            await until(lambda: handler.active.get(first.uuid) not in (None, earlier) and handler.active[first.uuid].let_go, "the second handling")
            routed_again = handler.active[first.uuid] is not earlier
            await asyncio.sleep(0.1)  # the earlier handling ends (it must not take the new one with it)
            still = first.uuid in handler.active
            handler.hung_up(first.uuid)
            await until(lambda: not handler.active, "the call to be over")
            for call in (first, again):
                call._conversation.cancel()
            return routed_again, still, dict(handler.active)

    routed_again, still, left = asyncio.run(scenario())
    assert routed_again and still and left == {}


def test_a_call_the_switch_placed_is_billed_from_the_answer_of_the_party_it_calls(site):
    """A click-to-call: the switch dialled the employee's phone (`outbound` to it), which then calls
    the client; the call is billed from the client's answer (the bridge), not the employee's."""
    lab = site()
    clicked = {**channel_variables("internal", "89161234567", org_id="12"), "Call-Direction": "outbound", "variable_bizpbx_ledger_leg": "true"}
    switch = CapturedSwitch("12-101", "89161234567", clicked, Script(bridges=["answer"], talk_wait=0.5))
    seen, _, _ = place(lab, switch)
    answered = int(call_events.event_epoch(captured_events("inbound-plain", "CHANNEL_BRIDGE")[0]))
    assert [command for command in seen.api if "bizpbx_billed_from" in command] == [f"uuid_setvar {switch.uuid} bizpbx_billed_from {answered}"]
    # A phone's own call out: its channel is answered when the client answers, as billed.
    seen, _, _ = place(lab, CapturedSwitch("12-101", "89161234567", channel_variables("internal", "89161234567", org_id="12"), Script(bridges=["answer"], talk_wait=0.5)))
    assert seen.applications[-1][0] == "bridge" and not [command for command in seen.api if "bizpbx_billed_from" in command]
