"""A tinyproxy of the lab's own: the only way its hosts reach Debian's packages (and PyPI over
CONNECT 443). Each lab (the nspawn machines, the Vagrant VMs) runs its own instance from a
directory of its own: the configuration there, the pid file and log in its `proxy/` (owned by
the tinyproxy user, which writes them)."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

from bizpbx_lab.local import LabError, cmdline, run


def _pidfile(directory: Path) -> Path:
    return directory / "proxy" / "tinyproxy.pid"


def proxy_pid(directory: Path) -> int | None:
    """The pid of the tinyproxy started from `directory`, if it is still that tinyproxy."""
    try:
        pid = int(_pidfile(directory).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if Path(cmdline(pid).split(" ")[0]).name == "tinyproxy" else None


def ensure_proxy(directory: Path, listen: str, port: int, allowed: tuple[str, ...], purpose: str) -> None:
    """Listening on `listen` only (this machine's address on the lab's network), allowing only `allowed`."""
    if proxy_pid(directory) is not None:
        return
    logs = directory / "proxy"
    (directory / "tinyproxy.conf").write_text(
        f"# {purpose}\n"
        "User tinyproxy\nGroup tinyproxy\n"
        f"Port {port}\nListen {listen}\n"
        "Timeout 600\n"
        f"PidFile \"{_pidfile(directory)}\"\n"
        f"LogFile \"{logs / 'tinyproxy.log'}\"\n"
        "LogLevel Notice\nMaxClients 50\n"
        + "".join(f"Allow {address}\n" for address in allowed)
        + "ConnectPort 443\n"
    )
    directory.chmod(0o711)
    logs.mkdir(exist_ok=True)
    shutil.chown(logs, "tinyproxy", "tinyproxy")
    logs.chmod(0o750)
    _pidfile(directory).unlink(missing_ok=True)
    run("tinyproxy", "-c", str(directory / "tinyproxy.conf"))
    # Up to 30 s: on a loaded machine tinyproxy took longer than 5 s to write its pid file.
    for _ in range(300):
        if proxy_pid(directory) is not None:
            return
        time.sleep(0.1)
    raise LabError(f"tinyproxy did not start (see {logs / 'tinyproxy.log'})")


def stop_proxy(directory: Path) -> None:
    pid = proxy_pid(directory)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
    _pidfile(directory).unlink(missing_ok=True)
