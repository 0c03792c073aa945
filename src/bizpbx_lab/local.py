"""This machine's side of the lab: where it keeps its state, and running commands on it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Which lab: the inventory under inventory/ of this name. `lab` is the three-host lab; another
# (`cluster`) keeps its state apart, so that both can be up at once.
LAB_NAME = os.environ.get("BIZPBX_LAB") or "lab"
CACHE_DIR = Path(os.environ.get("BIZPBX_LAB_CACHE", "/var/cache/bizpbx-lab"))  # the Debian tree: the same for every lab
STATE_DIR = Path(os.environ.get("BIZPBX_LAB_STATE") or ("/var/lib/bizpbx-lab" if LAB_NAME == "lab" else f"/var/lib/bizpbx-lab-{LAB_NAME}"))


class LabError(RuntimeError):
    """A step of the lab failed; the message says which and why."""


def log(message: str) -> None:
    print(f"lab: {message}", file=sys.stderr, flush=True)


def run(*args: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, text=True, capture_output=capture, check=False)
    if check and result.returncode != 0:
        detail = (result.stderr or "").strip() if capture else ""
        raise LabError(f"`{' '.join(args)}` exited {result.returncode}{': ' + detail if detail else ''}")
    return result



def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""
