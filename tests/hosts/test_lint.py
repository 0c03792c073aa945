"""The roles are held to ansible-lint's production profile and yamllint; the Vagrantfile validates."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), NO_COLOR="1")
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)


def test_yamllint_clean() -> None:
    result = _run(str(BIN / "yamllint"), "--strict", "roles", "playbooks", "inventory", ".yamllint", ".ansible-lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ansible_lint_production_profile_clean() -> None:
    result = _run(str(BIN / "ansible-lint"), "--offline", "--profile", "production", "roles", "playbooks")
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]


def test_vagrantfile_validates() -> None:
    if shutil.which("vagrant") is None:
        pytest.skip("vagrant is not installed (Debian's vagrant package; .ci/run installs it)")
    result = _run("vagrant", "validate")
    assert result.returncode == 0, result.stdout + result.stderr
