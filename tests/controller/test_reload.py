"""`bizpbx controller` reloads its site on SIGHUP (systemctl reload), a real
controller process with calls up against the captured switch."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml
from http_exchange import exchange
from local_net import free_port, until
from switch_peer import CapturedEventSocket, CapturedSwitch, Script, channel_variables

from bizpbx.commands.status import read_metrics
from bizpbx.controller.service import Controller

OLD_TARGET = "+79161234567"
NEW_TARGET = "+79169876543"


def ringing_call() -> CapturedSwitch:
    """12-100 calls 101, who does not answer: forwarded on no answer, and answered there."""
    return CapturedSwitch("12-100", "101", channel_variables("internal", "101", org_id="12"), Script(bridges=["ring", "answer"]))


def forwarded_to(seen) -> str:
    bridges = [argument.rsplit("]", 1)[1] for name, argument in seen.applications if name == "bridge"]
    assert bridges[0] == "user/12-101@${domain}"
    return bridges[-1]


def edit(site_file: Path, change) -> None:
    data = yaml.safe_load(site_file.read_text(encoding="utf-8"))
    change(data)
    site_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def no_answer_to(number: str):
    def change(data):
        data["organizations"]["12"]["employees"]["101"]["forwarding"]["no_answer"] = {"after_seconds": 5, "to": f"number:{number}"}

    return change


def test_sighup_reloads_the_site_for_new_calls_while_calls_in_progress_keep_theirs(site, lab_secrets, tmp_path):
    site_file = tmp_path / "site.yml"
    log_file = tmp_path / "controller.log"

    async def metric(lab, name: str) -> float | None:
        url = f"http://{lab.controller.metrics.host}:{lab.controller.metrics.port}/metrics"
        return (await asyncio.to_thread(read_metrics, url) or {}).get(name)

    async def until_metric(lab, name: str, value: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while await metric(lab, name) != value:
            assert loop.time() < deadline, f"gave up waiting for {name} {value}: " + log_file.read_text(errors="replace")[-3000:]
            await asyncio.sleep(0.1)

    async def scenario():
        async with CapturedEventSocket(lab_secrets["BIZPBX_ESL__PASSWORD"]) as event_socket:
            lab = site(no_answer_to(OLD_TARGET), esl_port=event_socket.port)
            with log_file.open("wb") as log:
                controller = subprocess.Popen([sys.executable, "-m", "bizpbx.cli", "controller", str(site_file)], stdout=log, stderr=subprocess.STDOUT)
            try:
                await asyncio.wait_for(event_socket.subscribed.wait(), 60)
                await until_metric(lab, "bizpbx_up", 1)
                in_progress = asyncio.create_task(event_socket.call(ringing_call()))
                await until_metric(lab, "bizpbx_active_calls", 1)

                # A new forwarding target, and a new API port (applies only on restart).
                edit(site_file, no_answer_to(NEW_TARGET))
                edit(site_file, lambda data: data["controller"].update(api={"port": free_port()}))
                os.kill(controller.pid, signal.SIGHUP)
                await until_metric(lab, "bizpbx_site_reloads_total", 1)
                before = await asyncio.wait_for(in_progress, 60)
                after = await asyncio.wait_for(event_socket.call(ringing_call()), 60)
                status = await asyncio.create_subprocess_exec(sys.executable, "-m", "bizpbx.cli", "status", str(site_file), "--json", stdout=asyncio.subprocess.PIPE)
                shown = json.loads((await status.communicate())[0])

                # An invalid site is refused; the one running is kept.
                edit(site_file, lambda data: data["organizations"]["12"].update(owner="999"))
                os.kill(controller.pid, signal.SIGHUP)
                await until_metric(lab, "bizpbx_site_reload_failures_total", 1)
                kept = await asyncio.wait_for(event_socket.call(ringing_call()), 60)
                calls = await metric(lab, "bizpbx_calls_total")
            finally:
                controller.terminate()
                returncode = await asyncio.to_thread(controller.wait, 60)
            return before, after, kept, shown, calls, returncode

    before, after, kept, shown, calls, returncode = asyncio.run(scenario())
    log = log_file.read_text(errors="replace")
    assert returncode == 0, log[-3000:]
    assert forwarded_to(before) == f"sofia/gateway/carrier/{OLD_TARGET}", "the call in progress kept the site it began with"
    assert forwarded_to(after) == f"sofia/gateway/carrier/{NEW_TARGET}"
    assert forwarded_to(kept) == f"sofia/gateway/carrier/{NEW_TARGET}", "the invalid site was not applied, even in part"
    assert calls == 3, "the counters survive a reload"
    assert shown["running"] is True and shown["site_reloads"] == 1 and shown["needs_restart"] == ["controller.api"]
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    messages = [line["message"] for line in lines]
    assert any(m.startswith("needs restart: controller.api changed") for m in messages)
    assert any("not reloaded: 1 problem(s); the running site is kept" in m for m in messages)
    assert any(m.startswith(f"site {site_file}: organizations.12.owner: ") for m in messages), "the problem is named where it is"
    assert lab_secrets["BIZPBX_ESL__PASSWORD"] not in log


def test_a_reload_takes_the_click_to_call_apis_clients_at_once(site, lab_site_copy: Path):
    """A CRM's token replaced in the site: the old one refused and the new one taken after the
    reload, by the listener that was running (no restart)."""
    old, new = "crm-token-before-0123456789-abcdefgh", "crm-token-after-0123456789-abcdefghi"

    def crm_with(token: str):
        return lambda data: data["controller"].update(api={"clients": {"crm": {"token": token}}})

    controller = Controller(site(crm_with(old)))
    listing = "GET /v1/organizations/12/calls HTTP/1.1\r\nHost: pbx\r\nContent-Length: 0\r\nAuthorization: Bearer {}\r\n\r\n"

    def status_with(token: str) -> int:
        return exchange(controller.http.endpoints, listing.format(token).encode())[0]

    try:
        assert (status_with(old), status_with(new)) == (200, 401)
        edit(lab_site_copy, crm_with(new))
        assert asyncio.run(controller.reloads.reload(lab_site_copy)) is True
        assert (status_with(old), status_with(new)) == (401, 200)
        assert controller.reloads.restart_needed == []
    finally:
        controller.outbox.close()
        controller.ledger.close()
