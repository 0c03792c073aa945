"""The firewall role's nftables rules for the controller's metrics port, rendered
by Ansible from the role's own template, defaults and vars with the site as
`bizpbx show --json` gives it (as the preflight role hands it over); and the
preflight check tying the role's list to the site's.

The rendered rules are read by a small first-match evaluator of the rule
shapes the template writes, so the tests ask what a packet meets, not which
text is there.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from pathlib import Path

import yaml
from role_playbook import NEEDS_ANSIBLE, REPO, run_play, shown_site

ROLE = REPO / "roles" / "firewall"
MONITORING = ["10.20.0.0/24", "192.0.2.7/32"]

pytestmark = NEEDS_ANSIBLE


def site_monitored_from(site_file: Path, monitoring: list[str] | None = None) -> dict:
    if monitoring is not None:
        data = yaml.safe_load(site_file.read_text(encoding="utf-8"))
        data.setdefault("controller", {})["metrics"] = {"monitoring_networks": monitoring}
        site_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return shown_site(site_file)


def rendered_rules(tmp_path: Path, site: dict, **role_vars) -> str:
    out = tmp_path / "nftables.conf"
    task = {"ansible.builtin.template": {"src": str(ROLE / "templates/etc/nftables.conf.j2"), "dest": str(out), "mode": "0600"}}
    result = run_play(tmp_path, ROLE, [task], {"preflight__site": site, **role_vars})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out.read_text(encoding="utf-8")


# --- what a TCP packet meets in the input chain --------------------------------------

RULE = re.compile(r"^(?:(?P<family>ip6?) saddr \{ (?P<sources>[^}]*) \} )?(?:tcp dport|meta l4proto \{[^}]*\btcp\b[^}]*\} th dport) (?P<ports>\{[^}]*\}|\S+) .*?\b(?P<verdict>accept|drop)\b")


def verdict(rules: str, source: str, port: int) -> str:
    """The first input-chain rule a new TCP connection from `source` to `port` matches (a non-loopback interface)."""
    chain = rules.split("chain input {", 1)[1].split("}\n\n    chain forward", 1)[0]
    address = ipaddress.ip_address(source)
    for line in (line.strip() for line in chain.splitlines()):
        match = RULE.match(line)
        if not match:
            continue
        if match["sources"] is not None:
            if (match["family"] == "ip6") != (address.version == 6):
                continue
            if not any(address in ipaddress.ip_network(s.strip()) for s in match["sources"].split(",")):
                continue
        if port in ports_of(match["ports"]):
            return match["verdict"]
    return "drop"  # the chain's policy


def ports_of(text: str) -> set[int]:
    ports = set()
    for item in text.strip("{} ").split(","):
        low, _, high = item.strip().partition("-")
        ports.update(range(int(low), int(high or low) + 1))
    return ports


def test_by_default_the_metrics_port_is_closed_to_every_other_host(lab_site_copy, tmp_path):
    site = site_monitored_from(lab_site_copy)
    assert site["controller"]["metrics"] == {"host": "127.0.0.1", "port": 9464, "monitoring_networks": []}
    rules = rendered_rules(tmp_path, site)
    assert "metrics from the monitoring networks" not in rules
    for source in ("10.20.0.5", "10.231.0.20", "203.0.113.9"):
        assert verdict(rules, source, 9464) == "drop"
    assert verdict(rules, "10.231.0.30", 5060) == "accept"  # the evaluator does see accepts: a phone's SIP


def test_the_site_s_monitoring_networks_alone_may_scrape(lab_site_copy, tmp_path):
    site = site_monitored_from(lab_site_copy, MONITORING)
    assert site["controller"]["metrics"] == {"host": "0.0.0.0", "port": 9464, "monitoring_networks": MONITORING}
    rules = rendered_rules(tmp_path, site)
    assert verdict(rules, "10.20.0.5", 9464) == "accept" and verdict(rules, "192.0.2.7", 9464) == "accept"
    for source in ("10.20.1.5", "192.0.2.8", "10.231.0.20"):
        assert verdict(rules, source, 9464) == "drop"
    # Only the metrics port: the monitoring network reaches neither ESL nor the click-to-call API.
    assert verdict(rules, "10.20.0.5", 8021) == "drop" and verdict(rules, "10.20.0.5", 8095) == "drop"


def test_the_role_may_narrow_the_site_s_list(lab_site_copy, tmp_path):
    rules = rendered_rules(tmp_path, site_monitored_from(lab_site_copy, MONITORING), firewall__monitoring_networks=["192.0.2.7/32"])
    assert verdict(rules, "192.0.2.7", 9464) == "accept" and verdict(rules, "10.20.0.5", 9464) == "drop"


# --- preflight: the role's list within the site's ------------------------------------


def preflight_check(tmp_path: Path, site: dict, role_networks: list[str]) -> subprocess.CompletedProcess[str]:
    tasks = yaml.safe_load((REPO / "roles/preflight/tasks/main.yml").read_text(encoding="utf-8"))
    [check] = [t for t in tasks if t["name"].startswith("Check the firewall opens the metrics port")]
    return run_play(tmp_path, ROLE, [check], {"preflight__site": site, "preflight__monitoring_networks": role_networks})


def test_preflight_refuses_a_role_network_the_site_does_not_list(lab_site_copy, tmp_path):
    result = preflight_check(tmp_path, site_monitored_from(lab_site_copy), ["10.20.0.0/24"])
    assert result.returncode != 0
    assert "firewall__monitoring_networks 10.20.0.0/24 not in the site's controller.metrics.monitoring_networks" in result.stdout
    assert "none: the metrics listen on loopback only" in result.stdout


def test_preflight_takes_a_role_list_within_the_site_s(lab_site_copy, tmp_path):
    assert preflight_check(tmp_path, site_monitored_from(lab_site_copy, MONITORING), ["192.0.2.7/32"]).returncode == 0
    assert preflight_check(tmp_path, site_monitored_from(lab_site_copy, MONITORING), []).returncode == 0
