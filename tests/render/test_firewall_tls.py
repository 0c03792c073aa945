"""SIP over TLS through the firewall and fail2ban roles: the phones' TLS port open to the
phones' networks only, the trunks' to the trunks' addresses only (and only when a trunk
uses TLS), 80/tcp only for an ACME certificate; fail2ban's jail bans on the TLS ports too."""

from __future__ import annotations

from pathlib import Path

import yaml
from role_playbook import NEEDS_ANSIBLE, REPO, run_play, shown_site
from test_firewall_metrics import rendered_rules, verdict

pytestmark = NEEDS_ANSIBLE

PHONE, TRUNK, STRANGER = "10.231.0.30", "10.231.0.20", "203.0.113.9"


def tls_site(site_file: Path, tls: dict, trunk_transport: str = "udp") -> dict:
    data = yaml.safe_load(site_file.read_text(encoding="utf-8"))
    data["freeswitch"]["tls"] = tls
    data["freeswitch"]["phone_networks"] = ["10.231.0.0/24"]
    data["trunks"]["carrier"]["transport"] = trunk_transport
    site_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return shown_site(site_file)


def test_without_tls_no_tls_port_is_open(lab_site_copy, tmp_path):
    rules = rendered_rules(tmp_path, shown_site(lab_site_copy))
    assert "TLS" not in rules and "ACME" not in rules
    assert verdict(rules, PHONE, 5061) == "drop" and verdict(rules, STRANGER, 80) == "drop"


def test_the_phones_tls_port_is_open_to_the_phones_only(lab_site_copy, tmp_path):
    rules = rendered_rules(tmp_path, tls_site(lab_site_copy, {"enabled": True, "port": 5071}))
    assert verdict(rules, PHONE, 5071) == "accept"
    assert verdict(rules, STRANGER, 5071) == "drop" and verdict(rules, TRUNK, 5071) == "accept", "the trunk host is inside the lab's phone network"
    assert verdict(rules, TRUNK, 5081) == "drop", "no trunk uses TLS: the trunks' TLS port stays closed"
    assert verdict(rules, STRANGER, 80) == "drop"


def test_a_tls_trunk_opens_the_trunk_profiles_tls_port_to_its_addresses(lab_site_copy, tmp_path):
    rules = rendered_rules(tmp_path, tls_site(lab_site_copy, {"enabled": True}, trunk_transport="tls"))
    assert verdict(rules, TRUNK, 5081) == "accept"
    assert verdict(rules, PHONE, 5081) == "drop" and verdict(rules, STRANGER, 5081) == "drop"


def test_an_acme_certificate_opens_port_80_for_its_challenge(lab_site_copy, tmp_path):
    site = tls_site(lab_site_copy, {"enabled": True, "certificate": "acme", "acme_domain": "pbx.example.com", "acme_email": "admin@example.com"})
    assert verdict(rendered_rules(tmp_path, site), STRANGER, 80) == "accept"


def jail(tmp_path: Path, site: dict) -> str:
    role = REPO / "roles" / "fail2ban"
    out = tmp_path / "jail.conf"
    task = {"ansible.builtin.template": {"src": str(role / "templates/etc/fail2ban/jail.d/bizpbx.conf.j2"), "dest": str(out), "mode": "0644"}}
    result = run_play(tmp_path, role, [task], {"preflight__site": site})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out.read_text(encoding="utf-8")


def test_fail2ban_bans_on_the_tls_ports_too(lab_site_copy, tmp_path):
    assert "port = 5060,5080\n" in jail(tmp_path, shown_site(lab_site_copy))
    assert "port = 5060,5080,5071,5081\n" in jail(tmp_path, tls_site(lab_site_copy, {"enabled": True, "port": 5071}))
