"""The roles and the site's recordings directory: both units (the switch's,
which writes the recordings, and the controller's, whose retention deletes
them) may write there, rendered by Ansible from the roles' own templates,
defaults and vars with the site as `bizpbx show --json` gives it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from role_playbook import NEEDS_ANSIBLE, REPO, run_play, shown_site

UNITS = {
    "freeswitch": "templates/etc/systemd/system/freeswitch.service.j2",
    "bizpbx": "templates/etc/systemd/system/bizpbx-controller.service.j2",
}

pytestmark = NEEDS_ANSIBLE


def site_recording_into(site_file: Path, recordings_dir: str | None) -> dict:
    if recordings_dir is not None:
        data = yaml.safe_load(site_file.read_text(encoding="utf-8"))
        data["recordings"] = {"dir": recordings_dir}
        site_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return shown_site(site_file)


def rendered_unit(tmp_path: Path, role: str, site: dict) -> str:
    folder = REPO / "roles" / role
    out = tmp_path / f"{role}.service"
    task = {"ansible.builtin.template": {"src": str(folder / UNITS[role]), "dest": str(out), "mode": "0600"}}
    result = run_play(tmp_path, folder, [task], {"preflight__site": site})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out.read_text(encoding="utf-8")


def writable(unit: str) -> list[str]:
    (line,) = [line for line in unit.splitlines() if line.startswith("ReadWritePaths=")]
    return line.removeprefix("ReadWritePaths=").split()


@pytest.mark.parametrize("recordings_dir", [None, "/srv/calls/recorded"], ids=["default", "the site's own"])
def test_the_switch_and_the_controller_may_write_the_recordings_directory(tmp_path, lab_site_copy, recordings_dir):
    site = site_recording_into(lab_site_copy, recordings_dir)
    expected = recordings_dir or "/var/lib/bizpbx-recordings"
    assert site["recordings"]["dir"] == expected
    for role in UNITS:
        assert expected in writable(rendered_unit(tmp_path, role, site)), role
