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


def _run(*cmd: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), NO_COLOR="1", **extra_env)
    # stdin from /dev/null: Ansible's tools refuse a non-blocking stdin (as a CI runner may give).
    return subprocess.run(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)


def test_yamllint_clean() -> None:
    result = _run(str(BIN / "yamllint"), "--strict", "roles", "playbooks", "inventory", ".yamllint", ".ansible-lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ansible_lint_production_profile_clean() -> None:
    result = _run(str(BIN / "ansible-lint"), "--offline", "--profile", "production", "roles", "playbooks")
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]


def test_vagrantfile_validates(tmp_path: Path) -> None:
    if shutil.which("vagrant") is None:
        pytest.skip("vagrant is not installed (Debian's vagrant package; .ci/run installs it)")
    # The box's key is made with the box (make vagrant-box), which a machine that never built it lacks:
    # a state directory of the test's own holds one, so the configuration itself is what is checked.
    (tmp_path / "id_ed25519").write_text("not a key: vagrant validate only checks that the file is there\n")
    result = _run("vagrant", "validate", BIZPBX_VAGRANT_STATE=str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_roles_readme_mirrors_every_default() -> None:
    """roles/README.md documents every variable of every role's defaults/main.yml."""
    import yaml

    readme = (REPO / "roles/README.md").read_text()
    missing = [
        f"{defaults.parent.parent.name}: {name}"
        for defaults in sorted(REPO.glob("roles/*/defaults/main.yml"))
        for name in (yaml.safe_load(defaults.read_text()) or {})
        if f"`{name}`" not in readme
    ]
    assert not missing, f"not in roles/README.md: {missing}"


def test_every_default_is_documented_above_its_value() -> None:
    """geerlingguy style: a comment line directly above (or a comment block ending just above) each variable."""
    undocumented = []
    for defaults in sorted(REPO.glob("roles/*/defaults/main.yml")):
        lines = defaults.read_text().splitlines()
        for i, line in enumerate(lines):
            if line and not line.startswith(("#", " ", "-", "---")) and ":" in line:
                if i == 0 or not lines[i - 1].startswith("#"):
                    undocumented.append(f"{defaults.relative_to(REPO)}:{i + 1} {line.split(':')[0]}")
    assert not undocumented, undocumented
