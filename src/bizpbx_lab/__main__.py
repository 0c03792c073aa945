"""`python -m bizpbx_lab [--lab NAME] up|converge|down|status|secrets [ansible-playbook args...]`.

--lab NAME picks the lab of inventory/NAME (the default, `lab`, is the three-host lab; `cluster` the
proxy, two nodes and PostgreSQL); it is BIZPBX_LAB, which the package reads when imported.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    usage = "usage: python -m bizpbx_lab [--lab NAME] up|converge|down|status|secrets [ansible-playbook options for converge]"
    if argv[:1] == ["--lab"]:
        if len(argv) < 2:
            print(usage, file=sys.stderr)
            return 2
        name, argv = argv[1], argv[2:]
        if name != (os.environ.get("BIZPBX_LAB") or "lab"):
            # The package has read its lab on import (python -m imports it first): start again with this one.
            os.execve(sys.executable, [sys.executable, "-m", "bizpbx_lab", *argv], dict(os.environ, BIZPBX_LAB=name))
    if not argv or argv[0] not in {"up", "converge", "down", "status", "secrets"}:
        print(usage, file=sys.stderr)
        return 2
    import bizpbx_lab as lab

    try:
        if argv[0] == "up":
            lab.up()
        elif argv[0] == "converge":
            return lab.converge(argv[1:])
        elif argv[0] == "secrets":
            lab.ensure_lab_secrets()  # also for the Vagrantfile; needs no root
        elif argv[0] == "down":
            lab.down()
        else:
            return 0 if lab.status() else 1
    except lab.LabError as exc:
        print(f"lab: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
