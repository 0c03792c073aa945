"""The Vagrant lab's side on this machine, without booting a VM: inventory/vagrant reaches the
lab's own hosts, the libvirt networks it defines are isolated, a bad entry is refused naming
its file and entry, and the two inventories together give the playbook the lab's addresses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from bizpbx_lab.plan import INVENTORY as LAB_INVENTORY
from bizpbx_lab.plan import PlanError, read_plan
from bizpbx_lab.vagrant import INVENTORY, lab_xml, management_xml, read_networks

ANSIBLE_INVENTORY_BIN = Path(sys.executable).with_name("ansible-inventory")


def test_every_lab_host_is_a_vm_with_its_own_management_address():
    nets, plan = read_networks(), read_plan()
    assert list(nets.reserved) == [host.name for host in plan.hosts]
    macs, addresses = zip(*nets.reserved.values())
    assert len(set(macs)) == len(macs) and len(set(addresses)) == len(addresses)
    assert nets.host not in addresses
    # Not the nspawn lab's subnet: both labs can be up on this machine at once.
    assert not nets.subnet.overlaps(plan.network.subnet)


def test_the_management_network_is_isolated_with_reserved_addresses_no_router_no_dns():
    nets = read_networks()
    network = ET.fromstring(management_xml(nets))
    assert network.find("forward") is None
    assert network.find("dns").get("enable") == "no"
    ip = network.find("ip")
    assert (ip.get("address"), ip.get("netmask")) == (nets.host, str(nets.subnet.netmask))
    hosts = {h.get("name"): (h.get("mac"), h.get("ip")) for h in ip.find("dhcp").findall("host")}
    assert hosts == nets.reserved


def test_the_lab_network_is_a_switch_between_the_vms_only():
    nets = read_networks()
    network = ET.fromstring(lab_xml(nets))
    assert network.find("forward") is None and network.find("ip") is None
    assert (network.findtext("name"), network.find("bridge").get("name")) == (nets.lab, nets.lab_bridge)


@pytest.fixture
def inventory_copy(tmp_path: Path) -> Path:
    shutil.copytree(INVENTORY, tmp_path / "vagrant")
    return tmp_path / "vagrant"


def _edit_host(inventory: Path, name: str, change) -> None:
    path = inventory / "hosts.yml"
    data = yaml.safe_load(path.read_text())
    change(data["all"]["hosts"][name])
    path.write_text(yaml.safe_dump(data))


def test_a_management_address_off_the_network_is_refused_naming_the_entry(inventory_copy: Path):
    _edit_host(inventory_copy, "phone", lambda h: h["vagrant__management"].update(address="10.231.0.30"))
    with pytest.raises(PlanError) as error:
        read_networks(inventory_copy)
    assert str(error.value) == f"{inventory_copy / 'hosts.yml'}: all.hosts.phone.vagrant__management.address: 10.231.0.30 is not a VM's address on 10.232.0.0/24"


def test_ssh_sent_elsewhere_than_the_reserved_address_is_refused(inventory_copy: Path):
    _edit_host(inventory_copy, "pbx", lambda h: h.update(ansible_ssh_common_args=h["ansible_ssh_common_args"].replace("HostName=10.232.0.10", "HostName=10.232.0.11")))
    with pytest.raises(PlanError, match=r"all\.hosts\.pbx\.ansible_ssh_common_args: must send ssh to HostName=10\.232\.0\.10"):
        read_networks(inventory_copy)


def test_a_missing_setting_is_named(inventory_copy: Path):
    path = inventory_copy / "group_vars/all.yml"
    data = yaml.safe_load(path.read_text())
    del data["vagrant__network"]["management"]["proxy_port"]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(PlanError, match=r"group_vars/all\.yml: vagrant__network\.management\.proxy_port is missing"):
        read_networks(inventory_copy)


@pytest.mark.skipif(not ANSIBLE_INVENTORY_BIN.exists(), reason=f"ansible-inventory is not beside {sys.executable} (make venv installs it)")
def test_both_inventories_give_the_playbook_the_lab_addresses_and_ssh_the_management_ones():
    """What Kamailio listens on and the tests dial (ansible_host) stays the lab's; only ssh goes elsewhere."""
    result = subprocess.run(
        [str(ANSIBLE_INVENTORY_BIN), "-i", str(LAB_INVENTORY / "hosts.yml"), "-i", str(INVENTORY / "hosts.yml"), "--list"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, check=True, env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
    hostvars = json.loads(result.stdout)["_meta"]["hostvars"]
    nets = read_networks()
    for host in read_plan().hosts:
        seen = hostvars[host.name]
        assert (seen["ansible_host"], seen["ansible_user"]) == (host.address, "root")
        assert f"HostName={nets.reserved[host.name][1]}" in seen["ansible_ssh_common_args"].split()
        assert seen["ansible_ssh_private_key_file"] == "/var/lib/bizpbx-vagrant/id_ed25519"
        # Not ~/.ansible/cp: a connection to the nspawn lab's host of the same address must never be reused.
        assert seen["ansible_control_path_dir"] == "/var/lib/bizpbx-vagrant/cp"
