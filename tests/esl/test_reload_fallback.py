"""`bizpbx reload` against a fake switch: the current password first, then the
previous one, mod_event_socket reloaded when the event socket configuration
the switch loaded is not the rendered one (issue 10: after a password change,
re-render and `reloadxml`, the switch still accepted only the old password).

The fake refuses a password, and rejects a host, with the bytes a real
FreeSWITCH 1.10.12 sent (captures `auth-failure` and `rude-rejection`); a
module reload makes it take the configuration `reloadxml` read, and drops every
connection, as the real one does.
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
from pathlib import Path

import pytest
from esl_captures import Capture
from esl_peers import FakeFreeSwitch, run

from bizpbx.commands import reload
from bizpbx.esl.protocol import API_RESPONSE, Frame, encode
from bizpbx.render.loaded_event_socket import EVENT_SOCKET_CONF, EventSocketSettings, loaded_path

OLD, NEW, OTHER = "old-password-1", "new-password-2", "someone-elses-3"
AUTH_REQUEST = b"Content-Type: auth/request\n\n"
REFUSAL = Capture.load("auth-failure").fs_bytes.removeprefix(AUTH_REQUEST)  # -ERR invalid, then the disconnect notice
REJECTION = Capture.load("rude-rejection").fs_bytes
# What FreeSWITCH 1.10.12 sent for `bgapi reload mod_event_socket` (and for `api reload mod_event_socket`
# alike: it runs that reload in the background itself), before closing the socket.
MODULE_RELOAD = (
    b"Content-Type: api/response\nContent-Length: 51\n\n+OK Job-UUID: 7c436377-0a2a-403d-bc76-d16dc266b748\n"
    b"Content-Type: text/disconnect-notice\nContent-Length: 31\n\nThe system is being shut down.\n"
)


def conf(port: int, password: str) -> bytes:
    return (
        '<configuration name="event_socket.conf" description="Socket Client">\n  <settings>\n'
        '    <param name="nat-map" value="false"/>\n    <param name="listen-ip" value="127.0.0.1"/>\n'
        f'    <param name="listen-port" value="{port}"/>\n    <param name="password" value="{password}"/>\n'
        '    <param name="apply-inbound-acl" value="esl"/>\n  </settings>\n</configuration>\n'
    ).encode()


class Switch(FakeFreeSwitch):
    """Runs with `password`; `reloadxml` reads `configured`, which a module reload then applies."""

    def __init__(self, password: str, configured: str | None = None, *, module_reload: str = "applies", acl_allows: bool = True) -> None:
        super().__init__(password)
        self.configured = configured or password
        self.module_reload = module_reload  # applies, ignored (the module comes back as it was), refused
        self.acl_allows = acl_allows
        self.api_answers = {"reloadxml": "+OK [Success]\n", "reloadacl": "+OK acl reloaded\n"}
        self.module_reloads = 0

    async def __aenter__(self) -> Switch:
        await super().__aenter__()
        self.bound_port = self.port  # still known once the server is closed
        self.address = f"127.0.0.1:{self.bound_port}"
        return self

    @property
    def auths(self) -> list[str]:
        """The password each connection authenticated with, in order."""
        return [c[0].decode().removeprefix("auth ").strip() for c in self.connections if c and c[0].startswith(b"auth ")]

    def commands(self) -> list[str]:
        return [command.decode().strip() for connection in self.connections for command in connection if not command.startswith(b"auth ")]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.acl_allows:
            self.connections.append([])
            writer.write(REJECTION)
            writer.close()
            return
        await super()._serve(reader, writer)

    async def _answer(self, command: str, writer: asyncio.StreamWriter) -> bool:
        line = command.split("\n", 1)[0]
        verb, _, argument = line.partition(" ")
        if verb == "auth" and argument != self.password:
            writer.write(REFUSAL)
            return False
        if verb == "api":
            writer.write(encode(Frame(API_RESPONSE, body=self.api_answers.get(argument, "-ERR no_such_command Command not found!\n"))))
            return True
        if verb == "bgapi" and argument == "reload mod_event_socket":
            if self.module_reload == "refused":
                writer.write(encode(Frame(API_RESPONSE, body="-ERR no reloadable module named mod_event_socket\n")))
                return True
            writer.write(MODULE_RELOAD)
            self.module_reloads += 1
            if self.module_reload == "applies":
                self.password = self.configured
            for task in self._serving:  # the module's unload closes every listener
                if task is not asyncio.current_task():
                    task.cancel()
            return False
        return await super()._answer(command, writer)


def setup(tmp_path: Path, port: int, rendered: str, loaded: str | None) -> Path:
    conf_dir = tmp_path / "freeswitch"
    (conf_dir / "autoload_configs").mkdir(parents=True)
    (conf_dir / EVENT_SOCKET_CONF).write_bytes(conf(port, rendered))
    if loaded is not None:
        loaded_path(conf_dir).write_bytes(conf(port, loaded))
        os.chmod(loaded_path(conf_dir), 0o600)
    return conf_dir


def reload_against(switch: Switch, tmp_path: Path, rendered: str, loaded: str | None, port: int | None = None) -> tuple[int, str, str, Path]:
    out, err = io.StringIO(), io.StringIO()

    async def scenario() -> tuple[int, Path]:
        async with switch:
            conf_dir = setup(tmp_path, port or switch.port, rendered, loaded)
            current = EventSocketSettings("127.0.0.1", port or switch.port, rendered)
            status = await reload.reload_switch(conf_dir, current, (conf_dir / EVENT_SOCKET_CONF).read_bytes(), out=out, err=err)
        return status, conf_dir

    status, conf_dir = run(scenario())
    for secret in (OLD, NEW, OTHER):
        assert secret not in out.getvalue() + err.getvalue(), "a password was printed"
    return status, out.getvalue(), err.getvalue(), conf_dir


def kept(conf_dir: Path) -> bytes:
    path = loaded_path(conf_dir)
    assert os.stat(path).st_mode & 0o777 == 0o600
    return path.read_bytes()


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reload, "MODULE_RELOAD_SECONDS", 1.5)
    monkeypatch.setattr(reload, "RETRY_SECONDS", 0.05)


def test_unchanged_password_reloads_the_xml_and_the_acls_only(tmp_path: Path) -> None:
    switch = Switch(NEW)
    status, out, err, conf_dir = reload_against(switch, tmp_path, NEW, loaded=None)
    assert (status, err) == (0, "")
    assert switch.auths == [NEW]
    assert switch.commands() == ["api reloadxml", "api reloadacl", "exit"]
    assert out.splitlines() == ["reloadxml: +OK [Success]", "reloadacl: +OK acl reloaded"]
    assert kept(conf_dir) == (conf_dir / EVENT_SOCKET_CONF).read_bytes(), "the switch accepted it: recorded as loaded"


def test_a_changed_password_is_applied_through_the_previous_one(tmp_path: Path) -> None:
    switch = Switch(OLD, configured=NEW)
    status, out, err, conf_dir = reload_against(switch, tmp_path, NEW, loaded=OLD)
    assert status == 0, err
    # Current refused (real bytes), previous accepted, module reloaded, then the current accepted.
    assert switch.auths == [NEW, OLD, NEW]
    assert switch.module_reloads == 1
    assert switch.commands() == ["api reloadxml", "api reloadacl", "bgapi reload mod_event_socket", "exit"]  # exit: the check's connection
    assert "the current password was refused; the previous one was accepted" in out
    assert "mod_event_socket reloaded: the switch accepts the current password" in out
    assert kept(conf_dir) == (conf_dir / EVENT_SOCKET_CONF).read_bytes()


def test_a_switch_restarted_since_the_render_is_reached_with_the_current_password(tmp_path: Path) -> None:
    switch = Switch(NEW)  # it started with the new configuration; the kept copy is from before
    status, out, err, conf_dir = reload_against(switch, tmp_path, NEW, loaded=OLD)
    assert status == 0, err
    assert switch.auths[0] == NEW and OLD not in switch.auths
    assert "refused" not in out
    assert kept(conf_dir) == (conf_dir / EVENT_SOCKET_CONF).read_bytes()


def test_both_passwords_refused(tmp_path: Path) -> None:
    switch = Switch(OTHER)
    status, out, err, conf_dir = reload_against(switch, tmp_path, NEW, loaded=OLD)
    assert status == reload.EXIT_FAILED
    assert switch.auths == [NEW, OLD]
    assert err.startswith("the current password was refused; the previous one was refused too")
    assert switch.module_reloads == 0
    assert kept(conf_dir) == conf(switch.bound_port, OLD), "still the one the switch loaded"


def test_refused_with_no_previous_configuration_kept(tmp_path: Path) -> None:
    switch = Switch(OLD)
    status, out, err, conf_dir = reload_against(switch, tmp_path, NEW, loaded=None)
    assert status == reload.EXIT_FAILED
    assert switch.auths == [NEW]
    assert err.startswith("the current password was refused; no previous event socket configuration is kept")
    assert "systemctl restart freeswitch" in err
    assert not loaded_path(conf_dir).exists()


def test_a_module_that_does_not_reload_is_reported(tmp_path: Path) -> None:
    switch = Switch(OLD, configured=NEW, module_reload="ignored")
    status, out, err, conf_dir = reload_against(switch, tmp_path, NEW, loaded=OLD)
    assert status == reload.EXIT_FAILED
    assert err.endswith("mod_event_socket was reloaded, but the current password was refused; the previous one is still accepted (the module did not reload)\n")
    assert kept(conf_dir) == conf(switch.bound_port, OLD)


def test_a_refused_module_reload_is_reported(tmp_path: Path) -> None:
    switch = Switch(OLD, configured=NEW, module_reload="refused")
    status, out, err, conf_dir = reload_against(switch, tmp_path, NEW, loaded=OLD)
    assert status == reload.EXIT_FAILED
    assert err == "reload mod_event_socket refused: -ERR no reloadable module named mod_event_socket\n"
    assert switch.module_reloads == 0
    assert kept(conf_dir) == conf(switch.bound_port, OLD)


def test_a_failed_reloadxml_stops_before_the_module_reload(tmp_path: Path) -> None:
    switch = Switch(OLD, configured=NEW)
    switch.api_answers["reloadxml"] = "-ERR [Error on line 3: mismatched tag]\n"
    status, out, err, conf_dir = reload_against(switch, tmp_path, NEW, loaded=OLD)
    assert status == reload.EXIT_FAILED
    assert "reloadxml failed: -ERR [Error on line 3: mismatched tag]" in err
    assert switch.module_reloads == 0 and "bgapi reload mod_event_socket" not in switch.commands()
    assert kept(conf_dir) == conf(switch.bound_port, OLD)


def test_a_host_the_acl_rejects(tmp_path: Path) -> None:
    switch = Switch(NEW, acl_allows=False)
    status, out, err, _ = reload_against(switch, tmp_path, NEW, loaded=None)
    assert status == reload.EXIT_FAILED
    assert f"the event socket at {switch.address} rejected this host (its ACL)" in err


def test_a_switch_that_is_not_running(tmp_path: Path) -> None:
    switch = Switch(NEW)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    status, out, err, _ = reload_against(switch, tmp_path, NEW, loaded=None, port=closed_port)
    assert status == reload.EXIT_FAILED
    assert err.startswith(f"the event socket at 127.0.0.1:{closed_port} could not be reached (")
    assert "is the switch running?" in err


def test_the_settings_never_show_their_password() -> None:
    settings = EventSocketSettings.parse(conf(8021, NEW))
    assert (settings.host, settings.port, settings.password) == ("127.0.0.1", 8021, NEW)
    assert NEW not in repr(settings) and NEW not in str(settings)
