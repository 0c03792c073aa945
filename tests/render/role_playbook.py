"""A role's templates rendered by Ansible itself on localhost, with the site as `bizpbx show --json`
gives it (as the preflight role hands it over)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"
NEEDS_ANSIBLE = pytest.mark.skipif(not PLAYBOOK_BIN.exists(), reason=f"ansible-playbook is not beside {sys.executable} (make venv installs it)")


def shown_site(site_file: Path) -> dict:
    shown = subprocess.run([sys.executable, "-m", "bizpbx.cli", "show", "--json", str(site_file)], capture_output=True, text=True, check=True)
    return json.loads(shown.stdout)


def run_play(tmp_path: Path, role: Path, tasks: list[dict], variables: dict) -> subprocess.CompletedProcess[str]:
    """The tasks on localhost with the role's defaults and vars and `variables` as extra vars."""
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "vars_files": [str(role / "defaults/main.yml"), str(role / "vars/main.yml")], "tasks": tasks}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play), encoding="utf-8")
    (tmp_path / "extra.json").write_text(json.dumps(variables), encoding="utf-8")
    return subprocess.run(
        [str(PLAYBOOK_BIN), "-i", "localhost,", str(tmp_path / "play.yml"), "-e", f"@{tmp_path / 'extra.json'}"],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "ANSIBLE_NOCOLOR": "1"}, check=False,
        stdin=subprocess.DEVNULL,  # ansible refuses a non-blocking stdin, which the test run's may be (even /dev/null's, made so)
    )
