"""The trunks' states from FreeSWITCH's gateway reports (bizpbx.controller.trunk_state).

The reports are as mod_sofia 1.10 raises them (sofia_reg.c,
sofia_reg_fire_custom_gateway_state_event; mod_sofia.c, xml_gateway_status);
the live test (test_trunk_live.py) has a real switch send them.
"""

from __future__ import annotations

import pytest

from bizpbx.controller.trunk_state import (
    FAILING,
    TRUNK_DOWN,
    TRUNK_UP,
    UNKNOWN,
    UP,
    GatewayReport,
    TrunkWatch,
    XmlStatusError,
    report_from_event,
    reports_from_xmlstatus,
)

XMLSTATUS = """<?xml version="1.0" encoding="ISO-8859-1"?>
<gateways>
  <gateway>
    <name>carrier</name>
    <profile>external</profile>
    <state>FAIL_WAIT</state>
    <status>DOWN</status>
    <retry>25s</retry>
  </gateway>
  <gateway>
    <name>backup</name>
    <profile>external</profile>
    <state>NOREG</state>
    <status>UP</status>
  </gateway>
</gateways>
"""


def gateway_event(gateway: str, state: str, ping: str = "DOWN", status: str | None = None, phrase: str | None = None, at: int = 1795637077000000) -> dict:
    headers = {"Event-Name": "CUSTOM", "Event-Subclass": "sofia::gateway_state", "Event-Date-Timestamp": str(at), "Gateway": gateway, "State": state, "Ping-Status": ping}
    if status:
        headers |= {"Status": status, "Phrase": phrase or ""}
    return headers


def test_a_registered_trunk_that_starts_failing_is_announced_once_with_the_reason():
    watch = TrunkWatch(["carrier"])
    assert watch.observe(report_from_event(gateway_event("carrier", "REGED", "UP"))) is None  # up, as consumers assume
    down = watch.observe(report_from_event(gateway_event("carrier", "FAILED", status="403", phrase="Forbidden", at=1795637078000000)))
    assert down is not None and down.name == TRUNK_DOWN
    assert down.body == {
        "schema": 1,
        "event": TRUNK_DOWN,
        "id": "trunk.down:carrier:1795637078000000",
        "trunk": "carrier",
        "at": "2026-11-25T20:04:38.000+00:00",
        "state": FAILING,
        "registration": "FAILED",
        "reason": "registration refused: 403 Forbidden",
    }
    assert down.as_row()[1] == "trunk:carrier"
    # FreeSWITCH goes on through FAIL_WAIT, TRYING, FAILED again: still not up, nothing more to say.
    for state in ("FAIL_WAIT", "UNREGED", "TRYING", "TIMEOUT", "FAILED"):
        assert watch.observe(report_from_event(gateway_event("carrier", state))) is None
    assert watch.states()["carrier"].status == FAILING and watch.states()["carrier"].since == "2026-11-25T20:04:38.000+00:00"
    up = watch.observe(report_from_event(gateway_event("carrier", "REGED", "UP", status="200", phrase="OK", at=1795637200000000)))
    assert up is not None and up.name == TRUNK_UP and up.body["reason"] is None and up.key == "trunk.up:carrier:1795637200000000"


def test_an_unanswered_registration_says_so():
    watch = TrunkWatch(["carrier"])
    event = watch.observe(report_from_event(gateway_event("carrier", "FAILED", status="908")))
    assert event is not None and event.body["reason"] == "registration unanswered (timeout)"


def test_transient_states_say_nothing_and_unknown_gateways_are_ignored():
    watch = TrunkWatch(["carrier"])
    assert watch.observe(GatewayReport("carrier", "TRYING")) is None
    assert watch.states()["carrier"].status == UNKNOWN and watch.states()["carrier"].registration == "TRYING"
    assert watch.observe(GatewayReport("elsewhere", "FAILED")) is None
    assert "elsewhere" not in watch.states()


def test_a_trunk_without_registration_is_up_whatever_its_ping_status():
    """FreeSWITCH reports a gateway that does not register as NOREG with Ping-Status DOWN
    until its first check (no event follows when that turns UP); bizpbx renders no pings."""
    watch = TrunkWatch(["carrier"])
    assert watch.observe(GatewayReport("carrier", "NOREG", "DOWN")) is None
    assert watch.states()["carrier"].status == UP


@pytest.mark.parametrize(
    ("announced", "state", "expected"),
    [
        (None, "FAIL_WAIT", TRUNK_DOWN),  # never announced: consumers assume up
        (TRUNK_DOWN, "FAIL_WAIT", None),  # told before the restart
        (TRUNK_DOWN, "REGED", TRUNK_UP),  # it came back while the controller was away
        (TRUNK_UP, "REGED", None),
        (None, "REGED", None),
    ],
)
def test_after_a_restart_consumers_hear_only_what_they_missed(announced, state, expected):
    watch = TrunkWatch(["carrier"])
    event = watch.observe(GatewayReport("carrier", state, "DOWN" if state != "REGED" else "UP"), announced=announced)
    assert (event.name if event else None) == expected


def test_the_switchs_gateway_list_is_read_whole():
    reports = reports_from_xmlstatus(XMLSTATUS)
    assert [(r.gateway, r.state, r.ping) for r in reports] == [("carrier", "FAIL_WAIT", "DOWN"), ("backup", "NOREG", "UP")]
    watch = TrunkWatch(["carrier", "backup"])
    assert [watch.observe(r) for r in reports][1] is None
    assert {name: state.status for name, state in watch.states().items()} == {"carrier": FAILING, "backup": UP}


@pytest.mark.parametrize("answer", ["-ERR no reply\n", "", "<gateways><gateway><name>x</name>"])
def test_anything_else_than_the_gateway_list_is_refused(answer):
    with pytest.raises(XmlStatusError):
        reports_from_xmlstatus(answer)


def test_a_reloaded_site_keeps_the_states_of_the_trunks_it_keeps():
    watch = TrunkWatch(["carrier", "old"])
    watch.observe(GatewayReport("carrier", "FAILED", code="403", phrase="Forbidden"))
    watch.set_trunks(["carrier", "new"])
    assert {name: state.status for name, state in watch.states().items()} == {"carrier": FAILING, "new": UNKNOWN}


def test_other_events_are_not_gateway_reports():
    assert report_from_event({"Event-Name": "CUSTOM", "Event-Subclass": "sofia::register", "Gateway": "carrier"}) is None
    assert report_from_event({"Event-Name": "CHANNEL_ANSWER"}) is None
