"""Acceptance across the appliance's lifecycle and faults, with calls in flight: the controller
killed, the switch restarted, the pbx rebooted. Calls to the main number keying organization 12
end in its owner's voicemail (no phone registered as 12-100): answered whatever else is up. After each: every finished call in the ledger
exactly once, its events in the outbox, no call left hanging, the controller routing again
without a hand touching it.

Skipped, saying why, when FreeSWITCH was not installed in the lab.
"""

from __future__ import annotations

import time
from datetime import datetime

import pytest

import bizpbx_lab as lab
from bizpbx import fs_vocabulary as fs

from .conftest import VMS, playbook
from .acceptance import HOTLINE, MAIN, Pbx, Phone, assert_sipp_ok, burst, burst_result, call_in, lab_site_with, next_caller, switch  # noqa: F401 - fixture

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("needs_freeswitch")]

BURST_CALLS = 12


def every_call_once(switch: Pbx, caller: str, calls: int) -> list[dict]:
    """The caller's calls: each in the ledger once, each with one call.started and one call.ended."""
    rated = switch.wait_calls(caller, count=calls)
    assert len({c["uuid"] for c in rated}) == calls
    for call in rated:
        names = [e["event"] for e in switch.events_of(call["uuid"])]
        assert names.count("call.started") == 1 and names.count("call.ended") == 1, (call["uuid"], names)
    return rated


def test_the_controller_killed_during_a_burst(switch: Pbx, carrier, phone) -> None:
    answering = Phone(phone, switch, "34-201", 5068)
    caller = next_caller("7843")
    try:
        burst(carrier, caller, HOTLINE, BURST_CALLS, 2, background=True)
        time.sleep(3)
        # The main process alone: the controller has no other, and systemd in the nspawn machine
        # failed to signal the unit's cgroup (EIO) after killing the controller, failing the command.
        switch.host.check_output("systemctl kill --kill-whom=main --signal=KILL bizpbx-controller")
        out = burst_result(carrier)
    finally:
        answering.stop()
    assert_sipp_ok(out)  # no call of the burst failed: the dialplan's fallback took over
    switch.wait_routing()  # restarted by systemd, subscribed again
    switch.wait_no_calls()
    every_call_once(switch, caller, BURST_CALLS)
    restarts = switch.host.check_output("systemctl show bizpbx-controller -p NRestarts --value")
    assert int(restarts) >= 1


def test_a_restart_of_freeswitch(switch: Pbx, carrier) -> None:
    before = next_caller("7843")
    assert_sipp_ok(call_in(carrier, before, MAIN, keys="12#"))
    switch.host.check_output("systemctl restart freeswitch")
    switch.wait_routing()  # the controller noticed, reconnected and subscribed again
    after = next_caller("7843")
    assert_sipp_ok(call_in(carrier, after, MAIN, keys="12#"))
    every_call_once(switch, before, 1)
    every_call_once(switch, after, 1)


def test_the_controller_stopped_for_a_while(switch: Pbx, carrier) -> None:
    """Calls while it is down go through the dialplan's fallback without waiting for a controller;
    read from the CDRs once it is back."""
    switch.host.check_output("systemctl stop bizpbx-controller")
    try:
        absent = switch.api(f"global_getvar {fs.FALLBACK_AFTER_VARIABLE}").strip()
        caller = next_caller("7843")
        for _ in range(3):
            assert_sipp_ok(call_in(carrier, caller, MAIN, keys="12#"))
    finally:
        switch.host.check_output("systemctl start bizpbx-controller")
    switch.wait_routing()
    assert absent == "0", "the stopping controller did not tell the switch"
    rated = every_call_once(switch, caller, 3)
    assert all(c["source"] != "esl" for c in rated), "read from the CDR files"
    for call in rated:
        started = switch.events_of(call["uuid"])[0]
        assert started["event"] == "call.started" and started["recovered"] is True and started["organization"] == "12"
        # The fallback answers the main number at once: the call did not wait parked.
        waited = call["answer_epoch"] - datetime.fromisoformat(started["at"]).timestamp()
        assert waited < fs.FALLBACK_AFTER_SECONDS / 2, f"{call['uuid']} waited {waited:.1f} s for a controller that was stopped"
    deadline = time.monotonic() + 10  # said once the controller's event socket is subscribed
    while (present := switch.api(f"global_getvar {fs.FALLBACK_AFTER_VARIABLE}").strip()) != str(fs.FALLBACK_AFTER_SECONDS) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert present == str(fs.FALLBACK_AFTER_SECONDS), "the controller is back: calls are to wait for it again"


def test_a_reboot_of_the_pbx(switch: Pbx, carrier) -> None:
    if VMS:
        pytest.skip("rebooting pbx is scripted for the nspawn lab only (its systemd-nspawn); on the VMs it would be vagrant reload")
    before = next_caller("7843")
    assert_sipp_ok(call_in(carrier, before, MAIN, keys="12#"))
    pbx = lab.BY_NAME["pbx"]
    lab.stop(pbx)
    lab.boot(pbx, lab.prefix_to_mount())
    lab.wait_for_ssh(pbx)
    switch.wait_routing()
    after = next_caller("7843")
    assert_sipp_ok(call_in(carrier, after, MAIN, keys="12#"))
    every_call_once(switch, before, 1)
    every_call_once(switch, after, 1)
    assert switch.status()["cdr_files"] == "readable"


def test_a_site_change_applied_by_the_playbook_while_calls_are_up(switch: Pbx, carrier, tmp_path) -> None:
    """An employee added and provisioned during a burst: no call lost or counted twice, the new
    employee can then register (the switch has its generated password)."""
    anchor = '      "102":\n        name: Пётр Иванов\n'
    changed = lab_site_with(tmp_path, anchor, '      "103":\n        name: Новый Сотрудник\n' + anchor)
    caller = next_caller("7495")
    try:
        burst(carrier, caller, MAIN, 60, 1, background=True)  # a minute: the converge reloads the controller within it
        run = playbook("--limit", "pbx", "-e", f"bizpbx__site_file={changed}")
        assert run.returncode == 0, run.explain()
        assert_sipp_ok(burst_result(carrier))
        switch.wait_routing()
        assert "12-103" in switch.host.file("/etc/freeswitch/directory/org-12.xml").content_string
        every_call_once(switch, caller, 60)
    finally:
        restored = playbook("--limit", "pbx")
        assert restored.returncode == 0, restored.explain()
