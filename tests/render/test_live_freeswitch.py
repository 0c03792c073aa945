"""A real FreeSWITCH 1.10 loads the rendered tree: no error line, both SIP
profiles and the trunk's gateway up, `reloadxml` accepted.

Needs a FreeSWITCH install: FREESWITCH_PREFIX is its prefix
($FREESWITCH_PREFIX/bin/freeswitch, modules under lib/freeswitch/mod).
Everything else (configuration, logs, databases, ports on loopback) lives in
a temporary directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from local_switch import put_on_loopback
from rendered_tree import edit_site

from bizpbx import fs_vocabulary as fs
from bizpbx.render.file_tree import replace_tree
from bizpbx.render import render_site
from bizpbx.settings import Site
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
LAB_SITE = Path(__file__).resolve().parents[2] / "inventory" / "lab" / "site.yml"


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
    ports: dict[str, int] = {}

    def on_loopback(data):
        ports["external"], ports["internal"] = put_on_loopback(data, work, Path(PREFIX))
        data["freeswitch"]["phone_networks"] = ["127.0.0.1/32"]  # 127.0.0.3 is outside them
        ports["esl"] = data["esl"]["port"]

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


def _problems(log: Path) -> list[str]:
    text = log.read_text(errors="replace") if log.exists() else ""
    return [line for line in text.splitlines() if "[ERR]" in line or "[CRIT]" in line or "deprecated" in line]


def register(port: int, user: str, password: str, source: str = "127.0.0.1") -> int:
    """REGISTER `user` with digest authentication; the final SIP status."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sip:
        sip.bind((source, 0))
        sip.settimeout(10)
        local = sip.getsockname()[1]
        call_id, tag = secrets.token_hex(8), secrets.token_hex(4)

        def send(cseq: int, extra: str = "") -> tuple[int, str]:
            request = (
                f"REGISTER sip:127.0.0.1 SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {source}:{local};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:{user}@127.0.0.1>;tag={tag}\r\nTo: <sip:{user}@127.0.0.1>\r\n"
                f"Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{source}:{local}>\r\n"
                f"Expires: 60\r\n{extra}Content-Length: 0\r\n\r\n"
            )
            sip.sendto(request.encode(), ("127.0.0.1", port))
            while True:
                reply = sip.recv(65536).decode(errors="replace")
                status = int(reply.split(" ", 2)[1])
                if status >= 200:
                    return status, reply

        status, reply = send(1)
        if status != 401:
            return status
        challenge = dict(re.findall(r'(\w+)="?([^",]+)"?', reply.split("WWW-Authenticate: Digest ", 1)[1].split("\r\n", 1)[0]))
        realm, nonce, cnonce = challenge["realm"], challenge["nonce"], secrets.token_hex(8)
        ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
        ha2 = hashlib.md5(b"REGISTER:sip:127.0.0.1").hexdigest()
        answer = hashlib.md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}".encode()).hexdigest()
        authorization = (
            f'Authorization: Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="sip:127.0.0.1", '
            f'response="{answer}", algorithm=MD5, qop=auth, nc=00000001, cnonce="{cnonce}"\r\n'
        )
        return send(2, authorization)[0]


@dataclass
class Switch:
    site: Site
    ports: dict[str, int]
    esl: EventSocket
    log: Path
    problems_at_start: list[str]

    def parked(self, destination: str, caller: str) -> str:
        """The UUID of the call from `caller` to `destination` parked in the public context (the
        loopback's inbound leg), once it is. The caller tells this test's call from an earlier
        test's: the switch updates its channel listing asynchronously, so a call hung up a moment
        ago can still be listed as parked."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            rows = json.loads(self.esl.api("show channels as json")).get("rows") or []
            for row in rows:
                if (row["context"], row["dest"], row["cid_num"], row["application"], row["direction"]) == ("public", destination, caller, "park", "inbound"):
                    return row["uuid"]
            time.sleep(0.1)
        raise AssertionError(f"no call to {destination} parked: {rows}")

    def wait_for_log(self, text: str, count: int, seconds: float = 10) -> bool:
        deadline = time.monotonic() + seconds
        while self.log.read_text(errors="replace").count(text) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.log.read_text(errors="replace").count(text) >= count


@pytest.fixture(scope="module")
def switch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Switch]:
    binary = Path(PREFIX) / "bin" / "freeswitch"
    assert binary.is_file(), f"{binary} does not exist: FREESWITCH_PREFIX must be the install prefix"
    work = tmp_path_factory.mktemp("live")
    for name in ("site.yml", "rates.csv"):
        shutil.copy(LAB_SITE.parent / name, work / name)
    ports = _live_site(work / "site.yml", work)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BIZPBX_ESL__PASSWORD", secrets.token_urlsafe(16))  # the trunk is IP-authenticated: no password
        site = load_site(work / "site.yml", generate_missing_secrets=True)
    replace_tree(work / "conf", render_site(site))
    dirs = {name: work / name for name in ("log", "db", "run", "storage", "cache", "temp", "recordings", "sounds")}
    command = [str(binary), "-nonat", "-nf", "-nc", "-conf", str(work / "conf"), "-mod", str(Path(PREFIX) / "lib" / "freeswitch" / "mod")]
    for name, directory in dirs.items():
        directory.mkdir(exist_ok=True)
        command += [f"-{name}", str(directory)]
    log = dirs["log"] / "freeswitch.log"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
    try:
        esl = _wait_for_event_socket(process, ports["esl"], site.esl.password.get_secret_value(), log)
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while esl.api("sofia status").count("RUNNING") < 2 and time.monotonic() < deadline:
                time.sleep(0.5)
            yield Switch(site, ports, esl, log, _problems(log))
        finally:
            esl.close()
    finally:
        process.terminate()
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def test_loads_with_both_profiles_and_the_gateway(switch: Switch):
    assert switch.problems_at_start == [], "\n".join(switch.problems_at_start)
    status = switch.esl.api("sofia status")
    # Rows: name, type (profile, gateway, alias), data, state.
    rows = {parts[0]: parts[1:] for parts in map(str.split, status.splitlines()) if len(parts) >= 3}
    for profile in ("internal", "external"):
        assert rows.get(profile, [None])[0] == "profile", status
        assert "RUNNING" in rows[profile], status
    assert rows.get("external::carrier", [None])[0] == "gateway", status
    assert switch.esl.api("reloadxml").startswith("+OK"), "reloadxml refused"
    assert switch.esl.api("user_exists id 12-101 127.0.0.1").strip() == "true"
    assert '<language name="ru"' in switch.esl.api("xml_locate languages language name ru"), "no Russian phrases for voicemail"
    assert switch.esl.api("module_exists mod_say_ru").strip() == "true", "the site speaks Russian: mod_say_ru must be loaded"
    assert switch.esl.api("global_getvar default_language").strip() == "ru"


def test_phones_register_with_their_password_from_the_phone_networks_only(switch: Switch):
    port = switch.ports["internal"]
    password = switch.site.organizations["12"].employees["101"].password.get_secret_value()
    assert register(port, "12-101", password) == 200
    assert register(port, "12-101", password + "x") == 403
    assert register(port, "12-101", password, source="127.0.0.3") == 403, "registered from outside the phone networks"
    failures = [line for line in switch.log.read_text(errors="replace").splitlines() if "SIP auth failure (REGISTER)" in line]
    assert any("for [12-101@127.0.0.1] from ip 127.0.0.1" in line for line in failures), "no line for fail2ban"
    assert any("from ip 127.0.0.3" in line for line in failures), "no line for fail2ban"


FALLBACK = "->in-74951234567 in context org-12-incoming"


def test_a_trunk_call_is_parked_for_the_controller_and_falls_back_if_it_does_not_come(switch: Switch):
    # Organization 12's number: parked for the controller with its variables; the controller said
    # it is there but does not take the call, and the transfer the dialplan scheduled sends it on
    # into the fallback once the wait is over.
    before = switch.log.read_text(errors="replace").count(FALLBACK)
    assert switch.esl.api(fs.controller_present()).startswith("+OK")
    switch.esl.background("originate {origination_caller_id_number=74957654321}loopback/74951234567/public &park()")
    uuid = switch.parked("74951234567", caller="74957654321")
    assert switch.esl.api(f"uuid_getvar {uuid} bizpbx_called").strip() == "+74951234567"
    assert switch.esl.api(f"uuid_getvar {uuid} bizpbx_org_id").strip() == "12"
    assert switch.esl.api(f"uuid_getvar {uuid} bizpbx_trunk").strip() == "carrier"
    assert switch.esl.api(f"uuid_getvar {uuid} hangup_after_bridge").strip() == "true"
    waited = not switch.wait_for_log(FALLBACK, before + 1, seconds=fs.FALLBACK_AFTER_SECONDS / 2)
    fell_back = switch.wait_for_log(FALLBACK, before + 1, seconds=fs.FALLBACK_AFTER_SECONDS)
    switch.esl.api("hupall")
    assert waited, "the fallback did not wait for the controller"
    assert fell_back, "no fallback when the controller did not come"


@pytest.mark.parametrize("absent", ["controller stopped", "switch started without one"])
def test_without_a_controller_a_parked_call_falls_back_at_once(switch: Switch, absent: str):
    told = switch.esl.api(fs.controller_absent() if absent == "controller stopped" else f"global_setvar {fs.FALLBACK_AFTER_VARIABLE}=")
    assert told.startswith("+OK"), told
    before = switch.log.read_text(errors="replace").count(FALLBACK)
    switch.esl.background("originate {origination_caller_id_number=74957654323}loopback/74951234567/public &park()")
    fell_back = switch.wait_for_log(FALLBACK, before + 1, seconds=2)  # the scheduler's next turn: within 0.5 s
    switch.esl.api("hupall")
    assert fell_back, f"{absent}: the call waited for a controller that is not there"


def test_a_call_the_controller_claimed_stays_parked_until_handed_back(switch: Switch):
    before = switch.log.read_text(errors="replace").count(FALLBACK)
    assert switch.esl.api(fs.controller_present()).startswith("+OK")
    switch.esl.background("originate {origination_caller_id_number=74957654322}loopback/74951234567/public &park()")
    uuid = switch.parked("74951234567", caller="74957654322")
    claimed = switch.esl.api(fs.claim(uuid))
    assert fs.claimed(claimed), claimed
    assert not fs.claimed(switch.esl.api(fs.claim(uuid))), "claimed twice"
    # Past the fallback's time, the call is still parked: the controller has it.
    assert not switch.wait_for_log(FALLBACK, before + 1, seconds=fs.FALLBACK_AFTER_SECONDS + 1.5)
    assert switch.parked("74951234567", caller="74957654322") == uuid
    handed = switch.esl.api(fs.hand_back(uuid, "74951234567", "public"))
    assert handed.startswith("+OK"), handed
    fell_back = switch.wait_for_log(FALLBACK, before + 1)
    switch.esl.api("hupall")
    assert fell_back, "not in the fallback once handed back"
