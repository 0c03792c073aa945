"""The event socket configuration the running switch loaded, kept beside the rendered tree.

FreeSWITCH's mod_event_socket reads its configuration (address, port,
password, ACL name) only when the module loads: after a re-render and
`reloadxml` the switch still accepts only the password it started with,
which is no longer in the site. So `bizpbx render`, before it replaces a tree
whose ``autoload_configs/event_socket.conf.xml`` changes, keeps the file it
replaces (the one the running switch loaded) in a root-only file beside the
tree, ``.NAME.loaded-event-socket.conf.xml`` (mode 0600, never printed).
A copy already kept is left alone: after two renders without a reload the
switch still runs with the first configuration.

`bizpbx reload` reaches the switch with the current password or, refused,
with the kept one; reloads mod_event_socket when the kept configuration is
not the rendered one; and, once the switch accepts the current password,
records the rendered configuration as the loaded one.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

EVENT_SOCKET_CONF = "autoload_configs/event_socket.conf.xml"
LOADED_MODE = 0o600
_DEFAULT_PORT = 8021  # mod_event_socket's own default


class EventSocketConfError(ValueError):
    """An event socket configuration that cannot be read (the message never quotes a secret)."""


@dataclass(frozen=True, slots=True)
class EventSocketSettings:
    """Where the event socket listens and its password (kept out of repr)."""

    host: str
    port: int
    password: str = field(repr=False)

    @classmethod
    def parse(cls, content: bytes, source: object = "the event socket configuration") -> EventSocketSettings:
        try:
            root = ET.fromstring(content)
        except ET.ParseError as error:
            raise EventSocketConfError(f"{source}: not XML ({error})") from None
        params = {param.get("name"): param.get("value") or "" for param in root.iter("param")}
        password = params.get("password")
        if not password:
            raise EventSocketConfError(f"{source}: no password param")
        host = params.get("listen-ip") or "127.0.0.1"
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(host).is_unspecified:  # listening everywhere: reach it on loopback
                host = "127.0.0.1" if ipaddress.ip_address(host).version == 4 else "::1"
        try:
            port = int(params.get("listen-port") or _DEFAULT_PORT)
        except ValueError:
            raise EventSocketConfError(f"{source}: listen-port is not a number") from None
        return cls(host, port, password)

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def rendered_path(conf_dir: Path) -> Path:
    return conf_dir / EVENT_SOCKET_CONF


def loaded_path(conf_dir: Path) -> Path:
    """Beside the tree, not in it (a render replaces the tree whole), and not
    named like the staging and retired trees a render tidies away."""
    return conf_dir.parent / f".{conf_dir.name}.loaded-event-socket.conf.xml"


def keep_loaded(conf_dir: Path, new_conf: bytes | None) -> Path | None:
    """Before a render writes `new_conf` into `conf_dir`: keep the event socket
    configuration it replaces, if it changes and no copy is kept yet.
    Returns the kept copy's path when one was written now."""
    try:
        old = _read(rendered_path(conf_dir))
    except FileNotFoundError:
        return None  # a first render: the switch loaded nothing of ours
    path = loaded_path(conf_dir)
    if old == new_conf or os.path.lexists(path):
        return None
    _write_private(path, old)
    return path


def read_loaded(conf_dir: Path) -> bytes | None:
    """The configuration the switch loaded, if one is kept."""
    try:
        return _read(loaded_path(conf_dir))
    except FileNotFoundError:
        return None


def record_loaded(conf_dir: Path, content: bytes) -> None:
    """The switch now runs with `content` (it accepted its password)."""
    path = loaded_path(conf_dir)
    try:
        if _read(path) == content and (os.stat(path).st_mode & 0o777) == LOADED_MODE:
            return
    except FileNotFoundError:
        pass
    _write_private(path, content)


def _read(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def _write_private(path: Path, content: bytes) -> None:
    """Atomically, mode 0600 from the first byte, owned by whoever renders (root on a server)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fchmod(handle.fileno(), LOADED_MODE)
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
