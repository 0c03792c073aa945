"""The cluster lab (inventory/cluster) is a plan of its own beside the three-host lab: another
subnet, other namespace and veth names, and its site's addresses are its inventory's. The
secrets `make lab LAB=cluster` writes are those a cluster needs, and make the site whole.
Nothing here needs the lab."""

from __future__ import annotations

import ipaddress
import shutil
import stat
from pathlib import Path

import pytest
import yaml

from bizpbx.site_loader import load_site
from bizpbx_lab import site_secrets
from bizpbx_lab.plan import REPO_ROOT, PlanError, read_plan

CLUSTER = REPO_ROOT / "inventory/cluster"


def test_the_cluster_lab_runs_beside_the_three_host_lab():
    cluster, three = read_plan(CLUSTER), read_plan(REPO_ROOT / "inventory/lab")
    assert [h.name for h in cluster.hosts] == ["proxy", "pbx1", "pbx2", "db", "carrier", "phone"]
    assert not cluster.network.subnet.overlaps(three.network.subnet)
    for names in (lambda p: {h.netns for h in p.hosts} | {p.network.lan_netns}, lambda p: {h.port for h in p.hosts} | {p.network.uplink}):
        assert not names(cluster) & names(three)
    assert {h.netns for h in cluster.hosts} == {f"bzc-{h.name}" for h in cluster.hosts}


def test_the_cluster_site_is_on_its_plan(tmp_path: Path):
    plan = read_plan(CLUSTER)
    address = {h.name: ipaddress.IPv4Address(h.address) for h in plan.hosts}
    for name in ("site.yml", "rates.csv"):
        shutil.copy(CLUSTER / name, tmp_path / name)
    _write_secrets(tmp_path)
    site = load_site(tmp_path / "site.yml")
    assert site.cluster is not None and site.cluster.proxy.address == address["proxy"]
    assert {name: node.address for name, node in site.cluster.nodes.items()} == {"pbx1": address["pbx1"], "pbx2": address["pbx2"]}
    assert site.controller.postgresql is not None and f"@{address['db']}:" in site.controller.postgresql.dsn
    assert site.trunks["carrier"].proxy == str(address["carrier"])
    assert f"//{address['phone']}:" in site.controller.webhooks["crm"].url
    assert site.freeswitch.phone_networks == [plan.network.subnet]


def test_a_veth_name_linux_cannot_take_is_refused(tmp_path: Path):
    copy = tmp_path / "cluster"
    shutil.copytree(CLUSTER / "group_vars", copy / "group_vars")
    shutil.copy(CLUSTER / "hosts.yml", copy / "hosts.yml")
    data = yaml.safe_load((copy / "group_vars/all.yml").read_text())
    data["lab__network"]["port_prefix"] = "bizpbx-cluster-"
    (copy / "group_vars/all.yml").write_text(yaml.safe_dump(data))
    with pytest.raises(PlanError, match=r"hosts\.proxy: the veth bizpbx-cluster-proxy is longer than Linux's 15 characters"):
        read_plan(copy)


def _write_secrets(directory: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(site_secrets, "LAB_SITE", directory / "site.yml")
        patch.setattr(site_secrets, "LAB_SECRETS", directory / "site.secrets.yml")
        patch.setattr(site_secrets, "ROLE_SECRETS", directory / "lab.secrets.yml")
        patch.setattr(site_secrets, "PROVISIONED_SECRETS", directory / "state/site.secrets.yml")
        patch.setattr(site_secrets, "PROVISIONED_ROLE_SECRETS", directory / "state/lab.secrets.yml")
        patch.setattr(site_secrets, "STATE_DIR", directory / "state")
        site_secrets.ensure_lab_secrets()


def test_a_cluster_lab_gets_every_secret_a_cluster_needs(tmp_path: Path):
    shutil.copy(CLUSTER / "site.yml", tmp_path / "site.yml")
    _write_secrets(tmp_path)
    made = yaml.safe_load((tmp_path / "site.secrets.yml").read_text())
    employees = {f"{o}-{e}": v for o, org in made["organizations"].items() for e, v in org["employees"].items()}
    assert set(employees) == {"12-100", "12-101", "12-102", "34-200", "34-201"}
    assert all(len(v["password"]) >= 18 for v in employees.values())
    assert [k for k, v in employees.items() if "voicemail" in v] == ["12-100"] and employees["12-100"]["voicemail"]["pin"].isdigit()
    assert len(made["controller"]["postgresql"]["password"]) >= 24 and len(made["controller"]["webhooks"]["crm"]["secret"]) >= 24
    roles = yaml.safe_load((tmp_path / "lab.secrets.yml").read_text())
    assert set(roles) == {"sip_proxy__database_password"}
    for name in ("site.secrets.yml", "lab.secrets.yml"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
