"""A real FreeSWITCH 1.10 loads the rendered tree: no error line, both SIP
profiles and the trunk's gateway up, `reloadxml` accepted.

Needs a FreeSWITCH install: FREESWITCH_PREFIX is its prefix
($FREESWITCH_PREFIX/bin/freeswitch, modules under lib/freeswitch/mod).
Everything else (configuration, logs, databases, ports on loopback) lives in
a temporary directory.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote

import pytest
from rendered_tree import edit_site

from bizpbx.file_tree import replace_tree
from bizpbx.render import render_site
from bizpbx.site_loader import load_site

PREFIX = os.environ.get("FREESWITCH_PREFIX")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not PREFIX,
        reason="FREESWITCH_PREFIX is unset: point it at a FreeSWITCH 1.10 install prefix ($FREESWITCH_PREFIX/bin/freeswitch) to run the live test",
    ),
]

STARTUP_SECONDS = 60


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Framing:
    """Messages of the event socket protocol: headers, a blank line, a body of Content-Length."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def send(self, command: str) -> tuple[dict[str, str], str]:
        self.sock.sendall(command.encode() + b"\n\n")
        return self.message()

    def message(self) -> tuple[dict[str, str], str]:
        while b"\n\n" not in self.buffer:
            self._receive()
        head, self.buffer = self.buffer.split(b"\n\n", 1)
        headers = dict(line.split(": ", 1) for line in head.decode().splitlines())
        length = int(headers.get("Content-Length", "0"))
        while len(self.buffer) < length:
            self._receive()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return headers, body.decode()

    def close(self) -> None:
        self.sock.close()

    def _receive(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the switch closed the event socket")
        self.buffer += chunk


class EventSocket(Framing):
    """Just enough of the inbound event socket: auth, api and bgapi."""

    def __init__(self, port: int, password: str) -> None:
        super().__init__(socket.create_connection(("127.0.0.1", port), timeout=10))
        assert self.message()[0].get("Content-Type") == "auth/request"
        headers, _ = self.send(f"auth {password}")
        assert headers.get("Reply-Text", "").startswith("+OK"), headers

    def api(self, command: str) -> str:
        headers, body = self.send(f"api {command}")
        assert headers.get("Content-Type") == "api/response", headers
        return body

    def background(self, command: str) -> None:
        headers, _ = self.send(f"bgapi {command}")
        assert headers.get("Reply-Text", "").startswith("+OK"), headers


def _live_site(site_file: Path, work: Path) -> dict[str, int]:
    ports = {"internal": free_port(socket.SOCK_DGRAM), "external": free_port(socket.SOCK_DGRAM), "esl": free_port(), "controller": free_port()}

    def on_loopback(data):
        data["freeswitch"].update(
            log_dir=str(work / "log"),
            storage_dir=str(work / "storage"),
            sounds_dir=str(work / "sounds"),
            phrases_dir=str(Path(PREFIX) / "etc" / "freeswitch" / "lang"),
            phone_networks=["127.0.0.0/8"],
            internal={"ip": "127.0.0.1", "port": ports["internal"]},
            external={"ip": "127.0.0.1", "port": ports["external"]},
            rtp_start_port=41000,
            rtp_end_port=41100,
        )
        # An IP-authenticated trunk: no registration towards a carrier that is not there.
        trunk = data["trunks"]["carrier"]
        trunk.update(proxy="127.0.0.1", port=free_port(socket.SOCK_DGRAM), auth="ip", source_addresses=["127.0.0.1/32"])
        for field in ("username", "realm"):
            trunk.pop(field, None)
        data["esl"] = {"port": ports["esl"]}
        data["controller"] = {"socket": {"port": ports["controller"]}, "ledger": str(work / "ledger.sqlite3")}

    edit_site(site_file, on_loopback)
    return ports


def _wait_for_event_socket(process: subprocess.Popen, port: int, password: str, log: Path) -> EventSocket:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"freeswitch exited with {process.returncode}:\n{_tail(log)}")
        try:
            return EventSocket(port, password)
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the event socket did not answer within {STARTUP_SECONDS} s:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else "(no log)"


class DeadController:
    """Stands in for the controller: takes the call, answers it, then drops it,
    as a controller that dies mid-call would."""

    def __init__(self, port: int) -> None:
        self.server = socket.create_server(("127.0.0.1", port))
        self.server.settimeout(STARTUP_SECONDS)
        self.channel: dict[str, str] = {}

    def take_one_call(self) -> None:
        connection, _ = self.server.accept()
        connection.settimeout(STARTUP_SECONDS)
        call = Framing(connection)
        try:
            headers, _ = call.send("connect")
            self.channel = {name: unquote(value) for name, value in headers.items()}
            call.send("myevents")
            call.send("sendmsg\ncall-command: execute\nexecute-app-name: answer")
            # Dropped only once the answer has run: closed within moments of
            # `connect`, 1.10.12 can leave the call parked instead of going on.
            while True:
                _, body = call.message()
                event = dict(line.split(": ", 1) for line in body.splitlines() if ": " in line)
                if event.get("Event-Name") == "CHANNEL_EXECUTE_COMPLETE" and event.get("Application") == "answer":
                    break
        finally:
            call.close()

    def close(self) -> None:
        self.server.close()


def _problems(log: Path) -> list[str]:
    text = log.read_text(errors="replace") if log.exists() else ""
    return [line for line in text.splitlines() if "[ERR]" in line or "[CRIT]" in line or "deprecated" in line]


def test_freeswitch_loads_the_rendered_tree(lab_site_copy: Path, tmp_path: Path, monkeypatch):
    binary = Path(PREFIX) / "bin" / "freeswitch"
    assert binary.is_file(), f"{binary} does not exist: FREESWITCH_PREFIX must be the install prefix"
    monkeypatch.delenv("BIZPBX_TRUNKS__CARRIER__PASSWORD")  # an IP-authenticated trunk has none
    ports = _live_site(lab_site_copy, tmp_path)
    site = load_site(lab_site_copy, generate_missing_secrets=True)
    conf = tmp_path / "conf"
    replace_tree(conf, render_site(site))
    dirs = {name: tmp_path / name for name in ("log", "db", "run", "storage", "cache", "temp", "recordings", "sounds")}
    command = [str(binary), "-nonat", "-nf", "-nc", "-conf", str(conf), "-mod", str(Path(PREFIX) / "lib" / "freeswitch" / "mod")]
    for name, directory in dirs.items():
        directory.mkdir(exist_ok=True)
        command += [f"-{name}", str(directory)]
    log = dirs["log"] / "freeswitch.log"
    controller = DeadController(ports["controller"])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        esl = _wait_for_event_socket(process, ports["esl"], site.esl.password.get_secret_value(), log)
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            status = esl.api("sofia status")
            while status.count("RUNNING") < 2 and time.monotonic() < deadline:
                time.sleep(0.5)
                status = esl.api("sofia status")
            # Rows: name, type (profile, gateway, alias), data, state.
            rows = {parts[0]: parts[1:] for parts in map(str.split, status.splitlines()) if len(parts) >= 3}
            for profile in ("internal", "external"):
                assert rows.get(profile, [None])[0] == "profile", status
                assert "RUNNING" in rows[profile], status
            assert rows.get("external::carrier", [None])[0] == "gateway", status
            assert esl.api("reloadxml").startswith("+OK"), "reloadxml refused"
            assert esl.api("user_exists id 12-101 127.0.0.1").strip() == "true"
            assert '<language name="en"' in esl.api("xml_locate languages language name en"), "no phrases for voicemail"
            assert _problems(log) == [], "\n".join(_problems(log))

            # A call from the trunk side to organization 12's number: handed to
            # the controller with its variables, then on into the fallback.
            esl.background("originate {origination_caller_id_number=74957654321}loopback/74951234567/public &park()")
            controller.take_one_call()
            assert controller.channel.get("variable_bizpbx_called") == "+74951234567", controller.channel
            assert controller.channel.get("variable_bizpbx_org_id") == "12"
            assert controller.channel.get("variable_hangup_after_bridge") == "true"
            deadline = time.monotonic() + 10
            while "in-74951234567" not in log.read_text(errors="replace") and time.monotonic() < deadline:
                time.sleep(0.2)
            assert "->in-74951234567 in context org-12-incoming" in log.read_text(errors="replace"), "no fallback after the controller left"
            esl.api("hupall")
        finally:
            esl.close()
    finally:
        controller.close()
        process.terminate()
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
