"""The cluster section: a proxy and its nodes, and the rules a cluster site must keep."""

from __future__ import annotations

import pytest
from test_site_model import problems_of, write_site

from bizpbx.site_loader import load_site

PROXY = {"address": "10.233.0.10"}
NODES = {"pbx1": {"address": "10.233.0.11"}, "pbx2": {"address": "10.233.0.12"}}
POSTGRESQL = {"dsn": "postgresql://bizpbx@10.233.0.40/bizpbx", "password": "a-database-password"}


def clustered(data, *, postgresql=True, passwords=True):
    data["cluster"] = {"proxy": dict(PROXY), "nodes": {name: dict(node) for name, node in NODES.items()}}
    data["freeswitch"].pop("tls")  # the lab's phones over TLS: a cluster's proxy takes UDP and TCP only
    data["freeswitch"].pop("internal")  # each node listens on its own address
    if postgresql:
        data.setdefault("controller", {})["postgresql"] = dict(POSTGRESQL)
    if passwords:
        for org_id, org in data["organizations"].items():
            for ext, employee in org["employees"].items():
                employee["password"] = f"secret-{org_id}-{ext}-long"
                if (employee.get("voicemail") or {}).get("enabled"):
                    employee["voicemail"]["pin"] = "493817"


def test_a_cluster_site_loads(tmp_path, lab_secrets):
    site = load_site(write_site(tmp_path, clustered))
    assert str(site.cluster.proxy.address) == "10.233.0.10"
    assert site.cluster.proxy.port == 5060
    assert site.cluster.proxy.probe_seconds == 2
    assert {name: str(node.address) for name, node in site.cluster.nodes.items()} == {"pbx1": "10.233.0.11", "pbx2": "10.233.0.12"}


def test_a_single_server_site_has_no_cluster(lab_site_copy):
    assert load_site(lab_site_copy, generate_missing_secrets=True).cluster is None


def test_a_cluster_needs_the_ledger_in_postgresql(tmp_path, lab_secrets):
    problems = dict(problems_of(write_site(tmp_path, lambda data: clustered(data, postgresql=False))))
    assert "controller.postgresql" in problems
    assert "required with a cluster" in problems["controller.postgresql"]


def test_a_cluster_needs_every_sip_password_given_not_generated(tmp_path, lab_secrets):
    path = write_site(tmp_path, lambda data: clustered(data, passwords=False))
    with pytest.raises(Exception) as caught:
        load_site(path, generate_missing_secrets=True)
    problems = dict(caught.value.problems)
    assert "no node may generate its own" in problems["organizations.12.employees.101.password"]
    assert "organizations.12.employees.100.voicemail.pin" in problems
    assert not (tmp_path / "site.sip-passwords.yml").exists(), "nothing generated for a cluster"


def test_a_cluster_needs_at_least_two_nodes(tmp_path, lab_secrets):
    def one_node(data):
        clustered(data)
        del data["cluster"]["nodes"]["pbx2"]

    problems = dict(problems_of(write_site(tmp_path, one_node)))
    assert "at least 2" in problems["cluster.nodes"]


def test_node_addresses_are_distinct_from_each_other_and_the_proxy(tmp_path, lab_secrets):
    def same_address(data):
        clustered(data)
        data["cluster"]["nodes"]["pbx2"]["address"] = "10.233.0.10"

    problems = dict(problems_of(write_site(tmp_path, same_address)))
    assert "nodes.pbx2.address 10.233.0.10 is already the proxy's" in problems["cluster"]


def test_profile_addresses_are_the_nodes_own(tmp_path, lab_secrets):
    def pinned(data):
        clustered(data)
        data.setdefault("freeswitch", {})["internal"] = {"ip": "10.233.0.11", "port": 5060}

    problems = dict(problems_of(write_site(tmp_path, pinned)))
    assert "each node listens on its own address" in problems["freeswitch.internal.ip"]


def test_phones_over_tls_are_refused_with_a_cluster(tmp_path, lab_secrets):
    def over_tls(data):
        clustered(data)
        data.setdefault("freeswitch", {})["tls"] = {"enabled": True}

    problems = dict(problems_of(write_site(tmp_path, over_tls)))
    assert "UDP and TCP only" in problems["freeswitch.tls.enabled"]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda c: c["proxy"].update(address="not-an-address"), "cluster.proxy.address"),
        (lambda c: c["proxy"].update(port=0), "cluster.proxy.port"),
        (lambda c: c["nodes"].update({"bad name!": {"address": "10.233.0.13"}}), "cluster.nodes.bad name!"),
        (lambda c: c.update(extra=1), "cluster.extra"),
    ],
)
def test_bad_cluster_values_are_named(tmp_path, lab_secrets, change, path):
    def broken(data):
        clustered(data)
        change(data["cluster"])

    assert path in dict(problems_of(write_site(tmp_path, broken)))
