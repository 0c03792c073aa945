"""The lab's address plan is written once, in its Ansible inventory: the lab tool reads it
from there, refuses an inventory that is not a lab (naming the file and entry), and the
demo site, which cannot read the inventory, is held to it here. Nothing here needs the lab."""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path

import pytest
import yaml

from bizpbx.site_loader import load_site
from bizpbx_lab.plan import INVENTORY, PlanError, read_plan


def test_the_lab_inventory_is_the_plan():
    plan = read_plan()
    inventory = yaml.safe_load((INVENTORY / "hosts.yml").read_text(encoding="utf-8"))
    given = {name: (group, v["ansible_host"]) for group, g in inventory["all"]["children"].items() for name, v in g["hosts"].items()}
    assert {host.name: (host.group, host.address) for host in plan.hosts} == given
    assert [host.name for host in plan.hosts] == ["pbx", "carrier", "phone"]
    network = yaml.safe_load((INVENTORY / "group_vars/all.yml").read_text(encoding="utf-8"))["lab__network"]
    assert (str(plan.network.subnet), plan.network.gateway, plan.network.void) == (network["subnet"], network["gateway"], network["void"])
    assert {host.netns for host in plan.hosts} == {"bizpbx-pbx", "bizpbx-carrier", "bizpbx-phone"}


def test_the_demo_site_is_on_the_plan(lab_site_copy: Path):
    plan, site = read_plan(), load_site(lab_site_copy)
    carrier = plan.by_name["carrier"].address
    trunk = site.trunks["carrier"]
    assert trunk.proxy == carrier
    assert trunk.source_addresses == [ipaddress.IPv4Network(f"{carrier}/32")]
    assert site.freeswitch.phone_networks == [plan.network.subnet]
    assert ipaddress.IPv4Address(plan.by_name["phone"].address) in plan.network.subnet


@pytest.fixture
def inventory_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "lab"
    (copy / "group_vars").mkdir(parents=True)
    shutil.copy(INVENTORY / "hosts.yml", copy / "hosts.yml")
    shutil.copy(INVENTORY / "group_vars/all.yml", copy / "group_vars/all.yml")
    return copy


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def test_a_host_off_the_subnet_is_refused(inventory_copy: Path):
    _edit(inventory_copy / "hosts.yml", lambda d: d["all"]["children"]["sip_phones"]["hosts"]["phone"].update(ansible_host="192.0.2.30"))
    with pytest.raises(PlanError) as caught:
        read_plan(inventory_copy)
    assert str(caught.value) == (
        f"{inventory_copy / 'hosts.yml'}: all.children.sip_phones.hosts.phone.ansible_host: 192.0.2.30 is not on the lab's subnet 10.231.0.0/24"
    )


def test_an_address_given_twice_is_refused(inventory_copy: Path):
    _edit(inventory_copy / "hosts.yml", lambda d: d["all"]["children"]["sip_phones"]["hosts"]["phone"].update(ansible_host="10.231.0.1"))
    with pytest.raises(PlanError, match=r"sip_phones\.hosts\.phone\.ansible_host: 10\.231\.0\.1 is taken"):
        read_plan(inventory_copy)


def test_an_incomplete_network_is_refused(inventory_copy: Path):
    _edit(inventory_copy / "group_vars/all.yml", lambda d: d["lab__network"].pop("void"))
    with pytest.raises(PlanError) as caught:
        read_plan(inventory_copy)
    assert str(caught.value).startswith(f"{inventory_copy / 'group_vars/all.yml'}: lab__network must set exactly subnet, gateway")
