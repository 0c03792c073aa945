"""The postgresql role (a cluster's database) rendered by Ansible on localhost: each owner is let
into its own database alone, from its clients alone, with scram; a bad entry is refused by its
index, its password never shown."""

from __future__ import annotations

from pathlib import Path

import yaml
from role_playbook import NEEDS_ANSIBLE, REPO, run_play

pytestmark = NEEDS_ANSIBLE

ROLE = REPO / "roles/postgresql"
DATABASES = [
    {"name": "bizpbx", "user": "bizpbx", "password": "ledger-password-1", "clients": ["10.233.0.11/32", "10.233.0.12/32"]},
    {"name": "kamailio", "user": "kamailio", "password": "proxy-password-1", "clients": ["10.233.0.10/32"]},
]


def rendered(tmp_path: Path, template: str, **variables) -> str:
    out = tmp_path / Path(template).stem
    task = {"ansible.builtin.template": {"src": str(ROLE / "templates" / template), "dest": str(out), "mode": "0600"}}
    result = run_play(tmp_path, ROLE, [task], variables)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out.read_text(encoding="utf-8")


def test_each_owner_gets_into_its_database_from_its_clients_alone(tmp_path):
    hba = rendered(tmp_path, "etc/postgresql/pg_hba.conf.j2", postgresql__databases=DATABASES)
    rules = [line.split() for line in hba.splitlines() if line and not line.startswith("#")]
    assert rules == [
        ["local", "all", "postgres", "peer"],
        ["host", "bizpbx", "bizpbx", "127.0.0.1/32", "scram-sha-256"],
        ["host", "bizpbx", "bizpbx", "10.233.0.11/32", "scram-sha-256"],
        ["host", "bizpbx", "bizpbx", "10.233.0.12/32", "scram-sha-256"],
        ["host", "kamailio", "kamailio", "127.0.0.1/32", "scram-sha-256"],
        ["host", "kamailio", "kamailio", "10.233.0.10/32", "scram-sha-256"],
    ]
    assert not any(d["password"] in hba for d in DATABASES)


def test_it_listens_on_loopback_and_the_addresses_given(tmp_path):
    conf = rendered(tmp_path, "etc/postgresql/bizpbx.conf.j2", postgresql__listen_addresses=["10.233.0.40"])
    assert "listen_addresses = 'localhost,10.233.0.40'" in conf and "password_encryption = 'scram-sha-256'" in conf


def test_a_bad_entry_is_refused_by_its_index_without_its_password(tmp_path):
    [check] = [t for t in yaml.safe_load((ROLE / "tasks/main.yml").read_text()) if t["name"] == "Check the databases' settings"]
    bad = [DATABASES[0], {**DATABASES[1], "password": "short-pw", "clients": ["somewhere"]}]
    result = run_play(tmp_path, ROLE, [check], {"postgresql__databases": bad})
    assert result.returncode != 0
    assert "postgresql__databases[1]:" in result.stdout and "short-pw" not in result.stdout + result.stderr
    assert "postgresql__databases[0]" not in result.stdout
    good = run_play(tmp_path, ROLE, [check], {"postgresql__databases": DATABASES})
    assert good.returncode == 0, good.stdout[-3000:]
