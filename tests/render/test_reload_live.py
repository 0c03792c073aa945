"""A real FreeSWITCH 1.10 takes a new event socket password through `bizpbx reload`
(issue 10: after a re-render and `reloadxml` it still accepted only the old one,
which is no longer in the site).

The demo site is rendered with one password (`bizpbx render`, every port on
loopback) and the switch started on it; BIZPBX_ESL__PASSWORD changes, the site
is rendered again and the controller restarted with the new password (refused,
it keeps trying); then `bizpbx reload`, as the unit's ExecReload runs it. After
it the switch accepts the new password and refuses the old one, and the
controller is back on the event socket by itself.

Needs FREESWITCH_PREFIX (the install prefix: $FREESWITCH_PREFIX/bin/freeswitch).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from local_switch import put_on_loopback, stop_switch
from rendered_tree import edit_site

from bizpbx.commands.status import read_metrics
from bizpbx.esl.aio import InboundClient
from bizpbx.esl.errors import AuthenticationError
from bizpbx.render.loaded_event_socket import EVENT_SOCKET_CONF, loaded_path

PREFIX = os.environ.get("FREESWITCH_PREFIX")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not PREFIX,
        reason="FREESWITCH_PREFIX is unset: point it at a FreeSWITCH 1.10 install prefix ($FREESWITCH_PREFIX/bin/freeswitch) to run the live reload test",
    ),
]

STARTUP_SECONDS = 60
RECONNECT_SECONDS = 60  # the controller's backoff reaches 8 s by its fifth refusal
LAB_SITE = Path(__file__).resolve().parents[2] / "inventory" / "lab" / "site.yml"


def on_loopback(work: Path) -> dict[str, int]:
    """The demo site in `work`, every port on loopback, its configuration rendered into work/conf."""
    ports: dict[str, int] = {}

    def edit(data: dict) -> None:
        put_on_loopback(data, work, Path(PREFIX))
        data["freeswitch"]["conf_dir"] = str(work / "conf")
        ports["esl"], ports["metrics"] = data["esl"]["port"], data["controller"]["metrics"]["port"]

    edit_site(work / "site.yml", edit)
    return ports


def bizpbx(*args: str, password: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIZPBX_")}
    env["BIZPBX_ESL__PASSWORD"] = password
    return subprocess.run([sys.executable, "-m", "bizpbx.cli", *args], capture_output=True, text=True, check=False, env=env, timeout=180)


def accepts(port: int, password: str) -> bool:
    """Whether the switch's event socket takes `password` (it refuses with -ERR invalid)."""

    async def attempt() -> bool:
        client = InboundClient("127.0.0.1", port, password, reconnect=False)
        try:
            await client.connect()
        except AuthenticationError:
            return False
        await client.close()
        return True

    return asyncio.run(asyncio.wait_for(attempt(), 30))


def wait_for(condition, what: str, bound: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}" + (f":\n{tail(log)}" if log else ""))
        time.sleep(0.25)


def tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else "(no log)"


def answers(port: int, password: str) -> bool:
    try:
        return accepts(port, password)
    except OSError:
        return False


@dataclass
class Live:
    work: Path
    site: Path
    ports: dict[str, int]
    old: str
    new: str
    switch: subprocess.Popen
    log: Path

    @property
    def conf_dir(self) -> Path:
        return self.work / "conf"

    def metrics(self) -> dict[str, float]:
        return read_metrics(f"http://127.0.0.1:{self.ports['metrics']}/metrics") or {}


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    binary = Path(PREFIX) / "bin" / "freeswitch"
    assert binary.is_file(), f"{binary} does not exist: FREESWITCH_PREFIX must be the install prefix"
    for name in ("site.yml", "rates.csv"):
        shutil.copy(LAB_SITE.parent / name, tmp_path / name)
    ports = on_loopback(tmp_path)
    site = tmp_path / "site.yml"
    old, new = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    rendered = bizpbx("render", str(site), "--out", str(tmp_path / "conf"), password=old)
    assert rendered.returncode == 0, rendered.stderr
    command = [str(binary), "-nonat", "-nf", "-nc", "-conf", str(tmp_path / "conf"), "-mod", str(Path(PREFIX) / "lib" / "freeswitch" / "mod")]
    for name in ("log", "db", "run", "storage", "cache", "temp", "recordings", "sounds"):
        (tmp_path / name).mkdir(exist_ok=True)
        command += [f"-{name}", str(tmp_path / name)]
    log = tmp_path / "log" / "freeswitch.log"
    switch = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        wait_for(lambda: switch.poll() is not None or answers(ports["esl"], old), "the switch's event socket", STARTUP_SECONDS, log)
        assert switch.poll() is None, f"freeswitch exited with {switch.returncode}:\n{tail(log)}"
        yield Live(tmp_path, site, ports, old, new, switch, log)
    finally:
        stop_switch(switch)


def test_a_new_event_socket_password_takes_effect_and_the_controller_reconnects(live: Live) -> None:
    port = live.ports["esl"]
    rendered = bizpbx("render", str(live.site), "--out", str(live.conf_dir), password=live.new)
    assert rendered.returncode == 0, rendered.stderr
    assert "changed: autoload_configs/event_socket.conf.xml" in rendered.stdout
    kept = loaded_path(live.conf_dir)
    assert f"{kept}: the event socket configuration the switch runs with, kept (root only)" in rendered.stdout
    assert os.stat(kept).st_mode & 0o777 == 0o600
    assert live.old.encode() in kept.read_bytes() and live.new.encode() in (live.conf_dir / EVENT_SOCKET_CONF).read_bytes()
    assert live.old not in rendered.stdout + rendered.stderr and live.new not in rendered.stdout + rendered.stderr

    # What issue 10 saw: reloadxml alone leaves the event socket on the old password.
    async def reloadxml_with_the_old_password() -> str:
        async with InboundClient("127.0.0.1", port, live.old, reconnect=False) as client:
            return await client.api("reloadxml")

    assert asyncio.run(reloadxml_with_the_old_password()).startswith("+OK")
    assert not accepts(port, live.new) and accepts(port, live.old)

    # The controller, restarted with the new password, is refused and keeps trying.
    controller_log = (live.work / "controller.log").open("wb")
    controller = subprocess.Popen(
        [sys.executable, "-m", "bizpbx.cli", "controller", str(live.site)],
        stdout=controller_log,
        stderr=subprocess.STDOUT,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("BIZPBX_")}, "BIZPBX_ESL__PASSWORD": live.new},
    )
    try:
        wait_for(lambda: live.metrics().get("bizpbx_esl_refusals_total", 0) >= 1, "the controller to be refused", STARTUP_SECONDS, live.work / "controller.log")
        assert live.metrics().get("bizpbx_esl_connected") == 0

        reloaded = bizpbx("reload", str(live.site), password=live.new)
        assert reloaded.returncode == 0, reloaded.stdout + reloaded.stderr
        lines = reloaded.stdout.splitlines()
        assert lines[0] == "the current password was refused; the previous one was accepted: the switch still runs with the previous event socket configuration"
        assert "reloadxml: +OK [Success]" in lines and "reloadacl: +OK acl reloaded" in lines
        assert lines[-1] == "mod_event_socket reloaded: the switch accepts the current password"
        assert live.old not in reloaded.stdout + reloaded.stderr and live.new not in reloaded.stdout + reloaded.stderr

        assert accepts(port, live.new), "the new password is refused"
        assert not accepts(port, live.old), "the old password is still accepted"
        assert kept.read_bytes() == (live.conf_dir / EVENT_SOCKET_CONF).read_bytes(), "the new configuration is not recorded as loaded"
        assert os.stat(kept).st_mode & 0o777 == 0o600

        wait_for(lambda: live.metrics().get("bizpbx_esl_connected") == 1, "the controller back on the event socket", RECONNECT_SECONDS, live.work / "controller.log")
    finally:
        controller.terminate()
        assert controller.wait(60) == 0, (live.work / "controller.log").read_text(errors="replace")[-3000:]
        controller_log.close()

    # Nothing left to apply: the next reload is reloadxml and reloadacl only, and the switch kept running.
    again = bizpbx("reload", str(live.site), password=live.new)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.splitlines() == ["reloadxml: +OK [Success]", "reloadacl: +OK acl reloaded"]
    assert live.switch.poll() is None
    problems = [line for line in live.log.read_text(errors="replace").splitlines() if "[CRIT]" in line]
    assert problems == []
