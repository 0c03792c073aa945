"""What a re-rendered sofia.conf.xml asks of the running switch (bizpbx.sofia_changes),
on the configuration the renderer writes for the demo site."""

from __future__ import annotations

import os

import yaml

from bizpbx.render import sofia_changes
from bizpbx.render import render_site
from bizpbx.site_loader import load_site


def sofia_of(site_file, change=None) -> dict:
    if change:
        data = yaml.safe_load(site_file.read_text(encoding="utf-8"))
        change(data)
        site_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    tree = render_site(load_site(site_file, generate_missing_secrets=True))
    return sofia_changes.fingerprints(tree[sofia_changes.SOFIA_CONF.as_posix()])


def test_a_changed_trunk_is_killed_and_rescanned_a_new_one_rescanned_other_trunks_untouched(lab_site_copy, monkeypatch):
    before = sofia_of(lab_site_copy)
    assert sofia_changes.changes(before, before).commands == [] and sofia_changes.changes(before, before).restart_for == []
    monkeypatch.setenv("BIZPBX_TRUNKS__CARRIER__PASSWORD", "another-trunk-password")
    monkeypatch.setenv("BIZPBX_TRUNKS__SPARE__PASSWORD", "spare-trunk-password")

    def add_spare(data):
        data["trunks"]["spare"] = {"proxy": "192.0.2.10", "username": "pbx", "source_addresses": ["192.0.2.10/32"]}

    after = sofia_of(lab_site_copy, add_spare)
    plan = sofia_changes.changes(before, after)
    assert plan.commands == ["sofia profile external killgw carrier", "sofia profile external rescan"]
    assert plan.restart_for == []


def test_a_profile_port_change_needs_a_restart(lab_site_copy):
    before = sofia_of(lab_site_copy)
    after = sofia_of(lab_site_copy, lambda data: data["freeswitch"].update(internal={"port": 5070}))
    plan = sofia_changes.changes(before, after)
    assert plan.restart_for == ["internal"] and plan.commands == []


def test_without_a_record_every_profile_is_rescanned_and_the_record_is_private(lab_site_copy, tmp_path):
    rendered = sofia_of(lab_site_copy)
    assert sofia_changes.changes(None, rendered).commands == ["sofia profile external rescan", "sofia profile internal rescan"]
    conf_dir = tmp_path / "freeswitch"
    conf_dir.mkdir()
    sofia_changes.record_loaded(conf_dir, rendered)
    assert sofia_changes.read_loaded(conf_dir) == rendered
    assert os.stat(sofia_changes.loaded_path(conf_dir)).st_mode & 0o777 == 0o600
