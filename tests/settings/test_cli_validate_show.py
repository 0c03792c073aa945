"""`bizpbx validate` and `bizpbx show` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

import bizpbx_lab as lab


def bizpbx(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bizpbx.cli", *args], capture_output=True, text=True, check=False)


def test_validate_prints_a_summary_and_exits_zero(lab_site_copy):
    result = bizpbx("validate", str(lab_site_copy))
    assert result.returncode == 0, result.stderr
    assert "site lab: valid" in result.stdout
    assert "organizations: 3 (2 with a telephony plan), employees: 8" in result.stdout
    assert "9 SIP password(s)/PIN(s) will be generated" in result.stdout
    assert not (lab_site_copy.parent / "site.sip-passwords.yml").exists(), "validate writes nothing"


def test_validate_lists_every_problem_and_exits_two(lab_site_copy, monkeypatch):
    monkeypatch.setenv("BIZPBX_ESL__PASSWORD", "ClueCon")
    monkeypatch.setenv("BIZPBX_FREESWITCH__MAX_CALLS", "0")
    result = bizpbx("validate", str(lab_site_copy))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == f"{lab_site_copy}: invalid site, 2 problem(s):"
    assert "esl.password: a well-known default password is refused; set a secret of your own" in lines
    assert "freeswitch.max_calls: Input should be greater than or equal to 1" in lines
    assert "ClueCon" not in result.stderr


def test_validate_of_a_missing_file(tmp_path):
    result = bizpbx("validate", str(tmp_path / "nope.yml"))
    assert result.returncode == 2
    assert f"(file): cannot read {tmp_path / 'nope.yml'}: No such file or directory" in result.stderr


def test_show_masks_secrets_and_applies_defaults(lab_site_copy, lab_secrets):
    result = bizpbx("show", str(lab_site_copy), "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["esl"]["password"] == "**********"
    assert shown["trunks"]["carrier"]["source_addresses"] == [f"{lab.BY_NAME['carrier'].address}/32"]
    assert shown["freeswitch"]["internal"]["port"] == 5060
    assert shown["tariffs"]["plans"]["vip"]["monthly_fee"] == "2990"
    for secret in lab_secrets.values():
        assert secret not in result.stdout
