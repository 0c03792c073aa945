"""The lab's address plan, read from its Ansible inventory (``inventory/lab``, or
``inventory/NAME`` with BIZPBX_LAB=NAME):
the hosts and their addresses from ``hosts.yml``, the network they share
(subnet, this machine's gateway, the bridge and its namespace) from
``lab__network`` in ``group_vars/all.yml``. Nothing else holds a copy.

Each host lives in a network namespace ``bizpbx-NAME``, its veth's bridge end
named ``bzl-NAME``, its own end ``eth0``; another lab names them with prefixes of
its own (``lab__network.netns_prefix``, ``port_prefix``), so both labs can be up.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path
from typing import Any

import yaml

from bizpbx_lab.local import LAB_NAME

REPO_ROOT = Path(__file__).resolve().parents[2]
INVENTORY = REPO_ROOT / "inventory" / LAB_NAME


class PlanError(ValueError):
    """The inventory does not describe a lab; the message names the file and the entry."""


@dataclasses.dataclass(frozen=True)
class Network:
    subnet: ipaddress.IPv4Network
    gateway: str  # this machine's side, where tinyproxy listens
    proxy_port: int
    void: str  # the default route's next hop: no one has this address
    lan_netns: str
    bridge: str
    uplink: str  # this machine's veth into the lab's bridge
    netns_prefix: str = "bizpbx-"  # of each host's network namespace
    port_prefix: str = "bzl-"  # of each host's veth on the bridge (at most 15 characters in all)


@dataclasses.dataclass(frozen=True)
class Host:
    name: str
    address: str  # on the lab's subnet; SSH, SIP, everything
    group: str  # its inventory group: bizpbx_pbx, sip_carrier, sip_phones, sip_proxy, postgresql
    netns_prefix: str = "bizpbx-"
    port_prefix: str = "bzl-"

    @property
    def netns(self) -> str:
        return f"{self.netns_prefix}{self.name}"

    @property
    def port(self) -> str:
        """The bridge port (in the lab's namespace) of the host's veth; the host's end is eth0."""
        return f"{self.port_prefix}{self.name}"


@dataclasses.dataclass(frozen=True)
class AddressPlan:
    network: Network
    hosts: tuple[Host, ...]

    @property
    def by_name(self) -> dict[str, Host]:
        return {host.name: host for host in self.hosts}


def read_plan(inventory: Path = INVENTORY) -> AddressPlan:
    """The plan the inventory at `inventory` describes; PlanError naming the file and entry if it cannot be one."""
    network = _network(inventory / "group_vars/all.yml")
    hosts = _hosts(inventory / "hosts.yml", network)
    return AddressPlan(network, hosts)


def _yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise PlanError(f"{path}: cannot read the lab's inventory: {error}") from None
    if not isinstance(data, dict):
        raise PlanError(f"{path}: a mapping is expected")
    return data


def _address(text: Any, where: str, subnet: ipaddress.IPv4Network | None) -> str:
    try:
        address = ipaddress.IPv4Address(str(text))
    except ValueError:
        raise PlanError(f"{where}: {text!r} is not an IPv4 address") from None
    if subnet is not None and address not in subnet:
        raise PlanError(f"{where}: {address} is not on the lab's subnet {subnet}")
    return str(address)


def _network(path: Path) -> Network:
    given = _yaml(path).get("lab__network")
    required = [f.name for f in dataclasses.fields(Network) if f.default is dataclasses.MISSING]
    optional = [f.name for f in dataclasses.fields(Network) if f.default is not dataclasses.MISSING]
    if not isinstance(given, dict) or not set(required) <= set(given) <= set(required + optional):
        raise PlanError(f"{path}: lab__network must set exactly {', '.join(required)} (and may set {', '.join(optional)})")
    try:
        subnet = ipaddress.IPv4Network(str(given["subnet"]))
    except ValueError as error:
        raise PlanError(f"{path}: lab__network.subnet: {error}") from None
    port = given["proxy_port"]
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise PlanError(f"{path}: lab__network.proxy_port: {port!r} is not a port")
    return Network(
        subnet=subnet,
        gateway=_address(given["gateway"], f"{path}: lab__network.gateway", subnet),
        proxy_port=port,
        void=_address(given["void"], f"{path}: lab__network.void", subnet),
        lan_netns=str(given["lan_netns"]),
        bridge=str(given["bridge"]),
        uplink=str(given["uplink"]),
        netns_prefix=str(given.get("netns_prefix", Network.netns_prefix)),
        port_prefix=str(given.get("port_prefix", Network.port_prefix)),
    )


def _hosts(path: Path, network: Network) -> tuple[Host, ...]:
    groups = (_yaml(path).get("all") or {}).get("children")
    if not isinstance(groups, dict):
        raise PlanError(f"{path}: all.children must list the lab's groups")
    hosts: list[Host] = []
    for group, members in groups.items():
        for name, variables in ((members or {}).get("hosts") or {}).items():
            where = f"{path}: all.children.{group}.hosts.{name}.ansible_host"
            address = _address((variables or {}).get("ansible_host"), where, network.subnet)
            if address in (network.gateway, network.void) or any(address == h.address for h in hosts):
                raise PlanError(f"{where}: {address} is taken")
            host = Host(str(name), address, str(group), network.netns_prefix, network.port_prefix)
            if len(host.port) > 15:
                raise PlanError(f"{path}: all.children.{group}.hosts.{name}: the veth {host.port} is longer than Linux's 15 characters")
            hosts.append(host)
    if not hosts:
        raise PlanError(f"{path}: no hosts")
    return tuple(hosts)
