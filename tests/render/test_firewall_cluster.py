"""The firewall role on a cluster: a node takes SIP from the proxy alone; the proxy takes it from
the trunks, the phone networks and the nodes, and opens no media port."""

from __future__ import annotations

from rendered_tree import NODES, PROXY
from role_playbook import NEEDS_ANSIBLE, shown_site
from test_firewall_metrics import rendered_rules, verdict

pytestmark = NEEDS_ANSIBLE

PHONE, CARRIER, STRANGER = "10.231.0.30", "10.231.0.20", "203.0.113.9"


def test_a_node_takes_sip_from_the_proxy_alone(cluster_site_file, tmp_path):
    rules = rendered_rules(tmp_path, shown_site(cluster_site_file))
    for port in (5060, 5080):
        assert verdict(rules, PROXY, port) == "accept"
        for source in (PHONE, CARRIER, NODES["pbx2"], STRANGER):
            assert verdict(rules, source, port) == "drop", (source, port)


def test_the_proxy_takes_sip_from_trunks_phones_and_nodes_only(cluster_site_file, tmp_path):
    rules = rendered_rules(tmp_path, shown_site(cluster_site_file), firewall__sip_proxy=True)
    for source in (PHONE, CARRIER, *NODES.values()):
        assert verdict(rules, source, 5060) == "accept", source
    assert verdict(rules, STRANGER, 5060) == "drop"
    assert verdict(rules, PHONE, 5080) == "drop", "no trunk profile on the proxy"
    assert "udp dport 16384-32768" not in rules, "no media port on the proxy"
