"""The lab's secrets: made once, and a lab already provisioned keeps its own (a fresh clone takes them)."""

from __future__ import annotations

import stat

import pytest
import yaml

from bizpbx_lab import site_secrets


@pytest.fixture
def paths(tmp_path, monkeypatch):
    checkout, provisioned = tmp_path / "site.secrets.yml", tmp_path / "state" / "site.secrets.yml"
    monkeypatch.setattr(site_secrets, "LAB_SECRETS", checkout)
    monkeypatch.setattr(site_secrets, "PROVISIONED_SECRETS", provisioned)
    monkeypatch.setattr(site_secrets, "STATE_DIR", provisioned.parent)
    return checkout, provisioned


def test_a_new_lab_gets_random_private_secrets_that_stay(paths) -> None:
    checkout, provisioned = paths
    site_secrets.ensure_lab_secrets()
    made = yaml.safe_load(checkout.read_text())
    assert len(made["esl"]["password"]) >= 24 and set(made["trunks"]) == {"carrier"}
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


def test_the_vms_keep_a_record_of_their_own_and_never_take_the_nspawn_lab_s(paths, tmp_path) -> None:
    checkout, provisioned = paths
    site_secrets.ensure_lab_secrets()
    site_secrets.keep_provisioned_secrets()  # the nspawn lab's machines
    vm_record = tmp_path / "vagrant" / "site.secrets.yml"
    checkout.write_text("esl: {password: the-vms-own-secret-of-24-chars}\n")
    site_secrets.ensure_lab_secrets(vm_record)
    assert checkout.read_text() == "esl: {password: the-vms-own-secret-of-24-chars}\n", "no VM record yet: the checkout's stay"
    site_secrets.keep_provisioned_secrets(vm_record)
    assert vm_record.read_bytes() == checkout.read_bytes() != provisioned.read_bytes()
    checkout.unlink()
    site_secrets.ensure_lab_secrets(vm_record)
    assert checkout.read_bytes() == vm_record.read_bytes()
