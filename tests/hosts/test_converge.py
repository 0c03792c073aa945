"""The playbook itself: it converges, a second run changes nothing, check mode changes nothing,
and bad input fails before any change with a message naming the variable."""

from __future__ import annotations

import json

import pytest

from .conftest import REPO, Lab, playbook

pytestmark = pytest.mark.lab


def test_first_converge_succeeds_on_every_host(converged: Lab) -> None:
    recap = converged.first_converge.recap
    assert set(recap) == {"pbx", "carrier", "phone"}, converged.first_converge.explain()
    for host, counts in recap.items():
        assert counts["failed"] == 0 and counts["unreachable"] == 0, f"{host}: {counts}"


def test_run_says_whether_freeswitch_was_installed(converged: Lab) -> None:
    output = converged.first_converge.output
    if converged.freeswitch_installed:
        assert "FreeSWITCH was installed with method" in output
    else:
        assert "FreeSWITCH was NOT installed" in output


def test_second_converge_changes_nothing(converged: Lab) -> None:
    run = playbook()
    assert run.returncode == 0, run.explain()
    changed = {host: counts["changed"] for host, counts in run.recap.items()}
    assert set(changed) == {"pbx", "carrier", "phone"}, run.explain()
    assert all(n == 0 for n in changed.values()), f"changed on a second run: {changed}\n{run.explain()}"


def test_check_mode_on_a_converged_lab_reports_no_change(converged: Lab) -> None:
    run = playbook("--check", "--diff")
    assert run.returncode == 0, run.explain()
    changed = {host: counts["changed"] for host, counts in run.recap.items()}
    assert all(n == 0 for n in changed.values()), f"check mode would change: {changed}\n{run.explain()}"


@pytest.mark.parametrize(
    ("extra_vars", "named"),
    [
        ({"freeswitch__install_method": "apt"}, "freeswitch__install_method"),
        ({"freeswitch__install_method": "prefix", "freeswitch__prefix": ""}, "freeswitch__prefix"),
        ({"freeswitch__install_method": "signalwire", "freeswitch__signalwire_token": ""}, "freeswitch__signalwire_token"),
        ({"bizpbx__secrets": {"esl": {"password": "ClueCon"}}}, "bizpbx__secrets"),
        ({"bizpbx__secrets": {}}, "bizpbx__secrets"),
        ({"bizpbx__site_file": "/nonexistent/site.yml"}, "bizpbx__site_file"),
        ({"firewall__ssh_port": "ssh"}, "firewall__ssh_port"),
        (
            {"freeswitch__install_method": "source", "freeswitch__source_archives": {"freeswitch": "/nonexistent/freeswitch.tar.gz"}},
            "freeswitch__source_archives.freeswitch: /nonexistent/freeswitch.tar.gz does not exist on the control node",
        ),
    ],
)
def test_bad_input_fails_before_any_change_naming_the_variable(converged: Lab, extra_vars: dict, named: str) -> None:
    run = playbook("--limit", "pbx", "-e", json.dumps(extra_vars), playbook_path=REPO / "playbooks/pbx.yml")
    assert run.returncode != 0, f"{extra_vars} was accepted\n{run.explain()}"
    assert named in run.output, run.explain()
    assert run.recap["pbx"]["changed"] == 0, run.explain()


def test_an_invalid_site_fails_with_bizpbx_validate_reasons(converged: Lab, tmp_path) -> None:
    site = tmp_path / "site.yml"
    site.write_text((REPO / "inventory/lab/site.yml").read_text().replace("max_calls: 250", "max_calls: -5"))
    run = playbook("--limit", "pbx", "-e", json.dumps({"bizpbx__site_file": str(site)}), playbook_path=REPO / "playbooks/pbx.yml")
    assert run.returncode != 0, run.explain()
    assert "is not a valid site" in run.output and "max_calls" in run.output, run.explain()
    assert run.recap["pbx"]["changed"] == 0, run.explain()
