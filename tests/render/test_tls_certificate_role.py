"""The freeswitch role's self-signed certificate: the name and addresses it is made for,
from the site as `bizpbx show --json` gives it, and the certificate its script makes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml
from role_playbook import NEEDS_ANSIBLE, REPO, run_play, shown_site

ROLE = REPO / "roles" / "freeswitch"
MAKE_CERTIFICATE = ROLE / "files" / "make-tls-certificate"


def certificate_subject(tmp_path: Path, site: dict, **role_vars) -> dict:
    out = tmp_path / "subject.json"
    content = '{{ {"name": freeswitch__tls_name, "addresses": freeswitch__tls_addresses} | to_json }}'
    task = {"ansible.builtin.copy": {"content": content, "dest": str(out), "mode": "0600"}}
    result = run_play(tmp_path, ROLE, [task], {"preflight__site": site, **role_vars})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8"))


def with_switch(site_file: Path, **switch) -> dict:
    data = yaml.safe_load(site_file.read_text(encoding="utf-8"))
    data["freeswitch"].update(tls={"enabled": True}, **switch)
    site_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return shown_site(site_file)


@NEEDS_ANSIBLE
def test_made_for_the_sip_domain_and_the_phones_profile_addresses(lab_site_copy, tmp_path):
    site = with_switch(lab_site_copy, sip_domain="pbx.example.com", internal={"ip": "10.0.0.5", "external_ip": "198.51.100.7"})
    assert certificate_subject(tmp_path, site) == {"name": "pbx.example.com", "addresses": ["IP:10.0.0.5", "IP:198.51.100.7"]}
    named = certificate_subject(tmp_path, site, freeswitch__tls_self_signed_name="sip.example.com")
    assert named["name"] == "sip.example.com"


def test_the_script_makes_a_certificate_for_those_and_only_the_owner_reads_it(tmp_path):
    run = subprocess.run([str(MAKE_CERTIFICATE), str(tmp_path), "pbx.example.com", "IP:10.0.0.5"], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    for name in ("agent.pem", "cafile.pem"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    shown = subprocess.run(["openssl", "x509", "-in", str(tmp_path / "cafile.pem"), "-noout", "-subject", "-ext", "subjectAltName"], capture_output=True, text=True, check=True).stdout
    assert "CN = pbx.example.com" in shown and "DNS:pbx.example.com, IP Address:10.0.0.5" in shown
    agent = (tmp_path / "agent.pem").read_text()
    assert agent.startswith("-----BEGIN PRIVATE KEY-----") and agent.endswith((tmp_path / "cafile.pem").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.pem", "cafile.pem"], "no working files left behind"


INSTALL_CERTIFICATE = ROLE / "files" / "install-tls-certificate"


def install(cert_dir: Path, cert: Path, key: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(INSTALL_CERTIFICATE), str(cert_dir), str(cert), str(key)], capture_output=True, text=True, check=False)


def test_the_admins_certificate_is_installed_once_and_a_foreign_key_refused(tmp_path):
    admin, cert_dir = tmp_path / "admin", tmp_path / "tls"
    admin.mkdir()
    cert_dir.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=pbx.example.com", "-keyout", str(admin / "key.pem"), "-out", str(admin / "cert.pem")],
        capture_output=True, check=True,
    )
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-out", str(admin / "other.pem")], capture_output=True, check=True)

    foreign = install(cert_dir, admin / "cert.pem", admin / "other.pem")
    assert foreign.returncode == 1 and f"{admin / 'other.pem'} is not the key of {admin / 'cert.pem'}" in foreign.stderr
    assert list(cert_dir.iterdir()) == [], "nothing installed, nothing half-written"

    first = install(cert_dir, admin / "cert.pem", admin / "key.pem")
    assert (first.returncode, first.stdout) == (0, "installed\n"), first.stderr
    assert (cert_dir / "agent.pem").read_bytes() == (admin / "key.pem").read_bytes() + (admin / "cert.pem").read_bytes()
    assert (cert_dir / "cafile.pem").read_bytes() == (admin / "cert.pem").read_bytes()
    assert {p.name: p.stat().st_mode & 0o777 for p in cert_dir.iterdir()} == {"agent.pem": 0o600, "cafile.pem": 0o600}
    again = install(cert_dir, admin / "cert.pem", admin / "key.pem")
    assert (again.returncode, again.stdout) == (0, "unchanged\n")
    missing = install(cert_dir, admin / "nope.pem", admin / "key.pem")
    assert missing.returncode == 1 and f"cannot read {admin / 'nope.pem'}" in missing.stderr
