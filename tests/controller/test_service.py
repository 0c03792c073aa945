"""The whole controller (`Controller.run`): the calls parked on its event socket,
rating, the ledger, the outbox, the metrics endpoint and shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
from decimal import Decimal

import pytest
from local_net import until
from scraped import OPENMETRICS, scrape
from switch_peer import CapturedEventSocket, CapturedSwitch, Script, channel_variables

from bizpbx import fs_vocabulary as fs
from bizpbx.controller.outbox import Outbox
from bizpbx.controller.service import Controller
from bizpbx.ledger import Ledger

HOTLINE = "78005553535"
KAZAN_CALLER = "78432123456"  # Kazan: 3.50 a minute on 8-800 (RULES.md)
HOTLINE_VARIABLES = channel_variables("inbound", "+78005553535", number_kind="hotline", org_id="34", trunk="carrier")


async def status_of(site_file) -> dict:
    status = await asyncio.create_subprocess_exec(sys.executable, "-m", "bizpbx.cli", "status", str(site_file), "--json", stdout=asyncio.subprocess.PIPE)
    shown = json.loads((await status.communicate())[0])
    assert status.returncode == 0
    return shown


async def controller_running(lab, event_socket: CapturedEventSocket, *, grace_seconds: float) -> tuple[Controller, asyncio.Event, asyncio.Task]:
    """A controller for `lab`, subscribed on `event_socket`: it runs until the event returned is set."""
    controller = Controller(lab, grace_seconds=grace_seconds)
    stop = asyncio.Event()
    running = asyncio.create_task(controller.run(stop))
    await asyncio.wait_for(event_socket.subscribed.wait(), 30)
    return controller, stop, running


def test_a_hotline_call_is_routed_then_rated_by_the_callers_origin(site, lab_secrets, tmp_path):
    async def scenario():
        async with CapturedEventSocket(lab_secrets["BIZPBX_ESL__PASSWORD"]) as event_socket:
            lab = site(esl_port=event_socket.port)
            controller, stop, running = await controller_running(lab, event_socket, grace_seconds=5)
            # A controller that has seen no call yet has no sample of its labelled counters.
            fresh = await status_of(site_file)
            switch = CapturedSwitch(KAZAN_CALLER, HOTLINE, HOTLINE_VARIABLES, Script(bridges=["answer"], talk_seconds=65))
            seen = await asyncio.wait_for(event_socket.call(switch), 30)
            # The switch reported the end of the call on the event socket, with what the controller set.
            await until(lambda: controller.ledger.has(switch.uuid), "the call in the ledger")
            metrics = await scrape(lab.controller.metrics.port)
            openmetrics = await scrape(lab.controller.metrics.port, accept=OPENMETRICS)
            shown = await status_of(site_file)
            stop.set()
            await asyncio.wait_for(running, 30)
            return lab, switch, seen, (metrics, openmetrics), event_socket.commands, (fresh, shown)

    site_file = tmp_path / "site.yml"
    lab, switch, seen, (metrics, openmetrics), commands, (fresh, status) = asyncio.run(scenario())
    assert fresh["running"] is True and fresh["calls_total"] == 0 and fresh["esl_connected"] is True
    assert status["running"] is True and status["calls_in_ledger"] == 1 and status["active_calls"] == 0 and status["calls_total"] == 1
    assert status["esl_connected"] is True
    assert status["sizing"] == {"max_calls": 250, "calls_per_second": 60, "max_sessions": 500, "sessions_per_second": 120}
    assert "event plain CHANNEL_PARK CHANNEL_EXECUTE_COMPLETE CHANNEL_BRIDGE CHANNEL_HANGUP_COMPLETE CUSTOM sofia::gateway_state" in commands
    assert "filter Application -sched_transfer" in commands and "filter Application -park" in commands
    assert "auth" in commands  # the password itself is never kept by the peer's record
    [bridge] = [argument for name, argument in seen.applications if name == "bridge"]
    assert bridge.count("user/34-") == 3  # the simultaneous support group: 200, 201, 202
    with Ledger(lab.controller.ledger) as ledger:
        [stored] = list(ledger.calls("34", 0, 2**31))
    assert stored.uuid == switch.uuid and stored.rule == "hotline-origin"
    assert stored.cost == Decimal("7.00")  # 65 s: two started minutes at 3.50
    outbox = Outbox(lab.controller.ledger)
    assert [e.name for e in outbox.after(0)] == ["call.started", "call.answered", "call.ended"]
    [ended] = [e.data for e in outbox.after(0) if e.name == "call.ended"]
    assert ended["cost"] == "7.00" and ended["duration"] == 65 and ended["organization"] == "34" and ended["from"] == KAZAN_CALLER
    assert metrics.content_type.startswith("text/plain; version=")
    assert metrics.value("bizpbx_up") == 1 and metrics.value("bizpbx_active_calls") == 0
    assert metrics.value("bizpbx_calls_total", direction="inbound") == 1
    assert metrics.value("bizpbx_routing_seconds_count") == 1 and metrics.value("bizpbx_routing_seconds_bucket", le="+Inf") == 1
    assert metrics.labels("bizpbx_calls_rated_total") == [{"organization": "34", "direction": "inbound", "outcome": "billed"}]
    assert metrics.value("bizpbx_calls_rated_total", organization="34", direction="inbound", outcome="billed") == 1
    assert metrics.value("bizpbx_hangups_total", direction="inbound", trunk="carrier", cause="NORMAL_CLEARING") == 1
    [cdr] = metrics.labels("bizpbx_cdr_readable")  # no CDR directory here yet: why, as a label
    assert cdr["problem"] == f"{lab.freeswitch.log_dir / 'cdr-csv'} does not exist (FreeSWITCH makes it at its first CDR)"
    assert metrics.value("bizpbx_cdr_readable", problem=cdr["problem"]) == 0 and status["cdr_files"] == cdr["problem"]
    # The process and the platform, from the library's collectors on the controller's registry.
    assert metrics.value("process_resident_memory_bytes") > 0 and metrics.value("process_open_fds") > 0
    assert "python_info" in metrics.families
    # Prometheus asks for OpenMetrics: the same figures, in that format.
    assert openmetrics.content_type.startswith("application/openmetrics-text") and openmetrics.body.endswith("# EOF\n")
    assert openmetrics.value("bizpbx_calls_total", direction="inbound") == 1
    assert openmetrics.value("bizpbx_routing_seconds_count") == 1
    [answered] = [e.data for e in outbox.after(0) if e.name == "call.answered"]
    assert "recovered" not in answered, "the controller saw the answer live; the hang-up's copy was not stored"
    assert answered["answered_by"]["target"] == ended["answered_by"]["target"] == "extension:200"  # the group's first leg answered
    assert ended["answered"] is True and ended["talk_seconds"] == 65  # the bridge's epoch to the hang-up's


def test_the_metrics_tell_whether_the_event_socket_is_subscribed(site, lab_secrets):
    """While it is not, calls start without a call.started: whoever places calls
    (a monitor, the live test) can tell from bizpbx_esl_connected."""

    async def scenario():
        async with CapturedEventSocket(lab_secrets["BIZPBX_ESL__PASSWORD"]) as event_socket:
            lab = site(esl_port=event_socket.port)
            controller, stop, running = await controller_running(lab, event_socket, grace_seconds=5)
            await until(lambda: controller.inbound.connected, "the subscription to be acknowledged")
            subscribed = await scrape(lab.controller.metrics.port)
        # The switch went away (restarted, say): the controller is reconnecting.
        await until(lambda: not controller.inbound.connected, "the controller to notice the switch is gone")
        gone = await scrape(lab.controller.metrics.port)
        stop.set()
        await asyncio.wait_for(running, 30)
        return subscribed, gone

    subscribed, gone = asyncio.run(scenario())
    assert subscribed.value("bizpbx_esl_connected") == 1 and subscribed.value("bizpbx_esl_refusals_total") == 0
    assert gone.value("bizpbx_esl_connected") == 0


def test_parked_calls_wait_for_the_controller_only_while_it_is_there(site, lab_secrets):
    """Once subscribed, the controller has the switch keep parked calls for it for a while; as it
    stops, the switch sends them to the fallback without waiting."""

    async def scenario():
        async with CapturedEventSocket(lab_secrets["BIZPBX_ESL__PASSWORD"]) as event_socket:
            lab = site(esl_port=event_socket.port)
            controller, stop, running = await controller_running(lab, event_socket, grace_seconds=5)
            await until(lambda: fs.FALLBACK_AFTER_VARIABLE in event_socket.globals, "the switch to be told")
            present = dict(event_socket.globals)
            stop.set()
            await asyncio.wait_for(running, 30)
            return present, dict(event_socket.globals), event_socket.commands

    present, stopped, commands = asyncio.run(scenario())
    assert present == {"bizpbx_fallback_after": str(fs.FALLBACK_AFTER_SECONDS)}
    assert stopped == {"bizpbx_fallback_after": "0"}
    subscribed = next(number for number, command in enumerate(commands) if command.startswith("event plain"))
    assert commands.index(f"api global_setvar bizpbx_fallback_after={fs.FALLBACK_AFTER_SECONDS}") > subscribed


def test_sigterm_lets_a_call_in_progress_finish(site, lab_secrets):
    """A call that is ringing when the stop comes is still handled to its end;
    a call parked afterwards goes to the dialplan's fallback at once."""

    async def scenario():
        async with CapturedEventSocket(lab_secrets["BIZPBX_ESL__PASSWORD"]) as event_socket:
            lab = site(lambda d: d["organizations"]["12"]["employees"]["101"]["forwarding"]["no_answer"].update(after_seconds=5), esl_port=event_socket.port)
            controller, stop, running = await controller_running(lab, event_socket, grace_seconds=30)
            ringing = CapturedSwitch("12-100", "101", channel_variables("internal", "101", org_id="12"), Script(bridges=["ring", "answer"]), context="org-12")
            in_progress = asyncio.create_task(event_socket.call(ringing))
            await until(lambda: controller.handler.active, "the call to be in progress")
            stop.set()
            await until(lambda: controller.handler.draining, "the controller to start draining")
            late = CapturedSwitch("12-100", "102", channel_variables("internal", "102", org_id="12"), Script(), context="org-12")
            await asyncio.wait_for(event_socket.call(late), 30)
            seen = await asyncio.wait_for(in_progress, 30)
            await asyncio.wait_for(running, 30)
            return seen, late

    seen, late = asyncio.run(scenario())
    # The ringing call was not dropped: the deadline passed and the forward happened.
    assert [argument.rsplit("]", 1)[1] for name, argument in seen.applications if name == "bridge"] == [
        "user/12-101@${domain}",
        "sofia/gateway/carrier/+79161234567",
    ]
    # The late one was sent through its extension in the fallback twin of its context, nothing run on it.
    assert late.handed_back == f"uuid_transfer {late.uuid} 102 XML org-12-fallback" and late.seen.applications == []


def test_a_stop_does_not_wait_for_an_answered_call_the_switch_carries_alone(site, lab_secrets, caplog):
    """A call answered and let go is the switch's: the stop ends following it at once, and the
    grace period (here far longer than the test's bounds) is for calls still being routed."""
    caplog.set_level(logging.INFO, logger="bizpbx.controller.service")

    async def scenario():
        async with CapturedEventSocket(lab_secrets["BIZPBX_ESL__PASSWORD"]) as event_socket:
            lab = site(esl_port=event_socket.port)
            controller, stop, running = await controller_running(lab, event_socket, grace_seconds=600)
            talking = CapturedSwitch("12-100", "101", channel_variables("internal", "101", org_id="12"), Script(bridges=["answer"], talk_wait=600))
            event_socket.park(talking)
            await until(lambda: [state.let_go for state in controller.handler.active.values()] == [True], "the answered call to be let go")
            stop.set()
            # The bound only turns a wait for the grace period into a failure.
            await asyncio.wait_for(running, 60)
            talking._conversation.cancel()
            return talking.seen, dict(controller.handler.active)

    seen, left = asyncio.run(scenario())
    assert seen.applications[-1][0] == "bridge" and left == {}
    assert "stopping: 0 call(s) being routed get up to 600 s; 1 answered go on in the switch" in caplog.text
    assert "grace period over" not in caplog.text


def test_events_command_and_status_read_the_ledger(site, tmp_path):
    lab = site()
    outbox = Outbox(lab.controller.ledger)
    outbox.add([("u1:call.started", "u1", "call.started", {"event": "call.started", "id": "u1:call.started"})])
    site_file = tmp_path / "site.yml"
    events = subprocess.run([sys.executable, "-m", "bizpbx.cli", "events", str(site_file), "--all", "--once"], capture_output=True, text=True, check=False)
    assert events.returncode == 0, events.stderr
    assert [json.loads(line)["id"] for line in events.stdout.splitlines()] == ["u1:call.started"]
    status = subprocess.run([sys.executable, "-m", "bizpbx.cli", "status", str(site_file), "--json"], capture_output=True, text=True, check=False)
    assert status.returncode == 3  # not running
    shown = json.loads(status.stdout)
    assert shown["running"] is False and shown["calls_in_ledger"] == 0 and shown["last_cdr"] is None


def test_the_controller_command_refuses_a_bad_site_without_echoing_secrets(site, tmp_path, monkeypatch):
    site()
    monkeypatch.setenv("BIZPBX_ESL__PASSWORD", "Qx7-tiny")
    result = subprocess.run([sys.executable, "-m", "bizpbx.cli", "controller", str(tmp_path / "site.yml")], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 2
    assert "esl.password: too short: at least 12 characters are required" in result.stderr
    assert "Qx7-tiny" not in result.stderr + result.stdout


def test_the_controller_command_says_why_it_cannot_start(site, tmp_path):
    lab = site()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", lab.controller.metrics.port))
        taken.listen()
        result = subprocess.run([sys.executable, "-m", "bizpbx.cli", "controller", str(tmp_path / "site.yml")], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 1
    assert "bizpbx controller: cannot start: " in result.stderr and f"metrics 127.0.0.1:{lab.controller.metrics.port}" in result.stderr
