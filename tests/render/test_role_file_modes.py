"""The generated SIP passwords are kept as the README says: 0600, owned by the
controller's user, the one process besides root that reads them (issue 10:
the README said 0600, the freeswitch role made the file 0640)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def task_keeping_the_sip_passwords() -> dict:
    tasks = yaml.safe_load((REPO / "roles/freeswitch/tasks/render.yml").read_text(encoding="utf-8"))
    found = [t for t in tasks if "freeswitch__sip_passwords" in str(t.get("ansible.builtin.file", {}).get("path", ""))]
    assert len(found) == 1, "one task sets the mode of site.sip-passwords.yml"
    return found[0]["ansible.builtin.file"]


def test_the_role_keeps_the_sip_passwords_0600_for_the_controller_user():
    task = task_keeping_the_sip_passwords()
    assert task["mode"] == "0600"
    # The controller loads the site with this overlay and runs as bizpbx__user.
    assert task["owner"] == "{{ bizpbx__user | default('bizpbx') }}"
    unit = (REPO / "roles/bizpbx/templates/etc/systemd/system/bizpbx-controller.service.j2").read_text(encoding="utf-8")
    assert "User={{ bizpbx__user }}" in unit


def test_the_readmes_say_what_the_role_does():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    roles_readme = (REPO / "roles/README.md").read_text(encoding="utf-8")
    for text in (readme, roles_readme):
        stated = set(re.findall(r"sip-passwords\.yml.{0,200}?\b(0[0-7]{3})\b", text, re.DOTALL))
        assert stated == {"0600"}, stated
