"""The lab's secrets: made once, and a lab already provisioned keeps its own (a fresh clone takes them)."""

from __future__ import annotations

import stat

import pytest
import yaml

from bizpbx_lab import site_secrets
from bizpbx_lab.plan import REPO_ROOT


@pytest.fixture
def paths(tmp_path, monkeypatch):
    checkout, provisioned = tmp_path / "site.secrets.yml", tmp_path / "state" / "site.secrets.yml"
    monkeypatch.setattr(site_secrets, "LAB_SECRETS", checkout)
    monkeypatch.setattr(site_secrets, "PROVISIONED_SECRETS", provisioned)
    monkeypatch.setattr(site_secrets, "STATE_DIR", provisioned.parent)
    monkeypatch.setattr(site_secrets, "ROLE_SECRETS", tmp_path / "lab.secrets.yml")
    monkeypatch.setattr(site_secrets, "PROVISIONED_ROLE_SECRETS", provisioned.parent / "lab.secrets.yml")
    return checkout, provisioned


def test_a_new_lab_gets_random_private_secrets_that_stay(paths) -> None:
    checkout, provisioned = paths
    site_secrets.ensure_lab_secrets()
    made = yaml.safe_load(checkout.read_text())
    assert len(made["esl"]["password"]) >= 24 and set(made["trunks"]) == {"carrier"}
    # The CRM's API token: 32 characters, as the site requires of it.
    assert len(made["controller"]["api"]["clients"]["crm"]["token"]) >= 32
    assert stat.S_IMODE(checkout.stat().st_mode) == 0o600
    site_secrets.ensure_lab_secrets()
    assert yaml.safe_load(checkout.read_text()) == made
    site_secrets.keep_provisioned_secrets()
    assert provisioned.read_bytes() == checkout.read_bytes()
    assert stat.S_IMODE(provisioned.stat().st_mode) == 0o600


def test_a_checkout_converging_a_provisioned_lab_takes_the_lab_s_secrets(paths) -> None:
    checkout, provisioned = paths
    site_secrets.ensure_lab_secrets()
    site_secrets.keep_provisioned_secrets()
    lab_secrets = provisioned.read_bytes()
    checkout.unlink()  # a fresh clone
    site_secrets.ensure_lab_secrets()
    assert checkout.read_bytes() == lab_secrets
    checkout.write_text("esl: {password: another-checkouts-own}\n")  # another worktree's
    site_secrets.ensure_lab_secrets()
    assert checkout.read_bytes() == lab_secrets


def test_a_provisioned_lab_gets_the_secrets_its_site_has_come_to_need_and_keeps_the_others(paths) -> None:
    checkout, provisioned = paths
    provisioned.parent.mkdir()
    provisioned.write_text("esl: {password: the-labs-own-esl-password}\ntrunks: {carrier: {password: the-labs-own-trunk-password}}\n")
    site_secrets.ensure_lab_secrets()
    taken = yaml.safe_load(checkout.read_text())
    assert taken["esl"]["password"] == "the-labs-own-esl-password" and taken["trunks"]["carrier"]["password"] == "the-labs-own-trunk-password"
    assert len(taken["controller"]["api"]["clients"]["crm"]["token"]) >= 32
    site_secrets.keep_provisioned_secrets()
    site_secrets.ensure_lab_secrets()
    assert yaml.safe_load(checkout.read_text()) == taken, "drawn once"


def test_a_cluster_lab_keeps_its_roles_secrets_too(paths, tmp_path, monkeypatch) -> None:
    checkout, provisioned = paths
    monkeypatch.setattr(site_secrets, "LAB_SITE", REPO_ROOT / "inventory/cluster/site.yml")
    site_secrets.ensure_lab_secrets()
    site_secrets.keep_provisioned_secrets()
    roles, kept = tmp_path / "lab.secrets.yml", provisioned.parent / "lab.secrets.yml"
    made = roles.read_bytes()
    assert kept.read_bytes() == made and b"sip_proxy__database_password" in made
    roles.write_text("sip_proxy__database_password: another-checkouts-own\n")
    site_secrets.ensure_lab_secrets()
    assert roles.read_bytes() == made
    site_secrets.remove_lab_secrets()
    assert not any(p.exists() for p in (checkout, provisioned, roles, kept))


def test_the_vms_keep_a_record_of_their_own_and_never_take_the_nspawn_lab_s(paths, tmp_path) -> None:
    checkout, provisioned = paths
    site_secrets.ensure_lab_secrets()
    site_secrets.keep_provisioned_secrets()  # the nspawn lab's machines
    vm_record = tmp_path / "vagrant" / "site.secrets.yml"
    checkout.write_text("esl: {password: the-vms-own-secret-of-24-chars}\n")
    site_secrets.ensure_lab_secrets(vm_record)
    # No VM record yet: the checkout's stay (what the site needs besides is added to them).
    assert yaml.safe_load(checkout.read_text())["esl"]["password"] == "the-vms-own-secret-of-24-chars"
    site_secrets.keep_provisioned_secrets(vm_record)
    assert vm_record.read_bytes() == checkout.read_bytes() != provisioned.read_bytes()
    checkout.unlink()
    site_secrets.ensure_lab_secrets(vm_record)
    assert checkout.read_bytes() == vm_record.read_bytes()
