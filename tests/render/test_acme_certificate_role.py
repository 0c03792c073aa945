"""The freeswitch role's ACME certificate, obtained for real: its TLS tasks run by ansible-playbook
against pebble on loopback (acme_server.py: a sandbox of the test's own, certbot's http-01 on port
80 as in production), then certbot's renewal as Debian's certbot.service runs it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml
from acme_server import DIRECTORY_URL, Sandbox, pebble, pebble_root
from role_playbook import NEEDS_ANSIBLE, REPO, run_play, shown_site

DOMAIN = "pbx.bizpbx.test"
ROLE = REPO / "roles" / "freeswitch"
# Facts first: the "Reload systemd" handler reloads only where systemd runs (not in this sandbox).
FACTS = {"ansible.builtin.setup": {"gather_subset": ["!all", "!min", "service_mgr"]}}
TASKS = [FACTS, *({"ansible.builtin.include_role": {"name": "freeswitch", "tasks_from": tasks}} for tasks in ("tls.yml", "acme_hooks.yml"))]
# A site that leaves ACME (here: TLS turned off, so the role makes no certificate) runs only these.
LEFT_ACME_TASKS = [FACTS, {"ansible.builtin.include_role": {"name": "freeswitch", "tasks_from": "acme_hooks.yml"}}]


def acme_site(site_file: Path, cert_dir: Path) -> dict:
    data = yaml.safe_load(site_file.read_text(encoding="utf-8"))
    tls = {"enabled": True, "certificate": "acme", "acme_domain": DOMAIN, "acme_email": "admin@bizpbx.test", "cert_dir": str(cert_dir)}
    data["freeswitch"]["tls"] = tls
    site_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return shown_site(site_file)


def converge(tmp_path: Path, sandbox: Sandbox, variables: dict, tasks: list = TASKS) -> str:
    result = run_play(tmp_path, ROLE, tasks, variables, through=sandbox.argv())
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    return result.stdout


def openssl_x509(pem: str, *fields: str) -> str:
    return subprocess.run(["openssl", "x509", "-noout", *fields], input=pem, capture_output=True, text=True, check=True).stdout


def pem_blocks(text: str) -> list[str]:
    return re.findall(r"-----BEGIN [A-Z ]+-----\n.*?\n-----END [A-Z ]+-----\n", text, re.DOTALL)


def assert_issued_by_pebble(cert_dir: Path, root: str, tmp_path: Path) -> str:
    """The installed certificate is pebble's for DOMAIN, its chain leading to pebble's root; returns its serial."""
    assert {p.name: p.stat().st_mode & 0o777 for p in cert_dir.iterdir()} == {"agent.pem": 0o600, "cafile.pem": 0o600}
    agent, cafile = ((cert_dir / name).read_text() for name in ("agent.pem", "cafile.pem"))
    key, *chain = pem_blocks(agent)
    assert "PRIVATE KEY" in key and chain == pem_blocks(cafile) and len(chain) >= 2, "agent.pem: the key, then the certificate and its chain"
    leaf = chain[0]
    assert f"DNS:{DOMAIN}" in openssl_x509(leaf, "-ext", "subjectAltName")
    assert "Pebble Intermediate CA" in openssl_x509(leaf, "-issuer")
    (tmp_path / "root.pem").write_text(root)
    (tmp_path / "chain.pem").write_text("".join(chain[1:]))
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), "-untrusted", str(tmp_path / "chain.pem")], input=leaf, capture_output=True, text=True, check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    key_public = subprocess.run(["openssl", "pkey", "-pubout"], input=key, capture_output=True, text=True, check=True).stdout
    assert key_public == openssl_x509(leaf, "-pubkey"), "agent.pem's key is the certificate's"
    return openssl_x509(leaf, "-serial")


def renewal_settings(sandbox: Sandbox) -> dict[str, str]:
    text = sandbox.upper(f"/etc/letsencrypt/renewal/{DOMAIN}.conf").read_text()
    return dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line)


def renew_as_the_timer_does(sandbox: Sandbox, drop_in: str) -> subprocess.CompletedProcess[str]:
    """Debian's certbot.service's command, in the environment its drop-ins give it; forced, since a
    fresh certificate is not due (certbot renews 30 days before expiry)."""
    unit = Path("/lib/systemd/system/certbot.service").read_text()
    (command,) = re.findall(r"^ExecStart=(.*)$", unit, re.MULTILINE)
    environment = dict(line.removeprefix("Environment=").split("=", 1) for line in drop_in.splitlines() if line.startswith("Environment="))
    return sandbox.run("env", *(f"{name}={value}" for name, value in environment.items()), *command.split(), "--force-renewal")


@NEEDS_ANSIBLE
def test_the_role_obtains_installs_and_renews_a_certificate_from_pebble(lab_site_copy, tmp_path):
    cert_dir = tmp_path / "tls"
    with pebble(tmp_path / "acme", DOMAIN) as (sandbox, ca):
        variables = {
            "preflight__site": acme_site(lab_site_copy, cert_dir),
            "freeswitch__user": "root", "freeswitch__group": "root",  # no freeswitch user on this machine
            "freeswitch__tls_acme_packages": [],  # certbot is installed already (the sandbox has no network for apt)
            "freeswitch__tls_acme_server": DIRECTORY_URL,
            "freeswitch__tls_acme_ca_bundle": str(ca),
        }
        converge(tmp_path, sandbox, variables)
        root = pebble_root(sandbox, ca)
        serial = assert_issued_by_pebble(cert_dir, root, tmp_path)
        assert cert_dir.stat().st_mode & 0o777 == 0o700
        live = sandbox.upper(f"/etc/letsencrypt/live/{DOMAIN}")
        assert (cert_dir / "agent.pem").read_bytes() == (live / "privkey.pem").read_bytes() + (live / "fullchain.pem").read_bytes()

        settings = renewal_settings(sandbox)
        assert settings["server"] == DIRECTORY_URL, "renewals ask the same server"
        assert settings["renew_hook"].startswith(f"/usr/local/libexec/bizpbx/install-tls-certificate {cert_dir} ")
        drop_in = sandbox.upper("/etc/systemd/system/certbot.service.d/bizpbx-acme-ca-bundle.conf").read_text()
        assert f"Environment=REQUESTS_CA_BUNDLE={ca}" in drop_in.splitlines()

        before = {name: (cert_dir / name).read_bytes() for name in ("agent.pem", "cafile.pem")}
        again = converge(tmp_path, sandbox, variables)
        assert re.search(r"localhost\s*:\s*ok=\d+\s+changed=0 ", again), again[-2000:]
        assert {name: (cert_dir / name).read_bytes() for name in before} == before

        renewed = renew_as_the_timer_does(sandbox, drop_in)
        assert renewed.returncode == 0, renewed.stdout + renewed.stderr
        assert assert_issued_by_pebble(cert_dir, root, tmp_path) != serial, "the deploy hook installed the renewed certificate"

        # The site leaves ACME: certbot keeps the certificate and renews it, but no longer installs it for the switch.
        installed = {name: (cert_dir / name).read_bytes() for name in before}
        without_tls = {**variables["preflight__site"], "freeswitch": {**variables["preflight__site"]["freeswitch"]}}
        without_tls["freeswitch"]["tls"] = {**without_tls["freeswitch"]["tls"], "enabled": False}
        converge(tmp_path, sandbox, {**variables, "preflight__site": without_tls}, LEFT_ACME_TASKS)
        assert "renew_hook" not in renewal_settings(sandbox) and renewal_settings(sandbox)["server"] == DIRECTORY_URL
        renewed = renew_as_the_timer_does(sandbox, drop_in)
        assert renewed.returncode == 0, renewed.stdout + renewed.stderr
        assert {name: (cert_dir / name).read_bytes() for name in installed} == installed, "a renewal installed a certificate the site left"
