"""`python -m bizpbx_lab up|converge|down|status|secrets [ansible-playbook args...]`."""

from __future__ import annotations

import sys

import bizpbx_lab as lab


def main(argv: list[str]) -> int:
    usage = "usage: python -m bizpbx_lab up|converge|down|status|secrets [ansible-playbook options for converge]"
    if not argv or argv[0] not in {"up", "converge", "down", "status", "secrets"}:
        print(usage, file=sys.stderr)
        return 2
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
